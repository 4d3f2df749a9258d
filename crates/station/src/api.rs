//! The Live Controller HTTP API (seed 001): the seed's paths, fields and spellings serve gun 1,
//! the same routes under `/guns/{n}/…` serve every gun, `GET /guns` lists them and `GET /events`
//! streams every gun's changes as server-sent events. Errors are `{"status":"error","message":…}`
//! with 404 (unknown gun), 409 (conflict with the gun's state) or 422 (invalid input).

use crate::gun::{ControlError, GunCommand, GunHandle, GunSnapshot};
use axum::body::Bytes;
use axum::extract::{FromRequestParts, OriginalUri, Request, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use charger::{Refusal, SessionParams};
use hal::{Amps, CpState, Fault, Volts};
use serde::Deserialize;
use serde_json::{Value, json};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

/// Shared state of the API.
#[derive(Debug)]
pub struct App {
    /// The guns, in gun-number order (gun n at index n − 1).
    pub guns: Vec<GunHandle>,
    /// Bearer token required on every route, if set.
    pub token: Option<String>,
}

/// An API failure.
#[derive(Debug)]
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({"status": "error", "message": self.1}))).into_response()
    }
}

type ApiResult = Result<Json<Value>, ApiError>;

/// The router.
pub fn router(app: Arc<App>) -> Router {
    let gun_routes = Router::new()
        .route("/start_session", post(start_session))
        .route("/stop_session", post(stop_session))
        .route("/status", get(status))
        .route("/meter", get(meter))
        .route("/control/contactor", post(contactor))
        .route("/control/pwm", post(pwm))
        .route("/control/cp_state", post(cp_state))
        .route("/fault", post(fault))
        .route("/clear_fault", post(clear_fault))
        .route("/vehicle/bms", get(vehicle_bms))
        .route("/vehicle/slac", get(vehicle_slac))
        .route("/vehicle/iso15118", get(vehicle_iso15118));
    Router::new()
        .nest("/guns/{n}", gun_routes.clone())
        .merge(gun_routes)
        .route("/guns", get(guns))
        .route("/events", get(events))
        .fallback(|| async { ApiError(StatusCode::NOT_FOUND, "no such route".into()) })
        .layer(middleware::from_fn_with_state(app.clone(), bearer))
        .with_state(app)
}

async fn bearer(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let Some(token) = &app.token else {
        return next.run(request).await;
    };
    let supplied = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if supplied == Some(token.as_str()) {
        next.run(request).await
    } else {
        ApiError(
            StatusCode::UNAUTHORIZED,
            "missing or wrong bearer token".into(),
        )
        .into_response()
    }
}

/// The gun a request addresses: `/guns/{n}/…`, or gun 1 on the seed's own paths.
struct Target(GunHandle);

impl FromRequestParts<Arc<App>> for Target {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        // Inside `nest` the URI has lost its `/guns/{n}` prefix; the original one still has it.
        let path = parts.extensions.get::<OriginalUri>().map_or_else(
            || parts.uri.path().to_string(),
            |original| original.path().to_string(),
        );
        let number = match path.strip_prefix("/guns/") {
            Some(rest) => {
                let n = rest.split('/').next().unwrap_or_default();
                n.parse::<usize>()
                    .map_err(|_| ApiError(StatusCode::NOT_FOUND, format!("unknown gun {n:?}")))?
            }
            None => 1,
        };
        number
            .checked_sub(1)
            .and_then(|i| app.guns.get(i))
            .cloned()
            .map(Target)
            .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("unknown gun {number}")))
    }
}

fn unprocessable(message: impl Into<String>) -> ApiError {
    ApiError(StatusCode::UNPROCESSABLE_ENTITY, message.into())
}

fn gone() -> ApiError {
    ApiError(
        StatusCode::SERVICE_UNAVAILABLE,
        "the gun's controller stopped".into(),
    )
}

fn body<T: serde::de::DeserializeOwned>(bytes: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| unprocessable(format!("invalid body: {e}")))
}

#[derive(Debug, Deserialize)]
struct StartBody {
    target_voltage: Option<f64>,
    initial_current: Option<f64>,
    duration_s: Option<f64>,
}

async fn start_session(Target(gun): Target, bytes: Bytes) -> ApiResult {
    let request: StartBody = if bytes.iter().all(u8::is_ascii_whitespace) {
        StartBody {
            target_voltage: None,
            initial_current: None,
            duration_s: None,
        }
    } else {
        body(&bytes)?
    };
    let defaults = SessionParams::seed_defaults();
    let non_negative = |name: &str, v: Option<f64>, default: f64| match v {
        None => Ok(default),
        Some(v) if v.is_finite() && v >= 0.0 => Ok(v),
        Some(v) => Err(unprocessable(format!("{name} must be ≥ 0, got {v}"))),
    };
    let target = non_negative(
        "target_voltage",
        request.target_voltage,
        defaults.target_voltage.value(),
    )?;
    let current = non_negative(
        "initial_current",
        request.initial_current,
        defaults.initial_current.value(),
    )?;
    let duration = match request.duration_s {
        None => defaults.duration,
        Some(d) if d.is_finite() && (1.0..=86_400.0).contains(&d) => Duration::from_secs_f64(d),
        Some(d) => {
            return Err(unprocessable(format!(
                "duration_s must be between 1 and 86400, got {d}"
            )));
        }
    };
    let params = SessionParams {
        target_voltage: Volts(target),
        initial_current: Amps(current),
        duration,
        ev_max_voltage: None,
    };
    match gun
        .request(|reply| GunCommand::Start(params, reply))
        .await
        .ok_or_else(gone)?
    {
        Ok(()) => Ok(Json(json!({"status": "started"}))),
        Err(Refusal::InvalidParams(message)) => Err(unprocessable(message)),
        Err(refusal) => Err(ApiError(StatusCode::CONFLICT, refusal.to_string())),
    }
}

async fn stop_session(Target(gun): Target) -> ApiResult {
    gun.request(GunCommand::Stop).await.ok_or_else(gone)?;
    Ok(Json(json!({"status": "stopping"})))
}

async fn status(Target(gun): Target) -> ApiResult {
    Ok(Json(
        serde_json::to_value(gun.snapshot().status).unwrap_or(Value::Null),
    ))
}

async fn meter(Target(gun): Target) -> ApiResult {
    Ok(Json(
        serde_json::to_value(gun.snapshot().meter).unwrap_or(Value::Null),
    ))
}

fn control_error(e: ControlError) -> ApiError {
    match e {
        ControlError::Hardware(e) => unprocessable(e.to_string()),
        other => ApiError(StatusCode::CONFLICT, other.to_string()),
    }
}

#[derive(Debug, Deserialize)]
struct ContactorBody {
    closed: bool,
}

async fn contactor(Target(gun): Target, bytes: Bytes) -> ApiResult {
    let request: ContactorBody = body(&bytes)?;
    let closed = gun
        .request(|reply| GunCommand::Contactor(request.closed, reply))
        .await
        .ok_or_else(gone)?
        .map_err(control_error)?;
    Ok(Json(json!({"status": "ok", "contactor_closed": closed})))
}

#[derive(Debug, Deserialize)]
struct PwmBody {
    duty: f64,
}

async fn pwm(Target(gun): Target, bytes: Bytes) -> ApiResult {
    let request: PwmBody = body(&bytes)?;
    if !(0.0..=100.0).contains(&request.duty) {
        return Err(unprocessable(format!(
            "duty must be between 0 and 100, got {}",
            request.duty
        )));
    }
    let duty = gun
        .request(|reply| GunCommand::Pwm(request.duty, reply))
        .await
        .ok_or_else(gone)?
        .map_err(control_error)?;
    Ok(Json(json!({"status": "ok", "duty": duty})))
}

#[derive(Debug, Deserialize)]
struct CpBody {
    state: String,
}

async fn cp_state(Target(gun): Target, bytes: Bytes) -> ApiResult {
    let request: CpBody = body(&bytes)?;
    // The seed accepts ^[ABCDE]$ (F is the charger's own fault state, not a vehicle's).
    let state = CpState::from_letter(&request.state)
        .filter(|s| *s != CpState::F)
        .ok_or_else(|| {
            unprocessable(format!(
                "state must match ^[ABCDE]$, got {:?}",
                request.state
            ))
        })?;
    let state = gun
        .request(|reply| GunCommand::CpState(state, reply))
        .await
        .ok_or_else(gone)?
        .map_err(control_error)?;
    Ok(Json(json!({"status": "ok", "state": state.letter()})))
}

#[derive(Debug, Deserialize)]
struct FaultBody {
    r#type: String,
}

async fn fault(Target(gun): Target, bytes: Bytes) -> ApiResult {
    let request: FaultBody = body(&bytes)?;
    if request.r#type.is_empty() || request.r#type.len() > 64 {
        return Err(unprocessable("type must have 1 to 64 characters"));
    }
    let kind = Fault::parse(&request.r#type);
    gun.request(|reply| GunCommand::Fault(kind, reply))
        .await
        .ok_or_else(gone)?;
    Ok(Json(
        json!({"status": "fault_injected", "type": request.r#type}),
    ))
}

async fn clear_fault(Target(gun): Target) -> ApiResult {
    gun.request(GunCommand::ClearFault)
        .await
        .ok_or_else(gone)?
        .map_err(|refusal| ApiError(StatusCode::CONFLICT, refusal.to_string()))?;
    Ok(Json(json!({"status": "fault_cleared"})))
}

/// Seed-shaped vehicle data; null until ISO 15118 supplies it.
async fn vehicle_bms(Target(_): Target) -> Json<Value> {
    let dc = json!({
        "max_charge_power": null, "min_charge_power": null, "max_charge_current": null,
        "min_charge_current": null, "max_voltage": null, "min_voltage": null,
        "max_discharge_power": null, "min_discharge_power": null, "max_discharge_current": null,
    });
    Json(json!({
        "protocol": null, "evcc_id": null, "present_soc": null, "present_voltage": null,
        "target_voltage": null, "target_current": null, "total_battery_capacity": null,
        "energy_requests": {"target_energy_request": null, "max_energy_request": null, "min_energy_request": null},
        "soc_limits": {"min_soc": null, "max_soc": null, "target_soc": null},
        "rated_limits": {"dc": dc.clone(), "ac": {
            "max_charge_current": null, "min_charge_current": null, "max_voltage": null,
            "max_charge_power": null, "min_charge_power": null, "max_discharge_power": null}},
        "session_limits": {"dc": dc, "ac": {"max_charge_power": null, "min_charge_power": null}},
    }))
}

async fn vehicle_slac(Target(_): Target) -> Json<Value> {
    Json(json!({
        "state": "IDLE", "ev_mac": null, "nid": null, "run_id": null, "attenuation_db": null,
        "last_updated": null,
    }))
}

async fn vehicle_iso15118(Target(_): Target) -> Json<Value> {
    Json(json!({
        "protocol": null, "energy_service": null, "control_mode": null, "authorized": null,
        "evse_id": null, "session_id": null,
        "timestamps": {"started_at": null, "last_message_at": null},
    }))
}

fn summary(snapshot: &GunSnapshot) -> Value {
    json!({
        "gun": snapshot.gun,
        "label": snapshot.label,
        "session_active": snapshot.status.session_active,
        "phase": snapshot.status.phase,
        "step": snapshot.status.step,
        "error": snapshot.status.error,
        "fault": snapshot.status.fault,
        "contactor_closed": snapshot.status.contactor_closed,
        "voltage": snapshot.status.voltage,
        "current": snapshot.status.current,
        "energy_Wh": snapshot.status.energy_wh,
    })
}

async fn guns(State(app): State<Arc<App>>) -> Json<Value> {
    let all: Vec<Value> = app.guns.iter().map(|g| summary(&g.snapshot())).collect();
    Json(json!({"guns": all}))
}

/// Every gun's changes, as server-sent events named `gun` carrying the gun's summary.
async fn events(
    State(app): State<Arc<App>>,
) -> Sse<impl futures_util::Stream<Item = Result<SseEvent, Infallible>>> {
    let (changes, received) = tokio::sync::mpsc::channel::<Value>(64);
    for gun in &app.guns {
        let mut watch = gun.subscribe();
        let changes = changes.clone();
        tokio::spawn(async move {
            loop {
                let snapshot = watch.borrow_and_update().clone();
                // A slow client loses intermediate states, never the latest one.
                if changes.send(summary(&snapshot)).await.is_err() || watch.changed().await.is_err()
                {
                    return;
                }
            }
        });
    }
    let stream = futures_util::stream::unfold(received, |mut received| async move {
        let value = received.recv().await?;
        Some((
            Ok(SseEvent::default().event("gun").data(value.to_string())),
            received,
        ))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}
