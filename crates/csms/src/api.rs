//! The operator REST API: stations, tokens, transactions, and commands to stations, each answered
//! with the station's real reply. Every `/api/v1` route needs an `X-API-Key` header; errors are
//! `{"status":"error","message":…}` with a 4xx or 5xx status.

use crate::connection::{CallOutcome, Command};
use crate::registry::PostError;
use crate::store::{TokenRecord, TransactionRecord, TxState};
use crate::{Ctx, now_ms};
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use proto_ocpp::OcppVersion;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::sync::Arc;
use tokio::sync::oneshot;

/// An API failure: HTTP status and message.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// What went wrong.
    pub message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        tracing::error!(error = %e, "storage failed");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "storage failed")
    }
}

/// `{"status":"error","message":…}` with `status`.
pub fn error_response(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"status": "error", "message": message}))).into_response()
}

type ApiResult = Result<Json<Value>, ApiError>;

/// The router of the REST API and the unauthenticated `/health`.
pub fn router(ctx: Arc<Ctx>) -> Router {
    let api = Router::new()
        .route("/stations", get(stations).post(register_station))
        .route("/stations/{id}", get(station))
        .route("/stations/{id}/events", get(station_events))
        .route("/stations/{id}/call/{action}", post(call))
        .route("/tokens", get(tokens).post(put_token))
        .route("/tokens/{id_tag}", axum::routing::delete(delete_token))
        .route("/transactions", get(transactions))
        .route("/transactions/{id}", get(transaction))
        .route("/start", post(start))
        .route("/stop", post(stop))
        .route("/active", get(active))
        .route("/openapi.json", get(openapi))
        .route_layer(middleware::from_fn_with_state(ctx.clone(), require_key));
    Router::new()
        .nest("/api/v1", api)
        .route("/health", get(health))
        .route("/metrics", get(|| async { crate::telemetry::render() }))
        .fallback(|| async { error_response(StatusCode::NOT_FOUND, "no such route") })
        .with_state(ctx)
}

async fn require_key(State(ctx): State<Arc<Ctx>>, request: Request, next: Next) -> Response {
    let supplied = request
        .headers()
        .get("x-api-key")
        .and_then(|v| v.to_str().ok());
    match supplied {
        Some(key) if ctx.config.api_keys.iter().any(|k| k == key) => next.run(request).await,
        _ => error_response(StatusCode::UNAUTHORIZED, "invalid api key"),
    }
}

/// The OpenAPI description of this API.
pub const OPENAPI: &str = include_str!("openapi.json");

async fn openapi() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        OPENAPI,
    )
        .into_response()
}

async fn health() -> Json<Value> {
    Json(json!({"ok": true, "time": crate::handlers::timestamp(now_ms()).to_string()}))
}

fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")))
}

fn iso(ms: Option<i64>) -> Value {
    ms.map_or(Value::Null, |ms| {
        json!(crate::handlers::timestamp(ms).to_string())
    })
}

async fn station_json(ctx: &Ctx, record: &crate::store::StationRecord) -> Result<Value, ApiError> {
    let online = ctx.registry.get(&record.id);
    let connectors = ctx.store.connector_statuses(&record.id).await?;
    Ok(json!({
        "id": record.id,
        "online": online.is_some(),
        "ocppVersion": online.map(|h| h.version.label().to_string()).or(record.ocpp_version.clone()),
        "registration": record.registration.as_str(),
        "vendor": record.vendor,
        "model": record.model,
        "serialNumber": record.serial_number,
        "firmwareVersion": record.firmware_version,
        "lastSeen": iso(record.last_seen_ms),
        "lastBoot": iso(record.last_boot_ms),
        "connectors": connectors.iter().map(|c| json!({
            "evseId": c.evse_id,
            "connectorId": c.connector_id,
            "status": c.status,
            "errorCode": c.error_code,
            "info": c.info,
            "updatedAt": iso(Some(c.updated_ms)),
        })).collect::<Vec<_>>(),
    }))
}

async fn stations(State(ctx): State<Arc<Ctx>>) -> ApiResult {
    let mut all = Vec::new();
    for record in ctx.store.stations().await? {
        all.push(station_json(&ctx, &record).await?);
    }
    Ok(Json(json!({"stations": all})))
}

async fn station(State(ctx): State<Arc<Ctx>>, Path(id): Path<String>) -> ApiResult {
    let record =
        ctx.store.station(&id).await?.ok_or_else(|| {
            ApiError::new(StatusCode::NOT_FOUND, format!("unknown station {id:?}"))
        })?;
    Ok(Json(station_json(&ctx, &record).await?))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct StationBody {
    id: String,
    #[serde(default)]
    registration: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

/// Registers a station or changes its registration status or password (the password is stored
/// as a salted digest; omitting it keeps the current one).
async fn register_station(
    State(ctx): State<Arc<Ctx>>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let body: StationBody = parse(&body)?;
    if body.id.is_empty()
        || body.id.len() > 48
        || body.id.chars().any(|c| c.is_control() || c == '/')
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "id must have 1 to 48 printable characters, no '/'",
        ));
    }
    let registration = match body.registration.as_deref() {
        None => crate::store::Registration::Accepted,
        Some(text) => text.parse().map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "registration must be Accepted, Pending or Rejected",
            )
        })?,
    };
    if let Some(password) = &body.password {
        // OCPP 1.6 security whitepaper and 2.x: 16 to 40 characters.
        if !(16..=40).contains(&password.chars().count()) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "password must have 16 to 40 characters",
            ));
        }
    }
    ctx.store
        .register_station(&body.id, registration, body.password.as_deref(), now_ms())
        .await?;
    let record =
        ctx.store.station(&body.id).await?.ok_or_else(|| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "station not stored")
        })?;
    Ok((
        StatusCode::CREATED,
        Json(station_json(&ctx, &record).await?),
    ))
}

#[derive(Debug, Deserialize)]
struct EventFilter {
    action: Option<String>,
}

/// What a station reported beyond transactions: security events, reports, firmware status, …
async fn station_events(
    State(ctx): State<Arc<Ctx>>,
    Path(id): Path<String>,
    Query(filter): Query<EventFilter>,
) -> ApiResult {
    if ctx.store.station(&id).await?.is_none() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("unknown station {id:?}"),
        ));
    }
    let events: Vec<Value> = ctx
        .store
        .station_events(&id, filter.action.as_deref())
        .await?
        .iter()
        .map(|e| {
            json!({
                "id": e.id,
                "action": e.action,
                "receivedAt": iso(Some(e.received_ms)),
                "payload": serde_json::from_str::<Value>(&e.payload).unwrap_or(Value::String(e.payload.clone())),
            })
        })
        .collect();
    Ok(Json(json!({"events": events})))
}

/// Sends a CALL to a connected station and waits for its answer.
pub async fn call_station(
    ctx: &Ctx,
    station: &str,
    action: &str,
    payload: Value,
) -> Result<Value, ApiError> {
    let Some(handle) = ctx.registry.get(station) else {
        let known = ctx.store.station(station).await?.is_some();
        return Err(if known {
            ApiError::new(
                StatusCode::CONFLICT,
                format!("station {station:?} is offline"),
            )
        } else {
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!("unknown station {station:?}"),
            )
        });
    };
    let (reply, answer) = oneshot::channel();
    let command = Command::Call {
        action: action.to_string(),
        payload,
        reply,
    };
    match handle.mailbox.post(command) {
        Ok(()) => {}
        Err(PostError::Full) => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("too many commands are waiting for station {station:?}"),
            ));
        }
        Err(_) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("station {station:?} is offline"),
            ));
        }
    }
    // The connection enforces the call timeout; this bound only guards against a stuck task.
    let bound = ctx.config.call_timeout + std::time::Duration::from_secs(5);
    let outcome = tokio::time::timeout(bound, answer)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "the station did not answer in time",
            )
        })?
        .unwrap_or(CallOutcome::Disconnected);
    match outcome {
        CallOutcome::Response(value) => Ok(value),
        CallOutcome::CallError {
            code, description, ..
        } => Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!("the station answered {code}: {description}"),
        )),
        CallOutcome::Invalid(reason) => Err(ApiError::new(StatusCode::BAD_REQUEST, reason)),
        CallOutcome::InvalidResponse(reason) => Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!("the station's answer is invalid: {reason}"),
        )),
        CallOutcome::Timeout => Err(ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "the station did not answer in time",
        )),
        CallOutcome::Disconnected => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("station {station:?} disconnected before answering"),
        )),
    }
}

fn answered(action: &str, response: Value) -> Json<Value> {
    Json(json!({"status": "ok", "action": action, "response": response}))
}

async fn call(
    State(ctx): State<Arc<Ctx>>,
    Path((id, action)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let payload: Value = if body.is_empty() {
        json!({})
    } else {
        parse(&body)?
    };
    let response = call_station(&ctx, &id, &action, payload).await?;
    Ok(answered(&action, response))
}

async fn tokens(State(ctx): State<Arc<Ctx>>) -> ApiResult {
    let all: Vec<Value> = ctx.store.tokens().await?.iter().map(token_json).collect();
    Ok(Json(json!({"tokens": all})))
}

fn token_json(t: &TokenRecord) -> Value {
    json!({"idTag": t.id_tag, "status": t.status, "expiry": iso(t.expiry_ms), "parentIdTag": t.parent_id_tag})
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TokenBody {
    id_tag: String,
    #[serde(default = "accepted")]
    status: String,
    #[serde(default)]
    expiry: Option<String>,
    #[serde(default)]
    parent_id_tag: Option<String>,
}

fn accepted() -> String {
    "Accepted".into()
}

async fn put_token(
    State(ctx): State<Arc<Ctx>>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let body: TokenBody = parse(&body)?;
    if body.id_tag.is_empty() || body.id_tag.len() > 36 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "idTag must have 1 to 36 characters",
        ));
    }
    const STATUSES: [&str; 5] = ["Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx"];
    if !STATUSES.contains(&body.status.as_str()) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("status must be one of {}", STATUSES.join(", ")),
        ));
    }
    let expiry_ms = match &body.expiry {
        Some(text) => Some(
            text.parse::<proto_ocpp::Timestamp>()
                .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))?
                .timestamp_millis(),
        ),
        None => None,
    };
    let token = TokenRecord {
        id_tag: body.id_tag,
        status: body.status,
        expiry_ms,
        parent_id_tag: body.parent_id_tag,
    };
    ctx.store.upsert_token(&token).await?;
    Ok((StatusCode::CREATED, Json(token_json(&token))))
}

async fn delete_token(State(ctx): State<Arc<Ctx>>, Path(id_tag): Path<String>) -> ApiResult {
    if ctx.store.delete_token(&id_tag).await? {
        Ok(Json(json!({"status": "ok"})))
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("unknown idTag {id_tag:?}"),
        ))
    }
}

#[derive(Debug, Deserialize)]
struct TransactionFilter {
    station: Option<String>,
    state: Option<String>,
}

async fn transactions(
    State(ctx): State<Arc<Ctx>>,
    Query(filter): Query<TransactionFilter>,
) -> ApiResult {
    let state = match filter.state.as_deref() {
        None | Some("") => None,
        Some("active") => Some(TxState::Active),
        Some("completed") => Some(TxState::Completed),
        Some(other) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("state must be active or completed, not {other:?}"),
            ));
        }
    };
    let all = ctx
        .store
        .transactions(filter.station.as_deref(), state)
        .await?;
    Ok(Json(
        json!({"transactions": all.iter().map(transaction_json).collect::<Vec<_>>()}),
    ))
}

fn transaction_json(t: &TransactionRecord) -> Value {
    json!({
        "id": t.id,
        "station": t.station_id,
        "transactionKey": t.tx_key,
        "evseId": t.evse_id,
        "connectorId": t.connector_id,
        "idTag": t.id_tag,
        "meterStartWh": t.meter_start_wh,
        "meterStopWh": t.meter_stop_wh,
        "energyWh": t.energy_wh(),
        "startedAt": iso(Some(t.started_ms)),
        "stoppedAt": iso(t.stopped_ms),
        "stopReason": t.stop_reason,
        "state": if t.stopped_ms.is_some() { "completed" } else { "active" },
    })
}

async fn transaction(State(ctx): State<Arc<Ctx>>, Path(id): Path<i64>) -> ApiResult {
    let tx =
        ctx.store.transaction(id).await?.ok_or_else(|| {
            ApiError::new(StatusCode::NOT_FOUND, format!("unknown transaction {id}"))
        })?;
    let meter_values: Vec<Value> = ctx
        .store
        .meter_values(id)
        .await?
        .iter()
        .map(|m| {
            json!({
                "timestamp": iso(Some(m.timestamp_ms)),
                "measurand": m.measurand,
                "value": m.value,
                "unit": m.unit,
                "phase": m.phase,
                "location": m.location,
                "context": m.context,
            })
        })
        .collect();
    let mut body = transaction_json(&tx);
    body["meterValues"] = Value::Array(meter_values);
    Ok(Json(body))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StartBody {
    cpid: String,
    connector_id: i32,
    id_tag: Option<String>,
}

/// Remote start on a connector (1.6 RemoteStartTransaction, 2.x RequestStartTransaction).
async fn start(State(ctx): State<Arc<Ctx>>, body: Bytes) -> ApiResult {
    let body: StartBody = parse(&body)?;
    let version = online_version(&ctx, &body.cpid).await?;
    let id_tag = body.id_tag.unwrap_or_else(|| "REMOTE".into());
    let (action, payload) = match version {
        OcppVersion::V16 => (
            "RemoteStartTransaction",
            json!({"connectorId": body.connector_id, "idTag": id_tag}),
        ),
        OcppVersion::V201 | OcppVersion::V21 => (
            "RequestStartTransaction",
            json!({
                "evseId": body.connector_id,
                "remoteStartId": remote_start_id(),
                "idToken": {"idToken": id_tag, "type": "Central"},
            }),
        ),
    };
    let response = call_station(&ctx, &body.cpid, action, payload).await?;
    Ok(answered(action, response))
}

/// A remote-start id from the wall clock: unique enough per station, positive, 31 bits.
fn remote_start_id() -> i64 {
    now_ms() % i64::from(i32::MAX)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StopBody {
    cpid: String,
    connector_id: Option<i32>,
    transaction_id: Option<i64>,
}

/// Remote stop by transaction id or connector (1.6 RemoteStopTransaction, 2.x RequestStopTransaction).
async fn stop(State(ctx): State<Arc<Ctx>>, body: Bytes) -> ApiResult {
    let body: StopBody = parse(&body)?;
    let version = online_version(&ctx, &body.cpid).await?;
    let tx = match (body.transaction_id, body.connector_id) {
        (Some(id), _) => ctx
            .store
            .transaction(id)
            .await?
            .filter(|t| t.station_id == body.cpid),
        (None, Some(connector)) => {
            ctx.store
                .active_transaction_on(&body.cpid, connector)
                .await?
        }
        (None, None) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "give transactionId or connectorId",
            ));
        }
    };
    let Some(tx) = tx.filter(|t| t.stopped_ms.is_none()) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "No matching active transaction",
        ));
    };
    let (action, payload) = match (version, &tx.tx_key) {
        (OcppVersion::V16, _) => ("RemoteStopTransaction", json!({"transactionId": tx.id})),
        (_, Some(key)) => ("RequestStopTransaction", json!({"transactionId": key})),
        (_, None) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "transaction has no station-assigned id",
            ));
        }
    };
    let response = call_station(&ctx, &body.cpid, action, payload).await?;
    let mut body = answered(action, response);
    body["transactionId"] = json!(tx.id);
    Ok(body)
}

async fn online_version(ctx: &Ctx, station: &str) -> Result<OcppVersion, ApiError> {
    match ctx.registry.get(station) {
        Some(handle) => Ok(handle.version),
        None if ctx.store.station(station).await?.is_some() => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("station {station:?} is offline"),
        )),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("ChargePoint '{station}' not connected"),
        )),
    }
}

async fn active(State(ctx): State<Arc<Ctx>>) -> ApiResult {
    let sessions: Vec<Value> = ctx
        .store
        .transactions(None, Some(TxState::Active))
        .await?
        .iter()
        .map(|t| json!({"cpid": t.station_id, "connectorId": t.connector_id, "idTag": t.id_tag, "transactionId": t.id}))
        .collect();
    Ok(Json(json!({"sessions": sessions})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_openapi_document_describes_every_route() {
        let doc: Value = serde_json::from_str(OPENAPI).expect("valid JSON");
        assert_eq!(doc["openapi"], "3.1.0");
        let source = include_str!("api.rs");
        let routes: Vec<&str> = source
            .lines()
            .filter_map(|l| l.trim().strip_prefix(".route(\"/"))
            .filter_map(|l| l.split('"').next())
            .filter(|r| !matches!(*r, "health" | "metrics"))
            .collect();
        assert!(routes.len() >= 11, "{routes:?}");
        for route in routes {
            let path = format!("/api/v1/{}", route.replace("{id_tag}", "{idTag}"));
            assert!(
                doc["paths"].get(&path).is_some(),
                "{path} is not documented"
            );
        }
    }
}
