//! The OCPP-J protocol core shared by every part of joule: typed messages for every action of
//! OCPP 1.6 (with the security whitepaper), 2.0.1 and 2.1, OCPP-J framing, validation against the
//! official schemas, and a sans-I/O RPC [`session::Session`] usable at either end of a connection.
//!
//! Nothing here performs I/O or reads a clock: callers pass received text and the current
//! `Instant` in, and take frames to send, events and the next timer deadline out.
//!
//! ```
//! use proto_ocpp::{v201, OcppRequest};
//! let request = v201::HeartbeatRequest::new();
//! assert_eq!(v201::HeartbeatRequest::ACTION, "Heartbeat");
//! let text = proto_ocpp::frame::encode_call("1", v201::HeartbeatRequest::ACTION, &request).unwrap();
//! assert_eq!(text, r#"[2,"1","Heartbeat",{}]"#);
//! ```

pub mod codec;
mod custom_data;
pub mod error;
pub mod frame;
pub mod logcheck;
mod serde_util;
pub mod session;
mod timestamp;
pub mod v16;
pub mod v201;
pub mod v21;
pub mod validate;
mod version;

pub use custom_data::CustomData;
pub use error::{ErrorCode, FailureKind};
pub use timestamp::{Timestamp, TimestampError};
pub use version::{
    Negotiated, NegotiationError, OcppVersion, UnknownVersion, accept, negotiate, offer,
};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Which side of a connection starts an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Initiator {
    /// The charging station (charge point in 1.6).
    ChargingStation,
    /// The central system (CSMS).
    CentralSystem,
    /// Either side (DataTransfer).
    Either,
}

/// A request message type: its version, action name and response type.
pub trait OcppRequest:
    Serialize + DeserializeOwned + Clone + std::fmt::Debug + Send + 'static
{
    /// The OCPP version the message belongs to.
    const VERSION: OcppVersion;
    /// The action name written in the CALL.
    const ACTION: &'static str;
    /// The CALLRESULT payload type ([`NoResponse`] for a SEND-only action).
    type Response: Serialize + DeserializeOwned + Clone + std::fmt::Debug + Send + 'static;
}

/// One OCPP version's message catalogue, for code generic over versions ([`v16::V16`],
/// [`v201::V201`], [`v21::V21`]).
pub trait Dialect: Copy + std::fmt::Debug + Send + Sync + 'static {
    /// The version.
    const VERSION: OcppVersion;
    /// The version's action enumeration.
    type Action: Copy
        + Eq
        + std::hash::Hash
        + std::fmt::Debug
        + std::fmt::Display
        + Send
        + Sync
        + 'static;
    /// Any request payload of the version.
    type Request: Serialize + Clone + std::fmt::Debug + Send + 'static;
    /// Any response payload of the version.
    type Response: Serialize + Clone + std::fmt::Debug + Send + 'static;
    /// The action a CALL names; `None` if the version does not define it.
    fn action(name: &str) -> Option<Self::Action>;
    /// The name written in a CALL.
    fn action_name(action: Self::Action) -> &'static str;
    /// Which side starts the action.
    fn initiator(action: Self::Action) -> Initiator;
    /// Whether the action is an unconfirmed SEND (2.1).
    fn is_send(action: Self::Action) -> bool;
    /// The action of a request payload.
    fn request_action(request: &Self::Request) -> Self::Action;
    /// The action of a response payload.
    fn response_action(response: &Self::Response) -> Self::Action;
    /// Decodes a request payload (not validated; see [`codec`]).
    fn decode_request(
        action: Self::Action,
        payload: serde_json::Value,
    ) -> Result<Self::Request, serde_json::Error>;
    /// Decodes a response payload; `None` for a SEND-only action.
    fn decode_response(
        action: Self::Action,
        payload: serde_json::Value,
    ) -> Option<Result<Self::Response, serde_json::Error>>;
}

/// The response type of a SEND-only action (OCPP 2.1 NotifyPeriodicEventStream), which has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum NoResponse {}
