//! Power-cabinet controller settings: one typed struct with its defaults, loadable from a TOML
//! or JSON file (chosen by extension) whose unknown keys are errors.
//!
//! ```toml
//! listen = "0.0.0.0:8765"      # one listener: /GUNn, /splitdash, /api/v1, /health
//! guns = 12                    # charge points, 1 … 72 (6 SECCs × 12 guns)
//! paths = []                   # one WebSocket path per gun; empty: /GUN1 … /GUNn
//! dataModel = "pecc-datamodel.json"   # per-gun parameters, relative to this file
//! # adminToken = "change-me"   # bearer token of /api/v1; without it only loopback clients
//! maxMessageBytes = 65536
//! [link]       unresponsiveTimeoutMs, pingIntervalMs, sendTimeoutMs, controlIntervalMs
//! [splitdash]  path, queue, sendTimeoutMs, diagnosticsIntervalMs
//! [power]      backend = "sim", [power.sim] (see `power::sim::SimConfig`)
//! ```

use crate::power::sim::SimConfig;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The most charge points one process serves (6 SECCs × 12 guns).
pub const MAX_GUNS: u32 = 72;

/// How the power-cabinet controller runs.
#[derive(Debug, Clone, PartialEq)]
pub struct PeccConfig {
    /// Where SECCs, monitoring clients and operators connect.
    pub listen: SocketAddr,
    /// Number of charge points (guns).
    pub guns: u32,
    /// The WebSocket path of each gun, in gun order.
    pub paths: Vec<String>,
    /// The dispenser data model file, if any.
    pub data_model: Option<PathBuf>,
    /// The bearer token of the admin API; without one only loopback clients may use it.
    pub admin_token: Option<String>,
    /// Largest WebSocket message accepted, in bytes.
    pub max_message_bytes: usize,
    /// PEP-WS link timing.
    pub link: LinkSettings,
    /// The monitoring stream.
    pub splitdash: SplitdashSettings,
    /// The power stage.
    pub power: PowerSettings,
}

/// PEP-WS link timing.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkSettings {
    /// Silence after which an SECC counts as unresponsive (`PEP_SECC_UNRESPONSIVE_TIMEOUT`).
    pub unresponsive_timeout: Duration,
    /// Liveness Ping period.
    pub ping_interval: Duration,
    /// How long one WebSocket send may take before the SECC counts as gone.
    pub send_timeout: Duration,
    /// Period of the control loop (power stage and charge-point machines).
    pub control_interval: Duration,
}

/// The monitoring stream.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitdashSettings {
    /// Its WebSocket path.
    pub path: String,
    /// Records a client may fall behind before it is dropped.
    pub queue: usize,
    /// How long one send to a client may take before it is dropped.
    pub send_timeout: Duration,
    /// Period of the per-gun diagnostics records.
    pub diagnostics_interval: Duration,
}

/// The power stage.
#[derive(Debug, Clone, PartialEq)]
pub enum PowerSettings {
    /// The simulated stage.
    Sim(SimConfig),
}

impl PowerSettings {
    /// The total power of the cabinet, W.
    pub fn total_power(&self) -> f64 {
        match self {
            PowerSettings::Sim(sim) => sim.total_power(),
        }
    }
}

impl PeccConfig {
    /// Defaults: `0.0.0.0:8765` (seed 000's port), 12 guns at `/GUN1` … `/GUN12`, the simulated
    /// stage, the specification's timing.
    pub fn new(guns: u32) -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 8765)),
            guns,
            paths: default_paths(guns),
            data_model: None,
            admin_token: None,
            max_message_bytes: 64 * 1024,
            link: LinkSettings {
                unresponsive_timeout: proto_pepws::connection::SECC_UNRESPONSIVE_TIMEOUT,
                ping_interval: Duration::from_millis(1000),
                send_timeout: Duration::from_millis(1000),
                control_interval: Duration::from_millis(50),
            },
            splitdash: SplitdashSettings {
                path: "/splitdash".into(),
                queue: 1024,
                send_timeout: Duration::from_millis(1000),
                diagnostics_interval: Duration::from_millis(1000),
            },
            power: PowerSettings::Sim(SimConfig::default()),
        }
    }

    /// Sets the number of guns, with default paths if the paths were the defaults.
    pub fn with_guns(mut self, guns: u32) -> Self {
        if self.paths == default_paths(self.guns) {
            self.paths = default_paths(guns);
        }
        self.guns = guns;
        self
    }

    /// The defaults with what the file at `path` sets (`.toml` or `.json`); relative paths in it
    /// are resolved against its directory.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let parse = |reason: String| ConfigError::Parse {
            path: path.to_path_buf(),
            reason,
        };
        let file: FileConfig = match path.extension().and_then(|e| e.to_str()) {
            Some("json") => serde_json::from_str(&text).map_err(|e| parse(e.to_string()))?,
            Some("toml") => toml::from_str(&text).map_err(|e| parse(e.to_string()))?,
            _ => return Err(ConfigError::Format(path.to_path_buf())),
        };
        let base = path.parent().unwrap_or(Path::new("."));
        let config = file.apply(Self::new(12), base);
        config.validate().map_err(parse)?;
        Ok(config)
    }

    /// Checks the settings' consistency.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=MAX_GUNS).contains(&self.guns) {
            return Err(format!("guns must be 1 … {MAX_GUNS}, not {}", self.guns));
        }
        if self.paths.len() != self.guns as usize {
            return Err(format!(
                "paths lists {} paths for {} guns",
                self.paths.len(),
                self.guns
            ));
        }
        let reserved = [self.splitdash.path.as_str(), "/health"];
        for (i, path) in self.paths.iter().enumerate() {
            let valid = path.starts_with('/')
                && path.len() > 1
                && !path.starts_with("/api/")
                && !path.contains(['{', '}', '*', '?', '#', ' ']);
            if !valid || reserved.contains(&path.as_str()) {
                return Err(format!("paths[{i}] {path:?} is not a usable path"));
            }
            if self.paths[..i].contains(path) {
                return Err(format!("paths[{i}] {path:?} is listed twice"));
            }
        }
        if !self.splitdash.path.starts_with('/') || self.splitdash.queue == 0 {
            return Err("splitdash needs a path starting with / and a queue above 0".into());
        }
        let link = &self.link;
        if link.unresponsive_timeout < Duration::from_millis(500)
            || link.control_interval.is_zero()
            || link.control_interval > Duration::from_millis(200)
            || link.ping_interval.is_zero()
            || link.send_timeout.is_zero()
        {
            return Err(
                "link: unresponsiveTimeoutMs ≥ 500, controlIntervalMs 1 … 200, \
                        pingIntervalMs and sendTimeoutMs above 0"
                    .into(),
            );
        }
        if let Some(token) = &self.admin_token
            && (token.is_empty() || token.chars().any(char::is_control))
        {
            return Err("adminToken must be printable and not empty".into());
        }
        let PowerSettings::Sim(sim) = &self.power;
        if sim.modules == 0 || sim.module_power_w <= 0.0 || sim.module_current_a <= 0.0 {
            return Err("power.sim needs modules, modulePowerW and moduleCurrentA above 0".into());
        }
        Ok(())
    }
}

/// `/GUN1` … `/GUNn`.
pub fn default_paths(guns: u32) -> Vec<String> {
    (1..=guns).map(|g| format!("/GUN{g}")).collect()
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
    /// The file is not valid, names an unknown setting or breaks a rule.
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FileConfig {
    listen: Option<SocketAddr>,
    guns: Option<u32>,
    paths: Option<Vec<String>>,
    data_model: Option<PathBuf>,
    admin_token: Option<String>,
    max_message_bytes: Option<usize>,
    link: Option<FileLink>,
    splitdash: Option<FileSplitdash>,
    power: Option<FilePower>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FileLink {
    unresponsive_timeout_ms: Option<u64>,
    ping_interval_ms: Option<u64>,
    send_timeout_ms: Option<u64>,
    control_interval_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FileSplitdash {
    path: Option<String>,
    queue: Option<usize>,
    send_timeout_ms: Option<u64>,
    diagnostics_interval_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FilePower {
    backend: Option<Backend>,
    sim: Option<SimConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Backend {
    Sim,
}

impl FileConfig {
    fn apply(self, c: PeccConfig, base: &Path) -> PeccConfig {
        let ms = Duration::from_millis;
        let mut c = c.with_guns(self.guns.unwrap_or(12));
        c.listen = self.listen.unwrap_or(c.listen);
        if let Some(paths) = self.paths.filter(|p| !p.is_empty()) {
            c.paths = paths;
        }
        c.data_model = self.data_model.map(|p| base.join(p));
        c.admin_token = self.admin_token.or(c.admin_token);
        c.max_message_bytes = self.max_message_bytes.unwrap_or(c.max_message_bytes);
        if let Some(link) = self.link {
            let l = &mut c.link;
            l.unresponsive_timeout = link
                .unresponsive_timeout_ms
                .map_or(l.unresponsive_timeout, ms);
            l.ping_interval = link.ping_interval_ms.map_or(l.ping_interval, ms);
            l.send_timeout = link.send_timeout_ms.map_or(l.send_timeout, ms);
            l.control_interval = link.control_interval_ms.map_or(l.control_interval, ms);
        }
        if let Some(s) = self.splitdash {
            let d = &mut c.splitdash;
            d.path = s.path.unwrap_or(std::mem::take(&mut d.path));
            d.queue = s.queue.unwrap_or(d.queue);
            d.send_timeout = s.send_timeout_ms.map_or(d.send_timeout, ms);
            d.diagnostics_interval = s.diagnostics_interval_ms.map_or(d.diagnostics_interval, ms);
        }
        if let Some(power) = self.power {
            let Backend::Sim = power.backend.unwrap_or(Backend::Sim);
            c.power = PowerSettings::Sim(power.sim.unwrap_or_default());
        }
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
    fn every_shipped_pecc_example_loads() {
        let mut seen = 0;
        for entry in std::fs::read_dir(examples()).expect("configs directory") {
            let path = entry.expect("entry").path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            let is_config =
                name.ends_with(".toml") || (name.ends_with(".json") && !name.contains("datamodel"));
            if name.starts_with("pecc") && is_config {
                let config = PeccConfig::from_file(&path).unwrap_or_else(|e| panic!("{e}"));
                if let Some(model) = &config.data_model {
                    let builtin = crate::datamodel::GunParameters::builtin(hal::Watts(
                        config.power.total_power(),
                    ));
                    crate::datamodel::DataModel::from_file(model, config.guns, &builtin)
                        .unwrap_or_else(|e| panic!("{name}: {}: {e}", model.display()));
                }
                seen += 1;
            }
        }
        assert!(seen >= 2, "expected pecc.toml and pecc.json examples");
        let config = PeccConfig::from_file(&examples().join("pecc.toml")).expect("example");
        assert_eq!(config.listen, SocketAddr::from(([0, 0, 0, 0], 8765)));
        assert_eq!(config.paths[0], "/GUN1");
        assert_eq!(config.link.unresponsive_timeout, Duration::from_secs(5));
    }

    #[test]
    fn bad_files_name_the_problem() {
        let dir = std::env::temp_dir().join(format!("joule-pecc-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let cases = [
            ("typo.toml", "gunz = 3\n", "gunz"),
            ("many.toml", "guns = 73\n", "guns must be"),
            ("paths.toml", "guns = 2\npaths = [\"/a\"]\n", "paths lists"),
            (
                "twice.toml",
                "guns = 2\npaths = [\"/a\", \"/a\"]\n",
                "twice",
            ),
            (
                "clash.toml",
                "guns = 1\npaths = [\"/splitdash\"]\n",
                "usable",
            ),
            (
                "link.json",
                "{\"link\": {\"controlIntervalMs\": 0}}",
                "controlIntervalMs",
            ),
            ("sim.toml", "[power.sim]\nmodulez = 3\n", "modulez"),
        ];
        for (name, text, expected) in cases {
            let path = dir.join(name);
            std::fs::write(&path, text).expect("written");
            let error = PeccConfig::from_file(&path).expect_err(name);
            assert!(error.to_string().contains(expected), "{name}: {error}");
        }
        std::fs::remove_dir_all(&dir).expect("cleaned");
    }

    #[test]
    fn gun_count_keeps_default_paths_in_step() {
        let config = PeccConfig::new(12).with_guns(3);
        assert_eq!(config.paths, ["/GUN1", "/GUN2", "/GUN3"]);
        assert!(config.validate().is_ok());
        assert!(PeccConfig::new(12).with_guns(0).validate().is_err());
    }
}
