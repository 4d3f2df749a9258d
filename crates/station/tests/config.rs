//! The shipped `configs/charger*` examples load, and `StationConfig::from_file` picks the format
//! by extension, reports missing files as seed 003 does, names the file in content errors and
//! resolves relative paths against the file's directory.

use station::config::{ConfigError, OcppVersion, StationConfig};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs")
}

/// A fresh directory for one test, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "joule-station-config-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("temporary directory");
        Self(path)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("directory");
        }
        std::fs::write(&path, text).expect("written");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn every_shipped_charger_example_loads() {
    let mut loaded = Vec::new();
    for entry in std::fs::read_dir(examples()).expect("configs directory") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or_default()
            .to_owned();
        if name.starts_with("charger") {
            let config = StationConfig::from_file(&path).unwrap_or_else(|e| panic!("{e}"));
            assert!(!config.guns.is_empty(), "{name}");
            loaded.push(name);
        }
    }
    loaded.sort();
    assert_eq!(
        loaded,
        [
            "charger-ocpp.json",
            "charger-pepws.toml",
            "charger-sim.toml",
            "charger.json"
        ]
    );
}

#[test]
fn the_split_example_takes_its_power_from_a_cabinet() {
    let config = StationConfig::from_file(&examples().join("charger-pepws.toml")).expect("example");
    assert_eq!(config.guns[0].backend, "pepws");
    assert_eq!(
        config.guns[0].pecc_url.as_deref(),
        Some("ws://127.0.0.1:8765/GUN1")
    );
}

#[test]
fn seed_003_example_resolves_its_paths_against_configs() {
    let config = StationConfig::from_file(&examples().join("charger.json")).expect("seed file");
    assert_eq!(config.station_id, "jp-dc-01");
    assert_eq!(config.guns.len(), 2);
    assert_eq!(config.ignored_keys.len(), 7);
    let bundle = config.security.csms_ca_bundle.expect("csmsCaBundle");
    // `crates/station/../../configs/data/…`, absolute and without `..`.
    assert!(bundle.is_absolute(), "{}", bundle.display());
    assert!(
        bundle.ends_with("configs/data/certs/ca/csms/CSMS_ROOT_CA.pem"),
        "{}",
        bundle.display()
    );
    assert!(
        !bundle
            .components()
            .any(|c| c == std::path::Component::ParentDir),
        "{}",
        bundle.display()
    );
}

#[test]
fn simulated_example_runs_standalone() {
    let config = StationConfig::from_file(&examples().join("charger-sim.toml")).expect("example");
    assert_eq!(config.ocpp(), None);
    assert_eq!(config.http, SocketAddr::from(([127, 0, 0, 1], 8000)));
    assert!(config.ignored_keys.is_empty());
    let labels: Vec<_> = config.guns.iter().map(|gun| gun.label.as_str()).collect();
    assert_eq!(labels, ["Gun A", "Gun B"]);
    assert!(config.guns.iter().all(|gun| gun.backend == "sim"));
}

#[test]
fn ocpp_example_points_at_the_local_csms() {
    let config = StationConfig::from_file(&examples().join("charger-ocpp.json")).expect("example");
    let endpoint = config.ocpp().expect("OCPP configured");
    assert_eq!(endpoint.url, "ws://127.0.0.1:9000/ocpp");
    assert_eq!(endpoint.station_id, "joule-dc-01");
    assert_eq!(endpoint.version, OcppVersion::V16);
    assert_eq!(config.meter_sample_interval, Duration::from_secs(15));
}

#[test]
fn relative_paths_resolve_against_the_files_directory() {
    let dir = TempDir::new("relative");
    let path = dir.write(
        "station/charger.toml",
        "[security]\ncsmsCaBundle = \"../certs/csms.pem\"\nseccCertDir = \"./secc\"\n",
    );
    let config = StationConfig::from_file(&path).expect("valid");
    let root = std::path::absolute(&dir.0).expect("absolute");
    assert_eq!(
        config.security.csms_ca_bundle,
        Some(root.join("certs").join("csms.pem"))
    );
    assert_eq!(
        config.security.secc_cert_dir,
        Some(root.join("station").join("secc"))
    );
}

#[test]
fn file_errors() {
    let dir = TempDir::new("errors");

    let missing = dir.0.join("absent.json");
    let error = StationConfig::from_file(&missing).expect_err("missing");
    assert!(matches!(error, ConfigError::NotFound(_)));
    assert_eq!(
        error.to_string(),
        format!("Config file not found: {}", missing.display())
    );

    let yaml = dir.write("charger.yaml", "chargePoint: {}\n");
    assert!(matches!(
        StationConfig::from_file(&yaml),
        Err(ConfigError::UnsupportedFormat(_))
    ));

    let typo = dir.write(
        "charger.json",
        r#"{"connectors": [{"id": 1}, {"id": 2, "maxCurentA": 10}]}"#,
    );
    let error = StationConfig::from_file(&typo).expect_err("typo");
    assert_eq!(
        error.to_string(),
        format!(
            "{}: connectors[1].maxCurentA: unknown field",
            typo.display()
        )
    );
    assert!(matches!(
        error.cause(),
        ConfigError::UnknownField { path } if path == "connectors[1].maxCurentA"
    ));
}
