//! Generates `crates/proto-ocpp/src/{v16,v201,v21}/{types,messages,actions}.rs` and the minified
//! schema bundle `schemas.json` of each version from the vendored OCA JSON schemas.
//!
//! One named Rust type stands for each schema type of a version, whichever messages use it: the
//! generator checks that every use of a name has the same structure and fails otherwise. OCPP 2.x
//! schemas name their types (`definitions`); OCPP 1.6 core schemas inline them, so [`V16_NAMES`]
//! gives them the names the 1.6 specification uses.

use anyhow::{Context, Result, bail, ensure};
use heck::{ToSnakeCase, ToUpperCamelCase};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// One OCPP version as the generator sees it.
struct VersionSpec {
    module: &'static str,
    label: &'static str,
    variant: &'static str,
    request_suffix: &'static str,
    /// Actions the charging station initiates; the rest are initiated by the central system,
    /// except those in `both`.
    station_initiated: &'static [&'static str],
    both: &'static [&'static str],
}

const VERSIONS: &[VersionSpec] = &[
    VersionSpec {
        module: "v16",
        label: "1.6",
        variant: "V16",
        request_suffix: "",
        station_initiated: &[
            "Authorize",
            "BootNotification",
            "DiagnosticsStatusNotification",
            "FirmwareStatusNotification",
            "Heartbeat",
            "MeterValues",
            "StartTransaction",
            "StatusNotification",
            "StopTransaction",
            "LogStatusNotification",
            "SecurityEventNotification",
            "SignCertificate",
            "SignedFirmwareStatusNotification",
        ],
        both: &["DataTransfer"],
    },
    VersionSpec {
        module: "v201",
        label: "2.0.1",
        variant: "V201",
        request_suffix: "Request",
        station_initiated: STATION_INITIATED_2X,
        both: &["DataTransfer"],
    },
    VersionSpec {
        module: "v21",
        label: "2.1",
        variant: "V21",
        request_suffix: "Request",
        station_initiated: STATION_INITIATED_2X,
        both: &["DataTransfer"],
    },
];

/// Actions a charging station initiates in OCPP 2.0.1 and 2.1 (names absent from a version are
/// simply not used there).
const STATION_INITIATED_2X: &[&str] = &[
    "Authorize",
    "BatterySwap",
    "BootNotification",
    "ClearedChargingLimit",
    "ClosePeriodicEventStream",
    "FirmwareStatusNotification",
    "Get15118EVCertificate",
    "GetCertificateChainStatus",
    "GetCertificateStatus",
    "Heartbeat",
    "LogStatusNotification",
    "MeterValues",
    "NotifyChargingLimit",
    "NotifyCustomerInformation",
    "NotifyDERAlarm",
    "NotifyDERStartStop",
    "NotifyDisplayMessages",
    "NotifyEVChargingNeeds",
    "NotifyEVChargingSchedule",
    "NotifyEvent",
    "NotifyMonitoringReport",
    "NotifyPeriodicEventStream",
    "NotifyPriorityCharging",
    "NotifyReport",
    "NotifySettlement",
    "OpenPeriodicEventStream",
    "PublishFirmwareStatusNotification",
    "PullDynamicScheduleUpdate",
    "ReportChargingProfiles",
    "ReportDERControl",
    "ReservationStatusUpdate",
    "SecurityEventNotification",
    "SignCertificate",
    "StatusNotification",
    "TransactionEvent",
    "VatNumberValidation",
];

/// Names of the types OCPP 1.6 core schemas declare inline, keyed by (enclosing type, property);
/// an empty enclosing type matches any.
const V16_NAMES: &[(&str, &str, &str)] = &[
    ("", "idTagInfo", "IdTagInfo"),
    ("IdTagInfo", "status", "AuthorizationStatus"),
    ("BootNotificationResponse", "status", "RegistrationStatus"),
    (
        "CancelReservationResponse",
        "status",
        "CancelReservationStatus",
    ),
    ("ChangeAvailabilityRequest", "type", "AvailabilityType"),
    ("ChangeAvailabilityResponse", "status", "AvailabilityStatus"),
    (
        "ChangeConfigurationResponse",
        "status",
        "ConfigurationStatus",
    ),
    ("ClearCacheResponse", "status", "ClearCacheStatus"),
    (
        "ClearChargingProfileResponse",
        "status",
        "ClearChargingProfileStatus",
    ),
    ("DataTransferResponse", "status", "DataTransferStatus"),
    (
        "DiagnosticsStatusNotificationRequest",
        "status",
        "DiagnosticsStatus",
    ),
    (
        "FirmwareStatusNotificationRequest",
        "status",
        "FirmwareStatus",
    ),
    (
        "GetCompositeScheduleResponse",
        "status",
        "GetCompositeScheduleStatus",
    ),
    (
        "RemoteStartTransactionResponse",
        "status",
        "RemoteStartStopStatus",
    ),
    (
        "RemoteStopTransactionResponse",
        "status",
        "RemoteStartStopStatus",
    ),
    ("ReserveNowResponse", "status", "ReservationStatus"),
    ("ResetRequest", "type", "ResetType"),
    ("ResetResponse", "status", "ResetStatus"),
    ("SendLocalListResponse", "status", "UpdateStatus"),
    (
        "SetChargingProfileResponse",
        "status",
        "ChargingProfileStatus",
    ),
    (
        "StatusNotificationRequest",
        "errorCode",
        "ChargePointErrorCode",
    ),
    ("StatusNotificationRequest", "status", "ChargePointStatus"),
    ("StopTransactionRequest", "reason", "Reason"),
    (
        "TriggerMessageRequest",
        "requestedMessage",
        "MessageTrigger",
    ),
    ("TriggerMessageResponse", "status", "TriggerMessageStatus"),
    ("UnlockConnectorResponse", "status", "UnlockStatus"),
    ("", "chargingProfilePurpose", "ChargingProfilePurpose"),
    ("", "chargingProfileKind", "ChargingProfileKind"),
    ("", "recurrencyKind", "RecurrencyKind"),
    ("", "chargingRateUnit", "ChargingRateUnit"),
    ("", "chargingProfile", "ChargingProfile"),
    ("", "csChargingProfiles", "ChargingProfile"),
    ("", "chargingSchedule", "ChargingSchedule"),
    ("", "chargingSchedulePeriod", "ChargingSchedulePeriod"),
    ("", "configurationKey", "KeyValue"),
    ("", "meterValue", "MeterValue"),
    ("", "transactionData", "MeterValue"),
    ("", "sampledValue", "SampledValue"),
    ("", "context", "ReadingContext"),
    ("", "format", "ValueFormat"),
    ("", "measurand", "Measurand"),
    ("", "phase", "Phase"),
    ("", "location", "Location"),
    ("", "unit", "UnitOfMeasure"),
    ("", "localAuthorizationList", "AuthorizationData"),
    ("", "updateType", "UpdateType"),
];

/// Schema keywords that carry documentation only; they are dropped from the embedded bundle and
/// ignored when two uses of a type name are compared.
const DOC_KEYWORDS: &[&str] = &["description", "javaType", "comment", "$comment", "title"];

const RUST_KEYWORDS: &[&str] = &[
    "as", "break", "const", "continue", "crate", "else", "enum", "extern", "false", "fn", "for",
    "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return",
    "self", "static", "struct", "super", "trait", "true", "type", "unsafe", "use", "where",
    "while", "async", "await", "dyn", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "typeof", "unsized", "virtual", "yield", "try", "gen",
];

#[derive(Clone, Debug, PartialEq)]
enum Ty {
    String,
    Timestamp,
    Integer,
    Number,
    Bool,
    CustomData,
    Named(String),
    List(Box<Ty>),
    /// Any JSON value (a property without `type`, such as DataTransfer `data` in 2.x).
    Any,
}

impl Ty {
    fn rust(&self) -> String {
        match self {
            Ty::String => "String".into(),
            Ty::Timestamp => "Timestamp".into(),
            Ty::Integer => "i32".into(),
            Ty::Number => "f64".into(),
            Ty::Bool => "bool".into(),
            Ty::CustomData => "CustomData".into(),
            Ty::Named(n) => n.clone(),
            Ty::List(t) => format!("Vec<{}>", t.rust()),
            Ty::Any => "serde_json::Value".into(),
        }
    }
}

#[derive(Debug)]
struct Field {
    json: String,
    rust: String,
    ty: Ty,
    required: bool,
}

#[derive(Debug)]
enum Def {
    Struct { fields: Vec<Field> },
    Enum { values: Vec<(String, String)> },
}

/// Every type of one version, in first-use order, with the normalised schema each came from.
#[derive(Default)]
struct Registry {
    defs: BTreeMap<String, (Def, Value, String)>,
    order: Vec<String>,
    messages: Vec<String>,
}

struct Message {
    action: String,
    request: String,
    response: Option<String>,
}

/// The context in which a schema node is turned into a type.
struct Ctx<'a> {
    version: &'a VersionSpec,
    file: &'a str,
    definitions: &'a Map<String, Value>,
}

pub fn run(root: &Path, check: bool) -> Result<()> {
    let mut stale = Vec::new();
    for version in VERSIONS {
        let files = generate_version(root, version)?;
        for (path, content) in files {
            let current = std::fs::read_to_string(&path).unwrap_or_default();
            if current != content {
                if check {
                    stale.push(path.display().to_string());
                } else {
                    std::fs::write(&path, content)
                        .with_context(|| format!("writing {}", path.display()))?;
                }
            }
        }
    }
    if check {
        ensure!(
            stale.is_empty(),
            "generated code is stale, run `cargo xtask codegen`: {}",
            stale.join(", ")
        );
    }
    Ok(())
}

fn generate_version(root: &Path, version: &VersionSpec) -> Result<Vec<(PathBuf, String)>> {
    let schema_dir = root.join("crates/proto-ocpp/schemas").join(version.module);
    let out_dir = root.join("crates/proto-ocpp/src").join(version.module);
    let mut names: Vec<String> = std::fs::read_dir(&schema_dir)
        .with_context(|| format!("reading {}", schema_dir.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();

    let mut schemas: BTreeMap<String, Value> = BTreeMap::new();
    for name in &names {
        let text = std::fs::read_to_string(schema_dir.join(name))?;
        let value: Value = serde_json::from_str(text.trim_start_matches('\u{feff}'))
            .with_context(|| format!("parsing {name}"))?;
        schemas.insert(name.trim_end_matches(".json").to_string(), value);
    }

    // Pair requests with responses.
    let mut messages = Vec::new();
    for stem in schemas.keys() {
        if stem.ends_with("Response") {
            continue;
        }
        let action = if version.request_suffix.is_empty() {
            stem.clone()
        } else if let Some(a) = stem.strip_suffix(version.request_suffix) {
            a.to_string()
        } else {
            // A SEND-only message (2.1 NotifyPeriodicEventStream) has no suffix and no response.
            stem.clone()
        };
        let response = format!("{action}Response");
        messages.push(Message {
            action: action.clone(),
            request: stem.clone(),
            response: schemas.contains_key(&response).then_some(response),
        });
    }
    for stem in schemas.keys() {
        if let Some(action) = stem.strip_suffix("Response") {
            ensure!(
                messages.iter().any(|m| m.action == action),
                "{stem} has no request"
            );
        }
    }

    let mut reg = Registry::default();
    let mut bundle = Map::new();
    for m in &messages {
        let mut entry = Map::new();
        for (stem, kind, type_name) in [
            (
                Some(&m.request),
                "request",
                format!("{}Request", rust_type(&m.action)),
            ),
            (
                m.response.as_ref(),
                "response",
                format!("{}Response", rust_type(&m.action)),
            ),
        ] {
            let Some(stem) = stem else { continue };
            let schema = &schemas[stem];
            let empty = Map::new();
            let definitions = schema
                .get("definitions")
                .and_then(Value::as_object)
                .unwrap_or(&empty);
            let ctx = Ctx {
                version,
                file: stem,
                definitions,
            };
            register_struct(&mut reg, &ctx, &type_name, schema)?;
            reg.messages.push(type_name);
            entry.insert(kind.into(), strip_docs(schema));
        }
        bundle.insert(m.action.clone(), Value::Object(entry));
    }

    let header = format!(
        "//! Generated by `cargo xtask codegen` from the OCA OCPP {} JSON schemas. Do not edit.\n\n",
        version.label
    );
    let types = rustfmt(&format!("{header}{}", emit_types(&reg, false)))?;
    let msgs = rustfmt(&format!("{header}{}", emit_types(&reg, true)))?;
    let actions = rustfmt(&format!("{header}{}", emit_actions(version, &messages)))?;
    let mut bundle_text = serde_json::to_string(&Value::Object(bundle))?;
    bundle_text.push('\n');
    Ok(vec![
        (out_dir.join("types.rs"), types),
        (out_dir.join("messages.rs"), msgs),
        (out_dir.join("actions.rs"), actions),
        (out_dir.join("schemas.json"), bundle_text),
    ])
}

/// Removes documentation keywords, recursively, keeping everything that validates.
fn strip_docs(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                if DOC_KEYWORDS.contains(&k.as_str()) {
                    continue;
                }
                // Inside `properties` and `definitions` the keys are names, not keywords.
                if let (true, Value::Object(inner)) = (k == "properties" || k == "definitions", v) {
                    let named = inner
                        .iter()
                        .map(|(name, s)| (name.clone(), strip_docs(s)))
                        .collect();
                    out.insert(k.clone(), Value::Object(named));
                    continue;
                }
                out.insert(k.clone(), strip_docs(v));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(strip_docs).collect()),
        other => other.clone(),
    }
}

/// Keywords that constrain values without changing the Rust type. Two uses of a type name may
/// differ in these (OCPP 1.6 `SampledValue` lists need one item in MeterValues but not in
/// StopTransaction); each message's own schema still enforces its constraints on decode.
const CONSTRAINT_KEYWORDS: &[&str] = &[
    "minItems",
    "maxItems",
    "maxLength",
    "minimum",
    "maximum",
    "multipleOf",
    "default",
];

/// The structure of a type for comparison: documentation and value constraints dropped,
/// references kept by name.
fn normalise(schema: &Value) -> Value {
    fn drop_constraints(value: &mut Value) {
        match value {
            Value::Object(map) => {
                for k in CONSTRAINT_KEYWORDS {
                    if map.get(*k).is_some_and(|v| !v.is_object()) {
                        map.remove(*k);
                    }
                }
                map.values_mut().for_each(drop_constraints);
            }
            Value::Array(items) => items.iter_mut().for_each(drop_constraints),
            _ => {}
        }
    }
    let mut v = strip_docs(schema);
    drop_constraints(&mut v);
    if let Value::Object(map) = &mut v {
        map.remove("$schema");
        map.remove("$id");
        map.remove("definitions");
    }
    v
}

fn rust_type(name: &str) -> String {
    name.to_upper_camel_case()
}

fn definition_type_name(def: &str) -> String {
    let base = def.strip_suffix("Type").unwrap_or(def);
    rust_type(base)
}

fn field_name(json: &str) -> String {
    let snake = json.to_snake_case();
    if RUST_KEYWORDS.contains(&snake.as_str()) {
        format!("r#{snake}")
    } else {
        snake
    }
}

fn v16_inline_name(parent: &str, prop: &str) -> Option<&'static str> {
    V16_NAMES
        .iter()
        .find(|(p, k, _)| *p == parent && *k == prop)
        .or_else(|| {
            V16_NAMES
                .iter()
                .find(|(p, k, _)| p.is_empty() && *k == prop)
        })
        .map(|(_, _, n)| *n)
}

fn register_struct(reg: &mut Registry, ctx: &Ctx<'_>, name: &str, schema: &Value) -> Result<()> {
    if check_known(reg, ctx, name, schema)? {
        return Ok(());
    }
    let props = schema
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    ensure!(
        schema.get("additionalProperties") == Some(&Value::Bool(false)),
        "{}: {name} allows additional properties",
        ctx.file
    );
    // Reserve the name before recursing so that recursive uses resolve.
    reg.defs.insert(
        name.to_string(),
        (
            Def::Struct { fields: Vec::new() },
            normalise(schema),
            ctx.file.to_string(),
        ),
    );
    reg.order.push(name.to_string());
    let mut fields = Vec::new();
    for (json, prop) in &props {
        let ty = resolve(reg, ctx, name, json, prop)?;
        fields.push(Field {
            json: json.clone(),
            rust: field_name(json),
            ty,
            required: required.contains(&json.as_str()),
        });
    }
    for r in &required {
        ensure!(
            props.contains_key(*r),
            "{}: {name} requires unknown property {r}",
            ctx.file
        );
    }
    if let Some(entry) = reg.defs.get_mut(name) {
        entry.0 = Def::Struct { fields };
    }
    Ok(())
}

/// Returns whether `name` is already registered, failing if its structure differs.
fn check_known(reg: &Registry, ctx: &Ctx<'_>, name: &str, schema: &Value) -> Result<bool> {
    if let Some((_, known, origin)) = reg.defs.get(name) {
        ensure!(
            *known == normalise(schema),
            "{}: type {name} differs from its definition in {origin}",
            ctx.file
        );
        return Ok(true);
    }
    Ok(false)
}

fn register_enum(reg: &mut Registry, ctx: &Ctx<'_>, name: &str, schema: &Value) -> Result<()> {
    if check_known(reg, ctx, name, schema)? {
        return Ok(());
    }
    let raw = schema
        .get("enum")
        .and_then(Value::as_array)
        .context("enum without values")?;
    let mut values = Vec::new();
    for v in raw {
        let s = v.as_str().context("non-string enum value")?.to_string();
        let variant = enum_variant(&s);
        ensure!(
            !values.iter().any(|(_, r): &(String, String)| *r == variant),
            "{}: enum {name} has two values named {variant}",
            ctx.file
        );
        values.push((s, variant));
    }
    reg.defs.insert(
        name.to_string(),
        (
            Def::Enum { values },
            normalise(schema),
            ctx.file.to_string(),
        ),
    );
    reg.order.push(name.to_string());
    Ok(())
}

fn enum_variant(value: &str) -> String {
    let v = value.to_upper_camel_case();
    if v.starts_with(|c: char| c.is_ascii_digit()) {
        format!("V{v}")
    } else {
        v
    }
}

fn resolve(
    reg: &mut Registry,
    ctx: &Ctx<'_>,
    parent: &str,
    prop: &str,
    node: &Value,
) -> Result<Ty> {
    if let Some(reference) = node.get("$ref").and_then(Value::as_str) {
        let def = reference
            .strip_prefix("#/definitions/")
            .with_context(|| format!("{}: unsupported $ref {reference}", ctx.file))?;
        if def == "CustomDataType" {
            return Ok(Ty::CustomData);
        }
        let target = ctx
            .definitions
            .get(def)
            .with_context(|| format!("{}: missing definition {def}", ctx.file))?;
        let name = definition_type_name(def);
        ensure!(
            !name.ends_with("Request") && !name.ends_with("Response"),
            "{}: definition {def} collides with message names",
            ctx.file
        );
        return named(reg, ctx, &name, target);
    }
    if node.get("enum").is_some() {
        let name = inline_name(ctx, parent, prop)?;
        register_enum(reg, ctx, &name, node)?;
        return Ok(Ty::Named(name));
    }
    match node.get("type").and_then(Value::as_str) {
        Some("string") => match node.get("format").and_then(Value::as_str) {
            Some("date-time") => Ok(Ty::Timestamp),
            Some("uri") | None => Ok(Ty::String),
            Some(other) => bail!("{}: unsupported format {other}", ctx.file),
        },
        Some("integer") => Ok(Ty::Integer),
        Some("number") => Ok(Ty::Number),
        Some("boolean") => Ok(Ty::Bool),
        Some("array") => {
            let items = node
                .get("items")
                .with_context(|| format!("{}: array {prop} without items", ctx.file))?;
            Ok(Ty::List(Box::new(resolve(reg, ctx, parent, prop, items)?)))
        }
        None if node.get("properties").is_none() => Ok(Ty::Any),
        Some("object") => {
            let name = inline_name(ctx, parent, prop)?;
            register_struct(reg, ctx, &name, node)?;
            Ok(Ty::Named(name))
        }
        other => bail!(
            "{}: {parent}.{prop} has unsupported type {other:?}",
            ctx.file
        ),
    }
}

fn named(reg: &mut Registry, ctx: &Ctx<'_>, name: &str, target: &Value) -> Result<Ty> {
    if target.get("enum").is_some() {
        register_enum(reg, ctx, name, target)?;
    } else {
        ensure!(
            target.get("type").and_then(Value::as_str) == Some("object"),
            "{}: definition {name} is neither enum nor object",
            ctx.file
        );
        register_struct(reg, ctx, name, target)?;
    }
    Ok(Ty::Named(name.to_string()))
}

fn inline_name(ctx: &Ctx<'_>, parent: &str, prop: &str) -> Result<String> {
    ensure!(
        ctx.version.module == "v16",
        "{}: inline type {parent}.{prop} in a version whose schemas name their types",
        ctx.file
    );
    v16_inline_name(parent, prop)
        .map(str::to_string)
        .with_context(|| format!("{}: no name for inline type {parent}.{prop}", ctx.file))
}

fn emit_types(reg: &Registry, messages: bool) -> String {
    let mut out = String::new();
    if messages {
        out.push_str(
            "#![allow(clippy::too_many_arguments, clippy::new_without_default)]\n\n#[allow(unused_imports)]\nuse super::types::*;\n",
        );
    } else {
        out.push_str("#![allow(clippy::upper_case_acronyms, clippy::too_many_arguments, clippy::new_without_default)]\n\n");
    }
    out.push_str("#[allow(unused_imports)]\nuse crate::{CustomData, Timestamp};\nuse serde::{Deserialize, Serialize};\n\n");
    for name in &reg.order {
        if reg.messages.contains(name) != messages {
            continue;
        }
        let (def, _, origin) = &reg.defs[name];
        match def {
            Def::Enum { values } => emit_enum(&mut out, name, values, origin),
            Def::Struct { fields } => emit_struct(&mut out, name, fields, origin),
        }
    }
    out
}

fn emit_enum(out: &mut String, name: &str, values: &[(String, String)], origin: &str) {
    let _ = writeln!(out, "/// Enumeration `{name}` (first used in `{origin}`).");
    out.push_str("#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]\n");
    let _ = writeln!(out, "pub enum {name} {{");
    for (json, variant) in values {
        let _ = writeln!(out, "#[serde(rename = {json:?})]\n{variant},");
    }
    out.push_str("}\n\n");
    let _ = writeln!(out, "impl {name} {{");
    out.push_str("/// Every value, in schema order.\n");
    let _ = writeln!(out, "pub const ALL: &'static [{name}] = &[");
    for (_, variant) in values {
        let _ = write!(out, "{name}::{variant},");
    }
    out.push_str("];\n\n/// The value as written on the wire.\npub const fn as_str(self) -> &'static str {\nmatch self {\n");
    for (json, variant) in values {
        let _ = writeln!(out, "{name}::{variant} => {json:?},");
    }
    out.push_str("}\n}\n}\n\n");
    let _ = writeln!(
        out,
        "impl std::fmt::Display for {name} {{\nfn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {{\nf.write_str(self.as_str())\n}}\n}}\n"
    );
}

fn emit_struct(out: &mut String, name: &str, fields: &[Field], origin: &str) {
    let _ = writeln!(out, "/// `{name}` (first used in `{origin}`).");
    out.push_str("#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]\n");
    let _ = writeln!(out, "pub struct {name} {{");
    for f in fields {
        let bare = f.rust.trim_start_matches("r#");
        if bare != f.json {
            let _ = writeln!(out, "#[serde(rename = {:?})]", f.json);
        }
        if f.required {
            let _ = writeln!(out, "pub {}: {},", f.rust, f.ty.rust());
        } else {
            if f.ty == Ty::Any {
                // A present `null` is a value here, not an absent field.
                out.push_str("#[serde(default, skip_serializing_if = \"Option::is_none\", deserialize_with = \"crate::serde_util::present\")]\n");
            } else {
                out.push_str("#[serde(default, skip_serializing_if = \"Option::is_none\")]\n");
            }
            let _ = writeln!(out, "pub {}: Option<{}>,", f.rust, f.ty.rust());
        }
    }
    out.push_str("}\n\n");
    let required: Vec<&Field> = fields.iter().filter(|f| f.required).collect();
    let _ = writeln!(out, "impl {name} {{");
    out.push_str("/// A value with the required fields set and every optional field absent.\n");
    let params: Vec<String> = required
        .iter()
        .map(|f| format!("{}: {}", f.rust, f.ty.rust()))
        .collect();
    let _ = writeln!(out, "pub fn new({}) -> Self {{\nSelf {{", params.join(", "));
    for f in fields {
        if f.required {
            let _ = writeln!(out, "{},", f.rust);
        } else {
            let _ = writeln!(out, "{}: None,", f.rust);
        }
    }
    out.push_str("}\n}\n}\n\n");
}

fn emit_actions(version: &VersionSpec, messages: &[Message]) -> String {
    let mut out = String::new();
    out.push_str("#![allow(clippy::large_enum_variant)]\n\n");
    out.push_str(
        "use super::messages::*;\nuse crate::{Initiator, OcppVersion};\nuse serde::Serialize;\n\n",
    );
    let label = version.label;
    let _ = writeln!(
        out,
        "/// Every action of OCPP {label}.\n#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]\npub enum Action {{"
    );
    for m in messages {
        let _ = writeln!(out, "{},", rust_type(&m.action));
    }
    out.push_str("}\n\n");
    out.push_str(
        "impl Action {\n/// Every action, in name order.\npub const ALL: &'static [Action] = &[",
    );
    for m in messages {
        let _ = write!(out, "Action::{},", rust_type(&m.action));
    }
    out.push_str("];\n\n/// The action name as written in a CALL.\npub const fn name(self) -> &'static str {\nmatch self {\n");
    for m in messages {
        let _ = writeln!(out, "Action::{} => {:?},", rust_type(&m.action), m.action);
    }
    out.push_str("}\n}\n\n/// The action of a CALL name; `None` for a name this version does not define.\npub fn from_name(name: &str) -> Option<Self> {\nmatch name {\n");
    for m in messages {
        let _ = writeln!(
            out,
            "{:?} => Some(Action::{}),",
            m.action,
            rust_type(&m.action)
        );
    }
    out.push_str("_ => None,\n}\n}\n\n/// Position in [`Action::ALL`].\npub const fn index(self) -> usize {\nself as usize\n}\n\n");
    out.push_str("/// Which side starts this action.\npub const fn initiator(self) -> Initiator {\nmatch self {\n");
    for m in messages {
        let who = if version.both.contains(&m.action.as_str()) {
            "Either"
        } else if version.station_initiated.contains(&m.action.as_str()) {
            "ChargingStation"
        } else {
            "CentralSystem"
        };
        let _ = writeln!(out, "Action::{} => Initiator::{who},", rust_type(&m.action));
    }
    out.push_str("}\n}\n\n/// Whether the action is sent unconfirmed (SEND, OCPP 2.1) and has no response.\npub const fn is_send(self) -> bool {\nmatches!(self, ");
    let sends: Vec<String> = messages
        .iter()
        .filter(|m| m.response.is_none())
        .map(|m| format!("Action::{}", rust_type(&m.action)))
        .collect();
    if sends.is_empty() {
        out.push_str("Action::Heartbeat if false");
    } else {
        out.push_str(&sends.join(" | "));
    }
    out.push_str(")\n}\n}\n\n");
    let _ = writeln!(
        out,
        "impl std::fmt::Display for Action {{\nfn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {{\nf.write_str(self.name())\n}}\n}}\n"
    );

    for (kind, enum_name) in [("Request", "Request"), ("Response", "Response")] {
        let _ = writeln!(
            out,
            "/// The payload of any OCPP {label} {}.\n#[derive(Debug, Clone, PartialEq, Serialize)]\n#[serde(untagged)]\npub enum {enum_name} {{",
            if kind == "Request" {
                "CALL or SEND"
            } else {
                "CALLRESULT"
            }
        );
        let present: Vec<&Message> = messages
            .iter()
            .filter(|m| kind == "Request" || m.response.is_some())
            .collect();
        for m in &present {
            let t = rust_type(&m.action);
            let _ = writeln!(out, "{t}({t}{kind}),");
        }
        out.push_str("}\n\n");
        let _ = writeln!(out, "impl {enum_name} {{");
        out.push_str("/// The action this payload belongs to.\npub const fn action(&self) -> Action {\nmatch self {\n");
        for m in &present {
            let t = rust_type(&m.action);
            let _ = writeln!(out, "{enum_name}::{t}(_) => Action::{t},");
        }
        out.push_str("}\n}\n\n");
        if kind == "Request" {
            out.push_str("/// Decodes the payload of a CALL (or SEND) for `action`.\npub fn from_value(action: Action, payload: serde_json::Value) -> Result<Self, serde_json::Error> {\nmatch action {\n");
        } else {
            out.push_str("/// Decodes the payload of a CALLRESULT to a CALL of `action`; `None` for a SEND-only action.\npub fn from_value(action: Action, payload: serde_json::Value) -> Option<Result<Self, serde_json::Error>> {\nSome(match action {\n");
        }
        for m in &present {
            let t = rust_type(&m.action);
            let _ = writeln!(
                out,
                "Action::{t} => serde_json::from_value(payload).map({enum_name}::{t}),"
            );
        }
        if kind == "Request" {
            out.push_str("}\n}\n}\n\n");
        } else {
            for m in messages.iter().filter(|m| m.response.is_none()) {
                let _ = writeln!(out, "Action::{} => return None,", rust_type(&m.action));
            }
            out.push_str("})\n}\n}\n\n");
        }
    }

    let marker = version.variant;
    let _ = writeln!(
        out,
        "/// OCPP {label} as a [`crate::Dialect`], for code generic over versions.\n#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]\npub struct {marker};\n\n\
impl crate::Dialect for {marker} {{\n\
const VERSION: OcppVersion = OcppVersion::{marker};\n\
type Action = Action;\ntype Request = Request;\ntype Response = Response;\n\
fn action(name: &str) -> Option<Action> {{\nAction::from_name(name)\n}}\n\
fn action_name(action: Action) -> &'static str {{\naction.name()\n}}\n\
fn initiator(action: Action) -> Initiator {{\naction.initiator()\n}}\n\
fn is_send(action: Action) -> bool {{\naction.is_send()\n}}\n\
fn request_action(request: &Request) -> Action {{\nrequest.action()\n}}\n\
fn response_action(response: &Response) -> Action {{\nresponse.action()\n}}\n\
fn decode_request(action: Action, payload: serde_json::Value) -> Result<Request, serde_json::Error> {{\nRequest::from_value(action, payload)\n}}\n\
fn decode_response(action: Action, payload: serde_json::Value) -> Option<Result<Response, serde_json::Error>> {{\nResponse::from_value(action, payload)\n}}\n\
}}\n"
    );
    for m in messages {
        let t = rust_type(&m.action);
        let response = if m.response.is_some() {
            format!("{t}Response")
        } else {
            "crate::NoResponse".to_string()
        };
        let _ = writeln!(
            out,
            "impl crate::OcppRequest for {t}Request {{\nconst VERSION: OcppVersion = OcppVersion::{};\nconst ACTION: &'static str = {:?};\ntype Response = {response};\n}}\n",
            version.variant, m.action
        );
        let _ = writeln!(
            out,
            "impl From<{t}Request> for Request {{\nfn from(r: {t}Request) -> Self {{\nRequest::{t}(r)\n}}\n}}\n"
        );
        if m.response.is_some() {
            let _ = writeln!(
                out,
                "impl From<{t}Response> for Response {{\nfn from(r: {t}Response) -> Self {{\nResponse::{t}(r)\n}}\n}}\n"
            );
        }
    }
    out
}

fn rustfmt(source: &str) -> Result<String> {
    let mut child = Command::new("rustfmt")
        .args(["--edition", "2024", "--emit", "stdout", "--quiet"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("starting rustfmt")?;
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().context("rustfmt stdin")?;
        stdin.write_all(source.as_bytes())?;
    }
    let output = child.wait_with_output()?;
    ensure!(output.status.success(), "rustfmt failed on generated code");
    Ok(String::from_utf8(output.stdout)?)
}
