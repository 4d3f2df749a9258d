//! A sans-I/O OCPP-J RPC session, the same at either end of a connection.
//!
//! The driver feeds received WebSocket text to [`Session::handle_text`], sends what
//! [`Session::poll_transmit`] yields, hands [`Session::poll_event`] results to the application,
//! and calls [`Session::handle_timeout`] when [`Session::poll_timeout`]'s deadline passes. Time is
//! always an argument; the session never reads a clock.
//!
//! Rules it enforces (OCPP-J 1.6 §4.1.1, OCPP 2.x Part 4 §4.1.1):
//! - at most `max_outstanding` CALLs of ours await an answer (default 1, as the specification
//!   requires); further calls wait in order;
//! - an answer is matched to a CALL by message id only: an answer with an unknown id (for
//!   instance one arriving after its call timed out) is logged and dropped;
//! - every CALL of ours times out after `call_timeout`;
//! - a CALL from the peer is validated against its schema and answered with the CALLERROR the
//!   specification assigns when it is invalid, before the application sees it;
//! - a CALL whose id repeats one still being processed is dropped; one repeating an id answered
//!   recently gets the same answer again, so a retried message is never processed twice.
//!
//! A central system keeps one session per connected station, so an idle session is kept small:
//! queued events are boxed (a 2.1 request enum is about 2 KB), every queue and table gives its
//! buffer back when it runs empty, and each remembered answer is one allocation holding the id
//! and the frame, found by a scan of the few kept.

use crate::codec::{self, Decoded};
use crate::error::{ErrorCode, FailureKind};
use crate::frame::{self, ErrorFrame, Frame, FrameError};
use crate::validate::{Mode, Violation};
use crate::{Dialect, Initiator, OcppVersion};
use serde_json::{Map, Value};
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::time::{Duration, Instant};

/// Which end of the connection this session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The charging station (charge point), the WebSocket client.
    ChargingStation,
    /// The central system (CSMS), the WebSocket server.
    CentralSystem,
}

impl Role {
    fn may_receive(self, initiator: Initiator) -> bool {
        matches!(
            (self, initiator),
            (_, Initiator::Either)
                | (Role::ChargingStation, Initiator::CentralSystem)
                | (Role::CentralSystem, Initiator::ChargingStation)
        )
    }
}

/// Session settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Which end this session is.
    pub role: Role,
    /// How many of our CALLs may await an answer at once (at least 1).
    pub max_outstanding: usize,
    /// How many CALLs may wait for a free slot before [`Session::call`] refuses more.
    pub max_queued: usize,
    /// How long a CALL of ours may await its answer.
    pub call_timeout: Duration,
    /// Schema strictness for received payloads.
    pub mode: Mode,
    /// Prefix of our message ids; give each connection a different one (e.g. random) so ids stay
    /// unique across reconnections.
    pub id_prefix: String,
    /// How many answered CALL ids of the peer to remember, with their answers, for duplicate
    /// detection. Each costs the answer's length in memory for as long as the connection lasts.
    pub remember_answered: usize,
}

impl Config {
    /// Defaults for `role`: one outstanding CALL, a 30 s call timeout, strict validation.
    pub fn new(role: Role) -> Self {
        Self {
            role,
            max_outstanding: 1,
            max_queued: 1024,
            call_timeout: Duration::from_secs(30),
            mode: Mode::Strict,
            id_prefix: String::new(),
            remember_answered: 64,
        }
    }
}

/// Why a CALL of ours did not get a usable answer.
#[derive(Debug, Clone, PartialEq)]
pub enum CallFailure {
    /// The peer answered with a CALLERROR.
    CallError {
        /// The code, if it is one the specification defines.
        code: Option<ErrorCode>,
        /// The error as received.
        error: ErrorFrame,
    },
    /// The CALLRESULT broke the response schema (strict mode) or could not be decoded.
    InvalidResponse(Violation),
    /// No answer within the call timeout.
    Timeout,
}

impl fmt::Display for CallFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallFailure::CallError { error, .. } => {
                write!(f, "CALLERROR {}: {}", error.code, error.description)
            }
            CallFailure::InvalidResponse(v) => write!(f, "invalid response: {v}"),
            CallFailure::Timeout => f.write_str("no response before the call timeout"),
        }
    }
}

/// Something the application must act on or may observe.
#[derive(Debug, Clone, PartialEq)]
pub enum Event<D: Dialect> {
    /// A valid CALL of the peer; answer it with [`Session::respond`] or [`Session::respond_error`].
    Call {
        /// Message id to answer.
        id: String,
        /// The request.
        request: D::Request,
        /// Schema violations tolerated in [`Mode::Tolerant`].
        violations: Vec<Violation>,
    },
    /// A valid SEND of the peer (2.1); it takes no answer.
    Send {
        /// Message id.
        id: String,
        /// The payload.
        request: D::Request,
        /// Schema violations tolerated in [`Mode::Tolerant`].
        violations: Vec<Violation>,
    },
    /// The answer to one of our CALLs.
    Response {
        /// Id of our CALL.
        id: String,
        /// The response.
        response: D::Response,
        /// Schema violations tolerated in [`Mode::Tolerant`].
        violations: Vec<Violation>,
    },
    /// One of our CALLs failed.
    Failed {
        /// Id of our CALL.
        id: String,
        /// Its action.
        action: D::Action,
        /// Why.
        failure: CallFailure,
    },
    /// The peer rejected a CALLRESULT of ours with a CALLRESULTERROR (2.1).
    ResponseRejected(ErrorFrame),
    /// A message of the peer was refused (answered with a CALLERROR where one is due).
    Rejected {
        /// Its message id, if readable.
        id: Option<String>,
        /// What was wrong.
        kind: FailureKind,
        /// Details.
        reason: String,
    },
}

/// Why the application's request to the session was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// Too many calls are waiting for a slot.
    #[error("{0} calls are already queued")]
    QueueFull(usize),
    /// The id does not name an unanswered CALL of the peer.
    #[error("no unanswered CALL with id {0:?}")]
    NotPending(String),
    /// The response belongs to another action than the CALL it answers.
    #[error("response for {response} does not answer a {call} CALL")]
    WrongResponse {
        /// The CALL's action.
        call: String,
        /// The response's action.
        response: String,
    },
    /// A CALL was attempted for a SEND-only action, or a SEND for a confirmed one.
    #[error("action {0} cannot be sent this way")]
    WrongMessageType(String),
    /// The payload could not be encoded.
    #[error("cannot encode payload: {0}")]
    Encode(String),
}

/// Counters for monitoring a connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// CALLs we sent.
    pub calls_sent: u64,
    /// CALLs of the peer answered.
    pub calls_answered: u64,
    /// Answers with an unknown id, dropped.
    pub unmatched: u64,
    /// Repeated CALL ids of the peer.
    pub duplicates: u64,
    /// Messages of the peer refused.
    pub rejected: u64,
    /// Our CALLs that timed out.
    pub timeouts: u64,
}

struct Outgoing<A> {
    id: String,
    action: A,
    text: String,
}

struct InFlight<A> {
    action: A,
    deadline: Instant,
}

/// An answered CALL of the peer: its id followed by the frame sent, in one allocation.
struct Answered {
    id_len: usize,
    joined: Box<str>,
}

impl Answered {
    fn new(id: &str, text: &str) -> Self {
        let mut joined = String::with_capacity(id.len() + text.len());
        joined.push_str(id);
        joined.push_str(text);
        Self {
            id_len: id.len(),
            joined: joined.into_boxed_str(),
        }
    }

    fn id(&self) -> &str {
        self.joined.get(..self.id_len).unwrap_or_default()
    }

    fn text(&self) -> &str {
        self.joined.get(self.id_len..).unwrap_or_default()
    }
}

/// Gives a drained queue's buffer back, so an idle session holds none.
fn release_if_empty<T>(queue: &mut VecDeque<T>) {
    if queue.is_empty() {
        queue.shrink_to_fit();
    }
}

/// One end of an OCPP-J connection speaking dialect `D`.
pub struct Session<D: Dialect> {
    config: Config,
    next_id: u64,
    queue: VecDeque<Outgoing<D::Action>>,
    in_flight: HashMap<String, InFlight<D::Action>>,
    /// CALLs of the peer not answered yet, with their action.
    pending: HashMap<String, D::Action>,
    /// Recently answered CALLs of the peer, oldest first, at most `remember_answered`.
    answered: VecDeque<Answered>,
    transmit: VecDeque<String>,
    events: VecDeque<Box<Event<D>>>,
    stats: Stats,
}

impl<D: Dialect> fmt::Debug for Session<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("version", &D::VERSION)
            .field("role", &self.config.role)
            .field("queued", &self.queue.len())
            .field("in_flight", &self.in_flight.len())
            .field("pending", &self.pending.len())
            .field("stats", &self.stats)
            .finish()
    }
}

impl<D: Dialect> Session<D> {
    /// A new session.
    pub fn new(mut config: Config) -> Self {
        config.max_outstanding = config.max_outstanding.max(1);
        Self {
            config,
            next_id: 1,
            queue: VecDeque::new(),
            in_flight: HashMap::new(),
            pending: HashMap::new(),
            answered: VecDeque::new(),
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
        }
    }

    /// The OCPP version spoken.
    pub fn version(&self) -> OcppVersion {
        D::VERSION
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Number of our CALLs awaiting an answer.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Number of our CALLs waiting for a free slot.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Queues a CALL and returns its message id; it is sent as soon as a slot is free.
    pub fn call(
        &mut self,
        request: impl Into<D::Request>,
        now: Instant,
    ) -> Result<String, SessionError> {
        let request = request.into();
        let action = D::request_action(&request);
        if D::is_send(action) {
            return Err(SessionError::WrongMessageType(action.to_string()));
        }
        if self.queue.len() >= self.config.max_queued {
            return Err(SessionError::QueueFull(self.queue.len()));
        }
        let id = self.new_id();
        let text = frame::encode_call(&id, D::action_name(action), &request)
            .map_err(|e| SessionError::Encode(e.to_string()))?;
        self.queue.push_back(Outgoing {
            id: id.clone(),
            action,
            text,
        });
        self.pump(now);
        Ok(id)
    }

    /// Sends an unconfirmed SEND (2.1) at once and returns its message id.
    pub fn send(&mut self, request: impl Into<D::Request>) -> Result<String, SessionError> {
        let request = request.into();
        let action = D::request_action(&request);
        if !D::is_send(action) {
            return Err(SessionError::WrongMessageType(action.to_string()));
        }
        let id = self.new_id();
        let text = serde_json::to_string(&(6, &id, D::action_name(action), &request))
            .map_err(|e| SessionError::Encode(e.to_string()))?;
        self.transmit.push_back(text);
        Ok(id)
    }

    /// Answers the peer's CALL `id`.
    pub fn respond(
        &mut self,
        id: &str,
        response: impl Into<D::Response>,
    ) -> Result<(), SessionError> {
        let response = response.into();
        let call = *self
            .pending
            .get(id)
            .ok_or_else(|| SessionError::NotPending(id.to_string()))?;
        let answered = D::response_action(&response);
        if answered != call {
            return Err(SessionError::WrongResponse {
                call: call.to_string(),
                response: answered.to_string(),
            });
        }
        let text = frame::encode_call_result(id, &response)
            .map_err(|e| SessionError::Encode(e.to_string()))?;
        self.take_pending(id);
        self.finish_answer(id, text);
        Ok(())
    }

    /// Answers the peer's CALL `id` with a CALLERROR.
    pub fn respond_error(
        &mut self,
        id: &str,
        code: ErrorCode,
        description: &str,
        details: Map<String, Value>,
    ) -> Result<(), SessionError> {
        if self.take_pending(id).is_none() {
            return Err(SessionError::NotPending(id.to_string()));
        }
        let text = frame::encode_call_error(D::VERSION, id, code, description, details);
        self.finish_answer(id, text);
        Ok(())
    }

    /// Processes one received WebSocket text message.
    pub fn handle_text(&mut self, text: &str, now: Instant) {
        match frame::decode(text, D::VERSION) {
            Ok(frame) => self.handle_frame(frame, now),
            Err(error) => self.reject_frame(error),
        }
    }

    /// The next frame to send, if any.
    pub fn poll_transmit(&mut self) -> Option<String> {
        let text = self.transmit.pop_front();
        release_if_empty(&mut self.transmit);
        text
    }

    /// The next event for the application, if any.
    pub fn poll_event(&mut self) -> Option<Event<D>> {
        let event = self.events.pop_front();
        release_if_empty(&mut self.events);
        event.map(|event| *event)
    }

    /// When [`Session::handle_timeout`] must next be called, if a CALL of ours is outstanding.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.in_flight.values().map(|f| f.deadline).min()
    }

    /// Expires our CALLs whose deadline has passed and sends queued ones in their place.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut expired: Vec<(String, D::Action, Instant)> = self
            .in_flight
            .iter()
            .filter(|(_, f)| f.deadline <= now)
            .map(|(id, f)| (id.clone(), f.action, f.deadline))
            .collect();
        expired.sort_by_key(|(_, _, deadline)| *deadline);
        for (id, action, _) in expired {
            self.in_flight.remove(&id);
            self.stats.timeouts += 1;
            tracing::warn!(%id, %action, "CALL timed out");
            self.push_event(Event::Failed {
                id,
                action,
                failure: CallFailure::Timeout,
            });
        }
        self.pump(now);
    }

    fn new_id(&mut self) -> String {
        let id = format!("{}{}", self.config.id_prefix, self.next_id);
        self.next_id += 1;
        id
    }

    fn push_event(&mut self, event: Event<D>) {
        self.events.push_back(Box::new(event));
    }

    /// Removes the peer's CALL `id` from the unanswered ones.
    fn take_pending(&mut self, id: &str) -> Option<D::Action> {
        let action = self.pending.remove(id);
        if self.pending.is_empty() {
            self.pending.shrink_to_fit();
        }
        action
    }

    /// Gives back the buffers of the tables and queues that ran empty.
    fn release_tables(&mut self) {
        if self.in_flight.is_empty() {
            self.in_flight.shrink_to_fit();
        }
        release_if_empty(&mut self.queue);
    }

    /// Moves queued CALLs into free slots.
    fn pump(&mut self, now: Instant) {
        while self.in_flight.len() < self.config.max_outstanding {
            let Some(out) = self.queue.pop_front() else {
                break;
            };
            self.in_flight.insert(
                out.id,
                InFlight {
                    action: out.action,
                    deadline: now + self.config.call_timeout,
                },
            );
            self.transmit.push_back(out.text);
            self.stats.calls_sent += 1;
        }
        self.release_tables();
    }

    fn finish_answer(&mut self, id: &str, text: String) {
        self.stats.calls_answered += 1;
        if self.config.remember_answered > 0 {
            if self.answered.len() >= self.config.remember_answered {
                self.answered.pop_front();
            }
            self.answered.push_back(Answered::new(id, &text));
        }
        self.transmit.push_back(text);
    }

    /// The answer sent to the peer's CALL `id`, if it is among those remembered.
    fn answer_to(&self, id: &str) -> Option<&str> {
        self.answered
            .iter()
            .rev()
            .find(|answered| answered.id() == id)
            .map(Answered::text)
    }

    fn reject_frame(&mut self, error: FrameError) {
        self.stats.rejected += 1;
        tracing::warn!(id = ?error.id, %error, "refused frame");
        if error.wants_reply() {
            self.transmit.push_back(error.to_call_error(D::VERSION));
        }
        self.push_event(Event::Rejected {
            id: error.id,
            kind: error.kind,
            reason: error.reason,
        });
    }

    fn reject_call(&mut self, id: String, violation: Violation) {
        self.stats.rejected += 1;
        tracing::warn!(%id, %violation, "refused CALL");
        let mut details = Map::new();
        if !violation.pointer.is_empty() {
            details.insert("pointer".into(), Value::String(violation.pointer.clone()));
        }
        self.transmit.push_back(frame::encode_call_error(
            D::VERSION,
            &id,
            violation.code(D::VERSION),
            &violation.reason,
            details,
        ));
        self.push_event(Event::Rejected {
            id: Some(id),
            kind: violation.kind,
            reason: violation.reason,
        });
    }

    fn handle_frame(&mut self, frame: Frame, now: Instant) {
        match frame {
            Frame::Call {
                id,
                action,
                payload,
            } => self.handle_call(id, &action, payload),
            Frame::Send {
                id,
                action,
                payload,
            } => self.handle_send(id, &action, payload),
            Frame::CallResult { id, payload } => {
                if let Some(call) = self.take_in_flight(&id, now) {
                    self.handle_result(id, call, payload);
                }
            }
            Frame::CallError(error) => {
                if let Some(action) = self.take_in_flight(&error.id, now) {
                    self.push_event(Event::Failed {
                        id: error.id.clone(),
                        action,
                        failure: CallFailure::CallError {
                            code: ErrorCode::parse(&error.code),
                            error,
                        },
                    });
                }
            }
            Frame::CallResultError(error) => {
                tracing::warn!(id = %error.id, code = %error.code, "peer rejected our CALLRESULT");
                self.push_event(Event::ResponseRejected(error));
            }
        }
    }

    fn handle_call(&mut self, id: String, action: &str, payload: Value) {
        if self.pending.contains_key(&id) {
            self.stats.duplicates += 1;
            tracing::warn!(%id, action, "duplicate CALL while the first is processed; dropped");
            return;
        }
        if let Some(text) = self.answer_to(&id) {
            let text = text.to_string();
            self.stats.duplicates += 1;
            tracing::info!(%id, action, "repeated CALL; sending the same answer again");
            self.transmit.push_back(text);
            return;
        }
        let Some(known) = D::action(action) else {
            let v = Violation::new(
                FailureKind::UnknownAction,
                "",
                format!("action {action:?} is not defined in OCPP {}", D::VERSION),
            );
            return self.reject_call(id, v);
        };
        if D::is_send(known) || !self.config.role.may_receive(D::initiator(known)) {
            let v = Violation::new(
                FailureKind::WrongDirection,
                "",
                format!("{action} is not sent to a {:?} as a CALL", self.config.role),
            );
            return self.reject_call(id, v);
        }
        match codec::decode_request::<D>(action, payload, self.config.mode) {
            Ok(Decoded {
                message,
                violations,
            }) => {
                self.pending.insert(id.clone(), known);
                self.push_event(Event::Call {
                    id,
                    request: message,
                    violations,
                });
            }
            Err(violation) => self.reject_call(id, violation),
        }
    }

    fn handle_send(&mut self, id: String, action: &str, payload: Value) {
        // A SEND is never answered, not even with an error.
        let known = D::action(action).filter(|a| D::is_send(*a));
        let decoded = match known {
            Some(_) => codec::decode_request::<D>(action, payload, self.config.mode),
            None => Err(Violation::new(
                FailureKind::UnknownAction,
                "",
                format!("{action:?} is not a SEND action of OCPP {}", D::VERSION),
            )),
        };
        match decoded {
            Ok(Decoded {
                message,
                violations,
            }) => self.push_event(Event::Send {
                id,
                request: message,
                violations,
            }),
            Err(violation) => {
                self.stats.rejected += 1;
                tracing::warn!(%id, %violation, "refused SEND");
                self.push_event(Event::Rejected {
                    id: Some(id),
                    kind: violation.kind,
                    reason: violation.reason,
                });
            }
        }
    }

    /// Removes the CALL an answer refers to; logs and drops answers with unknown ids.
    fn take_in_flight(&mut self, id: &str, now: Instant) -> Option<D::Action> {
        match self.in_flight.remove(id) {
            Some(call) => {
                self.pump(now);
                Some(call.action)
            }
            None => {
                self.stats.unmatched += 1;
                tracing::warn!(%id, "answer to no outstanding CALL; dropped");
                None
            }
        }
    }

    fn handle_result(&mut self, id: String, action: D::Action, payload: Value) {
        match codec::decode_response::<D>(action, payload, self.config.mode) {
            Ok(Decoded {
                message,
                violations,
            }) => self.push_event(Event::Response {
                id,
                response: message,
                violations,
            }),
            Err(violation) => {
                tracing::warn!(%id, %action, %violation, "invalid CALLRESULT");
                if D::VERSION.has_send() {
                    let error = Frame::CallResultError(ErrorFrame {
                        id: id.clone(),
                        code: violation.code(D::VERSION).as_str(D::VERSION).to_string(),
                        description: violation.reason.clone(),
                        details: Map::new(),
                    });
                    self.transmit.push_back(error.encode());
                }
                self.push_event(Event::Failed {
                    id,
                    action,
                    failure: CallFailure::InvalidResponse(violation),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests;
