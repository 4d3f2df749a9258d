//! Payload validation against the official OCA JSON schemas.
//!
//! Every payload received is checked against the schema of its action and direction before it is
//! decoded into a typed message. [`Mode::Strict`] turns the first violation into the CALLERROR
//! code the specification assigns; [`Mode::Tolerant`] accepts the message and reports every
//! violation, for chargers whose firmware bends the schemas (the typed decode still needs the
//! fields it cannot do without).
//!
//! Validators are compiled from the embedded schema bundle on first use of each action.

use crate::error::{ErrorCode, FailureKind};
use crate::{OcppVersion, v16, v21, v201};
use jsonschema::error::ValidationErrorKind;
use jsonschema::{Draft, ValidationError};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

/// Which schema of an action applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PayloadKind {
    /// The payload of a CALL or SEND.
    Request,
    /// The payload of a CALLRESULT.
    Response,
}

impl fmt::Display for PayloadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PayloadKind::Request => "request",
            PayloadKind::Response => "response",
        })
    }
}

/// How violations of the schema are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// A violation rejects the message (the default, as the specification requires).
    #[default]
    Strict,
    /// Violations are reported, and the message is accepted if it can still be decoded.
    Tolerant,
}

/// One way a payload breaks its schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// JSON pointer to the offending value (for a missing or unknown property, the property).
    pub pointer: String,
    /// What is wrong, which decides the error code.
    pub kind: FailureKind,
    /// A human-readable reason.
    pub reason: String,
}

impl Violation {
    /// The CALLERROR code for this violation in `version`.
    pub fn code(&self, version: OcppVersion) -> ErrorCode {
        self.kind.code(version)
    }

    pub(crate) fn new(
        kind: FailureKind,
        pointer: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            pointer: pointer.into(),
            kind,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pointer = if self.pointer.is_empty() {
            "(payload)"
        } else {
            &self.pointer
        };
        write!(f, "{pointer}: {} ({})", self.reason, self.kind)
    }
}

/// The compiled schemas of one version.
struct Catalog {
    schemas: Map<String, Value>,
    validators: HashMap<String, [OnceLock<Option<jsonschema::Validator>>; 2]>,
}

impl Catalog {
    fn load(bundle: &str) -> Self {
        // The bundle is generated from the vendored schemas and checked by tests.
        let schemas: Map<String, Value> = serde_json::from_str(bundle).unwrap_or_default();
        let validators = schemas
            .keys()
            .map(|k| (k.clone(), [OnceLock::new(), OnceLock::new()]))
            .collect();
        Self {
            schemas,
            validators,
        }
    }

    fn schema(&self, action: &str, kind: PayloadKind) -> Option<&Value> {
        self.schemas.get(action)?.get(kind.to_string())
    }

    fn validator(&self, action: &str, kind: PayloadKind) -> Option<&jsonschema::Validator> {
        let slots = self.validators.get(action)?;
        let slot = &slots[kind as usize];
        slot.get_or_init(|| {
            let schema = self.schema(action, kind)?;
            let draft = match schema.get("$schema").and_then(Value::as_str) {
                Some(s) if s.contains("draft-04") => Draft::Draft4,
                _ => Draft::Draft6,
            };
            let built = jsonschema::options()
                .with_draft(draft)
                .should_validate_formats(true)
                .build(schema);
            match built {
                Ok(v) => Some(v),
                Err(e) => {
                    tracing::error!(action, %kind, error = %e, "embedded schema does not compile");
                    None
                }
            }
        })
        .as_ref()
    }
}

fn catalog(version: OcppVersion) -> &'static Catalog {
    static V16: OnceLock<Catalog> = OnceLock::new();
    static V201: OnceLock<Catalog> = OnceLock::new();
    static V21: OnceLock<Catalog> = OnceLock::new();
    match version {
        OcppVersion::V16 => V16.get_or_init(|| Catalog::load(v16::SCHEMAS)),
        OcppVersion::V201 => V201.get_or_init(|| Catalog::load(v201::SCHEMAS)),
        OcppVersion::V21 => V21.get_or_init(|| Catalog::load(v21::SCHEMAS)),
    }
}

/// The official schema of `action`'s request or response in `version`, documentation stripped;
/// `None` for an unknown action or the response of a SEND-only action.
pub fn schema(version: OcppVersion, action: &str) -> Option<&'static Map<String, Value>> {
    catalog(version).schemas.get(action)?.as_object()
}

/// Every action name of `version` in the embedded schema bundle.
pub fn actions(version: OcppVersion) -> impl Iterator<Item = &'static str> {
    catalog(version).schemas.keys().map(String::as_str)
}

/// Checks `payload` against the schema of `action`'s request or response in `version`.
///
/// Returns every violation (empty when the payload is valid); an unknown action, or a response to
/// a SEND-only action, is a single [`FailureKind::UnknownAction`] violation.
pub fn violations(
    version: OcppVersion,
    action: &str,
    kind: PayloadKind,
    payload: &Value,
) -> Vec<Violation> {
    let Some(validator) = catalog(version).validator(action, kind) else {
        return vec![Violation::new(
            FailureKind::UnknownAction,
            "",
            format!("OCPP {version} has no {kind} schema for action {action:?}"),
        )];
    };
    if validator.is_valid(payload) {
        return Vec::new();
    }
    validator
        .iter_errors(payload)
        .map(|e| classify(&e, payload))
        .collect()
}

/// Checks `payload` in `mode`: `Err` with the first violation when strict mode rejects it,
/// otherwise `Ok` with the violations tolerated (always empty in strict mode).
pub fn check(
    version: OcppVersion,
    action: &str,
    kind: PayloadKind,
    payload: &Value,
    mode: Mode,
) -> Result<Vec<Violation>, Violation> {
    let mut found = violations(version, action, kind, payload);
    if found.is_empty() {
        return Ok(found);
    }
    // An unknown action can never be tolerated.
    if mode == Mode::Strict || found[0].kind == FailureKind::UnknownAction {
        return Err(found.swap_remove(0));
    }
    Ok(found)
}

/// Turns a typed-decode failure after validation (e.g. an integer beyond 32 bits, or a violation
/// tolerant mode let through) into a violation.
pub(crate) fn decode_failure(error: &serde_json::Error) -> Violation {
    Violation::new(
        FailureKind::WrongType,
        "",
        format!("cannot decode payload: {error}"),
    )
}

fn classify(error: &ValidationError<'_>, payload: &Value) -> Violation {
    let path = error.instance_path().as_str().to_string();
    let (kind, pointer) = match error.kind() {
        // An object schema with `additionalProperties: false` and no `properties` (1.6
        // LogStatusNotification.conf and others) is reported against the whole object.
        ValidationErrorKind::FalseSchema
            if error
                .schema_path()
                .as_str()
                .ends_with("/additionalProperties") =>
        {
            let first = payload
                .pointer(&path)
                .and_then(Value::as_object)
                .and_then(|o| o.keys().next())
                .map(|k| format!("{path}/{}", escape(k)))
                .unwrap_or_else(|| path.clone());
            let reason = format!("property {first:?} is not allowed here");
            return Violation::new(FailureKind::UnknownProperty, first, reason);
        }
        ValidationErrorKind::Type { .. } if path.is_empty() => {
            (FailureKind::PayloadNotObject, path)
        }
        ValidationErrorKind::Type { .. } => (FailureKind::WrongType, path),
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            (
                FailureKind::MissingRequired,
                format!("{path}/{}", escape(name)),
            )
        }
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            let name = unexpected.first().map(String::as_str).unwrap_or_default();
            (
                FailureKind::UnknownProperty,
                format!("{path}/{}", escape(name)),
            )
        }
        ValidationErrorKind::MinItems { .. }
        | ValidationErrorKind::MaxItems { .. }
        | ValidationErrorKind::AdditionalItems { .. } => (FailureKind::Cardinality, path),
        _ => (FailureKind::InvalidValue, path),
    };
    Violation::new(kind, pointer, error.to_string())
}

/// Escapes a property name for a JSON pointer (RFC 6901).
fn escape(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const V16: OcppVersion = OcppVersion::V16;
    const V201: OcppVersion = OcppVersion::V201;

    fn first(version: OcppVersion, action: &str, kind: PayloadKind, payload: Value) -> Violation {
        check(version, action, kind, &payload, Mode::Strict).expect_err("invalid payload")
    }

    #[test]
    fn every_schema_compiles() {
        for version in OcppVersion::PREFERENCE {
            for action in actions(version) {
                for kind in [PayloadKind::Request, PayloadKind::Response] {
                    if catalog(version).schema(action, kind).is_some() {
                        assert!(
                            catalog(version).validator(action, kind).is_some(),
                            "{version} {action} {kind}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn violations_map_to_codes() {
        let v = first(V16, "Authorize", PayloadKind::Request, json!({}));
        assert_eq!(
            (v.pointer.as_str(), v.kind),
            ("/idTag", FailureKind::MissingRequired)
        );
        assert_eq!(v.code(V16).as_str(V16), "OccurenceConstraintViolation");

        let v = first(V16, "Authorize", PayloadKind::Request, json!({"idTag": 5}));
        assert_eq!(
            (v.pointer.as_str(), v.kind),
            ("/idTag", FailureKind::WrongType)
        );

        let v = first(
            V16,
            "Authorize",
            PayloadKind::Request,
            json!({"idTag": "x".repeat(21)}),
        );
        assert_eq!(v.kind, FailureKind::InvalidValue);
        assert_eq!(v.code(V16).as_str(V16), "PropertyConstraintViolation");

        let v = first(
            V16,
            "Authorize",
            PayloadKind::Request,
            json!({"idTag": "a", "x": 1}),
        );
        assert_eq!(
            (v.pointer.as_str(), v.kind),
            ("/x", FailureKind::UnknownProperty)
        );
        assert_eq!(v.code(V16).as_str(V16), "FormationViolation");

        let v = first(
            V16,
            "LogStatusNotification",
            PayloadKind::Response,
            json!({"extra": 1}),
        );
        assert_eq!(
            (v.pointer.as_str(), v.kind),
            ("/extra", FailureKind::UnknownProperty)
        );

        let v = first(V201, "Heartbeat", PayloadKind::Request, json!([]));
        assert_eq!(v.code(V201).as_str(V201), "FormatViolation");

        let v = first(V16, "Nonsense", PayloadKind::Request, json!({}));
        assert_eq!(v.code(V16).as_str(V16), "NotImplemented");
    }

    #[test]
    fn timestamps_need_an_offset() {
        let ok =
            json!({"currentTime": "2026-01-01T00:00:00Z", "interval": 5, "status": "Accepted"});
        assert!(violations(V16, "BootNotification", PayloadKind::Response, &ok).is_empty());
        let naive =
            json!({"currentTime": "2026-01-01T00:00:00", "interval": 5, "status": "Accepted"});
        let v = first(V16, "BootNotification", PayloadKind::Response, naive);
        assert_eq!(
            (v.pointer.as_str(), v.kind),
            ("/currentTime", FailureKind::InvalidValue)
        );
    }

    #[test]
    fn one_decimal_limits_are_multiples_of_a_tenth() {
        // OCPP 1.6 charging schedule limits carry `multipleOf: 0.1`; binary floating point must
        // not make 21.4 a violation.
        for limit in [21.4, 0.3, 32.1, 7.7, 16.0] {
            let payload = json!({
                "connectorId": 1,
                "csChargingProfiles": {
                    "chargingProfileId": 1, "stackLevel": 0,
                    "chargingProfilePurpose": "TxDefaultProfile", "chargingProfileKind": "Absolute",
                    "chargingSchedule": {"chargingRateUnit": "A", "chargingSchedulePeriod": [
                        {"startPeriod": 0, "limit": limit}
                    ]}
                }
            });
            let found = violations(V16, "SetChargingProfile", PayloadKind::Request, &payload);
            assert!(found.is_empty(), "{limit}: {found:?}");
        }
    }

    #[test]
    fn tolerant_mode_reports_without_rejecting() {
        let payload = json!({"idTag": "x".repeat(30), "vendorExtra": true});
        let tolerated = check(
            V16,
            "Authorize",
            PayloadKind::Request,
            &payload,
            Mode::Tolerant,
        )
        .expect("tolerated");
        assert_eq!(tolerated.len(), 2);
        assert!(
            check(
                V16,
                "Authorize",
                PayloadKind::Request,
                &payload,
                Mode::Strict
            )
            .is_err()
        );
        assert!(check(V16, "Nope", PayloadKind::Request, &payload, Mode::Tolerant).is_err());
    }
}
