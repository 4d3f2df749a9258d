//! Property tests: whatever profiles a central system installs and whenever the station asks,
//! nothing panics, composite schedules are well formed, and no connector (nor all of them
//! together) is allowed more than the ChargePointMax profiles allow.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use hal::Watts;
use proptest::prelude::*;
use smart_charging::{
    Kind, Limits, Period, Profile, ProfileStore, Purpose, RateUnit, Recurrence, Schedule, Snapshot,
    Transaction,
};

/// Rounding slack: limits are written with one decimal, rounded down.
const SLACK: f64 = 1e-6;

fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0)
        .single()
        .expect("valid time")
}

fn offset() -> impl Strategy<Value = TimeDelta> {
    (-172_800i64..172_800).prop_map(TimeDelta::seconds)
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        offset().prop_map(|o| Kind::Absolute { start: base() + o }),
        (offset(), any::<bool>()).prop_map(|(o, weekly)| Kind::Recurring {
            recurrence: if weekly {
                Recurrence::Weekly
            } else {
                Recurrence::Daily
            },
            start: base() + o,
        }),
        Just(Kind::Relative),
    ]
}

fn schedule() -> impl Strategy<Value = Schedule> {
    (
        any::<bool>(),
        prop::collection::vec(
            (1u32..30_000, 0.0f64..200.0, prop::option::of(1u8..=3)),
            1..6,
        ),
        prop::option::of(1u32..300_000),
    )
        .prop_map(|(in_watts, steps, duration_s)| {
            let mut start = 0;
            let periods = steps
                .into_iter()
                .enumerate()
                .map(|(i, (gap, limit, phases))| {
                    if i > 0 {
                        start += gap;
                    }
                    Period {
                        start_s: start,
                        limit: if in_watts { limit * 500.0 } else { limit },
                        phases,
                    }
                })
                .collect();
            Schedule {
                unit: if in_watts {
                    RateUnit::Watts
                } else {
                    RateUnit::Amps
                },
                periods,
                duration_s,
                min_rate: None,
            }
        })
}

fn profile() -> impl Strategy<Value = (u32, Profile)> {
    (
        0u32..=3,
        prop_oneof![
            Just(Purpose::ChargePointMax),
            Just(Purpose::TxDefault),
            Just(Purpose::Tx)
        ],
        0u32..4,
        kind(),
        schedule(),
        prop::option::of(offset()),
        prop::option::of(offset()),
        0i32..24,
        prop::bool::weighted(0.9),
    )
        .prop_map(
            |(raw, purpose, level, kind, schedule, from, to, id, by_the_rules)| {
                // Mostly on a connector the purpose belongs on, sometimes anywhere.
                let connector = match purpose {
                    _ if !by_the_rules => raw,
                    Purpose::ChargePointMax => 0,
                    Purpose::Tx => 1 + raw % 3,
                    Purpose::TxDefault => raw,
                };
                let mut profile = Profile::new(id, purpose, level, kind, schedule);
                profile.valid_from = from.map(|o| base() + o);
                profile.valid_to = to.map(|o| base() + o);
                (connector, profile)
            },
        )
}

fn station() -> Limits {
    let mut limits = Limits::new(3, Watts(400_000.0));
    limits.connector_power = vec![Watts(150_000.0), Watts(150_000.0)];
    limits
}

proptest! {
    // A fixed seed keeps CI deterministic.
    #![proptest_config(ProptestConfig {
        cases: 128,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x006a_6f75_6c65),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn limits_never_exceed_the_station_profile(
        transactions in prop::collection::vec(prop::option::weighted(0.8, -172_800i64..0), 3),
        profiles in prop::collection::vec(profile(), 0..20),
        queries in prop::collection::vec(0i64..259_200, 1..5),
        probes in prop::collection::vec(0u32..172_800, 8),
    ) {
        let now = base();
        let mut store = ProfileStore::new(station());
        for (connector, started) in (1u32..).zip(&transactions) {
            if let Some(s) = started {
                let tx = Transaction::new(now + TimeDelta::seconds(*s), Some(connector.to_string().into()));
                prop_assert!(store.transaction_started(connector, tx).is_ok());
            }
        }
        for (connector, profile) in profiles {
            let _ = store.set(connector, profile, now);
        }
        // The ChargePointMax profiles alone, for reference.
        let mut reference = ProfileStore::new(station());
        for entry in store.profiles() {
            if entry.profile.purpose == Purpose::ChargePointMax {
                prop_assert!(reference.set(0, entry.profile.clone(), now).is_ok());
            }
        }
        let cap = |t: DateTime<Utc>| reference.limit_at(0, t).map(|l| l.power.0);

        for q in queries {
            let t = now + TimeDelta::seconds(q);
            let mut charging = 0.0;
            for c in 0..=3 {
                let limit = store.limit_at(c, t);
                if let Some(l) = limit {
                    prop_assert!(l.power.0.is_finite() && l.power.0 >= 0.0);
                }
                if let Some(cap) = cap(t) {
                    let power = limit.map(|l| l.power.0);
                    prop_assert!(power.is_some_and(|p| p <= cap + SLACK), "connector {c}: {power:?} over {cap}");
                    if c > 0 && store.transaction(c).is_some() {
                        charging += power.unwrap_or(0.0);
                    }
                }
                if let Some(next) = store.next_change(c, t) {
                    prop_assert!(next > t);
                }
                for unit in [RateUnit::Watts, RateUnit::Amps] {
                    let schedule = store.composite(c, t, TimeDelta::days(2), unit);
                    let Some(schedule) = schedule else {
                        return Err(TestCaseError::fail("known connector"));
                    };
                    prop_assert_eq!(schedule.periods.first().map(|p| p.start_s), Some(0));
                    prop_assert!(schedule.periods.windows(2).all(|w| w[0].start_s < w[1].start_s));
                    for period in &schedule.periods {
                        prop_assert!(period.limit.is_finite() && period.limit >= 0.0);
                        prop_assert!(period.start_s < schedule.duration_s || period.start_s == 0);
                        if unit == RateUnit::Watts {
                            let at = schedule.start + TimeDelta::seconds(i64::from(period.start_s));
                            if let Some(cap) = cap(at) {
                                prop_assert!(period.limit <= cap + SLACK, "composite {c}: {} over {cap}", period.limit);
                            }
                        }
                    }
                    // No change is missed: the schedule's value at any second is what a schedule
                    // asked for at that second starts with.
                    let samples = schedule
                        .periods
                        .iter()
                        .flat_map(|p| [p.start_s, p.start_s.saturating_sub(1), p.start_s + 1])
                        .chain(probes.iter().map(|p| p % schedule.duration_s.max(1)))
                        .filter(|x| *x < schedule.duration_s);
                    for x in samples {
                        let running = schedule.periods.partition_point(|p| p.start_s <= x);
                        let expected = schedule.periods.get(running.wrapping_sub(1)).map(|p| p.limit);
                        let at = schedule.start + TimeDelta::seconds(i64::from(x));
                        let fresh = store.composite(c, at, TimeDelta::zero(), unit);
                        let actual = fresh.and_then(|f| f.periods.first().map(|p| p.limit));
                        prop_assert_eq!(actual, expected, "connector {} {:?} at +{} s", c, unit, x);
                    }
                }
            }
            if let Some(cap) = cap(t) {
                prop_assert!(charging <= cap * (1.0 + 1e-9) + SLACK, "sum {charging} over {cap}");
            }
        }

        // What is persisted comes back the same.
        let json = serde_json::to_string(&store.snapshot()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let snapshot: Snapshot = serde_json::from_str(&json).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let restored = ProfileStore::restore(station(), snapshot);
        prop_assert_eq!(restored.snapshot(), store.snapshot());
    }
}
