//! Serde helpers used by the generated code.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// Deserializes an optional untyped field so that a present `null` stays `Some(Value::Null)`:
/// for a property without a type, `null` is a value, not an absence.
pub(crate) fn present<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}
