//! A scripted SECC against the running controller over real WebSockets, on virtual time: a
//! whole session across the protocol. Each rule of the PECC's obligations has its own test in
//! `section15.rs`.

mod support;

use serde_json::json;
use std::time::Duration;
use support::{Secc, is_standby, start};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[tokio::test(start_paused = true)]
async fn a_whole_charging_session_across_the_protocol() {
    let pecc = start(2, |_| {}).await;
    let mut secc = Secc::connect(&pecc.gun_url(1).expect("gun 1")).await;

    // The status stream runs from the first moment, in standby.
    let first = secc.next_status().await;
    assert!(is_standby(&first), "{first}");
    assert_eq!(first["isolationStatus"], "invalid");

    let configuration = secc.request("configuration", json!({})).await;
    assert_eq!(configuration["type"], "response");
    let limits = &configuration["payload"];
    assert_eq!(limits["limitVoltageMax"], 1000.0);
    assert_eq!(limits["floatValues"], true);
    assert!(limits["firmwareVersion"].is_string() && limits["manufacturer"].is_string());

    secc.info(
        "evConnectionState",
        json!({"evConnectionState": "connected", "vehicleId": "02:00:5E:10:00:01"}),
    )
    .await;
    secc.info(
        "chargingSession",
        json!({"evMaxVoltageVolts": 450, "evMaxCurrentAmperes": 217.8}),
    )
    .await;
    secc.info(
        "evConnectionState",
        json!({"evConnectionState": "energyTransferAllowed"}),
    )
    .await;

    // Contactors: the response only acknowledges; the status shows them closed later.
    let reply = secc
        .request("contactorsStatus", json!({"contactorsStatus": "closed"}))
        .await;
    assert_eq!(reply["payload"], json!({}));
    secc.status_until(ms(500), |s| s["contactorsStatus"] == "closed")
        .await;

    // Cable check: the result arrives in isolationStatus, within PE_CABLE_CHECK_TIME.
    let started = tokio::time::Instant::now();
    assert_eq!(
        secc.request("cableCheck", json!({"voltage": 450})).await["type"],
        "response"
    );
    let tested = secc
        .status_until(Duration::from_secs(37), |s| {
            s["isolationStatus"] != "invalid"
        })
        .await;
    assert_eq!(tested["isolationStatus"], "valid");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        tested["measuredVoltage"].as_f64().is_some_and(|v| v < 60.0),
        "discharged after the test"
    );
    assert!(
        secc.events
            .iter()
            .any(|e| e.starts_with("cable check valid")),
        "{:?}",
        secc.events
    );

    // Pre-charge within PE_PRE_CHARGE_TIME.
    let started = tokio::time::Instant::now();
    assert_eq!(
        secc.target(380.0, 2.0, "preCharge").await["type"],
        "response"
    );
    secc.status_until(Duration::from_secs(4), |s| {
        (s["measuredVoltage"].as_f64().unwrap_or(0.0) - 380.0).abs() <= 10.0
    })
    .await;
    assert!(started.elapsed() <= Duration::from_secs(4));

    // Charge: the measured current follows the target; driven values are reported too.
    assert_eq!(
        secc.target(400.0, 120.0, "charge").await["type"],
        "response"
    );
    let charging = secc
        .status_until(Duration::from_secs(3), |s| {
            (s["measuredCurrent"].as_f64().unwrap_or(0.0) - 120.0).abs() < 1.0
        })
        .await;
    assert_eq!(charging["drivenVoltage"], 400.0);
    assert_eq!(charging["drivenCurrent"], 120.0);
    assert_eq!(charging["operationalStatus"], "operative");
    secc.info("chargingSession", json!({"timeToFullSocSeconds": 1500}))
        .await;

    // The diagnostics show the session values the SECC reported (information only).
    let view = support::view_until(&pecc, 1, ms(500), |v| {
        v.charging_session.time_to_full_soc_seconds == Some(1500.0)
    })
    .await;
    assert_eq!(view.phase, "charge");
    assert_eq!(view.charging_session.ev_max_voltage_volts, Some(450.0));
    assert_eq!(
        view.ev_connection.map(|e| e.ev_connection_state),
        Some(proto_pepws::EvConnectionState::EnergyTransferAllowed)
    );
    assert!(view.modules >= 2, "48 kW takes two 30 kW modules");

    // Post-charge 0 V / 0 A, then reset back to standby.
    assert_eq!(
        secc.target(0.0, 0.0, "postCharge").await["type"],
        "response"
    );
    secc.status_until(Duration::from_secs(3), |s| {
        s["measuredCurrent"] == 0.0 && s["measuredVoltage"].as_f64().is_some_and(|v| v < 60.0)
    })
    .await;
    secc.info(
        "evConnectionState",
        json!({"evConnectionState": "connected"}),
    )
    .await;
    assert_eq!(secc.request("reset", json!({})).await["type"], "response");
    let standby = secc.status_until(Duration::from_secs(2), is_standby).await;
    assert_eq!(standby["isolationStatus"], "invalid");
    secc.info(
        "evConnectionState",
        json!({"evConnectionState": "disconnected"}),
    )
    .await;

    // The status cadence held for the whole session: every 200 ms.
    let gaps: Vec<Duration> = secc.statuses.windows(2).map(|w| w[1].0 - w[0].0).collect();
    assert!(gaps.len() > 20);
    assert!(
        gaps.iter().all(|g| *g >= ms(190) && *g <= ms(210)),
        "status gaps {gaps:?}"
    );
    pecc.shutdown().await;
}
