//! Text ⇄ [`Message`]: decoding with the section-19 constraints, encoding with the same check.
//!
//! A received text frame is parsed, its envelope checked (section 19.1), its payload checked
//! against the (type, kind) pair's schema (section 19.2), and only then typed. Every failure is a
//! [`DecodeError`] that knows what it could still read, so [`DecodeError::reply`] builds the
//! `error/format` answer section 8.2 assigns: the request's sequence number when it is a readable
//! integer in range (else 0) and its kind when it is a valid `kindType` (else `error`). Messages
//! known to be infos, responses or errors are never answered.

use crate::messages::{
    CableCheck, ChargingSession, Configuration, ContactorsCommand, ErrorPayload, ErrorReply,
    EvConnection, EventInfo, GetInput, Info, InputValues, Message, Request, Response, SetOutput,
    Status, TargetValues,
};
use crate::schema::{self, NumberMode, Violation};
use crate::types::{ErrorCategory, Kind, MessageType};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// Why a received text is not a valid PEP-WS message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{violation}")]
pub struct DecodeError {
    /// The message's type, if it was readable.
    pub message_type: Option<MessageType>,
    /// The message's kind, if it was a valid `kindType`.
    pub kind: Option<Kind>,
    /// The message's sequence number, if it was an integer in range.
    pub sequence_number: Option<u32>,
    /// What is wrong.
    pub violation: Violation,
}

impl DecodeError {
    /// The category of the failure: always [`ErrorCategory::Format`] (section 8.1).
    pub const fn category(&self) -> ErrorCategory {
        ErrorCategory::Format
    }

    /// The error reply this failure gets, or `None` when the message is an info, a response or
    /// an error (those are never answered). A message whose type cannot be read is answered: it
    /// may be a request whose sender is waiting.
    pub fn reply(&self) -> Option<ErrorReply> {
        if matches!(
            self.message_type,
            Some(MessageType::Info | MessageType::Response | MessageType::Error)
        ) {
            return None;
        }
        Some(ErrorReply {
            kind: self.kind.unwrap_or(Kind::Error),
            sequence_number: self.sequence_number.unwrap_or(0),
            category: ErrorCategory::Format,
            details: self.violation.to_string(),
        })
    }
}

/// Why one of our own messages cannot be sent: it would break the schema (e.g. a negative or
/// non-finite value, or a request numbered 0).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("refusing to send an invalid {kind} {message_type}: {violation}")]
#[non_exhaustive]
pub struct EncodeError {
    /// The message's type.
    pub message_type: MessageType,
    /// The message's kind.
    pub kind: Kind,
    /// What is wrong.
    pub violation: Violation,
}

/// Decodes one text frame. Numbers must be integers in [`NumberMode::Integer`].
pub fn decode(text: &str, mode: NumberMode) -> Result<Message, DecodeError> {
    let mut error = DecodeError {
        message_type: None,
        kind: None,
        sequence_number: None,
        violation: Violation::new("", ""),
    };
    let value: Value = match serde_json::from_str(text) {
        Ok(value) => value,
        Err(e) => {
            error.violation = Violation::new("", format!("not valid JSON: {e}"));
            return Err(error);
        }
    };
    let Value::Object(mut object) = value else {
        error.violation = Violation::new("", "a message must be a JSON object");
        return Err(error);
    };

    // Read what can be read first, so a failure further on still finds its way to the reply.
    let type_field = object.get("type").and_then(Value::as_str);
    error.message_type = type_field.and_then(MessageType::parse);
    let kind_field = object.get("kind").and_then(Value::as_str);
    error.kind = kind_field.and_then(Kind::parse);
    let sequence = object.get("sequenceNumber").map(schema::sequence_number);
    error.sequence_number = sequence.clone().and_then(Result::ok);
    let fail = |mut error: DecodeError, pointer: &str, reason: String| {
        error.violation = Violation::new(pointer, reason);
        Err(error)
    };

    let Some(message_type) = error.message_type else {
        return match object.get("type") {
            None => fail(error, "/type", "required field missing".into()),
            Some(t) => fail(error, "/type", format!("{t} is not a messageType")),
        };
    };
    let Some(kind) = error.kind else {
        return match object.get("kind") {
            None => fail(error, "/kind", "required field missing".into()),
            Some(k) => fail(error, "/kind", format!("{k} is not a kindType")),
        };
    };
    if !schema::pair_exists(message_type, kind) {
        return fail(error, "/kind", format!("no {message_type} has kind {kind}"));
    }
    let sequence_number = match (message_type, sequence) {
        (MessageType::Info, _) => 0,
        (_, None) => return fail(error, "/sequenceNumber", "required field missing".into()),
        (_, Some(Err(reason))) => return fail(error, "/sequenceNumber", reason),
        (_, Some(Ok(n))) => n,
    };
    let Some(payload) = object.remove("payload") else {
        return fail(error, "/payload", "required field missing".into());
    };
    if let Err(violation) = schema::check_payload(message_type, kind, &payload, mode) {
        error.violation = violation;
        return Err(error);
    }
    typed(message_type, kind, sequence_number, payload).map_err(|reason| {
        error.violation = Violation::new("/payload", reason);
        error
    })
}

/// Builds the typed message from a payload that passed its schema.
fn typed(
    message_type: MessageType,
    kind: Kind,
    sequence_number: u32,
    payload: Value,
) -> Result<Message, String> {
    use Kind as K;
    Ok(match message_type {
        MessageType::Request => Message::Request {
            sequence_number,
            request: match kind {
                K::Configuration => Request::Configuration,
                K::CableCheck => Request::CableCheck(from::<CableCheck>(payload)?),
                K::TargetValues => Request::TargetValues(from::<TargetValues>(payload)?),
                K::ContactorsStatus => {
                    Request::ContactorsStatus(from::<ContactorsCommand>(payload)?)
                }
                K::Reset => Request::Reset,
                K::GetInput => Request::GetInput(from::<GetInput>(payload)?),
                K::SetOutput => Request::SetOutput(from::<SetOutput>(payload)?),
                K::StopCharging => Request::StopCharging,
                other => return Err(format!("no request has kind {other}")),
            },
        },
        MessageType::Response => Message::Response {
            sequence_number,
            response: match kind {
                K::Configuration => Response::Configuration(from::<Configuration>(payload)?),
                K::GetInput => Response::GetInput(from::<InputValues>(payload)?),
                other => {
                    Response::empty(other).ok_or_else(|| format!("no response has kind {other}"))?
                }
            },
        },
        MessageType::Error => {
            let payload = from::<ErrorPayload>(payload)?;
            Message::Error(ErrorReply {
                kind,
                sequence_number,
                category: payload.error_category,
                details: payload.error_details,
            })
        }
        MessageType::Info => Message::Info(match kind {
            K::Status => Info::Status(from::<Status>(payload)?),
            K::Event => Info::Event(from::<EventInfo>(payload)?),
            K::EvConnectionState => Info::EvConnectionState(from::<EvConnection>(payload)?),
            K::ChargingSession => Info::ChargingSession(from::<ChargingSession>(payload)?),
            other => return Err(format!("no info has kind {other}")),
        }),
    })
}

fn from<T: DeserializeOwned>(payload: Value) -> Result<T, String> {
    serde_json::from_value(payload).map_err(|e| e.to_string())
}

/// Encodes one of our messages as a text frame, rounding numbers in [`NumberMode::Integer`],
/// after checking it against the same schemas a receiver applies.
pub fn encode(message: &Message, mode: NumberMode) -> Result<String, EncodeError> {
    let mut value = message.to_json();
    if mode == NumberMode::Integer {
        schema::round_numbers(&mut value);
    }
    let refuse = |violation| EncodeError {
        message_type: message.message_type(),
        kind: message.kind(),
        violation,
    };
    if let Message::Request {
        sequence_number: 0, ..
    } = message
    {
        return Err(refuse(Violation::new(
            "/sequenceNumber",
            "0 is reserved for errors answering unreadable requests",
        )));
    }
    let object = value.as_object().cloned().unwrap_or_else(Map::new);
    if let Some(n) = object.get("sequenceNumber") {
        schema::sequence_number(n)
            .map_err(|reason| refuse(Violation::new("/sequenceNumber", reason)))?;
    }
    let payload = object.get("payload").unwrap_or(&Value::Null);
    schema::check_payload(message.message_type(), message.kind(), payload, mode).map_err(refuse)?;
    Ok(value.to_string())
}
