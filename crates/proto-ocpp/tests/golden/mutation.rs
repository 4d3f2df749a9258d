//! Single-fault mutations of a valid sample, each with the CALLERROR code and JSON pointer the
//! specification's error table assigns (OCPP-J 1.6 §4.2.3; OCPP 2.x Part 4 §4.3).
//!
//! Every constraint is broken once per schema location: the `IdTokenType` required by two
//! properties loses its `idToken` once, at its first position in the payload.

use super::schema::{Node, Schema, escape};
use proto_ocpp::OcppVersion;
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// The property name added where the schema forbids additional properties.
pub const UNEXPECTED: &str = "unexpectedProperty";

/// A timestamp without a UTC offset, which OCPP does not allow.
const NAIVE_TIMESTAMP: &str = "2026-01-02T03:04:05";

/// Arrays are overfilled only where `maxItems` is at most this, to keep payloads small.
const OVERFILL_LIMIT: usize = 24;

/// The error code a mutation must get, written independently of the crate's own mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Expected {
    /// A required property is missing, or an array has too few or too many items.
    Occurrence,
    /// A value has the wrong JSON type or is `null`.
    Type,
    /// A value is too long, not in its enumeration, out of range or a malformed date-time.
    Property,
    /// A property the schema does not define.
    Format,
}

impl Expected {
    /// The code as `version` spells it on the wire.
    pub fn wire(self, version: OcppVersion) -> &'static str {
        let v16 = version == OcppVersion::V16;
        match self {
            Expected::Occurrence if v16 => "OccurenceConstraintViolation",
            Expected::Occurrence => "OccurrenceConstraintViolation",
            Expected::Type => "TypeConstraintViolation",
            Expected::Property => "PropertyConstraintViolation",
            Expected::Format if v16 => "FormationViolation",
            Expected::Format => "FormatViolation",
        }
    }
}

/// How a mutation changes the payload.
#[derive(Debug, Clone)]
pub enum Edit {
    /// Removes property `key` of the object at `parent`.
    Remove { parent: String, key: String },
    /// Adds property `key` to the object at `parent`.
    Insert {
        parent: String,
        key: String,
        value: Value,
    },
    /// Replaces the value at `pointer`.
    Replace { pointer: String, value: Value },
}

/// One fault and the rejection it must cause.
#[derive(Debug, Clone)]
pub struct Mutation {
    /// What the fault is, for messages and counts.
    pub label: &'static str,
    pub edit: Edit,
    /// The pointer the violation must name.
    pub pointer: String,
    pub expected: Expected,
}

impl Mutation {
    /// `payload` with the fault applied.
    pub fn apply(&self, payload: &Value) -> Value {
        let mut mutated = payload.clone();
        match &self.edit {
            Edit::Remove { parent, key } => {
                object_at(&mut mutated, parent).remove(key);
            }
            Edit::Insert { parent, key, value } => {
                object_at(&mut mutated, parent).insert(key.clone(), value.clone());
            }
            Edit::Replace { pointer, value } => {
                *mutated
                    .pointer_mut(pointer)
                    .unwrap_or_else(|| panic!("mutation target {pointer} exists")) = value.clone();
            }
        }
        mutated
    }
}

fn object_at<'v>(payload: &'v mut Value, pointer: &str) -> &'v mut serde_json::Map<String, Value> {
    payload
        .pointer_mut(pointer)
        .and_then(Value::as_object_mut)
        .unwrap_or_else(|| panic!("mutation target {pointer} is an object"))
}

/// Every mutation of the valid `sample` of `schema`.
pub fn mutations(schema: &Schema<'_>, sample: &Value) -> Vec<Mutation> {
    let mut collector = Collector {
        schema,
        seen: BTreeSet::new(),
        found: Vec::new(),
    };
    collector.object_faults(&schema.root(), sample, "");
    collector.visit_children(&schema.root(), sample, "");
    collector.found
}

struct Collector<'s, 'a> {
    schema: &'s Schema<'a>,
    /// (schema location, label, detail) of every mutation already collected.
    seen: BTreeSet<(String, &'static str, String)>,
    found: Vec<Mutation>,
}

impl<'a> Collector<'_, 'a> {
    fn push(&mut self, location: &str, detail: &str, mutation: Mutation) {
        if self
            .seen
            .insert((location.to_string(), mutation.label, detail.to_string()))
        {
            self.found.push(mutation);
        }
    }

    fn replace(
        &mut self,
        site: &str,
        pointer: &str,
        label: &'static str,
        value: Value,
        expected: Expected,
    ) {
        let mutation = Mutation {
            label,
            edit: Edit::Replace {
                pointer: pointer.to_string(),
                value,
            },
            pointer: pointer.to_string(),
            expected,
        };
        self.push(site, "", mutation);
    }

    /// Faults of the value at `pointer`, which `site` (the referencing schema location) describes.
    fn visit(&mut self, node: &Node<'a>, site: &str, value: &Value, pointer: &str) {
        let Some(ty) = node.ty() else {
            // Untyped: any JSON value, including null, is valid.
            return;
        };
        self.replace(site, pointer, "null", Value::Null, Expected::Type);
        match ty {
            "string" => self.string_faults(node, site, pointer),
            "integer" => self.integer_faults(node, site, pointer),
            "number" => {
                self.replace(
                    site,
                    pointer,
                    "number as string",
                    json!("1.5"),
                    Expected::Type,
                );
            }
            "boolean" => {
                self.replace(
                    site,
                    pointer,
                    "boolean as string",
                    json!("true"),
                    Expected::Type,
                );
            }
            "array" => self.array_faults(node, site, value, pointer),
            "object" => self.object_faults(node, value, pointer),
            other => panic!("{site}: unexpected type {other}"),
        }
        self.visit_children(node, value, pointer);
    }

    fn visit_children(&mut self, node: &Node<'a>, value: &Value, pointer: &str) {
        match value {
            Value::Object(object) => {
                for (name, property) in self.schema.properties(node) {
                    if let Some(child) = object.get(name) {
                        let site = format!("{}/properties/{name}", node.location);
                        let child_pointer = format!("{pointer}/{}", escape(name));
                        self.visit(&property, &site, child, &child_pointer);
                    }
                }
            }
            // Every item has the same schema; the first stands for all.
            Value::Array(items) if !items.is_empty() => {
                let site = format!("{}/items", node.location);
                self.visit(
                    &self.schema.items(node),
                    &site,
                    &items[0],
                    &format!("{pointer}/0"),
                );
            }
            _ => {}
        }
    }

    fn string_faults(&mut self, node: &Node<'a>, site: &str, pointer: &str) {
        self.replace(site, pointer, "string as number", json!(42), Expected::Type);
        if let Some(max) = node.count("maxLength") {
            let too_long = "x".repeat(max + 1);
            self.replace(
                site,
                pointer,
                "string too long",
                json!(too_long),
                Expected::Property,
            );
        }
        if node.enum_values().is_some() {
            let bad = json!("NotAnEnumerationValue");
            self.replace(
                site,
                pointer,
                "value not in enumeration",
                bad,
                Expected::Property,
            );
        }
        if node.format() == Some("date-time") {
            let naive = json!(NAIVE_TIMESTAMP);
            self.replace(
                site,
                pointer,
                "timestamp without offset",
                naive,
                Expected::Property,
            );
        }
    }

    fn integer_faults(&mut self, node: &Node<'a>, site: &str, pointer: &str) {
        self.replace(
            site,
            pointer,
            "fraction as integer",
            json!(1.5),
            Expected::Type,
        );
        if let Some(min) = node.number("minimum") {
            let below = json!(min as i64 - 1);
            self.replace(
                site,
                pointer,
                "integer below minimum",
                below,
                Expected::Property,
            );
        }
        if let Some(max) = node.number("maximum") {
            let above = json!(max as i64 + 1);
            self.replace(
                site,
                pointer,
                "integer above maximum",
                above,
                Expected::Property,
            );
        }
    }

    fn array_faults(&mut self, node: &Node<'a>, site: &str, value: &Value, pointer: &str) {
        if node.count("minItems").unwrap_or(0) > 0 {
            self.replace(
                site,
                pointer,
                "array empty",
                json!([]),
                Expected::Occurrence,
            );
        }
        let first = value.get(0).cloned().unwrap_or(Value::Null);
        if let Some(max) = node.count("maxItems").filter(|&max| max <= OVERFILL_LIMIT) {
            let overfull = Value::Array(vec![first; max + 1]);
            self.replace(
                site,
                pointer,
                "array too long",
                overfull,
                Expected::Occurrence,
            );
        }
    }

    /// Structural faults of an object, once per object schema location.
    fn object_faults(&mut self, node: &Node<'a>, value: &Value, pointer: &str) {
        let Value::Object(object) = value else {
            panic!("{pointer}: sample is not an object")
        };
        for key in node.required() {
            assert!(object.contains_key(key), "{pointer}: sample lacks {key}");
            let mutation = Mutation {
                label: "required property removed",
                edit: Edit::Remove {
                    parent: pointer.to_string(),
                    key: key.to_string(),
                },
                pointer: format!("{pointer}/{}", escape(key)),
                expected: Expected::Occurrence,
            };
            self.push(&node.location, key, mutation);
        }
        // customData allows vendor properties; every other object is closed.
        if node.is_closed() {
            let mutation = Mutation {
                label: "unknown property added",
                edit: Edit::Insert {
                    parent: pointer.to_string(),
                    key: UNEXPECTED.to_string(),
                    value: json!(1),
                },
                pointer: format!("{pointer}/{UNEXPECTED}"),
                expected: Expected::Format,
            };
            self.push(&node.location, "", mutation);
        }
    }
}
