//! OCPP-J framing: the JSON arrays that carry every message (OCPP-J 1.6 §4, OCPP 2.x Part 4 §4).
//!
//! ```text
//! CALL             [2, "<id>", "<Action>", {payload}]
//! CALLRESULT       [3, "<id>", {payload}]
//! CALLERROR        [4, "<id>", "<errorCode>", "<errorDescription>", {errorDetails}]
//! CALLRESULTERROR  [5, "<id>", "<errorCode>", "<errorDescription>", {errorDetails}]   (2.1)
//! SEND             [6, "<id>", "<Action>", {payload}]                                  (2.1)
//! ```
//!
//! Message ids are strings of at most 36 characters. Decoding checks the frame's shape only; the
//! payload is checked against its schema by [`crate::validate`].

use crate::OcppVersion;
use crate::error::{ErrorCode, FailureKind};
use serde::Serialize;
use serde_json::{Map, Value};
use std::fmt;

/// The longest message id the specification allows.
pub const MAX_MESSAGE_ID_LEN: usize = 36;

/// The message id that answers a frame whose own id could not be read (OCPP 2.x Part 4 §4.2.3).
pub const UNKNOWN_MESSAGE_ID: &str = "-1";

/// OCPP-J message type numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// A request.
    Call = 2,
    /// A successful response.
    CallResult = 3,
    /// An error response to a CALL.
    CallError = 4,
    /// An error answering a CALLRESULT that could not be processed (2.1).
    CallResultError = 5,
    /// An unconfirmed message (2.1).
    Send = 6,
}

impl MessageType {
    fn from_number(n: u64, version: OcppVersion) -> Option<Self> {
        match n {
            2 => Some(MessageType::Call),
            3 => Some(MessageType::CallResult),
            4 => Some(MessageType::CallError),
            5 if version.has_send() => Some(MessageType::CallResultError),
            6 if version.has_send() => Some(MessageType::Send),
            _ => None,
        }
    }
}

/// One decoded OCPP-J message; payloads are not yet checked against their schemas.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// `[2, id, action, payload]`.
    Call {
        /// Message id.
        id: String,
        /// Action name.
        action: String,
        /// Request payload.
        payload: Value,
    },
    /// `[3, id, payload]`.
    CallResult {
        /// Id of the CALL answered.
        id: String,
        /// Response payload.
        payload: Value,
    },
    /// `[4, id, code, description, details]`.
    CallError(ErrorFrame),
    /// `[5, id, code, description, details]` (2.1).
    CallResultError(ErrorFrame),
    /// `[6, id, action, payload]` (2.1).
    Send {
        /// Message id.
        id: String,
        /// Action name.
        action: String,
        /// Payload.
        payload: Value,
    },
}

/// The body of a CALLERROR or CALLRESULTERROR.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorFrame {
    /// Id of the message answered.
    pub id: String,
    /// Error code as received or to be sent (already spelled for the version).
    pub code: String,
    /// Human-readable description, possibly empty.
    pub description: String,
    /// Details object, `{}` when none.
    pub details: Map<String, Value>,
}

impl Frame {
    /// The message id.
    pub fn id(&self) -> &str {
        match self {
            Frame::Call { id, .. } | Frame::CallResult { id, .. } | Frame::Send { id, .. } => id,
            Frame::CallError(e) | Frame::CallResultError(e) => &e.id,
        }
    }

    /// The message type.
    pub fn message_type(&self) -> MessageType {
        match self {
            Frame::Call { .. } => MessageType::Call,
            Frame::CallResult { .. } => MessageType::CallResult,
            Frame::CallError(_) => MessageType::CallError,
            Frame::CallResultError(_) => MessageType::CallResultError,
            Frame::Send { .. } => MessageType::Send,
        }
    }

    /// The frame as JSON text.
    pub fn encode(&self) -> String {
        match self {
            Frame::Call {
                id,
                action,
                payload,
            } => encode_tuple(&(2, id, action, payload)),
            Frame::CallResult { id, payload } => encode_tuple(&(3, id, payload)),
            Frame::CallError(e) => encode_tuple(&(4, &e.id, &e.code, &e.description, &e.details)),
            Frame::CallResultError(e) => {
                encode_tuple(&(5, &e.id, &e.code, &e.description, &e.details))
            }
            Frame::Send {
                id,
                action,
                payload,
            } => encode_tuple(&(6, id, action, payload)),
        }
    }
}

/// Encodes a value built only of strings, numbers and JSON values, which cannot fail.
fn encode_tuple<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| String::from("[]"))
}

/// Typical frames fit in this many bytes; starting there avoids regrowing the buffer.
const ENCODE_CAPACITY: usize = 512;

fn to_text<T: Serialize>(value: &T) -> Result<String, serde_json::Error> {
    let mut buffer = Vec::with_capacity(ENCODE_CAPACITY);
    serde_json::to_writer(&mut buffer, value)?;
    // serde_json writes only valid UTF-8.
    String::from_utf8(buffer).map_err(|e| serde::ser::Error::custom(e.to_string()))
}

/// Encodes a CALL with a typed payload.
pub fn encode_call<T: Serialize>(
    id: &str,
    action: &str,
    payload: &T,
) -> Result<String, serde_json::Error> {
    to_text(&(2, id, action, payload))
}

/// Encodes a CALLRESULT with a typed payload.
pub fn encode_call_result<T: Serialize>(
    id: &str,
    payload: &T,
) -> Result<String, serde_json::Error> {
    to_text(&(3, id, payload))
}

/// Encodes a CALLERROR with `code` spelled for `version`.
pub fn encode_call_error(
    version: OcppVersion,
    id: &str,
    code: ErrorCode,
    description: &str,
    details: Map<String, Value>,
) -> String {
    Frame::CallError(ErrorFrame {
        id: id.to_string(),
        code: code.as_str(version).to_string(),
        description: description.to_string(),
        details,
    })
    .encode()
}

/// A received frame that could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError {
    /// The message id, when it could be read.
    pub id: Option<String>,
    /// The message type number, when it could be read.
    pub message_type: Option<u64>,
    /// What is wrong.
    pub kind: FailureKind,
    /// Details for logs and the CALLERROR description.
    pub reason: String,
}

impl FrameError {
    fn new(kind: FailureKind, reason: impl Into<String>) -> Self {
        Self {
            id: None,
            message_type: None,
            kind,
            reason: reason.into(),
        }
    }

    /// Whether the sender expects an answer: a CALL, or a frame whose type could not be read.
    /// Errors in a CALLRESULT, CALLERROR or SEND are never answered with a CALLERROR.
    pub fn wants_reply(&self) -> bool {
        !matches!(self.message_type, Some(3..=6))
    }

    /// The CALLERROR answering this frame, with the code `version` assigns.
    pub fn to_call_error(&self, version: OcppVersion) -> String {
        encode_call_error(
            version,
            self.id.as_deref().unwrap_or(UNKNOWN_MESSAGE_ID),
            self.kind.code(version),
            &self.reason,
            Map::new(),
        )
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.reason)
    }
}

impl std::error::Error for FrameError {}

/// Decodes one OCPP-J frame of `version` from WebSocket text.
pub fn decode(text: &str, version: OcppVersion) -> Result<Frame, FrameError> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| FrameError::new(FailureKind::UnparsableFrame, format!("invalid JSON: {e}")))?;
    decode_value(value, version)
}

/// Decodes one OCPP-J frame of `version` from parsed JSON.
pub fn decode_value(value: Value, version: OcppVersion) -> Result<Frame, FrameError> {
    let Value::Array(items) = value else {
        return Err(FrameError::new(
            FailureKind::MalformedFrame,
            "a frame must be a JSON array",
        ));
    };
    let mut items = items.into_iter();
    let Some(type_number) = items.next().as_ref().and_then(Value::as_u64) else {
        return Err(FrameError::new(
            FailureKind::MalformedFrame,
            "the first element must be the message type number",
        ));
    };
    let err = |kind, reason: &str, id: Option<&str>| FrameError {
        id: id.map(str::to_string),
        message_type: Some(type_number),
        kind,
        reason: reason.to_string(),
    };
    let id = match items.next() {
        Some(Value::String(id)) if !id.is_empty() && id.len() <= MAX_MESSAGE_ID_LEN => id,
        Some(Value::String(_)) => {
            return Err(err(
                FailureKind::MalformedFrame,
                "the message id must have 1 to 36 characters",
                None,
            ));
        }
        _ => {
            return Err(err(
                FailureKind::MalformedFrame,
                "the second element must be the message id string",
                None,
            ));
        }
    };
    let Some(message_type) = MessageType::from_number(type_number, version) else {
        return Err(err(
            FailureKind::UnknownMessageType,
            &format!("message type {type_number} is not defined in OCPP {version}"),
            Some(&id),
        ));
    };
    let rest: Vec<Value> = items.collect();
    match message_type {
        MessageType::Call | MessageType::Send => {
            let [Value::String(action), payload] = <[Value; 2]>::try_from(rest).map_err(|_| {
                err(
                    FailureKind::MalformedFrame,
                    "expected [type, id, action, payload]",
                    Some(&id),
                )
            })?
            else {
                return Err(err(
                    FailureKind::MalformedFrame,
                    "the action must be a string",
                    Some(&id),
                ));
            };
            Ok(if message_type == MessageType::Call {
                Frame::Call {
                    id,
                    action,
                    payload,
                }
            } else {
                Frame::Send {
                    id,
                    action,
                    payload,
                }
            })
        }
        MessageType::CallResult => {
            let [payload] = <[Value; 1]>::try_from(rest).map_err(|_| {
                err(
                    FailureKind::MalformedFrame,
                    "expected [3, id, payload]",
                    Some(&id),
                )
            })?;
            Ok(Frame::CallResult { id, payload })
        }
        MessageType::CallError | MessageType::CallResultError => {
            let mut rest = rest.into_iter();
            let (code, description, details) = (rest.next(), rest.next(), rest.next());
            let extra = rest.next().is_some();
            let (Some(Value::String(code)), Some(Value::String(description)), false) =
                (code, description, extra)
            else {
                return Err(err(
                    FailureKind::MalformedFrame,
                    "expected [type, id, errorCode, errorDescription, errorDetails]",
                    Some(&id),
                ));
            };
            // Some peers omit errorDetails; the error itself must still reach the caller.
            let details = match details {
                Some(Value::Object(map)) => map,
                None | Some(Value::Null) => Map::new(),
                Some(_) => {
                    return Err(err(
                        FailureKind::MalformedFrame,
                        "errorDetails must be an object",
                        Some(&id),
                    ));
                }
            };
            let body = ErrorFrame {
                id,
                code,
                description,
                details,
            };
            Ok(if message_type == MessageType::CallError {
                Frame::CallError(body)
            } else {
                Frame::CallResultError(body)
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const V16: OcppVersion = OcppVersion::V16;
    const V201: OcppVersion = OcppVersion::V201;
    const V21: OcppVersion = OcppVersion::V21;

    #[test]
    fn round_trips_every_message_type() {
        let frames = [
            r#"[2,"19223201","BootNotification",{"chargePointModel":"SingleSocketCharger","chargePointVendor":"VendorX"}]"#,
            r#"[3,"19223201",{"currentTime":"2013-02-01T20:53:32.486Z","interval":300,"status":"Accepted"}]"#,
            r#"[4,"162376037","NotSupported","SetDisplayMessageRequest not implemented",{}]"#,
            r#"[5,"162376038","InternalError","cannot process",{"cause":"x"}]"#,
            r#"[6,"162376039","NotifyPeriodicEventStream",{"basetime":"2025-01-01T00:00:00.000Z","data":[],"id":1,"pending":0}]"#,
        ];
        for text in frames {
            // Keys are in sorted order, as the decoded form keeps them.
            let frame = decode(text, V21).expect(text);
            assert_eq!(frame.encode(), text);
        }
    }

    #[test]
    fn send_and_call_result_error_exist_only_in_2_1() {
        for version in [V16, V201] {
            let err = decode(r#"[6,"1","X",{}]"#, version).expect_err("no SEND before 2.1");
            assert_eq!(err.kind, FailureKind::UnknownMessageType);
            assert_eq!(err.id.as_deref(), Some("1"));
        }
        let err = decode(r#"[5,"1","X","",{}]"#, V201).expect_err("no CALLRESULTERROR in 2.0.1");
        assert!(err.to_call_error(V201).contains("MessageTypeNotSupported"));
        assert!(
            err.to_call_error(V16)
                .starts_with(r#"[4,"1","ProtocolError""#)
        );
    }

    #[test]
    fn malformed_frames_get_the_version_s_code() {
        let cases: &[(&str, FailureKind, Option<&str>)] = &[
            ("not json", FailureKind::UnparsableFrame, None),
            (r#"{"a":1}"#, FailureKind::MalformedFrame, None),
            ("[]", FailureKind::MalformedFrame, None),
            (
                r#"["2","1","Heartbeat",{}]"#,
                FailureKind::MalformedFrame,
                None,
            ),
            (r#"[2,1,"Heartbeat",{}]"#, FailureKind::MalformedFrame, None),
            (
                r#"[2,"","Heartbeat",{}]"#,
                FailureKind::MalformedFrame,
                None,
            ),
            (
                r#"[2,"0123456789012345678901234567890123456","Heartbeat",{}]"#,
                FailureKind::MalformedFrame,
                None,
            ),
            (
                r#"[2,"7","Heartbeat"]"#,
                FailureKind::MalformedFrame,
                Some("7"),
            ),
            (r#"[2,"7",5,{}]"#, FailureKind::MalformedFrame, Some("7")),
            (
                r#"[2,"7","Heartbeat",{},1]"#,
                FailureKind::MalformedFrame,
                Some("7"),
            ),
            (
                r#"[9,"7","Heartbeat",{}]"#,
                FailureKind::UnknownMessageType,
                Some("7"),
            ),
            (r#"[4,"7",1,"",{}]"#, FailureKind::MalformedFrame, Some("7")),
        ];
        for (text, kind, id) in cases {
            let err = decode(text, V201).expect_err(text);
            assert_eq!(err.kind, *kind, "{text}");
            assert_eq!(err.id.as_deref(), *id, "{text}");
        }
        let err = decode("not json", V201).expect_err("invalid");
        assert!(
            err.to_call_error(V201)
                .starts_with(r#"[4,"-1","RpcFrameworkError""#)
        );
        assert!(
            err.to_call_error(V16)
                .starts_with(r#"[4,"-1","FormationViolation""#)
        );
    }

    #[test]
    fn message_id_of_exactly_36_characters_is_accepted() {
        let id = "a".repeat(36);
        let text = format!(r#"[2,"{id}","Heartbeat",{{}}]"#);
        assert_eq!(decode(&text, V16).expect("valid").id(), id);
    }

    #[test]
    fn call_error_details_may_be_omitted() {
        let frame = decode(r#"[4,"9","GenericError","boom"]"#, V16).expect("tolerated");
        let Frame::CallError(e) = frame else {
            panic!("not a CALLERROR")
        };
        assert_eq!((e.code.as_str(), e.details.len()), ("GenericError", 0));
    }

    #[test]
    fn only_calls_are_answered() {
        let call = decode(r#"[2,"7","Heartbeat"]"#, V16).expect_err("short");
        assert!(call.wants_reply());
        let result = decode(r#"[3,"7"]"#, V16).expect_err("short");
        assert!(!result.wants_reply());
        let garbage = decode("]", V16).expect_err("garbage");
        assert!(garbage.wants_reply());
    }

    #[test]
    fn typed_encoders() {
        let call = encode_call("1", "Heartbeat", &json!({})).expect("encodes");
        assert_eq!(call, r#"[2,"1","Heartbeat",{}]"#);
        let result = encode_call_result("1", &json!({"currentTime": "x"})).expect("encodes");
        assert_eq!(result, r#"[3,"1",{"currentTime":"x"}]"#);
    }
}
