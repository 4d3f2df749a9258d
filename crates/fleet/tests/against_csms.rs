//! Bounded fleet runs against the joule central system, started in-process on a fresh SQLite
//! database with auto-registration: every planned CALL is answered without a protocol error,
//! every transaction the fleet started is in the database exactly once and completed, and the
//! JSON report has its keys. Runs take a few seconds of real time with fast workload rates; the
//! counts asserted do not depend on timing.

use csms::CsmsConfig;
use fleet::{FleetConfig, Report, Workload, workload};
use proto_ocpp::OcppVersion;
use std::time::Duration;

async fn central(name: &str) -> (csms::Running, std::path::PathBuf) {
    let path = std::env::temp_dir().join(format!("joule-fleet-{name}-{}.db", std::process::id()));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let mut config = CsmsConfig::new(vec!["fleet-test-key".into()]);
    config.ocpp_listen = "127.0.0.1:0".parse().expect("address");
    config.api_listen = "127.0.0.1:0".parse().expect("address");
    config.db = format!("sqlite://{}", path.display());
    config.auto_register = true;
    let running = csms::start(config).await.expect("central system starts");
    (running, path)
}

fn cleanup(path: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

/// A busy few seconds: sessions of about a second with meter values every 200 ms, heartbeats
/// every 300 ms, frequent status changes.
fn busy(url: String, stations: usize, version: OcppVersion, seed: u64) -> FleetConfig {
    let mut config = FleetConfig::new(url, stations, version);
    config.connectors = 2;
    config.duration = Duration::from_secs(2);
    config.ramp_per_s = 400.0;
    config.seed = seed;
    config.workload = Workload {
        heartbeat_interval: Duration::from_millis(300),
        sessions_per_hour: 3600.0,
        session_length: Duration::from_millis(800),
        meter_interval: Duration::from_millis(200),
        status_changes_per_hour: 1800.0,
        boot_jitter: Duration::from_millis(100),
    };
    config
}

async fn run_workload(version: OcppVersion, stations: usize, seed: u64) {
    let name = format!("workload-{}", version.label());
    let (running, path) = central(&name).await;
    let url = format!("ws://{}/ocpp", running.ocpp_addr);
    let config = busy(url, stations, version, seed);
    let planned = workload::planned_calls(&config);
    let report = fleet::start(config)
        .await
        .expect("fleet starts")
        .finish()
        .await;

    let stored = running
        .ctx
        .store
        .transactions(None, None)
        .await
        .expect("transactions");
    running.shutdown().await;
    cleanup(&path);

    assert_eq!(report.stations_connected, stations as u64, "{report}");
    assert_eq!(report.errors, 0, "{report}");
    assert_eq!(report.disconnects, 0, "{report}");
    assert_eq!(report.round_trips, planned, "{report}");
    assert!(report.transactions_started > 0, "{report}");
    assert_eq!(
        report.transactions_started, report.transactions_stopped,
        "{report}"
    );
    // Zero lost or duplicated transactions: the database holds exactly those the fleet started,
    // each completed.
    assert_eq!(stored.len() as u64, report.transactions_started, "{report}");
    let open: Vec<_> = stored.iter().filter(|t| t.stopped_ms.is_none()).collect();
    assert!(open.is_empty(), "transactions left open: {open:?}");
    assert!(report.is_clean(), "{report}");
    for action in [
        "BootNotification",
        "Heartbeat",
        "StatusNotification",
        "Authorize",
    ] {
        assert!(report.actions.contains_key(action), "{action}: {report}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v16_workload_completes_every_planned_call_against_joule_csms() {
    run_workload(OcppVersion::V16, 60, 11).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v201_workload_completes_every_planned_call_against_joule_csms() {
    run_workload(OcppVersion::V201, 30, 12).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v21_workload_completes_every_planned_call_against_joule_csms() {
    run_workload(OcppVersion::V21, 30, 13).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saturation_keeps_every_station_busy_and_the_report_has_its_keys() {
    let (running, path) = central("saturate").await;
    let url = format!("ws://{}/ocpp", running.ocpp_addr);
    let stations = 20;
    let mut config = FleetConfig::new(url, stations, OcppVersion::V16);
    config.saturate = true;
    config.duration = Duration::from_secs(1);
    config.ramp_per_s = 1000.0;
    config.source_addresses = Some(2);
    let report = fleet::start(config)
        .await
        .expect("fleet starts")
        .finish()
        .await;
    running.shutdown().await;
    cleanup(&path);

    assert_eq!(report.stations_connected, stations as u64, "{report}");
    assert_eq!((report.errors, report.disconnects), (0, 0), "{report}");
    assert_eq!(report.source_addresses, 2);
    // Boots and statuses, then Heartbeat and MeterValues back to back.
    let heartbeats = report.actions.get("Heartbeat").map_or(0, |a| a.round_trips);
    let meters = report
        .actions
        .get("MeterValues")
        .map_or(0, |a| a.round_trips);
    assert!(heartbeats >= stations as u64, "{report}");
    assert!(
        meters + 20 >= heartbeats && heartbeats + 20 >= meters,
        "{report}"
    );
    assert!(report.hold_round_trips > 0, "{report}");

    let json: serde_json::Value =
        serde_json::from_str(&report.to_json()).expect("the report is JSON");
    for key in [
        "stations_connected",
        "round_trips",
        "round_trips_per_s",
        "errors",
        "disconnects",
    ] {
        assert!(json[key].is_number(), "{key} in {json}");
    }
    for key in ["p50", "p90", "p99", "p999", "max"] {
        assert!(json["latency_ms"][key].is_number(), "latency_ms.{key}");
    }
    let back: Report = serde_json::from_value(json).expect("the report reads back");
    assert_eq!(back, report);
}

#[tokio::test]
async fn a_central_system_that_is_not_there_is_counted_as_connect_failures() {
    // Bind a port, then free it: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let mut config = FleetConfig::new(format!("ws://127.0.0.1:{port}/ocpp"), 5, OcppVersion::V201);
    config.duration = Duration::from_millis(100);
    let report = fleet::start(config)
        .await
        .expect("fleet starts")
        .finish()
        .await;
    assert_eq!(report.stations_connected, 0);
    assert_eq!(report.connect_failures, 5);
    assert_eq!(report.connect_errors.get("connection refused"), Some(&5));
    assert!(!report.is_clean());
}
