//! CALLERROR codes and the one place that decides which code a decode failure gets.
//!
//! OCPP-J 1.6 §4.2.3 and OCPP 2.0.1/2.1 Part 4 §4.3 list the codes; 1.6 spells two of them
//! differently (`FormationViolation`, `OccurenceConstraintViolation`) and lacks
//! `MessageTypeNotSupported` and `RpcFrameworkError`.
//!
//! | failure                                   | 1.6                          | 2.0.1 / 2.1                   |
//! |-------------------------------------------|------------------------------|-------------------------------|
//! | frame is not JSON                         | FormationViolation           | RpcFrameworkError             |
//! | frame is not a valid RPC array / id       | ProtocolError                | RpcFrameworkError             |
//! | unknown message type number               | ProtocolError                | MessageTypeNotSupported       |
//! | unknown action                            | NotImplemented               | NotImplemented                |
//! | action the receiver's side never receives | NotSupported                 | NotSupported                  |
//! | payload is not a JSON object              | FormationViolation           | FormatViolation               |
//! | unknown property                          | FormationViolation           | FormatViolation               |
//! | required field missing, too few/many items| OccurenceConstraintViolation | OccurrenceConstraintViolation |
//! | wrong JSON type, `null`                   | TypeConstraintViolation      | TypeConstraintViolation       |
//! | too long, bad enum value, out of range, bad date-time | PropertyConstraintViolation | PropertyConstraintViolation |

use crate::OcppVersion;
use std::fmt;

/// A CALLERROR (or CALLRESULTERROR) error code, independent of its spelling in a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The payload is syntactically incorrect (1.6 `FormationViolation`).
    FormatViolation,
    /// Any other error.
    GenericError,
    /// The receiver could not process a valid request.
    InternalError,
    /// The message type number is unknown (2.x only).
    MessageTypeNotSupported,
    /// The action is not known by the receiver.
    NotImplemented,
    /// The action is known but not supported by the receiver.
    NotSupported,
    /// A field occurs too few or too many times (1.6 `OccurenceConstraintViolation`).
    OccurrenceConstraintViolation,
    /// A field holds an invalid value.
    PropertyConstraintViolation,
    /// The payload does not conform to the PDU structure.
    ProtocolError,
    /// The content is not a valid RPC request, e.g. the message id cannot be read (2.x only).
    RpcFrameworkError,
    /// A security issue prevented processing.
    SecurityError,
    /// A field has the wrong data type.
    TypeConstraintViolation,
}

impl ErrorCode {
    /// Every code.
    pub const ALL: [ErrorCode; 12] = [
        ErrorCode::FormatViolation,
        ErrorCode::GenericError,
        ErrorCode::InternalError,
        ErrorCode::MessageTypeNotSupported,
        ErrorCode::NotImplemented,
        ErrorCode::NotSupported,
        ErrorCode::OccurrenceConstraintViolation,
        ErrorCode::PropertyConstraintViolation,
        ErrorCode::ProtocolError,
        ErrorCode::RpcFrameworkError,
        ErrorCode::SecurityError,
        ErrorCode::TypeConstraintViolation,
    ];

    /// The code as `version` spells it on the wire. Codes 1.6 lacks map to `ProtocolError`.
    pub const fn as_str(self, version: OcppVersion) -> &'static str {
        let v16 = matches!(version, OcppVersion::V16);
        match self {
            ErrorCode::FormatViolation if v16 => "FormationViolation",
            ErrorCode::FormatViolation => "FormatViolation",
            ErrorCode::GenericError => "GenericError",
            ErrorCode::InternalError => "InternalError",
            ErrorCode::MessageTypeNotSupported if v16 => "ProtocolError",
            ErrorCode::MessageTypeNotSupported => "MessageTypeNotSupported",
            ErrorCode::NotImplemented => "NotImplemented",
            ErrorCode::NotSupported => "NotSupported",
            ErrorCode::OccurrenceConstraintViolation if v16 => "OccurenceConstraintViolation",
            ErrorCode::OccurrenceConstraintViolation => "OccurrenceConstraintViolation",
            ErrorCode::PropertyConstraintViolation => "PropertyConstraintViolation",
            ErrorCode::ProtocolError => "ProtocolError",
            ErrorCode::RpcFrameworkError if v16 => "ProtocolError",
            ErrorCode::RpcFrameworkError => "RpcFrameworkError",
            ErrorCode::SecurityError => "SecurityError",
            ErrorCode::TypeConstraintViolation => "TypeConstraintViolation",
        }
    }

    /// The code a received CALLERROR names, in either version's spelling; `None` if unknown.
    pub fn parse(code: &str) -> Option<Self> {
        Some(match code {
            "FormatViolation" | "FormationViolation" => ErrorCode::FormatViolation,
            "GenericError" => ErrorCode::GenericError,
            "InternalError" => ErrorCode::InternalError,
            "MessageTypeNotSupported" => ErrorCode::MessageTypeNotSupported,
            "NotImplemented" => ErrorCode::NotImplemented,
            "NotSupported" => ErrorCode::NotSupported,
            "OccurrenceConstraintViolation" | "OccurenceConstraintViolation" => {
                ErrorCode::OccurrenceConstraintViolation
            }
            "PropertyConstraintViolation" => ErrorCode::PropertyConstraintViolation,
            "ProtocolError" => ErrorCode::ProtocolError,
            "RpcFrameworkError" => ErrorCode::RpcFrameworkError,
            "SecurityError" => ErrorCode::SecurityError,
            "TypeConstraintViolation" => ErrorCode::TypeConstraintViolation,
            _ => return None,
        })
    }
}

/// What is wrong with a received frame or payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureKind {
    /// The frame is not JSON.
    UnparsableFrame,
    /// The frame is JSON but not an OCPP-J array of the right shape.
    MalformedFrame,
    /// The message type number is not one this version defines.
    UnknownMessageType,
    /// The action is not one this version defines.
    UnknownAction,
    /// The action exists but is never sent to this side (e.g. RemoteStartTransaction to a CSMS).
    WrongDirection,
    /// The payload is not a JSON object.
    PayloadNotObject,
    /// A property the schema does not define.
    UnknownProperty,
    /// A required property is absent.
    MissingRequired,
    /// An array has too few or too many items.
    Cardinality,
    /// A value has the wrong JSON type (including `null`).
    WrongType,
    /// A value is too long, not in its enumeration, out of range or badly formatted.
    InvalidValue,
}

impl FailureKind {
    /// The CALLERROR code `version` assigns to this failure (see the module table).
    pub const fn code(self, version: OcppVersion) -> ErrorCode {
        let v16 = matches!(version, OcppVersion::V16);
        match self {
            FailureKind::UnparsableFrame if v16 => ErrorCode::FormatViolation,
            FailureKind::UnparsableFrame => ErrorCode::RpcFrameworkError,
            FailureKind::MalformedFrame if v16 => ErrorCode::ProtocolError,
            FailureKind::MalformedFrame => ErrorCode::RpcFrameworkError,
            FailureKind::UnknownMessageType => ErrorCode::MessageTypeNotSupported,
            FailureKind::UnknownAction => ErrorCode::NotImplemented,
            FailureKind::WrongDirection => ErrorCode::NotSupported,
            FailureKind::PayloadNotObject | FailureKind::UnknownProperty => {
                ErrorCode::FormatViolation
            }
            FailureKind::MissingRequired | FailureKind::Cardinality => {
                ErrorCode::OccurrenceConstraintViolation
            }
            FailureKind::WrongType => ErrorCode::TypeConstraintViolation,
            FailureKind::InvalidValue => ErrorCode::PropertyConstraintViolation,
        }
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FailureKind::UnparsableFrame => "frame is not JSON",
            FailureKind::MalformedFrame => "frame is not a valid OCPP-J message",
            FailureKind::UnknownMessageType => "unknown message type",
            FailureKind::UnknownAction => "unknown action",
            FailureKind::WrongDirection => "action not supported by this side",
            FailureKind::PayloadNotObject => "payload is not an object",
            FailureKind::UnknownProperty => "unknown property",
            FailureKind::MissingRequired => "required property missing",
            FailureKind::Cardinality => "wrong number of items",
            FailureKind::WrongType => "wrong type",
            FailureKind::InvalidValue => "invalid value",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_per_version() {
        assert_eq!(
            ErrorCode::FormatViolation.as_str(OcppVersion::V16),
            "FormationViolation"
        );
        assert_eq!(
            ErrorCode::FormatViolation.as_str(OcppVersion::V201),
            "FormatViolation"
        );
        assert_eq!(
            ErrorCode::OccurrenceConstraintViolation.as_str(OcppVersion::V16),
            "OccurenceConstraintViolation"
        );
        assert_eq!(
            ErrorCode::OccurrenceConstraintViolation.as_str(OcppVersion::V21),
            "OccurrenceConstraintViolation"
        );
        assert_eq!(
            ErrorCode::RpcFrameworkError.as_str(OcppVersion::V21),
            "RpcFrameworkError"
        );
        for version in OcppVersion::PREFERENCE {
            for code in ErrorCode::ALL {
                let spelled = code.as_str(version);
                let parsed = ErrorCode::parse(spelled).expect("own spelling parses");
                if version != OcppVersion::V16 {
                    assert_eq!(parsed, code);
                }
            }
        }
    }

    #[test]
    fn frame_failures_per_version() {
        assert_eq!(
            FailureKind::UnparsableFrame
                .code(OcppVersion::V16)
                .as_str(OcppVersion::V16),
            "FormationViolation"
        );
        assert_eq!(
            FailureKind::UnknownMessageType
                .code(OcppVersion::V201)
                .as_str(OcppVersion::V201),
            "MessageTypeNotSupported"
        );
        assert_eq!(
            FailureKind::MalformedFrame
                .code(OcppVersion::V21)
                .as_str(OcppVersion::V21),
            "RpcFrameworkError"
        );
    }
}
