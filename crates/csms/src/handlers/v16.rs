//! OCPP 1.6 station-initiated CALLs (core profile and security whitepaper).

use super::{
    HandlerError, Handles, TokenStatus, Verdict, check_token, record, timestamp, watt_hours,
};
use crate::store::{self, BootInfo, MeterSample, NewTransaction, Registration, StopOutcome, TxRef};
use crate::{Ctx, now_ms};
use proto_ocpp::OcppVersion;
use proto_ocpp::v16::*;

impl Handles for V16 {
    async fn handle(ctx: &Ctx, station: &str, request: Request) -> Result<Response, HandlerError> {
        let now = now_ms();
        let response: Response = match request {
            Request::BootNotification(req) => boot(ctx, station, req, now).await?.into(),
            Request::Heartbeat(_) => {
                ctx.store.touch(station, OcppVersion::V16, now).await?;
                HeartbeatResponse::new(timestamp(now)).into()
            }
            Request::StatusNotification(req) => {
                let status = store::ConnectorStatusRecord {
                    evse_id: req.connector_id,
                    connector_id: req.connector_id,
                    status: req.status.as_str().to_string(),
                    error_code: Some(req.error_code.as_str().to_string()),
                    info: req.info.clone(),
                    updated_ms: req.timestamp.map_or(now, |t| t.timestamp_millis()),
                };
                ctx.store.set_connector_status(station, &status).await?;
                StatusNotificationResponse::new().into()
            }
            Request::Authorize(req) => {
                let verdict = check_token(ctx, &req.id_tag, now).await?;
                AuthorizeResponse::new(id_tag_info(&verdict)).into()
            }
            Request::StartTransaction(req) => start(ctx, station, req, now).await?.into(),
            Request::StopTransaction(req) => stop(ctx, station, req, now).await?.into(),
            Request::MeterValues(req) => {
                let tx = match req.transaction_id {
                    Some(id) => ctx
                        .store
                        .transaction(i64::from(id))
                        .await?
                        .filter(|t| t.station_id == station),
                    None => None,
                };
                for meter_value in &req.meter_value {
                    let samples = samples(meter_value);
                    ctx.store
                        .add_meter_values(
                            station,
                            req.connector_id,
                            req.connector_id,
                            tx.as_ref().map(|t| t.id),
                            &samples,
                        )
                        .await?;
                    if let (Some(tx), Some(register)) = (&tx, energy_register(meter_value)) {
                        ctx.store.update_transaction_meter(tx.id, register).await?;
                    }
                }
                MeterValuesResponse::new().into()
            }
            Request::DataTransfer(req) => {
                record(ctx, station, "DataTransfer", &req, now).await?;
                // No vendor extensions are implemented; the data is kept for the operator.
                DataTransferResponse::new(DataTransferStatus::UnknownVendorId).into()
            }
            Request::DiagnosticsStatusNotification(req) => {
                record(ctx, station, "DiagnosticsStatusNotification", &req, now).await?;
                DiagnosticsStatusNotificationResponse::new().into()
            }
            Request::FirmwareStatusNotification(req) => {
                record(ctx, station, "FirmwareStatusNotification", &req, now).await?;
                FirmwareStatusNotificationResponse::new().into()
            }
            Request::LogStatusNotification(req) => {
                record(ctx, station, "LogStatusNotification", &req, now).await?;
                LogStatusNotificationResponse::new().into()
            }
            Request::SecurityEventNotification(req) => {
                record(ctx, station, "SecurityEventNotification", &req, now).await?;
                SecurityEventNotificationResponse::new().into()
            }
            Request::SignedFirmwareStatusNotification(req) => {
                record(ctx, station, "SignedFirmwareStatusNotification", &req, now).await?;
                SignedFirmwareStatusNotificationResponse::new().into()
            }
            Request::SignCertificate(req) => {
                record(ctx, station, "SignCertificate", &req, now).await?;
                let signed =
                    super::sign_certificate(ctx, station, &req.csr, now, serde_json::json!({}));
                let status = if signed {
                    GenericStatusEnum::Accepted
                } else {
                    GenericStatusEnum::Rejected
                };
                SignCertificateResponse::new(status).into()
            }
            other => {
                return Err(HandlerError::Unsupported(
                    V16::action_name(other.action()).into(),
                ));
            }
        };
        Ok(response)
    }
}

use proto_ocpp::Dialect;

async fn boot(
    ctx: &Ctx,
    station: &str,
    req: BootNotificationRequest,
    now: i64,
) -> Result<BootNotificationResponse, HandlerError> {
    let info = BootInfo {
        vendor: req.charge_point_vendor,
        model: req.charge_point_model,
        serial_number: req
            .charge_point_serial_number
            .or(req.charge_box_serial_number),
        firmware_version: req.firmware_version,
    };
    let registration = ctx
        .store
        .record_boot(station, OcppVersion::V16, &info, now)
        .await?;
    let status = match registration {
        Registration::Accepted => RegistrationStatus::Accepted,
        Registration::Pending => RegistrationStatus::Pending,
        Registration::Rejected => RegistrationStatus::Rejected,
    };
    let interval = i32::try_from(ctx.config.heartbeat_interval.as_secs()).unwrap_or(i32::MAX);
    Ok(BootNotificationResponse::new(
        status,
        timestamp(now),
        interval,
    ))
}

async fn start(
    ctx: &Ctx,
    station: &str,
    req: StartTransactionRequest,
    now: i64,
) -> Result<StartTransactionResponse, HandlerError> {
    let verdict = check_token(ctx, &req.id_tag, now).await?;
    let new = NewTransaction {
        station_id: station.to_string(),
        tx_key: None,
        evse_id: req.connector_id,
        connector_id: req.connector_id,
        id_tag: Some(req.id_tag.clone()),
        meter_start_wh: f64::from(req.meter_start),
        started_ms: req.timestamp.timestamp_millis(),
    };
    // The station decides what to do with a refused token; the transaction is recorded either way.
    let tx = ctx.store.start_transaction(&new).await?;
    let id = i32::try_from(tx.id).unwrap_or(i32::MAX);
    Ok(StartTransactionResponse::new(id_tag_info(&verdict), id))
}

async fn stop(
    ctx: &Ctx,
    station: &str,
    req: StopTransactionRequest,
    now: i64,
) -> Result<StopTransactionResponse, HandlerError> {
    let stop = store::StopTransaction {
        station_id: station.to_string(),
        id: TxRef::Id(i64::from(req.transaction_id)),
        meter_stop_wh: Some(f64::from(req.meter_stop)),
        stopped_ms: req.timestamp.timestamp_millis(),
        reason: Some(req.reason.map_or("Local", |r| r.as_str()).to_string()),
    };
    let outcome = ctx.store.stop_transaction(&stop).await?;
    let tx_id = match &outcome {
        StopOutcome::Stopped(tx) | StopOutcome::AlreadyStopped(tx) => {
            Some((tx.id, tx.connector_id))
        }
        // Acknowledged all the same: an error would make the station retry forever.
        StopOutcome::Unknown => {
            tracing::warn!(
                transaction = req.transaction_id,
                "StopTransaction for an unknown transaction"
            );
            None
        }
    };
    if let (StopOutcome::Stopped(_), Some((tx, connector))) = (&outcome, tx_id) {
        for meter_value in req.transaction_data.iter().flatten() {
            ctx.store
                .add_meter_values(
                    station,
                    connector,
                    connector,
                    Some(tx),
                    &samples(meter_value),
                )
                .await?;
        }
    }
    let mut response = StopTransactionResponse::new();
    if let Some(id_tag) = &req.id_tag {
        response.id_tag_info = Some(id_tag_info(&check_token(ctx, id_tag, now).await?));
    }
    Ok(response)
}

fn id_tag_info(verdict: &Verdict) -> IdTagInfo {
    let mut info = IdTagInfo::new(match verdict.status {
        TokenStatus::Accepted => AuthorizationStatus::Accepted,
        TokenStatus::Blocked => AuthorizationStatus::Blocked,
        TokenStatus::Expired => AuthorizationStatus::Expired,
        TokenStatus::Invalid => AuthorizationStatus::Invalid,
        TokenStatus::ConcurrentTx => AuthorizationStatus::ConcurrentTx,
    });
    info.expiry_date = verdict.expiry;
    info.parent_id_tag = verdict.parent.clone();
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
            value: s.value.clone(),
            unit: s.unit.map(|u| u.as_str().to_string()),
            phase: s.phase.map(|p| p.as_str().to_string()),
            location: s.location.map(|l| l.as_str().to_string()),
            context: s.context.map(|c| c.as_str().to_string()),
        })
        .collect()
}

/// The imported-energy register in Wh, if the meter value carries one (the default measurand).
fn energy_register(meter_value: &MeterValue) -> Option<f64> {
    meter_value
        .sampled_value
        .iter()
        .filter(|s| {
            s.measurand
                .is_none_or(|m| m == Measurand::EnergyActiveImportRegister)
        })
        .filter(|s| s.phase.is_none())
        .find_map(|s| {
            let value: f64 = s.value.parse().ok()?;
            Some(watt_hours(value, s.unit.map(|u| u.as_str()), 0))
        })
}
