//! A run's report: the figures as JSON (`--report FILE`) and as a human summary.

use crate::config::FleetConfig;
use crate::limits::FileLimit;
use crate::measure::{Percentiles, Totals};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// What a run measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The OCPP version spoken (`1.6`, `2.0.1`, `2.1`).
    pub ocpp: String,
    /// Stations in the fleet.
    pub stations: u64,
    /// Connectors per station.
    pub connectors: u32,
    /// Whether the run saturated the links instead of following the workload.
    pub saturate: bool,
    /// The seed of the workload.
    pub seed: u64,
    /// Seconds of full load after the ramp, as asked for.
    pub duration_s: f64,
    /// Stations started per second during the ramp.
    pub ramp_per_s: f64,
    /// Seconds from the start of the run to the last station's end.
    pub elapsed_s: f64,
    /// Stations whose WebSocket connection opened.
    pub stations_connected: u64,
    /// Stations that could not connect.
    pub connect_failures: u64,
    /// Why stations could not connect, with counts.
    pub connect_errors: BTreeMap<String, u64>,
    /// Time from a station's planned start to its open WebSocket, ms.
    pub connect_ms: Percentiles,
    /// CALLs answered with a CALLRESULT.
    pub round_trips: u64,
    /// Round trips per second while every station was running (after the ramp, before the end).
    pub round_trips_per_s: f64,
    /// Round trips answered in that window.
    pub hold_round_trips: u64,
    /// WebSocket messages sent and received per second over the whole run.
    pub messages_per_s: f64,
    /// CALL-to-answer latency of every round trip, from the intended send time, ms.
    pub latency_ms: Percentiles,
    /// The same for the round trips answered while every station was running, ms.
    pub hold_latency_ms: Percentiles,
    /// Round trips and latency per action.
    pub actions: BTreeMap<String, ActionFigures>,
    /// CALLs that failed: CALLERRORs, invalid answers and timeouts.
    pub errors: u64,
    /// Failed CALLs by CALLERROR code (`InvalidResponse`, `Timeout` for the others).
    pub errors_by_code: BTreeMap<String, u64>,
    /// Connections dropped by the central system or the network before the station left.
    pub disconnects: u64,
    /// Transactions started and stopped (answered).
    pub transactions_started: u64,
    /// Transactions stopped.
    pub transactions_stopped: u64,
    /// Boots or tokens the central system refused (the load goes on regardless).
    pub refusals: u64,
    /// CALLs the central system sent to stations (answered NotImplemented).
    pub csms_calls: u64,
    /// Source addresses connections were spread over (0: the system's choice).
    pub source_addresses: u64,
    /// The open-file limit the run had.
    pub file_limit: Option<FileLimit>,
}

/// One action's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionFigures {
    /// Answered CALLs of the action.
    pub round_trips: u64,
    /// Their latency, ms.
    pub latency_ms: Percentiles,
}

impl Report {
    pub(crate) fn new(
        config: &FleetConfig,
        totals: Totals,
        elapsed: Duration,
        source_addresses: usize,
        file_limit: Option<FileLimit>,
    ) -> Self {
        let per_s = |count: u64, seconds: f64| {
            if seconds > 0.0 {
                // Counts far below 2^53.
                #[allow(clippy::cast_precision_loss)]
                let count = count as f64;
                count / seconds
            } else {
                0.0
            }
        };
        let elapsed_s = elapsed.as_secs_f64();
        Self {
            ocpp: config.version.label().to_string(),
            stations: u64::try_from(config.stations).unwrap_or(u64::MAX),
            connectors: config.connectors,
            saturate: config.saturate,
            seed: config.seed,
            duration_s: config.duration.as_secs_f64(),
            ramp_per_s: config.ramp_per_s,
            elapsed_s,
            stations_connected: totals.connected,
            connect_failures: totals.connect_failures,
            connect_errors: totals.connect_errors,
            connect_ms: totals.connect,
            round_trips: totals.round_trips,
            round_trips_per_s: per_s(totals.hold_round_trips, config.duration.as_secs_f64()),
            hold_round_trips: totals.hold_round_trips,
            messages_per_s: per_s(totals.frames_sent + totals.frames_received, elapsed_s),
            latency_ms: totals.all,
            hold_latency_ms: totals.hold,
            actions: totals
                .by_action
                .into_iter()
                .map(|(action, (round_trips, latency_ms))| {
                    (
                        action,
                        ActionFigures {
                            round_trips,
                            latency_ms,
                        },
                    )
                })
                .collect(),
            errors: totals.errors,
            errors_by_code: totals.errors_by_code,
            disconnects: totals.disconnects,
            transactions_started: totals.transactions_started,
            transactions_stopped: totals.transactions_stopped,
            refusals: totals.refusals,
            csms_calls: totals.csms_calls,
            source_addresses: u64::try_from(source_addresses).unwrap_or(0),
            file_limit,
        }
    }

    /// The report as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        // A report holds only maps with string keys and finite numbers (or nulls).
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// Whether the run was clean: every station connected, no failed CALL, no dropped
    /// connection, every transaction stopped.
    pub fn is_clean(&self) -> bool {
        self.connect_failures == 0
            && self.errors == 0
            && self.disconnects == 0
            && self.transactions_started == self.transactions_stopped
    }
}

fn latency_line(p: &Percentiles) -> String {
    format!(
        "p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2} ms",
        p.p50, p.p90, p.p99, p.p999, p.max
    )
}

impl fmt::Display for Report {
    /// The human summary.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = if self.saturate {
            "saturation"
        } else {
            "workload"
        };
        writeln!(
            f,
            "fleet: {} stations × {} connector(s), OCPP {}, {mode}, seed {}, {:.1} s",
            self.stations, self.connectors, self.ocpp, self.seed, self.elapsed_s
        )?;
        writeln!(
            f,
            "  connected     {} of {} (connect {})",
            self.stations_connected,
            self.stations,
            latency_line(&self.connect_ms)
        )?;
        for (reason, count) in &self.connect_errors {
            writeln!(f, "  not connected {count}: {reason}")?;
        }
        writeln!(
            f,
            "  round trips   {} ({:.0}/s at full load, {:.0} messages/s overall)",
            self.round_trips, self.round_trips_per_s, self.messages_per_s
        )?;
        writeln!(f, "  latency       {}", latency_line(&self.latency_ms))?;
        writeln!(f, "  at full load  {}", latency_line(&self.hold_latency_ms))?;
        for (action, figures) in &self.actions {
            writeln!(
                f,
                "    {action:<22} {:>9}  {}",
                figures.round_trips,
                latency_line(&figures.latency_ms)
            )?;
        }
        writeln!(
            f,
            "  transactions  {} started, {} stopped",
            self.transactions_started, self.transactions_stopped
        )?;
        let codes = self
            .errors_by_code
            .iter()
            .map(|(code, count)| format!("{code} {count}"))
            .collect::<Vec<_>>()
            .join(", ");
        writeln!(
            f,
            "  errors        {}{}",
            self.errors,
            if codes.is_empty() {
                String::new()
            } else {
                format!(" ({codes})")
            }
        )?;
        writeln!(f, "  disconnects   {}", self.disconnects)?;
        if self.refusals > 0 {
            writeln!(f, "  refused       {} boots or tokens", self.refusals)?;
        }
        if let Some(refused) = self.file_limit.as_ref().and_then(|l| l.refused.as_ref()) {
            writeln!(f, "  open files    {refused}")?;
        }
        Ok(())
    }
}
