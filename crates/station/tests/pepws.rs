//! A whole charging session across PEP-WS: a station gun on the `pepws` backend (the SECC)
//! against the power-cabinet controller on its simulated power stage (the PECC), over a real
//! WebSocket: contactors, the cabinet's cable check, pre-charge, charge, stop; and the safety
//! case: the cabinet vanishing mid-charge aborts the session with the contactors open. Runs in
//! real time (about 15 s).

use charger::{Phase, SessionParams};
use station::GunSpec;
use std::net::SocketAddr;
use std::time::Duration;

async fn cabinet() -> pecc::Running {
    let mut config = pecc::PeccConfig::new(2);
    config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    pecc::start(config).await.expect("power cabinet")
}

fn spec(url: String) -> GunSpec {
    GunSpec {
        gun: 1,
        label: "Gun A".into(),
        backend: "pepws".into(),
        max_voltage: hal::Volts(1000.0),
        max_current: hal::Amps(200.0),
        max_power: hal::Watts(150_000.0),
        pecc_url: Some(url),
    }
}

/// Waits for the gun's snapshot to satisfy `done`, at most 60 s.
async fn until(
    gun: &station::gun::GunHandle,
    what: &str,
    done: impl Fn(&station::gun::GunSnapshot) -> bool,
) -> station::gun::GunSnapshot {
    let mut changes = gun.subscribe();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let snapshot = changes.borrow_and_update().clone();
        if done(&snapshot) {
            return snapshot;
        }
        match tokio::time::timeout_at(deadline, changes.changed()).await {
            Ok(Ok(())) => {}
            _ => panic!("timed out waiting for {what}: {:?}", snapshot.status),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_runs_through_the_power_cabinet_and_stops_safely_when_it_vanishes() {
    let pecc = cabinet().await;
    let url = pecc.gun_url(1).expect("GUN1 URL");
    let guns = station::spawn_guns(&[spec(url)]).expect("guns");
    let gun = &guns[0];
    // Connected and ready: no communication fault once the cabinet's status stream flows.
    until(gun, "the cabinet connection", |s| {
        s.hardware_faults.is_empty() && s.status.fault.is_none()
    })
    .await;

    let params = SessionParams {
        target_voltage: hal::Volts(400.0),
        initial_current: hal::Amps(50.0),
        duration: Duration::from_secs(3),
        ev_max_voltage: None,
    };
    let started = gun
        .request(|r| station::gun::GunCommand::Start(params.clone(), r))
        .await
        .expect("gun task");
    assert_eq!(started, Ok(()));
    let charging = until(gun, "charging at current", |s| {
        s.status.phase == Phase::Charging && s.status.current > 10.0
    })
    .await;
    assert!(charging.status.contactor_closed, "{:?}", charging.status);
    assert_eq!(
        charging.status.cable_check,
        Some(charger::CableCheckVerdict::Valid),
        "the cabinet's verdict"
    );
    assert!(
        (charging.status.voltage - 400.0).abs() < 60.0,
        "{:?}",
        charging.status
    );
    let done = until(gun, "the session to complete", |s| {
        !s.status.session_active && s.status.last_session_summary.is_some()
    })
    .await;
    let summary = done.status.last_session_summary.expect("summary");
    assert_eq!(summary.ended_phase, "COMPLETE", "{summary:?}");
    assert!(
        summary.energy_wh > 1.0,
        "energy measured by the cabinet: {summary:?}"
    );
    assert!(!done.status.contactor_closed);

    // A second session; the cabinet goes away mid-charge.
    let started = gun
        .request(|r| {
            station::gun::GunCommand::Start(
                SessionParams {
                    duration: Duration::from_secs(60),
                    ..params.clone()
                },
                r,
            )
        })
        .await
        .expect("gun task");
    assert_eq!(started, Ok(()));
    until(gun, "charging again", |s| {
        s.status.phase == Phase::Charging && s.status.current > 10.0
    })
    .await;
    pecc.shutdown().await;
    let aborted = until(gun, "the session to abort", |s| !s.status.session_active).await;
    let summary = aborted
        .status
        .last_session_summary
        .clone()
        .expect("summary");
    assert_eq!(summary.ended_phase, "ABORTED", "{summary:?}");
    assert!(!aborted.status.contactor_closed, "contactors reported open");
    assert_eq!(aborted.status.current, 0.0);
    assert_eq!(
        aborted.status.fault.as_deref(),
        Some("COMM_LOSS"),
        "{:?}",
        aborted.status
    );
}
