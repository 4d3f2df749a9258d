//! The configuration key set of the charge point: GetConfiguration, ChangeConfiguration, typed
//! values for the station, factory presets and persistence.
//!
//! Every key is declared once in `catalog` with its documentation, value type and range, access,
//! features, default and reboot flag. [`Keys`] holds the typed values of one charge point:
//!
//! - [`Keys::new`] takes the [`Profile`] (connectors, features, what the meters measure); keys of
//!   unsupported features are absent.
//! - [`Keys::preset`] applies factory settings from the station's own configuration file,
//!   read-only keys included; they are not part of snapshots.
//! - [`Keys::get`] and [`Keys::change`] answer GetConfiguration and ChangeConfiguration; the
//!   station passes the [`SecurityFacts`] the SecurityProfile rule needs.
//! - [`Keys::set`] is the station's own write (HeartbeatInterval from BootNotification.conf, a
//!   security-profile fallback): it bypasses access rules but not validation.
//! - [`Keys::snapshot`] and [`Keys::restore`] persist what changed at run time; restoring checks
//!   every value again and skips (and reports) bad ones, so a damaged file cannot stop a boot.
//!
//! Key names compare ignoring ASCII case, as OCPP types them as case-insensitive strings; answers
//! spell them as the specification does. The AuthorizationKey is never shown: GetConfiguration
//! lists it without a value and no `Debug` output or error contains it. Snapshots do keep it (as
//! hex), so the station stores them readable by itself only.
//!
//! Typical order at start-up: `Keys::new(profile)`, `preset` for each factory setting, then
//! `restore(snapshot)`; after every accepted change, save `snapshot()`.

mod accessors;
mod catalog;
mod profile;
mod value;

#[cfg(test)]
mod tests;

pub use catalog::{Access, Key};
pub use profile::{Feature, Features, MAX_CONNECTORS, Profile, SecurityFacts};
pub use value::{
    ConnectorRotation, FileTransferProtocol, Invalid, PhaseRotation, SampledMeasurand,
    SecurityProfile,
};

use catalog::Values;
use proto_ocpp::v16::{
    ConfigurationStatus, GetConfigurationRequest, GetConfigurationResponse, KeyValue,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use value::Setting;

/// Why a key could not be set. ChangeConfiguration answers NotSupported for
/// [`KeyError::Unknown`] and Rejected for everything else ([`KeyError::status`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// No such key on this charge point (unknown, or of an unsupported feature).
    #[error("`{0}` is not a configuration key of this charge point")]
    Unknown(String),
    /// The key is read-only for the central system.
    #[error("{0} is read-only")]
    ReadOnly(Key),
    /// The key follows from the charge point's profile.
    #[error("{0} follows from the charge point's profile and cannot be set")]
    Derived(Key),
    /// The value was refused.
    #[error("invalid {key}: {reason}")]
    Invalid {
        /// The key.
        key: Key,
        /// Why.
        reason: Invalid,
    },
    /// A SecurityProfile that does not raise the current one (no downgrade over OCPP).
    #[error("security profile {requested} does not raise the current profile {current}")]
    SecurityDowngrade {
        /// The profile in use.
        current: SecurityProfile,
        /// The profile asked for.
        requested: SecurityProfile,
    },
    /// Security profile 1 or 2 without an AuthorizationKey.
    #[error("security profile {0} needs an AuthorizationKey")]
    MissingAuthorizationKey(SecurityProfile),
    /// Security profile 2 or 3 without a CentralSystemRootCertificate.
    #[error("security profile {0} needs a central system root certificate")]
    MissingCentralSystemRootCertificate(SecurityProfile),
    /// Security profile 3 without a charge point certificate.
    #[error("security profile {0} needs a charge point certificate")]
    MissingChargePointCertificate(SecurityProfile),
}

impl KeyError {
    /// The ChangeConfiguration answer for this error.
    pub fn status(&self) -> ConfigurationStatus {
        match self {
            KeyError::Unknown(_) => ConfigurationStatus::NotSupported,
            _ => ConfigurationStatus::Rejected,
        }
    }
}

/// A GetConfiguration naming more keys than GetConfigurationMaxKeys; the station answers with
/// CALLERROR OccurenceConstraintViolation (fact sheet §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{requested} keys requested, at most {max} per GetConfiguration")]
pub struct TooManyKeys {
    /// Keys named in the request.
    pub requested: usize,
    /// GetConfigurationMaxKeys.
    pub max: u32,
}

/// What changed at run time, by key name, as the snapshot file keeps it. Values are the wire
/// strings (the AuthorizationKey as hex); numbers and booleans are accepted too, so a
/// hand-edited file still loads.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Snapshot(BTreeMap<String, serde_json::Value>);

impl Snapshot {
    /// Keys in the snapshot.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether nothing was changed.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether the snapshot holds `key` (compared exactly).
    pub fn contains(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }
}

impl FromIterator<(String, String)> for Snapshot {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(entries: I) -> Snapshot {
        Snapshot(
            entries
                .into_iter()
                .map(|(k, v)| (k, serde_json::Value::String(v)))
                .collect(),
        )
    }
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hidden = serde_json::Value::String("<hidden>".to_owned());
        f.debug_map()
            .entries(self.0.iter().map(|(key, value)| {
                let secret = Key::from_name(key).is_some_and(|k| k.access() == Access::WriteOnly);
                (key, if secret { &hidden } else { value })
            }))
            .finish()
    }
}

/// The configuration keys of one charge point.
#[derive(Debug, Clone, PartialEq)]
pub struct Keys {
    profile: Profile,
    values: Values,
    /// Keys changed at run time (by the central system or the station): what snapshots keep.
    changed: BTreeSet<Key>,
}

impl Keys {
    /// The keys of a charge point with `profile`, at their defaults. Core is always supported.
    ///
    /// # Errors
    /// When a default does not hold for the profile: more than [`MAX_CONNECTORS`] or no
    /// connectors (NumberOfConnectors), or Energy.Active.Import.Register not among its
    /// measurands (the MeterValues lists).
    pub fn new(mut profile: Profile) -> Result<Keys, KeyError> {
        profile.features = profile.features.with(Feature::Core);
        let values = Values::defaults(&profile);
        for &key in Key::ALL {
            values
                .check(key, &profile)
                .map_err(|reason| KeyError::Invalid { key, reason })?;
        }
        Ok(Keys {
            profile,
            values,
            changed: BTreeSet::new(),
        })
    }

    /// The profile the keys were made for.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// The key named `name` if this charge point has it (names compare ignoring ASCII case).
    pub fn find(&self, name: &str) -> Option<Key> {
        Key::from_name(name).filter(|k| self.values.present(*k))
    }

    /// The keys this charge point has, in GetConfiguration order.
    pub fn keys(&self) -> impl Iterator<Item = Key> + '_ {
        Key::ALL.iter().copied().filter(|k| self.values.present(*k))
    }

    /// The value as GetConfiguration shows it; `None` for an absent key, an unset value or the
    /// write-only AuthorizationKey.
    pub fn value(&self, key: Key) -> Option<String> {
        match key.access() {
            Access::WriteOnly => None,
            Access::ReadOnly | Access::ReadWrite => self.values.render(key),
        }
    }

    /// The GetConfiguration entry of a present key.
    fn entry(&self, key: Key) -> KeyValue {
        KeyValue {
            key: key.name().to_owned(),
            readonly: key.access() == Access::ReadOnly,
            value: self.value(key),
        }
    }

    /// Answers GetConfiguration: no key list (or an empty one) = every key; known keys in
    /// `configurationKey` (write-only ones without a value), the others in `unknownKey` as
    /// requested. A key named twice is answered once. Empty lists are left out.
    ///
    /// # Errors
    /// More keys named than GetConfigurationMaxKeys.
    pub fn get(
        &self,
        request: &GetConfigurationRequest,
    ) -> Result<GetConfigurationResponse, TooManyKeys> {
        let requested = request.key.as_deref().unwrap_or_default();
        let max = self.configuration_max_keys();
        if requested.len() > usize::try_from(max).unwrap_or(usize::MAX) {
            return Err(TooManyKeys {
                requested: requested.len(),
                max,
            });
        }
        let mut known: Vec<Key> = Vec::new();
        let mut unknown: Vec<String> = Vec::new();
        if requested.is_empty() {
            known.extend(self.keys());
        }
        for name in requested {
            match self.find(name) {
                Some(key) if !known.contains(&key) => known.push(key),
                Some(_) => {}
                None if !unknown.contains(name) => unknown.push(name.clone()),
                None => {}
            }
        }
        let configuration_key: Vec<KeyValue> = known.into_iter().map(|k| self.entry(k)).collect();
        Ok(GetConfigurationResponse {
            configuration_key: (!configuration_key.is_empty()).then_some(configuration_key),
            unknown_key: (!unknown.is_empty()).then_some(unknown),
        })
    }

    /// Answers ChangeConfiguration: Accepted (in effect now), RebootRequired (stored, in effect
    /// after a reboot), NotSupported (no such key) or Rejected (read-only, bad format or range,
    /// unsupported measurand, list over its capacity, SecurityProfile rule). On Rejected nothing
    /// changes. [`Keys::try_change`] tells what changed, or why not.
    pub fn change(&mut self, key: &str, value: &str, facts: &SecurityFacts) -> ConfigurationStatus {
        self.try_change(key, value, facts)
            .map_or_else(|e| e.status(), Key::accepted_status)
    }

    /// ChangeConfiguration with the changed key, so the station can act on it (reschedule the
    /// heartbeat, reconnect after an AuthorizationKey or SecurityProfile change, …).
    ///
    /// SecurityProfile is only raised (§9): a value not above the current one is rejected, as is
    /// profile 1 or 2 without an AuthorizationKey, 2 or 3 without a CentralSystemRootCertificate
    /// and 3 without a charge point certificate (`facts`).
    ///
    /// # Errors
    /// Why the change was refused; nothing changed.
    pub fn try_change(
        &mut self,
        key: &str,
        value: &str,
        facts: &SecurityFacts,
    ) -> Result<Key, KeyError> {
        let key = self
            .find(key)
            .ok_or_else(|| KeyError::Unknown(key.to_owned()))?;
        if key.access() == Access::ReadOnly {
            return Err(KeyError::ReadOnly(key));
        }
        if key == Key::SecurityProfile {
            self.check_raise(value, facts)?;
        }
        self.store(key, value)?;
        self.changed.insert(key);
        Ok(key)
    }

    /// The §9 rule for a new SecurityProfile from the central system.
    fn check_raise(&self, value: &str, facts: &SecurityFacts) -> Result<(), KeyError> {
        let requested =
            SecurityProfile::parse(value, &self.profile).map_err(|reason| KeyError::Invalid {
                key: Key::SecurityProfile,
                reason,
            })?;
        let current = self.security_profile();
        if requested <= current {
            return Err(KeyError::SecurityDowngrade { current, requested });
        }
        if requested.uses_basic_auth() && self.authorization_key().is_none() {
            return Err(KeyError::MissingAuthorizationKey(requested));
        }
        if requested.uses_tls() && !facts.central_system_root_certificate {
            return Err(KeyError::MissingCentralSystemRootCertificate(requested));
        }
        if requested == SecurityProfile::TlsClientCertificate && !facts.charge_point_certificate {
            return Err(KeyError::MissingChargePointCertificate(requested));
        }
        Ok(())
    }

    /// Stores a value after every check of its key; derived keys are refused.
    fn store(&mut self, key: Key, value: &str) -> Result<(), KeyError> {
        if !self.values.present(key) {
            return Err(KeyError::Unknown(key.name().to_owned()));
        }
        if key.derived() {
            return Err(KeyError::Derived(key));
        }
        self.values
            .store(key, value, &self.profile)
            .map_err(|reason| KeyError::Invalid { key, reason })
    }

    /// A factory setting from the station's configuration file, read-only keys included (e.g.
    /// LocalAuthListMaxLength, SecurityProfile, AuthorizationKey). Checked like a change from
    /// the central system, except for access and the SecurityProfile rule; not kept in
    /// snapshots, as the file is read again at every start.
    ///
    /// # Errors
    /// An unknown or derived key, or a value its key refuses.
    pub fn preset(&mut self, key: &str, value: &str) -> Result<(), KeyError> {
        let key = self
            .find(key)
            .ok_or_else(|| KeyError::Unknown(key.to_owned()))?;
        self.store(key, value)
    }

    /// The station's own write: bypasses access and the SecurityProfile rule (so the station can
    /// fall back to the previous profile when the new one fails, A05), keeps every other check,
    /// and is kept in snapshots.
    ///
    /// # Errors
    /// An absent or derived key, or a value its key refuses.
    pub fn set(&mut self, key: Key, value: &str) -> Result<(), KeyError> {
        self.store(key, value)?;
        self.changed.insert(key);
        Ok(())
    }

    /// HeartbeatInterval from BootNotification.conf's `interval` (seconds).
    ///
    /// # Errors
    /// A negative interval.
    pub fn set_heartbeat_interval(&mut self, interval_seconds: i32) -> Result<(), KeyError> {
        self.set(Key::HeartbeatInterval, &interval_seconds.to_string())
    }

    /// The keys changed at run time with their values, for the station to save.
    pub fn snapshot(&self) -> Snapshot {
        self.changed
            .iter()
            .filter_map(|&key| Some((key.name().to_owned(), self.values.persist(key)?)))
            .collect()
    }

    /// Applies a saved snapshot (after `new` and the presets). Every value is checked as by
    /// [`Keys::set`]; a SecurityProfile below the current one is refused (a damaged or altered
    /// file must not lower security). Bad entries are skipped and returned; the rest apply.
    /// Capacities are applied before the lists they bound.
    pub fn restore(&mut self, snapshot: &Snapshot) -> Vec<KeyError> {
        let is_capacity =
            |name: &str| Key::from_name(name).is_some_and(|k| k.bounded_list().is_some());
        let (capacities, others): (Vec<_>, Vec<_>) =
            snapshot.0.iter().partition(|(name, _)| is_capacity(name));
        capacities
            .into_iter()
            .chain(others)
            .filter_map(|(name, value)| self.restore_one(name, value).err())
            .collect()
    }

    fn restore_one(&mut self, name: &str, value: &serde_json::Value) -> Result<(), KeyError> {
        let key = self
            .find(name)
            .ok_or_else(|| KeyError::Unknown(name.to_owned()))?;
        let text = match value {
            serde_json::Value::String(text) => text.clone(),
            serde_json::Value::Number(number) => number.to_string(),
            serde_json::Value::Bool(flag) => flag.to_string(),
            _ => {
                return Err(KeyError::Invalid {
                    key,
                    reason: Invalid::Format {
                        expected: "a string, number or boolean",
                    },
                });
            }
        };
        if key == Key::SecurityProfile {
            let requested = SecurityProfile::parse(&text, &self.profile)
                .map_err(|reason| KeyError::Invalid { key, reason })?;
            let current = self.security_profile();
            if requested < current {
                return Err(KeyError::SecurityDowngrade { current, requested });
            }
        }
        self.set(key, &text)
    }
}

impl Key {
    /// The ChangeConfiguration answer once this key was changed: RebootRequired or Accepted.
    pub fn accepted_status(self) -> ConfigurationStatus {
        if self.reboot_required() {
            ConfigurationStatus::RebootRequired
        } else {
            ConfigurationStatus::Accepted
        }
    }
}
