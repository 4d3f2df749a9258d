//! Firmware updates: UpdateFirmware (OCPP 1.6 §6.50, FirmwareStatusNotification) and
//! SignedUpdateFirmware (security whitepaper L01, SignedFirmwareStatusNotification with the
//! request's id).
//!
//! ```text
//!              retrieve date reached
//! (answer) ──► [DownloadScheduled] ──► Downloading ──► Downloaded ──► (signed) SignatureVerified
//!                                        │  ▲ retry          │                   │ InvalidSignature ✗
//!                                        ▼  │                │ (legacy)          ▼
//!                                 DownloadFailed ✗           └──────► [InstallScheduled]
//!                                                                         │ install date reached
//!                                                                         ▼
//!                             hold idle connectors Unavailable, wait for transactions to end
//!                                                                         │
//!        Never / ToActivate: Installing ──► install ──► (ToActivate: InstallRebooting, reboot)
//!        BeforeInstall:      InstallRebooting, reboot ──► Installing ──► install
//!                                                                         │
//!                          Installed + FirmwareUpdated | InstallationFailed | InstallVerificationFailed
//! ```
//!
//! Bracketed states only occur with a future retrieve or install date, and only signed jobs report
//! them. A legacy job reports Downloading, Downloaded, Installing and one end state. Charging
//! cannot go on while the station installs (it restarts), so every installation waits for the
//! running transactions and holds the idle connectors Unavailable meanwhile (L01.FR.06/07, the
//! 1.6 errata).
//!
//! A new SignedUpdateFirmware cancels the running job (`AcceptedCanceled`, L01.FR.26) unless it is
//! installing or rebooting (`Rejected`, L01.FR.27). A new UpdateFirmware replaces a cancelable job
//! the same way and is dropped while one installs: its empty answer cannot refuse. A canceled job
//! sends no further status. A job interrupted by an unplanned restart counts a running download as
//! a failed attempt, repeats a running signature check and fails a running installation.

use super::{RetryPolicy, TransferError, TransferId, check_location};
use crate::keys::FileTransferProtocol;
use chrono::{DateTime, Utc};
use proto_ocpp::v16::{
    FirmwareStatus, FirmwareStatusEnum, FirmwareStatusNotificationRequest,
    SignedFirmwareStatusNotificationRequest, SignedUpdateFirmwareRequest,
    SignedUpdateFirmwareResponse, UpdateFirmwareRequest, UpdateFirmwareResponse,
    UpdateFirmwareStatusEnum,
};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

#[cfg(test)]
mod tests;

/// When the station reboots for an installation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RebootPolicy {
    /// The installation needs no reboot.
    Never,
    /// Reboot first; the installation runs after the restart (a bootloader installs). The
    /// whitepaper's order: InstallRebooting, Installing, Installed (L01.FR.15).
    BeforeInstall,
    /// Install (stage the new firmware), then reboot into it; Installed is reported once the new
    /// firmware runs: Installing, InstallRebooting, Installed.
    ToActivate,
}

/// The station's side of firmware updates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirmwareSettings {
    /// SupportedFileTransferProtocols.
    pub protocols: Vec<FileTransferProtocol>,
    /// Retries when a request does not say.
    pub retry: RetryPolicy,
    /// How installations reboot.
    pub reboot: RebootPolicy,
}

/// The caller's verdict on a SignedUpdateFirmware signing certificate, checked against the
/// ManufacturerRootCertificates before answering (L01.FR.23).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateCheck {
    /// Valid.
    Valid,
    /// Invalid or not verifiable.
    Invalid,
    /// Revoked.
    Revoked,
}

/// The outcome of [`FirmwareAction::VerifySignature`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureCheck {
    /// The signature matches the whole file.
    Valid,
    /// It does not, or is missing or unreadable.
    Invalid,
}

/// The outcome of [`FirmwareAction::Download`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownloadResult {
    /// The file is complete.
    Downloaded,
    /// The attempt failed (connection, HTTP status, timeout, disk).
    Failed,
}

/// The outcome of [`FirmwareAction::Install`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstallResult {
    /// Installed (with [`RebootPolicy::ToActivate`]: staged, ready for the reboot).
    Installed,
    /// The installation failed.
    Failed,
    /// The image failed its own check (checksum, format) and was not installed.
    VerificationFailed,
}

/// A security event a firmware job raises (whitepaper §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirmwareEvent {
    /// A SignedUpdateFirmware certificate was invalid or revoked (L01.FR.02).
    InvalidFirmwareSigningCertificate,
    /// A downloaded image failed its signature check (L01.FR.03).
    InvalidFirmwareSignature,
    /// New firmware was installed; critical, queued for guaranteed delivery.
    FirmwareUpdated,
}

impl FirmwareEvent {
    /// The event's name in SecurityEventNotification.
    pub const fn as_str(self) -> &'static str {
        match self {
            FirmwareEvent::InvalidFirmwareSigningCertificate => "InvalidFirmwareSigningCertificate",
            FirmwareEvent::InvalidFirmwareSignature => "InvalidFirmwareSignature",
            FirmwareEvent::FirmwareUpdated => "FirmwareUpdated",
        }
    }

    /// Whether the whitepaper marks it critical (sent to the central system, not only logged).
    pub const fn is_critical(self) -> bool {
        matches!(self, FirmwareEvent::FirmwareUpdated)
    }
}

/// What the driver must do for a firmware job.
#[derive(Debug, Clone, PartialEq)]
pub enum FirmwareAction {
    /// Send this FirmwareStatusNotification (UpdateFirmware jobs).
    SendStatus(FirmwareStatusNotificationRequest),
    /// Send this SignedFirmwareStatusNotification (SignedUpdateFirmware jobs).
    SendSignedStatus(SignedFirmwareStatusNotificationRequest),
    /// Log this security event, and send it if it is critical.
    SecurityEvent(FirmwareEvent),
    /// HTTP GET `url` into the local file `file` (created or truncated); report with
    /// [`FirmwareJob::handle_download`].
    Download {
        /// The transfer to report.
        id: TransferId,
        /// The firmware's location.
        url: String,
        /// The local file name, unique per job.
        file: String,
    },
    /// Abort download `id` if it still runs; its result will be refused.
    CancelDownload {
        /// The download.
        id: TransferId,
    },
    /// Check `signature` (base64) over the whole `file` with the signing `certificate` (PEM);
    /// report with [`FirmwareJob::handle_signature`].
    VerifySignature {
        /// The transfer to report.
        id: TransferId,
        /// The downloaded file.
        file: String,
        /// The firmware signing certificate.
        certificate: String,
        /// The signature.
        signature: String,
    },
    /// Install `file`; report with [`FirmwareJob::handle_install`].
    Install {
        /// The transfer to report.
        id: TransferId,
        /// The downloaded file.
        file: String,
    },
    /// Make every connector without a transaction Unavailable, and each one whose transaction
    /// ends, until [`FirmwareAction::ReleaseConnectors`] (L01.FR.07). A restart releases them.
    HoldConnectors,
    /// End the hold.
    ReleaseConnectors,
    /// Persist [`FirmwareJob::snapshot`] and restart the station; at start,
    /// [`FirmwareJob::resume`] carries on.
    Reboot,
    /// The local file is no longer needed (it may not exist).
    RemoveFile {
        /// The file.
        file: String,
    },
}

/// Which request started a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Flavour {
    /// UpdateFirmware.
    Legacy,
    /// SignedUpdateFirmware.
    Signed {
        request_id: i32,
        certificate: String,
        signature: String,
        install_at: Option<DateTime<Utc>>,
    },
}

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Stage {
    /// Waiting for the retrieve date.
    Scheduled,
    /// A download runs.
    Downloading,
    /// Waiting for the next download attempt.
    RetryWait { at: DateTime<Utc> },
    /// The signature check runs.
    Verifying,
    /// Waiting for the install date.
    InstallScheduled { at: DateTime<Utc> },
    /// Connectors held, waiting for the transactions to end.
    WaitingForTransactions,
    /// Rebooting to install ([`RebootPolicy::BeforeInstall`]).
    RebootingToInstall,
    /// The installation runs.
    Installing,
    /// Rebooting into the installed firmware ([`RebootPolicy::ToActivate`]).
    RebootingToActivate,
}

impl Stage {
    fn holds_connectors(self) -> bool {
        matches!(
            self,
            Stage::WaitingForTransactions
                | Stage::RebootingToInstall
                | Stage::Installing
                | Stage::RebootingToActivate
        )
    }
}

/// One firmware update in progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Update {
    flavour: Flavour,
    location: String,
    retrieve_at: DateTime<Utc>,
    retry: RetryPolicy,
    reboot: RebootPolicy,
    /// Failed download attempts so far.
    failures: u32,
    /// The local file.
    file: String,
    /// The transfer the current stage waits for.
    transfer: TransferId,
    stage: Stage,
}

/// Whether a job goes on after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Running,
    Finished,
}

/// The last SignedFirmwareStatusNotification sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct SignedStatus {
    status: FirmwareStatusEnum,
    request_id: i32,
}

/// Actions, transfer numbers and the last signed status: what every step may touch.
#[derive(Debug, Clone, PartialEq, Default)]
struct Effects {
    actions: VecDeque<FirmwareAction>,
    last_signed: Option<SignedStatus>,
    next_transfer: u64,
}

impl Effects {
    fn act(&mut self, action: FirmwareAction) {
        self.actions.push_back(action);
    }

    fn transfer(&mut self) -> TransferId {
        self.next_transfer += 1;
        TransferId(self.next_transfer)
    }

    /// Reports `status` in the job's flavour. Legacy jobs skip the states 1.6 lacks.
    fn report(&mut self, flavour: &Flavour, status: FirmwareStatusEnum) {
        match flavour {
            Flavour::Legacy => {
                if let Some(status) = legacy_status(status) {
                    self.act(FirmwareAction::SendStatus(
                        FirmwareStatusNotificationRequest::new(status),
                    ));
                }
            }
            Flavour::Signed { request_id, .. } => {
                let mut request = SignedFirmwareStatusNotificationRequest::new(status);
                request.request_id = Some(*request_id);
                self.act(FirmwareAction::SendSignedStatus(request));
                self.last_signed = Some(SignedStatus {
                    status,
                    request_id: *request_id,
                });
            }
        }
    }
}

/// The 1.6 status a legacy job reports on entering a signed-flow state, if any.
fn legacy_status(status: FirmwareStatusEnum) -> Option<FirmwareStatus> {
    use FirmwareStatusEnum as S;
    match status {
        S::Downloading => Some(FirmwareStatus::Downloading),
        S::Downloaded => Some(FirmwareStatus::Downloaded),
        S::DownloadFailed => Some(FirmwareStatus::DownloadFailed),
        // A legacy job reboots before installing only as part of the installation.
        S::Installing | S::InstallRebooting => Some(FirmwareStatus::Installing),
        S::Installed => Some(FirmwareStatus::Installed),
        S::InstallationFailed | S::InstallVerificationFailed | S::InvalidSignature => {
            Some(FirmwareStatus::InstallationFailed)
        }
        S::Idle => Some(FirmwareStatus::Idle),
        S::DownloadScheduled | S::DownloadPaused | S::SignatureVerified | S::InstallScheduled => {
            None
        }
    }
}

impl Update {
    fn is_signed(&self) -> bool {
        matches!(self.flavour, Flavour::Signed { .. })
    }

    /// Right after the answer: schedule or start the download.
    fn begin(&mut self, fx: &mut Effects, now: DateTime<Utc>) {
        if self.retrieve_at > now {
            self.stage = Stage::Scheduled;
            fx.report(&self.flavour, FirmwareStatusEnum::DownloadScheduled);
        } else {
            fx.report(&self.flavour, FirmwareStatusEnum::Downloading);
            self.download(fx);
        }
    }

    fn download(&mut self, fx: &mut Effects) {
        self.transfer = fx.transfer();
        self.stage = Stage::Downloading;
        fx.act(FirmwareAction::Download {
            id: self.transfer,
            url: self.location.clone(),
            file: self.file.clone(),
        });
    }

    fn download_failed(&mut self, fx: &mut Effects, now: DateTime<Utc>) -> Flow {
        self.failures += 1;
        if self.failures > self.retry.retries {
            fx.report(&self.flavour, FirmwareStatusEnum::DownloadFailed);
            self.end(fx)
        } else {
            self.stage = Stage::RetryWait {
                at: self.retry.next_attempt(now),
            };
            Flow::Running
        }
    }

    fn downloaded(&mut self, fx: &mut Effects, now: DateTime<Utc>, busy: bool) -> Flow {
        fx.report(&self.flavour, FirmwareStatusEnum::Downloaded);
        if self.is_signed() {
            self.verify(fx);
        } else {
            self.ready(fx, now, busy);
        }
        Flow::Running
    }

    fn verify(&mut self, fx: &mut Effects) {
        if let Flavour::Signed {
            certificate,
            signature,
            ..
        } = &self.flavour
        {
            self.transfer = fx.transfer();
            self.stage = Stage::Verifying;
            fx.act(FirmwareAction::VerifySignature {
                id: self.transfer,
                file: self.file.clone(),
                certificate: certificate.clone(),
                signature: signature.clone(),
            });
        }
    }

    /// Downloaded and, if signed, verified: install now or at the install date.
    fn ready(&mut self, fx: &mut Effects, now: DateTime<Utc>, busy: bool) {
        match self.flavour {
            Flavour::Signed {
                install_at: Some(at),
                ..
            } if at > now => {
                self.stage = Stage::InstallScheduled { at };
                fx.report(&self.flavour, FirmwareStatusEnum::InstallScheduled);
            }
            _ => self.hold(fx, busy),
        }
    }

    /// Holds the connectors and installs once no transaction runs.
    fn hold(&mut self, fx: &mut Effects, busy: bool) {
        fx.act(FirmwareAction::HoldConnectors);
        if busy {
            self.stage = Stage::WaitingForTransactions;
        } else {
            self.install(fx);
        }
    }

    fn install(&mut self, fx: &mut Effects) {
        match self.reboot {
            RebootPolicy::BeforeInstall => {
                fx.report(&self.flavour, FirmwareStatusEnum::InstallRebooting);
                self.stage = Stage::RebootingToInstall;
                fx.act(FirmwareAction::Reboot);
            }
            RebootPolicy::Never | RebootPolicy::ToActivate => {
                fx.report(&self.flavour, FirmwareStatusEnum::Installing);
                self.run_installation(fx);
            }
        }
    }

    fn run_installation(&mut self, fx: &mut Effects) {
        self.transfer = fx.transfer();
        self.stage = Stage::Installing;
        fx.act(FirmwareAction::Install {
            id: self.transfer,
            file: self.file.clone(),
        });
    }

    fn installed(&mut self, fx: &mut Effects, result: InstallResult) -> Flow {
        match result {
            InstallResult::Installed if self.reboot == RebootPolicy::ToActivate => {
                if self.is_signed() {
                    fx.report(&self.flavour, FirmwareStatusEnum::InstallRebooting);
                }
                self.stage = Stage::RebootingToActivate;
                fx.act(FirmwareAction::Reboot);
                Flow::Running
            }
            InstallResult::Installed => self.succeed(fx),
            InstallResult::Failed => self.fail(fx, FirmwareStatusEnum::InstallationFailed),
            InstallResult::VerificationFailed => {
                self.fail(fx, FirmwareStatusEnum::InstallVerificationFailed)
            }
        }
    }

    fn succeed(&mut self, fx: &mut Effects) -> Flow {
        fx.report(&self.flavour, FirmwareStatusEnum::Installed);
        fx.act(FirmwareAction::SecurityEvent(
            FirmwareEvent::FirmwareUpdated,
        ));
        self.release(fx);
        self.end(fx)
    }

    fn fail(&mut self, fx: &mut Effects, status: FirmwareStatusEnum) -> Flow {
        fx.report(&self.flavour, status);
        self.release(fx);
        self.end(fx)
    }

    fn release(&self, fx: &mut Effects) {
        if self.stage.holds_connectors() {
            fx.act(FirmwareAction::ReleaseConnectors);
        }
    }

    fn end(&self, fx: &mut Effects) -> Flow {
        if self.stage != Stage::Scheduled {
            fx.act(FirmwareAction::RemoveFile {
                file: self.file.clone(),
            });
        }
        Flow::Finished
    }

    /// Cancels the job for a new request; `false` while it installs or reboots.
    fn cancel(&self, fx: &mut Effects) -> bool {
        match self.stage {
            Stage::RebootingToInstall | Stage::Installing | Stage::RebootingToActivate => false,
            stage => {
                if stage == Stage::Downloading {
                    fx.act(FirmwareAction::CancelDownload { id: self.transfer });
                }
                self.release(fx);
                self.end(fx);
                true
            }
        }
    }

    /// The status a TriggerMessage reports while this job runs.
    fn legacy_trigger_status(&self) -> FirmwareStatus {
        match self.stage {
            Stage::Scheduled => FirmwareStatus::Idle,
            Stage::Downloading | Stage::RetryWait { .. } => FirmwareStatus::Downloading,
            Stage::Verifying | Stage::InstallScheduled { .. } | Stage::WaitingForTransactions => {
                FirmwareStatus::Downloaded
            }
            Stage::RebootingToInstall | Stage::Installing | Stage::RebootingToActivate => {
                FirmwareStatus::Installing
            }
        }
    }

    fn timeout(&self) -> Option<DateTime<Utc>> {
        match self.stage {
            Stage::Scheduled => Some(self.retrieve_at),
            Stage::RetryWait { at } | Stage::InstallScheduled { at } => Some(at),
            _ => None,
        }
    }
}

/// The update waiting for transfer `id` in `stage`.
fn waiting(
    update: &mut Option<Update>,
    id: TransferId,
    stage: Stage,
) -> Result<&mut Update, TransferError> {
    update
        .as_mut()
        .filter(|u| u.transfer == id && u.stage == stage)
        .ok_or(TransferError::UnknownTransfer(id))
}

/// What survives a restart: the job, the last signed status and the transfer counter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FirmwareSnapshot {
    update: Option<Update>,
    last_signed: Option<SignedStatus>,
    next_transfer: u64,
}

/// The station's firmware update job: idle, or one update in progress.
#[derive(Debug, Clone, PartialEq)]
pub struct FirmwareJob {
    settings: FirmwareSettings,
    update: Option<Update>,
    fx: Effects,
    /// Whether a transaction runs; assumed until the driver says otherwise, so an installation
    /// never cuts a session short.
    busy: bool,
}

impl FirmwareJob {
    /// An idle job.
    pub fn new(settings: FirmwareSettings) -> FirmwareJob {
        FirmwareJob {
            settings,
            update: None,
            fx: Effects::default(),
            busy: true,
        }
    }

    /// The job after a restart, from the snapshot persisted before it. `new_firmware_running`
    /// tells whether the firmware now running is the one the job installed; it decides a job
    /// that rebooted to activate it (Installed + FirmwareUpdated, else InstallationFailed).
    /// Transactions count as running until [`FirmwareJob::handle_transactions`] says otherwise.
    pub fn resume(
        snapshot: FirmwareSnapshot,
        settings: FirmwareSettings,
        new_firmware_running: bool,
        now: DateTime<Utc>,
    ) -> FirmwareJob {
        let mut job = FirmwareJob {
            settings,
            update: snapshot.update,
            fx: Effects {
                actions: VecDeque::new(),
                last_signed: snapshot.last_signed,
                next_transfer: snapshot.next_transfer,
            },
            busy: true,
        };
        let fx = &mut job.fx;
        let flow = match job.update.as_mut() {
            None => Flow::Finished,
            Some(update) => match update.stage {
                Stage::Scheduled | Stage::RetryWait { .. } | Stage::InstallScheduled { .. } => {
                    Flow::Running
                }
                Stage::Downloading => update.download_failed(fx, now),
                Stage::Verifying => {
                    update.verify(fx);
                    Flow::Running
                }
                Stage::WaitingForTransactions => {
                    fx.act(FirmwareAction::HoldConnectors);
                    Flow::Running
                }
                Stage::RebootingToInstall => {
                    fx.act(FirmwareAction::HoldConnectors);
                    if update.is_signed() {
                        fx.report(&update.flavour, FirmwareStatusEnum::Installing);
                    }
                    update.run_installation(fx);
                    Flow::Running
                }
                // A restart releases held connectors, so the end needs no release.
                Stage::Installing => {
                    fx.report(&update.flavour, FirmwareStatusEnum::InstallationFailed);
                    update.end(fx)
                }
                Stage::RebootingToActivate => {
                    if new_firmware_running {
                        fx.report(&update.flavour, FirmwareStatusEnum::Installed);
                        fx.act(FirmwareAction::SecurityEvent(
                            FirmwareEvent::FirmwareUpdated,
                        ));
                    } else {
                        fx.report(&update.flavour, FirmwareStatusEnum::InstallationFailed);
                    }
                    update.end(fx)
                }
            },
        };
        if flow == Flow::Finished {
            job.update = None;
        }
        job
    }

    /// The state to persist (after every action, and before a reboot).
    pub fn snapshot(&self) -> FirmwareSnapshot {
        FirmwareSnapshot {
            update: self.update.clone(),
            last_signed: self.fx.last_signed,
            next_transfer: self.fx.next_transfer,
        }
    }

    /// Whether an update is in progress.
    pub fn is_active(&self) -> bool {
        self.update.is_some()
    }

    /// Whether idle connectors must show Unavailable (waiting for transactions, rebooting or
    /// installing).
    pub fn connectors_held(&self) -> bool {
        self.update
            .as_ref()
            .is_some_and(|u| u.stage.holds_connectors())
    }

    /// UpdateFirmware (1.6). A location of an unsupported protocol ends at once with
    /// DownloadFailed and leaves a running job alone; otherwise the request replaces a
    /// cancelable job and is dropped while one installs.
    pub fn answer_update_firmware(
        &mut self,
        request: &UpdateFirmwareRequest,
        now: DateTime<Utc>,
    ) -> UpdateFirmwareResponse {
        if check_location(&request.location, &self.settings.protocols).is_err() {
            self.fx
                .report(&Flavour::Legacy, FirmwareStatusEnum::DownloadFailed);
            return UpdateFirmwareResponse::new();
        }
        if !self.cancel_running() {
            return UpdateFirmwareResponse::new();
        }
        let retry = self
            .settings
            .retry
            .with_request(request.retries, request.retry_interval);
        self.start(
            Flavour::Legacy,
            request.location.clone(),
            request.retrieve_date.to_utc(),
            retry,
            now,
        );
        UpdateFirmwareResponse::new()
    }

    /// SignedUpdateFirmware, with the caller's check of the signing certificate. An invalid or
    /// revoked certificate raises InvalidFirmwareSigningCertificate; an unsupported location is
    /// `Rejected`. Neither touches a running job.
    pub fn answer_signed_update_firmware(
        &mut self,
        request: &SignedUpdateFirmwareRequest,
        certificate: CertificateCheck,
        now: DateTime<Utc>,
    ) -> SignedUpdateFirmwareResponse {
        let status = match certificate {
            CertificateCheck::Invalid => Some(UpdateFirmwareStatusEnum::InvalidCertificate),
            CertificateCheck::Revoked => Some(UpdateFirmwareStatusEnum::RevokedCertificate),
            CertificateCheck::Valid => None,
        };
        if let Some(status) = status {
            self.fx.act(FirmwareAction::SecurityEvent(
                FirmwareEvent::InvalidFirmwareSigningCertificate,
            ));
            return SignedUpdateFirmwareResponse::new(status);
        }
        let firmware = &request.firmware;
        if check_location(&firmware.location, &self.settings.protocols).is_err() {
            return SignedUpdateFirmwareResponse::new(UpdateFirmwareStatusEnum::Rejected);
        }
        let canceled = self.update.is_some();
        if !self.cancel_running() {
            return SignedUpdateFirmwareResponse::new(UpdateFirmwareStatusEnum::Rejected);
        }
        let retry = self
            .settings
            .retry
            .with_request(request.retries, request.retry_interval);
        let flavour = Flavour::Signed {
            request_id: request.request_id,
            certificate: firmware.signing_certificate.clone(),
            signature: firmware.signature.clone(),
            install_at: firmware.install_date_time.map(|t| t.to_utc()),
        };
        self.start(
            flavour,
            firmware.location.clone(),
            firmware.retrieve_date_time.to_utc(),
            retry,
            now,
        );
        SignedUpdateFirmwareResponse::new(if canceled {
            UpdateFirmwareStatusEnum::AcceptedCanceled
        } else {
            UpdateFirmwareStatusEnum::Accepted
        })
    }

    /// Cancels the running job if there is one; `false` if it cannot be canceled.
    fn cancel_running(&mut self) -> bool {
        match &self.update {
            None => true,
            Some(update) => {
                let canceled = update.cancel(&mut self.fx);
                if canceled {
                    self.update = None;
                }
                canceled
            }
        }
    }

    fn start(
        &mut self,
        flavour: Flavour,
        location: String,
        retrieve_at: DateTime<Utc>,
        retry: RetryPolicy,
        now: DateTime<Utc>,
    ) {
        let job = self.fx.transfer();
        let mut update = Update {
            flavour,
            location,
            retrieve_at,
            retry,
            reboot: self.settings.reboot,
            failures: 0,
            file: format!("firmware-{}.bin", job.0),
            transfer: job,
            stage: Stage::Scheduled,
        };
        update.begin(&mut self.fx, now);
        self.update = Some(update);
    }

    fn finish(&mut self, flow: Flow) {
        if flow == Flow::Finished {
            self.update = None;
        }
    }

    /// The result of [`FirmwareAction::Download`] `id`.
    ///
    /// # Errors
    ///
    /// [`TransferError::UnknownTransfer`] if that download is not the one running.
    pub fn handle_download(
        &mut self,
        id: TransferId,
        result: DownloadResult,
        now: DateTime<Utc>,
    ) -> Result<(), TransferError> {
        let busy = self.busy;
        let update = waiting(&mut self.update, id, Stage::Downloading)?;
        let fx = &mut self.fx;
        let flow = match result {
            DownloadResult::Downloaded => update.downloaded(fx, now, busy),
            DownloadResult::Failed => update.download_failed(fx, now),
        };
        self.finish(flow);
        Ok(())
    }

    /// The result of [`FirmwareAction::VerifySignature`] `id`.
    ///
    /// # Errors
    ///
    /// [`TransferError::UnknownTransfer`] if that check is not the one running.
    pub fn handle_signature(
        &mut self,
        id: TransferId,
        result: SignatureCheck,
        now: DateTime<Utc>,
    ) -> Result<(), TransferError> {
        let busy = self.busy;
        let update = waiting(&mut self.update, id, Stage::Verifying)?;
        let fx = &mut self.fx;
        let flow = match result {
            SignatureCheck::Valid => {
                fx.report(&update.flavour, FirmwareStatusEnum::SignatureVerified);
                update.ready(fx, now, busy);
                Flow::Running
            }
            SignatureCheck::Invalid => {
                fx.report(&update.flavour, FirmwareStatusEnum::InvalidSignature);
                fx.act(FirmwareAction::SecurityEvent(
                    FirmwareEvent::InvalidFirmwareSignature,
                ));
                update.end(fx)
            }
        };
        self.finish(flow);
        Ok(())
    }

    /// The result of [`FirmwareAction::Install`] `id`.
    ///
    /// # Errors
    ///
    /// [`TransferError::UnknownTransfer`] if that installation is not the one running.
    pub fn handle_install(
        &mut self,
        id: TransferId,
        result: InstallResult,
        _now: DateTime<Utc>,
    ) -> Result<(), TransferError> {
        let update = waiting(&mut self.update, id, Stage::Installing)?;
        let flow = update.installed(&mut self.fx, result);
        self.finish(flow);
        Ok(())
    }

    /// Whether any transaction runs; report every change. A job waiting for the transactions
    /// installs once none runs.
    pub fn handle_transactions(&mut self, running: bool, _now: DateTime<Utc>) {
        self.busy = running;
        if let Some(update) = self.update.as_mut()
            && update.stage == Stage::WaitingForTransactions
            && !running
        {
            update.install(&mut self.fx);
        }
    }

    /// The next instant [`FirmwareJob::handle_timeout`] has work (retrieve date, retry, install
    /// date).
    pub fn poll_timeout(&self) -> Option<DateTime<Utc>> {
        self.update.as_ref().and_then(Update::timeout)
    }

    /// Runs what is due at `now`.
    pub fn handle_timeout(&mut self, now: DateTime<Utc>) {
        let busy = self.busy;
        let Some(update) = self.update.as_mut() else {
            return;
        };
        if update.timeout().is_none_or(|at| at > now) {
            return;
        }
        let fx = &mut self.fx;
        match update.stage {
            Stage::Scheduled => {
                fx.report(&update.flavour, FirmwareStatusEnum::Downloading);
                update.download(fx);
            }
            Stage::RetryWait { .. } => update.download(fx),
            Stage::InstallScheduled { .. } => update.hold(fx, busy),
            _ => {}
        }
    }

    /// The next thing the driver must do.
    pub fn poll_action(&mut self) -> Option<FirmwareAction> {
        self.fx.actions.pop_front()
    }

    /// The FirmwareStatusNotification a TriggerMessage asks for: the running job's state in 1.6
    /// terms, Idle when none runs (or its download is still scheduled).
    pub fn trigger_status(&self) -> FirmwareStatusNotificationRequest {
        let status = self
            .update
            .as_ref()
            .map_or(FirmwareStatus::Idle, Update::legacy_trigger_status);
        FirmwareStatusNotificationRequest::new(status)
    }

    /// The SignedFirmwareStatusNotification an ExtendedTriggerMessage asks for: the last one
    /// sent again, or Idle (without requestId) if that was Installed or none was sent
    /// (L01.FR.28/29). Jobs started by UpdateFirmware do not count.
    pub fn trigger_signed_status(&self) -> SignedFirmwareStatusNotificationRequest {
        match self.fx.last_signed {
            Some(last) if last.status != FirmwareStatusEnum::Installed => {
                let mut request = SignedFirmwareStatusNotificationRequest::new(last.status);
                request.request_id = Some(last.request_id);
                request
            }
            _ => SignedFirmwareStatusNotificationRequest::new(FirmwareStatusEnum::Idle),
        }
    }
}
