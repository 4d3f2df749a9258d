//! Firmware updates, diagnostics and log uploads (OCPP 1.6 FirmwareManagement and the security
//! whitepaper's L01 and N01) as sans-I/O job machines.
//!
//! The station's OCPP agent owns one [`FirmwareJob`] and one [`UploadJob`] for its lifetime; each
//! is idle between requests. The agent answers the central system's CALL with the job's
//! `answer_*` method, then drains [`FirmwareJob::poll_action`] / [`UploadJob::poll_action`] and
//! carries out each action: send a status notification, download or upload a file, check a
//! signature, install, hold connectors, reboot. Results come back through `handle_*` with the
//! [`TransferId`] the action carried, so a late result of a canceled transfer is refused instead
//! of steering the job that replaced it. Timers (retrieve date, retry, install date) are wall-clock
//! instants: the driver sleeps until `poll_timeout()` and calls `handle_timeout(now)`.
//!
//! # Transfers
//!
//! - Locations are checked when the request arrives ([`check_location`]): the scheme must be one
//!   of SupportedFileTransferProtocols and one this station implements ([`IMPLEMENTED`]: HTTP and
//!   HTTPS). A request the answer can refuse is refused (SignedUpdateFirmware and GetLog:
//!   `Rejected`; nothing running is touched). The legacy requests cannot be refused: UpdateFirmware
//!   ends at once with DownloadFailed and GetDiagnostics with UploadFailed, without a
//!   Downloading/Uploading that never happened.
//! - `retries` counts the attempts after the first (`retries: 2` = up to three attempts), spaced
//!   by `retryInterval`; absent values take the station's [`RetryPolicy`], negative ones count
//!   as 0. The fact sheet leaves open whether `retries` includes the first attempt; "retry" reads
//!   as a repetition, so it does not.
//! - Downloads are an HTTP GET of the location (following redirects) into the local file the
//!   action names. Uploads are an HTTP PUT of the file's bytes to the target URL the action names
//!   ([`upload_target`]): the request's location with the file name appended, or the location as
//!   given when it carries a query (a pre-signed URL). The driver bounds every transfer with its
//!   own timeouts and reports a stalled one as failed; the jobs never time a transfer out.
//!
//! # Triggers
//!
//! TriggerMessage answers with [`FirmwareJob::trigger_status`] and
//! [`UploadJob::trigger_diagnostics_status`] (Idle when nothing of that kind runs);
//! ExtendedTriggerMessage with [`FirmwareJob::trigger_signed_status`] (the last status again, Idle
//! after Installed) and [`UploadJob::trigger_log_status`] (Idle without requestId when no GetLog
//! upload runs). The triggered message goes after the trigger's answer.
//!
//! # Driving a job
//!
//! ```text
//! loop {
//!     while let Some(action) = firmware.poll_action() { carry it out; persist firmware.snapshot() }
//!     select! {
//!         call from the central system => answer it with firmware.answer_*(…, now),
//!         download / check / install finished => firmware.handle_*(id, result, now),
//!         transactions changed => firmware.handle_transactions(running, now),
//!         sleep until firmware.poll_timeout() => firmware.handle_timeout(now),
//!     }
//! }
//! ```

pub mod firmware;
pub mod upload;

pub use firmware::{
    CertificateCheck, DownloadResult, FirmwareAction, FirmwareEvent, FirmwareJob, FirmwareSettings,
    FirmwareSnapshot, InstallResult, RebootPolicy, SignatureCheck,
};
pub use upload::{
    LogContent, LogKind, UploadAction, UploadFailure, UploadJob, UploadResult, UploadSettings,
    UploadSnapshot,
};

use crate::keys::FileTransferProtocol;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// The protocols this station can carry out, whatever SupportedFileTransferProtocols says.
pub const IMPLEMENTED: &[FileTransferProtocol] =
    &[FileTransferProtocol::Https, FileTransferProtocol::Http];

/// Why a transfer request or result was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransferError {
    /// The location is not an absolute URL with a host.
    #[error("not a transfer URL: {0:?}")]
    MalformedLocation(String),
    /// The location's scheme is not a supported file transfer protocol.
    #[error("file transfer protocol `{0}` is not supported")]
    UnsupportedProtocol(String),
    /// A result for a transfer that is not running (finished, canceled or never started).
    #[error("transfer {0} is not running")]
    UnknownTransfer(TransferId),
}

/// One download, upload, signature check or installation the driver runs for a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TransferId(pub u64);

impl fmt::Display for TransferId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// How many times a transfer is repeated after a failed attempt, and how far apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Attempts after the first.
    pub retries: u32,
    /// The wait between a failed attempt and the next one.
    pub interval: Duration,
}

impl Default for RetryPolicy {
    /// Our choice when a request leaves it open: two retries a minute apart.
    fn default() -> Self {
        RetryPolicy {
            retries: 2,
            interval: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The policy of a request's `retries` and `retryInterval`, `self` filling in absent fields.
    /// Negative values count as 0.
    pub fn with_request(self, retries: Option<i32>, retry_interval: Option<i32>) -> RetryPolicy {
        let non_negative = |v: i32| u32::try_from(v).unwrap_or(0);
        RetryPolicy {
            retries: retries.map_or(self.retries, non_negative),
            interval: retry_interval.map_or(self.interval, |s| {
                Duration::from_secs(non_negative(s).into())
            }),
        }
    }

    /// When the attempt after one that failed at `now` starts.
    fn next_attempt(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        later(now, self.interval)
    }
}

/// `now + wait`, saturating at the end of time.
fn later(now: DateTime<Utc>, wait: Duration) -> DateTime<Utc> {
    TimeDelta::from_std(wait)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Checks a transfer location: an absolute URL with a host whose scheme is both in `supported`
/// (SupportedFileTransferProtocols) and [`IMPLEMENTED`]. Returns the protocol.
///
/// # Errors
///
/// [`TransferError::UnsupportedProtocol`] for a scheme that is not both supported and
/// implemented; [`TransferError::MalformedLocation`] without `scheme://host`, or with whitespace
/// or control characters.
pub fn check_location(
    location: &str,
    supported: &[FileTransferProtocol],
) -> Result<FileTransferProtocol, TransferError> {
    let malformed = || TransferError::MalformedLocation(location.to_owned());
    if location
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(malformed());
    }
    let (scheme, rest) = location
        .split_once("://")
        .filter(|(scheme, _)| !scheme.is_empty())
        .ok_or_else(malformed)?;
    let protocol = FileTransferProtocol::ALL
        .iter()
        .copied()
        .find(|p| p.as_str().eq_ignore_ascii_case(scheme))
        .filter(|p| supported.contains(p) && IMPLEMENTED.contains(p))
        .ok_or_else(|| TransferError::UnsupportedProtocol(scheme.to_ascii_lowercase()))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() {
        return Err(malformed());
    }
    Ok(protocol)
}

/// Where an upload of `file_name` to `location` goes: the location as given when it carries a
/// query or fragment (a pre-signed URL names the object itself), else the location taken as a
/// directory with the file name appended.
pub fn upload_target(location: &str, file_name: &str) -> String {
    if location.contains(['?', '#']) {
        location.to_owned()
    } else if location.ends_with('/') {
        format!("{location}{file_name}")
    } else {
        format!("{location}/{file_name}")
    }
}

/// The longest file name GetLog.conf may carry.
const MAX_FILE_NAME: usize = 255;

/// A file name `<prefix>-<station>-<UTC time>.<extension>`, e.g.
/// `diagnostics-CP-0001-20250101T120000Z.log`. Characters of the station id outside
/// `[A-Za-z0-9._-]` become `_`, and the id is shortened so the name fits in 255 characters.
pub fn file_name(prefix: &str, station_id: &str, now: DateTime<Utc>, extension: &str) -> String {
    let time = now.format("%Y%m%dT%H%M%SZ").to_string();
    let room = MAX_FILE_NAME.saturating_sub(prefix.len() + time.len() + extension.len() + 3);
    let station: String = station_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(room)
        .collect();
    let station = if station.is_empty() {
        "station".to_owned()
    } else {
        station
    };
    format!("{prefix}-{station}-{time}.{extension}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use FileTransferProtocol::{Ftp, Ftps, Http, Https};

    #[test]
    fn locations_need_a_supported_scheme_and_a_host() {
        let all = FileTransferProtocol::ALL;
        assert_eq!(check_location("https://cs.example/fw.bin", all), Ok(Https));
        assert_eq!(check_location("HTTP://cs.example:8080", all), Ok(Http));
        for (location, scheme) in [
            ("ftp://user:pw@cs.example/dir/", "ftp"),
            ("FTPS://cs.example/dir/", "ftps"),
            ("file:///var/log/x", "file"),
            ("sftp://cs.example/", "sftp"),
        ] {
            assert_eq!(
                check_location(location, all),
                Err(TransferError::UnsupportedProtocol(scheme.into())),
                "{location}"
            );
        }
        // The key may narrow the implemented set further.
        assert_eq!(
            check_location("http://cs.example/", &[Https, Ftp, Ftps]),
            Err(TransferError::UnsupportedProtocol("http".into()))
        );
        for location in [
            "",
            "cs.example/fw.bin",
            "https://",
            "https:///path",
            "://cs.example",
            "https://cs.example/a b",
            "https://cs.example/\n",
        ] {
            assert!(
                matches!(
                    check_location(location, all),
                    Err(TransferError::MalformedLocation(_))
                ),
                "{location:?}"
            );
        }
    }

    #[test]
    fn upload_targets_append_the_file_name_unless_the_url_is_presigned() {
        assert_eq!(
            upload_target("https://cs.example/logs", "a.log"),
            "https://cs.example/logs/a.log"
        );
        assert_eq!(
            upload_target("https://cs.example/logs/", "a.log"),
            "https://cs.example/logs/a.log"
        );
        let presigned = "https://bucket.example/a.log?X-Amz-Signature=abc";
        assert_eq!(upload_target(presigned, "b.log"), presigned);
    }

    #[test]
    fn file_names_are_safe_and_bounded() {
        let now = DateTime::from_timestamp(1_735_732_800, 0).unwrap_or_default();
        assert_eq!(
            file_name("diagnostics", "CP-0001", now, "log"),
            "diagnostics-CP-0001-20250101T120000Z.log"
        );
        assert_eq!(
            file_name("security", "../évil/ id", now, "log"),
            "security-..__vil__id-20250101T120000Z.log"
        );
        assert_eq!(
            file_name("diagnostics", "", now, "log"),
            "diagnostics-station-20250101T120000Z.log"
        );
        let long = file_name("diagnostics", &"x".repeat(1000), now, "log");
        assert_eq!(long.len(), 255);
        assert!(long.ends_with("-20250101T120000Z.log"));
    }

    #[test]
    fn retry_policies_take_the_request_and_fill_in_the_rest() {
        let station = RetryPolicy::default();
        assert_eq!(station.with_request(None, None), station);
        assert_eq!(
            station.with_request(Some(5), Some(10)),
            RetryPolicy {
                retries: 5,
                interval: Duration::from_secs(10)
            }
        );
        assert_eq!(
            station.with_request(Some(-1), Some(-30)),
            RetryPolicy {
                retries: 0,
                interval: Duration::ZERO
            }
        );
        let now = DateTime::<Utc>::MAX_UTC;
        assert_eq!(station.next_attempt(now), DateTime::<Utc>::MAX_UTC);
    }
}
