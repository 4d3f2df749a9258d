//! The installed profiles of one station, the rules that admit, replace and clear them, and the
//! transactions they apply to.
//!
//! Connector 0 is the station; connectors 1 to N are its guns. The store learns about
//! transactions from the caller ([`ProfileStore::transaction_started`] and
//! [`ProfileStore::transaction_ended`]) because three rules depend on them: a Tx profile needs a
//! running transaction, a Relative schedule starts with the transaction, and the station limit
//! is shared among the connectors that charge.

use crate::error::Rejection;
use crate::profile::{Kind, Profile, Purpose, RateUnit, TransactionId};
use chrono::{DateTime, TimeDelta, Utc};
use hal::{Volts, Watts};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The electrical supply, for converting between amperes and watts.
///
/// A limit in amperes is a per-phase current: `P = I × voltage × phases`, where `phases` is the
/// period's phase count (3 when absent) but never more than the supply has (a limit on more
/// phases than are usable is not scaled down, OCPP 1.6 errata). For a DC station this reads an
/// ampere limit as the per-phase current of the AC input, so a DC gun's power limit follows from
/// the same formula; central systems that know DC stations send watts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Supply {
    /// Phase-to-neutral voltage (230 V by default). Must be positive.
    pub voltage: Volts,
    /// Phases of the supply, 1 to 3 (3 by default).
    pub phases: u8,
}

impl Default for Supply {
    fn default() -> Self {
        Self {
            voltage: Volts(230.0),
            phases: 3,
        }
    }
}

impl Supply {
    /// The phases a period's limit counts on.
    pub(crate) fn effective_phases(self, period_phases: Option<u8>) -> u8 {
        period_phases
            .unwrap_or(3)
            .clamp(1, 3)
            .min(self.phases.clamp(1, 3))
    }

    /// `limit` in `unit` on `phases` phases, as watts.
    pub(crate) fn watts(self, unit: RateUnit, limit: f64, phases: u8) -> f64 {
        match unit {
            RateUnit::Watts => sane(limit),
            RateUnit::Amps => sane(limit * self.voltage.0 * f64::from(phases)),
        }
    }

    /// `watts` on `phases` phases, in `unit`.
    pub(crate) fn in_unit(self, unit: RateUnit, watts: f64, phases: u8) -> f64 {
        match unit {
            RateUnit::Watts => sane(watts),
            RateUnit::Amps => {
                let per_amp = self.voltage.0 * f64::from(phases);
                if per_amp > 0.0 {
                    sane(watts / per_amp)
                } else {
                    0.0
                }
            }
        }
    }
}

/// A value fit for a JSON number: not NaN (read as 0), not negative, not infinite.
pub(crate) fn sane(value: f64) -> f64 {
    if value.is_nan() || value <= 0.0 {
        0.0
    } else {
        value.min(f64::MAX)
    }
}

/// What the station supports and how big it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Connectors (guns), numbered from 1.
    pub connectors: u32,
    /// ChargeProfileMaxStackLevel: the highest stack level accepted.
    pub max_stack_level: u32,
    /// ChargingScheduleMaxPeriods: periods per schedule.
    pub max_periods: u32,
    /// MaxChargingProfilesInstalled: profiles held at once, including those waiting for the
    /// transaction of a remote start.
    pub max_installed: u32,
    /// ChargingScheduleAllowedChargingRateUnit.
    pub allowed_units: Vec<RateUnit>,
    /// The supply, for converting amperes to watts.
    pub supply: Supply,
    /// The most the station can draw: fills the hours no profile limits in a composite
    /// schedule, and caps the composite of connector 0.
    pub station_power: Watts,
    /// The most each connector can deliver, connector 1 first; a connector without an entry can
    /// deliver the station's power. Caps composite schedules and the shares of the station limit.
    pub connector_power: Vec<Watts>,
    /// The longest composite schedule computed; longer requests are answered for this long.
    pub composite_horizon: TimeDelta,
}

impl Limits {
    /// A station with `connectors` guns and `station_power` in total, with the defaults of the
    /// configuration keys: stack levels up to 10, 48 periods, 32 profiles, both units, 230 V on 3
    /// phases, composite schedules up to 31 days.
    pub fn new(connectors: u32, station_power: Watts) -> Self {
        Self {
            connectors,
            max_stack_level: 10,
            max_periods: 48,
            max_installed: 32,
            allowed_units: vec![RateUnit::Amps, RateUnit::Watts],
            supply: Supply::default(),
            station_power,
            connector_power: Vec::new(),
            composite_horizon: TimeDelta::days(31),
        }
    }

    /// The station's power in watts, fit for arithmetic.
    pub(crate) fn station_rating(&self) -> f64 {
        sane(self.station_power.0)
    }

    /// A connector's power in watts, never above the station's.
    pub(crate) fn connector_rating(&self, connector: u32) -> f64 {
        let own = usize::try_from(connector)
            .ok()
            .and_then(|c| c.checked_sub(1))
            .and_then(|i| self.connector_power.get(i))
            .map_or(self.station_power.0, |w| w.0);
        sane(own).min(self.station_rating())
    }
}

/// A transaction running on a connector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transaction {
    /// The central system's identifier, once it is known.
    pub id: Option<TransactionId>,
    /// When the transaction started: where Relative schedules begin.
    pub started: DateTime<Utc>,
}

impl Transaction {
    /// A transaction started at `started`, known to the central system as `id`.
    pub fn new(started: DateTime<Utc>, id: Option<TransactionId>) -> Self {
        Self { id, started }
    }
}

/// A profile with the connector it was set for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Installed {
    /// 0 for the station, else the connector.
    pub connector: u32,
    /// The profile.
    pub profile: Profile,
}

/// Which profiles a clear request removes (OCPP 1.6 ClearChargingProfile with the errata).
///
/// With an `id`, a profile matches on its id alone; otherwise it matches when every field given
/// matches, and a filter without fields matches every profile. `connector: Some(0)` matches the
/// station-wide profiles (ChargePointMax and connector-0 TxDefault).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClearFilter {
    /// The profile's id.
    pub id: Option<i32>,
    /// The connector the profile was set for.
    pub connector: Option<u32>,
    /// The profile's purpose.
    pub purpose: Option<Purpose>,
    /// The profile's stack level.
    pub stack_level: Option<u32>,
}

impl ClearFilter {
    /// Whether `profile`, set for `connector`, matches.
    pub fn matches(&self, connector: u32, profile: &Profile) -> bool {
        if let Some(id) = self.id {
            return profile.id == id;
        }
        self.connector.is_none_or(|c| c == connector)
            && self.purpose.is_none_or(|p| p == profile.purpose)
            && self.stack_level.is_none_or(|s| s == profile.stack_level)
    }
}

/// What the store keeps across a reboot, as serde data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    installed: Vec<Installed>,
    waiting: Vec<Installed>,
    transactions: Vec<(u32, Transaction)>,
}

/// A station's charging profiles.
#[derive(Debug, Clone)]
pub struct ProfileStore {
    pub(crate) limits: Limits,
    pub(crate) installed: Vec<Installed>,
    /// Tx profiles of remote starts, by connector, waiting for their transaction.
    waiting: BTreeMap<u32, Profile>,
    pub(crate) transactions: BTreeMap<u32, Transaction>,
}

impl ProfileStore {
    /// An empty store for a station with these limits.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            installed: Vec::new(),
            waiting: BTreeMap::new(),
            transactions: BTreeMap::new(),
        }
    }

    /// The station's limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The installed profiles, in the order they were set.
    pub fn profiles(&self) -> &[Installed] {
        &self.installed
    }

    /// The Tx profile waiting for the next transaction on `connector`.
    pub fn waiting(&self, connector: u32) -> Option<&Profile> {
        self.waiting.get(&connector)
    }

    /// The transaction running on `connector`.
    pub fn transaction(&self, connector: u32) -> Option<&Transaction> {
        self.transactions.get(&connector)
    }

    fn check_connector(&self, connector: u32) -> Result<(), Rejection> {
        if connector > self.limits.connectors {
            return Err(Rejection::UnknownConnector(connector));
        }
        Ok(())
    }

    /// Installs `profile` for `connector` (0 = the station) at `now`, after every rule of OCPP
    /// 1.6 §7: the connector exists (else [`Rejection::UnknownConnector`]); ChargePointMax only
    /// on 0 and never Relative; Tx only on a connector with a transaction, and for that
    /// transaction if it names one; a transaction named on Tx profiles only; the checks of
    /// [`Profile::check`]; and room in the store.
    ///
    /// The new profile replaces any profile with the same id and any profile of the same
    /// purpose and stack level on the same connector; profiles that can no longer apply
    /// (past `valid_to`, or an Absolute schedule that has ended) are dropped first.
    pub fn set(
        &mut self,
        connector: u32,
        profile: Profile,
        now: DateTime<Utc>,
    ) -> Result<(), Rejection> {
        self.check_connector(connector)?;
        match profile.purpose {
            Purpose::ChargePointMax => {
                if connector != 0 {
                    return Err(Rejection::WrongConnector {
                        purpose: profile.purpose,
                        connector,
                    });
                }
                if profile.kind == Kind::Relative {
                    return Err(Rejection::RelativeStationProfile);
                }
            }
            Purpose::TxDefault => {}
            Purpose::Tx => {
                if connector == 0 {
                    return Err(Rejection::WrongConnector {
                        purpose: profile.purpose,
                        connector,
                    });
                }
                let Some(transaction) = self.transactions.get(&connector) else {
                    return Err(Rejection::NoTransaction(connector));
                };
                if let Some(wanted) = &profile.transaction
                    && transaction.id.as_ref() != Some(wanted)
                {
                    return Err(Rejection::WrongTransaction(wanted.clone()));
                }
            }
        }
        profile.check(&self.limits)?;
        self.purge(now);
        let kept = self
            .installed
            .iter()
            .filter(|e| !replaces(connector, &profile, e))
            .count()
            + self.waiting.values().filter(|w| w.id != profile.id).count();
        if kept >= self.count_limit() {
            return Err(Rejection::StoreFull(self.limits.max_installed));
        }
        self.installed.retain(|e| !replaces(connector, &profile, e));
        self.waiting.retain(|_, w| w.id != profile.id);
        self.installed.push(Installed { connector, profile });
        Ok(())
    }

    /// Keeps `profile`, the Tx profile of a remote start on `connector`, for the transaction
    /// that starts there next ([`ProfileStore::transaction_started`] installs it). It must be a
    /// Tx profile naming no transaction and pass [`Profile::check`]; it counts towards
    /// MaxChargingProfilesInstalled from now on. A profile already waiting there is replaced.
    pub fn set_for_next_transaction(
        &mut self,
        connector: u32,
        profile: Profile,
    ) -> Result<(), Rejection> {
        self.check_connector(connector)?;
        if profile.purpose != Purpose::Tx {
            return Err(Rejection::NotTxProfile);
        }
        if connector == 0 {
            return Err(Rejection::WrongConnector {
                purpose: profile.purpose,
                connector,
            });
        }
        if profile.transaction.is_some() {
            return Err(Rejection::TransactionNotAllowed);
        }
        profile.check(&self.limits)?;
        let kept = self
            .installed
            .iter()
            .filter(|e| e.profile.id != profile.id)
            .count()
            + self
                .waiting
                .iter()
                .filter(|(c, w)| **c != connector && w.id != profile.id)
                .count();
        if kept >= self.count_limit() {
            return Err(Rejection::StoreFull(self.limits.max_installed));
        }
        self.waiting.retain(|_, w| w.id != profile.id);
        self.waiting.insert(connector, profile);
        Ok(())
    }

    /// Drops the profile waiting for a transaction on `connector` (the remote start was given
    /// up); whether there was one.
    pub fn cancel_next_transaction(&mut self, connector: u32) -> bool {
        self.waiting.remove(&connector).is_some()
    }

    /// A transaction started on `connector`: the profile of its remote start, if one waits,
    /// becomes its Tx profile (replacing as [`ProfileStore::set`] does), and Relative schedules
    /// on this connector begin at `transaction.started`. A transaction still recorded there
    /// ends first.
    pub fn transaction_started(
        &mut self,
        connector: u32,
        transaction: Transaction,
    ) -> Result<(), Rejection> {
        self.check_connector(connector)?;
        if connector == 0 {
            return Err(Rejection::WrongConnector {
                purpose: Purpose::Tx,
                connector,
            });
        }
        self.transaction_ended(connector);
        self.transactions.insert(connector, transaction);
        if let Some(profile) = self.waiting.remove(&connector) {
            self.installed.retain(|e| !replaces(connector, &profile, e));
            self.installed.push(Installed { connector, profile });
        }
        Ok(())
    }

    /// The central system's id of the transaction on `connector` became known (1.6:
    /// StartTransaction.conf); whether a transaction runs there.
    pub fn set_transaction_id(&mut self, connector: u32, id: TransactionId) -> bool {
        match self.transactions.get_mut(&connector) {
            Some(transaction) => {
                transaction.id = Some(id);
                true
            }
            None => false,
        }
    }

    /// The transaction on `connector` ended: its Tx profiles are deleted. Returns how many.
    pub fn transaction_ended(&mut self, connector: u32) -> usize {
        self.transactions.remove(&connector);
        let before = self.installed.len();
        self.installed
            .retain(|e| !(e.connector == connector && e.profile.purpose == Purpose::Tx));
        before - self.installed.len()
    }

    /// Removes the profiles `filter` matches, waiting ones included; returns how many.
    pub fn clear(&mut self, filter: &ClearFilter) -> usize {
        let before = self.installed.len() + self.waiting.len();
        self.installed
            .retain(|e| !filter.matches(e.connector, &e.profile));
        self.waiting.retain(|c, p| !filter.matches(*c, p));
        before - self.installed.len() - self.waiting.len()
    }

    /// Drops the profiles that can no longer apply at or after `now`: past their `valid_to`, or
    /// Absolute with a schedule that has ended.
    pub fn purge(&mut self, now: DateTime<Utc>) {
        self.installed.retain(|e| !expired(&e.profile, now));
    }

    /// What to persist.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            installed: self.installed.clone(),
            waiting: self
                .waiting
                .iter()
                .map(|(c, p)| Installed {
                    connector: *c,
                    profile: p.clone(),
                })
                .collect(),
            transactions: self
                .transactions
                .iter()
                .map(|(c, t)| (*c, t.clone()))
                .collect(),
        }
    }

    /// A store with these limits holding what `snapshot` kept. Entries these limits do not
    /// admit (a connector that is gone, a stack level or unit no longer supported, a purpose on
    /// the wrong connector) are dropped with a warning.
    pub fn restore(limits: Limits, snapshot: Snapshot) -> Self {
        let mut store = Self::new(limits);
        for (connector, transaction) in snapshot.transactions {
            if (1..=store.limits.connectors).contains(&connector) {
                store.transactions.insert(connector, transaction);
            } else {
                tracing::warn!(
                    connector,
                    "dropping a stored transaction of an unknown connector"
                );
            }
        }
        for entry in snapshot.installed {
            match store.admissible(entry.connector, &entry.profile) {
                Ok(()) => store.installed.push(entry),
                Err(reason) => tracing::warn!(
                    id = entry.profile.id,
                    connector = entry.connector,
                    %reason,
                    "dropping a stored charging profile"
                ),
            }
        }
        for entry in snapshot.waiting {
            let fits = (1..=store.limits.connectors).contains(&entry.connector)
                && entry.profile.purpose == Purpose::Tx
                && entry.profile.check(&store.limits).is_ok();
            if fits {
                store.waiting.insert(entry.connector, entry.profile);
            } else {
                tracing::warn!(
                    id = entry.profile.id,
                    connector = entry.connector,
                    "dropping a stored remote-start profile"
                );
            }
        }
        store
    }

    /// Whether a stored profile may stay: the rules of [`ProfileStore::set`] that do not depend
    /// on the moment it was set.
    fn admissible(&self, connector: u32, profile: &Profile) -> Result<(), Rejection> {
        self.check_connector(connector)?;
        let wrong = Rejection::WrongConnector {
            purpose: profile.purpose,
            connector,
        };
        match profile.purpose {
            Purpose::ChargePointMax if connector != 0 => return Err(wrong),
            Purpose::ChargePointMax if profile.kind == Kind::Relative => {
                return Err(Rejection::RelativeStationProfile);
            }
            Purpose::Tx if connector == 0 => return Err(wrong),
            Purpose::Tx if !self.transactions.contains_key(&connector) => {
                return Err(Rejection::NoTransaction(connector));
            }
            _ => {}
        }
        profile.check(&self.limits)
    }

    fn count_limit(&self) -> usize {
        usize::try_from(self.limits.max_installed).unwrap_or(usize::MAX)
    }
}

/// Whether `profile`, set for `connector`, replaces `existing`: the same id, or the same purpose
/// and stack level on the same connector.
fn replaces(connector: u32, profile: &Profile, existing: &Installed) -> bool {
    existing.profile.id == profile.id
        || (existing.connector == connector
            && existing.profile.purpose == profile.purpose
            && existing.profile.stack_level == profile.stack_level)
}

/// Whether `profile` can no longer apply at or after `now`.
fn expired(profile: &Profile, now: DateTime<Utc>) -> bool {
    if profile.valid_to.is_some_and(|to| to <= now) {
        return true;
    }
    match (profile.kind, profile.schedule.duration_s) {
        (Kind::Absolute { start }, Some(duration)) => start
            .checked_add_signed(TimeDelta::seconds(i64::from(duration)))
            .is_some_and(|end| end <= now),
        _ => false,
    }
}

#[cfg(test)]
mod tests;
