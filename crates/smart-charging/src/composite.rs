//! What the installed profiles mean over time: the composite schedule of a connector, the power
//! limit a gun applies now, and when that limit changes next.
//!
//! At every instant, per purpose, the valid profile with the highest stack level whose schedule
//! is running rules; when its schedule ends (duration, or a gap in a recurrence cycle) the next
//! lower level rules, and with none left the purpose sets no limit (OCPP 1.6 errata). On a
//! connector, a Tx profile beats every TxDefault profile; the connector's own TxDefault profiles
//! beat those set on connector 0 (at each instant, the connector-0 ones rule only while none of
//! the connector's own runs). The result is capped by the station's ChargePointMax profiles and
//! by the ratings in [`Limits`](crate::Limits).
//!
//! Limits are compared in watts (see [`Supply`](crate::Supply) for the conversion) and
//! converted to the requested unit at the end. Composite periods are whole seconds from the
//! schedule's start, the current second: a change inside a second shows from the next one.

use crate::profile::{Kind, Period, Profile, Purpose, RateUnit};
use crate::store::{Installed, ProfileStore, Supply, sane};
use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use hal::Watts;

/// How far ahead [`ProfileStore::next_change`] looks: a week and a day, so that a weekly
/// recurrence always shows its next change.
const LOOKAHEAD: TimeDelta = TimeDelta::days(8);

/// The longest composite schedule whatever the configured horizon, so that a daily recurrence
/// cannot make one unbounded.
const LONGEST_COMPOSITE: TimeDelta = TimeDelta::days(366);

/// A composite schedule: the limits one connector (or the whole station) will see.
#[derive(Debug, Clone, PartialEq)]
pub struct CompositeSchedule {
    /// The instant periods count from: the request's time, to the second.
    pub start: DateTime<Utc>,
    /// How long the schedule covers, in seconds (the request's duration, at most the
    /// composite horizon).
    pub duration_s: u32,
    /// The unit of every limit.
    pub unit: RateUnit,
    /// The periods, the first at 0; limits are rounded down to one decimal.
    pub periods: Vec<Period>,
}

/// The power limit a connector applies now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    /// The most the connector may draw.
    pub power: Watts,
    /// The purpose whose limit binds: ChargePointMax when the connector's share of the station
    /// limit is the lowest.
    pub purpose: Purpose,
}

/// A limit in watts at one instant.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Value {
    watts: f64,
    /// The phases the limit counts on, for converting it back to amperes.
    phases: u8,
    /// The purpose it comes from; `None` for a rating.
    purpose: Option<Purpose>,
}

impl Value {
    fn min(self, other: Value) -> Value {
        if other.watts < self.watts {
            other
        } else {
            self
        }
    }
}

impl ProfileStore {
    /// The composite schedule of `connector` from `now` (to the second) for `duration` (at most
    /// the composite horizon, and never more than 366 days), in `unit`; `None` for an unknown
    /// connector.
    ///
    /// For a connector: per instant, the lowest of the ChargePointMax limit, its Tx (else
    /// TxDefault) limit and its rating. For connector 0, the expected total grid draw: the lowest
    /// of the ChargePointMax limit, the station's rating and the sum over all connectors of each
    /// one's Tx-or-TxDefault limit capped by its rating (idle connectors count at the default a
    /// new transaction would get). Relative schedules run only on connectors with a
    /// transaction.
    pub fn composite(
        &self,
        connector: u32,
        now: DateTime<Utc>,
        duration: TimeDelta,
        unit: RateUnit,
    ) -> Option<CompositeSchedule> {
        if connector > self.limits.connectors {
            return None;
        }
        let start = now.trunc_subsecs(0);
        let length = duration
            .min(self.limits.composite_horizon)
            .min(LONGEST_COMPOSITE)
            .max(TimeDelta::zero());
        // At most 366 days: fits.
        let duration_s = u32::try_from(length.num_seconds()).unwrap_or(0);
        let end = start
            .checked_add_signed(TimeDelta::seconds(i64::from(duration_s)))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        let mut instants = Vec::new();
        for entry in &self.installed {
            let anchors = self.anchors(entry);
            breakpoints(&entry.profile, &anchors, start, end, &mut instants);
        }
        let mut offsets: Vec<u32> = instants
            .iter()
            .filter_map(|t| ceil_seconds(start, *t))
            .filter(|o| *o < duration_s)
            .collect();
        offsets.push(0);
        offsets.sort_unstable();
        offsets.dedup();
        let mut periods: Vec<Period> = Vec::new();
        for offset in offsets {
            let Some(t) = start.checked_add_signed(TimeDelta::seconds(i64::from(offset))) else {
                break;
            };
            let value = self.composite_value(connector, t);
            let limit =
                round_down_tenth(self.limits.supply.in_unit(unit, value.watts, value.phases));
            let phases = (unit == RateUnit::Amps && value.phases != 3).then_some(value.phases);
            if periods
                .last()
                .is_some_and(|p| p.limit == limit && p.phases == phases)
            {
                continue;
            }
            periods.push(Period {
                start_s: offset,
                limit,
                phases,
            });
        }
        Some(CompositeSchedule {
            start,
            duration_s,
            unit,
            periods,
        })
    }

    /// The power limit of `connector` at `now`, or `None` when no profile limits it (connector 0:
    /// the ChargePointMax limit itself).
    ///
    /// Without a ChargePointMax limit, this is the connector's Tx (else TxDefault) limit. With
    /// one, the station limit is shared among the connectors that have a transaction (and
    /// `connector` itself): max-min fair, each capped by its own Tx-or-TxDefault limit and its
    /// rating, so what a capped connector cannot use goes to the others in equal parts. The
    /// shares of the connectors with a transaction add up to at most the station limit. Any
    /// change to the store (a profile set or cleared, a transaction started or ended) can
    /// change every connector's limit: read them all again after one.
    pub fn limit_at(&self, connector: u32, now: DateTime<Utc>) -> Option<Limit> {
        if connector > self.limits.connectors {
            return None;
        }
        let station = self.station_value(now);
        if connector == 0 {
            return station.map(to_limit);
        }
        let own = self.connector_value(connector, now);
        let Some(station) = station else {
            return own.map(to_limit);
        };
        let mut sharing: Vec<u32> = self.transactions.keys().copied().collect();
        if !sharing.contains(&connector) {
            sharing.push(connector);
        }
        let caps: Vec<f64> = sharing
            .iter()
            .map(|c| {
                let rating = self.limits.connector_rating(*c);
                self.connector_value(*c, now)
                    .map_or(rating, |v| v.watts.min(rating))
            })
            .collect();
        let shares = water_fill(station.watts, &caps);
        let share = sharing
            .iter()
            .position(|c| *c == connector)
            .and_then(|i| shares.get(i).copied())
            .unwrap_or(0.0);
        match own {
            Some(own) if own.watts <= share => Some(to_limit(own)),
            _ => Some(Limit {
                power: Watts(share),
                purpose: Purpose::ChargePointMax,
            }),
        }
    }

    /// The first instant after `now` at which [`ProfileStore::limit_at`] of `connector` differs
    /// from its value at `now`, if the profiles installed make one. Looks eight days ahead; when
    /// nothing changes in that time but a profile still could (a recurrence, a later validity
    /// bound), the end of that look-ahead is returned so the caller evaluates again then.
    /// Changes to the store are not foreseen: evaluate again after each.
    pub fn next_change(&self, connector: u32, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if connector > self.limits.connectors {
            return None;
        }
        let horizon = now
            .checked_add_signed(LOOKAHEAD)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        let mut instants = Vec::new();
        for entry in &self.installed {
            let anchors = self.anchors(entry);
            breakpoints(&entry.profile, &anchors, now, horizon, &mut instants);
        }
        instants.sort_unstable();
        instants.dedup();
        let current = self.limit_at(connector, now);
        if let Some(t) = instants
            .into_iter()
            .find(|t| self.limit_at(connector, *t) != current)
        {
            return Some(t);
        }
        let later = self.installed.iter().any(|entry| {
            let anchors = self.anchors(entry);
            changes_after(&entry.profile, &anchors, horizon)
        });
        later.then_some(horizon)
    }

    /// The starts of the transactions a Relative schedule of `entry` would run from.
    fn anchors(&self, entry: &Installed) -> Vec<DateTime<Utc>> {
        if entry.profile.kind != Kind::Relative {
            return Vec::new();
        }
        if entry.connector == 0 {
            self.transactions.values().map(|t| t.started).collect()
        } else {
            self.transactions
                .get(&entry.connector)
                .map(|t| t.started)
                .into_iter()
                .collect()
        }
    }

    /// The ChargePointMax limit at `t`.
    fn station_value(&self, t: DateTime<Utc>) -> Option<Value> {
        self.ruling(
            |e| e.connector == 0 && e.profile.purpose == Purpose::ChargePointMax,
            t,
            None,
        )
    }

    /// The Tx limit of `connector` at `t`, else its TxDefault limit, else connector 0's.
    fn connector_value(&self, connector: u32, t: DateTime<Utc>) -> Option<Value> {
        let transaction = self.transactions.get(&connector);
        let anchor = transaction.map(|tx| tx.started);
        if let Some(tx) = transaction {
            let for_this = self.ruling(
                |e| {
                    e.connector == connector
                        && e.profile.purpose == Purpose::Tx
                        && e.profile
                            .transaction
                            .as_ref()
                            .is_none_or(|id| tx.id.as_ref() == Some(id))
                },
                t,
                anchor,
            );
            if for_this.is_some() {
                return for_this;
            }
        }
        let default_on = |c: u32| {
            move |e: &Installed| e.connector == c && e.profile.purpose == Purpose::TxDefault
        };
        self.ruling(default_on(connector), t, anchor)
            .or_else(|| self.ruling(default_on(0), t, anchor))
    }

    /// The limit of the highest stack level running at `t` among the profiles `which` selects
    /// (the lowest limit if two share that level).
    fn ruling(
        &self,
        which: impl Fn(&Installed) -> bool,
        t: DateTime<Utc>,
        anchor: Option<DateTime<Utc>>,
    ) -> Option<Value> {
        let mut best: Option<(u32, Value)> = None;
        for entry in self.installed.iter().filter(|e| which(e)) {
            let Some(value) = value_at(&entry.profile, t, anchor, self.limits.supply) else {
                continue;
            };
            let level = entry.profile.stack_level;
            best = match best {
                Some((top, current)) if top > level => Some((top, current)),
                Some((top, current)) if top == level => Some((top, current.min(value))),
                _ => Some((level, value)),
            };
        }
        best.map(|(_, v)| v)
    }

    /// The composite limit of `connector` at `t`, ratings included.
    fn composite_value(&self, connector: u32, t: DateTime<Utc>) -> Value {
        let phases = self.limits.supply.phases.clamp(1, 3);
        let rated = |watts: f64| Value {
            watts,
            phases,
            purpose: None,
        };
        let mut value = if connector == 0 {
            let total: f64 = (1..=self.limits.connectors)
                .map(|c| {
                    let rating = self.limits.connector_rating(c);
                    self.connector_value(c, t)
                        .map_or(rating, |v| v.watts.min(rating))
                })
                .sum();
            rated(self.limits.station_rating()).min(rated(sane(total)))
        } else {
            let rating = rated(self.limits.connector_rating(connector));
            self.connector_value(connector, t)
                .map_or(rating, |v| rating.min(v))
        };
        if let Some(station) = self.station_value(t) {
            value = value.min(station);
        }
        value
    }
}

fn to_limit(value: Value) -> Limit {
    Limit {
        power: Watts(value.watts),
        purpose: value.purpose.unwrap_or(Purpose::ChargePointMax),
    }
}

/// How long one run of `profile`'s schedule lasts: its duration, for a Recurring profile at most
/// one cycle; `None` for ever.
fn run_length(profile: &Profile) -> Option<TimeDelta> {
    let duration = profile
        .schedule
        .duration_s
        .map(|d| TimeDelta::seconds(i64::from(d)));
    match profile.kind {
        Kind::Recurring { recurrence, .. } => {
            let cycle = recurrence.length();
            Some(duration.map_or(cycle, |d| d.min(cycle)))
        }
        Kind::Absolute { .. } | Kind::Relative => duration,
    }
}

/// The start of the cycle of a schedule anchored at `start` that contains `t`.
fn cycle_begin(start: DateTime<Utc>, length: TimeDelta, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let length_ms = length.num_milliseconds();
    if length_ms <= 0 {
        return None;
    }
    let cycles = t
        .signed_duration_since(start)
        .num_milliseconds()
        .div_euclid(length_ms);
    let shift = TimeDelta::try_milliseconds(cycles.checked_mul(length_ms)?)?;
    let begin = start.checked_add_signed(shift)?;
    // Milliseconds truncate; step back when `t` lies just before the boundary found.
    if begin > t {
        begin.checked_sub_signed(length)
    } else {
        Some(begin)
    }
}

/// The limit `profile` sets at `t` (Relative schedules start at `anchor`), or `None` when it is
/// not valid then, its schedule has not begun or has ended, or it is Relative without a
/// transaction.
fn value_at(
    profile: &Profile,
    t: DateTime<Utc>,
    anchor: Option<DateTime<Utc>>,
    supply: Supply,
) -> Option<Value> {
    if profile.valid_from.is_some_and(|from| t < from) || profile.valid_to.is_some_and(|to| t >= to)
    {
        return None;
    }
    let begin = match profile.kind {
        Kind::Absolute { start } => start,
        Kind::Relative => anchor?,
        Kind::Recurring { recurrence, start } => cycle_begin(start, recurrence.length(), t)?,
    };
    let offset = t.signed_duration_since(begin);
    if offset < TimeDelta::zero() || run_length(profile).is_some_and(|run| offset >= run) {
        return None;
    }
    let offset_s = offset.num_seconds();
    let periods = &profile.schedule.periods;
    let running = periods.partition_point(|p| i64::from(p.start_s) <= offset_s);
    let period = periods.get(running.checked_sub(1)?)?;
    let phases = supply.effective_phases(period.phases);
    Some(Value {
        watts: supply.watts(profile.schedule.unit, period.limit, phases),
        phases,
        purpose: Some(profile.purpose),
    })
}

/// Adds to `out` every instant in `(from, to)` at which `profile` may change its limit: its
/// validity bounds and, for each run of its schedule (one per anchor for a Relative profile, one
/// per cycle for a Recurring one), the run's start, its periods' starts and its end.
fn breakpoints(
    profile: &Profile,
    anchors: &[DateTime<Utc>],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    out: &mut Vec<DateTime<Utc>>,
) {
    let mut add = |t: DateTime<Utc>| {
        if from < t && t < to {
            out.push(t);
        }
    };
    if let Some(t) = profile.valid_from {
        add(t);
    }
    if let Some(t) = profile.valid_to {
        add(t);
    }
    let run = run_length(profile);
    let mut add_run = |begin: DateTime<Utc>| {
        for period in &profile.schedule.periods {
            let offset = TimeDelta::seconds(i64::from(period.start_s));
            if run.is_some_and(|r| offset >= r) {
                break;
            }
            if let Some(t) = begin.checked_add_signed(offset) {
                add(t);
            }
        }
        if let Some(t) = run.and_then(|r| begin.checked_add_signed(r)) {
            add(t);
        }
    };
    match profile.kind {
        Kind::Absolute { start } => add_run(start),
        Kind::Relative => anchors.iter().copied().for_each(add_run),
        Kind::Recurring { recurrence, start } => {
            let length = recurrence.length();
            let mut begin = cycle_begin(start, length, from);
            while let Some(b) = begin.filter(|b| *b < to) {
                add_run(b);
                begin = b.checked_add_signed(length);
            }
        }
    }
}

/// Whether `profile` may change its limit after `t`.
fn changes_after(profile: &Profile, anchors: &[DateTime<Utc>], t: DateTime<Utc>) -> bool {
    if profile.valid_to.is_some_and(|to| to <= t) {
        return false;
    }
    if matches!(profile.kind, Kind::Recurring { .. }) {
        return true;
    }
    let mut later = Vec::new();
    breakpoints(profile, anchors, t, DateTime::<Utc>::MAX_UTC, &mut later);
    !later.is_empty()
}

/// Whole seconds from `start` to `t`, rounded up; `None` before `start`.
fn ceil_seconds(start: DateTime<Utc>, t: DateTime<Utc>) -> Option<u32> {
    let offset = t.signed_duration_since(start);
    if offset < TimeDelta::zero() {
        return None;
    }
    let whole = offset.num_seconds() + i64::from(offset.subsec_nanos() > 0);
    u32::try_from(whole).ok()
}

/// `value` rounded down to one decimal, as OCPP writes limits; a value within rounding noise of
/// the next decimal keeps it.
fn round_down_tenth(value: f64) -> f64 {
    let scaled = value * 10.0;
    if !scaled.is_finite() {
        return value;
    }
    (scaled + 1e-6).floor() / 10.0
}

/// Shares `total` among consumers capped at `caps`, max-min fair: in order of increasing cap,
/// each gets its cap or an equal part of what is left, whichever is lower.
fn water_fill(total: f64, caps: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..caps.len()).collect();
    order.sort_by(|a, b| caps[*a].total_cmp(&caps[*b]));
    let mut shares = vec![0.0; caps.len()];
    let mut remaining = sane(total);
    let mut left = caps.len();
    for i in order {
        let fair = remaining / left as f64;
        let share = sane(caps[i]).min(fair).min(remaining);
        shares[i] = share;
        remaining = (remaining - share).max(0.0);
        left -= 1;
    }
    shares
}

#[cfg(test)]
mod tests;
