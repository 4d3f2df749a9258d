//! Prometheus metrics of the central system, rendered at `/metrics`.
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `ocpp_connected_stations` | gauge | `version` |
//! | `ocpp_messages_total` | counter | `action`, `direction` (`received`, `sent`) |
//! | `ocpp_callerrors_total` | counter | `code`, `direction` |
//! | `ocpp_handling_seconds` | histogram | `action` |
//!
//! The recorder is process-wide; the first central system started installs it. Histograms keep
//! every sample until they are folded into their buckets, which rendering does and so does
//! [`upkeep`], run by every central system: without it, a central system nobody scrapes would
//! grow by a sample per message handled.

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

/// How often histogram samples are folded into their buckets when nobody scrapes `/metrics`.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the Prometheus recorder once; `None` if another recorder is already installed.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets(&[
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                ])
                .ok()
                .and_then(|builder| builder.install_recorder().ok())
        })
        .as_ref()
}

/// The current metrics in the Prometheus text format.
pub fn render() -> String {
    install().map(PrometheusHandle::render).unwrap_or_default()
}

/// Folds histogram samples into their buckets every [`UPKEEP_INTERVAL`] until `stop` completes.
pub async fn upkeep(stop: impl Future<Output = ()>) {
    let Some(handle) = install() else { return };
    let mut tick = tokio::time::interval(UPKEEP_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => return,
            _ = tick.tick() => handle.run_upkeep(),
        }
    }
}

/// A station connected (`delta` 1) or disconnected (`delta` -1).
pub fn station_connected(version: &'static str, delta: f64) {
    metrics::gauge!("ocpp_connected_stations", "version" => version).increment(delta);
}

/// An OCPP message of `action` was received or sent.
pub fn message(action: &'static str, direction: &'static str) {
    metrics::counter!("ocpp_messages_total", "action" => action, "direction" => direction)
        .increment(1);
}

/// A CALLERROR with `code` was received or sent.
pub fn call_error(code: String, direction: &'static str) {
    metrics::counter!("ocpp_callerrors_total", "code" => code, "direction" => direction)
        .increment(1);
}

/// A station CALL of `action` took `seconds` to handle.
pub fn handled(action: &'static str, seconds: f64) {
    metrics::histogram!("ocpp_handling_seconds", "action" => action).record(seconds);
}
