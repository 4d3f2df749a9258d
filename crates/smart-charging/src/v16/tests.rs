//! The 1.6 requests as a central system sends them, answered from a store.

use super::*;
use crate::store::{Limits, Transaction};
use chrono::TimeZone;
use hal::Watts;
use proto_ocpp::OcppVersion;
use proto_ocpp::validate::{PayloadKind, violations};
use serde_json::{Value, json};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 10, 0, 0)
        .single()
        .expect("valid time")
}

fn store() -> ProfileStore {
    let mut store = ProfileStore::new(Limits::new(2, Watts(69_000.0)));
    store
        .transaction_started(1, Transaction::new(now(), Some(42.into())))
        .expect("connector 1");
    store
}

/// A SetChargingProfile payload, checked against the 1.6 schema first.
fn set_request(connector_id: i32, profile: Value) -> SetChargingProfileRequest {
    let payload = json!({ "connectorId": connector_id, "csChargingProfiles": profile });
    assert_eq!(
        violations(
            OcppVersion::V16,
            "SetChargingProfile",
            PayloadKind::Request,
            &payload
        ),
        [],
        "a schema-valid request"
    );
    serde_json::from_value(payload).expect("decodes")
}

fn tx_default(extra: Value) -> Value {
    let mut profile = json!({
        "chargingProfileId": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "startSchedule": "2026-03-02T00:00:00Z",
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{ "startPeriod": 0, "limit": 16.0 }]
        }
    });
    merge(&mut profile, extra);
    profile
}

fn merge(target: &mut Value, patch: Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                if value.is_null() {
                    target.remove(&key);
                } else if let Some(existing) = target.get_mut(&key)
                    && existing.is_object()
                {
                    merge(existing, value);
                } else {
                    target.insert(key, value);
                }
            }
        }
        (target, patch) => *target = patch,
    }
}

#[test]
fn set_chargingprofile_answers() {
    use ChargingProfileStatus::{Accepted, Rejected};
    let cases: Vec<(&str, i32, Value, Result<ChargingProfileStatus, Violation>)> = vec![
        (
            "TxDefaultProfile on connector 0",
            0,
            json!({}),
            Ok(Accepted),
        ),
        (
            "ChargePointMaxProfile on a connector",
            1,
            json!({ "chargingProfilePurpose": "ChargePointMaxProfile" }),
            Ok(Rejected),
        ),
        (
            "recurrencyKind on an Absolute profile",
            0,
            json!({ "recurrencyKind": "Daily" }),
            Ok(Rejected),
        ),
        (
            "Recurring without recurrencyKind",
            0,
            json!({ "chargingProfileKind": "Recurring" }),
            Ok(Rejected),
        ),
        (
            "Recurring with recurrencyKind",
            0,
            json!({ "chargingProfileKind": "Recurring", "recurrencyKind": "Weekly" }),
            Ok(Accepted),
        ),
        (
            "Absolute without startSchedule",
            0,
            json!({ "chargingSchedule": { "startSchedule": null } }),
            Ok(Rejected),
        ),
        (
            "Relative without startSchedule",
            0,
            json!({ "chargingProfileKind": "Relative", "chargingSchedule": { "startSchedule": null } }),
            Ok(Accepted),
        ),
        (
            "negative stackLevel",
            0,
            json!({ "stackLevel": -1 }),
            Ok(Rejected),
        ),
        (
            "negative duration",
            0,
            json!({ "chargingSchedule": { "duration": -5 } }),
            Ok(Rejected),
        ),
        (
            "numberPhases 4",
            0,
            json!({ "chargingSchedule": { "chargingSchedulePeriod": [
                { "startPeriod": 0, "limit": 16.0, "numberPhases": 4 }
            ] } }),
            Ok(Rejected),
        ),
        (
            "first startPeriod not 0",
            0,
            json!({ "chargingSchedule": { "chargingSchedulePeriod": [
                { "startPeriod": 10, "limit": 16.0 }
            ] } }),
            Ok(Rejected),
        ),
        (
            "TxProfile for the running transaction",
            1,
            json!({ "chargingProfilePurpose": "TxProfile", "transactionId": 42 }),
            Ok(Accepted),
        ),
        (
            "TxProfile for another transaction",
            1,
            json!({ "chargingProfilePurpose": "TxProfile", "transactionId": 43 }),
            Ok(Rejected),
        ),
        (
            "TxProfile where no transaction runs",
            2,
            json!({ "chargingProfilePurpose": "TxProfile" }),
            Ok(Rejected),
        ),
        (
            "negative connectorId",
            -1,
            json!({}),
            Err(Violation::ConnectorId(-1)),
        ),
        (
            "connectorId beyond the station",
            3,
            json!({}),
            Err(Violation::ConnectorId(3)),
        ),
    ];
    for (name, connector_id, patch, expected) in cases {
        let mut store = store();
        let request = set_request(connector_id, tx_default(patch));
        assert_eq!(set(&mut store, &request, now()), expected, "{name}");
        let installed = usize::from(expected == Ok(Accepted));
        assert_eq!(store.profiles().len(), installed, "{name}");
    }
}

#[test]
fn violations_are_property_constraint_violations() {
    for violation in [
        Violation::ConnectorId(9),
        Violation::ChargingRateUnit(ChargingRateUnit::A),
        Violation::Duration(-1),
    ] {
        assert_eq!(
            violation.error_code(),
            ErrorCode::PropertyConstraintViolation
        );
        assert!(!violation.to_string().is_empty());
    }
}

#[test]
fn get_composite_schedule_response_is_schema_valid_and_has_no_start_schedule() {
    let mut store = store();
    let request = set_request(
        0,
        tx_default(json!({ "chargingSchedule": { "chargingSchedulePeriod": [
            { "startPeriod": 0, "limit": 16.0 },
            { "startPeriod": 36_000 + 1800, "limit": 10.0 }
        ] } })),
    );
    assert_eq!(
        set(&mut store, &request, now()),
        Ok(ChargingProfileStatus::Accepted)
    );
    let request: GetCompositeScheduleRequest = serde_json::from_value(
        json!({ "connectorId": 1, "duration": 3600, "chargingRateUnit": "A" }),
    )
    .expect("decodes");
    let response = composite(&store, &request, now()).expect("allowed unit");
    let payload = serde_json::to_value(&response).expect("encodes");
    assert_eq!(
        violations(
            OcppVersion::V16,
            "GetCompositeSchedule",
            PayloadKind::Response,
            &payload
        ),
        []
    );
    assert_eq!(
        payload,
        json!({
            "status": "Accepted",
            "connectorId": 1,
            "scheduleStart": "2026-03-02T10:00:00.000Z",
            "chargingSchedule": {
                "duration": 3600,
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [
                    { "startPeriod": 0, "limit": 16.0 },
                    { "startPeriod": 1800, "limit": 10.0 }
                ]
            }
        })
    );
}

#[test]
fn get_composite_schedule_edge_cases() {
    let store = store();
    let ask = |value: Value| -> GetCompositeScheduleRequest {
        serde_json::from_value(value).expect("decodes")
    };
    let unknown = composite(
        &store,
        &ask(json!({ "connectorId": 3, "duration": 60 })),
        now(),
    )
    .expect("a status, not an error");
    assert_eq!(unknown.status, GetCompositeScheduleStatus::Rejected);
    assert_eq!(unknown.charging_schedule, None);
    let negative = composite(
        &store,
        &ask(json!({ "connectorId": -2, "duration": 60 })),
        now(),
    )
    .expect("a status, not an error");
    assert_eq!(negative.status, GetCompositeScheduleStatus::Rejected);

    // Without a unit: watts, which suit a DC station, when allowed.
    let station = composite(
        &store,
        &ask(json!({ "connectorId": 0, "duration": 60 })),
        now(),
    )
    .expect("answered");
    let schedule = station.charging_schedule.expect("a schedule");
    assert_eq!(schedule.charging_rate_unit, ChargingRateUnit::W);
    assert_eq!(schedule.charging_schedule_period[0].limit, 69_000.0);

    let amps_only = ProfileStore::new(Limits {
        allowed_units: vec![RateUnit::Amps],
        ..Limits::new(2, Watts(69_000.0))
    });
    let schedule = composite(
        &amps_only,
        &ask(json!({ "connectorId": 1, "duration": 60 })),
        now(),
    )
    .expect("answered")
    .charging_schedule
    .expect("a schedule");
    assert_eq!(schedule.charging_rate_unit, ChargingRateUnit::A);
    assert_eq!(schedule.charging_schedule_period[0].limit, 100.0);
    assert_eq!(
        composite(
            &amps_only,
            &ask(json!({ "connectorId": 1, "duration": 60, "chargingRateUnit": "W" })),
            now()
        ),
        Err(Violation::ChargingRateUnit(ChargingRateUnit::W))
    );
    assert_eq!(
        composite(
            &amps_only,
            &ask(json!({ "connectorId": 1, "duration": -1 })),
            now()
        ),
        Err(Violation::Duration(-1))
    );
}

#[test]
fn clear_chargingprofile_answers() {
    let mut store = store();
    for (id, connector, purpose, level) in [
        (1, 0, "ChargePointMaxProfile", 0),
        (2, 0, "TxDefaultProfile", 0),
        (3, 1, "TxDefaultProfile", 1),
        (4, 1, "TxProfile", 0),
    ] {
        let request = set_request(
            connector,
            tx_default(json!({
                "chargingProfileId": id,
                "chargingProfilePurpose": purpose,
                "stackLevel": level
            })),
        );
        assert_eq!(
            set(&mut store, &request, now()),
            Ok(ChargingProfileStatus::Accepted)
        );
    }
    let clear_with = |store: &mut ProfileStore, value: Value| {
        let request: ClearChargingProfileRequest = serde_json::from_value(value).expect("decodes");
        clear(store, &request)
    };
    use ClearChargingProfileStatus::{Accepted, Unknown};
    assert_eq!(
        clear_with(
            &mut store,
            json!({ "id": 3, "connectorId": -1, "stackLevel": 9 })
        ),
        Accepted,
        "the id alone decides"
    );
    assert_eq!(
        clear_with(&mut store, json!({ "id": 3 })),
        Unknown,
        "already gone"
    );
    assert_eq!(
        clear_with(&mut store, json!({ "connectorId": -1 })),
        Unknown,
        "a negative connector matches nothing"
    );
    assert_eq!(
        clear_with(&mut store, json!({ "stackLevel": -1 })),
        Unknown,
        "a negative stack level matches nothing"
    );
    assert_eq!(
        clear_with(
            &mut store,
            json!({ "connectorId": 1, "chargingProfilePurpose": "TxDefaultProfile" })
        ),
        Unknown
    );
    assert_eq!(
        clear_with(
            &mut store,
            json!({ "connectorId": 0, "chargingProfilePurpose": "ChargePointMaxProfile" })
        ),
        Accepted
    );
    assert_eq!(store.profiles().len(), 2);
    assert_eq!(clear_with(&mut store, json!({})), Accepted, "no field: all");
    assert!(store.profiles().is_empty());
    assert_eq!(clear_with(&mut store, json!({})), Unknown);
}

#[test]
fn remote_start_transaction_profile() {
    let mut store = ProfileStore::new(Limits::new(2, Watts(69_000.0)));
    let tx: ChargingProfile = serde_json::from_value(tx_default(json!({
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": { "startSchedule": null }
    })))
    .expect("decodes");
    assert_eq!(set_for_next_transaction(&mut store, 2, &tx), Ok(()));
    let mut named = tx.clone();
    named.transaction_id = Some(5);
    assert_eq!(
        set_for_next_transaction(&mut store, 2, &named),
        Err(Rejection::TransactionNotAllowed)
    );
    assert_eq!(
        set_for_next_transaction(&mut store, -1, &tx),
        Err(Rejection::Negative("connectorId"))
    );
    store
        .transaction_started(2, Transaction::new(now(), None))
        .expect("connector 2");
    let limit = store
        .limit_at(2, now())
        .expect("the remote start's profile");
    assert_eq!(limit.power, Watts(16.0 * 690.0));
    assert_eq!(limit.purpose, Purpose::Tx);
}

#[test]
fn profile_round_trip() {
    let source = tx_default(json!({
        "chargingProfileId": 7,
        "stackLevel": 3,
        "chargingProfileKind": "Recurring",
        "recurrencyKind": "Daily",
        "validFrom": "2026-03-01T00:00:00.000Z",
        "validTo": "2026-04-01T00:00:00.000Z",
        "chargingSchedule": {
            "duration": 28_800,
            "startSchedule": "2026-03-01T22:00:00.000Z",
            "minChargingRate": 6.0,
            "chargingSchedulePeriod": [
                { "startPeriod": 0, "limit": 6.0 },
                { "startPeriod": 7200, "limit": 16.5, "numberPhases": 1 }
            ]
        }
    }));
    let decoded: ChargingProfile = serde_json::from_value(source.clone()).expect("decodes");
    let core = profile(&decoded).expect("converts");
    assert_eq!(
        core.kind,
        Kind::Recurring {
            recurrence: Recurrence::Daily,
            start: Utc
                .with_ymd_and_hms(2026, 3, 1, 22, 0, 0)
                .single()
                .expect("valid time")
        }
    );
    assert_eq!(core.schedule.periods[1].phases, Some(1));
    let back = profile_to_v16(&core);
    assert_eq!(back, decoded);
    assert_eq!(serde_json::to_value(&back).expect("encodes"), source);

    let mut tx = decoded;
    tx.charging_profile_purpose = ChargingProfilePurpose::TxProfile;
    tx.transaction_id = Some(-3);
    let core = profile(&tx).expect("converts");
    assert_eq!(core.transaction, Some("-3".into()));
    assert_eq!(profile_to_v16(&core).transaction_id, Some(-3));
}

#[test]
fn allowed_units_key() {
    assert_eq!(
        parse_allowed_units("Current,Power"),
        Some(vec![RateUnit::Amps, RateUnit::Watts])
    );
    assert_eq!(parse_allowed_units(" Power "), Some(vec![RateUnit::Watts]));
    assert_eq!(
        parse_allowed_units("Power,Power"),
        Some(vec![RateUnit::Watts])
    );
    assert_eq!(parse_allowed_units(""), None);
    assert_eq!(parse_allowed_units("Current,Watts"), None);
    assert_eq!(
        format_allowed_units(&[RateUnit::Amps, RateUnit::Watts]),
        "Current,Power"
    );
    assert_eq!(format_allowed_units(&[RateUnit::Watts]), "Power");
}

/// The calls a DC station makes over one remote-started session, as its OCPP link would.
#[test]
fn station_call_sequence_from_remote_start_to_stop() {
    let limits = Limits {
        allowed_units: vec![RateUnit::Watts],
        ..Limits::new(2, Watts(300_000.0))
    };
    let mut store = ProfileStore::new(limits.clone());
    let t = now();
    let seconds = |s: i64| t + TimeDelta::seconds(s);

    // The central system caps the station at 120 kW.
    let station: SetChargingProfileRequest = serde_json::from_value(json!({
        "connectorId": 0,
        "csChargingProfiles": {
            "chargingProfileId": 1, "stackLevel": 0,
            "chargingProfilePurpose": "ChargePointMaxProfile", "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "startSchedule": "2026-03-02T00:00:00Z", "chargingRateUnit": "W",
                "chargingSchedulePeriod": [{ "startPeriod": 0, "limit": 120000.0 }]
            }
        }
    }))
    .expect("decodes");
    assert_eq!(
        set(&mut store, &station, t),
        Ok(ChargingProfileStatus::Accepted)
    );

    // RemoteStartTransaction on connector 1 brings 50 kW, then 80 kW after ten minutes.
    let remote: ChargingProfile = serde_json::from_value(json!({
        "chargingProfileId": 2, "stackLevel": 0,
        "chargingProfilePurpose": "TxProfile", "chargingProfileKind": "Relative",
        "chargingSchedule": { "chargingRateUnit": "W", "chargingSchedulePeriod": [
            { "startPeriod": 0, "limit": 50000.0 }, { "startPeriod": 600, "limit": 80000.0 }
        ] }
    }))
    .expect("decodes");
    assert_eq!(set_for_next_transaction(&mut store, 1, &remote), Ok(()));

    // The gun's session starts; StartTransaction.conf names it 1001.
    store
        .transaction_started(1, Transaction::new(t, None))
        .expect("connector 1");
    assert!(store.set_transaction_id(1, 1001.into()));
    let limit = store.limit_at(1, t).expect("limited");
    assert_eq!((limit.power, limit.purpose), (Watts(50_000.0), Purpose::Tx));
    assert_eq!(store.next_change(1, t), Some(seconds(600)));

    // Connector 2 starts without a profile; from 600 s the station limit binds both guns.
    store
        .transaction_started(2, Transaction::new(seconds(300), Some(1002.into())))
        .expect("connector 2");
    assert_eq!(
        store.limit_at(2, seconds(300)).map(|l| l.power),
        Some(Watts(70_000.0))
    );
    for connector in [1, 2] {
        let limit = store.limit_at(connector, seconds(600)).expect("limited");
        assert_eq!(
            (limit.power, limit.purpose),
            (Watts(60_000.0), Purpose::ChargePointMax)
        );
    }

    // GetCompositeSchedule for connector 1 over the next 15 minutes, asked at 300 s.
    let ask: GetCompositeScheduleRequest =
        serde_json::from_value(json!({ "connectorId": 1, "duration": 900 })).expect("decodes");
    let schedule = composite(&store, &ask, seconds(300))
        .expect("answered")
        .charging_schedule
        .expect("a schedule");
    let periods: Vec<(i32, f64)> = schedule
        .charging_schedule_period
        .iter()
        .map(|p| (p.start_period, p.limit))
        .collect();
    assert_eq!(periods, [(0, 50_000.0), (300, 80_000.0)]);

    // The station persists the store; after a restart it is the same.
    let saved = serde_json::to_string(&store.snapshot()).expect("serializes");
    let restored =
        ProfileStore::restore(limits, serde_json::from_str(&saved).expect("deserializes"));
    assert_eq!(
        restored.limit_at(1, seconds(600)),
        store.limit_at(1, seconds(600))
    );

    // StopTransaction on connector 1: its TxProfile goes, connector 2 gets the whole 120 kW.
    assert_eq!(store.transaction_ended(1), 1);
    assert_eq!(
        store.limit_at(2, seconds(900)).map(|l| l.power),
        Some(Watts(120_000.0))
    );
}
