//! The joule charging station: configuration, one task per gun driving its session machine over
//! its hardware, and the Live Controller HTTP API.

pub mod api;
pub mod config;
pub mod gun;
pub mod ocpp16;
pub mod pepws_link;
pub mod sim;

use charger::{Gun, GunConfig};
use gun::GunHandle;
use hal::{Amps, GunSettings, Volts, Watts};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the runtime needs to know about a gun.
#[derive(Debug, Clone, PartialEq)]
pub struct GunSpec {
    /// Gun number, from 1.
    pub gun: u32,
    /// Label shown to operators.
    pub label: String,
    /// Hardware backend name (`sim`, …).
    pub backend: String,
    /// Voltage limit.
    pub max_voltage: Volts,
    /// Current limit.
    pub max_current: Amps,
    /// Power limit.
    pub max_power: Watts,
    /// For backend `pepws`: the power cabinet's URL of this charge point (`ws://host:port/GUN1`).
    pub pecc_url: Option<String>,
}

/// Why the station could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StationError {
    /// A gun's hardware backend could not be created.
    #[error("gun {gun}: {source}")]
    Hardware {
        /// The gun.
        gun: u32,
        /// Why.
        source: hal::RegistryError,
    },
    /// The HTTP listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A `pepws` gun without the power cabinet's URL.
    #[error("gun {0}: backend pepws needs the power cabinet's URL (pecc_url)")]
    PeccUrlMissing(u32),
    /// The API would be reachable beyond this machine without a token.
    #[error("the HTTP API listens on {0}, beyond loopback: set an API token")]
    TokenRequired(SocketAddr),
}

/// A running station.
#[derive(Debug)]
pub struct Running {
    /// Where the HTTP API listens.
    pub http_addr: SocketAddr,
    /// The guns.
    pub guns: Vec<GunHandle>,
    shutdown: watch::Sender<bool>,
    server: JoinHandle<()>,
}

impl Running {
    /// Stops the HTTP API and waits for it.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.server.await;
    }
}

/// Starts one task per gun over its hardware backend.
pub fn spawn_guns(specs: &[GunSpec]) -> Result<Vec<GunHandle>, StationError> {
    let now = std::time::Instant::now();
    let mut guns = Vec::new();
    for spec in specs {
        let settings = GunSettings {
            gun: spec.gun,
            max_current: spec.max_current,
            max_power: spec.max_power,
            max_voltage: spec.max_voltage,
        };
        let error = |source| StationError::Hardware {
            gun: spec.gun,
            source,
        };
        let hardware: Box<dyn hal::GunHardware> = if spec.backend.eq_ignore_ascii_case("pepws") {
            let url = spec
                .pecc_url
                .clone()
                .ok_or(StationError::PeccUrlMissing(spec.gun))?;
            // The dispenser's own devices (pilot, lock) are simulated; power comes from the cabinet.
            let local = hal::create("sim", &settings, now).map_err(error)?;
            Box::new(hal::pepws::PepwsGun::new(
                settings.clone(),
                local,
                pepws_link::spawn(url),
                now,
            ))
        } else {
            hal::create(&spec.backend, &settings, now).map_err(error)?
        };
        let mut config = GunConfig::new(spec.max_voltage, spec.max_current, spec.max_power);
        config.delegated_cable_check = hardware.delegated_cable_check();
        let machine = Gun::new(config);
        guns.push(gun::spawn(spec.gun, spec.label.clone(), machine, hardware));
    }
    Ok(guns)
}

/// Starts one task per gun over its hardware backend and serves the HTTP API on `http`.
pub async fn start(
    specs: &[GunSpec],
    http: SocketAddr,
    token: Option<String>,
) -> Result<Running, StationError> {
    if token.is_none() && !http.ip().is_loopback() {
        return Err(StationError::TokenRequired(http));
    }
    let guns = spawn_guns(specs)?;
    let listener = TcpListener::bind(http)
        .await
        .map_err(|source| StationError::Bind { addr: http, source })?;
    let http_addr = listener
        .local_addr()
        .map_err(|source| StationError::Bind { addr: http, source })?;
    let app = Arc::new(api::App {
        guns: guns.clone(),
        token,
    });
    let (shutdown, mut signal) = watch::channel(false);
    let serving = axum::serve(listener, api::router(app)).with_graceful_shutdown(async move {
        let _ = signal.wait_for(|stop| *stop).await;
    });
    let server = tokio::spawn(async move {
        if let Err(e) = serving.await {
            tracing::error!(error = %e, "HTTP API failed");
        }
    });
    tracing::info!(%http_addr, guns = guns.len(), "station running");
    Ok(Running {
        http_addr,
        guns,
        shutdown,
        server,
    })
}
