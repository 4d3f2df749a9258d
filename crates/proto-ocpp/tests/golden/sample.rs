//! Sample payloads generated from a schema.
//!
//! A [`Shape::Minimal`] sample holds only required properties, short strings and the smallest
//! arrays; a [`Shape::Maximal`] one holds every property, strings at exactly their `maxLength`,
//! `items` items per array (at least `minItems`, at most `maxItems`), an extra vendor property in
//! every open object (`customData`) and enumeration value number `enum_index` (modulo the
//! enumeration's length) everywhere, so that a run of maximal samples covers every value of every
//! enumeration.

use super::schema::{Node, Schema};
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;

/// Every `date-time` of a sample, in the canonical form the encoder writes (milliseconds, `Z`),
/// so that a round trip gives back the same string.
pub const TIMESTAMP: &str = "2026-01-02T03:04:05.678Z";

/// The property a maximal sample adds to every open object (`customData`) beside the defined ones.
pub const VENDOR_EXTENSION: &str = "com.joule.vendorExtension";

/// Which sample to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Only required properties, short strings and the fewest array items.
    Minimal,
    /// Every property at its largest, `items` items per array; enumerations take value
    /// `enum_index` modulo their length.
    Maximal { items: usize, enum_index: usize },
}

/// The sample of `schema` in `shape`. Every enumeration value written is added to `enums_used` as
/// (location, value).
pub fn generate(
    schema: &Schema<'_>,
    shape: Shape,
    enums_used: &mut BTreeSet<(String, String)>,
) -> Value {
    Generator {
        schema,
        shape,
        enums_used,
    }
    .value(&schema.root())
}

struct Generator<'s, 'a> {
    schema: &'s Schema<'a>,
    shape: Shape,
    enums_used: &'s mut BTreeSet<(String, String)>,
}

impl Generator<'_, '_> {
    fn maximal(&self) -> bool {
        matches!(self.shape, Shape::Maximal { .. })
    }

    fn value(&mut self, node: &Node<'_>) -> Value {
        match node.ty() {
            Some("object") => self.object(node),
            Some("array") => self.array(node),
            Some("string") => self.string(node),
            Some("integer") => Value::from(self.integer(node)),
            Some("number") => self.number(node),
            Some("boolean") => Value::Bool(self.maximal()),
            // Untyped (2.x DataTransfer `data`): any JSON, here a nested vendor structure.
            None => json!({"any": ["json", 1, 2.5, true, null, {"nested": []}]}),
            Some(other) => panic!("{}: unexpected type {other}", node.location),
        }
    }

    fn object(&mut self, node: &Node<'_>) -> Value {
        let required = node.required();
        let mut object = Map::new();
        for (name, property) in self.schema.properties(node) {
            if self.maximal() || required.contains(&name) {
                object.insert(name.to_string(), self.value(&property));
            }
        }
        if self.maximal() && !node.is_closed() {
            object.insert(
                VENDOR_EXTENSION.to_string(),
                json!({"build": 42, "ratio": 0.25, "flags": [true, null], "note": "kept"}),
            );
        }
        Value::Object(object)
    }

    fn array(&mut self, node: &Node<'_>) -> Value {
        let min = node.count("minItems").unwrap_or(0).max(1);
        let len = match self.shape {
            Shape::Minimal => min,
            Shape::Maximal { items, .. } => items.max(min),
        };
        let len = node.count("maxItems").map_or(len, |max| len.min(max));
        let items = self.schema.items(node);
        Value::Array((0..len).map(|_| self.value(&items)).collect())
    }

    fn string(&mut self, node: &Node<'_>) -> Value {
        if let Some(values) = node.enum_values() {
            let index = match self.shape {
                Shape::Minimal => 0,
                Shape::Maximal { enum_index, .. } => enum_index % values.len(),
            };
            let value = values[index];
            self.enums_used
                .insert((node.location.clone(), value.to_string()));
            return Value::from(value);
        }
        match node.format() {
            Some("date-time") => return Value::from(TIMESTAMP),
            Some("uri") => return Value::from(self.padded(node, "https://example.com/")),
            Some(other) => panic!("{}: unexpected format {other}", node.location),
            None => {}
        }
        Value::from(self.padded(node, ""))
    }

    /// `prefix` then `x`s: up to exactly `maxLength` in a maximal sample, else a few.
    fn padded(&self, node: &Node<'_>, prefix: &str) -> String {
        let max = node.count("maxLength");
        let len = match (self.shape, max) {
            (Shape::Maximal { .. }, Some(max)) => max,
            (Shape::Maximal { .. }, None) => prefix.len() + 12,
            (Shape::Minimal, max) => max.unwrap_or(usize::MAX).min(prefix.len() + 1),
        };
        let mut text = prefix.to_string();
        text.extend(std::iter::repeat_n('x', len.saturating_sub(prefix.len())));
        text
    }

    fn integer(&self, node: &Node<'_>) -> i64 {
        let preferred = if self.maximal() { 7 } else { 0 };
        let mut value = preferred;
        if let Some(min) = node.number("minimum") {
            value = value.max(min.ceil() as i64);
        }
        if let Some(max) = node.number("maximum") {
            value = value.min(max.floor() as i64);
        }
        value
    }

    /// A fraction (a multiple of 0.1, as 1.6 limits require) in a maximal sample; an integral
    /// JSON number in a minimal one, which the typed `f64` re-encodes as `2.0`.
    fn number(&self, node: &Node<'_>) -> Value {
        let min = node.number("minimum");
        let max = node.number("maximum");
        if self.maximal() {
            let mut value: f64 = 1.5;
            if let Some(max) = max.filter(|&max| value > max) {
                value = max - 0.5;
            }
            if let Some(min) = min.filter(|&min| value < min) {
                value = min + 0.5;
            }
            Value::from(value)
        } else {
            let mut value: i64 = 2;
            if let Some(max) = max.filter(|&max| (value as f64) > max) {
                value = max.floor() as i64;
            }
            if let Some(min) = min.filter(|&min| (value as f64) < min) {
                value = min.ceil() as i64;
            }
            Value::from(value)
        }
    }
}
