//! Composite schedules, limits and their changes over time, on March 2026 (the 1st is a Sunday).

use super::*;
use crate::profile::{Recurrence, Schedule};
use crate::store::{Limits, Transaction};
use chrono::TimeZone;

fn at(day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, day, hour, minute, 0)
        .single()
        .expect("valid time")
}

/// Two connectors; 69 kW (100 A at 230 V on 3 phases) for the station and each connector.
fn store() -> ProfileStore {
    ProfileStore::new(Limits::new(2, Watts(69_000.0)))
}

fn schedule(unit: RateUnit, periods: &[(u32, f64)]) -> Schedule {
    Schedule::new(
        unit,
        periods.iter().map(|(s, l)| Period::new(*s, *l)).collect(),
    )
}

fn amps(periods: &[(u32, f64)]) -> Schedule {
    schedule(RateUnit::Amps, periods)
}

fn watts(periods: &[(u32, f64)]) -> Schedule {
    schedule(RateUnit::Watts, periods)
}

fn profile(id: i32, purpose: Purpose, level: u32, kind: Kind, schedule: Schedule) -> Profile {
    Profile::new(id, purpose, level, kind, schedule)
}

fn absolute(start: DateTime<Utc>) -> Kind {
    Kind::Absolute { start }
}

fn set(store: &mut ProfileStore, connector: u32, profile: Profile) {
    store
        .set(connector, profile, at(1, 0, 0))
        .expect("profile accepted");
}

fn composite(
    store: &ProfileStore,
    connector: u32,
    now: DateTime<Utc>,
    hours: i64,
    unit: RateUnit,
) -> Vec<(u32, f64)> {
    store
        .composite(connector, now, TimeDelta::hours(hours), unit)
        .expect("known connector")
        .periods
        .iter()
        .map(|p| (p.start_s, p.limit))
        .collect()
}

#[test]
fn stacking_falls_back_to_a_lower_level_when_the_higher_schedule_ends() {
    let mut store = store();
    let t0 = at(2, 8, 0);
    set(
        &mut store,
        0,
        profile(1, Purpose::TxDefault, 0, absolute(t0), amps(&[(0, 32.0)])),
    );
    let mut upper = amps(&[(0, 10.0), (3600, 16.0)]);
    upper.duration_s = Some(7200);
    set(
        &mut store,
        0,
        profile(2, Purpose::TxDefault, 1, absolute(at(2, 9, 0)), upper),
    );
    assert_eq!(
        composite(&store, 1, t0, 5, RateUnit::Amps),
        [(0, 32.0), (3600, 10.0), (7200, 16.0), (10_800, 32.0)]
    );
    // A higher level that has not begun leaves the lower one in force.
    assert_eq!(composite(&store, 1, t0, 1, RateUnit::Amps), [(0, 32.0)]);
}

#[test]
fn daily_recurrence_across_midnight() {
    let mut store = store();
    set(
        &mut store,
        0,
        profile(
            1,
            Purpose::TxDefault,
            0,
            absolute(at(1, 0, 0)),
            amps(&[(0, 32.0)]),
        ),
    );
    // 22:00 to 06:00 every night: 6 A, then 16 A from 02:00.
    let mut night = amps(&[(0, 6.0), (14_400, 16.0)]);
    night.duration_s = Some(28_800);
    let kind = Kind::Recurring {
        recurrence: Recurrence::Daily,
        start: at(1, 22, 0),
    };
    set(
        &mut store,
        0,
        profile(2, Purpose::TxDefault, 1, kind, night),
    );
    assert_eq!(
        composite(&store, 1, at(3, 21, 0), 12, RateUnit::Amps),
        [(0, 32.0), (3600, 6.0), (18_000, 16.0), (32_400, 32.0)]
    );
    // Asked at 01:00, inside a cycle that began the evening before.
    assert_eq!(
        composite(&store, 2, at(4, 1, 0), 6, RateUnit::Amps),
        [(0, 6.0), (3600, 16.0), (18_000, 32.0)]
    );
}

#[test]
fn weekly_recurrence_across_the_week_boundary() {
    let mut store = store();
    // Sundays 23:00 for three hours: 10 A, then 20 A from Monday 00:00.
    let mut weekly = amps(&[(0, 10.0), (3600, 20.0)]);
    weekly.duration_s = Some(10_800);
    let kind = Kind::Recurring {
        recurrence: Recurrence::Weekly,
        start: at(1, 23, 0),
    };
    set(
        &mut store,
        0,
        profile(1, Purpose::TxDefault, 0, kind, weekly),
    );
    // Outside the profile the connector's rating (100 A) holds.
    assert_eq!(
        composite(&store, 1, at(15, 22, 0), 5, RateUnit::Amps),
        [(0, 100.0), (3600, 10.0), (7200, 20.0), (14_400, 100.0)]
    );
    assert_eq!(
        composite(&store, 1, at(18, 22, 0), 5, RateUnit::Amps),
        [(0, 100.0)],
        "a Wednesday"
    );
    // A cycle before the anchor repeats too (validity decides from when it counts): Monday
    // 23 February, 00:00, is an hour into the cycle of Sunday 22 February, 23:00.
    let monday_before = Utc
        .with_ymd_and_hms(2026, 2, 23, 0, 0, 0)
        .single()
        .expect("valid time");
    assert_eq!(
        composite(&store, 1, monday_before, 3, RateUnit::Amps),
        [(0, 20.0), (7200, 100.0)]
    );
}

#[test]
fn periods_past_the_recurrence_length_are_skipped() {
    let mut store = store();
    let kind = Kind::Recurring {
        recurrence: Recurrence::Daily,
        start: at(1, 0, 0),
    };
    set(
        &mut store,
        0,
        profile(
            1,
            Purpose::TxDefault,
            0,
            kind,
            amps(&[(0, 10.0), (90_000, 5.0)]),
        ),
    );
    assert_eq!(
        composite(&store, 1, at(2, 0, 0), 48, RateUnit::Amps),
        [(0, 10.0)]
    );
    // A duration beyond the cycle is cut to the cycle.
    let mut long = amps(&[(0, 8.0)]);
    long.duration_s = Some(200_000);
    let kind = Kind::Recurring {
        recurrence: Recurrence::Daily,
        start: at(1, 12, 0),
    };
    set(&mut store, 0, profile(2, Purpose::TxDefault, 1, kind, long));
    assert_eq!(
        composite(&store, 1, at(2, 0, 0), 24, RateUnit::Amps),
        [(0, 8.0)]
    );
}

#[test]
fn relative_profile_runs_from_the_transaction_start() {
    let mut store = store();
    set(
        &mut store,
        0,
        profile(
            1,
            Purpose::TxDefault,
            0,
            absolute(at(1, 0, 0)),
            amps(&[(0, 32.0)]),
        ),
    );
    store
        .transaction_started(1, Transaction::new(at(2, 10, 0), None))
        .expect("connector 1");
    let mut relative = amps(&[(0, 10.0), (1800, 20.0)]);
    relative.duration_s = Some(3600);
    store
        .set(
            1,
            profile(2, Purpose::Tx, 0, Kind::Relative, relative),
            at(2, 10, 20),
        )
        .expect("accepted");
    assert_eq!(
        composite(&store, 1, at(2, 10, 20), 1, RateUnit::Amps),
        [(0, 10.0), (600, 20.0), (2400, 32.0)]
    );
    assert_eq!(
        composite(&store, 2, at(2, 10, 20), 1, RateUnit::Amps),
        [(0, 32.0)],
        "no transaction on connector 2"
    );
}

#[test]
fn relative_default_applies_only_where_a_transaction_runs() {
    let mut store = store();
    set(
        &mut store,
        0,
        profile(
            1,
            Purpose::TxDefault,
            0,
            Kind::Relative,
            amps(&[(0, 8.0), (600, 12.0)]),
        ),
    );
    store
        .transaction_started(1, Transaction::new(at(2, 10, 0), None))
        .expect("connector 1");
    assert_eq!(
        composite(&store, 1, at(2, 10, 5), 1, RateUnit::Amps),
        [(0, 8.0), (300, 12.0)]
    );
    assert_eq!(
        composite(&store, 2, at(2, 10, 5), 1, RateUnit::Amps),
        [(0, 100.0)]
    );
}

#[test]
fn validity_window_bounds_a_profile() {
    let mut store = store();
    set(
        &mut store,
        0,
        profile(
            1,
            Purpose::TxDefault,
            0,
            absolute(at(1, 0, 0)),
            amps(&[(0, 32.0)]),
        ),
    );
    let windowed = Profile {
        valid_from: Some(at(2, 12, 0)),
        valid_to: Some(at(2, 13, 0)),
        ..profile(
            2,
            Purpose::TxDefault,
            1,
            absolute(at(1, 0, 0)),
            amps(&[(0, 10.0)]),
        )
    };
    set(&mut store, 0, windowed);
    assert_eq!(
        composite(&store, 1, at(2, 11, 0), 3, RateUnit::Amps),
        [(0, 32.0), (3600, 10.0), (7200, 32.0)]
    );
}

#[test]
fn requested_duration_cuts_the_schedule() {
    let mut store = store();
    set(
        &mut store,
        0,
        profile(
            1,
            Purpose::TxDefault,
            0,
            absolute(at(2, 12, 0)),
            amps(&[(0, 10.0), (3600, 20.0)]),
        ),
    );
    let short = store
        .composite(1, at(2, 12, 0), TimeDelta::minutes(30), RateUnit::Amps)
        .expect("known connector");
    assert_eq!(short.duration_s, 1800);
    assert_eq!(short.periods, [Period::new(0, 10.0)]);
    let long = store
        .composite(1, at(2, 12, 0), TimeDelta::days(400), RateUnit::Amps)
        .expect("known connector");
    assert_eq!(long.duration_s, 31 * 86_400, "capped at the horizon");
    store.limits.composite_horizon = TimeDelta::days(5000);
    let capped = store
        .composite(1, at(2, 12, 0), TimeDelta::days(4000), RateUnit::Amps)
        .expect("known connector");
    assert_eq!(capped.duration_s, 366 * 86_400, "never beyond a year");
    store.limits.composite_horizon = TimeDelta::days(-1);
    let negative = store
        .composite(1, at(2, 12, 0), TimeDelta::hours(1), RateUnit::Amps)
        .expect("known connector");
    assert_eq!(negative.duration_s, 0);
    let none = store
        .composite(1, at(2, 12, 0), TimeDelta::zero(), RateUnit::Amps)
        .expect("known connector");
    assert_eq!(none.duration_s, 0);
    assert_eq!(none.periods, [Period::new(0, 10.0)]);
    assert!(
        store
            .composite(3, at(2, 12, 0), TimeDelta::hours(1), RateUnit::Amps)
            .is_none()
    );
}

#[test]
fn composite_across_purposes_with_unit_conversion() {
    let mut store = store();
    let start = absolute(at(1, 0, 0));
    set(
        &mut store,
        0,
        profile(
            1,
            Purpose::ChargePointMax,
            0,
            start,
            watts(&[(0, 15_000.0)]),
        ),
    );
    set(
        &mut store,
        0,
        profile(2, Purpose::TxDefault, 0, start, amps(&[(0, 32.0)])),
    );
    store
        .transaction_started(1, Transaction::new(at(2, 9, 0), None))
        .expect("connector 1");
    store
        .set(
            1,
            profile(3, Purpose::Tx, 0, start, amps(&[(0, 16.0)])),
            at(2, 9, 0),
        )
        .expect("accepted");
    let now = at(2, 10, 0);
    // Connector 1: its TxProfile, 16 A = 11 040 W, under the station's 15 kW.
    assert_eq!(
        composite(&store, 1, now, 1, RateUnit::Watts),
        [(0, 11_040.0)]
    );
    assert_eq!(composite(&store, 1, now, 1, RateUnit::Amps), [(0, 16.0)]);
    // Connector 2: the default 32 A = 22 080 W is above the station's 15 kW = 21.739 A.
    assert_eq!(
        composite(&store, 2, now, 1, RateUnit::Watts),
        [(0, 15_000.0)]
    );
    assert_eq!(composite(&store, 2, now, 1, RateUnit::Amps), [(0, 21.7)]);
    // Connector 0: 11 040 + 22 080 W would be drawn, the station limit caps it.
    assert_eq!(
        composite(&store, 0, now, 1, RateUnit::Watts),
        [(0, 15_000.0)]
    );
    store.clear(&crate::ClearFilter {
        id: Some(1),
        ..crate::ClearFilter::default()
    });
    assert_eq!(
        composite(&store, 0, now, 1, RateUnit::Watts),
        [(0, 33_120.0)]
    );
    assert_eq!(composite(&store, 0, now, 1, RateUnit::Amps), [(0, 48.0)]);
}

#[test]
fn station_composite_is_capped_by_its_rating() {
    let mut store = store();
    assert_eq!(
        composite(&store, 0, at(2, 10, 0), 1, RateUnit::Watts),
        [(0, 69_000.0)],
        "two connectors of 69 kW, a 69 kW station"
    );
    store.limits.connector_power = vec![Watts(20_000.0), Watts(30_000.0)];
    assert_eq!(
        composite(&store, 0, at(2, 10, 0), 1, RateUnit::Watts),
        [(0, 50_000.0)]
    );
    assert_eq!(
        composite(&store, 2, at(2, 10, 0), 1, RateUnit::Watts),
        [(0, 30_000.0)]
    );
}

#[test]
fn tx_profile_beats_the_default_even_when_higher() {
    let mut store = store();
    let start = absolute(at(1, 0, 0));
    set(
        &mut store,
        0,
        profile(1, Purpose::TxDefault, 5, start, amps(&[(0, 10.0)])),
    );
    store
        .transaction_started(1, Transaction::new(at(2, 9, 0), None))
        .expect("connector 1");
    store
        .set(
            1,
            profile(2, Purpose::Tx, 0, start, amps(&[(0, 32.0)])),
            at(2, 9, 0),
        )
        .expect("accepted");
    assert_eq!(
        composite(&store, 1, at(2, 10, 0), 1, RateUnit::Amps),
        [(0, 32.0)]
    );
}

#[test]
fn connector_default_overrides_the_station_default_and_falls_back() {
    let mut store = store();
    set(
        &mut store,
        0,
        profile(
            1,
            Purpose::TxDefault,
            0,
            absolute(at(1, 0, 0)),
            amps(&[(0, 32.0)]),
        ),
    );
    let mut own = amps(&[(0, 6.0)]);
    own.duration_s = Some(3600);
    set(
        &mut store,
        1,
        profile(2, Purpose::TxDefault, 0, absolute(at(2, 12, 0)), own),
    );
    assert_eq!(
        composite(&store, 1, at(2, 11, 0), 3, RateUnit::Amps),
        [(0, 32.0), (3600, 6.0), (7200, 32.0)]
    );
    assert_eq!(
        composite(&store, 2, at(2, 11, 0), 3, RateUnit::Amps),
        [(0, 32.0)]
    );
}

#[test]
fn phase_count_converts_amps() {
    let mut store = store();
    let one_phase = Schedule::new(
        RateUnit::Amps,
        vec![Period {
            start_s: 0,
            limit: 16.0,
            phases: Some(1),
        }],
    );
    set(
        &mut store,
        0,
        profile(1, Purpose::TxDefault, 0, absolute(at(1, 0, 0)), one_phase),
    );
    let c = store
        .composite(1, at(2, 10, 0), TimeDelta::hours(1), RateUnit::Amps)
        .expect("known connector");
    assert_eq!(
        c.periods,
        [Period {
            start_s: 0,
            limit: 16.0,
            phases: Some(1)
        }]
    );
    assert_eq!(
        composite(&store, 1, at(2, 10, 0), 1, RateUnit::Watts),
        [(0, 3680.0)]
    );
    // A single-phase supply counts a three-phase limit on its one phase.
    store.limits.supply.phases = 1;
    set(
        &mut store,
        0,
        profile(
            2,
            Purpose::TxDefault,
            1,
            absolute(at(1, 0, 0)),
            amps(&[(0, 20.0)]),
        ),
    );
    assert_eq!(
        composite(&store, 1, at(2, 10, 0), 1, RateUnit::Watts),
        [(0, 4600.0)]
    );
}

#[test]
fn composite_starts_at_the_current_second() {
    let mut store = store();
    set(
        &mut store,
        0,
        profile(
            1,
            Purpose::TxDefault,
            0,
            absolute(at(2, 12, 0)),
            amps(&[(0, 10.0), (60, 20.0)]),
        ),
    );
    let now = at(2, 12, 0) + TimeDelta::milliseconds(700);
    let c = store
        .composite(1, now, TimeDelta::minutes(5), RateUnit::Amps)
        .expect("known connector");
    assert_eq!(c.start, at(2, 12, 0));
    assert_eq!(
        c.periods
            .iter()
            .map(|p| (p.start_s, p.limit))
            .collect::<Vec<_>>(),
        [(0, 10.0), (60, 20.0)]
    );
    // A transaction started inside a second changes the limit from the next second on.
    store
        .transaction_started(1, Transaction::new(now + TimeDelta::seconds(9), None))
        .expect("connector 1");
    store
        .set(
            1,
            profile(2, Purpose::Tx, 0, Kind::Relative, amps(&[(0, 5.0)])),
            now,
        )
        .expect("accepted");
    assert_eq!(
        composite(&store, 1, at(2, 12, 0), 1, RateUnit::Amps),
        [(0, 10.0), (10, 5.0)],
        "a Relative schedule from 12:00:09.7 shows from the next whole second"
    );
}

fn two_charging(store: &mut ProfileStore, station_watts: f64) {
    set(
        store,
        0,
        profile(
            1,
            Purpose::ChargePointMax,
            0,
            absolute(at(1, 0, 0)),
            watts(&[(0, station_watts)]),
        ),
    );
    for c in [1, 2] {
        store
            .transaction_started(c, Transaction::new(at(2, 9, 0), None))
            .expect("known connector");
    }
}

#[test]
fn station_limit_is_shared_equally() {
    let mut store = ProfileStore::new(Limits::new(2, Watts(1_000_000.0)));
    two_charging(&mut store, 100_000.0);
    let now = at(2, 10, 0);
    let expected = Limit {
        power: Watts(50_000.0),
        purpose: Purpose::ChargePointMax,
    };
    assert_eq!(store.limit_at(1, now), Some(expected));
    assert_eq!(store.limit_at(2, now), Some(expected));
    assert_eq!(
        store.limit_at(0, now).map(|l| l.power),
        Some(Watts(100_000.0))
    );
    store.transaction_ended(2);
    assert_eq!(
        store.limit_at(1, now).map(|l| l.power),
        Some(Watts(100_000.0)),
        "an idle connector takes no share"
    );
    assert_eq!(store.limit_at(3, now), None);
}

#[test]
fn what_a_capped_connector_leaves_goes_to_the_others() {
    let mut store = ProfileStore::new(Limits::new(2, Watts(1_000_000.0)));
    two_charging(&mut store, 100_000.0);
    store
        .set(
            1,
            profile(
                2,
                Purpose::Tx,
                0,
                absolute(at(1, 0, 0)),
                watts(&[(0, 20_000.0)]),
            ),
            at(2, 9, 0),
        )
        .expect("accepted");
    let now = at(2, 10, 0);
    assert_eq!(
        store.limit_at(1, now),
        Some(Limit {
            power: Watts(20_000.0),
            purpose: Purpose::Tx
        })
    );
    assert_eq!(
        store.limit_at(2, now),
        Some(Limit {
            power: Watts(80_000.0),
            purpose: Purpose::ChargePointMax
        })
    );
}

#[test]
fn ratings_cap_the_shares() {
    let mut limits = Limits::new(3, Watts(1_000_000.0));
    limits.connector_power = vec![Watts(20_000.0)];
    let mut store = ProfileStore::new(limits);
    two_charging(&mut store, 100_000.0);
    store
        .transaction_started(3, Transaction::new(at(2, 9, 0), None))
        .expect("connector 3");
    let now = at(2, 10, 0);
    let powers: Vec<f64> = (1..=3)
        .map(|c| store.limit_at(c, now).map_or(-1.0, |l| l.power.0))
        .collect();
    assert_eq!(powers, [20_000.0, 40_000.0, 40_000.0]);
}

#[test]
fn without_profiles_nothing_limits() {
    let store = store();
    assert_eq!(store.limit_at(1, at(2, 10, 0)), None);
    assert_eq!(store.limit_at(0, at(2, 10, 0)), None);
    assert_eq!(store.next_change(1, at(2, 10, 0)), None);
}

#[test]
fn connector_limit_without_a_station_limit() {
    let mut store = store();
    set(
        &mut store,
        0,
        profile(
            1,
            Purpose::TxDefault,
            0,
            absolute(at(1, 0, 0)),
            amps(&[(0, 10.0)]),
        ),
    );
    assert_eq!(
        store.limit_at(2, at(2, 10, 0)),
        Some(Limit {
            power: Watts(6900.0),
            purpose: Purpose::TxDefault
        })
    );
}

#[test]
fn next_change_follows_the_schedule() {
    let mut store = store();
    set(
        &mut store,
        0,
        profile(
            1,
            Purpose::TxDefault,
            0,
            absolute(at(2, 12, 0)),
            amps(&[(0, 32.0), (1800, 16.0), (2400, 16.0)]),
        ),
    );
    assert_eq!(store.next_change(1, at(2, 11, 0)), Some(at(2, 12, 0)));
    assert_eq!(store.next_change(1, at(2, 12, 10)), Some(at(2, 12, 30)));
    assert_eq!(
        store.next_change(1, at(2, 12, 30)),
        None,
        "the period at 12:40 keeps 16 A, and nothing follows"
    );
    let mut ending = Profile {
        valid_to: Some(at(2, 14, 0)),
        ..profile(
            2,
            Purpose::TxDefault,
            1,
            absolute(at(1, 0, 0)),
            amps(&[(0, 6.0)]),
        )
    };
    ending.schedule.duration_s = None;
    set(&mut store, 0, ending);
    assert_eq!(store.next_change(1, at(2, 12, 30)), Some(at(2, 14, 0)));
}

#[test]
fn next_change_of_a_station_limit_reaches_every_charging_connector() {
    let mut store = ProfileStore::new(Limits::new(2, Watts(1_000_000.0)));
    two_charging(&mut store, 100_000.0);
    set(
        &mut store,
        0,
        profile(
            2,
            Purpose::ChargePointMax,
            1,
            absolute(at(2, 13, 0)),
            watts(&[(0, 60_000.0)]),
        ),
    );
    assert_eq!(store.next_change(2, at(2, 10, 0)), Some(at(2, 13, 0)));
    assert_eq!(
        store.limit_at(2, at(2, 13, 0)).map(|l| l.power),
        Some(Watts(30_000.0))
    );
}

#[test]
fn next_change_of_a_steady_recurrence_is_a_later_look() {
    let mut store = store();
    let kind = Kind::Recurring {
        recurrence: Recurrence::Daily,
        start: at(1, 0, 0),
    };
    set(
        &mut store,
        0,
        profile(1, Purpose::TxDefault, 0, kind, amps(&[(0, 10.0)])),
    );
    let now = at(2, 10, 0);
    assert_eq!(store.next_change(1, now), Some(now + TimeDelta::days(8)));
}

#[test]
fn water_fill_shares() {
    assert_eq!(water_fill(100.0, &[]), Vec::<f64>::new());
    assert_eq!(water_fill(100.0, &[70.0, 70.0]), [50.0, 50.0]);
    assert_eq!(water_fill(100.0, &[10.0, 70.0, 70.0]), [10.0, 45.0, 45.0]);
    assert_eq!(water_fill(100.0, &[10.0, 20.0]), [10.0, 20.0]);
    assert_eq!(water_fill(f64::NAN, &[10.0]), [0.0]);
    assert_eq!(water_fill(-5.0, &[10.0]), [0.0]);
}

#[test]
fn rounding_keeps_exact_tenths_and_never_rounds_up() {
    assert_eq!(round_down_tenth(16.0), 16.0);
    assert_eq!(round_down_tenth(15.999_999_999), 16.0);
    assert_eq!(round_down_tenth(21.739_130), 21.7);
    assert_eq!(round_down_tenth(0.0), 0.0);
    assert_eq!(round_down_tenth(f64::MAX), f64::MAX);
}
