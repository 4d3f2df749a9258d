//! Test support: a running controller on 127.0.0.1:0, a scripted SECC over a real WebSocket,
//! a minimal HTTP client for the admin API, and a monitoring client.

#![allow(dead_code)]

use futures_util::{SinkExt, StreamExt};
use pecc::{PeccConfig, Running};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A controller for tests: loopback, `guns` guns, otherwise the defaults changed by `tweak`.
pub async fn start(guns: u32, tweak: impl FnOnce(&mut PeccConfig)) -> Running {
    let mut config = PeccConfig::new(guns).with_guns(guns);
    config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    tweak(&mut config);
    pecc::start(config).await.expect("controller starts")
}

/// Opens a WebSocket to `url` offering `protocols`; returns the socket and the chosen one.
pub async fn connect(url: &str, protocols: &str) -> (Ws, Option<String>) {
    let mut request = url.into_client_request().expect("request");
    if !protocols.is_empty() {
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_str(protocols).expect("header"),
        );
    }
    // Nagle off, as on the server: a small frame is never held back for an acknowledgement.
    let (ws, response) = tokio_tungstenite::connect_async_with_config(request, None, true)
        .await
        .expect("connects");
    let chosen = response
        .headers()
        .get("Sec-WebSocket-Protocol")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (ws, chosen)
}

/// A scripted SECC.
pub struct Secc {
    pub ws: Ws,
    seq: u32,
    /// Every status received, with its arrival time.
    pub statuses: Vec<(Instant, Value)>,
    /// Every event's details received.
    pub events: Vec<String>,
    /// Requests of the PECC received.
    pub pecc_requests: Vec<Value>,
    pub closed: bool,
}

impl Secc {
    pub async fn connect(url: &str) -> Self {
        let (ws, chosen) = connect(url, "pep1.5").await;
        assert_eq!(chosen.as_deref(), Some("pep1.5"));
        Self {
            ws,
            seq: 0,
            statuses: Vec::new(),
            events: Vec::new(),
            pecc_requests: Vec::new(),
            closed: false,
        }
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.expect("sent");
    }

    pub async fn send(&mut self, message: &Value) {
        self.send_text(&message.to_string()).await;
    }

    /// The next message that is not a status (statuses and events are recorded on the way).
    pub async fn next(&mut self) -> Option<Value> {
        loop {
            let frame = self.ws.next().await;
            let text = match frame {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    self.closed = true;
                    return None;
                }
                Some(Ok(_)) => continue,
            };
            let value: Value = serde_json::from_str(text.as_str()).expect("the PECC sends JSON");
            if value["kind"] == "status" && value["type"] == "info" {
                self.statuses
                    .push((Instant::now(), value["payload"].clone()));
                continue;
            }
            if value["kind"] == "event" && value["type"] == "info" {
                self.events.push(
                    value["payload"]["eventDetails"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                );
                continue;
            }
            return Some(value);
        }
    }

    /// Reads until the next status arrives and returns it.
    pub async fn next_status(&mut self) -> Value {
        let before = self.statuses.len();
        while self.statuses.len() == before {
            let other = self.ws.next().await;
            match other {
                Some(Ok(Message::Text(text))) => {
                    let value: Value = serde_json::from_str(text.as_str()).expect("JSON");
                    if value["kind"] == "status" {
                        self.statuses
                            .push((Instant::now(), value["payload"].clone()));
                    } else if value["kind"] == "event" {
                        self.events.push(
                            value["payload"]["eventDetails"]
                                .as_str()
                                .unwrap_or_default()
                                .to_string(),
                        );
                    } else if value["type"] == "request" {
                        self.pecc_requests.push(value);
                    }
                }
                Some(Ok(_)) => {}
                _ => panic!("connection ended while waiting for a status"),
            }
        }
        self.statuses[before].1.clone()
    }

    /// Reads statuses until one satisfies `done`, at most `limit` of (virtual) time.
    pub async fn status_until(&mut self, limit: Duration, done: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            let status = self.next_status().await;
            if done(&status) {
                return status;
            }
            assert!(
                start.elapsed() <= limit,
                "not within {limit:?}; last status {status}"
            );
        }
    }

    /// Sends a request and returns its reply (response or error).
    pub async fn request(&mut self, kind: &str, payload: Value) -> Value {
        self.seq += 1;
        let seq = self.seq;
        self.send(
            &json!({"type": "request", "kind": kind, "sequenceNumber": seq, "payload": payload}),
        )
        .await;
        self.reply_to(seq).await
    }

    /// The reply numbered `seq`.
    pub async fn reply_to(&mut self, seq: u32) -> Value {
        loop {
            let message = self
                .next()
                .await
                .expect("a reply before the connection ends");
            if message["type"] == "request" {
                self.pecc_requests.push(message);
                continue;
            }
            assert_eq!(
                message["sequenceNumber"], seq,
                "replies come in order: {message}"
            );
            return message;
        }
    }

    pub async fn info(&mut self, kind: &str, payload: Value) {
        self.send(&json!({"type": "info", "kind": kind, "payload": payload}))
            .await;
    }

    pub async fn target(&mut self, voltage: f64, current: f64, state: &str) -> Value {
        self.request(
            "targetValues",
            json!({"targetVoltage": voltage, "targetCurrent": current,
                   "batteryStateOfCharge": 50, "chargingState": state}),
        )
        .await
    }

    /// Configuration, contactors closed, cable check passed, pre-charge at 380 V and charge at
    /// `current` A: the gun ends up charging.
    pub async fn charge(&mut self, current: f64) {
        assert_eq!(
            self.request("configuration", json!({})).await["type"],
            "response"
        );
        assert_eq!(
            self.request("contactorsStatus", json!({"contactorsStatus": "closed"}))
                .await["type"],
            "response"
        );
        self.status_until(Duration::from_secs(1), |s| {
            s["contactorsStatus"] == "closed"
        })
        .await;
        assert_eq!(
            self.request("cableCheck", json!({"voltage": 400})).await["type"],
            "response"
        );
        let status = self
            .status_until(Duration::from_secs(37), |s| {
                s["isolationStatus"] != "invalid"
            })
            .await;
        assert_eq!(status["isolationStatus"], "valid");
        assert_eq!(
            self.target(380.0, 2.0, "preCharge").await["type"],
            "response"
        );
        self.status_until(Duration::from_secs(4), |s| {
            (s["measuredVoltage"].as_f64().unwrap_or(0.0) - 380.0).abs() <= 10.0
        })
        .await;
        assert_eq!(
            self.target(400.0, current, "charge").await["type"],
            "response"
        );
        self.status_until(Duration::from_secs(3), |s| {
            (s["measuredCurrent"].as_f64().unwrap_or(0.0) - current).abs() < 1.0
        })
        .await;
    }
}

pub fn is_standby(status: &Value) -> bool {
    status["contactorsStatus"] == "open"
        && status["measuredVoltage"]
            .as_f64()
            .is_some_and(|v| v <= 60.0)
        && status["measuredCurrent"] == 0.0
        && status["drivenVoltage"] == 0.0
        && status["drivenCurrent"] == 0.0
        && status["operationalStatus"] == "operative"
}

/// A minimal HTTP/1.1 request; returns the status code and the JSON body.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&Value>,
    token: Option<&str>,
) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).await.expect("connects");
    stream.set_nodelay(true).expect("Nagle off");
    let body = body.map(Value::to_string).unwrap_or_default();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("written");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("read");
    let text = String::from_utf8_lossy(&response);
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status line");
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (code, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// Gun `gun`'s status as the controller publishes it.
pub fn published_status(running: &Running, gun: u32) -> Value {
    let view = running.shared.cabinet.view(gun).expect("gun");
    serde_json::to_value(view.borrow().status).expect("status")
}

/// Waits (on virtual time) until gun `gun`'s published status satisfies `done`; returns how
/// long it took.
pub async fn published_until(
    running: &Running,
    gun: u32,
    limit: Duration,
    done: impl Fn(&Value) -> bool,
) -> Duration {
    let start = Instant::now();
    let mut view = running.shared.cabinet.view(gun).expect("gun").clone();
    let waited = tokio::time::timeout(limit, async {
        loop {
            let status = serde_json::to_value(view.borrow_and_update().status).expect("status");
            if done(&status) {
                return;
            }
            view.changed().await.expect("the control task runs");
        }
    })
    .await;
    assert!(
        waited.is_ok(),
        "not within {limit:?}: {}",
        published_status(running, gun)
    );
    start.elapsed()
}

/// Waits (on virtual time) until gun `gun`'s diagnostics satisfy `done`, and returns them.
pub async fn view_until(
    running: &Running,
    gun: u32,
    limit: Duration,
    done: impl Fn(&pecc::chargepoint::View) -> bool,
) -> pecc::chargepoint::View {
    let mut view = running.shared.cabinet.view(gun).expect("gun").clone();
    let found = tokio::time::timeout(limit, async {
        loop {
            let current = view.borrow_and_update().view.clone();
            if done(&current) {
                return current;
            }
            view.changed().await.expect("the control task runs");
        }
    })
    .await;
    found.unwrap_or_else(|_| {
        panic!(
            "not within {limit:?}: {:?}",
            running
                .shared
                .cabinet
                .view(gun)
                .map(|v| v.borrow().view.clone())
        )
    })
}

/// A scripted SECC whose socket is read by its own task, so every message is stamped with the
/// (virtual) time it arrived even while the test is busy elsewhere. Reading also answers the
/// PECC's Pings, as a live SECC's WebSocket does.
pub struct Recorder {
    sink: futures_util::stream::SplitSink<Ws, Message>,
    inbox: tokio::sync::mpsc::UnboundedReceiver<(Instant, Option<Value>)>,
    reader: tokio::task::JoinHandle<()>,
    seq: u32,
    /// Every status received, with its arrival time.
    pub statuses: Vec<(Instant, Value)>,
    /// Every event received (the whole message), with its arrival time.
    pub events: Vec<(Instant, Value)>,
    /// Whether the connection ended.
    pub closed: bool,
}

impl Recorder {
    /// Connects offering `pep1.5`.
    pub async fn connect(url: &str) -> Self {
        let (ws, chosen) = connect(url, "pep1.5").await;
        assert_eq!(chosen.as_deref(), Some("pep1.5"));
        Self::over(ws)
    }

    /// Records what arrives on `ws`.
    pub fn over(ws: Ws) -> Self {
        let (sink, mut stream) = ws.split();
        let (post, inbox) = tokio::sync::mpsc::unbounded_channel();
        let reader = tokio::spawn(async move {
            loop {
                match stream.next().await {
                    Some(Ok(Message::Text(text))) => {
                        let value: Value =
                            serde_json::from_str(text.as_str()).expect("the PECC sends JSON");
                        if post.send((Instant::now(), Some(value))).is_err() {
                            return;
                        }
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                        let _ = post.send((Instant::now(), None));
                        return;
                    }
                    Some(Ok(_)) => {}
                }
            }
        });
        Self {
            sink,
            inbox,
            reader,
            seq: 0,
            statuses: Vec::new(),
            events: Vec::new(),
            closed: false,
        }
    }

    pub async fn send_text(&mut self, text: &str) {
        self.sink.send(Message::text(text)).await.expect("sent");
    }

    pub async fn send_message(&mut self, message: Message) {
        self.sink.send(message).await.expect("sent");
    }

    pub async fn send(&mut self, message: &Value) {
        self.send_text(&message.to_string()).await;
    }

    /// The next message that is neither a status nor an event, with its arrival time; statuses
    /// and events are recorded on the way. `None` once the connection ended.
    pub async fn next_timed(&mut self) -> Option<(Instant, Value)> {
        loop {
            let Some((at, message)) = self.inbox.recv().await else {
                self.closed = true;
                return None;
            };
            let Some(value) = message else {
                self.closed = true;
                return None;
            };
            if value["type"] == "info" && value["kind"] == "status" {
                self.statuses.push((at, value["payload"].clone()));
            } else if value["type"] == "info" && value["kind"] == "event" {
                self.events.push((at, value));
            } else {
                return Some((at, value));
            }
        }
    }

    /// The next message that is neither a status nor an event.
    pub async fn next(&mut self) -> Option<Value> {
        self.next_timed().await.map(|(_, v)| v)
    }

    /// Takes in everything that has arrived so far without waiting; returns the other
    /// messages among it.
    pub fn drain(&mut self) -> Vec<Value> {
        let mut others = Vec::new();
        while let Ok((at, message)) = self.inbox.try_recv() {
            match message {
                None => self.closed = true,
                Some(value) if value["type"] == "info" && value["kind"] == "status" => {
                    self.statuses.push((at, value["payload"].clone()));
                }
                Some(value) if value["type"] == "info" && value["kind"] == "event" => {
                    self.events.push((at, value));
                }
                Some(value) => others.push(value),
            }
        }
        others
    }

    /// The next status to arrive.
    pub async fn next_status(&mut self) -> Value {
        let before = self.statuses.len();
        while self.statuses.len() == before {
            let (at, message) = self.inbox.recv().await.expect("the reader runs");
            let value = message.expect("connection ended while waiting for a status");
            if value["type"] == "info" && value["kind"] == "status" {
                self.statuses.push((at, value["payload"].clone()));
            } else if value["type"] == "info" && value["kind"] == "event" {
                self.events.push((at, value));
            }
        }
        self.statuses[before].1.clone()
    }

    /// Reads statuses until one satisfies `done`, at most `limit` of (virtual) time.
    pub async fn status_until(&mut self, limit: Duration, done: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            let status = self.next_status().await;
            if done(&status) {
                return status;
            }
            assert!(
                start.elapsed() <= limit,
                "not within {limit:?}; last status {status}"
            );
        }
    }

    /// Sends a request numbered on from the last and returns its reply with how long it took.
    pub async fn request_timed(&mut self, kind: &str, payload: Value) -> (Value, Duration) {
        self.seq += 1;
        let seq = self.seq;
        let sent = Instant::now();
        self.send(
            &json!({"type": "request", "kind": kind, "sequenceNumber": seq, "payload": payload}),
        )
        .await;
        let (at, reply) = self
            .next_timed()
            .await
            .expect("a reply before the connection ends");
        assert_eq!(
            reply["sequenceNumber"], seq,
            "replies come in order: {reply}"
        );
        (reply, at - sent)
    }

    /// Sends a request and returns its reply (response or error).
    pub async fn request(&mut self, kind: &str, payload: Value) -> Value {
        self.request_timed(kind, payload).await.0
    }

    pub async fn info(&mut self, kind: &str, payload: Value) {
        self.send(&json!({"type": "info", "kind": kind, "payload": payload}))
            .await;
    }

    pub async fn target(&mut self, voltage: f64, current: f64, state: &str) -> Value {
        self.request(
            "targetValues",
            json!({"targetVoltage": voltage, "targetCurrent": current,
                   "batteryStateOfCharge": 50, "chargingState": state}),
        )
        .await
    }

    /// Configuration, contactors closed, cable check passed, pre-charge at 380 V and charge at
    /// `current` A: the gun ends up charging.
    pub async fn charge(&mut self, current: f64) {
        assert_eq!(
            self.request("configuration", json!({})).await["type"],
            "response"
        );
        assert_eq!(
            self.request("contactorsStatus", json!({"contactorsStatus": "closed"}))
                .await["type"],
            "response"
        );
        self.status_until(Duration::from_secs(1), |s| {
            s["contactorsStatus"] == "closed"
        })
        .await;
        assert_eq!(
            self.request("cableCheck", json!({"voltage": 400})).await["type"],
            "response"
        );
        let status = self
            .status_until(Duration::from_secs(37), |s| {
                s["isolationStatus"] != "invalid"
            })
            .await;
        assert_eq!(status["isolationStatus"], "valid");
        assert_eq!(
            self.target(380.0, 2.0, "preCharge").await["type"],
            "response"
        );
        self.status_until(Duration::from_secs(4), |s| {
            (s["measuredVoltage"].as_f64().unwrap_or(0.0) - 380.0).abs() <= 10.0
        })
        .await;
        assert_eq!(
            self.target(400.0, current, "charge").await["type"],
            "response"
        );
        self.status_until(Duration::from_secs(3), |s| {
            (s["measuredCurrent"].as_f64().unwrap_or(0.0) - current).abs() < 1.0
        })
        .await;
    }

    /// The gaps between consecutive statuses.
    pub fn status_gaps(&self) -> Vec<Duration> {
        self.statuses.windows(2).map(|w| w[1].0 - w[0].0).collect()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// The error category, kind and number of a reply, for comparisons.
pub fn error_of(reply: &Value) -> (Option<&str>, Option<&str>, Option<u64>) {
    (
        reply["payload"]["errorCategory"].as_str(),
        reply["kind"].as_str(),
        reply["sequenceNumber"].as_u64(),
    )
}
