//! Central-system settings: one typed struct with its defaults, loadable from a TOML or JSON file
//! (chosen by extension) whose unknown keys are errors.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How the central system runs.
#[derive(Debug, Clone)]
pub struct CsmsConfig {
    /// Where stations connect (`ws://HOST:PORT/ocpp/{stationId}`).
    pub ocpp_listen: SocketAddr,
    /// Where the REST API listens.
    pub api_listen: SocketAddr,
    /// `sqlite://PATH`, `sqlite::memory:` or `postgres://…`.
    pub db: String,
    /// Keys accepted in the `X-API-Key` header; there is no built-in default.
    pub api_keys: Vec<String>,
    /// Accept stations the database does not know, registering them on first connection.
    pub auto_register: bool,
    /// How often to ping each station; a station that does not answer before the next ping is
    /// disconnected and shown offline.
    pub ping_interval: Duration,
    /// How long a CALL to a station may wait for its answer.
    pub call_timeout: Duration,
    /// Largest WebSocket message accepted from a station, in bytes.
    pub max_message_bytes: usize,
    /// Heartbeat interval given to stations in the BootNotification answer.
    pub heartbeat_interval: Duration,
    /// TLS on the OCPP endpoint (`wss://`, security profiles 2 and 3); plain `ws://` when absent.
    pub tls: Option<crate::tls::TlsSettings>,
}

impl CsmsConfig {
    /// Defaults: OCPP on 0.0.0.0:9000, REST on 0.0.0.0:8080, SQLite `joule.db`.
    pub fn new(api_keys: Vec<String>) -> Self {
        Self {
            ocpp_listen: SocketAddr::from(([0, 0, 0, 0], 9000)),
            api_listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            db: "sqlite://joule.db".into(),
            api_keys,
            auto_register: false,
            ping_interval: Duration::from_secs(60),
            call_timeout: Duration::from_secs(30),
            max_message_bytes: 256 * 1024,
            heartbeat_interval: Duration::from_secs(300),
            tls: None,
        }
    }

    /// The defaults with what the file at `path` sets (`.toml` or `.json`).
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let file: FileConfig = match path.extension().and_then(|e| e.to_str()) {
            Some("json") => serde_json::from_str(&text).map_err(|e| ConfigError::Parse {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?,
            Some("toml") => toml::from_str(&text).map_err(|e| ConfigError::Parse {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?,
            _ => return Err(ConfigError::Format(path.to_path_buf())),
        };
        Ok(file.apply(Self::new(Vec::new())))
    }
}

/// Why a configuration file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The file is not valid, or names an unknown setting.
    #[error("{path}: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why, with the offending key.
        reason: String,
    },
    /// Neither `.toml` nor `.json`.
    #[error("{0}: the configuration must be a .toml or .json file")]
    Format(PathBuf),
}

/// The file's shape: every setting optional, durations in seconds.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    ocpp_listen: Option<SocketAddr>,
    api_listen: Option<SocketAddr>,
    db: Option<String>,
    api_keys: Option<Vec<String>>,
    auto_register: Option<bool>,
    ping_interval_secs: Option<u64>,
    call_timeout_secs: Option<u64>,
    max_message_bytes: Option<usize>,
    heartbeat_interval_secs: Option<u64>,
    tls: Option<FileTls>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTls {
    cert: PathBuf,
    key: PathBuf,
    client_ca: Option<PathBuf>,
    #[serde(default)]
    require_client_cert: bool,
}

impl FileConfig {
    fn apply(self, mut c: CsmsConfig) -> CsmsConfig {
        let secs = |s: u64| Duration::from_secs(s.max(1));
        c.ocpp_listen = self.ocpp_listen.unwrap_or(c.ocpp_listen);
        c.api_listen = self.api_listen.unwrap_or(c.api_listen);
        c.db = self.db.unwrap_or(c.db);
        c.api_keys = self.api_keys.unwrap_or(c.api_keys);
        c.auto_register = self.auto_register.unwrap_or(c.auto_register);
        c.ping_interval = self.ping_interval_secs.map_or(c.ping_interval, secs);
        c.call_timeout = self.call_timeout_secs.map_or(c.call_timeout, secs);
        c.max_message_bytes = self.max_message_bytes.unwrap_or(c.max_message_bytes);
        c.heartbeat_interval = self
            .heartbeat_interval_secs
            .map_or(c.heartbeat_interval, Duration::from_secs);
        c.tls = self.tls.map(|t| crate::tls::TlsSettings {
            cert: t.cert,
            key: t.key,
            client_ca: t.client_ca,
            require_client_cert: t.require_client_cert,
        });
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn examples() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs")
    }

    #[test]
    fn every_shipped_example_parses() {
        let mut seen = 0;
        for entry in std::fs::read_dir(examples()).expect("configs directory") {
            let path = entry.expect("entry").path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if name.starts_with("csms") {
                CsmsConfig::from_file(&path).unwrap_or_else(|e| panic!("{e}"));
                seen += 1;
            }
        }
        assert!(seen >= 2, "expected csms.toml and csms.json examples");
        let config = CsmsConfig::from_file(&examples().join("csms.toml")).expect("example");
        assert_eq!(config.ocpp_listen, SocketAddr::from(([0, 0, 0, 0], 9000)));
        assert_eq!(config.ping_interval, Duration::from_secs(60));
    }

    #[test]
    fn unknown_keys_and_formats_are_errors() {
        let dir = std::env::temp_dir().join(format!("joule-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let bad = dir.join("bad.toml");
        std::fs::write(
            &bad,
            "ocpp_listen = \"127.0.0.1:1\"\nping_intervall_secs = 5\n",
        )
        .expect("written");
        let error = CsmsConfig::from_file(&bad).expect_err("typo");
        assert!(error.to_string().contains("ping_intervall_secs"), "{error}");
        let yaml = dir.join("csms.yaml");
        std::fs::write(&yaml, "db: x").expect("written");
        assert!(matches!(
            CsmsConfig::from_file(&yaml),
            Err(ConfigError::Format(_))
        ));
        std::fs::remove_dir_all(&dir).expect("cleaned");
    }
}
