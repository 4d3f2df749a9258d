//! The admission, replacement and clearing rules of OCPP 1.6 §7, and persistence.

use super::*;
use crate::profile::{Period, Recurrence, Schedule};
use chrono::TimeZone;

fn at(hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, hour, minute, 0)
        .single()
        .expect("valid time")
}

fn limits() -> Limits {
    Limits::new(2, Watts(300_000.0))
}

fn watts(limit: f64) -> Schedule {
    Schedule::new(RateUnit::Watts, vec![Period::new(0, limit)])
}

fn absolute(id: i32, purpose: Purpose, stack_level: u32) -> Profile {
    Profile::new(
        id,
        purpose,
        stack_level,
        Kind::Absolute { start: at(0, 0) },
        watts(11_000.0),
    )
}

/// A store with a transaction known as "7" on connector 1.
fn store_with_transaction(limits: Limits) -> ProfileStore {
    let mut store = ProfileStore::new(limits);
    store
        .transaction_started(1, Transaction::new(at(8, 0), Some("7".into())))
        .expect("connector 1 exists");
    store
}

fn ids(store: &ProfileStore) -> Vec<i32> {
    let mut ids: Vec<i32> = store.profiles().iter().map(|e| e.profile.id).collect();
    ids.sort_unstable();
    ids
}

#[test]
fn set_chargingprofile_every_rejection_reason() {
    let with_periods = |periods: Vec<Period>| {
        let mut p = absolute(1, Purpose::TxDefault, 0);
        p.schedule.periods = periods;
        p
    };
    let with = |f: fn(&mut Profile)| {
        let mut p = absolute(1, Purpose::TxDefault, 0);
        f(&mut p);
        p
    };
    let mut only_watts = limits();
    only_watts.allowed_units = vec![RateUnit::Watts];
    let mut two_installed = limits();
    two_installed.max_installed = 2;
    let cases: Vec<(&str, Limits, u32, Profile, Rejection)> = vec![
        (
            "connector beyond the station",
            limits(),
            3,
            absolute(1, Purpose::TxDefault, 0),
            Rejection::UnknownConnector(3),
        ),
        (
            "ChargePointMaxProfile on a connector",
            limits(),
            1,
            absolute(1, Purpose::ChargePointMax, 0),
            Rejection::WrongConnector {
                purpose: Purpose::ChargePointMax,
                connector: 1,
            },
        ),
        (
            "TxProfile on connector 0",
            limits(),
            0,
            absolute(1, Purpose::Tx, 0),
            Rejection::WrongConnector {
                purpose: Purpose::Tx,
                connector: 0,
            },
        ),
        (
            "Relative ChargePointMaxProfile",
            limits(),
            0,
            Profile::new(1, Purpose::ChargePointMax, 0, Kind::Relative, watts(1.0)),
            Rejection::RelativeStationProfile,
        ),
        (
            "TxProfile without a transaction",
            limits(),
            2,
            absolute(1, Purpose::Tx, 0),
            Rejection::NoTransaction(2),
        ),
        (
            "TxProfile for another transaction",
            limits(),
            1,
            Profile {
                transaction: Some("8".into()),
                ..absolute(1, Purpose::Tx, 0)
            },
            Rejection::WrongTransaction("8".into()),
        ),
        (
            "transactionId on a TxDefaultProfile",
            limits(),
            1,
            Profile {
                transaction: Some("7".into()),
                ..absolute(1, Purpose::TxDefault, 0)
            },
            Rejection::TransactionNotAllowed,
        ),
        (
            "stackLevel above ChargeProfileMaxStackLevel",
            limits(),
            0,
            absolute(1, Purpose::TxDefault, 11),
            Rejection::StackLevelTooHigh { level: 11, max: 10 },
        ),
        (
            "more periods than ChargingScheduleMaxPeriods",
            limits(),
            0,
            with_periods((0..49).map(|i| Period::new(i * 60, 10.0)).collect()),
            Rejection::TooManyPeriods { count: 49, max: 48 },
        ),
        (
            "no period",
            limits(),
            0,
            with_periods(Vec::new()),
            Rejection::NoPeriods,
        ),
        (
            "unit not in ChargingScheduleAllowedChargingRateUnit",
            only_watts,
            0,
            with(|p| p.schedule.unit = RateUnit::Amps),
            Rejection::UnitNotAllowed(RateUnit::Amps),
        ),
        (
            "first startPeriod not 0",
            limits(),
            0,
            with_periods(vec![Period::new(60, 10.0)]),
            Rejection::FirstPeriodNotZero(60),
        ),
        (
            "startPeriods not increasing",
            limits(),
            0,
            with_periods(vec![
                Period::new(0, 10.0),
                Period::new(600, 10.0),
                Period::new(600, 10.0),
            ]),
            Rejection::PeriodsOutOfOrder,
        ),
        (
            "negative limit",
            limits(),
            0,
            with_periods(vec![Period::new(0, -1.0)]),
            Rejection::BadLimit(-1.0),
        ),
        (
            "infinite limit",
            limits(),
            0,
            with_periods(vec![Period::new(0, f64::INFINITY)]),
            Rejection::BadLimit(f64::INFINITY),
        ),
        (
            "four phases",
            limits(),
            0,
            with_periods(vec![Period {
                start_s: 0,
                limit: 10.0,
                phases: Some(4),
            }]),
            Rejection::BadPhases(4),
        ),
        (
            "negative minimum rate",
            limits(),
            0,
            with(|p| p.schedule.min_rate = Some(-2.0)),
            Rejection::BadLimit(-2.0),
        ),
        (
            "store full",
            two_installed,
            0,
            absolute(3, Purpose::TxDefault, 3),
            Rejection::StoreFull(2),
        ),
    ];
    for (name, limits, connector, profile, expected) in cases {
        let mut store = store_with_transaction(limits);
        // Two profiles that the new one replaces by neither id nor (purpose, level, connector).
        for (id, level) in [(101, 1), (102, 2)] {
            if store.limits.max_installed == 2 {
                store
                    .set(0, absolute(id, Purpose::TxDefault, level), at(9, 0))
                    .expect("room for two");
            }
        }
        let before = store.profiles().to_vec();
        assert_eq!(
            store.set(connector, profile, at(9, 0)),
            Err(expected.clone()),
            "{name}"
        );
        assert_eq!(store.profiles(), before, "{name}: nothing changed");
        assert_eq!(
            expected.is_violation(),
            matches!(expected, Rejection::UnknownConnector(_)),
            "{name}"
        );
    }
}

#[test]
fn nan_limit_is_rejected() {
    let mut store = ProfileStore::new(limits());
    let mut profile = absolute(1, Purpose::TxDefault, 0);
    profile.schedule.periods[0].limit = f64::NAN;
    assert!(matches!(
        store.set(0, profile, at(9, 0)),
        Err(Rejection::BadLimit(l)) if l.is_nan()
    ));
}

#[test]
fn set_chargingprofile_accepts_each_purpose_where_it_belongs() {
    let mut store = store_with_transaction(limits());
    let now = at(9, 0);
    store
        .set(0, absolute(1, Purpose::ChargePointMax, 0), now)
        .expect("station limit on 0");
    store
        .set(0, absolute(2, Purpose::TxDefault, 0), now)
        .expect("default for all connectors");
    store
        .set(2, absolute(3, Purpose::TxDefault, 0), now)
        .expect("default for connector 2");
    store
        .set(1, absolute(4, Purpose::Tx, 0), now)
        .expect("profile of the running transaction");
    let named = Profile {
        transaction: Some("7".into()),
        ..absolute(5, Purpose::Tx, 1)
    };
    store.set(1, named, now).expect("names the running one");
    assert_eq!(ids(&store), [1, 2, 3, 4, 5]);
}

#[test]
fn transaction_id_known_later_is_matched() {
    let mut store = ProfileStore::new(limits());
    store
        .transaction_started(1, Transaction::new(at(8, 0), None))
        .expect("connector 1");
    let named = Profile {
        transaction: Some("42".into()),
        ..absolute(1, Purpose::Tx, 0)
    };
    assert_eq!(
        store.set(1, named.clone(), at(8, 1)),
        Err(Rejection::WrongTransaction("42".into())),
        "the central system's id is not known yet"
    );
    assert!(store.set_transaction_id(1, 42.into()));
    assert!(
        !store.set_transaction_id(2, 43.into()),
        "no transaction there"
    );
    assert_eq!(store.set(1, named, at(8, 2)), Ok(()));
}

#[test]
fn same_id_replaces_even_on_another_connector() {
    let mut store = ProfileStore::new(limits());
    store
        .set(1, absolute(5, Purpose::TxDefault, 0), at(9, 0))
        .expect("set");
    store
        .set(2, absolute(5, Purpose::TxDefault, 3), at(9, 0))
        .expect("set");
    assert_eq!(store.profiles().len(), 1);
    assert_eq!(store.profiles()[0].connector, 2);
    assert_eq!(store.profiles()[0].profile.stack_level, 3);
}

#[test]
fn same_purpose_and_stack_level_replaces_on_the_same_connector_only() {
    let mut store = ProfileStore::new(limits());
    let now = at(9, 0);
    store
        .set(1, absolute(1, Purpose::TxDefault, 2), now)
        .expect("set");
    store
        .set(2, absolute(2, Purpose::TxDefault, 2), now)
        .expect("another connector: added");
    store
        .set(1, absolute(3, Purpose::TxDefault, 1), now)
        .expect("another level: added");
    store
        .set(0, absolute(4, Purpose::ChargePointMax, 2), now)
        .expect("another purpose: added");
    assert_eq!(ids(&store), [1, 2, 3, 4]);
    store
        .set(1, absolute(9, Purpose::TxDefault, 2), now)
        .expect("replaces 1");
    assert_eq!(ids(&store), [2, 3, 4, 9]);
}

#[test]
fn full_store_still_takes_a_replacement() {
    let mut l = limits();
    l.max_installed = 2;
    let mut store = ProfileStore::new(l);
    let now = at(9, 0);
    store
        .set(0, absolute(1, Purpose::TxDefault, 0), now)
        .expect("set");
    store
        .set(0, absolute(2, Purpose::TxDefault, 1), now)
        .expect("set");
    assert_eq!(
        store.set(0, absolute(3, Purpose::TxDefault, 2), now),
        Err(Rejection::StoreFull(2))
    );
    store
        .set(0, absolute(2, Purpose::TxDefault, 5), now)
        .expect("same id");
    store
        .set(0, absolute(4, Purpose::TxDefault, 0), now)
        .expect("same purpose and level");
    assert_eq!(ids(&store), [2, 4]);
}

#[test]
fn ended_profiles_are_purged_to_make_room() {
    let mut l = limits();
    l.max_installed = 2;
    let mut store = ProfileStore::new(l);
    let mut old = absolute(1, Purpose::TxDefault, 0);
    old.valid_to = Some(at(10, 0));
    let mut short = absolute(2, Purpose::TxDefault, 1);
    short.kind = Kind::Absolute { start: at(9, 0) };
    short.schedule.duration_s = Some(3600);
    store.set(0, old, at(9, 0)).expect("set");
    store.set(0, short, at(9, 0)).expect("set");
    assert_eq!(
        store.set(0, absolute(3, Purpose::TxDefault, 2), at(9, 30)),
        Err(Rejection::StoreFull(2))
    );
    // At 10:00 the first is past validTo and the second's schedule (09:00 + 1 h) has ended.
    store
        .set(0, absolute(3, Purpose::TxDefault, 2), at(10, 0))
        .expect("room again");
    assert_eq!(ids(&store), [3]);
}

#[test]
fn remote_start_profile_becomes_the_transactions_tx_profile() {
    let mut store = ProfileStore::new(limits());
    let remote = Profile::new(9, Purpose::Tx, 1, Kind::Relative, watts(7_000.0));
    store
        .set_for_next_transaction(1, remote.clone())
        .expect("kept for the next transaction");
    assert!(store.profiles().is_empty());
    assert_eq!(store.waiting(1), Some(&remote));

    store
        .transaction_started(1, Transaction::new(at(9, 0), None))
        .expect("connector 1");
    assert_eq!(store.waiting(1), None);
    assert_eq!(store.profiles().len(), 1);
    assert_eq!(store.profiles()[0].connector, 1);
    assert_eq!(store.profiles()[0].profile, remote);

    // A later SetChargingProfile at its stack level replaces it.
    store
        .set(1, absolute(10, Purpose::Tx, 1), at(9, 5))
        .expect("replaces the remote start's profile");
    assert_eq!(ids(&store), [10]);

    // The transaction's end deletes its Tx profiles, and only those.
    store
        .set(0, absolute(11, Purpose::TxDefault, 0), at(9, 6))
        .expect("set");
    assert_eq!(store.transaction_ended(1), 1);
    assert_eq!(ids(&store), [11]);
    assert_eq!(store.transaction(1), None);
}

#[test]
fn remote_start_profile_rules() {
    let mut store = ProfileStore::new(limits());
    let tx = Profile::new(9, Purpose::Tx, 1, Kind::Relative, watts(7_000.0));
    assert_eq!(
        store.set_for_next_transaction(1, absolute(1, Purpose::TxDefault, 0)),
        Err(Rejection::NotTxProfile)
    );
    assert_eq!(
        store.set_for_next_transaction(0, tx.clone()),
        Err(Rejection::WrongConnector {
            purpose: Purpose::Tx,
            connector: 0
        })
    );
    assert_eq!(
        store.set_for_next_transaction(5, tx.clone()),
        Err(Rejection::UnknownConnector(5))
    );
    let named = Profile {
        transaction: Some("1".into()),
        ..tx.clone()
    };
    assert_eq!(
        store.set_for_next_transaction(1, named),
        Err(Rejection::TransactionNotAllowed)
    );
    let mut high = tx.clone();
    high.stack_level = 99;
    assert!(matches!(
        store.set_for_next_transaction(1, high),
        Err(Rejection::StackLevelTooHigh { .. })
    ));

    store
        .set_for_next_transaction(1, tx.clone())
        .expect("accepted");
    assert!(store.cancel_next_transaction(1));
    assert!(!store.cancel_next_transaction(1));
    store
        .transaction_started(1, Transaction::new(at(9, 0), None))
        .expect("connector 1");
    assert!(
        store.profiles().is_empty(),
        "a cancelled start leaves nothing"
    );
}

#[test]
fn waiting_profiles_count_towards_the_maximum() {
    let mut l = limits();
    l.max_installed = 1;
    let mut store = ProfileStore::new(l);
    let tx = Profile::new(9, Purpose::Tx, 1, Kind::Relative, watts(7_000.0));
    store
        .set_for_next_transaction(1, tx.clone())
        .expect("room for one");
    assert_eq!(
        store.set(0, absolute(1, Purpose::TxDefault, 0), at(9, 0)),
        Err(Rejection::StoreFull(1))
    );
    assert_eq!(
        store.set_for_next_transaction(
            2,
            Profile {
                id: 10,
                ..tx.clone()
            }
        ),
        Err(Rejection::StoreFull(1))
    );
    store
        .set_for_next_transaction(1, Profile { id: 10, ..tx })
        .expect("replaces the one waiting on connector 1");
    assert_eq!(store.waiting(1).map(|p| p.id), Some(10));
}

#[test]
fn a_new_transaction_ends_the_previous_one() {
    let mut store = store_with_transaction(limits());
    store
        .set(1, absolute(1, Purpose::Tx, 0), at(9, 0))
        .expect("set");
    store
        .transaction_started(1, Transaction::new(at(10, 0), None))
        .expect("connector 1");
    assert!(store.profiles().is_empty());
    assert_eq!(store.transaction(1).map(|t| t.started), Some(at(10, 0)));
    assert_eq!(
        store.transaction_started(0, Transaction::new(at(10, 0), None)),
        Err(Rejection::WrongConnector {
            purpose: Purpose::Tx,
            connector: 0
        })
    );
}

#[test]
fn clear_chargingprofile_filters() {
    let build = || {
        let mut store = store_with_transaction(limits());
        let now = at(9, 0);
        for (connector, profile) in [
            (0, absolute(1, Purpose::ChargePointMax, 0)),
            (0, absolute(2, Purpose::TxDefault, 0)),
            (1, absolute(3, Purpose::TxDefault, 1)),
            (2, absolute(4, Purpose::TxDefault, 1)),
            (1, absolute(5, Purpose::Tx, 0)),
        ] {
            store.set(connector, profile, now).expect("set");
        }
        store
    };
    let cases: Vec<(&str, ClearFilter, Vec<i32>)> = vec![
        (
            "id alone decides, the other fields are ignored",
            ClearFilter {
                id: Some(3),
                connector: Some(2),
                purpose: Some(Purpose::ChargePointMax),
                stack_level: Some(7),
            },
            vec![3],
        ),
        (
            "unknown id",
            ClearFilter {
                id: Some(99),
                ..ClearFilter::default()
            },
            vec![],
        ),
        (
            "connector 0 is the station-wide profiles",
            ClearFilter {
                connector: Some(0),
                ..ClearFilter::default()
            },
            vec![1, 2],
        ),
        (
            "purpose",
            ClearFilter {
                purpose: Some(Purpose::TxDefault),
                ..ClearFilter::default()
            },
            vec![2, 3, 4],
        ),
        (
            "purpose and stack level",
            ClearFilter {
                purpose: Some(Purpose::TxDefault),
                stack_level: Some(1),
                ..ClearFilter::default()
            },
            vec![3, 4],
        ),
        (
            "connector and purpose",
            ClearFilter {
                connector: Some(1),
                purpose: Some(Purpose::TxDefault),
                ..ClearFilter::default()
            },
            vec![3],
        ),
        (
            "no match on every field",
            ClearFilter {
                connector: Some(2),
                stack_level: Some(0),
                ..ClearFilter::default()
            },
            vec![],
        ),
        (
            "no field clears all",
            ClearFilter::default(),
            vec![1, 2, 3, 4, 5],
        ),
    ];
    for (name, filter, cleared) in cases {
        let mut store = build();
        let before = ids(&store);
        assert_eq!(store.clear(&filter), cleared.len(), "{name}");
        let expected: Vec<i32> = before
            .into_iter()
            .filter(|i| !cleared.contains(i))
            .collect();
        assert_eq!(ids(&store), expected, "{name}");
    }
}

#[test]
fn clear_reaches_waiting_profiles() {
    let mut store = ProfileStore::new(limits());
    store
        .set_for_next_transaction(
            2,
            Profile::new(9, Purpose::Tx, 1, Kind::Relative, watts(7_000.0)),
        )
        .expect("kept");
    let filter = ClearFilter {
        purpose: Some(Purpose::Tx),
        ..ClearFilter::default()
    };
    assert_eq!(store.clear(&filter), 1);
    assert_eq!(store.waiting(2), None);
}

#[test]
fn snapshot_survives_a_reboot() {
    let mut store = store_with_transaction(limits());
    let now = at(9, 0);
    let recurring = Profile {
        valid_from: Some(at(1, 0)),
        ..Profile::new(
            1,
            Purpose::TxDefault,
            2,
            Kind::Recurring {
                recurrence: Recurrence::Daily,
                start: at(22, 0),
            },
            Schedule {
                unit: RateUnit::Amps,
                periods: vec![
                    Period::new(0, 6.0),
                    Period {
                        start_s: 3600,
                        limit: 16.5,
                        phases: Some(1),
                    },
                ],
                duration_s: Some(28_800),
                min_rate: Some(2.0),
            },
        )
    };
    store.set(2, recurring, now).expect("set");
    store.set(1, absolute(2, Purpose::Tx, 0), now).expect("set");
    store
        .set_for_next_transaction(
            2,
            Profile::new(3, Purpose::Tx, 1, Kind::Relative, watts(1.0)),
        )
        .expect("kept");

    let json = serde_json::to_string(&store.snapshot()).expect("serializes");
    let snapshot: Snapshot = serde_json::from_str(&json).expect("deserializes");
    let restored = ProfileStore::restore(limits(), snapshot.clone());
    assert_eq!(restored.profiles(), store.profiles());
    assert_eq!(restored.waiting(2), store.waiting(2));
    assert_eq!(restored.transaction(1), store.transaction(1));
    assert_eq!(restored.snapshot(), store.snapshot());

    // Fewer connectors and a lower stack-level maximum after a configuration change.
    let mut smaller = Limits::new(1, Watts(300_000.0));
    smaller.max_stack_level = 1;
    let restored = ProfileStore::restore(smaller, snapshot);
    assert_eq!(ids(&restored), [2], "connector 2 is gone");
    assert_eq!(restored.waiting(2), None);
    assert!(restored.transaction(1).is_some());
}

#[test]
fn restore_drops_what_the_rules_refuse() {
    let mut store = ProfileStore::new(limits());
    store
        .set(0, absolute(1, Purpose::TxDefault, 0), at(9, 0))
        .expect("set");
    let mut value = serde_json::to_value(store.snapshot()).expect("serializes");
    // A stored profile edited into one no rule admits: a ChargePointMax on connector 1.
    value["installed"][0]["connector"] = 1.into();
    value["installed"][0]["profile"]["purpose"] = "ChargePointMax".into();
    let snapshot: Snapshot = serde_json::from_value(value).expect("still well-formed");
    assert!(
        ProfileStore::restore(limits(), snapshot)
            .profiles()
            .is_empty()
    );
}
