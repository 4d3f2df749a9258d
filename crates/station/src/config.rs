//! The station's configuration: identity, central system, HTTP API and guns, read from one TOML or
//! JSON document chosen by the file's extension (`.toml`, `.json`; anything else is an error).
//!
//! The layout is seed 003's `configs/charger.json` (DC-OCPP `src/charger_config.cpp`, with the
//! keys its HEAD added), so that file loads unchanged; joule adds a few keys in the same camelCase
//! style (marked † below). Each key is documented once, on the field of [`StationConfig`],
//! [`GunConfigEntry`] or [`SecurityPaths`] it fills.
//!
//! ```text
//! chargePoint   { id, vendor, model, firmwareVersion, centralSystemURI, usePLC, canInterface,
//!                 simulationMode, ocppVersion† }
//! connectors[]  { id, plcId, label, hal†, maxCurrentA, maxPowerW, maxVoltageV, minVoltageV,
//!                 canInterface, meterSampleIntervalSeconds, requireLock, lockInputSwitch,
//!                 meterSource, meterScale, meterOffsetWh }
//! meterSampleIntervalSeconds, meterKeepAliveSeconds, minimumStatusDurationSeconds
//! security      { csmsCaBundle, moCaBundle, v2gCaBundle, clientCertDir, clientKeyDir,
//!                 seccCertDir, seccKeyDir }
//! http†         { listen, apiToken }
//! ocpp          (seed HEAD's inline libocpp configuration, see below)
//! ```
//!
//! # Keys accepted and ignored
//!
//! These top-level keys only made sense for the seed's C++ build. They are accepted, whatever
//! their content, logged with `tracing::warn!` naming each, and listed in
//! [`StationConfig::ignored_keys`]:
//!
//! | Keys | What they were |
//! |---|---|
//! | `ocppConfig`, `sharePath`, `userConfig`, `databaseDir`, `sqlMigrationsPath`, `messageLogPath`, `loggingConfig` | libocpp's file locations; joule has its own OCPP stack and logs through `tracing` |
//! | `plc` | options of the seed's PLC firmware and CAN driver |
//! | `uploads`, `timeouts` | the seed's upload limits and authorisation / power-request timeouts |
//! | `planner`, `slots`, `modulePowerKW`, `gridLimitKW`, `defaultVoltageV`, `siteLimits` | the seed's power-module planner and cabinet |
//! | `allowCrossSlotIslands`, `maxModulesPerGun`, `minModulesPerActiveGun`, `maxIslandRadius`, `minModuleHoldMs`, `minMcHoldMs`, `minGcHoldMs`, `mcOpenCurrentA`, `gcOpenCurrentA`, `prechargeVoltageToleranceV`, `prechargeTimeoutMs` | planner keys, which the seed also reads at the top level |
//! | `ocpp` | HEAD's inline libocpp configuration. As in the seed, `ocpp.Core.MeterValueSampleInterval` (when positive) and `ocpp.Core.MinimumStatusDuration` (when not negative) are read back, and the top-level `meterSampleIntervalSeconds` / `minimumStatusDurationSeconds` win over them; the rest is ignored. |
//!
//! The `security` paths are kept (resolved, see [`SecurityPaths`]) for OCPP security profiles,
//! though nothing reads the files yet. The meaningful seed keys keep the seed's meaning and
//! defaults, except where a field's documentation says otherwise.
//!
//! # Everything else is an error
//!
//! Any other key, at any depth (except inside `ocpp`, which is libocpp's document), is rejected
//! with its path: `connectors[1].maxCurentA: unknown field`. Values of the wrong type are
//! rejected the same way (`http.listen: invalid socket address syntax`).
//!
//! # Validation
//!
//! With seed 003's exact messages where it has one:
//! - `Duplicate PLC id <n> across connectors. Use unique plcId per connector.` (with `usePLC`);
//! - `Connector plcId must be 0..15 (got <n>) for connector id=<id>`;
//! - `PLC config invalid: multiple CAN interfaces defined. …` (with `usePLC`).
//!
//! And joule's own: connector ids start at 1, are unique and, as OCPP requires of
//! connector numbering, leave no gaps; current, power and voltage limits are positive; `hal`
//! names a backend in [`hal::BACKENDS`]; `centralSystemURI` is empty or a `ws://`/`wss://` URL;
//! an HTTP API listening on a non-loopback address requires `apiToken`. The seed's silent
//! corrections are kept, with a warning: `minVoltageV` above the maximum becomes half the
//! maximum, `lockInputSwitch` outside 1..4 becomes 3, `meterScale` ≤ 0 becomes 1.
//!
//! Relative paths resolve against the configuration file's directory (lexically: `..` is
//! removed without following symbolic links, where the seed used `weakly_canonical`).

mod build;
mod de;
mod file;
#[cfg(test)]
mod tests;

use hal::{Amps, Volts, WattHours, Watts};
use serde::Deserialize;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How the station runs: identity, central system, HTTP API and guns, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct StationConfig {
    /// `chargePoint.id`: the station's identity towards the central system (appended to the
    /// central system URL, and the Basic-authentication user). Default `chargepoint-1`; 1 to 48
    /// characters, none of them `/`, `:`, whitespace or control characters.
    pub station_id: String,
    /// `chargePoint.vendor`, reported in BootNotification. Default `UnknownVendor`.
    pub vendor: String,
    /// `chargePoint.model`, reported in BootNotification. Default `UnknownModel`.
    pub model: String,
    /// `chargePoint.firmwareVersion`, reported in BootNotification. Default `0.0.0`.
    pub firmware_version: String,
    /// `chargePoint.centralSystemURI`: the central system's `ws://` or `wss://` URL, to which
    /// the station id is appended when connecting. Empty or absent (`None`): the station runs
    /// standalone, without OCPP. Read it through [`StationConfig::ocpp`].
    pub central_system_uri: Option<String>,
    /// `chargePoint.ocppVersion` †: the OCPP version spoken to the central system, `"1.6"`
    /// (default), `"2.0.1"` or `"2.1"`.
    pub ocpp_version: OcppVersion,
    /// `chargePoint.usePLC`: the guns are driven by per-gun PLCs on one CAN bus. Turns on the PLC
    /// checks (unique `plcId`, a single CAN interface) and [`Self::can_interface`]. Default
    /// false. It does not choose a gun's backend ([`GunConfigEntry::backend`] does): the seed too
    /// fell back to simulated hardware when its PLC driver failed to start.
    pub use_plc: bool,
    /// The CAN interface of the PLCs when `usePLC` is set, else `None`: the connectors'
    /// `canInterface`, which must all be the same (each defaults to `chargePoint.canInterface`,
    /// itself defaulting to `can0`).
    pub can_interface: Option<String>,
    /// `chargePoint.simulationMode`: bench mode, where communication faults are not raised.
    /// Default false.
    pub simulation_mode: bool,
    /// `http.listen` †: the address of the Live Controller HTTP API, `IP:PORT`. Default
    /// `127.0.0.1:8000`, seed 001's base URL.
    pub http: SocketAddr,
    /// `http.apiToken` †: the bearer token the HTTP API requires (`Authorization: Bearer …`);
    /// `None` leaves the API open. Required when `http.listen` is not a loopback address; printable
    /// ASCII without spaces.
    pub api_token: Option<String>,
    /// `meterSampleIntervalSeconds`: the metering loop's period, for guns without their own.
    /// Default 30 s (or a positive `ocpp.Core.MeterValueSampleInterval`); must be positive.
    pub meter_sample_interval: Duration,
    /// `meterKeepAliveSeconds`: while idle with unchanged energy, MeterValues are still sent this
    /// often (0: at every sample). Default 300 s.
    pub meter_keep_alive: Duration,
    /// `minimumStatusDurationSeconds`: how long a connector status must hold before it is
    /// reported (OCPP `MinimumStatusDuration`). Default 0 (or `ocpp.Core.MinimumStatusDuration`).
    pub minimum_status_duration: Duration,
    /// `security`: certificate locations for OCPP security.
    pub security: SecurityPaths,
    /// `connectors`: the guns, ordered by id (so `guns[i].id == i + 1`). An empty or absent list
    /// gives one gun with every default (id 1, plcId 0).
    pub guns: Vec<GunConfigEntry>,
    /// The keys accepted for compatibility with seed 003 and ignored, in alphabetical order; each
    /// was logged with `tracing::warn!`.
    pub ignored_keys: Vec<String>,
}

/// One gun (an entry of `connectors`).
#[derive(Debug, Clone, PartialEq)]
pub struct GunConfigEntry {
    /// `id`: the OCPP connector id. Default 1.
    pub id: u32,
    /// `plcId`: the gun's PLC node id on the CAN bus, 0..15. Default `id − 1`; unique when
    /// `usePLC` is set.
    pub plc_id: u8,
    /// `label`: a name for people ("Gun A"). Default empty.
    pub label: String,
    /// `hal` †: the hardware backend driving the gun, one of [`hal::BACKENDS`] (case-insensitive,
    /// stored as listed there). Default `sim`.
    pub backend: String,
    /// `peccUrl`: for backend `pepws`, the power cabinet's URL of this charge point
    /// (`ws://host:port/GUN1`); required there, ignored otherwise.
    pub pecc_url: Option<String>,
    /// `maxCurrentA`: the gun's current limit. Default 200 A; must be positive.
    pub max_current: Amps,
    /// `maxPowerW`: the gun's power limit. Default 100 000 W; must be positive.
    pub max_power: Watts,
    /// `maxVoltageV`: the gun's voltage limit. Default 1000 V, also when 0; otherwise positive.
    pub max_voltage: Volts,
    /// `minVoltageV`: the lowest output voltage. Default 0 V; must not be negative; above the
    /// maximum it becomes half the maximum (seed rule, with a warning).
    pub min_voltage: Volts,
    /// `meterSampleIntervalSeconds`: the gun's metering period. Values ≤ 0 or absent: the
    /// station's [`StationConfig::meter_sample_interval`].
    pub meter_sample_interval: Duration,
    /// `canInterface`: the CAN interface of the gun's PLC when `usePLC` is set, else `None`.
    /// Default (also when empty): `chargePoint.canInterface`.
    pub can_interface: Option<String>,
    /// `requireLock`: a session needs the connector locked. Default true.
    pub require_lock: bool,
    /// `lockInputSwitch`: the PLC input (1..4) reporting the lock. Default 3; other values become
    /// 3 (seed rule, with a warning).
    pub lock_input_switch: u8,
    /// `meterSource`: where energy readings come from. Default `plc`.
    pub meter_source: MeterSource,
    /// `meterScale`: energy calibration factor, applied before the offset. Default 1; values
    /// ≤ 0 become 1 (seed rule, with a warning).
    pub meter_scale: f64,
    /// `meterOffsetWh`: energy calibration offset. Default 0 Wh.
    pub meter_offset: WattHours,
}

/// Certificate locations (`security`), resolved against the configuration file's directory.
///
/// `None` when the key is absent: unlike the seed, no default locations are assumed and nothing
/// is created on disk.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecurityPaths {
    /// `csmsCaBundle`: CA certificates for the central system's TLS certificate.
    pub csms_ca_bundle: Option<PathBuf>,
    /// `moCaBundle`: CA certificates of mobility operators (also used for manufacturers).
    pub mo_ca_bundle: Option<PathBuf>,
    /// `v2gCaBundle`: the V2G root CA certificates (ISO 15118).
    pub v2g_ca_bundle: Option<PathBuf>,
    /// `clientCertDir`: the station's TLS client certificates towards the central system.
    pub client_cert_dir: Option<PathBuf>,
    /// `clientKeyDir`: the keys of those client certificates.
    pub client_key_dir: Option<PathBuf>,
    /// `seccCertDir`: the SECC certificates (ISO 15118).
    pub secc_cert_dir: Option<PathBuf>,
    /// `seccKeyDir`: the keys of the SECC certificates.
    pub secc_key_dir: Option<PathBuf>,
}

/// The OCPP version spoken to the central system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OcppVersion {
    /// OCPP 1.6 (JSON), `"1.6"`.
    #[default]
    V16,
    /// OCPP 2.0.1, `"2.0.1"`.
    V201,
    /// OCPP 2.1, `"2.1"`.
    V21,
}

impl OcppVersion {
    /// The version as written in the configuration (`"1.6"`, `"2.0.1"`, `"2.1"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            OcppVersion::V16 => "1.6",
            OcppVersion::V201 => "2.0.1",
            OcppVersion::V21 => "2.1",
        }
    }

    /// The version written as `text`.
    pub fn parse(text: &str) -> Option<Self> {
        [OcppVersion::V16, OcppVersion::V201, OcppVersion::V21]
            .into_iter()
            .find(|version| version.as_str() == text)
    }
}

impl fmt::Display for OcppVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a gun's energy readings come from (`meterSource`, case-insensitive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MeterSource {
    /// `plc`: the PLC's meter.
    #[default]
    Plc,
    /// `shunt`: the present voltage and current the EV side reports, integrated.
    Shunt,
    /// `module`: the power modules' own measurement (accepted by later seed revisions).
    Module,
}

impl MeterSource {
    /// The source as written in the configuration.
    pub const fn as_str(self) -> &'static str {
        match self {
            MeterSource::Plc => "plc",
            MeterSource::Shunt => "shunt",
            MeterSource::Module => "module",
        }
    }

    /// The source written as `text`, in any case.
    pub fn parse(text: &str) -> Option<Self> {
        [MeterSource::Plc, MeterSource::Shunt, MeterSource::Module]
            .into_iter()
            .find(|source| source.as_str().eq_ignore_ascii_case(text))
    }
}

impl fmt::Display for MeterSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where and as whom the station connects to its central system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OcppEndpoint<'a> {
    /// The central system's URL, as configured (the client appends `/{station_id}`).
    pub url: &'a str,
    /// The station's identity.
    pub station_id: &'a str,
    /// The OCPP version to speak.
    pub version: OcppVersion,
}

/// The syntax of a configuration document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// TOML (`.toml`).
    Toml,
    /// JSON (`.json`).
    Json,
}

impl Format {
    /// The format a file's extension names (`.toml` or `.json`, in any case), if any.
    pub fn from_path(path: &Path) -> Option<Self> {
        let extension = path.extension()?.to_str()?;
        if extension.eq_ignore_ascii_case("toml") {
            Some(Format::Toml)
        } else if extension.eq_ignore_ascii_case("json") {
            Some(Format::Json)
        } else {
            None
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Toml => "TOML",
            Format::Json => "JSON",
        })
    }
}

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file does not exist (seed 003's message).
    #[error("Config file not found: {0}")]
    NotFound(PathBuf),
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file's extension is neither `.toml` nor `.json`.
    #[error("{0}: the station configuration must be a .toml or .json file")]
    UnsupportedFormat(PathBuf),
    /// An error in the content of a file ([`StationConfig::from_file`]).
    #[error("{file}: {error}")]
    File {
        /// The file.
        file: PathBuf,
        /// The error in its content.
        error: Box<ConfigError>,
    },
    /// The text is not valid TOML or JSON.
    #[error("invalid {format}: {reason}")]
    Syntax {
        /// The format it was read as.
        format: Format,
        /// The parser's message, with the line and column.
        reason: String,
    },
    /// A key the configuration does not know.
    #[error("{path}: unknown field")]
    UnknownField {
        /// The key's path, `connectors[1].maxCurentA`.
        path: String,
    },
    /// A value of the wrong type or out of range.
    #[error("{path}: {reason}")]
    Invalid {
        /// The value's path (`(document)` for the document itself).
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A connector id below 1 (or above 2³² − 1).
    #[error("Connector ids start at 1 (got id={0})")]
    ConnectorIdStart(i64),
    /// Two connectors with the same id.
    #[error("Duplicate connector id {0}. Use unique connector ids starting at 1.")]
    DuplicateConnectorId(u32),
    /// Connector ids that skip a number (OCPP numbers connectors from 1, skipping none).
    #[error("Connector ids must be numbered 1..{count} without gaps (no connector id={missing})")]
    ConnectorIdGap {
        /// The first id missing.
        missing: u32,
        /// The number of connectors.
        count: usize,
    },
    /// A `plcId` outside 0..15 (seed 003's message).
    #[error("Connector plcId must be 0..15 (got {plc_id}) for connector id={connector}")]
    PlcIdRange {
        /// The configured `plcId`.
        plc_id: i64,
        /// The connector's id.
        connector: i64,
    },
    /// Two connectors with the same `plcId` while `usePLC` is set (seed 003's message).
    #[error("Duplicate PLC id {0} across connectors. Use unique plcId per connector.")]
    DuplicatePlcId(u8),
    /// Connectors on different CAN interfaces while `usePLC` is set (seed 003's message).
    #[error(
        "PLC config invalid: multiple CAN interfaces defined. Current host driver opens a single \
         SocketCAN interface; set the same canInterface for all connectors."
    )]
    MultipleCanInterfaces,
    /// A `hal` name that is not in [`hal::BACKENDS`].
    #[error("{path}: unknown hardware backend {name:?} (available: {})", hal::BACKENDS.join(", "))]
    UnknownBackend {
        /// The key's path, `connectors[0].hal`.
        path: String,
        /// The configured name.
        name: String,
    },
    /// The HTTP API listens beyond the host without a token.
    #[error("http.apiToken is required when http.listen ({0}) is not a loopback address")]
    ApiTokenRequired(SocketAddr),
}

impl ConfigError {
    /// The error without the file it was found in.
    pub fn cause(&self) -> &ConfigError {
        match self {
            ConfigError::File { error, .. } => error.cause(),
            other => other,
        }
    }

    /// An [`ConfigError::Invalid`] value at `path`.
    fn invalid(path: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError::Invalid {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

impl From<de::DeError> for ConfigError {
    fn from(error: de::DeError) -> Self {
        let path = error.path.unwrap_or_default();
        let at = |path: String| {
            if path.is_empty() {
                DOCUMENT.to_owned()
            } else {
                path
            }
        };
        match error.kind {
            de::DeErrorKind::UnknownField => ConfigError::UnknownField { path: at(path) },
            de::DeErrorKind::MissingField(field) => {
                ConfigError::invalid(de::join(&path, field), "missing field")
            }
            de::DeErrorKind::Message(reason) => ConfigError::Invalid {
                path: at(path),
                reason,
            },
        }
    }
}

/// How errors name the document itself.
const DOCUMENT: &str = "(document)";

impl StationConfig {
    /// Reads the configuration file at `path`, TOML or JSON by its extension. Relative paths in
    /// it resolve against its directory.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let format = Format::from_path(path)
            .ok_or_else(|| ConfigError::UnsupportedFormat(path.to_path_buf()))?;
        let text = std::fs::read_to_string(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                ConfigError::NotFound(path.to_path_buf())
            } else {
                ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                }
            }
        })?;
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let directory = absolute.parent().unwrap_or(Path::new(""));
        Self::parse(&text, format, Some(directory)).map_err(|error| ConfigError::File {
            file: path.to_path_buf(),
            error: Box::new(error),
        })
    }

    /// Reads a configuration from `text`. Relative paths in it are kept as written.
    pub fn from_str(text: &str, format: Format) -> Result<Self, ConfigError> {
        Self::parse(text, format, None)
    }

    /// Reads a configuration from `text`, resolving relative paths against `directory`.
    pub fn from_str_in(text: &str, format: Format, directory: &Path) -> Result<Self, ConfigError> {
        Self::parse(text, format, Some(directory))
    }

    /// Where and as whom to connect to the central system; `None` for a standalone station
    /// (empty `centralSystemURI`).
    pub fn ocpp(&self) -> Option<OcppEndpoint<'_>> {
        self.central_system_uri.as_deref().map(|url| OcppEndpoint {
            url,
            station_id: &self.station_id,
            version: self.ocpp_version,
        })
    }

    /// The gun with OCPP connector id `id`.
    pub fn gun(&self, id: u32) -> Option<&GunConfigEntry> {
        self.guns.iter().find(|gun| gun.id == id)
    }

    fn parse(text: &str, format: Format, directory: Option<&Path>) -> Result<Self, ConfigError> {
        let syntax = |reason: String| ConfigError::Syntax { format, reason };
        let mut document = match format {
            Format::Json => serde_json::from_str(text).map_err(|e| syntax(e.to_string()))?,
            Format::Toml => de::toml_to_json(
                toml::from_str::<toml::Table>(text).map_err(|e| syntax(e.to_string()))?,
            )?,
        };
        let serde_json::Value::Object(entries) = &mut document else {
            return Err(ConfigError::invalid(
                DOCUMENT,
                "the configuration must be an object",
            ));
        };
        let mut ignored_keys = Vec::new();
        for (key, reason) in file::IGNORED {
            if entries.remove(*key).is_some() {
                tracing::warn!(
                    key,
                    "ignoring `{key}` ({reason}): accepted for compatibility with seed 003's \
                     charger.json, not used by joule"
                );
                ignored_keys.push((*key).to_owned());
            }
        }
        let file =
            file::FileConfig::deserialize(de::ValueDeserializer::new(&document, String::new()))?;
        build::build(file, ignored_keys, directory)
    }
}
