//! Golden test of every OCPP message against the official OCA JSON schemas.
//!
//! For every action of OCPP 1.6 (39), 2.0.1 (64) and 2.1 (91), request and response (2.1
//! `NotifyPeriodicEventStream` is SEND-only and has none), samples generated from the schema
//! itself (minimal, maximal, and maximal variants until every enumeration value has appeared)
//! must be valid, decode in strict mode and re-encode to the same JSON value. Single-fault
//! mutations of the maximal sample must be rejected with the CALLERROR code and JSON pointer of
//! the specification's error table (OCPP-J 1.6 §4.2.3; OCPP 2.x Part 4 §4.3).

#![allow(clippy::print_stderr)]

#[path = "golden/mod.rs"]
mod support;

use proto_ocpp::codec;
use proto_ocpp::validate::{self, Mode, PayloadKind, Violation};
use proto_ocpp::{Dialect, OcppVersion, v16, v21, v201};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use support::mutation::{self, Edit, Mutation};
use support::sample::{self, Shape};
use support::schema::Schema;

/// Failures listed in full before the rest are only counted.
const REPORTED_FAILURES: usize = 40;

/// Mutation kinds every version's schemas must exercise.
const ALWAYS_EXERCISED: [&str; 7] = [
    "required property removed",
    "unknown property added",
    "string as number",
    "null",
    "string too long",
    "value not in enumeration",
    "timestamp without offset",
];

#[test]
fn ocpp16_every_message_round_trips_and_every_fault_gets_its_error_code() {
    assert_eq!(v16::Action::ALL.len(), 39);
    for action in v16::Action::ALL {
        assert!(validate::schema(OcppVersion::V16, action.name()).is_some());
    }
    golden::<v16::V16>(39, 78);
}

#[test]
fn ocpp201_every_message_round_trips_and_every_fault_gets_its_error_code() {
    assert_eq!(v201::Action::ALL.len(), 64);
    for action in v201::Action::ALL {
        assert!(validate::schema(OcppVersion::V201, action.name()).is_some());
    }
    golden::<v201::V201>(64, 128);
}

#[test]
fn ocpp21_every_message_round_trips_and_every_fault_gets_its_error_code() {
    assert_eq!(v21::Action::ALL.len(), 91);
    for action in v21::Action::ALL {
        assert!(validate::schema(OcppVersion::V21, action.name()).is_some());
    }
    golden::<v21::V21>(91, 181);
}

#[test]
fn vendored_schemas_carry_the_oca_values() {
    // OCPP 1.6 MeterValues: the `unit` enumeration of the OCA schema has no "Hertz".
    let meter_values = request_schema(OcppVersion::V16, "MeterValues");
    let units: Vec<Vec<&str>> = meter_values
        .enums()
        .into_iter()
        .filter(|(location, _)| location.ends_with("/properties/unit"))
        .map(|(_, values)| values)
        .collect();
    assert_eq!(units.len(), 1, "MeterValues has one unit enumeration");
    assert!(units[0].contains(&"Celsius") && units[0].contains(&"Percent"));
    assert!(
        !units[0].contains(&"Hertz"),
        "1.6 unit enumeration: {:?}",
        units[0]
    );
    let hertz = json!({"connectorId": 1, "meterValue": [{
        "timestamp": sample::TIMESTAMP,
        "sampledValue": [{"value": "50", "measurand": "Frequency", "unit": "Hertz"}],
    }]});
    let rejected = codec::decode_request::<v16::V16>("MeterValues", hertz, Mode::Strict)
        .expect_err("Hertz is not a 1.6 unit");
    assert_eq!(
        rejected.code(OcppVersion::V16).as_str(OcppVersion::V16),
        "PropertyConstraintViolation"
    );
    assert_eq!(rejected.pointer, "/meterValue/0/sampledValue/0/unit");

    // OCPP 2.0.1 Get15118EVCertificate.conf: `exiResponse` holds up to 5600 characters.
    let bundle =
        validate::schema(OcppVersion::V201, "Get15118EVCertificate").expect("2.0.1 action");
    let response = Schema::new(
        bundle
            .get("response")
            .and_then(Value::as_object)
            .expect("response schema"),
    );
    let exi = response
        .property(&response.root(), "exiResponse")
        .expect("exiResponse property");
    assert_eq!(exi.count("maxLength"), Some(5600));
    let action = v201::V201::action("Get15118EVCertificate").expect("2.0.1 action");
    for (len, accepted) in [(5600, true), (5601, false)] {
        let payload = json!({"status": "Accepted", "exiResponse": "x".repeat(len)});
        let decoded = codec::decode_response::<v201::V201>(action, payload, Mode::Strict);
        assert_eq!(decoded.is_ok(), accepted, "exiResponse of {len} characters");
    }
}

#[test]
fn unknown_actions_and_send_responses_are_not_implemented() {
    fn unknown<D: Dialect>() {
        let version = D::VERSION;
        let rejected = codec::decode_request::<D>("NotAnAction", json!({}), Mode::Tolerant)
            .expect_err("unknown action");
        assert_eq!(rejected.code(version).as_str(version), "NotImplemented");
    }
    unknown::<v16::V16>();
    unknown::<v201::V201>();
    unknown::<v21::V21>();

    let send = v21::V21::action("NotifyPeriodicEventStream").expect("2.1 action");
    assert!(v21::V21::is_send(send));
    let rejected = codec::decode_response::<v21::V21>(send, json!({}), Mode::Strict)
        .expect_err("a SEND has no response");
    assert_eq!(
        rejected.code(OcppVersion::V21).as_str(OcppVersion::V21),
        "NotImplemented"
    );
}

#[test]
fn untyped_data_keeps_any_json_value_including_null() {
    fn keeps<D: Dialect>() {
        let version = D::VERSION;
        let action = D::action("DataTransfer").expect("every version has DataTransfer");
        let mut enums_used = BTreeSet::new();
        for kind in [PayloadKind::Request, PayloadKind::Response] {
            let root = validate::schema(version, "DataTransfer")
                .and_then(|bundle| bundle.get(&kind.to_string()))
                .and_then(Value::as_object)
                .expect("DataTransfer schema");
            let schema = Schema::new(root);
            let data = schema
                .property(&schema.root(), "data")
                .expect("data property");
            assert_eq!(
                data.ty(),
                None,
                "OCPP {version} DataTransfer {kind}: data is untyped"
            );
            let shape = Shape::Maximal {
                items: 1,
                enum_index: 0,
            };
            let mut payload = sample::generate(&schema, shape, &mut enums_used);
            for value in [
                Value::Null,
                json!("text"),
                json!(12),
                json!(-2.5),
                json!(false),
                json!([1, "two", null]),
                json!({"nested": {"deeper": [{}]}}),
            ] {
                payload["data"] = value;
                let reencoded =
                    decode::<D>(action, kind, payload.clone()).expect("any data is valid");
                assert_eq!(
                    support::json::difference(&payload, &reencoded),
                    None,
                    "OCPP {version} DataTransfer {kind}"
                );
            }
        }
    }
    keeps::<v201::V201>();
    keeps::<v21::V21>();
}

/// Runs the golden table of one version and checks its totals.
fn golden<D: Dialect>(expected_actions: usize, expected_schemas: usize) {
    let version = D::VERSION;
    let mut tally = Tally::default();
    for name in validate::actions(version) {
        let action = D::action(name)
            .unwrap_or_else(|| panic!("OCPP {version}: schema action {name} has no Action"));
        assert_eq!(D::action_name(action), name);
        tally.actions += 1;
        let bundle = validate::schema(version, name).expect("listed actions have schemas");
        for kind in [PayloadKind::Request, PayloadKind::Response] {
            let Some(root) = bundle.get(&kind.to_string()).and_then(Value::as_object) else {
                assert!(
                    kind == PayloadKind::Response && D::is_send(action),
                    "OCPP {version} {name}: no {kind} schema"
                );
                continue;
            };
            assert!(
                kind == PayloadKind::Request || !D::is_send(action),
                "OCPP {version} {name}: SEND-only action with a response schema"
            );
            tally.schemas += 1;
            let case = Case::<D> {
                name,
                action,
                kind,
                schema: Schema::new(root),
            };
            case.run(&mut tally);
        }
    }

    eprintln!("golden OCPP {version}: {tally}");
    assert_eq!(tally.actions, expected_actions, "OCPP {version} actions");
    assert_eq!(tally.schemas, expected_schemas, "OCPP {version} schemas");
    for label in ALWAYS_EXERCISED {
        assert!(
            tally.mutations.contains_key(label),
            "OCPP {version}: no {label:?} mutation ran"
        );
    }
    assert!(tally.nested_removals > 0 && tally.nested_insertions > 0);
    let shown: Vec<&str> = tally
        .failures
        .iter()
        .take(REPORTED_FAILURES)
        .map(String::as_str)
        .collect();
    assert!(
        tally.failures.is_empty(),
        "OCPP {version}: {} golden failures, first {}:\n{}",
        tally.failures.len(),
        shown.len(),
        shown.join("\n")
    );
}

/// One request or response schema of one action.
struct Case<'a, D: Dialect> {
    name: &'a str,
    action: D::Action,
    kind: PayloadKind,
    schema: Schema<'a>,
}

impl<D: Dialect> fmt::Display for Case<'_, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OCPP {} {} {}", D::VERSION, self.name, self.kind)
    }
}

impl<D: Dialect> Case<'_, D> {
    fn run(&self, tally: &mut Tally) {
        let enums = self.schema.enums();
        let mut enums_used = BTreeSet::new();

        let minimal = sample::generate(&self.schema, Shape::Minimal, &mut enums_used);
        self.check_sample("minimal", &minimal, tally);
        *tally.samples.entry("minimal").or_default() += 1;

        // Two items per array prove that sequences decode whole. The single-item maximal sample
        // is the start of every mutation, and its variant k writes value k (modulo length) of
        // every enumeration: repeating array items would only repeat the same values.
        let full = Shape::Maximal {
            items: 2,
            enum_index: 0,
        };
        let full = sample::generate(&self.schema, full, &mut enums_used);
        self.check_sample("maximal (two items per array)", &full, tally);
        *tally
            .samples
            .entry("maximal with two items per array")
            .or_default() += 1;

        let variants = enums.values().map(Vec::len).max().unwrap_or(1);
        let maximal = |enum_index| Shape::Maximal {
            items: 1,
            enum_index,
        };
        let base = sample::generate(&self.schema, maximal(0), &mut enums_used);
        self.check_sample("maximal", &base, tally);
        *tally.samples.entry("maximal").or_default() += 1;
        for enum_index in 1..variants {
            let variant = sample::generate(&self.schema, maximal(enum_index), &mut enums_used);
            self.check_sample(
                &format!("enumeration variant {enum_index}"),
                &variant,
                tally,
            );
            *tally.samples.entry("enumeration variant").or_default() += 1;
        }
        for (location, values) in &enums {
            for value in values {
                if !enums_used.contains(&(location.clone(), (*value).to_string())) {
                    tally
                        .failures
                        .push(format!("{self}: no sample uses {location} = {value:?}"));
                }
            }
            tally.enum_values += values.len();
        }

        for mutation in mutation::mutations(&self.schema, &base) {
            self.check_mutation(&mutation, &base, tally);
        }
    }

    /// A generated sample must be valid, decode strictly and re-encode to the same JSON value,
    /// which must be valid too.
    fn check_sample(&self, label: &str, sample: &Value, tally: &mut Tally) {
        let version = D::VERSION;
        let found = validate::violations(version, self.name, self.kind, sample);
        if !found.is_empty() {
            tally.failures.push(format!(
                "{self}: {label} sample breaks its own schema: {}\n    sample: {sample}",
                describe(&found)
            ));
            return;
        }
        let reencoded = match decode::<D>(self.action, self.kind, sample.clone()) {
            Ok(reencoded) => reencoded,
            Err(violation) => {
                tally.failures.push(format!(
                    "{self}: {label} sample rejected by the codec: {violation}\n    sample: {sample}"
                ));
                return;
            }
        };
        if let Some(difference) = support::json::difference(sample, &reencoded) {
            tally.failures.push(format!(
                "{self}: {label} sample changed by the round trip at {difference}"
            ));
        }
        let found = validate::violations(version, self.name, self.kind, &reencoded);
        if !found.is_empty() {
            tally.failures.push(format!(
                "{self}: {label} sample re-encodes to an invalid payload: {}\n    re-encoded: {reencoded}",
                describe(&found)
            ));
        }
    }

    /// A mutated sample must be rejected in strict mode with the expected code and pointer.
    fn check_mutation(&self, mutation: &Mutation, maximal: &Value, tally: &mut Tally) {
        let version = D::VERSION;
        *tally.mutations.entry(mutation.label).or_default() += 1;
        let nested = mutation.pointer.matches('/').count() > 1;
        match &mutation.edit {
            Edit::Remove { .. } if nested => tally.nested_removals += 1,
            Edit::Insert { .. } if nested => tally.nested_insertions += 1,
            _ => {}
        }
        let expected = mutation.expected.wire(version);
        match decode::<D>(self.action, self.kind, mutation.apply(maximal)) {
            Ok(_) => tally.failures.push(format!(
                "{self}: {} at {} accepted, expected {expected}",
                mutation.label, mutation.pointer
            )),
            Err(violation) => {
                let code = violation.code(version).as_str(version);
                if code != expected || violation.pointer != mutation.pointer {
                    tally.failures.push(format!(
                        "{self}: {} at {}: expected {expected} at {}, got {code} at {} ({})",
                        mutation.label,
                        mutation.pointer,
                        mutation.pointer,
                        violation.pointer,
                        violation.reason
                    ));
                }
            }
        }
    }
}

/// Decodes `payload` strictly, checks the codec routed it to `action`, and re-encodes it.
fn decode<D: Dialect>(
    action: D::Action,
    kind: PayloadKind,
    payload: Value,
) -> Result<Value, Violation> {
    let (routed, encoded) = match kind {
        PayloadKind::Request => {
            let name = D::action_name(action);
            let decoded = codec::decode_request::<D>(name, payload, Mode::Strict)?;
            assert!(
                decoded.violations.is_empty(),
                "strict mode tolerates nothing"
            );
            (
                D::request_action(&decoded.message),
                serde_json::to_value(&decoded.message),
            )
        }
        PayloadKind::Response => {
            let decoded = codec::decode_response::<D>(action, payload, Mode::Strict)?;
            assert!(
                decoded.violations.is_empty(),
                "strict mode tolerates nothing"
            );
            (
                D::response_action(&decoded.message),
                serde_json::to_value(&decoded.message),
            )
        }
    };
    assert_eq!(routed, action, "decoded into another action's message");
    Ok(encoded.expect("typed messages encode"))
}

fn request_schema(version: OcppVersion, action: &str) -> Schema<'static> {
    let bundle = validate::schema(version, action).expect("known action");
    Schema::new(
        bundle
            .get("request")
            .and_then(Value::as_object)
            .expect("request schema"),
    )
}

fn describe(violations: &[Violation]) -> String {
    let all: Vec<String> = violations.iter().map(ToString::to_string).collect();
    all.join("; ")
}

/// What one version's golden run did.
#[derive(Debug, Default)]
struct Tally {
    actions: usize,
    schemas: usize,
    samples: BTreeMap<&'static str, usize>,
    enum_values: usize,
    mutations: BTreeMap<&'static str, usize>,
    nested_removals: usize,
    nested_insertions: usize,
    failures: Vec<String>,
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |counts: &BTreeMap<&str, usize>| {
            let parts: Vec<String> = counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
            parts.join(", ")
        };
        write!(
            f,
            "{} actions, {} schemas; {} samples ({}) covering {} enumeration values; \
             {} mutations ({}); {} failures",
            self.actions,
            self.schemas,
            self.samples.values().sum::<usize>(),
            list(&self.samples),
            self.enum_values,
            self.mutations.values().sum::<usize>(),
            list(&self.mutations),
            self.failures.len()
        )
    }
}
