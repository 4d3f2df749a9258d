//! Every PEP-WS 1.8 message as a type: the requests of both sides and their responses, the four
//! info kinds, the error reply, and the [`Message`] envelope that carries them.
//!
//! Physical quantities are `f64` in the protocol's units (V, A, W, %, °C, s), exactly as on the
//! wire; services convert them to unit types at their edge. Optional fields are omitted when
//! `None`, never written as `null`. Unknown fields of received payloads are ignored (section 19:
//! no schema forbids them), and never emitted.

use crate::types::{
    ChargeMode, ChargingState, ContactorsStatus, ErrorCategory, EvConnectionState, IsolationStatus,
    Kind, MessageType, OperationalStatus,
};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// `response/configuration`: what the power electronics can do (section 6.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Configuration {
    /// PE software version.
    pub firmware_version: String,
    /// PE vendor.
    pub manufacturer: String,
    /// Lowest output voltage, V.
    pub limit_voltage_min: f64,
    /// Highest output voltage, V.
    pub limit_voltage_max: f64,
    /// Lowest output current, A.
    pub limit_current_min: f64,
    /// Highest output current, A.
    pub limit_current_max: f64,
    /// Lowest output power, W (bidirectional power transfer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_power_min: Option<f64>,
    /// Highest output power, W.
    pub limit_power_max: f64,
    /// Discharge current limit of smaller magnitude, A, ≤ 0 (BPT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_discharge_current_min: Option<f64>,
    /// Discharge current limit of larger magnitude, A, ≤ 0 (BPT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_discharge_current_max: Option<f64>,
    /// Discharge power limit of smaller magnitude, W, ≤ 0 (BPT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_discharge_power_min: Option<f64>,
    /// Discharge power limit of larger magnitude, W, ≤ 0 (BPT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_discharge_power_max: Option<f64>,
    /// Whether fractional numbers are allowed in every message (section 10); missing means no.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub float_values: Option<bool>,
}

/// `request/cableCheck`: start the insulation test (section 6.2).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CableCheck {
    /// Suggested test voltage, V (for CCS the EV's maximum voltage).
    pub voltage: f64,
}

/// `request/targetValues`: what to drive, and the EV's phase (section 6.3).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetValues {
    /// Voltage to drive, V.
    pub target_voltage: f64,
    /// Current to drive, A.
    pub target_current: f64,
    /// EV battery state of charge, % (0–100).
    pub battery_state_of_charge: f64,
    /// The EV's charging phase.
    pub charging_state: ChargingState,
}

/// `request/contactorsStatus`: open or close the output contactors (section 6.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactorsCommand {
    /// The requested state.
    pub contactors_status: ContactorsStatus,
}

/// `request/getInput`: read inputs of the SECC hardware (section 6.6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetInput {
    /// Input identifiers, e.g. `d1`, `a1`, `t3`.
    pub input_identifiers: Vec<String>,
}

/// `response/getInput`: the values read (section 6.6).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InputValues {
    /// Each identifier's value (numbers in practice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_values: Option<Map<String, Value>>,
}

/// `request/setOutput`: set outputs of the SECC hardware (section 6.7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetOutput {
    /// Output identifiers and their values (e.g. 0/1 for digital outputs).
    pub output_values: Map<String, Value>,
}

/// The payload of an `error` reply (section 8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorPayload {
    /// The closest-fitting category.
    pub error_category: ErrorCategory,
    /// Human-readable details, possibly empty.
    pub error_details: String,
}

/// `info/event`: a vendor-specific PE event (section 7.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventInfo {
    /// Free-text description.
    pub event_details: String,
}

/// `info/status`: the PE's state, every 200 ms (section 7.1).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// Voltage measured at the outlet, V; always the real value.
    pub measured_voltage: f64,
    /// Current measured at the outlet, A.
    pub measured_current: f64,
    /// Voltage the PE drives at its output, V (informational).
    pub driven_voltage: f64,
    /// Current the PE drives at its output, A (informational).
    pub driven_current: f64,
    /// PE temperature, °C (diagnostic only).
    pub temperature: f64,
    /// Actual contactor state.
    pub contactors_status: ContactorsStatus,
    /// Actual insulation state; an old peer's `noImd` reads as `invalid`.
    #[serde(deserialize_with = "isolation_tolerant")]
    pub isolation_status: IsolationStatus,
    /// Health of the PE as a whole.
    pub operational_status: OperationalStatus,
}

fn isolation_tolerant<'de, D: Deserializer<'de>>(d: D) -> Result<IsolationStatus, D::Error> {
    let text = String::deserialize(d)?;
    IsolationStatus::parse_tolerant(&text)
        .ok_or_else(|| serde::de::Error::custom(format!("unknown isolationStatus {text:?}")))
}

/// `info/evConnectionState` (section 7.3); information only, never a safety input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EvConnection {
    /// The EV connection state.
    pub ev_connection_state: EvConnectionState,
    /// Vehicle identifier, sent only with `connected` when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vehicle_id: Option<String>,
}

/// `info/chargingSession`: EV session values, partial updates allowed (section 7.4).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChargingSession {
    /// Maximum power of the active charging profile, W.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charging_profile_max_power_limit_watts: Option<f64>,
    /// Time left until the battery is full, s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_to_full_soc_seconds: Option<f64>,
    /// Lowest voltage the EV accepts, V.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ev_min_voltage_volts: Option<f64>,
    /// Highest voltage the EV accepts, V.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ev_max_voltage_volts: Option<f64>,
    /// Lowest EV current, A.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ev_min_current_amperes: Option<f64>,
    /// Highest EV current, A.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ev_max_current_amperes: Option<f64>,
    /// Lowest EV power, W.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ev_min_power_watts: Option<f64>,
    /// Highest EV power, W.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ev_max_power_watts: Option<f64>,
    /// BPT: discharge current of smaller magnitude, A, ≤ 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ev_min_discharge_current_amperes: Option<f64>,
    /// BPT: discharge current of larger magnitude, A, ≤ 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ev_max_discharge_current_amperes: Option<f64>,
    /// BPT: discharge power of smaller magnitude, W, ≤ 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ev_min_discharge_power_watts: Option<f64>,
    /// BPT: discharge power of larger magnitude, W, ≤ 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ev_max_discharge_power_watts: Option<f64>,
    /// ISO 15118-20 control mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charge_mode: Option<ChargeMode>,
}

impl ChargingSession {
    /// Takes every field `update` carries, keeping the others (partial updates, section 7.4).
    pub fn merge(&mut self, update: &ChargingSession) {
        macro_rules! take {
            ($($field:ident),+) => {
                $(if update.$field.is_some() { self.$field = update.$field; })+
            };
        }
        take!(
            charging_profile_max_power_limit_watts,
            time_to_full_soc_seconds,
            ev_min_voltage_volts,
            ev_max_voltage_volts,
            ev_min_current_amperes,
            ev_max_current_amperes,
            ev_min_power_watts,
            ev_max_power_watts,
            ev_min_discharge_current_amperes,
            ev_max_discharge_current_amperes,
            ev_min_discharge_power_watts,
            ev_max_discharge_power_watts,
            charge_mode
        );
    }
}

/// A request of either side.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// SECC → PECC: the PE's limits.
    Configuration,
    /// SECC → PECC: run the insulation test.
    CableCheck(CableCheck),
    /// SECC → PECC: drive these values.
    TargetValues(TargetValues),
    /// SECC → PECC: open or close the contactors.
    ContactorsStatus(ContactorsCommand),
    /// SECC → PECC: back to standby.
    Reset,
    /// PECC → SECC: read inputs.
    GetInput(GetInput),
    /// PECC → SECC: set outputs.
    SetOutput(SetOutput),
    /// PECC → SECC: end the session gracefully.
    StopCharging,
}

impl Request {
    /// The request's kind.
    pub const fn kind(&self) -> Kind {
        match self {
            Request::Configuration => Kind::Configuration,
            Request::CableCheck(_) => Kind::CableCheck,
            Request::TargetValues(_) => Kind::TargetValues,
            Request::ContactorsStatus(_) => Kind::ContactorsStatus,
            Request::Reset => Kind::Reset,
            Request::GetInput(_) => Kind::GetInput,
            Request::SetOutput(_) => Kind::SetOutput,
            Request::StopCharging => Kind::StopCharging,
        }
    }

    fn payload(&self) -> Value {
        match self {
            Request::Configuration | Request::Reset | Request::StopCharging => empty(),
            Request::CableCheck(p) => to_value(p),
            Request::TargetValues(p) => to_value(p),
            Request::ContactorsStatus(p) => to_value(p),
            Request::GetInput(p) => to_value(p),
            Request::SetOutput(p) => to_value(p),
        }
    }
}

/// A response of either side.
#[derive(Debug, Clone, PartialEq)]
pub enum Response {
    /// The PE's limits.
    Configuration(Configuration),
    /// Receipt of a cable-check request; the result comes in `status`.
    CableCheck,
    /// Receipt of target values.
    TargetValues,
    /// Receipt of a contactor command; the outcome comes in `status`.
    ContactorsStatus,
    /// Receipt of a reset.
    Reset,
    /// The inputs read.
    GetInput(InputValues),
    /// Outputs set.
    SetOutput,
    /// Receipt of a stop request.
    StopCharging,
}

impl Response {
    /// The response's kind.
    pub const fn kind(&self) -> Kind {
        match self {
            Response::Configuration(_) => Kind::Configuration,
            Response::CableCheck => Kind::CableCheck,
            Response::TargetValues => Kind::TargetValues,
            Response::ContactorsStatus => Kind::ContactorsStatus,
            Response::Reset => Kind::Reset,
            Response::GetInput(_) => Kind::GetInput,
            Response::SetOutput => Kind::SetOutput,
            Response::StopCharging => Kind::StopCharging,
        }
    }

    /// The empty response to a request of `kind`, or `None` when that response has a payload
    /// (`configuration`, `getInput`) or `kind` is no request kind.
    pub const fn empty(kind: Kind) -> Option<Response> {
        match kind {
            Kind::CableCheck => Some(Response::CableCheck),
            Kind::TargetValues => Some(Response::TargetValues),
            Kind::ContactorsStatus => Some(Response::ContactorsStatus),
            Kind::Reset => Some(Response::Reset),
            Kind::SetOutput => Some(Response::SetOutput),
            Kind::StopCharging => Some(Response::StopCharging),
            _ => None,
        }
    }

    fn payload(&self) -> Value {
        match self {
            Response::Configuration(p) => to_value(p),
            Response::GetInput(p) => to_value(p),
            Response::CableCheck
            | Response::TargetValues
            | Response::ContactorsStatus
            | Response::Reset
            | Response::SetOutput
            | Response::StopCharging => empty(),
        }
    }
}

/// An info message of either side.
#[derive(Debug, Clone, PartialEq)]
pub enum Info {
    /// PECC → SECC: the periodic status.
    Status(Status),
    /// PECC → SECC: a vendor-specific event.
    Event(EventInfo),
    /// SECC → PECC: the EV connection state.
    EvConnectionState(EvConnection),
    /// SECC → PECC: EV session values.
    ChargingSession(ChargingSession),
}

impl Info {
    /// The info's kind.
    pub const fn kind(&self) -> Kind {
        match self {
            Info::Status(_) => Kind::Status,
            Info::Event(_) => Kind::Event,
            Info::EvConnectionState(_) => Kind::EvConnectionState,
            Info::ChargingSession(_) => Kind::ChargingSession,
        }
    }

    fn payload(&self) -> Value {
        match self {
            Info::Status(p) => to_value(p),
            Info::Event(p) => to_value(p),
            Info::EvConnectionState(p) => to_value(p),
            Info::ChargingSession(p) => to_value(p),
        }
    }
}

/// An `error` reply (section 8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorReply {
    /// The answered request's kind, or [`Kind::Error`] when it could not be read.
    pub kind: Kind,
    /// The answered request's number, or 0 when it could not be read.
    pub sequence_number: u32,
    /// The category.
    pub category: ErrorCategory,
    /// Human-readable details.
    pub details: String,
}

/// One PEP-WS message: the envelope of section 4 around its payload.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// A request.
    Request {
        /// Its sequence number (1 … 2³¹−1).
        sequence_number: u32,
        /// The request.
        request: Request,
    },
    /// A response.
    Response {
        /// The answered request's number.
        sequence_number: u32,
        /// The response.
        response: Response,
    },
    /// An error reply.
    Error(ErrorReply),
    /// An info message (no sequence number, never answered).
    Info(Info),
}

impl Message {
    /// The message's type.
    pub const fn message_type(&self) -> MessageType {
        match self {
            Message::Request { .. } => MessageType::Request,
            Message::Response { .. } => MessageType::Response,
            Message::Error(_) => MessageType::Error,
            Message::Info(_) => MessageType::Info,
        }
    }

    /// The message's kind.
    pub const fn kind(&self) -> Kind {
        match self {
            Message::Request { request, .. } => request.kind(),
            Message::Response { response, .. } => response.kind(),
            Message::Error(e) => e.kind,
            Message::Info(info) => info.kind(),
        }
    }

    /// The message as a JSON object, before any number conversion.
    pub fn to_json(&self) -> Value {
        let mut object = Map::new();
        object.insert("type".into(), self.message_type().as_str().into());
        object.insert("kind".into(), self.kind().as_str().into());
        let (sequence_number, payload) = match self {
            Message::Request {
                sequence_number,
                request,
            } => (Some(*sequence_number), request.payload()),
            Message::Response {
                sequence_number,
                response,
            } => (Some(*sequence_number), response.payload()),
            Message::Error(e) => (
                Some(e.sequence_number),
                to_value(&ErrorPayload {
                    error_category: e.category,
                    error_details: e.details.clone(),
                }),
            ),
            Message::Info(info) => (None, info.payload()),
        };
        if let Some(n) = sequence_number {
            object.insert("sequenceNumber".into(), n.into());
        }
        object.insert("payload".into(), payload);
        Value::Object(object)
    }
}

fn empty() -> Value {
    Value::Object(Map::new())
}

/// Serializes a payload struct. The payload types hold only strings, numbers, booleans, maps
/// with string keys and enumerations, which always serialize; a failure would be a bug in this
/// module, so it degrades to an empty object that the outgoing schema check then refuses.
fn to_value<T: Serialize>(payload: &T) -> Value {
    serde_json::to_value(payload).unwrap_or_else(|_| empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn optional_fields_are_omitted_and_kinds_match() {
        let message = Message::Info(Info::EvConnectionState(EvConnection {
            ev_connection_state: EvConnectionState::Disconnected,
            vehicle_id: None,
        }));
        assert_eq!(
            message.to_json(),
            serde_json::json!({"type": "info", "kind": "evConnectionState",
                "payload": {"evConnectionState": "disconnected"}})
        );
        for kind in Kind::ALL {
            if let Some(response) = Response::empty(*kind) {
                assert_eq!(response.kind(), *kind);
            }
        }
    }

    #[test]
    fn charging_session_updates_merge() {
        let mut session = ChargingSession {
            ev_max_voltage_volts: Some(450.0),
            ev_max_current_amperes: Some(200.0),
            ..ChargingSession::default()
        };
        session.merge(&ChargingSession {
            time_to_full_soc_seconds: Some(1200.0),
            ev_max_current_amperes: Some(150.0),
            ..ChargingSession::default()
        });
        assert_eq!(session.ev_max_voltage_volts, Some(450.0));
        assert_eq!(session.ev_max_current_amperes, Some(150.0));
        assert_eq!(session.time_to_full_soc_seconds, Some(1200.0));
    }
}
