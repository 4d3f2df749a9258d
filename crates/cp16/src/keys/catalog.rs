//! The catalogue: every configuration key declared once, with its documentation, value type
//! (ranges are part of the type: `Int<0, 86_400>`), access, the features that bring it, its
//! default and whether a change needs a reboot. The declaration generates [`Key`] and the typed
//! storage of the values; nothing else lists keys.
//!
//! Ranges and defaults not fixed by OCPP are our choices (fact sheet §1). A key of an unsupported
//! feature is absent: GetConfiguration lists it as unknown and ChangeConfiguration answers
//! NotSupported.

use super::profile::{Feature, Features, MAX_CONNECTORS, Profile};
use super::value::{
    AuthorizationKey, CpoName, Int, Invalid, MeasurandList, PhaseRotations, Protocols, RateUnits,
    SecurityProfile, Setting,
};

/// Who may change a key through ChangeConfiguration, and whether GetConfiguration shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    /// Shown, not changeable (`readonly: true`); factory presets may still set it.
    ReadOnly,
    /// Shown and changeable.
    ReadWrite,
    /// Changeable, listed without its value (the AuthorizationKey).
    WriteOnly,
}

/// The largest signed 32-bit number, the limit of OCPP integers.
const I32_MAX: u32 = i32::MAX.unsigned_abs();
/// One day in seconds.
const DAY: u32 = 86_400;

const CORE: Features = Features::CORE;
const LOCAL_AUTH_LIST: Features = Features::NONE.with(Feature::LocalAuthListManagement);
const RESERVATION: Features = Features::NONE.with(Feature::Reservation);
const SMART_CHARGING: Features = Features::NONE.with(Feature::SmartCharging);
const FIRMWARE_OR_SECURITY: Features = Features::NONE
    .with(Feature::FirmwareManagement)
    .with(Feature::Security);
const SECURITY: Features = Features::NONE.with(Feature::Security);

/// `Some(Key::$capacity)` when a capacity key is named, else `None`.
macro_rules! capacity_key {
    () => {
        None
    };
    ($capacity:ident) => {
        Some(Key::$capacity)
    };
}

macro_rules! declare_keys {
    ($(
        $(#[doc = $doc:literal])+
        $key:ident($field:ident): $ty:ty = $default:expr;
            $access:ident, $features:ident, reboot: $reboot:literal $(, capacity: $capacity:ident)?;
    )+) => {
        /// A configuration key, named as OCPP 1.6 (with its errata) and the security whitepaper
        /// spell it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum Key {
            $( $(#[doc = $doc])+ $key, )+
        }

        impl Key {
            /// Every key, in the order GetConfiguration lists them.
            pub const ALL: &'static [Key] = &[$(Key::$key),+];

            /// The name on the wire.
            pub const fn name(self) -> &'static str {
                match self { $(Key::$key => stringify!($key),)+ }
            }

            /// What the key controls, its unit and range.
            pub const fn doc(self) -> &'static str {
                match self { $(Key::$key => concat!($($doc, "\n"),+),)+ }
            }

            /// Who may change it.
            pub const fn access(self) -> Access {
                match self { $(Key::$key => Access::$access,)+ }
            }

            /// The features that bring the key: it exists when any of them is supported.
            pub const fn features(self) -> Features {
                match self { $(Key::$key => $features,)+ }
            }

            /// Whether a change takes effect only after a reboot (ChangeConfiguration then answers
            /// RebootRequired).
            pub const fn reboot_required(self) -> bool {
                match self { $(Key::$key => $reboot,)+ }
            }

            /// The `…MaxLength` key bounding this list's items.
            pub const fn capacity(self) -> Option<Key> {
                match self { $(Key::$key => capacity_key!($($capacity)?),)+ }
            }
        }

        /// The value of every key, typed; `None` = the key is absent.
        #[derive(Debug, Clone, PartialEq)]
        pub(super) struct Values {
            $(pub(super) $field: Option<$ty>,)+
        }

        impl Values {
            /// The defaults for `profile`, with the keys of unsupported features absent.
            pub(super) fn defaults(profile: &Profile) -> Values {
                Values {
                    $($field: profile.features.intersects($features).then(|| {
                        let default: fn(&Profile) -> $ty = $default;
                        default(profile)
                    }),)+
                }
            }

            /// Whether the key exists on this charge point.
            pub(super) fn present(&self, key: Key) -> bool {
                match key { $(Key::$key => self.$field.is_some(),)+ }
            }

            /// The value as GetConfiguration shows it.
            pub(super) fn render(&self, key: Key) -> Option<String> {
                match key { $(Key::$key => self.$field.as_ref().and_then(Setting::render),)+ }
            }

            /// The value as a snapshot keeps it.
            pub(super) fn persist(&self, key: Key) -> Option<String> {
                match key { $(Key::$key => self.$field.as_ref().and_then(Setting::persist),)+ }
            }

            /// Items of a list key (1 for scalars, 0 when absent).
            pub(super) fn items(&self, key: Key) -> usize {
                match key { $(Key::$key => self.$field.as_ref().map_or(0, Setting::items),)+ }
            }

            /// The number held by an integer key.
            pub(super) fn count(&self, key: Key) -> Option<u32> {
                match key { $(Key::$key => self.$field.as_ref().and_then(Setting::count),)+ }
            }

            /// Reads `text` as `key`'s value and stores it if it passes every check; on an error
            /// nothing changes.
            pub(super) fn store(&mut self, key: Key, text: &str, profile: &Profile)
                -> Result<(), Invalid>
            {
                match key {
                    $(Key::$key => {
                        let value = <$ty as Setting>::parse(text, profile)?;
                        self.admit(key, &value)?;
                        self.$field = Some(value);
                    })+
                }
                Ok(())
            }

            /// Checks that the current value of `key` would be read back as itself: the
            /// defaults of a profile pass the same checks as values from the central system.
            pub(super) fn check(&self, key: Key, profile: &Profile) -> Result<(), Invalid> {
                match key {
                    $(Key::$key => {
                        let Some(value) = &self.$field else { return Ok(()) };
                        if let Some(text) = value.persist() {
                            let again = <$ty as Setting>::parse(&text, profile)?;
                            self.admit(key, &again)?;
                        }
                    })+
                }
                Ok(())
            }
        }
    };
}

declare_keys! {
    // Core profile (OCPP 1.6 §9.1 with the errata).

    /// Offline, an unknown idTag may start a transaction; the StartTransaction.conf decides
    /// later (§3.1). Boolean.
    AllowOfflineTxForUnknownId(allow_offline_tx_for_unknown_id): bool = |_| false;
        ReadWrite, CORE, reboot: false;
    /// The authorization cache is used and filled. Boolean.
    AuthorizationCacheEnabled(authorization_cache_enabled): bool = |_| true;
        ReadWrite, CORE, reboot: false;
    /// The idTag of a RemoteStartTransaction is authorized before the transaction starts.
    /// Boolean.
    AuthorizeRemoteTxRequests(authorize_remote_tx_requests): bool = |_| false;
        ReadWrite, CORE, reboot: false;
    /// Clock-aligned meter data period, aligned to midnight UTC; 0 = off. Seconds, 0..=86400.
    ClockAlignedDataInterval(clock_aligned_data_interval): Int<0, DAY> = |_| Int(900);
        ReadWrite, CORE, reboot: false;
    /// Longest time a connector stays Preparing waiting for the plug or an idTag; 0 = no limit.
    /// Seconds, 0..=86400.
    ConnectionTimeOut(connection_timeout): Int<0, DAY> = |_| Int(90);
        ReadWrite, CORE, reboot: false;
    /// Phase rotation per connector as `<connector>.<rotation>` entries, connector 0 being the
    /// grid connection; rotations NotApplicable, Unknown, RST, RTS, SRT, STR, TRS, TSR.
    ConnectorPhaseRotation(connector_phase_rotation): PhaseRotations = PhaseRotations::for_profile;
        ReadWrite, CORE, reboot: false, capacity: ConnectorPhaseRotationMaxLength;
    /// Most entries of ConnectorPhaseRotation. 1..=100, at least one per connector plus the grid.
    ConnectorPhaseRotationMaxLength(connector_phase_rotation_max_length): Int<1, 100> =
        |p| Int(p.connectors.saturating_add(1).max(8));
        ReadOnly, CORE, reboot: false;
    /// Most keys one GetConfiguration may name. Follows from the key set: 100, or the number of
    /// keys if that is larger.
    GetConfigurationMaxKeys(configuration_max_keys): Int<1, 1000> =
        |_| Int(u32::try_from(Key::ALL.len()).unwrap_or(u32::MAX).max(100));
        ReadOnly, CORE, reboot: false;
    /// Idle time before a Heartbeat; BootNotification.conf's `interval` sets it too. Seconds,
    /// 0..=2147483647; the station heartbeats at least daily, so 0 and longer periods mean a day.
    HeartbeatInterval(heartbeat_interval): Int<0, I32_MAX> = |_| Int(300);
        ReadWrite, CORE, reboot: false;
    /// Offline, a transaction may start on an idTag valid in the local list or cache. Boolean.
    LocalAuthorizeOffline(local_authorize_offline): bool = |_| true;
        ReadWrite, CORE, reboot: false;
    /// Online, a transaction starts at once on a locally valid idTag, without waiting for the
    /// central system. Boolean.
    LocalPreAuthorize(local_pre_authorize): bool = |_| false;
        ReadWrite, CORE, reboot: false;
    /// Energy still delivered after the central system invalidated the idTag of a running
    /// transaction. Wh, 0..=2147483647.
    MaxEnergyOnInvalidId(max_energy_on_invalid_id): Int<0, I32_MAX> = |_| Int(0);
        ReadWrite, CORE, reboot: false;
    /// Measurands of clock-aligned MeterValues (`Measurand` or `Measurand.Phase`, comma-separated).
    MeterValuesAlignedData(meter_values_aligned_data): MeasurandList =
        |_| MeasurandList::energy_register();
        ReadWrite, CORE, reboot: false, capacity: MeterValuesAlignedDataMaxLength;
    /// Most entries of MeterValuesAlignedData. 1..=100.
    MeterValuesAlignedDataMaxLength(meter_values_aligned_data_max_length): Int<1, 100> =
        |_| Int(8);
        ReadOnly, CORE, reboot: false;
    /// Measurands of periodic MeterValues during a transaction (`Measurand` or
    /// `Measurand.Phase`, comma-separated).
    MeterValuesSampledData(meter_values_sampled_data): MeasurandList =
        |_| MeasurandList::energy_register();
        ReadWrite, CORE, reboot: false, capacity: MeterValuesSampledDataMaxLength;
    /// Most entries of MeterValuesSampledData. 1..=100.
    MeterValuesSampledDataMaxLength(meter_values_sampled_data_max_length): Int<1, 100> =
        |_| Int(8);
        ReadOnly, CORE, reboot: false;
    /// Period of sampled MeterValues from the start of a transaction; 0 = off. Seconds,
    /// 0..=86400.
    MeterValueSampleInterval(meter_value_sample_interval): Int<0, DAY> = |_| Int(60);
        ReadWrite, CORE, reboot: false;
    /// Time a connector status must hold before it is reported. Seconds, 0..=3600.
    MinimumStatusDuration(minimum_status_duration): Int<0, 3600> = |_| Int(0);
        ReadWrite, CORE, reboot: false;
    /// Connectors of the charge point. Follows from the profile.
    NumberOfConnectors(number_of_connectors): Int<1, MAX_CONNECTORS> = |p| Int(p.connectors);
        ReadOnly, CORE, reboot: false;
    /// Retries of a reset that failed. Times, 0..=10.
    ResetRetries(reset_retries): Int<0, 10> = |_| Int(2);
        ReadWrite, CORE, reboot: false;
    /// An EV-side unplug stops the transaction (reason EVDisconnected); fixed on a DC charger.
    /// Boolean.
    StopTransactionOnEVSideDisconnect(stop_transaction_on_ev_side_disconnect): bool = |_| true;
        ReadOnly, CORE, reboot: false;
    /// A StartTransaction.conf that is not Accepted stops the transaction (DeAuthorized);
    /// otherwise only the energy stops. Boolean.
    StopTransactionOnInvalidId(stop_transaction_on_invalid_id): bool = |_| true;
        ReadWrite, CORE, reboot: false;
    /// Clock-aligned measurands kept for StopTransaction's transactionData (comma-separated;
    /// empty = none).
    StopTxnAlignedData(stop_txn_aligned_data): MeasurandList = |_| MeasurandList::default();
        ReadWrite, CORE, reboot: false, capacity: StopTxnAlignedDataMaxLength;
    /// Most entries of StopTxnAlignedData. 1..=100.
    StopTxnAlignedDataMaxLength(stop_txn_aligned_data_max_length): Int<1, 100> = |_| Int(8);
        ReadOnly, CORE, reboot: false;
    /// Sampled measurands kept for StopTransaction's transactionData (comma-separated; empty =
    /// none).
    StopTxnSampledData(stop_txn_sampled_data): MeasurandList = |_| MeasurandList::default();
        ReadWrite, CORE, reboot: false, capacity: StopTxnSampledDataMaxLength;
    /// Most entries of StopTxnSampledData. 1..=100.
    StopTxnSampledDataMaxLength(stop_txn_sampled_data_max_length): Int<1, 100> = |_| Int(8);
        ReadOnly, CORE, reboot: false;
    /// The supported feature profiles. Follows from the profile.
    SupportedFeatureProfiles(supported_feature_profiles): Features = |p| p.features;
        ReadOnly, CORE, reboot: false;
    /// Tries of a transaction message the central system failed to process (0 acts as 1: a
    /// message is always sent once). Times, 0..=100.
    TransactionMessageAttempts(transaction_message_attempts): Int<0, 100> = |_| Int(3);
        ReadWrite, CORE, reboot: false;
    /// Base of the back-off between tries of a transaction message: try k+1 waits k times this.
    /// Seconds, 0..=86400.
    TransactionMessageRetryInterval(transaction_message_retry_interval): Int<0, DAY> =
        |_| Int(60);
        ReadWrite, CORE, reboot: false;
    /// An EV-side unplug unlocks the connector; false and fixed for a tethered cable. Boolean.
    UnlockConnectorOnEVSideDisconnect(unlock_connector_on_ev_side_disconnect): bool = |_| false;
        ReadOnly, CORE, reboot: false;
    /// WebSocket ping period; 0 = no pings, negative values are rejected. Seconds, 0..=86400.
    /// A change applies from the next connection.
    WebSocketPingInterval(web_socket_ping_interval): Int<0, DAY> = |_| Int(60);
        ReadWrite, CORE, reboot: false;
    /// How long the charge point waits for the answer to one of its CALLs (errata). Seconds,
    /// 1..=3600.
    MessageTimeout(message_timeout): Int<1, 3600> = |_| Int(30);
        ReadWrite, CORE, reboot: false;
    /// Most meter values kept for one StopTransaction's transactionData; middle values are
    /// dropped first, never Transaction.Begin or End (errata). 2..=10000.
    StopTransactionMaxMeterValues(stop_transaction_max_meter_values): Int<2, 10_000> =
        |_| Int(200);
        ReadOnly, CORE, reboot: false;

    // Local authorization list management profile (§9.2).

    /// The local authorization list is used. Boolean.
    LocalAuthListEnabled(local_auth_list_enabled): bool = |_| true;
        ReadWrite, LOCAL_AUTH_LIST, reboot: false;
    /// Most idTags in the local list. 1..=100000.
    LocalAuthListMaxLength(local_auth_list_max_length): Int<1, 100_000> = |_| Int(1000);
        ReadOnly, LOCAL_AUTH_LIST, reboot: false;
    /// Most idTags in one SendLocalList. 1..=100000.
    SendLocalListMaxLength(send_local_list_max_length): Int<1, 100_000> = |_| Int(250);
        ReadOnly, LOCAL_AUTH_LIST, reboot: false;

    // Reservation profile (§9.3).

    /// Connector 0 may be reserved (any connector for the holder). Boolean.
    ReserveConnectorZeroSupported(reserve_connector_zero_supported): bool = |_| true;
        ReadOnly, RESERVATION, reboot: false;

    // Smart charging profile (§9.4).

    /// Highest stackLevel of a charging profile. 0..=1000.
    ChargeProfileMaxStackLevel(charge_profile_max_stack_level): Int<0, 1000> = |_| Int(10);
        ReadOnly, SMART_CHARGING, reboot: false;
    /// Units charging schedules may use: Current (A) and/or Power (W).
    ChargingScheduleAllowedChargingRateUnit(charging_schedule_allowed_charging_rate_unit):
        RateUnits = |_| RateUnits::both();
        ReadOnly, SMART_CHARGING, reboot: false;
    /// Most periods in one charging schedule. 1..=1000.
    ChargingScheduleMaxPeriods(charging_schedule_max_periods): Int<1, 1000> = |_| Int(48);
        ReadOnly, SMART_CHARGING, reboot: false;
    /// Most charging profiles installed at a time. 1..=1000.
    MaxChargingProfilesInstalled(max_charging_profiles_installed): Int<1, 1000> = |_| Int(32);
        ReadOnly, SMART_CHARGING, reboot: false;

    // Firmware management profile (errata) and security extension (whitepaper).

    /// Protocols for diagnostics, logs and firmware (comma-separated, of FTP, FTPS, HTTP, HTTPS):
    /// the station implements HTTPS and HTTP.
    SupportedFileTransferProtocols(supported_file_transfer_protocols): Protocols =
        |_| Protocols::implemented();
        ReadOnly, FIRMWARE_OR_SECURITY, reboot: false;

    // Security extension (whitepaper).

    /// The security profile of the connection, 0..=3; only raised, and only when its
    /// credentials are in place.
    SecurityProfile(security_profile): SecurityProfile = |_| SecurityProfile::Unsecured;
        ReadWrite, SECURITY, reboot: false;
    /// The HTTP Basic password: 16–20 bytes, set as 32–40 hex digits (or 16–20 characters).
    /// Write-only: never shown.
    AuthorizationKey(authorization_key): Option<AuthorizationKey> = |_| None;
        WriteOnly, SECURITY, reboot: false;
    /// A new CentralSystemRootCertificate must be signed by the current one, which stays as a
    /// fallback until the new one connected. Boolean.
    AdditionalRootCertificateCheck(additional_root_certificate_check): bool = |_| false;
        ReadOnly, SECURITY, reboot: false;
    /// Longest certificateChain a CertificateSigned may carry. Characters, 1..=10000.
    CertificateSignedMaxChainSize(certificate_signed_max_chain_size): Int<1, 10_000> =
        |_| Int(10_000);
        ReadOnly, SECURITY, reboot: false;
    /// Most root and CA certificates that can be installed. 1..=1000.
    CertificateStoreMaxLength(certificate_store_max_length): Int<1, 1000> = |_| Int(20);
        ReadOnly, SECURITY, reboot: false;
    /// The organisation (`O=`) of the charge point certificate's subject; 1–64 characters.
    CpoName(cpo_name): Option<CpoName> = |_| None;
        ReadWrite, SECURITY, reboot: false;
}

impl Key {
    /// The key named `name`, compared ignoring ASCII case (keys are case-insensitive strings
    /// in OCPP); `None` for a name that is no key of ours.
    pub fn from_name(name: &str) -> Option<Key> {
        Key::ALL
            .iter()
            .copied()
            .find(|k| k.name().eq_ignore_ascii_case(name))
    }

    /// Whether the value follows from the [`Profile`] alone: such keys cannot be preset, set or
    /// restored.
    pub const fn derived(self) -> bool {
        matches!(
            self,
            Key::NumberOfConnectors | Key::SupportedFeatureProfiles | Key::GetConfigurationMaxKeys
        )
    }

    /// The list key this `…MaxLength` key bounds.
    pub fn bounded_list(self) -> Option<Key> {
        Key::ALL
            .iter()
            .copied()
            .find(|list| list.capacity() == Some(self))
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The most characters a GetConfiguration value may have.
const VALUE_MAX_CHARS: usize = 500;

impl Values {
    /// Checks a parsed value against the other keys: its length on the wire, its list capacity,
    /// and, for a capacity, the list it bounds.
    fn admit<T: Setting>(&self, key: Key, value: &T) -> Result<(), Invalid> {
        if let Some(text) = value.persist() {
            let length = text.chars().count();
            if length > VALUE_MAX_CHARS {
                return Err(Invalid::TooLong { length });
            }
        }
        if let Some(capacity) = key.capacity().and_then(|c| self.count(c)) {
            let items = value.items();
            if items > usize::try_from(capacity).unwrap_or(usize::MAX) {
                return Err(Invalid::TooManyItems { items, capacity });
            }
        }
        if let (Some(list), Some(capacity)) = (key.bounded_list(), value.count()) {
            let items = self.items(list);
            if items > usize::try_from(capacity).unwrap_or(usize::MAX) {
                return Err(Invalid::BelowCurrentLength { capacity, items });
            }
        }
        Ok(())
    }
}
