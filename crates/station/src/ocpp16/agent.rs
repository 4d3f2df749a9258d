//! The charge point's agent: one task that owns all OCPP state and takes every input (the
//! connection coming and going, the central system's calls, answers to our calls, gun changes,
//! local commands, timers) from one channel, so no two decisions ever race.

mod security;
mod transfer;

use super::status::{self, Facts};
use super::store::Store;
use super::{Clock, Connection, Info, LocalCommand, LocalError, OcppError, OcppSettings};
use crate::gun::{GunCommand, GunHandle, GunSnapshot};
use cp16::auth::{Authorizer, Decision, Policy, is_valid};
use cp16::keys::{Key, Keys, Profile};
use cp16::reservation::{Admission, Occupancy, Reservation, Reservations, known_parent};
use cp16::security::{CertificateStore, SecurityLog, event};
use cp16::transfer::{
    DownloadResult, FirmwareJob, InstallResult, SignatureCheck, TransferId, UploadJob, UploadResult,
};
use ocpp_client::{Caller, ClientError, IncomingCall};
use proto_ocpp::v16::*;
use proto_ocpp::{ErrorCode, Timestamp};
use security::{CERTIFICATES_DOC, SECURITY_LOG_DOC};
use serde::Serialize;
use smart_charging::{Limits, ProfileStore, Transaction};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, mpsc, watch};
use tokio::time::Instant;
use transfer::{FIRMWARE_DOC, Transfers, UPLOADS_DOC};

/// Everything the agent reacts to.
#[derive(Debug)]
pub(crate) enum Input {
    Connected(Caller<V16>),
    Disconnected,
    Incoming(IncomingCall<V16>),
    Gun(u32),
    Local(LocalCommand),
    Boot(Result<Response, ClientError>),
    Heartbeat(Result<Response, ClientError>),
    Delivered(i64, Result<Response, ClientError>),
    Authorized {
        connector: u32,
        id_tag: String,
        result: Result<IdTagInfo, ClientError>,
    },
    /// A connection attempt failed (security events for refused credentials or certificates).
    ConnectFailed(ClientError),
    /// The central system answered SignCertificate (true: Accepted).
    SignCertificateAnswered(bool),
    FirmwareDownloaded(TransferId, DownloadResult),
    FirmwareVerified(TransferId, SignatureCheck),
    FirmwareInstalled(TransferId, InstallResult),
    Uploaded(TransferId, UploadResult),
}

/// A connector as `/info` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectorInfo {
    /// Connector number.
    pub connector: u32,
    /// The OCPP status last derived.
    pub status: String,
    /// Whether a vehicle is plugged in.
    pub plugged: bool,
    /// The running transaction's central-system id (-1 while unconfirmed).
    pub transaction_id: Option<i64>,
    /// The running transaction's id tag.
    pub id_tag: Option<String>,
    /// The energy register, Wh.
    pub register_wh: i64,
    /// Energy of the running session, Wh.
    pub session_energy_wh: f64,
    /// Delivered power, W.
    pub power_w: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Registration {
    Offline,
    Booting,
    Pending(Instant),
    Rejected(Instant),
    Accepted,
}

impl Registration {
    fn as_str(self) -> &'static str {
        match self {
            Registration::Offline => "Offline",
            Registration::Booting => "Booting",
            Registration::Pending(_) => "Pending",
            Registration::Rejected(_) => "Rejected",
            Registration::Accepted => "Accepted",
        }
    }
}

#[derive(Debug, Clone)]
struct Authorized {
    id_tag: String,
    reservation: Option<i32>,
    /// ConnectionTimeOut: when the authorization lapses without a plug.
    deadline: Option<Instant>,
}

#[derive(Debug, Clone)]
struct Tx {
    local_id: i64,
    id_tag: String,
    next_sample: Option<Instant>,
    next_checkpoint: Instant,
    data: Vec<MeterValue>,
    deauthorized: bool,
}

#[derive(Debug, Default)]
struct Connector {
    reported: Option<(ChargePointStatus, ChargePointErrorCode)>,
    plugged: bool,
    authorized: Option<Authorized>,
    tx: Option<Tx>,
    finishing: bool,
    inoperative: bool,
    /// ChangeAvailability waiting for the transaction to end: the inoperative flag to apply.
    scheduled: Option<bool>,
    gun_active: bool,
    /// The reason to give when the running session ends.
    stop_reason: Option<Reason>,
    /// The station withholds energy (simulated SuspendedEVSE).
    suspended: bool,
    /// A status not reported yet because it has not held MinimumStatusDuration, and since when.
    held: Option<((ChargePointStatus, ChargePointErrorCode), Instant)>,
}

#[derive(Debug, Clone)]
struct Queued {
    seq: i64,
    action: String,
    payload: serde_json::Value,
    tx: Option<i64>,
    attempts: u32,
}

pub(crate) struct Agent {
    settings: Arc<OcppSettings>,
    guns: BTreeMap<u32, GunHandle>,
    keys: Keys,
    auth: Authorizer,
    reservations: Reservations,
    profiles: ProfileStore,
    certificates: CertificateStore,
    log: SecurityLog,
    transfers: Transfers,
    /// Whether a transaction ran at the last look (the firmware job waits for none).
    transactions_running: bool,
    /// The power limit last given to each gun.
    applied: HashMap<u32, Option<hal::Watts>>,
    next_limit_change: Option<Instant>,
    store: Store,
    clock: Clock,
    connectors: BTreeMap<u32, Connector>,
    /// Transaction messages not yet confirmed, oldest first.
    queue: VecDeque<Queued>,
    /// The central system's transaction ids by local handle (-1: StartTransaction abandoned).
    tx_ids: HashMap<i64, i64>,
    in_flight: Option<i64>,
    retry_at: Option<Instant>,
    inputs: mpsc::UnboundedSender<Input>,
    reconnect: Arc<Notify>,
    caller: Option<Caller<V16>>,
    registration: Registration,
    next_heartbeat: Option<Instant>,
    next_aligned: Option<Instant>,
    next_local: i64,
    next_seq: i64,
}

const KEYS_DOC: &str = "keys";
const AUTH_DOC: &str = "authorization";
const RESERVATIONS_DOC: &str = "reservations";
const AVAILABILITY_DOC: &str = "availability";
const PROFILES_DOC: &str = "charging-profiles";

fn connector_id(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn meter_i32(wh: i64) -> i32 {
    i32::try_from(wh.clamp(0, i64::from(i32::MAX))).unwrap_or(i32::MAX)
}

impl Agent {
    /// Builds the agent from the settings and the state file: keys (factory presets, then the
    /// saved changes), list and cache, reservations, availability, the queue, and the
    /// transactions a previous run left open, which end now with reason PowerLoss.
    pub(crate) async fn load(
        settings: Arc<OcppSettings>,
        guns: Vec<GunHandle>,
        inputs: mpsc::UnboundedSender<Input>,
        reconnect: Arc<Notify>,
    ) -> Result<(Self, Connection), OcppError> {
        let count = u32::try_from(guns.len()).unwrap_or(u32::MAX);
        let mut keys = Keys::new(Profile::new(count.max(1))).map_err(|e| OcppError::Key {
            key: "NumberOfConnectors".into(),
            reason: e.to_string(),
        })?;
        for (key, value) in &settings.keys {
            keys.preset(key, value).map_err(|e| OcppError::Key {
                key: key.clone(),
                reason: e.to_string(),
            })?;
        }
        let mut store = match &settings.state_file {
            Some(path) => Store::open(path).await?,
            None => Store::memory(),
        };
        if let Some(snapshot) = store.document(KEYS_DOC).await? {
            for error in keys.restore(&snapshot) {
                tracing::warn!(%error, "a saved configuration key was skipped");
            }
        }
        let cache_capacity = 1000;
        let auth = store
            .document(AUTH_DOC)
            .await?
            .unwrap_or_else(|| Authorizer::new(cache_capacity));
        let reservations = store.document(RESERVATIONS_DOC).await?.unwrap_or_default();
        let limits = Limits {
            allowed_units: keys
                .charging_schedule_allowed_charging_rate_unit()
                .iter()
                .map(|u| smart_charging::v16::rate_unit(*u))
                .collect(),
            ..Limits::new(count.max(1), settings.station_power)
        };
        let certificates: CertificateStore =
            store.document(CERTIFICATES_DOC).await?.unwrap_or_default();
        let log: SecurityLog = store
            .document(SECURITY_LOG_DOC)
            .await?
            .unwrap_or_else(|| SecurityLog::new(1000));
        let now = chrono::Utc::now();
        let (firmware_settings, upload_settings) = Transfers::settings(&keys, &settings.station_id);
        let firmware = match store.document(FIRMWARE_DOC).await? {
            Some(snapshot) => FirmwareJob::resume(snapshot, firmware_settings, true, now),
            None => FirmwareJob::new(firmware_settings),
        };
        let uploads = match store.document(UPLOADS_DOC).await? {
            Some(snapshot) => UploadJob::resume(snapshot, upload_settings, now),
            None => UploadJob::new(upload_settings),
        };
        let transfers = Transfers {
            firmware,
            uploads,
            dir: transfer::transfer_dir(settings.state_file.as_deref()),
            tasks: Vec::new(),
        };
        let profiles = match store.document(PROFILES_DOC).await? {
            Some(snapshot) => ProfileStore::restore(limits, snapshot),
            None => ProfileStore::new(limits),
        };
        let inoperative: BTreeMap<u32, bool> =
            store.document(AVAILABILITY_DOC).await?.unwrap_or_default();
        let mut connectors = BTreeMap::new();
        for gun in &guns {
            connectors.insert(
                gun.gun,
                Connector {
                    inoperative: inoperative.get(&gun.gun).copied().unwrap_or(false),
                    ..Connector::default()
                },
            );
        }
        let queue: VecDeque<Queued> = store
            .queued()
            .await?
            .into_iter()
            .filter_map(|row| {
                let payload = serde_json::from_str(&row.payload).ok()?;
                Some(Queued {
                    seq: row.seq,
                    action: row.action,
                    payload,
                    tx: row.transaction,
                    attempts: row.attempts,
                })
            })
            .collect();
        let mut agent = Self {
            settings,
            guns: guns.into_iter().map(|g| (g.gun, g)).collect(),
            keys,
            auth,
            reservations,
            profiles,
            certificates,
            log,
            transfers,
            transactions_running: true,
            applied: HashMap::new(),
            next_limit_change: None,
            store,
            clock: Clock::new(),
            connectors,
            next_seq: queue.back().map_or(1, |q| q.seq + 1),
            queue,
            tx_ids: HashMap::new(),
            in_flight: None,
            retry_at: None,
            inputs,
            reconnect,
            caller: None,
            registration: Registration::Offline,
            next_heartbeat: None,
            next_aligned: None,
            next_local: 1,
        };
        agent.recover().await?;
        agent
            .security_event(event::STARTUP_OF_THE_DEVICE, None)
            .await?;
        let connection = agent.connection();
        Ok((agent, connection))
    }

    /// Ends the transactions a previous run left open (killed or powered off mid-session) with
    /// the last persisted meter reading and reason PowerLoss.
    async fn recover(&mut self) -> Result<(), OcppError> {
        for row in self.store.transactions().await? {
            self.next_local = self.next_local.max(row.local_id + 1);
            if let Some(cs) = row.cs_id {
                self.tx_ids.insert(row.local_id, cs);
            }
            if row.stopped {
                continue;
            }
            tracing::warn!(
                connector = row.connector,
                "a transaction was interrupted by a power loss; stopping it"
            );
            let at = chrono::DateTime::parse_from_rfc3339(&row.last_meter_at)
                .map(Timestamp::from)
                .unwrap_or_else(|_| Timestamp::from(self.clock.now()));
            let mut stop = StopTransactionRequest::new(meter_i32(row.last_meter), at, -1);
            stop.id_tag = Some(row.id_tag.clone());
            stop.reason = Some(Reason::PowerLoss);
            self.enqueue("StopTransaction", &stop, Some(row.local_id))
                .await?;
            self.store.stop_transaction(row.local_id).await?;
        }
        Ok(())
    }

    pub(crate) async fn run(
        mut self,
        mut inbox: mpsc::UnboundedReceiver<Input>,
        link: watch::Sender<Connection>,
    ) {
        let mut watchers = Vec::new();
        for gun in self.guns.values() {
            let mut watch = gun.subscribe();
            let inputs = self.inputs.clone();
            let number = gun.gun;
            watchers.push(tokio::spawn(async move {
                while inputs.send(Input::Gun(number)).is_ok() && watch.changed().await.is_ok() {}
            }));
        }
        loop {
            let wake = self.next_wake();
            let input = tokio::select! {
                input = inbox.recv() => match input {
                    Some(input) => Some(input),
                    None => break,
                },
                () = sleep_until(wake) => None,
            };
            let result = match input {
                Some(input) => self.handle(input, &link).await,
                None => Ok(()),
            };
            let result = match result {
                Ok(()) => self.tick(Instant::now()).await,
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                tracing::error!(error = %e, "the charge point's state file failed");
            }
        }
        for watcher in watchers {
            watcher.abort();
        }
    }

    fn next_wake(&self) -> Option<Instant> {
        let mut times = vec![
            self.next_heartbeat,
            self.next_aligned,
            self.next_limit_change,
        ];
        let wall = [
            self.transfers.firmware.poll_timeout(),
            self.transfers.uploads.poll_timeout(),
        ];
        for at in wall.into_iter().flatten() {
            let wait = (at - self.clock.now()).to_std().unwrap_or_default();
            times.push(Some(Instant::now() + wait));
        }
        if self.in_flight.is_none() && !self.queue.is_empty() {
            times.push(self.retry_at);
        }
        match self.registration {
            Registration::Pending(at) | Registration::Rejected(at) => times.push(Some(at)),
            _ => {}
        }
        let hold = self.keys.minimum_status_duration();
        for c in self.connectors.values() {
            times.push(c.held.map(|(_, since)| since + hold));
            times.push(c.tx.as_ref().and_then(|t| t.next_sample));
            times.push(c.tx.as_ref().map(|t| t.next_checkpoint));
            times.push(c.authorized.as_ref().and_then(|a| a.deadline));
        }
        let expiry = self.reservations.next_expiry().map(|at| {
            let wait = (at - self.clock.now()).to_std().unwrap_or_default();
            Instant::now() + wait
        });
        times.push(expiry);
        times.into_iter().flatten().min()
    }

    async fn handle(
        &mut self,
        input: Input,
        link: &watch::Sender<Connection>,
    ) -> Result<(), OcppError> {
        match input {
            Input::Connected(caller) => {
                self.caller = Some(caller);
                self.boot();
            }
            Input::Disconnected => {
                self.caller = None;
                self.registration = Registration::Offline;
                self.next_heartbeat = None;
                // A message in flight was not confirmed: it goes again, without spending an
                // attempt.
                self.in_flight = None;
                for c in self.connectors.values_mut() {
                    c.reported = None;
                }
            }
            Input::Incoming(call) => self.answer(call, link).await?,
            Input::Gun(gun) => self.gun_changed(gun).await?,
            Input::Local(command) => self.local(command).await?,
            Input::Boot(result) => {
                if let Ok(Response::BootNotification(answer)) = &result {
                    self.set_clock(answer.current_time.to_utc()).await?;
                }
                self.booted(result);
            }
            Input::Heartbeat(result) => {
                if let Ok(Response::Heartbeat(answer)) = result {
                    self.set_clock(answer.current_time.to_utc()).await?;
                }
            }
            Input::ConnectFailed(error) => self.connection_failed(&error).await?,
            Input::SignCertificateAnswered(accepted) => {
                self.sign_certificate_answered(accepted).await?;
            }
            input @ (Input::FirmwareDownloaded(..)
            | Input::FirmwareVerified(..)
            | Input::FirmwareInstalled(..)
            | Input::Uploaded(..)) => self.transfer_result(input).await?,
            Input::Delivered(seq, result) => self.delivered(seq, result).await?,
            Input::Authorized {
                connector,
                id_tag,
                result,
            } => self.authorized(connector, id_tag, result).await?,
        }
        Ok(())
    }

    // ----- registration ----------------------------------------------------------------

    fn boot(&mut self) {
        let Some(caller) = &self.caller else { return };
        let mut boot =
            BootNotificationRequest::new(self.settings.vendor.clone(), self.settings.model.clone());
        boot.firmware_version = Some(self.settings.firmware_version.clone());
        boot.charge_point_serial_number = self.settings.serial_number.clone();
        self.registration = Registration::Booting;
        let answer = caller.submit(boot);
        let inputs = self.inputs.clone();
        tokio::spawn(async move {
            let _ = inputs.send(Input::Boot(answer.await));
        });
    }

    fn booted(&mut self, result: Result<Response, ClientError>) {
        let now = Instant::now();
        match result {
            Ok(Response::BootNotification(answer)) => {
                let interval = Duration::from_secs(u64::try_from(answer.interval).unwrap_or(0));
                match answer.status {
                    RegistrationStatus::Accepted => {
                        if answer.interval > 0 {
                            let _ = self.keys.set_heartbeat_interval(answer.interval);
                        }
                        tracing::info!(heartbeat = ?self.keys.heartbeat_interval(), "accepted by the central system");
                        self.registration = Registration::Accepted;
                        self.next_heartbeat = Some(now + self.keys.heartbeat_interval());
                        self.schedule_aligned();
                        // Connector 0 and every connector, then whatever is queued.
                        self.notify_status(
                            0,
                            ChargePointStatus::Available,
                            ChargePointErrorCode::NoError,
                        );
                        for c in self.connectors.values_mut() {
                            c.reported = None;
                        }
                        self.report_all();
                    }
                    RegistrationStatus::Pending => {
                        self.registration = Registration::Pending(now + retry_delay(interval));
                    }
                    RegistrationStatus::Rejected => {
                        self.registration = Registration::Rejected(now + retry_delay(interval));
                    }
                }
            }
            Ok(_) | Err(ClientError::Call(_)) => {
                // A CALLERROR or a timeout on BootNotification: try again later.
                self.registration = Registration::Rejected(now + Duration::from_secs(30));
            }
            Err(_) => {}
        }
    }

    /// Sets the station clock to the central system's time; a step of more than 2 s is a
    /// security event (SettingSystemTime).
    async fn set_clock(&mut self, time: chrono::DateTime<chrono::Utc>) -> Result<(), OcppError> {
        let step = (time - self.clock.now()).num_milliseconds().abs();
        self.clock.sync(time);
        if step > 2000 {
            let info = format!("clock stepped by {step} ms");
            self.security_event(event::SETTING_SYSTEM_TIME, Some(&info))
                .await?;
        }
        Ok(())
    }

    fn accepted(&self) -> bool {
        self.registration == Registration::Accepted && self.caller.is_some()
    }

    /// Sends a request that is not a transaction message, if registered; answers are logged.
    fn send(&self, request: impl Into<Request>) {
        if !self.accepted() {
            return;
        }
        let Some(caller) = &self.caller else { return };
        let request = request.into();
        let action = request.action();
        let answer = caller.submit(request);
        tokio::spawn(async move {
            if let Err(e) = answer.await {
                tracing::debug!(%action, error = %e, "call failed");
            }
        });
    }

    fn notify_status(&self, connector: u32, status: ChargePointStatus, code: ChargePointErrorCode) {
        let mut request = StatusNotificationRequest::new(connector_id(connector), code, status);
        request.timestamp = Some(Timestamp::from(self.clock.now()));
        self.send(request);
    }

    fn schedule_aligned(&mut self) {
        self.next_aligned = self.keys.clock_aligned_data_interval().and_then(|period| {
            let secs = i64::try_from(period.as_secs()).ok().filter(|s| *s > 0)?;
            let now = self.clock.now();
            let since_midnight = i64::from(chrono::Timelike::num_seconds_from_midnight(&now));
            let wait = secs - since_midnight % secs;
            Some(Instant::now() + Duration::from_secs(u64::try_from(wait).unwrap_or(1)))
        });
    }

    // ----- timers ------------------------------------------------------------------------

    async fn tick(&mut self, now: Instant) -> Result<(), OcppError> {
        match self.registration {
            Registration::Pending(at) | Registration::Rejected(at) if at <= now => self.boot(),
            _ => {}
        }
        if self.next_heartbeat.is_some_and(|at| at <= now) && self.accepted() {
            if let Some(caller) = &self.caller {
                let answer = caller.submit(HeartbeatRequest::new());
                let inputs = self.inputs.clone();
                tokio::spawn(async move {
                    let _ = inputs.send(Input::Heartbeat(answer.await));
                });
            }
            self.next_heartbeat = Some(now + self.keys.heartbeat_interval());
        }
        if self.next_aligned.is_some_and(|at| at <= now) {
            self.aligned().await?;
            self.schedule_aligned();
        }
        let numbers: Vec<u32> = self.connectors.keys().copied().collect();
        for n in numbers {
            self.connector_timers(n, now).await?;
            if self.connectors.get(&n).is_some_and(|c| c.held.is_some()) {
                self.report(n);
            }
        }
        let lapsed = self.reservations.expire(self.clock.now());
        if !lapsed.is_empty() {
            self.store
                .save(RESERVATIONS_DOC, &self.reservations)
                .await?;
            for r in lapsed {
                tracing::info!(reservation = r.id, "reservation expired");
            }
            self.report_all();
        }
        self.apply_limits().await;
        self.renew_certificate().await?;
        let wall = self.clock.now();
        let firmware_due = self
            .transfers
            .firmware
            .poll_timeout()
            .is_some_and(|at| at <= wall);
        let upload_due = self
            .transfers
            .uploads
            .poll_timeout()
            .is_some_and(|at| at <= wall);
        if firmware_due {
            self.transfers.firmware.handle_timeout(wall);
        }
        if upload_due {
            self.transfers.uploads.handle_timeout(wall);
        }
        let running = self.connectors.values().any(|c| c.tx.is_some());
        if firmware_due || upload_due || running != self.transactions_running {
            self.transactions_running = running;
            self.drive_transfers().await?;
        }
        self.pump(now);
        Ok(())
    }

    /// Gives every gun its smart-charging limit (zero while its transaction is deauthorized)
    /// and arms the timer for the next change.
    async fn apply_limits(&mut self) {
        let now = self.clock.now();
        let mut next: Option<chrono::DateTime<chrono::Utc>> = None;
        let numbers: Vec<u32> = self.connectors.keys().copied().collect();
        for n in numbers {
            let deauthorized = self
                .connectors
                .get(&n)
                .is_some_and(|c| c.suspended || c.tx.as_ref().is_some_and(|t| t.deauthorized));
            let limit = if deauthorized {
                Some(hal::Watts(0.0))
            } else {
                self.profiles.limit_at(n, now).map(|l| l.power)
            };
            if let Some(at) = self.profiles.next_change(n, now) {
                next = Some(next.map_or(at, |x| x.min(at)));
            }
            if self.applied.get(&n) == Some(&limit) {
                continue;
            }
            if let Some(gun) = self.guns.get(&n)
                && matches!(
                    gun.request(|r| GunCommand::Limit(limit, r)).await,
                    Some(Ok(()))
                )
            {
                tracing::info!(connector = n, ?limit, "power limit applied");
                self.applied.insert(n, limit);
            }
        }
        self.next_limit_change = next.map(|at| {
            let wait = (at - now).to_std().unwrap_or_default();
            Instant::now() + wait.max(Duration::from_millis(10))
        });
    }

    async fn save_profiles(&mut self) -> Result<(), OcppError> {
        self.store
            .save(PROFILES_DOC, &self.profiles.snapshot())
            .await?;
        Ok(())
    }

    async fn connector_timers(&mut self, n: u32, now: Instant) -> Result<(), OcppError> {
        let Some(snapshot) = self.snapshot(n) else {
            return Ok(());
        };
        let sample_list = self.keys.meter_values_sampled_data().to_vec();
        let stop_list = self.keys.stop_txn_sampled_data().to_vec();
        let sample_interval = self.keys.meter_value_sample_interval();
        let at = Timestamp::from(self.clock.now());
        let Some(c) = self.connectors.get_mut(&n) else {
            return Ok(());
        };
        if c.authorized
            .as_ref()
            .and_then(|a| a.deadline)
            .is_some_and(|d| d <= now)
            && c.tx.is_none()
        {
            tracing::info!(
                connector = n,
                "no plug within ConnectionTimeOut: authorization lapsed"
            );
            c.authorized = None;
            self.report(n);
            return Ok(());
        }
        let mut due = None;
        let mut checkpoint = None;
        if let Some(tx) = c.tx.as_mut() {
            if tx.next_sample.is_some_and(|s| s <= now) {
                tx.next_sample = sample_interval.map(|i| now + i);
                if !stop_list.is_empty() {
                    tx.data.push(status::meter_value(
                        &snapshot,
                        &stop_list,
                        ReadingContext::SamplePeriodic,
                        at,
                        self.settings.meter_noise_percent,
                    ));
                }
                due = Some(tx.local_id);
                // Every sample is also a checkpoint for a power-loss stop.
                tx.next_checkpoint = now;
            }
            if tx.next_checkpoint <= now {
                tx.next_checkpoint = now + CHECKPOINT;
                checkpoint = Some(tx.local_id);
            }
        }
        if let Some(local) = due {
            let mut request = MeterValuesRequest::new(
                connector_id(n),
                vec![status::meter_value(
                    &snapshot,
                    &sample_list,
                    ReadingContext::SamplePeriodic,
                    at,
                    self.settings.meter_noise_percent,
                )],
            );
            request.transaction_id = Some(-1);
            self.enqueue("MeterValues", &request, Some(local)).await?;
        }
        if let Some(local) = checkpoint {
            self.store
                .checkpoint(local, status::register(&snapshot), &at.to_string())
                .await?;
        }
        Ok(())
    }

    /// Clock-aligned meter values: per connector, with the transaction id when one runs.
    async fn aligned(&mut self) -> Result<(), OcppError> {
        let list = self.keys.meter_values_aligned_data().to_vec();
        let stop_list = self.keys.stop_txn_aligned_data().to_vec();
        let at = Timestamp::from(self.clock.now());
        let numbers: Vec<u32> = self.connectors.keys().copied().collect();
        for n in numbers {
            let Some(snapshot) = self.snapshot(n) else {
                continue;
            };
            let value = status::meter_value(
                &snapshot,
                &list,
                ReadingContext::SampleClock,
                at,
                self.settings.meter_noise_percent,
            );
            let mut request = MeterValuesRequest::new(connector_id(n), vec![value]);
            let local = self
                .connectors
                .get_mut(&n)
                .and_then(|c| c.tx.as_mut())
                .map(|tx| {
                    if !stop_list.is_empty() {
                        tx.data.push(status::meter_value(
                            &snapshot,
                            &stop_list,
                            ReadingContext::SampleClock,
                            at,
                            self.settings.meter_noise_percent,
                        ));
                    }
                    tx.local_id
                });
            match local {
                Some(local) => {
                    request.transaction_id = Some(-1);
                    self.enqueue("MeterValues", &request, Some(local)).await?;
                }
                None => self.send(request),
            }
        }
        Ok(())
    }

    // ----- the transaction-message queue ----------------------------------------------------

    async fn enqueue<T: Serialize>(
        &mut self,
        action: &str,
        request: &T,
        tx: Option<i64>,
    ) -> Result<(), OcppError> {
        let payload = serde_json::to_value(request).unwrap_or_default();
        let text = payload.to_string();
        let seq = self.store.enqueue(action, &text, tx, self.next_seq).await?;
        self.next_seq = self.next_seq.max(seq + 1);
        self.queue.push_back(Queued {
            seq,
            action: action.into(),
            payload,
            tx,
            attempts: 0,
        });
        Ok(())
    }

    /// Sends the oldest queued message if the link is up, nothing is in flight and its retry
    /// time has come.
    fn pump(&mut self, now: Instant) {
        if self.in_flight.is_some() || !self.accepted() {
            return;
        }
        if self.retry_at.is_some_and(|at| at > now) {
            return;
        }
        let Some(head) = self.queue.front() else {
            return;
        };
        let mut payload = head.payload.clone();
        if let Some(local) = head.tx
            && head.action != "StartTransaction"
        {
            let id = self.tx_ids.get(&local).copied().unwrap_or(-1);
            payload["transactionId"] = serde_json::Value::from(id);
        }
        let request = match head.action.as_str() {
            "StartTransaction" => {
                serde_json::from_value::<StartTransactionRequest>(payload).map(Request::from)
            }
            "StopTransaction" => {
                serde_json::from_value::<StopTransactionRequest>(payload).map(Request::from)
            }
            "SecurityEventNotification" => {
                serde_json::from_value::<SecurityEventNotificationRequest>(payload)
                    .map(Request::from)
            }
            _ => serde_json::from_value::<MeterValuesRequest>(payload).map(Request::from),
        };
        let seq = head.seq;
        let Ok(request) = request else {
            tracing::error!(seq, "a queued message cannot be read; dropping it");
            self.queue.pop_front();
            return;
        };
        let Some(caller) = &self.caller else { return };
        let answer = caller.submit(request);
        self.in_flight = Some(seq);
        let inputs = self.inputs.clone();
        tokio::spawn(async move {
            let _ = inputs.send(Input::Delivered(seq, answer.await));
        });
    }

    async fn delivered(
        &mut self,
        seq: i64,
        result: Result<Response, ClientError>,
    ) -> Result<(), OcppError> {
        if self.in_flight != Some(seq) {
            return Ok(());
        }
        self.in_flight = None;
        let Some(head) = self.queue.front().cloned() else {
            return Ok(());
        };
        match result {
            Ok(response) => {
                self.queue.pop_front();
                self.store.dequeue(seq).await?;
                self.retry_at = None;
                match response {
                    Response::StartTransaction(started) => {
                        if let Some(local) = head.tx {
                            self.started(local, &head, started).await?;
                        }
                    }
                    Response::StopTransaction(stopped) => {
                        if let (Some(info), Some(tag)) =
                            (stopped.id_tag_info, head.payload["idTag"].as_str())
                        {
                            let policy = self.policy();
                            self.auth.learn(tag, &info, &policy, self.clock.now());
                            self.store.save(AUTH_DOC, &self.auth).await?;
                        }
                        self.store.prune_transactions().await?;
                    }
                    _ => {}
                }
            }
            Err(ClientError::Call(failure)) => {
                let attempts = head.attempts + 1;
                let max = self.keys.transaction_message_attempts().max(1);
                tracing::warn!(action = %head.action, attempts, %failure, "transaction message failed");
                if attempts >= max {
                    tracing::error!(action = %head.action, "transaction message abandoned after {attempts} attempts");
                    self.queue.pop_front();
                    self.store.dequeue(seq).await?;
                    if head.action == "StartTransaction"
                        && let Some(local) = head.tx
                    {
                        self.tx_ids.insert(local, -1);
                        self.store.confirm_transaction(local, -1).await?;
                    }
                    self.retry_at = None;
                } else {
                    if let Some(q) = self.queue.front_mut() {
                        q.attempts = attempts;
                    }
                    self.store.attempted(seq, attempts).await?;
                    self.retry_at = Some(
                        Instant::now() + self.keys.transaction_message_retry_interval() * attempts,
                    );
                }
            }
            // Disconnected: it goes again after reconnecting, no attempt spent.
            Err(_) => {}
        }
        Ok(())
    }

    /// StartTransaction confirmed: remember the id, learn the idTagInfo, and act on a refusal
    /// (§3.4).
    async fn started(
        &mut self,
        local: i64,
        head: &Queued,
        started: StartTransactionResponse,
    ) -> Result<(), OcppError> {
        let cs = i64::from(started.transaction_id);
        self.tx_ids.insert(local, cs);
        let running = self
            .connectors
            .iter()
            .find(|(_, c)| c.tx.as_ref().is_some_and(|t| t.local_id == local))
            .map(|(&n, _)| n);
        if let Some(n) = running {
            self.profiles
                .set_transaction_id(n, started.transaction_id.into());
            self.save_profiles().await?;
        }
        self.store.confirm_transaction(local, cs).await?;
        let policy = self.policy();
        let now = self.clock.now();
        if let Some(tag) = head.payload["idTag"].as_str() {
            self.auth.learn(tag, &started.id_tag_info, &policy, now);
            self.store.save(AUTH_DOC, &self.auth).await?;
        }
        if is_valid(&started.id_tag_info, now) {
            return Ok(());
        }
        let Some((&n, _)) = self
            .connectors
            .iter()
            .find(|(_, c)| c.tx.as_ref().is_some_and(|t| t.local_id == local))
        else {
            return Ok(());
        };
        tracing::warn!(connector = n, status = %started.id_tag_info.status, "the central system refused the transaction's id tag");
        if self.keys.stop_transaction_on_invalid_id() {
            self.stop_connector(n, Reason::DeAuthorized).await;
        } else {
            if let Some(tx) = self.connectors.get_mut(&n).and_then(|c| c.tx.as_mut()) {
                tx.deauthorized = true;
            }
            if let Some(gun) = self.guns.get(&n) {
                let _ = gun
                    .request(|r| GunCommand::Limit(Some(hal::Watts(0.0)), r))
                    .await;
            }
            self.report(n);
        }
        Ok(())
    }

    // ----- connectors and transactions ---------------------------------------------------

    fn snapshot(&self, n: u32) -> Option<GunSnapshot> {
        self.guns.get(&n).map(GunHandle::snapshot)
    }

    fn policy(&self) -> Policy {
        Policy {
            list_enabled: self.keys.local_auth_list_enabled(),
            cache_enabled: self.keys.authorization_cache_enabled(),
            pre_authorize: self.keys.local_pre_authorize(),
            authorize_offline: self.keys.local_authorize_offline(),
            allow_unknown_offline: self.keys.allow_offline_tx_for_unknown_id(),
        }
    }

    fn facts(&self, n: u32) -> Facts {
        let Some(c) = self.connectors.get(&n) else {
            return Facts::default();
        };
        let count = u32::try_from(self.connectors.len()).unwrap_or(0);
        let reserved = self
            .reservations
            .shown_reserved(count, |m| self.is_free(m))
            .contains(&n);
        Facts {
            transaction: c.tx.is_some(),
            occupied: c.plugged || c.authorized.is_some(),
            finishing: c.finishing,
            reserved,
            inoperative: c.inoperative
                || (c.tx.is_none() && self.transfers.firmware.connectors_held()),
            deauthorized: c.tx.as_ref().is_some_and(|t| t.deauthorized),
        }
    }

    fn is_free(&self, n: u32) -> bool {
        self.connectors.get(&n).is_some_and(|c| {
            !c.plugged && c.authorized.is_none() && c.tx.is_none() && !c.finishing && !c.inoperative
        }) && self
            .snapshot(n)
            .is_some_and(|s| s.status.fault.is_none() && !s.status.session_active)
    }

    fn occupancy(&self, n: u32) -> Occupancy {
        let Some(snapshot) = self.snapshot(n) else {
            return Occupancy::Unavailable;
        };
        if snapshot.status.fault.is_some() {
            Occupancy::Faulted
        } else if self.connectors.get(&n).is_some_and(|c| c.inoperative) {
            Occupancy::Unavailable
        } else if self.is_free(n) {
            Occupancy::Free
        } else {
            Occupancy::Occupied
        }
    }

    /// Reports connector `n`'s status if it changed since the last report.
    fn report(&mut self, n: u32) {
        let Some(snapshot) = self.snapshot(n) else {
            return;
        };
        let facts = self.facts(n);
        let (status, code) = status::derive(&snapshot, facts);
        let accepted = self.accepted();
        let Some(c) = self.connectors.get_mut(&n) else {
            return;
        };
        if c.reported == Some((status, code)) || !accepted {
            c.held = None;
            return;
        }
        // MinimumStatusDuration: a status is reported once it has held that long (a fault at
        // once, as nobody should wait to hear of it).
        let hold = self.keys.minimum_status_duration();
        let now = Instant::now();
        if !hold.is_zero() && status != ChargePointStatus::Faulted && c.reported.is_some() {
            match c.held {
                Some((held, since)) if held == (status, code) => {
                    if now < since + hold {
                        return;
                    }
                }
                _ => {
                    c.held = Some(((status, code), now));
                    return;
                }
            }
        }
        c.held = None;
        c.reported = Some((status, code));
        let mut request = StatusNotificationRequest::new(connector_id(n), code, status);
        request.timestamp = Some(Timestamp::from(self.clock.now()));
        request.info = snapshot
            .status
            .fault
            .clone()
            .map(|f| f.chars().take(50).collect());
        self.send(request);
    }

    fn report_all(&mut self) {
        let numbers: Vec<u32> = self.connectors.keys().copied().collect();
        for n in numbers {
            self.report(n);
        }
    }

    async fn gun_changed(&mut self, n: u32) -> Result<(), OcppError> {
        let Some(snapshot) = self.snapshot(n) else {
            return Ok(());
        };
        let active = snapshot.status.session_active;
        let was_active = self.connectors.get(&n).is_some_and(|c| c.gun_active);
        if active && !was_active {
            if let Some(c) = self.connectors.get_mut(&n) {
                c.gun_active = true;
                c.finishing = false;
            }
            self.report(n);
            self.begin_transaction(n, &snapshot).await?;
        } else if !active && was_active {
            if let Some(c) = self.connectors.get_mut(&n) {
                c.gun_active = false;
            }
            self.end_transaction(n, &snapshot).await?;
            // StopTransaction leaves before the status that follows it, when nothing else is
            // in flight.
            self.pump(Instant::now());
        }
        self.report(n);
        if snapshot.status.fault.is_some() && self.reservations.on(n).is_some() {
            self.reservations.drop_connector(n);
            self.store
                .save(RESERVATIONS_DOC, &self.reservations)
                .await?;
        }
        Ok(())
    }

    async fn begin_transaction(&mut self, n: u32, snapshot: &GunSnapshot) -> Result<(), OcppError> {
        let authorized = self
            .connectors
            .get_mut(&n)
            .and_then(|c| c.authorized.take());
        let (id_tag, reservation) = match authorized {
            Some(a) => (a.id_tag, a.reservation),
            None => (self.settings.free_vend_id_tag.clone(), None),
        };
        if let Some(id) = reservation {
            self.reservations.take(id);
            self.store
                .save(RESERVATIONS_DOC, &self.reservations)
                .await?;
        }
        let meter_start = status::register(snapshot);
        let at = Timestamp::from(self.clock.now());
        let local = self
            .store
            .open_transaction(n, &id_tag, meter_start, &at.to_string(), self.next_local)
            .await?;
        self.next_local = self.next_local.max(local + 1);
        let now = Instant::now();
        let mut data = Vec::new();
        let stop_list = self.keys.stop_txn_sampled_data().to_vec();
        if !stop_list.is_empty() {
            data.push(status::meter_value(
                snapshot,
                &stop_list,
                ReadingContext::TransactionBegin,
                at,
                self.settings.meter_noise_percent,
            ));
        }
        if let Some(c) = self.connectors.get_mut(&n) {
            c.tx = Some(Tx {
                local_id: local,
                id_tag: id_tag.clone(),
                next_sample: self.keys.meter_value_sample_interval().map(|i| now + i),
                next_checkpoint: now + CHECKPOINT,
                data,
                deauthorized: false,
            });
        }
        if let Err(e) = self
            .profiles
            .transaction_started(n, Transaction::new(at.to_utc(), None))
        {
            tracing::warn!(connector = n, error = %e, "charging profiles do not know the transaction");
        }
        self.save_profiles().await?;
        let mut start =
            StartTransactionRequest::new(connector_id(n), id_tag, meter_i32(meter_start), at);
        start.reservation_id = reservation;
        tracing::info!(connector = n, local, "transaction started");
        self.enqueue("StartTransaction", &start, Some(local)).await
    }

    async fn end_transaction(&mut self, n: u32, snapshot: &GunSnapshot) -> Result<(), OcppError> {
        let plug_sensing = self.settings.plug_sensing;
        let Some(c) = self.connectors.get_mut(&n) else {
            return Ok(());
        };
        let reason = c
            .stop_reason
            .take()
            .unwrap_or_else(|| status::stop_reason(snapshot));
        c.finishing = plug_sensing && c.plugged;
        let Some(mut tx) = c.tx.take() else {
            return Ok(());
        };
        if let Some(inoperative) = c.scheduled.take() {
            c.inoperative = inoperative;
        }
        let meter_stop = status::register(snapshot);
        let at = Timestamp::from(self.clock.now());
        let stop_list = self.keys.stop_txn_sampled_data().to_vec();
        if !stop_list.is_empty() {
            tx.data.push(status::meter_value(
                snapshot,
                &stop_list,
                ReadingContext::TransactionEnd,
                at,
                self.settings.meter_noise_percent,
            ));
        }
        let max = usize::try_from(self.keys.stop_transaction_max_meter_values()).unwrap_or(200);
        thin(&mut tx.data, max);
        let mut stop = StopTransactionRequest::new(meter_i32(meter_stop), at, -1);
        stop.id_tag = Some(tx.id_tag.clone());
        stop.reason = Some(reason);
        stop.transaction_data = (!tx.data.is_empty()).then_some(tx.data);
        if tx.deauthorized
            && let Some(gun) = self.guns.get(&n)
        {
            let _ = gun.request(|r| GunCommand::Limit(None, r)).await;
        }
        self.profiles.transaction_ended(n);
        self.save_profiles().await?;
        tracing::info!(connector = n, local = tx.local_id, %reason, "transaction stopped");
        self.enqueue("StopTransaction", &stop, Some(tx.local_id))
            .await?;
        self.store.stop_transaction(tx.local_id).await?;
        self.save_availability().await
    }

    /// Stops the session on connector `n` with `reason`; true if one ran.
    async fn stop_connector(&mut self, n: u32, reason: Reason) -> bool {
        let running = self
            .connectors
            .get(&n)
            .is_some_and(|c| c.tx.is_some() || c.gun_active);
        if !running {
            return false;
        }
        if let Some(c) = self.connectors.get_mut(&n) {
            c.stop_reason = Some(reason);
        }
        match self.guns.get(&n) {
            Some(gun) => gun.request(GunCommand::Stop).await.is_some(),
            None => false,
        }
    }

    /// Starts the gun's session if the connector is authorized and (with plug sensing) plugged.
    async fn try_start(&mut self, n: u32) -> Result<(), LocalError> {
        let ready = self.connectors.get(&n).is_some_and(|c| {
            c.authorized.is_some() && (c.plugged || !self.settings.plug_sensing) && c.tx.is_none()
        });
        if !ready {
            return Ok(());
        }
        let Some(gun) = self.guns.get(&n).cloned() else {
            return Err(LocalError::UnknownConnector(n));
        };
        let params = self.settings.session.clone();
        match gun.request(|r| GunCommand::Start(params, r)).await {
            Some(Ok(())) => Ok(()),
            Some(Err(refusal)) => {
                if let Some(c) = self.connectors.get_mut(&n) {
                    c.authorized = None;
                }
                Err(LocalError::Refused(refusal.to_string()))
            }
            None => Err(LocalError::Stopped),
        }
    }

    /// An id tag was presented at connector `n` (locally or by RemoteStart with authorization).
    async fn present(&mut self, n: u32, id_tag: String, remote: bool) -> Result<(), LocalError> {
        let policy = self.policy();
        let now = self.clock.now();
        let count = u32::try_from(self.connectors.len()).unwrap_or(0);
        let parent = known_parent(&self.auth, &id_tag);
        match self
            .reservations
            .admit(n, &id_tag, parent.as_deref(), count, |m| self.is_free(m))
        {
            Admission::Reserved => {
                return Err(LocalError::Refused(format!("connector {n} is reserved")));
            }
            Admission::Free | Admission::Holder(_) => {}
        }
        let decision = if remote && !self.keys.authorize_remote_tx_requests() {
            Decision::StartUnknown
        } else {
            self.auth.decide(&id_tag, self.accepted(), &policy, now)
        };
        match decision {
            Decision::Start(info) => {
                self.authorize_connector(n, id_tag, info.parent_id_tag.clone())
                    .await
            }
            Decision::StartUnknown => self.authorize_connector(n, id_tag, parent).await,
            Decision::Refuse(status) => {
                Err(LocalError::Refused(format!("id tag refused: {status}")))
            }
            Decision::Ask => {
                let Some(caller) = &self.caller else {
                    return Err(LocalError::Refused("offline".into()));
                };
                let answer = caller.submit(AuthorizeRequest::new(id_tag.clone()));
                let inputs = self.inputs.clone();
                tokio::spawn(async move {
                    let result = answer.await.and_then(|r| match r {
                        Response::Authorize(a) => Ok(a.id_tag_info),
                        _ => Err(ClientError::Closed),
                    });
                    let _ = inputs.send(Input::Authorized {
                        connector: n,
                        id_tag,
                        result,
                    });
                });
                Ok(())
            }
        }
    }

    async fn authorized(
        &mut self,
        n: u32,
        id_tag: String,
        result: Result<IdTagInfo, ClientError>,
    ) -> Result<(), OcppError> {
        let policy = self.policy();
        let now = self.clock.now();
        match result {
            Ok(info) => {
                if self.auth.learn(&id_tag, &info, &policy, now) {
                    self.notify_status(
                        0,
                        ChargePointStatus::Available,
                        ChargePointErrorCode::LocalListConflict,
                    );
                }
                self.store.save(AUTH_DOC, &self.auth).await?;
                if is_valid(&info, now) {
                    if let Err(e) = self
                        .authorize_connector(n, id_tag, info.parent_id_tag)
                        .await
                    {
                        tracing::info!(connector = n, error = %e, "cannot start");
                    }
                } else {
                    tracing::info!(connector = n, status = %info.status, "id tag not accepted");
                }
            }
            Err(e) => {
                // No answer: decide as if offline.
                tracing::warn!(error = %e, "Authorize failed");
                if let Decision::Start(info) = self.auth.decide(&id_tag, false, &policy, now)
                    && let Err(e) = self
                        .authorize_connector(n, id_tag, info.parent_id_tag)
                        .await
                {
                    tracing::info!(connector = n, error = %e, "cannot start");
                }
            }
        }
        Ok(())
    }

    async fn authorize_connector(
        &mut self,
        n: u32,
        id_tag: String,
        parent: Option<String>,
    ) -> Result<(), LocalError> {
        let count = u32::try_from(self.connectors.len()).unwrap_or(0);
        let reservation = match self
            .reservations
            .admit(n, &id_tag, parent.as_deref(), count, |m| self.is_free(m))
        {
            Admission::Holder(id) => Some(id),
            Admission::Free => None,
            Admission::Reserved => {
                return Err(LocalError::Refused(format!("connector {n} is reserved")));
            }
        };
        let deadline = self.keys.connection_timeout().map(|t| Instant::now() + t);
        let Some(c) = self.connectors.get_mut(&n) else {
            return Err(LocalError::UnknownConnector(n));
        };
        c.authorized = Some(Authorized {
            id_tag,
            reservation,
            deadline,
        });
        self.report(n);
        self.try_start(n).await
    }

    // ----- local commands ----------------------------------------------------------------

    async fn local(&mut self, command: LocalCommand) -> Result<(), OcppError> {
        match command {
            LocalCommand::Plug(n, reply) => {
                let result = match self.connectors.get_mut(&n) {
                    None => Err(LocalError::UnknownConnector(n)),
                    Some(c) if c.plugged => Err(LocalError::Refused("already plugged in".into())),
                    Some(c) => {
                        c.plugged = true;
                        if let Some(gun) = self.guns.get(&n) {
                            let _ = gun
                                .request(|r| GunCommand::CpState(hal::CpState::B, r))
                                .await;
                        }
                        self.report(n);
                        self.try_start(n).await
                    }
                };
                let _ = reply.send(result);
            }
            LocalCommand::Unplug(n, reply) => {
                let result = match self.connectors.get(&n) {
                    None => Err(LocalError::UnknownConnector(n)),
                    Some(c) if !c.plugged => Err(LocalError::Refused("not plugged in".into())),
                    Some(_) => {
                        // A DC cable cannot stay in the session without the vehicle:
                        // StopTransactionOnEVSideDisconnect is read-only true here.
                        let reason = Reason::EvDisconnected;
                        self.stop_connector(n, reason).await;
                        if let Some(c) = self.connectors.get_mut(&n) {
                            c.plugged = false;
                            c.finishing = false;
                            c.authorized = None;
                        }
                        if let Some(gun) = self.guns.get(&n) {
                            let _ = gun
                                .request(|r| GunCommand::CpState(hal::CpState::A, r))
                                .await;
                        }
                        self.report(n);
                        Ok(())
                    }
                };
                let _ = reply.send(result);
            }
            LocalCommand::Start(n, id_tag, reply) => {
                let result = if !self.connectors.contains_key(&n) {
                    Err(LocalError::UnknownConnector(n))
                } else if self
                    .connectors
                    .get(&n)
                    .is_some_and(|c| c.tx.is_some() || c.gun_active)
                {
                    Err(LocalError::Refused("a transaction runs".into()))
                } else if self.connectors.get(&n).is_some_and(|c| c.inoperative) {
                    Err(LocalError::Refused("the connector is unavailable".into()))
                } else {
                    match id_tag {
                        Some(tag) => self.present(n, tag, false).await,
                        None => {
                            let tag = self.settings.free_vend_id_tag.clone();
                            self.authorize_connector(n, tag, None).await
                        }
                    }
                };
                let _ = reply.send(result);
            }
            LocalCommand::Stop(n, reply) => {
                let result = if !self.connectors.contains_key(&n) {
                    Err(LocalError::UnknownConnector(n))
                } else if self.stop_connector(n, Reason::Local).await {
                    Ok(())
                } else {
                    Err(LocalError::Refused("no transaction runs".into()))
                };
                let _ = reply.send(result);
            }
            LocalCommand::SuspendEvse(n, suspended, reply) => {
                let result = match self.connectors.get_mut(&n) {
                    None => Err(LocalError::UnknownConnector(n)),
                    Some(c) => {
                        c.suspended = suspended;
                        Ok(())
                    }
                };
                self.apply_limits().await;
                self.report(n);
                let _ = reply.send(result);
            }
            LocalCommand::Info(reply) => {
                let _ = reply.send(self.info());
            }
        }
        Ok(())
    }

    fn info(&self) -> Info {
        let connectors = self
            .connectors
            .iter()
            .map(|(&n, c)| {
                let snapshot = self.snapshot(n);
                let (status, _) = snapshot
                    .as_ref()
                    .map(|s| status::derive(s, self.facts(n)))
                    .unwrap_or((
                        ChargePointStatus::Unavailable,
                        ChargePointErrorCode::NoError,
                    ));
                ConnectorInfo {
                    connector: n,
                    status: status.to_string(),
                    plugged: c.plugged,
                    transaction_id: c
                        .tx
                        .as_ref()
                        .map(|t| self.tx_ids.get(&t.local_id).copied().unwrap_or(-1)),
                    id_tag: c.tx.as_ref().map(|t| t.id_tag.clone()),
                    register_wh: snapshot.as_ref().map_or(0, status::register),
                    session_energy_wh: snapshot.as_ref().map_or(0.0, |s| s.status.energy_wh),
                    power_w: snapshot
                        .as_ref()
                        .map_or(0.0, |s| s.status.voltage * s.status.current),
                }
            })
            .collect();
        Info {
            station_id: self.settings.station_id.clone(),
            csms_url: self.settings.url.clone(),
            connected: self.caller.is_some(),
            registration: self.registration.as_str().into(),
            queued_messages: self.queue.len(),
            certificate_valid_until: self
                .certificates
                .identity(self.clock.now())
                .map(|c| Timestamp::from(c.not_after()).to_string()),
            connectors,
        }
    }

    async fn save_availability(&mut self) -> Result<(), OcppError> {
        let map: BTreeMap<u32, bool> = self
            .connectors
            .iter()
            .map(|(&n, c)| (n, c.inoperative))
            .collect();
        self.store.save(AVAILABILITY_DOC, &map).await?;
        Ok(())
    }

    // ----- the central system's requests ---------------------------------------------------

    async fn answer(
        &mut self,
        call: IncomingCall<V16>,
        link: &watch::Sender<Connection>,
    ) -> Result<(), OcppError> {
        if matches!(self.registration, Registration::Rejected(_)) {
            call.reject(
                ErrorCode::SecurityError,
                "not accepted by the central system",
            );
            return Ok(());
        }
        let call = match self.answer_security(call, link).await? {
            Ok(()) => return Ok(()),
            Err(call) => call,
        };
        let call = match self.answer_transfer(call).await? {
            Ok(()) => return Ok(()),
            Err(call) => call,
        };
        let pending = matches!(
            self.registration,
            Registration::Pending(_) | Registration::Booting
        );
        let count = u32::try_from(self.connectors.len()).unwrap_or(0);
        let known = |id: i32| u32::try_from(id).ok().filter(|n| (1..=count).contains(n));
        let request = call.request.clone();
        match &request {
            Request::RemoteStartTransaction(req) => {
                let req = req.clone();
                let target = match req.connector_id {
                    Some(id) => known(id),
                    None => (1..=count).find(|&n| {
                        self.is_free(n)
                            || self
                                .connectors
                                .get(&n)
                                .is_some_and(|c| c.plugged && c.tx.is_none())
                    }),
                };
                let usable = target.filter(|&n| {
                    !pending
                        && self.connectors.get(&n).is_some_and(|c| {
                            c.tx.is_none()
                                && !c.gun_active
                                && !c.inoperative
                                && c.authorized.is_none()
                        })
                        && self.snapshot(n).is_some_and(|s| s.status.fault.is_none())
                });
                let Some(n) = usable else {
                    call.respond(RemoteStartTransactionResponse::new(
                        RemoteStartStopStatus::Rejected,
                    ));
                    return Ok(());
                };
                let parent = known_parent(&self.auth, &req.id_tag);
                if self
                    .reservations
                    .admit(n, &req.id_tag, parent.as_deref(), count, |m| {
                        self.is_free(m)
                    })
                    == Admission::Reserved
                {
                    call.respond(RemoteStartTransactionResponse::new(
                        RemoteStartStopStatus::Rejected,
                    ));
                    return Ok(());
                }
                if let Some(profile) = &req.charging_profile {
                    if smart_charging::v16::set_for_next_transaction(
                        &mut self.profiles,
                        connector_id(n),
                        profile,
                    )
                    .is_err()
                    {
                        call.respond(RemoteStartTransactionResponse::new(
                            RemoteStartStopStatus::Rejected,
                        ));
                        return Ok(());
                    }
                    self.save_profiles().await?;
                }
                call.respond(RemoteStartTransactionResponse::new(
                    RemoteStartStopStatus::Accepted,
                ));
                if let Err(e) = self.present(n, req.id_tag, true).await {
                    self.profiles.cancel_next_transaction(n);
                    tracing::info!(connector = n, error = %e, "remote start failed");
                }
            }
            Request::RemoteStopTransaction(req) => {
                let id = i64::from(req.transaction_id);
                let target = self
                    .connectors
                    .iter()
                    .find(|(_, c)| {
                        c.tx.as_ref()
                            .is_some_and(|t| self.tx_ids.get(&t.local_id) == Some(&id))
                    })
                    .map(|(&n, _)| n);
                let status = match target {
                    Some(n) if !pending => {
                        call.respond(RemoteStopTransactionResponse::new(
                            RemoteStartStopStatus::Accepted,
                        ));
                        self.stop_connector(n, Reason::Remote).await;
                        return Ok(());
                    }
                    _ => RemoteStartStopStatus::Rejected,
                };
                call.respond(RemoteStopTransactionResponse::new(status));
            }
            Request::ChangeAvailability(req) => {
                let inoperative = req.r#type == AvailabilityType::Inoperative;
                let targets: Vec<u32> = match req.connector_id {
                    0 => (1..=count).collect(),
                    id => match known(id) {
                        Some(n) => vec![n],
                        None => {
                            call.respond(ChangeAvailabilityResponse::new(
                                AvailabilityStatus::Rejected,
                            ));
                            return Ok(());
                        }
                    },
                };
                let mut scheduled = false;
                for n in &targets {
                    if let Some(c) = self.connectors.get_mut(n) {
                        if c.tx.is_some() || c.gun_active {
                            c.scheduled = Some(inoperative);
                            scheduled = true;
                        } else {
                            c.inoperative = inoperative;
                            c.scheduled = None;
                        }
                    }
                }
                if inoperative {
                    for n in &targets {
                        self.reservations.drop_connector(*n);
                    }
                    self.store
                        .save(RESERVATIONS_DOC, &self.reservations)
                        .await?;
                }
                let status = if scheduled {
                    AvailabilityStatus::Scheduled
                } else {
                    AvailabilityStatus::Accepted
                };
                call.respond(ChangeAvailabilityResponse::new(status));
                if req.connector_id == 0 {
                    let station = if inoperative {
                        ChargePointStatus::Unavailable
                    } else {
                        ChargePointStatus::Available
                    };
                    self.notify_status(0, station, ChargePointErrorCode::NoError);
                }
                self.save_availability().await?;
                self.report_all();
            }
            Request::ChangeConfiguration(req) => {
                let facts = self.certificates.facts(self.clock.now());
                let result = self.keys.try_change(&req.key, &req.value, &facts);
                let status = match &result {
                    Ok(key) => key.accepted_status(),
                    Err(e) => e.status(),
                };
                call.respond(ChangeConfigurationResponse::new(status));
                if let Ok(key) = result {
                    self.store.save(KEYS_DOC, &self.keys.snapshot()).await?;
                    self.key_changed(key, link);
                }
            }
            Request::GetConfiguration(req) => match self.keys.get(req) {
                Ok(answer) => call.respond(answer),
                Err(e) => call.reject(ErrorCode::OccurrenceConstraintViolation, e.to_string()),
            },
            Request::ClearCache(_) => {
                let status = if self.keys.authorization_cache_enabled() {
                    self.auth.cache.clear();
                    self.store.save(AUTH_DOC, &self.auth).await?;
                    ClearCacheStatus::Accepted
                } else {
                    ClearCacheStatus::Rejected
                };
                call.respond(ClearCacheResponse::new(status));
            }
            Request::DataTransfer(_) => {
                call.respond(DataTransferResponse::new(
                    DataTransferStatus::UnknownVendorId,
                ));
            }
            Request::Reset(req) => {
                let reason = match req.r#type {
                    ResetType::Hard => Reason::HardReset,
                    ResetType::Soft => Reason::SoftReset,
                };
                call.respond(ResetResponse::new(ResetStatus::Accepted));
                let info = format!("{} reset requested by the central system", req.r#type);
                self.security_event(event::RESET_OR_REBOOT, Some(&info))
                    .await?;
                tracing::warn!(kind = %req.r#type, "reset requested by the central system");
                for n in 1..=count {
                    self.stop_connector(n, reason).await;
                }
                // The application restarts its OCPP side: a new connection and boot, with the
                // StopTransactions queued before.
                self.reconnect.notify_one();
            }
            Request::UnlockConnector(req) => {
                let status = match known(req.connector_id) {
                    Some(n) => {
                        self.stop_connector(n, Reason::UnlockCommand).await;
                        UnlockStatus::Unlocked
                    }
                    None => UnlockStatus::NotSupported,
                };
                call.respond(UnlockConnectorResponse::new(status));
            }
            Request::TriggerMessage(req) => {
                let req = req.clone();
                let connector = req.connector_id.and_then(known);
                if req
                    .connector_id
                    .is_some_and(|id| id != 0 && known(id).is_none())
                {
                    call.respond(TriggerMessageResponse::new(TriggerMessageStatus::Rejected));
                    return Ok(());
                }
                if req.requested_message == MessageTrigger::BootNotification
                    && self.registration == Registration::Accepted
                {
                    call.respond(TriggerMessageResponse::new(TriggerMessageStatus::Rejected));
                    return Ok(());
                }
                // The confirmation goes first, then the triggered message.
                call.respond(TriggerMessageResponse::new(TriggerMessageStatus::Accepted));
                self.triggered(req.requested_message, connector);
            }
            Request::GetLocalListVersion(_) => {
                let version = if self.keys.local_auth_list_enabled() {
                    self.auth.list.version()
                } else {
                    -1
                };
                call.respond(GetLocalListVersionResponse::new(version));
            }
            Request::SendLocalList(req) => {
                let entries = req.local_authorization_list.clone().unwrap_or_default();
                let status = self.auth.list.update(
                    req.list_version,
                    req.update_type,
                    &entries,
                    usize::try_from(self.keys.send_local_list_max_length()).unwrap_or(0),
                    usize::try_from(self.keys.local_auth_list_max_length()).unwrap_or(0),
                );
                if status == UpdateStatus::Accepted {
                    self.store.save(AUTH_DOC, &self.auth).await?;
                }
                call.respond(SendLocalListResponse::new(status));
            }
            Request::ReserveNow(req) => {
                let reservation = Reservation {
                    id: req.reservation_id,
                    connector: u32::try_from(req.connector_id).unwrap_or(u32::MAX),
                    expiry: req.expiry_date.to_utc(),
                    id_tag: req.id_tag.clone(),
                    parent_id_tag: req.parent_id_tag.clone(),
                };
                let occupancy: Vec<Occupancy> = (1..=count).map(|n| self.occupancy(n)).collect();
                let status = self.reservations.reserve(
                    reservation,
                    count,
                    self.keys.reserve_connector_zero_supported(),
                    |n| {
                        occupancy
                            .get((n as usize).wrapping_sub(1))
                            .copied()
                            .unwrap_or(Occupancy::Unavailable)
                    },
                    self.clock.now(),
                );
                call.respond(ReserveNowResponse::new(status));
                if status == ReservationStatus::Accepted {
                    self.store
                        .save(RESERVATIONS_DOC, &self.reservations)
                        .await?;
                    self.report_all();
                }
            }
            Request::CancelReservation(req) => {
                let status = self.reservations.cancel(req.reservation_id);
                call.respond(CancelReservationResponse::new(status));
                if status == CancelReservationStatus::Accepted {
                    self.store
                        .save(RESERVATIONS_DOC, &self.reservations)
                        .await?;
                    self.report_all();
                }
            }
            Request::SetChargingProfile(req) => {
                match smart_charging::v16::set(&mut self.profiles, req, self.clock.now()) {
                    Ok(status) => {
                        call.respond(SetChargingProfileResponse::new(status));
                        self.save_profiles().await?;
                        self.apply_limits().await;
                    }
                    Err(v) => call.reject(v.error_code(), v.to_string()),
                }
            }
            Request::ClearChargingProfile(req) => {
                let status = smart_charging::v16::clear(&mut self.profiles, req);
                call.respond(ClearChargingProfileResponse::new(status));
                self.save_profiles().await?;
                self.apply_limits().await;
            }
            Request::GetCompositeSchedule(req) => {
                match smart_charging::v16::composite(&self.profiles, req, self.clock.now()) {
                    Ok(answer) => call.respond(answer),
                    Err(v) => call.reject(v.error_code(), v.to_string()),
                }
            }
            other => {
                let action = other.action();
                call.reject(
                    ErrorCode::NotSupported,
                    format!("{action} is not supported by this charge point yet"),
                );
            }
        }
        Ok(())
    }

    fn key_changed(&mut self, key: Key, link: &watch::Sender<Connection>) {
        match key {
            Key::HeartbeatInterval if self.accepted() => {
                self.next_heartbeat = Some(Instant::now() + self.keys.heartbeat_interval());
            }
            Key::ClockAlignedDataInterval => self.schedule_aligned(),
            Key::MeterValueSampleInterval => {
                let interval = self.keys.meter_value_sample_interval();
                for c in self.connectors.values_mut() {
                    if let Some(tx) = c.tx.as_mut() {
                        tx.next_sample = interval.map(|i| Instant::now() + i);
                    }
                }
            }
            Key::AuthorizationKey
            | Key::SecurityProfile
            | Key::WebSocketPingInterval
            | Key::MessageTimeout => {
                link.send_replace(self.connection());
                if matches!(key, Key::AuthorizationKey | Key::SecurityProfile) {
                    tracing::info!(%key, "security settings changed; reconnecting with them");
                    self.reconnect.notify_one();
                }
            }
            _ => {}
        }
    }

    fn triggered(&mut self, message: MessageTrigger, connector: Option<u32>) {
        match message {
            MessageTrigger::BootNotification => self.boot(),
            MessageTrigger::Heartbeat => {
                if let Some(caller) = &self.caller {
                    let answer = caller.submit(HeartbeatRequest::new());
                    let inputs = self.inputs.clone();
                    tokio::spawn(async move {
                        let _ = inputs.send(Input::Heartbeat(answer.await));
                    });
                }
            }
            MessageTrigger::StatusNotification => {
                let targets: Vec<u32> = match connector {
                    Some(n) => vec![n],
                    None => {
                        self.notify_status(
                            0,
                            ChargePointStatus::Available,
                            ChargePointErrorCode::NoError,
                        );
                        self.connectors.keys().copied().collect()
                    }
                };
                for n in targets {
                    if let Some(c) = self.connectors.get_mut(&n) {
                        c.reported = None;
                    }
                    self.report(n);
                }
            }
            MessageTrigger::MeterValues => {
                let list = self.keys.meter_values_sampled_data().to_vec();
                let at = Timestamp::from(self.clock.now());
                let targets: Vec<u32> = match connector {
                    Some(n) => vec![n],
                    None => self.connectors.keys().copied().collect(),
                };
                for n in targets {
                    let Some(snapshot) = self.snapshot(n) else {
                        continue;
                    };
                    let value = status::meter_value(
                        &snapshot,
                        &list,
                        ReadingContext::Trigger,
                        at,
                        self.settings.meter_noise_percent,
                    );
                    let mut request = MeterValuesRequest::new(connector_id(n), vec![value]);
                    request.transaction_id = self
                        .connectors
                        .get(&n)
                        .and_then(|c| c.tx.as_ref())
                        .and_then(|t| self.tx_ids.get(&t.local_id))
                        .and_then(|id| i32::try_from(*id).ok());
                    self.send(request);
                }
            }
            MessageTrigger::DiagnosticsStatusNotification => {
                self.send(self.diagnostics_status());
            }
            MessageTrigger::FirmwareStatusNotification => {
                self.send(self.firmware_status());
            }
        }
    }
}

/// How often a running transaction's meter reading is persisted for a power-loss stop.
const CHECKPOINT: Duration = Duration::from_secs(10);

/// Pending/Rejected with interval 0: our own delay.
fn retry_delay(interval: Duration) -> Duration {
    if interval.is_zero() {
        Duration::from_secs(30) + Duration::from_millis(u64::from(rand::random::<u16>() % 5000))
    } else {
        interval
    }
}

/// Keeps at most `max` meter values, dropping from the middle (never the first or the last).
fn thin(values: &mut Vec<MeterValue>, max: usize) {
    let max = max.max(2);
    while values.len() > max {
        let middle = values.len() / 2;
        values.remove(middle);
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transaction_data_is_thinned_in_the_middle() {
        let at = Timestamp::now();
        let mut values: Vec<MeterValue> = (0..10)
            .map(|i| MeterValue::new(at, vec![SampledValue::new(i.to_string())]))
            .collect();
        thin(&mut values, 4);
        let kept: Vec<&str> = values
            .iter()
            .map(|v| v.sampled_value[0].value.as_str())
            .collect();
        assert_eq!(kept.len(), 4);
        assert_eq!(kept.first(), Some(&"0"));
        assert_eq!(kept.last(), Some(&"9"));
    }
}
