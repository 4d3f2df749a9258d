//! The SECC (client) end of one charge point's connection.
//!
//! Besides the shared rules it judges the PECC by its status stream, never by Ping/Pong
//! (section 2.2): no `status` within the watch window gives [`Event::PeerUnresponsive`] once,
//! and the next `status` gives [`Event::PeerResponsive`]. It remembers the latest status and
//! configuration, and writes integers until a configuration response says `floatValues: true`
//! (section 10). Reconnecting every 10 s after a loss is the driver's job, with
//! [`super::RECONNECT_INTERVAL`].

use super::link::{Link, LinkConfig};
use super::{AnswerError, Event, REQUEST_TIMEOUT, SendError, Transmit};
use crate::messages::{
    ChargingSession, Configuration, EvConnection, Info, Message, Request, Response, Status,
};
use crate::schema::NumberMode;
use crate::types::{ErrorCategory, Kind, OperationalStatus, Side};
use std::time::{Duration, Instant};

/// Settings of an SECC connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeccConfig {
    /// How long the status stream may pause before the PECC counts as unresponsive (the
    /// specification gives no number; 1–5 s is the recommended range).
    pub status_timeout: Duration,
    /// How long our requests may await their answer (500 ms).
    pub request_timeout: Duration,
    /// How long the application may take to answer the PECC before `error/internal` goes back
    /// on its behalf.
    pub answer_within: Duration,
    /// How received numbers are read ([`NumberMode::Float`] accepts both forms).
    pub receive_mode: NumberMode,
}

impl Default for SeccConfig {
    fn default() -> Self {
        Self {
            status_timeout: Duration::from_millis(2000),
            request_timeout: REQUEST_TIMEOUT,
            answer_within: Duration::from_millis(450),
            receive_mode: NumberMode::Float,
        }
    }
}

/// The SECC end of a connection.
#[derive(Debug)]
pub struct SeccConnection {
    link: Link,
    config: SeccConfig,
    status: Option<(Status, Instant)>,
    status_deadline: Instant,
    unresponsive: bool,
    configuration: Option<Configuration>,
}

impl SeccConnection {
    /// A connection established at `now`; the first status is expected within the window.
    pub fn new(config: SeccConfig, now: Instant) -> Self {
        let link = Link::new(
            LinkConfig {
                side: Side::Secc,
                request_timeout: config.request_timeout,
                answer_within: config.answer_within,
                receive_mode: config.receive_mode,
            },
            NumberMode::Integer,
        );
        Self {
            link,
            config,
            status: None,
            status_deadline: now + config.status_timeout,
            unresponsive: false,
            configuration: None,
        }
    }

    /// Takes in one received text frame.
    pub fn handle_text(&mut self, text: &str, now: Instant) {
        match self.link.handle_text(text, now) {
            Some(Message::Info(Info::Status(status))) => {
                self.status = Some((status, now));
                self.status_deadline = now + self.config.status_timeout;
                if self.unresponsive {
                    self.unresponsive = false;
                    self.link.events.push_back(Event::PeerResponsive);
                }
            }
            Some(Message::Response {
                response: Response::Configuration(configuration),
                ..
            }) => {
                self.link.send_mode = if configuration.float_values == Some(true) {
                    NumberMode::Float
                } else {
                    NumberMode::Integer
                };
                self.configuration = Some(configuration);
            }
            _ => {}
        }
    }

    /// Advances the clocks to `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.link.handle_timeout(now);
        if !self.unresponsive && now >= self.status_deadline {
            self.unresponsive = true;
            self.link.events.push_back(Event::PeerUnresponsive);
        }
    }

    /// The next deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let watch = (!self.unresponsive).then_some(self.status_deadline);
        [watch, self.link.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
    }

    /// The next frame to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.link.poll_transmit()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.link.poll_event()
    }

    /// Sends `configuration`, `cableCheck`, `targetValues`, `contactorsStatus` or `reset`;
    /// returns its sequence number. Refused while another request is pending.
    pub fn send_request(&mut self, request: Request, now: Instant) -> Result<u32, SendError> {
        self.link.send_request(request, now)
    }

    /// Sends the EV connection state (on every change; `vehicleId` only with `connected`).
    pub fn send_ev_connection(&mut self, state: EvConnection) -> Result<(), SendError> {
        self.link.send_info(Info::EvConnectionState(state))
    }

    /// Sends EV session values (the changed ones suffice).
    pub fn send_charging_session(&mut self, session: ChargingSession) -> Result<(), SendError> {
        self.link.send_info(Info::ChargingSession(session))
    }

    /// Answers the PECC's request `sequence_number`.
    pub fn respond(&mut self, sequence_number: u32, response: Response) -> Result<(), AnswerError> {
        self.link.respond(sequence_number, response)
    }

    /// Answers the PECC's request `sequence_number` with an error (e.g. `value` for an unknown
    /// input identifier).
    pub fn respond_error(
        &mut self,
        sequence_number: u32,
        category: ErrorCategory,
        details: &str,
    ) -> Result<(), AnswerError> {
        self.link.respond_error(sequence_number, category, details)
    }

    /// The latest status and when it arrived.
    pub fn status(&self) -> Option<(Status, Instant)> {
        self.status
    }

    /// The latest configuration response.
    pub fn configuration(&self) -> Option<&Configuration> {
        self.configuration.as_ref()
    }

    /// Whether the PECC may be used now: its status stream is alive and it reports `operative`.
    /// A session must be aborted and none started while this is false (section 7.1).
    pub fn pecc_operative(&self) -> bool {
        !self.unresponsive
            && self
                .status
                .is_some_and(|(s, _)| s.operational_status == OperationalStatus::Operative)
    }

    /// Whether the status stream has stopped.
    pub fn pecc_unresponsive(&self) -> bool {
        self.unresponsive
    }

    /// How we write numbers now.
    pub fn send_mode(&self) -> NumberMode {
        self.link.send_mode
    }

    /// Our pending request, if any.
    pub fn pending(&self) -> Option<(u32, Kind)> {
        self.link.pending()
    }

    /// The number our next request gets.
    pub fn next_sequence_number(&self) -> u32 {
        self.link.next_sequence_number()
    }

    /// Sets the number our next request gets (1 … 2³¹ − 1; other values mean 1).
    pub fn set_next_sequence_number(&mut self, next: u32) {
        self.link.set_next_sequence_number(next);
    }
}
