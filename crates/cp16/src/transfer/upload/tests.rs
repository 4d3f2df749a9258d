//! The upload job driven on virtual time.

use super::*;
use proto_ocpp::Timestamp;
use proto_ocpp::v16::LogParameters;
use std::time::Duration;

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap_or_default()
}

fn settings() -> UploadSettings {
    UploadSettings {
        station_id: "CP-1".into(),
        protocols: FileTransferProtocol::ALL.to_vec(),
        retry: RetryPolicy {
            retries: 1,
            interval: Duration::from_secs(30),
        },
    }
}

fn diagnostics(location: &str) -> GetDiagnosticsRequest {
    GetDiagnosticsRequest::new(location.into())
}

fn get_log(request_id: i32, log_type: LogEnum, location: &str) -> GetLogRequest {
    GetLogRequest::new(LogParameters::new(location.into()), log_type, request_id)
}

/// Plays the driver and writes each action as a short word.
#[derive(Debug)]
struct Sim {
    job: UploadJob,
    now: DateTime<Utc>,
    log: Vec<String>,
    upload: Option<TransferId>,
    uploads: Vec<(LogContent, String, String)>,
}

impl Sim {
    fn new() -> Sim {
        Sim {
            job: UploadJob::new(settings()),
            now: at(0),
            log: Vec::new(),
            upload: None,
            uploads: Vec::new(),
        }
    }

    /// Records the actions since the last call.
    fn collect(&mut self) {
        while let Some(action) = self.job.poll_action() {
            let word = match action {
                UploadAction::SendDiagnosticsStatus(r) => r.status.as_str().to_owned(),
                UploadAction::SendLogStatus(r) => match r.request_id {
                    Some(id) => format!("{}#{id}", r.status),
                    None => r.status.as_str().to_owned(),
                },
                UploadAction::Upload {
                    id,
                    content,
                    file,
                    url,
                } => {
                    self.upload = Some(id);
                    self.uploads.push((content, file, url));
                    "upload".into()
                }
                UploadAction::CancelUpload { id } => format!("cancel {id}"),
            };
            self.log.push(word);
        }
    }

    /// The actions since the last call.
    fn actions(&mut self) -> Vec<String> {
        self.collect();
        std::mem::take(&mut self.log)
    }

    fn jump(&mut self) {
        let Some(next) = self.job.poll_timeout() else {
            panic!("no timer pending");
        };
        self.now = next;
        self.job.handle_timeout(next);
    }

    fn uploaded(&mut self, result: UploadResult) {
        self.collect();
        let id = self.upload.take().unwrap_or(TransferId(0));
        assert_eq!(self.job.handle_upload(id, result, self.now), Ok(()));
    }

    fn restart(&mut self) {
        self.collect();
        let Ok(json) = serde_json::to_string(&self.job.snapshot()) else {
            panic!("snapshot does not serialize");
        };
        let Ok(snapshot) = serde_json::from_str::<UploadSnapshot>(&json) else {
            panic!("snapshot does not deserialize: {json}");
        };
        self.job = UploadJob::resume(snapshot, settings(), self.now);
        self.upload = None;
    }

    fn triggers(&self) -> (DiagnosticsStatus, UploadLogStatusEnum, Option<i32>) {
        let log = self.job.trigger_log_status();
        (
            self.job.trigger_diagnostics_status().status,
            log.status,
            log.request_id,
        )
    }
}

#[test]
fn get_diagnostics_uploads_the_period_asked_for() {
    let mut sim = Sim::new();
    assert_eq!(
        sim.triggers(),
        (DiagnosticsStatus::Idle, UploadLogStatusEnum::Idle, None)
    );
    let mut request = diagnostics("https://cs.example/diag");
    request.start_time = Some(Timestamp::from(at(-3600)));
    request.stop_time = Some(Timestamp::from(at(-60)));
    let answer = sim.job.answer_get_diagnostics(&request, at(0));
    assert_eq!(
        answer.file_name.as_deref(),
        Some("diagnostics-CP-1-20270115T080000Z.log")
    );
    assert_eq!(sim.actions(), ["Uploading", "upload"]);
    assert_eq!(
        sim.uploads,
        [(
            LogContent {
                kind: LogKind::Diagnostics,
                from: Some(at(-3600)),
                to: Some(at(-60)),
            },
            "diagnostics-CP-1-20270115T080000Z.log".to_owned(),
            "https://cs.example/diag/diagnostics-CP-1-20270115T080000Z.log".to_owned()
        )]
    );
    assert_eq!(
        sim.triggers(),
        (
            DiagnosticsStatus::Uploading,
            UploadLogStatusEnum::Idle,
            None
        ),
        "an ExtendedTrigger only reports GetLog uploads"
    );
    sim.uploaded(UploadResult::Uploaded);
    assert_eq!(sim.actions(), ["Uploaded"]);
    assert!(!sim.job.is_active());
    assert_eq!(
        sim.triggers(),
        (DiagnosticsStatus::Idle, UploadLogStatusEnum::Idle, None)
    );
}

#[test]
fn uploads_are_retried_then_fail() {
    let mut sim = Sim::new();
    let mut request = diagnostics("https://cs.example/diag/");
    request.retries = Some(2);
    request.retry_interval = Some(20);
    sim.job.answer_get_diagnostics(&request, at(0));
    assert_eq!(sim.actions(), ["Uploading", "upload"]);
    for attempt in 1..=2 {
        sim.uploaded(UploadResult::Failed(UploadFailure::PermissionDenied));
        assert!(sim.actions().is_empty(), "attempt {attempt}");
        assert_eq!(
            sim.triggers().0,
            DiagnosticsStatus::Uploading,
            "still uploading between attempts"
        );
        sim.jump();
        assert_eq!(sim.actions(), ["upload"]);
    }
    assert_eq!(sim.now, at(40));
    sim.uploaded(UploadResult::Failed(UploadFailure::Transfer));
    assert_eq!(sim.actions(), ["UploadFailed"]);
    assert_eq!(sim.job.poll_timeout(), None);
    assert_eq!(sim.uploads.len(), 3);
    assert!(
        sim.uploads
            .iter()
            .all(|(_, _, url)| url
                == "https://cs.example/diag/diagnostics-CP-1-20270115T080000Z.log")
    );
}

#[test]
fn get_log_reports_with_its_request_id_and_the_failure_reason() {
    for (failure, status) in [
        (UploadFailure::Transfer, "UploadFailure#3"),
        (UploadFailure::BadMessage, "BadMessage#3"),
        (UploadFailure::PermissionDenied, "PermissionDenied#3"),
        (
            UploadFailure::NotSupportedOperation,
            "NotSupportedOperation#3",
        ),
    ] {
        let mut sim = Sim::new();
        let mut request = get_log(3, LogEnum::SecurityLog, "https://cs.example/logs");
        request.log.oldest_timestamp = Some(Timestamp::from(at(-100)));
        request.retries = Some(0);
        let answer = sim.job.answer_get_log(&request, at(0));
        assert_eq!(answer.status, LogStatusEnum::Accepted);
        assert_eq!(
            answer.filename.as_deref(),
            Some("security-CP-1-20270115T080000Z.log")
        );
        assert_eq!(
            sim.triggers(),
            (
                DiagnosticsStatus::Idle,
                UploadLogStatusEnum::Uploading,
                Some(3)
            )
        );
        sim.uploaded(UploadResult::Failed(failure));
        assert_eq!(sim.actions(), ["Uploading#3", "upload", status]);
        assert_eq!(sim.uploads[0].0.kind, LogKind::Security);
        assert_eq!(sim.uploads[0].0.from, Some(at(-100)));
        assert_eq!(
            sim.triggers(),
            (DiagnosticsStatus::Idle, UploadLogStatusEnum::Idle, None)
        );
    }

    let mut sim = Sim::new();
    let request = get_log(4, LogEnum::DiagnosticsLog, "https://cs.example/logs");
    let answer = sim.job.answer_get_log(&request, at(0));
    assert_eq!(
        answer.filename.as_deref(),
        Some("diagnostics-CP-1-20270115T080000Z.log")
    );
    sim.uploaded(UploadResult::Uploaded);
    assert_eq!(sim.actions(), ["Uploading#4", "upload", "Uploaded#4"]);
}

#[test]
fn a_new_get_log_cancels_the_running_upload() {
    let mut sim = Sim::new();
    sim.job.answer_get_log(
        &get_log(1, LogEnum::DiagnosticsLog, "https://cs.example/a"),
        at(0),
    );
    sim.actions();
    let old = sim.upload.unwrap_or(TransferId(0));
    let answer = sim.job.answer_get_log(
        &get_log(2, LogEnum::SecurityLog, "https://cs.example/b"),
        at(1),
    );
    assert_eq!(answer.status, LogStatusEnum::AcceptedCanceled);
    assert_eq!(
        sim.actions(),
        [format!("cancel {old}").as_str(), "Uploading#2", "upload"],
        "the answer reports the canceled GetLog, no status follows"
    );
    assert_eq!(
        sim.job.handle_upload(old, UploadResult::Uploaded, at(2)),
        Err(TransferError::UnknownTransfer(old))
    );
    assert!(sim.actions().is_empty());

    // Canceling during a retry wait: nothing to abort.
    sim.uploaded(UploadResult::Failed(UploadFailure::Transfer));
    let answer = sim.job.answer_get_log(
        &get_log(3, LogEnum::SecurityLog, "https://cs.example/c"),
        at(3),
    );
    assert_eq!(answer.status, LogStatusEnum::AcceptedCanceled);
    assert_eq!(sim.actions(), ["Uploading#3", "upload"]);
    sim.uploaded(UploadResult::Uploaded);
    assert_eq!(sim.actions(), ["Uploaded#3"]);
    assert_eq!(sim.job.poll_timeout(), None);
}

#[test]
fn canceled_uploads_of_the_other_kind_end_with_their_failure() {
    let mut sim = Sim::new();
    sim.job.answer_get_log(
        &get_log(5, LogEnum::SecurityLog, "https://cs.example/a"),
        at(0),
    );
    sim.actions();
    let first = sim.upload.unwrap_or(TransferId(0));
    sim.job
        .answer_get_diagnostics(&diagnostics("https://cs.example/d"), at(1));
    sim.collect();
    let second = sim.upload.unwrap_or(TransferId(0));
    let answer = sim.job.answer_get_log(
        &get_log(6, LogEnum::SecurityLog, "https://cs.example/b"),
        at(2),
    );
    assert_eq!(answer.status, LogStatusEnum::AcceptedCanceled);
    sim.collect();
    let third = sim.upload.unwrap_or(TransferId(0));
    let fourth_answer = sim
        .job
        .answer_get_diagnostics(&diagnostics("https://cs.example/d"), at(3));
    assert!(fourth_answer.file_name.is_some());
    assert_eq!(
        sim.actions(),
        [
            format!("cancel {first}").as_str(),
            "UploadFailure#5",
            "Uploading",
            "upload",
            format!("cancel {second}").as_str(),
            "UploadFailed",
            "Uploading#6",
            "upload",
            format!("cancel {third}").as_str(),
            "UploadFailure#6",
            "Uploading",
            "upload",
        ]
    );
}

#[test]
fn unsupported_protocols_are_rejected_or_fail() {
    let mut sim = Sim::new();
    sim.job
        .answer_get_diagnostics(&diagnostics("https://cs.example/d"), at(0));
    sim.actions();
    for location in [
        "ftp://user:pw@cs.example/logs/",
        "ftps://cs.example/",
        "logs",
    ] {
        let answer = sim
            .job
            .answer_get_log(&get_log(9, LogEnum::DiagnosticsLog, location), at(1));
        assert_eq!(answer, GetLogResponse::new(LogStatusEnum::Rejected));
        assert!(sim.actions().is_empty(), "{location}");
        let answer = sim
            .job
            .answer_get_diagnostics(&diagnostics(location), at(1));
        assert!(answer.file_name.is_some());
        assert_eq!(sim.actions(), ["UploadFailed"], "{location}");
    }
    // The running upload goes on.
    sim.uploaded(UploadResult::Uploaded);
    assert_eq!(sim.actions(), ["Uploaded"]);

    let mut job = UploadJob::new(UploadSettings {
        protocols: vec![FileTransferProtocol::Https],
        ..settings()
    });
    let answer = job.answer_get_log(
        &get_log(1, LogEnum::SecurityLog, "http://cs.example/"),
        at(0),
    );
    assert_eq!(answer.status, LogStatusEnum::Rejected);
}

#[test]
fn presigned_locations_are_used_as_given() {
    let mut sim = Sim::new();
    let location = "https://bucket.example/x.log?X-Amz-Signature=abc";
    sim.job
        .answer_get_log(&get_log(1, LogEnum::SecurityLog, location), at(0));
    sim.actions();
    assert_eq!(sim.uploads[0].2, location);
}

#[test]
fn a_restart_counts_the_interrupted_attempt() {
    let mut sim = Sim::new();
    sim.job.answer_get_log(
        &get_log(2, LogEnum::DiagnosticsLog, "https://cs.example/a"),
        at(0),
    );
    assert_eq!(sim.actions(), ["Uploading#2", "upload"]);
    sim.now = at(10);
    sim.restart();
    assert!(sim.actions().is_empty());
    assert_eq!(sim.job.poll_timeout(), Some(at(40)));
    assert_eq!(sim.triggers().2, Some(2));
    // A restart during the wait keeps the timer.
    sim.restart();
    assert_eq!(sim.job.poll_timeout(), Some(at(40)));
    sim.jump();
    assert_eq!(sim.actions(), ["upload"]);
    sim.restart();
    assert_eq!(sim.actions(), ["UploadFailure#2"]);
    assert!(!sim.job.is_active());
    sim.restart();
    assert!(sim.actions().is_empty() && !sim.job.is_active());
}

#[test]
fn results_for_other_uploads_are_refused() {
    let mut sim = Sim::new();
    let stray = TransferId(7);
    assert_eq!(
        sim.job.handle_upload(stray, UploadResult::Uploaded, at(0)),
        Err(TransferError::UnknownTransfer(stray))
    );
    sim.job
        .answer_get_diagnostics(&diagnostics("https://cs.example/d"), at(0));
    sim.actions();
    sim.uploaded(UploadResult::Failed(UploadFailure::Transfer));
    // The failed attempt's id no longer counts while waiting for the retry.
    let failed = TransferId(1);
    assert_eq!(
        sim.job.handle_upload(failed, UploadResult::Uploaded, at(1)),
        Err(TransferError::UnknownTransfer(failed))
    );
    sim.job.handle_timeout(at(29));
    assert!(sim.actions().is_empty(), "not due yet");
}
