//! `joule csms`: runs the central system until interrupted.

use anyhow::{Context, Result};
use clap::Args;
use csms::CsmsConfig;
use csms::tls::TlsSettings;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Command-line settings of the central system.
#[derive(Debug, Args)]
pub struct CsmsArgs {
    /// Address for station WebSocket connections (`ws://ADDR/ocpp/{stationId}`).
    #[arg(long, default_value = "0.0.0.0:9000")]
    ocpp_listen: SocketAddr,
    /// Address of the REST API.
    #[arg(long, default_value = "0.0.0.0:8080")]
    api_listen: SocketAddr,
    /// Database: `sqlite://PATH` (created if missing) or `postgres://USER@HOST/DB`.
    #[arg(long, default_value = "sqlite://joule.db")]
    db: String,
    /// Key required in the `X-API-Key` header (repeatable); also read from JOULE_API_KEY.
    #[arg(long = "api-key", env = "JOULE_API_KEY", value_delimiter = ',')]
    api_keys: Vec<String>,
    /// Accept unknown stations and register them on first connection.
    #[arg(long)]
    auto_register: bool,
    /// Seconds between WebSocket pings; a station that misses a pong is disconnected.
    #[arg(long, default_value_t = 60)]
    ping_interval: u64,
    /// Seconds a CALL to a station may wait for its answer.
    #[arg(long, default_value_t = 30)]
    call_timeout: u64,
    /// Largest WebSocket message accepted from a station, in bytes.
    #[arg(long, default_value_t = 256 * 1024)]
    max_message_bytes: usize,
    /// Heartbeat interval given to stations, in seconds.
    #[arg(long, default_value_t = 300)]
    heartbeat_interval: u64,
    /// Serve `wss://` with this certificate chain (PEM); security profiles 2 and 3.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// Private key of the TLS certificate (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// CA certificates that sign station certificates (PEM): enables mutual TLS (profile 3), the
    /// certificate's common name must be the station id.
    #[arg(long, requires = "tls_cert")]
    tls_client_ca: Option<PathBuf>,
    /// Refuse stations that present no client certificate.
    #[arg(long, requires = "tls_client_ca")]
    require_client_cert: bool,
}

/// Runs the central system until Ctrl-C.
pub fn run(args: CsmsArgs) -> Result<ExitCode> {
    let mut config = CsmsConfig::new(args.api_keys);
    config.ocpp_listen = args.ocpp_listen;
    config.api_listen = args.api_listen;
    config.db = args.db;
    config.auto_register = args.auto_register;
    config.ping_interval = Duration::from_secs(args.ping_interval.max(1));
    config.call_timeout = Duration::from_secs(args.call_timeout.max(1));
    config.max_message_bytes = args.max_message_bytes;
    config.heartbeat_interval = Duration::from_secs(args.heartbeat_interval);
    config.tls = match (args.tls_cert, args.tls_key) {
        (Some(cert), Some(key)) => Some(TlsSettings {
            cert,
            key,
            client_ca: args.tls_client_ca,
            require_client_cert: args.require_client_cert,
        }),
        _ => None,
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let running = csms::start(config).await?;
        tracing::info!(ocpp = %running.ocpp_addr, api = %running.api_addr, "joule csms running");
        tokio::signal::ctrl_c()
            .await
            .context("cannot wait for Ctrl-C")?;
        tracing::info!("shutting down");
        running.shutdown().await;
        Ok(ExitCode::SUCCESS)
    })
}
