//! The charging-station end of an OCPP-J connection: connects to `URL/{stationId}` offering one
//! OCPP version (over `ws://`, or `wss://` with a server CA and optionally a client certificate:
//! security profiles 1–3), then drives the sans-I/O [`Session`] on a tokio task. The application
//! calls the central system with [`Client::call`] (or a cloned [`Caller`]) and answers the central
//! system's CALLs taken from [`Client::next_call`].
//!
//! Answers and later calls leave in the order the application gave them: a CALLRESULT given
//! before a call is queued goes out first (OCPP 1.6 TriggerMessage: the confirmation precedes the
//! triggered message).
//!
//! Reconnection policy belongs to the caller (the station and simulators decide how to back off);
//! a closed connection fails pending calls with [`ClientError::Closed`].

mod connection;
pub mod tls;

use base64::Engine;
use proto_ocpp::session::{CallFailure, Config, Role, Session};
use proto_ocpp::{Dialect, ErrorCode};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, http};

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Central-system URL without the station id, e.g. `ws://127.0.0.1:9000/ocpp`.
    pub url: String,
    /// Station identity, appended to the URL (percent-encoded).
    pub station_id: String,
    /// Password for HTTP Basic authentication (security profiles 1 and 2). Bytes, because the
    /// OCPP 1.6 security whitepaper allows a binary AuthorizationKey.
    pub password: Option<Vec<u8>>,
    /// TLS settings for `wss://` URLs (server roots, optional client certificate).
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// How long a CALL may wait for its answer.
    pub call_timeout: Duration,
    /// How long the TCP, TLS and WebSocket handshakes may take together.
    pub connect_timeout: Duration,
    /// WebSocket ping period; the connection is declared dead when a whole period passes after a
    /// ping without any frame from the central system. `None` = no pings.
    pub ping_interval: Option<Duration>,
}

impl ClientConfig {
    /// Settings for `station_id` at `url` with a 30 s call timeout, no password, no TLS settings
    /// and no pings.
    pub fn new(url: impl Into<String>, station_id: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            station_id: station_id.into(),
            password: None,
            tls: None,
            call_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(30),
            ping_interval: None,
        }
    }

    /// The full URL: the endpoint, `/`, and the percent-encoded station id.
    pub fn station_url(&self) -> String {
        format!(
            "{}/{}",
            self.url.trim_end_matches('/'),
            percent_encode(&self.station_id)
        )
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Why a connection or a call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The WebSocket connection could not be opened.
    #[error("cannot connect: {0}")]
    Connect(String),
    /// The TLS handshake failed (certificate, version or cipher suite).
    #[error("TLS handshake failed: {0}")]
    Tls(String),
    /// The central system refused the connection with an HTTP status (401: bad credentials,
    /// 404: unknown station).
    #[error("the central system refused the connection: HTTP {0}")]
    Refused(u16),
    /// The central system chose no subprotocol, or another one than offered.
    #[error("subprotocol negotiation failed: {0}")]
    Negotiation(#[from] proto_ocpp::NegotiationError),
    /// The call could not be queued.
    #[error("cannot send: {0}")]
    Session(#[from] proto_ocpp::session::SessionError),
    /// The central system answered with a CALLERROR or an invalid response, or not in time.
    #[error("call failed: {0}")]
    Call(CallFailure),
    /// The connection is closed.
    #[error("the connection is closed")]
    Closed,
}

/// A CALL from the central system, to be answered once. Dropping it unanswered answers with a
/// CALLERROR InternalError.
#[derive(Debug)]
pub struct IncomingCall<D: Dialect> {
    /// The request.
    pub request: D::Request,
    id: String,
    commands: Option<mpsc::UnboundedSender<Command<D>>>,
}

type Answer<D> = Result<<D as Dialect>::Response, (ErrorCode, String)>;

impl<D: Dialect> IncomingCall<D> {
    /// The CALL's message id.
    pub fn message_id(&self) -> &str {
        &self.id
    }

    /// Answers with `response`.
    pub fn respond(mut self, response: impl Into<D::Response>) {
        self.answer(Ok(response.into()));
    }

    /// Answers with a CALLERROR.
    pub fn reject(mut self, code: ErrorCode, description: impl Into<String>) {
        self.answer(Err((code, description.into())));
    }

    fn answer(&mut self, answer: Answer<D>) {
        if let Some(commands) = self.commands.take() {
            let _ = commands.send(Command::Answer(std::mem::take(&mut self.id), answer));
        }
    }
}

impl<D: Dialect> Drop for IncomingCall<D> {
    fn drop(&mut self) {
        self.answer(Err((
            ErrorCode::InternalError,
            "the station could not answer".into(),
        )));
    }
}

enum Command<D: Dialect> {
    Call(
        D::Request,
        oneshot::Sender<Result<D::Response, ClientError>>,
    ),
    Answer(String, Answer<D>),
    Close,
}

impl<D: Dialect> std::fmt::Debug for Command<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Call(request, _) => f.debug_tuple("Call").field(request).finish(),
            Command::Answer(id, _) => f.debug_tuple("Answer").field(id).finish(),
            Command::Close => f.write_str("Close"),
        }
    }
}

/// A cloneable handle that calls the central system over a live connection.
#[derive(Debug)]
pub struct Caller<D: Dialect> {
    commands: mpsc::UnboundedSender<Command<D>>,
}

impl<D: Dialect> Clone for Caller<D> {
    fn clone(&self) -> Self {
        Self {
            commands: self.commands.clone(),
        }
    }
}

impl<D: Dialect> Caller<D> {
    /// Calls the central system and waits for its answer (or the call timeout).
    pub async fn call(&self, request: impl Into<D::Request>) -> Result<D::Response, ClientError> {
        self.submit(request).await
    }

    /// Queues the call now, so that calls submitted one after the other leave in that order
    /// whoever awaits them; the returned future waits for the answer.
    pub fn submit(
        &self,
        request: impl Into<D::Request>,
    ) -> impl Future<Output = Result<D::Response, ClientError>> + Send + 'static {
        let (reply, answer) = oneshot::channel();
        let queued = self
            .commands
            .send(Command::Call(request.into(), reply))
            .map_err(|_| ClientError::Closed);
        async move {
            queued?;
            answer.await.map_err(|_| ClientError::Closed)?
        }
    }

    /// Whether the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.commands.is_closed()
    }
}

/// A live connection to a central system speaking dialect `D`.
#[derive(Debug)]
pub struct Client<D: Dialect> {
    caller: Caller<D>,
    incoming: mpsc::Receiver<IncomingCall<D>>,
}

impl<D: Dialect> Client<D> {
    /// Connects, negotiating `D`'s version, and starts the connection task.
    pub async fn connect(config: ClientConfig) -> Result<Self, ClientError> {
        let limit = config.connect_timeout;
        match tokio::time::timeout(limit, Self::open(config)).await {
            Ok(result) => result,
            Err(_) => Err(ClientError::Connect(format!(
                "no connection within {} s",
                limit.as_secs()
            ))),
        }
    }

    async fn open(config: ClientConfig) -> Result<Self, ClientError> {
        let mut request = config
            .station_url()
            .as_str()
            .into_client_request()
            .map_err(|e| ClientError::Connect(e.to_string()))?;
        let offer = [D::VERSION];
        let headers = request.headers_mut();
        let protocol = proto_ocpp::offer(&offer)
            .parse()
            .map_err(|_| ClientError::Connect("invalid subprotocol header".into()))?;
        headers.insert("Sec-WebSocket-Protocol", protocol);
        if let Some(password) = &config.password {
            let mut credentials = format!("{}:", config.station_id).into_bytes();
            credentials.extend_from_slice(password);
            let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
            let value = format!("Basic {encoded}")
                .parse()
                .map_err(|_| ClientError::Connect("invalid credentials".into()))?;
            headers.insert("Authorization", value);
        }
        let uri = request.uri().clone();
        let secure = match uri.scheme_str() {
            Some("ws") => false,
            Some("wss") => true,
            other => {
                return Err(ClientError::Connect(format!(
                    "unsupported URL scheme {other:?}: use ws:// or wss://"
                )));
            }
        };
        let host = uri
            .host()
            .ok_or_else(|| ClientError::Connect("the URL has no host".into()))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
        let tcp = TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| ClientError::Connect(format!("{host}:{port}: {e}")))?;
        let _ = tcp.set_nodelay(true);
        // OCPP messages are small: modest buffers keep a connection cheap.
        let ws_config = WebSocketConfig::default()
            .read_buffer_size(8 * 1024)
            .write_buffer_size(0)
            .max_message_size(Some(1024 * 1024))
            .max_frame_size(Some(1024 * 1024));
        let (commands, inbox) = mpsc::unbounded_channel();
        let (calls, incoming) = mpsc::channel(64);
        let session = Session::new(session_config(&config));
        if secure {
            let tls = config.tls.clone().unwrap_or_else(tls::platform_default);
            let name = rustls_pki_types::ServerName::try_from(host.clone())
                .map_err(|e| ClientError::Tls(format!("{host}: {e}")))?;
            let stream = tokio_rustls::TlsConnector::from(tls)
                .connect(name, tcp)
                .await
                .map_err(|e| ClientError::Tls(e.to_string()))?;
            let (socket, response) =
                tokio_tungstenite::client_async_with_config(request, stream, Some(ws_config))
                    .await
                    .map_err(handshake_error)?;
            check_protocol(&offer, &response)?;
            let link = connection::Link::new(session, inbox, calls, commands.downgrade());
            tokio::spawn(link.run(socket, config.ping_interval));
        } else {
            let (socket, response) =
                tokio_tungstenite::client_async_with_config(request, tcp, Some(ws_config))
                    .await
                    .map_err(handshake_error)?;
            check_protocol(&offer, &response)?;
            let link = connection::Link::new(session, inbox, calls, commands.downgrade());
            tokio::spawn(link.run(socket, config.ping_interval));
        }
        Ok(Self {
            caller: Caller { commands },
            incoming,
        })
    }

    /// Calls the central system and waits for its answer.
    pub async fn call(&self, request: impl Into<D::Request>) -> Result<D::Response, ClientError> {
        self.caller.call(request).await
    }

    /// A handle for calling from other tasks.
    pub fn caller(&self) -> Caller<D> {
        self.caller.clone()
    }

    /// The next CALL of the central system; `None` once the connection is closed.
    pub async fn next_call(&mut self) -> Option<IncomingCall<D>> {
        self.incoming.recv().await
    }

    /// Closes the connection.
    pub async fn close(self) {
        let _ = self.caller.commands.send(Command::Close);
    }
}

fn session_config(config: &ClientConfig) -> Config {
    let mut session = Config::new(Role::ChargingStation);
    session.call_timeout = config.call_timeout;
    session.id_prefix = format!("{:08x}-", rand::random::<u32>());
    session
}

fn handshake_error(error: tungstenite::Error) -> ClientError {
    match error {
        tungstenite::Error::Http(response) => ClientError::Refused(response.status().as_u16()),
        e => ClientError::Connect(e.to_string()),
    }
}

fn check_protocol(
    offer: &[proto_ocpp::OcppVersion],
    response: &http::Response<Option<Vec<u8>>>,
) -> Result<(), ClientError> {
    let chosen = response
        .headers()
        .get("Sec-WebSocket-Protocol")
        .and_then(|v| v.to_str().ok());
    proto_ocpp::accept(offer, chosen)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn station_ids_are_percent_encoded_in_the_url() {
        let config = ClientConfig::new("ws://host:9000/ocpp/", "CP 1/ä");
        assert_eq!(config.station_url(), "ws://host:9000/ocpp/CP%201%2F%C3%A4");
        let plain = ClientConfig::new("ws://host/ocpp", "CP-001_a.b~c");
        assert_eq!(plain.station_url(), "ws://host/ocpp/CP-001_a.b~c");
    }
}
