//! The enumerations of PEP-WS 1.8 (fact sheet section 9), each with its exact wire spelling.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $wire:literal,)+ }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $(
                $(#[$vdoc])*
                #[serde(rename = $wire)]
                $variant,
            )+
        }

        impl $name {
            /// Every value, in the specification's order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// Every wire spelling, in the specification's order.
            pub const WIRE: &'static [&'static str] = &[$($wire),+];

            /// The wire spelling.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $wire,)+
                }
            }

            /// The value spelled `text` on the wire (case-sensitive).
            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($wire => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_enum!(
    /// `messageType`: the communication-level class of a message.
    MessageType {
        /// A one-way notification, never answered.
        Info = "info",
        /// A request awaiting a response or an error.
        Request = "request",
        /// The positive answer to a request.
        Response = "response",
        /// The negative answer to a request.
        Error = "error",
    }
);

wire_enum!(
    /// `kindType`: the application-level meaning of a message, which selects its payload layout.
    Kind {
        /// The PE's limits (SECC → PECC request).
        Configuration = "configuration",
        /// The insulation test (SECC → PECC request).
        CableCheck = "cableCheck",
        /// Voltage and current to drive (SECC → PECC request).
        TargetValues = "targetValues",
        /// Open or close the output contactors (SECC → PECC request).
        ContactorsStatus = "contactorsStatus",
        /// Back to the standby state (SECC → PECC request).
        Reset = "reset",
        /// Read SECC inputs (PECC → SECC request).
        GetInput = "getInput",
        /// Set SECC outputs (PECC → SECC request).
        SetOutput = "setOutput",
        /// The kind of an error answering an unreadable request.
        Error = "error",
        /// A vendor-specific PE event (PECC → SECC info).
        Event = "event",
        /// The periodic PE status (PECC → SECC info).
        Status = "status",
        /// The EV connection state (SECC → PECC info).
        EvConnectionState = "evConnectionState",
        /// End the session gracefully (PECC → SECC request).
        StopCharging = "stopCharging",
        /// EV session values (SECC → PECC info).
        ChargingSession = "chargingSession",
    }
);

/// The two ends of a PEP-WS connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The Supply Equipment Communication Controller: the WebSocket client, driving the session.
    Secc,
    /// The Power Electronics Communication Controller: the WebSocket server, fronting the PE.
    Pecc,
}

impl Side {
    /// The other end.
    pub const fn peer(self) -> Side {
        match self {
            Side::Secc => Side::Pecc,
            Side::Pecc => Side::Secc,
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Secc => "SECC",
            Side::Pecc => "PECC",
        })
    }
}

impl Kind {
    /// Who sends requests of this kind (section 4.1), or `None` when it is not a request kind.
    pub const fn request_sender(self) -> Option<Side> {
        match self {
            Kind::Configuration
            | Kind::CableCheck
            | Kind::TargetValues
            | Kind::ContactorsStatus
            | Kind::Reset => Some(Side::Secc),
            Kind::GetInput | Kind::SetOutput | Kind::StopCharging => Some(Side::Pecc),
            Kind::Error
            | Kind::Event
            | Kind::Status
            | Kind::EvConnectionState
            | Kind::ChargingSession => None,
        }
    }

    /// Who sends infos of this kind (section 4.1), or `None` when it is not an info kind.
    pub const fn info_sender(self) -> Option<Side> {
        match self {
            Kind::Event | Kind::Status => Some(Side::Pecc),
            Kind::EvConnectionState | Kind::ChargingSession => Some(Side::Secc),
            _ => None,
        }
    }
}

wire_enum!(
    /// `contactorsStatusType`.
    ContactorsStatus {
        /// Open: no connection between the PE and the outlet.
        Open = "open",
        /// Closed.
        Closed = "closed",
    }
);

wire_enum!(
    /// `isolationStatusType` (ISO 15118-2 semantics).
    IsolationStatus {
        /// No test done yet.
        Invalid = "invalid",
        /// Test passed without warning or fault.
        Valid = "valid",
        /// Insulation resistance below the IEC 61851-23 warning threshold.
        Warning = "warning",
        /// Insulation resistance below the fault threshold.
        Fault = "fault",
    }
);

impl IsolationStatus {
    /// The value an SECC reads for `text`: the enumeration, plus the `noImd` of peers older than
    /// the 2022-04 revision, which counts as [`IsolationStatus::Invalid`].
    pub fn parse_tolerant(text: &str) -> Option<Self> {
        match text {
            "noImd" => Some(IsolationStatus::Invalid),
            other => Self::parse(other),
        }
    }

    /// Whether a session may go on to pre-charge with this result.
    pub const fn passed(self) -> bool {
        matches!(self, IsolationStatus::Valid | IsolationStatus::Warning)
    }
}

wire_enum!(
    /// `operationalStatusType`: the health of the PE as a whole.
    OperationalStatus {
        /// The PE can deliver voltage and power.
        Operative = "operative",
        /// It cannot (fault or transition phase).
        Inoperative = "inoperative",
    }
);

wire_enum!(
    /// `chargingStateType`: the EV's charging phase, sent in `targetValues`.
    ChargingState {
        /// No session started.
        Standby = "standby",
        /// Pre-charge: match the EV's battery voltage at a small current.
        PreCharge = "preCharge",
        /// Energy transfer.
        Charge = "charge",
        /// The EV has finished; welding detection may follow.
        PostCharge = "postCharge",
    }
);

wire_enum!(
    /// `errorCategoryType` (section 8.1).
    ErrorCategory {
        /// Malformed: JSON parse or schema failure.
        Format = "format",
        /// An invalid identifier or a voltage beyond the PE's limit.
        Value = "value",
        /// Not possible in the present `operationalStatus` (e.g. a transition phase).
        Inoperative = "inoperative",
        /// An internal fault, including requests blocked by CP/PP supervision.
        Internal = "internal",
        /// Anything else.
        Generic = "generic",
    }
);

wire_enum!(
    /// `evConnectionStateType`.
    EvConnectionState {
        /// Not plugged in.
        Disconnected = "disconnected",
        /// Plugged in.
        Connected = "connected",
        /// Energy transfer allowed (CP state C or D).
        EnergyTransferAllowed = "energyTransferAllowed",
        /// An error, e.g. CP shorted to PE or the SECC inoperative.
        Error = "error",
    }
);

wire_enum!(
    /// `chargeMode` of `info/chargingSession` (ISO 15118-20 control mode).
    ChargeMode {
        /// Scheduled mode.
        Scheduled = "scheduled",
        /// Dynamic mode.
        Dynamic = "dynamic",
        /// Dynamic mode with bidirectional power transfer.
        DynamicBpt = "dynamicBpt",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_and_has_one_role() {
        assert_eq!(Kind::ALL.len(), 13);
        for kind in Kind::ALL {
            assert_eq!(Kind::parse(kind.as_str()), Some(*kind));
            let json = serde_json::to_string(kind).expect("serializes");
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            // A kind is a request kind, an info kind, or the error kind: never two of these.
            let roles = usize::from(kind.request_sender().is_some())
                + usize::from(kind.info_sender().is_some())
                + usize::from(*kind == Kind::Error);
            assert_eq!(roles, 1, "{kind}");
        }
        assert_eq!(
            Kind::parse("Configuration"),
            None,
            "spelling is case-sensitive"
        );
    }

    #[test]
    fn value_lists_match_the_specification() {
        assert_eq!(MessageType::WIRE, ["info", "request", "response", "error"]);
        assert_eq!(ContactorsStatus::WIRE, ["open", "closed"]);
        assert_eq!(
            IsolationStatus::WIRE,
            ["invalid", "valid", "warning", "fault"]
        );
        assert_eq!(OperationalStatus::WIRE, ["operative", "inoperative"]);
        assert_eq!(
            ChargingState::WIRE,
            ["standby", "preCharge", "charge", "postCharge"]
        );
        assert_eq!(
            ErrorCategory::WIRE,
            ["format", "value", "inoperative", "internal", "generic"]
        );
        assert_eq!(
            EvConnectionState::WIRE,
            [
                "disconnected",
                "connected",
                "energyTransferAllowed",
                "error"
            ]
        );
        assert_eq!(ChargeMode::WIRE, ["scheduled", "dynamic", "dynamicBpt"]);
        assert_eq!(
            IsolationStatus::parse_tolerant("noImd"),
            Some(IsolationStatus::Invalid)
        );
        assert_eq!(IsolationStatus::parse("noImd"), None);
    }
}
