//! A serde deserializer over a parsed document that remembers where it is, so that every error
//! names the key path it belongs to (`connectors[1].maxCurentA`), whether the file was TOML or JSON.
//!
//! Both formats are first read into a [`serde_json::Value`]; the typed file structs are then
//! deserialized from that value through [`ValueDeserializer`]. Objects and arrays are walked here,
//! with the path extended per key and index; scalars are handed to `serde_json`'s own value
//! deserializer, and whatever error comes back is tagged with the path of the innermost value that
//! produced it.

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::fmt;

/// What went wrong while deserializing, and where.
#[derive(Debug)]
pub(super) struct DeError {
    /// The key path of the value that failed (`""` for the document itself); `None` until the
    /// error has propagated to the deserializer of that value.
    pub(super) path: Option<String>,
    /// The failure.
    pub(super) kind: DeErrorKind,
}

/// The kinds of failure the loader reports differently.
#[derive(Debug)]
pub(super) enum DeErrorKind {
    /// A key the section does not know; the path ends with that key.
    UnknownField,
    /// A required key is absent from the section at the path.
    MissingField(&'static str),
    /// Any other failure (wrong type, bad value), as serde words it.
    Message(String),
}

impl DeError {
    /// Tags the error with `path` unless a deeper value already did.
    fn at(mut self, path: &str) -> Self {
        if self.path.is_none() {
            self.path = Some(path.to_owned());
        }
        self
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.as_deref().unwrap_or_default();
        match &self.kind {
            DeErrorKind::UnknownField => write!(f, "{path}: unknown field"),
            DeErrorKind::MissingField(field) => write!(f, "{}: missing field", join(path, field)),
            DeErrorKind::Message(message) => write!(f, "{path}: {message}"),
        }
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(message: T) -> Self {
        Self {
            path: None,
            kind: DeErrorKind::Message(message.to_string()),
        }
    }

    fn unknown_field(_field: &str, _expected: &'static [&'static str]) -> Self {
        // Raised while deserializing a key: the map access tags it with the key's own path.
        Self {
            path: None,
            kind: DeErrorKind::UnknownField,
        }
    }

    fn missing_field(field: &'static str) -> Self {
        Self {
            path: None,
            kind: DeErrorKind::MissingField(field),
        }
    }
}

/// `path.key`, or `key` at the top level.
pub(super) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// A TOML document as the value both formats are read into. Dates and times, which no setting
/// takes, and non-finite floats, which JSON cannot hold, are errors at their path.
pub(super) fn toml_to_json(table: toml::Table) -> Result<Value, DeError> {
    fn convert(value: toml::Value, path: String) -> Result<Value, DeError> {
        let fail = |message: &str| Err(<DeError as de::Error>::custom(message).at(&path));
        Ok(match value {
            toml::Value::String(text) => Value::String(text),
            toml::Value::Integer(integer) => Value::from(integer),
            toml::Value::Float(float) => match serde_json::Number::from_f64(float) {
                Some(number) => Value::Number(number),
                None => return fail("not a finite number"),
            },
            toml::Value::Boolean(boolean) => Value::Bool(boolean),
            toml::Value::Datetime(_) => return fail("dates and times are not used here"),
            toml::Value::Array(items) => Value::Array(
                items
                    .into_iter()
                    .enumerate()
                    .map(|(index, item)| convert(item, format!("{path}[{index}]")))
                    .collect::<Result<_, _>>()?,
            ),
            toml::Value::Table(table) => Value::Object(convert_table(table, &path)?),
        })
    }
    fn convert_table(
        table: toml::Table,
        path: &str,
    ) -> Result<serde_json::Map<String, Value>, DeError> {
        table
            .into_iter()
            .map(|(key, value)| {
                let child = join(path, &key);
                Ok((key, convert(value, child)?))
            })
            .collect()
    }
    convert_table(table, "").map(Value::Object)
}

/// Deserializes from one value of a document, knowing its key path.
#[derive(Debug)]
pub(super) struct ValueDeserializer<'de> {
    value: &'de Value,
    path: String,
}

impl<'de> ValueDeserializer<'de> {
    /// A deserializer for `value`, found at `path` (`""` for the document itself).
    pub(super) fn new(value: &'de Value, path: String) -> Self {
        Self { value, path }
    }
}

impl<'de> Deserializer<'de> for ValueDeserializer<'de> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let result = match self.value {
            Value::Object(map) => visitor.visit_map(ObjectAccess {
                entries: map.iter(),
                pending: None,
                path: &self.path,
            }),
            Value::Array(items) => visitor.visit_seq(ArrayAccess {
                items: items.iter().enumerate(),
                path: &self.path,
            }),
            scalar => scalar.deserialize_any(visitor).map_err(de::Error::custom),
        };
        result.map_err(|e| e.at(&self.path))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.value {
            Value::Null => visitor.visit_none().map_err(|e: DeError| e.at(&self.path)),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        // Only unit variants written as strings are used in configuration files.
        self.value
            .deserialize_enum(name, variants, visitor)
            .map_err(|e| <DeError as de::Error>::custom(e).at(&self.path))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        // Say "an object" rather than naming the internal struct.
        let unexpected = match self.value {
            Value::Object(_) => return self.deserialize_any(visitor),
            Value::Null => de::Unexpected::Unit,
            Value::Bool(boolean) => de::Unexpected::Bool(*boolean),
            Value::Number(number) => match (number.as_u64(), number.as_i64()) {
                (Some(unsigned), _) => de::Unexpected::Unsigned(unsigned),
                (None, Some(signed)) => de::Unexpected::Signed(signed),
                (None, None) => de::Unexpected::Float(number.as_f64().unwrap_or(f64::NAN)),
            },
            Value::String(text) => de::Unexpected::Str(text),
            Value::Array(_) => de::Unexpected::Seq,
        };
        Err(<DeError as de::Error>::invalid_type(unexpected, &"an object").at(&self.path))
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf unit
        unit_struct seq tuple tuple_struct map identifier
    }
}

/// The entries of an object, each value deserialized at `path.key`.
struct ObjectAccess<'a, 'de> {
    entries: serde_json::map::Iter<'de>,
    pending: Option<(&'de str, &'de Value)>,
    path: &'a str,
}

impl<'de> MapAccess<'de> for ObjectAccess<'_, 'de> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        self.pending = Some((key.as_str(), value));
        seed.deserialize(BorrowedStrDeserializer::<DeError>::new(key))
            .map(Some)
            .map_err(|e| e.at(&join(self.path, key)))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let Some((key, value)) = self.pending.take() else {
            return Err(
                <DeError as de::Error>::custom("a value was requested before its key")
                    .at(self.path),
            );
        };
        seed.deserialize(ValueDeserializer::new(value, join(self.path, key)))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

/// The items of an array, each deserialized at `path[index]`.
struct ArrayAccess<'a, 'de> {
    items: std::iter::Enumerate<std::slice::Iter<'de, Value>>,
    path: &'a str,
}

impl<'de> SeqAccess<'de> for ArrayAccess<'_, 'de> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        let Some((index, value)) = self.items.next() else {
            return Ok(None);
        };
        let path = format!("{}[{index}]", self.path);
        seed.deserialize(ValueDeserializer::new(value, path))
            .map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        #[serde(default, rename = "items")]
        _items: Vec<Inner>,
        #[serde(rename = "must")]
        _must: Option<u8>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        #[serde(rename = "limit")]
        _limit: f64,
    }

    fn error(json: &str) -> String {
        let value: Value = serde_json::from_str(json).expect("test JSON");
        Outer::deserialize(ValueDeserializer::new(&value, String::new()))
            .expect_err("invalid on purpose")
            .to_string()
    }

    #[test]
    fn errors_name_their_path() {
        assert_eq!(
            error(r#"{"items": [{"limit": 1}, {"limit": 2, "limt": 3}]}"#),
            "items[1].limt: unknown field"
        );
        assert_eq!(
            error(r#"{"items": [{"limit": "high"}]}"#),
            r#"items[0].limit: invalid type: string "high", expected f64"#
        );
        assert_eq!(error(r#"{"items": [{}]}"#), "items[0].limit: missing field");
        assert_eq!(
            error(r#"{"must": 300}"#),
            "must: invalid value: integer `300`, expected u8"
        );
        assert_eq!(error(r#"{"other": 1}"#), "other: unknown field");
        assert_eq!(
            error(r#"{"items": [{"limit": 1}, 7]}"#),
            "items[1]: invalid type: integer `7`, expected an object"
        );
        assert_eq!(
            error(r#"{"items": {"limit": 1}}"#),
            "items: invalid type: map, expected a sequence"
        );
    }
}
