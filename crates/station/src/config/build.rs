//! From the file's shape to a checked [`StationConfig`]: defaults, seed 003's correction rules and
//! validation, in that order per section.

use super::file::{FileChargePoint, FileConfig, FileConnector, FileHttp, FileSecurity};
use super::{ConfigError, GunConfigEntry, MeterSource, OcppVersion, SecurityPaths, StationConfig};
use hal::{Amps, Volts, WattHours, Watts};
use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

const DEFAULT_STATION_ID: &str = "chargepoint-1";
const DEFAULT_VENDOR: &str = "UnknownVendor";
const DEFAULT_MODEL: &str = "UnknownModel";
const DEFAULT_FIRMWARE_VERSION: &str = "0.0.0";
const DEFAULT_CAN_INTERFACE: &str = "can0";
const DEFAULT_METER_SAMPLE_INTERVAL_SECS: i64 = 30;
const DEFAULT_METER_KEEP_ALIVE_SECS: u64 = 300;
const DEFAULT_HTTP_LISTEN: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8000));
const DEFAULT_BACKEND: &str = "sim";
const DEFAULT_MAX_CURRENT: Amps = Amps(200.0);
const DEFAULT_MAX_POWER: Watts = Watts(100_000.0);
const DEFAULT_MAX_VOLTAGE: Volts = Volts(1000.0);
const DEFAULT_LOCK_INPUT_SWITCH: u8 = 3;
/// PLC node ids are four bits on the CAN bus (can-plc.md).
const PLC_IDS: std::ops::RangeInclusive<i64> = 0..=15;
/// OCPP 2.x bounds the identity at 48 characters; 1.6 leaves it to the URL.
const MAX_STATION_ID_CHARS: usize = 48;

/// Checks `file` and fills in the defaults. `ignored_keys` are the top-level keys already taken
/// out; `directory` is where relative paths resolve (`None`: kept as written).
pub(super) fn build(
    file: FileConfig,
    mut ignored_keys: Vec<String>,
    directory: Option<&Path>,
) -> Result<StationConfig, ConfigError> {
    let FileConfig {
        charge_point,
        connectors,
        meter_sample_interval_seconds,
        meter_keep_alive_seconds,
        minimum_status_duration_seconds,
        security,
        http,
        ocpp,
    } = file;

    // Seed 003 HEAD reads two values back from its inline libocpp configuration; the top-level
    // keys win over them.
    let inline = ocpp.map(|ocpp| {
        tracing::warn!(
            key = "ocpp",
            "ignoring `ocpp` (libocpp's inline configuration) except \
             Core.MeterValueSampleInterval and Core.MinimumStatusDuration: accepted for \
             compatibility with seed 003's charger.json"
        );
        ignored_keys.push("ocpp".to_owned());
        ocpp.core.unwrap_or_default()
    });
    ignored_keys.sort();
    let inline_interval = inline
        .as_ref()
        .and_then(|core| core.meter_value_sample_interval)
        .filter(|seconds| *seconds > 0);
    let inline_status_duration = inline
        .as_ref()
        .and_then(|core| core.minimum_status_duration)
        .and_then(|seconds| u64::try_from(seconds).ok());

    let interval_seconds = meter_sample_interval_seconds
        .or(inline_interval)
        .unwrap_or(DEFAULT_METER_SAMPLE_INTERVAL_SECS);
    let meter_sample_interval = match u64::try_from(interval_seconds) {
        Ok(seconds) if seconds > 0 => Duration::from_secs(seconds),
        _ => {
            return Err(ConfigError::invalid(
                "meterSampleIntervalSeconds",
                format!("must be positive (got {interval_seconds})"),
            ));
        }
    };

    let identity = identity(charge_point)?;
    let guns = guns(connectors, &identity, meter_sample_interval)?;
    let can_interface = if identity.use_plc {
        Some(check_plc(&guns)?)
    } else {
        None
    };
    let (http, api_token) = http_api(http)?;

    Ok(StationConfig {
        station_id: identity.station_id,
        vendor: identity.vendor,
        model: identity.model,
        firmware_version: identity.firmware_version,
        central_system_uri: identity.central_system_uri,
        ocpp_version: identity.ocpp_version,
        use_plc: identity.use_plc,
        can_interface,
        simulation_mode: identity.simulation_mode,
        http,
        api_token,
        meter_sample_interval,
        meter_keep_alive: Duration::from_secs(
            meter_keep_alive_seconds.unwrap_or(DEFAULT_METER_KEEP_ALIVE_SECS),
        ),
        minimum_status_duration: Duration::from_secs(
            minimum_status_duration_seconds
                .or(inline_status_duration)
                .unwrap_or(0),
        ),
        security: security_paths(security, directory)?,
        guns,
        ignored_keys,
    })
}

/// `chargePoint`, checked.
struct Identity {
    station_id: String,
    vendor: String,
    model: String,
    firmware_version: String,
    central_system_uri: Option<String>,
    ocpp_version: OcppVersion,
    use_plc: bool,
    can_interface: String,
    simulation_mode: bool,
}

fn identity(file: FileChargePoint) -> Result<Identity, ConfigError> {
    let station_id = file.id.unwrap_or_else(|| DEFAULT_STATION_ID.to_owned());
    let length = station_id.chars().count();
    if length == 0 || length > MAX_STATION_ID_CHARS {
        return Err(ConfigError::invalid(
            "chargePoint.id",
            format!("must be 1 to {MAX_STATION_ID_CHARS} characters (got {length})"),
        ));
    }
    if station_id
        .chars()
        .any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control())
    {
        return Err(ConfigError::invalid(
            "chargePoint.id",
            format!("{station_id:?} contains '/', ':', whitespace or a control character"),
        ));
    }

    let central_system_uri = match file.central_system_uri {
        Some(uri) if !uri.is_empty() => {
            let scheme_end = uri.find("://").unwrap_or(0);
            let scheme = &uri[..scheme_end];
            let valid = (scheme.eq_ignore_ascii_case("ws") || scheme.eq_ignore_ascii_case("wss"))
                && uri.len() > scheme_end + 3
                && !uri.contains(char::is_whitespace);
            if !valid {
                return Err(ConfigError::invalid(
                    "chargePoint.centralSystemURI",
                    format!("must be empty or a ws:// or wss:// URL (got {uri:?})"),
                ));
            }
            Some(uri)
        }
        _ => None,
    };

    let ocpp_version = match file.ocpp_version {
        None => OcppVersion::default(),
        Some(text) => OcppVersion::parse(&text).ok_or_else(|| {
            ConfigError::invalid(
                "chargePoint.ocppVersion",
                format!("unknown OCPP version {text:?} (expected \"1.6\", \"2.0.1\" or \"2.1\")"),
            )
        })?,
    };

    Ok(Identity {
        station_id,
        vendor: file.vendor.unwrap_or_else(|| DEFAULT_VENDOR.to_owned()),
        model: file.model.unwrap_or_else(|| DEFAULT_MODEL.to_owned()),
        firmware_version: file
            .firmware_version
            .unwrap_or_else(|| DEFAULT_FIRMWARE_VERSION.to_owned()),
        central_system_uri,
        ocpp_version,
        use_plc: file.use_plc.unwrap_or(false),
        can_interface: file
            .can_interface
            .unwrap_or_else(|| DEFAULT_CAN_INTERFACE.to_owned()),
        simulation_mode: file.simulation_mode.unwrap_or(false),
    })
}

/// `connectors`, checked and ordered by id.
fn guns(
    connectors: Vec<FileConnector>,
    identity: &Identity,
    station_interval: Duration,
) -> Result<Vec<GunConfigEntry>, ConfigError> {
    let mut connectors = connectors;
    if connectors.is_empty() {
        // The seed provides connector 1 when none is configured.
        connectors.push(FileConnector::default());
    }
    let mut guns = connectors
        .into_iter()
        .enumerate()
        .map(|(index, connector)| {
            gun(
                &format!("connectors[{index}]"),
                connector,
                identity,
                station_interval,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;

    guns.sort_by_key(|gun| gun.id);
    for pair in guns.windows(2) {
        if pair[0].id == pair[1].id {
            return Err(ConfigError::DuplicateConnectorId(pair[0].id));
        }
    }
    for (expected, gun) in (1..).zip(&guns) {
        if gun.id != expected {
            return Err(ConfigError::ConnectorIdGap {
                missing: expected,
                count: guns.len(),
            });
        }
    }
    Ok(guns)
}

fn gun(
    path: &str,
    file: FileConnector,
    identity: &Identity,
    station_interval: Duration,
) -> Result<GunConfigEntry, ConfigError> {
    let key = |name: &str| format!("{path}.{name}");

    let raw_id = file.id.unwrap_or(1);
    let id = u32::try_from(raw_id)
        .ok()
        .filter(|id| *id >= 1)
        .ok_or(ConfigError::ConnectorIdStart(raw_id))?;
    let raw_plc_id = file.plc_id.unwrap_or(raw_id - 1);
    let plc_id = u8::try_from(raw_plc_id)
        .ok()
        .filter(|_| PLC_IDS.contains(&raw_plc_id))
        .ok_or(ConfigError::PlcIdRange {
            plc_id: raw_plc_id,
            connector: raw_id,
        })?;

    let name = file.hal.unwrap_or_else(|| DEFAULT_BACKEND.to_owned());
    let backend = hal::BACKENDS
        .iter()
        .find(|known| known.eq_ignore_ascii_case(&name))
        .ok_or_else(|| ConfigError::UnknownBackend {
            path: key("hal"),
            name: name.clone(),
        })?;

    let pecc_url = match (backend.eq_ignore_ascii_case("pepws"), file.pecc_url) {
        (true, Some(url)) if url.starts_with("ws://") => Some(url),
        (true, Some(url)) => {
            return Err(ConfigError::invalid(
                key("peccUrl"),
                format!("must be a ws:// URL (got {url:?})"),
            ));
        }
        (true, None) => {
            return Err(ConfigError::invalid(
                key("peccUrl"),
                "backend pepws needs the power cabinet's URL".to_string(),
            ));
        }
        (false, _) => None,
    };
    let max_current = match file.max_current_a {
        Some(amps) => Amps(positive(&key("maxCurrentA"), amps)?),
        None => DEFAULT_MAX_CURRENT,
    };
    let max_power = match file.max_power_w {
        Some(watts) => Watts(positive(&key("maxPowerW"), watts)?),
        None => DEFAULT_MAX_POWER,
    };
    let max_voltage = match file.max_voltage_v {
        Some(volts) if volts != 0.0 => Volts(positive(&key("maxVoltageV"), volts)?),
        _ => DEFAULT_MAX_VOLTAGE,
    };
    let mut min_voltage = Volts(not_negative(
        &key("minVoltageV"),
        file.min_voltage_v.unwrap_or(0.0),
    )?);
    if min_voltage > max_voltage {
        let corrected = Volts(max_voltage.0 * 0.5);
        tracing::warn!(
            key = key("minVoltageV"),
            "minVoltageV {min_voltage} is above maxVoltageV {max_voltage}; using {corrected}"
        );
        min_voltage = corrected;
    }

    let meter_sample_interval = file
        .meter_sample_interval_seconds
        .and_then(|seconds| u64::try_from(seconds).ok())
        .filter(|seconds| *seconds > 0)
        .map_or(station_interval, Duration::from_secs);

    let can_interface = identity.use_plc.then(|| {
        file.can_interface
            .filter(|interface| !interface.is_empty())
            .unwrap_or_else(|| identity.can_interface.clone())
    });

    let lock_input_switch = match file.lock_input_switch {
        None => DEFAULT_LOCK_INPUT_SWITCH,
        Some(input @ 1..=4) => u8::try_from(input).unwrap_or(DEFAULT_LOCK_INPUT_SWITCH),
        Some(input) => {
            tracing::warn!(
                key = key("lockInputSwitch"),
                "lockInputSwitch {input} is not an input 1..4; using {DEFAULT_LOCK_INPUT_SWITCH}"
            );
            DEFAULT_LOCK_INPUT_SWITCH
        }
    };

    let meter_source = match file.meter_source {
        None => MeterSource::default(),
        Some(text) => MeterSource::parse(&text).ok_or_else(|| {
            ConfigError::invalid(
                key("meterSource"),
                format!("unknown meter source {text:?} (expected plc, shunt or module)"),
            )
        })?,
    };
    let meter_scale = match file.meter_scale {
        None => 1.0,
        Some(scale) if !scale.is_finite() => {
            return Err(ConfigError::invalid(
                key("meterScale"),
                format!("must be a finite number (got {scale})"),
            ));
        }
        Some(scale) if scale <= 0.0 => {
            tracing::warn!(
                key = key("meterScale"),
                "meterScale {scale} is not positive; using 1"
            );
            1.0
        }
        Some(scale) => scale,
    };
    let meter_offset = match file.meter_offset_wh {
        None => WattHours(0.0),
        Some(offset) if offset.is_finite() => WattHours(offset),
        Some(offset) => {
            return Err(ConfigError::invalid(
                key("meterOffsetWh"),
                format!("must be a finite number (got {offset})"),
            ));
        }
    };

    Ok(GunConfigEntry {
        id,
        plc_id,
        label: file.label.unwrap_or_default(),
        backend: (*backend).to_owned(),
        pecc_url,
        max_current,
        max_power,
        max_voltage,
        min_voltage,
        meter_sample_interval,
        can_interface,
        require_lock: file.require_lock.unwrap_or(true),
        lock_input_switch,
        meter_source,
        meter_scale,
        meter_offset,
    })
}

fn positive(path: &str, value: f64) -> Result<f64, ConfigError> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(ConfigError::invalid(
            path,
            format!("must be positive (got {value})"),
        ))
    }
}

fn not_negative(path: &str, value: f64) -> Result<f64, ConfigError> {
    if value.is_finite() && value >= 0.0 {
        Ok(value)
    } else {
        Err(ConfigError::invalid(
            path,
            format!("must not be negative (got {value})"),
        ))
    }
}

/// Seed 003's PLC checks, in its order, over the connectors as listed: unique PLC ids, then one
/// CAN interface, which is returned.
fn check_plc(guns: &[GunConfigEntry]) -> Result<String, ConfigError> {
    let mut plc_ids = HashSet::new();
    for gun in guns {
        if !plc_ids.insert(gun.plc_id) {
            return Err(ConfigError::DuplicatePlcId(gun.plc_id));
        }
    }
    let mut interfaces = guns.iter().filter_map(|gun| gun.can_interface.as_deref());
    let first = interfaces.next().unwrap_or(DEFAULT_CAN_INTERFACE);
    if interfaces.any(|other| other != first) {
        return Err(ConfigError::MultipleCanInterfaces);
    }
    if first.is_empty() {
        return Err(ConfigError::invalid(
            "chargePoint.canInterface",
            "must not be empty when usePLC is set",
        ));
    }
    Ok(first.to_owned())
}

fn http_api(file: FileHttp) -> Result<(SocketAddr, Option<String>), ConfigError> {
    let listen = file.listen.unwrap_or(DEFAULT_HTTP_LISTEN);
    if let Some(token) = &file.api_token
        && (token.is_empty() || !token.bytes().all(|byte| byte.is_ascii_graphic()))
    {
        return Err(ConfigError::invalid(
            "http.apiToken",
            "must be printable ASCII without spaces, and not empty",
        ));
    }
    if file.api_token.is_none() && !listen.ip().is_loopback() {
        return Err(ConfigError::ApiTokenRequired(listen));
    }
    Ok((listen, file.api_token))
}

fn security_paths(
    file: FileSecurity,
    directory: Option<&Path>,
) -> Result<SecurityPaths, ConfigError> {
    let resolve = |name: &str, value: Option<PathBuf>| -> Result<Option<PathBuf>, ConfigError> {
        match value {
            None => Ok(None),
            Some(path) if path.as_os_str().is_empty() => Err(ConfigError::invalid(
                format!("security.{name}"),
                "must not be empty",
            )),
            Some(path) => Ok(Some(match directory {
                Some(directory) if path.is_relative() => normalize(&directory.join(path)),
                _ => path,
            })),
        }
    };
    Ok(SecurityPaths {
        csms_ca_bundle: resolve("csmsCaBundle", file.csms_ca_bundle)?,
        mo_ca_bundle: resolve("moCaBundle", file.mo_ca_bundle)?,
        v2g_ca_bundle: resolve("v2gCaBundle", file.v2g_ca_bundle)?,
        client_cert_dir: resolve("clientCertDir", file.client_cert_dir)?,
        client_key_dir: resolve("clientKeyDir", file.client_key_dir)?,
        secc_cert_dir: resolve("seccCertDir", file.secc_cert_dir)?,
        secc_key_dir: resolve("seccKeyDir", file.secc_key_dir)?,
    })
}

/// `path` without `.` components and with each `..` taking out the component before it, without
/// touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut normal = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => match normal.components().next_back() {
                Some(Component::Normal(_)) => {
                    normal.pop();
                }
                // `/..` is `/`.
                Some(Component::RootDir | Component::Prefix(_)) => {}
                Some(Component::ParentDir | Component::CurDir) | None => normal.push(".."),
            },
            other => normal.push(other),
        }
    }
    normal
}

#[cfg(test)]
mod tests {
    use super::normalize;
    use std::path::Path;

    #[test]
    fn normalize_is_lexical() {
        for (path, normal) in [
            (
                "/etc/joule/configs/../data/./ca.pem",
                "/etc/joule/data/ca.pem",
            ),
            ("/../a", "/a"),
            ("../a/../../b", "../../b"),
            ("a/./b/..", "a"),
        ] {
            assert_eq!(normalize(Path::new(path)), Path::new(normal), "{path}");
        }
    }
}
