//! PEP-WS, Vector's power electronics protocol over WebSocket (revision 1.8), without I/O.
//!
//! A DC charger split in two speaks it between the SECC in the dispenser (the WebSocket client,
//! running each gun's charging process) and the PECC in the power cabinet (the server, owning the
//! power modules). One connection URL serves one charge point.
//!
//! - [`types`]: every enumeration with its wire spelling.
//! - [`messages`]: every request, response, info and error as a type, and the [`Message`]
//!   envelope.
//! - [`schema`]: the constraints of the specification's JSON schemas as one table, applied to
//!   everything received and everything sent; [`NumberMode`] for the `floatValues` rule.
//! - [`codec`]: [`decode`] (text → message, with the `error/format` reply a failure gets) and
//!   [`encode`].
//! - [`connection`]: the per-connection machines, [`PeccConnection`] and [`SeccConnection`]:
//!   one pending request per direction with its 500 ms timeout, sequence numbers, the 200 ms
//!   status cadence, the 5 s silence rule and the SECC's status watch, with timers through
//!   `poll_timeout` / `handle_timeout(now)`.
//! - [`secc_session`]: the SECC's session with its power electronics on top of
//!   [`SeccConnection`]: wishes (contactors, cable check, target values, reset) in, requests
//!   sequenced out one at a time, EV infos kept current, the PECC's requests answered.
//! - [`subprotocol`]: `pep1.x` negotiation.
//!
//! Time is always an argument; nothing here reads a clock.

pub mod codec;
pub mod connection;
pub mod messages;
pub mod schema;
pub mod secc_session;
pub mod sequence;
pub mod subprotocol;
pub mod types;

pub use codec::{DecodeError, EncodeError, decode, encode};
pub use connection::{
    AnswerError, Event, PeccConfig, PeccConnection, SeccConfig, SeccConnection, SendError, Transmit,
};
pub use messages::{
    CableCheck, ChargingSession, Configuration, ContactorsCommand, ErrorPayload, ErrorReply,
    EvConnection, EventInfo, GetInput, Info, InputValues, Message, Request, Response, SetOutput,
    Status, TargetValues,
};
pub use schema::NumberMode;
pub use types::{
    ChargeMode, ChargingState, ContactorsStatus, ErrorCategory, EvConnectionState, IsolationStatus,
    Kind, MessageType, OperationalStatus, Side,
};
