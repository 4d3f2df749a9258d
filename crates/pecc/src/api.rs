//! The admin REST API under `/api/v1`: read and change each gun's parameters at runtime, read
//! diagnostics and the module allocation, and send the PECC's own requests to a gun's SECC.
//!
//! | route | what |
//! |---|---|
//! | `GET /api/v1/guns` | every gun's diagnostics |
//! | `GET /api/v1/guns/{n}` | gun `n`'s diagnostics: phase, status, demand, modules, the EV's reports, `energyWh` (delivered through the outlet since start) and `sessionEnergyWh` (since the charging procedure began) |
//! | `GET /api/v1/guns/{n}/parameters` | gun `n`'s parameters (PEP-WS names) |
//! | `PUT /api/v1/guns/{n}/parameters` | change them: any subset of the fields, aliases accepted; validated and in force at once |
//! | `GET /api/v1/modules` | the power modules and the gun each feeds |
//! | `POST /api/v1/guns/{n}/stop-charging` | `stopCharging` to the SECC |
//! | `POST /api/v1/guns/{n}/inputs` | `getInput` with `{"inputIdentifiers": […]}` |
//! | `POST /api/v1/guns/{n}/outputs` | `setOutput` with `{"outputValues": {…}}` |
//!
//! With `adminToken` set, every route needs `Authorization: Bearer <token>`; without one, only
//! loopback clients are served. Errors are `{"status":"error","message":…}` with 401, 403, 404,
//! 409 (no SECC connected, or its request slot busy), 422 (invalid parameters), 502 (the SECC
//! answered with an error) or 504 (no answer in 500 ms).

use crate::Shared;
use crate::cabinet::CabinetCommand;
use crate::connection::{ConnectionCommand, Outcome};
use axum::extract::{ConnectInfo, Path, Request as HttpRequest, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use proto_pepws::{GetInput, Request, SetOutput};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;

/// The admin routes.
pub fn router(shared: Arc<Shared>) -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/v1/guns", get(guns))
        .route("/api/v1/guns/{gun}", get(gun))
        .route(
            "/api/v1/guns/{gun}/parameters",
            get(parameters).put(update_parameters),
        )
        .route("/api/v1/modules", get(modules))
        .route("/api/v1/guns/{gun}/stop-charging", post(stop_charging))
        .route("/api/v1/guns/{gun}/inputs", post(inputs))
        .route("/api/v1/guns/{gun}/outputs", post(outputs))
        .layer(middleware::from_fn_with_state(shared, authorize))
}

/// An API error.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({"status": "error", "message": self.message})),
        )
            .into_response()
    }
}

async fn authorize(
    State(shared): State<Arc<Shared>>,
    request: HttpRequest,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| *addr);
    match &shared.config.admin_token {
        Some(token) => {
            let supplied = request
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "));
            if supplied != Some(token.as_str()) {
                return ApiError::new(StatusCode::UNAUTHORIZED, "missing or wrong bearer token")
                    .into_response();
            }
        }
        None if !peer.is_some_and(|p| p.ip().is_loopback()) => {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "the admin API serves loopback clients only unless adminToken is set",
            )
            .into_response();
        }
        None => {}
    }
    next.run(request).await
}

fn known(shared: &Shared, gun: u32) -> Result<(), ApiError> {
    if (1..=shared.config.guns).contains(&gun) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no gun {gun} (1 … {})", shared.config.guns),
        ))
    }
}

fn stopped() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "the controller is shutting down",
    )
}

async fn guns(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let views: Vec<Value> = shared
        .cabinet
        .views
        .iter()
        .map(|v| serde_json::to_value(&v.borrow().view).unwrap_or(Value::Null))
        .collect();
    Json(Value::Array(views))
}

async fn gun(
    State(shared): State<Arc<Shared>>,
    Path(gun): Path<u32>,
) -> Result<Json<Value>, ApiError> {
    known(&shared, gun)?;
    let view = shared.cabinet.view(gun).ok_or_else(stopped)?;
    let view = view.borrow().view.clone();
    Ok(Json(serde_json::to_value(&view).unwrap_or(Value::Null)))
}

async fn parameters(
    State(shared): State<Arc<Shared>>,
    Path(gun): Path<u32>,
) -> Result<Json<Value>, ApiError> {
    known(&shared, gun)?;
    let parameters = shared
        .cabinet
        .ask(|reply| CabinetCommand::Parameters { gun, reply })
        .await
        .flatten()
        .ok_or_else(stopped)?;
    Ok(Json(
        serde_json::to_value(&parameters).unwrap_or(Value::Null),
    ))
}

async fn update_parameters(
    State(shared): State<Arc<Shared>>,
    Path(gun): Path<u32>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    known(&shared, gun)?;
    let update: Value = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("not valid JSON: {e}"),
        )
    })?;
    let result = shared
        .cabinet
        .ask(|reply| CabinetCommand::UpdateParameters { gun, update, reply })
        .await
        .flatten()
        .ok_or_else(stopped)?;
    let parameters =
        result.map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
    Ok(Json(
        serde_json::to_value(&parameters).unwrap_or(Value::Null),
    ))
}

async fn modules(State(shared): State<Arc<Shared>>) -> Result<Json<Value>, ApiError> {
    let modules = shared
        .cabinet
        .ask(CabinetCommand::Modules)
        .await
        .ok_or_else(stopped)?;
    Ok(Json(json!(modules)))
}

/// Sends a PECC request to gun `gun`'s SECC and turns the outcome into an answer.
async fn pecc_request(
    shared: &Shared,
    gun: u32,
    request: Request,
) -> Result<Json<Value>, ApiError> {
    known(shared, gun)?;
    let commands = shared.slots.lock().ok().and_then(|slots| {
        slots
            .get((gun as usize).wrapping_sub(1))?
            .as_ref()
            .map(|s| s.commands.clone())
    });
    let Some(commands) = commands else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("no SECC connected to gun {gun}"),
        ));
    };
    let (reply, outcome) = tokio::sync::oneshot::channel();
    commands
        .send(ConnectionCommand::Request(request, reply))
        .await
        .map_err(|_| ApiError::new(StatusCode::CONFLICT, "the SECC connection just ended"))?;
    match outcome.await.unwrap_or(Outcome::Disconnected) {
        Outcome::Response(proto_pepws::Response::GetInput(values)) => Ok(Json(
            json!({"inputValues": values.input_values.unwrap_or_default()}),
        )),
        Outcome::Response(response) => Ok(Json(json!({"status": "ok", "kind": response.kind()}))),
        Outcome::Error(error) => Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!("the SECC answered {}: {}", error.category, error.details),
        )),
        Outcome::Timeout => Err(ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "no answer from the SECC within 500 ms",
        )),
        Outcome::Busy => Err(ApiError::new(
            StatusCode::CONFLICT,
            "another PECC request to this SECC is pending",
        )),
        Outcome::Disconnected => Err(ApiError::new(StatusCode::CONFLICT, "the SECC disconnected")),
    }
}

async fn stop_charging(
    State(shared): State<Arc<Shared>>,
    Path(gun): Path<u32>,
) -> Result<Json<Value>, ApiError> {
    pecc_request(&shared, gun, Request::StopCharging).await
}

async fn inputs(
    State(shared): State<Arc<Shared>>,
    Path(gun): Path<u32>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let payload: GetInput = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("expected {{\"inputIdentifiers\": [...]}}: {e}"),
        )
    })?;
    pecc_request(&shared, gun, Request::GetInput(payload)).await
}

async fn outputs(
    State(shared): State<Arc<Shared>>,
    Path(gun): Path<u32>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let payload: SetOutput = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("expected {{\"outputValues\": {{...}}}}: {e}"),
        )
    })?;
    pecc_request(&shared, gun, Request::SetOutput(payload)).await
}
