//! A scripted SECC against the running controller over real WebSockets, on virtual time: a
//! whole session, the standby triggers, protocol errors, path replacement and negotiation.

mod support;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::Duration;
use support::{Secc, connect, is_standby, published_until, start};
use tokio_tungstenite::tungstenite::Message;

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

#[tokio::test(start_paused = true)]
async fn secc_disconnect_mid_charge_means_standby_within_a_second() {
    let pecc = start(2, |_| {}).await;
    let mut secc = Secc::connect(&pecc.gun_url(1).expect("gun 1")).await;
    secc.charge(200.0).await;
    drop(secc);
    // The output is switched off in the step that learns of the loss...
    let off = published_until(&pecc, 1, ms(100), |s| {
        s["drivenCurrent"] == 0.0 && s["drivenVoltage"] == 0.0
    })
    .await;
    assert!(off <= ms(10), "output off after {off:?}");
    // ...the contactors open once the current is down: the outlet is dead within 200 ms...
    let open = published_until(&pecc, 1, ms(500), |s| {
        s["contactorsStatus"] == "open"
            && s["measuredVoltage"] == 0.0
            && s["measuredCurrent"] == 0.0
    })
    .await;
    assert!(
        off + open <= ms(200),
        "contactors open after {:?}",
        off + open
    );
    // ...and standby is reached (operative again) once the output is discharged below 60 V.
    let standby = published_until(&pecc, 1, Duration::from_secs(2), is_standby).await;
    let took = off + open + standby;
    assert!(took <= Duration::from_secs(1), "standby after {took:?}");
    let view = pecc
        .shared
        .cabinet
        .view(1)
        .expect("gun 1")
        .borrow()
        .view
        .clone();
    assert!(!view.connected);
    assert_eq!(view.phase, "standby");
    pecc.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn five_seconds_of_secc_silence_means_standby_and_the_connection_closes() {
    let pecc = start(1, |_| {}).await;
    let mut secc = Secc::connect(&pecc.gun_url(1).expect("gun 1")).await;
    secc.charge(100.0).await;
    // Stop reading and writing: no requests, no Pongs.
    let silent_since = tokio::time::Instant::now();
    tokio::time::sleep(ms(4800)).await;
    assert_eq!(
        support::published_status(&pecc, 1)["contactorsStatus"],
        "closed"
    );
    published_until(&pecc, 1, Duration::from_secs(2), is_standby).await;
    let silence = silent_since.elapsed();
    assert!(
        silence >= ms(5000) && silence <= ms(6000),
        "standby after {silence:?}"
    );
    // The PECC closed the socket: reading drains what was sent, then ends.
    while secc.next().await.is_some() {}
    assert!(secc.closed);
    pecc.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn open_request_while_closed_and_reset_go_to_standby() {
    for trigger in ["open", "reset"] {
        let pecc = start(1, |_| {}).await;
        let mut secc = Secc::connect(&pecc.gun_url(1).expect("gun 1")).await;
        secc.charge(150.0).await;
        let reply = if trigger == "open" {
            secc.request("contactorsStatus", json!({"contactorsStatus": "open"}))
                .await
        } else {
            secc.request("reset", json!({})).await
        };
        assert_eq!(reply["type"], "response", "{trigger}");
        // During the transition every request gets error/inoperative.
        let during = secc.request("configuration", json!({})).await;
        assert_eq!(during["type"], "error", "{trigger}: {during}");
        assert_eq!(during["payload"]["errorCategory"], "inoperative");
        assert_eq!(during["kind"], "configuration");
        let inoperative = secc
            .status_until(ms(500), |s| s["operationalStatus"] == "inoperative")
            .await;
        assert_eq!(inoperative["drivenCurrent"], 0.0);
        secc.status_until(Duration::from_secs(2), is_standby).await;
        // Standby is operative: the connection stays, new sessions may start.
        assert_eq!(
            secc.request("configuration", json!({})).await["type"],
            "response"
        );
        pecc.shutdown().await;
    }
}

#[tokio::test(start_paused = true)]
async fn malformed_frames_and_bad_values_get_the_right_errors() {
    let pecc = start(1, |_| {}).await;
    let mut secc = Secc::connect(&pecc.gun_url(1).expect("gun 1")).await;
    let error = |reply: &Value| {
        (
            reply["sequenceNumber"].as_u64(),
            reply["kind"].as_str().map(str::to_string),
            reply["payload"]["errorCategory"]
                .as_str()
                .map(str::to_string),
        )
    };
    let case = |n: u64, kind: &str, category: &str| {
        (Some(n), Some(kind.to_string()), Some(category.to_string()))
    };

    secc.send_text("{this is not json").await;
    let reply = secc.next().await.expect("reply");
    assert_eq!(error(&reply), case(0, "error", "format"));

    secc.send_text(r#"{"type":"request","kind":"targetValues","sequenceNumber":41,"payload":{"targetVoltage":"400"}}"#)
        .await;
    let reply = secc.next().await.expect("reply");
    assert_eq!(error(&reply), case(41, "targetValues", "format"));
    assert!(
        reply["payload"]["errorDetails"]
            .as_str()
            .is_some_and(|d| d.contains("/payload/"))
    );

    secc.send_text(r#"{"type":"request","kind":"selfTest","sequenceNumber":42,"payload":{}}"#)
        .await;
    assert_eq!(
        error(&secc.next().await.expect("reply")),
        case(42, "error", "format")
    );

    secc.send_text(r#"{"type":"request","kind":"reset","sequenceNumber":"x","payload":{}}"#)
        .await;
    assert_eq!(
        error(&secc.next().await.expect("reply")),
        case(0, "reset", "format")
    );

    // A request the PECC does not serve.
    secc.send_text(r#"{"type":"request","kind":"getInput","sequenceNumber":43,"payload":{"inputIdentifiers":["d1"]}}"#)
        .await;
    assert_eq!(
        error(&secc.next().await.expect("reply")),
        case(43, "getInput", "generic")
    );

    // Malformed infos and responses are never answered; binary frames are ignored.
    secc.send_text(
        r#"{"type":"info","kind":"chargingSession","payload":{"evMaxVoltageVolts":-1}}"#,
    )
    .await;
    secc.send_text(r#"{"type":"response","kind":"stopCharging","sequenceNumber":9,"payload":{}}"#)
        .await;
    secc.ws
        .send(Message::binary(vec![1u8, 2, 3]))
        .await
        .expect("sent");

    // Values beyond the limits: `value`, and nothing changes.
    let reply = secc
        .request("contactorsStatus", json!({"contactorsStatus": "closed"}))
        .await;
    assert_eq!(
        reply["type"], "response",
        "the previous frames got no reply: {reply}"
    );
    let reply = secc.target(1200.0, 10.0, "preCharge").await;
    assert_eq!(reply["type"], "error");
    assert_eq!(reply["payload"]["errorCategory"], "value");
    let reply = secc.request("cableCheck", json!({"voltage": 1500})).await;
    assert_eq!(reply["payload"]["errorCategory"], "value");
    // Fractions are fine (the PECC reports floatValues: true) and the link is still up.
    let status = secc
        .status_until(ms(500), |s| s["contactorsStatus"] == "closed")
        .await;
    assert_eq!(status["drivenVoltage"], 0.0);
    assert!(!secc.closed);
    pecc.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_new_connection_on_a_busy_path_replaces_the_old_one_safely() {
    let pecc = start(1, |_| {}).await;
    let url = pecc.gun_url(1).expect("gun 1");
    let mut first = Secc::connect(&url).await;
    first.charge(100.0).await;

    let mut second = Secc::connect(&url).await;
    // The old connection is closed by the PECC.
    while first.next().await.is_some() {}
    assert!(first.closed);
    // The outlet went to standby: nothing from the old session survives.
    second
        .status_until(Duration::from_secs(2), is_standby)
        .await;
    let view = pecc
        .shared
        .cabinet
        .view(1)
        .expect("gun 1")
        .borrow()
        .view
        .clone();
    assert!(view.connected);
    // The new connection runs its own session.
    second.charge(50.0).await;
    pecc.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn subprotocols_are_negotiated() {
    let pecc = start(1, |_| {}).await;
    let url = pecc.gun_url(1).expect("gun 1");
    let (_, chosen) = connect(&url, "pep1.5, pep1.8").await;
    assert_eq!(chosen.as_deref(), Some("pep1.8"));
    let (mut ws, chosen) = connect(&url, "").await;
    assert_eq!(chosen, None, "no header when none was offered");
    assert!(
        matches!(ws.next().await, Some(Ok(Message::Text(_)))),
        "served anyway"
    );
    let refused = tokio_tungstenite::connect_async({
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = url.as_str().into_client_request().expect("request");
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", "pep1.0".parse().expect("header"));
        request
    })
    .await;
    assert!(refused.is_err(), "pep1.0 is incompatible");
    pecc.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn seventy_two_charge_points_on_their_own_paths() {
    let pecc = start(72, |c| {
        c.paths = (1..=72)
            .map(|g| format!("/secc{}/gun{}", (g - 1) / 12 + 1, (g - 1) % 12 + 1))
            .collect();
    })
    .await;
    assert_eq!(
        pecc.gun_url(72).expect("gun 72"),
        format!("ws://{}/secc6/gun12", pecc.addr)
    );
    let mut last = Secc::connect(&pecc.gun_url(72).expect("gun 72")).await;
    let mut first = Secc::connect(&pecc.gun_url(1).expect("gun 1")).await;
    // Each link is independent: closing contactors on gun 72 leaves gun 1 alone.
    last.request("contactorsStatus", json!({"contactorsStatus": "closed"}))
        .await;
    last.status_until(ms(500), |s| s["contactorsStatus"] == "closed")
        .await;
    assert!(is_standby(&first.next_status().await));
    assert_eq!(
        support::published_status(&pecc, 72)["contactorsStatus"],
        "closed"
    );
    pecc.shutdown().await;
}
