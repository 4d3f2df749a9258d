//! What the central system does with each CALL a station sends, per OCPP version.
//!
//! Every handler answers from the database and records what the station reported; each
//! version's handlers live in their own module and share the token check here.

mod v16;
mod v2x;

use crate::Ctx;
use crate::store::StoreError;
use proto_ocpp::{Dialect, ErrorCode, Timestamp};
use std::future::Future;

/// Why a handler could not answer; the station gets a CALLERROR.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HandlerError {
    /// The database failed.
    #[error("storage failed: {0}")]
    Store(#[from] StoreError),
    /// The action is known but this central system does not act on it.
    #[error("{0} is not supported by this central system")]
    Unsupported(String),
}

impl HandlerError {
    /// The CALLERROR code for this failure.
    pub fn code(&self) -> ErrorCode {
        match self {
            HandlerError::Store(_) => ErrorCode::InternalError,
            HandlerError::Unsupported(_) => ErrorCode::NotSupported,
        }
    }
}

/// A version whose station-initiated CALLs the central system can answer.
pub trait Handles: Dialect {
    /// Answers `request` from `station`.
    fn handle(
        ctx: &Ctx,
        station: &str,
        request: Self::Request,
    ) -> impl Future<Output = Result<Self::Response, HandlerError>> + Send;
}

/// The verdict on an id token, in terms every version can express.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenStatus {
    Accepted,
    Blocked,
    Expired,
    Invalid,
    ConcurrentTx,
}

/// A token's verdict with the details the answer carries.
#[derive(Debug, Clone)]
pub(crate) struct Verdict {
    pub status: TokenStatus,
    pub expiry: Option<Timestamp>,
    pub parent: Option<String>,
}

/// Looks `id_tag` up: unknown tokens are `Invalid`, accepted tokens past their expiry `Expired`.
pub(crate) async fn check_token(
    ctx: &Ctx,
    id_tag: &str,
    now_ms: i64,
) -> Result<Verdict, StoreError> {
    let Some(token) = ctx.store.token(id_tag).await? else {
        return Ok(Verdict {
            status: TokenStatus::Invalid,
            expiry: None,
            parent: None,
        });
    };
    let mut status = match token.status.as_str() {
        "Accepted" => TokenStatus::Accepted,
        "Blocked" => TokenStatus::Blocked,
        "Expired" => TokenStatus::Expired,
        "ConcurrentTx" => TokenStatus::ConcurrentTx,
        _ => TokenStatus::Invalid,
    };
    if status == TokenStatus::Accepted && token.expiry_ms.is_some_and(|e| e <= now_ms) {
        status = TokenStatus::Expired;
    }
    Ok(Verdict {
        status,
        expiry: token.expiry_ms.and_then(Timestamp::from_unix_millis),
        parent: token.parent_id_tag,
    })
}

/// Keeps what a station reported (its request payload) for the operator.
pub(crate) async fn record<T: serde::Serialize>(
    ctx: &Ctx,
    station: &str,
    action: &str,
    payload: &T,
    now: i64,
) -> Result<(), HandlerError> {
    let text = serde_json::to_string(payload).unwrap_or_default();
    ctx.store
        .add_station_event(station, action, &text, now)
        .await?;
    Ok(())
}

/// Queues a CALL to `station` to go out after the answer being prepared (e.g. CertificateSigned
/// after SignCertificate); its outcome is only logged.
pub(crate) fn call_after(ctx: &Ctx, station: &str, action: &str, payload: serde_json::Value) {
    let Some(handle) = ctx.registry.get(station) else {
        tracing::warn!(%station, %action, "station gone before a follow-up CALL");
        return;
    };
    let (reply, answer) = tokio::sync::oneshot::channel();
    let command = crate::connection::Command::Call {
        action: action.to_string(),
        payload,
        reply,
    };
    if handle.mailbox.post(command).is_err() {
        tracing::warn!(%station, %action, "connection busy; follow-up CALL dropped");
        return;
    }
    let (station, action) = (station.to_string(), action.to_string());
    tokio::spawn(async move {
        match answer.await {
            Ok(outcome) => tracing::info!(%station, %action, ?outcome, "follow-up CALL answered"),
            Err(_) => tracing::warn!(%station, %action, "follow-up CALL lost with its connection"),
        }
    });
}

/// Signs a station's CSR with the built-in authority and queues CertificateSigned; whether it
/// was accepted.
pub(crate) fn sign_certificate(
    ctx: &Ctx,
    station: &str,
    csr: &str,
    now_ms: i64,
    extra: serde_json::Value,
) -> bool {
    match ctx.ca.sign(csr, station, now_ms) {
        Ok(chain) => {
            let mut payload = serde_json::json!({"certificateChain": chain});
            if let (Some(payload), Some(extra)) = (payload.as_object_mut(), extra.as_object()) {
                payload.extend(extra.clone());
            }
            call_after(ctx, station, "CertificateSigned", payload);
            true
        }
        Err(e) => {
            tracing::warn!(%station, error = %e, "refused to sign a certificate");
            false
        }
    }
}

/// The current wall-clock time as an OCPP timestamp.
pub(crate) fn timestamp(now_ms: i64) -> Timestamp {
    Timestamp::from_unix_millis(now_ms).unwrap_or_else(Timestamp::now)
}

/// Energy register in Wh from a sampled value with its unit (`Wh` by default, `kWh` scaled).
pub(crate) fn watt_hours(value: f64, unit: Option<&str>, multiplier: i32) -> f64 {
    let scale = match unit {
        Some("kWh") => 1000.0,
        _ => 1.0,
    };
    value * scale * 10f64.powi(multiplier)
}
