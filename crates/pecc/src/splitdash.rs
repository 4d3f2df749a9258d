//! `/splitdash`: a live stream of structured records for any number of monitoring clients.
//!
//! Every record is one JSON object in one text message, stamped with the wall-clock time in
//! milliseconds (`"ts": "2026-05-01T12:00:00.123Z"`) and a `type`: `log` (with `level`, `gun`
//! when it concerns one, and `message`), `frame` (a PEP-WS message received or sent on a gun,
//! status messages excepted), `diagnostics` (one gun's state, periodically) or `modules` (the
//! power modules' allocation).
//!
//! The control path publishes into a bounded broadcast queue and never waits: a client that
//! falls `queue` records behind, or whose socket takes longer than the send timeout, is dropped
//! (with a close frame saying so) while everyone else goes on.

use crate::chargepoint::Level;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

/// The close code sent to a client dropped for being slow (RFC 6455 §7.4.1: policy violation).
pub const SLOW_CLIENT_CLOSE_CODE: u16 = 1008;

/// The fan-out point of the records.
#[derive(Debug, Clone)]
pub struct Hub {
    records: broadcast::Sender<Arc<str>>,
}

impl Hub {
    /// A hub whose clients may fall `queue` records behind.
    pub fn new(queue: usize) -> Self {
        let (records, _) = broadcast::channel(queue.max(1));
        Self { records }
    }

    /// Whether any client listens (records are only built then).
    pub fn has_clients(&self) -> bool {
        self.records.receiver_count() > 0
    }

    /// How many clients listen.
    pub fn subscribers(&self) -> usize {
        self.records.receiver_count()
    }

    /// A new client's receiver.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<str>> {
        self.records.subscribe()
    }

    /// Publishes a record of `kind` with `fields`, stamping it. Never waits.
    pub fn publish(&self, kind: &str, fields: Map<String, Value>) {
        if !self.has_clients() {
            return;
        }
        let mut record = Map::new();
        record.insert("ts".into(), timestamp().into());
        record.insert("type".into(), kind.into());
        record.extend(fields);
        // A send error only means the last client left meanwhile.
        let _ = self.records.send(Value::Object(record).to_string().into());
    }

    /// Logs a message (through `tracing` as well) and publishes it.
    pub fn log(&self, level: Level, gun: Option<u32>, message: &str) {
        match (level, gun) {
            (Level::Info, Some(gun)) => tracing::info!(gun, "{message}"),
            (Level::Info, None) => tracing::info!("{message}"),
            (Level::Warn, Some(gun)) => tracing::warn!(gun, "{message}"),
            (Level::Warn, None) => tracing::warn!("{message}"),
            (Level::Error, Some(gun)) => tracing::error!(gun, "{message}"),
            (Level::Error, None) => tracing::error!("{message}"),
        }
        let mut fields = Map::new();
        fields.insert("level".into(), json!(level));
        if let Some(gun) = gun {
            fields.insert("gun".into(), gun.into());
        }
        fields.insert("message".into(), message.into());
        self.publish("log", fields);
    }

    /// Publishes a PEP-WS message of gun `gun` (`direction`: `received` or `sent`).
    pub fn frame(&self, gun: u32, direction: &str, text: &str) {
        if !self.has_clients() {
            return;
        }
        let message =
            serde_json::from_str::<Value>(text).unwrap_or_else(|_| Value::String(text.to_string()));
        let mut fields = Map::new();
        fields.insert("gun".into(), gun.into());
        fields.insert("direction".into(), direction.into());
        fields.insert("message".into(), message);
        self.publish("frame", fields);
    }
}

/// The wall-clock time in RFC 3339 with milliseconds, UTC.
fn timestamp() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// Serves one monitoring client until it leaves or is dropped.
pub async fn serve(mut socket: WebSocket, hub: Hub, send_timeout: Duration, client: u64) {
    let mut records = hub.subscribe();
    hub.log(
        Level::Info,
        None,
        &format!("splitdash client {client} connected"),
    );
    loop {
        tokio::select! {
            record = records.recv() => match record {
                Ok(text) => {
                    let sent = tokio::time::timeout(send_timeout, socket.send(Message::Text(text.as_ref().into()))).await;
                    match sent {
                        Ok(Ok(())) => {}
                        Ok(Err(_)) => break,
                        Err(_) => {
                            drop_slow(&mut socket, &hub, client, "a send took too long").await;
                            break;
                        }
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    drop_slow(&mut socket, &hub, client, &format!("{missed} records behind")).await;
                    break;
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            incoming = socket.recv() => match incoming {
                // Clients only listen; anything they send besides closing is ignored.
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
        }
    }
    tracing::debug!(client, "splitdash client gone");
}

async fn drop_slow(socket: &mut WebSocket, hub: &Hub, client: u64, why: &str) {
    hub.log(
        Level::Warn,
        None,
        &format!("splitdash client {client} dropped: {why}"),
    );
    let close = Message::Close(Some(CloseFrame {
        code: SLOW_CLIENT_CLOSE_CODE,
        reason: "too slow: dropped".into(),
    }));
    // A client too slow to read may not take the close frame either; do not wait for it.
    let _ = tokio::time::timeout(Duration::from_millis(100), socket.send(close)).await;
}
