//! The firmware job driven on virtual time: each test plays the driver, carries out the actions
//! and jumps to `poll_timeout()`.

use super::*;
use crate::keys::FileTransferProtocol;
use crate::transfer::RetryPolicy;
use chrono::TimeDelta;
use proto_ocpp::Timestamp;
use proto_ocpp::v16::Firmware;
use std::time::Duration;

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap_or_default()
}

fn settings(reboot: RebootPolicy) -> FirmwareSettings {
    FirmwareSettings {
        protocols: FileTransferProtocol::ALL.to_vec(),
        retry: RetryPolicy {
            retries: 1,
            interval: Duration::from_secs(30),
        },
        reboot,
    }
}

fn legacy(location: &str, retrieve: i64) -> UpdateFirmwareRequest {
    UpdateFirmwareRequest::new(location.into(), Timestamp::from(at(retrieve)))
}

fn signed(request_id: i32, retrieve: i64, install: Option<i64>) -> SignedUpdateFirmwareRequest {
    let mut firmware = Firmware::new(
        "https://fw.example/joule-2.0.bin".into(),
        Timestamp::from(at(retrieve)),
        "-----BEGIN CERTIFICATE-----".into(),
        "c2lnbmF0dXJl".into(),
    );
    firmware.install_date_time = install.map(|s| Timestamp::from(at(s)));
    SignedUpdateFirmwareRequest::new(request_id, firmware)
}

/// Plays the station's driver: remembers the transfers it was asked to run and writes every
/// action as a short word.
#[derive(Debug)]
struct Sim {
    job: FirmwareJob,
    now: DateTime<Utc>,
    log: Vec<String>,
    download: Option<TransferId>,
    verify: Option<TransferId>,
    install: Option<TransferId>,
}

impl Sim {
    fn new(reboot: RebootPolicy) -> Sim {
        let mut job = FirmwareJob::new(settings(reboot));
        job.handle_transactions(false, at(0));
        Sim {
            job,
            now: at(0),
            log: Vec::new(),
            download: None,
            verify: None,
            install: None,
        }
    }

    /// Records the actions since the last call.
    fn collect(&mut self) {
        while let Some(action) = self.job.poll_action() {
            let word = match action {
                FirmwareAction::SendStatus(r) => r.status.as_str().to_owned(),
                FirmwareAction::SendSignedStatus(r) => match r.request_id {
                    Some(id) => format!("{}#{id}", r.status),
                    None => r.status.as_str().to_owned(),
                },
                FirmwareAction::SecurityEvent(e) => format!("event {}", e.as_str()),
                FirmwareAction::Download { id, url, file } => {
                    assert!(url.starts_with("https://fw.example/"));
                    assert!(file.starts_with("firmware-") && file.ends_with(".bin"));
                    self.download = Some(id);
                    "download".into()
                }
                FirmwareAction::CancelDownload { id } => format!("cancel {id}"),
                FirmwareAction::VerifySignature {
                    id,
                    certificate,
                    signature,
                    ..
                } => {
                    assert_eq!(certificate, "-----BEGIN CERTIFICATE-----");
                    assert_eq!(signature, "c2lnbmF0dXJl");
                    self.verify = Some(id);
                    "verify".into()
                }
                FirmwareAction::Install { id, .. } => {
                    self.install = Some(id);
                    "install".into()
                }
                FirmwareAction::HoldConnectors => "hold".into(),
                FirmwareAction::ReleaseConnectors => "release".into(),
                FirmwareAction::Reboot => "reboot".into(),
                FirmwareAction::RemoveFile { .. } => "remove".into(),
            };
            self.log.push(word);
        }
    }

    /// The actions since the last call.
    fn actions(&mut self) -> Vec<String> {
        self.collect();
        std::mem::take(&mut self.log)
    }

    /// Jumps to the next timer and runs it.
    fn jump(&mut self) {
        let Some(next) = self.job.poll_timeout() else {
            panic!("no timer pending");
        };
        assert!(next >= self.now, "timer in the past");
        self.now = next;
        self.job.handle_timeout(next);
    }

    fn downloaded(&mut self, result: DownloadResult) {
        self.collect();
        let id = self.download.take().unwrap_or(TransferId(0));
        assert_eq!(self.job.handle_download(id, result, self.now), Ok(()));
    }

    fn verified(&mut self, result: SignatureCheck) {
        self.collect();
        let id = self.verify.take().unwrap_or(TransferId(0));
        assert_eq!(self.job.handle_signature(id, result, self.now), Ok(()));
    }

    fn installed(&mut self, result: InstallResult) {
        self.collect();
        let id = self.install.take().unwrap_or(TransferId(0));
        assert_eq!(self.job.handle_install(id, result, self.now), Ok(()));
    }

    /// Persists the job as JSON and restarts the station from it.
    fn restart(&mut self, new_firmware_running: bool) {
        self.collect();
        let Ok(json) = serde_json::to_string(&self.job.snapshot()) else {
            panic!("snapshot does not serialize");
        };
        let Ok(snapshot) = serde_json::from_str::<FirmwareSnapshot>(&json) else {
            panic!("snapshot does not deserialize: {json}");
        };
        let reboot = self.job.settings.reboot;
        self.job = FirmwareJob::resume(snapshot, settings(reboot), new_firmware_running, self.now);
        self.download = None;
        self.verify = None;
        self.install = None;
    }

    fn legacy_trigger(&self) -> FirmwareStatus {
        self.job.trigger_status().status
    }

    fn signed_trigger(&self) -> (FirmwareStatusEnum, Option<i32>) {
        let request = self.job.trigger_signed_status();
        (request.status, request.request_id)
    }
}

#[test]
fn legacy_update_downloads_and_installs_in_order() {
    let mut sim = Sim::new(RebootPolicy::Never);
    assert_eq!(sim.legacy_trigger(), FirmwareStatus::Idle);
    let answer = sim
        .job
        .answer_update_firmware(&legacy("https://fw.example/a.bin", -5), at(0));
    assert_eq!(answer, UpdateFirmwareResponse::new());
    assert_eq!(sim.actions(), ["Downloading", "download"]);
    assert_eq!(sim.legacy_trigger(), FirmwareStatus::Downloading);
    assert_eq!(sim.job.poll_timeout(), None);
    sim.downloaded(DownloadResult::Downloaded);
    assert_eq!(
        sim.actions(),
        ["Downloaded", "hold", "Installing", "install"]
    );
    assert!(sim.job.connectors_held());
    assert_eq!(sim.legacy_trigger(), FirmwareStatus::Installing);
    sim.installed(InstallResult::Installed);
    assert_eq!(
        sim.actions(),
        ["Installed", "event FirmwareUpdated", "release", "remove"]
    );
    assert!(!sim.job.is_active() && !sim.job.connectors_held());
    assert_eq!(sim.legacy_trigger(), FirmwareStatus::Idle);
    // A legacy job never touches the signed status history.
    assert_eq!(sim.signed_trigger(), (FirmwareStatusEnum::Idle, None));
}

#[test]
fn legacy_update_waits_for_the_retrieve_date() {
    let mut sim = Sim::new(RebootPolicy::Never);
    sim.job
        .answer_update_firmware(&legacy("https://fw.example/a.bin", 600), at(0));
    assert!(sim.actions().is_empty(), "1.6 has no scheduled status");
    assert_eq!(sim.job.poll_timeout(), Some(at(600)));
    assert_eq!(sim.legacy_trigger(), FirmwareStatus::Idle);
    sim.job.handle_timeout(at(599));
    assert!(sim.actions().is_empty());
    sim.jump();
    assert_eq!(sim.now, at(600));
    assert_eq!(sim.actions(), ["Downloading", "download"]);
}

#[test]
fn downloads_are_retried_then_fail() {
    let mut sim = Sim::new(RebootPolicy::Never);
    let mut request = legacy("https://fw.example/a.bin", 0);
    request.retries = Some(2);
    request.retry_interval = Some(45);
    sim.job.answer_update_firmware(&request, at(0));
    assert_eq!(sim.actions(), ["Downloading", "download"]);
    for attempt in 1..=2 {
        sim.downloaded(DownloadResult::Failed);
        assert!(sim.actions().is_empty(), "attempt {attempt}");
        assert_eq!(
            sim.job.poll_timeout(),
            Some(sim.now + TimeDelta::seconds(45))
        );
        assert_eq!(sim.legacy_trigger(), FirmwareStatus::Downloading);
        sim.jump();
        assert_eq!(sim.actions(), ["download"], "no second Downloading");
    }
    sim.downloaded(DownloadResult::Failed);
    assert_eq!(sim.actions(), ["DownloadFailed", "remove"]);
    assert_eq!(sim.now, at(90));
    assert!(!sim.job.is_active());
    assert_eq!(sim.job.poll_timeout(), None);

    // Signed: the station's default policy (one retry) and the request id on the failure.
    let mut sim = Sim::new(RebootPolicy::Never);
    sim.job
        .answer_signed_update_firmware(&signed(3, 0, None), CertificateCheck::Valid, at(0));
    sim.downloaded(DownloadResult::Failed);
    sim.jump();
    assert_eq!(sim.now, at(30));
    sim.downloaded(DownloadResult::Failed);
    assert_eq!(
        sim.actions(),
        [
            "Downloading#3",
            "download",
            "download",
            "DownloadFailed#3",
            "remove"
        ]
    );
    assert_eq!(
        sim.signed_trigger(),
        (FirmwareStatusEnum::DownloadFailed, Some(3))
    );
}

#[test]
fn signed_update_reports_every_state_and_survives_the_install_reboot() {
    let mut sim = Sim::new(RebootPolicy::BeforeInstall);
    let answer = sim.job.answer_signed_update_firmware(
        &signed(7, 100, Some(1000)),
        CertificateCheck::Valid,
        at(0),
    );
    assert_eq!(answer.status, UpdateFirmwareStatusEnum::Accepted);
    assert_eq!(sim.actions(), ["DownloadScheduled#7"]);
    assert_eq!(
        sim.signed_trigger(),
        (FirmwareStatusEnum::DownloadScheduled, Some(7))
    );
    sim.jump();
    assert_eq!(sim.now, at(100));
    assert_eq!(sim.actions(), ["Downloading#7", "download"]);
    sim.downloaded(DownloadResult::Downloaded);
    assert_eq!(sim.actions(), ["Downloaded#7", "verify"]);
    assert_eq!(sim.legacy_trigger(), FirmwareStatus::Downloaded);
    sim.verified(SignatureCheck::Valid);
    assert_eq!(sim.actions(), ["SignatureVerified#7", "InstallScheduled#7"]);
    assert!(
        !sim.job.connectors_held(),
        "no hold before the install date"
    );
    sim.jump();
    assert_eq!(sim.now, at(1000));
    assert_eq!(sim.actions(), ["hold", "InstallRebooting#7", "reboot"]);
    assert_eq!(sim.legacy_trigger(), FirmwareStatus::Installing);

    sim.restart(false);
    assert_eq!(sim.actions(), ["hold", "Installing#7", "install"]);
    assert!(sim.job.connectors_held());
    sim.installed(InstallResult::Installed);
    assert_eq!(
        sim.actions(),
        ["Installed#7", "event FirmwareUpdated", "release", "remove"]
    );
    // L01.FR.28: after Installed the trigger answers Idle without a request id.
    assert_eq!(sim.signed_trigger(), (FirmwareStatusEnum::Idle, None));
    sim.restart(true);
    assert!(sim.actions().is_empty() && !sim.job.is_active());
}

#[test]
fn staged_firmware_is_installed_once_it_runs_after_the_reboot() {
    for (running, end) in [
        (true, vec!["Installed#4", "event FirmwareUpdated", "remove"]),
        (false, vec!["InstallationFailed#4", "remove"]),
    ] {
        let mut sim = Sim::new(RebootPolicy::ToActivate);
        sim.job
            .answer_signed_update_firmware(&signed(4, 0, None), CertificateCheck::Valid, at(0));
        sim.downloaded(DownloadResult::Downloaded);
        sim.verified(SignatureCheck::Valid);
        assert_eq!(
            sim.actions(),
            [
                "Downloading#4",
                "download",
                "Downloaded#4",
                "verify",
                "SignatureVerified#4",
                "hold",
                "Installing#4",
                "install"
            ]
        );
        sim.installed(InstallResult::Installed);
        assert_eq!(sim.actions(), ["InstallRebooting#4", "reboot"]);
        sim.restart(running);
        assert_eq!(sim.actions(), end);
        assert!(!sim.job.is_active() && !sim.job.connectors_held());
        // The restarted station repeats the last status (or Idle after Installed).
        let expected = if running {
            (FirmwareStatusEnum::Idle, None)
        } else {
            (FirmwareStatusEnum::InstallationFailed, Some(4))
        };
        assert_eq!(sim.signed_trigger(), expected);
    }

    // A legacy job reboots silently and reports Installed from the new firmware.
    let mut sim = Sim::new(RebootPolicy::ToActivate);
    sim.job
        .answer_update_firmware(&legacy("https://fw.example/a.bin", 0), at(0));
    sim.downloaded(DownloadResult::Downloaded);
    sim.installed(InstallResult::Installed);
    sim.restart(true);
    assert_eq!(
        sim.actions(),
        [
            "Downloading",
            "download",
            "Downloaded",
            "hold",
            "Installing",
            "install",
            "reboot",
            "Installed",
            "event FirmwareUpdated",
            "remove"
        ]
    );
}

#[test]
fn a_bootloader_install_of_a_legacy_job_reports_installing_once() {
    let mut sim = Sim::new(RebootPolicy::BeforeInstall);
    sim.job
        .answer_update_firmware(&legacy("https://fw.example/a.bin", 0), at(0));
    sim.downloaded(DownloadResult::Downloaded);
    sim.restart(false);
    sim.installed(InstallResult::Installed);
    assert_eq!(
        sim.actions(),
        [
            "Downloading",
            "download",
            "Downloaded",
            "hold",
            "Installing",
            "reboot",
            "hold",
            "install",
            "Installed",
            "event FirmwareUpdated",
            "release",
            "remove"
        ]
    );
}

#[test]
fn bad_signatures_and_certificates_stop_the_update() {
    let mut sim = Sim::new(RebootPolicy::Never);
    sim.job
        .answer_signed_update_firmware(&signed(5, 0, None), CertificateCheck::Valid, at(0));
    sim.downloaded(DownloadResult::Downloaded);
    sim.verified(SignatureCheck::Invalid);
    assert_eq!(
        sim.actions(),
        [
            "Downloading#5",
            "download",
            "Downloaded#5",
            "verify",
            "InvalidSignature#5",
            "event InvalidFirmwareSignature",
            "remove"
        ]
    );
    assert!(!sim.job.is_active());
    assert_eq!(
        sim.signed_trigger(),
        (FirmwareStatusEnum::InvalidSignature, Some(5))
    );

    // A refused certificate is answered before anything starts, and a running job goes on.
    sim.job
        .answer_signed_update_firmware(&signed(6, 0, None), CertificateCheck::Valid, at(0));
    sim.actions();
    for (check, status) in [
        (
            CertificateCheck::Invalid,
            UpdateFirmwareStatusEnum::InvalidCertificate,
        ),
        (
            CertificateCheck::Revoked,
            UpdateFirmwareStatusEnum::RevokedCertificate,
        ),
    ] {
        let answer = sim
            .job
            .answer_signed_update_firmware(&signed(9, 0, None), check, at(0));
        assert_eq!(answer.status, status);
        assert_eq!(sim.actions(), ["event InvalidFirmwareSigningCertificate"]);
    }
    assert_eq!(
        sim.signed_trigger(),
        (FirmwareStatusEnum::Downloading, Some(6))
    );
    sim.downloaded(DownloadResult::Downloaded);
    assert_eq!(sim.actions(), ["Downloaded#6", "verify"]);
}

#[test]
fn installation_failures_end_the_job() {
    let mut sim = Sim::new(RebootPolicy::Never);
    sim.job
        .answer_signed_update_firmware(&signed(2, 0, None), CertificateCheck::Valid, at(0));
    sim.downloaded(DownloadResult::Downloaded);
    sim.verified(SignatureCheck::Valid);
    sim.actions();
    sim.installed(InstallResult::VerificationFailed);
    assert_eq!(
        sim.actions(),
        ["InstallVerificationFailed#2", "release", "remove"]
    );

    for result in [InstallResult::Failed, InstallResult::VerificationFailed] {
        let mut sim = Sim::new(RebootPolicy::Never);
        sim.job
            .answer_update_firmware(&legacy("https://fw.example/a.bin", 0), at(0));
        sim.downloaded(DownloadResult::Downloaded);
        sim.actions();
        sim.installed(result);
        assert_eq!(sim.actions(), ["InstallationFailed", "release", "remove"]);
    }
}

#[test]
fn installation_waits_for_running_transactions_with_connectors_held() {
    let mut sim = Sim::new(RebootPolicy::Never);
    sim.job.handle_transactions(true, at(0));
    sim.job
        .answer_signed_update_firmware(&signed(8, 0, None), CertificateCheck::Valid, at(0));
    sim.downloaded(DownloadResult::Downloaded);
    sim.verified(SignatureCheck::Valid);
    assert_eq!(
        sim.actions(),
        [
            "Downloading#8",
            "download",
            "Downloaded#8",
            "verify",
            "SignatureVerified#8",
            "hold"
        ]
    );
    assert!(sim.job.connectors_held());
    assert_eq!(sim.legacy_trigger(), FirmwareStatus::Downloaded);
    assert_eq!(sim.job.poll_timeout(), None);
    sim.job.handle_transactions(true, at(10));
    assert!(sim.actions().is_empty());
    sim.job.handle_transactions(false, at(20));
    assert_eq!(sim.actions(), ["Installing#8", "install"]);
    // Transactions starting now change nothing: the installation runs.
    sim.job.handle_transactions(true, at(21));
    sim.installed(InstallResult::Installed);
    assert_eq!(
        sim.actions(),
        ["Installed#8", "event FirmwareUpdated", "release", "remove"]
    );
}

#[test]
fn transactions_count_as_running_until_the_driver_says_otherwise() {
    let mut job = FirmwareJob::new(settings(RebootPolicy::Never));
    job.answer_update_firmware(&legacy("https://fw.example/a.bin", 0), at(0));
    let mut id = TransferId(0);
    while let Some(action) = job.poll_action() {
        if let FirmwareAction::Download { id: d, .. } = action {
            id = d;
        }
    }
    assert_eq!(
        job.handle_download(id, DownloadResult::Downloaded, at(1)),
        Ok(())
    );
    let actions: Vec<FirmwareAction> = std::iter::from_fn(|| job.poll_action()).collect();
    assert_eq!(
        actions.last(),
        Some(&FirmwareAction::HoldConnectors),
        "waits instead of installing"
    );
}

#[test]
fn a_new_signed_update_cancels_the_running_one_unless_it_installs() {
    let mut sim = Sim::new(RebootPolicy::Never);
    sim.job
        .answer_signed_update_firmware(&signed(1, 0, None), CertificateCheck::Valid, at(0));
    assert_eq!(sim.actions(), ["Downloading#1", "download"]);
    let old = sim.download.unwrap_or(TransferId(0));
    let answer =
        sim.job
            .answer_signed_update_firmware(&signed(2, 0, None), CertificateCheck::Valid, at(5));
    assert_eq!(answer.status, UpdateFirmwareStatusEnum::AcceptedCanceled);
    assert_eq!(
        sim.actions(),
        [
            format!("cancel {old}").as_str(),
            "remove",
            "Downloading#2",
            "download"
        ]
    );
    // The canceled download's late result is refused and changes nothing.
    assert_eq!(
        sim.job
            .handle_download(old, DownloadResult::Downloaded, at(6)),
        Err(TransferError::UnknownTransfer(old))
    );
    assert!(sim.actions().is_empty());

    // Waiting for transactions: canceling releases the connectors.
    sim.job.handle_transactions(true, at(6));
    sim.downloaded(DownloadResult::Downloaded);
    sim.verified(SignatureCheck::Valid);
    sim.actions();
    let answer =
        sim.job
            .answer_signed_update_firmware(&signed(3, 0, None), CertificateCheck::Valid, at(7));
    assert_eq!(answer.status, UpdateFirmwareStatusEnum::AcceptedCanceled);
    assert_eq!(
        sim.actions(),
        ["release", "remove", "Downloading#3", "download"]
    );

    // Installing: L01.FR.27, the new request is rejected and the installation goes on.
    sim.job.handle_transactions(false, at(8));
    sim.downloaded(DownloadResult::Downloaded);
    sim.verified(SignatureCheck::Valid);
    sim.actions();
    let answer =
        sim.job
            .answer_signed_update_firmware(&signed(4, 0, None), CertificateCheck::Valid, at(9));
    assert_eq!(answer.status, UpdateFirmwareStatusEnum::Rejected);
    assert!(sim.actions().is_empty());
    sim.installed(InstallResult::Installed);
    assert_eq!(
        sim.actions(),
        ["Installed#3", "event FirmwareUpdated", "release", "remove"]
    );

    // A scheduled signed job is canceled by a legacy request, silently.
    let mut sim = Sim::new(RebootPolicy::Never);
    sim.job
        .answer_signed_update_firmware(&signed(5, 100, None), CertificateCheck::Valid, at(0));
    sim.job
        .answer_update_firmware(&legacy("https://fw.example/b.bin", 0), at(1));
    assert_eq!(
        sim.actions(),
        ["DownloadScheduled#5", "Downloading", "download"]
    );
    assert_eq!(sim.job.poll_timeout(), None, "the scheduled job is gone");
}

#[test]
fn a_legacy_update_during_an_installation_is_dropped() {
    let mut sim = Sim::new(RebootPolicy::Never);
    sim.job
        .answer_update_firmware(&legacy("https://fw.example/a.bin", 0), at(0));
    sim.downloaded(DownloadResult::Downloaded);
    sim.actions();
    sim.job
        .answer_update_firmware(&legacy("https://fw.example/b.bin", 0), at(1));
    assert!(sim.actions().is_empty());
    sim.installed(InstallResult::Installed);
    assert_eq!(
        sim.actions(),
        ["Installed", "event FirmwareUpdated", "release", "remove"]
    );
}

#[test]
fn unsupported_protocols_fail_or_are_rejected() {
    let mut sim = Sim::new(RebootPolicy::Never);
    sim.job
        .answer_signed_update_firmware(&signed(1, 0, None), CertificateCheck::Valid, at(0));
    sim.actions();
    for location in [
        "ftp://fw.example/a.bin",
        "ftps://fw.example/a.bin",
        "fw.bin",
    ] {
        // Legacy: the empty answer cannot refuse, so the job fails at once.
        sim.job.answer_update_firmware(&legacy(location, 0), at(1));
        assert_eq!(sim.actions(), ["DownloadFailed"], "{location}");
        let mut request = signed(2, 0, None);
        request.firmware.location = location.into();
        let answer =
            sim.job
                .answer_signed_update_firmware(&request, CertificateCheck::Valid, at(1));
        assert_eq!(
            answer.status,
            UpdateFirmwareStatusEnum::Rejected,
            "{location}"
        );
        assert!(sim.actions().is_empty());
    }
    // The running job was not touched.
    sim.downloaded(DownloadResult::Downloaded);
    assert_eq!(sim.actions(), ["Downloaded#1", "verify"]);

    // A key narrowed to HTTPS refuses plain HTTP.
    let mut job = FirmwareJob::new(FirmwareSettings {
        protocols: vec![FileTransferProtocol::Https],
        ..settings(RebootPolicy::Never)
    });
    let mut request = signed(3, 0, None);
    request.firmware.location = "http://fw.example/a.bin".into();
    let answer = job.answer_signed_update_firmware(&request, CertificateCheck::Valid, at(0));
    assert_eq!(answer.status, UpdateFirmwareStatusEnum::Rejected);
}

#[test]
fn triggers_answer_in_every_state() {
    use FirmwareStatus as L;
    use FirmwareStatusEnum as S;
    let mut sim = Sim::new(RebootPolicy::ToActivate);
    let mut seen = Vec::new();
    let mut note = |sim: &Sim| seen.push((sim.legacy_trigger(), sim.signed_trigger()));
    note(&sim);
    sim.job.handle_transactions(true, at(0));
    sim.job.answer_signed_update_firmware(
        &signed(7, 10, Some(100)),
        CertificateCheck::Valid,
        at(0),
    );
    note(&sim);
    sim.jump();
    note(&sim);
    sim.actions();
    sim.downloaded(DownloadResult::Failed);
    note(&sim);
    sim.jump();
    sim.actions();
    sim.downloaded(DownloadResult::Downloaded);
    note(&sim);
    sim.actions();
    sim.verified(SignatureCheck::Valid);
    note(&sim);
    sim.jump();
    note(&sim);
    sim.job.handle_transactions(false, sim.now);
    note(&sim);
    sim.actions();
    sim.installed(InstallResult::Installed);
    note(&sim);
    sim.restart(true);
    note(&sim);
    assert_eq!(
        seen,
        [
            (L::Idle, (S::Idle, None)),
            (L::Idle, (S::DownloadScheduled, Some(7))),
            (L::Downloading, (S::Downloading, Some(7))),
            (L::Downloading, (S::Downloading, Some(7))),
            (L::Downloaded, (S::Downloaded, Some(7))),
            (L::Downloaded, (S::InstallScheduled, Some(7))),
            (L::Downloaded, (S::InstallScheduled, Some(7))),
            (L::Installing, (S::Installing, Some(7))),
            (L::Installing, (S::InstallRebooting, Some(7))),
            (L::Idle, (S::Idle, None)),
        ]
    );
}

#[test]
fn a_restart_resumes_or_ends_an_interrupted_job() {
    // A download cut short counts as a failed attempt; the last one ends the job.
    let mut sim = Sim::new(RebootPolicy::Never);
    sim.job
        .answer_signed_update_firmware(&signed(1, 0, None), CertificateCheck::Valid, at(0));
    sim.actions();
    sim.now = at(5);
    sim.restart(false);
    assert!(sim.actions().is_empty());
    assert_eq!(sim.job.poll_timeout(), Some(at(35)));
    sim.jump();
    assert_eq!(sim.actions(), ["download"]);
    sim.restart(false);
    assert_eq!(sim.actions(), ["DownloadFailed#1", "remove"]);

    // A signature check is repeated, with a new transfer id.
    let mut sim = Sim::new(RebootPolicy::Never);
    sim.job
        .answer_signed_update_firmware(&signed(2, 0, None), CertificateCheck::Valid, at(0));
    sim.downloaded(DownloadResult::Downloaded);
    sim.actions();
    let old = sim.verify.unwrap_or(TransferId(0));
    sim.restart(false);
    sim.job.handle_transactions(false, sim.now);
    assert_eq!(sim.actions(), ["verify"]);
    assert_ne!(sim.verify, Some(old));
    assert_eq!(
        sim.job
            .handle_signature(old, SignatureCheck::Valid, sim.now),
        Err(TransferError::UnknownTransfer(old))
    );
    sim.verified(SignatureCheck::Valid);
    assert_eq!(
        sim.actions(),
        ["SignatureVerified#2", "hold", "Installing#2", "install"]
    );

    // An installation cut short has failed.
    sim.restart(false);
    assert_eq!(sim.actions(), ["InstallationFailed#2", "remove"]);
    assert!(!sim.job.is_active());

    // Waiting for transactions: hold again, and wait until the driver reports none.
    let mut sim = Sim::new(RebootPolicy::Never);
    sim.job.handle_transactions(true, at(0));
    sim.job
        .answer_update_firmware(&legacy("https://fw.example/a.bin", 0), at(0));
    sim.downloaded(DownloadResult::Downloaded);
    sim.actions();
    sim.restart(false);
    assert_eq!(sim.actions(), ["hold"]);
    sim.job.handle_transactions(false, at(1));
    assert_eq!(sim.actions(), ["Installing", "install"]);

    // Scheduled jobs keep their timers.
    let mut sim = Sim::new(RebootPolicy::Never);
    sim.job
        .answer_signed_update_firmware(&signed(3, 500, None), CertificateCheck::Valid, at(0));
    sim.actions();
    sim.restart(false);
    assert!(sim.actions().is_empty());
    assert_eq!(sim.job.poll_timeout(), Some(at(500)));
    assert_eq!(
        sim.signed_trigger(),
        (FirmwareStatusEnum::DownloadScheduled, Some(3))
    );
}

#[test]
fn results_for_other_transfers_are_refused() {
    let mut sim = Sim::new(RebootPolicy::Never);
    let stray = TransferId(42);
    assert_eq!(
        sim.job
            .handle_download(stray, DownloadResult::Downloaded, at(0)),
        Err(TransferError::UnknownTransfer(stray))
    );
    sim.job
        .answer_update_firmware(&legacy("https://fw.example/a.bin", 0), at(0));
    sim.actions();
    let download = sim.download.unwrap_or(TransferId(0));
    // The right id in the wrong stage is refused too.
    assert!(
        sim.job
            .handle_install(download, InstallResult::Installed, at(0))
            .is_err()
    );
    assert!(
        sim.job
            .handle_signature(download, SignatureCheck::Valid, at(0))
            .is_err()
    );
    assert!(sim.actions().is_empty());
    assert_eq!(sim.legacy_trigger(), FirmwareStatus::Downloading);
}
