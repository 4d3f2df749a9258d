//! The OCPP endpoint: `GET /ocpp/{stationId}` upgraded to a WebSocket after the station is
//! identified, authenticated and a common OCPP version is negotiated.

use crate::connection::serve;
use crate::store::Registration;
use crate::tls::PeerIdentity;
use crate::{Ctx, api::error_response, now_ms};
use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use proto_ocpp::{OcppVersion, negotiate, v16, v21, v201};
use std::sync::Arc;

/// Longest station identity accepted (OCPP 2.x identity, 1.6 chargeBoxIdentity).
const MAX_STATION_ID: usize = 48;

/// Bytes read from a station's socket at a time. OCPP messages are a few hundred bytes; the
/// WebSocket library's default of 128 KiB, allocated for every connection, would make an idle
/// station cost twenty times what the rest of its connection does. Longer messages still arrive
/// whole: the buffer grows for them.
const READ_BUFFER_BYTES: usize = 2048;

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
        .on_upgrade(move |socket| async move {
            match chosen.version {
                OcppVersion::V16 => serve::<v16::V16>(socket, ctx, station).await,
                OcppVersion::V201 => serve::<v201::V201>(socket, ctx, station).await,
                OcppVersion::V21 => serve::<v21::V21>(socket, ctx, station).await,
            }
        })
}

/// Identifies and authenticates a station: by its client certificate when it presented one
/// (profile 3: the common name must be the station id), otherwise by HTTP Basic with its password
/// (profiles 1 and 2), required whenever one is set for it.
async fn admit(
    ctx: &Ctx,
    station: &str,
    headers: &HeaderMap,
    peer: &PeerIdentity,
) -> Result<(), Response> {
    let internal = |e: crate::store::StoreError| {
        tracing::error!(%station, error = %e, "cannot look the station up");
        error_response(StatusCode::INTERNAL_SERVER_ERROR, "storage unavailable")
    };
    if ctx
        .store
        .station(station)
        .await
        .map_err(internal)?
        .is_none()
    {
        if !ctx.config.auto_register {
            tracing::warn!(%station, "refused: unknown station");
            return Err(error_response(StatusCode::NOT_FOUND, "unknown station"));
        }
        tracing::info!(%station, "registering a new station");
        ctx.store
            .register_station(station, Registration::Accepted, None, now_ms())
            .await
            .map_err(internal)?;
    }
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
    if !ctx.store.has_password(station).await.map_err(internal)? {
        return Ok(());
    }
    let supplied = basic_credentials(headers);
    let verified = match &supplied {
        Some((user, password)) if user == station => ctx
            .store
            .verify_password(station, password)
            .await
            .map_err(internal)?,
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
