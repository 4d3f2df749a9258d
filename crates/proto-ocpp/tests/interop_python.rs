//! Interop cross-check against an independent OCPP-J implementation: the Python `ocpp` package
//! (pinned in `interop/requirements.txt`) validates, with its own copies of the OCA schemas, the
//! payloads our typed messages encode for a representative set of actions of each version.
//!
//! `interop/validate_payloads.py` runs the package's validation over the whole batch in one
//! process. Every payload also goes through our own validator, and a few deliberately broken
//! payloads prove that both validators really reject what breaks a schema.
//!
//! The peer is the Python named by `JOULE_PYTHON`, else the workspace's `.venv` (which
//! `cargo xtask test` prepares). Without one the Python test is skipped, unless `JOULE_INTEROP=1`
//! asks for it to be required.

#![allow(clippy::print_stderr)]

use proto_ocpp::validate::{self, PayloadKind};
use proto_ocpp::{CustomData, OcppRequest, OcppVersion, Timestamp, v16, v21, v201};
use serde::Deserialize;
use serde_json::{Value, json};
use std::ffi::OsString;
use std::io::Write;
use std::process::{Command, Stdio};

const VALIDATOR_SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../interop/validate_payloads.py"
);

/// A PEM certificate, shortened: the schemas bound the length, not the content.
const PEM: &str = concat!(
    "-----BEGIN CERTIFICATE-----\n",
    "MIIBszCCAVmgAwIBAgIUJ0VvTGludGVyb3A=\n",
    "-----END CERTIFICATE-----\n",
);
/// A PEM certificate signing request, shortened likewise.
const CSR: &str = concat!(
    "-----BEGIN CERTIFICATE REQUEST-----\n",
    "MIIBDzCBtgIBADBUMQswCQYDVQQG\n",
    "-----END CERTIFICATE REQUEST-----\n",
);

#[test]
fn our_validator_accepts_our_encodings_and_rejects_the_broken_ones() {
    let mismatches: Vec<String> = all_cases()
        .iter()
        .filter_map(|case| {
            let ours = our_verdict(case);
            (!case.is_expected(&ours)).then(|| format!("{}: ours {ours:?}", case.label()))
        })
        .collect();
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn python_ocpp_accepts_our_encodings_and_rejects_the_broken_ones() {
    let Some(python) = testkit::interop_python(&["ocpp"], "the Python interop check") else {
        return;
    };
    let cases = all_cases();
    let verdicts = python_verdicts(&python, &cases);
    let mismatches: Vec<String> = cases
        .iter()
        .zip(verdicts)
        .filter(|(case, python)| !case.is_expected(python))
        .map(|(case, python)| {
            let ours = our_verdict(case);
            format!("{}: python {python:?}, ours {ours:?}", case.label())
        })
        .collect();
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// One encoded payload and the verdict every validator must reach on it.
struct Case {
    version: OcppVersion,
    action: &'static str,
    kind: PayloadKind,
    payload: Value,
    /// The property that breaks the schema, which a rejection must name; `None` when the
    /// payload must be accepted.
    culprit: Option<&'static str>,
}

impl Case {
    fn request<R: OcppRequest>(message: &R) -> Self {
        Self::encode(R::VERSION, R::ACTION, PayloadKind::Request, message)
    }

    /// The response to `R` (name the request type: `Case::response::<R>(&response)`).
    fn response<R: OcppRequest>(message: &R::Response) -> Self {
        Self::encode(R::VERSION, R::ACTION, PayloadKind::Response, message)
    }

    fn encode(
        version: OcppVersion,
        action: &'static str,
        kind: PayloadKind,
        message: &impl serde::Serialize,
    ) -> Self {
        Self {
            version,
            action,
            kind,
            payload: serde_json::to_value(message).expect("typed messages encode"),
            culprit: None,
        }
    }

    /// Marks the payload as one the schema rejects because of the property `culprit`.
    fn broken_at(self, culprit: &'static str) -> Self {
        Self {
            culprit: Some(culprit),
            ..self
        }
    }

    /// Removes the property `pointer` names, making the payload break its schema.
    fn without(mut self, pointer: &'static str) -> Self {
        let (parent, culprit) = pointer.rsplit_once('/').expect("a JSON pointer");
        let removed = self
            .payload
            .pointer_mut(parent)
            .and_then(Value::as_object_mut)
            .and_then(|object| object.remove(culprit));
        assert!(removed.is_some(), "{} has no {pointer}", self.label());
        self.broken_at(culprit)
    }

    /// Whether a validator's `verdict` is the expected one: acceptance, or a rejection that names
    /// the culprit (not one for some unrelated reason, such as an unknown action).
    fn is_expected(&self, verdict: &Result<(), String>) -> bool {
        match (self.culprit, verdict) {
            (None, Ok(())) => true,
            (Some(culprit), Err(reason)) => reason.contains(culprit),
            _ => false,
        }
    }

    fn label(&self) -> String {
        let (version, action, kind) = (self.version, self.action, self.kind);
        match self.culprit {
            None => format!("{version} {action} {kind}"),
            Some(culprit) => format!("{version} {action} {kind} with {culprit} broken"),
        }
    }

    /// The line `validate_payloads.py` reads.
    fn to_json_line(&self) -> String {
        let line = json!({
            "version": self.version.label(),
            "action": self.action,
            "kind": self.kind.to_string(),
            "payload": self.payload,
        });
        format!("{line}\n")
    }
}

fn our_verdict(case: &Case) -> Result<(), String> {
    let found = validate::violations(case.version, case.action, case.kind, &case.payload);
    if found.is_empty() {
        return Ok(());
    }
    let reasons: Vec<String> = found.iter().map(ToString::to_string).collect();
    Err(reasons.join("; "))
}

fn all_cases() -> Vec<Case> {
    [v16_cases(), v201_cases(), v21_cases()]
        .into_iter()
        .flatten()
        .collect()
}

fn at(text: &str) -> Timestamp {
    text.parse().expect("an RFC 3339 timestamp")
}

fn v16_cases() -> Vec<Case> {
    use v16::*;
    let now = at("2026-03-14T09:26:53.589Z");

    let boot = BootNotificationRequest {
        charge_point_serial_number: Some("JL-000042".into()),
        firmware_version: Some("0.1.0".into()),
        iccid: Some("8931080019071234567".into()),
        meter_type: Some("DZG DVH4013".into()),
        ..BootNotificationRequest::new("joule".into(), "DC-150".into())
    };
    let accepted = IdTagInfo {
        expiry_date: Some(at("2026-12-31T23:59:59+01:00")),
        parent_id_tag: Some("FLEET-7".into()),
        ..IdTagInfo::new(AuthorizationStatus::Accepted)
    };
    let sampled = |value: &str, measurand, unit, phase| SampledValue {
        context: Some(ReadingContext::SamplePeriodic),
        format: Some(ValueFormat::Raw),
        measurand: Some(measurand),
        phase,
        location: Some(Location::Outlet),
        unit: Some(unit),
        ..SampledValue::new(value.into())
    };
    let readings = MeterValue::new(
        now,
        vec![
            sampled(
                "1234.5",
                Measurand::EnergyActiveImportRegister,
                UnitOfMeasure::KWh,
                None,
            ),
            sampled(
                "16.2",
                Measurand::CurrentImport,
                UnitOfMeasure::A,
                Some(Phase::L1),
            ),
            sampled(
                "229.8",
                Measurand::Voltage,
                UnitOfMeasure::V,
                Some(Phase::L1N),
            ),
            sampled(
                "11040",
                Measurand::PowerActiveImport,
                UnitOfMeasure::W,
                None,
            ),
            sampled("41.5", Measurand::Temperature, UnitOfMeasure::Celsius, None),
            SampledValue {
                location: Some(Location::Ev),
                ..sampled("63", Measurand::SoC, UnitOfMeasure::Percent, None)
            },
        ],
    );
    let transaction_end = MeterValue::new(
        at("2026-03-14T10:02:11.000Z"),
        vec![SampledValue {
            context: Some(ReadingContext::TransactionEnd),
            ..sampled(
                "1251.9",
                Measurand::EnergyActiveImportRegister,
                UnitOfMeasure::KWh,
                None,
            )
        }],
    );
    let stop = StopTransactionRequest {
        id_tag: Some("04A2B3C4D5E6F7".into()),
        reason: Some(Reason::EvDisconnected),
        transaction_data: Some(vec![readings.clone(), transaction_end]),
        ..StopTransactionRequest::new(1_251_900, at("2026-03-14T10:02:11.000Z"), 42)
    };
    // OCPP 1.6 limits carry `multipleOf: 0.1`; 21.4 is not exact in binary floating point.
    let schedule = |limit: f64| ChargingSchedule {
        duration: Some(3600),
        start_schedule: Some(now),
        min_charging_rate: Some(6.1),
        ..ChargingSchedule::new(
            ChargingRateUnit::A,
            vec![
                ChargingSchedulePeriod::new(0, limit),
                ChargingSchedulePeriod {
                    number_phases: Some(3),
                    ..ChargingSchedulePeriod::new(900, 16.0)
                },
                ChargingSchedulePeriod::new(1800, 7.7),
            ],
        )
    };
    let profile = |limit: f64| ChargingProfile {
        transaction_id: Some(42),
        valid_from: Some(now),
        valid_to: Some(at("2026-03-15T00:00:00Z")),
        ..ChargingProfile::new(
            7,
            1,
            ChargingProfilePurpose::TxProfile,
            ChargingProfileKind::Absolute,
            schedule(limit),
        )
    };
    let daily_default = ChargingProfile {
        recurrency_kind: Some(RecurrencyKind::Daily),
        ..ChargingProfile::new(
            8,
            0,
            ChargingProfilePurpose::TxDefaultProfile,
            ChargingProfileKind::Recurring,
            schedule(32.0),
        )
    };
    let configuration = GetConfigurationResponse {
        configuration_key: Some(vec![
            KeyValue {
                value: Some("300".into()),
                ..KeyValue::new("HeartbeatInterval".into(), false)
            },
            KeyValue {
                value: Some("Energy.Active.Import.Register,Current.Import".into()),
                ..KeyValue::new("MeterValuesSampledData".into(), false)
            },
            KeyValue::new("AuthorizationKey".into(), true),
        ]),
        unknown_key: Some(vec!["NoSuchKey".into()]),
    };
    let local_list = SendLocalListRequest {
        local_authorization_list: Some(vec![
            AuthorizationData {
                id_tag_info: Some(accepted.clone()),
                ..AuthorizationData::new("04A2B3C4D5E6F7".into())
            },
            AuthorizationData::new("DEADBEEF".into()),
        ]),
        ..SendLocalListRequest::new(3, UpdateType::Full)
    };
    let get_log = GetLogRequest {
        retries: Some(2),
        retry_interval: Some(60),
        ..GetLogRequest::new(
            LogParameters {
                oldest_timestamp: Some(at("2026-03-01T00:00:00Z")),
                latest_timestamp: Some(now),
                ..LogParameters::new("https://logs.example.com/upload".into())
            },
            LogEnum::SecurityLog,
            11,
        )
    };
    let firmware = Firmware {
        install_date_time: Some(at("2026-03-15T02:00:00Z")),
        ..Firmware::new(
            "https://firmware.example.com/dc150-0.2.0.bin".into(),
            at("2026-03-15T01:00:00Z"),
            PEM.into(),
            "MEUCIQDx3nqA5j1nYt0fLkzR".into(),
        )
    };

    vec![
        Case::request(&boot),
        Case::response::<BootNotificationRequest>(&BootNotificationResponse::new(
            RegistrationStatus::Accepted,
            now,
            300,
        )),
        Case::request(&HeartbeatRequest::new()),
        Case::response::<HeartbeatRequest>(&HeartbeatResponse::new(now)),
        Case::request(&AuthorizeRequest::new("04A2B3C4D5E6F7".into())),
        Case::response::<AuthorizeRequest>(&AuthorizeResponse::new(accepted.clone())),
        Case::request(&StartTransactionRequest {
            reservation_id: Some(5),
            ..StartTransactionRequest::new(1, "04A2B3C4D5E6F7".into(), 1_234_500, now)
        }),
        Case::response::<StartTransactionRequest>(&StartTransactionResponse::new(
            accepted.clone(),
            42,
        )),
        Case::request(&stop),
        Case::response::<StopTransactionRequest>(&StopTransactionResponse {
            id_tag_info: Some(accepted),
        }),
        Case::request(&MeterValuesRequest {
            transaction_id: Some(42),
            ..MeterValuesRequest::new(1, vec![readings])
        }),
        Case::response::<MeterValuesRequest>(&MeterValuesResponse::new()),
        Case::request(&StatusNotificationRequest {
            info: Some("cable lock retried".into()),
            timestamp: Some(now),
            vendor_id: Some("com.joule".into()),
            vendor_error_code: Some("E-0042".into()),
            ..StatusNotificationRequest::new(
                1,
                ChargePointErrorCode::ConnectorLockFailure,
                ChargePointStatus::Faulted,
            )
        }),
        Case::response::<StatusNotificationRequest>(&StatusNotificationResponse::new()),
        Case::request(&SetChargingProfileRequest::new(1, profile(21.4))),
        Case::request(&SetChargingProfileRequest::new(0, daily_default)),
        Case::response::<SetChargingProfileRequest>(&SetChargingProfileResponse::new(
            ChargingProfileStatus::Accepted,
        )),
        Case::request(&RemoteStartTransactionRequest {
            connector_id: Some(1),
            charging_profile: Some(profile(21.4)),
            ..RemoteStartTransactionRequest::new("04A2B3C4D5E6F7".into())
        }),
        Case::response::<GetCompositeScheduleRequest>(&GetCompositeScheduleResponse {
            connector_id: Some(1),
            schedule_start: Some(now),
            charging_schedule: Some(schedule(21.4)),
            ..GetCompositeScheduleResponse::new(GetCompositeScheduleStatus::Accepted)
        }),
        Case::request(&GetConfigurationRequest {
            key: Some(vec!["HeartbeatInterval".into(), "NoSuchKey".into()]),
        }),
        Case::response::<GetConfigurationRequest>(&configuration),
        Case::request(&local_list),
        Case::response::<SendLocalListRequest>(&SendLocalListResponse::new(UpdateStatus::Accepted)),
        Case::request(&SignCertificateRequest::new(CSR.into())),
        Case::response::<SignCertificateRequest>(&SignCertificateResponse::new(
            GenericStatusEnum::Accepted,
        )),
        Case::request(&InstallCertificateRequest::new(
            CertificateUseEnum::CentralSystemRootCertificate,
            PEM.into(),
        )),
        Case::response::<InstallCertificateRequest>(&InstallCertificateResponse::new(
            InstallCertificateStatusEnum::Accepted,
        )),
        Case::request(&get_log),
        Case::response::<GetLogRequest>(&GetLogResponse {
            filename: Some("security-2026-03-14.log".into()),
            ..GetLogResponse::new(LogStatusEnum::Accepted)
        }),
        Case::request(&SecurityEventNotificationRequest {
            tech_info: Some("3 failed TLS handshakes".into()),
            ..SecurityEventNotificationRequest::new("InvalidCentralSystemCertificate".into(), now)
        }),
        Case::response::<SecurityEventNotificationRequest>(
            &SecurityEventNotificationResponse::new(),
        ),
        Case::request(&SignedUpdateFirmwareRequest {
            retries: Some(3),
            retry_interval: Some(120),
            ..SignedUpdateFirmwareRequest::new(12, firmware)
        }),
        Case::response::<SignedUpdateFirmwareRequest>(&SignedUpdateFirmwareResponse::new(
            UpdateFirmwareStatusEnum::Accepted,
        )),
        // Broken payloads, which every validator must reject: an idTag over 20 characters, a
        // limit with two decimals, a missing required property.
        Case::request(&AuthorizeRequest::new("X".repeat(21))).broken_at("idTag"),
        Case::request(&SetChargingProfileRequest::new(1, profile(21.45))).broken_at("limit"),
        Case::request(&StartTransactionRequest::new(
            1,
            "04A2B3C4D5E6F7".into(),
            0,
            now,
        ))
        .without("/idTag"),
    ]
}

fn v201_cases() -> Vec<Case> {
    use v201::*;
    let now = at("2026-03-14T09:26:53.589Z");

    let station = ChargingStation {
        serial_number: Some("JL-000042".into()),
        firmware_version: Some("0.1.0".into()),
        modem: Some(Modem {
            iccid: Some("8931080019071234567".into()),
            imsi: Some("204080123456789".into()),
            ..Modem::new()
        }),
        ..ChargingStation::new("DC-150".into(), "joule".into())
    };
    let token = IdToken {
        additional_info: Some(vec![AdditionalInfo::new(
            "NL-JOU-C12345678-X".into(),
            "ContractId".into(),
        )]),
        ..IdToken::new("04A2B3C4D5E6F7".into(), IdTokenEnum::Iso14443)
    };
    let accepted = IdTokenInfo {
        cache_expiry_date_time: Some(at("2026-12-31T23:59:59Z")),
        evse_id: Some(vec![1, 2]),
        language1: Some("nl".into()),
        group_id_token: Some(IdToken::new("FLEET-7".into(), IdTokenEnum::Central)),
        personal_message: Some(MessageContent {
            language: Some("en".into()),
            ..MessageContent::new(MessageFormatEnum::Utf8, "Welcome back".into())
        }),
        ..IdTokenInfo::new(AuthorizationStatusEnum::Accepted)
    };
    let unit = |unit: &str| UnitOfMeasure {
        unit: Some(unit.into()),
        multiplier: Some(0),
        ..UnitOfMeasure::new()
    };
    let sampled = |value: f64, measurand, unit_name: &str, phase| SampledValue {
        context: Some(ReadingContextEnum::SamplePeriodic),
        measurand: Some(measurand),
        phase,
        location: Some(LocationEnum::Outlet),
        unit_of_measure: Some(unit(unit_name)),
        ..SampledValue::new(value)
    };
    let readings = MeterValue::new(
        vec![
            SampledValue {
                signed_meter_value: Some(SignedMeterValue::new(
                    "AP///wA=".into(),
                    "ECDSA-secp256r1-SHA256".into(),
                    "OCMF".into(),
                    "MFkwEwYHKoZIzj0CAQ==".into(),
                )),
                ..sampled(
                    1234.5,
                    MeasurandEnum::EnergyActiveImportRegister,
                    "kWh",
                    None,
                )
            },
            sampled(16.2, MeasurandEnum::CurrentImport, "A", Some(PhaseEnum::L1)),
            sampled(229.8, MeasurandEnum::Voltage, "V", Some(PhaseEnum::L1N)),
            sampled(11040.0, MeasurandEnum::PowerActiveImport, "W", None),
            SampledValue {
                location: Some(LocationEnum::Ev),
                ..sampled(63.0, MeasurandEnum::SoC, "Percent", None)
            },
        ],
        now,
    );
    let mut vendor = CustomData::new("com.joule");
    vendor
        .extra
        .insert("rfidReaderRssi".into(), json!({"dBm": -61, "antenna": 2}));
    let transaction_event = TransactionEventRequest {
        custom_data: Some(vendor),
        meter_value: Some(vec![readings.clone()]),
        offline: Some(false),
        number_of_phases_used: Some(3),
        cable_max_current: Some(32),
        reservation_id: Some(5),
        evse: Some(Evse {
            connector_id: Some(1),
            ..Evse::new(1)
        }),
        id_token: Some(token.clone()),
        ..TransactionEventRequest::new(
            TransactionEventEnum::Updated,
            now,
            TriggerReasonEnum::MeterValuePeriodic,
            7,
            Transaction {
                charging_state: Some(ChargingStateEnum::Charging),
                time_spent_charging: Some(1260),
                remote_start_id: Some(99),
                ..Transaction::new("c0ffee00-0000-4000-8000-000000000042".into())
            },
        )
    };
    let connector = Component {
        evse: Some(Evse {
            connector_id: Some(1),
            ..Evse::new(1)
        }),
        ..Component::new("Connector".into())
    };
    let ocpp_comm = Component::new("OCPPCommCtrlr".into());
    let heartbeat_interval = Variable::new("HeartbeatInterval".into());
    let available = Variable::new("AvailabilityState".into());
    let set_variables = SetVariablesRequest::new(vec![
        SetVariableData {
            attribute_type: Some(AttributeEnum::Actual),
            ..SetVariableData::new("300".into(), ocpp_comm.clone(), heartbeat_interval.clone())
        },
        SetVariableData::new(
            "Unavailable".into(),
            connector.clone(),
            Variable {
                instance: Some("Operative".into()),
                ..available.clone()
            },
        ),
    ]);
    let set_variable_results = SetVariablesResponse::new(vec![
        SetVariableResult::new(
            SetVariableStatusEnum::Accepted,
            ocpp_comm.clone(),
            heartbeat_interval.clone(),
        ),
        SetVariableResult {
            attribute_status_info: Some(StatusInfo {
                additional_info: Some("read-only on this model".into()),
                ..StatusInfo::new("ReadOnly".into())
            }),
            ..SetVariableResult::new(
                SetVariableStatusEnum::Rejected,
                connector.clone(),
                available.clone(),
            )
        },
    ]);
    let get_variable_results = GetVariablesResponse::new(vec![
        GetVariableResult {
            attribute_type: Some(AttributeEnum::Actual),
            attribute_value: Some("300".into()),
            ..GetVariableResult::new(
                GetVariableStatusEnum::Accepted,
                ocpp_comm.clone(),
                heartbeat_interval.clone(),
            )
        },
        GetVariableResult::new(
            GetVariableStatusEnum::UnknownVariable,
            connector.clone(),
            Variable::new("NoSuchVariable".into()),
        ),
    ]);
    let report = NotifyReportRequest {
        tbc: Some(false),
        report_data: Some(vec![
            ReportData {
                variable_characteristics: Some(VariableCharacteristics {
                    unit: Some("s".into()),
                    min_limit: Some(10.0),
                    max_limit: Some(86400.0),
                    ..VariableCharacteristics::new(DataEnum::Integer, true)
                }),
                ..ReportData::new(
                    ocpp_comm.clone(),
                    heartbeat_interval.clone(),
                    vec![VariableAttribute {
                        value: Some("300".into()),
                        mutability: Some(MutabilityEnum::ReadWrite),
                        persistent: Some(true),
                        constant: Some(false),
                        ..VariableAttribute::new()
                    }],
                )
            },
            ReportData {
                variable_characteristics: Some(VariableCharacteristics {
                    values_list: Some("Available,Occupied,Reserved,Unavailable,Faulted".into()),
                    ..VariableCharacteristics::new(DataEnum::OptionList, false)
                }),
                ..ReportData::new(
                    connector.clone(),
                    available.clone(),
                    vec![VariableAttribute {
                        value: Some("Available".into()),
                        mutability: Some(MutabilityEnum::ReadOnly),
                        ..VariableAttribute::new()
                    }],
                )
            },
        ]),
        ..NotifyReportRequest::new(3, now, 0)
    };
    let profile = ChargingProfile {
        valid_from: Some(now),
        valid_to: Some(at("2026-03-15T00:00:00Z")),
        transaction_id: Some("c0ffee00-0000-4000-8000-000000000042".into()),
        ..ChargingProfile::new(
            7,
            1,
            ChargingProfilePurposeEnum::TxProfile,
            ChargingProfileKindEnum::Absolute,
            vec![ChargingSchedule {
                start_schedule: Some(now),
                duration: Some(3600),
                min_charging_rate: Some(6.1),
                ..ChargingSchedule::new(
                    1,
                    ChargingRateUnitEnum::A,
                    vec![
                        ChargingSchedulePeriod::new(0, 21.4),
                        ChargingSchedulePeriod {
                            number_phases: Some(1),
                            phase_to_use: Some(2),
                            ..ChargingSchedulePeriod::new(900, 16.0)
                        },
                    ],
                )
            }],
        )
    };

    vec![
        Case::request(&BootNotificationRequest::new(
            station,
            BootReasonEnum::PowerUp,
        )),
        Case::response::<BootNotificationRequest>(&BootNotificationResponse {
            status_info: Some(StatusInfo::new("WaitingForOperator".into())),
            ..BootNotificationResponse::new(now, 300, RegistrationStatusEnum::Pending)
        }),
        Case::request(&AuthorizeRequest::new(token.clone())),
        Case::response::<AuthorizeRequest>(&AuthorizeResponse::new(accepted.clone())),
        Case::request(&transaction_event),
        Case::request(&TransactionEventRequest {
            evse: Some(Evse::new(1)),
            id_token: Some(token.clone()),
            meter_value: Some(vec![readings.clone()]),
            ..TransactionEventRequest::new(
                TransactionEventEnum::Ended,
                at("2026-03-14T10:02:11.000Z"),
                TriggerReasonEnum::EvCommunicationLost,
                8,
                Transaction {
                    stopped_reason: Some(ReasonEnum::EvDisconnected),
                    charging_state: Some(ChargingStateEnum::Idle),
                    ..Transaction::new("c0ffee00-0000-4000-8000-000000000042".into())
                },
            )
        }),
        Case::response::<TransactionEventRequest>(&TransactionEventResponse {
            total_cost: Some(7.83),
            charging_priority: Some(0),
            id_token_info: Some(accepted),
            updated_personal_message: Some(MessageContent::new(
                MessageFormatEnum::Ascii,
                "EUR 7.83 so far".into(),
            )),
            ..TransactionEventResponse::new()
        }),
        Case::request(&StatusNotificationRequest::new(
            now,
            ConnectorStatusEnum::Occupied,
            1,
            1,
        )),
        Case::response::<StatusNotificationRequest>(&StatusNotificationResponse::new()),
        Case::request(&set_variables),
        Case::response::<SetVariablesRequest>(&set_variable_results),
        Case::request(&GetVariablesRequest::new(vec![
            GetVariableData::new(ocpp_comm, heartbeat_interval),
            GetVariableData::new(connector, Variable::new("NoSuchVariable".into())),
        ])),
        Case::response::<GetVariablesRequest>(&get_variable_results),
        Case::request(&report),
        Case::response::<NotifyReportRequest>(&NotifyReportResponse::new()),
        Case::request(&SetChargingProfileRequest::new(1, profile)),
        Case::response::<SetChargingProfileRequest>(&SetChargingProfileResponse {
            status_info: Some(StatusInfo::new("TxNotFound".into())),
            ..SetChargingProfileResponse::new(ChargingProfileStatusEnum::Rejected)
        }),
        Case::request(&MeterValuesRequest::new(1, vec![readings])),
        Case::response::<MeterValuesRequest>(&MeterValuesResponse::new()),
        // Broken payloads, which every validator must reject: missing required properties, one
        // of them in customData, and an idToken over 36 characters.
        Case::request(&transaction_event).without("/transactionInfo"),
        Case::request(&transaction_event).without("/customData/vendorId"),
        Case::request(&AuthorizeRequest::new(IdToken::new(
            "X".repeat(37),
            IdTokenEnum::Local,
        )))
        .broken_at("idToken"),
    ]
}

fn v21_cases() -> Vec<Case> {
    use v21::*;
    let now = at("2026-03-14T09:26:53.589Z");

    let station = ChargingStation {
        serial_number: Some("JL-000042".into()),
        firmware_version: Some("0.1.0".into()),
        modem: Some(Modem {
            iccid: Some("8931080019071234567".into()),
            ..Modem::new()
        }),
        ..ChargingStation::new("DC-150".into(), "joule".into())
    };
    let token = IdToken {
        additional_info: Some(vec![AdditionalInfo::new(
            "NL-JOU-C12345678-X".into(),
            "ContractId".into(),
        )]),
        ..IdToken::new("04A2B3C4D5E6F7".into(), "ISO14443".into())
    };
    let accepted = IdTokenInfo {
        cache_expiry_date_time: Some(at("2026-12-31T23:59:59Z")),
        evse_id: Some(vec![1]),
        personal_message: Some(MessageContent::new(
            MessageFormatEnum::Utf8,
            "Welcome back".into(),
        )),
        ..IdTokenInfo::new(AuthorizationStatusEnum::Accepted)
    };
    let unit = |unit: &str| UnitOfMeasure {
        unit: Some(unit.into()),
        multiplier: Some(3),
        ..UnitOfMeasure::new()
    };
    let sampled = |value: f64, measurand, unit_name: &str, phase| SampledValue {
        context: Some(ReadingContextEnum::SamplePeriodic),
        measurand: Some(measurand),
        phase,
        location: Some(LocationEnum::Outlet),
        unit_of_measure: Some(unit(unit_name)),
        ..SampledValue::new(value)
    };
    let readings = MeterValue::new(
        vec![
            SampledValue {
                signed_meter_value: Some(SignedMeterValue::new("AP///wA=".into(), "OCMF".into())),
                ..sampled(
                    1.2345,
                    MeasurandEnum::EnergyActiveImportRegister,
                    "Wh",
                    None,
                )
            },
            sampled(
                -7.2,
                MeasurandEnum::PowerActiveExport,
                "W",
                Some(PhaseEnum::L2),
            ),
            sampled(0.2298, MeasurandEnum::Voltage, "V", Some(PhaseEnum::L1N)),
            SampledValue {
                location: Some(LocationEnum::Ev),
                unit_of_measure: None,
                ..sampled(63.0, MeasurandEnum::SoC, "Percent", None)
            },
        ],
        now,
    );
    let mut vendor = CustomData::new("com.joule");
    vendor.extra.insert(
        "bidirectional".into(),
        json!({"enabled": true, "maxKw": 11}),
    );
    let transaction_event = TransactionEventRequest {
        custom_data: Some(vendor),
        meter_value: Some(vec![readings.clone()]),
        offline: Some(true),
        evse_sleep: Some(false),
        preconditioning_status: Some(PreconditioningStatusEnum::Ready),
        evse: Some(Evse {
            connector_id: Some(1),
            ..Evse::new(1)
        }),
        id_token: Some(token.clone()),
        ..TransactionEventRequest::new(
            TransactionEventEnum::Started,
            now,
            TriggerReasonEnum::Authorized,
            0,
            Transaction {
                charging_state: Some(ChargingStateEnum::EvConnected),
                operation_mode: Some(OperationModeEnum::CentralSetpoint),
                tariff_id: Some("TARIFF-2026-A".into()),
                transaction_limit: Some(TransactionLimit {
                    max_energy: Some(40000.0),
                    max_so_c: Some(80),
                    ..TransactionLimit::new()
                }),
                ..Transaction::new("c0ffee00-0000-4000-8000-000000000043".into())
            },
        )
    };
    let ocpp_comm = Component::new("OCPPCommCtrlr".into());
    let heartbeat_interval = Variable::new("HeartbeatInterval".into());
    let connector = Component {
        evse: Some(Evse {
            connector_id: Some(1),
            ..Evse::new(1)
        }),
        ..Component::new("Connector".into())
    };
    let profile = ChargingProfile {
        max_offline_duration: Some(600),
        invalid_after_offline_duration: Some(true),
        ..ChargingProfile::new(
            8,
            2,
            ChargingProfilePurposeEnum::TxDefaultProfile,
            ChargingProfileKindEnum::Relative,
            vec![ChargingSchedule {
                duration: Some(7200),
                randomized_delay: Some(30),
                ..ChargingSchedule::new(
                    1,
                    ChargingRateUnitEnum::W,
                    vec![
                        ChargingSchedulePeriod {
                            limit: Some(11000.0),
                            number_phases: Some(3),
                            ..ChargingSchedulePeriod::new(0)
                        },
                        ChargingSchedulePeriod {
                            setpoint: Some(-3700.5),
                            operation_mode: Some(OperationModeEnum::CentralSetpoint),
                            ..ChargingSchedulePeriod::new(1800)
                        },
                    ],
                )
            }],
        )
    };
    let stream = NotifyPeriodicEventStreamRequest::new(
        vec![
            StreamDataElement::new(0.0, "229.8".into()),
            StreamDataElement::new(0.5, "230.1".into()),
        ],
        4,
        0,
        now,
    );

    vec![
        Case::request(&BootNotificationRequest::new(
            station,
            BootReasonEnum::FirmwareUpdate,
        )),
        Case::response::<BootNotificationRequest>(&BootNotificationResponse::new(
            now,
            300,
            RegistrationStatusEnum::Accepted,
        )),
        Case::request(&AuthorizeRequest::new(token.clone())),
        Case::response::<AuthorizeRequest>(&AuthorizeResponse {
            allowed_energy_transfer: Some(vec![
                EnergyTransferModeEnum::AcThreePhase,
                EnergyTransferModeEnum::AcBpt,
            ]),
            ..AuthorizeResponse::new(accepted.clone())
        }),
        Case::request(&transaction_event),
        Case::response::<TransactionEventRequest>(&TransactionEventResponse {
            id_token_info: Some(accepted),
            transaction_limit: Some(TransactionLimit {
                max_cost: Some(25.0),
                max_time: Some(7200),
                ..TransactionLimit::new()
            }),
            ..TransactionEventResponse::new()
        }),
        Case::request(&StatusNotificationRequest::new(
            now,
            ConnectorStatusEnum::Available,
            1,
            1,
        )),
        Case::response::<StatusNotificationRequest>(&StatusNotificationResponse::new()),
        Case::request(&SetVariablesRequest::new(vec![SetVariableData {
            attribute_type: Some(AttributeEnum::Target),
            ..SetVariableData::new("120".into(), ocpp_comm.clone(), heartbeat_interval.clone())
        }])),
        Case::response::<SetVariablesRequest>(&SetVariablesResponse::new(vec![
            SetVariableResult::new(
                SetVariableStatusEnum::RebootRequired,
                ocpp_comm.clone(),
                heartbeat_interval.clone(),
            ),
        ])),
        Case::response::<GetVariablesRequest>(&GetVariablesResponse::new(vec![
            GetVariableResult {
                attribute_value: Some("120".into()),
                ..GetVariableResult::new(
                    GetVariableStatusEnum::Accepted,
                    ocpp_comm.clone(),
                    heartbeat_interval.clone(),
                )
            },
        ])),
        Case::request(&NotifyReportRequest {
            report_data: Some(vec![ReportData {
                variable_characteristics: Some(VariableCharacteristics {
                    max_elements: Some(4),
                    values_list: Some("Type2,CCS2".into()),
                    ..VariableCharacteristics::new(DataEnum::MemberList, false)
                }),
                ..ReportData::new(
                    connector,
                    Variable::new("ConnectorType".into()),
                    vec![VariableAttribute {
                        value: Some("CCS2".into()),
                        mutability: Some(MutabilityEnum::ReadOnly),
                        ..VariableAttribute::new()
                    }],
                )
            }]),
            tbc: Some(true),
            ..NotifyReportRequest::new(4, now, 1)
        }),
        Case::request(&SetChargingProfileRequest::new(1, profile)),
        Case::response::<SetChargingProfileRequest>(&SetChargingProfileResponse::new(
            ChargingProfileStatusEnum::Accepted,
        )),
        Case::request(&MeterValuesRequest::new(1, vec![readings])),
        Case::response::<MeterValuesRequest>(&MeterValuesResponse::new()),
        // Actions new in 2.1.
        Case::request(&stream),
        Case::request(&BatterySwapRequest::new(
            vec![BatteryData {
                production_date: Some(at("2025-06-01T00:00:00Z")),
                vendor_info: Some("pack rev C".into()),
                ..BatteryData::new(2, "BAT-0001-7781".into(), 87.5, 96.0)
            }],
            BatterySwapEventEnum::BatteryIn,
            token.clone(),
            31,
        )),
        Case::response::<BatterySwapRequest>(&BatterySwapResponse::new()),
        Case::request(&NotifyDerAlarmRequest {
            grid_event_fault: Some(GridEventFaultEnum::OverVoltage),
            alarm_ended: Some(false),
            extra_info: Some("L1 at 253.2 V".into()),
            ..NotifyDerAlarmRequest::new(DerControlEnum::HvMayTrip, now)
        }),
        Case::response::<NotifyDerAlarmRequest>(&NotifyDerAlarmResponse::new()),
        Case::request(&AfrrSignalRequest::new(now, -1)),
        Case::response::<AfrrSignalRequest>(&AfrrSignalResponse::new(GenericStatusEnum::Accepted)),
        Case::request(&NotifySettlementRequest {
            transaction_id: Some("c0ffee00-0000-4000-8000-000000000043".into()),
            receipt_url: Some("https://receipts.example.com/8841".into()),
            ..NotifySettlementRequest::new(
                "PSP-8841".into(),
                PaymentStatusEnum::Settled,
                12.34,
                now,
            )
        }),
        Case::response::<NotifySettlementRequest>(&NotifySettlementResponse::new()),
        // Broken payloads, which every validator must reject: a missing required property, a
        // SEND without data, a state of charge above 100 %.
        Case::request(&transaction_event).without("/transactionInfo/transactionId"),
        Case::request(&NotifyPeriodicEventStreamRequest::new(vec![], 4, 0, now)).broken_at("data"),
        Case::request(&BatterySwapRequest::new(
            vec![BatteryData::new(2, "BAT-0001-7781".into(), 100.5, 96.0)],
            BatterySwapEventEnum::BatteryOut,
            token,
            32,
        ))
        .broken_at("soC"),
    ]
}

/// The peer's answer to one line.
#[derive(Debug, Deserialize)]
struct PythonVerdict {
    ok: bool,
    error: Option<String>,
}

/// Runs `validate_payloads.py` once over every case; one verdict per case, in order.
fn python_verdicts(python: &OsString, cases: &[Case]) -> Vec<Result<(), String>> {
    let input: String = cases.iter().map(Case::to_json_line).collect();
    let mut child = Command::new(python)
        .arg(VALIDATOR_SCRIPT)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the validator script starts");
    let mut stdin = child.stdin.take().expect("stdin is piped");
    // The script answers while it reads: feed it from another thread so that neither side can
    // block on a full pipe. Dropping `stdin` at the end closes it.
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output().expect("the validator script runs");
    assert!(
        output.status.success(),
        "validate_payloads.py failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    writer
        .join()
        .expect("the writer thread does not panic")
        .expect("the validator script reads every payload");

    let stdout = String::from_utf8(output.stdout).expect("the validator script writes UTF-8");
    let verdicts: Vec<Result<(), String>> = stdout
        .lines()
        .map(|line| {
            let verdict: PythonVerdict =
                serde_json::from_str(line).expect("the validator script writes JSON verdicts");
            match verdict {
                PythonVerdict { ok: true, .. } => Ok(()),
                PythonVerdict { error, .. } => Err(error.unwrap_or_default()),
            }
        })
        .collect();
    assert_eq!(verdicts.len(), cases.len(), "one verdict per payload");
    verdicts
}
