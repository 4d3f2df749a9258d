//! The value types of the configuration keys and how each is read from and written to the string
//! OCPP carries. Reading checks the format, the range and what the charge point supports; checks
//! that involve other keys (list capacities) live with the key set.
//!
//! Reading is tolerant where OCPP's case-insensitive strings allow it: surrounding blanks are
//! ignored (except in the AuthorizationKey and CpoName, where they may be meant), booleans and
//! enumeration names match regardless of ASCII case, and list entries may have blanks around the
//! commas. Values are always written in canonical form.

use super::profile::{Feature, Features, Profile};
use proto_ocpp::v16::{ChargingRateUnit, Measurand, Phase};
use std::fmt;

/// Why a value was refused. It never contains the value of the AuthorizationKey.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Invalid {
    /// The text is not of the key's type.
    #[error("expected {expected}")]
    Format {
        /// What the key takes.
        expected: &'static str,
    },
    /// A number outside the key's range.
    #[error("{value} is outside {min}..={max}")]
    OutOfRange {
        /// The number given.
        value: i64,
        /// The smallest allowed.
        min: u32,
        /// The largest allowed.
        max: u32,
    },
    /// A list entry that is neither a measurand nor a measurand with a phase suffix.
    #[error("`{0}` is not a measurand, with or without a phase suffix")]
    UnknownMeasurand(String),
    /// A measurand (or phase) the charge point's meters do not deliver.
    #[error("`{0}` is not measured by this charge point")]
    UnsupportedMeasurand(String),
    /// A ConnectorPhaseRotation entry for a connector the charge point does not have.
    #[error("connector {0} does not exist")]
    UnknownConnector(u32),
    /// A ConnectorPhaseRotation entry repeating a connector.
    #[error("connector {0} is listed twice")]
    DuplicateConnector(u32),
    /// A list longer than its `…MaxLength` key allows.
    #[error("{items} items, at most {capacity} allowed")]
    TooManyItems {
        /// Items in the list.
        items: usize,
        /// The capacity.
        capacity: u32,
    },
    /// A capacity smaller than the list it bounds already is.
    #[error("capacity {capacity} is below the {items} items already configured")]
    BelowCurrentLength {
        /// The capacity given.
        capacity: u32,
        /// Items in the bounded list now.
        items: usize,
    },
    /// A value longer than the 500 characters GetConfiguration can return.
    #[error("{length} characters, at most 500")]
    TooLong {
        /// Characters of the value.
        length: usize,
    },
}

/// How a key's value type is read and written.
pub(super) trait Setting: Sized {
    /// Reads a value, checking its format, range and what `profile` supports.
    fn parse(text: &str, profile: &Profile) -> Result<Self, Invalid>;

    /// The value as GetConfiguration shows it; `None` = no value to show.
    fn render(&self) -> Option<String>;

    /// The value as a snapshot keeps it; differs from [`Setting::render`] only for secrets.
    fn persist(&self) -> Option<String> {
        self.render()
    }

    /// Items of a list value; 1 for scalars.
    fn items(&self) -> usize {
        1
    }

    /// The number, for integer values (capacities are integers).
    fn count(&self) -> Option<u32> {
        None
    }
}

impl Setting for bool {
    fn parse(text: &str, _: &Profile) -> Result<Self, Invalid> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("true") {
            Ok(true)
        } else if text.eq_ignore_ascii_case("false") {
            Ok(false)
        } else {
            Err(Invalid::Format {
                expected: "true or false",
            })
        }
    }

    fn render(&self) -> Option<String> {
        Some(self.to_string())
    }
}

/// A whole number within `MIN..=MAX` (seconds, Wh, times or items, as the key says).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Int<const MIN: u32, const MAX: u32>(pub(super) u32);

impl<const MIN: u32, const MAX: u32> Setting for Int<MIN, MAX> {
    fn parse(text: &str, _: &Profile) -> Result<Self, Invalid> {
        let value: i64 = text.trim().parse().map_err(|_| Invalid::Format {
            expected: "an integer",
        })?;
        u32::try_from(value)
            .ok()
            .filter(|v| (MIN..=MAX).contains(v))
            .map(Int)
            .ok_or(Invalid::OutOfRange {
                value,
                min: MIN,
                max: MAX,
            })
    }

    fn render(&self) -> Option<String> {
        Some(self.0.to_string())
    }

    fn count(&self) -> Option<u32> {
        Some(self.0)
    }
}

/// Splits a comma-separated list into trimmed entries; `""` is the empty list, an empty entry
/// is an error.
fn entries(text: &str) -> Result<Vec<&str>, Invalid> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let entries: Vec<&str> = text.split(',').map(str::trim).collect();
    if entries.iter().any(|e| e.is_empty()) {
        return Err(Invalid::Format {
            expected: "a comma-separated list without empty entries",
        });
    }
    Ok(entries)
}

/// Joins canonical entries into a comma-separated list.
fn join<T: fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Adds `item` unless it is already there (a repeated list entry means nothing more).
fn push_once<T: PartialEq>(items: &mut Vec<T>, item: T) {
    if !items.contains(&item) {
        items.push(item);
    }
}

/// Finds the enumeration value whose wire name matches `name`, ignoring ASCII case.
fn by_name<T: Copy>(all: &[T], name: &str, wire: impl Fn(T) -> &'static str) -> Option<T> {
    all.iter()
        .copied()
        .find(|v| wire(*v).eq_ignore_ascii_case(name))
}

/// One entry of a measurand list: a measurand, optionally for one phase (`Voltage.L1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SampledMeasurand {
    /// What to sample.
    pub measurand: Measurand,
    /// The phase; `None` = the total (or DC).
    pub phase: Option<Phase>,
}

impl SampledMeasurand {
    /// Reads `Measurand` or `Measurand.Phase` (names as the schema spells them, any ASCII case);
    /// `None` when it is neither.
    pub fn parse(entry: &str) -> Option<SampledMeasurand> {
        let measurand = |name: &str| by_name(Measurand::ALL, name, Measurand::as_str);
        if let Some(measurand) = measurand(entry) {
            return Some(SampledMeasurand {
                measurand,
                phase: None,
            });
        }
        let (name, phase) = entry.rsplit_once('.')?;
        Some(SampledMeasurand {
            measurand: measurand(name)?,
            phase: Some(by_name(Phase::ALL, phase, Phase::as_str)?),
        })
    }
}

impl fmt::Display for SampledMeasurand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.phase {
            Some(phase) => write!(f, "{}.{}", self.measurand, phase),
            None => write!(f, "{}", self.measurand),
        }
    }
}

/// A measurand list (MeterValuesSampledData and the like).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) struct MeasurandList(pub(super) Vec<SampledMeasurand>);

impl MeasurandList {
    /// The main meter register alone, the default of the MeterValues lists.
    pub(super) fn energy_register() -> MeasurandList {
        MeasurandList(vec![SampledMeasurand {
            measurand: Measurand::EnergyActiveImportRegister,
            phase: None,
        }])
    }
}

impl Setting for MeasurandList {
    fn parse(text: &str, profile: &Profile) -> Result<Self, Invalid> {
        let mut list = Vec::new();
        for entry in entries(text)? {
            let item = SampledMeasurand::parse(entry)
                .ok_or_else(|| Invalid::UnknownMeasurand(entry.to_owned()))?;
            let supported = profile.measurands.contains(&item.measurand)
                && item.phase.is_none_or(|p| profile.phases.contains(&p));
            if !supported {
                return Err(Invalid::UnsupportedMeasurand(entry.to_owned()));
            }
            push_once(&mut list, item);
        }
        Ok(MeasurandList(list))
    }

    fn render(&self) -> Option<String> {
        Some(join(&self.0))
    }

    fn items(&self) -> usize {
        self.0.len()
    }
}

/// The order in which a connector's phases are wired, relative to the grid (ConnectorPhaseRotation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PhaseRotation {
    /// Not a three-phase connection (a DC connector).
    NotApplicable,
    /// Not known.
    Unknown,
    /// Standard reference phasing.
    Rst,
    /// Reversed reference phasing.
    Rts,
    /// Reversed 240° rotation.
    Srt,
    /// Standard 120° rotation.
    Str,
    /// Standard 240° rotation.
    Trs,
    /// Reversed 120° rotation.
    Tsr,
}

impl PhaseRotation {
    /// Every value.
    pub const ALL: &'static [PhaseRotation] = &[
        PhaseRotation::NotApplicable,
        PhaseRotation::Unknown,
        PhaseRotation::Rst,
        PhaseRotation::Rts,
        PhaseRotation::Srt,
        PhaseRotation::Str,
        PhaseRotation::Trs,
        PhaseRotation::Tsr,
    ];

    /// The name as the key writes it.
    pub const fn as_str(self) -> &'static str {
        match self {
            PhaseRotation::NotApplicable => "NotApplicable",
            PhaseRotation::Unknown => "Unknown",
            PhaseRotation::Rst => "RST",
            PhaseRotation::Rts => "RTS",
            PhaseRotation::Srt => "SRT",
            PhaseRotation::Str => "STR",
            PhaseRotation::Trs => "TRS",
            PhaseRotation::Tsr => "TSR",
        }
    }
}

/// One ConnectorPhaseRotation entry: `<connector>.<rotation>`, connector 0 being the grid
/// connection of the charge point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnectorRotation {
    /// The connector; 0 = the charge point's grid connection.
    pub connector: u32,
    /// Its phase rotation.
    pub rotation: PhaseRotation,
}

impl fmt::Display for ConnectorRotation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.connector, self.rotation.as_str())
    }
}

/// The ConnectorPhaseRotation list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PhaseRotations(pub(super) Vec<ConnectorRotation>);

impl PhaseRotations {
    /// The grid in standard phasing, every (DC) connector not applicable.
    pub(super) fn for_profile(profile: &Profile) -> PhaseRotations {
        let connectors = (1..=profile.connectors).map(|connector| ConnectorRotation {
            connector,
            rotation: PhaseRotation::NotApplicable,
        });
        let grid = ConnectorRotation {
            connector: 0,
            rotation: PhaseRotation::Rst,
        };
        PhaseRotations(std::iter::once(grid).chain(connectors).collect())
    }
}

impl Setting for PhaseRotations {
    fn parse(text: &str, profile: &Profile) -> Result<Self, Invalid> {
        const EXPECTED: Invalid = Invalid::Format {
            expected: "entries <connector>.<NotApplicable|Unknown|RST|RTS|SRT|STR|TRS|TSR>",
        };
        let mut list: Vec<ConnectorRotation> = Vec::new();
        for entry in entries(text)? {
            let (connector, rotation) = entry.split_once('.').ok_or(EXPECTED)?;
            let connector: u32 = connector.parse().map_err(|_| EXPECTED)?;
            let rotation =
                by_name(PhaseRotation::ALL, rotation, PhaseRotation::as_str).ok_or(EXPECTED)?;
            if connector > profile.connectors {
                return Err(Invalid::UnknownConnector(connector));
            }
            if list.iter().any(|r| r.connector == connector) {
                return Err(Invalid::DuplicateConnector(connector));
            }
            list.push(ConnectorRotation {
                connector,
                rotation,
            });
        }
        Ok(PhaseRotations(list))
    }

    fn render(&self) -> Option<String> {
        Some(join(&self.0))
    }

    fn items(&self) -> usize {
        self.0.len()
    }
}

/// SupportedFeatureProfiles: the OCPP profiles of a feature set.
impl Setting for Features {
    fn parse(text: &str, _: &Profile) -> Result<Self, Invalid> {
        let mut features = Features::CORE;
        for entry in entries(text)? {
            let feature = Feature::ALL
                .iter()
                .copied()
                .filter(|f| f.is_ocpp_profile())
                .find(|f| f.name().eq_ignore_ascii_case(entry))
                .ok_or(Invalid::Format {
                    expected: "profiles among Core, FirmwareManagement, LocalAuthListManagement, \
                               Reservation, SmartCharging, RemoteTrigger",
                })?;
            features = features.with(feature);
        }
        Ok(features)
    }

    fn render(&self) -> Option<String> {
        let names: Vec<&str> = self
            .iter()
            .filter(|f| f.is_ocpp_profile())
            .map(Feature::name)
            .collect();
        Some(names.join(","))
    }

    fn items(&self) -> usize {
        self.iter().filter(|f| f.is_ocpp_profile()).count()
    }
}

/// ChargingScheduleAllowedChargingRateUnit: `Current` (A schedules) and/or `Power` (W schedules).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RateUnits(pub(super) Vec<ChargingRateUnit>);

impl RateUnits {
    fn name(unit: ChargingRateUnit) -> &'static str {
        match unit {
            ChargingRateUnit::A => "Current",
            ChargingRateUnit::W => "Power",
        }
    }

    /// Both units.
    pub(super) fn both() -> RateUnits {
        RateUnits(vec![ChargingRateUnit::A, ChargingRateUnit::W])
    }
}

impl Setting for RateUnits {
    fn parse(text: &str, _: &Profile) -> Result<Self, Invalid> {
        let mut units = Vec::new();
        for entry in entries(text)? {
            let unit =
                by_name(ChargingRateUnit::ALL, entry, RateUnits::name).ok_or(Invalid::Format {
                    expected: "Current and/or Power",
                })?;
            push_once(&mut units, unit);
        }
        if units.is_empty() {
            return Err(Invalid::Format {
                expected: "Current and/or Power",
            });
        }
        Ok(RateUnits(units))
    }

    fn render(&self) -> Option<String> {
        let names: Vec<&str> = self.0.iter().map(|u| RateUnits::name(*u)).collect();
        Some(names.join(","))
    }

    fn items(&self) -> usize {
        self.0.len()
    }
}

/// A file transfer protocol for diagnostics, logs and firmware.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileTransferProtocol {
    /// FTP.
    Ftp,
    /// FTP over TLS.
    Ftps,
    /// HTTP.
    Http,
    /// HTTP over TLS.
    Https,
}

impl FileTransferProtocol {
    /// Every value.
    pub const ALL: &'static [FileTransferProtocol] = &[
        FileTransferProtocol::Ftp,
        FileTransferProtocol::Ftps,
        FileTransferProtocol::Http,
        FileTransferProtocol::Https,
    ];

    /// The name as SupportedFileTransferProtocols writes it.
    pub const fn as_str(self) -> &'static str {
        match self {
            FileTransferProtocol::Ftp => "FTP",
            FileTransferProtocol::Ftps => "FTPS",
            FileTransferProtocol::Http => "HTTP",
            FileTransferProtocol::Https => "HTTPS",
        }
    }
}

/// SupportedFileTransferProtocols.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Protocols(pub(super) Vec<FileTransferProtocol>);

impl Protocols {
    /// The protocols the station's file transfers implement, the secure one first.
    pub(super) fn implemented() -> Protocols {
        Protocols(vec![
            FileTransferProtocol::Https,
            FileTransferProtocol::Http,
        ])
    }
}

impl Setting for Protocols {
    fn parse(text: &str, _: &Profile) -> Result<Self, Invalid> {
        const EXPECTED: Invalid = Invalid::Format {
            expected: "protocols among FTP, FTPS, HTTP, HTTPS",
        };
        let mut protocols = Vec::new();
        for entry in entries(text)? {
            let protocol = by_name(
                FileTransferProtocol::ALL,
                entry,
                FileTransferProtocol::as_str,
            )
            .ok_or(EXPECTED)?;
            push_once(&mut protocols, protocol);
        }
        if protocols.is_empty() {
            return Err(EXPECTED);
        }
        Ok(Protocols(protocols))
    }

    fn render(&self) -> Option<String> {
        let names: Vec<&str> = self.0.iter().map(|p| p.as_str()).collect();
        Some(names.join(","))
    }

    fn items(&self) -> usize {
        self.0.len()
    }
}

/// The security profile of the connection to the central system (whitepaper §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SecurityProfile {
    /// 0: no security defined (the legacy default).
    Unsecured,
    /// 1: HTTP Basic authentication over `ws://`, for trusted networks.
    BasicAuth,
    /// 2: HTTP Basic authentication over TLS with a server certificate.
    TlsBasicAuth,
    /// 3: TLS with client and server certificates.
    TlsClientCertificate,
}

impl SecurityProfile {
    /// Every profile, lowest first.
    pub const ALL: &'static [SecurityProfile] = &[
        SecurityProfile::Unsecured,
        SecurityProfile::BasicAuth,
        SecurityProfile::TlsBasicAuth,
        SecurityProfile::TlsClientCertificate,
    ];

    /// The number OCPP uses (0–3).
    pub const fn level(self) -> u8 {
        self as u8
    }

    /// The profile of a number, if it is one.
    pub fn from_level(level: u8) -> Option<SecurityProfile> {
        SecurityProfile::ALL.get(usize::from(level)).copied()
    }

    /// Whether the charge point authenticates with HTTP Basic (the AuthorizationKey).
    pub const fn uses_basic_auth(self) -> bool {
        matches!(
            self,
            SecurityProfile::BasicAuth | SecurityProfile::TlsBasicAuth
        )
    }

    /// Whether the connection runs over TLS (a CentralSystemRootCertificate is needed).
    pub const fn uses_tls(self) -> bool {
        matches!(
            self,
            SecurityProfile::TlsBasicAuth | SecurityProfile::TlsClientCertificate
        )
    }
}

impl fmt::Display for SecurityProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.level())
    }
}

impl Setting for SecurityProfile {
    fn parse(text: &str, profile: &Profile) -> Result<Self, Invalid> {
        let Int(level) = Int::<0, 3>::parse(text, profile)?;
        u8::try_from(level)
            .ok()
            .and_then(SecurityProfile::from_level)
            .ok_or(Invalid::OutOfRange {
                value: level.into(),
                min: 0,
                max: 3,
            })
    }

    fn render(&self) -> Option<String> {
        Some(self.to_string())
    }
}

/// The HTTP Basic password: 16–20 bytes, possibly binary. Never shown, never debug-printed.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct AuthorizationKey(pub(super) Vec<u8>);

impl AuthorizationKey {
    /// Decodes an even number of hex digits.
    fn from_hex(text: &str) -> Option<Vec<u8>> {
        if !text.len().is_multiple_of(2) || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
            .collect()
    }
}

impl fmt::Debug for AuthorizationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuthorizationKey(<{} bytes, hidden>)", self.0.len())
    }
}

impl Setting for AuthorizationKey {
    /// 32–40 hex digits are decoded to 16–20 bytes; any other text of 16–20 bytes is taken as is
    /// (central systems that send the password in plain text).
    fn parse(text: &str, _: &Profile) -> Result<Self, Invalid> {
        let bytes = match text.len() {
            32..=40 => AuthorizationKey::from_hex(text),
            _ => None,
        }
        .unwrap_or_else(|| text.as_bytes().to_vec());
        if (16..=20).contains(&bytes.len()) {
            Ok(AuthorizationKey(bytes))
        } else {
            Err(Invalid::Format {
                expected: "16 to 20 bytes: 32 to 40 hex digits, or 16 to 20 characters",
            })
        }
    }

    fn render(&self) -> Option<String> {
        None
    }

    fn persist(&self) -> Option<String> {
        Some(self.0.iter().map(|b| format!("{b:02x}")).collect())
    }
}

/// CpoName: the organisation (`O=`) of the charge point certificate's subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct CpoName(pub(super) String);

impl Setting for CpoName {
    /// 1–64 characters (the X.509 limit for an organisation name), no control characters.
    fn parse(text: &str, _: &Profile) -> Result<Self, Invalid> {
        let length = text.chars().count();
        if (1..=64).contains(&length) && !text.chars().any(char::is_control) {
            Ok(CpoName(text.to_owned()))
        } else {
            Err(Invalid::Format {
                expected: "1 to 64 characters without control characters",
            })
        }
    }

    fn render(&self) -> Option<String> {
        Some(self.0.clone())
    }
}

/// A key whose value may be unset (no factory value yet): shown without a value.
impl<T: Setting> Setting for Option<T> {
    fn parse(text: &str, profile: &Profile) -> Result<Self, Invalid> {
        T::parse(text, profile).map(Some)
    }

    fn render(&self) -> Option<String> {
        self.as_ref().and_then(Setting::render)
    }

    fn persist(&self) -> Option<String> {
        self.as_ref().and_then(Setting::persist)
    }

    fn items(&self) -> usize {
        self.as_ref().map_or(0, Setting::items)
    }

    fn count(&self) -> Option<u32> {
        self.as_ref().and_then(Setting::count)
    }
}
