//! The document's shape as written: one serde struct per section, every key optional, unknown keys
//! rejected, plus the table of seed 003 keys that are accepted and ignored.
//!
//! Nothing here is trusted yet: `build` checks the values and applies the defaults documented on
//! [`StationConfig`](super::StationConfig).

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Top-level keys of seed 003's `charger.json` that only made sense for its C++ build (libocpp
/// file locations, the power-module planner and cabinet, PLC firmware and upload options), with
/// the reason each is ignored. The module documentation lists the same keys for readers.
pub(super) const IGNORED: &[(&str, &str)] = &[
    ("ocppConfig", "libocpp base configuration file"),
    ("sharePath", "libocpp schema and profile directory"),
    ("userConfig", "libocpp user configuration file"),
    ("databaseDir", "libocpp database directory"),
    ("sqlMigrationsPath", "libocpp database migrations"),
    ("messageLogPath", "libocpp message log directory"),
    (
        "loggingConfig",
        "libocpp logging.ini; joule logs through tracing",
    ),
    ("plc", "PLC firmware options of the seed's CAN driver"),
    (
        "uploads",
        "diagnostics and firmware upload limits of the seed",
    ),
    (
        "timeouts",
        "authorisation and power-request timeouts of the seed",
    ),
    ("planner", "power-module planner of the seed"),
    ("slots", "power-module slots of the seed's cabinet"),
    ("modulePowerKW", "power-module rating of the seed's planner"),
    ("gridLimitKW", "site grid limit of the seed's planner"),
    ("defaultVoltageV", "planning voltage of the seed's planner"),
    ("siteLimits", "site limits of the seed's planner"),
    // The seed also reads every planner key at the top level.
    ("allowCrossSlotIslands", "power-module planner of the seed"),
    ("maxModulesPerGun", "power-module planner of the seed"),
    ("minModulesPerActiveGun", "power-module planner of the seed"),
    ("maxIslandRadius", "power-module planner of the seed"),
    ("minModuleHoldMs", "power-module planner of the seed"),
    ("minMcHoldMs", "power-module planner of the seed"),
    ("minGcHoldMs", "power-module planner of the seed"),
    ("mcOpenCurrentA", "power-module planner of the seed"),
    ("gcOpenCurrentA", "power-module planner of the seed"),
    (
        "prechargeVoltageToleranceV",
        "power-module planner of the seed",
    ),
    ("prechargeTimeoutMs", "power-module planner of the seed"),
];

/// The document, once the [`IGNORED`] keys are taken out.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct FileConfig {
    #[serde(default)]
    pub charge_point: FileChargePoint,
    #[serde(default)]
    pub connectors: Vec<FileConnector>,
    pub meter_sample_interval_seconds: Option<i64>,
    pub meter_keep_alive_seconds: Option<u64>,
    pub minimum_status_duration_seconds: Option<u64>,
    #[serde(default)]
    pub security: FileSecurity,
    #[serde(default)]
    pub http: FileHttp,
    /// Seed 003 HEAD's inline libocpp configuration: two values are read back, the rest ignored.
    pub ocpp: Option<InlineOcpp>,
}

/// `chargePoint`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct FileChargePoint {
    pub id: Option<String>,
    pub vendor: Option<String>,
    pub model: Option<String>,
    pub firmware_version: Option<String>,
    #[serde(rename = "centralSystemURI")]
    pub central_system_uri: Option<String>,
    #[serde(rename = "usePLC")]
    pub use_plc: Option<bool>,
    pub can_interface: Option<String>,
    pub simulation_mode: Option<bool>,
    pub ocpp_version: Option<String>,
}

/// One entry of `connectors`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct FileConnector {
    pub id: Option<i64>,
    pub plc_id: Option<i64>,
    pub label: Option<String>,
    pub hal: Option<String>,
    pub max_current_a: Option<f64>,
    pub max_power_w: Option<f64>,
    pub max_voltage_v: Option<f64>,
    pub min_voltage_v: Option<f64>,
    pub can_interface: Option<String>,
    pub meter_sample_interval_seconds: Option<i64>,
    pub require_lock: Option<bool>,
    pub lock_input_switch: Option<i64>,
    pub meter_source: Option<String>,
    pub meter_scale: Option<f64>,
    pub meter_offset_wh: Option<f64>,
    pub pecc_url: Option<String>,
}

/// `security`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct FileSecurity {
    pub csms_ca_bundle: Option<PathBuf>,
    pub mo_ca_bundle: Option<PathBuf>,
    pub v2g_ca_bundle: Option<PathBuf>,
    pub client_cert_dir: Option<PathBuf>,
    pub client_key_dir: Option<PathBuf>,
    pub secc_cert_dir: Option<PathBuf>,
    pub secc_key_dir: Option<PathBuf>,
}

/// `http` (joule's addition).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct FileHttp {
    pub listen: Option<SocketAddr>,
    pub api_token: Option<String>,
}

/// `ocpp`: a libocpp configuration document. Its other sections and keys belong to libocpp and
/// are not checked.
#[derive(Debug, Default, Deserialize)]
pub(super) struct InlineOcpp {
    #[serde(rename = "Core")]
    pub core: Option<InlineOcppCore>,
}

/// `ocpp.Core`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct InlineOcppCore {
    #[serde(rename = "MeterValueSampleInterval")]
    pub meter_value_sample_interval: Option<i64>,
    #[serde(rename = "MinimumStatusDuration")]
    pub minimum_status_duration: Option<i64>,
}
