//! The dispenser data model: per-gun parameters (limits, firmware and manufacturer strings,
//! `floatValues`, the bidirectional-power-transfer limits) served in `response/configuration` and
//! enforced on every request.
//!
//! Two JSON layouts load:
//! - ours: `{"defaults": {…}, "guns": {"1": {…}, "GUN2": {…}}}`, where `defaults` and each gun
//!   set any of the parameters below under their PEP-WS names and a gun's entry overrides the
//!   defaults;
//! - seed 000's `datamodel_dispenser.json`, a template keyed `type → <messageType> → kind →
//!   <kind> → payload`. Its `response/configuration` payload becomes every gun's parameters. Its
//!   misspelt keys (`limitPowermax`, `paylaod`, `temparature`, `evMaxDisChargePowerWatts`, …) and
//!   the value `dymanicBpt` are read as the names they stand for, and every template is checked
//!   against the PEP-WS schema; each fix and each remaining deviation becomes a note of
//!   [`Loaded::notes`], so nothing is silently dropped.
//!
//! [`ALIASES`] is the one table of accepted misspellings; the admin API applies it too.

use hal::{Amps, Volts, Watts};
use proto_pepws::schema::{self, LIMIT, NumberMode};
use proto_pepws::{Configuration, Kind, MessageType};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Misspelt keys accepted as the names they stand for (seed 000's data model).
pub const ALIASES: &[(&str, &str)] = &[
    ("limitPowermax", "limitPowerMax"),
    ("contactorStatus", "contactorsStatus"),
    ("paylaod", "payload"),
    ("temparature", "temperature"),
    ("evMinPowerwatts", "evMinPowerWatts"),
    ("evMaxPowerwatts", "evMaxPowerWatts"),
    (
        "evMinDisChargeCurrentAmperes",
        "evMinDischargeCurrentAmperes",
    ),
    (
        "evMaxDisChargeCurrentAmperes",
        "evMaxDischargeCurrentAmperes",
    ),
    ("evMinDisChargePowerWatts", "evMinDischargePowerWatts"),
    ("evMaxDisChargePowerWatts", "evMaxDischargePowerWatts"),
];

/// Misspelt enumeration values accepted as the values they stand for.
const VALUE_ALIASES: &[(&str, &str)] =
    &[("dymanicBpt", "dynamicBpt"), ("operational", "operative")];

/// The parameters of one gun.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GunParameters {
    /// PE software version.
    pub firmware_version: String,
    /// PE vendor.
    pub manufacturer: String,
    /// Lowest output voltage; targets below it mean "output off".
    pub limit_voltage_min: Volts,
    /// Highest output voltage; targets above it are `value` errors.
    pub limit_voltage_max: Volts,
    /// Lowest output current.
    pub limit_current_min: Amps,
    /// Highest output current; higher requests are derated, not refused.
    pub limit_current_max: Amps,
    /// Lowest output power (BPT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_power_min: Option<Watts>,
    /// Highest output power.
    pub limit_power_max: Watts,
    /// Discharge current limit of smaller magnitude, ≤ 0 (BPT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_discharge_current_min: Option<Amps>,
    /// Discharge current limit of larger magnitude, ≤ 0 (BPT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_discharge_current_max: Option<Amps>,
    /// Discharge power limit of smaller magnitude, ≤ 0 (BPT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_discharge_power_min: Option<Watts>,
    /// Discharge power limit of larger magnitude, ≤ 0 (BPT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_discharge_power_max: Option<Watts>,
    /// Whether fractional numbers are used on the wire (section 10); `false` makes this PECC
    /// write integers.
    #[serde(default = "yes")]
    pub float_values: bool,
}

fn yes() -> bool {
    true
}

impl GunParameters {
    /// Built-in parameters: 0–1000 V, 0–250 A (seed 000's shared gun values) and `max_power`.
    pub fn builtin(max_power: Watts) -> Self {
        Self {
            firmware_version: concat!("joule-pecc ", env!("CARGO_PKG_VERSION")).into(),
            manufacturer: "joule".into(),
            limit_voltage_min: Volts::ZERO,
            limit_voltage_max: Volts(1000.0),
            limit_current_min: Amps::ZERO,
            limit_current_max: Amps(250.0),
            limit_power_min: Some(Watts::ZERO),
            limit_power_max: max_power,
            limit_discharge_current_min: None,
            limit_discharge_current_max: None,
            limit_discharge_power_min: None,
            limit_discharge_power_max: None,
            float_values: true,
        }
    }

    /// Checks ranges (section 19's `POS` and `NEG`) and the order of each min/max pair.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        let mut positive = |name: &str, x: f64| {
            if !(x.is_finite() && (0.0..=LIMIT).contains(&x)) {
                problems.push(format!("{name} must be within 0 … {LIMIT}, not {x}"));
            }
        };
        positive("limitVoltageMin", self.limit_voltage_min.value());
        positive("limitVoltageMax", self.limit_voltage_max.value());
        positive("limitCurrentMin", self.limit_current_min.value());
        positive("limitCurrentMax", self.limit_current_max.value());
        positive("limitPowerMax", self.limit_power_max.value());
        if let Some(p) = self.limit_power_min {
            positive("limitPowerMin", p.value());
        }
        let mut negative = |name: &str, x: Option<f64>| {
            if let Some(x) = x
                && !(x.is_finite() && (-LIMIT..=0.0).contains(&x))
            {
                problems.push(format!("{name} must be within -{LIMIT} … 0, not {x}"));
            }
        };
        negative(
            "limitDischargeCurrentMin",
            self.limit_discharge_current_min.map(Amps::value),
        );
        negative(
            "limitDischargeCurrentMax",
            self.limit_discharge_current_max.map(Amps::value),
        );
        negative(
            "limitDischargePowerMin",
            self.limit_discharge_power_min.map(Watts::value),
        );
        negative(
            "limitDischargePowerMax",
            self.limit_discharge_power_max.map(Watts::value),
        );
        let mut order = |low: &str, a: f64, high: &str, b: f64| {
            if a > b {
                problems.push(format!("{low} ({a}) is above {high} ({b})"));
            }
        };
        order(
            "limitVoltageMin",
            self.limit_voltage_min.value(),
            "limitVoltageMax",
            self.limit_voltage_max.value(),
        );
        order(
            "limitCurrentMin",
            self.limit_current_min.value(),
            "limitCurrentMax",
            self.limit_current_max.value(),
        );
        if let Some(p) = self.limit_power_min {
            order(
                "limitPowerMin",
                p.value(),
                "limitPowerMax",
                self.limit_power_max.value(),
            );
        }
        // Discharge "max" is the larger magnitude, so the more negative number.
        if let (Some(min), Some(max)) = (
            self.limit_discharge_current_min,
            self.limit_discharge_current_max,
        ) {
            order(
                "limitDischargeCurrentMax",
                max.value(),
                "limitDischargeCurrentMin",
                min.value(),
            );
        }
        if let (Some(min), Some(max)) = (
            self.limit_discharge_power_min,
            self.limit_discharge_power_max,
        ) {
            order(
                "limitDischargePowerMax",
                max.value(),
                "limitDischargePowerMin",
                min.value(),
            );
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// The `response/configuration` payload. The PECC reports `floatValues` explicitly, so an
    /// SECC never has to guess.
    pub fn configuration(&self) -> Configuration {
        Configuration {
            firmware_version: self.firmware_version.clone(),
            manufacturer: self.manufacturer.clone(),
            limit_voltage_min: self.limit_voltage_min.value(),
            limit_voltage_max: self.limit_voltage_max.value(),
            limit_current_min: self.limit_current_min.value(),
            limit_current_max: self.limit_current_max.value(),
            limit_power_min: self.limit_power_min.map(Watts::value),
            limit_power_max: self.limit_power_max.value(),
            limit_discharge_current_min: self.limit_discharge_current_min.map(Amps::value),
            limit_discharge_current_max: self.limit_discharge_current_max.map(Amps::value),
            limit_discharge_power_min: self.limit_discharge_power_min.map(Watts::value),
            limit_discharge_power_max: self.limit_discharge_power_max.map(Watts::value),
            float_values: Some(self.float_values),
        }
    }

    /// These parameters with the fields of `update` (a JSON object under PEP-WS names, aliases
    /// accepted) applied, validated.
    pub fn updated(&self, update: &Value) -> Result<Self, DataModelError> {
        let Value::Object(update) = update else {
            return Err(DataModelError::Invalid {
                at: "parameters".into(),
                problems: vec!["must be a JSON object".into()],
            });
        };
        let base = match serde_json::to_value(self) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        };
        let merge = |fields: &mut dyn Iterator<Item = (&String, &Value)>| {
            let mut merged = base.clone();
            for (key, value) in fields {
                merged.insert(canonical_key(key).to_string(), value.clone());
            }
            serde_json::from_value::<GunParameters>(Value::Object(merged))
        };
        let parameters = merge(&mut update.iter()).map_err(|e| {
            // Name the offending field: the first one that fails on its own.
            let culprit = update
                .iter()
                .find_map(|(key, value)| {
                    merge(&mut std::iter::once((key, value)))
                        .err()
                        .map(|e| format!("{key}: {e}"))
                })
                .unwrap_or_else(|| e.to_string());
            DataModelError::Invalid {
                at: "parameters".into(),
                problems: vec![culprit],
            }
        })?;
        parameters
            .validate()
            .map_err(|problems| DataModelError::Invalid {
                at: "parameters".into(),
                problems,
            })?;
        Ok(parameters)
    }
}

/// The name a possibly misspelt key stands for.
pub fn canonical_key(key: &str) -> &str {
    ALIASES
        .iter()
        .find(|(wrong, _)| *wrong == key)
        .map_or(key, |(_, right)| right)
}

/// Every gun's parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct DataModel {
    guns: BTreeMap<u32, GunParameters>,
}

/// A data model as loaded, with what the loader had to fix or could not use.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    /// The model.
    pub model: DataModel,
    /// One sentence per alias applied, deviation found or template ignored.
    pub notes: Vec<String>,
}

/// Why a data model could not be loaded or changed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DataModelError {
    /// The file could not be read.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The text is not JSON.
    #[error("not valid JSON: {0}")]
    Json(String),
    /// Parameters break a rule.
    #[error("{at}: {}", problems.join("; "))]
    Invalid {
        /// Where (`defaults`, `guns.GUN3`, `parameters`, …).
        at: String,
        /// What is wrong.
        problems: Vec<String>,
    },
    /// A gun key names no gun of this cabinet.
    #[error("guns.{0}: not a gun number (1 … 72, written N or GUNN; this cabinet has {1})")]
    UnknownGun(String, u32),
}

impl DataModel {
    /// `guns` guns, each with `parameters`.
    pub fn uniform(guns: u32, parameters: &GunParameters) -> Self {
        Self {
            guns: (1..=guns).map(|g| (g, parameters.clone())).collect(),
        }
    }

    /// Gun `gun`'s parameters.
    pub fn parameters(&self, gun: u32) -> Option<&GunParameters> {
        self.guns.get(&gun)
    }

    /// Replaces gun `gun`'s parameters (validated by the caller).
    pub fn set(&mut self, gun: u32, parameters: GunParameters) {
        if let Some(slot) = self.guns.get_mut(&gun) {
            *slot = parameters;
        }
    }

    /// Loads the file at `path` for a cabinet of `guns` guns, on top of `builtin`.
    pub fn from_file(
        path: &Path,
        guns: u32,
        builtin: &GunParameters,
    ) -> Result<Loaded, DataModelError> {
        let text = std::fs::read_to_string(path).map_err(|e| DataModelError::Read {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Self::from_json(&text, guns, builtin)
    }

    /// Loads a data model from JSON text (either layout).
    pub fn from_json(
        text: &str,
        guns: u32,
        builtin: &GunParameters,
    ) -> Result<Loaded, DataModelError> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| DataModelError::Json(e.to_string()))?;
        let mut notes = Vec::new();
        let is_seed_template = value.get("type").is_some();
        let value = normalize(value, "", &mut notes);
        if is_seed_template {
            seed_template(&value, guns, builtin, notes)
        } else {
            layered(&value, guns, builtin, notes)
        }
    }
}

/// Renames misspelt keys and values throughout, noting each.
fn normalize(value: Value, at: &str, notes: &mut Vec<String>) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, value) in map {
                let right = canonical_key(&key);
                let path = if at.is_empty() {
                    right.to_string()
                } else {
                    format!("{at}.{right}")
                };
                if right != key {
                    notes.push(format!("{path}: misspelt key {key:?} read as {right:?}"));
                }
                out.insert(right.to_string(), normalize(value, &path, notes));
            }
            Value::Object(out)
        }
        Value::Array(items) => {
            Value::Array(items.into_iter().map(|v| normalize(v, at, notes)).collect())
        }
        Value::String(s) => match VALUE_ALIASES.iter().find(|(wrong, _)| *wrong == s) {
            Some((wrong, right)) => {
                notes.push(format!("{at}: misspelt value {wrong:?} read as {right:?}"));
                Value::String((*right).to_string())
            }
            None => Value::String(s),
        },
        other => other,
    }
}

/// Our layout: `defaults` and per-gun overrides.
fn layered(
    value: &Value,
    guns: u32,
    builtin: &GunParameters,
    mut notes: Vec<String>,
) -> Result<Loaded, DataModelError> {
    let Value::Object(top) = value else {
        return Err(DataModelError::Invalid {
            at: "data model".into(),
            problems: vec!["must be a JSON object".into()],
        });
    };
    if let Some(unknown) = top.keys().find(|k| *k != "defaults" && *k != "guns") {
        return Err(DataModelError::Invalid {
            at: unknown.clone(),
            problems: vec![
                "unknown key (expected defaults, guns, or seed 000's type template)".into(),
            ],
        });
    }
    let defaults = match top.get("defaults") {
        Some(update) => builtin
            .updated(update)
            .map_err(|e| relocate(e, "defaults"))?,
        None => builtin.clone(),
    };
    let mut model = DataModel::uniform(guns, &defaults);
    if let Some(entries) = top.get("guns") {
        let Value::Object(entries) = entries else {
            return Err(DataModelError::Invalid {
                at: "guns".into(),
                problems: vec!["must be an object keyed by gun (1, GUN1, …)".into()],
            });
        };
        let mut beyond = Vec::new();
        for (key, update) in entries {
            let gun = gun_number(key).filter(|g| (1..=crate::config::MAX_GUNS).contains(g));
            let Some(gun) = gun else {
                return Err(DataModelError::UnknownGun(key.clone(), guns));
            };
            if gun > guns {
                beyond.push(gun);
                continue;
            }
            let parameters = defaults
                .updated(update)
                .map_err(|e| relocate(e, &format!("guns.{key}")))?;
            model.set(gun, parameters);
        }
        if !beyond.is_empty() {
            beyond.sort_unstable();
            let listed: Vec<String> = beyond.iter().map(|g| format!("GUN{g}")).collect();
            notes.push(format!(
                "guns {}: beyond the cabinet's {guns} guns; ignored",
                listed.join(", ")
            ));
        }
    }
    Ok(Loaded { model, notes })
}

fn relocate(error: DataModelError, at: &str) -> DataModelError {
    match error {
        DataModelError::Invalid { problems, .. } => DataModelError::Invalid {
            at: at.to_string(),
            problems,
        },
        other => other,
    }
}

/// `3`, `GUN3` or `gun3` → 3.
pub fn gun_number(key: &str) -> Option<u32> {
    let digits = key
        .strip_prefix("GUN")
        .or_else(|| key.strip_prefix("gun"))
        .unwrap_or(key);
    digits.parse().ok()
}

/// Seed 000's template: the configuration response becomes every gun's parameters; the other
/// templates are checked against the schema and noted.
fn seed_template(
    value: &Value,
    guns: u32,
    builtin: &GunParameters,
    mut notes: Vec<String>,
) -> Result<Loaded, DataModelError> {
    let types = value.get("type").and_then(Value::as_object);
    let Some(types) = types else {
        return Err(DataModelError::Invalid {
            at: "type".into(),
            problems: vec!["must be an object of message types".into()],
        });
    };
    for (type_name, section) in types {
        let Some(message_type) = MessageType::parse(type_name) else {
            notes.push(format!(
                "type.{type_name}: not a PEP-WS message type; ignored"
            ));
            continue;
        };
        if message_type == MessageType::Error {
            // The error template sits directly under `payload`, without a kind level.
            if let Some(payload) = section.get("payload") {
                check_template(&mut notes, message_type, Kind::Error, payload, "type.error");
            }
            continue;
        }
        let kinds = section.get("kind").and_then(Value::as_object);
        for (kind_name, template) in kinds.into_iter().flatten() {
            let at = format!("type.{type_name}.kind.{kind_name}");
            let Some(kind) = Kind::parse(kind_name) else {
                notes.push(format!("{at}: not a PEP-WS kind; ignored"));
                continue;
            };
            match template.get("payload") {
                Some(payload) => check_template(&mut notes, message_type, kind, payload, &at),
                None => notes.push(format!("{at}: no payload; ignored")),
            }
        }
    }
    let configuration = value.pointer("/type/response/kind/configuration/payload");
    let parameters = match configuration {
        Some(payload) => builtin
            .updated(payload)
            .map_err(|e| relocate(e, "type.response.kind.configuration.payload"))?,
        None => {
            notes.push("no response/configuration template; built-in parameters used".into());
            builtin.clone()
        }
    };
    if parameters.limit_voltage_max.value() < 200.0 {
        notes.push(format!(
            "limitVoltageMax is {} V: no DC vehicle charges below that (seed 000's per-gun \
             table uses 1000 V); set it per gun or in defaults",
            parameters.limit_voltage_max.value()
        ));
    }
    Ok(Loaded {
        model: DataModel::uniform(guns, &parameters),
        notes,
    })
}

fn check_template(
    notes: &mut Vec<String>,
    message_type: MessageType,
    kind: Kind,
    payload: &Value,
    at: &str,
) {
    if !schema::pair_exists(message_type, kind) {
        notes.push(format!(
            "{at}: PEP-WS has no {kind} {message_type}; ignored"
        ));
        return;
    }
    if let Err(violation) = schema::check_payload(message_type, kind, payload, NumberMode::Float) {
        notes.push(format!(
            "{at}: template breaks the PEP-WS schema ({violation}); ignored"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn builtin() -> GunParameters {
        GunParameters::builtin(Watts(360_000.0))
    }

    #[test]
    fn layered_model_overrides_per_gun_and_accepts_aliases() {
        let text = json!({
            "defaults": {"manufacturer": "ultrafastchargers_pvt_ltd", "limitCurrentMax": 250},
            "guns": {"GUN1": {"limitPowermax": 30000}, "2": {"limitPowerMax": 60000}}
        })
        .to_string();
        let loaded = DataModel::from_json(&text, 3, &builtin()).expect("loads");
        let gun = |n| loaded.model.parameters(n).expect("gun").clone();
        assert_eq!(gun(1).limit_power_max, Watts(30_000.0));
        assert_eq!(gun(2).limit_power_max, Watts(60_000.0));
        assert_eq!(gun(3).limit_power_max, Watts(360_000.0));
        assert_eq!(gun(3).manufacturer, "ultrafastchargers_pvt_ltd");
        assert_eq!(loaded.notes.len(), 1, "{:?}", loaded.notes);
        // Guns beyond the cabinet's count are noted and skipped.
        let text = json!({"guns": {"GUN9": {"limitPowerMax": 1000}}}).to_string();
        let loaded = DataModel::from_json(&text, 3, &builtin()).expect("loads");
        assert!(loaded.notes[0].contains("GUN9"), "{:?}", loaded.notes);
    }

    #[test]
    fn bad_models_are_refused_with_their_place() {
        let cases = [
            (json!({"guns": {"GUN73": {}}}), "GUN73"),
            (json!({"guns": {"left": {}}}), "left"),
            (
                json!({"defaults": {"limitVoltageMin": 500, "limitVoltageMax": 400}}),
                "defaults",
            ),
            (
                json!({"defaults": {"limitDischargeCurrentMax": 30}}),
                "defaults",
            ),
            (
                json!({"defaults": {"limitVoltagMax": 400}}),
                "limitVoltagMax",
            ),
            (json!({"gunz": {}}), "gunz"),
            (json!({"guns": {"1": {"limitPowerMax": "lots"}}}), "guns.1"),
        ];
        for (value, place) in cases {
            let error =
                DataModel::from_json(&value.to_string(), 3, &builtin()).expect_err("refused");
            assert!(error.to_string().contains(place), "{value}: {error}");
        }
    }

    #[test]
    fn updates_validate() {
        let p = builtin();
        assert!(p.updated(&json!({"limitCurrentMax": 125.5})).is_ok());
        assert!(p.updated(&json!({"limitCurrentMax": -1})).is_err());
        assert!(p.updated(&json!({"limitPowerMin": 500000})).is_err());
        assert!(p.updated(&json!({"floatValues": "yes"})).is_err());
        assert!(p.updated(&json!([1])).is_err());
        assert_eq!(gun_number("GUN12"), Some(12));
        assert_eq!(gun_number("x"), None);
    }
}
