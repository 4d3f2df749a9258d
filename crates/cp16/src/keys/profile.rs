//! What the charge point is, as far as its configuration keys are concerned: connectors, supported
//! feature profiles, what its meters measure, and the station facts the security checks need.

use proto_ocpp::v16::{Measurand, Phase};

/// The most connectors a charge point may declare. It keeps every default value within the 500
/// characters a GetConfiguration value may hold (ConnectorPhaseRotation lists every connector).
pub const MAX_CONNECTORS: u32 = 24;

/// A feature profile of OCPP 1.6, or the security extension of the whitepaper.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Feature {
    /// The mandatory core profile.
    Core,
    /// UpdateFirmware and GetDiagnostics.
    FirmwareManagement,
    /// SendLocalList and GetLocalListVersion.
    LocalAuthListManagement,
    /// ReserveNow and CancelReservation.
    Reservation,
    /// Charging profiles and composite schedules.
    SmartCharging,
    /// TriggerMessage.
    RemoteTrigger,
    /// The security whitepaper: security profiles, certificates, signed firmware, logs.
    Security,
}

impl Feature {
    /// Every feature; the six OCPP profiles come in the order SupportedFeatureProfiles lists them.
    pub const ALL: &'static [Feature] = &[
        Feature::Core,
        Feature::FirmwareManagement,
        Feature::LocalAuthListManagement,
        Feature::Reservation,
        Feature::SmartCharging,
        Feature::RemoteTrigger,
        Feature::Security,
    ];

    /// The name as SupportedFeatureProfiles spells it (`Security` is not an OCPP profile name).
    pub const fn name(self) -> &'static str {
        match self {
            Feature::Core => "Core",
            Feature::FirmwareManagement => "FirmwareManagement",
            Feature::LocalAuthListManagement => "LocalAuthListManagement",
            Feature::Reservation => "Reservation",
            Feature::SmartCharging => "SmartCharging",
            Feature::RemoteTrigger => "RemoteTrigger",
            Feature::Security => "Security",
        }
    }

    /// Whether SupportedFeatureProfiles may list it: the six profiles of OCPP 1.6, not the
    /// whitepaper's extension.
    pub const fn is_ocpp_profile(self) -> bool {
        !matches!(self, Feature::Security)
    }

    const fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// A set of features. A charge point's set always holds Core (`Keys::new` adds it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Features(u8);

impl Features {
    /// No feature.
    pub const NONE: Features = Features(0);

    /// The core profile alone.
    pub const CORE: Features = Features(Feature::Core.bit());

    /// Every profile and the security extension.
    pub const ALL: Features = Features::CORE
        .with(Feature::FirmwareManagement)
        .with(Feature::LocalAuthListManagement)
        .with(Feature::Reservation)
        .with(Feature::SmartCharging)
        .with(Feature::RemoteTrigger)
        .with(Feature::Security);

    /// This set and `feature`.
    pub const fn with(self, feature: Feature) -> Features {
        Features(self.0 | feature.bit())
    }

    /// This set without `feature`.
    pub const fn without(self, feature: Feature) -> Features {
        Features(self.0 & !feature.bit())
    }

    /// Whether `feature` is in the set.
    pub const fn contains(self, feature: Feature) -> bool {
        self.0 & feature.bit() != 0
    }

    /// Whether the two sets share a feature.
    pub const fn intersects(self, other: Features) -> bool {
        self.0 & other.0 != 0
    }

    /// The features of the set, in [`Feature::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Feature> {
        Feature::ALL
            .iter()
            .copied()
            .filter(move |f| self.contains(*f))
    }
}

/// The charge point as its key set sees it. `Keys::new` takes it once; its values become the
/// defaults, and it bounds what the central system may configure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// Connectors (guns), numbered 1..=connectors; at most [`MAX_CONNECTORS`].
    pub connectors: u32,
    /// Supported feature profiles and whether the security extension is there.
    pub features: Features,
    /// Measurands the meters deliver; measurand lists naming others are rejected.
    /// Energy.Active.Import.Register is required (it is the default of the sampled lists).
    pub measurands: Vec<Measurand>,
    /// Phases the meters tell apart; empty for a DC charger, so a phase suffix such as
    /// `Voltage.L1` is rejected there.
    pub phases: Vec<Phase>,
}

impl Profile {
    /// A DC charger with `connectors` guns, every feature profile and the security extension,
    /// measuring energy, power, current, voltage and the vehicle's state of charge, with no
    /// per-phase values.
    pub fn new(connectors: u32) -> Profile {
        Profile {
            connectors,
            features: Features::ALL,
            measurands: vec![
                Measurand::EnergyActiveImportRegister,
                Measurand::EnergyActiveImportInterval,
                Measurand::PowerActiveImport,
                Measurand::PowerOffered,
                Measurand::CurrentImport,
                Measurand::CurrentOffered,
                Measurand::Voltage,
                Measurand::SoC,
            ],
            phases: Vec::new(),
        }
    }
}

/// Station facts the SecurityProfile rule depends on (whitepaper §9), gathered by the station
/// from its certificate store when a ChangeConfiguration arrives. Whether a usable
/// AuthorizationKey exists is known to the key set itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SecurityFacts {
    /// A CentralSystemRootCertificate is installed (needed by profiles 2 and 3).
    pub central_system_root_certificate: bool,
    /// A valid charge point certificate and its private key are installed (needed by profile 3).
    pub charge_point_certificate: bool,
}
