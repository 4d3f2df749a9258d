//! The station's OCPP 1.6 link against the joule central system, in process over real sockets:
//! boot, statuses, a remote start that runs a real (simulated) DC session with meter values, and a
//! remote stop. Sessions run in real time with a 1 s charging duration.

use charger::SessionParams;
use csms::CsmsConfig;
use csms::store::{TransactionRecord, TxState};
use serde_json::json;
use station::gun::{self, GunHandle};
use station::ocpp16::{self, OcppSettings};
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

/// Polls `check` until it yields a value (the central system's database has no change events to
/// await), at most 40 s.
async fn eventually<T, F: Future<Output = Option<T>>>(
    what: &str,
    mut check: impl FnMut() -> F,
) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

const STATION: &str = "ST-OCPP";

/// An operator CALL to the station through the central system; the station's answer.
async fn call(ctx: &csms::Ctx, action: &str, payload: serde_json::Value) -> serde_json::Value {
    csms::api::call_station(ctx, STATION, action, payload)
        .await
        .expect("answered")
}

/// The station's newest transaction in `state`, if any.
async fn newest(ctx: &csms::Ctx, state: TxState) -> Option<TransactionRecord> {
    let all = ctx
        .store
        .transactions(Some(STATION), Some(state))
        .await
        .ok()?;
    all.into_iter().next()
}

/// Whether connector 1 is reported Available.
async fn connector_1_available(ctx: &csms::Ctx) -> Option<()> {
    let statuses = ctx.store.connector_statuses(STATION).await.ok()?;
    statuses
        .iter()
        .any(|s| s.connector_id == 1 && s.status == "Available")
        .then_some(())
}

fn sim_gun(n: u32) -> GunHandle {
    let settings = hal::GunSettings {
        gun: n,
        max_current: hal::Amps(200.0),
        max_power: hal::Watts(150_000.0),
        max_voltage: hal::Volts(1000.0),
    };
    let hardware = hal::create("sim", &settings, std::time::Instant::now()).expect("sim");
    let machine = charger::Gun::new(charger::GunConfig::new(
        settings.max_voltage,
        settings.max_current,
        settings.max_power,
    ));
    gun::spawn(n, format!("Gun {n}"), machine, hardware)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_start_runs_a_metered_transaction_and_a_remote_stop_ends_one() {
    let db = std::env::temp_dir().join(format!("joule-station-ocpp-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&db);
    let mut config = CsmsConfig::new(vec!["k".into()]);
    config.ocpp_listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.api_listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.db = format!("sqlite://{}", db.display());
    config.auto_register = true;
    let csms = csms::start(config).await.expect("central system");
    let ctx = csms.ctx.clone();

    for tag in ["TAG-7", "TAG-8"] {
        ctx.store
            .upsert_token(&csms::store::TokenRecord {
                id_tag: tag.into(),
                status: "Accepted".into(),
                expiry_ms: None,
                parent_id_tag: None,
            })
            .await
            .expect("token");
    }
    let guns = vec![sim_gun(1)];
    let mut settings = OcppSettings::new(format!("ws://{}/ocpp", csms.ocpp_addr), STATION);
    settings.model = "DC-sim".into();
    settings.firmware_version = "0.1.0".into();
    settings.keys = vec![("MeterValueSampleInterval".into(), "1".into())];
    settings.session = SessionParams {
        duration: Duration::from_secs(1),
        ..SessionParams::seed_defaults()
    };
    let link = ocpp16::start(settings, guns.clone())
        .await
        .expect("charge point");

    eventually("boot and connector statuses", || {
        connector_1_available(&ctx)
    })
    .await;
    let station = ctx
        .store
        .station(STATION)
        .await
        .expect("store")
        .expect("registered");
    assert_eq!(station.model.as_deref(), Some("DC-sim"));

    // Remote start: the gun runs its whole DC session inside a transaction.
    let answer = call(
        &ctx,
        "RemoteStartTransaction",
        json!({"connectorId": 1, "idTag": "TAG-7"}),
    )
    .await;
    assert_eq!(answer["status"], "Accepted");
    let tx = eventually("the transaction to complete", || {
        newest(&ctx, TxState::Completed)
    })
    .await;
    assert_eq!(tx.id_tag.as_deref(), Some("TAG-7"));
    assert!(tx.energy_wh > 0.0, "{tx:?}");
    assert_eq!(
        tx.stop_reason.as_deref(),
        Some("Local"),
        "completed on its own"
    );
    let samples = ctx.store.meter_values(tx.id).await.expect("store");
    assert!(
        samples
            .iter()
            .any(|s| s.measurand == "Energy.Active.Import.Register"),
        "{samples:?}"
    );
    let summary = guns[0]
        .snapshot()
        .status
        .last_session_summary
        .expect("summary");
    assert_eq!(summary.ended_phase, "COMPLETE");

    // A second remote start, stopped remotely while it runs.
    let answer = call(
        &ctx,
        "RemoteStartTransaction",
        json!({"connectorId": 1, "idTag": "TAG-8"}),
    )
    .await;
    assert_eq!(answer["status"], "Accepted");
    let running = eventually("the second transaction to start", || {
        newest(&ctx, TxState::Active)
    })
    .await;
    // A TxProfile lowers the running session's power at once.
    let profile = json!({
        "connectorId": 1,
        "csChargingProfiles": {
            "chargingProfileId": 7, "transactionId": running.id, "stackLevel": 1,
            "chargingProfilePurpose": "TxProfile", "chargingProfileKind": "Relative",
            "chargingSchedule": {"chargingRateUnit": "W",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 5000.0}]}
        }
    });
    let answer = call(&ctx, "SetChargingProfile", profile).await;
    assert_eq!(answer["status"], "Accepted", "{answer}");
    eventually("the gun to take the 5 kW limit", || async {
        (guns[0].snapshot().status.power_limit == Some(5000.0)).then_some(())
    })
    .await;
    let answer = call(
        &ctx,
        "GetCompositeSchedule",
        json!({"connectorId": 1, "duration": 600, "chargingRateUnit": "W"}),
    )
    .await;
    assert_eq!(answer["status"], "Accepted", "{answer}");
    // The schedule starts at the whole second, possibly just before the transaction began; from
    // the transaction on, the limit is 5 kW.
    let periods = answer["chargingSchedule"]["chargingSchedulePeriod"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        periods.last().map(|p| p["limit"].clone()),
        Some(json!(5000.0)),
        "{answer}"
    );
    assert!(periods.len() <= 2, "{answer}");
    let answer = call(
        &ctx,
        "RemoteStopTransaction",
        json!({"transactionId": running.id}),
    )
    .await;
    assert_eq!(answer["status"], "Accepted");
    let stopped = eventually("the remote stop", || async {
        let tx = ctx.store.transaction(running.id).await.ok().flatten()?;
        tx.stopped_ms.is_some().then_some(tx)
    })
    .await;
    assert_eq!(stopped.stop_reason.as_deref(), Some("Remote"));
    eventually("the connector to be Available again", || {
        connector_1_available(&ctx)
    })
    .await;
    // A remote start on a gun that does not exist is rejected.
    let answer = call(
        &ctx,
        "RemoteStartTransaction",
        json!({"connectorId": 9, "idTag": "X"}),
    )
    .await;
    assert_eq!(answer["status"], "Rejected");

    drop(link);
    csms.shutdown().await;
    let _ = std::fs::remove_file(&db);
}

/// A file server for firmware and diagnostics: `GET /fw.bin`, `PUT /upload/{name}`.
async fn file_server() -> (SocketAddr, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use axum::routing::{get, put};
    let names = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = names.clone();
    let app = axum::Router::new()
        .route("/fw.bin", get(|| async { vec![1u8; 4096] }))
        .route(
            "/upload/{name}",
            put(
                move |axum::extract::Path(name): axum::extract::Path<String>| async move {
                    if let Ok(mut all) = kept.lock() {
                        all.push(name);
                    }
                    axum::http::StatusCode::CREATED
                },
            ),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, names)
}

/// The station's notifications of `action` the central system has recorded, oldest first.
async fn notified(ctx: &csms::Ctx, action: &str) -> Vec<serde_json::Value> {
    ctx.store
        .station_events(STATION, Some(action))
        .await
        .unwrap_or_default()
        .iter()
        .filter_map(|e| serde_json::from_str(&e.payload).ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_profile_end_to_end_against_the_joule_central_system() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let db = std::env::temp_dir().join(format!("joule-station-e2e-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&db);
    let mut config = CsmsConfig::new(vec!["k".into()]);
    config.ocpp_listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.api_listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.db = format!("sqlite://{}", db.display());
    config.auto_register = true;
    let csms = csms::start(config).await.expect("central system");
    let ctx = csms.ctx.clone();
    for tag in ["TAG-R", "TAG-L"] {
        ctx.store
            .upsert_token(&csms::store::TokenRecord {
                id_tag: tag.into(),
                status: "Accepted".into(),
                expiry_ms: None,
                parent_id_tag: None,
            })
            .await
            .expect("token");
    }
    let (files, uploads) = file_server().await;
    let guns = vec![sim_gun(1), sim_gun(2)];
    let mut settings = OcppSettings::new(format!("ws://{}/ocpp", csms.ocpp_addr), STATION);
    settings.plug_sensing = true;
    settings.keys = vec![("MeterValueSampleInterval".into(), "1".into())];
    let cp = ocpp16::start(settings, guns.clone())
        .await
        .expect("charge point");
    eventually("boot and statuses", || connector_1_available(&ctx)).await;

    // Configuration and the local list.
    let answer = call(
        &ctx,
        "GetConfiguration",
        json!({"key": ["HeartbeatInterval"]}),
    )
    .await;
    assert_eq!(
        answer["configurationKey"][0]["key"], "HeartbeatInterval",
        "{answer}"
    );
    let answer = call(
        &ctx,
        "ChangeConfiguration",
        json!({"key": "LocalPreAuthorize", "value": "true"}),
    )
    .await;
    assert_eq!(answer["status"], "Accepted");
    let list = json!({"listVersion": 1, "updateType": "Full", "localAuthorizationList": [
        {"idTag": "TAG-L", "idTagInfo": {"status": "Accepted"}}]});
    assert_eq!(
        call(&ctx, "SendLocalList", list).await["status"],
        "Accepted"
    );
    assert_eq!(
        call(&ctx, "GetLocalListVersion", json!({})).await["listVersion"],
        1
    );

    // Plug and a local start on a listed tag; a concurrent remote start on connector 2.
    cp.plug(1).await.expect("plug 1");
    cp.local_start(1, Some("TAG-L".into()))
        .await
        .expect("local start");
    cp.plug(2).await.expect("plug 2");
    let answer = call(
        &ctx,
        "RemoteStartTransaction",
        json!({"connectorId": 2, "idTag": "TAG-R"}),
    )
    .await;
    assert_eq!(answer["status"], "Accepted");
    let (tx1, tx2) = eventually("two transactions", || async {
        let active = ctx
            .store
            .transactions(Some(STATION), Some(TxState::Active))
            .await
            .ok()?;
        let on = |c: i32| active.iter().find(|t| t.connector_id == c).cloned();
        Some((on(1)?, on(2)?))
    })
    .await;
    // Once the station has the transaction's id, a TxProfile lowers connector 1 to 5 kW.
    eventually("the station to know the transaction id", || async {
        let info = cp.info().await.ok()?;
        (info.connectors[0].transaction_id == Some(tx1.id)).then_some(())
    })
    .await;
    let profile = json!({"connectorId": 1, "csChargingProfiles": {
        "chargingProfileId": 3, "transactionId": tx1.id, "stackLevel": 0,
        "chargingProfilePurpose": "TxProfile", "chargingProfileKind": "Relative",
        "chargingSchedule": {"chargingRateUnit": "W",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 5000.0}]}}});
    assert_eq!(
        call(&ctx, "SetChargingProfile", profile).await["status"],
        "Accepted"
    );
    eventually("connector 1 at 5 kW", || async {
        let s = guns[0].snapshot().status;
        (s.power_limit == Some(5000.0) && s.current > 0.0 && s.voltage * s.current <= 5100.0)
            .then_some(())
    })
    .await;
    // Energy flows on both, as the meter values show.
    eventually("energy on both transactions", || async {
        let rose = |t: TransactionRecord| t.meter_last_wh.is_some_and(|wh| wh > t.meter_start_wh);
        let one = ctx.store.transaction(tx1.id).await.ok()??;
        let two = ctx.store.transaction(tx2.id).await.ok()??;
        (rose(one) && rose(two)).then_some(())
    })
    .await;
    let answer = call(
        &ctx,
        "TriggerMessage",
        json!({"requestedMessage": "StatusNotification", "connectorId": 2}),
    )
    .await;
    assert_eq!(answer["status"], "Accepted");

    // Remote stop of connector 2; unplugging connector 1 while it charges.
    let answer = call(
        &ctx,
        "RemoteStopTransaction",
        json!({"transactionId": tx2.id}),
    )
    .await;
    assert_eq!(answer["status"], "Accepted");
    let stopped = eventually("connector 2's transaction to end", || async {
        let t = ctx.store.transaction(tx2.id).await.ok().flatten()?;
        t.stopped_ms.is_some().then_some(t)
    })
    .await;
    assert_eq!(stopped.stop_reason.as_deref(), Some("Remote"));
    cp.unplug(1).await.expect("unplug");
    let stopped = eventually("connector 1's transaction to end", || async {
        let t = ctx.store.transaction(tx1.id).await.ok().flatten()?;
        t.stopped_ms.is_some().then_some(t)
    })
    .await;
    assert_eq!(stopped.stop_reason.as_deref(), Some("EVDisconnected"));
    assert!(stopped.energy_wh > 0.0, "{stopped:?}");
    cp.unplug(2).await.expect("unplug 2");

    // Reservation and its cancellation.
    let expiry = (chrono::Utc::now() + chrono::Duration::hours(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let answer = call(
        &ctx,
        "ReserveNow",
        json!({"connectorId": 1, "expiryDate": expiry, "idTag": "TAG-R", "reservationId": 4}),
    )
    .await;
    assert_eq!(answer["status"], "Accepted");
    eventually("connector 1 Reserved", || async {
        let all = ctx.store.connector_statuses(STATION).await.ok()?;
        all.iter()
            .any(|s| s.connector_id == 1 && s.status == "Reserved")
            .then_some(())
    })
    .await;
    assert_eq!(
        call(&ctx, "CancelReservation", json!({"reservationId": 4})).await["status"],
        "Accepted"
    );

    // Firmware and diagnostics over HTTP.
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    call(
        &ctx,
        "UpdateFirmware",
        json!({"location": format!("http://{files}/fw.bin"), "retrieveDate": now}),
    )
    .await;
    eventually("the firmware to be installed", || async {
        let all = notified(&ctx, "FirmwareStatusNotification").await;
        all.iter().any(|n| n["status"] == "Installed").then_some(())
    })
    .await;
    let answer = call(
        &ctx,
        "GetDiagnostics",
        json!({"location": format!("http://{files}/upload")}),
    )
    .await;
    let name = answer["fileName"].as_str().unwrap_or_default().to_owned();
    eventually("the diagnostics upload", || async {
        let all = notified(&ctx, "DiagnosticsStatusNotification").await;
        all.iter().any(|n| n["status"] == "Uploaded").then_some(())
    })
    .await;
    assert!(
        uploads.lock().map(|u| u.contains(&name)).unwrap_or(false),
        "{name} arrived"
    );

    // The central system's certificate authority signs the station's certificate.
    let root = ctx.ca.certificate_pem().to_owned();
    let answer = call(
        &ctx,
        "InstallCertificate",
        json!({"certificateType": "CentralSystemRootCertificate", "certificate": root}),
    )
    .await;
    assert_eq!(answer["status"], "Accepted");
    let answer = call(
        &ctx,
        "ChangeConfiguration",
        json!({"key": "CpoName", "value": "Joule"}),
    )
    .await;
    assert_eq!(answer["status"], "Accepted");
    let answer = call(
        &ctx,
        "ExtendedTriggerMessage",
        json!({"requestedMessage": "SignChargePointCertificate"}),
    )
    .await;
    assert_eq!(answer["status"], "Accepted");
    let info = eventually("the signed certificate to be installed", || async {
        let info = cp.info().await.ok()?;
        info.certificate_valid_until.is_some().then_some(info)
    })
    .await;
    assert!(info.certificate_valid_until.is_some());
    let events = notified(&ctx, "SecurityEventNotification").await;
    assert!(
        events.iter().any(|e| e["type"] == "StartupOfTheDevice"),
        "{events:?}"
    );

    csms.shutdown().await;
    let _ = std::fs::remove_file(&db);
}
