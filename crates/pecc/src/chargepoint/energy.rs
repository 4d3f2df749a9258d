//! The energy a charge point delivers, as the PECC measures it: the outlet voltage times the
//! outlet current (the values `info/status` reports as measured), integrated over the control
//! loop's samples with the trapezoidal rule.
//!
//! The register only ever grows, like a meter's; the session register restarts when a charging
//! procedure begins (`contactorsStatus: closed`), so a session's energy reads directly.

use crate::power::Readings;
use hal::{WattHours, Watts};
use std::time::Instant;

/// A delivered-energy register fed with power samples.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EnergyCounter {
    total: WattHours,
    session_start: WattHours,
    last: Option<(Instant, Watts)>,
}

impl EnergyCounter {
    /// Takes in the outlet's power at `now` from `readings`.
    pub fn sample(&mut self, readings: &Readings, now: Instant) {
        self.sample_power(readings.outlet_voltage * readings.outlet_current, now);
    }

    /// Takes in a power sample at `now`. The energy between two samples is their mean power
    /// times the time between them; a power that is negative or not finite counts as zero, and
    /// a sample older than the previous one adds nothing.
    pub fn sample_power(&mut self, power: Watts, now: Instant) {
        let power = if power.value().is_finite() {
            power.max(Watts::ZERO)
        } else {
            Watts::ZERO
        };
        if let Some((at, previous)) = self.last {
            if now < at {
                return;
            }
            let seconds = now.duration_since(at).as_secs_f64();
            self.total += Watts((previous.value() + power.value()) / 2.0).over_seconds(seconds);
        }
        self.last = Some((now, power));
    }

    /// Restarts the session register at the total so far.
    pub fn start_session(&mut self) {
        self.session_start = self.total;
    }

    /// Everything delivered since the controller started.
    pub fn total(&self) -> WattHours {
        self.total
    }

    /// Everything delivered since the last [`EnergyCounter::start_session`].
    pub fn session(&self) -> WattHours {
        self.total - self.session_start
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn constant_power_integrates_exactly() {
        let t0 = Instant::now();
        let mut counter = EnergyCounter::default();
        // 400 V × 100 A = 40 kW for 36 s, sampled every 50 ms: 400 Wh.
        for i in 0..=720 {
            counter.sample_power(Watts(40_000.0), t0 + ms(50 * i));
        }
        assert!(
            (counter.total().value() - 400.0).abs() < 1e-6,
            "{counter:?}"
        );
        assert_eq!(counter.session(), counter.total());
    }

    #[test]
    fn ramps_are_integrated_by_their_mean_and_the_register_never_falls() {
        let t0 = Instant::now();
        let mut counter = EnergyCounter::default();
        // 0 → 36 kW over 10 s, sampled unevenly: the area is 50 Wh whatever the spacing.
        let steps = [0u64, 130, 900, 4000, 4050, 9999, 10_000];
        for at in steps {
            counter.sample_power(Watts(3.6 * at as f64), t0 + ms(at));
        }
        assert!((counter.total().value() - 50.0).abs() < 1e-9, "{counter:?}");
        // Garbage and stale samples add nothing.
        let before = counter.total();
        counter.sample_power(Watts(f64::NAN), t0 + ms(10_000));
        counter.sample_power(Watts(-5000.0), t0 + ms(10_000));
        counter.sample_power(Watts(1e9), t0 + ms(5000));
        assert_eq!(counter.total(), before);
        // The zero read from garbage ramps to 3.6 kW over a second: 0.5 Wh.
        counter.sample_power(Watts(3600.0), t0 + ms(11_000));
        assert!((counter.total().value() - 50.5).abs() < 1e-9);
        // A session register restarts; the total does not.
        counter.start_session();
        counter.sample_power(Watts(3600.0), t0 + ms(12_000));
        assert!((counter.session().value() - 1.0).abs() < 1e-9);
        assert!((counter.total().value() - 51.5).abs() < 1e-9);
    }
}
