//! Opening a station's connection: a TCP socket bound to one of several loopback source
//! addresses (so more connections reach one central-system port than one address has ephemeral
//! ports), then the WebSocket handshake offering the station's OCPP version, with small buffers.

use crate::FleetError;
use proto_ocpp::OcppVersion;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, Uri};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Error as WsError};

/// A station's WebSocket.
pub(crate) type Socket = WebSocketStream<TcpStream>;

/// Bytes read from the socket at a time. OCPP messages are a few hundred bytes; tungstenite's
/// 128 KiB default, allocated for every connection, would cost more than the rest of a station.
const READ_BUFFER_BYTES: usize = 2048;

/// Largest message accepted from the central system.
const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// Where the stations connect.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// `ws://HOST:PORT/PATH`, without a trailing slash.
    base: String,
    /// The central system's address.
    addr: SocketAddr,
    /// Source addresses to spread connections over; empty to let the system choose.
    sources: Vec<IpAddr>,
}

impl Target {
    /// Resolves `url` (`ws://HOST:PORT/PATH`) once for the whole fleet and picks `sources`
    /// loopback source addresses when the central system is on an IPv4 loopback address.
    pub(crate) async fn resolve(url: &str, sources: u8) -> Result<Target, FleetError> {
        let bad = |reason: &str| FleetError::Config(format!("--csms {url:?}: {reason}"));
        let uri: Uri = url.parse().map_err(|_| bad("not a URL"))?;
        match uri.scheme_str() {
            Some("ws") => {}
            Some("wss") => return Err(bad("wss:// is not supported by the fleet; use ws://")),
            _ => return Err(bad("the URL must start with ws://")),
        }
        let host = uri.host().ok_or_else(|| bad("no host"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = uri.port_u16().unwrap_or(80);
        let mut addrs = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| FleetError::Resolve(format!("{host}:{port}: {e}")))?
            .collect::<Vec<_>>();
        addrs.sort_by_key(SocketAddr::is_ipv6);
        let addr = addrs
            .first()
            .copied()
            .ok_or_else(|| FleetError::Resolve(format!("{host}:{port}: no address")))?;
        let sources = match addr.ip() {
            IpAddr::V4(ip) if ip.is_loopback() => (1..=sources.max(1))
                .map(|n| IpAddr::V4(Ipv4Addr::new(127, 0, 0, n)))
                .collect(),
            _ => Vec::new(),
        };
        Ok(Target {
            base: url.trim_end_matches('/').to_string(),
            addr,
            sources,
        })
    }

    /// How many source addresses connections are spread over (0: the system's choice).
    pub(crate) fn source_count(&self) -> usize {
        self.sources.len()
    }

    /// Connects station `index` as `station_id` offering `version`.
    pub(crate) async fn connect(
        &self,
        index: usize,
        station_id: &str,
        version: OcppVersion,
    ) -> Result<Socket, ConnectError> {
        let stream = match self.sources.get(index % self.sources.len().max(1)) {
            Some(source) => {
                let socket = match source {
                    IpAddr::V4(_) => TcpSocket::new_v4(),
                    IpAddr::V6(_) => TcpSocket::new_v6(),
                }
                .map_err(ConnectError::Io)?;
                socket
                    .bind(SocketAddr::new(*source, 0))
                    .map_err(ConnectError::Io)?;
                socket.connect(self.addr).await.map_err(ConnectError::Io)?
            }
            None => TcpStream::connect(self.addr)
                .await
                .map_err(ConnectError::Io)?,
        };
        stream.set_nodelay(true).map_err(ConnectError::Io)?;
        let mut request = format!("{}/{station_id}", self.base)
            .into_client_request()
            .map_err(|e| ConnectError::Handshake(e.to_string()))?;
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static(version.subprotocol()),
        );
        let config = WebSocketConfig::default()
            .read_buffer_size(READ_BUFFER_BYTES)
            .write_buffer_size(0)
            .max_write_buffer_size(MAX_MESSAGE_BYTES * 2)
            .max_message_size(Some(MAX_MESSAGE_BYTES))
            .max_frame_size(Some(MAX_MESSAGE_BYTES));
        let (socket, response) = match tokio_tungstenite::client_async_with_config(
            request,
            stream,
            Some(config),
        )
        .await
        {
            Ok(done) => done,
            Err(WsError::Http(response)) => {
                return Err(ConnectError::Refused(response.status().as_u16()));
            }
            Err(WsError::Io(e)) => return Err(ConnectError::Io(e)),
            Err(e) => return Err(ConnectError::Handshake(e.to_string())),
        };
        let chosen = response
            .headers()
            .get("Sec-WebSocket-Protocol")
            .and_then(|v| v.to_str().ok());
        proto_ocpp::accept(&[version], chosen)
            .map_err(|e| ConnectError::Handshake(e.to_string()))?;
        Ok(socket)
    }
}

/// Why a station could not connect.
#[derive(Debug)]
pub(crate) enum ConnectError {
    /// The socket could not be made, bound or connected.
    Io(io::Error),
    /// The central system answered the upgrade with an HTTP status.
    Refused(u16),
    /// The WebSocket handshake or subprotocol negotiation failed.
    Handshake(String),
    /// The connection was not open within the connect timeout.
    Timeout,
}

impl ConnectError {
    /// A short reason under which failures are counted in the report.
    pub(crate) fn reason(&self) -> String {
        match self {
            ConnectError::Io(e) => io_reason(e),
            ConnectError::Refused(status) => format!("HTTP {status}"),
            ConnectError::Handshake(reason) => format!("handshake: {reason}"),
            ConnectError::Timeout => "timeout".into(),
        }
    }
}

/// Names the failures that limit a fleet's size after what runs out.
fn io_reason(error: &io::Error) -> String {
    match error.raw_os_error() {
        Some(24) => "too many open files (EMFILE): the open-file limit is reached".into(),
        Some(23) => "too many open files in the system (ENFILE)".into(),
        Some(99) => "no free local port (EADDRNOTAVAIL): add source addresses".into(),
        Some(98) => "local address in use (EADDRINUSE)".into(),
        Some(111) => "connection refused".into(),
        Some(104) => "connection reset".into(),
        Some(12) | Some(105) => "out of memory or buffer space".into(),
        _ => match error.kind() {
            io::ErrorKind::UnexpectedEof => "connection closed during the handshake".into(),
            _ => error.to_string(),
        },
    }
}

/// The close reason of a WebSocket error, for logs.
pub(crate) fn describe(error: &tungstenite::Error) -> String {
    match error {
        tungstenite::Error::Io(e) => io_reason(e),
        other => other.to_string(),
    }
}
