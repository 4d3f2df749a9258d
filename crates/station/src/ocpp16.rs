//! The station's OCPP 1.6 link to its central system: connect (reconnecting with exponential
//! back-off and jitter, session or not), BootNotification until Accepted, heartbeats, a
//! StatusNotification whenever a gun's derived status changes, a transaction around every gun
//! session (StartTransaction, periodic MeterValues, StopTransaction) and remote start/stop.
//!
//! Not yet here (see the station's OCPP issue): the offline queue for transaction messages, the
//! configuration key set, local authorization, reservations, smart charging, firmware and the
//! security extensions.

use crate::gun::{GunCommand, GunHandle, GunSnapshot};
use charger::{Phase, SessionParams, Step};
use hal::Fault;
use ocpp_client::{Client, ClientConfig, ClientError, IncomingCall};
use proto_ocpp::v16::*;
use proto_ocpp::{ErrorCode, Timestamp};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// How the station reaches its central system.
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
    /// MeterValueSampleInterval.
    pub meter_sample_interval: Duration,
    /// Parameters of sessions started by RemoteStartTransaction.
    pub remote_session: SessionParams,
}

/// Starts the link; it runs until the process ends.
pub fn spawn(settings: OcppSettings, guns: Vec<GunHandle>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut backoff = Duration::from_secs(1);
        loop {
            let config = ClientConfig::new(settings.url.clone(), settings.station_id.clone());
            match Client::<V16>::connect(config).await {
                Ok(client) => {
                    backoff = Duration::from_secs(1);
                    let mut link = Link::new(&settings, &guns);
                    if let Err(e) = link.run(client).await {
                        tracing::warn!(error = %e, "central system connection lost");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot reach the central system"),
            }
            // Exponential back-off with jitter, whether or not a session runs.
            let jitter = Duration::from_millis(u64::from(rand::random::<u16>() % 1000));
            tokio::time::sleep(backoff + jitter).await;
            backoff = (backoff * 2).min(Duration::from_secs(60));
        }
    })
}

/// A gun's OCPP view.
#[derive(Debug, Default)]
struct Connector {
    status: Option<ChargePointStatus>,
    transaction: Option<Transaction>,
    remote_id_tag: Option<String>,
    remote_stop: bool,
    was_active: bool,
}

#[derive(Debug)]
struct Transaction {
    id: i32,
    next_sample: Instant,
}

struct Link<'a> {
    settings: &'a OcppSettings,
    guns: &'a [GunHandle],
    connectors: HashMap<u32, Connector>,
}

impl<'a> Link<'a> {
    fn new(settings: &'a OcppSettings, guns: &'a [GunHandle]) -> Self {
        Self {
            settings,
            guns,
            connectors: guns.iter().map(|g| (g.gun, Connector::default())).collect(),
        }
    }

    async fn run(&mut self, mut client: Client<V16>) -> Result<(), ClientError> {
        let heartbeat = self.boot(&client).await?;
        client
            .call(StatusNotificationRequest::new(
                0,
                ChargePointErrorCode::NoError,
                ChargePointStatus::Available,
            ))
            .await?;
        let (changes, mut changed) = mpsc::channel::<u32>(64);
        for gun in self.guns {
            let mut watch = gun.subscribe();
            let changes = changes.clone();
            let number = gun.gun;
            tokio::spawn(async move {
                while changes.send(number).await.is_ok() && watch.changed().await.is_ok() {}
            });
        }
        let mut next_heartbeat = Instant::now() + heartbeat;
        loop {
            let next_sample = self
                .connectors
                .values()
                .filter_map(|c| c.transaction.as_ref().map(|t| t.next_sample))
                .min();
            let wake = next_sample.map_or(next_heartbeat, |s| s.min(next_heartbeat));
            tokio::select! {
                Some(gun) = changed.recv() => self.gun_changed(&client, gun).await?,
                call = client.next_call() => match call {
                    Some(call) => self.answer(call).await,
                    None => return Err(ClientError::Closed),
                },
                () = tokio::time::sleep_until(wake) => {
                    let now = Instant::now();
                    if now >= next_heartbeat {
                        client.call(HeartbeatRequest::new()).await?;
                        next_heartbeat = now + heartbeat;
                    }
                    self.sample(&client, now).await?;
                }
            }
        }
    }

    /// BootNotification until Accepted; returns the heartbeat interval.
    async fn boot(&self, client: &Client<V16>) -> Result<Duration, ClientError> {
        loop {
            let mut boot = BootNotificationRequest::new(
                self.settings.vendor.clone(),
                self.settings.model.clone(),
            );
            boot.firmware_version = Some(self.settings.firmware_version.clone());
            let Response::BootNotification(answer) = client.call(boot).await? else {
                return Err(ClientError::Closed);
            };
            let interval = Duration::from_secs(u64::try_from(answer.interval).unwrap_or(0));
            if answer.status == RegistrationStatus::Accepted {
                tracing::info!(heartbeat = ?interval, "accepted by the central system");
                return Ok(if interval.is_zero() {
                    Duration::from_secs(300)
                } else {
                    interval
                });
            }
            // Pending or Rejected: boot again after the interval (our own delay when 0).
            tracing::info!(status = %answer.status, "not accepted yet");
            tokio::time::sleep(interval.max(Duration::from_secs(10))).await;
        }
    }

    fn handle(&self, gun: u32) -> Option<&GunHandle> {
        self.guns.iter().find(|g| g.gun == gun)
    }

    /// Reports what changed on gun `gun`: its status, and the start or end of its transaction.
    async fn gun_changed(&mut self, client: &Client<V16>, gun: u32) -> Result<(), ClientError> {
        let Some(snapshot) = self.handle(gun).map(GunHandle::snapshot) else {
            return Ok(());
        };
        let connector_id = i32::try_from(gun).unwrap_or(i32::MAX);
        let active = snapshot.status.session_active;
        let Some(state) = self.connectors.get_mut(&gun) else {
            return Ok(());
        };
        if active && !state.was_active {
            state.was_active = true;
            let id_tag = state.remote_id_tag.take().unwrap_or_else(|| "LOCAL".into());
            let start = StartTransactionRequest::new(
                connector_id,
                id_tag,
                register(&snapshot),
                Timestamp::now(),
            );
            if let Response::StartTransaction(started) = client.call(start).await? {
                tracing::info!(
                    gun,
                    transaction = started.transaction_id,
                    "transaction started"
                );
                if let Some(state) = self.connectors.get_mut(&gun) {
                    state.transaction = Some(Transaction {
                        id: started.transaction_id,
                        next_sample: Instant::now() + self.settings.meter_sample_interval,
                    });
                }
            }
        }
        let Some(state) = self.connectors.get_mut(&gun) else {
            return Ok(());
        };
        if !active && state.was_active {
            state.was_active = false;
            let remote = std::mem::take(&mut state.remote_stop);
            if let Some(transaction) = state.transaction.take() {
                let mut stop = StopTransactionRequest::new(
                    register(&snapshot),
                    Timestamp::now(),
                    transaction.id,
                );
                stop.reason = Some(stop_reason(&snapshot, remote));
                client.call(stop).await?;
                tracing::info!(gun, transaction = transaction.id, "transaction stopped");
            }
        }
        let (status, error_code) = derive_status(&snapshot);
        let Some(state) = self.connectors.get_mut(&gun) else {
            return Ok(());
        };
        if state.status != Some(status) {
            state.status = Some(status);
            let mut notification = StatusNotificationRequest::new(connector_id, error_code, status);
            notification.timestamp = Some(Timestamp::now());
            notification.info = snapshot
                .status
                .fault
                .clone()
                .map(|f| f.chars().take(50).collect());
            client.call(notification).await?;
        }
        Ok(())
    }

    /// Sends MeterValues for every transaction whose sample is due.
    async fn sample(&mut self, client: &Client<V16>, now: Instant) -> Result<(), ClientError> {
        let due: Vec<(u32, i32)> = self
            .connectors
            .iter()
            .filter_map(|(gun, c)| {
                c.transaction
                    .as_ref()
                    .filter(|t| t.next_sample <= now)
                    .map(|t| (*gun, t.id))
            })
            .collect();
        for (gun, transaction) in due {
            let Some(snapshot) = self.handle(gun).map(GunHandle::snapshot) else {
                continue;
            };
            let value = |v: String, measurand, unit| {
                let mut s = SampledValue::new(v);
                s.measurand = Some(measurand);
                s.unit = Some(unit);
                s.context = Some(ReadingContext::SamplePeriodic);
                s.location = Some(Location::Outlet);
                s
            };
            let status = &snapshot.status;
            let samples = vec![
                value(
                    register(&snapshot).to_string(),
                    Measurand::EnergyActiveImportRegister,
                    UnitOfMeasure::Wh,
                ),
                value(
                    format!("{:.1}", status.voltage * status.current),
                    Measurand::PowerActiveImport,
                    UnitOfMeasure::W,
                ),
                value(
                    format!("{:.1}", status.voltage),
                    Measurand::Voltage,
                    UnitOfMeasure::V,
                ),
                value(
                    format!("{:.1}", status.current),
                    Measurand::CurrentImport,
                    UnitOfMeasure::A,
                ),
            ];
            let connector_id = i32::try_from(gun).unwrap_or(i32::MAX);
            let mut request = MeterValuesRequest::new(
                connector_id,
                vec![MeterValue::new(Timestamp::now(), samples)],
            );
            request.transaction_id = Some(transaction);
            client.call(request).await?;
            if let Some(t) = self
                .connectors
                .get_mut(&gun)
                .and_then(|c| c.transaction.as_mut())
            {
                t.next_sample = now + self.settings.meter_sample_interval;
            }
        }
        Ok(())
    }

    /// Answers a CALL of the central system.
    async fn answer(&mut self, call: IncomingCall<V16>) {
        match &call.request {
            Request::RemoteStartTransaction(req) => {
                let gun = req
                    .connector_id
                    .and_then(|c| u32::try_from(c).ok())
                    .unwrap_or(1);
                let accepted = match self.handle(gun).cloned() {
                    Some(handle) if self.connectors.get(&gun).is_some_and(|c| !c.was_active) => {
                        if let Some(state) = self.connectors.get_mut(&gun) {
                            state.remote_id_tag = Some(req.id_tag.clone());
                        }
                        let params = self.settings.remote_session.clone();
                        let started = matches!(
                            handle
                                .request(|reply| GunCommand::Start(params, reply))
                                .await,
                            Some(Ok(()))
                        );
                        if !started && let Some(state) = self.connectors.get_mut(&gun) {
                            // The gun refused: the idTag must not stick to a later local session.
                            state.remote_id_tag = None;
                        }
                        started
                    }
                    _ => false,
                };
                let status = if accepted {
                    RemoteStartStopStatus::Accepted
                } else {
                    RemoteStartStopStatus::Rejected
                };
                call.respond(RemoteStartTransactionResponse::new(status));
            }
            Request::RemoteStopTransaction(req) => {
                let target = self
                    .connectors
                    .iter()
                    .find(|(_, c)| {
                        c.transaction
                            .as_ref()
                            .is_some_and(|t| t.id == req.transaction_id)
                    })
                    .map(|(gun, _)| *gun);
                let stopped = match target.and_then(|gun| self.handle(gun).cloned()) {
                    Some(handle) => {
                        if let Some(state) = self.connectors.get_mut(&handle.gun) {
                            state.remote_stop = true;
                        }
                        handle.request(GunCommand::Stop).await.is_some()
                    }
                    None => false,
                };
                let status = if stopped {
                    RemoteStartStopStatus::Accepted
                } else {
                    RemoteStartStopStatus::Rejected
                };
                call.respond(RemoteStopTransactionResponse::new(status));
            }
            Request::DataTransfer(_) => call.respond(DataTransferResponse::new(
                DataTransferStatus::UnknownVendorId,
            )),
            // A fixed DC cable has no lock to release from here.
            Request::UnlockConnector(_) => {
                call.respond(UnlockConnectorResponse::new(UnlockStatus::NotSupported))
            }
            // No authorization cache yet.
            Request::ClearCache(_) => {
                call.respond(ClearCacheResponse::new(ClearCacheStatus::Rejected))
            }
            other => {
                let action = other.action();
                call.reject(
                    ErrorCode::NotSupported,
                    format!("{action} is not supported by this station yet"),
                );
            }
        }
    }
}

fn register(snapshot: &GunSnapshot) -> i32 {
    snapshot
        .register_wh
        .map_or(0, |wh| wh.floor().clamp(0.0, f64::from(i32::MAX)) as i32)
}

/// The OCPP status of a gun (DC: SuspendedEVSE during cable check and precharge).
fn derive_status(snapshot: &GunSnapshot) -> (ChargePointStatus, ChargePointErrorCode) {
    let status = &snapshot.status;
    if let Some(fault) = &status.fault {
        return (ChargePointStatus::Faulted, error_code(&Fault::parse(fault)));
    }
    if !status.session_active {
        return (ChargePointStatus::Available, ChargePointErrorCode::NoError);
    }
    let ocpp = match (status.phase, status.step) {
        (_, Step::RampDown | Step::Discharge) => ChargePointStatus::Finishing,
        (Phase::Handshake, _) => ChargePointStatus::Preparing,
        (Phase::Precharge, _) => ChargePointStatus::SuspendedEvse,
        (Phase::Charging, _) => ChargePointStatus::Charging,
        _ => ChargePointStatus::Finishing,
    };
    (ocpp, ChargePointErrorCode::NoError)
}

/// Seed 003's mapping of station faults to OCPP 1.6 error codes.
fn error_code(fault: &Fault) -> ChargePointErrorCode {
    match fault {
        Fault::EmergencyStop | Fault::ContactorWelded | Fault::ContactorStuckOpen => {
            ChargePointErrorCode::PowerSwitchFailure
        }
        Fault::GroundFault | Fault::Isolation => ChargePointErrorCode::GroundFailure,
        Fault::MeterFailure => ChargePointErrorCode::PowerMeterFailure,
        Fault::Overcurrent => ChargePointErrorCode::OverCurrentFailure,
        Fault::Overvoltage => ChargePointErrorCode::OverVoltage,
        Fault::OverTemperature => ChargePointErrorCode::HighTemperature,
        Fault::CommunicationLoss => ChargePointErrorCode::InternalError,
        Fault::Other(_) => ChargePointErrorCode::OtherError,
    }
}

fn stop_reason(snapshot: &GunSnapshot, remote: bool) -> Reason {
    if remote {
        return Reason::Remote;
    }
    match snapshot
        .status
        .last_session_summary
        .as_ref()
        .and_then(|s| s.error.as_deref())
    {
        None | Some("STOP_REQUESTED") => Reason::Local,
        Some("E_STOP") => Reason::EmergencyStop,
        Some(_) => Reason::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_map_to_seed_003_error_codes() {
        assert_eq!(
            error_code(&Fault::EmergencyStop),
            ChargePointErrorCode::PowerSwitchFailure
        );
        assert_eq!(
            error_code(&Fault::GroundFault),
            ChargePointErrorCode::GroundFailure
        );
        assert_eq!(
            error_code(&Fault::MeterFailure),
            ChargePointErrorCode::PowerMeterFailure
        );
        assert_eq!(
            error_code(&Fault::Other("X".into())),
            ChargePointErrorCode::OtherError
        );
    }
}
