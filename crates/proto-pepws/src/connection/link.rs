//! The part both ends share: request numbering, the pending-request slot, the peer's requests
//! awaiting an answer, the outgoing queue, and the routing of what arrives.

use super::{AnswerError, Event, SendError, Transmit};
use crate::codec;
use crate::messages::{ErrorReply, Info, Message, Request, Response};
use crate::schema::NumberMode;
use crate::sequence::SequenceCounter;
use crate::types::{ErrorCategory, Kind, MessageType, Side};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Our request awaiting its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pending {
    sequence_number: u32,
    kind: Kind,
    deadline: Instant,
}

/// A request of the peer awaiting the application's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Awaiting {
    sequence_number: u32,
    kind: Kind,
    deadline: Instant,
}

/// Settings both ends share.
#[derive(Debug, Clone, Copy)]
pub(super) struct LinkConfig {
    pub(super) side: Side,
    pub(super) request_timeout: Duration,
    pub(super) answer_within: Duration,
    pub(super) receive_mode: NumberMode,
}

#[derive(Debug)]
pub(super) struct Link {
    config: LinkConfig,
    /// How our numbers are written.
    pub(super) send_mode: NumberMode,
    counter: SequenceCounter,
    pending: Option<Pending>,
    awaiting: VecDeque<Awaiting>,
    transmit: VecDeque<Transmit>,
    pub(super) events: VecDeque<Event>,
}

impl Link {
    pub(super) fn new(config: LinkConfig, send_mode: NumberMode) -> Self {
        Self {
            config,
            send_mode,
            counter: SequenceCounter::default(),
            pending: None,
            awaiting: VecDeque::new(),
            transmit: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    pub(super) fn side(&self) -> Side {
        self.config.side
    }

    /// Decodes and routes one received text; returns the message when it is valid and meant for
    /// the application (already reported as an event), so the end can update its own state.
    pub(super) fn handle_text(&mut self, text: &str, now: Instant) -> Option<Message> {
        let message = match codec::decode(text, self.config.receive_mode) {
            Ok(message) => message,
            Err(error) => {
                let reply = error.reply();
                let answered = reply.is_some();
                if let Some(reply) = reply {
                    self.send_error(reply);
                }
                self.events.push_back(Event::Malformed { error, answered });
                return None;
            }
        };
        let peer = self.config.side.peer();
        let event = match &message {
            Message::Request {
                sequence_number,
                request,
            } => {
                let kind = request.kind();
                if kind.request_sender() != Some(peer) {
                    self.send_error(ErrorReply {
                        kind,
                        sequence_number: *sequence_number,
                        category: ErrorCategory::Generic,
                        details: format!("the {} does not serve {kind} requests", self.side()),
                    });
                    return self.ignore(
                        &message,
                        format!("{kind} requests come from the {}", self.side()),
                    );
                }
                self.awaiting.push_back(Awaiting {
                    sequence_number: *sequence_number,
                    kind,
                    deadline: now + self.config.answer_within,
                });
                Event::Request {
                    sequence_number: *sequence_number,
                    request: request.clone(),
                }
            }
            Message::Response {
                sequence_number,
                response,
            } => {
                if !self.settle(*sequence_number, response.kind(), false) {
                    return self.ignore(&message, self.unmatched(*sequence_number));
                }
                Event::Response {
                    sequence_number: *sequence_number,
                    response: response.clone(),
                }
            }
            Message::Error(reply) => {
                if !self.settle(reply.sequence_number, reply.kind, true) {
                    return self.ignore(&message, self.unmatched(reply.sequence_number));
                }
                Event::ErrorReply(reply.clone())
            }
            Message::Info(info) => {
                if info.kind().info_sender() != Some(peer) {
                    return self.ignore(
                        &message,
                        format!("{} infos come from the {}", info.kind(), self.side()),
                    );
                }
                Event::Info(info.clone())
            }
        };
        self.events.push_back(event);
        Some(message)
    }

    /// Frees the pending slot if this reply answers it. An error answers it by number, with the
    /// request's kind or, from a peer that could not read the kind, `error`.
    fn settle(&mut self, sequence_number: u32, kind: Kind, is_error: bool) -> bool {
        let matches = self.pending.is_some_and(|p| {
            p.sequence_number == sequence_number
                && (p.kind == kind || (is_error && kind == Kind::Error))
        });
        if matches {
            self.pending = None;
        }
        matches
    }

    fn unmatched(&self, sequence_number: u32) -> String {
        match self.pending {
            Some(p) if p.sequence_number == sequence_number => {
                format!(
                    "reply of the wrong kind for pending {} request {sequence_number}",
                    p.kind
                )
            }
            Some(p) => format!(
                "reply to {sequence_number}, but the pending request is {}",
                p.sequence_number
            ),
            None => format!("reply to {sequence_number}, but no request is pending (late?)"),
        }
    }

    fn ignore(&mut self, message: &Message, reason: String) -> Option<Message> {
        self.events.push_back(Event::Ignored {
            message_type: message.message_type(),
            kind: message.kind(),
            reason,
        });
        None
    }

    pub(super) fn send_request(
        &mut self,
        request: Request,
        now: Instant,
    ) -> Result<u32, SendError> {
        let kind = request.kind();
        if kind.request_sender() != Some(self.side()) {
            return Err(SendError::WrongDirection {
                side: self.side(),
                message_type: MessageType::Request,
                kind,
            });
        }
        if let Some(p) = self.pending {
            return Err(SendError::Busy {
                pending: p.sequence_number,
                kind: p.kind,
            });
        }
        let sequence_number = self.counter.peek();
        let text = codec::encode(
            &Message::Request {
                sequence_number,
                request,
            },
            self.send_mode,
        )?;
        self.counter.take();
        self.pending = Some(Pending {
            sequence_number,
            kind,
            deadline: now + self.config.request_timeout,
        });
        self.transmit.push_back(Transmit::Text(text));
        Ok(sequence_number)
    }

    pub(super) fn send_info(&mut self, info: Info) -> Result<(), SendError> {
        let kind = info.kind();
        if kind.info_sender() != Some(self.side()) {
            return Err(SendError::WrongDirection {
                side: self.side(),
                message_type: MessageType::Info,
                kind,
            });
        }
        let text = codec::encode(&Message::Info(info), self.send_mode)?;
        self.transmit.push_back(Transmit::Text(text));
        Ok(())
    }

    pub(super) fn respond(
        &mut self,
        sequence_number: u32,
        response: Response,
    ) -> Result<(), AnswerError> {
        let index = self.awaiting_index(sequence_number)?;
        let expected = self.awaiting[index].kind;
        if expected != response.kind() {
            return Err(AnswerError::KindMismatch {
                sequence_number,
                expected,
                given: response.kind(),
            });
        }
        let text = codec::encode(
            &Message::Response {
                sequence_number,
                response,
            },
            self.send_mode,
        )?;
        self.awaiting.remove(index);
        self.transmit.push_back(Transmit::Text(text));
        Ok(())
    }

    pub(super) fn respond_error(
        &mut self,
        sequence_number: u32,
        category: ErrorCategory,
        details: &str,
    ) -> Result<(), AnswerError> {
        let index = self.awaiting_index(sequence_number)?;
        let kind = self.awaiting[index].kind;
        self.awaiting.remove(index);
        self.send_error(ErrorReply {
            kind,
            sequence_number,
            category,
            details: details.to_string(),
        });
        Ok(())
    }

    fn awaiting_index(&self, sequence_number: u32) -> Result<usize, AnswerError> {
        self.awaiting
            .iter()
            .position(|a| a.sequence_number == sequence_number)
            .ok_or(AnswerError::NotAwaiting(sequence_number))
    }

    /// Queues an error reply. Error payloads are a category and a string, and the reply's number
    /// and kind come from a decoded request or a decode failure, so encoding cannot fail; if it
    /// ever did, the reply would be dropped and the peer's request would time out.
    fn send_error(&mut self, reply: ErrorReply) {
        if let Ok(text) = codec::encode(&Message::Error(reply), self.send_mode) {
            self.transmit.push_back(Transmit::Text(text));
        }
    }

    pub(super) fn push_transmit(&mut self, transmit: Transmit) {
        self.transmit.push_back(transmit);
    }

    pub(super) fn handle_timeout(&mut self, now: Instant) {
        if let Some(p) = self.pending
            && now >= p.deadline
        {
            self.pending = None;
            self.events.push_back(Event::RequestTimedOut {
                sequence_number: p.sequence_number,
                kind: p.kind,
            });
        }
        while let Some(index) = self.awaiting.iter().position(|a| now >= a.deadline) {
            let Some(overdue) = self.awaiting.remove(index) else {
                break;
            };
            self.send_error(ErrorReply {
                kind: overdue.kind,
                sequence_number: overdue.sequence_number,
                category: ErrorCategory::Internal,
                details: "not processed in time".into(),
            });
            self.events.push_back(Event::AnswerOverdue {
                sequence_number: overdue.sequence_number,
                kind: overdue.kind,
            });
        }
    }

    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        let pending = self.pending.map(|p| p.deadline);
        let awaiting = self.awaiting.iter().map(|a| a.deadline).min();
        [pending, awaiting].into_iter().flatten().min()
    }

    pub(super) fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmit.pop_front()
    }

    pub(super) fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    pub(super) fn pending(&self) -> Option<(u32, Kind)> {
        self.pending.map(|p| (p.sequence_number, p.kind))
    }

    pub(super) fn next_sequence_number(&self) -> u32 {
        self.counter.peek()
    }

    pub(super) fn set_next_sequence_number(&mut self, next: u32) {
        self.counter = SequenceCounter::starting_at(next);
    }

    /// Forgets everything in flight (the connection closed).
    pub(super) fn clear(&mut self) {
        self.pending = None;
        self.awaiting.clear();
        self.transmit.clear();
    }
}
