//! The constraints of the PEP-WS 1.8 JSON schemas (fact sheet section 19), as one table.
//!
//! Every message passes through here: received ones before they are typed, our own before they
//! are sent, so the crate never emits a message its peer's validator would refuse. The schemas
//! allow extra fields everywhere, and so does this table.

use crate::types::{
    ChargeMode, ChargingState, ContactorsStatus, ErrorCategory, EvConnectionState, Kind,
    MessageType, OperationalStatus,
};
use serde_json::{Number, Value};
use std::fmt;

/// The largest value of the schemas' ranges (`SEQ`, `POS`, and `NEG` negated): 2³¹ − 1.
pub const LIMIT: f64 = 2_147_483_647.0;

/// How numbers are read and written (section 10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NumberMode {
    /// Fractional numbers allowed (`floatValues: true`).
    #[default]
    Float,
    /// Every `number` is an `integer` (`floatValues` false or missing): received fractions are
    /// schema failures and our own values are rounded before sending.
    Integer,
}

/// What a value must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// `POS`: 0 ≤ x ≤ 2³¹ − 1.
    Pos,
    /// `NEG`: −(2³¹ − 1) ≤ x ≤ 0.
    Neg,
    /// A state of charge: 0 ≤ x ≤ 100.
    Percent,
    /// Any number.
    Number,
    /// A string.
    Str,
    /// A boolean.
    Bool,
    /// A string of this enumeration.
    OneOf(&'static [&'static str]),
    /// An array of strings.
    StrArray,
    /// An object.
    Object,
}

#[derive(Debug, Clone, Copy)]
struct Field {
    name: &'static str,
    required: bool,
    check: Check,
}

const fn req(name: &'static str, check: Check) -> Field {
    Field {
        name,
        required: true,
        check,
    }
}

const fn opt(name: &'static str, check: Check) -> Field {
    Field {
        name,
        required: false,
        check,
    }
}

/// A payload's schema: `ANY` (anything passes) or an object with these fields.
#[derive(Debug, Clone, Copy)]
enum Payload {
    Any,
    Object(&'static [Field]),
}

/// `isolationStatus` values accepted on receipt: the enumeration plus the removed `noImd`, which
/// readers treat as `invalid` (section 9).
const ISOLATION_RECEIVED: &[&str] = &["invalid", "valid", "warning", "fault", "noImd"];

const CABLE_CHECK: &[Field] = &[req("voltage", Check::Pos)];
const TARGET_VALUES: &[Field] = &[
    req("targetVoltage", Check::Pos),
    req("targetCurrent", Check::Pos),
    req("batteryStateOfCharge", Check::Percent),
    req("chargingState", Check::OneOf(ChargingState::WIRE)),
];
const CONTACTORS: &[Field] = &[req(
    "contactorsStatus",
    Check::OneOf(ContactorsStatus::WIRE),
)];
const GET_INPUT: &[Field] = &[req("inputIdentifiers", Check::StrArray)];
const SET_OUTPUT: &[Field] = &[req("outputValues", Check::Object)];
const CONFIGURATION: &[Field] = &[
    req("firmwareVersion", Check::Str),
    req("manufacturer", Check::Str),
    req("limitVoltageMin", Check::Pos),
    req("limitVoltageMax", Check::Pos),
    req("limitCurrentMin", Check::Pos),
    req("limitCurrentMax", Check::Pos),
    opt("limitPowerMin", Check::Pos),
    req("limitPowerMax", Check::Pos),
    opt("limitDischargeCurrentMin", Check::Neg),
    opt("limitDischargeCurrentMax", Check::Neg),
    opt("limitDischargePowerMin", Check::Neg),
    opt("limitDischargePowerMax", Check::Neg),
    opt("floatValues", Check::Bool),
];
/// The schema requires only an object; the prose puts the values in an `inputValues` object.
const INPUT_VALUES: &[Field] = &[opt("inputValues", Check::Object)];
const ERROR: &[Field] = &[
    req("errorCategory", Check::OneOf(ErrorCategory::WIRE)),
    req("errorDetails", Check::Str),
];
const EVENT: &[Field] = &[req("eventDetails", Check::Str)];
const STATUS: &[Field] = &[
    req("measuredVoltage", Check::Pos),
    req("measuredCurrent", Check::Pos),
    req("drivenVoltage", Check::Pos),
    req("drivenCurrent", Check::Pos),
    req("temperature", Check::Number),
    req("contactorsStatus", Check::OneOf(ContactorsStatus::WIRE)),
    req("isolationStatus", Check::OneOf(ISOLATION_RECEIVED)),
    req("operationalStatus", Check::OneOf(OperationalStatus::WIRE)),
];
const EV_CONNECTION: &[Field] = &[
    req("evConnectionState", Check::OneOf(EvConnectionState::WIRE)),
    opt("vehicleId", Check::Str),
];
const CHARGING_SESSION: &[Field] = &[
    opt("chargingProfileMaxPowerLimitWatts", Check::Pos),
    opt("timeToFullSocSeconds", Check::Pos),
    opt("evMinVoltageVolts", Check::Pos),
    opt("evMaxVoltageVolts", Check::Pos),
    opt("evMinCurrentAmperes", Check::Pos),
    opt("evMaxCurrentAmperes", Check::Pos),
    opt("evMinPowerWatts", Check::Pos),
    opt("evMaxPowerWatts", Check::Pos),
    opt("evMinDischargeCurrentAmperes", Check::Neg),
    opt("evMaxDischargeCurrentAmperes", Check::Neg),
    opt("evMinDischargePowerWatts", Check::Neg),
    opt("evMaxDischargePowerWatts", Check::Neg),
    opt("chargeMode", Check::OneOf(ChargeMode::WIRE)),
];

/// The payload schema of a (type, kind) pair, or `None` when no schema has that pair (e.g. a
/// `request` of kind `status`). Errors accept every kind (section 20.4's recommendation).
fn schema_of(message_type: MessageType, kind: Kind) -> Option<Payload> {
    use Kind as K;
    use MessageType as T;
    Some(match (message_type, kind) {
        (T::Error, _) => Payload::Object(ERROR),
        (T::Request, K::Configuration | K::Reset | K::StopCharging) => Payload::Any,
        (T::Request, K::CableCheck) => Payload::Object(CABLE_CHECK),
        (T::Request, K::TargetValues) => Payload::Object(TARGET_VALUES),
        (T::Request, K::ContactorsStatus) => Payload::Object(CONTACTORS),
        (T::Request, K::GetInput) => Payload::Object(GET_INPUT),
        (T::Request, K::SetOutput) => Payload::Object(SET_OUTPUT),
        (T::Response, K::Configuration) => Payload::Object(CONFIGURATION),
        (T::Response, K::GetInput) => Payload::Object(INPUT_VALUES),
        (
            T::Response,
            K::CableCheck
            | K::TargetValues
            | K::ContactorsStatus
            | K::Reset
            | K::SetOutput
            | K::StopCharging,
        ) => Payload::Any,
        (T::Info, K::Event) => Payload::Object(EVENT),
        (T::Info, K::Status) => Payload::Object(STATUS),
        (T::Info, K::EvConnectionState) => Payload::Object(EV_CONNECTION),
        (T::Info, K::ChargingSession) => Payload::Object(CHARGING_SESSION),
        _ => return None,
    })
}

/// Whether a (type, kind) pair exists in the schemas.
pub fn pair_exists(message_type: MessageType, kind: Kind) -> bool {
    schema_of(message_type, kind).is_some()
}

/// Where a message breaks the schema, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// JSON pointer to the offending value (`/payload/targetVoltage`), or `""` for the message.
    pub pointer: String,
    /// What is wrong.
    pub reason: String,
}

impl Violation {
    pub(crate) fn new(pointer: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            pointer: pointer.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.pointer.is_empty() {
            f.write_str(&self.reason)
        } else {
            write!(f, "{}: {}", self.pointer, self.reason)
        }
    }
}

/// Checks the payload of a message of `message_type` and `kind` against section 19.
pub fn check_payload(
    message_type: MessageType,
    kind: Kind,
    payload: &Value,
    mode: NumberMode,
) -> Result<(), Violation> {
    let Some(schema) = schema_of(message_type, kind) else {
        return Err(Violation::new(
            "/kind",
            format!("no {message_type} has kind {kind}"),
        ));
    };
    let Payload::Object(fields) = schema else {
        return Ok(());
    };
    let Value::Object(object) = payload else {
        return Err(Violation::new("/payload", "must be an object"));
    };
    for field in fields {
        let pointer = format!("/payload/{}", field.name);
        match object.get(field.name) {
            None if field.required => {
                return Err(Violation::new(pointer, "required field missing"));
            }
            None => {}
            Some(value) => check_value(field.check, value, mode)
                .map_err(|reason| Violation::new(pointer, reason))?,
        }
    }
    Ok(())
}

fn check_value(check: Check, value: &Value, mode: NumberMode) -> Result<(), String> {
    let range = |low: f64, high: f64| -> Result<(), String> {
        let x = number(value, mode)?;
        if (low..=high).contains(&x) {
            Ok(())
        } else {
            Err(format!("{x} outside {low} … {high}"))
        }
    };
    match check {
        Check::Pos => range(0.0, LIMIT),
        Check::Neg => range(-LIMIT, 0.0),
        Check::Percent => range(0.0, 100.0),
        Check::Number => number(value, mode).map(|_| ()),
        Check::Str => match value {
            Value::String(_) => Ok(()),
            _ => Err("must be a string".into()),
        },
        Check::Bool => match value {
            Value::Bool(_) => Ok(()),
            _ => Err("must be a boolean".into()),
        },
        Check::OneOf(values) => match value {
            Value::String(s) if values.contains(&s.as_str()) => Ok(()),
            Value::String(s) => Err(format!("{s:?} is not one of {}", values.join(", "))),
            _ => Err("must be a string".into()),
        },
        Check::StrArray => match value {
            Value::Array(items) if items.iter().all(Value::is_string) => Ok(()),
            Value::Array(_) => Err("every item must be a string".into()),
            _ => Err("must be an array".into()),
        },
        Check::Object => match value {
            Value::Object(_) => Ok(()),
            _ => Err("must be an object".into()),
        },
    }
}

/// A JSON number as `f64`; in [`NumberMode::Integer`] only whole numbers pass (a zero fraction
/// counts as whole, as in JSON Schema draft-06).
fn number(value: &Value, mode: NumberMode) -> Result<f64, String> {
    let Value::Number(n) = value else {
        return Err("must be a number".into());
    };
    let x = n.as_f64().ok_or("not a representable number")?;
    if mode == NumberMode::Integer && !is_whole(n, x) {
        return Err(format!(
            "{x} is not an integer (floatValues is not in force)"
        ));
    }
    Ok(x)
}

fn is_whole(n: &Number, x: f64) -> bool {
    n.is_i64() || n.is_u64() || x.fract() == 0.0
}

/// A sequence number: an integer in 0 … 2³¹ − 1.
pub fn sequence_number(value: &Value) -> Result<u32, String> {
    let Value::Number(n) = value else {
        return Err("must be an integer".into());
    };
    let x = n.as_f64().ok_or("not a representable number")?;
    if !is_whole(n, x) {
        return Err("must be an integer".into());
    }
    if !(0.0..=LIMIT).contains(&x) {
        return Err(format!("{x} outside 0 … 2147483647"));
    }
    // In range and whole, so the conversion is exact.
    Ok(x as u32)
}

/// Rounds every number of `value` to an integer, for [`NumberMode::Integer`].
pub(crate) fn round_numbers(value: &mut Value) {
    match value {
        Value::Number(n) => {
            if !(n.is_i64() || n.is_u64())
                && let Some(x) = n.as_f64()
            {
                // Saturating conversion of a finite value; the schema check that follows
                // refuses anything out of range.
                *n = Number::from(x.round() as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(round_numbers),
        Value::Object(map) => map.values_mut().for_each(round_numbers),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_follow_the_mode() {
        let t = |v: Value, mode| check_value(Check::Pos, &v, mode);
        assert!(t(json!(412.5), NumberMode::Float).is_ok());
        assert!(t(json!(412.5), NumberMode::Integer).is_err());
        assert!(t(json!(412.0), NumberMode::Integer).is_ok());
        assert!(t(json!(-1), NumberMode::Float).is_err());
        assert!(t(json!(2_147_483_648_u64), NumberMode::Float).is_err());
        assert!(t(json!("1"), NumberMode::Float).is_err());
        assert!(check_value(Check::Neg, &json!(-30), NumberMode::Float).is_ok());
        assert!(check_value(Check::Neg, &json!(1), NumberMode::Float).is_err());
        assert!(check_value(Check::Percent, &json!(100.5), NumberMode::Float).is_err());
        assert!(check_value(Check::Number, &json!(-40.5), NumberMode::Float).is_ok());
    }

    #[test]
    fn sequence_numbers_are_bounded_integers() {
        assert_eq!(sequence_number(&json!(0)), Ok(0));
        assert_eq!(sequence_number(&json!(17.0)), Ok(17));
        assert_eq!(sequence_number(&json!(2_147_483_647)), Ok(2_147_483_647));
        assert!(sequence_number(&json!(2_147_483_648_u64)).is_err());
        assert!(sequence_number(&json!(-1)).is_err());
        assert!(sequence_number(&json!(1.5)).is_err());
        assert!(sequence_number(&json!("1")).is_err());
    }

    #[test]
    fn every_request_and_info_kind_has_exactly_its_schemas() {
        for kind in Kind::ALL {
            let is_request = kind.request_sender().is_some();
            let is_info = kind.info_sender().is_some();
            assert_eq!(pair_exists(MessageType::Request, *kind), is_request);
            assert_eq!(pair_exists(MessageType::Response, *kind), is_request);
            assert_eq!(pair_exists(MessageType::Info, *kind), is_info);
            assert!(pair_exists(MessageType::Error, *kind));
        }
    }

    #[test]
    fn rounding_makes_integers() {
        let mut v = json!({"a": 412.5, "b": [1.4, 2], "c": "x"});
        round_numbers(&mut v);
        assert_eq!(v, json!({"a": 413, "b": [1, 2], "c": "x"}));
    }
}
