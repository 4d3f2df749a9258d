//! Unit tests of the station configuration: seed 003 compatibility, defaults, unknown keys,
//! every validation message, path resolution and TOML/JSON equivalence. Loading the shipped
//! example files is tested in `tests/config.rs`.

use super::*;
use std::sync::{Arc, Mutex};

/// Seed 003's `configs/charger.json`, as shipped in this repository.
const SEED: &str = include_str!("../../../../configs/charger.json");

fn json(text: &str) -> Result<StationConfig, ConfigError> {
    StationConfig::from_str(text, Format::Json)
}

fn load(text: &str) -> StationConfig {
    json(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn error(text: &str) -> String {
    match json(text) {
        Ok(config) => panic!("accepted: {text}\n{config:#?}"),
        Err(e) => e.to_string(),
    }
}

/// The warnings logged while running `f`, each as `key=…` followed by the message.
fn warnings<T>(f: impl FnOnce() -> T) -> (T, Vec<String>) {
    let capture = Capture::default();
    let lines = Arc::clone(&capture.lines);
    let result = tracing::subscriber::with_default(capture, f);
    let lines = lines.lock().map(|lines| lines.clone()).unwrap_or_default();
    (result, lines)
}

/// A subscriber keeping the text of every warning.
#[derive(Debug, Default)]
struct Capture {
    lines: Arc<Mutex<Vec<String>>>,
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        if *event.metadata().level() == tracing::Level::WARN {
            let mut text = FieldText::default();
            event.record(&mut text);
            if let Ok(mut lines) = self.lines.lock() {
                lines.push(text.0);
            }
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[derive(Default)]
struct FieldText(String);

impl tracing::field::Visit for FieldText {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        use std::fmt::Write;
        let _ = write!(self.0, "{}={:?} ", field.name(), value);
    }
}

#[test]
fn seed_003_charger_json_loads_unchanged() {
    let (config, warned) = warnings(|| load(SEED));
    assert_eq!(config.station_id, "jp-dc-01");
    assert_eq!(config.vendor, "JoulePoint");
    assert_eq!(config.model, "Joulepoint-DC");
    assert_eq!(config.firmware_version, "0.0.1");
    assert_eq!(
        config.central_system_uri.as_deref(),
        Some("ws://127.0.0.1:8180/steve/websocket/CentralSystemService/")
    );
    assert!(config.use_plc);
    assert_eq!(config.can_interface.as_deref(), Some("can0"));
    assert_eq!(config.meter_sample_interval, Duration::from_secs(30));
    assert_eq!(config.http, SocketAddr::from(([127, 0, 0, 1], 8000)));

    let labels: Vec<_> = config.guns.iter().map(|g| g.label.as_str()).collect();
    assert_eq!(labels, ["Gun A", "Gun B"]);
    for (gun, (id, plc_id)) in config.guns.iter().zip([(1, 0), (2, 1)]) {
        assert_eq!((gun.id, gun.plc_id), (id, plc_id));
        assert_eq!(gun.max_current, Amps(200.0));
        assert_eq!(gun.max_power, Watts(100_000.0));
        assert_eq!(gun.max_voltage, Volts(1000.0));
        assert_eq!(gun.backend, "sim");
        assert_eq!(gun.can_interface.as_deref(), Some("can0"));
        assert_eq!(gun.meter_sample_interval, Duration::from_secs(30));
    }
    // from_str keeps relative paths as written.
    assert_eq!(
        config.security.csms_ca_bundle.as_deref(),
        Some(Path::new("data/certs/ca/csms/CSMS_ROOT_CA.pem"))
    );
    assert_eq!(
        config.security.secc_key_dir.as_deref(),
        Some(Path::new("data/certs/client/cso"))
    );

    let ignored = [
        "databaseDir",
        "loggingConfig",
        "messageLogPath",
        "ocppConfig",
        "sharePath",
        "sqlMigrationsPath",
        "userConfig",
    ];
    assert_eq!(config.ignored_keys, ignored);
    assert_eq!(warned.len(), ignored.len(), "{warned:#?}");
    for key in ignored {
        assert!(
            warned
                .iter()
                .any(|w| w.contains(&format!("key={key:?}")) && w.contains(&format!("`{key}`"))),
            "no warning names {key}: {warned:#?}"
        );
    }
}

/// Seed 003 HEAD's additions: every documented key is accepted; the meaningful ones are used.
const SEED_HEAD: &str = r#"{
  "chargePoint": {"id": "jp-dc-01", "usePLC": true, "canInterface": "can0", "simulationMode": true},
  "ocpp": {
    "Internal": {"ChargePointId": "jp-dc-01", "LogMessagesFormat": ["log"]},
    "Core": {"MeterValueSampleInterval": 15, "MinimumStatusDuration": 5, "HeartbeatInterval": 300}
  },
  "plc": {"useCRC8": true, "gunRelayOwnedByPlc": false, "moduleRelaysEnabled": true,
          "requireHttpsUploads": true},
  "uploads": {"maxBytes": 104857600, "connectTimeoutSeconds": 10, "transferTimeoutSeconds": 60,
              "allowFileTargets": true},
  "modulePowerKW": 30, "gridLimitKW": 1000, "defaultVoltageV": 800,
  "siteLimits": {"gridPowerLimitKW": 720, "defaultVoltageV": 800},
  "planner": {"allowCrossSlotIslands": false, "maxModulesPerGun": 2},
  "prechargeTimeoutMs": 2000,
  "timeouts": {"authorizationSeconds": 1800, "powerRequestSeconds": 60},
  "meterKeepAliveSeconds": 120,
  "slots": [{"id": 1, "gunId": 1, "modules": [{"id": "M1_0", "type": "maxwell-mxr", "address": 1}]}],
  "connectors": [
    {"id": 1, "plcId": 3, "label": "Gun 1", "maxCurrentA": 100, "maxPowerW": 30000,
     "maxVoltageV": 1000, "minVoltageV": 200, "requireLock": false, "lockInputSwitch": 2,
     "meterSource": "SHUNT", "meterScale": 1.02, "meterOffsetWh": -12.5,
     "meterSampleIntervalSeconds": 5, "canInterface": "can0"}
  ]
}"#;

#[test]
fn seed_003_head_keys_are_accepted() {
    let (config, warned) = warnings(|| load(SEED_HEAD));
    assert!(config.simulation_mode);
    assert_eq!(config.meter_sample_interval, Duration::from_secs(15));
    assert_eq!(config.minimum_status_duration, Duration::from_secs(5));
    assert_eq!(config.meter_keep_alive, Duration::from_secs(120));
    let gun = &config.guns[0];
    assert_eq!(gun.plc_id, 3);
    assert_eq!(gun.max_current, Amps(100.0));
    assert_eq!(gun.max_power, Watts(30_000.0));
    assert_eq!(gun.max_voltage, Volts(1000.0));
    assert_eq!(gun.min_voltage, Volts(200.0));
    assert!(!gun.require_lock);
    assert_eq!(gun.lock_input_switch, 2);
    assert_eq!(gun.meter_source, MeterSource::Shunt);
    assert_eq!(gun.meter_scale, 1.02);
    assert_eq!(gun.meter_offset, WattHours(-12.5));
    assert_eq!(gun.meter_sample_interval, Duration::from_secs(5));
    let ignored = [
        "defaultVoltageV",
        "gridLimitKW",
        "modulePowerKW",
        "ocpp",
        "planner",
        "plc",
        "prechargeTimeoutMs",
        "siteLimits",
        "slots",
        "timeouts",
        "uploads",
    ];
    assert_eq!(config.ignored_keys, ignored);
    assert_eq!(warned.len(), ignored.len(), "{warned:#?}");

    // The top-level keys win over the inline OCPP configuration.
    let config = load(&SEED_HEAD.replacen(
        "\"meterKeepAliveSeconds\": 120,",
        "\"meterKeepAliveSeconds\": 120, \"meterSampleIntervalSeconds\": 60, \
         \"minimumStatusDurationSeconds\": 0,",
        1,
    ));
    assert_eq!(config.meter_sample_interval, Duration::from_secs(60));
    assert_eq!(config.minimum_status_duration, Duration::ZERO);
}

#[test]
fn defaults() {
    for config in [
        load("{}"),
        StationConfig::from_str("", Format::Toml).expect("empty TOML"),
    ] {
        assert_eq!(config.station_id, "chargepoint-1");
        assert_eq!(config.vendor, "UnknownVendor");
        assert_eq!(config.model, "UnknownModel");
        assert_eq!(config.firmware_version, "0.0.0");
        assert_eq!(config.central_system_uri, None);
        assert_eq!(config.ocpp(), None);
        assert_eq!(config.ocpp_version, OcppVersion::V16);
        assert!(!config.use_plc);
        assert_eq!(config.can_interface, None);
        assert!(!config.simulation_mode);
        assert_eq!(config.http, SocketAddr::from(([127, 0, 0, 1], 8000)));
        assert_eq!(config.api_token, None);
        assert_eq!(config.meter_sample_interval, Duration::from_secs(30));
        assert_eq!(config.meter_keep_alive, Duration::from_secs(300));
        assert_eq!(config.minimum_status_duration, Duration::ZERO);
        assert_eq!(config.security, SecurityPaths::default());
        assert!(config.ignored_keys.is_empty());
        assert_eq!(
            config.guns,
            [GunConfigEntry {
                id: 1,
                plc_id: 0,
                label: String::new(),
                backend: "sim".into(),
                pecc_url: None,
                max_current: Amps(200.0),
                max_power: Watts(100_000.0),
                max_voltage: Volts(1000.0),
                min_voltage: Volts(0.0),
                meter_sample_interval: Duration::from_secs(30),
                can_interface: None,
                require_lock: true,
                lock_input_switch: 3,
                meter_source: MeterSource::Plc,
                meter_scale: 1.0,
                meter_offset: WattHours(0.0),
            }]
        );
    }
    // An empty list is the seed's single default connector too, and a usePLC station gets can0.
    let config = load(r#"{"chargePoint": {"usePLC": true}, "connectors": []}"#);
    assert_eq!((config.guns.len(), config.guns[0].plc_id), (1, 0));
    assert_eq!(config.can_interface.as_deref(), Some("can0"));
    assert_eq!(config.guns[0].can_interface.as_deref(), Some("can0"));
}

#[test]
fn connector_defaults_and_seed_rules() {
    let config = load(
        r#"{"meterSampleIntervalSeconds": 20, "connectors": [
            {"id": 3, "maxVoltageV": 0, "meterSampleIntervalSeconds": 0},
            {"id": 1, "maxVoltageV": 500, "minVoltageV": 800, "meterSampleIntervalSeconds": 7},
            {"id": 2, "lockInputSwitch": 9, "meterScale": -2, "meterSampleIntervalSeconds": -1,
             "hal": "SIM"}
        ]}"#,
    );
    let ids: Vec<_> = config.guns.iter().map(|g| (g.id, g.plc_id)).collect();
    assert_eq!(
        ids,
        [(1, 0), (2, 1), (3, 2)],
        "ordered by id, plcId = id - 1"
    );
    let [one, two, three] = &config.guns[..] else {
        panic!("three guns");
    };
    assert_eq!(one.max_voltage, Volts(500.0));
    assert_eq!(
        one.min_voltage,
        Volts(250.0),
        "min above max becomes max × 0.5"
    );
    assert_eq!(one.meter_sample_interval, Duration::from_secs(7));
    assert_eq!(two.lock_input_switch, 3);
    assert_eq!(two.meter_scale, 1.0);
    assert_eq!(two.backend, "sim");
    assert_eq!(two.meter_sample_interval, Duration::from_secs(20));
    assert_eq!(three.max_voltage, Volts(1000.0), "0 means the default");
    assert_eq!(three.meter_sample_interval, Duration::from_secs(20));
    assert_eq!(config.gun(2).map(|g| g.id), Some(2));
    assert_eq!(config.gun(4), None);
}

#[test]
fn unknown_fields_are_errors_with_their_path() {
    for (text, message) in [
        (r#"{"sharepath": "x"}"#, "sharepath: unknown field"),
        (
            r#"{"connectors": [{"id": 1}, {"id": 2, "maxCurentA": 10}]}"#,
            "connectors[1].maxCurentA: unknown field",
        ),
        (
            r#"{"chargePoint": {"centralSystemUri": "ws://x"}}"#,
            "chargePoint.centralSystemUri: unknown field",
        ),
        (r#"{"http": {"port": 8000}}"#, "http.port: unknown field"),
        (
            r#"{"security": {"csmsCaBundel": "a.pem"}}"#,
            "security.csmsCaBundel: unknown field",
        ),
    ] {
        assert_eq!(error(text), message);
    }
    let toml = "[[connectors]]\nid = 1\n[[connectors]]\nid = 2\nmaxCurentA = 10\n";
    let error = StationConfig::from_str(toml, Format::Toml).expect_err("typo");
    assert!(
        matches!(&error, ConfigError::UnknownField { path } if path == "connectors[1].maxCurentA")
    );
}

#[test]
fn wrong_types_are_errors_with_their_path() {
    for (text, message) in [
        (
            r#"{"connectors": [{"maxCurrentA": "200"}]}"#,
            r#"connectors[0].maxCurrentA: invalid type: string "200", expected f64"#,
        ),
        (
            r#"{"http": {"listen": "localhost:8000"}}"#,
            "http.listen: invalid socket address syntax",
        ),
        (
            r#"{"chargePoint": {"usePLC": "yes"}}"#,
            r#"chargePoint.usePLC: invalid type: string "yes", expected a boolean"#,
        ),
        (
            r#"{"meterKeepAliveSeconds": -1}"#,
            "meterKeepAliveSeconds: invalid value: integer `-1`, expected u64",
        ),
        (
            r#"{"connectors": {"id": 1}}"#,
            "connectors: invalid type: map, expected a sequence",
        ),
        (
            r#"{"chargePoint": "jp-dc-01"}"#,
            r#"chargePoint: invalid type: string "jp-dc-01", expected an object"#,
        ),
        ("[]", "(document): the configuration must be an object"),
    ] {
        assert_eq!(error(text), message);
    }
    for (toml, message) in [
        (
            "[chargePoint]\nid = 1979-05-27\n",
            "chargePoint.id: dates and times are not used here",
        ),
        (
            "[[connectors]]\nmaxCurrentA = nan\n",
            "connectors[0].maxCurrentA: not a finite number",
        ),
    ] {
        let error = StationConfig::from_str(toml, Format::Toml).expect_err(toml);
        assert_eq!(error.to_string(), message);
    }
}

#[test]
fn syntax_errors_name_the_format_and_position() {
    let error = json("{\n  \"chargePoint\": {,\n}").expect_err("bad JSON");
    assert!(
        matches!(&error, ConfigError::Syntax { format: Format::Json, reason } if reason.contains("line 2")),
        "{error}"
    );
    let error = StationConfig::from_str("[chargePoint\n", Format::Toml).expect_err("bad TOML");
    assert!(
        matches!(
            error,
            ConfigError::Syntax {
                format: Format::Toml,
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn validation_messages() {
    let two_guns = |a: &str, b: &str| {
        format!(r#"{{"chargePoint": {{"usePLC": true}}, "connectors": [{{{a}}}, {{{b}}}]}}"#)
    };
    for (text, message) in [
        // Seed 003's messages.
        (
            two_guns(r#""id": 1, "plcId": 4"#, r#""id": 2, "plcId": 4"#),
            "Duplicate PLC id 4 across connectors. Use unique plcId per connector.",
        ),
        (
            r#"{"connectors": [{"id": 1, "plcId": 16}]}"#.into(),
            "Connector plcId must be 0..15 (got 16) for connector id=1",
        ),
        (
            r#"{"connectors": [{"id": 2, "plcId": -1}]}"#.into(),
            "Connector plcId must be 0..15 (got -1) for connector id=2",
        ),
        (
            r#"{"connectors": [{"id": 17}]}"#.into(),
            "Connector plcId must be 0..15 (got 16) for connector id=17",
        ),
        (
            two_guns(r#""id": 1"#, r#""id": 2, "canInterface": "can1""#),
            "PLC config invalid: multiple CAN interfaces defined. Current host driver opens a \
             single SocketCAN interface; set the same canInterface for all connectors.",
        ),
        // Connector ids.
        (
            r#"{"connectors": [{"id": 0}]}"#.into(),
            "Connector ids start at 1 (got id=0)",
        ),
        (
            r#"{"connectors": [{"id": 1, "plcId": 0}, {"id": 1, "plcId": 1}]}"#.into(),
            "Duplicate connector id 1. Use unique connector ids starting at 1.",
        ),
        (
            r#"{"connectors": [{"id": 1}, {"id": 3}]}"#.into(),
            "Connector ids must be numbered 1..2 without gaps (no connector id=2)",
        ),
        (
            r#"{"connectors": [{"id": 2}]}"#.into(),
            "Connector ids must be numbered 1..1 without gaps (no connector id=1)",
        ),
        // Limits.
        (
            r#"{"connectors": [{"maxCurrentA": 0}]}"#.into(),
            "connectors[0].maxCurrentA: must be positive (got 0)",
        ),
        (
            r#"{"connectors": [{"id": 1}, {"id": 2, "maxPowerW": -5}]}"#.into(),
            "connectors[1].maxPowerW: must be positive (got -5)",
        ),
        (
            r#"{"connectors": [{"maxVoltageV": -1}]}"#.into(),
            "connectors[0].maxVoltageV: must be positive (got -1)",
        ),
        (
            r#"{"connectors": [{"minVoltageV": -1}]}"#.into(),
            "connectors[0].minVoltageV: must not be negative (got -1)",
        ),
        (
            r#"{"meterSampleIntervalSeconds": 0}"#.into(),
            "meterSampleIntervalSeconds: must be positive (got 0)",
        ),
        // Meter.
        (
            r#"{"connectors": [{"meterSource": "clamp"}]}"#.into(),
            r#"connectors[0].meterSource: unknown meter source "clamp" (expected plc, shunt or module)"#,
        ),
        // Backend.
        (
            r#"{"connectors": [{"hal": "nonexistent"}]}"#.into(),
            &format!(
                r#"connectors[0].hal: unknown hardware backend "nonexistent" (available: {})"#,
                hal::BACKENDS.join(", ")
            ),
        ),
        // Identity and central system.
        (
            r#"{"chargePoint": {"id": ""}}"#.into(),
            "chargePoint.id: must be 1 to 48 characters (got 0)",
        ),
        (
            r#"{"chargePoint": {"id": "jp/dc 01"}}"#.into(),
            r#"chargePoint.id: "jp/dc 01" contains '/', ':', whitespace or a control character"#,
        ),
        (
            r#"{"chargePoint": {"centralSystemURI": "http://127.0.0.1:9000/ocpp"}}"#.into(),
            r#"chargePoint.centralSystemURI: must be empty or a ws:// or wss:// URL (got "http://127.0.0.1:9000/ocpp")"#,
        ),
        (
            r#"{"chargePoint": {"ocppVersion": "1.5"}}"#.into(),
            r#"chargePoint.ocppVersion: unknown OCPP version "1.5" (expected "1.6", "2.0.1" or "2.1")"#,
        ),
        // HTTP API.
        (
            r#"{"http": {"listen": "0.0.0.0:8000"}}"#.into(),
            "http.apiToken is required when http.listen (0.0.0.0:8000) is not a loopback address",
        ),
        (
            r#"{"http": {"apiToken": ""}}"#.into(),
            "http.apiToken: must be printable ASCII without spaces, and not empty",
        ),
        (
            r#"{"http": {"apiToken": "two words"}}"#.into(),
            "http.apiToken: must be printable ASCII without spaces, and not empty",
        ),
        // Paths.
        (
            r#"{"security": {"moCaBundle": ""}}"#.into(),
            "security.moCaBundle: must not be empty",
        ),
    ] {
        assert_eq!(error(&text), message, "{text}");
    }
}

#[test]
fn plc_checks_apply_only_with_use_plc() {
    let config = load(
        r#"{"connectors": [{"id": 1, "plcId": 2}, {"id": 2, "plcId": 2, "canInterface": "can1"}]}"#,
    );
    assert_eq!(config.can_interface, None);
    assert!(config.guns.iter().all(|gun| gun.can_interface.is_none()));
    // Connectors naming the same interface override the station's.
    let config = load(
        r#"{"chargePoint": {"usePLC": true}, "connectors": [
            {"id": 1, "canInterface": "can1"}, {"id": 2, "canInterface": "can1"}]}"#,
    );
    assert_eq!(config.can_interface.as_deref(), Some("can1"));
}

#[test]
fn http_api_outside_loopback_needs_a_token() {
    let config = load(r#"{"http": {"listen": "0.0.0.0:8080", "apiToken": "s3cret-token"}}"#);
    assert_eq!(config.http, SocketAddr::from(([0, 0, 0, 0], 8080)));
    assert_eq!(config.api_token.as_deref(), Some("s3cret-token"));
    let config = load(r#"{"http": {"listen": "[::1]:8000"}}"#);
    assert!(config.http.ip().is_loopback());
    let error = json(r#"{"http": {"listen": "192.168.1.20:8000"}}"#).expect_err("no token");
    assert!(matches!(error, ConfigError::ApiTokenRequired(listen) if listen.port() == 8000));
}

#[test]
fn ocpp_endpoint_or_standalone() {
    let config = load(
        r#"{"chargePoint": {"id": "cp-7", "centralSystemURI": "wss://csms.example/ocpp",
            "ocppVersion": "2.0.1"}}"#,
    );
    assert_eq!(
        config.ocpp(),
        Some(OcppEndpoint {
            url: "wss://csms.example/ocpp",
            station_id: "cp-7",
            version: OcppVersion::V201,
        })
    );
    assert_eq!(
        load(r#"{"chargePoint": {"centralSystemURI": ""}}"#).ocpp(),
        None
    );
}

#[test]
fn relative_paths_resolve_against_the_directory() {
    let text = r#"{"security": {"csmsCaBundle": "../certs/./csms.pem",
        "clientCertDir": "/var/lib/joule/client"}}"#;
    let config = StationConfig::from_str_in(text, Format::Json, Path::new("/etc/joule/configs"))
        .expect("valid");
    assert_eq!(
        config.security.csms_ca_bundle.as_deref(),
        Some(Path::new("/etc/joule/certs/csms.pem"))
    );
    assert_eq!(
        config.security.client_cert_dir.as_deref(),
        Some(Path::new("/var/lib/joule/client"))
    );
    let config = StationConfig::from_str(text, Format::Json).expect("valid");
    assert_eq!(
        config.security.csms_ca_bundle.as_deref(),
        Some(Path::new("../certs/./csms.pem"))
    );
}

#[test]
fn toml_and_json_read_the_same() {
    let toml = r#"
        meterSampleIntervalSeconds = 10
        sharePath = "libocpp/config/v16"

        [chargePoint]
        id = "joule-7"
        centralSystemURI = "ws://127.0.0.1:9000/ocpp"
        usePLC = true
        canInterface = "can1"

        [http]
        listen = "0.0.0.0:8000"
        apiToken = "token"

        [security]
        v2gCaBundle = "ca/v2g.pem"

        [[connectors]]
        id = 1
        label = "Gun A"
        maxCurrentA = 125
        maxPowerW = 50000.5
        meterSource = "shunt"

        [[connectors]]
        id = 2
        plcId = 5
        hal = "sim"
        minVoltageV = 150
        requireLock = false
    "#;
    let json = r#"{
        "meterSampleIntervalSeconds": 10,
        "sharePath": "libocpp/config/v16",
        "chargePoint": {"id": "joule-7", "centralSystemURI": "ws://127.0.0.1:9000/ocpp",
                        "usePLC": true, "canInterface": "can1"},
        "http": {"listen": "0.0.0.0:8000", "apiToken": "token"},
        "security": {"v2gCaBundle": "ca/v2g.pem"},
        "connectors": [
            {"id": 1, "label": "Gun A", "maxCurrentA": 125.0, "maxPowerW": 50000.5,
             "meterSource": "shunt"},
            {"id": 2, "plcId": 5, "hal": "sim", "minVoltageV": 150.0, "requireLock": false}
        ]
    }"#;
    let directory = Path::new("/srv/joule");
    let from_toml = StationConfig::from_str_in(toml, Format::Toml, directory).expect("TOML");
    let from_json = StationConfig::from_str_in(json, Format::Json, directory).expect("JSON");
    assert_eq!(from_toml, from_json);
    assert_eq!(from_toml.guns[1].plc_id, 5);
    assert_eq!(from_toml.guns[0].max_current, Amps(125.0));
    assert_eq!(
        from_toml.security.v2g_ca_bundle.as_deref(),
        Some(Path::new("/srv/joule/ca/v2g.pem"))
    );
}

#[test]
fn formats_come_from_the_extension() {
    for (name, format) in [
        ("charger.toml", Some(Format::Toml)),
        ("charger.json", Some(Format::Json)),
        ("CHARGER.JSON", Some(Format::Json)),
        ("charger.yaml", None),
        ("charger", None),
    ] {
        assert_eq!(Format::from_path(Path::new(name)), format, "{name}");
    }
}

#[test]
fn every_ignored_key_is_documented() {
    let documentation: String = include_str!("../config.rs")
        .lines()
        .filter(|line| line.starts_with("//!"))
        .collect();
    for (key, _) in file::IGNORED {
        assert!(
            documentation.contains(&format!("`{key}`")),
            "{key} is missing from the module documentation"
        );
    }
}

#[test]
fn a_pepws_gun_needs_the_power_cabinets_url() {
    let config = json(
        r#"{"connectors": [{"id": 1, "hal": "pepws", "peccUrl": "ws://127.0.0.1:8765/GUN1"},
                           {"id": 2, "hal": "sim", "peccUrl": "ws://ignored/GUN2"}]}"#,
    )
    .expect("valid");
    assert_eq!(config.guns[0].backend, "pepws");
    assert_eq!(
        config.guns[0].pecc_url.as_deref(),
        Some("ws://127.0.0.1:8765/GUN1")
    );
    assert_eq!(config.guns[1].pecc_url, None, "only pepws guns use it");
    for (text, message) in [
        (
            r#"{"connectors": [{"id": 1, "hal": "pepws"}]}"#,
            "connectors[0].peccUrl: backend pepws needs the power cabinet's URL",
        ),
        (
            r#"{"connectors": [{"id": 1, "hal": "pepws", "peccUrl": "http://x/GUN1"}]}"#,
            r#"connectors[0].peccUrl: must be a ws:// URL (got "http://x/GUN1")"#,
        ),
    ] {
        let error = json(text).expect_err(text);
        assert_eq!(error.to_string(), message, "{text}");
    }
}
