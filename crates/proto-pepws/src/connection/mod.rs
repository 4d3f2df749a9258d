//! Sans-I/O per-connection machines for both ends of a PEP-WS link.
//!
//! [`PeccConnection`] is the server end, [`SeccConnection`] the client end. Both are driven the
//! same way: the driver passes each received text frame to `handle_text(text, now)`, sends what
//! `poll_transmit` yields, hands `poll_event` results to the application, and calls
//! `handle_timeout(now)` when the deadline of `poll_timeout` passes. They never read a clock.
//!
//! What both enforce (sections 3 and 8):
//! - at most one request of our own is pending; it is answered by a response or error with its
//!   sequence number, or times out after 500 ms, which frees the slot;
//! - our requests are numbered 1, 2, … 2³¹ − 1, 1, … per connection;
//! - every received request is validated and either handed to the application, which answers it
//!   with `respond` or `respond_error`, or answered here with the error section 8.2 assigns
//!   (`format` for schema failures, `generic` for a kind this side does not serve); a request
//!   the application leaves unanswered for 450 ms gets `internal`, so the peer never waits past
//!   its 500 ms;
//! - replies that match no pending request are dropped and reported, never matched to another;
//! - infos, responses and errors are never answered, even when malformed;
//! - every message we send passes the same schema check a receiver applies.

mod link;
mod pecc;
mod secc;

pub use pecc::{PeccConfig, PeccConnection};
pub use secc::{SeccConfig, SeccConnection};

use crate::codec::{DecodeError, EncodeError};
use crate::messages::{ErrorReply, Info, Request, Response};
use crate::types::{Kind, MessageType, Side};
use std::time::Duration;

/// `PEP_REQUEST_TIMEOUT`: how long a request may await its answer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_millis(500);
/// `PEP_STATUS_UPDATE_INTERVAL`: the period of `info/status`.
pub const STATUS_INTERVAL: Duration = Duration::from_millis(200);
/// `PEP_SECC_UNRESPONSIVE_TIMEOUT`: the silence after which a PECC goes to standby.
pub const SECC_UNRESPONSIVE_TIMEOUT: Duration = Duration::from_millis(5000);
/// `PEP_WS_RECONNECT_INTERVAL`: how often an SECC retries a lost connection.
pub const RECONNECT_INTERVAL: Duration = Duration::from_millis(10_000);
/// `PE_CABLE_CHECK_TIME`: from a `cableCheck` request until its result is available.
pub const CABLE_CHECK_TIME: Duration = Duration::from_millis(37_000);
/// `PE_PRE_CHARGE_TIME`: from a `targetValues(preCharge)` until the voltage matches.
pub const PRE_CHARGE_TIME: Duration = Duration::from_millis(4000);

/// Something to put on the WebSocket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transmit {
    /// A text frame holding one message.
    Text(String),
    /// A WebSocket Ping (the PECC's liveness probe).
    Ping,
}

/// Something the application must act on or may observe.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A valid request of the peer. Answer it with `respond` or `respond_error`.
    Request {
        /// Its sequence number, to answer with.
        sequence_number: u32,
        /// The request.
        request: Request,
    },
    /// The response to our pending request.
    Response {
        /// Our request's number.
        sequence_number: u32,
        /// The response.
        response: Response,
    },
    /// The error answering our pending request.
    ErrorReply(ErrorReply),
    /// Our pending request got no answer in time; the slot is free again.
    RequestTimedOut {
        /// Its number.
        sequence_number: u32,
        /// Its kind.
        kind: Kind,
    },
    /// A valid info of the peer.
    Info(Info),
    /// A received text that is not a valid message; `answered` tells whether an error went back.
    Malformed {
        /// What is wrong.
        error: DecodeError,
        /// Whether an `error/format` reply was sent.
        answered: bool,
    },
    /// A valid message that has no place here (a reply matching no pending request, an info or
    /// request of the wrong direction). Requests among them were answered with `error/generic`.
    Ignored {
        /// Its type.
        message_type: MessageType,
        /// Its kind.
        kind: Kind,
        /// Why.
        reason: String,
    },
    /// A request of the peer was not answered by the application within the answer window, so
    /// `error/internal` went back on its behalf.
    AnswerOverdue {
        /// The request's number.
        sequence_number: u32,
        /// Its kind.
        kind: Kind,
    },
    /// PECC: the periodic status is due; send it with [`PeccConnection::send_status`].
    StatusDue,
    /// PECC: the SECC has been silent for the unresponsive timeout (go to standby and close).
    /// SECC: no status arrived within the watch window (abort charging; reconnect).
    PeerUnresponsive,
    /// SECC: a status arrived again after [`Event::PeerUnresponsive`].
    PeerResponsive,
}

/// Why a request or info of ours was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// Another request of ours awaits its answer (one pending request per direction).
    #[error("request {pending} ({kind}) still awaits its answer")]
    Busy {
        /// The pending request's number.
        pending: u32,
        /// Its kind.
        kind: Kind,
    },
    /// This side does not send messages of that kind.
    #[error("the {side} does not send {kind} {message_type}s")]
    WrongDirection {
        /// Our side.
        side: Side,
        /// The message's type.
        message_type: MessageType,
        /// Its kind.
        kind: Kind,
    },
    /// The message would break the schema.
    #[error(transparent)]
    Invalid(#[from] EncodeError),
    /// The connection is closed.
    #[error("the connection is closed")]
    Closed,
}

/// Why an answer to a peer's request was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AnswerError {
    /// No request with that number awaits an answer (already answered, or answered for the
    /// application after the answer window).
    #[error("no request numbered {0} awaits an answer")]
    NotAwaiting(u32),
    /// The response's kind is not the request's.
    #[error(
        "request {sequence_number} is a {expected} request; a {given} response cannot answer it"
    )]
    KindMismatch {
        /// The request's number.
        sequence_number: u32,
        /// The request's kind.
        expected: Kind,
        /// The response's kind.
        given: Kind,
    },
    /// The response would break the schema.
    #[error(transparent)]
    Invalid(#[from] EncodeError),
}
