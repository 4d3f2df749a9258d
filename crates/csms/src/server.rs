//! The OCPP endpoint: `GET /ocpp/{stationId}` upgraded to a WebSocket after the station is
//! identified, authenticated and a common OCPP version is negotiated.

use crate::connection::serve_version;
use crate::store::{Admission, StoreError};
use crate::tls::PeerIdentity;
use crate::{Ctx, api::error_response, now_ms};
use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use proto_ocpp::{OcppVersion, negotiate};
use std::sync::Arc;

/// Longest station identity accepted (OCPP 2.x identity, 1.6 chargeBoxIdentity).
const MAX_STATION_ID: usize = 48;

/// Bytes read from a station's socket at a time. The WebSocket library keeps this buffer for the
/// whole connection, so it is most of what an idle station costs: its default of 128 KiB would be
/// thirty times the rest. Most OCPP messages (heartbeats, statuses, boots, authorizations,
/// transaction starts and stops) fit in 512 bytes and arrive in one read; a longer message still
/// arrives whole, in a few reads, and the buffer keeps the size of the longest message received.
const READ_BUFFER_BYTES: usize = 512;

/// The router serving stations.
pub fn router(ctx: Arc<Ctx>) -> Router {
    Router::new()
        .route("/ocpp/{station_id}", get(upgrade))
        .with_state(ctx)
}

async fn upgrade(
    State(ctx): State<Arc<Ctx>>,
    ConnectInfo(peer): ConnectInfo<PeerIdentity>,
    Path(station): Path<String>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if station.is_empty()
        || station.len() > MAX_STATION_ID
        || station.chars().any(|c| c.is_control())
    {
        return error_response(
            StatusCode::BAD_REQUEST,
            "station id must have 1 to 48 printable characters",
        );
    }
    let offered: Vec<String> = ws
        .requested_protocols()
        .filter_map(|h| h.to_str().ok().map(str::to_string))
        .collect();
    let Some(chosen) = negotiate(offered.iter().map(String::as_str), &OcppVersion::PREFERENCE)
    else {
        tracing::warn!(%station, ?offered, "refused: no supported OCPP subprotocol offered");
        return error_response(
            StatusCode::BAD_REQUEST,
            "no supported OCPP subprotocol offered (Sec-WebSocket-Protocol: ocpp2.1, ocpp2.0.1 or ocpp1.6)",
        );
    };
    match admit(&ctx, &station, &headers, &peer).await {
        Ok(()) => {}
        Err(response) => return response,
    }
    let limit = ctx.config.max_message_bytes;
    ws.protocols([chosen.token])
        .max_message_size(limit)
        .max_frame_size(limit)
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(0)
        .max_write_buffer_size(limit.saturating_mul(2))
        // No `async` block here: it would keep its own copy of the socket beside the one the
        // connection holds.
        .on_upgrade(move |socket| serve_version(chosen.version, socket, ctx, station))
}

/// Identifies and authenticates a station: by its client certificate when it presented one
/// (profile 3: the common name must be the station id), otherwise by HTTP Basic with its password
/// (profiles 1 and 2), required whenever one is set for it.
///
/// A known station costs one read (registration and password together); an unknown one, when
/// auto-registration is on, one read and one write in the group commit of the frequent writes.
async fn admit(
    ctx: &Ctx,
    station: &str,
    headers: &HeaderMap,
    peer: &PeerIdentity,
) -> Result<(), Response> {
    let admission = match ctx.store.admission(station).await {
        Ok(Some(admission)) => admission,
        Ok(None) => register(ctx, station).await?,
        Err(e) => return Err(storage_failed(station, &e)),
    };
    if let Some(cn) = &peer.certificate_cn {
        if cn == station {
            return Ok(());
        }
        tracing::warn!(%station, certificate = %cn, "refused: client certificate names another station");
        return Err(error_response(
            StatusCode::FORBIDDEN,
            "the client certificate does not belong to this station",
        ));
    }
    if !admission.has_password() {
        return Ok(());
    }
    let verified = match basic_credentials(headers) {
        Some((user, password)) if user == station => admission.verify_password(&password),
        _ => false,
    };
    if verified {
        return Ok(());
    }
    tracing::warn!(%station, "refused: wrong or missing credentials");
    let mut response = error_response(StatusCode::UNAUTHORIZED, "wrong or missing credentials");
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Basic realm=\"OCPP\""),
    );
    Err(response)
}

/// Registers an unknown station if auto-registration is on; its admission. If it was registered
/// meanwhile (by an operator, or by a parallel connection), what was registered is read back.
async fn register(ctx: &Ctx, station: &str) -> Result<Admission, Response> {
    let unknown = || error_response(StatusCode::NOT_FOUND, "unknown station");
    if !ctx.config.auto_register {
        tracing::warn!(%station, "refused: unknown station");
        return Err(unknown());
    }
    let failed = |e: StoreError| storage_failed(station, &e);
    if let Some(admission) = ctx
        .store
        .register_if_unknown(station, now_ms())
        .await
        .map_err(failed)?
    {
        tracing::info!(%station, "registered a new station");
        return Ok(admission);
    }
    // `None` here: deleted again at once by an operator.
    ctx.store
        .admission(station)
        .await
        .map_err(failed)?
        .ok_or_else(unknown)
}

fn storage_failed(station: &str, error: &StoreError) -> Response {
    tracing::error!(%station, %error, "cannot look the station up");
    error_response(StatusCode::INTERNAL_SERVER_ERROR, "storage unavailable")
}

/// The user and password of an `Authorization: Basic` header.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

impl IntoResponse for crate::api::ApiError {
    fn into_response(self) -> Response {
        error_response(self.status, &self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_basic_credentials() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            "Basic Q1AwMTpzM2NyZXQ6eA==".parse().expect("header"),
        );
        assert_eq!(
            basic_credentials(&headers),
            Some(("CP01".into(), "s3cret:x".into()))
        );
        headers.insert(header::AUTHORIZATION, "Bearer abc".parse().expect("header"));
        assert_eq!(basic_credentials(&headers), None);
        headers.insert(header::AUTHORIZATION, "Basic !!!".parse().expect("header"));
        assert_eq!(basic_credentials(&headers), None);
    }
}
