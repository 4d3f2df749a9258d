//! OCPP 2.0.1 and 2.1 station-initiated CALLs. The two versions share these message shapes, so one
//! body serves both, instantiated per version by a macro.

macro_rules! handlers_2x {
    ($module:ident, $dialect:ident, $version:expr) => {
        mod $module {
            use super::super::{HandlerError, Handles, TokenStatus, Verdict, check_token, record, timestamp, watt_hours};
            use crate::store::{self, BootInfo, MeterSample, NewTransaction, Registration, StopOutcome, TxRef};
            use crate::{Ctx, now_ms};
            use proto_ocpp::Dialect;
            use proto_ocpp::$module::*;

            impl Handles for $dialect {
                async fn handle(ctx: &Ctx, station: &str, request: Request) -> Result<Response, HandlerError> {
                    let now = now_ms();
                    let response: Response = match request {
                        Request::BootNotification(req) => {
                            let info = BootInfo {
                                vendor: req.charging_station.vendor_name,
                                model: req.charging_station.model,
                                serial_number: req.charging_station.serial_number,
                                firmware_version: req.charging_station.firmware_version,
                            };
                            let registration = ctx.store.record_boot(station, $version, &info, now).await?;
                            let status = match registration {
                                Registration::Accepted => RegistrationStatusEnum::Accepted,
                                Registration::Pending => RegistrationStatusEnum::Pending,
                                Registration::Rejected => RegistrationStatusEnum::Rejected,
                            };
                            let interval = i32::try_from(ctx.config.heartbeat_interval.as_secs()).unwrap_or(i32::MAX);
                            BootNotificationResponse::new(timestamp(now), interval, status).into()
                        }
                        Request::Heartbeat(_) => {
                            ctx.store.touch(station, $version, now).await?;
                            HeartbeatResponse::new(timestamp(now)).into()
                        }
                        Request::StatusNotification(req) => {
                            let status = store::ConnectorStatusRecord {
                                evse_id: req.evse_id,
                                connector_id: req.connector_id,
                                status: req.connector_status.as_str().to_string(),
                                error_code: None,
                                info: None,
                                updated_ms: req.timestamp.timestamp_millis(),
                            };
                            ctx.store.set_connector_status(station, &status).await?;
                            StatusNotificationResponse::new().into()
                        }
                        Request::Authorize(req) => {
                            let verdict = check_token(ctx, &req.id_token.id_token, now).await?;
                            AuthorizeResponse::new(id_token_info(&verdict)).into()
                        }
                        Request::TransactionEvent(req) => transaction_event(ctx, station, req, now).await?.into(),
                        Request::MeterValues(req) => {
                            for meter_value in &req.meter_value {
                                ctx.store
                                    .add_meter_values(station, req.evse_id, 0, None, &samples(meter_value))
                                    .await?;
                            }
                            MeterValuesResponse::new().into()
                        }
                        Request::DataTransfer(req) => {
                            record(ctx, station, "DataTransfer", &req, now).await?;
                            DataTransferResponse::new(DataTransferStatusEnum::UnknownVendorId).into()
                        }
                        Request::SignCertificate(req) => {
                            record(ctx, station, "SignCertificate", &req, now).await?;
                            // The built-in authority issues charging-station certificates only; V2G
                            // certificates come from the V2G PKI.
                            let kind = req.certificate_type.map(|t| t.as_str());
                            let signed = matches!(kind, None | Some("ChargingStationCertificate"))
                                && super::super::sign_certificate(
                                    ctx,
                                    station,
                                    &req.csr,
                                    now,
                                    serde_json::json!({"certificateType": "ChargingStationCertificate"}),
                                );
                            let status = if signed { GenericStatusEnum::Accepted } else { GenericStatusEnum::Rejected };
                            SignCertificateResponse::new(status).into()
                        }
                        // Everything else a station reports is kept; the answer carries nothing.
                        other => {
                            let action = other.action();
                            record(ctx, station, action.name(), &other, now).await?;
                            let request = serde_json::to_value(&other).unwrap_or_default();
                            match <$dialect as Dialect>::decode_response(action, super::decline(action.name(), &request)) {
                                Some(Ok(answer)) => answer,
                                _ => return Err(HandlerError::Unsupported(action.name().into())),
                            }
                        }
                    };
                    Ok(response)
                }
            }

            /// Applies a TransactionEvent exactly once: a retried event (same transaction and
            /// seqNo) is acknowledged again without being applied twice.
            async fn transaction_event(
                ctx: &Ctx,
                station: &str,
                req: TransactionEventRequest,
                now: i64,
            ) -> Result<TransactionEventResponse, HandlerError> {
                let key = req.transaction_info.transaction_id.clone();
                let at = req.timestamp.timestamp_millis();
                let register = req.meter_value.iter().flatten().filter_map(energy_register).reduce(f64::max);
                let id_tag = req.id_token.as_ref().map(|t| t.id_token.clone());
                let tx = match ctx.store.transaction_by_key(station, &key).await? {
                    Some(tx) => tx,
                    None => {
                        // Started, or the first event we see of a transaction whose Started was lost.
                        let evse = req.evse.as_ref();
                        let new = NewTransaction {
                            station_id: station.to_string(),
                            tx_key: Some(key.clone()),
                            evse_id: evse.map_or(0, |e| e.id),
                            connector_id: evse.and_then(|e| e.connector_id).unwrap_or(1),
                            id_tag: id_tag.clone(),
                            meter_start_wh: register.unwrap_or(0.0),
                            started_ms: at,
                        };
                        ctx.store.start_transaction(&new).await?
                    }
                };
                let payload = serde_json::to_string(&req).unwrap_or_default();
                let fresh = ctx
                    .store
                    .record_transaction_event(
                        tx.id,
                        i64::from(req.seq_no),
                        req.event_type.as_str(),
                        req.trigger_reason.as_str(),
                        at,
                        req.offline.unwrap_or(false),
                        &payload,
                    )
                    .await?;
                if fresh {
                    let seen = ctx.store.transaction_seq_nos(tx.id).await?;
                    if let Some(gap) = first_gap(&seen) {
                        tracing::warn!(transaction = %key, missing_seq_no = gap, "TransactionEvent sequence has a gap");
                    }
                    if let Some(id_tag) = &id_tag {
                        ctx.store.set_transaction_id_tag(tx.id, id_tag).await?;
                    }
                    for meter_value in req.meter_value.iter().flatten() {
                        ctx.store
                            .add_meter_values(station, tx.evse_id, tx.connector_id, Some(tx.id), &samples(meter_value))
                            .await?;
                    }
                    if let Some(register) = register {
                        ctx.store.update_transaction_meter(tx.id, register).await?;
                    }
                    if req.event_type == TransactionEventEnum::Ended {
                        let stop = store::StopTransaction {
                            station_id: station.to_string(),
                            id: TxRef::Key(key.clone()),
                            meter_stop_wh: register,
                            stopped_ms: at,
                            reason: Some(
                                req.transaction_info
                                    .stopped_reason
                                    .map_or("Local", |r| r.as_str())
                                    .to_string(),
                            ),
                        };
                        if let StopOutcome::Unknown = ctx.store.stop_transaction(&stop).await? {
                            tracing::warn!(transaction = %key, "Ended event for a transaction not found");
                        }
                    }
                }
                let mut response = TransactionEventResponse::new();
                if let Some(id_tag) = &id_tag {
                    response.id_token_info = Some(id_token_info(&check_token(ctx, id_tag, now).await?));
                }
                Ok(response)
            }

            /// The lowest missing sequence number below the highest seen, if any.
            fn first_gap(seen: &[i64]) -> Option<i64> {
                let mut sorted = seen.to_vec();
                sorted.sort_unstable();
                sorted.dedup();
                let first = *sorted.first()?;
                sorted
                    .iter()
                    .zip(first..)
                    .find(|(s, expected)| **s != *expected)
                    .map(|(_, expected)| expected)
            }

            fn id_token_info(verdict: &Verdict) -> IdTokenInfo {
                let mut info = IdTokenInfo::new(match verdict.status {
                    TokenStatus::Accepted => AuthorizationStatusEnum::Accepted,
                    TokenStatus::Blocked => AuthorizationStatusEnum::Blocked,
                    TokenStatus::Expired => AuthorizationStatusEnum::Expired,
                    TokenStatus::Invalid => AuthorizationStatusEnum::Invalid,
                    TokenStatus::ConcurrentTx => AuthorizationStatusEnum::ConcurrentTx,
                });
                info.cache_expiry_date_time = verdict.expiry;
                info
            }

            fn samples(meter_value: &MeterValue) -> Vec<MeterSample> {
                let at = meter_value.timestamp.timestamp_millis();
                meter_value
                    .sampled_value
                    .iter()
                    .map(|s| MeterSample {
                        timestamp_ms: at,
                        measurand: s
                            .measurand
                            .map_or("Energy.Active.Import.Register", |m| m.as_str())
                            .to_string(),
                        value: s.value.to_string(),
                        unit: s.unit_of_measure.as_ref().and_then(|u| u.unit.clone()),
                        phase: s.phase.map(|p| p.as_str().to_string()),
                        location: s.location.map(|l| l.as_str().to_string()),
                        context: s.context.map(|c| c.as_str().to_string()),
                    })
                    .collect()
            }

            /// The imported-energy register in Wh, if the meter value carries one.
            fn energy_register(meter_value: &MeterValue) -> Option<f64> {
                meter_value
                    .sampled_value
                    .iter()
                    .filter(|s| s.measurand.is_none_or(|m| m == MeasurandEnum::EnergyActiveImportRegister))
                    .filter(|s| s.phase.is_none())
                    .map(|s| {
                        let unit = s.unit_of_measure.as_ref();
                        watt_hours(
                            s.value,
                            unit.and_then(|u| u.unit.as_deref()),
                            unit.and_then(|u| u.multiplier).unwrap_or(0),
                        )
                    })
                    .next()
            }

            #[cfg(test)]
            mod tests {
                use super::*;
                use serde_json::json;

                /// Every action a station starts gets a schema-valid answer, except the one that
                /// needs certificate data this central system does not hold.
                #[test]
                fn every_station_initiated_action_has_an_answer() {
                    let request = json!({"vatNumber": "NL123456789B01"});
                    for action in Action::ALL {
                        if action.initiator() == proto_ocpp::Initiator::CentralSystem
                            || action.is_send()
                            || action.name() == "GetCertificateChainStatus"
                        {
                            continue;
                        }
                        let answer = super::super::decline(action.name(), &request);
                        let decoded = <$dialect as Dialect>::decode_response(*action, answer.clone());
                        let explicit = matches!(
                            action.name(),
                            "BootNotification" | "Heartbeat" | "Authorize" | "DataTransfer" | "SignCertificate"
                        );
                        assert!(
                            explicit || matches!(decoded, Some(Ok(_))),
                            "{action}: {answer} does not decode"
                        );
                    }
                }

                #[test]
                fn gaps_in_sequence_numbers() {
                    assert_eq!(super::first_gap(&[0, 1, 2]), None);
                    assert_eq!(super::first_gap(&[0, 2, 3]), Some(1));
                    assert_eq!(super::first_gap(&[3, 1, 0]), Some(2));
                    assert_eq!(super::first_gap(&[]), None);
                }
            }
        }
    };
}

/// The answer to a station-initiated CALL this central system only records: empty where the
/// schema allows, otherwise a refusal (no smart charging, certificates or tariffs yet).
fn decline(action: &str, request: &serde_json::Value) -> serde_json::Value {
    use serde_json::json;
    match action {
        "Get15118EVCertificate" => json!({"status": "Failed", "exiResponse": ""}),
        "GetCertificateStatus" => json!({"status": "Failed"}),
        "NotifyEVChargingNeeds"
        | "NotifyEVChargingSchedule"
        | "OpenPeriodicEventStream"
        | "PullDynamicScheduleUpdate" => {
            json!({"status": "Rejected"})
        }
        "VatNumberValidation" => json!({"vatNumber": request["vatNumber"], "status": "Rejected"}),
        _ => json!({}),
    }
}

handlers_2x!(v201, V201, proto_ocpp::OcppVersion::V201);
handlers_2x!(v21, V21, proto_ocpp::OcppVersion::V21);
