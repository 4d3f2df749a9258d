//! The SECC's view of its power electronics, sans I/O: the charging process states what it
//! wants (contactors, a cable check, target values, a reset), and the session turns that into
//! PEP-WS requests one at a time, keeps the PECC informed (`evConnectionState`,
//! `chargingSession`), answers the PECC's own requests, and reports what the PECC does.
//!
//! It sits on top of [`SeccConnection`] and across reconnections: the driver reports
//! [`SeccSession::handle_connected`] / [`SeccSession::handle_disconnected`], passes received text
//! and the time, and sends what [`SeccSession::poll_transmit`] yields. Requests are sequenced
//! by priority (configuration, reset, contactors, cable check, target values): a newer target
//! replaces an unsent one (only the latest matters), a request that timed out is sent again,
//! and one answered with an error is not repeated until the wish changes (the error is
//! reported instead). A lost connection drops every wish but the EV's state and session values:
//! the PECC is in standby by then, and the charging process decides whether to start over (the
//! session never closes contactors on its own after a reconnection).
//!
//! The PECC's `getInput` is answered from the inputs set with [`SeccSession::set_input`]
//! (unknown identifiers: `value` error); `setOutput` accepts the outputs declared with
//! [`SeccSession::declare_output`] and reports them; `stopCharging` is reported as
//! [`SessionEvent::StopRequested`] while a session runs, and answered in any case.

use crate::connection::{Event, SeccConfig, SeccConnection, Transmit};
use crate::messages::{
    CableCheck, ChargingSession, Configuration, ContactorsCommand, EvConnection, InputValues,
    Request, Response, Status, TargetValues,
};
use crate::types::{
    ContactorsStatus, ErrorCategory, EvConnectionState, IsolationStatus, Kind, OperationalStatus,
};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

/// Something the charging process should know.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionEvent {
    /// A connection is up (wishes are being sent again).
    Connected,
    /// The connection is down; the PECC goes to standby on its side.
    Disconnected,
    /// The PECC's limits arrived.
    Configuration(Configuration),
    /// The status stream stopped: treat the PECC as lost (abort charging).
    PeccUnresponsive,
    /// The status stream is back.
    PeccResponsive,
    /// The PECC asks to end the session gracefully.
    StopRequested,
    /// The PECC set these outputs.
    OutputsSet(Map<String, Value>),
    /// The PECC refused a request.
    Refused {
        /// The request's kind.
        kind: Kind,
        /// The category.
        category: ErrorCategory,
        /// The details.
        details: String,
    },
}

/// What the charging process wants; `None` fields have not been asked for.
#[derive(Debug, Clone, PartialEq, Default)]
struct Wishes {
    configuration: bool,
    reset: bool,
    contactors: Option<ContactorsStatus>,
    cable_check: Option<(u64, f64)>,
    target: Option<TargetValues>,
}

/// What the PECC has acknowledged (or refused: then it is not sent again).
#[derive(Debug, Clone, PartialEq, Default)]
struct Settled {
    contactors: Option<ContactorsStatus>,
    cable_check: Option<u64>,
    target: Option<TargetValues>,
}

/// The SECC's session with one charge point's power electronics.
#[derive(Debug)]
pub struct SeccSession {
    config: SeccConfig,
    connection: Option<SeccConnection>,
    wishes: Wishes,
    settled: Settled,
    /// The wish each pending request carries, to settle it when answered.
    in_flight: Option<(u32, InFlight)>,
    cable_checks: u64,
    ev: Option<EvConnection>,
    ev_sent: Option<EvConnection>,
    session: ChargingSession,
    session_unsent: ChargingSession,
    inputs: BTreeMap<String, Value>,
    outputs: BTreeMap<String, Value>,
    transmit: VecDeque<Transmit>,
    events: VecDeque<SessionEvent>,
}

#[derive(Debug, Clone, PartialEq)]
enum InFlight {
    Configuration,
    Reset,
    Contactors(ContactorsStatus),
    CableCheck(u64),
    Target(TargetValues),
}

impl SeccSession {
    /// A session with no connection yet.
    pub fn new(config: SeccConfig) -> Self {
        Self {
            config,
            connection: None,
            wishes: Wishes {
                configuration: true,
                ..Wishes::default()
            },
            settled: Settled::default(),
            in_flight: None,
            cable_checks: 0,
            ev: None,
            ev_sent: None,
            session: ChargingSession::default(),
            session_unsent: ChargingSession::default(),
            inputs: BTreeMap::new(),
            outputs: BTreeMap::new(),
            transmit: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The WebSocket is up (at `now`).
    pub fn handle_connected(&mut self, now: Instant) {
        self.connection = Some(SeccConnection::new(self.config, now));
        // The PECC starts every connection in standby: the EV's state is said again, the limits
        // asked again, and nothing else is wished for until the charging process says so.
        self.wishes = Wishes::default();
        self.settled = Settled::default();
        self.in_flight = None;
        self.ev_sent = None;
        self.session_unsent = self.session;
        self.wishes.configuration = true;
        self.events.push_back(SessionEvent::Connected);
        self.pump(now);
    }

    /// The WebSocket is gone.
    pub fn handle_disconnected(&mut self) {
        if self.connection.take().is_some() {
            self.wishes = Wishes::default();
            self.in_flight = None;
            self.transmit.clear();
            self.events.push_back(SessionEvent::Disconnected);
        }
    }

    /// Takes in one received text frame.
    pub fn handle_text(&mut self, text: &str, now: Instant) {
        if let Some(connection) = &mut self.connection {
            connection.handle_text(text, now);
        }
        self.pump(now);
    }

    /// Advances the clocks.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(connection) = &mut self.connection {
            connection.handle_timeout(now);
        }
        self.pump(now);
    }

    /// The next deadline, if connected.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.connection
            .as_ref()
            .and_then(SeccConnection::poll_timeout)
    }

    /// The next frame to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmit.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }

    /// Wants the contactors closed or open (`closed` starts a charging procedure on the PECC).
    pub fn set_contactors(&mut self, closed: bool, now: Instant) {
        self.wishes.contactors = Some(if closed {
            ContactorsStatus::Closed
        } else {
            ContactorsStatus::Open
        });
        self.pump(now);
    }

    /// Asks for a cable check at the suggested `voltage` (the EV's maximum for CCS). Each call
    /// asks for a new one; the result arrives in the status's `isolationStatus`.
    pub fn request_cable_check(&mut self, voltage: f64, now: Instant) {
        self.cable_checks += 1;
        self.wishes.cable_check = Some((self.cable_checks, voltage));
        self.pump(now);
    }

    /// Wants these target values driven (the latest replaces any not yet sent).
    pub fn set_target(&mut self, target: TargetValues, now: Instant) {
        self.wishes.target = Some(target);
        self.pump(now);
    }

    /// Asks for a reset (back to standby); clears the contactor, cable-check and target wishes.
    pub fn reset(&mut self, now: Instant) {
        self.wishes = Wishes {
            configuration: self.wishes.configuration,
            reset: true,
            ..Wishes::default()
        };
        self.pump(now);
    }

    /// Asks for the PECC's limits again.
    pub fn request_configuration(&mut self, now: Instant) {
        self.wishes.configuration = true;
        self.pump(now);
    }

    /// The EV connection state; sent on every change (`vehicleId` only with `connected`).
    pub fn set_ev_connection(
        &mut self,
        state: EvConnectionState,
        vehicle_id: Option<String>,
        now: Instant,
    ) {
        self.ev = Some(EvConnection {
            ev_connection_state: state,
            vehicle_id: vehicle_id.filter(|_| state == EvConnectionState::Connected),
        });
        if state == EvConnectionState::Disconnected {
            self.session = ChargingSession::default();
            self.session_unsent = ChargingSession::default();
        }
        self.pump(now);
    }

    /// EV session values; only the changed ones are sent.
    pub fn update_charging_session(&mut self, update: ChargingSession, now: Instant) {
        let before = self.session;
        self.session.merge(&update);
        macro_rules! changed {
            ($($field:ident),+) => {
                $(if self.session.$field != before.$field {
                    self.session_unsent.$field = self.session.$field;
                })+
            };
        }
        changed!(
            charging_profile_max_power_limit_watts,
            time_to_full_soc_seconds,
            ev_min_voltage_volts,
            ev_max_voltage_volts,
            ev_min_current_amperes,
            ev_max_current_amperes,
            ev_min_power_watts,
            ev_max_power_watts,
            ev_min_discharge_current_amperes,
            ev_max_discharge_current_amperes,
            ev_min_discharge_power_watts,
            ev_max_discharge_power_watts,
            charge_mode
        );
        self.pump(now);
    }

    /// Sets an input the PECC may read with `getInput`.
    pub fn set_input(&mut self, identifier: &str, value: Value) {
        self.inputs.insert(identifier.to_string(), value);
    }

    /// Declares an output the PECC may set with `setOutput` (with its initial value).
    pub fn declare_output(&mut self, identifier: &str, value: Value) {
        self.outputs.insert(identifier.to_string(), value);
    }

    /// An output's value.
    pub fn output(&self, identifier: &str) -> Option<&Value> {
        self.outputs.get(identifier)
    }

    /// Whether a connection is up.
    pub fn connected(&self) -> bool {
        self.connection.is_some()
    }

    /// The latest status, if the stream is alive.
    pub fn status(&self) -> Option<Status> {
        let connection = self.connection.as_ref()?;
        if connection.pecc_unresponsive() {
            return None;
        }
        connection.status().map(|(status, _)| status)
    }

    /// Whether the PECC may be used: connected, its status stream alive, and `operative`.
    pub fn pecc_ready(&self) -> bool {
        self.status()
            .is_some_and(|s| s.operational_status == OperationalStatus::Operative)
    }

    /// The cable check's result as the PECC reports it (`invalid` until one has run).
    pub fn isolation(&self) -> IsolationStatus {
        self.status()
            .map_or(IsolationStatus::Invalid, |s| s.isolation_status)
    }

    /// The PECC's limits, once received on this connection.
    pub fn configuration(&self) -> Option<&Configuration> {
        self.connection.as_ref()?.configuration()
    }

    /// Whether every wish has been acknowledged (nothing left to send or awaiting an answer).
    pub fn settled(&self) -> bool {
        self.in_flight.is_none() && self.next_request().is_none() && self.connected()
    }

    /// Handles the connection's events, then sends what is due.
    fn pump(&mut self, now: Instant) {
        let Some(connection) = &mut self.connection else {
            return;
        };
        let events: Vec<Event> = std::iter::from_fn(|| connection.poll_event()).collect();
        let mut answers = Vec::new();
        for event in events {
            match event {
                Event::Request {
                    sequence_number,
                    request,
                } => answers.push((sequence_number, request)),
                Event::Response {
                    sequence_number,
                    response,
                } => {
                    if let Response::Configuration(c) = &response {
                        self.events
                            .push_back(SessionEvent::Configuration(c.clone()));
                    }
                    self.settle(sequence_number);
                }
                Event::ErrorReply(reply) => {
                    self.events.push_back(SessionEvent::Refused {
                        kind: reply.kind,
                        category: reply.category,
                        details: reply.details,
                    });
                    self.settle(reply.sequence_number);
                }
                Event::RequestTimedOut {
                    sequence_number, ..
                } => {
                    // Not settled: the wish stays and is sent again.
                    if self
                        .in_flight
                        .as_ref()
                        .is_some_and(|(n, _)| *n == sequence_number)
                    {
                        self.in_flight = None;
                    }
                }
                Event::PeerUnresponsive => self.events.push_back(SessionEvent::PeccUnresponsive),
                Event::PeerResponsive => self.events.push_back(SessionEvent::PeccResponsive),
                Event::Info(_)
                | Event::Malformed { .. }
                | Event::Ignored { .. }
                | Event::AnswerOverdue { .. }
                | Event::StatusDue => {}
            }
        }
        for (sequence_number, request) in answers {
            self.answer(sequence_number, request);
        }
        self.send_infos();
        if self.in_flight.is_none()
            && let Some(wish) = self.next_request()
            && let Some(connection) = &mut self.connection
        {
            let request = match &wish {
                InFlight::Configuration => Request::Configuration,
                InFlight::Reset => Request::Reset,
                InFlight::Contactors(c) => Request::ContactorsStatus(ContactorsCommand {
                    contactors_status: *c,
                }),
                InFlight::CableCheck(_) => Request::CableCheck(CableCheck {
                    voltage: self.wishes.cable_check.map_or(0.0, |(_, v)| v),
                }),
                InFlight::Target(t) => Request::TargetValues(*t),
            };
            match connection.send_request(request, now) {
                Ok(n) => self.in_flight = Some((n, wish)),
                Err(e) => {
                    // Our own wish breaks the schema (e.g. a negative target): drop it and say so.
                    self.events.push_back(SessionEvent::Refused {
                        kind: kind_of(&wish),
                        category: ErrorCategory::Format,
                        details: e.to_string(),
                    });
                    self.settle_wish(&wish);
                }
            }
        }
        if let Some(connection) = &mut self.connection {
            while let Some(t) = connection.poll_transmit() {
                self.transmit.push_back(t);
            }
        }
    }

    /// The wish to send next, by priority, if any differs from what the PECC has.
    fn next_request(&self) -> Option<InFlight> {
        let w = &self.wishes;
        let s = &self.settled;
        if w.configuration {
            return Some(InFlight::Configuration);
        }
        if w.reset {
            return Some(InFlight::Reset);
        }
        if let Some(c) = w.contactors
            && s.contactors != Some(c)
        {
            return Some(InFlight::Contactors(c));
        }
        if let Some((generation, _)) = w.cable_check
            && s.cable_check != Some(generation)
        {
            return Some(InFlight::CableCheck(generation));
        }
        if let Some(t) = w.target
            && s.target != Some(t)
        {
            return Some(InFlight::Target(t));
        }
        None
    }

    fn settle(&mut self, sequence_number: u32) {
        let Some((n, wish)) = self.in_flight.take() else {
            return;
        };
        if n != sequence_number {
            self.in_flight = Some((n, wish));
            return;
        }
        self.settle_wish(&wish);
    }

    /// Marks a wish as said (answered, or refused: not to be repeated until it changes).
    fn settle_wish(&mut self, wish: &InFlight) {
        match wish {
            InFlight::Configuration => self.wishes.configuration = false,
            InFlight::Reset => {
                self.wishes.reset = false;
                self.settled = Settled {
                    contactors: Some(ContactorsStatus::Open),
                    ..Settled::default()
                };
            }
            InFlight::Contactors(c) => self.settled.contactors = Some(*c),
            InFlight::CableCheck(g) => self.settled.cable_check = Some(*g),
            InFlight::Target(t) => self.settled.target = Some(*t),
        }
    }

    fn answer(&mut self, sequence_number: u32, request: Request) {
        let Some(connection) = &mut self.connection else {
            return;
        };
        let result = match request {
            Request::GetInput(get) => {
                let unknown: Vec<&String> = get
                    .input_identifiers
                    .iter()
                    .filter(|id| !self.inputs.contains_key(*id))
                    .collect();
                if unknown.is_empty() {
                    let values = get
                        .input_identifiers
                        .iter()
                        .filter_map(|id| Some((id.clone(), self.inputs.get(id)?.clone())))
                        .collect();
                    connection.respond(
                        sequence_number,
                        Response::GetInput(InputValues {
                            input_values: Some(values),
                        }),
                    )
                } else {
                    let details = format!("unknown inputs: {unknown:?}");
                    connection.respond_error(sequence_number, ErrorCategory::Value, &details)
                }
            }
            Request::SetOutput(set) => {
                let unknown: Vec<&String> = set
                    .output_values
                    .keys()
                    .filter(|id| !self.outputs.contains_key(*id))
                    .collect();
                if unknown.is_empty() {
                    for (id, value) in &set.output_values {
                        self.outputs.insert(id.clone(), value.clone());
                    }
                    self.events
                        .push_back(SessionEvent::OutputsSet(set.output_values.clone()));
                    connection.respond(sequence_number, Response::SetOutput)
                } else {
                    let details = format!("unknown outputs: {unknown:?}");
                    connection.respond_error(sequence_number, ErrorCategory::Value, &details)
                }
            }
            Request::StopCharging => {
                // Ignored without a session (section 6.8), but answered either way.
                if self.wishes.contactors == Some(ContactorsStatus::Closed) {
                    self.events.push_back(SessionEvent::StopRequested);
                }
                connection.respond(sequence_number, Response::StopCharging)
            }
            // The connection answers requests of the wrong direction itself.
            _ => Ok(()),
        };
        // Answering can only fail for a request already answered on our behalf.
        let _ = result;
    }

    fn send_infos(&mut self) {
        let Some(connection) = &mut self.connection else {
            return;
        };
        if self.ev != self.ev_sent
            && let Some(ev) = &self.ev
            && connection.send_ev_connection(ev.clone()).is_ok()
        {
            self.ev_sent = Some(ev.clone());
        }
        if self.session_unsent != ChargingSession::default()
            && connection
                .send_charging_session(self.session_unsent)
                .is_ok()
        {
            self.session_unsent = ChargingSession::default();
        }
    }
}

fn kind_of(wish: &InFlight) -> Kind {
    match wish {
        InFlight::Configuration => Kind::Configuration,
        InFlight::Reset => Kind::Reset,
        InFlight::Contactors(_) => Kind::ContactorsStatus,
        InFlight::CableCheck(_) => Kind::CableCheck,
        InFlight::Target(_) => Kind::TargetValues,
    }
}
