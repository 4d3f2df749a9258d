//! The simulator's HTTP control (seed 004 and its roadmap): a vehicle plugged in or out, local
//! start and stop, faults, suspension by the vehicle or the station, and `/health`, `/info`,
//! `/metrics`. Every connector is independent. Answers are `{"ok":true,…}`; failures are
//! `{"ok":false,"error":…}` with 404 (unknown connector), 409 (not possible now) or 422 (bad
//! input).

use crate::gun::{GunCommand, GunHandle};
use crate::ocpp16::{ChargePoint, LocalError};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hal::Fault;
use serde::Deserialize;
use serde_json::{Value, json};
use std::fmt::Write;
use std::sync::Arc;

/// What the control API drives.
#[derive(Debug)]
pub struct SimApp {
    /// The charge point.
    pub charge_point: ChargePoint,
    /// The guns (connector n at index n − 1).
    pub guns: Vec<GunHandle>,
    /// Shown by `/info`: the simulator's settings.
    pub settings: Value,
}

/// A control failure.
#[derive(Debug)]
pub struct SimError(StatusCode, String);

impl IntoResponse for SimError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({"ok": false, "error": self.1}))).into_response()
    }
}

impl From<LocalError> for SimError {
    fn from(e: LocalError) -> Self {
        let status = match e {
            LocalError::UnknownConnector(_) => StatusCode::NOT_FOUND,
            LocalError::Stopped => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::CONFLICT,
        };
        SimError(status, e.to_string())
    }
}

type SimResult = Result<Json<Value>, SimError>;

/// The router.
pub fn router(app: Arc<SimApp>) -> Router {
    Router::new()
        .route("/health", get(|| async { Json(json!({"ok": true})) }))
        .route("/info", get(info))
        .route("/metrics", get(metrics))
        .route("/plug/{cid}", post(plug))
        .route("/unplug/{cid}", post(unplug))
        .route("/local_start/{cid}", post(local_start))
        .route("/local_stop/{cid}", post(local_stop))
        .route("/fault/{cid}", post(fault))
        .route("/clear_fault/{cid}", post(clear_fault))
        .route("/suspend_ev/{cid}", post(suspend_ev))
        .route("/suspend_evse/{cid}", post(suspend_evse))
        .route("/resume/{cid}", post(resume))
        .with_state(app)
}

impl SimApp {
    fn gun(&self, cid: u32) -> Result<&GunHandle, SimError> {
        self.guns
            .iter()
            .find(|g| g.gun == cid)
            .ok_or_else(|| SimError(StatusCode::NOT_FOUND, format!("unknown connector {cid}")))
    }
}

async fn plug(State(app): State<Arc<SimApp>>, Path(cid): Path<u32>) -> SimResult {
    app.charge_point.plug(cid).await?;
    Ok(Json(json!({"ok": true, "connector": cid, "plugged": true})))
}

async fn unplug(State(app): State<Arc<SimApp>>, Path(cid): Path<u32>) -> SimResult {
    app.charge_point.unplug(cid).await?;
    Ok(Json(
        json!({"ok": true, "connector": cid, "plugged": false}),
    ))
}

/// `idTag` (or seed 004's `id_tag`) in the query.
#[derive(Debug, Deserialize)]
struct StartQuery {
    #[serde(alias = "id_tag", rename = "idTag")]
    id_tag: Option<String>,
}

async fn local_start(
    State(app): State<Arc<SimApp>>,
    Path(cid): Path<u32>,
    Query(query): Query<StartQuery>,
) -> SimResult {
    if let Some(tag) = &query.id_tag
        && (tag.is_empty() || tag.chars().count() > 20)
    {
        return Err(SimError(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idTag must have 1 to 20 characters".into(),
        ));
    }
    app.charge_point.local_start(cid, query.id_tag).await?;
    Ok(Json(json!({"ok": true, "connector": cid})))
}

async fn local_stop(State(app): State<Arc<SimApp>>, Path(cid): Path<u32>) -> SimResult {
    app.charge_point.local_stop(cid).await?;
    Ok(Json(json!({"ok": true, "connector": cid})))
}

/// `code` (or seed 004's `error_code`): an OCPP 1.6 ChargePointErrorCode.
#[derive(Debug, Deserialize)]
struct FaultQuery {
    #[serde(alias = "error_code")]
    code: Option<String>,
}

/// The station fault that makes the connector report `code`.
fn fault_for(code: &str) -> Option<Fault> {
    Some(match code {
        "GroundFailure" => Fault::GroundFault,
        "PowerSwitchFailure" => Fault::ContactorWelded,
        "PowerMeterFailure" => Fault::MeterFailure,
        "OverCurrentFailure" => Fault::Overcurrent,
        "OverVoltage" => Fault::Overvoltage,
        "HighTemperature" => Fault::OverTemperature,
        "InternalError" => Fault::CommunicationLoss,
        "ConnectorLockFailure"
        | "EVCommunicationError"
        | "OtherError"
        | "ReaderFailure"
        | "ResetFailure"
        | "UnderVoltage"
        | "WeakSignal" => Fault::Other(code.into()),
        _ => return None,
    })
}

async fn fault(
    State(app): State<Arc<SimApp>>,
    Path(cid): Path<u32>,
    Query(query): Query<FaultQuery>,
) -> SimResult {
    let code = query.code.unwrap_or_else(|| "OtherError".into());
    let Some(fault) = fault_for(&code) else {
        return Err(SimError(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("{code} is not an OCPP 1.6 error code for a fault"),
        ));
    };
    let gun = app.gun(cid)?;
    gun.request(|r| GunCommand::Fault(fault, r))
        .await
        .ok_or(SimError::from(LocalError::Stopped))?;
    Ok(Json(
        json!({"ok": true, "connector": cid, "error_code": code}),
    ))
}

async fn clear_fault(State(app): State<Arc<SimApp>>, Path(cid): Path<u32>) -> SimResult {
    let gun = app.gun(cid)?;
    match gun.request(GunCommand::ClearFault).await {
        Some(Ok(())) => Ok(Json(json!({"ok": true, "connector": cid}))),
        Some(Err(refusal)) => Err(SimError(StatusCode::CONFLICT, refusal.to_string())),
        None => Err(LocalError::Stopped.into()),
    }
}

async fn suspend_ev(State(app): State<Arc<SimApp>>, Path(cid): Path<u32>) -> SimResult {
    let gun = app.gun(cid)?;
    gun.request(|r| GunCommand::EvPause(true, r))
        .await
        .ok_or(SimError::from(LocalError::Stopped))?;
    Ok(Json(
        json!({"ok": true, "connector": cid, "state": "SuspendedEV"}),
    ))
}

async fn suspend_evse(State(app): State<Arc<SimApp>>, Path(cid): Path<u32>) -> SimResult {
    app.charge_point.suspend_evse(cid, true).await?;
    Ok(Json(
        json!({"ok": true, "connector": cid, "state": "SuspendedEVSE"}),
    ))
}

/// Lifts both suspensions: the connector goes back to Charging when a session runs.
async fn resume(State(app): State<Arc<SimApp>>, Path(cid): Path<u32>) -> SimResult {
    let gun = app.gun(cid)?;
    gun.request(|r| GunCommand::EvPause(false, r))
        .await
        .ok_or(SimError::from(LocalError::Stopped))?;
    app.charge_point.suspend_evse(cid, false).await?;
    let info = app.charge_point.info().await?;
    let state = info
        .connectors
        .iter()
        .find(|c| c.connector == cid)
        .map(|c| c.status.clone());
    Ok(Json(json!({"ok": true, "connector": cid, "state": state})))
}

async fn info(State(app): State<Arc<SimApp>>) -> SimResult {
    let info = app.charge_point.info().await?;
    let active: Vec<u32> = info
        .connectors
        .iter()
        .filter(|c| c.transaction_id.is_some())
        .map(|c| c.connector)
        .collect();
    Ok(Json(json!({
        "ok": true,
        "config": app.settings,
        "chargePoint": info,
        "activeSessions": active,
    })))
}

/// Prometheus text exposition of the charge point's state.
async fn metrics(State(app): State<Arc<SimApp>>) -> Result<Response, SimError> {
    let info = app.charge_point.info().await?;
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, samples: Vec<(String, f64)>| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    let per = |f: &dyn Fn(&crate::ocpp16::ConnectorInfo) -> f64| {
        info.connectors
            .iter()
            .map(|c| (format!("{{connector=\"{}\"}}", c.connector), f(c)))
            .collect::<Vec<_>>()
    };
    family(
        "joule_sim_connected",
        "gauge",
        "Whether the central-system connection is up.",
        vec![(String::new(), f64::from(u8::from(info.connected)))],
    );
    family(
        "joule_sim_active_sessions",
        "gauge",
        "Connectors with a running transaction.",
        vec![(
            String::new(),
            info.connectors
                .iter()
                .filter(|c| c.transaction_id.is_some())
                .count() as f64,
        )],
    );
    family(
        "joule_sim_queued_messages",
        "gauge",
        "Transaction messages waiting for delivery.",
        vec![(String::new(), info.queued_messages as f64)],
    );
    family(
        "joule_sim_energy_register_wh",
        "counter",
        "Energy register of each connector, Wh.",
        per(&|c| c.register_wh as f64),
    );
    family(
        "joule_sim_session_energy_wh",
        "gauge",
        "Energy of the running session, Wh.",
        per(&|c| c.session_energy_wh),
    );
    family(
        "joule_sim_power_w",
        "gauge",
        "Delivered power, W.",
        per(&|c| c.power_w),
    );
    family(
        "joule_sim_faulted",
        "gauge",
        "Whether the connector is Faulted.",
        per(&|c| f64::from(u8::from(c.status == "Faulted"))),
    );
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fault_code_reports_itself_back() {
        use crate::ocpp16::status::error_code;
        for code in [
            "GroundFailure",
            "PowerSwitchFailure",
            "PowerMeterFailure",
            "OverCurrentFailure",
            "OverVoltage",
            "HighTemperature",
            "InternalError",
        ] {
            let fault = fault_for(code).expect("known");
            assert_eq!(error_code(&fault).to_string(), code);
        }
        assert!(fault_for("NoError").is_none());
        assert!(fault_for("Bogus").is_none());
    }
}
