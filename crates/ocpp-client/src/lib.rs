//! The charging-station end of an OCPP-J connection: connects to `URL/{stationId}` offering one
//! OCPP version, then drives the sans-I/O [`Session`] on a tokio task. The application calls the
//! central system with [`Client::call`] and answers the central system's CALLs taken from
//! [`Client::next_call`].
//!
//! Reconnection policy belongs to the caller (the station and simulators decide how to back off);
//! a closed connection fails pending calls with [`ClientError::Closed`].

use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use proto_ocpp::session::{CallFailure, Config, Event, Role, Session};
use proto_ocpp::{Dialect, ErrorCode};
use serde_json::Map;
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Central-system URL without the station id, e.g. `ws://127.0.0.1:9000/ocpp`.
    pub url: String,
    /// Station identity, appended to the URL.
    pub station_id: String,
    /// Password for HTTP Basic authentication (security profile 1), if set for the station.
    pub password: Option<String>,
    /// How long a CALL may wait for its answer.
    pub call_timeout: Duration,
}

impl ClientConfig {
    /// Settings for `station_id` at `url` with a 30 s call timeout and no password.
    pub fn new(url: impl Into<String>, station_id: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            station_id: station_id.into(),
            password: None,
            call_timeout: Duration::from_secs(30),
        }
    }
}

/// Why a connection or a call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The WebSocket connection could not be opened.
    #[error("cannot connect: {0}")]
    Connect(String),
    /// The central system refused the connection with an HTTP status.
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

/// A CALL from the central system, to be answered once.
#[derive(Debug)]
pub struct IncomingCall<D: Dialect> {
    /// The request.
    pub request: D::Request,
    reply: oneshot::Sender<Answer<D>>,
}

type Answer<D> = Result<<D as Dialect>::Response, (ErrorCode, String)>;

impl<D: Dialect> IncomingCall<D> {
    /// Answers with `response`.
    pub fn respond(self, response: impl Into<D::Response>) {
        let _ = self.reply.send(Ok(response.into()));
    }

    /// Answers with a CALLERROR.
    pub fn reject(self, code: ErrorCode, description: impl Into<String>) {
        let _ = self.reply.send(Err((code, description.into())));
    }
}

enum Command<D: Dialect> {
    Call(
        D::Request,
        oneshot::Sender<Result<D::Response, ClientError>>,
    ),
    Close,
}

/// A live connection to a central system speaking dialect `D`.
#[derive(Debug)]
pub struct Client<D: Dialect> {
    commands: mpsc::Sender<Command<D>>,
    incoming: mpsc::Receiver<IncomingCall<D>>,
}

impl<D: Dialect> std::fmt::Debug for Command<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Call(request, _) => f.debug_tuple("Call").field(request).finish(),
            Command::Close => f.write_str("Close"),
        }
    }
}

impl<D: Dialect> Client<D> {
    /// Connects, negotiating `D`'s version, and starts the connection task.
    pub async fn connect(config: ClientConfig) -> Result<Self, ClientError> {
        let url = format!("{}/{}", config.url.trim_end_matches('/'), config.station_id);
        let mut request = url
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
            let credentials = base64::engine::general_purpose::STANDARD
                .encode(format!("{}:{password}", config.station_id));
            let value = format!("Basic {credentials}")
                .parse()
                .map_err(|_| ClientError::Connect("invalid credentials".into()))?;
            headers.insert("Authorization", value);
        }
        let (socket, response) = match tokio_tungstenite::connect_async(request).await {
            Ok(connected) => connected,
            Err(tungstenite::Error::Http(response)) => {
                return Err(ClientError::Refused(response.status().as_u16()));
            }
            Err(e) => return Err(ClientError::Connect(e.to_string())),
        };
        let chosen = response
            .headers()
            .get("Sec-WebSocket-Protocol")
            .and_then(|v| v.to_str().ok());
        proto_ocpp::accept(&offer, chosen)?;

        let mut session_config = Config::new(Role::ChargingStation);
        session_config.call_timeout = config.call_timeout;
        session_config.id_prefix = format!("{:08x}-", rand::random::<u32>());
        let (commands, inbox) = mpsc::channel(64);
        let (calls, incoming) = mpsc::channel(64);
        tokio::spawn(run::<D>(socket, Session::new(session_config), inbox, calls));
        Ok(Self { commands, incoming })
    }

    /// Calls the central system and waits for its answer.
    pub async fn call(&self, request: impl Into<D::Request>) -> Result<D::Response, ClientError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Call(request.into(), reply))
            .await
            .map_err(|_| ClientError::Closed)?;
        answer.await.map_err(|_| ClientError::Closed)?
    }

    /// The next CALL of the central system; `None` once the connection is closed.
    pub async fn next_call(&mut self) -> Option<IncomingCall<D>> {
        self.incoming.recv().await
    }

    /// Closes the connection.
    pub async fn close(self) {
        let _ = self.commands.send(Command::Close).await;
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn run<D: Dialect>(
    mut socket: Socket,
    mut session: Session<D>,
    mut inbox: mpsc::Receiver<Command<D>>,
    calls: mpsc::Sender<IncomingCall<D>>,
) {
    let mut waiting: HashMap<String, oneshot::Sender<Result<D::Response, ClientError>>> =
        HashMap::new();
    // Answers the application has still to give, by message id.
    let mut answers: futures_util::stream::FuturesUnordered<
        futures_util::future::BoxFuture<'static, (String, Option<Answer<D>>)>,
    > = futures_util::stream::FuturesUnordered::new();
    'connection: loop {
        // Send what is due and hand over what arrived, until both are drained.
        loop {
            while let Some(text) = session.poll_transmit() {
                if socket.send(Message::Text(text.into())).await.is_err() {
                    break 'connection;
                }
            }
            let Some(event) = session.poll_event() else {
                break;
            };
            match event {
                Event::Call { id, request, .. } => {
                    let (reply, answer) = oneshot::channel();
                    if calls.send(IncomingCall { request, reply }).await.is_err() {
                        let _ = session.respond_error(
                            &id,
                            ErrorCode::InternalError,
                            "station is shutting down",
                            Map::new(),
                        );
                        continue;
                    }
                    answers.push(Box::pin(async move { (id, answer.await.ok()) }));
                }
                Event::Response { id, response, .. } => {
                    if let Some(reply) = waiting.remove(&id) {
                        let _ = reply.send(Ok(response));
                    }
                }
                Event::Failed { id, failure, .. } => {
                    if let Some(reply) = waiting.remove(&id) {
                        let _ = reply.send(Err(ClientError::Call(failure)));
                    }
                }
                Event::Send { .. } | Event::ResponseRejected(_) | Event::Rejected { .. } => {}
            }
        }
        let deadline = session.poll_timeout().map(Instant::from_std);
        tokio::select! {
            received = socket.next() => match received {
                Some(Ok(Message::Text(text))) => session.handle_text(text.as_str(), Instant::now().into_std()),
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break 'connection,
                Some(Ok(_)) => {}
            },
            command = inbox.recv() => match command {
                Some(Command::Call(request, reply)) => match session.call(request, Instant::now().into_std()) {
                    Ok(id) => {
                        waiting.insert(id, reply);
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e.into()));
                    }
                },
                Some(Command::Close) | None => {
                    let _ = socket.close(None).await;
                    break 'connection;
                }
            },
            Some((id, answer)) = answers.next(), if !answers.is_empty() => {
                let result = match answer {
                    Some(Ok(response)) => session.respond(&id, response),
                    Some(Err((code, description))) => session.respond_error(&id, code, &description, Map::new()),
                    None => session.respond_error(&id, ErrorCode::InternalError, "no answer", Map::new()),
                };
                if let Err(e) = result {
                    tracing::warn!(%id, error = %e, "cannot answer the central system");
                }
            },
            () = sleep_until(deadline) => session.handle_timeout(Instant::now().into_std()),
        }
    }
    for (_, reply) in waiting.drain() {
        let _ = reply.send(Err(ClientError::Closed));
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
