//! Log uploads: GetDiagnostics (OCPP 1.6 §6.26, DiagnosticsStatusNotification) and GetLog
//! (security whitepaper N01, LogStatusNotification with the request's id).
//!
//! ```text
//! (answer) ──► Uploading ──► upload ──► Uploaded
//!                              │  ▲ retry after retryInterval
//!                              ▼  │
//!                 UploadFailed (1.6) | UploadFailure, BadMessage, PermissionDenied,
//!                 NotSupportedOperation (GetLog: the last attempt's reason)
//! ```
//!
//! The station runs one upload at a time. A new request replaces the running one (N01.FR.11:
//! GetLog answers `AcceptedCanceled`). The canceled upload then ends with its failure status,
//! except a GetLog upload canceled by a GetLog, whose end the `AcceptedCanceled` answer reports.
//! A GetLog of an unsupported protocol is `Rejected` and touches nothing; a GetDiagnostics of one
//! is answered with its file name and ends at once with UploadFailed.
//!
//! The station always has a log to send (its own), so the answers always name a file.

use super::{RetryPolicy, TransferError, TransferId, check_location, file_name, upload_target};
use crate::keys::FileTransferProtocol;
use chrono::{DateTime, Utc};
use proto_ocpp::v16::{
    DiagnosticsStatus, DiagnosticsStatusNotificationRequest, GetDiagnosticsRequest,
    GetDiagnosticsResponse, GetLogRequest, GetLogResponse, LogEnum, LogStatusEnum,
    LogStatusNotificationRequest, UploadLogStatusEnum,
};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

#[cfg(test)]
mod tests;

/// The station's side of uploads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadSettings {
    /// The charge point identity, part of every file name.
    pub station_id: String,
    /// SupportedFileTransferProtocols.
    pub protocols: Vec<FileTransferProtocol>,
    /// Retries when a request does not say.
    pub retry: RetryPolicy,
}

/// Which log to upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogKind {
    /// The diagnostics log (GetDiagnostics, GetLog DiagnosticsLog).
    Diagnostics,
    /// The security log (GetLog SecurityLog).
    Security,
}

/// The content of an upload: a log and the period asked for (both ends optional, inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogContent {
    /// The log.
    pub kind: LogKind,
    /// The oldest entry to include (startTime, oldestTimestamp).
    pub from: Option<DateTime<Utc>>,
    /// The latest entry to include (stopTime, latestTimestamp).
    pub to: Option<DateTime<Utc>>,
}

/// Why an upload attempt failed; GetLog reports it as is, GetDiagnostics as UploadFailed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UploadFailure {
    /// The transfer failed: connection, timeout, server error (UploadFailure).
    Transfer,
    /// The server's answer was malformed or refused the request as such, e.g. HTTP 400 or 413
    /// (BadMessage).
    BadMessage,
    /// The server refused access, e.g. HTTP 401 or 403 (PermissionDenied).
    PermissionDenied,
    /// The server does not take uploads there, e.g. HTTP 404, 405 or 501
    /// (NotSupportedOperation).
    NotSupportedOperation,
}

impl UploadFailure {
    fn log_status(self) -> UploadLogStatusEnum {
        match self {
            UploadFailure::Transfer => UploadLogStatusEnum::UploadFailure,
            UploadFailure::BadMessage => UploadLogStatusEnum::BadMessage,
            UploadFailure::PermissionDenied => UploadLogStatusEnum::PermissionDenied,
            UploadFailure::NotSupportedOperation => UploadLogStatusEnum::NotSupportedOperation,
        }
    }
}

/// The outcome of [`UploadAction::Upload`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadResult {
    /// The server stored the file (HTTP 2xx).
    Uploaded,
    /// The attempt failed.
    Failed(UploadFailure),
}

/// What the driver must do for an upload job.
#[derive(Debug, Clone, PartialEq)]
pub enum UploadAction {
    /// Send this DiagnosticsStatusNotification (GetDiagnostics uploads).
    SendDiagnosticsStatus(DiagnosticsStatusNotificationRequest),
    /// Send this LogStatusNotification (GetLog uploads).
    SendLogStatus(LogStatusNotificationRequest),
    /// Write `content` to a file named `file` and HTTP PUT it to `url`; report with
    /// [`UploadJob::handle_upload`].
    Upload {
        /// The transfer to report.
        id: TransferId,
        /// What to collect.
        content: LogContent,
        /// The file name the answer announced.
        file: String,
        /// Where to put it ([`upload_target`]).
        url: String,
    },
    /// Abort upload `id` if it still runs; its result will be refused.
    CancelUpload {
        /// The upload.
        id: TransferId,
    },
}

/// Which request started an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Origin {
    /// GetDiagnostics.
    Diagnostics,
    /// GetLog.
    Log { request_id: i32 },
}

/// Where an upload stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Stage {
    /// An attempt runs.
    Uploading,
    /// Waiting for the next attempt.
    RetryWait { at: DateTime<Utc> },
}

/// One upload in progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Upload {
    origin: Origin,
    content: LogContent,
    file: String,
    url: String,
    retry: RetryPolicy,
    /// Failed attempts so far.
    failures: u32,
    transfer: TransferId,
    stage: Stage,
}

/// Sends `status` in the flavour of `origin` (failures other than UploadFailure become
/// UploadFailed for GetDiagnostics).
fn report(actions: &mut VecDeque<UploadAction>, origin: Origin, status: UploadLogStatusEnum) {
    actions.push_back(match origin {
        Origin::Diagnostics => {
            use UploadLogStatusEnum as S;
            let status = match status {
                S::Idle => DiagnosticsStatus::Idle,
                S::Uploading => DiagnosticsStatus::Uploading,
                S::Uploaded => DiagnosticsStatus::Uploaded,
                S::UploadFailure
                | S::BadMessage
                | S::PermissionDenied
                | S::NotSupportedOperation => DiagnosticsStatus::UploadFailed,
            };
            UploadAction::SendDiagnosticsStatus(DiagnosticsStatusNotificationRequest::new(status))
        }
        Origin::Log { request_id } => {
            let mut request = LogStatusNotificationRequest::new(status);
            request.request_id = Some(request_id);
            UploadAction::SendLogStatus(request)
        }
    });
}

/// What survives a restart: the upload and the transfer counter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UploadSnapshot {
    upload: Option<Upload>,
    next_transfer: u64,
}

/// The station's upload job: idle, or one upload in progress.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadJob {
    settings: UploadSettings,
    upload: Option<Upload>,
    actions: VecDeque<UploadAction>,
    next_transfer: u64,
}

impl UploadJob {
    /// An idle job.
    pub fn new(settings: UploadSettings) -> UploadJob {
        UploadJob {
            settings,
            upload: None,
            actions: VecDeque::new(),
            next_transfer: 0,
        }
    }

    /// The job after a restart: an attempt the restart interrupted counts as failed.
    pub fn resume(
        snapshot: UploadSnapshot,
        settings: UploadSettings,
        now: DateTime<Utc>,
    ) -> UploadJob {
        let mut job = UploadJob {
            settings,
            upload: snapshot.upload,
            actions: VecDeque::new(),
            next_transfer: snapshot.next_transfer,
        };
        if job.upload.as_ref().map(|u| u.stage) == Some(Stage::Uploading) {
            job.attempt_failed(UploadFailure::Transfer, now);
        }
        job
    }

    /// The state to persist.
    pub fn snapshot(&self) -> UploadSnapshot {
        UploadSnapshot {
            upload: self.upload.clone(),
            next_transfer: self.next_transfer,
        }
    }

    /// Whether an upload is in progress.
    pub fn is_active(&self) -> bool {
        self.upload.is_some()
    }

    /// GetDiagnostics: the diagnostics log between startTime and stopTime to `location` (a
    /// directory).
    pub fn answer_get_diagnostics(
        &mut self,
        request: &GetDiagnosticsRequest,
        now: DateTime<Utc>,
    ) -> GetDiagnosticsResponse {
        let file = file_name("diagnostics", &self.settings.station_id, now, "log");
        let mut response = GetDiagnosticsResponse::new();
        response.file_name = Some(file.clone());
        if check_location(&request.location, &self.settings.protocols).is_err() {
            report(
                &mut self.actions,
                Origin::Diagnostics,
                UploadLogStatusEnum::UploadFailure,
            );
            return response;
        }
        self.cancel_running(true);
        let content = LogContent {
            kind: LogKind::Diagnostics,
            from: request.start_time.map(|t| t.to_utc()),
            to: request.stop_time.map(|t| t.to_utc()),
        };
        let retry = self
            .settings
            .retry
            .with_request(request.retries, request.retry_interval);
        self.start(Origin::Diagnostics, content, file, &request.location, retry);
        response
    }

    /// GetLog: `Rejected` for an unsupported location, else `Accepted` (`AcceptedCanceled` when
    /// it replaces a running upload) with the file name.
    pub fn answer_get_log(
        &mut self,
        request: &GetLogRequest,
        now: DateTime<Utc>,
    ) -> GetLogResponse {
        let location = &request.log.remote_location;
        if check_location(location, &self.settings.protocols).is_err() {
            return GetLogResponse::new(LogStatusEnum::Rejected);
        }
        let (kind, prefix) = match request.log_type {
            LogEnum::DiagnosticsLog => (LogKind::Diagnostics, "diagnostics"),
            LogEnum::SecurityLog => (LogKind::Security, "security"),
        };
        let file = file_name(prefix, &self.settings.station_id, now, "log");
        let canceled = self.cancel_running(false);
        let content = LogContent {
            kind,
            from: request.log.oldest_timestamp.map(|t| t.to_utc()),
            to: request.log.latest_timestamp.map(|t| t.to_utc()),
        };
        let retry = self
            .settings
            .retry
            .with_request(request.retries, request.retry_interval);
        let origin = Origin::Log {
            request_id: request.request_id,
        };
        self.start(origin, content, file.clone(), location, retry);
        let mut response = GetLogResponse::new(if canceled {
            LogStatusEnum::AcceptedCanceled
        } else {
            LogStatusEnum::Accepted
        });
        response.filename = Some(file);
        response
    }

    /// Cancels the running upload, if any, and says whether there was one. Its failure status
    /// goes out unless it is a GetLog upload and `by_legacy` is false.
    fn cancel_running(&mut self, by_legacy: bool) -> bool {
        let Some(upload) = self.upload.take() else {
            return false;
        };
        if upload.stage == Stage::Uploading {
            self.actions.push_back(UploadAction::CancelUpload {
                id: upload.transfer,
            });
        }
        if by_legacy || upload.origin == Origin::Diagnostics {
            report(
                &mut self.actions,
                upload.origin,
                UploadLogStatusEnum::UploadFailure,
            );
        }
        true
    }

    fn start(
        &mut self,
        origin: Origin,
        content: LogContent,
        file: String,
        location: &str,
        retry: RetryPolicy,
    ) {
        let url = upload_target(location, &file);
        report(&mut self.actions, origin, UploadLogStatusEnum::Uploading);
        let mut upload = Upload {
            origin,
            content,
            file,
            url,
            retry,
            failures: 0,
            transfer: TransferId(0),
            stage: Stage::Uploading,
        };
        self.attempt(&mut upload);
        self.upload = Some(upload);
    }

    fn attempt(&mut self, upload: &mut Upload) {
        self.next_transfer += 1;
        upload.transfer = TransferId(self.next_transfer);
        upload.stage = Stage::Uploading;
        self.actions.push_back(UploadAction::Upload {
            id: upload.transfer,
            content: upload.content,
            file: upload.file.clone(),
            url: upload.url.clone(),
        });
    }

    fn attempt_failed(&mut self, failure: UploadFailure, now: DateTime<Utc>) {
        let Some(mut upload) = self.upload.take() else {
            return;
        };
        upload.failures += 1;
        if upload.failures > upload.retry.retries {
            report(&mut self.actions, upload.origin, failure.log_status());
        } else {
            upload.stage = Stage::RetryWait {
                at: upload.retry.next_attempt(now),
            };
            self.upload = Some(upload);
        }
    }

    /// The result of [`UploadAction::Upload`] `id`.
    ///
    /// # Errors
    ///
    /// [`TransferError::UnknownTransfer`] if that upload is not the one running.
    pub fn handle_upload(
        &mut self,
        id: TransferId,
        result: UploadResult,
        now: DateTime<Utc>,
    ) -> Result<(), TransferError> {
        let origin = self
            .upload
            .as_ref()
            .filter(|u| u.transfer == id && u.stage == Stage::Uploading)
            .map(|u| u.origin)
            .ok_or(TransferError::UnknownTransfer(id))?;
        match result {
            UploadResult::Uploaded => {
                self.upload = None;
                report(&mut self.actions, origin, UploadLogStatusEnum::Uploaded);
            }
            UploadResult::Failed(failure) => self.attempt_failed(failure, now),
        }
        Ok(())
    }

    /// When the next attempt is due.
    pub fn poll_timeout(&self) -> Option<DateTime<Utc>> {
        match self.upload.as_ref()?.stage {
            Stage::RetryWait { at } => Some(at),
            Stage::Uploading => None,
        }
    }

    /// Starts the next attempt if it is due at `now`.
    pub fn handle_timeout(&mut self, now: DateTime<Utc>) {
        if self.poll_timeout().is_some_and(|at| at <= now)
            && let Some(mut upload) = self.upload.take()
        {
            self.attempt(&mut upload);
            self.upload = Some(upload);
        }
    }

    /// The next thing the driver must do.
    pub fn poll_action(&mut self) -> Option<UploadAction> {
        self.actions.pop_front()
    }

    /// The DiagnosticsStatusNotification a TriggerMessage asks for: Uploading while a
    /// GetDiagnostics upload runs (retries included), else Idle.
    pub fn trigger_diagnostics_status(&self) -> DiagnosticsStatusNotificationRequest {
        let status = match self.upload.as_ref().map(|u| u.origin) {
            Some(Origin::Diagnostics) => DiagnosticsStatus::Uploading,
            _ => DiagnosticsStatus::Idle,
        };
        DiagnosticsStatusNotificationRequest::new(status)
    }

    /// The LogStatusNotification an ExtendedTriggerMessage asks for: Uploading with the
    /// requestId while a GetLog upload runs, else Idle without requestId (N01.FR.12).
    pub fn trigger_log_status(&self) -> LogStatusNotificationRequest {
        match self.upload.as_ref().map(|u| u.origin) {
            Some(Origin::Log { request_id }) => {
                let mut request = LogStatusNotificationRequest::new(UploadLogStatusEnum::Uploading);
                request.request_id = Some(request_id);
                request
            }
            _ => LogStatusNotificationRequest::new(UploadLogStatusEnum::Idle),
        }
    }
}
