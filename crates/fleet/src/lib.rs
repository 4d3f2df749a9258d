//! A load generator for OCPP central systems: tens of thousands of lightweight simulated
//! stations in one process, each a real OCPP-J client over its own WebSocket, driven by the
//! same sans-I/O protocol core as every other part of joule.
//!
//! Each station is one task owning its socket and session ([`station`]). It connects at its
//! place in a boot storm of `ramp_per_s` stations per second (with jitter), boots, reports its
//! connectors and then follows a seeded [`workload::Plan`] of heartbeats, status changes and
//! charging sessions, or, in saturation, keeps one CALL in flight all the time. Latencies go into
//! HDR histograms per action, measured from each CALL's intended send time ([`measure`]); the
//! run ends with a [`Report`].
//!
//! ```no_run
//! # async fn example() -> Result<(), fleet::FleetError> {
//! use proto_ocpp::OcppVersion;
//! let config = fleet::FleetConfig::new("ws://127.0.0.1:9000/ocpp", 1000, OcppVersion::V16);
//! let report = fleet::start(config).await?.finish().await;
//! assert_eq!(report.errors, 0);
//! # Ok(()) }
//! ```

pub mod config;
mod connect;
mod dialect;
pub mod limits;
pub mod measure;
pub mod report;
mod station;
pub mod workload;

pub use config::{FleetConfig, Workload, parse_duration};
pub use limits::FileLimit;
pub use measure::{Percentiles, Progress, Recorder};
pub use report::Report;

use proto_ocpp::{OcppVersion, v16, v21, v201};
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Why a fleet could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FleetError {
    /// A setting is invalid.
    #[error("{0}")]
    Config(String),
    /// The central system's host could not be resolved.
    #[error("cannot resolve the central system: {0}")]
    Resolve(String),
}

/// What every station of a run shares.
#[derive(Debug)]
pub(crate) struct Shared {
    config: FleetConfig,
    target: connect::Target,
    recorder: Arc<Recorder>,
    stop: watch::Receiver<bool>,
}

/// A fleet that is running.
#[derive(Debug)]
pub struct Running {
    recorder: Arc<Recorder>,
    config: FleetConfig,
    source_addresses: usize,
    file_limit: Option<FileLimit>,
    stop: Arc<watch::Sender<bool>>,
    stations: JoinHandle<()>,
}

/// Watches and stops a running fleet while [`Running::finish`] waits for it.
#[derive(Debug, Clone)]
pub struct Monitor {
    recorder: Arc<Recorder>,
    stop: Arc<watch::Sender<bool>>,
}

impl Monitor {
    /// A live view, for a progress display.
    pub fn progress(&self) -> Progress {
        self.recorder.progress()
    }

    /// Ends the run early: stations stop their open sessions and leave.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }
}

impl Running {
    /// A live view, for a progress display.
    pub fn progress(&self) -> Progress {
        self.recorder.progress()
    }

    /// A handle to watch and stop the run from elsewhere.
    pub fn monitor(&self) -> Monitor {
        Monitor {
            recorder: self.recorder.clone(),
            stop: self.stop.clone(),
        }
    }

    /// The open-file limit the run has, if the caller asked to raise it.
    pub fn file_limit(&self) -> Option<&FileLimit> {
        self.file_limit.as_ref()
    }

    /// Ends the run early: stations stop their open sessions and leave.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    /// Waits for every station to finish and reports.
    pub async fn finish(self) -> Report {
        if let Err(e) = self.stations.await {
            tracing::error!(error = %e, "the fleet's supervisor failed");
        }
        let elapsed = self.recorder.epoch().elapsed();
        Report::new(
            &self.config,
            self.recorder.totals(),
            elapsed,
            self.source_addresses,
            self.file_limit,
        )
    }
}

/// Starts a fleet without touching the open-file limit (for small fleets and tests).
pub async fn start(config: FleetConfig) -> Result<Running, FleetError> {
    start_with_limit(config, None).await
}

/// Starts a fleet; `file_limit` is what [`limits::raise_for`] achieved, kept for the report.
pub async fn start_with_limit(
    config: FleetConfig,
    file_limit: Option<FileLimit>,
) -> Result<Running, FleetError> {
    config.validate()?;
    let target = connect::Target::resolve(&config.csms_url, config.source_address_count()).await?;
    let epoch = Instant::now();
    let recorder = Arc::new(Recorder::new(
        u64::try_from(config.stations).unwrap_or(u64::MAX),
        epoch,
        config.ramp_end(),
        config.end(),
    ));
    let (stop, stopped) = watch::channel(false);
    let source_addresses = target.source_count();
    let shared = Arc::new(Shared {
        config: config.clone(),
        target,
        recorder: recorder.clone(),
        stop: stopped,
    });
    let stations = tokio::spawn(supervise(shared));
    Ok(Running {
        recorder,
        config,
        source_addresses,
        file_limit,
        stop: Arc::new(stop),
        stations,
    })
}

/// Spawns one task per station and waits for all of them.
async fn supervise(shared: Arc<Shared>) {
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..shared.config.stations {
        let shared = shared.clone();
        match shared.config.version {
            OcppVersion::V16 => tasks.spawn(station::run::<v16::V16>(shared, index)),
            OcppVersion::V201 => tasks.spawn(station::run::<v201::V201>(shared, index)),
            OcppVersion::V21 => tasks.spawn(station::run::<v21::V21>(shared, index)),
        };
    }
    while let Some(done) = tasks.join_next().await {
        if let Err(e) = done {
            tracing::error!(error = %e, "a station task failed");
        }
    }
}
