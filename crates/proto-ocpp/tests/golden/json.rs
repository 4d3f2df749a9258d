//! JSON value equality that compares numbers by value.
//!
//! `serde_json` tells `5` from `5.0`, but JSON does not: a number schema field decoded into an
//! `f64` re-encodes an integral `2` as `2.0`, which is the same JSON value.

use serde_json::Value;

/// The first place where `expected` and `actual` differ, as `pointer: expected vs actual`;
/// `None` when they are the same JSON value. Object key order does not matter.
pub fn difference(expected: &Value, actual: &Value) -> Option<String> {
    difference_at(expected, actual, "")
}

fn difference_at(expected: &Value, actual: &Value, pointer: &str) -> Option<String> {
    let differs = || Some(format!("{pointer}: expected {expected}, got {actual}"));
    match (expected, actual) {
        (Value::Number(a), Value::Number(b)) if a.is_f64() || b.is_f64() => {
            (a.as_f64() != b.as_f64()).then(differs).flatten()
        }
        (Value::Object(a), Value::Object(b)) => {
            if let Some(key) = a
                .keys()
                .chain(b.keys())
                .find(|k| a.contains_key(*k) != b.contains_key(*k))
            {
                let side = if a.contains_key(key) {
                    "missing"
                } else {
                    "unexpected"
                };
                return Some(format!("{pointer}/{key}: {side} property"));
            }
            a.iter()
                .find_map(|(key, value)| difference_at(value, &b[key], &format!("{pointer}/{key}")))
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => a
            .iter()
            .zip(b)
            .enumerate()
            .find_map(|(i, (x, y))| difference_at(x, y, &format!("{pointer}/{i}"))),
        _ => (expected != actual).then(differs).flatten(),
    }
}

#[test]
fn numbers_compare_by_value_and_keys_by_name() {
    use serde_json::json;
    assert_eq!(
        difference(&json!({"a": 5, "b": [1.5]}), &json!({"b": [1.5], "a": 5.0})),
        None
    );
    assert!(difference(&json!({"a": 5}), &json!({"a": 5.5})).is_some());
    assert!(difference(&json!({"a": 5}), &json!({"a": "5"})).is_some());
    assert!(difference(&json!({"a": [1]}), &json!({"a": [1, 1]})).is_some());
    assert_eq!(
        difference(&json!({"a": {"b": 1}}), &json!({"a": {}})).as_deref(),
        Some("/a/b: missing property")
    );
}
