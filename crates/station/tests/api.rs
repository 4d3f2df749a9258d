//! The Live Controller API on virtual time: requests go straight into the router, the clock is
//! paused and jumps from one gun tick to the next, so a ten-second session takes no real time.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use station::api::{self, App};
use station::gun::GunHandle;
use station::{GunSpec, gun};
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

fn spec(n: u32) -> GunSpec {
    GunSpec {
        gun: n,
        label: format!("Gun {n}"),
        backend: "sim".into(),
        max_voltage: hal::Volts(1000.0),
        max_current: hal::Amps(200.0),
        max_power: hal::Watts(150_000.0),
        pecc_url: None,
    }
}

/// A station of `n` simulated guns, its router and the gun handles.
fn station(n: u32, token: Option<&str>) -> (Router, Vec<GunHandle>) {
    let now = std::time::Instant::now();
    let guns: Vec<GunHandle> = (1..=n)
        .map(|g| {
            let s = spec(g);
            let settings = hal::GunSettings {
                gun: g,
                max_current: s.max_current,
                max_power: s.max_power,
                max_voltage: s.max_voltage,
            };
            let hardware = hal::create("sim", &settings, now).expect("sim backend");
            let machine = charger::Gun::new(charger::GunConfig::new(
                s.max_voltage,
                s.max_current,
                s.max_power,
            ));
            gun::spawn(g, s.label, machine, hardware)
        })
        .collect();
    let app = Arc::new(App {
        guns: guns.clone(),
        token: token.map(str::to_string),
    });
    (api::router(app), guns)
}

async fn call(
    router: &Router,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    call_with(router, method, path, body, None).await
}

async fn call_with(
    router: &Router,
    method: &str,
    path: &str,
    body: Option<Value>,
    token: Option<&str>,
) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
    let response = router
        .clone()
        .oneshot(
            request
                .header("Content-Type", "application/json")
                .body(body)
                .expect("request"),
        )
        .await
        .expect("infallible");
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, json)
}

/// Advances virtual time tick by tick until `done(status)`, at most `limit`; returns the phases seen.
async fn run_until(
    router: &Router,
    path: &str,
    limit: Duration,
    done: impl Fn(&Value) -> bool,
) -> Vec<String> {
    let mut phases = Vec::new();
    let end = tokio::time::Instant::now() + limit;
    loop {
        let (_, status) = call(router, "GET", path, None).await;
        let phase = status["phase"].as_str().unwrap_or_default().to_string();
        if phases.last() != Some(&phase) {
            phases.push(phase);
        }
        if done(&status) {
            return phases;
        }
        assert!(
            tokio::time::Instant::now() < end,
            "not reached within {limit:?}: {status}"
        );
        tokio::time::sleep(gun::TICK).await;
    }
}

fn idle(status: &Value) -> bool {
    status["session_active"] == false
}

#[tokio::test(start_paused = true)]
async fn a_default_session_through_the_seed_api() {
    let (router, _) = station(1, None);
    let (code, body) = call(&router, "POST", "/start_session", None).await;
    assert_eq!((code, body), (StatusCode::OK, json!({"status": "started"})));
    let phases = run_until(&router, "/status", Duration::from_secs(60), idle).await;
    assert_eq!(phases, ["HANDSHAKE", "PRECHARGE", "CHARGING", "COMPLETE"]);
    let (_, status) = call(&router, "GET", "/status", None).await;
    let summary = &status["last_session_summary"];
    assert_eq!(summary["ended_phase"], "COMPLETE");
    assert!(
        summary["energy_Wh"].as_f64().expect("energy") > 0.0,
        "{summary}"
    );
    assert_eq!(
        (status["voltage"].as_f64(), status["current"].as_f64()),
        (Some(0.0), Some(0.0))
    );
    let (_, meter) = call(&router, "GET", "/meter", None).await;
    assert_eq!(
        meter["energy_Wh"], 0.0,
        "the meter view resets after the session"
    );
}

#[tokio::test(start_paused = true)]
async fn two_simultaneous_starts_give_one_session_and_one_409() {
    let (router, _) = station(1, None);
    let (a, b) = tokio::join!(
        call(&router, "POST", "/start_session", Some(json!({}))),
        call(&router, "POST", "/start_session", Some(json!({})))
    );
    let mut codes = [a.0, b.0];
    codes.sort();
    assert_eq!(codes, [StatusCode::OK, StatusCode::CONFLICT]);
    let refused = if a.0 == StatusCode::CONFLICT {
        a.1
    } else {
        b.1
    };
    assert_eq!(
        refused,
        json!({"status": "error", "message": "Session already in progress"})
    );
}

#[tokio::test(start_paused = true)]
async fn invalid_input_is_refused_with_422_and_unknown_guns_with_404() {
    let (router, _) = station(1, None);
    let cases = [
        ("/control/pwm", json!({"duty": 150.0})),
        ("/control/pwm", json!({"duty": -1})),
        ("/control/pwm", json!({})),
        ("/control/cp_state", json!({"state": "F"})),
        ("/control/cp_state", json!({"state": "AB"})),
        ("/control/contactor", json!({"closed": "yes"})),
        ("/start_session", json!({"duration_s": 0.5})),
        ("/start_session", json!({"target_voltage": -5})),
        ("/start_session", json!({"initial_current": "lots"})),
        ("/fault", json!({})),
    ];
    for (path, body) in cases {
        let (code, reply) = call(&router, "POST", path, Some(body.clone())).await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{path} {body}");
        assert_eq!(reply["status"], "error", "{path} {body}");
    }
    let (code, _) = call(&router, "GET", "/guns/7/status", None).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let (code, _) = call(&router, "GET", "/guns/zero/status", None).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let (code, reply) = call(&router, "POST", "/control/pwm", Some(json!({"duty": 5.0}))).await;
    assert_eq!(
        (code, reply),
        (StatusCode::OK, json!({"status": "ok", "duty": 5.0}))
    );
    let (code, reply) = call(
        &router,
        "POST",
        "/control/cp_state",
        Some(json!({"state": "C"})),
    )
    .await;
    assert_eq!(
        (code, reply),
        (StatusCode::OK, json!({"status": "ok", "state": "C"}))
    );
}

#[tokio::test(start_paused = true)]
async fn the_contactor_is_gated_and_an_open_contactor_reads_zero() {
    let (router, _) = station(1, None);
    let (code, reply) = call(
        &router,
        "POST",
        "/control/contactor",
        Some(json!({"closed": true})),
    )
    .await;
    assert_eq!(
        (code, reply),
        (
            StatusCode::OK,
            json!({"status": "ok", "contactor_closed": true})
        )
    );
    let (code, _) = call(
        &router,
        "POST",
        "/control/contactor",
        Some(json!({"closed": false})),
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    call(&router, "POST", "/start_session", None).await;
    run_until(&router, "/status", Duration::from_secs(20), |s| {
        s["step"] == "precharge"
    })
    .await;
    let (code, _) = call(
        &router,
        "POST",
        "/control/contactor",
        Some(json!({"closed": true})),
    )
    .await;
    assert_eq!(
        code,
        StatusCode::CONFLICT,
        "no manual closing during a session"
    );
    let (_, status) = call(&router, "GET", "/status", None).await;
    assert_eq!(
        (
            status["contactor_closed"].as_bool(),
            status["voltage"].as_f64(),
            status["current"].as_f64()
        ),
        (Some(false), Some(0.0), Some(0.0))
    );
}

#[tokio::test(start_paused = true)]
async fn a_fault_aborts_and_blocks_until_cleared() {
    let (router, _) = station(1, None);
    call(&router, "POST", "/start_session", None).await;
    run_until(&router, "/status", Duration::from_secs(30), |s| {
        s["phase"] == "CHARGING"
    })
    .await;
    let (code, reply) = call(
        &router,
        "POST",
        "/fault",
        Some(json!({"type": "OVERCURRENT"})),
    )
    .await;
    assert_eq!(
        (code, reply),
        (
            StatusCode::OK,
            json!({"status": "fault_injected", "type": "OVERCURRENT"})
        )
    );
    // Commanded open in the same step (the charger's own tests pin that); the feedback follows
    // after the contactor's operate time, seen at the next tick or the one after.
    run_until(&router, "/status", 3 * gun::TICK, |s| {
        s["contactor_closed"] == false
    })
    .await;
    run_until(&router, "/status", Duration::from_secs(20), idle).await;
    let (_, status) = call(&router, "GET", "/status", None).await;
    assert_eq!(
        (status["phase"].as_str(), status["error"].as_str()),
        (Some("ABORTED"), Some("OVERCURRENT"))
    );
    let (code, _) = call(&router, "POST", "/start_session", None).await;
    assert_eq!(code, StatusCode::CONFLICT, "unavailable until cleared");
    let (code, _) = call(&router, "POST", "/clear_fault", None).await;
    assert_eq!(code, StatusCode::OK);
    let (code, _) = call(&router, "POST", "/start_session", None).await;
    assert_eq!(code, StatusCode::OK);
}

#[tokio::test(start_paused = true)]
async fn two_guns_charge_at_once_and_stopping_one_leaves_the_other_alone() {
    let (router, _) = station(2, None);
    for g in [1, 2] {
        let (code, _) = call(
            &router,
            "POST",
            &format!("/guns/{g}/start_session"),
            Some(json!({"duration_s": 60})),
        )
        .await;
        assert_eq!(code, StatusCode::OK);
    }
    run_until(&router, "/guns/2/status", Duration::from_secs(30), |s| {
        s["phase"] == "CHARGING"
    })
    .await;
    run_until(&router, "/guns/1/status", Duration::from_secs(30), |s| {
        s["phase"] == "CHARGING"
    })
    .await;
    let (code, reply) = call(&router, "POST", "/guns/1/stop_session", None).await;
    assert_eq!(
        (code, reply),
        (StatusCode::OK, json!({"status": "stopping"}))
    );
    run_until(&router, "/guns/1/status", Duration::from_secs(20), idle).await;
    let (_, one) = call(&router, "GET", "/guns/1/status", None).await;
    let (_, two) = call(&router, "GET", "/guns/2/status", None).await;
    assert_eq!(one["last_session_summary"]["error"], "STOP_REQUESTED");
    assert_eq!(two["phase"], "CHARGING", "gun 2 untouched");
    assert!(two["current"].as_f64().expect("current") > 10.0, "{two}");
    let (_, guns) = call(&router, "GET", "/guns", None).await;
    assert_eq!(guns["guns"].as_array().map(Vec::len), Some(2));
    // The seed's paths address gun 1.
    let (_, seed_path) = call(&router, "GET", "/status", None).await;
    assert_eq!(seed_path["phase"], one["phase"]);
}

#[tokio::test(start_paused = true)]
async fn a_bearer_token_protects_every_route() {
    let (router, _) = station(1, Some("s3cret-token"));
    let (code, reply) = call(&router, "GET", "/status", None).await;
    assert_eq!(
        (code, reply["status"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("error"))
    );
    let (code, _) = call_with(&router, "GET", "/status", None, Some("wrong")).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    let (code, _) = call_with(&router, "GET", "/status", None, Some("s3cret-token")).await;
    assert_eq!(code, StatusCode::OK);
}

#[tokio::test(start_paused = true)]
async fn vehicle_routes_have_the_seed_shapes() {
    let (router, _) = station(1, None);
    let (_, bms) = call(&router, "GET", "/vehicle/bms", None).await;
    assert!(bms["rated_limits"]["dc"].get("max_charge_power").is_some());
    assert_eq!(bms["present_soc"], Value::Null);
    let (_, slac) = call(&router, "GET", "/vehicle/slac", None).await;
    assert_eq!(slac["state"], "IDLE");
    let (_, iso) = call(&router, "GET", "/guns/1/vehicle/iso15118", None).await;
    assert!(iso["timestamps"].get("started_at").is_some());
}
