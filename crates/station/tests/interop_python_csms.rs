//! Interop against an independent central system: the station's OCPP 1.6 link, with one simulated
//! DC gun, connects to `interop/csms_central.py`, a central system built on the Python `ocpp`
//! package (pinned in `interop/requirements.txt`), which validates every message of ours against
//! its own copies of the OCA schemas.
//!
//! The station boots and reports its connectors Available; a remote start runs a whole metered
//! transaction that ends on its own; a second remote start is ended by a remote stop. The script
//! prints one JSON event per message it receives and per answer to the commands the test writes
//! to its stdin; the test awaits those events, each read with a time limit so that a hang fails.
//! A message the package rejects fails the test with the package's reason. Sessions run in real
//! time with a 1 s charging duration.
//!
//! The peer is the Python named by `JOULE_PYTHON`, else the workspace's `.venv` (which
//! `cargo xtask test` prepares). Without one the test is skipped, unless `JOULE_INTEROP=1` asks
//! for it to be required.

#![allow(clippy::print_stderr)]

use charger::SessionParams;
use serde_json::{Value, json};
use station::gun::{self, GunCommand, GunHandle};
use station::ocpp16::{self, OcppSettings};
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

const CENTRAL_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../interop/csms_central.py");
/// The longest the central system may take to print its next event.
const LINE_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest one awaited event may take, however many others come before it (MeterValues
/// keep coming while a transaction runs).
const WAIT_LIMIT: Duration = Duration::from_secs(60);
const STATION: &str = "JOULE-ST-1";
const CONNECTOR: i64 = 1;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v16_station_boots_charges_on_remote_start_and_obeys_remote_stop_against_python_csms() {
    let Some(python) = testkit::interop_python(
        &["ocpp", "websockets"],
        "the Python central system interop test",
    ) else {
        return;
    };
    let (mut central, listening, port) = start_central(&python).await;

    let guns = vec![sim_gun(1)];
    let mut settings = OcppSettings::new(format!("ws://127.0.0.1:{port}/ocpp"), STATION);
    settings.model = "DC-sim".into();
    settings.firmware_version = "0.1.0".into();
    settings.keys = vec![("MeterValueSampleInterval".into(), "1".into())];
    settings.session = SessionParams {
        duration: Duration::from_secs(1),
        ..SessionParams::seed_defaults()
    };
    let link = ocpp16::start(settings, guns).await.expect("charge point");

    // Boot, then both connectors Available.
    let boot = central
        .find(listening, "BootNotification", |e| e["event"] == "received")
        .await;
    central.check(
        received(&central.log[boot], "BootNotification"),
        "the station's first message is a BootNotification",
    );
    central.check(
        central.log[boot]["id"] == STATION,
        "the station connects as its id under /ocpp/",
    );
    let boot_payload = &central.log[boot]["payload"];
    central.check(
        boot_payload["chargePointVendor"] == "joule"
            && boot_payload["chargePointModel"] == "DC-sim",
        "BootNotification names the vendor and model",
    );
    central
        .find(boot, "StatusNotification Available for connector 0", |e| {
            status(e, 0) == Some("Available")
        })
        .await;
    let idle = central
        .find(boot, "StatusNotification Available for connector 1", |e| {
            status(e, CONNECTOR) == Some("Available")
        })
        .await;

    // A remote start runs a whole metered transaction, which ends on its own.
    central.command(json!({"cmd": "remote_start", "connectorId": CONNECTOR, "idTag": "TAG-7"}));
    let answer = central
        .find(idle, "the answer to RemoteStartTransaction", |e| {
            answered(e, "RemoteStartTransaction")
        })
        .await;
    central.check(
        central.log[answer]["payload"]["status"] == "Accepted",
        "the station accepts a remote start on its free connector",
    );
    let first = central.transaction(idle, "TAG-7").await;
    let stop = central.stop(first, "the first transaction to end").await;
    central.check(
        central.log[stop]["payload"]["reason"] == "Local",
        "a session that completes on its own ends with reason Local",
    );
    let tx = central.log[first]["response"]["transactionId"].clone();
    let metered = central.log[first..stop].iter().any(|e| {
        received(e, "MeterValues")
            && e["payload"]["connectorId"] == CONNECTOR
            && e["payload"]["transactionId"] == tx
            && e["payload"]["meterValue"].as_array().is_some_and(|values| {
                values.iter().any(|value| {
                    value["sampledValue"].as_array().is_some_and(|samples| {
                        samples
                            .iter()
                            .any(|s| s["measurand"] == "Energy.Active.Import.Register")
                    })
                })
            })
    });
    central.check(
        metered,
        "MeterValues of the transaction with an Energy.Active.Import.Register sample",
    );
    let available = central
        .find(stop, "connector 1 Available after the transaction", |e| {
            status(e, CONNECTOR) == Some("Available")
        })
        .await;
    let statuses: Vec<&str> = central.log[idle + 1..=available]
        .iter()
        .filter_map(|e| status(e, CONNECTOR))
        .collect();
    central.check(
        statuses.first() != Some(&"Available") && statuses.contains(&"Charging"),
        &format!(
            "connector 1 goes from Available through Charging back to Available: {statuses:?}"
        ),
    );

    // A second remote start, ended by a remote stop while it runs.
    central.command(json!({"cmd": "remote_start", "connectorId": CONNECTOR, "idTag": "TAG-8"}));
    let answer = central
        .find(
            available,
            "the answer to the second RemoteStartTransaction",
            |e| answered(e, "RemoteStartTransaction"),
        )
        .await;
    central.check(
        central.log[answer]["payload"]["status"] == "Accepted",
        "the station accepts a second remote start once the connector is free again",
    );
    let second = central.transaction(available, "TAG-8").await;
    let tx = central.log[second]["response"]["transactionId"].clone();
    central.check(
        tx != central.log[first]["response"]["transactionId"],
        "the second transaction has a new id from the central system",
    );
    central.command(json!({"cmd": "remote_stop", "transactionId": tx}));
    let answer = central
        .find(second, "the answer to RemoteStopTransaction", |e| {
            answered(e, "RemoteStopTransaction")
        })
        .await;
    central.check(
        central.log[answer]["payload"]["status"] == "Accepted",
        "the station accepts a remote stop of its running transaction",
    );
    let stop = central
        .stop(second, "the remotely stopped transaction to end")
        .await;
    central.check(
        central.log[stop]["payload"]["reason"] == "Remote",
        "a transaction ended by RemoteStopTransaction ends with reason Remote",
    );
    central
        .find(stop, "connector 1 Available after the remote stop", |e| {
            status(e, CONNECTOR) == Some("Available")
        })
        .await;

    central.quit().await;
    drop(link);
}

/// Issue 5's list against the independent central system, on a two-connector simulated station
/// with plug sensing: configuration get/change, local list, plug + local start with meter values
/// rising, a concurrent remote start on connector 2, a charging profile that lowers connector 1's
/// power, TriggerMessage, remote stop of one transaction leaving the other charging, unplug while
/// charging, fault and recovery, and a reservation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v16_simulated_station_covers_the_feature_profiles_against_python_csms() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let Some(python) = testkit::interop_python(
        &["ocpp", "websockets"],
        "the Python central system interop test",
    ) else {
        return;
    };
    let (mut central, listening, port) = start_central(&python).await;
    let guns = vec![sim_gun(1), sim_gun(2)];
    let mut settings = OcppSettings::new(format!("ws://127.0.0.1:{port}/ocpp"), STATION);
    settings.plug_sensing = true;
    settings.keys = vec![(
        "MeterValuesSampledData".into(),
        "Energy.Active.Import.Register,Power.Active.Import,SoC".into(),
    )];
    let cp = ocpp16::start(settings, guns.clone())
        .await
        .expect("charge point");
    let boot = central
        .find(listening, "connector 2 Available", |e| {
            status(e, 2) == Some("Available")
        })
        .await;

    // Configuration: get, change, unknown key.
    let answer = central
        .call(
            boot,
            "GetConfiguration",
            json!({"key": ["MeterValueSampleInterval", "Nope"]}),
        )
        .await;
    central.check(
        answer["configurationKey"][0]["key"] == "MeterValueSampleInterval"
            && answer["unknownKey"][0] == "Nope",
        &format!("GetConfiguration answers known and unknown keys: {answer}"),
    );
    let changes = [
        (
            "MeterValueSampleInterval",
            "1",
            "Accepted",
            "a read-write key",
        ),
        ("NumberOfConnectors", "5", "Rejected", "a read-only key"),
        ("NoSuchKey", "1", "NotSupported", "an unknown key"),
    ];
    for (key, value, expected, what) in changes {
        let answer = central
            .call(
                boot,
                "ChangeConfiguration",
                json!({"key": key, "value": value}),
            )
            .await;
        central.check(
            answer["status"] == expected,
            &format!("ChangeConfiguration of {what} is {expected}: {answer}"),
        );
    }

    // Local list.
    let list = json!({"listVersion": 3, "updateType": "Full", "localAuthorizationList": [
        {"idTag": "TAG-L", "idTagInfo": {"status": "Accepted"}}]});
    let answer = central.call(boot, "SendLocalList", list).await;
    central.check(
        answer["status"] == "Accepted",
        "SendLocalList Full is accepted",
    );
    let answer = central.call(boot, "GetLocalListVersion", json!({})).await;
    central.check(
        answer["listVersion"] == 3,
        "GetLocalListVersion reports the list's version",
    );

    // Plug and local start on connector 1; meter values rise.
    let mark = central.log.len();
    cp.plug(1).await.expect("plug");
    central
        .find(mark, "connector 1 Preparing", |e| {
            status(e, 1) == Some("Preparing")
        })
        .await;
    cp.local_start(1, Some("TAG-L".into()))
        .await
        .expect("local start");
    let start1 = central
        .find(mark, "StartTransaction on connector 1", |e| {
            received(e, "StartTransaction") && e["payload"]["connectorId"] == 1
        })
        .await;
    central.check(
        central.log[start1]["payload"]["idTag"] == "TAG-L",
        "the local tag starts it",
    );
    let tx1 = central.log[start1]["response"]["transactionId"].clone();
    let register = |e: &Value| -> Option<f64> {
        let values = e["payload"]["meterValue"].as_array()?;
        values
            .iter()
            .flat_map(|v| v["sampledValue"].as_array().cloned().unwrap_or_default())
            .find_map(|s| {
                (s["measurand"] == "Energy.Active.Import.Register")
                    .then(|| s["value"].as_str()?.parse().ok())?
            })
    };
    let mut last = 0.0;
    let mut from = start1;
    let mut rises = 0;
    while rises < 2 {
        let at = central
            .find(from + 1, "MeterValues of connector 1", |e| {
                received(e, "MeterValues") && e["payload"]["transactionId"] == tx1
            })
            .await;
        let value = register(&central.log[at]).unwrap_or(0.0);
        if last > 0.0 && value > last {
            rises += 1;
        }
        last = value;
        from = at;
    }

    let soc = central.log[from]["payload"]["meterValue"][0]["sampledValue"]
        .as_array()
        .and_then(|samples| samples.iter().find(|s| s["measurand"] == "SoC").cloned());
    central.check(
        soc.as_ref()
            .is_some_and(|s| s["location"] == "EV" && s["unit"] == "Percent"),
        &format!("the vehicle's state of charge is sampled at the EV: {soc:?}"),
    );

    // A concurrent remote start on connector 2.
    cp.plug(2).await.expect("plug 2");
    let mark = central.log.len();
    let answer = central
        .call(
            mark,
            "RemoteStartTransaction",
            json!({"connectorId": 2, "idTag": "TAG-R"}),
        )
        .await;
    central.check(
        answer["status"] == "Accepted",
        "remote start on the free connector 2",
    );
    let start2 = central
        .find(mark, "StartTransaction on connector 2", |e| {
            received(e, "StartTransaction") && e["payload"]["connectorId"] == 2
        })
        .await;
    let tx2 = central.log[start2]["response"]["transactionId"].clone();
    central.check(tx1 != tx2, "two transactions, two ids");

    // A TxProfile lowers connector 1's power.
    let profile = json!({"connectorId": 1, "csChargingProfiles": {
        "chargingProfileId": 11, "transactionId": tx1, "stackLevel": 0,
        "chargingProfilePurpose": "TxProfile", "chargingProfileKind": "Relative",
        "chargingSchedule": {"chargingRateUnit": "W",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 4000.0}]}}});
    let answer = central.call(start2, "SetChargingProfile", profile).await;
    central.check(
        answer["status"] == "Accepted",
        "SetChargingProfile is accepted",
    );
    let deadline = Instant::now() + WAIT_LIMIT;
    loop {
        let s = guns[0].snapshot().status;
        if s.power_limit == Some(4000.0) && s.voltage * s.current <= 4100.0 && s.current > 0.0 {
            break;
        }
        if Instant::now() > deadline {
            central.fail(&format!("connector 1 never came down to 4 kW: {s:?}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let answer = central
        .call(
            start2,
            "GetCompositeSchedule",
            json!({"connectorId": 1, "duration": 300, "chargingRateUnit": "W"}),
        )
        .await;
    central.check(
        answer["status"] == "Accepted",
        "GetCompositeSchedule is answered",
    );

    // TriggerMessage: the confirmation first, then the StatusNotification.
    let mark = central.log.len();
    central.command(json!({"cmd": "call", "action": "TriggerMessage",
        "payload": {"requestedMessage": "StatusNotification", "connectorId": 2}}));
    let answered_at = central
        .find(mark, "the TriggerMessage answer", |e| {
            answered(e, "TriggerMessage")
        })
        .await;
    central.check(
        central.log[answered_at]["payload"]["status"] == "Accepted",
        "trigger accepted",
    );
    central
        .find(answered_at, "the triggered StatusNotification", |e| {
            status(e, 2).is_some()
        })
        .await;

    // Remote stop of connector 2; connector 1 goes on.
    let mark = central.log.len();
    let answer = central
        .call(mark, "RemoteStopTransaction", json!({"transactionId": tx2}))
        .await;
    central.check(answer["status"] == "Accepted", "remote stop accepted");
    let stop2 = central
        .stop_of(mark, &tx2, "connector 2's StopTransaction")
        .await;
    central.check(
        central.log[stop2]["payload"]["reason"] == "Remote",
        "reason Remote",
    );
    central.check(
        guns[0].snapshot().status.session_active,
        "connector 1 still charges",
    );
    central
        .find(mark, "connector 2 Finishing", |e| {
            status(e, 2) == Some("Finishing")
        })
        .await;

    // Unplug connector 1 while charging: StopTransaction with EVDisconnected.
    let mark = central.log.len();
    cp.unplug(1).await.expect("unplug");
    let stop1 = central
        .stop_of(mark, &tx1, "connector 1's StopTransaction")
        .await;
    central.check(
        central.log[stop1]["payload"]["reason"] == "EVDisconnected",
        "reason EVDisconnected",
    );
    central
        .find(stop1, "connector 1 Available", |e| {
            status(e, 1) == Some("Available")
        })
        .await;

    // Fault and recovery on connector 2.
    let mark = central.log.len();
    guns[1]
        .request(|r| GunCommand::Fault(hal::Fault::GroundFault, r))
        .await
        .expect("fault");
    let faulted = central
        .find(mark, "connector 2 Faulted", |e| {
            status(e, 2) == Some("Faulted")
        })
        .await;
    central.check(
        central.log[faulted]["payload"]["errorCode"] == "GroundFailure",
        "a ground fault reports GroundFailure",
    );
    let _ = guns[1].request(GunCommand::ClearFault).await;
    central
        .find(faulted, "connector 2 recovered", |e| {
            status(e, 2) == Some("Finishing")
        })
        .await;
    cp.unplug(2).await.expect("unplug 2");
    central
        .find(faulted, "connector 2 Available", |e| {
            status(e, 2) == Some("Available")
        })
        .await;

    // Reservation of connector 1, then its cancellation.
    let mark = central.log.len();
    let expiry = (chrono::Utc::now() + chrono::Duration::hours(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let answer = central
        .call(
            mark,
            "ReserveNow",
            json!({"connectorId": 1, "expiryDate": expiry, "idTag": "TAG-R", "reservationId": 5}),
        )
        .await;
    central.check(answer["status"] == "Accepted", "ReserveNow accepted");
    central
        .find(mark, "connector 1 Reserved", |e| {
            status(e, 1) == Some("Reserved")
        })
        .await;
    let refused = cp.local_start(1, Some("TAG-L".into())).await;
    central.check(
        refused.is_err(),
        "another tag may not take the reserved connector",
    );
    let answer = central
        .call(mark, "CancelReservation", json!({"reservationId": 5}))
        .await;
    central.check(answer["status"] == "Accepted", "CancelReservation accepted");
    let reserved = central
        .find(mark, "connector 1 Reserved", |e| {
            status(e, 1) == Some("Reserved")
        })
        .await;
    central
        .find(reserved, "connector 1 Available again", |e| {
            status(e, 1) == Some("Available")
        })
        .await;

    central.quit().await;
}

/// Offline-safe transactions: the central system goes away mid-session (it drops the connection
/// and refuses new ones); meter values and the StopTransaction of the session that ends meanwhile
/// are queued and, when it accepts stations again, delivered once each, in order, with the
/// transaction's id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v16_transaction_messages_queued_offline_arrive_once_and_in_order() {
    let Some(python) = testkit::interop_python(
        &["ocpp", "websockets"],
        "the Python central system interop test",
    ) else {
        return;
    };
    let (mut central, listening, port) = start_central(&python).await;
    let guns = vec![sim_gun(1)];
    let mut settings = OcppSettings::new(format!("ws://127.0.0.1:{port}/ocpp"), STATION);
    settings.keys = vec![("MeterValueSampleInterval".into(), "1".into())];
    let cp = ocpp16::start(settings, guns.clone())
        .await
        .expect("charge point");
    central
        .find(listening, "connector 1 Available", |e| {
            status(e, 1) == Some("Available")
        })
        .await;
    cp.local_start(1, Some("TAG-O".into()))
        .await
        .expect("local start");
    let start = central
        .find(listening, "StartTransaction", |e| {
            received(e, "StartTransaction")
        })
        .await;
    let tx = central.log[start]["response"]["transactionId"].clone();
    central
        .find(start, "a MeterValues online", |e| {
            received(e, "MeterValues")
        })
        .await;
    central.command(json!({"cmd": "offline"}));
    let offline = central
        .find(start, "the central system going offline", |e| {
            e["event"] == "offline"
        })
        .await;

    // Offline: the session goes on for a while, then stops.
    let deadline = Instant::now() + WAIT_LIMIT;
    while cp.info().await.expect("info").queued_messages < 3 {
        assert!(
            Instant::now() < deadline,
            "meter values are not being queued"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cp.local_stop(1).await.expect("local stop");
    loop {
        let info = cp.info().await.expect("info");
        if info.connectors[0].transaction_id.is_none() {
            break;
        }
        assert!(Instant::now() < deadline, "the session does not end");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let queued = cp.info().await.expect("info").queued_messages;
    let online: Vec<String> = central.log[start..offline]
        .iter()
        .filter(|e| received(e, "MeterValues"))
        .map(|e| e["payload"]["meterValue"][0]["timestamp"].to_string())
        .collect();

    // The central system is back.
    central.command(json!({"cmd": "online"}));
    let stop = central
        .find(offline, "the queued StopTransaction", |e| {
            received(e, "StopTransaction")
        })
        .await;
    let boot = central
        .find(offline, "BootNotification", |e| {
            received(e, "BootNotification")
        })
        .await;
    central.check(
        boot < stop,
        "the station boots before it delivers its queue",
    );
    central.check(
        central.log[stop]["payload"]["transactionId"] == tx
            && central.log[stop]["payload"]["reason"] == "Local",
        "the StopTransaction carries the transaction's id and reason Local",
    );
    let delivered: Vec<String> = central.log[boot..stop]
        .iter()
        .filter(|e| received(e, "MeterValues") && e["payload"]["transactionId"] == tx)
        .map(|e| e["payload"]["meterValue"][0]["timestamp"].to_string())
        .collect();
    let mut ordered = delivered.clone();
    ordered.sort();
    ordered.dedup();
    central.check(
        delivered.len() + 1 == queued && ordered == delivered,
        &format!("{queued} queued messages arrive once each, in order: {delivered:?}"),
    );
    central.check(
        delivered.iter().all(|t| !online.contains(t)),
        "nothing delivered before the outage is sent again",
    );
    let mut left = cp.info().await.expect("info").queued_messages;
    while left > 0 && Instant::now() < deadline + WAIT_LIMIT {
        tokio::time::sleep(Duration::from_millis(50)).await;
        left = cp.info().await.expect("info").queued_messages;
    }
    central.check(
        left == 0,
        &format!("the queue is empty afterwards ({left} left)"),
    );
    central.quit().await;
}

/// The security whitepaper's operations against the independent central system: the critical
/// StartupOfTheDevice event after boot, InstallCertificate, GetInstalledCertificateIds,
/// ExtendedTriggerMessage(SignChargePointCertificate) → SignCertificate with a CSR that the test's
/// certificate authority signs → CertificateSigned, and DeleteCertificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v16_security_operations_against_python_csms() {
    use rcgen::CertificateSigningRequestParams;
    let Some(python) = testkit::interop_python(
        &["ocpp", "websockets"],
        "the Python central system interop test",
    ) else {
        return;
    };
    let (mut central, listening, port) = start_central(&python).await;
    let settings = OcppSettings::new(format!("ws://127.0.0.1:{port}/ocpp"), STATION);
    let _cp = ocpp16::start(settings, vec![sim_gun(1)])
        .await
        .expect("charge point");
    let event = central
        .find(listening, "the startup security event", |e| {
            received(e, "SecurityEventNotification")
        })
        .await;
    central.check(
        central.log[event]["payload"]["type"] == "StartupOfTheDevice",
        "the first security event is StartupOfTheDevice",
    );

    let root = root_ca("interop CSMS root");
    let answer = central
        .call(
            event,
            "InstallCertificate",
            json!({"certificateType": "CentralSystemRootCertificate", "certificate": root.pem()}),
        )
        .await;
    central.check(answer["status"] == "Accepted", "the root is installed");
    let answer = central
        .call(
            event,
            "InstallCertificate",
            json!({"certificateType": "CentralSystemRootCertificate", "certificate": "not a certificate"}),
        )
        .await;
    central.check(answer["status"] == "Rejected", "garbage is refused");
    let ids = central
        .call(
            event,
            "GetInstalledCertificateIds",
            json!({"certificateType": "CentralSystemRootCertificate"}),
        )
        .await;
    central.check(
        ids["status"] == "Accepted"
            && ids["certificateHashData"].as_array().map(Vec::len) == Some(1),
        &format!("one root is listed: {ids}"),
    );

    // Without a CpoName no certificate can be requested.
    let mark = central.log.len();
    let answer = central
        .call(
            mark,
            "ExtendedTriggerMessage",
            json!({"requestedMessage": "SignChargePointCertificate"}),
        )
        .await;
    central.check(answer["status"] == "Rejected", "no CpoName, no CSR");
    let answer = central
        .call(
            mark,
            "ChangeConfiguration",
            json!({"key": "CpoName", "value": "Joule Interop"}),
        )
        .await;
    central.check(answer["status"] == "Accepted", "CpoName is writable");
    let answer = central
        .call(
            mark,
            "ExtendedTriggerMessage",
            json!({"requestedMessage": "SignChargePointCertificate"}),
        )
        .await;
    central.check(answer["status"] == "Accepted", "the trigger is accepted");
    let sign = central
        .find(mark, "SignCertificate", |e| received(e, "SignCertificate"))
        .await;
    let csr = central.log[sign]["payload"]["csr"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let request = CertificateSigningRequestParams::from_pem(&csr).expect("a PKCS#10 request");
    let chain = request.signed_by(&root).expect("signed").pem();
    let answer = central
        .call(
            sign,
            "CertificateSigned",
            json!({"certificateChain": chain}),
        )
        .await;
    central.check(
        answer["status"] == "Accepted",
        "the certificate signed for our own request is accepted",
    );
    let answer = central
        .call(
            sign,
            "CertificateSigned",
            json!({"certificateChain": root.pem()}),
        )
        .await;
    central.check(
        answer["status"] == "Rejected",
        "a chain without our pending key is refused",
    );

    // The root goes again (the link is plain ws, so it does not depend on it).
    let hash = ids["certificateHashData"][0].clone();
    let answer = central
        .call(
            sign,
            "DeleteCertificate",
            json!({"certificateHashData": hash}),
        )
        .await;
    central.check(answer["status"] == "Accepted", "the root is deleted");
    let answer = central
        .call(
            sign,
            "DeleteCertificate",
            json!({"certificateHashData": hash}),
        )
        .await;
    central.check(
        answer["status"] == "NotFound",
        "a second delete finds nothing",
    );
    central.quit().await;
}

/// MinimumStatusDuration: a status that does not hold that long is never reported; one that
/// does is reported once it has.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v16_short_lived_statuses_are_not_reported() {
    let Some(python) = testkit::interop_python(
        &["ocpp", "websockets"],
        "the Python central system interop test",
    ) else {
        return;
    };
    let (mut central, listening, port) = start_central(&python).await;
    let mut settings = OcppSettings::new(format!("ws://127.0.0.1:{port}/ocpp"), STATION);
    settings.plug_sensing = true;
    let cp = ocpp16::start(settings, vec![sim_gun(1)])
        .await
        .expect("charge point");
    let booted = central
        .find(listening, "connector 1 Available", |e| {
            status(e, 1) == Some("Available")
        })
        .await;
    let answer = central
        .call(
            booted,
            "ChangeConfiguration",
            json!({"key": "MinimumStatusDuration", "value": "2"}),
        )
        .await;
    central.check(
        answer["status"] == "Accepted",
        "MinimumStatusDuration is writable",
    );
    // A plug that lasts a moment: Preparing never holds 2 s.
    let mark = central.log.len();
    cp.plug(1).await.expect("plug");
    cp.unplug(1).await.expect("unplug");
    // Then a plug that stays: Preparing is reported once it has held.
    cp.plug(1).await.expect("plug again");
    let plugged = Instant::now();
    let preparing = central
        .find(mark, "Preparing after it held", |e| {
            status(e, 1) == Some("Preparing")
        })
        .await;
    let held = plugged.elapsed();
    central.check(
        held >= Duration::from_millis(1900),
        &format!("Preparing was reported after {held:?}, not before it held 2 s"),
    );
    let reported: Vec<&str> = central.log[mark..=preparing]
        .iter()
        .filter_map(|e| status(e, 1))
        .collect();
    central.check(
        reported == ["Preparing"],
        &format!("the short plug-in left no trace: {reported:?}"),
    );
    central.quit().await;
}

/// A file server for the firmware tests: `GET /fw.bin` serves the image, `PUT /upload/{name}`
/// keeps what arrives.
async fn file_server(image: Vec<u8>) -> (std::net::SocketAddr, Uploads) {
    use axum::routing::{get, put};
    let uploads: Uploads = Arc::new(Mutex::new(Vec::new()));
    let kept = uploads.clone();
    let app = axum::Router::new()
        .route("/fw.bin", get(move || async move { image.clone() }))
        .route(
            "/upload/{name}",
            put(
                move |axum::extract::Path(name): axum::extract::Path<String>,
                      body: axum::body::Bytes| async move {
                    if let Ok(mut all) = kept.lock() {
                        all.push((name, body.to_vec()));
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
    (addr, uploads)
}

type Uploads = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// The statuses of `action` notifications at or after `from`, in order.
fn statuses(central: &PythonCentral, from: usize, action: &str) -> Vec<String> {
    central.log[from..]
        .iter()
        .filter(|e| received(e, action))
        .filter_map(|e| e["payload"]["status"].as_str().map(str::to_owned))
        .collect()
}

/// Firmware Management and the whitepaper's signed firmware and logs against the independent
/// central system, with real HTTP transfers: UpdateFirmware, GetDiagnostics, SignedUpdateFirmware
/// (manufacturer root installed, image signed with ECDSA P-256), GetLog, and a signing
/// certificate from an unknown root refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v16_firmware_and_log_transfers_against_python_csms() {
    use rcgen::{CertificateParams, CertifiedIssuer, DnType, KeyPair};
    let Some(python) = testkit::interop_python(
        &["ocpp", "websockets"],
        "the Python central system interop test",
    ) else {
        return;
    };
    let image: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
    let (files, uploads) = file_server(image.clone()).await;
    let (mut central, listening, port) = start_central(&python).await;
    let settings = OcppSettings::new(format!("ws://127.0.0.1:{port}/ocpp"), STATION);
    let _cp = ocpp16::start(settings, vec![sim_gun(1)])
        .await
        .expect("charge point");
    let booted = central
        .find(listening, "connector 1 Available", |e| {
            status(e, 1) == Some("Available")
        })
        .await;
    let now = || chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);

    // UpdateFirmware: download over HTTP, install, every status on the way.
    let mark = central.log.len();
    central
        .call(
            booted,
            "UpdateFirmware",
            json!({"location": format!("http://{files}/fw.bin"), "retrieveDate": now()}),
        )
        .await;
    central
        .find(mark, "FirmwareStatusNotification Installed", |e| {
            received(e, "FirmwareStatusNotification") && e["payload"]["status"] == "Installed"
        })
        .await;
    let seen = statuses(&central, mark, "FirmwareStatusNotification");
    central.check(
        seen == ["Downloading", "Downloaded", "Installing", "Installed"],
        &format!("the legacy firmware statuses in order: {seen:?}"),
    );

    // GetDiagnostics: a named file uploaded with HTTP PUT.
    let mark = central.log.len();
    let answer = central
        .call(
            mark,
            "GetDiagnostics",
            json!({"location": format!("http://{files}/upload")}),
        )
        .await;
    let name = answer["fileName"].as_str().unwrap_or_default().to_owned();
    central.check(!name.is_empty(), "GetDiagnostics names its file");
    central
        .find(mark, "DiagnosticsStatusNotification Uploaded", |e| {
            received(e, "DiagnosticsStatusNotification") && e["payload"]["status"] == "Uploaded"
        })
        .await;
    let received_files = uploads.lock().map(|u| u.clone()).unwrap_or_default();
    central.check(
        received_files
            .iter()
            .any(|(n, body)| *n == name && String::from_utf8_lossy(body).contains(STATION)),
        "the diagnostics file arrived under its name and describes the station",
    );

    // SignedUpdateFirmware: the manufacturer root, a signing certificate, an ECDSA signature.
    let root = root_ca("interop manufacturer root");
    let answer = central
        .call(
            mark,
            "InstallCertificate",
            json!({"certificateType": "ManufacturerRootCertificate", "certificate": root.pem()}),
        )
        .await;
    central.check(
        answer["status"] == "Accepted",
        "the manufacturer root is installed",
    );
    let signing_key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params
        .distinguished_name
        .push(DnType::CommonName, "interop firmware signer");
    let signing_cert = params.signed_by(&signing_key, &root).expect("signed").pem();
    let rng = ring::rand::SystemRandom::new();
    let signer = ring::signature::EcdsaKeyPair::from_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        &signing_key.serialize_der(),
        &rng,
    )
    .expect("P-256 key");
    let signature = signer.sign(&rng, &image).expect("signature");
    let signature = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        signature.as_ref(),
    );
    let mark = central.log.len();
    let answer = central
        .call(
            mark,
            "SignedUpdateFirmware",
            json!({"requestId": 7, "firmware": {
                "location": format!("http://{files}/fw.bin"),
                "retrieveDateTime": now(),
                "signingCertificate": signing_cert,
                "signature": signature,
            }}),
        )
        .await;
    central.check(
        answer["status"] == "Accepted",
        "a signed update is accepted",
    );
    central
        .find(mark, "SignedFirmwareStatusNotification Installed", |e| {
            received(e, "SignedFirmwareStatusNotification") && e["payload"]["status"] == "Installed"
        })
        .await;
    let mut seen = statuses(&central, mark, "SignedFirmwareStatusNotification");
    // The retrieve time may lie a moment ahead of the station's clock: scheduled first.
    if seen.first().map(String::as_str) == Some("DownloadScheduled") {
        seen.remove(0);
    }
    central.check(
        seen == [
            "Downloading",
            "Downloaded",
            "SignatureVerified",
            "Installing",
            "Installed",
        ],
        &format!("the signed firmware statuses in order: {seen:?}"),
    );
    central
        .find(mark, "the FirmwareUpdated security event", |e| {
            received(e, "SecurityEventNotification") && e["payload"]["type"] == "FirmwareUpdated"
        })
        .await;

    // A signing certificate from a root we do not know is refused at once.
    let stranger = CertifiedIssuer::self_signed(
        CertificateParams::new(Vec::<String>::new()).expect("p"),
        KeyPair::generate().expect("key"),
    )
    .expect("CA");
    let answer = central
        .call(
            mark,
            "SignedUpdateFirmware",
            json!({"requestId": 8, "firmware": {
                "location": format!("http://{files}/fw.bin"),
                "retrieveDateTime": now(),
                "signingCertificate": stranger.pem(),
                "signature": "AAAA",
            }}),
        )
        .await;
    central.check(
        answer["status"] == "InvalidCertificate",
        &format!("an unknown signer is InvalidCertificate: {answer}"),
    );

    // GetLog of the security log.
    let mark = central.log.len();
    let answer = central
        .call(
            mark,
            "GetLog",
            json!({"logType": "SecurityLog", "requestId": 9,
                   "log": {"remoteLocation": format!("http://{files}/upload")}}),
        )
        .await;
    central.check(answer["status"] == "Accepted", "GetLog is accepted");
    let log_name = answer["filename"].as_str().unwrap_or_default().to_owned();
    central
        .find(mark, "LogStatusNotification Uploaded", |e| {
            received(e, "LogStatusNotification") && e["payload"]["status"] == "Uploaded"
        })
        .await;
    let received_files = uploads.lock().map(|u| u.clone()).unwrap_or_default();
    central.check(
        received_files.iter().any(|(n, body)| {
            *n == log_name && String::from_utf8_lossy(body).contains("StartupOfTheDevice")
        }),
        "the security log arrived and holds the startup event",
    );
    central.quit().await;
}

/// Starts the Python central system: it, the index of its listening event, its port.
async fn start_central(python: &OsStr) -> (PythonCentral, usize, u64) {
    let mut central = PythonCentral::spawn(python);
    let listening = central
        .find(0, "the listening port", |e| e["event"] == "listening")
        .await;
    let Some(port) = central.log[listening]["port"].as_u64() else {
        central.fail("no port");
    };
    (central, listening, port)
}

/// A self-signed certificate authority named `name`.
fn root_ca(name: &str) -> rcgen::CertifiedIssuer<'static, rcgen::KeyPair> {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate().expect("key"))
        .expect("CA")
}

fn sim_gun(n: u32) -> GunHandle {
    let settings = hal::GunSettings {
        gun: n,
        max_current: hal::Amps(200.0),
        max_power: hal::Watts(150_000.0),
        max_voltage: hal::Volts(1000.0),
    };
    let hardware = hal::create("sim", &settings, std::time::Instant::now()).expect("sim HAL");
    let machine = charger::Gun::new(charger::GunConfig::new(
        settings.max_voltage,
        settings.max_current,
        settings.max_power,
    ));
    gun::spawn(n, format!("Gun {n}"), machine, hardware)
}

/// Whether `event` is the central system's receipt of a valid `action` CALL.
fn received(event: &Value, action: &str) -> bool {
    event["event"] == "received" && event["action"] == action
}

/// The status a received StatusNotification reports for `connector`.
fn status(event: &Value, connector: i64) -> Option<&str> {
    let payload = &event["payload"];
    (received(event, "StatusNotification") && payload["connectorId"] == connector)
        .then(|| payload["status"].as_str())
        .flatten()
}

/// Whether `event` is the station's answer to the central system's `action` CALL.
fn answered(event: &Value, action: &str) -> bool {
    event["event"] == "answer" && event["action"] == action
}

/// `interop/csms_central.py` running as a child process: its stdout events arrive through a
/// channel fed by a reader thread and are kept in `log`, its stderr (every frame it sent and
/// received) is collected for failure messages, and commands go to its stdin.
struct PythonCentral {
    child: Child,
    stdin: Option<ChildStdin>,
    events: mpsc::UnboundedReceiver<String>,
    stderr: Option<JoinHandle<String>>,
    /// Every event read so far, in order.
    log: Vec<Value>,
}

impl PythonCentral {
    fn spawn(python: &OsStr) -> Self {
        let mut child = Command::new(python)
            .arg(CENTRAL_SCRIPT)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the central system script starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (lines, events) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let mut stderr = child.stderr.take().expect("stderr is piped");
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        Self {
            stdin: child.stdin.take(),
            child,
            events,
            stderr: Some(stderr),
            log: Vec::new(),
        }
    }

    /// The index in `log` of the first event at or after `from` that `matches`, reading more
    /// events as needed. A rejection, an error or a lost connection fails the test.
    async fn find(&mut self, from: usize, what: &str, matches: impl Fn(&Value) -> bool) -> usize {
        let deadline = Instant::now() + WAIT_LIMIT;
        let mut next = from;
        loop {
            if let Some(found) = self.log[next..].iter().position(&matches) {
                return next + found;
            }
            next = self.log.len();
            let event = self.read(what, deadline).await;
            match event["event"].as_str() {
                Some("rejected") => self.fail(&format!(
                    "the Python central system rejected our {}: {}\npayload: {}",
                    event["action"], event["error"], event["payload"]
                )),
                Some("error") => self.fail(&format!("the Python central system failed: {event}")),
                Some("disconnected") => self.fail(&format!(
                    "the station disconnected while awaiting {what}: {event}"
                )),
                _ => {}
            }
            self.log.push(event);
        }
    }

    /// The next event, read within `LINE_TIMEOUT` and before `deadline`.
    async fn read(&mut self, what: &str, deadline: Instant) -> Value {
        let limit = deadline.min(Instant::now() + LINE_TIMEOUT);
        let line = match tokio::time::timeout_at(limit, self.events.recv()).await {
            Ok(Some(line)) => line,
            Ok(None) => self.fail(&format!("the central system ended before {what}")),
            Err(_) => self.fail(&format!("timed out waiting for {what}")),
        };
        match serde_json::from_str(&line) {
            Ok(event) => event,
            Err(e) => self.fail(&format!("not a JSON event ({e}): {line}")),
        }
    }

    /// The StartTransaction on connector 1 for `id_tag` at or after `from`.
    async fn transaction(&mut self, from: usize, id_tag: &str) -> usize {
        let start = self
            .find(from, &format!("StartTransaction for {id_tag}"), |e| {
                received(e, "StartTransaction")
            })
            .await;
        let payload = &self.log[start]["payload"];
        self.check(
            payload["connectorId"] == CONNECTOR && payload["idTag"] == id_tag,
            &format!("the transaction runs on connector 1 for the remote start's {id_tag}"),
        );
        start
    }

    /// Sends `action` with `payload` and returns the station's answer payload.
    async fn call(&mut self, from: usize, action: &str, payload: Value) -> Value {
        let mark = self.log.len().max(from);
        self.command(json!({"cmd": "call", "action": action, "payload": payload}));
        let at = self
            .find(mark, &format!("the answer to {action}"), |e| {
                answered(e, action)
            })
            .await;
        self.log[at]["payload"].clone()
    }

    /// The StopTransaction of transaction `tx` at or after `from`.
    async fn stop_of(&mut self, from: usize, tx: &Value, what: &str) -> usize {
        self.find(from, what, |e| {
            received(e, "StopTransaction") && e["payload"]["transactionId"] == *tx
        })
        .await
    }

    /// The StopTransaction of the transaction started at `start`, checked against its start.
    async fn stop(&mut self, start: usize, what: &str) -> usize {
        let stop = self
            .find(start, what, |e| received(e, "StopTransaction"))
            .await;
        let (started, stopped) = (&self.log[start], &self.log[stop]["payload"]);
        let meter_start = started["payload"]["meterStart"].as_i64();
        let meter_stop = stopped["meterStop"].as_i64();
        self.check(
            stopped["transactionId"] == started["response"]["transactionId"],
            "StopTransaction names the id StartTransaction was given",
        );
        self.check(
            meter_start.zip(meter_stop).is_some_and(|(a, b)| b >= a),
            &format!("meterStop {meter_stop:?} is at least meterStart {meter_start:?}"),
        );
        stop
    }

    /// Writes one command line to the central system.
    fn command(&mut self, command: Value) {
        let written = self
            .stdin
            .as_mut()
            .map(|stdin| writeln!(stdin, "{command}").and_then(|()| stdin.flush()));
        if !matches!(written, Some(Ok(()))) {
            self.fail(&format!("cannot send {command}: {written:?}"));
        }
    }

    /// Fails with the central system's log unless `condition` holds.
    fn check(&mut self, condition: bool, what: &str) {
        if !condition {
            self.fail(&format!("expected: {what}"));
        }
    }

    /// Asks the central system to quit and expects it to exit 0 without rejecting anything.
    async fn quit(mut self) {
        self.command(json!({"cmd": "quit"}));
        let deadline = Instant::now() + WAIT_LIMIT;
        loop {
            let line = match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(line)) => line,
                Ok(None) => break,
                Err(_) => self.fail("the central system did not exit after quit"),
            };
            let event: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
            if !matches!(
                event["event"].as_str(),
                Some("received" | "answer" | "disconnected" | "dropped" | "offline" | "online")
            ) {
                self.fail(&format!("an unexpected event after quit: {line}"));
            }
        }
        // Its stdout is closed, so it is exiting.
        let status =
            tokio::task::block_in_place(|| self.child.wait()).expect("the central system's status");
        if !status.success() {
            self.fail(&format!("the central system failed: {status}"));
        }
    }

    /// Stops the central system and panics with `why`, its events and everything it wrote to
    /// stderr.
    fn fail(&mut self, why: &str) -> ! {
        let _ = self.child.kill();
        let status = tokio::task::block_in_place(|| self.child.wait());
        let stderr = self
            .stderr
            .take()
            .map(|reader| tokio::task::block_in_place(|| reader.join()).unwrap_or_default())
            .unwrap_or_default();
        let events: Vec<String> = self.log.iter().map(Value::to_string).collect();
        panic!(
            "{why}\ncentral system events:\n{}\ncentral system exit: {status:?}\ncentral system \
             stderr:\n{stderr}",
            events.join("\n")
        );
    }
}

impl Drop for PythonCentral {
    fn drop(&mut self) {
        // A failed assertion must not leave the central system running.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
