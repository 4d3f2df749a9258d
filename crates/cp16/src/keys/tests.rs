//! Tests of the configuration key set: the catalogue against the fact sheet's table, presence per
//! feature set, accepted and rejected values, the AuthorizationKey and SecurityProfile rules,
//! GetConfiguration limits, presets, snapshots and the typed readings.

use super::*;
use proto_ocpp::v16::{ChargingRateUnit, Measurand, Phase};
use std::time::Duration;

use ConfigurationStatus::{Accepted, NotSupported, Rejected};

const NO_FACTS: SecurityFacts = SecurityFacts {
    central_system_root_certificate: false,
    charge_point_certificate: false,
};
const ROOT_ONLY: SecurityFacts = SecurityFacts {
    central_system_root_certificate: true,
    charge_point_certificate: false,
};
const ALL_CERTIFICATES: SecurityFacts = SecurityFacts {
    central_system_root_certificate: true,
    charge_point_certificate: true,
};

/// A 20-byte key as 40 hex digits, and the bytes it stands for.
const KEY_HEX: &str = "00112233445566778899aabbccddeeff0a1b2c3d";
const KEY_BYTES: [u8; 20] = [
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
    0x0a, 0x1b, 0x2c, 0x3d,
];

fn keys_for(profile: Profile) -> Keys {
    Keys::new(profile).expect("a valid profile")
}

/// Two DC guns, every feature.
fn dc() -> Keys {
    keys_for(Profile::new(2))
}

/// Two connectors whose meters tell phases apart.
fn with_phases() -> Keys {
    let mut profile = Profile::new(2);
    profile.phases = Phase::ALL.to_vec();
    keys_for(profile)
}

fn get_all(keys: &Keys) -> Vec<KeyValue> {
    keys.get(&GetConfigurationRequest::new())
        .expect("no key list")
        .configuration_key
        .unwrap_or_default()
}

fn get_named(keys: &Keys, names: &[&str]) -> GetConfigurationResponse {
    let request = GetConfigurationRequest {
        key: Some(names.iter().map(|n| (*n).to_owned()).collect()),
    };
    keys.get(&request).expect("within GetConfigurationMaxKeys")
}

use Access::{ReadOnly as R, ReadWrite as RW, WriteOnly as W};
use Feature::{
    Core, FirmwareManagement, LocalAuthListManagement, Reservation, Security, SmartCharging,
};

/// The fact sheet's key table as we implement it: name, access, the features that bring the key
/// (any of them), and the value GetConfiguration shows for `Profile::new(2)`.
const TABLE: &[(&str, Access, &[Feature], Option<&str>)] = &[
    ("AllowOfflineTxForUnknownId", RW, &[Core], Some("false")),
    ("AuthorizationCacheEnabled", RW, &[Core], Some("true")),
    ("AuthorizeRemoteTxRequests", RW, &[Core], Some("false")),
    ("ClockAlignedDataInterval", RW, &[Core], Some("900")),
    ("ConnectionTimeOut", RW, &[Core], Some("90")),
    (
        "ConnectorPhaseRotation",
        RW,
        &[Core],
        Some("0.RST,1.NotApplicable,2.NotApplicable"),
    ),
    ("ConnectorPhaseRotationMaxLength", R, &[Core], Some("8")),
    ("GetConfigurationMaxKeys", R, &[Core], Some("100")),
    ("HeartbeatInterval", RW, &[Core], Some("300")),
    ("LocalAuthorizeOffline", RW, &[Core], Some("true")),
    ("LocalPreAuthorize", RW, &[Core], Some("false")),
    ("MaxEnergyOnInvalidId", RW, &[Core], Some("0")),
    (
        "MeterValuesAlignedData",
        RW,
        &[Core],
        Some("Energy.Active.Import.Register"),
    ),
    ("MeterValuesAlignedDataMaxLength", R, &[Core], Some("8")),
    (
        "MeterValuesSampledData",
        RW,
        &[Core],
        Some("Energy.Active.Import.Register"),
    ),
    ("MeterValuesSampledDataMaxLength", R, &[Core], Some("8")),
    ("MeterValueSampleInterval", RW, &[Core], Some("60")),
    ("MinimumStatusDuration", RW, &[Core], Some("0")),
    ("NumberOfConnectors", R, &[Core], Some("2")),
    ("ResetRetries", RW, &[Core], Some("2")),
    (
        "StopTransactionOnEVSideDisconnect",
        R,
        &[Core],
        Some("true"),
    ),
    ("StopTransactionOnInvalidId", RW, &[Core], Some("true")),
    ("StopTxnAlignedData", RW, &[Core], Some("")),
    ("StopTxnAlignedDataMaxLength", R, &[Core], Some("8")),
    ("StopTxnSampledData", RW, &[Core], Some("")),
    ("StopTxnSampledDataMaxLength", R, &[Core], Some("8")),
    (
        "SupportedFeatureProfiles",
        R,
        &[Core],
        Some(
            "Core,FirmwareManagement,LocalAuthListManagement,Reservation,SmartCharging,RemoteTrigger",
        ),
    ),
    ("TransactionMessageAttempts", RW, &[Core], Some("3")),
    ("TransactionMessageRetryInterval", RW, &[Core], Some("60")),
    (
        "UnlockConnectorOnEVSideDisconnect",
        R,
        &[Core],
        Some("false"),
    ),
    ("WebSocketPingInterval", RW, &[Core], Some("60")),
    ("MessageTimeout", RW, &[Core], Some("30")),
    ("StopTransactionMaxMeterValues", R, &[Core], Some("200")),
    (
        "LocalAuthListEnabled",
        RW,
        &[LocalAuthListManagement],
        Some("true"),
    ),
    (
        "LocalAuthListMaxLength",
        R,
        &[LocalAuthListManagement],
        Some("1000"),
    ),
    (
        "SendLocalListMaxLength",
        R,
        &[LocalAuthListManagement],
        Some("250"),
    ),
    (
        "ReserveConnectorZeroSupported",
        R,
        &[Reservation],
        Some("true"),
    ),
    (
        "ChargeProfileMaxStackLevel",
        R,
        &[SmartCharging],
        Some("10"),
    ),
    (
        "ChargingScheduleAllowedChargingRateUnit",
        R,
        &[SmartCharging],
        Some("Current,Power"),
    ),
    (
        "ChargingScheduleMaxPeriods",
        R,
        &[SmartCharging],
        Some("48"),
    ),
    (
        "MaxChargingProfilesInstalled",
        R,
        &[SmartCharging],
        Some("32"),
    ),
    (
        "SupportedFileTransferProtocols",
        R,
        &[FirmwareManagement, Security],
        Some("HTTPS,HTTP"),
    ),
    ("SecurityProfile", RW, &[Security], Some("0")),
    ("AuthorizationKey", W, &[Security], None),
    (
        "AdditionalRootCertificateCheck",
        R,
        &[Security],
        Some("false"),
    ),
    (
        "CertificateSignedMaxChainSize",
        R,
        &[Security],
        Some("10000"),
    ),
    ("CertificateStoreMaxLength", R, &[Security], Some("20")),
    ("CpoName", RW, &[Security], None),
];

#[test]
fn catalogue_matches_the_key_table() {
    let names: Vec<&str> = Key::ALL.iter().map(|k| k.name()).collect();
    let table: Vec<&str> = TABLE.iter().map(|row| row.0).collect();
    assert_eq!(names, table, "keys and their order");
    for &(name, access, features, _) in TABLE {
        let key = Key::from_name(name).expect("declared");
        assert_eq!(key.access(), access, "{name}");
        for feature in Feature::ALL {
            assert_eq!(
                key.features().contains(*feature),
                features.contains(feature),
                "{name} with {feature:?}"
            );
        }
        assert!(!key.doc().trim().is_empty(), "{name} has documentation");
        assert!(name.len() <= 50, "{name} fits a CiString50");
        assert!(!key.reboot_required(), "{name} applies without a reboot");
    }
}

#[test]
fn defaults_and_readonly_flags_are_those_of_the_table() {
    let keys = dc();
    let entries = get_all(&keys);
    assert_eq!(entries.len(), TABLE.len());
    for (entry, &(name, access, _, value)) in entries.iter().zip(TABLE) {
        assert_eq!(entry.key, name);
        assert_eq!(entry.readonly, access == R, "{name} readonly flag");
        assert_eq!(entry.value.as_deref(), value, "{name} default");
    }
}

#[test]
fn keys_of_unsupported_features_are_absent() {
    let mut sets = vec![Features::CORE, Features::ALL, Features::NONE];
    sets.extend(Feature::ALL.iter().map(|f| Features::CORE.with(*f)));
    sets.extend(Feature::ALL.iter().map(|f| Features::ALL.without(*f)));
    for features in sets {
        let mut profile = Profile::new(1);
        profile.features = features;
        let keys = keys_for(profile);
        let listed: Vec<String> = get_all(&keys).into_iter().map(|e| e.key).collect();
        for &(name, _, brought_by, _) in TABLE {
            let present = brought_by
                .iter()
                .any(|f| *f == Core || features.contains(*f));
            assert_eq!(
                keys.find(name).is_some(),
                present,
                "{name} with {features:?}"
            );
            assert_eq!(listed.iter().any(|l| l == name), present, "{name} listed");
            if !present {
                assert_eq!(
                    keys.clone().change(name, "1", &NO_FACTS),
                    NotSupported,
                    "{name} with {features:?}"
                );
                let answer = get_named(&keys, &[name]);
                assert_eq!(answer.unknown_key, Some(vec![name.to_owned()]));
            }
        }
    }
}

#[test]
fn supported_feature_profiles_follow_the_profile() {
    let mut profile = Profile::new(1);
    profile.features = Features::NONE.with(SmartCharging).with(Security);
    let keys = keys_for(profile);
    assert_eq!(
        keys.value(Key::SupportedFeatureProfiles).as_deref(),
        Some("Core,SmartCharging")
    );
    assert!(keys.supported_features().contains(Core));
    assert!(keys.supported_features().contains(Security));
}

#[test]
fn profile_defaults_scale_with_connectors() {
    let keys = keys_for(Profile::new(MAX_CONNECTORS));
    assert_eq!(keys.number_of_connectors(), MAX_CONNECTORS);
    assert_eq!(keys.connector_phase_rotation().len(), 25);
    assert_eq!(
        keys.value(Key::ConnectorPhaseRotationMaxLength).as_deref(),
        Some("25")
    );
    let rotation = keys
        .value(Key::ConnectorPhaseRotation)
        .expect("has a value");
    assert!(rotation.len() <= 500 && rotation.ends_with(",24.NotApplicable"));
}

#[test]
fn impossible_profiles_are_refused() {
    for connectors in [0, MAX_CONNECTORS + 1] {
        assert!(matches!(
            Keys::new(Profile::new(connectors)),
            Err(KeyError::Invalid {
                key: Key::NumberOfConnectors,
                reason: Invalid::OutOfRange { .. }
            })
        ));
    }
    let mut profile = Profile::new(1);
    profile
        .measurands
        .retain(|m| *m != Measurand::EnergyActiveImportRegister);
    assert!(matches!(
        Keys::new(profile),
        Err(KeyError::Invalid {
            key: Key::MeterValuesAlignedData,
            reason: Invalid::UnsupportedMeasurand(_)
        })
    ));
}

/// ChangeConfiguration cases: key, value, answer, and the value shown afterwards when accepted.
const CHANGES: &[(&str, &str, ConfigurationStatus, Option<&str>)] = &[
    // Booleans.
    ("AllowOfflineTxForUnknownId", "true", Accepted, Some("true")),
    (
        "AuthorizationCacheEnabled",
        "FALSE",
        Accepted,
        Some("false"),
    ),
    (
        "AuthorizeRemoteTxRequests",
        " True ",
        Accepted,
        Some("true"),
    ),
    ("LocalAuthorizeOffline", "yes", Rejected, None),
    ("LocalPreAuthorize", "1", Rejected, None),
    ("StopTransactionOnInvalidId", "", Rejected, None),
    ("LocalAuthListEnabled", "false", Accepted, Some("false")),
    // Integers and their ranges.
    ("HeartbeatInterval", "0", Accepted, Some("0")),
    (
        "HeartbeatInterval",
        "2147483647",
        Accepted,
        Some("2147483647"),
    ),
    ("HeartbeatInterval", "2147483648", Rejected, None),
    ("HeartbeatInterval", "-1", Rejected, None),
    ("HeartbeatInterval", "abc", Rejected, None),
    ("HeartbeatInterval", "1.5", Rejected, None),
    ("HeartbeatInterval", " 60 ", Accepted, Some("60")),
    ("ClockAlignedDataInterval", "86400", Accepted, Some("86400")),
    ("ClockAlignedDataInterval", "86401", Rejected, None),
    ("ConnectionTimeOut", "0", Accepted, Some("0")),
    ("MeterValueSampleInterval", "-5", Rejected, None),
    ("MeterValueSampleInterval", "15", Accepted, Some("15")),
    ("MinimumStatusDuration", "3600", Accepted, Some("3600")),
    ("MinimumStatusDuration", "3601", Rejected, None),
    ("ResetRetries", "10", Accepted, Some("10")),
    ("ResetRetries", "11", Rejected, None),
    ("TransactionMessageAttempts", "0", Accepted, Some("0")),
    ("TransactionMessageAttempts", "101", Rejected, None),
    ("TransactionMessageRetryInterval", "0", Accepted, Some("0")),
    ("WebSocketPingInterval", "-1", Rejected, None),
    ("WebSocketPingInterval", "-60", Rejected, None),
    ("WebSocketPingInterval", "0", Accepted, Some("0")),
    ("WebSocketPingInterval", "86400", Accepted, Some("86400")),
    ("MessageTimeout", "0", Rejected, None),
    ("MessageTimeout", "1", Accepted, Some("1")),
    ("MaxEnergyOnInvalidId", "1500", Accepted, Some("1500")),
    // Measurand lists (this charge point measures phases).
    (
        "MeterValuesSampledData",
        "Voltage.L1,Current.Import.L2",
        Accepted,
        Some("Voltage.L1,Current.Import.L2"),
    ),
    (
        "MeterValuesSampledData",
        "voltage.l1-n",
        Accepted,
        Some("Voltage.L1-N"),
    ),
    (
        "MeterValuesAlignedData",
        "Energy.Active.Import.Register , Power.Active.Import",
        Accepted,
        Some("Energy.Active.Import.Register,Power.Active.Import"),
    ),
    (
        "MeterValuesAlignedData",
        "Energy.Active.Import.Register.L3",
        Accepted,
        Some("Energy.Active.Import.Register.L3"),
    ),
    ("MeterValuesSampledData", "SoC,SoC", Accepted, Some("SoC")),
    ("MeterValuesSampledData", "Voltage.L4", Rejected, None),
    ("MeterValuesSampledData", "Voltage.", Rejected, None),
    ("MeterValuesSampledData", "Energy", Rejected, None),
    ("MeterValuesSampledData", "Voltage,,SoC", Rejected, None),
    ("MeterValuesSampledData", "Voltage,", Rejected, None),
    ("MeterValuesSampledData", "RPM", Rejected, None),
    ("MeterValuesSampledData", "Temperature", Rejected, None),
    (
        "StopTxnSampledData",
        "Energy.Active.Import.Register",
        Accepted,
        Some("Energy.Active.Import.Register"),
    ),
    ("StopTxnAlignedData", "", Accepted, Some("")),
    ("StopTxnAlignedData", "Frequency", Rejected, None),
    // Eight entries fit the default capacity, nine do not.
    (
        "MeterValuesSampledData",
        "Voltage,Voltage.L1,Voltage.L2,Voltage.L3,Current.Import,Current.Import.L1,Current.Import.L2,Current.Import.L3",
        Accepted,
        Some(
            "Voltage,Voltage.L1,Voltage.L2,Voltage.L3,Current.Import,Current.Import.L1,Current.Import.L2,Current.Import.L3",
        ),
    ),
    (
        "StopTxnSampledData",
        "Voltage,Voltage.L1,Voltage.L2,Voltage.L3,Current.Import,Current.Import.L1,Current.Import.L2,Current.Import.L3,SoC",
        Rejected,
        None,
    ),
    // Phase rotation.
    (
        "ConnectorPhaseRotation",
        "0.RST,1.RTS,2.NotApplicable",
        Accepted,
        Some("0.RST,1.RTS,2.NotApplicable"),
    ),
    (
        "ConnectorPhaseRotation",
        "0.rst, 2.unknown",
        Accepted,
        Some("0.RST,2.Unknown"),
    ),
    ("ConnectorPhaseRotation", "", Accepted, Some("")),
    ("ConnectorPhaseRotation", "3.RST", Rejected, None),
    ("ConnectorPhaseRotation", "1.RST,1.RTS", Rejected, None),
    ("ConnectorPhaseRotation", "1.XYZ", Rejected, None),
    ("ConnectorPhaseRotation", "RST", Rejected, None),
    ("ConnectorPhaseRotation", "-1.RST", Rejected, None),
    // Text.
    (
        "CpoName",
        "Joule Charging GmbH",
        Accepted,
        Some("Joule Charging GmbH"),
    ),
    ("CpoName", "", Rejected, None),
    (
        "CpoName",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        Rejected,
        None,
    ),
    ("CpoName", "line\nbreak", Rejected, None),
    // Key names compare ignoring case; answers use the specification's spelling.
    ("heartbeatinterval", "45", Accepted, Some("45")),
    ("CONNECTIONTIMEOUT", "30", Accepted, Some("30")),
    // Unknown keys, including keys we chose not to implement.
    ("NoSuchKey", "1", NotSupported, None),
    ("BlinkRepeat", "3", NotSupported, None),
    ("SupportedFeatureProfilesMaxLength", "6", NotSupported, None),
    ("", "1", NotSupported, None),
];

#[test]
fn change_configuration_cases() {
    for &(name, value, status, shown) in CHANGES {
        let mut keys = with_phases();
        let before = keys.clone();
        assert_eq!(
            keys.change(name, value, &NO_FACTS),
            status,
            "{name} = {value:?}"
        );
        match status {
            Accepted => {
                let key = keys.find(name).expect("accepted keys exist");
                assert_eq!(keys.value(key).as_deref(), shown, "{name} = {value:?}");
                let entries = get_named(&keys, &[name]).configuration_key;
                let entry = entries.as_deref().and_then(<[KeyValue]>::first);
                assert_eq!(entry.map(|e| e.key.as_str()), Some(key.name()));
                assert!(keys.snapshot().contains(key.name()), "{name} is persisted");
            }
            _ => assert_eq!(keys, before, "{name} = {value:?} changed nothing"),
        }
    }
}

#[test]
fn read_only_keys_are_rejected_with_any_value() {
    let mut keys = dc();
    for &(name, access, _, value) in TABLE {
        if access != R {
            continue;
        }
        let before = keys.clone();
        let value = value.unwrap_or("1");
        assert_eq!(keys.change(name, value, &NO_FACTS), Rejected, "{name}");
        assert!(matches!(
            keys.try_change(name, value, &NO_FACTS),
            Err(KeyError::ReadOnly(_))
        ));
        assert_eq!(keys, before);
    }
}

#[test]
fn a_dc_charger_refuses_phase_suffixes() {
    let mut keys = dc();
    assert_eq!(
        keys.change("MeterValuesSampledData", "Voltage.L1", &NO_FACTS),
        Rejected
    );
    assert_eq!(
        keys.try_change("MeterValuesSampledData", "Voltage.L1", &NO_FACTS),
        Err(KeyError::Invalid {
            key: Key::MeterValuesSampledData,
            reason: Invalid::UnsupportedMeasurand("Voltage.L1".to_owned())
        })
    );
    assert_eq!(
        keys.change(
            "MeterValuesSampledData",
            "Voltage,Current.Import,SoC",
            &NO_FACTS
        ),
        Accepted
    );
}

#[test]
fn list_capacities_bound_lists_both_ways() {
    let mut keys = dc();
    keys.preset("MeterValuesSampledDataMaxLength", "2")
        .expect("a factory capacity");
    assert_eq!(
        keys.try_change(
            "MeterValuesSampledData",
            "Voltage,Current.Import,SoC",
            &NO_FACTS
        ),
        Err(KeyError::Invalid {
            key: Key::MeterValuesSampledData,
            reason: Invalid::TooManyItems {
                items: 3,
                capacity: 2
            }
        })
    );
    assert_eq!(
        keys.change("MeterValuesSampledData", "Voltage,SoC", &NO_FACTS),
        Accepted
    );
    assert_eq!(
        keys.preset("MeterValuesSampledDataMaxLength", "1"),
        Err(KeyError::Invalid {
            key: Key::MeterValuesSampledDataMaxLength,
            reason: Invalid::BelowCurrentLength {
                capacity: 1,
                items: 2
            }
        })
    );
    assert_eq!(keys.meter_values_sampled_data().len(), 2);
    // The phase rotation list is bounded by its own capacity.
    keys.preset("ConnectorPhaseRotationMaxLength", "3")
        .expect("three entries fit");
    assert_eq!(
        keys.change("ConnectorPhaseRotation", "0.RST,1.RST,2.RST", &NO_FACTS),
        Accepted
    );
}

#[test]
fn authorization_key_is_decoded_from_hex_or_taken_as_is() {
    let cases: &[(&str, Option<&[u8]>)] = &[
        (KEY_HEX, Some(&KEY_BYTES)),
        ("00112233445566778899AABBCCDDEEFF0A1B2C3D", Some(&KEY_BYTES)),
        (
            "0123456789abcdef0123456789abcdef",
            Some(&[
                0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab,
                0xcd, 0xef,
            ]),
        ),
        ("0123456789abcdef01", Some(b"0123456789abcdef01")),
        ("0123456789abcdef", Some(b"0123456789abcdef")),
        ("a plain password", Some(b"a plain password")),
        ("twenty characters!!!", Some(b"twenty characters!!!")),
        ("ééééééééé", Some("ééééééééé".as_bytes())),
        ("fifteen chars!!", None),
        ("twenty-one characters", None),
        // 33 hex digits do not decode, and 33 bytes are too many.
        ("0123456789abcdef0123456789abcdef0", None),
        // 42 hex digits would be 21 bytes.
        ("00112233445566778899aabbccddeeff0a1b2c3d4e", None),
        ("", None),
    ];
    for &(value, expected) in cases {
        let mut keys = dc();
        let status = keys.change("AuthorizationKey", value, &NO_FACTS);
        assert_eq!(
            status,
            if expected.is_some() {
                Accepted
            } else {
                Rejected
            },
            "{value:?}"
        );
        assert_eq!(keys.authorization_key(), expected, "{value:?}");
    }
}

#[test]
fn authorization_key_is_never_revealed() {
    let mut keys = dc();
    assert_eq!(
        keys.change("AuthorizationKey", KEY_HEX, &NO_FACTS),
        Accepted
    );
    let hidden = KeyValue {
        key: "AuthorizationKey".to_owned(),
        readonly: false,
        value: None,
    };
    assert!(get_all(&keys).contains(&hidden));
    assert_eq!(
        get_named(&keys, &["AuthorizationKey"]).configuration_key,
        Some(vec![hidden])
    );
    assert_eq!(keys.value(Key::AuthorizationKey), None);
    let plain = "a plain password";
    let mut plain_keys = dc();
    plain_keys
        .preset("AuthorizationKey", plain)
        .expect("16 characters");
    let too_long = "secret-value-21-chars";
    let rejected = keys
        .try_change("AuthorizationKey", too_long, &NO_FACTS)
        .expect_err("21 bytes are too many");
    let texts = [
        format!("{keys:?}"),
        format!("{plain_keys:?}"),
        format!("{:?}", keys.snapshot()),
        format!("{:?}", plain_keys.snapshot()),
        rejected.to_string(),
        format!("{rejected:?}"),
    ];
    for text in &texts {
        for secret in [KEY_HEX, "aabbccdd", plain, too_long] {
            assert!(!text.contains(secret), "{secret:?} shown in {text}");
        }
    }
    // The snapshot keeps the bytes, as hex, for the next start.
    let saved = serde_json::to_string(&keys.snapshot()).expect("serializable");
    assert_eq!(saved, format!(r#"{{"AuthorizationKey":"{KEY_HEX}"}}"#));
}

#[test]
fn security_profile_is_only_raised_with_its_credentials() {
    let mut keys = dc();
    assert_eq!(keys.security_profile(), SecurityProfile::Unsecured);
    assert_eq!(
        keys.try_change("SecurityProfile", "0", &ALL_CERTIFICATES),
        Err(KeyError::SecurityDowngrade {
            current: SecurityProfile::Unsecured,
            requested: SecurityProfile::Unsecured
        })
    );
    assert_eq!(
        keys.try_change("SecurityProfile", "1", &ALL_CERTIFICATES),
        Err(KeyError::MissingAuthorizationKey(
            SecurityProfile::BasicAuth
        ))
    );
    assert_eq!(
        keys.try_change("SecurityProfile", "2", &ROOT_ONLY),
        Err(KeyError::MissingAuthorizationKey(
            SecurityProfile::TlsBasicAuth
        ))
    );
    for bad in ["4", "-1", "one", ""] {
        assert_eq!(
            keys.change("SecurityProfile", bad, &ALL_CERTIFICATES),
            Rejected
        );
    }
    assert_eq!(
        keys.change("AuthorizationKey", KEY_HEX, &NO_FACTS),
        Accepted
    );
    assert_eq!(keys.change("SecurityProfile", "1", &NO_FACTS), Accepted);
    assert_eq!(keys.security_profile(), SecurityProfile::BasicAuth);
    assert_eq!(
        keys.try_change("SecurityProfile", "2", &NO_FACTS),
        Err(KeyError::MissingCentralSystemRootCertificate(
            SecurityProfile::TlsBasicAuth
        ))
    );
    assert_eq!(keys.change("SecurityProfile", "2", &ROOT_ONLY), Accepted);
    assert_eq!(
        keys.try_change("SecurityProfile", "1", &ALL_CERTIFICATES),
        Err(KeyError::SecurityDowngrade {
            current: SecurityProfile::TlsBasicAuth,
            requested: SecurityProfile::BasicAuth
        })
    );
    assert_eq!(
        keys.try_change("SecurityProfile", "3", &ROOT_ONLY),
        Err(KeyError::MissingChargePointCertificate(
            SecurityProfile::TlsClientCertificate
        ))
    );
    assert_eq!(
        keys.change("SecurityProfile", "3", &ALL_CERTIFICATES),
        Accepted
    );
    assert_eq!(keys.value(Key::SecurityProfile).as_deref(), Some("3"));
    // The station itself may fall back when the new profile cannot connect (A05).
    keys.set(Key::SecurityProfile, "2")
        .expect("the station's own write");
    assert_eq!(keys.security_profile(), SecurityProfile::TlsBasicAuth);
}

#[test]
fn profile_three_needs_no_authorization_key() {
    let mut keys = dc();
    assert_eq!(keys.change("SecurityProfile", "3", &ROOT_ONLY), Rejected);
    assert_eq!(
        keys.change("SecurityProfile", "3", &ALL_CERTIFICATES),
        Accepted
    );
    assert_eq!(
        keys.security_profile(),
        SecurityProfile::TlsClientCertificate
    );
}

#[test]
fn get_configuration_answers_known_and_unknown_keys() {
    let keys = dc();
    let answer = get_named(
        &keys,
        &[
            "HeartbeatInterval",
            "Foo",
            "heartbeatINTERVAL",
            "NumberOfConnectors",
            "Foo",
        ],
    );
    assert_eq!(
        answer.configuration_key,
        Some(vec![
            KeyValue {
                key: "HeartbeatInterval".to_owned(),
                readonly: false,
                value: Some("300".to_owned())
            },
            KeyValue {
                key: "NumberOfConnectors".to_owned(),
                readonly: true,
                value: Some("2".to_owned())
            },
        ])
    );
    assert_eq!(answer.unknown_key, Some(vec!["Foo".to_owned()]));
    let unknown_only = get_named(&keys, &["Foo"]);
    assert_eq!(unknown_only.configuration_key, None);
    let known_only = get_named(&keys, &["CpoName"]);
    assert_eq!(known_only.unknown_key, None);
    assert_eq!(
        known_only.configuration_key,
        Some(vec![KeyValue {
            key: "CpoName".to_owned(),
            readonly: false,
            value: None
        }])
    );
    let empty_list = GetConfigurationRequest {
        key: Some(Vec::new()),
    };
    assert_eq!(
        keys.get(&empty_list)
            .expect("an empty list")
            .configuration_key,
        Some(get_all(&keys))
    );
    // The answer passes the schema's limits.
    for entry in get_all(&keys) {
        assert!(entry.key.len() <= 50);
        assert!(entry.value.is_none_or(|v| v.chars().count() <= 500));
    }
}

#[test]
fn get_configuration_refuses_more_than_max_keys() {
    let keys = dc();
    let max = keys.configuration_max_keys();
    assert!(usize::try_from(max).expect("small") >= Key::ALL.len());
    let names = |n: u32| GetConfigurationRequest {
        key: Some((0..n).map(|i| format!("Key{i}")).collect()),
    };
    assert_eq!(
        keys.get(&names(max + 1)),
        Err(TooManyKeys {
            requested: usize::try_from(max + 1).expect("small"),
            max
        })
    );
    let answer = keys.get(&names(max)).expect("exactly the maximum");
    assert_eq!(answer.unknown_key.map(|u| u.len()), Some(100));
}

#[test]
fn presets_set_factory_values_without_entering_snapshots() {
    let mut keys = dc();
    keys.preset("LocalAuthListMaxLength", "42")
        .expect("a read-only key may be preset");
    keys.preset("stoptxnsampleddata", "Energy.Active.Import.Register,SoC")
        .expect("a read-write key too");
    keys.preset("SecurityProfile", "2")
        .expect("no raise rule for the factory");
    assert_eq!(keys.local_auth_list_max_length(), 42);
    assert_eq!(keys.stop_txn_sampled_data().len(), 2);
    assert_eq!(keys.security_profile(), SecurityProfile::TlsBasicAuth);
    assert!(keys.snapshot().is_empty());
    assert_eq!(
        keys.preset("NumberOfConnectors", "3"),
        Err(KeyError::Derived(Key::NumberOfConnectors))
    );
    assert_eq!(
        keys.preset("GetConfigurationMaxKeys", "5"),
        Err(KeyError::Derived(Key::GetConfigurationMaxKeys))
    );
    assert_eq!(
        keys.preset("SupportedFeatureProfiles", "Core"),
        Err(KeyError::Derived(Key::SupportedFeatureProfiles))
    );
    assert_eq!(
        keys.preset("Nope", "1"),
        Err(KeyError::Unknown("Nope".to_owned()))
    );
    assert!(matches!(
        keys.preset("LocalAuthListMaxLength", "0"),
        Err(KeyError::Invalid {
            key: Key::LocalAuthListMaxLength,
            reason: Invalid::OutOfRange {
                value: 0,
                min: 1,
                max: 100_000
            }
        })
    ));
    let mut core_only = Profile::new(1);
    core_only.features = Features::CORE;
    assert_eq!(
        keys_for(core_only).preset("CpoName", "x"),
        Err(KeyError::Unknown("CpoName".to_owned()))
    );
}

#[test]
fn snapshot_round_trips_through_json() {
    let factory = |keys: &mut Keys| {
        keys.preset("LocalAuthListMaxLength", "42")
            .expect("factory setting");
    };
    let mut keys = with_phases();
    factory(&mut keys);
    for (name, value) in [
        ("MeterValueSampleInterval", "15"),
        ("MeterValuesSampledData", "Voltage.L1,Current.Import"),
        ("StopTxnAlignedData", "Energy.Active.Import.Register"),
        ("LocalPreAuthorize", "true"),
        ("ConnectorPhaseRotation", "0.RTS,1.RST"),
        ("AuthorizationKey", KEY_HEX),
        ("CpoName", "Joule"),
        ("WebSocketPingInterval", "0"),
    ] {
        assert_eq!(keys.change(name, value, &NO_FACTS), Accepted, "{name}");
    }
    assert_eq!(keys.change("SecurityProfile", "1", &NO_FACTS), Accepted);
    keys.set_heartbeat_interval(120)
        .expect("interval from BootNotification.conf");
    // A capacity the station raised is restored before the list it bounds.
    keys.set(Key::StopTxnSampledDataMaxLength, "10")
        .expect("the station's own write");
    assert_eq!(
        keys.change(
            "StopTxnSampledData",
            "Voltage,Voltage.L1,Voltage.L2,Voltage.L3,Current.Import,Current.Import.L1,Current.Import.L2,Current.Import.L3,SoC",
            &NO_FACTS
        ),
        Accepted
    );

    let snapshot = keys.snapshot();
    assert_eq!(snapshot.len(), 12);
    assert!(!snapshot.contains("LocalAuthListMaxLength"));
    let saved = serde_json::to_string_pretty(&snapshot).expect("serializable");
    let loaded: Snapshot = serde_json::from_str(&saved).expect("deserializable");
    assert_eq!(loaded, snapshot);

    let mut restarted = with_phases();
    factory(&mut restarted);
    assert_eq!(restarted.restore(&loaded), Vec::new());
    assert_eq!(restarted, keys);
    assert_eq!(restarted.authorization_key(), Some(&KEY_BYTES[..]));
    assert_eq!(restarted.heartbeat_interval(), Duration::from_secs(120));
    assert_eq!(restarted.snapshot(), snapshot);
}

#[test]
fn restore_skips_and_reports_bad_entries() {
    let saved = r#"{
        "HeartbeatInterval": "-5",
        "MeterValueSampleInterval": 30,
        "LocalPreAuthorize": true,
        "MeterValuesSampledData": "Bogus.Measurand",
        "NumberOfConnectors": "3",
        "Nonsense": "1",
        "WebSocketPingInterval": [1],
        "SecurityProfile": "0",
        "ClockAlignedDataInterval": "600",
        "StopTransactionOnEVSideDisconnect": "maybe",
        "AuthorizationKey": "short"
    }"#;
    let snapshot: Snapshot = serde_json::from_str(saved).expect("a JSON object");
    let mut keys = dc();
    keys.preset("AuthorizationKey", KEY_HEX)
        .expect("factory password");
    keys.preset("SecurityProfile", "1")
        .expect("factory profile");
    let factory = keys.clone();
    let mut errors = keys.restore(&snapshot);
    errors.sort_by_key(ToString::to_string);
    let expected = vec![
        KeyError::Unknown("Nonsense".to_owned()),
        KeyError::Derived(Key::NumberOfConnectors),
        KeyError::Invalid {
            key: Key::AuthorizationKey,
            reason: Invalid::Format {
                expected: "16 to 20 bytes: 32 to 40 hex digits, or 16 to 20 characters",
            },
        },
        KeyError::Invalid {
            key: Key::HeartbeatInterval,
            reason: Invalid::OutOfRange {
                value: -5,
                min: 0,
                max: 2_147_483_647,
            },
        },
        KeyError::Invalid {
            key: Key::MeterValuesSampledData,
            reason: Invalid::UnknownMeasurand("Bogus.Measurand".to_owned()),
        },
        KeyError::Invalid {
            key: Key::StopTransactionOnEVSideDisconnect,
            reason: Invalid::Format {
                expected: "true or false",
            },
        },
        KeyError::Invalid {
            key: Key::WebSocketPingInterval,
            reason: Invalid::Format {
                expected: "a string, number or boolean",
            },
        },
        KeyError::SecurityDowngrade {
            current: SecurityProfile::BasicAuth,
            requested: SecurityProfile::Unsecured,
        },
    ];
    let mut expected_sorted = expected;
    expected_sorted.sort_by_key(ToString::to_string);
    assert_eq!(errors, expected_sorted);
    // The good entries applied; the bad ones left the factory values.
    assert_eq!(
        keys.meter_value_sample_interval(),
        Some(Duration::from_secs(30))
    );
    assert!(keys.local_pre_authorize());
    assert_eq!(
        keys.clock_aligned_data_interval(),
        Some(Duration::from_secs(600))
    );
    assert_eq!(keys.heartbeat_interval(), factory.heartbeat_interval());
    assert_eq!(
        keys.meter_values_sampled_data(),
        factory.meter_values_sampled_data()
    );
    assert_eq!(keys.security_profile(), SecurityProfile::BasicAuth);
    assert_eq!(keys.authorization_key(), Some(&KEY_BYTES[..]));
    assert_eq!(keys.snapshot().len(), 3);
}

#[test]
fn restore_of_a_snapshot_from_another_profile_skips_missing_keys() {
    let mut full = dc();
    assert_eq!(
        full.change("LocalAuthListEnabled", "false", &NO_FACTS),
        Accepted
    );
    assert_eq!(full.change("HeartbeatInterval", "50", &NO_FACTS), Accepted);
    assert_eq!(
        full.change("ConnectorPhaseRotation", "2.RST", &NO_FACTS),
        Accepted
    );
    let mut profile = Profile::new(1);
    profile.features = Features::CORE;
    let mut smaller = keys_for(profile);
    let errors = smaller.restore(&full.snapshot());
    assert_eq!(
        errors,
        vec![
            KeyError::Invalid {
                key: Key::ConnectorPhaseRotation,
                reason: Invalid::UnknownConnector(2)
            },
            KeyError::Unknown("LocalAuthListEnabled".to_owned()),
        ]
    );
    assert_eq!(smaller.heartbeat_interval(), Duration::from_secs(50));
}

#[test]
fn typed_readings_of_the_defaults() {
    let keys = dc();
    assert_eq!(keys.heartbeat_interval(), Duration::from_secs(300));
    assert_eq!(
        keys.meter_value_sample_interval(),
        Some(Duration::from_secs(60))
    );
    assert_eq!(
        keys.clock_aligned_data_interval(),
        Some(Duration::from_secs(900))
    );
    assert_eq!(keys.connection_timeout(), Some(Duration::from_secs(90)));
    let energy = SampledMeasurand {
        measurand: Measurand::EnergyActiveImportRegister,
        phase: None,
    };
    assert_eq!(keys.meter_values_sampled_data(), [energy]);
    assert_eq!(keys.meter_values_aligned_data(), [energy]);
    assert!(keys.stop_txn_sampled_data().is_empty());
    assert!(keys.stop_txn_aligned_data().is_empty());
    assert!(!keys.authorize_remote_tx_requests());
    assert!(keys.local_authorize_offline());
    assert!(!keys.local_pre_authorize());
    assert!(!keys.allow_offline_tx_for_unknown_id());
    assert!(keys.authorization_cache_enabled());
    assert!(keys.local_auth_list_enabled());
    assert!(keys.stop_transaction_on_invalid_id());
    assert!(keys.stop_transaction_on_ev_side_disconnect());
    assert!(!keys.unlock_connector_on_ev_side_disconnect());
    assert_eq!(keys.max_energy_on_invalid_id(), 0);
    assert_eq!(keys.minimum_status_duration(), Duration::ZERO);
    assert_eq!(keys.reset_retries(), 2);
    assert_eq!(keys.transaction_message_attempts(), 3);
    assert_eq!(
        keys.transaction_message_retry_interval(),
        Duration::from_secs(60)
    );
    assert_eq!(
        keys.web_socket_ping_interval(),
        Some(Duration::from_secs(60))
    );
    assert_eq!(keys.message_timeout(), Duration::from_secs(30));
    assert_eq!(keys.stop_transaction_max_meter_values(), 200);
    assert_eq!(keys.number_of_connectors(), 2);
    assert_eq!(keys.configuration_max_keys(), 100);
    assert_eq!(keys.local_auth_list_max_length(), 1000);
    assert_eq!(keys.send_local_list_max_length(), 250);
    assert!(keys.reserve_connector_zero_supported());
    assert_eq!(keys.charge_profile_max_stack_level(), 10);
    assert_eq!(
        keys.charging_schedule_allowed_charging_rate_unit(),
        [ChargingRateUnit::A, ChargingRateUnit::W]
    );
    assert_eq!(keys.charging_schedule_max_periods(), 48);
    assert_eq!(keys.max_charging_profiles_installed(), 32);
    assert_eq!(keys.security_profile(), SecurityProfile::Unsecured);
    assert_eq!(keys.authorization_key(), None);
    assert_eq!(keys.cpo_name(), None);
    assert_eq!(keys.certificate_signed_max_chain_size(), 10_000);
    assert_eq!(keys.certificate_store_max_length(), 20);
    assert!(!keys.additional_root_certificate_check());
    assert_eq!(
        keys.supported_file_transfer_protocols(),
        [FileTransferProtocol::Https, FileTransferProtocol::Http]
    );
    assert_eq!(
        keys.connector_phase_rotation(),
        [
            ConnectorRotation {
                connector: 0,
                rotation: PhaseRotation::Rst
            },
            ConnectorRotation {
                connector: 1,
                rotation: PhaseRotation::NotApplicable
            },
            ConnectorRotation {
                connector: 2,
                rotation: PhaseRotation::NotApplicable
            },
        ]
    );
}

#[test]
fn typed_readings_follow_changes() {
    let mut keys = with_phases();
    for (name, value) in [
        ("MeterValueSampleInterval", "0"),
        ("ClockAlignedDataInterval", "0"),
        ("ConnectionTimeOut", "0"),
        ("WebSocketPingInterval", "0"),
        ("MeterValuesSampledData", "Voltage.L2-L3,SoC"),
        ("MinimumStatusDuration", "5"),
        ("CpoName", "Joule CPO"),
        ("AuthorizeRemoteTxRequests", "true"),
        ("MaxEnergyOnInvalidId", "250"),
    ] {
        assert_eq!(keys.change(name, value, &NO_FACTS), Accepted, "{name}");
    }
    assert_eq!(keys.meter_value_sample_interval(), None);
    assert_eq!(keys.clock_aligned_data_interval(), None);
    assert_eq!(keys.connection_timeout(), None);
    assert_eq!(keys.web_socket_ping_interval(), None);
    assert_eq!(
        keys.meter_values_sampled_data(),
        [
            SampledMeasurand {
                measurand: Measurand::Voltage,
                phase: Some(Phase::L2L3)
            },
            SampledMeasurand {
                measurand: Measurand::SoC,
                phase: None
            }
        ]
    );
    assert_eq!(keys.minimum_status_duration(), Duration::from_secs(5));
    assert_eq!(keys.cpo_name(), Some("Joule CPO"));
    assert!(keys.authorize_remote_tx_requests());
    assert_eq!(keys.max_energy_on_invalid_id(), 250);

    // The heartbeat runs at least daily.
    keys.set_heartbeat_interval(0).expect("zero is a value");
    assert_eq!(keys.heartbeat_interval(), Duration::from_secs(86_400));
    keys.set_heartbeat_interval(100_000).expect("in range");
    assert_eq!(keys.heartbeat_interval(), Duration::from_secs(86_400));
    keys.set_heartbeat_interval(45).expect("in range");
    assert_eq!(keys.heartbeat_interval(), Duration::from_secs(45));
    let before = keys.clone();
    assert!(keys.set_heartbeat_interval(-1).is_err());
    assert_eq!(keys, before);
    assert_eq!(keys.value(Key::HeartbeatInterval).as_deref(), Some("45"));
}

#[test]
fn unsupported_features_read_as_off() {
    let mut profile = Profile::new(1);
    profile.features = Features::CORE;
    let keys = keys_for(profile);
    assert!(!keys.local_auth_list_enabled());
    assert_eq!(keys.local_auth_list_max_length(), 0);
    assert_eq!(keys.send_local_list_max_length(), 0);
    assert!(!keys.reserve_connector_zero_supported());
    assert_eq!(keys.charge_profile_max_stack_level(), 0);
    assert!(
        keys.charging_schedule_allowed_charging_rate_unit()
            .is_empty()
    );
    assert_eq!(keys.charging_schedule_max_periods(), 0);
    assert_eq!(keys.max_charging_profiles_installed(), 0);
    assert!(keys.supported_file_transfer_protocols().is_empty());
    assert_eq!(keys.security_profile(), SecurityProfile::Unsecured);
    assert_eq!(keys.authorization_key(), None);
    assert_eq!(keys.certificate_store_max_length(), 0);
    assert_eq!(keys.keys().count(), 33);
    // Firmware management alone still brings the file transfer protocols.
    let mut profile = Profile::new(1);
    profile.features = Features::CORE.with(FirmwareManagement);
    assert_eq!(
        keys_for(profile).supported_file_transfer_protocols().len(),
        2
    );
}

#[test]
fn accepted_changes_name_their_key() {
    let mut keys = dc();
    assert_eq!(
        keys.try_change("heartbeatinterval", "30", &NO_FACTS),
        Ok(Key::HeartbeatInterval)
    );
    assert_eq!(Key::HeartbeatInterval.accepted_status(), Accepted);
    assert_eq!(
        keys.try_change("Nope", "1", &NO_FACTS)
            .map_err(|e| e.status()),
        Err(NotSupported)
    );
}

#[test]
fn catalogue_cross_references_hold() {
    for &key in Key::ALL {
        assert_eq!(Key::from_name(key.name()), Some(key));
        assert_eq!(Key::from_name(&key.name().to_lowercase()), Some(key));
        if let Some(capacity) = key.capacity() {
            assert_eq!(capacity.access(), Access::ReadOnly, "{key}");
            assert_eq!(capacity.bounded_list(), Some(key));
            assert!(capacity.name().ends_with("MaxLength"));
        }
    }
    let capacities = Key::ALL.iter().filter(|k| k.capacity().is_some()).count();
    assert_eq!(capacities, 5);
}

#[test]
fn measurand_entries_parse_with_and_without_phase() {
    type Expected = Option<(Measurand, Option<Phase>)>;
    let cases: &[(&str, Expected)] = &[
        (
            "Energy.Active.Import.Register",
            Some((Measurand::EnergyActiveImportRegister, None)),
        ),
        (
            "Energy.Active.Import.Register.L1",
            Some((Measurand::EnergyActiveImportRegister, Some(Phase::L1))),
        ),
        ("Voltage.L3-N", Some((Measurand::Voltage, Some(Phase::L3N)))),
        (
            "Current.Import.N",
            Some((Measurand::CurrentImport, Some(Phase::N))),
        ),
        ("power.factor", Some((Measurand::PowerFactor, None))),
        ("RPM", Some((Measurand::Rpm, None))),
        ("Voltage.L1.L2", None),
        ("Voltage L1", None),
        (".L1", None),
        ("", None),
    ];
    for &(entry, expected) in cases {
        let parsed = SampledMeasurand::parse(entry).map(|s| (s.measurand, s.phase));
        assert_eq!(parsed, expected, "{entry:?}");
        if let Some(parsed) = SampledMeasurand::parse(entry) {
            let again = SampledMeasurand::parse(&parsed.to_string());
            assert_eq!(again, Some(parsed));
        }
    }
}

/// The Python `ocpp` package lists the 1.6 key names; every key both of us know is spelled alike.
#[test]
fn key_names_match_the_python_ocpp_package() {
    let Some(python) = testkit::interop_python(&["ocpp"], "the key-name check against Python ocpp")
    else {
        return;
    };
    let output = std::process::Command::new(python)
        .args([
            "-c",
            "from ocpp.v16.enums import ConfigurationKey\nfor k in ConfigurationKey: print(k.value)",
        ])
        .output()
        .expect("Python runs");
    assert!(output.status.success(), "{output:?}");
    let listing = String::from_utf8(output.stdout).expect("UTF-8");
    let theirs: Vec<&str> = listing.lines().map(str::trim).collect();
    // The errata added these after the package's list was made.
    let errata = [
        "MessageTimeout",
        "StopTransactionMaxMeterValues",
        "SupportedFileTransferProtocols",
    ];
    for key in Key::ALL {
        let name = key.name();
        assert!(
            theirs.contains(&name) || errata.contains(&name),
            "{name} is not in the package's list"
        );
    }
    // What the package lists and we lack is what the fact sheet skips ("–") or ISO 15118.
    let skipped = [
        "BlinkRepeat",
        "LightIntensity",
        "SupportedFeatureProfilesMaxLength",
        "ConnectorSwitch3to1PhaseSupported",
        "CentralContractValidationAllowed",
        "CertSigningWaitMinimum",
        "CertSigningRepeatTimes",
        "ContractValidationOffline",
        "ISO15118PnCEnabled",
    ];
    for name in &theirs {
        assert!(
            Key::from_name(name).is_some_and(|k| k.name() == *name) || skipped.contains(name),
            "{name} from the package"
        );
    }
    assert!(theirs.len() >= 45, "{theirs:?}");
}
