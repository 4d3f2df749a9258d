//! The joule power-cabinet controller (PECC): the server end of PEP-WS for the power cabinet of
//! a split DC charger, serving up to 72 charge points (6 SECCs × 12 guns) in one process.
//!
//! - [`server`]: one WebSocket path per charge point (`/GUN1` … by default), `/splitdash`, the
//!   admin API and `/health` on one listener.
//! - [`connection`]: one task per SECC connection driving `proto_pepws::PeccConnection`: the
//!   200 ms status stream, the 5 s silence rule, error replies, replacement of a busy path.
//! - [`cabinet`]: the control task owning the power backend and every [`chargepoint`] machine.
//! - [`chargepoint`]: the pure per-charge-point machine (section 14.2 of the fact sheet) with the
//!   standby state, the cable check and the limits.
//! - [`power`]: the power-backend trait, module sharing by demand, and the simulated stage.
//! - [`datamodel`]: per-gun parameters from JSON (seed 000's `datamodel_dispenser.json` loads).
//! - [`splitdash`]: the monitoring stream; [`api`]: the admin REST API; [`config`]: settings.
//!
//! [`start`] binds the listener and runs until [`Running::shutdown`], which puts every gun in
//! standby first.

pub mod api;
pub mod cabinet;
pub mod chargepoint;
pub mod config;
pub mod connection;
pub mod datamodel;
pub mod power;
pub mod server;
pub mod splitdash;

pub use config::PeccConfig;

use axum::serve::ListenerExt;
use cabinet::{CabinetCommand, CabinetHandle};
use chargepoint::{Level, Settings};
use connection::{ConnectionCommand, Slot};
use datamodel::{DataModel, DataModelError, GunParameters};
use power::sim::{SimControls, SimPowerStage};
use splitdash::Hub;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// State shared by the server's tasks.
#[derive(Debug)]
pub struct Shared {
    /// Settings.
    pub config: PeccConfig,
    /// The monitoring stream.
    pub hub: Hub,
    /// The control task.
    pub cabinet: CabinetHandle,
    /// Each gun's live SECC connection, gun 1 first.
    pub slots: Mutex<Vec<Option<Slot>>>,
    /// Numbers connections and monitoring clients.
    pub next_connection: AtomicU64,
    /// Set when the controller stops.
    pub stop: watch::Receiver<bool>,
}

/// Why the controller could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PeccError {
    /// The settings are inconsistent.
    #[error("configuration: {0}")]
    Config(String),
    /// The data model could not be loaded.
    #[error("data model: {0}")]
    DataModel(DataModelError),
    /// The listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

impl From<DataModelError> for PeccError {
    fn from(error: DataModelError) -> Self {
        PeccError::DataModel(error)
    }
}

/// A running controller.
#[derive(Debug)]
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Shared state.
    pub shared: Arc<Shared>,
    /// The simulated world, when the power stage is simulated.
    pub sim: Option<SimControls>,
    /// What loading the data model noted (aliases applied, deviations found).
    pub notes: Vec<String>,
    stop: watch::Sender<bool>,
    server: JoinHandle<()>,
}

impl Running {
    /// The WebSocket URL of gun `gun`.
    pub fn gun_url(&self, gun: u32) -> Option<String> {
        let path = self
            .shared
            .config
            .paths
            .get((gun as usize).checked_sub(1)?)?;
        Some(format!("ws://{}{path}", self.addr))
    }

    /// Closes every SECC connection, puts every gun in standby (waiting for the contactors to
    /// open), then stops the server.
    pub async fn shutdown(self) {
        let slots: Vec<Slot> = self
            .shared
            .slots
            .lock()
            .map(|mut slots| slots.iter_mut().filter_map(Option::take).collect())
            .unwrap_or_default();
        for slot in slots {
            let _ = slot.commands.send(ConnectionCommand::Replaced).await;
        }
        let _ = self.shared.cabinet.ask(CabinetCommand::Shutdown).await;
        let _ = self.stop.send(true);
        let _ = self.server.await;
    }
}

/// Loads the data model, starts the power stage and the control task, and serves.
pub async fn start(config: PeccConfig) -> Result<Running, PeccError> {
    config.validate().map_err(PeccError::Config)?;
    let builtin = GunParameters::builtin(hal::Watts(config.power.total_power()));
    let (model, notes) = match &config.data_model {
        Some(path) => {
            let loaded = DataModel::from_file(path, config.guns, &builtin)?;
            (loaded.model, loaded.notes)
        }
        None => (DataModel::uniform(config.guns, &builtin), Vec::new()),
    };
    let hub = Hub::new(config.splitdash.queue);
    for note in &notes {
        hub.log(Level::Warn, None, &format!("data model: {note}"));
    }
    let now = tokio::time::Instant::now().into_std();
    let config::PowerSettings::Sim(sim) = &config.power;
    let stage = SimPowerStage::new(sim.clone(), config.guns, now);
    let sim_controls = Some(stage.controls());
    let cabinet = cabinet::spawn(
        Box::new(stage),
        model,
        &Settings::default(),
        hub.clone(),
        config.link.control_interval,
        config.splitdash.diagnostics_interval,
    );
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| PeccError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| PeccError::Bind {
        addr: config.listen,
        source,
    })?;
    if config.admin_token.is_none() && !addr.ip().is_loopback() {
        tracing::warn!(%addr, "no adminToken: the admin API serves loopback clients only");
    }
    let (stop, stopped) = watch::channel(false);
    let shared = Arc::new(Shared {
        slots: Mutex::new((0..config.guns).map(|_| None).collect()),
        config,
        hub,
        cabinet,
        next_connection: AtomicU64::new(1),
        stop: stopped.clone(),
    });
    let app = server::router(shared.clone()).into_make_service_with_connect_info::<SocketAddr>();
    // PEP-WS messages are small and answered within 500 ms: never hold one back for Nagle's
    // algorithm (with delayed acknowledgements that costs up to 40 ms per message).
    let listener = listener.tap_io(|stream| {
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot disable Nagle's algorithm");
        }
    });
    let mut signal = stopped;
    let serving = axum::serve(listener, app).with_graceful_shutdown(async move {
        let _ = signal.wait_for(|stop| *stop).await;
    });
    let server = tokio::spawn(async move {
        if let Err(e) = serving.await {
            tracing::error!(error = %e, "server failed");
        }
    });
    tracing::info!(%addr, guns = shared.config.guns, "power-cabinet controller running");
    Ok(Running {
        addr,
        shared,
        sim: sim_controls,
        notes,
        stop,
        server,
    })
}
