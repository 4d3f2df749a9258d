//! OCPP 1.6 at the edge: conversions between the 1.6 messages and the store's types, and the
//! three SmartCharging requests answered from a [`ProfileStore`].
//!
//! The 1.6 rules the core types cannot hold are checked while converting (OCPP 1.6 §7 with the
//! errata): a stack level, duration or period start must not be negative, `numberPhases` is 1 to
//! 3, `recurrencyKind` comes only with (and always with) a Recurring profile, and Absolute and
//! Recurring profiles need a `startSchedule`. A Relative profile's `startSchedule` means nothing
//! and is dropped.
//!
//! A bad `connectorId` is a CALLERROR PropertyConstraintViolation ([`Violation`]), not a refusal;
//! so is a GetCompositeSchedule unit the station does not allow or a negative duration.

use crate::composite::CompositeSchedule;
use crate::error::Rejection;
use crate::profile::{Kind, Period, Profile, Purpose, RateUnit, Recurrence, Schedule};
use crate::store::{ClearFilter, ProfileStore};
use chrono::{DateTime, TimeDelta, Utc};
use proto_ocpp::ErrorCode;
use proto_ocpp::v16::{
    ChargingProfile, ChargingProfileKind, ChargingProfilePurpose, ChargingProfileStatus,
    ChargingRateUnit, ChargingSchedule, ChargingSchedulePeriod, ClearChargingProfileRequest,
    ClearChargingProfileStatus, GetCompositeScheduleRequest, GetCompositeScheduleResponse,
    GetCompositeScheduleStatus, RecurrencyKind, SetChargingProfileRequest,
};

/// A request field the CALLERROR PropertyConstraintViolation answers.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Violation {
    /// The connector does not exist.
    #[error("connectorId {0} does not exist")]
    ConnectorId(i32),
    /// GetCompositeSchedule asked for a unit ChargingScheduleAllowedChargingRateUnit lacks.
    #[error("chargingRateUnit {0} is not supported")]
    ChargingRateUnit(ChargingRateUnit),
    /// GetCompositeSchedule asked for a negative duration.
    #[error("duration {0} is negative")]
    Duration(i32),
}

impl Violation {
    /// The CALLERROR code to answer with.
    pub fn error_code(&self) -> ErrorCode {
        ErrorCode::PropertyConstraintViolation
    }
}

/// SetChargingProfile: installs the request's profile and answers `Accepted` or `Rejected` (the
/// reason is logged at debug level); `Err` for a connector that does not exist.
pub fn set(
    store: &mut ProfileStore,
    request: &SetChargingProfileRequest,
    now: DateTime<Utc>,
) -> Result<ChargingProfileStatus, Violation> {
    let connector = connector(store, request.connector_id)?;
    let outcome = profile(&request.cs_charging_profiles)
        .and_then(|profile| store.set(connector, profile, now));
    match outcome {
        Ok(()) => Ok(ChargingProfileStatus::Accepted),
        Err(reason) if reason.is_violation() => Err(Violation::ConnectorId(request.connector_id)),
        Err(reason) => {
            tracing::debug!(
                connector,
                id = request.cs_charging_profiles.charging_profile_id,
                %reason,
                "charging profile rejected"
            );
            Ok(ChargingProfileStatus::Rejected)
        }
    }
}

/// The `chargingProfile` of a RemoteStartTransaction: kept for the transaction that starts next
/// on `connector_id` (see [`ProfileStore::set_for_next_transaction`]). `Err` means the remote
/// start is answered `Rejected`.
pub fn set_for_next_transaction(
    store: &mut ProfileStore,
    connector_id: i32,
    charging_profile: &ChargingProfile,
) -> Result<(), Rejection> {
    let connector = u32::try_from(connector_id).map_err(|_| Rejection::Negative("connectorId"))?;
    store.set_for_next_transaction(connector, profile(charging_profile)?)
}

/// ClearChargingProfile: `Accepted` when a profile was removed, else `Unknown`. With an `id`
/// only the id is matched; otherwise every field given must match (a negative one matches
/// nothing), and none given clears everything.
pub fn clear(
    store: &mut ProfileStore,
    request: &ClearChargingProfileRequest,
) -> ClearChargingProfileStatus {
    let filter = match request.id {
        Some(id) => Some(ClearFilter {
            id: Some(id),
            ..ClearFilter::default()
        }),
        None => clear_filter(request),
    };
    match filter.map(|f| store.clear(&f)) {
        Some(removed) if removed > 0 => ClearChargingProfileStatus::Accepted,
        _ => ClearChargingProfileStatus::Unknown,
    }
}

fn clear_filter(request: &ClearChargingProfileRequest) -> Option<ClearFilter> {
    let connector = match request.connector_id {
        Some(c) => Some(u32::try_from(c).ok()?),
        None => None,
    };
    let stack_level = match request.stack_level {
        Some(s) => Some(u32::try_from(s).ok()?),
        None => None,
    };
    Some(ClearFilter {
        id: None,
        connector,
        purpose: request.charging_profile_purpose.map(purpose),
        stack_level,
    })
}

/// GetCompositeSchedule from `now`. An unknown connector is answered `Rejected`; without a
/// `chargingRateUnit` the schedule is in watts when the station allows them, else amperes. The
/// schedule carries its duration and no `startSchedule` (the response's `scheduleStart` says
/// where it begins, errata).
pub fn composite(
    store: &ProfileStore,
    request: &GetCompositeScheduleRequest,
    now: DateTime<Utc>,
) -> Result<GetCompositeScheduleResponse, Violation> {
    let allowed = &store.limits().allowed_units;
    let unit = match request.charging_rate_unit {
        Some(asked) if allowed.contains(&rate_unit(asked)) => rate_unit(asked),
        Some(asked) => return Err(Violation::ChargingRateUnit(asked)),
        None if allowed.contains(&RateUnit::Watts) || allowed.is_empty() => RateUnit::Watts,
        None => RateUnit::Amps,
    };
    if request.duration < 0 {
        return Err(Violation::Duration(request.duration));
    }
    let schedule = u32::try_from(request.connector_id).ok().and_then(|c| {
        store.composite(
            c,
            now,
            TimeDelta::seconds(i64::from(request.duration)),
            unit,
        )
    });
    let Some(schedule) = schedule else {
        return Ok(GetCompositeScheduleResponse::new(
            GetCompositeScheduleStatus::Rejected,
        ));
    };
    let mut response = GetCompositeScheduleResponse::new(GetCompositeScheduleStatus::Accepted);
    response.connector_id = Some(request.connector_id);
    response.schedule_start = Some(schedule.start.into());
    response.charging_schedule = Some(composite_schedule(&schedule));
    Ok(response)
}

/// A composite schedule as a 1.6 `chargingSchedule` (no `startSchedule`).
pub fn composite_schedule(schedule: &CompositeSchedule) -> ChargingSchedule {
    let mut out = ChargingSchedule::new(
        charging_rate_unit(schedule.unit),
        schedule.periods.iter().map(period_to_v16).collect(),
    );
    out.duration = Some(i32::try_from(schedule.duration_s).unwrap_or(i32::MAX));
    out
}

/// A 1.6 profile as the store's, after the 1.6 rules listed in the module documentation.
pub fn profile(profile: &ChargingProfile) -> Result<Profile, Rejection> {
    let stack_level =
        u32::try_from(profile.stack_level).map_err(|_| Rejection::Negative("stackLevel"))?;
    let source = &profile.charging_schedule;
    let start = source.start_schedule.map(|t| t.to_utc());
    let kind = match (profile.charging_profile_kind, profile.recurrency_kind) {
        (ChargingProfileKind::Recurring, None) => {
            return Err(Rejection::RecurringWithoutRecurrence);
        }
        (_, Some(_)) if profile.charging_profile_kind != ChargingProfileKind::Recurring => {
            return Err(Rejection::RecurrenceWithoutRecurring);
        }
        (ChargingProfileKind::Recurring, Some(recurrency)) => Kind::Recurring {
            recurrence: recurrence(recurrency),
            start: start.ok_or(Rejection::MissingStartSchedule("Recurring"))?,
        },
        (ChargingProfileKind::Absolute, _) => Kind::Absolute {
            start: start.ok_or(Rejection::MissingStartSchedule("Absolute"))?,
        },
        (ChargingProfileKind::Relative, _) => Kind::Relative,
    };
    let duration_s = source
        .duration
        .map(|d| u32::try_from(d).map_err(|_| Rejection::Negative("duration")))
        .transpose()?;
    let periods = source
        .charging_schedule_period
        .iter()
        .map(period)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Profile {
        id: profile.charging_profile_id,
        purpose: purpose(profile.charging_profile_purpose),
        stack_level,
        kind,
        transaction: profile.transaction_id.map(Into::into),
        valid_from: profile.valid_from.map(|t| t.to_utc()),
        valid_to: profile.valid_to.map(|t| t.to_utc()),
        schedule: Schedule {
            unit: rate_unit(source.charging_rate_unit),
            periods,
            duration_s,
            min_rate: source.min_charging_rate,
        },
    })
}

fn period(period: &ChargingSchedulePeriod) -> Result<Period, Rejection> {
    let start_s =
        u32::try_from(period.start_period).map_err(|_| Rejection::Negative("startPeriod"))?;
    let phases = period
        .number_phases
        .map(|n| {
            u8::try_from(n)
                .ok()
                .filter(|n| (1..=3).contains(n))
                .ok_or(Rejection::BadPhases(i64::from(n)))
        })
        .transpose()?;
    Ok(Period {
        start_s,
        limit: period.limit,
        phases,
    })
}

/// The store's profile as a 1.6 profile (what the station would report or persist in 1.6
/// terms). A transaction id that is not a 1.6 integer is left out.
pub fn profile_to_v16(profile: &Profile) -> ChargingProfile {
    let (kind, recurrency, start) = match profile.kind {
        Kind::Absolute { start } => (ChargingProfileKind::Absolute, None, Some(start)),
        Kind::Recurring { recurrence, start } => (
            ChargingProfileKind::Recurring,
            Some(match recurrence {
                Recurrence::Daily => RecurrencyKind::Daily,
                Recurrence::Weekly => RecurrencyKind::Weekly,
            }),
            Some(start),
        ),
        Kind::Relative => (ChargingProfileKind::Relative, None, None),
    };
    let schedule = &profile.schedule;
    let mut out_schedule = ChargingSchedule::new(
        charging_rate_unit(schedule.unit),
        schedule.periods.iter().map(period_to_v16).collect(),
    );
    out_schedule.duration = schedule
        .duration_s
        .map(|d| i32::try_from(d).unwrap_or(i32::MAX));
    out_schedule.start_schedule = start.map(Into::into);
    out_schedule.min_charging_rate = schedule.min_rate;
    let mut out = ChargingProfile::new(
        profile.id,
        i32::try_from(profile.stack_level).unwrap_or(i32::MAX),
        match profile.purpose {
            Purpose::ChargePointMax => ChargingProfilePurpose::ChargePointMaxProfile,
            Purpose::TxDefault => ChargingProfilePurpose::TxDefaultProfile,
            Purpose::Tx => ChargingProfilePurpose::TxProfile,
        },
        kind,
        out_schedule,
    );
    out.transaction_id = profile
        .transaction
        .as_ref()
        .and_then(|id| id.as_str().parse().ok());
    out.recurrency_kind = recurrency;
    out.valid_from = profile.valid_from.map(Into::into);
    out.valid_to = profile.valid_to.map(Into::into);
    out
}

fn period_to_v16(period: &Period) -> ChargingSchedulePeriod {
    let mut out = ChargingSchedulePeriod::new(
        i32::try_from(period.start_s).unwrap_or(i32::MAX),
        period.limit,
    );
    out.number_phases = period.phases.map(i32::from);
    out
}

/// The store's purpose for a 1.6 purpose.
pub fn purpose(purpose: ChargingProfilePurpose) -> Purpose {
    match purpose {
        ChargingProfilePurpose::ChargePointMaxProfile => Purpose::ChargePointMax,
        ChargingProfilePurpose::TxDefaultProfile => Purpose::TxDefault,
        ChargingProfilePurpose::TxProfile => Purpose::Tx,
    }
}

fn recurrence(kind: RecurrencyKind) -> Recurrence {
    match kind {
        RecurrencyKind::Daily => Recurrence::Daily,
        RecurrencyKind::Weekly => Recurrence::Weekly,
    }
}

/// The store's unit for a 1.6 unit.
pub fn rate_unit(unit: ChargingRateUnit) -> RateUnit {
    match unit {
        ChargingRateUnit::A => RateUnit::Amps,
        ChargingRateUnit::W => RateUnit::Watts,
    }
}

/// The 1.6 unit for the store's unit.
pub fn charging_rate_unit(unit: RateUnit) -> ChargingRateUnit {
    match unit {
        RateUnit::Amps => ChargingRateUnit::A,
        RateUnit::Watts => ChargingRateUnit::W,
    }
}

/// Parses ChargingScheduleAllowedChargingRateUnit (`Current` for amperes, `Power` for watts,
/// comma-separated, spaces allowed); `None` for an unknown item or an empty list.
pub fn parse_allowed_units(value: &str) -> Option<Vec<RateUnit>> {
    let mut units = Vec::new();
    for item in value.split(',').map(str::trim) {
        let unit = match item {
            "Current" => RateUnit::Amps,
            "Power" => RateUnit::Watts,
            _ => return None,
        };
        if !units.contains(&unit) {
            units.push(unit);
        }
    }
    Some(units)
}

/// ChargingScheduleAllowedChargingRateUnit's value for `units`.
pub fn format_allowed_units(units: &[RateUnit]) -> String {
    units
        .iter()
        .map(|u| match u {
            RateUnit::Amps => "Current",
            RateUnit::Watts => "Power",
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Checks a SetChargingProfile `connectorId`.
fn connector(store: &ProfileStore, connector_id: i32) -> Result<u32, Violation> {
    u32::try_from(connector_id)
        .ok()
        .filter(|c| *c <= store.limits().connectors)
        .ok_or(Violation::ConnectorId(connector_id))
}

#[cfg(test)]
mod tests;
