//! Property tests: no input makes the frame decoder, the validator or the session panic, and
//! every frame a session emits in answer is itself a well-formed OCPP-J frame.

use proptest::prelude::*;
use proto_ocpp::session::{Config, Role, Session};
use proto_ocpp::{OcppVersion, frame, v16, v21, v201};
use std::time::Instant;

/// JSON-ish text: arbitrary strings are mostly rejected by the JSON parser, so also build
/// arrays that look like frames, with arbitrary elements.
fn frame_like() -> impl Strategy<Value = String> {
    let element = prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| if f.is_finite() {
            f.to_string()
        } else {
            "0".into()
        }),
        "[a-zA-Z0-9 .:-]{0,40}".prop_map(|s| format!("{s:?}")),
        Just("null".to_string()),
        Just("{}".to_string()),
        Just(r#"{"idTag":"A"}"#.to_string()),
        Just(r#"{"currentTime":"2026-01-01T00:00:00Z"}"#.to_string()),
        Just("[]".to_string()),
        Just("true".to_string()),
    ];
    let type_number = prop_oneof![
        (0u8..9).prop_map(|n| n.to_string()),
        Just("-1".into()),
        Just("2.0".into())
    ];
    let action = prop_oneof![
        Just(r#""Heartbeat""#.to_string()),
        Just(r#""Authorize""#.to_string()),
        Just(r#""NotifyPeriodicEventStream""#.to_string()),
        "[A-Za-z]{0,30}".prop_map(|s| format!("{s:?}")),
    ];
    (type_number, prop::collection::vec(element, 0..6), action).prop_map(|(t, rest, a)| {
        let mut parts = vec![t];
        if !rest.is_empty() {
            parts.push(rest[0].clone());
            parts.push(a);
            parts.extend(rest[1..].iter().cloned());
        }
        format!("[{}]", parts.join(","))
    })
}

fn check_session<D: proto_ocpp::Dialect>(role: Role, text: &str) {
    let mut session = Session::<D>::new(Config::new(role));
    session.handle_text(text, Instant::now());
    while let Some(out) = session.poll_transmit() {
        frame::decode(&out, D::VERSION).expect("a session only sends well-formed frames");
    }
    while session.poll_event().is_some() {}
}

proptest! {
    // A fixed seed keeps CI deterministic; vary it locally (or use the fuzz corpus) to explore.
    #![proptest_config(ProptestConfig {
        cases: 2000,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x006a_6f75_6c65),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let text = String::from_utf8_lossy(&bytes);
        for version in OcppVersion::PREFERENCE {
            let _ = frame::decode(&text, version);
        }
        check_session::<v16::V16>(Role::CentralSystem, &text);
    }

    #[test]
    fn frame_like_input_never_panics(text in frame_like()) {
        for version in OcppVersion::PREFERENCE {
            if let Ok(decoded) = frame::decode(&text, version) {
                // What decodes re-encodes to a frame that decodes to the same thing.
                let again = frame::decode(&decoded.encode(), version).expect("re-encoded frame decodes");
                prop_assert_eq!(again, decoded);
            }
        }
        check_session::<v16::V16>(Role::CentralSystem, &text);
        check_session::<v201::V201>(Role::ChargingStation, &text);
        check_session::<v21::V21>(Role::CentralSystem, &text);
    }
}
