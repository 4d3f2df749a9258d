//! The security log: every security event in a rolling buffer (A04.FR.04, "rolling format"), the
//! source of GetLog(SecurityLog) uploads and of SecurityEventNotifications.

use super::event;
use chrono::{DateTime, Utc};
use proto_ocpp::v16::SecurityEventNotificationRequest;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Longest event type SecurityEventNotification carries, in characters.
const MAX_TYPE: usize = 50;
/// Longest techInfo SecurityEventNotification carries, in characters.
const MAX_TECH_INFO: usize = 255;

/// One security event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityEvent {
    /// The event type, usually one of [`event`]'s constants (at most 50 characters).
    #[serde(rename = "type")]
    pub kind: String,
    /// When it happened.
    pub timestamp: DateTime<Utc>,
    /// Details (at most 255 characters); never secrets such as the AuthorizationKey.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tech_info: Option<String>,
}

impl SecurityEvent {
    /// Whether the central system must receive it (queued, guaranteed delivery).
    pub fn is_critical(&self) -> bool {
        event::is_critical(&self.kind)
    }

    /// The SecurityEventNotification reporting it.
    pub fn notification(&self) -> SecurityEventNotificationRequest {
        let mut request = SecurityEventNotificationRequest::new(
            self.kind.clone(),
            proto_ocpp::Timestamp::from(self.timestamp),
        );
        request.tech_info = self.tech_info.clone();
        request
    }
}

/// The rolling security log: the newest events up to a capacity; the oldest go first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityLog {
    #[serde(default = "default_capacity")]
    capacity: usize,
    #[serde(default)]
    events: VecDeque<SecurityEvent>,
}

fn default_capacity() -> usize {
    SecurityLog::DEFAULT_CAPACITY
}

impl Default for SecurityLog {
    fn default() -> Self {
        SecurityLog::new(SecurityLog::DEFAULT_CAPACITY)
    }
}

impl SecurityLog {
    /// The capacity of [`SecurityLog::default`].
    pub const DEFAULT_CAPACITY: usize = 1000;

    /// An empty log keeping at most `capacity` events (at least one).
    pub fn new(capacity: usize) -> SecurityLog {
        SecurityLog {
            capacity: capacity.max(1),
            events: VecDeque::new(),
        }
    }

    /// How many events it keeps.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Changes the capacity (at least one), dropping the oldest events beyond it.
    pub fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity.max(1);
        self.trim();
    }

    /// Events held.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether no event is held.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Logs an event of `kind` at `now`. The type is cut to 50 characters and `tech_info` to 255,
    /// as SecurityEventNotification allows. Returns the event, so the caller can queue its
    /// notification when it [is critical](SecurityEvent::is_critical).
    pub fn record(
        &mut self,
        kind: &str,
        now: DateTime<Utc>,
        tech_info: Option<&str>,
    ) -> SecurityEvent {
        let entry = SecurityEvent {
            kind: cut(kind, MAX_TYPE),
            timestamp: now,
            tech_info: tech_info.map(|info| cut(info, MAX_TECH_INFO)),
        };
        self.events.push_back(entry.clone());
        self.trim();
        entry
    }

    /// Empties the log and records [`event::SECURITY_LOG_WAS_CLEARED`], which it returns.
    pub fn clear(&mut self, now: DateTime<Utc>) -> SecurityEvent {
        self.events.clear();
        self.record(event::SECURITY_LOG_WAS_CLEARED, now, None)
    }

    /// Every event, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &SecurityEvent> {
        self.events.iter()
    }

    /// The events from `oldest` to `latest` (both inclusive, each open when absent), oldest
    /// first: the range a GetLog request asks for.
    pub fn between(
        &self,
        oldest: Option<DateTime<Utc>>,
        latest: Option<DateTime<Utc>>,
    ) -> impl Iterator<Item = &SecurityEvent> {
        self.events.iter().filter(move |e| {
            oldest.is_none_or(|t| e.timestamp >= t) && latest.is_none_or(|t| e.timestamp <= t)
        })
    }

    /// The events from `oldest` to `latest` as the text of a log file: one line per event,
    /// `<timestamp> <type>[ <techInfo>]`, the timestamp in RFC 3339 UTC with milliseconds.
    pub fn render(&self, oldest: Option<DateTime<Utc>>, latest: Option<DateTime<Utc>>) -> String {
        let mut text = String::new();
        for entry in self.between(oldest, latest) {
            text.push_str(&proto_ocpp::Timestamp::from(entry.timestamp).to_string());
            text.push(' ');
            text.push_str(&entry.kind);
            if let Some(info) = &entry.tech_info {
                text.push(' ');
                // One event per line, whatever the details hold.
                text.extend(info.chars().map(|c| if c.is_control() { ' ' } else { c }));
            }
            text.push('\n');
        }
        text
    }

    fn trim(&mut self) {
        while self.events.len() > self.capacity {
            self.events.pop_front();
        }
    }
}

/// The first `max` characters of `text`.
fn cut(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}
