//! The joule central system (CSMS): accepts charging stations over OCPP-J WebSocket in OCPP 1.6,
//! 2.0.1 and 2.1, handles what they send, lets operators command them over a REST API, and keeps
//! stations, tokens, transactions and meter values in SQLite or PostgreSQL.
//!
//! [`start`] binds both listeners and serves until the returned [`Running`] is shut down.

pub mod api;
pub mod ca;
pub mod config;
pub mod connection;
pub mod handlers;
pub mod registry;
pub mod server;
pub mod store;
pub mod telemetry;
pub mod tls;

pub use config::CsmsConfig;

use registry::Registry;
use std::net::SocketAddr;
use std::sync::Arc;
use store::Store;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// State shared by every connection and API request.
#[derive(Debug)]
pub struct Ctx {
    /// The database.
    pub store: Store,
    /// Connected stations.
    pub registry: Registry,
    /// Settings.
    pub config: CsmsConfig,
    /// Signs station certificates.
    pub ca: ca::CertificateAuthority,
}

/// Milliseconds since the Unix epoch, from the wall clock.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Why the central system could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CsmsError {
    /// The database could not be opened or migrated.
    #[error("database: {0}")]
    Store(#[from] store::StoreError),
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The TLS settings are unusable.
    #[error("TLS: {0}")]
    Tls(#[from] tls::TlsError),
    /// The certificate authority could not be loaded or made.
    #[error("certificate authority: {0}")]
    Ca(#[from] ca::CaError),
    /// No API key was configured.
    #[error("no API key configured (give --api-key or JOULE_API_KEY)")]
    NoApiKey,
}

/// A running central system.
#[derive(Debug)]
pub struct Running {
    /// Where stations connect.
    pub ocpp_addr: SocketAddr,
    /// Where the REST API listens.
    pub api_addr: SocketAddr,
    /// Shared state.
    pub ctx: Arc<Ctx>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// Stops accepting, closes the listeners and waits for the servers to end.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Opens the database and starts the OCPP and REST servers.
pub async fn start(config: CsmsConfig) -> Result<Running, CsmsError> {
    if config.api_keys.iter().all(|k| k.is_empty()) {
        return Err(CsmsError::NoApiKey);
    }
    telemetry::install();
    let tls_config = config.tls.as_ref().map(tls::server_config).transpose()?;
    let store = Store::connect(&config.db).await?;
    let ocpp = bind(config.ocpp_listen)?;
    let api = bind(config.api_listen)?;
    let ocpp_addr = local(&ocpp, config.ocpp_listen)?;
    let api_addr = local(&api, config.api_listen)?;
    let ca = ca::CertificateAuthority::load_or_create(&store).await?;
    let ctx = Arc::new(Ctx {
        store,
        registry: Registry::default(),
        config,
        ca,
    });
    let (shutdown, signal) = watch::channel(false);
    let stop = |mut signal: watch::Receiver<bool>| async move {
        let _ = signal.wait_for(|stop| *stop).await;
    };
    let stations =
        server::router(ctx.clone()).into_make_service_with_connect_info::<tls::PeerIdentity>();
    let ocpp_task = match tls_config {
        Some(tls_config) => {
            let listener =
                tls::TlsListener::new(ocpp, tls_config).map_err(|source| CsmsError::Bind {
                    addr: ocpp_addr,
                    source,
                })?;
            let serving =
                axum::serve(listener, stations).with_graceful_shutdown(stop(signal.clone()));
            tokio::spawn(async move { log_end(serving.await) })
        }
        None => {
            let serving = axum::serve(ocpp, stations).with_graceful_shutdown(stop(signal.clone()));
            tokio::spawn(async move { log_end(serving.await) })
        }
    };
    let upkeep_task = tokio::spawn(telemetry::upkeep(stop(signal.clone())));
    let serving = axum::serve(api, api::router(ctx.clone())).with_graceful_shutdown(stop(signal));
    let api_task = tokio::spawn(async move { log_end(serving.await) });
    let tasks = vec![ocpp_task, api_task, upkeep_task];
    tracing::info!(%ocpp_addr, %api_addr, "central system running");
    Ok(Running {
        ocpp_addr,
        api_addr,
        ctx,
        shutdown,
        tasks,
    })
}

fn log_end(result: std::io::Result<()>) {
    if let Err(e) = result {
        tracing::error!(error = %e, "server failed");
    }
}

/// Connections the kernel may hold for us before they are accepted (it caps this at its own
/// limit, `net.core.somaxconn`). A boot storm brings thousands of stations at once; with the
/// usual 1,024 the surplus is dropped and each dropped station waits a second or more for its
/// SYN to be sent again.
const LISTEN_BACKLOG: u32 = 4096;

fn bind(addr: SocketAddr) -> Result<TcpListener, CsmsError> {
    let failed = |source| CsmsError::Bind { addr, source };
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(failed)?;
    // As `TcpListener::bind` does: a restarted central system can listen again at once.
    #[cfg(unix)]
    socket.set_reuseaddr(true).map_err(failed)?;
    socket.bind(addr).map_err(failed)?;
    socket.listen(LISTEN_BACKLOG).map_err(failed)
}

fn local(listener: &TcpListener, addr: SocketAddr) -> Result<SocketAddr, CsmsError> {
    listener
        .local_addr()
        .map_err(|source| CsmsError::Bind { addr, source })
}
