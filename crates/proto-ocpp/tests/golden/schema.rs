//! Navigation of one OCA JSON schema: `$ref` resolution within its own `definitions`, and a
//! location for every node.
//!
//! A location names a schema node independently of the payload position it describes: it restarts
//! at `#/definitions/X` whenever a `$ref` is followed, so the `IdTokenType` reached from two
//! properties has one location. Locations key the enum coverage and de-duplicate mutations.

use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// One request or response schema of the embedded bundle.
#[derive(Debug, Clone, Copy)]
pub struct Schema<'a> {
    root: &'a Map<String, Value>,
}

/// A schema node, `$ref` already followed, with its location.
#[derive(Debug, Clone)]
pub struct Node<'a> {
    /// The node's keywords.
    pub keywords: &'a Map<String, Value>,
    /// Where the node sits: `#`, `#/properties/a/items` or `#/definitions/X/properties/b`.
    pub location: String,
}

impl<'a> Schema<'a> {
    pub fn new(root: &'a Map<String, Value>) -> Self {
        Self { root }
    }

    /// The payload's own node.
    pub fn root(&self) -> Node<'a> {
        self.resolve(self.root, "#".to_string())
    }

    /// `keywords` at `location`, following `$ref` chains into `definitions`.
    fn resolve(&self, mut keywords: &'a Map<String, Value>, mut location: String) -> Node<'a> {
        while let Some(reference) = keywords.get("$ref").and_then(Value::as_str) {
            let name = reference.strip_prefix("#/definitions/").unwrap_or_else(|| {
                panic!("{location}: only local definitions are used: {reference}")
            });
            keywords = self
                .root
                .get("definitions")
                .and_then(|d| d.get(name))
                .and_then(Value::as_object)
                .unwrap_or_else(|| panic!("{location}: dangling {reference}"));
            location = reference.to_string();
        }
        Node { keywords, location }
    }

    /// The node of property `name` of the object `node`.
    pub fn property(&self, node: &Node<'a>, name: &str) -> Option<Node<'a>> {
        let keywords = node.keywords.get("properties")?.get(name)?.as_object()?;
        Some(self.resolve(keywords, format!("{}/properties/{name}", node.location)))
    }

    /// Every property of the object `node`, in schema order.
    pub fn properties(&self, node: &Node<'a>) -> Vec<(&'a str, Node<'a>)> {
        let Some(properties) = node.keywords.get("properties").and_then(Value::as_object) else {
            return Vec::new();
        };
        properties
            .keys()
            .filter_map(|name| Some((name.as_str(), self.property(node, name)?)))
            .collect()
    }

    /// The item node of the array `node`.
    pub fn items(&self, node: &Node<'a>) -> Node<'a> {
        let keywords = node
            .keywords
            .get("items")
            .and_then(Value::as_object)
            .unwrap_or_else(|| panic!("{}: array without an items schema", node.location));
        self.resolve(keywords, format!("{}/items", node.location))
    }

    /// Every enumeration reachable from the payload, by location, with its values in order.
    pub fn enums(&self) -> BTreeMap<String, Vec<&'a str>> {
        let mut found = BTreeMap::new();
        self.collect_enums(&self.root(), &mut found);
        found
    }

    fn collect_enums(&self, node: &Node<'a>, found: &mut BTreeMap<String, Vec<&'a str>>) {
        if let Some(values) = node.enum_values() {
            found.insert(node.location.clone(), values);
        }
        match node.ty() {
            Some("object") => {
                for (_, property) in self.properties(node) {
                    self.collect_enums(&property, found);
                }
            }
            Some("array") => self.collect_enums(&self.items(node), found),
            _ => {}
        }
    }
}

impl<'a> Node<'a> {
    /// The `type` keyword; `None` for a node that accepts any JSON value.
    pub fn ty(&self) -> Option<&'a str> {
        self.keywords.get("type").and_then(Value::as_str)
    }

    /// The `enum` keyword's values.
    pub fn enum_values(&self) -> Option<Vec<&'a str>> {
        let values = self.keywords.get("enum")?.as_array()?;
        Some(values.iter().filter_map(Value::as_str).collect())
    }

    /// An unsigned keyword such as `maxLength` or `minItems`.
    pub fn count(&self, keyword: &str) -> Option<usize> {
        let n = self.keywords.get(keyword)?.as_u64()?;
        Some(usize::try_from(n).expect("schema counts are small"))
    }

    /// A numeric keyword such as `minimum`.
    pub fn number(&self, keyword: &str) -> Option<f64> {
        self.keywords.get(keyword)?.as_f64()
    }

    /// The `format` keyword.
    pub fn format(&self) -> Option<&'a str> {
        self.keywords.get("format").and_then(Value::as_str)
    }

    /// The `required` keyword's property names.
    pub fn required(&self) -> Vec<&'a str> {
        self.keywords
            .get("required")
            .and_then(Value::as_array)
            .map(|names| names.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }

    /// Whether the object rejects properties it does not define (`additionalProperties: false`);
    /// only `CustomDataType` is open.
    pub fn is_closed(&self) -> bool {
        self.keywords.get("additionalProperties") == Some(&Value::Bool(false))
    }
}

/// Escapes a property name for a JSON pointer (RFC 6901).
pub fn escape(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}
