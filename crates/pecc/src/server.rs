//! The HTTP side: one WebSocket path per gun (`/GUN1` … by default) with `pep1.x` subprotocol
//! negotiation, `/splitdash` for monitoring clients, the admin API under `/api/v1`, and
//! `/health`.

use crate::chargepoint::Level;
use crate::{Shared, api, connection, splitdash};
use axum::Router;
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use proto_pepws::subprotocol::{Negotiation, negotiate};
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// The whole router.
pub fn router(shared: Arc<Shared>) -> Router {
    let mut router = Router::new();
    for (index, path) in shared.config.paths.iter().enumerate() {
        let gun = index as u32 + 1;
        router = router.route(
            path,
            get(
                move |State(shared): State<Arc<Shared>>, ws: WebSocketUpgrade| async move {
                    upgrade_gun(shared, gun, ws)
                },
            ),
        );
    }
    router
        .route(&shared.config.splitdash.path, get(upgrade_splitdash))
        .route("/health", get(health))
        .merge(api::router(shared.clone()))
        .with_state(shared)
}

fn upgrade_gun(shared: Arc<Shared>, gun: u32, ws: WebSocketUpgrade) -> Response {
    let offered: Vec<String> = ws
        .requested_protocols()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(',').map(|t| t.trim().to_string()))
        .filter(|t| !t.is_empty())
        .collect();
    let limit = shared.config.max_message_bytes;
    let ws = ws.max_message_size(limit).max_frame_size(limit);
    let ws = match negotiate(offered.iter().map(String::as_str)) {
        Negotiation::Accept(token) => ws.protocols([token]),
        Negotiation::AcceptWithoutProtocol => {
            shared.hub.log(
                Level::Warn,
                Some(gun),
                "SECC offers no subprotocol (expected pep1.x); accepted without one",
            );
            ws
        }
        Negotiation::Refuse => {
            shared.hub.log(
                Level::Warn,
                Some(gun),
                &format!("refused: no compatible PEP-WS subprotocol offered ({offered:?})"),
            );
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(serde_json::json!({
                    "status": "error",
                    "message": "no compatible subprotocol offered (Sec-WebSocket-Protocol: pep1.1 … pep1.8)",
                })),
            )
                .into_response();
        }
    };
    ws.on_upgrade(move |socket| connection::serve(socket, shared, gun))
}

async fn upgrade_splitdash(State(shared): State<Arc<Shared>>, ws: WebSocketUpgrade) -> Response {
    let client = shared.next_connection.fetch_add(1, Ordering::Relaxed);
    let hub = shared.hub.clone();
    let timeout = shared.config.splitdash.send_timeout;
    let mut stop = shared.stop.clone();
    ws.on_upgrade(move |socket| async move {
        tokio::select! {
            () = splitdash::serve(socket, hub, timeout, client) => {}
            _ = stop.wait_for(|stop| *stop) => {}
        }
    })
}

async fn health(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    let connected = shared
        .slots
        .lock()
        .map(|slots| slots.iter().filter(|s| s.is_some()).count())
        .unwrap_or(0);
    axum::Json(serde_json::json!({
        "status": "ok",
        "guns": shared.config.guns,
        "connected": connected,
        "splitdashClients": shared.hub.subscribers(),
    }))
}
