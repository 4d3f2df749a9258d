//! Firmware updates, diagnostics and log uploads in the agent: the `cp16::transfer` job machines
//! decide; this drives them with real HTTP(S) downloads and uploads (`files`), firmware
//! signature checks, and the simulated installation, and feeds the results back.

use super::{Agent, Input};
use crate::ocpp16::{OcppError, files};
use cp16::transfer::{
    CertificateCheck, DownloadResult, FirmwareAction, FirmwareJob, FirmwareSettings, InstallResult,
    LogKind, RebootPolicy, RetryPolicy, SignatureCheck, TransferId, UploadAction, UploadFailure,
    UploadJob, UploadResult, UploadSettings,
};
use ocpp_client::IncomingCall;
use proto_ocpp::v16::*;
use std::path::{Path, PathBuf};

pub(super) const FIRMWARE_DOC: &str = "firmware";
pub(super) const UPLOADS_DOC: &str = "uploads";

/// The transfer jobs and where their files go.
#[derive(Debug)]
pub(super) struct Transfers {
    pub(super) firmware: FirmwareJob,
    pub(super) uploads: UploadJob,
    pub(super) dir: PathBuf,
    /// The running transfer tasks, to cancel.
    pub(super) tasks: Vec<(TransferId, tokio::task::AbortHandle)>,
}

impl Transfers {
    pub(super) fn settings(
        keys: &cp16::keys::Keys,
        station_id: &str,
    ) -> (FirmwareSettings, UploadSettings) {
        let protocols = keys.supported_file_transfer_protocols().to_vec();
        let firmware = FirmwareSettings {
            protocols: protocols.clone(),
            retry: RetryPolicy::default(),
            // The simulated station installs in place: nothing to reboot into.
            reboot: RebootPolicy::Never,
        };
        let uploads = UploadSettings {
            station_id: station_id.to_owned(),
            protocols,
            retry: RetryPolicy::default(),
        };
        (firmware, uploads)
    }
}

/// Where transfer files go: next to the state file, else in a directory of the process.
pub(super) fn transfer_dir(state_file: Option<&Path>) -> PathBuf {
    match state_file.and_then(Path::parent) {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join("transfers"),
        _ => std::env::temp_dir().join(format!("joule-transfers-{}", std::process::id())),
    }
}

impl Agent {
    /// The transfer requests among the central system's calls; `Err(call)` hands back others.
    pub(super) async fn answer_transfer(
        &mut self,
        call: IncomingCall<V16>,
    ) -> Result<Result<(), IncomingCall<V16>>, OcppError> {
        let now = self.clock.now();
        let request = call.request.clone();
        match &request {
            Request::UpdateFirmware(req) => {
                let answer = self.transfers.firmware.answer_update_firmware(req, now);
                call.respond(answer);
            }
            Request::SignedUpdateFirmware(req) => {
                let check = match self
                    .certificates
                    .verify_firmware_signing_certificate(&req.firmware.signing_certificate, now)
                {
                    Ok(()) => CertificateCheck::Valid,
                    Err(e) => {
                        tracing::warn!(error = %e, "firmware signing certificate refused");
                        CertificateCheck::Invalid
                    }
                };
                let answer = self
                    .transfers
                    .firmware
                    .answer_signed_update_firmware(req, check, now);
                call.respond(answer);
            }
            Request::GetDiagnostics(req) => {
                let answer = self.transfers.uploads.answer_get_diagnostics(req, now);
                call.respond(answer);
            }
            Request::GetLog(req) => {
                let answer = self.transfers.uploads.answer_get_log(req, now);
                call.respond(answer);
            }
            _ => return Ok(Err(call)),
        }
        self.drive_transfers().await?;
        Ok(Ok(()))
    }

    /// Carries out what the jobs ask for, then saves them.
    pub(super) async fn drive_transfers(&mut self) -> Result<(), OcppError> {
        let running = self.connectors.values().any(|c| c.tx.is_some());
        let now = self.clock.now();
        self.transfers.firmware.handle_transactions(running, now);
        while let Some(action) = self.transfers.firmware.poll_action() {
            self.firmware_action(action).await?;
        }
        while let Some(action) = self.transfers.uploads.poll_action() {
            self.upload_action(action).await?;
        }
        self.store
            .save(FIRMWARE_DOC, &self.transfers.firmware.snapshot())
            .await?;
        self.store
            .save(UPLOADS_DOC, &self.transfers.uploads.snapshot())
            .await?;
        Ok(())
    }

    async fn firmware_action(&mut self, action: FirmwareAction) -> Result<(), OcppError> {
        let dir = self.transfers.dir.clone();
        match action {
            FirmwareAction::SendStatus(status) => self.send(status),
            FirmwareAction::SendSignedStatus(status) => self.send(status),
            FirmwareAction::SecurityEvent(event) => {
                self.security_event(event.as_str(), None).await?;
            }
            FirmwareAction::Download { id, url, file } => {
                let inputs = self.inputs.clone();
                let path = dir.join(&file);
                let task = tokio::spawn(async move {
                    let _ = tokio::fs::create_dir_all(path.parent().unwrap_or(&path)).await;
                    let result = match files::download(&url, &path, None).await {
                        Ok(bytes) => {
                            tracing::info!(%url, bytes, "firmware downloaded");
                            DownloadResult::Downloaded
                        }
                        Err(e) => {
                            tracing::warn!(%url, error = %e, "firmware download failed");
                            DownloadResult::Failed
                        }
                    };
                    let _ = inputs.send(Input::FirmwareDownloaded(id, result));
                });
                self.transfers.tasks.push((id, task.abort_handle()));
            }
            FirmwareAction::CancelDownload { id } => self.cancel_task(id),
            FirmwareAction::VerifySignature {
                id,
                file,
                certificate,
                signature,
            } => {
                let inputs = self.inputs.clone();
                let path = dir.join(&file);
                tokio::task::spawn_blocking(move || {
                    let check = match verify_signature(&path, &certificate, &signature) {
                        Ok(()) => SignatureCheck::Valid,
                        Err(reason) => {
                            tracing::warn!(%reason, "firmware signature refused");
                            SignatureCheck::Invalid
                        }
                    };
                    let _ = inputs.send(Input::FirmwareVerified(id, check));
                });
            }
            FirmwareAction::Install { id, file } => {
                // Simulated hardware: the image is accepted when it is there and not empty.
                let installed = std::fs::metadata(dir.join(&file)).is_ok_and(|m| m.len() > 0);
                let result = if installed {
                    InstallResult::Installed
                } else {
                    InstallResult::Failed
                };
                let _ = self.inputs.send(Input::FirmwareInstalled(id, result));
            }
            FirmwareAction::HoldConnectors | FirmwareAction::ReleaseConnectors => {
                self.report_all();
            }
            FirmwareAction::Reboot => {
                // Never asked for with RebootPolicy::Never; a reconnect stands in for it.
                self.reconnect.notify_one();
            }
            FirmwareAction::RemoveFile { file } => {
                let _ = std::fs::remove_file(dir.join(file));
            }
        }
        Ok(())
    }

    async fn upload_action(&mut self, action: UploadAction) -> Result<(), OcppError> {
        match action {
            UploadAction::SendDiagnosticsStatus(status) => self.send(status),
            UploadAction::SendLogStatus(status) => self.send(status),
            UploadAction::Upload {
                id,
                content,
                file,
                url,
            } => {
                let text = match content.kind {
                    LogKind::Security => self.log.render(content.from, content.to),
                    LogKind::Diagnostics => self.diagnostics_report(),
                };
                let path = self.transfers.dir.join(&file);
                let inputs = self.inputs.clone();
                let task = tokio::spawn(async move {
                    let _ = tokio::fs::create_dir_all(path.parent().unwrap_or(&path)).await;
                    let result = match tokio::fs::write(&path, text).await {
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot write the upload file");
                            UploadResult::Failed(UploadFailure::Transfer)
                        }
                        Ok(()) => match files::upload(&url, &path, None).await {
                            Ok(()) => UploadResult::Uploaded,
                            Err(files::TransferError::Status(401 | 403)) => {
                                UploadResult::Failed(UploadFailure::PermissionDenied)
                            }
                            Err(files::TransferError::Status(404 | 405 | 501)) => {
                                UploadResult::Failed(UploadFailure::NotSupportedOperation)
                            }
                            Err(files::TransferError::Status(400 | 413)) => {
                                UploadResult::Failed(UploadFailure::BadMessage)
                            }
                            Err(e) => {
                                tracing::warn!(%url, error = %e, "upload failed");
                                UploadResult::Failed(UploadFailure::Transfer)
                            }
                        },
                    };
                    let _ = tokio::fs::remove_file(&path).await;
                    let _ = inputs.send(Input::Uploaded(id, result));
                });
                self.transfers.tasks.push((id, task.abort_handle()));
            }
            UploadAction::CancelUpload { id } => self.cancel_task(id),
        }
        Ok(())
    }

    fn cancel_task(&mut self, id: TransferId) {
        self.transfers.tasks.retain(|(task, handle)| {
            if *task == id {
                handle.abort();
            }
            *task != id && !handle.is_finished()
        });
    }

    /// Results of transfers, fed back to their jobs (late results of cancelled ones are dropped).
    pub(super) async fn transfer_result(&mut self, input: Input) -> Result<(), OcppError> {
        let now = self.clock.now();
        let result = match input {
            Input::FirmwareDownloaded(id, r) => self.transfers.firmware.handle_download(id, r, now),
            Input::FirmwareVerified(id, r) => self.transfers.firmware.handle_signature(id, r, now),
            Input::FirmwareInstalled(id, r) => self.transfers.firmware.handle_install(id, r, now),
            Input::Uploaded(id, r) => self.transfers.uploads.handle_upload(id, r, now),
            _ => Ok(()),
        };
        if let Err(e) = result {
            tracing::debug!(error = %e, "a late transfer result was dropped");
        }
        self.drive_transfers().await
    }

    /// The diagnostics file: the station, its connectors, its queue and its configuration.
    fn diagnostics_report(&self) -> String {
        let info = self.info();
        let keys: Vec<(String, Option<String>)> = self
            .keys
            .keys()
            .map(|k| (k.name().to_owned(), self.keys.value(k)))
            .collect();
        let report = serde_json::json!({
            "station": info,
            "firmwareVersion": self.settings.firmware_version,
            "generatedAt": proto_ocpp::Timestamp::from(self.clock.now()),
            "configuration": keys,
            "securityEvents": self.log.len(),
        });
        serde_json::to_string_pretty(&report).unwrap_or_default()
    }

    /// The legacy FirmwareStatusNotification a trigger asks for.
    pub(super) fn firmware_status(&self) -> FirmwareStatusNotificationRequest {
        self.transfers.firmware.trigger_status()
    }

    /// The legacy DiagnosticsStatusNotification a trigger asks for.
    pub(super) fn diagnostics_status(&self) -> DiagnosticsStatusNotificationRequest {
        self.transfers.uploads.trigger_diagnostics_status()
    }

    /// The SignedFirmwareStatusNotification an extended trigger asks for.
    pub(super) fn signed_firmware_status(&self) -> SignedFirmwareStatusNotificationRequest {
        self.transfers.firmware.trigger_signed_status()
    }

    /// The LogStatusNotification an extended trigger asks for.
    pub(super) fn log_status(&self) -> LogStatusNotificationRequest {
        self.transfers.uploads.trigger_log_status()
    }
}

/// Checks `signature` (base64) over the file at `path` with the public key of `certificate`
/// (PEM): ECDSA P-256 with SHA-256, or RSA (PKCS#1 v1.5 or PSS) with SHA-256.
pub(super) fn verify_signature(
    path: &Path,
    certificate: &str,
    signature: &str,
) -> Result<(), String> {
    use base64::Engine;
    use ring::signature::{self as sig, UnparsedPublicKey};
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let der = CertificateDer::from_pem_slice(certificate.as_bytes())
        .map_err(|e| format!("signing certificate: {e}"))?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der)
        .map_err(|e| format!("signing certificate: {e}"))?;
    let spki = cert.public_key();
    let key = spki.subject_public_key.data.as_ref();
    let signature = base64::engine::general_purpose::STANDARD
        .decode(signature.trim())
        .map_err(|e| format!("signature is not base64: {e}"))?;
    let content = std::fs::read(path).map_err(|e| format!("firmware file: {e}"))?;
    let algorithm = spki.algorithm.algorithm.to_id_string();
    let candidates: &[&dyn sig::VerificationAlgorithm] = match algorithm.as_str() {
        // id-ecPublicKey
        "1.2.840.10045.2.1" => &[&sig::ECDSA_P256_SHA256_ASN1, &sig::ECDSA_P384_SHA384_ASN1],
        // rsaEncryption
        "1.2.840.113549.1.1.1" => &[
            &sig::RSA_PKCS1_2048_8192_SHA256,
            &sig::RSA_PSS_2048_8192_SHA256,
        ],
        other => return Err(format!("unsupported key algorithm {other}")),
    };
    if candidates.iter().any(|alg| {
        UnparsedPublicKey::new(*alg, key)
            .verify(&content, &signature)
            .is_ok()
    }) {
        Ok(())
    } else {
        Err("the signature does not match the firmware".into())
    }
}
