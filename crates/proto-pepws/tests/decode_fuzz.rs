//! Property tests: no input makes the decoder or a connection machine panic, every reply they
//! send is itself a valid message, and what decodes re-encodes to the same message.

use proptest::prelude::*;
use proto_pepws::connection::{PeccConfig, PeccConnection, SeccConfig, SeccConnection};
use proto_pepws::{Message, MessageType, NumberMode, Transmit, decode, encode};
use std::time::{Duration, Instant};

/// Message-like JSON: envelopes with plausible and implausible types, kinds, numbers and payload
/// fields, so most cases get past the JSON parser and exercise the schema checks.
fn message_like() -> impl Strategy<Value = String> {
    let word = prop_oneof![
        Just("request"),
        Just("response"),
        Just("info"),
        Just("error"),
        Just("configuration"),
        Just("cableCheck"),
        Just("targetValues"),
        Just("contactorsStatus"),
        Just("reset"),
        Just("getInput"),
        Just("setOutput"),
        Just("stopCharging"),
        Just("status"),
        Just("event"),
        Just("evConnectionState"),
        Just("chargingSession"),
        Just("charge"),
        Just("closed"),
        Just("valid"),
        Just("noImd"),
        Just("Request"),
        Just(""),
    ];
    let scalar = prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        (-1e10f64..1e10).prop_map(|f| f.to_string()),
        (0u32..3000).prop_map(|n| n.to_string()),
        word.clone().prop_map(|w| format!("{w:?}")),
        Just("null".to_string()),
        Just("true".to_string()),
        Just("[]".to_string()),
        Just(r#"["d1","t3"]"#.to_string()),
        Just(r#"{"d1":1}"#.to_string()),
    ];
    let field = prop_oneof![
        Just("voltage"),
        Just("targetVoltage"),
        Just("targetCurrent"),
        Just("batteryStateOfCharge"),
        Just("chargingState"),
        Just("contactorsStatus"),
        Just("inputIdentifiers"),
        Just("outputValues"),
        Just("inputValues"),
        Just("errorCategory"),
        Just("errorDetails"),
        Just("eventDetails"),
        Just("measuredVoltage"),
        Just("isolationStatus"),
        Just("evConnectionState"),
        Just("limitPowerMax"),
        Just("firmwareVersion"),
        Just("chargeMode"),
    ];
    let payload = prop::collection::vec((field, scalar.clone()), 0..6).prop_map(|fields| {
        let body: Vec<String> = fields
            .into_iter()
            .map(|(k, v)| format!("{k:?}:{v}"))
            .collect();
        format!("{{{}}}", body.join(","))
    });
    (
        prop::option::of(word.clone()),
        prop::option::of(word),
        prop::option::of(scalar),
        prop::option::of(payload),
    )
        .prop_map(|(t, k, n, p)| {
            let mut parts = Vec::new();
            if let Some(t) = t {
                parts.push(format!(r#""type":{t:?}"#));
            }
            if let Some(k) = k {
                parts.push(format!(r#""kind":{k:?}"#));
            }
            if let Some(n) = n {
                parts.push(format!(r#""sequenceNumber":{n}"#));
            }
            if let Some(p) = p {
                parts.push(format!(r#""payload":{p}"#));
            }
            format!("{{{}}}", parts.join(","))
        })
}

fn check(text: &str) {
    for mode in [NumberMode::Float, NumberMode::Integer] {
        match decode(text, mode) {
            Ok(message) => {
                // A valid message re-encodes (in the same number mode) to the same message.
                let again = encode(&message, mode).expect("a decoded message re-encodes");
                assert_eq!(decode(&again, mode).expect("re-decodes"), message);
            }
            Err(error) => {
                if let Some(reply) = error.reply() {
                    let text = encode(&Message::Error(reply), mode).expect("replies are valid");
                    assert!(decode(&text, mode).is_ok());
                }
            }
        }
    }
    let now = Instant::now();
    let mut pecc = PeccConnection::new(PeccConfig::default(), now);
    pecc.handle_text(text, now);
    pecc.handle_timeout(now + Duration::from_secs(6));
    let mut secc = SeccConnection::new(SeccConfig::default(), now);
    secc.handle_text(text, now);
    secc.handle_timeout(now + Duration::from_secs(6));
    while pecc.poll_event().is_some() || secc.poll_event().is_some() {}
    for transmit in std::iter::from_fn(|| pecc.poll_transmit().or_else(|| secc.poll_transmit())) {
        if let Transmit::Text(sent) = transmit {
            let message = decode(&sent, NumberMode::Float).expect("machines send valid messages");
            // What a machine sends on its own accord in answer to a stranger is an error reply.
            assert_eq!(message.message_type(), MessageType::Error, "{sent}");
        }
    }
}

proptest! {
    // A fixed seed keeps CI deterministic; vary it locally to explore.
    #![proptest_config(ProptestConfig {
        cases: 3000,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x0070_6570_7773),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        check(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn message_like_json_never_panics(text in message_like()) {
        check(&text);
    }
}
