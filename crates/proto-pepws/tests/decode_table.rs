//! Table tests of the decoder against section 19's constraints and section 8.2's error rules,
//! and round trips of every message type.

use proto_pepws::{
    CableCheck, ChargeMode, ChargingSession, ChargingState, Configuration, ContactorsCommand,
    ContactorsStatus, ErrorCategory, ErrorReply, EvConnection, EvConnectionState, EventInfo,
    GetInput, Info, InputValues, IsolationStatus, Kind, Message, NumberMode, OperationalStatus,
    Request, Response, SetOutput, Status, TargetValues, decode, encode,
};
use serde_json::{Value, json};

/// What decoding a text must give.
#[derive(Debug)]
enum Expect {
    /// A valid message of this type and kind.
    Valid(&'static str, Kind),
    /// A failure answered with `error/format`, this number and kind, pointing here.
    Answered(u32, Kind, &'static str),
    /// A failure that gets no reply (infos, responses, errors), pointing here.
    Silent(&'static str),
}

const TV: &str = r#""targetVoltage":400,"targetCurrent":100,"batteryStateOfCharge":50"#;

fn table() -> Vec<(String, Expect)> {
    use Expect::*;
    let tv = |extra: &str| {
        format!(
            r#"{{"type":"request","kind":"targetValues","sequenceNumber":18,"payload":{{{TV}{extra}}}}}"#
        )
    };
    vec![
        // Unreadable frames: sequence number 0, kind `error`.
        ("not json".into(), Answered(0, Kind::Error, "")),
        ("".into(), Answered(0, Kind::Error, "")),
        ("[1,2]".into(), Answered(0, Kind::Error, "")),
        ("\"request\"".into(), Answered(0, Kind::Error, "")),
        (
            r#"{"type":"request","kind":"reset","sequenceNumber":5,"payload":{}"#.into(),
            Answered(0, Kind::Error, ""),
        ),
        // Envelope failures copy what they can read.
        (
            r#"{"kind":"reset","sequenceNumber":5,"payload":{}}"#.into(),
            Answered(5, Kind::Reset, "/type"),
        ),
        (
            r#"{"type":"Request","kind":"reset","sequenceNumber":5,"payload":{}}"#.into(),
            Answered(5, Kind::Reset, "/type"),
        ),
        (
            r#"{"type":"request","kind":"selfTest","sequenceNumber":5,"payload":{}}"#.into(),
            Answered(5, Kind::Error, "/kind"),
        ),
        (
            r#"{"type":"request","sequenceNumber":5,"payload":{}}"#.into(),
            Answered(5, Kind::Error, "/kind"),
        ),
        (
            r#"{"type":"request","kind":"status","sequenceNumber":5,"payload":{}}"#.into(),
            Answered(5, Kind::Status, "/kind"),
        ),
        (
            r#"{"type":"request","kind":"reset","payload":{}}"#.into(),
            Answered(0, Kind::Reset, "/sequenceNumber"),
        ),
        (
            r#"{"type":"request","kind":"reset","sequenceNumber":"5","payload":{}}"#.into(),
            Answered(0, Kind::Reset, "/sequenceNumber"),
        ),
        (
            r#"{"type":"request","kind":"reset","sequenceNumber":2147483648,"payload":{}}"#
                .into(),
            Answered(0, Kind::Reset, "/sequenceNumber"),
        ),
        (
            r#"{"type":"request","kind":"reset","sequenceNumber":-1,"payload":{}}"#.into(),
            Answered(0, Kind::Reset, "/sequenceNumber"),
        ),
        (
            r#"{"type":"request","kind":"reset","sequenceNumber":5.5,"payload":{}}"#.into(),
            Answered(0, Kind::Reset, "/sequenceNumber"),
        ),
        (
            r#"{"type":"request","kind":"reset","sequenceNumber":5}"#.into(),
            Answered(5, Kind::Reset, "/payload"),
        ),
        // Payload constraints.
        (tv(r#","chargingState":"charge""#), Valid("request", Kind::TargetValues)),
        (tv(""), Answered(18, Kind::TargetValues, "/payload/chargingState")),
        (
            tv(r#","chargingState":"Charge""#),
            Answered(18, Kind::TargetValues, "/payload/chargingState"),
        ),
        (
            tv(r#","chargingState":"charge","extra":{"vendor":1}"#),
            Valid("request", Kind::TargetValues),
        ),
        (
            r#"{"type":"request","kind":"targetValues","sequenceNumber":18,"payload":{"targetVoltage":-1,"targetCurrent":1,"batteryStateOfCharge":5,"chargingState":"charge"}}"#.into(),
            Answered(18, Kind::TargetValues, "/payload/targetVoltage"),
        ),
        (
            r#"{"type":"request","kind":"targetValues","sequenceNumber":18,"payload":{"targetVoltage":400,"targetCurrent":"1","batteryStateOfCharge":5,"chargingState":"charge"}}"#.into(),
            Answered(18, Kind::TargetValues, "/payload/targetCurrent"),
        ),
        (
            r#"{"type":"request","kind":"targetValues","sequenceNumber":18,"payload":{"targetVoltage":400,"targetCurrent":1,"batteryStateOfCharge":100.5,"chargingState":"charge"}}"#.into(),
            Answered(18, Kind::TargetValues, "/payload/batteryStateOfCharge"),
        ),
        (
            r#"{"type":"request","kind":"cableCheck","sequenceNumber":3,"payload":[]}"#.into(),
            Answered(3, Kind::CableCheck, "/payload"),
        ),
        (
            r#"{"type":"request","kind":"cableCheck","sequenceNumber":3,"payload":{}}"#.into(),
            Answered(3, Kind::CableCheck, "/payload/voltage"),
        ),
        (
            r#"{"type":"request","kind":"contactorsStatus","sequenceNumber":4,"payload":{"contactorStatus":"closed"}}"#.into(),
            Answered(4, Kind::ContactorsStatus, "/payload/contactorsStatus"),
        ),
        (
            r#"{"type":"request","kind":"getInput","sequenceNumber":4,"payload":{"inputIdentifiers":["d1",2]}}"#.into(),
            Answered(4, Kind::GetInput, "/payload/inputIdentifiers"),
        ),
        (
            r#"{"type":"request","kind":"setOutput","sequenceNumber":4,"payload":{"outputValues":[1]}}"#.into(),
            Answered(4, Kind::SetOutput, "/payload/outputValues"),
        ),
        // `ANY` payloads take anything.
        (
            r#"{"type":"request","kind":"configuration","sequenceNumber":1,"payload":null}"#.into(),
            Valid("request", Kind::Configuration),
        ),
        (
            r#"{"type":"response","kind":"reset","sequenceNumber":1,"payload":[1]}"#.into(),
            Valid("response", Kind::Reset),
        ),
        // Infos, responses and errors are never answered.
        (
            r#"{"type":"info","kind":"status","payload":{"measuredVoltage":1}}"#.into(),
            Silent("/payload/measuredCurrent"),
        ),
        (
            r#"{"type":"info","kind":"chargingSession","payload":{"evMaxDischargePowerWatts":5}}"#.into(),
            Silent("/payload/evMaxDischargePowerWatts"),
        ),
        (
            r#"{"type":"info","kind":"chargingSession","payload":{"chargeMode":"dymanicBpt"}}"#.into(),
            Silent("/payload/chargeMode"),
        ),
        (
            r#"{"type":"info","kind":"reset","payload":{}}"#.into(),
            Silent("/kind"),
        ),
        (
            r#"{"type":"response","kind":"configuration","sequenceNumber":1,"payload":{"firmwareVersion":"1","manufacturer":"m","limitVoltageMin":0,"limitVoltageMax":1000,"limitCurrentMin":0,"limitCurrentMax":250}}"#.into(),
            Silent("/payload/limitPowerMax"),
        ),
        (
            r#"{"type":"error","kind":"reset","sequenceNumber":1,"payload":{"errorCategory":"valueError","errorDetails":""}}"#.into(),
            Silent("/payload/errorCategory"),
        ),
        (
            r#"{"type":"error","kind":"reset","sequenceNumber":1,"payload":{}}"#.into(),
            Silent("/payload/errorCategory"),
        ),
        // Errors of every kind are accepted (section 20.4), infos may carry extra fields.
        (
            r#"{"type":"error","kind":"reset","sequenceNumber":1,"payload":{"errorCategory":"value","errorDetails":""}}"#.into(),
            Valid("error", Kind::Reset),
        ),
        (
            r#"{"type":"info","kind":"event","sequenceNumber":9,"payload":{"eventDetails":"fan"}}"#.into(),
            Valid("info", Kind::Event),
        ),
        (
            r#"{"type":"info","kind":"status","payload":{"measuredVoltage":0,"measuredCurrent":0,"drivenVoltage":0,"drivenCurrent":0,"temperature":-12.5,"contactorsStatus":"open","isolationStatus":"noImd","operationalStatus":"operative"}}"#.into(),
            Valid("info", Kind::Status),
        ),
    ]
}

#[test]
fn decoder_applies_section_19_and_section_8_2() {
    for (text, expect) in table() {
        let result = decode(&text, NumberMode::Float);
        match (&expect, result) {
            (Expect::Valid(message_type, kind), Ok(message)) => {
                assert_eq!(message.message_type().as_str(), *message_type, "{text}");
                assert_eq!(message.kind(), *kind, "{text}");
            }
            (Expect::Answered(n, kind, pointer), Err(error)) => {
                let reply = error.reply().unwrap_or_else(|| panic!("{text}: no reply"));
                assert_eq!(reply.sequence_number, *n, "{text}");
                assert_eq!(reply.kind, *kind, "{text}");
                assert_eq!(reply.category, ErrorCategory::Format, "{text}");
                assert_eq!(error.violation.pointer, *pointer, "{text}: {error}");
                // The reply itself is a valid message.
                let sent = encode(&Message::Error(reply), NumberMode::Float).expect("encodes");
                assert!(decode(&sent, NumberMode::Float).is_ok(), "{sent}");
            }
            (Expect::Silent(pointer), Err(error)) => {
                assert_eq!(error.reply(), None, "{text}");
                assert_eq!(error.violation.pointer, *pointer, "{text}: {error}");
            }
            (expect, got) => panic!("{text}: expected {expect:?}, got {got:?}"),
        }
    }
}

#[test]
fn old_isolation_value_reads_as_invalid() {
    let text = r#"{"type":"info","kind":"status","payload":{"measuredVoltage":0,"measuredCurrent":0,"drivenVoltage":0,"drivenCurrent":0,"temperature":20,"contactorsStatus":"open","isolationStatus":"noImd","operationalStatus":"operative"}}"#;
    let Ok(Message::Info(Info::Status(status))) = decode(text, NumberMode::Float) else {
        panic!("status decodes");
    };
    assert_eq!(status.isolation_status, IsolationStatus::Invalid);
}

#[test]
fn integer_mode_refuses_fractions_and_rounds_what_it_sends() {
    let fractional =
        r#"{"type":"request","kind":"cableCheck","sequenceNumber":2,"payload":{"voltage":412.5}}"#;
    let whole =
        r#"{"type":"request","kind":"cableCheck","sequenceNumber":2,"payload":{"voltage":412.0}}"#;
    assert!(decode(fractional, NumberMode::Float).is_ok());
    let error = decode(fractional, NumberMode::Integer).expect_err("fraction refused");
    assert_eq!(error.violation.pointer, "/payload/voltage");
    assert!(decode(whole, NumberMode::Integer).is_ok());

    let message = Message::Request {
        sequence_number: 2,
        request: Request::CableCheck(CableCheck { voltage: 412.5 }),
    };
    let sent: Value =
        serde_json::from_str(&encode(&message, NumberMode::Integer).expect("encodes"))
            .expect("json");
    assert_eq!(sent["payload"]["voltage"], json!(413));
}

#[test]
fn invalid_messages_of_our_own_are_never_sent() {
    let negative = Message::Request {
        sequence_number: 1,
        request: Request::TargetValues(TargetValues {
            target_voltage: -5.0,
            target_current: 0.0,
            battery_state_of_charge: 0.0,
            charging_state: ChargingState::Charge,
        }),
    };
    assert!(encode(&negative, NumberMode::Float).is_err());
    let not_a_number = Message::Info(Info::Status(Status {
        measured_voltage: f64::NAN,
        ..standby_status()
    }));
    assert!(encode(&not_a_number, NumberMode::Float).is_err());
    let numbered_zero = Message::Request {
        sequence_number: 0,
        request: Request::Reset,
    };
    assert!(encode(&numbered_zero, NumberMode::Float).is_err());
    let discharge_positive = Message::Response {
        sequence_number: 1,
        response: Response::Configuration(Configuration {
            limit_discharge_current_max: Some(30.0),
            ..configuration()
        }),
    };
    assert!(encode(&discharge_positive, NumberMode::Float).is_err());
}

fn standby_status() -> Status {
    Status {
        measured_voltage: 0.0,
        measured_current: 0.0,
        driven_voltage: 0.0,
        driven_current: 0.0,
        temperature: 25.0,
        contactors_status: ContactorsStatus::Open,
        isolation_status: IsolationStatus::Invalid,
        operational_status: OperationalStatus::Operative,
    }
}

fn configuration() -> Configuration {
    Configuration {
        firmware_version: "1.0".into(),
        manufacturer: "m".into(),
        limit_voltage_min: 150.0,
        limit_voltage_max: 1000.0,
        limit_current_min: 0.0,
        limit_current_max: 250.0,
        limit_power_min: Some(0.0),
        limit_power_max: 120_000.0,
        limit_discharge_current_min: Some(0.0),
        limit_discharge_current_max: Some(-30.0),
        limit_discharge_power_min: Some(0.0),
        limit_discharge_power_max: Some(-15_000.0),
        float_values: Some(true),
    }
}

/// One message of every type and kind, with every optional field somewhere.
fn every_message() -> Vec<Message> {
    let request = |n, request| Message::Request {
        sequence_number: n,
        request,
    };
    let response = |n, response| Message::Response {
        sequence_number: n,
        response,
    };
    let mut values = serde_json::Map::new();
    values.insert("d1".into(), json!(1));
    values.insert("a1".into(), json!(5.2));
    vec![
        request(1, Request::Configuration),
        request(2, Request::CableCheck(CableCheck { voltage: 500.0 })),
        request(
            3,
            Request::TargetValues(TargetValues {
                target_voltage: 412.5,
                target_current: 120.0,
                battery_state_of_charge: 63.0,
                charging_state: ChargingState::PreCharge,
            }),
        ),
        request(
            4,
            Request::ContactorsStatus(ContactorsCommand {
                contactors_status: ContactorsStatus::Closed,
            }),
        ),
        request(5, Request::Reset),
        request(
            6,
            Request::GetInput(GetInput {
                input_identifiers: vec!["d2".into(), "t1".into()],
            }),
        ),
        request(
            7,
            Request::SetOutput(SetOutput {
                output_values: values.clone(),
            }),
        ),
        request(2_147_483_647, Request::StopCharging),
        response(1, Response::Configuration(configuration())),
        response(2, Response::CableCheck),
        response(3, Response::TargetValues),
        response(4, Response::ContactorsStatus),
        response(5, Response::Reset),
        response(
            6,
            Response::GetInput(InputValues {
                input_values: Some(values),
            }),
        ),
        response(7, Response::SetOutput),
        response(8, Response::StopCharging),
        Message::Error(ErrorReply {
            kind: Kind::TargetValues,
            sequence_number: 18,
            category: ErrorCategory::Value,
            details: "targetVoltage 1100 V above limitVoltageMax 1000 V".into(),
        }),
        Message::Error(ErrorReply {
            kind: Kind::Error,
            sequence_number: 0,
            category: ErrorCategory::Format,
            details: "not valid JSON".into(),
        }),
        Message::Info(Info::Status(Status {
            measured_voltage: 411.8,
            measured_current: 119.6,
            driven_voltage: 412.5,
            driven_current: 120.0,
            temperature: 41.2,
            contactors_status: ContactorsStatus::Closed,
            isolation_status: IsolationStatus::Valid,
            operational_status: OperationalStatus::Operative,
        })),
        Message::Info(Info::Event(EventInfo {
            event_details: "module 3 over temperature".into(),
        })),
        Message::Info(Info::EvConnectionState(EvConnection {
            ev_connection_state: EvConnectionState::Connected,
            vehicle_id: Some("02:00:5E:10:00:01".into()),
        })),
        Message::Info(Info::ChargingSession(ChargingSession {
            charging_profile_max_power_limit_watts: Some(50_000.0),
            time_to_full_soc_seconds: Some(1800.0),
            ev_min_voltage_volts: Some(200.0),
            ev_max_voltage_volts: Some(450.0),
            ev_min_current_amperes: Some(0.0),
            ev_max_current_amperes: Some(217.8),
            ev_min_power_watts: Some(0.0),
            ev_max_power_watts: Some(120_000.0),
            ev_min_discharge_current_amperes: Some(0.0),
            ev_max_discharge_current_amperes: Some(-100.0),
            ev_min_discharge_power_watts: Some(0.0),
            ev_max_discharge_power_watts: Some(-2000.0),
            charge_mode: Some(ChargeMode::DynamicBpt),
        })),
    ]
}

#[test]
fn every_message_round_trips() {
    for message in every_message() {
        let text = encode(&message, NumberMode::Float).expect("encodes");
        let again = decode(&text, NumberMode::Float).expect("decodes");
        assert_eq!(again, message, "{text}");
    }
}

#[test]
fn fact_sheet_wire_examples_decode_and_encode_identically() {
    let examples = [
        r#"{"type":"request","kind":"targetValues","sequenceNumber":17,"payload":{"targetVoltage":412.5,"targetCurrent":120.0,"batteryStateOfCharge":63,"chargingState":"charge"}}"#,
        r#"{"type":"response","kind":"targetValues","sequenceNumber":17,"payload":{}}"#,
        r#"{"type":"error","kind":"targetValues","sequenceNumber":18,"payload":{"errorCategory":"value","errorDetails":"targetVoltage 1100 V above limitVoltageMax 1000 V"}}"#,
        r#"{"type":"error","kind":"error","sequenceNumber":0,"payload":{"errorCategory":"format","errorDetails":"not valid JSON"}}"#,
        r#"{"type":"info","kind":"status","payload":{"measuredVoltage":411.8,"measuredCurrent":119.6,"drivenVoltage":412.5,"drivenCurrent":120.0,"temperature":41.2,"contactorsStatus":"closed","isolationStatus":"valid","operationalStatus":"operative"}}"#,
        r#"{"type":"info","kind":"evConnectionState","payload":{"evConnectionState":"connected","vehicleId":"02:00:5E:10:00:01"}}"#,
        r#"{"type":"request","kind":"getInput","sequenceNumber":3,"payload":{"inputIdentifiers":["d2","t1"]}}"#,
        r#"{"type":"response","kind":"getInput","sequenceNumber":3,"payload":{"inputValues":{"d2":0,"t1":28.5}}}"#,
    ];
    for text in examples {
        let message = decode(text, NumberMode::Float).expect("example decodes");
        let sent: Value =
            serde_json::from_str(&encode(&message, NumberMode::Float).expect("encodes"))
                .expect("json");
        let original: Value = serde_json::from_str(text).expect("json");
        // Equal as JSON values, where 120.0 and 120 are the same number.
        assert_eq!(normalize(sent), normalize(original), "{text}");
    }
}

fn normalize(value: Value) -> Value {
    match value {
        Value::Number(n) => json!(n.as_f64()),
        Value::Array(items) => Value::Array(items.into_iter().map(normalize).collect()),
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, normalize(v))).collect())
        }
        other => other,
    }
}
