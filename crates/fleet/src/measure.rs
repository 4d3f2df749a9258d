//! Measurements shared by every station of a run: HDR latency histograms per action, counters,
//! and a live progress snapshot.
//!
//! A round trip's latency runs from the CALL's intended send time to its answer: when a station
//! is still busy with an earlier CALL, the wait counts too, so a slow central system cannot hide
//! its stalls by slowing the load down (no coordinated omission). Latencies are kept in
//! microseconds with three significant digits.

use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// Largest latency a histogram holds exactly, µs (one hour); longer ones are clamped to it.
const MAX_LATENCY_US: u64 = 3_600_000_000;

/// Counters and histograms of a run, shared by its stations.
#[derive(Debug)]
pub struct Recorder {
    epoch: Instant,
    hold_start: Instant,
    hold_end: Instant,
    stations: u64,
    started: AtomicU64,
    connected: AtomicU64,
    online: AtomicI64,
    connect_failures: AtomicU64,
    round_trips: AtomicU64,
    hold_round_trips: AtomicU64,
    errors: AtomicU64,
    disconnects: AtomicU64,
    frames_sent: AtomicU64,
    frames_received: AtomicU64,
    transactions_started: AtomicU64,
    transactions_stopped: AtomicU64,
    refusals: AtomicU64,
    csms_calls: AtomicU64,
    finished: AtomicU64,
    tables: Mutex<Tables>,
}

/// The parts that need a lock.
#[derive(Debug)]
struct Tables {
    all: Histogram<u64>,
    hold: Histogram<u64>,
    connect: Histogram<u64>,
    by_action: BTreeMap<&'static str, Histogram<u64>>,
    errors_by_code: BTreeMap<String, u64>,
    connect_errors: BTreeMap<String, u64>,
}

fn histogram() -> Histogram<u64> {
    // The bounds are constants that hdrhistogram accepts (low ≥ 1, high ≥ 2 × low, ≤ 5 digits).
    #[allow(clippy::expect_used)]
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid histogram bounds")
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros())
        .unwrap_or(u64::MAX)
        .clamp(1, MAX_LATENCY_US)
}

/// A live view of a run, for a progress display.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Time since the run started.
    pub elapsed: Duration,
    /// Stations in the fleet.
    pub stations: u64,
    /// Stations that have begun connecting.
    pub started: u64,
    /// Stations that connected.
    pub connected: u64,
    /// Stations connected now.
    pub online: u64,
    /// Stations that could not connect.
    pub connect_failures: u64,
    /// Stations done (left, failed or disconnected).
    pub finished: u64,
    /// Answered CALLs.
    pub round_trips: u64,
    /// CALLERRORs, invalid answers and timeouts.
    pub errors: u64,
    /// Connections the central system or the network dropped.
    pub disconnects: u64,
}

impl Recorder {
    /// A recorder for `stations` stations whose run starts at `epoch` and holds full load from
    /// `hold_start` to `hold_end` (offsets from `epoch`).
    pub fn new(stations: u64, epoch: Instant, hold_start: Duration, hold_end: Duration) -> Self {
        Self {
            epoch,
            hold_start: epoch + hold_start,
            hold_end: epoch + hold_end,
            stations,
            started: AtomicU64::new(0),
            connected: AtomicU64::new(0),
            online: AtomicI64::new(0),
            connect_failures: AtomicU64::new(0),
            round_trips: AtomicU64::new(0),
            hold_round_trips: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            disconnects: AtomicU64::new(0),
            frames_sent: AtomicU64::new(0),
            frames_received: AtomicU64::new(0),
            transactions_started: AtomicU64::new(0),
            transactions_stopped: AtomicU64::new(0),
            refusals: AtomicU64::new(0),
            csms_calls: AtomicU64::new(0),
            finished: AtomicU64::new(0),
            tables: Mutex::new(Tables {
                all: histogram(),
                hold: histogram(),
                connect: histogram(),
                by_action: BTreeMap::new(),
                errors_by_code: BTreeMap::new(),
                connect_errors: BTreeMap::new(),
            }),
        }
    }

    /// When the run started.
    pub fn epoch(&self) -> Instant {
        self.epoch
    }

    fn tables(&self) -> std::sync::MutexGuard<'_, Tables> {
        // A panic while recording leaves the tables usable: every update is a single insert.
        self.tables
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A station begins connecting.
    pub(crate) fn station_started(&self) {
        self.started.fetch_add(1, Ordering::Relaxed);
    }

    /// A station connected `elapsed` after its intended start.
    pub(crate) fn connected(&self, elapsed: Duration) {
        self.connected.fetch_add(1, Ordering::Relaxed);
        self.online.fetch_add(1, Ordering::Relaxed);
        let _ = self.tables().connect.record(micros(elapsed));
    }

    /// A connected station's connection ended; `dropped` when it was not the station's doing.
    pub(crate) fn offline(&self, dropped: bool) {
        self.online.fetch_sub(1, Ordering::Relaxed);
        if dropped {
            self.disconnects.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A station could not connect, for `reason`.
    pub(crate) fn connect_failed(&self, reason: String) {
        self.connect_failures.fetch_add(1, Ordering::Relaxed);
        *self.tables().connect_errors.entry(reason).or_default() += 1;
    }

    /// A station's task ended.
    pub(crate) fn station_finished(&self) {
        self.finished.fetch_add(1, Ordering::Relaxed);
    }

    /// A CALL of `action` intended for `intended` was answered at `answered`.
    pub(crate) fn round_trip(&self, action: &'static str, intended: Instant, answered: Instant) {
        let latency = micros(answered.saturating_duration_since(intended));
        self.round_trips.fetch_add(1, Ordering::Relaxed);
        let in_hold = answered >= self.hold_start && answered < self.hold_end;
        if in_hold {
            self.hold_round_trips.fetch_add(1, Ordering::Relaxed);
        }
        let mut tables = self.tables();
        let _ = tables.all.record(latency);
        if in_hold {
            let _ = tables.hold.record(latency);
        }
        let _ = tables
            .by_action
            .entry(action)
            .or_insert_with(histogram)
            .record(latency);
    }

    /// A CALL failed with `code` (a CALLERROR code, `InvalidResponse` or `Timeout`).
    pub(crate) fn error(&self, code: &str) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut tables = self.tables();
        match tables.errors_by_code.get_mut(code) {
            Some(count) => *count += 1,
            None => {
                tables.errors_by_code.insert(code.to_string(), 1);
            }
        }
    }

    pub(crate) fn frame_sent(&self) {
        self.frames_sent.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn frame_received(&self) {
        self.frames_received.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn transaction_started(&self) {
        self.transactions_started.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn transaction_stopped(&self) {
        self.transactions_stopped.fetch_add(1, Ordering::Relaxed);
    }

    /// The central system refused a boot or a token.
    pub(crate) fn refused(&self) {
        self.refusals.fetch_add(1, Ordering::Relaxed);
    }

    /// The central system sent a CALL of its own.
    pub(crate) fn csms_call(&self) {
        self.csms_calls.fetch_add(1, Ordering::Relaxed);
    }

    /// The live view.
    pub fn progress(&self) -> Progress {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        Progress {
            elapsed: self.epoch.elapsed(),
            stations: self.stations,
            started: load(&self.started),
            connected: load(&self.connected),
            online: u64::try_from(self.online.load(Ordering::Relaxed)).unwrap_or(0),
            connect_failures: load(&self.connect_failures),
            finished: load(&self.finished),
            round_trips: load(&self.round_trips),
            errors: load(&self.errors),
            disconnects: load(&self.disconnects),
        }
    }

    /// Everything measured, for the report.
    pub(crate) fn totals(&self) -> Totals {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let tables = self.tables();
        Totals {
            connected: load(&self.connected),
            connect_failures: load(&self.connect_failures),
            round_trips: load(&self.round_trips),
            hold_round_trips: load(&self.hold_round_trips),
            errors: load(&self.errors),
            disconnects: load(&self.disconnects),
            frames_sent: load(&self.frames_sent),
            frames_received: load(&self.frames_received),
            transactions_started: load(&self.transactions_started),
            transactions_stopped: load(&self.transactions_stopped),
            refusals: load(&self.refusals),
            csms_calls: load(&self.csms_calls),
            all: Percentiles::of(&tables.all),
            hold: Percentiles::of(&tables.hold),
            connect: Percentiles::of(&tables.connect),
            by_action: tables
                .by_action
                .iter()
                .map(|(action, h)| (action.to_string(), (h.len(), Percentiles::of(h))))
                .collect(),
            errors_by_code: tables.errors_by_code.clone(),
            connect_errors: tables.connect_errors.clone(),
        }
    }
}

/// Latency percentiles, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

impl Percentiles {
    fn of(histogram: &Histogram<u64>) -> Self {
        if histogram.is_empty() {
            return Self::default();
        }
        // Microseconds to milliseconds: the values are far below f64's exact integer range.
        #[allow(clippy::cast_precision_loss)]
        let ms = |us: u64| us as f64 / 1000.0;
        Self {
            p50: ms(histogram.value_at_quantile(0.50)),
            p90: ms(histogram.value_at_quantile(0.90)),
            p99: ms(histogram.value_at_quantile(0.99)),
            p999: ms(histogram.value_at_quantile(0.999)),
            max: ms(histogram.max()),
            mean: histogram.mean() / 1000.0,
        }
    }
}

/// The recorder's final numbers.
#[derive(Debug, Clone)]
pub(crate) struct Totals {
    pub connected: u64,
    pub connect_failures: u64,
    pub round_trips: u64,
    pub hold_round_trips: u64,
    pub errors: u64,
    pub disconnects: u64,
    pub frames_sent: u64,
    pub frames_received: u64,
    pub transactions_started: u64,
    pub transactions_stopped: u64,
    pub refusals: u64,
    pub csms_calls: u64,
    pub all: Percentiles,
    pub hold: Percentiles,
    pub connect: Percentiles,
    pub by_action: BTreeMap<String, (u64, Percentiles)>,
    pub errors_by_code: BTreeMap<String, u64>,
    pub connect_errors: BTreeMap<String, u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_counts_from_the_intended_send_time() {
        let epoch = Instant::now();
        let recorder = Recorder::new(1, epoch, Duration::from_secs(10), Duration::from_secs(20));
        // Intended at 1 s, answered at 1.5 s: 500 ms, though the CALL may have left late.
        recorder.round_trip(
            "Heartbeat",
            epoch + Duration::from_secs(1),
            epoch + Duration::from_millis(1500),
        );
        recorder.round_trip(
            "Heartbeat",
            epoch + Duration::from_secs(12),
            epoch + Duration::from_millis(12_002),
        );
        recorder.error("InternalError");
        recorder.error("InternalError");
        recorder.error("Timeout");
        let totals = recorder.totals();
        assert_eq!((totals.round_trips, totals.hold_round_trips), (2, 1));
        assert!((totals.all.max - 500.0).abs() < 1.0, "{:?}", totals.all);
        assert!((totals.hold.max - 2.0).abs() < 0.01, "{:?}", totals.hold);
        assert_eq!(totals.by_action["Heartbeat"].0, 2);
        assert_eq!(totals.errors, 3);
        assert_eq!(totals.errors_by_code["InternalError"], 2);
    }
}
