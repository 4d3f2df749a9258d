//! The central system end to end over real sockets: stations connect over WebSocket, operators
//! use the REST API, and every scenario runs on SQLite and on PostgreSQL.

mod support;

use serde_json::{Value, json};
use std::time::Duration;
use support::{API_KEY, connect, fresh_db, http, start};

const T0: &str = "2026-11-21T08:00:00.000Z";
const T1: &str = "2026-11-21T08:30:00.000Z";

/// Runs `$scenario(db_url)` once per backend.
macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let db = super::fresh_db("sqlite", stringify!($scenario)).await.expect("SQLite needs nothing");
                    super::$scenario(&db).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    if let Some(db) = super::fresh_db("postgres", stringify!($scenario)).await {
                        super::$scenario(&db).await;
                        super::support::drop_postgres_db(stringify!($scenario)).await;
                    }
                }
            )*
        }
    };
}

on_both_backends!(
    v16_charging_session_with_remote_commands_and_a_restart,
    v201_transaction_events_are_applied_once,
    subprotocol_negotiation_and_admission,
    bad_input_is_answered_and_never_crashes,
    a_reconnecting_station_replaces_its_old_connection,
    the_api_requires_a_key_and_reports_errors_as_json,
    sign_certificate_issues_a_certificate_for_the_station_only,
);

async fn v16_charging_session_with_remote_commands_and_a_restart(db: &str) {
    let csms = start(db, |_| {}).await;
    let api = csms.api_addr;
    let (status, _) = http(
        api,
        "POST",
        "/api/v1/tokens",
        Some(API_KEY),
        Some(json!({"idTag": "TAG-1"})),
    )
    .await;
    assert_eq!(status, 201);

    let mut cp = connect(csms.ocpp_addr, "CP-1", "ocpp1.6", None)
        .await
        .expect("accepted");
    assert_eq!(cp.protocol.as_deref(), Some("ocpp1.6"));
    let boot = cp
        .ok(
            "BootNotification",
            json!({"chargePointVendor": "joule", "chargePointModel": "DC-150"}),
        )
        .await;
    assert_eq!(
        (boot["status"].as_str(), boot["interval"].as_i64()),
        (Some("Accepted"), Some(300))
    );
    cp.ok(
        "StatusNotification",
        json!({"connectorId": 1, "errorCode": "NoError", "status": "Available"}),
    )
    .await;
    let auth = cp.ok("Authorize", json!({"idTag": "TAG-1"})).await;
    assert_eq!(auth["idTagInfo"]["status"], "Accepted");
    let auth = cp.ok("Authorize", json!({"idTag": "NOBODY"})).await;
    assert_eq!(auth["idTagInfo"]["status"], "Invalid");

    let started = cp
        .ok(
            "StartTransaction",
            json!({"connectorId": 1, "idTag": "TAG-1", "meterStart": 120500, "timestamp": T0}),
        )
        .await;
    assert_eq!(started["idTagInfo"]["status"], "Accepted");
    let tx = started["transactionId"].as_i64().expect("transaction id");
    // A retried StartTransaction gets the same transaction.
    let again = cp
        .ok(
            "StartTransaction",
            json!({"connectorId": 1, "idTag": "TAG-1", "meterStart": 120500, "timestamp": T0}),
        )
        .await;
    assert_eq!(again["transactionId"].as_i64(), Some(tx));

    cp.ok(
        "MeterValues",
        json!({"connectorId": 1, "transactionId": tx, "meterValue": [{"timestamp": T0, "sampledValue": [
            {"value": "121000", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
            {"value": "149800", "measurand": "Power.Active.Import", "unit": "W"},
            {"value": "402.5", "measurand": "Voltage", "unit": "V"},
            {"value": "372.2", "measurand": "Current.Import", "unit": "A"}
        ]}]}),
    )
    .await;

    let (status, active) = http(api, "GET", "/api/v1/active", Some(API_KEY), None).await;
    assert_eq!(status, 200);
    assert_eq!(active["sessions"][0]["transactionId"].as_i64(), Some(tx));

    // Remote stop through the API, answered by the station.
    let remote = tokio::spawn(async move {
        http(
            api,
            "POST",
            "/api/v1/stop",
            Some(API_KEY),
            Some(json!({"cpid": "CP-1", "connectorId": 1})),
        )
        .await
    });
    let call = cp.recv().await.expect("RemoteStopTransaction");
    assert_eq!(
        (call[0].as_i64(), call[2].as_str()),
        (Some(2), Some("RemoteStopTransaction"))
    );
    assert_eq!(call[3]["transactionId"].as_i64(), Some(tx));
    cp.send_text(&json!([3, call[1], {"status": "Accepted"}]).to_string())
        .await;
    let (status, body) = remote.await.expect("API task");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["response"]["status"], "Accepted");

    // The stop, then the same stop retried with the same and with a new message id: counted once.
    let stop = json!({"transactionId": tx, "meterStop": 150700, "timestamp": T1, "reason": "Remote", "idTag": "TAG-1"});
    let first = cp
        .call_with_id("stop-1", "StopTransaction", stop.clone())
        .await;
    let retried = cp
        .call_with_id("stop-1", "StopTransaction", stop.clone())
        .await;
    assert_eq!(first, retried);
    cp.ok("StopTransaction", stop).await;
    let (_, record) = http(
        api,
        "GET",
        &format!("/api/v1/transactions/{tx}"),
        Some(API_KEY),
        None,
    )
    .await;
    assert_eq!(record["state"], "completed");
    assert_eq!(record["energyWh"].as_f64(), Some(30_200.0));
    assert_eq!(record["stopReason"], "Remote");
    assert_eq!(record["meterValues"].as_array().map(Vec::len), Some(4));
    // A stop for a transaction the central system never saw is still acknowledged.
    cp.ok(
        "StopTransaction",
        json!({"transactionId": 999_999, "meterStop": 1, "timestamp": T1}),
    )
    .await;

    // Remote start through the API, answered by the station.
    let remote = tokio::spawn(async move {
        http(
            api,
            "POST",
            "/api/v1/start",
            Some(API_KEY),
            Some(json!({"cpid": "CP-1", "connectorId": 1, "idTag": "TAG-1"})),
        )
        .await
    });
    let call = cp.recv().await.expect("RemoteStartTransaction");
    assert_eq!(call[2], "RemoteStartTransaction");
    assert_eq!(call[3], json!({"connectorId": 1, "idTag": "TAG-1"}));
    cp.send_text(&json!([3, call[1], {"status": "Rejected"}]).to_string())
        .await;
    let (status, body) = remote.await.expect("API task");
    assert_eq!(
        (status, body["response"]["status"].as_str()),
        (200, Some("Rejected"))
    );

    let (_, station) = http(api, "GET", "/api/v1/stations/CP-1", Some(API_KEY), None).await;
    assert_eq!(
        (station["online"].as_bool(), station["ocppVersion"].as_str()),
        (Some(true), Some("1.6"))
    );
    assert_eq!(station["connectors"][0]["status"], "Available");
    assert_eq!(station["model"], "DC-150");

    // The traffic shows in the metrics (shared by every test of this process, so only presence).
    let (status, metrics) = http(api, "GET", "/metrics", None, None).await;
    assert_eq!(status, 200);
    let metrics = metrics.as_str().expect("Prometheus text").to_string();
    for series in [
        r#"ocpp_messages_total{action="StopTransaction",direction="received"}"#,
        r#"ocpp_messages_total{action="RemoteStopTransaction",direction="sent"}"#,
        "ocpp_connected_stations{version=\"1.6\"}",
        r#"ocpp_handling_seconds_bucket{action="StartTransaction""#,
    ] {
        assert!(metrics.contains(series), "{series} missing from /metrics");
    }
    let (status, openapi) = http(api, "GET", "/api/v1/openapi.json", Some(API_KEY), None).await;
    assert_eq!((status, openapi["openapi"].as_str()), (200, Some("3.1.0")));

    // A restart loses nothing.
    drop(cp);
    csms.shutdown().await;
    let csms = start(db, |_| {}).await;
    let (_, record) = http(
        csms.api_addr,
        "GET",
        &format!("/api/v1/transactions/{tx}"),
        Some(API_KEY),
        None,
    )
    .await;
    assert_eq!(record["energyWh"].as_f64(), Some(30_200.0));
    let (_, tokens) = http(csms.api_addr, "GET", "/api/v1/tokens", Some(API_KEY), None).await;
    assert_eq!(tokens["tokens"][0]["idTag"], "TAG-1");
    let (_, station) = http(
        csms.api_addr,
        "GET",
        "/api/v1/stations/CP-1",
        Some(API_KEY),
        None,
    )
    .await;
    assert_eq!(station["online"].as_bool(), Some(false));
    csms.shutdown().await;
}

async fn v201_transaction_events_are_applied_once(db: &str) {
    let csms = start(db, |_| {}).await;
    let api = csms.api_addr;
    let mut cs = connect(csms.ocpp_addr, "CS-2", "ocpp2.0.1", None)
        .await
        .expect("accepted");
    assert_eq!(cs.protocol.as_deref(), Some("ocpp2.0.1"));
    let boot = cs
        .ok("BootNotification", json!({"chargingStation": {"model": "DC-150", "vendorName": "joule"}, "reason": "PowerUp"}))
        .await;
    assert_eq!(boot["status"], "Accepted");
    let energy = |wh: f64| json!([{"timestamp": T0, "sampledValue": [{"value": wh, "measurand": "Energy.Active.Import.Register"}]}]);
    let event = |seq: i64, kind: &str, wh: f64| {
        let mut e = json!({
            "eventType": kind, "timestamp": T0, "triggerReason": "Authorized", "seqNo": seq,
            "transactionInfo": {"transactionId": "TX-42"}, "meterValue": energy(wh)
        });
        if seq == 0 {
            e["evse"] = json!({"id": 1, "connectorId": 1});
            e["idToken"] = json!({"idToken": "TAG-9", "type": "ISO14443"});
        }
        if kind == "Ended" {
            e["transactionInfo"]["stoppedReason"] = json!("EVDisconnected");
        }
        e
    };
    let started = cs.ok("TransactionEvent", event(0, "Started", 1000.0)).await;
    assert_eq!(
        started["idTokenInfo"]["status"], "Invalid",
        "TAG-9 is not in the database"
    );
    cs.ok("TransactionEvent", event(1, "Updated", 2500.0)).await;
    cs.ok("TransactionEvent", event(3, "Ended", 5000.0)).await;
    // The same Ended again (a retry after a lost answer): acknowledged, not applied twice.
    cs.ok("TransactionEvent", event(3, "Ended", 5000.0)).await;

    let (_, list) = http(
        api,
        "GET",
        "/api/v1/transactions?station=CS-2&state=completed",
        Some(API_KEY),
        None,
    )
    .await;
    let all = list["transactions"].as_array().expect("list");
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["transactionKey"], "TX-42");
    assert_eq!(all[0]["energyWh"].as_f64(), Some(4000.0));
    assert_eq!(all[0]["stopReason"], "EVDisconnected");
    assert_eq!(all[0]["idTag"], "TAG-9");
    let (_, active) = http(
        api,
        "GET",
        "/api/v1/transactions?state=active",
        Some(API_KEY),
        None,
    )
    .await;
    assert_eq!(active["transactions"].as_array().map(Vec::len), Some(0));
    csms.shutdown().await;
}

async fn subprotocol_negotiation_and_admission(db: &str) {
    let csms = start(db, |c| c.auto_register = false).await;
    let addr = csms.ocpp_addr;
    csms.ctx
        .store
        .register_station("CP-A", csms::store::Registration::Accepted, None, 0)
        .await
        .expect("registered");
    csms.ctx
        .store
        .register_station(
            "CP-P",
            csms::store::Registration::Accepted,
            Some("correct horse battery"),
            0,
        )
        .await
        .expect("registered");

    assert_eq!(
        connect(addr, "CP-A", "", None).await.err(),
        Some(400),
        "no subprotocol"
    );
    assert_eq!(
        connect(addr, "CP-A", "ocpp1.5, wamp", None).await.err(),
        Some(400),
        "none supported"
    );
    let cs = connect(addr, "CP-A", "ocpp1.6, ocpp2.0.1", None)
        .await
        .expect("accepted");
    assert_eq!(
        cs.protocol.as_deref(),
        Some("ocpp2.0.1"),
        "the newest common version wins"
    );
    drop(cs);
    let cs = connect(addr, "CP-A", "ocpp2.0.1, ocpp2.1, ocpp1.6", None)
        .await
        .expect("accepted");
    assert_eq!(cs.protocol.as_deref(), Some("ocpp2.1"));
    drop(cs);

    assert_eq!(
        connect(addr, "CP-UNKNOWN", "ocpp1.6", None).await.err(),
        Some(404)
    );
    assert_eq!(
        connect(addr, "CP-P", "ocpp1.6", None).await.err(),
        Some(401),
        "password required"
    );
    assert_eq!(
        connect(addr, "CP-P", "ocpp1.6", Some(("CP-P", "wrong")))
            .await
            .err(),
        Some(401)
    );
    assert_eq!(
        connect(
            addr,
            "CP-P",
            "ocpp1.6",
            Some(("CP-A", "correct horse battery"))
        )
        .await
        .err(),
        Some(401),
        "the user must be the station id"
    );
    let mut cp = connect(
        addr,
        "CP-P",
        "ocpp1.6",
        Some(("CP-P", "correct horse battery")),
    )
    .await
    .expect("accepted");
    cp.ok("Heartbeat", json!({})).await;
    csms.shutdown().await;
}

async fn bad_input_is_answered_and_never_crashes(db: &str) {
    let csms = start(db, |c| {
        c.max_message_bytes = 4096;
        c.call_timeout = Duration::from_millis(300);
    })
    .await;
    let mut cp = connect(csms.ocpp_addr, "CP-BAD", "ocpp1.6", None)
        .await
        .expect("accepted");

    cp.send_text("{not json").await;
    let answer = cp.recv().await.expect("CALLERROR");
    assert_eq!(
        (answer[0].as_i64(), answer[1].as_str(), answer[2].as_str()),
        (Some(4), Some("-1"), Some("FormationViolation"))
    );
    let answer = cp.call("Authorize", json!({"idTag": 42})).await;
    assert_eq!(answer[2], "TypeConstraintViolation");
    let answer = cp.call("Authorise", json!({"idTag": "A"})).await;
    assert_eq!(answer[2], "NotImplemented");
    let answer = cp
        .call("RemoteStartTransaction", json!({"idTag": "A"}))
        .await;
    assert_eq!(
        answer[2], "NotSupported",
        "stations do not send RemoteStartTransaction"
    );
    // An answer to nothing is dropped; the connection goes on.
    cp.send_text(&json!([3, "never-sent", {}]).to_string())
        .await;
    cp.ok("Heartbeat", json!({})).await;

    // A call the station never answers: 504.
    let api = csms.api_addr;
    let (status, body) = http(
        api,
        "POST",
        "/api/v1/stations/CP-BAD/call/ClearCache",
        Some(API_KEY),
        None,
    )
    .await;
    assert_eq!(status, 504, "{body}");
    let ignored = cp.recv().await.expect("the ClearCache CALL");
    assert_eq!(ignored[2], "ClearCache");
    // An invalid operator payload is refused before it is sent.
    let (status, body) = http(
        api,
        "POST",
        "/api/v1/stations/CP-BAD/call/Reset",
        Some(API_KEY),
        Some(json!({"type": "Sideways"})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["status"], "error");

    // The station disconnects in the middle of a call: the operator hears so.
    let pending = tokio::spawn(async move {
        http(
            api,
            "POST",
            "/api/v1/stations/CP-BAD/call/ClearCache",
            Some(API_KEY),
            None,
        )
        .await
    });
    let call = cp.recv().await.expect("the ClearCache CALL");
    assert_eq!(call[2], "ClearCache");
    drop(cp);
    let (status, body) = pending.await.expect("API task");
    assert_eq!(status, 409, "{body}");

    // An oversize frame closes the connection; the server goes on.
    let mut cp = connect(csms.ocpp_addr, "CP-BAD", "ocpp1.6", None)
        .await
        .expect("accepted");
    let huge = json!([2, "big", "DataTransfer", {"vendorId": "x", "data": "y".repeat(10_000)}])
        .to_string();
    cp.send_text(&huge).await;
    assert_eq!(cp.recv().await, None, "closed");
    let mut cp = connect(csms.ocpp_addr, "CP-BAD", "ocpp1.6", None)
        .await
        .expect("server still up");
    cp.ok("Heartbeat", json!({})).await;
    let (status, _) = http(
        api,
        "POST",
        "/api/v1/stations/NOPE/call/ClearCache",
        Some(API_KEY),
        None,
    )
    .await;
    assert_eq!(status, 404);
    csms.shutdown().await;
}

/// A PEM certificate signing request for common name `cn`.
fn csr(cn: &str) -> String {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    let key = rcgen::KeyPair::generate().expect("key");
    params
        .serialize_request(&key)
        .expect("CSR")
        .pem()
        .expect("PEM")
}

async fn sign_certificate_issues_a_certificate_for_the_station_only(db: &str) {
    let csms = start(db, |_| {}).await;
    for (version, protocol) in [("1.6", "ocpp1.6"), ("2.0.1", "ocpp2.0.1")] {
        let station = format!("CP-CERT-{version}");
        let mut cs = connect(csms.ocpp_addr, &station, protocol, None)
            .await
            .expect("accepted");
        // A request for another station's name is refused and nothing follows.
        let refused = cs
            .ok("SignCertificate", json!({"csr": csr("SOMEONE-ELSE")}))
            .await;
        assert_eq!(refused["status"], "Rejected", "{version}");
        let refused = cs.ok("SignCertificate", json!({"csr": "garbage"})).await;
        assert_eq!(refused["status"], "Rejected", "{version}");

        let accepted = cs
            .ok("SignCertificate", json!({"csr": csr(&station)}))
            .await;
        assert_eq!(accepted["status"], "Accepted", "{version}");
        let call = cs.recv().await.expect("CertificateSigned");
        assert_eq!(
            (call[0].as_i64(), call[2].as_str()),
            (Some(2), Some("CertificateSigned")),
            "{version}"
        );
        let chain = call[3]["certificateChain"].as_str().expect("chain");
        assert_eq!(
            chain.matches("BEGIN CERTIFICATE").count(),
            2,
            "station certificate and CA"
        );
        let leaf: rustls_pki_types::CertificateDer<'static> =
            rustls_pki_types::pem::PemObject::from_pem_slice(chain.as_bytes()).expect("leaf");
        let (_, parsed) = x509_parser::parse_x509_certificate(leaf.as_ref()).expect("X.509");
        let cn = parsed
            .subject()
            .iter_common_name()
            .next()
            .and_then(|c| c.as_str().ok());
        assert_eq!(cn, Some(station.as_str()));
        cs.send_text(&json!([3, call[1], {"status": "Accepted"}]).to_string())
            .await;
        cs.ok("Heartbeat", json!({})).await;
    }
    // The authority survives a restart: the same CA signs afterwards.
    let before = csms.ctx.ca.certificate_pem().to_string();
    csms.shutdown().await;
    let csms = start(db, |_| {}).await;
    assert_eq!(csms.ctx.ca.certificate_pem(), before);
    csms.shutdown().await;
}

async fn a_reconnecting_station_replaces_its_old_connection(db: &str) {
    let csms = start(db, |_| {}).await;
    let mut first = connect(csms.ocpp_addr, "CP-R", "ocpp1.6", None)
        .await
        .expect("accepted");
    first.ok("Heartbeat", json!({})).await;
    let mut second = connect(csms.ocpp_addr, "CP-R", "ocpp1.6", None)
        .await
        .expect("no duplicate-id lock-out");
    assert_eq!(first.recv().await, None, "the old connection is closed");
    second.ok("Heartbeat", json!({})).await;
    let (_, station) = http(
        csms.api_addr,
        "GET",
        "/api/v1/stations/CP-R",
        Some(API_KEY),
        None,
    )
    .await;
    assert_eq!(station["online"].as_bool(), Some(true));
    // Commands reach the new connection.
    let api = csms.api_addr;
    let remote = tokio::spawn(async move {
        http(
            api,
            "POST",
            "/api/v1/stations/CP-R/call/ClearCache",
            Some(API_KEY),
            None,
        )
        .await
    });
    let call = second.recv().await.expect("CALL on the new connection");
    second
        .send_text(&json!([3, call[1], {"status": "Accepted"}]).to_string())
        .await;
    let (status, body) = remote.await.expect("API task");
    assert_eq!(
        (status, body["response"]["status"].as_str()),
        (200, Some("Accepted"))
    );
    drop(second);
    csms.shutdown().await;
}

async fn the_api_requires_a_key_and_reports_errors_as_json(db: &str) {
    let csms = start(db, |_| {}).await;
    let api = csms.api_addr;
    for key in [None, Some("wrong")] {
        let (status, body) = http(api, "GET", "/api/v1/stations", key, None).await;
        assert_eq!((status, body["status"].as_str()), (401, Some("error")));
    }
    let (status, body) = http(api, "GET", "/health", None, None).await;
    assert_eq!((status, body["ok"].as_bool()), (200, Some(true)));
    let (status, body) = http(
        api,
        "POST",
        "/api/v1/tokens",
        Some(API_KEY),
        Some(json!({"idTag": 5})),
    )
    .await;
    assert_eq!((status, body["status"].as_str()), (400, Some("error")));
    let (status, _) = http(
        api,
        "POST",
        "/api/v1/tokens",
        Some(API_KEY),
        Some(json!({"idTag": "T", "status": "Maybe"})),
    )
    .await;
    assert_eq!(status, 400);
    let token = json!({"idTag": "T", "status": "Blocked", "expiry": "2027-01-01T00:00:00Z", "parentIdTag": "GROUP"});
    let (status, _) = http(api, "POST", "/api/v1/tokens", Some(API_KEY), Some(token)).await;
    assert_eq!(status, 201);
    let (_, tokens) = http(api, "GET", "/api/v1/tokens", Some(API_KEY), None).await;
    assert_eq!(tokens["tokens"][0]["parentIdTag"], "GROUP");
    assert_eq!(
        http(api, "DELETE", "/api/v1/tokens/T", Some(API_KEY), None)
            .await
            .0,
        200
    );
    assert_eq!(
        http(api, "DELETE", "/api/v1/tokens/T", Some(API_KEY), None)
            .await
            .0,
        404
    );
    let (status, body) = http(
        api,
        "GET",
        "/api/v1/transactions?state=sideways",
        Some(API_KEY),
        None,
    )
    .await;
    assert_eq!((status, body["status"].as_str()), (400, Some("error")));
    let (status, _) = http(
        api,
        "GET",
        "/api/v1/transactions/12345",
        Some(API_KEY),
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = http(
        api,
        "POST",
        "/api/v1/start",
        Some(API_KEY),
        Some(json!({"cpid": "GHOST", "connectorId": 1})),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _): (u16, Value) = http(api, "GET", "/nowhere", Some(API_KEY), None).await;
    assert_eq!(status, 404);

    // Stations are registered by operators, with a registration status and a password.
    let register = |body: Value| http(api, "POST", "/api/v1/stations", Some(API_KEY), Some(body));
    let (status, _) = register(json!({"id": "CP-NEW", "password": "short"})).await;
    assert_eq!(status, 400, "passwords have 16 to 40 characters");
    let (status, _) = register(json!({"id": "CP-NEW", "registration": "Maybe"})).await;
    assert_eq!(status, 400);
    let body = json!({"id": "CP-NEW", "registration": "Pending", "password": "0123456789abcdef"});
    let (status, station) = register(body).await;
    assert_eq!(
        (status, station["registration"].as_str()),
        (201, Some("Pending"))
    );
    assert_eq!(
        connect(csms.ocpp_addr, "CP-NEW", "ocpp1.6", None)
            .await
            .err(),
        Some(401)
    );
    let mut cp = connect(
        csms.ocpp_addr,
        "CP-NEW",
        "ocpp1.6",
        Some(("CP-NEW", "0123456789abcdef")),
    )
    .await
    .expect("accepted");
    let boot = cp
        .ok(
            "BootNotification",
            json!({"chargePointVendor": "joule", "chargePointModel": "DC"}),
        )
        .await;
    assert_eq!(boot["status"], "Pending");
    cp.ok(
        "SecurityEventNotification",
        json!({"type": "SettingSystemTime", "timestamp": T0}),
    )
    .await;
    let path = "/api/v1/stations/CP-NEW/events?action=SecurityEventNotification";
    let (status, events) = http(api, "GET", path, Some(API_KEY), None).await;
    assert_eq!(status, 200);
    assert_eq!(events["events"][0]["payload"]["type"], "SettingSystemTime");
    assert_eq!(
        http(
            api,
            "GET",
            "/api/v1/stations/NOPE/events",
            Some(API_KEY),
            None
        )
        .await
        .0,
        404
    );
    drop(cp);
    csms.shutdown().await;
}

/// A station whose socket went half-open (it never answers pings) is disconnected after the ping
/// interval and shown offline. The idle phase runs on virtual time: the paused clock jumps to each
/// deadline. (The clock is paused only then: database pool timers must not jump while SQLite works
/// on its own threads.)
#[tokio::test]
async fn a_station_that_stops_answering_pings_is_shown_offline() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let db = fresh_db("sqlite", "half_open").await.expect("SQLite");
    let csms = start(&db, |c| c.ping_interval = Duration::from_secs(30)).await;
    // The connection's ping clock starts during the upgrade, so the wait is measured from before it.
    let connecting_at = tokio::time::Instant::now();
    // A raw client that completes the upgrade and then never reads or answers anything.
    let mut socket = tokio::net::TcpStream::connect(csms.ocpp_addr)
        .await
        .expect("TCP");
    let upgrade = format!(
        "GET /ocpp/CP-SILENT HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: ocpp1.6\r\n\r\n",
        csms.ocpp_addr
    );
    socket
        .write_all(upgrade.as_bytes())
        .await
        .expect("upgrade sent");
    let mut head = [0u8; 12];
    socket
        .read_exact(&mut head)
        .await
        .expect("upgrade answered");
    assert_eq!(&head, b"HTTP/1.1 101");
    // Registered, and the connection recorded in the database (the last database work before the
    // connection idles).
    let registered = async {
        loop {
            let seen = csms
                .ctx
                .store
                .station("CP-SILENT")
                .await
                .expect("store")
                .and_then(|s| s.last_seen_ms);
            if csms.ctx.registry.get("CP-SILENT").is_some() && seen.is_some() {
                break;
            }
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), registered)
        .await
        .expect("station registered");
    tokio::time::pause();

    // The server pings after 30 s and gives up at the next ping, 30 s later: the read ends then.
    let mut rest = Vec::new();
    let _ = socket.read_to_end(&mut rest).await;
    let waited = connecting_at.elapsed();
    assert!(waited >= Duration::from_secs(60), "closed after {waited:?}");
    assert!(waited < Duration::from_secs(61), "closed after {waited:?}");
    tokio::time::resume();
    let unregistered = async {
        while csms.ctx.registry.get("CP-SILENT").is_some() {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), unregistered)
        .await
        .expect("station unregistered");
    let (_, station) = http(
        csms.api_addr,
        "GET",
        "/api/v1/stations/CP-SILENT",
        Some(API_KEY),
        None,
    )
    .await;
    assert_eq!(station["online"].as_bool(), Some(false));
    csms.shutdown().await;
}
