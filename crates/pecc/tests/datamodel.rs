//! Seed 000's dispenser data model loads, misspellings read as the names they stand for, and
//! the controller serves what it holds.

mod support;

use hal::{Amps, Volts, Watts};
use pecc::datamodel::{DataModel, GunParameters};
use serde_json::json;
use std::path::PathBuf;
use support::{Secc, start};

fn seed_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/datamodel_dispenser.json")
}

#[test]
fn seed_000_template_loads_with_its_aliases() {
    let builtin = GunParameters::builtin(Watts(360_000.0));
    let loaded = DataModel::from_file(&seed_file(), 12, &builtin).expect("the seed file loads");
    for gun in [1, 12] {
        let p = loaded.model.parameters(gun).expect("every gun");
        assert_eq!(p.firmware_version, "pe_1.0.2");
        assert_eq!(p.manufacturer, "ultrafastchargers_pvt_ltd");
        assert_eq!(
            p.limit_power_max,
            Watts(120_000.0),
            "limitPowermax read as limitPowerMax"
        );
        assert_eq!(p.limit_voltage_max, Volts(100.0));
        assert_eq!(p.limit_current_max, Amps(50.0));
        assert_eq!(p.limit_discharge_current_max, Some(Amps(-30.0)));
        assert_eq!(p.limit_discharge_power_max, Some(Watts(-15_000.0)));
        assert!(p.float_values);
    }
    let notes = loaded.notes.join("\n");
    for alias in [
        "\"limitPowermax\" read as \"limitPowerMax\"",
        "\"paylaod\" read as \"payload\"",
        "\"contactorStatus\" read as \"contactorsStatus\"",
        "\"temparature\" read as \"temperature\"",
        "\"evMinPowerwatts\" read as \"evMinPowerWatts\"",
        "\"evMaxDisChargePowerWatts\" read as \"evMaxDischargePowerWatts\"",
        "\"dymanicBpt\" read as \"dynamicBpt\"",
    ] {
        assert!(notes.contains(alias), "missing note {alias}:\n{notes}");
    }
    // Templates that break PEP-WS are named, not silently used.
    assert!(notes.contains("type.request.kind.getInput: template breaks the PEP-WS schema (/payload/inputIdentifiers"), "{notes}");
    assert!(
        notes.contains("type.info.kind.status: template breaks the PEP-WS schema"),
        "{notes}"
    );
    assert!(notes.contains("limitVoltageMax is 100 V"), "{notes}");
    // After the fixes, the charging-session template is a valid message.
    assert!(
        !notes.contains("type.info.kind.chargingSession: template breaks"),
        "{notes}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_controller_serves_the_seed_model() {
    let pecc = start(2, |c| c.data_model = Some(seed_file())).await;
    assert!(!pecc.notes.is_empty());
    let mut secc = Secc::connect(&pecc.gun_url(2).expect("gun 2")).await;
    let configuration = secc.request("configuration", json!({})).await;
    let limits = &configuration["payload"];
    assert_eq!(limits["limitPowerMax"], 120_000.0);
    assert_eq!(limits["limitDischargePowerMax"], -15_000.0);
    assert_eq!(limits["manufacturer"], "ultrafastchargers_pvt_ltd");
    // The seed's 100 V limit is in force.
    secc.request("contactorsStatus", json!({"contactorsStatus": "closed"}))
        .await;
    let reply = secc.target(400.0, 10.0, "preCharge").await;
    assert_eq!(reply["payload"]["errorCategory"], "value");
    pecc.shutdown().await;
}
