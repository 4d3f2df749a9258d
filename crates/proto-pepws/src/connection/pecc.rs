//! The PECC (server) end of one charge point's connection.
//!
//! Besides the shared rules it keeps three clocks: the status cadence ([`Event::StatusDue`]
//! every 200 ms from the moment the connection is up, whatever happens), the liveness probe (a
//! WebSocket Ping every second), and the silence rule (no frame of any kind from the SECC for
//! 5 s → [`Event::PeerUnresponsive`], after which the connection is closed: the application
//! puts the charge point in standby and the driver drops the socket).

use super::link::{Link, LinkConfig};
use super::{
    AnswerError, Event, REQUEST_TIMEOUT, SECC_UNRESPONSIVE_TIMEOUT, STATUS_INTERVAL, SendError,
    Transmit,
};
use crate::messages::{EventInfo, Info, Request, Response, Status};
use crate::schema::NumberMode;
use crate::types::{ErrorCategory, Kind, Side};
use std::time::{Duration, Instant};

/// Settings of a PECC connection; the defaults are the specification's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeccConfig {
    /// Period of `info/status` (200 ms).
    pub status_interval: Duration,
    /// Silence after which the SECC counts as unresponsive (5 s).
    pub unresponsive_timeout: Duration,
    /// Period of the liveness Ping; `None` sends none (any received frame still counts).
    pub ping_interval: Option<Duration>,
    /// How long our own requests may await their answer (500 ms).
    pub request_timeout: Duration,
    /// How long the application may take to answer the SECC before `error/internal` goes back
    /// on its behalf (450 ms, inside the SECC's 500 ms).
    pub answer_within: Duration,
    /// How we write numbers: [`NumberMode::Float`] when we report `floatValues: true`.
    pub send_mode: NumberMode,
    /// How received numbers are read: [`NumberMode::Float`] accepts integers and fractions alike
    /// (the fact sheet's recommendation for a PECC).
    pub receive_mode: NumberMode,
}

impl Default for PeccConfig {
    fn default() -> Self {
        Self {
            status_interval: STATUS_INTERVAL,
            unresponsive_timeout: SECC_UNRESPONSIVE_TIMEOUT,
            ping_interval: Some(Duration::from_millis(1000)),
            request_timeout: REQUEST_TIMEOUT,
            answer_within: Duration::from_millis(450),
            send_mode: NumberMode::Float,
            receive_mode: NumberMode::Float,
        }
    }
}

/// The PECC end of a connection.
#[derive(Debug)]
pub struct PeccConnection {
    link: Link,
    config: PeccConfig,
    next_status: Instant,
    next_ping: Option<Instant>,
    last_heard: Instant,
    closed: bool,
}

impl PeccConnection {
    /// A connection accepted at `now`; its first status is due at once.
    pub fn new(config: PeccConfig, now: Instant) -> Self {
        let link = Link::new(
            LinkConfig {
                side: Side::Pecc,
                request_timeout: config.request_timeout,
                answer_within: config.answer_within,
                receive_mode: config.receive_mode,
            },
            config.send_mode,
        );
        Self {
            link,
            config,
            next_status: now,
            next_ping: config.ping_interval.map(|i| now + i),
            last_heard: now,
            closed: false,
        }
    }

    /// Takes in one received text frame.
    pub fn handle_text(&mut self, text: &str, now: Instant) {
        if self.closed {
            return;
        }
        self.last_heard = now;
        self.link.handle_text(text, now);
    }

    /// Takes in any other sign of life: a Pong, a Ping, a binary frame.
    pub fn handle_activity(&mut self, now: Instant) {
        if !self.closed {
            self.last_heard = now;
        }
    }

    /// Advances the clocks to `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        self.link.handle_timeout(now);
        if now >= self.next_status {
            self.link.events.push_back(Event::StatusDue);
            // Keep the cadence anchored: a late wake-up sends one status, not a burst.
            while self.next_status <= now {
                self.next_status += self.config.status_interval;
            }
        }
        if let (Some(at), Some(interval)) = (self.next_ping, self.config.ping_interval)
            && now >= at
        {
            self.link.push_transmit(Transmit::Ping);
            let mut next = at;
            while next <= now {
                next += interval;
            }
            self.next_ping = Some(next);
        }
        if now >= self.last_heard + self.config.unresponsive_timeout {
            self.closed = true;
            self.link.clear();
            self.link.events.push_back(Event::PeerUnresponsive);
        }
    }

    /// The next deadline, or `None` once closed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.closed {
            return None;
        }
        let silence = self.last_heard + self.config.unresponsive_timeout;
        [
            Some(self.next_status),
            self.next_ping,
            Some(silence),
            self.link.poll_timeout(),
        ]
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

    /// Answers the SECC's request `sequence_number`.
    pub fn respond(&mut self, sequence_number: u32, response: Response) -> Result<(), AnswerError> {
        self.link.respond(sequence_number, response)
    }

    /// Answers the SECC's request `sequence_number` with an error.
    pub fn respond_error(
        &mut self,
        sequence_number: u32,
        category: ErrorCategory,
        details: &str,
    ) -> Result<(), AnswerError> {
        self.link.respond_error(sequence_number, category, details)
    }

    /// Sends `getInput`, `setOutput` or `stopCharging`; returns its sequence number.
    pub fn send_request(&mut self, request: Request, now: Instant) -> Result<u32, SendError> {
        if self.closed {
            return Err(SendError::Closed);
        }
        self.link.send_request(request, now)
    }

    /// Sends the status (on [`Event::StatusDue`]).
    pub fn send_status(&mut self, status: Status) -> Result<(), SendError> {
        self.send_info(Info::Status(status))
    }

    /// Sends a vendor-specific event.
    pub fn send_event(&mut self, details: impl Into<String>) -> Result<(), SendError> {
        self.send_info(Info::Event(EventInfo {
            event_details: details.into(),
        }))
    }

    fn send_info(&mut self, info: Info) -> Result<(), SendError> {
        if self.closed {
            return Err(SendError::Closed);
        }
        self.link.send_info(info)
    }

    /// Our pending request, if any.
    pub fn pending(&self) -> Option<(u32, Kind)> {
        self.link.pending()
    }

    /// Whether the connection ended (the SECC went silent, or [`PeccConnection::close`]).
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Ends the connection: nothing more is sent, received or timed.
    pub fn close(&mut self) {
        self.closed = true;
        self.link.clear();
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
