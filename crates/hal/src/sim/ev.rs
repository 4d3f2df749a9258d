//! The vehicle at the end of the cable: a battery (state of charge, open-circuit voltage, internal
//! resistance, charge curve) behind the vehicle's own relays.

use super::config::{EvConfig, EvRelays};
use std::time::Instant;

/// How far the gun voltage may wander while [`EvRelays::AfterPrecharge`] waits for it to settle.
const SETTLED_BAND_VOLTS: f64 = 2.0;

/// The simulated vehicle.
#[derive(Debug, Clone)]
pub(super) struct Ev {
    /// State of charge, percent.
    soc_percent: f64,
    /// Whether the vehicle's relays connect its battery to the cable.
    relays_closed: bool,
    /// [`EvRelays::AfterPrecharge`]: since when, and around which voltage, the gun voltage has
    /// held within the tolerance of the battery voltage.
    settling: Option<(Instant, f64)>,
}

impl Ev {
    /// A vehicle at its configured initial state of charge, relays open.
    pub(super) fn new(config: &EvConfig) -> Self {
        Self {
            soc_percent: config.initial_soc_percent.clamp(0.0, 100.0),
            relays_closed: false,
            settling: None,
        }
    }

    /// State of charge, percent.
    pub(super) fn soc_percent(&self) -> f64 {
        self.soc_percent
    }

    /// Whether the battery is connected to the cable.
    pub(super) fn relays_closed(&self) -> bool {
        self.relays_closed
    }

    /// The battery's open-circuit voltage, V.
    pub(super) fn ocv(&self, config: &EvConfig) -> f64 {
        config.ocv.voltage_at(self.soc_percent).value()
    }

    /// The current the vehicle takes at most, A: its maximum, tapered linearly to zero between
    /// the taper start and 100 %, and no more than keeps the terminal voltage at its maximum.
    pub(super) fn accepted_current(&self, config: &EvConfig) -> f64 {
        let max = config.max_current.value().max(0.0);
        let start = config.taper_start_soc_percent.clamp(0.0, 100.0);
        let by_curve = if self.soc_percent <= start || start >= 100.0 {
            max
        } else {
            max * ((100.0 - self.soc_percent) / (100.0 - start)).clamp(0.0, 1.0)
        };
        let headroom = config.max_voltage.value() - self.ocv(config);
        let by_voltage = headroom.max(0.0) / resistance(config);
        by_curve.min(by_voltage)
    }

    /// Stores the energy of `current` amperes over `seconds` (at the open-circuit voltage; the
    /// `I²R` part heats the pack).
    pub(super) fn charge(&mut self, config: &EvConfig, current: f64, seconds: f64) {
        let capacity = config.capacity.value();
        if current <= 0.0 || seconds <= 0.0 || capacity <= 0.0 {
            return;
        }
        let stored_wh = self.ocv(config) * current * seconds / 3600.0;
        self.soc_percent = (self.soc_percent + 100.0 * stored_wh / capacity).min(100.0);
    }

    /// Opens or closes the relays at `now` for the present conditions: whether the vehicle may
    /// connect at all (`allowed`: plugged, ready and the gun's contactor closed) and the gun
    /// voltage. Returns whether the relays changed.
    pub(super) fn settle(
        &mut self,
        config: &EvConfig,
        now: Instant,
        allowed: bool,
        gun_voltage: f64,
    ) -> bool {
        let before = self.relays_closed;
        if !allowed {
            self.relays_closed = false;
            self.settling = None;
            return before;
        }
        if self.relays_closed {
            return false;
        }
        match config.relays {
            EvRelays::WithContactor => self.relays_closed = true,
            EvRelays::AfterPrecharge => {
                let matched =
                    (gun_voltage - self.ocv(config)).abs() <= config.relay_tolerance.value();
                self.settling = match self.settling {
                    Some((since, around))
                        if matched && (gun_voltage - around).abs() <= SETTLED_BAND_VOLTS =>
                    {
                        Some((since, around))
                    }
                    _ if matched => Some((now, gun_voltage)),
                    _ => None,
                };
                if let Some((since, _)) = self.settling
                    && now.saturating_duration_since(since) >= config.relay_settle
                {
                    self.relays_closed = true;
                    self.settling = None;
                }
            }
        }
        self.relays_closed
    }

    /// When the relays will close if nothing changes ([`EvRelays::AfterPrecharge`] only).
    pub(super) fn next_event(&self, config: &EvConfig) -> Option<Instant> {
        self.settling.map(|(since, _)| since + config.relay_settle)
    }
}

/// The internal resistance, kept away from zero so currents stay finite.
pub(super) fn resistance(config: &EvConfig) -> f64 {
    config.internal_resistance.value().max(1e-6)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Amps;
    use std::time::Duration;

    #[test]
    fn accepted_current_tapers_above_80_percent() {
        let config = EvConfig::default();
        let at = |soc: f64| {
            let ev = Ev::new(&EvConfig {
                initial_soc_percent: soc,
                ..config.clone()
            });
            ev.accepted_current(&config)
        };
        assert_eq!(at(50.0), 200.0);
        assert_eq!(at(80.0), 200.0);
        assert!((at(90.0) - 100.0).abs() < 1e-9);
        assert!((at(95.0) - 50.0).abs() < 1e-9);
        assert_eq!(at(100.0), 0.0);
    }

    #[test]
    fn accepted_current_keeps_terminal_voltage_below_maximum() {
        let config = EvConfig {
            max_voltage: crate::Volts(362.0),
            max_current: Amps(500.0),
            ..EvConfig::default()
        };
        let ev = Ev::new(&config);
        // 30 %: 360 V open circuit, 2 V headroom over 0.05 Ω.
        assert!((ev.accepted_current(&config) - 40.0).abs() < 1e-9);
    }

    #[test]
    fn charging_raises_soc_by_energy_over_capacity() {
        let config = EvConfig::default();
        let mut ev = Ev::new(&config);
        // 360 V × 100 A for 750 s = 7.5 kWh = 10 % of 75 kWh (the OCV rises a little on the way).
        for _ in 0..750 {
            ev.charge(&config, 100.0, 1.0);
        }
        assert!(
            (ev.soc_percent() - 40.0).abs() < 0.2,
            "{}",
            ev.soc_percent()
        );
        ev.charge(&config, -50.0, 1.0);
        assert!(ev.soc_percent() > 39.0);
    }

    #[test]
    fn after_precharge_relays_wait_for_a_settled_matching_voltage() {
        let config = EvConfig {
            relays: EvRelays::AfterPrecharge,
            ..EvConfig::default()
        };
        let mut ev = Ev::new(&config);
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        // A ramp through 360 V at 200 V/s never holds still.
        for (i, v) in (300..=420).step_by(2).enumerate() {
            ev.settle(&config, ms(10 * i as u64), true, f64::from(v));
            assert!(!ev.relays_closed());
        }
        // Holding 365 V: closed after 200 ms.
        ev.settle(&config, ms(1000), true, 365.0);
        ev.settle(&config, ms(1190), true, 365.5);
        assert!(!ev.relays_closed());
        assert_eq!(ev.next_event(&config), Some(ms(1200)));
        ev.settle(&config, ms(1200), true, 365.5);
        assert!(ev.relays_closed());
        // Losing permission opens them at once.
        assert!(ev.settle(&config, ms(1300), false, 365.0));
        assert!(!ev.relays_closed());
    }
}
