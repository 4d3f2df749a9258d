//! `joule csms`: runs the central system until interrupted. Settings come from the defaults, then
//! the `--config` file, then the flags given on the command line.

use anyhow::{Context, Result};
use clap::Args;
use csms::CsmsConfig;
use csms::tls::TlsSettings;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Command-line settings of the central system; each overrides the configuration file.
#[derive(Debug, Args)]
pub struct CsmsArgs {
    /// Settings file (`.toml` or `.json`, see configs/csms.toml); flags override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address for station WebSocket connections, `ws://ADDR/ocpp/{stationId}` [default: 0.0.0.0:9000].
    #[arg(long)]
    ocpp_listen: Option<SocketAddr>,
    /// Address of the REST API [default: 0.0.0.0:8080].
    #[arg(long)]
    api_listen: Option<SocketAddr>,
    /// Database: `sqlite://PATH` (created if missing) or `postgres://USER@HOST/DB` [default: sqlite://joule.db].
    #[arg(long)]
    db: Option<String>,
    /// Key required in the `X-API-Key` header (repeatable or comma-separated); also JOULE_API_KEY.
    #[arg(long = "api-key", env = "JOULE_API_KEY", value_delimiter = ',')]
    api_keys: Vec<String>,
    /// Accept unknown stations and register them on first connection.
    #[arg(long)]
    auto_register: bool,
    /// Seconds between WebSocket pings; a station that misses a pong is disconnected [default: 60].
    #[arg(long)]
    ping_interval: Option<u64>,
    /// Seconds a CALL to a station may wait for its answer [default: 30].
    #[arg(long)]
    call_timeout: Option<u64>,
    /// Largest WebSocket message accepted from a station, in bytes [default: 262144].
    #[arg(long)]
    max_message_bytes: Option<usize>,
    /// Heartbeat interval given to stations, in seconds [default: 300].
    #[arg(long)]
    heartbeat_interval: Option<u64>,
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

impl CsmsArgs {
    fn into_config(self) -> Result<CsmsConfig> {
        let mut config = match &self.config {
            Some(path) => CsmsConfig::from_file(path)?,
            None => CsmsConfig::new(Vec::new()),
        };
        let secs = |s: u64| Duration::from_secs(s.max(1));
        if let Some(addr) = self.ocpp_listen {
            config.ocpp_listen = addr;
        }
        if let Some(addr) = self.api_listen {
            config.api_listen = addr;
        }
        if let Some(db) = self.db {
            config.db = db;
        }
        if !self.api_keys.is_empty() {
            config.api_keys = self.api_keys;
        }
        config.auto_register |= self.auto_register;
        config.ping_interval = self.ping_interval.map_or(config.ping_interval, secs);
        config.call_timeout = self.call_timeout.map_or(config.call_timeout, secs);
        config.max_message_bytes = self.max_message_bytes.unwrap_or(config.max_message_bytes);
        config.heartbeat_interval = self
            .heartbeat_interval
            .map_or(config.heartbeat_interval, Duration::from_secs);
        if let (Some(cert), Some(key)) = (self.tls_cert, self.tls_key) {
            config.tls = Some(TlsSettings {
                cert,
                key,
                client_ca: self.tls_client_ca,
                require_client_cert: self.require_client_cert,
            });
        }
        Ok(config)
    }
}

/// Runs the central system until Ctrl-C.
pub fn run(args: CsmsArgs) -> Result<ExitCode> {
    let config = args.into_config()?;
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
