//! Why a profile is refused.

use crate::profile::{Purpose, RateUnit, TransactionId};

/// Why the store refused a profile.
///
/// Every variant but [`Rejection::UnknownConnector`] is a business refusal (OCPP 1.6 answers
/// `Rejected`); an unknown connector is a bad field value, which 1.6 answers with the CALLERROR
/// PropertyConstraintViolation (see [`Rejection::is_violation`]).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// The connector is beyond the station's connectors.
    #[error("connector {0} does not exist")]
    UnknownConnector(u32),
    /// The purpose does not belong on this connector (ChargePointMax on 0 only, Tx not on 0).
    #[error("a {purpose:?} profile cannot be set on connector {connector}")]
    WrongConnector {
        /// The profile's purpose.
        purpose: Purpose,
        /// The connector it was sent for.
        connector: u32,
    },
    /// A ChargePointMax profile may not be Relative: it has no transaction to start from.
    #[error("a ChargePointMax profile cannot be Relative")]
    RelativeStationProfile,
    /// A Tx profile arrived for a connector without a transaction.
    #[error("connector {0} has no transaction")]
    NoTransaction(u32),
    /// A Tx profile names a transaction other than the one running on its connector.
    #[error("transaction {0} is not the one running on this connector")]
    WrongTransaction(TransactionId),
    /// A transaction was named on a profile that is not a Tx profile, or on the profile of a
    /// remote start (whose transaction does not exist yet).
    #[error("this profile may not name a transaction")]
    TransactionNotAllowed,
    /// The stack level is above ChargeProfileMaxStackLevel.
    #[error("stack level {level} is above the maximum of {max}")]
    StackLevelTooHigh {
        /// The profile's level.
        level: u32,
        /// The station's maximum.
        max: u32,
    },
    /// More periods than ChargingScheduleMaxPeriods.
    #[error("{count} periods, at most {max} allowed")]
    TooManyPeriods {
        /// The schedule's periods.
        count: usize,
        /// The station's maximum.
        max: u32,
    },
    /// The schedule has no period.
    #[error("the schedule has no period")]
    NoPeriods,
    /// The unit is not in ChargingScheduleAllowedChargingRateUnit.
    #[error("charging rate unit {0} is not allowed")]
    UnitNotAllowed(RateUnit),
    /// The first period does not start at 0.
    #[error("the first period starts at {0} s, not at 0")]
    FirstPeriodNotZero(u32),
    /// Period starts do not strictly increase.
    #[error("period starts do not increase")]
    PeriodsOutOfOrder,
    /// A limit or minimum rate is negative or not a number.
    #[error("limit {0} is negative or not a number")]
    BadLimit(f64),
    /// A phase count other than 1, 2 or 3.
    #[error("number of phases {0} is not 1, 2 or 3")]
    BadPhases(i64),
    /// A field that counts something is negative.
    #[error("{0} is negative")]
    Negative(&'static str),
    /// A recurrence was given on a profile that is not Recurring.
    #[error("a recurrency kind is only allowed on a Recurring profile")]
    RecurrenceWithoutRecurring,
    /// A Recurring profile without its recurrence.
    #[error("a Recurring profile needs a recurrency kind")]
    RecurringWithoutRecurrence,
    /// An Absolute or Recurring profile without the instant its schedule starts.
    #[error("a {0} profile needs a startSchedule")]
    MissingStartSchedule(&'static str),
    /// The profile of a remote start is not a Tx profile.
    #[error("the profile of a remote start must be a Tx profile")]
    NotTxProfile,
    /// MaxChargingProfilesInstalled profiles are installed (counting those waiting for a remote
    /// start), and this one replaces none of them.
    #[error("{0} profiles are installed already")]
    StoreFull(u32),
}

impl Rejection {
    /// Whether OCPP 1.6 answers this with a CALLERROR PropertyConstraintViolation rather than a
    /// `Rejected` status.
    pub fn is_violation(&self) -> bool {
        matches!(self, Rejection::UnknownConnector(_))
    }
}
