//! Central-system settings: one typed struct, defaults in one place.

use std::net::SocketAddr;
use std::time::Duration;

/// How the central system runs.
#[derive(Debug, Clone)]
pub struct CsmsConfig {
    /// Where stations connect (`ws://HOST:PORT/ocpp/{stationId}`).
    pub ocpp_listen: SocketAddr,
    /// Where the REST API listens.
    pub api_listen: SocketAddr,
    /// `sqlite://PATH`, `sqlite::memory:` or `postgres://…`.
    pub db: String,
    /// Keys accepted in the `X-API-Key` header; there is no built-in default.
    pub api_keys: Vec<String>,
    /// Accept stations the database does not know, registering them on first connection.
    pub auto_register: bool,
    /// How often to ping each station; a station that does not answer before the next ping is
    /// disconnected and shown offline.
    pub ping_interval: Duration,
    /// How long a CALL to a station may wait for its answer.
    pub call_timeout: Duration,
    /// Largest WebSocket message accepted from a station, in bytes.
    pub max_message_bytes: usize,
    /// Heartbeat interval given to stations in the BootNotification answer.
    pub heartbeat_interval: Duration,
    /// TLS on the OCPP endpoint (`wss://`, security profiles 2 and 3); plain `ws://` when absent.
    pub tls: Option<crate::tls::TlsSettings>,
}

impl CsmsConfig {
    /// Defaults: OCPP on 0.0.0.0:9000, REST on 0.0.0.0:8080, SQLite `joule.db`.
    pub fn new(api_keys: Vec<String>) -> Self {
        Self {
            ocpp_listen: SocketAddr::from(([0, 0, 0, 0], 9000)),
            api_listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            db: "sqlite://joule.db".into(),
            api_keys,
            auto_register: false,
            ping_interval: Duration::from_secs(60),
            call_timeout: Duration::from_secs(30),
            max_message_bytes: 256 * 1024,
            heartbeat_interval: Duration::from_secs(300),
            tls: None,
        }
    }
}
