//! The station's OCPP 1.6J charge point.
//!
//! Two tasks: the connection task connects to `URL/{stationId}` (reconnecting with exponential
//! back-off and jitter, whether or not a session runs) and hands each live connection to the
//! agent; the agent owns every OCPP decision and all OCPP state of the station:
//!
//! - registration: BootNotification until Accepted, honouring Pending and Rejected and the
//!   interval; heartbeats; the station clock follows the central system's time;
//! - connectors: their status derived from the gun, plug, authorization, reservation and
//!   availability (`status`), reported after every change and in full after each Accepted boot;
//! - transactions: StartTransaction when a gun's session begins, MeterValues per
//!   MeterValueSampleInterval and ClockAlignedDataInterval, StopTransaction with its reason and
//!   transactionData; these go through the durable queue (`store`) and are delivered in order,
//!   one at a time, with TransactionMessageAttempts / TransactionMessageRetryInterval; a station
//!   killed mid-session ends the transaction after restart with reason PowerLoss;
//! - authorization: the local list, the cache and the §3.1 decisions (`cp16::auth`);
//! - the central system's requests of the Core, Local Auth List, Reservation and Remote Trigger
//!   profiles.
//!
//! - smart charging: Set/ClearChargingProfile and GetCompositeSchedule over
//!   `smart_charging::ProfileStore`, each gun's limit applied to its session as it changes;
//! - firmware management and logs: UpdateFirmware, SignedUpdateFirmware (signing certificate
//!   checked against the manufacturer roots, image signature verified), GetDiagnostics and GetLog
//!   as `cp16::transfer` jobs driven over HTTP(S) (`files`), with every status notification;
//! - the security whitepaper: the security log (critical events queued durably), certificate
//!   installation, deletion and listing, SignCertificate / CertificateSigned, ExtendedTrigger,
//!   TLS settings for profiles 2 and 3 from the certificate store (`cp16::security`).
//!
//! Installing a firmware image is simulated (accepted when the verified file is there): the
//! station does not replace its own program.

mod agent;
pub mod files;
pub mod status;
pub mod store;

use crate::gun::GunHandle;
use charger::SessionParams;
use chrono::{DateTime, Utc};
use ocpp_client::{Client, ClientConfig, ClientError};
use proto_ocpp::v16::V16;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::time::Instant;

pub use agent::ConnectorInfo;

/// How the station reaches its central system and presents itself.
#[derive(Debug, Clone)]
pub struct OcppSettings {
    /// Central-system URL without the station id (`ws://host:9000/ocpp`).
    pub url: String,
    /// Station identity.
    pub station_id: String,
    /// BootNotification vendor.
    pub vendor: String,
    /// BootNotification model.
    pub model: String,
    /// BootNotification firmware version.
    pub firmware_version: String,
    /// BootNotification serial number.
    pub serial_number: Option<String>,
    /// Parameters of sessions the central system or a user starts (the simulated vehicle's).
    pub session: SessionParams,
    /// The id tag of sessions started without authorization (free vend, the station's own HTTP
    /// API).
    pub free_vend_id_tag: String,
    /// Whether connectors sense the plug (simulated vehicles): a transaction then waits for both
    /// the plug and the authorization, and Finishing lasts until unplug.
    pub plug_sensing: bool,
    /// SQLite state file (queue, open transactions, keys, list, cache, reservations); `None`
    /// keeps nothing across restarts.
    pub state_file: Option<PathBuf>,
    /// Factory values of configuration keys (e.g. MeterValueSampleInterval = 60).
    pub keys: Vec<(String, String)>,
    /// TLS settings for `wss://`.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// What the station may draw in total (the ChargePointMaxProfile is shared within it).
    pub station_power: hal::Watts,
    /// Jitter of reported power, voltage and current, percent (simulated meters; 0 = none).
    pub meter_noise_percent: f64,
}

impl OcppSettings {
    /// Settings with the given URL and identity and defaults for everything else.
    pub fn new(url: impl Into<String>, station_id: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            station_id: station_id.into(),
            vendor: "joule".into(),
            model: "joule-dc".into(),
            firmware_version: env!("CARGO_PKG_VERSION").into(),
            serial_number: None,
            session: SessionParams {
                duration: Duration::from_secs(24 * 3600),
                ..SessionParams::seed_defaults()
            },
            free_vend_id_tag: "LOCAL".into(),
            plug_sensing: false,
            state_file: None,
            keys: Vec::new(),
            tls: None,
            station_power: hal::Watts(1_000_000.0),
            meter_noise_percent: 0.0,
        }
    }
}

/// Why the charge point could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OcppError {
    /// The state file failed.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// A configuration key preset was refused.
    #[error("configuration key {key}: {reason}")]
    Key {
        /// The key.
        key: String,
        /// Why.
        reason: String,
    },
}

/// Why a local command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LocalError {
    /// No such connector.
    #[error("unknown connector {0}")]
    UnknownConnector(u32),
    /// The connector cannot do that now.
    #[error("{0}")]
    Refused(String),
    /// The charge point has stopped.
    #[error("the charge point is not running")]
    Stopped,
}

/// A command from the station's own side (HTTP control of the simulator, local users).
#[derive(Debug)]
pub(crate) enum LocalCommand {
    Plug(u32, oneshot::Sender<Result<(), LocalError>>),
    Unplug(u32, oneshot::Sender<Result<(), LocalError>>),
    Start(u32, Option<String>, oneshot::Sender<Result<(), LocalError>>),
    Stop(u32, oneshot::Sender<Result<(), LocalError>>),
    SuspendEvse(u32, bool, oneshot::Sender<Result<(), LocalError>>),
    Info(oneshot::Sender<Info>),
}

/// What the charge point shows about itself.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Info {
    /// Station identity.
    pub station_id: String,
    /// Central-system URL.
    pub csms_url: String,
    /// Whether a connection is up.
    pub connected: bool,
    /// Registration state: `Offline`, `Booting`, `Pending`, `Rejected`, `Accepted`.
    pub registration: String,
    /// Transaction messages waiting for delivery.
    pub queued_messages: usize,
    /// Until when the charge point certificate (security profile 3) is valid, if one is
    /// installed.
    pub certificate_valid_until: Option<String>,
    /// The connectors.
    pub connectors: Vec<ConnectorInfo>,
}

/// The handle to a running charge point.
#[derive(Debug, Clone)]
pub struct ChargePoint {
    commands: mpsc::UnboundedSender<agent::Input>,
}

impl ChargePoint {
    async fn ask<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<Result<T, LocalError>>) -> LocalCommand,
    ) -> Result<T, LocalError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(agent::Input::Local(command(reply)))
            .map_err(|_| LocalError::Stopped)?;
        answer.await.map_err(|_| LocalError::Stopped)?
    }

    /// A vehicle is plugged into `connector`.
    pub async fn plug(&self, connector: u32) -> Result<(), LocalError> {
        self.ask(|r| LocalCommand::Plug(connector, r)).await
    }

    /// The vehicle is unplugged from `connector` (a running transaction stops first, reason
    /// EVDisconnected).
    pub async fn unplug(&self, connector: u32) -> Result<(), LocalError> {
        self.ask(|r| LocalCommand::Unplug(connector, r)).await
    }

    /// A user presents `id_tag` at `connector` (none: free vend).
    pub async fn local_start(
        &self,
        connector: u32,
        id_tag: Option<String>,
    ) -> Result<(), LocalError> {
        self.ask(|r| LocalCommand::Start(connector, id_tag, r))
            .await
    }

    /// A user stops the transaction at `connector` (reason Local).
    pub async fn local_stop(&self, connector: u32) -> Result<(), LocalError> {
        self.ask(|r| LocalCommand::Stop(connector, r)).await
    }

    /// The station withholds energy from `connector` (`true`: SuspendedEVSE) or offers it again.
    pub async fn suspend_evse(&self, connector: u32, suspended: bool) -> Result<(), LocalError> {
        self.ask(|r| LocalCommand::SuspendEvse(connector, suspended, r))
            .await
    }

    /// The charge point's state.
    pub async fn info(&self) -> Result<Info, LocalError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(agent::Input::Local(LocalCommand::Info(reply)))
            .map_err(|_| LocalError::Stopped)?;
        answer.await.map_err(|_| LocalError::Stopped)
    }
}

/// The station's wall clock: follows the tokio clock (so tests on virtual time see time pass)
/// and is set to the central system's time at each BootNotification and Heartbeat answer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    base_utc: DateTime<Utc>,
    base: Instant,
}

impl Clock {
    fn new() -> Self {
        Self {
            base_utc: Utc::now(),
            base: Instant::now(),
        }
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        let elapsed = Instant::now().saturating_duration_since(self.base);
        self.base_utc + chrono::Duration::from_std(elapsed).unwrap_or_default()
    }

    fn sync(&mut self, time: DateTime<Utc>) {
        self.base_utc = time;
        self.base = Instant::now();
    }
}

/// What the connection task needs to (re)connect; the agent updates it when keys change.
#[derive(Debug, Clone)]
pub(crate) struct Connection {
    pub(crate) password: Option<Vec<u8>>,
    pub(crate) ping: Option<Duration>,
    pub(crate) call_timeout: Duration,
    pub(crate) tls: Option<Arc<rustls::ClientConfig>>,
}

/// Starts the charge point over `guns`; it runs until the process ends.
pub async fn start(settings: OcppSettings, guns: Vec<GunHandle>) -> Result<ChargePoint, OcppError> {
    let (inputs, inbox) = mpsc::unbounded_channel();
    let reconnect = Arc::new(Notify::new());
    let settings = Arc::new(settings);
    let (agent, connection) =
        agent::Agent::load(settings.clone(), guns, inputs.clone(), reconnect.clone()).await?;
    let (link_config, link_watch) = watch::channel(connection);
    tokio::spawn(agent.run(inbox, link_config));
    tokio::spawn(connect_loop(
        settings,
        link_watch,
        inputs.clone(),
        reconnect,
    ));
    Ok(ChargePoint { commands: inputs })
}

/// Connects, hands the connection to the agent, waits for its end, backs off, again.
async fn connect_loop(
    settings: Arc<OcppSettings>,
    link: watch::Receiver<Connection>,
    inputs: mpsc::UnboundedSender<agent::Input>,
    reconnect: Arc<Notify>,
) {
    let mut backoff = Duration::from_secs(1);
    loop {
        let current = link.borrow().clone();
        let mut config = ClientConfig::new(settings.url.clone(), settings.station_id.clone());
        config.password = current.password;
        config.tls = current.tls;
        config.ping_interval = current.ping;
        config.call_timeout = current.call_timeout;
        match Client::<V16>::connect(config).await {
            Ok(mut client) => {
                backoff = Duration::from_secs(1);
                tracing::info!(url = %settings.url, "connected to the central system");
                if inputs
                    .send(agent::Input::Connected(client.caller()))
                    .is_err()
                {
                    return;
                }
                loop {
                    tokio::select! {
                        call = client.next_call() => match call {
                            Some(call) => {
                                if inputs.send(agent::Input::Incoming(call)).is_err() {
                                    return;
                                }
                            }
                            None => break,
                        },
                        () = reconnect.notified() => {
                            client.close().await;
                            break;
                        }
                    }
                }
                tracing::warn!("central system connection lost");
                if inputs.send(agent::Input::Disconnected).is_err() {
                    return;
                }
            }
            Err(ClientError::Refused(404)) => {
                tracing::warn!("the central system does not know this station (HTTP 404)");
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot reach the central system");
                if matches!(e, ClientError::Refused(401) | ClientError::Tls(_))
                    && inputs.send(agent::Input::ConnectFailed(e)).is_err()
                {
                    return;
                }
            }
        }
        let jitter = Duration::from_millis(u64::from(rand::random::<u16>() % 1000));
        tokio::time::sleep(backoff + jitter).await;
        backoff = (backoff * 2).min(Duration::from_secs(60));
    }
}
