//! `customData`, the OCPP 2.x extension point present on every object.
//!
//! The schemas allow any extra property beside the required `vendorId`; a charger's vendor data
//! must survive a decode/encode round trip, so the extras are kept as JSON values (object key
//! order is not significant in JSON and is not kept).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Vendor-specific data attached to an OCPP 2.x object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomData {
    /// Identifies the vendor that defined the extra properties (at most 255 characters).
    #[serde(rename = "vendorId")]
    pub vendor_id: String,
    /// Every other property, as received.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl CustomData {
    /// Custom data of `vendor_id` with no extra properties.
    pub fn new(vendor_id: impl Into<String>) -> Self {
        Self {
            vendor_id: vendor_id.into(),
            extra: Map::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extras_survive_a_round_trip() {
        let text = r#"{"vendorId":"com.example","alpha":{"nested":[true,null]},"zeta":1}"#;
        let data: CustomData = serde_json::from_str(text).expect("valid");
        assert_eq!(data.vendor_id, "com.example");
        assert_eq!(data.extra.len(), 2);
        assert_eq!(serde_json::to_string(&data).expect("encodes"), text);
    }
}
