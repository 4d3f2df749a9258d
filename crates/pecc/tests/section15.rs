//! Conformance with the fact sheet's section 15, the obligations of a PECC server, one test per
//! rule (items with several rules get a test per rule, lettered), each named after its rule:
//! `s15_<item><letter>_<rule>`. Every test runs the real controller on 127.0.0.1:0 with scripted
//! SECCs over WebSockets (Nagle off on both ends), on virtual time.
//!
//! | item | rule | tests |
//! |---|---|---|
//! | 1 | one URL per charge point, `pep1.x` negotiated | `s15_01a` … `s15_01c` |
//! | 2 | `info/status` every 200 ms with all 8 fields, whatever the state | `s15_02` |
//! | 3 | every request answered within 500 ms, copying its number; acknowledgements | `s15_03a` … `s15_03c` |
//! | 4 | schema validation, `error/format`, number 0 when unreadable | `s15_04a` … `s15_04g` |
//! | 5 | `limitVoltageMax` → `error/value`; current derated without error | `s15_05a`, `s15_05b` |
//! | 6 | standby on silence, disconnect, reset, open while closed; `inoperative` | `s15_06a` … `s15_06e` |
//! | 7 | one own request outstanding, own counter, 500 ms timeout | `s15_07a` … `s15_07c` |
//! | 8 | `evConnectionState` and `chargingSession` are information only | `s15_08` |
//! | 9 | vendor-specific notifications as `info/event` | `s15_09` |
//! | 10 | SECC loss detected within 5 s by Ping/Pong or any traffic | `s15_10a` … `s15_10c` |

mod support;

use futures_util::{SinkExt, StreamExt};
use pecc::cabinet::CabinetCommand;
use proto_pepws::connection::{PeccConfig, PeccConnection};
use proto_pepws::sequence::MAX_SEQUENCE_NUMBER;
use proto_pepws::{Info, Message as Pep, NumberMode, Request};
use serde_json::{Value, json};
use std::time::Duration;
use support::{
    Recorder, Secc, connect, error_of, http, is_standby, published_status, published_until, start,
    view_until,
};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The eight fields of `info/status` (section 7.1).
const STATUS_FIELDS: [&str; 8] = [
    "contactorsStatus",
    "drivenCurrent",
    "drivenVoltage",
    "isolationStatus",
    "measuredCurrent",
    "measuredVoltage",
    "operationalStatus",
    "temperature",
];

fn request_text(n: Value, kind: &str, payload: Value) -> String {
    json!({"type": "request", "kind": kind, "sequenceNumber": n, "payload": payload}).to_string()
}

/// Sends `text` and returns the reply it gets.
async fn reply_to_text(secc: &mut Recorder, text: &str) -> Value {
    secc.send_text(text).await;
    secc.next().await.expect("a reply")
}

// Item 1 ----------------------------------------------------------------------------------------

/// Item 1: "Listen on one URL per charge point." Each of 72 charge points has its own path and
/// an independent link (section 1.1); a path that names no charge point is refused.
#[tokio::test(start_paused = true)]
async fn s15_01a_one_url_per_charge_point() {
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
    assert_eq!(published_status(&pecc, 72)["contactorsStatus"], "closed");
    assert_eq!(published_status(&pecc, 1)["contactorsStatus"], "open");
    // A path of no charge point is not a PEP-WS endpoint.
    let unknown = tokio_tungstenite::connect_async_with_config(
        format!("ws://{}/secc7/gun1", pecc.addr),
        None,
        true,
    )
    .await;
    assert!(unknown.is_err(), "no charge point behind /secc7/gun1");
    pecc.shutdown().await;
}

/// Item 1: "Negotiate the `pep1.x` subprotocol" (section 2.1): the highest offered version is
/// echoed, a client offering none is served without the header, `pep1.0` is refused.
#[tokio::test(start_paused = true)]
async fn s15_01b_pep1x_subprotocol_is_negotiated() {
    let pecc = start(1, |_| {}).await;
    let url = pecc.gun_url(1).expect("gun 1");
    let (_, chosen) = connect(&url, "pep1.5, pep1.8").await;
    assert_eq!(chosen.as_deref(), Some("pep1.8"));
    let (_, chosen) = connect(&url, "pep1.5").await;
    assert_eq!(chosen.as_deref(), Some("pep1.5"));
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

/// Item 1 with section 1.1's recommendation for a second SECC on the same URL: the new
/// connection is accepted, the old one closed, and the outlet goes to standby before the new
/// session may run.
#[tokio::test(start_paused = true)]
async fn s15_01c_second_secc_on_the_same_url_replaces_the_first() {
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

// Item 2 ----------------------------------------------------------------------------------------

/// Item 2: "From the moment a connection is accepted, send `info/status` every 200 ms with all
/// 8 fields, whatever the state." Recorded through standby, cable check, pre-charge, charge, a
/// fault (inoperative), its clearing, a malformed frame, a reset and its transition.
#[tokio::test(start_paused = true)]
async fn s15_02_status_every_200_ms_with_all_8_fields_whatever_the_state() {
    let pecc = start(1, |_| {}).await;
    let sim = pecc.sim.clone().expect("simulated stage");
    let before = Instant::now();
    let mut secc = Recorder::connect(&pecc.gun_url(1).expect("gun 1")).await;
    secc.next_status().await;
    assert_eq!(
        secc.statuses[0].0 - before,
        Duration::ZERO,
        "the first status goes out as the connection is accepted"
    );

    secc.charge(120.0).await;
    sim.set_fault(1, Some("module 3 lost".into()))
        .expect("gun 1");
    secc.status_until(ms(500), |s| s["operationalStatus"] == "inoperative")
        .await;
    secc.status_until(Duration::from_secs(2), |s| s["contactorsStatus"] == "open")
        .await;
    sim.set_fault(1, None).expect("gun 1");
    secc.status_until(Duration::from_secs(2), is_standby).await;
    secc.send_text("{not json").await;
    assert_eq!(secc.next().await.expect("reply")["type"], "error");
    secc.charge(60.0).await;
    assert_eq!(secc.request("reset", json!({})).await["type"], "response");
    secc.status_until(ms(500), |s| s["operationalStatus"] == "inoperative")
        .await;
    secc.status_until(Duration::from_secs(2), is_standby).await;
    for _ in 0..5 {
        secc.next_status().await;
    }

    // Every state was seen...
    let seen = |field: &str, value: &str| secc.statuses.iter().any(|(_, s)| s[field] == value);
    for (field, value) in [
        ("contactorsStatus", "open"),
        ("contactorsStatus", "closed"),
        ("isolationStatus", "invalid"),
        ("isolationStatus", "valid"),
        ("operationalStatus", "operative"),
        ("operationalStatus", "inoperative"),
    ] {
        assert!(seen(field, value), "no status with {field} {value}");
    }
    // ...every status carried exactly the eight fields and passes the schema...
    for (_, status) in &secc.statuses {
        let mut fields: Vec<&str> = status
            .as_object()
            .expect("an object")
            .keys()
            .map(String::as_str)
            .collect();
        fields.sort_unstable();
        assert_eq!(fields, STATUS_FIELDS, "{status}");
        let text = json!({"type": "info", "kind": "status", "payload": status}).to_string();
        assert!(
            matches!(
                proto_pepws::decode(&text, NumberMode::Float),
                Ok(Pep::Info(Info::Status(_)))
            ),
            "{status}"
        );
    }
    // ...and the cadence never wavered.
    let gaps = secc.status_gaps();
    assert!(gaps.len() > 50, "{} statuses", secc.statuses.len());
    assert!(gaps.iter().all(|g| *g == ms(200)), "status gaps {gaps:?}");
    pecc.shutdown().await;
}

// Item 3 ----------------------------------------------------------------------------------------

/// Item 3: "Answer every SECC request within 500 ms with a response or error that copies its
/// `sequenceNumber`." Every request kind, in several states, with numbers at the ends of the
/// range, repeated and out of order (section 3.2: receivers never reject a gap or a repeat).
#[tokio::test(start_paused = true)]
async fn s15_03a_every_request_answered_within_500_ms_copying_its_number() {
    let pecc = start(1, |_| {}).await;
    let mut secc = Recorder::connect(&pecc.gun_url(1).expect("gun 1")).await;
    let target = |state: &str, volts: f64| {
        json!({"targetVoltage": volts, "targetCurrent": 2, "batteryStateOfCharge": 40,
               "chargingState": state})
    };
    let script: Vec<(u64, &str, Value, &str)> = vec![
        (458_238, "configuration", json!({}), "response"),
        (
            MAX_SEQUENCE_NUMBER.into(),
            "targetValues",
            target("preCharge", 400.0),
            "response",
        ),
        (
            1,
            "contactorsStatus",
            json!({"contactorsStatus": "closed"}),
            "response",
        ),
        (1, "cableCheck", json!({"voltage": 400}), "response"),
        (0, "configuration", json!({}), "response"),
        (17, "targetValues", target("preCharge", 1200.0), "error"),
        (
            16,
            "contactorsStatus",
            json!({"contactorsStatus": "closed"}),
            "response",
        ),
        (18, "reset", json!({}), "response"),
        (19, "configuration", json!({}), "error"),
        (20, "getInput", json!({"inputIdentifiers": ["d1"]}), "error"),
    ];
    for (n, kind, payload, expected) in script {
        let sent = Instant::now();
        secc.send_text(&request_text(json!(n), kind, payload)).await;
        let (at, reply) = secc.next_timed().await.expect("a reply");
        assert!(
            at - sent < ms(500),
            "{kind} {n} answered after {:?}",
            at - sent
        );
        assert_eq!(reply["type"], expected, "{kind} {n}: {reply}");
        assert_eq!(reply["sequenceNumber"], n, "{reply}");
        assert_eq!(reply["kind"], kind, "{reply}");
        if kind == "cableCheck" {
            // Let the test voltage come up, so the reset below has something to wind down.
            secc.status_until(Duration::from_secs(2), |s| {
                s["measuredVoltage"].as_f64().is_some_and(|v| v > 300.0)
            })
            .await;
        }
    }
    pecc.shutdown().await;
}

/// Item 3: "Replies to `cableCheck`, `contactorsStatus` and `reset` are acknowledgements; the
/// physical outcome shows up later in `status`."
#[tokio::test(start_paused = true)]
async fn s15_03b_cable_check_contactors_and_reset_replies_are_acknowledgements() {
    let pecc = start(1, |_| {}).await;
    let mut secc = Recorder::connect(&pecc.gun_url(1).expect("gun 1")).await;
    secc.next_status().await;

    let reply = secc
        .request("contactorsStatus", json!({"contactorsStatus": "closed"}))
        .await;
    assert_eq!(reply["payload"], json!({}));
    assert_eq!(published_status(&pecc, 1)["contactorsStatus"], "open");
    secc.status_until(ms(500), |s| s["contactorsStatus"] == "closed")
        .await;

    let reply = secc.request("cableCheck", json!({"voltage": 450})).await;
    assert_eq!(reply["payload"], json!({}));
    assert_eq!(published_status(&pecc, 1)["isolationStatus"], "invalid");
    let verdict = secc
        .status_until(Duration::from_secs(37), |s| {
            s["isolationStatus"] != "invalid"
        })
        .await;
    assert_eq!(verdict["isolationStatus"], "valid");

    assert_eq!(
        secc.target(380.0, 2.0, "preCharge").await["type"],
        "response"
    );
    secc.status_until(Duration::from_secs(4), |s| {
        s["measuredVoltage"].as_f64().is_some_and(|v| v > 370.0)
    })
    .await;
    let reply = secc.request("reset", json!({})).await;
    assert_eq!(reply["payload"], json!({}));
    assert_eq!(
        published_status(&pecc, 1)["contactorsStatus"],
        "closed",
        "the contactors open after the reply"
    );
    secc.status_until(Duration::from_secs(2), is_standby).await;
    pecc.shutdown().await;
}

/// Item 3 when the control task cannot take a request in time (here: it is settling a gun for
/// its shutdown, for most of a second): the SECC still gets an answer within 500 ms,
/// `error/internal` (section 8.2), and the request is not carried out late.
#[tokio::test(start_paused = true)]
async fn s15_03c_a_request_the_controller_cannot_take_in_time_gets_error_internal_within_500_ms() {
    let pecc = start(2, |_| {}).await;
    let mut busy = Recorder::connect(&pecc.gun_url(1).expect("gun 1")).await;
    busy.charge(200.0).await;
    let mut other = Recorder::connect(&pecc.gun_url(2).expect("gun 2")).await;
    other.next_status().await;

    let (done, stopped) = tokio::sync::oneshot::channel();
    pecc.shared
        .cabinet
        .commands
        .send(CabinetCommand::Shutdown(done))
        .await
        .expect("the control task runs");
    let (reply, took) = other
        .request_timed("contactorsStatus", json!({"contactorsStatus": "closed"}))
        .await;
    assert!(took < ms(500), "answered after {took:?}");
    assert_eq!(
        error_of(&reply),
        (Some("internal"), Some("contactorsStatus"), Some(1))
    );
    stopped.await.expect("the shutdown ends");
    assert_eq!(
        published_status(&pecc, 2)["contactorsStatus"],
        "open",
        "the refused request was not carried out"
    );
    pecc.shutdown().await;
}

// Item 4 ----------------------------------------------------------------------------------------

/// Item 4: "Reply `error/format` on failure, `sequenceNumber: 0` when it cannot be read": text
/// that is not JSON, or not a JSON object, gets `error/format` numbered 0 with kind `error`.
#[tokio::test(start_paused = true)]
async fn s15_04a_malformed_json_gets_error_format_numbered_0() {
    let pecc = start(1, |_| {}).await;
    let mut secc = Recorder::connect(&pecc.gun_url(1).expect("gun 1")).await;
    for text in [
        "{this is not json",
        "",
        "[1,2]",
        "\"request\"",
        r#"{"type":"request","kind":"reset","sequenceNumber":5,"payload":{}"#,
    ] {
        let reply = reply_to_text(&mut secc, text).await;
        assert_eq!(
            error_of(&reply),
            (Some("format"), Some("error"), Some(0)),
            "{text:?}"
        );
        assert_eq!(reply["type"], "error");
    }
    assert!(!secc.closed, "the connection stays up");
    pecc.shutdown().await;
}

/// Item 4: "Validate every request against the schemas in section 19": a request failing its
/// schema (missing field, wrong type, value outside its enumeration, payload not an object,
/// envelope broken) gets `error/format` with its number and kind and the failing place.
#[tokio::test(start_paused = true)]
async fn s15_04b_schema_failures_get_error_format_with_number_and_kind() {
    let pecc = start(1, |_| {}).await;
    let mut secc = Recorder::connect(&pecc.gun_url(1).expect("gun 1")).await;
    let cases = [
        (
            request_text(json!(41), "targetValues", json!({"targetVoltage": "400"})),
            "targetValues",
            41,
            "/payload/targetVoltage",
        ),
        (
            request_text(
                json!(42),
                "targetValues",
                json!({"targetVoltage": 400, "targetCurrent": 1, "batteryStateOfCharge": 5}),
            ),
            "targetValues",
            42,
            "/payload/chargingState",
        ),
        (
            request_text(
                json!(43),
                "targetValues",
                json!({"targetVoltage": 400, "targetCurrent": 1, "batteryStateOfCharge": 5,
                       "chargingState": "Charge"}),
            ),
            "targetValues",
            43,
            "/payload/chargingState",
        ),
        (
            request_text(
                json!(44),
                "contactorsStatus",
                json!({"contactorStatus": "closed"}),
            ),
            "contactorsStatus",
            44,
            "/payload/contactorsStatus",
        ),
        (
            request_text(json!(45), "cableCheck", json!([])),
            "cableCheck",
            45,
            "/payload",
        ),
        (
            r#"{"type":"Request","kind":"reset","sequenceNumber":46,"payload":{}}"#.into(),
            "reset",
            46,
            "/type",
        ),
        (
            r#"{"type":"request","kind":"reset","sequenceNumber":47}"#.into(),
            "reset",
            47,
            "/payload",
        ),
    ];
    for (text, kind, n, pointer) in cases {
        let reply = reply_to_text(&mut secc, &text).await;
        assert_eq!(
            error_of(&reply),
            (Some("format"), Some(kind), Some(n)),
            "{text}"
        );
        let details = reply["payload"]["errorDetails"]
            .as_str()
            .unwrap_or_default();
        assert!(details.starts_with(pointer), "{text}: {details}");
    }
    assert_eq!(
        published_status(&pecc, 1)["contactorsStatus"],
        "open",
        "nothing done"
    );
    pecc.shutdown().await;
}

/// Item 4 with section 8.2's row for an unknown `kind`: `error/format` with kind `error` (the
/// request's kind is copied only when it is a valid `kindType`).
#[tokio::test(start_paused = true)]
async fn s15_04c_unknown_kinds_get_error_format() {
    let pecc = start(1, |_| {}).await;
    let mut secc = Recorder::connect(&pecc.gun_url(1).expect("gun 1")).await;
    let cases = [
        (request_text(json!(42), "selfTest", json!({})), "error", 42),
        (request_text(json!(43), "Reset", json!({})), "error", 43),
        (
            r#"{"type":"request","sequenceNumber":44,"payload":{}}"#.to_string(),
            "error",
            44,
        ),
        // A valid kindType that names no request: its kind is copied.
        (request_text(json!(45), "status", json!({})), "status", 45),
    ];
    for (text, kind, n) in cases {
        let reply = reply_to_text(&mut secc, &text).await;
        assert_eq!(
            error_of(&reply),
            (Some("format"), Some(kind), Some(n)),
            "{text}"
        );
    }
    pecc.shutdown().await;
}

/// Item 4 (schema ranges) next to item 5 (the PE's limits): a value outside the schema's range
/// is a schema failure, `error/format`; a value within the schema but beyond what the PE can
/// supply is `error/value`.
#[tokio::test(start_paused = true)]
async fn s15_04d_out_of_range_values_get_the_right_error() {
    let pecc = start(1, |_| {}).await;
    let mut secc = Recorder::connect(&pecc.gun_url(1).expect("gun 1")).await;
    let target = |v: Value, i: Value, soc: Value| {
        json!({"targetVoltage": v, "targetCurrent": i, "batteryStateOfCharge": soc,
               "chargingState": "preCharge"})
    };
    let cases = [
        (
            request_text(
                json!(1),
                "targetValues",
                target(json!(-1), json!(1), json!(5)),
            ),
            "format",
            "targetValues",
            1,
        ),
        (
            request_text(
                json!(2),
                "targetValues",
                target(json!(400), json!(2_147_483_648_u64), json!(5)),
            ),
            "format",
            "targetValues",
            2,
        ),
        (
            request_text(
                json!(3),
                "targetValues",
                target(json!(400), json!(1), json!(100.5)),
            ),
            "format",
            "targetValues",
            3,
        ),
        (
            request_text(json!(4), "cableCheck", json!({"voltage": -5})),
            "format",
            "cableCheck",
            4,
        ),
        (
            request_text(
                json!(5),
                "targetValues",
                target(json!(1200), json!(1), json!(5)),
            ),
            "value",
            "targetValues",
            5,
        ),
        (
            request_text(json!(6), "cableCheck", json!({"voltage": 1500})),
            "value",
            "cableCheck",
            6,
        ),
    ];
    for (text, category, kind, n) in cases {
        let reply = reply_to_text(&mut secc, &text).await;
        assert_eq!(
            error_of(&reply),
            (Some(category), Some(kind), Some(n)),
            "{text}"
        );
    }
    pecc.shutdown().await;
}

/// Item 4: a request whose `sequenceNumber` cannot be read (missing, not an integer, outside
/// 0 … 2³¹ − 1) is answered with number 0, its kind copied.
#[tokio::test(start_paused = true)]
async fn s15_04e_unreadable_sequence_numbers_are_answered_with_0() {
    let pecc = start(1, |_| {}).await;
    let mut secc = Recorder::connect(&pecc.gun_url(1).expect("gun 1")).await;
    for n in [
        json!("x"),
        json!(-1),
        json!(5.5),
        json!(2_147_483_648_u64),
        json!(null),
    ] {
        let text = request_text(n.clone(), "reset", json!({}));
        let reply = reply_to_text(&mut secc, &text).await;
        assert_eq!(
            error_of(&reply),
            (Some("format"), Some("reset"), Some(0)),
            "{n}"
        );
    }
    let reply = reply_to_text(
        &mut secc,
        r#"{"type":"request","kind":"reset","payload":{}}"#,
    )
    .await;
    assert_eq!(error_of(&reply), (Some("format"), Some("reset"), Some(0)));
    pecc.shutdown().await;
}

/// Item 4 with section 8.2: invalid infos, responses and errors are never answered (errors only
/// answer requests), and binary frames are not PEP-WS messages.
#[tokio::test(start_paused = true)]
async fn s15_04f_invalid_infos_responses_and_errors_are_not_answered() {
    let pecc = start(1, |_| {}).await;
    let mut secc = Recorder::connect(&pecc.gun_url(1).expect("gun 1")).await;
    for text in [
        r#"{"type":"info","kind":"chargingSession","payload":{"evMaxVoltageVolts":-1}}"#,
        r#"{"type":"info","kind":"evConnectionState","payload":{}}"#,
        r#"{"type":"info","kind":"reset","payload":{}}"#,
        r#"{"type":"response","kind":"stopCharging","sequenceNumber":9,"payload":{}}"#,
        r#"{"type":"response","kind":"getInput","sequenceNumber":"x","payload":{}}"#,
        r#"{"type":"error","kind":"reset","sequenceNumber":1,"payload":{"errorCategory":"valueError","errorDetails":""}}"#,
        r#"{"type":"error","kind":"stopCharging","sequenceNumber":3,"payload":{"errorCategory":"value","errorDetails":""}}"#,
    ] {
        secc.send_text(text).await;
    }
    secc.send_message(Message::binary(vec![1u8, 2, 3])).await;
    let (reply, _) = secc.request_timed("configuration", json!({})).await;
    assert_eq!(
        reply["type"], "response",
        "nothing answered the frames before: {reply}"
    );
    pecc.shutdown().await;
}

/// Item 4 with section 8.2's row for a request the PECC does not handle (`getInput`,
/// `setOutput`, `stopCharging` are the PECC's own): `error/generic`, number and kind copied.
#[tokio::test(start_paused = true)]
async fn s15_04g_requests_the_pecc_does_not_serve_get_error_generic() {
    let pecc = start(1, |_| {}).await;
    let mut secc = Recorder::connect(&pecc.gun_url(1).expect("gun 1")).await;
    for (n, kind, payload) in [
        (43, "getInput", json!({"inputIdentifiers": ["d1"]})),
        (44, "setOutput", json!({"outputValues": {"d1": 1}})),
        (45, "stopCharging", json!({})),
    ] {
        let reply = reply_to_text(&mut secc, &request_text(json!(n), kind, payload)).await;
        assert_eq!(error_of(&reply), (Some("generic"), Some(kind), Some(n)));
    }
    pecc.shutdown().await;
}

// Item 5 ----------------------------------------------------------------------------------------

/// Item 5: "Enforce `limitVoltageMax` (→ `error/value`)." The connection stays open and nothing
/// else changes: the output keeps charging as before (section 6.3, rule 1).
#[tokio::test(start_paused = true)]
async fn s15_05a_voltage_above_limit_voltage_max_gets_error_value_and_changes_nothing() {
    let pecc = start(1, |_| {}).await;
    let mut secc = Recorder::connect(&pecc.gun_url(1).expect("gun 1")).await;
    secc.charge(100.0).await;
    let before = secc.next_status().await;

    let reply = secc.target(1000.5, 100.0, "charge").await;
    assert_eq!(error_of(&reply).0, Some("value"), "{reply}");
    assert!(
        reply["payload"]["errorDetails"]
            .as_str()
            .is_some_and(|d| d.contains("1000.5"))
    );
    let reply = secc.request("cableCheck", json!({"voltage": 1500})).await;
    assert_eq!(error_of(&reply).0, Some("value"), "{reply}");
    // A second of statuses: still charging exactly as before.
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(1) {
        let status = secc.next_status().await;
        for field in [
            "contactorsStatus",
            "drivenVoltage",
            "drivenCurrent",
            "operationalStatus",
        ] {
            assert_eq!(status[field], before[field], "{field}: {status}");
        }
        assert!(
            status["measuredCurrent"]
                .as_f64()
                .is_some_and(|i| (i - 100.0).abs() < 1.0)
        );
    }
    assert_eq!(
        secc.target(400.0, 120.0, "charge").await["type"],
        "response"
    );
    assert!(!secc.closed);
    pecc.shutdown().await;
}

/// Item 5: "Derate current to the power and current limits without returning an error"
/// (section 6.3, rule 2): more current than `limitCurrentMax`, or than `limitPowerMax` allows at
/// the target voltage, is a normal response and the highest current the limits allow.
#[tokio::test(start_paused = true)]
async fn s15_05b_current_beyond_the_limits_is_derated_without_error() {
    let pecc = start(1, |_| {}).await;
    let mut secc = Recorder::connect(&pecc.gun_url(1).expect("gun 1")).await;
    secc.charge(100.0).await;

    assert_eq!(
        secc.target(400.0, 400.0, "charge").await["type"],
        "response"
    );
    let status = secc
        .status_until(Duration::from_secs(2), |s| s["drivenCurrent"] != 100.0)
        .await;
    assert_eq!(status["drivenCurrent"], 250.0, "limitCurrentMax");
    secc.status_until(Duration::from_secs(3), |s| {
        s["measuredCurrent"]
            .as_f64()
            .is_some_and(|i| (i - 250.0).abs() < 1.0)
    })
    .await;

    let (code, _) = http(
        pecc.addr,
        "PUT",
        "/api/v1/guns/1/parameters",
        Some(&json!({"limitPowerMax": 30000})),
        None,
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(
        secc.target(400.0, 200.0, "charge").await["type"],
        "response"
    );
    let status = secc
        .status_until(Duration::from_secs(3), |s| {
            s["measuredCurrent"]
                .as_f64()
                .is_some_and(|i| (i - 75.0).abs() < 1.0)
        })
        .await;
    assert_eq!(status["drivenCurrent"], 75.0, "30 kW at 400 V");
    assert_eq!(status["operationalStatus"], "operative");
    pecc.shutdown().await;
}

// Item 6 ----------------------------------------------------------------------------------------

/// Item 6, the first standby trigger (section 12.2): the SECC is unresponsive. Five seconds of
/// silence mid-charge (no requests, no Pongs) mean standby, and the connection is closed.
#[tokio::test(start_paused = true)]
async fn s15_06a_standby_after_5_s_of_silence() {
    let pecc = start(1, |_| {}).await;
    let mut secc = Secc::connect(&pecc.gun_url(1).expect("gun 1")).await;
    secc.charge(100.0).await;
    // Stop reading and writing: no requests, no Pongs.
    let silent_since = Instant::now();
    tokio::time::sleep(ms(4800)).await;
    assert_eq!(published_status(&pecc, 1)["contactorsStatus"], "closed");
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

/// Item 6 with section 12.2's recommendation: a lost connection counts as an unresponsive SECC.
/// The output is off at once, the contactors open once the current is down, and standby is
/// reached within a second.
#[tokio::test(start_paused = true)]
async fn s15_06b_standby_on_disconnect() {
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

/// Charges, sends the standby `trigger` (a request), and checks the way to standby: the
/// request is acknowledged, the transition reports `inoperative` and refuses requests with
/// `error/inoperative`, and standby is operative with the connection still up.
async fn standby_by_request(trigger: &str) {
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

/// Item 6, the second standby trigger (section 12.2): a `reset` request; the connection stays
/// open (section 6.5).
#[tokio::test(start_paused = true)]
async fn s15_06c_standby_on_reset() {
    standby_by_request("reset").await;
}

/// Item 6, the third standby trigger (section 12.2): `contactorsStatus: open` while the
/// contactors are closed.
#[tokio::test(start_paused = true)]
async fn s15_06d_standby_on_open_while_closed() {
    standby_by_request("open").await;
}

/// Item 6: "the `inoperative` reporting" (sections 7.1 and 12.2): a PE fault makes the charge
/// point report `inoperative` and answer every request with `error/inoperative` while it lasts;
/// once cleared it reports `operative` again and serves a new session.
#[tokio::test(start_paused = true)]
async fn s15_06e_inoperative_while_faulted_and_operative_once_cleared() {
    let pecc = start(1, |_| {}).await;
    let sim = pecc.sim.clone().expect("simulated stage");
    let mut secc = Recorder::connect(&pecc.gun_url(1).expect("gun 1")).await;
    secc.charge(100.0).await;

    sim.set_fault(1, Some("module 1 lost".into()))
        .expect("gun 1");
    let faulted = secc
        .status_until(ms(400), |s| s["operationalStatus"] == "inoperative")
        .await;
    assert_eq!(faulted["drivenCurrent"], 0.0, "output off with the fault");
    secc.status_until(Duration::from_secs(2), |s| {
        s["contactorsStatus"] == "open" && s["measuredVoltage"].as_f64().is_some_and(|v| v < 60.0)
    })
    .await;
    for (kind, payload) in [
        ("configuration", json!({})),
        ("contactorsStatus", json!({"contactorsStatus": "closed"})),
        ("reset", json!({})),
    ] {
        let reply = secc.request(kind, payload).await;
        assert_eq!(error_of(&reply).0, Some("inoperative"), "{kind}: {reply}");
        assert!(
            reply["payload"]["errorDetails"]
                .as_str()
                .is_some_and(|d| d.contains("module 1 lost"))
        );
    }
    // Still inoperative as long as the fault lasts, whatever time passes.
    for _ in 0..10 {
        assert_eq!(secc.next_status().await["operationalStatus"], "inoperative");
    }

    sim.set_fault(1, None).expect("gun 1");
    secc.status_until(ms(400), is_standby).await;
    secc.charge(50.0).await;
    pecc.shutdown().await;
}

// Item 7 ----------------------------------------------------------------------------------------

/// Item 7: "Keep at most one request of its own outstanding": while a `stopCharging` awaits its
/// answer, the admin API's next request is refused (409) and never reaches the SECC.
#[tokio::test(start_paused = true)]
async fn s15_07a_one_own_request_outstanding() {
    let pecc = start(1, |_| {}).await;
    let addr = pecc.addr;
    let mut secc = Recorder::connect(&pecc.gun_url(1).expect("gun 1")).await;
    secc.next_status().await;

    let first = tokio::spawn(async move {
        http(addr, "POST", "/api/v1/guns/1/stop-charging", None, None).await
    });
    let request = secc.next().await.expect("stopCharging arrives");
    assert_eq!(
        (&request["type"], &request["kind"]),
        (&json!("request"), &json!("stopCharging"))
    );
    let n = request["sequenceNumber"].as_u64().expect("a number");
    let (code, body) = http(
        addr,
        "POST",
        "/api/v1/guns/1/inputs",
        Some(&json!({"inputIdentifiers": ["d1"]})),
        None,
    )
    .await;
    assert_eq!(code, 409, "{body}");
    // Let the reader take in whatever was sent meanwhile.
    tokio::time::sleep(ms(50)).await;
    assert!(
        secc.drain().is_empty(),
        "no second request while one is pending"
    );

    secc.send(
        &json!({"type": "response", "kind": "stopCharging", "sequenceNumber": n,
                      "payload": {}}),
    )
    .await;
    let (code, _) = first.await.expect("answered");
    assert_eq!(code, 200);
    // The slot is free again; the refused request used no number.
    let next = tokio::spawn(async move {
        http(
            addr,
            "POST",
            "/api/v1/guns/1/inputs",
            Some(&json!({"inputIdentifiers": ["d1"]})),
            None,
        )
        .await
    });
    let request = secc.next().await.expect("getInput arrives");
    assert_eq!(request["sequenceNumber"], n + 1);
    secc.send(
        &json!({"type": "response", "kind": "getInput", "sequenceNumber": n + 1,
                      "payload": {"inputValues": {"d1": 1}}}),
    )
    .await;
    assert_eq!(next.await.expect("answered").0, 200);
    pecc.shutdown().await;
}

/// Item 7: "… and a 500 ms timeout" (section 3.1): an unanswered request of the PECC times out
/// after 500 ms and frees the slot; a late answer is dropped, never matched to the next request.
#[tokio::test(start_paused = true)]
async fn s15_07b_own_request_times_out_after_500_ms() {
    let pecc = start(1, |_| {}).await;
    let addr = pecc.addr;
    let mut secc = Recorder::connect(&pecc.gun_url(1).expect("gun 1")).await;
    secc.next_status().await;

    let asking = tokio::spawn(async move {
        let sent = Instant::now();
        let answer = http(addr, "POST", "/api/v1/guns/1/stop-charging", None, None).await;
        (answer, sent.elapsed())
    });
    let (arrived, request) = secc.next_timed().await.expect("stopCharging arrives");
    let n = request["sequenceNumber"].as_u64().expect("a number");
    let ((code, _), took) = asking.await.expect("answered");
    assert_eq!(code, 504);
    assert_eq!(
        Instant::now() - arrived,
        ms(500),
        "timed out exactly after 500 ms"
    );
    assert_eq!(took, ms(500));

    let asking = tokio::spawn(async move {
        http(addr, "POST", "/api/v1/guns/1/stop-charging", None, None).await
    });
    let request = secc.next().await.expect("the next request goes out");
    assert_eq!(request["sequenceNumber"], n + 1);
    // The late answer to the first request does not settle the second.
    secc.send(
        &json!({"type": "response", "kind": "stopCharging", "sequenceNumber": n,
                      "payload": {}}),
    )
    .await;
    tokio::time::sleep(ms(100)).await;
    assert!(
        !asking.is_finished(),
        "a late answer was taken for the pending request"
    );
    secc.send(
        &json!({"type": "response", "kind": "stopCharging", "sequenceNumber": n + 1,
                      "payload": {}}),
    )
    .await;
    assert_eq!(asking.await.expect("answered").0, 200);
    pecc.shutdown().await;
}

/// Item 7: "… with its own counter" (section 3.2): the PECC numbers its requests 1, 2, 3 … per
/// connection, independently of the SECC's numbers, and wraps from 2³¹ − 1 to 1 (the machine
/// the connection task drives, set near the end of the range).
#[tokio::test(start_paused = true)]
async fn s15_07c_own_sequence_numbers_count_up_by_one_and_wrap_to_1() {
    let pecc = start(1, |_| {}).await;
    let addr = pecc.addr;
    for _connection in 0..2 {
        let mut secc = Recorder::connect(&pecc.gun_url(1).expect("gun 1")).await;
        // The SECC's own numbering is far away and does not matter.
        secc.send_text(&request_text(json!(900_000), "configuration", json!({})))
            .await;
        assert_eq!(secc.next().await.expect("reply")["sequenceNumber"], 900_000);
        let mut numbers = Vec::new();
        for _ in 0..3 {
            let asking = tokio::spawn(async move {
                http(addr, "POST", "/api/v1/guns/1/stop-charging", None, None).await
            });
            let request = secc.next().await.expect("stopCharging arrives");
            let n = request["sequenceNumber"].clone();
            numbers.push(n.as_u64().expect("a number"));
            secc.send(
                &json!({"type": "response", "kind": "stopCharging", "sequenceNumber": n,
                              "payload": {}}),
            )
            .await;
            assert_eq!(asking.await.expect("answered").0, 200);
        }
        assert_eq!(numbers, [1, 2, 3], "each connection counts from 1");
    }

    let t0 = std::time::Instant::now();
    let mut machine = PeccConnection::new(PeccConfig::default(), t0);
    machine.set_next_sequence_number(MAX_SEQUENCE_NUMBER);
    assert_eq!(
        machine.send_request(Request::StopCharging, t0),
        Ok(MAX_SEQUENCE_NUMBER)
    );
    machine.handle_text(
        &json!({"type": "response", "kind": "stopCharging",
                "sequenceNumber": MAX_SEQUENCE_NUMBER, "payload": {}})
        .to_string(),
        t0,
    );
    assert_eq!(
        machine.send_request(Request::StopCharging, t0),
        Ok(1),
        "never 0"
    );
    pecc.shutdown().await;
}

// Item 8 ----------------------------------------------------------------------------------------

/// Item 8: "Treat `evConnectionState` and `chargingSession` as information only. Never base a
/// safety decision on them" (sections 7.3 and 7.4): contactors close without any EV state
/// reported, and an EV reported disconnected or in error, or limits far below the running
/// targets, change nothing; the values are kept for diagnostics.
#[tokio::test(start_paused = true)]
async fn s15_08_ev_connection_state_and_charging_session_are_information_only() {
    let pecc = start(1, |_| {}).await;
    let mut secc = Recorder::connect(&pecc.gun_url(1).expect("gun 1")).await;
    // No evConnectionState at all, yet the session runs (CP/PP supervision is what gates).
    secc.charge(100.0).await;
    let before = secc.next_status().await;

    secc.info(
        "evConnectionState",
        json!({"evConnectionState": "disconnected"}),
    )
    .await;
    secc.info("evConnectionState", json!({"evConnectionState": "error"}))
        .await;
    secc.info(
        "chargingSession",
        json!({"evMaxCurrentAmperes": 10, "evMaxVoltageVolts": 100, "evMaxPowerWatts": 1000,
               "chargingProfileMaxPowerLimitWatts": 0}),
    )
    .await;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(2) {
        let status = secc.next_status().await;
        for field in [
            "contactorsStatus",
            "drivenVoltage",
            "drivenCurrent",
            "operationalStatus",
        ] {
            assert_eq!(status[field], before[field], "{field}: {status}");
        }
    }
    assert_eq!(
        secc.target(400.0, 110.0, "charge").await["type"],
        "response"
    );
    let view = view_until(&pecc, 1, ms(500), |v| {
        v.charging_session.ev_max_current_amperes.is_some()
    })
    .await;
    assert_eq!(view.phase, "charge");
    assert_eq!(
        view.ev_connection.map(|e| e.ev_connection_state),
        Some(proto_pepws::EvConnectionState::Error)
    );
    assert_eq!(view.charging_session.ev_max_current_amperes, Some(10.0));
    assert_eq!(view.demand.map(|d| d.current.value()), Some(110.0));
    pecc.shutdown().await;
}

// Item 9 ----------------------------------------------------------------------------------------

/// Item 9: "Send `event` for vendor-specific notifications": the cable check's verdict, a PE
/// fault and its clearing reach the SECC as `info/event` messages (valid, unnumbered).
#[tokio::test(start_paused = true)]
async fn s15_09_vendor_notifications_are_sent_as_info_event() {
    let pecc = start(1, |_| {}).await;
    let sim = pecc.sim.clone().expect("simulated stage");
    let mut secc = Recorder::connect(&pecc.gun_url(1).expect("gun 1")).await;
    secc.charge(80.0).await;
    sim.set_fault(1, Some("fan 2 stalled".into()))
        .expect("gun 1");
    secc.status_until(ms(400), |s| s["operationalStatus"] == "inoperative")
        .await;
    sim.set_fault(1, None).expect("gun 1");
    secc.status_until(Duration::from_secs(3), is_standby).await;

    let details: Vec<String> = secc
        .events
        .iter()
        .map(|(_, e)| {
            e["payload"]["eventDetails"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    for expected in [
        "cable check valid",
        "fault: fan 2 stalled",
        "fault cleared: fan 2 stalled",
    ] {
        assert!(
            details.iter().any(|d| d.starts_with(expected)),
            "no event {expected:?} in {details:?}"
        );
    }
    for (_, event) in &secc.events {
        assert!(event.get("sequenceNumber").is_none(), "{event}");
        assert!(
            matches!(
                proto_pepws::decode(&event.to_string(), NumberMode::Float),
                Ok(Pep::Info(Info::Event(_)))
            ),
            "{event}"
        );
    }
    pecc.shutdown().await;
}

// Item 10 ---------------------------------------------------------------------------------------

/// Item 10: "Use Ping/Pong … to detect SECC loss": the PECC pings every second, and an SECC
/// that sends nothing but the Pongs its WebSocket returns stays connected (and charging).
#[tokio::test(start_paused = true)]
async fn s15_10a_pings_every_second_and_pongs_keep_the_link() {
    let pecc = start(1, |_| {}).await;
    let mut secc = Secc::connect(&pecc.gun_url(1).expect("gun 1")).await;
    secc.charge(100.0).await;
    // From here on: read (which answers Pings), never send a text.
    let since = Instant::now();
    let mut pings = Vec::new();
    while since.elapsed() < Duration::from_secs(12) {
        match secc.ws.next().await {
            Some(Ok(Message::Ping(_))) => pings.push(Instant::now()),
            Some(Ok(_)) => {}
            other => panic!("the link ended: {other:?}"),
        }
    }
    assert!(pings.len() >= 11, "{} Pings in 12 s", pings.len());
    let gaps: Vec<Duration> = pings.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.iter().all(|g| *g == ms(1000)), "Ping gaps {gaps:?}");
    let status = published_status(&pecc, 1);
    assert_eq!(status["contactorsStatus"], "closed", "{status}");
    assert!(status["measuredCurrent"].as_f64().is_some_and(|i| i > 99.0));
    pecc.shutdown().await;
}

/// Item 10: "… or any received traffic": an SECC that never reads (so never returns a Pong) but
/// sends a request every 2 s stays connected.
#[tokio::test(start_paused = true)]
async fn s15_10b_any_received_traffic_keeps_the_link() {
    let pecc = start(1, |_| {}).await;
    let (mut ws, _) = connect(&pecc.gun_url(1).expect("gun 1"), "pep1.8").await;
    for n in 1..=6 {
        tokio::time::sleep(Duration::from_secs(2)).await;
        ws.send(Message::text(request_text(
            json!(n),
            "configuration",
            json!({}),
        )))
        .await
        .expect("the link is up");
    }
    let view = pecc
        .shared
        .cabinet
        .view(1)
        .expect("gun 1")
        .borrow()
        .view
        .clone();
    assert!(view.connected, "12 s without a Pong, still connected");
    pecc.shutdown().await;
}

/// Item 10: "… to detect SECC loss within 5 s": an SECC that goes silent (no frames, no Pongs)
/// is declared lost 5 s after its last frame, not before, and its gun goes to standby.
#[tokio::test(start_paused = true)]
async fn s15_10c_silence_is_detected_at_5_s() {
    let pecc = start(1, |_| {}).await;
    let (mut ws, _) = connect(&pecc.gun_url(1).expect("gun 1"), "pep1.8").await;
    ws.send(Message::text(request_text(
        json!(1),
        "contactorsStatus",
        json!({"contactorsStatus": "closed"}),
    )))
    .await
    .expect("sent");
    let last_frame = Instant::now();
    published_until(&pecc, 1, ms(500), |s| s["contactorsStatus"] == "closed").await;
    tokio::time::sleep_until(last_frame + ms(4999)).await;
    assert!(
        pecc.shared
            .cabinet
            .view(1)
            .expect("gun 1")
            .borrow()
            .view
            .connected
    );
    view_until(&pecc, 1, ms(100), |v| !v.connected).await;
    assert_eq!(
        Instant::now() - last_frame,
        ms(5000),
        "lost exactly after 5 s of silence"
    );
    published_until(&pecc, 1, Duration::from_secs(1), is_standby).await;
    drop(ws);
    pecc.shutdown().await;
}
