//! Session metering: energy from the meter's monotonic register (stop − start, never idle time),
//! time-weighted average voltage and current over the samples taken while charging.

use hal::{Amps, Volts, WattHours};
use serde::Serialize;
use std::time::Instant;

/// What a finished session delivered (the seed's `last_session_summary`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Energy delivered, Wh (3 decimals).
    #[serde(rename = "energy_Wh")]
    pub energy_wh: f64,
    /// Time-weighted average voltage while charging (2 decimals).
    pub avg_voltage: f64,
    /// Time-weighted average current while charging (2 decimals).
    pub avg_current: f64,
    /// Session duration from start to end, seconds (1 decimal).
    pub duration_s: f64,
    /// `COMPLETE` or `ABORTED`.
    pub ended_phase: String,
    /// Why the session was aborted; `None` when complete.
    pub error: Option<String>,
}

/// Accumulates one session's metering.
#[derive(Debug, Clone)]
pub struct SessionMeter {
    started: Instant,
    register_start: Option<WattHours>,
    register_last: Option<WattHours>,
    last_sample: Option<Instant>,
    volt_seconds: f64,
    amp_seconds: f64,
    seconds: f64,
}

impl SessionMeter {
    /// A meter for a session starting at `now`.
    pub fn new(now: Instant) -> Self {
        Self {
            started: now,
            register_start: None,
            register_last: None,
            last_sample: None,
            volt_seconds: 0.0,
            amp_seconds: 0.0,
            seconds: 0.0,
        }
    }

    /// Takes the register reading (any phase): the first one is the session's start value.
    pub fn register(&mut self, register: WattHours) {
        if self.register_start.is_none() {
            self.register_start = Some(register);
        }
        // The register is monotonic; a lower reading is a meter glitch and is ignored.
        if self.register_last.is_none_or(|last| register >= last) {
            self.register_last = Some(register);
        }
    }

    /// Adds a charging sample at `now`, weighted by the time since the previous charging sample.
    /// Time outside charging never counts: [`SessionMeter::pause`] forgets the previous sample.
    pub fn sample(&mut self, voltage: Volts, current: Amps, now: Instant) {
        if let Some(previous) = self.last_sample {
            let dt = now.saturating_duration_since(previous).as_secs_f64();
            self.volt_seconds += voltage.value() * dt;
            self.amp_seconds += current.value() * dt;
            self.seconds += dt;
        }
        self.last_sample = Some(now);
    }

    /// Stops weighting until the next sample (leaving CHARGING).
    pub fn pause(&mut self) {
        self.last_sample = None;
    }

    /// Energy so far.
    pub fn energy(&self) -> WattHours {
        match (self.register_start, self.register_last) {
            (Some(start), Some(last)) => (last - start).max(WattHours::ZERO),
            _ => WattHours::ZERO,
        }
    }

    /// Seconds since the session started.
    pub fn elapsed(&self, now: Instant) -> f64 {
        now.saturating_duration_since(self.started).as_secs_f64()
    }

    /// Time-weighted average voltage and current while charging so far (2 decimals).
    pub fn averages(&self) -> (f64, f64) {
        if self.seconds > 0.0 {
            (
                round(self.volt_seconds / self.seconds, 2),
                round(self.amp_seconds / self.seconds, 2),
            )
        } else {
            (0.0, 0.0)
        }
    }

    /// The summary of a session ending at `now`.
    pub fn summary(&self, now: Instant, ended_phase: &str, error: Option<String>) -> Summary {
        let average = |sum: f64| {
            if self.seconds > 0.0 {
                round(sum / self.seconds, 2)
            } else {
                0.0
            }
        };
        Summary {
            energy_wh: round(self.energy().value(), 3),
            avg_voltage: average(self.volt_seconds),
            avg_current: average(self.amp_seconds),
            duration_s: round(self.elapsed(now), 1),
            ended_phase: ended_phase.to_string(),
            error,
        }
    }
}

/// `value` rounded to `decimals` places.
pub(crate) fn round(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn energy_is_register_difference_and_idle_time_never_counts() {
        let t0 = Instant::now();
        let mut meter = SessionMeter::new(t0);
        meter.register(WattHours(1_000_000.0));
        // Charging at 400 V × 50 A for 10 s, sampled each second.
        for s in 0..=10 {
            meter.sample(Volts(400.0), Amps(50.0), t0 + Duration::from_secs(s));
        }
        meter.register(WattHours(1_000_055.5));
        meter.pause();
        // An hour without charging adds no weight to the averages.
        meter.sample(Volts(0.0), Amps(0.0), t0 + Duration::from_secs(3600));
        let summary = meter.summary(t0 + Duration::from_secs(3600), "COMPLETE", None);
        assert_eq!(summary.energy_wh, 55.5);
        assert_eq!((summary.avg_voltage, summary.avg_current), (400.0, 50.0));
        assert_eq!(summary.duration_s, 3600.0);
    }

    #[test]
    fn a_lower_register_reading_is_ignored() {
        let mut meter = SessionMeter::new(Instant::now());
        meter.register(WattHours(10.0));
        meter.register(WattHours(12.0));
        meter.register(WattHours(11.0));
        assert_eq!(meter.energy(), WattHours(2.0));
    }
}
