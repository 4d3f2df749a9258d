//! Test support: a running central system on a fresh database, a scripted OCPP-J station over a
//! real WebSocket, and a minimal HTTP/1.1 client for the REST API.

#![allow(dead_code, clippy::print_stderr)]

use csms::{CsmsConfig, Running};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const API_KEY: &str = "test-key-0123456789";

/// A database URL for `backend` ("sqlite" or "postgres") with a fresh, empty database.
pub async fn fresh_db(backend: &str, name: &str) -> Option<String> {
    match backend {
        "sqlite" => {
            let path =
                std::env::temp_dir().join(format!("joule-csms-{name}-{}.db", std::process::id()));
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
            Some(format!("sqlite://{}", path.display()))
        }
        _ => postgres_db(name).await,
    }
}

/// Creates a uniquely named PostgreSQL database; `None` (after a notice) if the server is
/// unreachable and `JOULE_REQUIRE_POSTGRES` is not set.
async fn postgres_db(name: &str) -> Option<String> {
    let base = std::env::var("JOULE_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let db = format!("joule_csms_{name}_{}", std::process::id());
    let admin = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&base)
        .await;
    let admin = match admin {
        Ok(pool) => pool,
        Err(e) => {
            assert!(
                std::env::var("JOULE_REQUIRE_POSTGRES").as_deref() != Ok("1"),
                "PostgreSQL is required but unreachable at {base}: {e}"
            );
            eprintln!("skipping the PostgreSQL variant: {e}");
            return None;
        }
    };
    sqlx::query(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
        .execute(&admin)
        .await
        .expect("drop old test database");
    sqlx::query(&format!("CREATE DATABASE {db}"))
        .execute(&admin)
        .await
        .expect("create test database");
    let (prefix, _) = base.rsplit_once('/').expect("URL has a database");
    Some(format!("{prefix}/{db}"))
}

/// Drops the database `fresh_db("postgres", name)` created.
pub async fn drop_postgres_db(name: &str) {
    let base = std::env::var("JOULE_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let db = format!("joule_csms_{name}_{}", std::process::id());
    if let Ok(admin) = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&base)
        .await
    {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
            .execute(&admin)
            .await;
    }
}

/// Starts a central system on loopback ports with `db`.
pub async fn start(db: &str, tweak: impl FnOnce(&mut CsmsConfig)) -> Running {
    let mut config = CsmsConfig::new(vec![API_KEY.into()]);
    config.ocpp_listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.api_listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.db = db.to_string();
    config.auto_register = true;
    tweak(&mut config);
    csms::start(config).await.expect("central system starts")
}

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A scripted station.
pub struct Station {
    pub ws: Ws,
    pub protocol: Option<String>,
    next_id: u64,
}

/// Connects `station` offering `protocols`; returns the HTTP error status on refusal.
pub async fn connect(
    addr: SocketAddr,
    station: &str,
    protocols: &str,
    auth: Option<(&str, &str)>,
) -> Result<Station, u16> {
    let mut request = format!("ws://{addr}/ocpp/{station}")
        .into_client_request()
        .expect("request");
    if !protocols.is_empty() {
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", protocols.parse().expect("header"));
    }
    if let Some((user, password)) = auth {
        use base64::Engine;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        request.headers_mut().insert(
            "Authorization",
            format!("Basic {token}").parse().expect("header"),
        );
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((ws, response)) => Ok(Station {
            ws,
            protocol: response
                .headers()
                .get("Sec-WebSocket-Protocol")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            next_id: 1,
        }),
        Err(tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
        Err(e) => panic!("connect failed: {e}"),
    }
}

impl Station {
    /// Sends raw text.
    pub async fn send_text(&mut self, text: &str) {
        self.ws
            .send(Message::Text(text.into()))
            .await
            .expect("send");
    }

    /// The next text frame, answering nothing; `None` when the connection closes.
    pub async fn recv(&mut self) -> Option<Value> {
        loop {
            match tokio::time::timeout(Duration::from_secs(10), self.ws.next())
                .await
                .expect("frame within 10 s")
            {
                Some(Ok(Message::Text(text))) => {
                    return Some(serde_json::from_str(&text).expect("JSON frame"));
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => {}
            }
        }
    }

    /// Sends a CALL and returns the answer frame.
    pub async fn call(&mut self, action: &str, payload: Value) -> Value {
        let id = format!("st-{}", self.next_id);
        self.next_id += 1;
        self.call_with_id(&id, action, payload).await
    }

    /// Sends a CALL with a chosen message id and returns the answer frame.
    pub async fn call_with_id(&mut self, id: &str, action: &str, payload: Value) -> Value {
        self.send_text(&json!([2, id, action, payload]).to_string())
            .await;
        let answer = self.recv().await.expect("an answer");
        assert_eq!(answer[1], id, "answer to another message: {answer}");
        answer
    }

    /// Sends a CALL and returns the CALLRESULT payload, failing on a CALLERROR.
    pub async fn ok(&mut self, action: &str, payload: Value) -> Value {
        let answer = self.call(action, payload).await;
        assert_eq!(answer[0], 3, "{action} failed: {answer}");
        answer[2].clone()
    }
}

/// A minimal HTTP/1.1 request; returns status and JSON body.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).await.expect("API reachable");
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(key) = key {
        request.push_str(&format!("X-API-Key: {key}\r\n"));
    }
    if !body.is_empty() {
        request.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    request.push_str("\r\n");
    request.push_str(&body);
    stream
        .write_all(request.as_bytes())
        .await
        .expect("request sent");
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(40), stream.read_to_end(&mut raw))
        .await
        .expect("answer within 40 s")
        .expect("response read");
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").expect("HTTP response");
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    let body = decode_chunked(head, body);
    let json = if body.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&body).unwrap_or(Value::String(body))
    };
    (status, json)
}

fn decode_chunked(head: &str, body: &str) -> String {
    if !head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return body.to_string();
    }
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || after.len() < size {
            break;
        }
        out.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    out
}
