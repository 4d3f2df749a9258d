//! Charging profiles independent of the OCPP version: a purpose, a stack level, a kind that says
//! where the schedule starts, a validity window and a schedule of limits in amperes or watts.
//!
//! The types make the combinations the protocol forbids unrepresentable where they can: the start
//! of an Absolute or Recurring schedule lives in [`Kind`], so a Relative profile has none and a
//! recurrence cannot be attached to anything but a Recurring profile. What the types cannot say
//! (period order, limits, phase counts) is checked by [`Profile::check`].

use crate::error::Rejection;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// What a profile limits (OCPP 1.6 §3.13.1 and §7.13, ChargingProfilePurposeType).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Purpose {
    /// The whole station's draw over all connectors; installed on connector 0 only.
    ChargePointMax,
    /// The default for transactions: on connector 0 for every connector, or on one connector.
    TxDefault,
    /// One running transaction on one connector; deleted when the transaction ends.
    Tx,
}

/// How often a Recurring schedule repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Recurrence {
    /// Every 24 hours.
    Daily,
    /// Every 7 days.
    Weekly,
}

impl Recurrence {
    /// The length of one cycle.
    pub fn length(self) -> TimeDelta {
        match self {
            Recurrence::Daily => TimeDelta::days(1),
            Recurrence::Weekly => TimeDelta::weeks(1),
        }
    }
}

/// Where a profile's schedule starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Kind {
    /// Once, from `start`.
    Absolute {
        /// The instant period offsets count from.
        start: DateTime<Utc>,
    },
    /// Again every cycle, anchored at `start`'s time of day (and weekday for weekly schedules).
    /// The anchor fixes the phase only: cycles before `start` repeat the schedule too, and the
    /// validity window decides from when it applies.
    Recurring {
        /// Daily or weekly.
        recurrence: Recurrence,
        /// Any instant at which a cycle begins.
        start: DateTime<Utc>,
    },
    /// From the start of the transaction on the connector the profile is applied to.
    Relative,
}

/// The unit of a schedule's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RateUnit {
    /// Amperes per phase (OCPP `A`).
    Amps,
    /// Watts in total (OCPP `W`).
    Watts,
}

impl fmt::Display for RateUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RateUnit::Amps => "A",
            RateUnit::Watts => "W",
        })
    }
}

/// One step of a schedule.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Period {
    /// Seconds from the start of the schedule (or of the recurrence cycle).
    pub start_s: u32,
    /// The limit in the schedule's unit.
    pub limit: f64,
    /// Phases the limit assumes (1 to 3); absent means 3.
    pub phases: Option<u8>,
}

impl Period {
    /// A period on the default phase count.
    pub fn new(start_s: u32, limit: f64) -> Self {
        Self {
            start_s,
            limit,
            phases: None,
        }
    }
}

/// The limits over time of a profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// The unit of every period's limit.
    pub unit: RateUnit,
    /// The periods, by increasing start; the first starts at 0.
    pub periods: Vec<Period>,
    /// How long the schedule lasts, in seconds; absent means until it is replaced (or, for a
    /// Relative profile, until the transaction ends). The last period holds until then.
    pub duration_s: Option<u32>,
    /// The lowest rate the vehicle charges efficiently at; a hint, kept for round trips.
    pub min_rate: Option<f64>,
}

impl Schedule {
    /// A schedule without a duration or minimum rate.
    pub fn new(unit: RateUnit, periods: Vec<Period>) -> Self {
        Self {
            unit,
            periods,
            duration_s: None,
            min_rate: None,
        }
    }
}

/// A transaction's identifier as the central system knows it.
///
/// OCPP 1.6 uses integers and 2.x strings; both are kept as text so one store serves either.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TransactionId(String);

impl TransactionId {
    /// The identifier as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<i32> for TransactionId {
    fn from(value: i32) -> Self {
        Self(value.to_string())
    }
}

impl From<&str> for TransactionId {
    fn from(value: &str) -> Self {
        Self(value.to_string())
    }
}

impl From<String> for TransactionId {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl fmt::Display for TransactionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A charging profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// The central system's identifier; unique over the station.
    pub id: i32,
    /// What the profile limits.
    pub purpose: Purpose,
    /// Precedence within the purpose: the highest level whose schedule is running wins.
    pub stack_level: u32,
    /// Where the schedule starts.
    pub kind: Kind,
    /// The transaction a Tx profile is meant for; only Tx profiles may carry one.
    pub transaction: Option<TransactionId>,
    /// The profile applies from this instant; absent means from when it was received.
    pub valid_from: Option<DateTime<Utc>>,
    /// The profile no longer applies from this instant; absent means until it is replaced.
    pub valid_to: Option<DateTime<Utc>>,
    /// The limits.
    pub schedule: Schedule,
}

impl Profile {
    /// A profile valid at all times and bound to no transaction.
    pub fn new(
        id: i32,
        purpose: Purpose,
        stack_level: u32,
        kind: Kind,
        schedule: Schedule,
    ) -> Self {
        Self {
            id,
            purpose,
            stack_level,
            kind,
            transaction: None,
            valid_from: None,
            valid_to: None,
            schedule,
        }
    }

    /// Checks what the types cannot express, against the station's capabilities: the stack level,
    /// the number of periods, the unit, the first period at 0, increasing period starts, limits
    /// that are numbers and not negative, phase counts of 1 to 3, and a transaction only on a Tx
    /// profile.
    pub fn check(&self, limits: &crate::Limits) -> Result<(), Rejection> {
        if self.transaction.is_some() && self.purpose != Purpose::Tx {
            return Err(Rejection::TransactionNotAllowed);
        }
        if self.stack_level > limits.max_stack_level {
            return Err(Rejection::StackLevelTooHigh {
                level: self.stack_level,
                max: limits.max_stack_level,
            });
        }
        let schedule = &self.schedule;
        if !limits.allowed_units.contains(&schedule.unit) {
            return Err(Rejection::UnitNotAllowed(schedule.unit));
        }
        let count = schedule.periods.len();
        if usize::try_from(limits.max_periods).is_ok_and(|max| count > max) {
            return Err(Rejection::TooManyPeriods {
                count,
                max: limits.max_periods,
            });
        }
        let Some(first) = schedule.periods.first() else {
            return Err(Rejection::NoPeriods);
        };
        if first.start_s != 0 {
            return Err(Rejection::FirstPeriodNotZero(first.start_s));
        }
        if schedule
            .periods
            .windows(2)
            .any(|pair| pair[0].start_s >= pair[1].start_s)
        {
            return Err(Rejection::PeriodsOutOfOrder);
        }
        for period in &schedule.periods {
            if !period.limit.is_finite() || period.limit < 0.0 {
                return Err(Rejection::BadLimit(period.limit));
            }
            if let Some(phases) = period.phases
                && !(1..=3).contains(&phases)
            {
                return Err(Rejection::BadPhases(i64::from(phases)));
            }
        }
        if let Some(rate) = schedule.min_rate
            && (!rate.is_finite() || rate < 0.0)
        {
            return Err(Rejection::BadLimit(rate));
        }
        Ok(())
    }
}
