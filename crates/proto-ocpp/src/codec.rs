//! Received payloads to typed messages: schema validation in the configured [`Mode`], then the
//! typed decode, with every failure expressed as a [`Violation`] that carries its error code.

use crate::Dialect;
use crate::error::FailureKind;
use crate::validate::{self, Mode, PayloadKind, Violation};
use serde_json::Value;

/// A decoded message with the schema violations tolerant mode let through.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded<T> {
    /// The typed message.
    pub message: T,
    /// Violations accepted in [`Mode::Tolerant`]; always empty in strict mode.
    pub violations: Vec<Violation>,
}

/// Validates and decodes the payload of a CALL or SEND naming `action`.
pub fn decode_request<D: Dialect>(
    action: &str,
    payload: Value,
    mode: Mode,
) -> Result<Decoded<D::Request>, Violation> {
    let known = D::action(action).ok_or_else(|| unknown(action))?;
    let violations = validate::check(D::VERSION, action, PayloadKind::Request, &payload, mode)?;
    let message = D::decode_request(known, payload).map_err(|e| validate::decode_failure(&e))?;
    Ok(Decoded {
        message,
        violations,
    })
}

/// Validates and decodes the payload of a CALLRESULT answering a CALL of `action`.
pub fn decode_response<D: Dialect>(
    action: D::Action,
    payload: Value,
    mode: Mode,
) -> Result<Decoded<D::Response>, Violation> {
    let name = D::action_name(action);
    let violations = validate::check(D::VERSION, name, PayloadKind::Response, &payload, mode)?;
    let message = D::decode_response(action, payload)
        .ok_or_else(|| unknown(name))?
        .map_err(|e| validate::decode_failure(&e))?;
    Ok(Decoded {
        message,
        violations,
    })
}

fn unknown(action: &str) -> Violation {
    Violation::new(
        FailureKind::UnknownAction,
        "",
        format!("action {action:?} is not defined in this OCPP version"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v16;
    use serde_json::json;

    #[test]
    fn decodes_a_typed_request() {
        let payload = json!({"chargePointVendor": "joule", "chargePointModel": "DC-150"});
        let decoded =
            decode_request::<v16::V16>("BootNotification", payload, Mode::Strict).expect("valid");
        let v16::Request::BootNotification(boot) = decoded.message else {
            panic!("wrong variant")
        };
        assert_eq!(boot.charge_point_model, "DC-150");
    }

    #[test]
    fn an_integer_beyond_32_bits_is_a_type_violation() {
        let payload = json!({"connectorId": 1, "idTag": "A", "meterStart": 3_000_000_000_u64, "timestamp": "2026-01-01T00:00:00Z"});
        let err = decode_request::<v16::V16>("StartTransaction", payload, Mode::Strict)
            .expect_err("too big");
        assert_eq!(err.kind, FailureKind::WrongType);
    }

    #[test]
    fn tolerant_mode_keeps_what_it_can_decode() {
        let payload = json!({"idTag": "A-VERY-LONG-ID-TAG-FROM-A-QUIRKY-FIRMWARE"});
        let decoded =
            decode_request::<v16::V16>("Authorize", payload, Mode::Tolerant).expect("tolerated");
        assert_eq!(decoded.violations.len(), 1);
        assert_eq!(decoded.violations[0].kind, FailureKind::InvalidValue);
        let unknown = decode_request::<v16::V16>("Authorise", json!({}), Mode::Tolerant)
            .expect_err("unknown");
        assert_eq!(unknown.kind, FailureKind::UnknownAction);
    }

    #[test]
    fn responses_decode_by_the_call_s_action() {
        let payload = json!({"idTagInfo": {"status": "Accepted"}});
        let decoded = decode_response::<v16::V16>(v16::Action::Authorize, payload, Mode::Strict)
            .expect("valid");
        assert!(matches!(decoded.message, v16::Response::Authorize(_)));
    }
}
