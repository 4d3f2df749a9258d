//! Settings of the simulated gun: the power supply, the output stage, the devices around it and
//! the vehicle at the other end of the cable.

use crate::{Amps, GunSettings, Ohms, SupplyCapabilities, Volts, WattHours, Watts};
use std::time::Duration;

/// Settings of the simulated hardware of one gun.
///
/// [`SimConfig::for_gun`] gives defaults for a gun; every field is public so a test can change one
/// value and keep the rest.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// The gun's limits, as configured for the station.
    pub gun: GunSettings,
    /// What the power supply can deliver. Setpoints above its maxima are capped; while enabled it
    /// regulates no lower than `min_voltage`.
    pub supply: SupplyCapabilities,
    /// How fast the supply moves its output voltage towards the setpoint, V/s (both directions).
    pub slew_rate_volts_per_second: f64,
    /// Capacitance at the supply's output, farads; charging it takes `C·dV/dt` amperes.
    pub output_capacitance_farads: f64,
    /// The discharge resistor switched across the output while the supply is off; with the
    /// capacitance it sets the bleed-down time constant `τ = R·C`.
    pub bleed_resistance: Ohms,
    /// Longest integration sub-step; a poll after a long gap is split into steps no longer than
    /// this, so large jumps in virtual time stay stable.
    pub max_step: Duration,
    /// Time from a contactor command to the auxiliary contact reporting it.
    pub contactor_delay: Duration,
    /// Insulation resistance the monitor measures, until changed by [`super::SimGun::set_isolation`].
    pub isolation_resistance: Ohms,
    /// Below this measured resistance the gun reports [`crate::Fault::Isolation`] (IEC 61851-23:
    /// 100 kΩ).
    pub isolation_fault_threshold: Ohms,
    /// The insulation monitor measures only while the output is above this voltage.
    pub isolation_min_voltage: Volts,
    /// How long the insulation monitor's self-test takes.
    pub self_test_duration: Duration,
    /// The meter's energy register at start (a meter that has been in service).
    pub meter_initial_energy: WattHours,
    /// The connector lock refuses to open while the gun voltage is above this (60 V).
    pub unlock_max_voltage: Volts,
    /// The pilot PWM duty at start, percent (0 as in the seed: oscillator off).
    pub initial_duty_percent: f64,
    /// The vehicle.
    pub ev: EvConfig,
}

impl SimConfig {
    /// Defaults for a gun with `settings`.
    ///
    /// The supply gets the gun's limits, but at most 1000 V and 500 A, and regulates from 150 V;
    /// it slews at 200 V/s into 2 mF, bleeds down through 150 Ω when off (τ = 0.3 s). The
    /// contactor reports after 20 ms; the insulation is 5 MΩ, with a 500 ms self-test measuring
    /// above 50 V; the meter starts at 1 000 000 Wh; the vehicle is [`EvConfig::default`].
    pub fn for_gun(settings: &GunSettings) -> Self {
        let max_voltage = non_negative(settings.max_voltage.value()).min(1000.0);
        let max_current = non_negative(settings.max_current.value()).min(500.0);
        let max_power = non_negative(settings.max_power.value());
        Self {
            gun: settings.clone(),
            supply: SupplyCapabilities {
                min_voltage: Volts(150.0_f64.min(max_voltage)),
                max_voltage: Volts(max_voltage),
                max_current: Amps(max_current),
                max_power: Watts(max_power),
            },
            slew_rate_volts_per_second: 200.0,
            output_capacitance_farads: 2e-3,
            bleed_resistance: Ohms(150.0),
            max_step: Duration::from_millis(10),
            contactor_delay: Duration::from_millis(20),
            isolation_resistance: Ohms(5e6),
            isolation_fault_threshold: Ohms(100e3),
            isolation_min_voltage: Volts(50.0),
            self_test_duration: Duration::from_millis(500),
            meter_initial_energy: WattHours(1_000_000.0),
            unlock_max_voltage: Volts(60.0),
            initial_duty_percent: 0.0,
            ev: EvConfig::default(),
        }
    }
}

/// A value made usable as a limit: negative and non-finite values count as zero.
fn non_negative(value: f64) -> f64 {
    if value.is_finite() {
        value.max(0.0)
    } else {
        0.0
    }
}

/// When the vehicle connects its battery to the cable (closes its own relays).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvRelays {
    /// As soon as the gun's contactor is closed while the vehicle is ready (pilot C or D), the
    /// battery is on the output. This suits flows that close the contactor only after precharge
    /// (the seed's); a cable check with the contactor closed would see the battery.
    WithContactor,
    /// Only once the gun voltage has settled (held within ±2 V for
    /// [`EvConfig::relay_settle`]) within [`EvConfig::relay_tolerance`] of the battery voltage,
    /// with the contactor closed and the vehicle ready: what an ISO 15118 vehicle does after
    /// precharge. A cable-check ramp passing the battery voltage does not close them.
    AfterPrecharge,
}

/// The vehicle: a battery behind its own relays, with a charge curve.
#[derive(Debug, Clone, PartialEq)]
pub struct EvConfig {
    /// Usable battery energy.
    pub capacity: WattHours,
    /// State of charge at start, percent.
    pub initial_soc_percent: f64,
    /// Open-circuit voltage by state of charge.
    pub ocv: OcvCurve,
    /// Internal resistance; the terminal voltage is `OCV + I·R` while charging.
    pub internal_resistance: Ohms,
    /// The highest terminal voltage the vehicle accepts; it takes less current near it.
    pub max_voltage: Volts,
    /// The highest current the vehicle accepts.
    pub max_current: Amps,
    /// Above this state of charge (percent) the accepted current tapers linearly, reaching zero at
    /// 100 %.
    pub taper_start_soc_percent: f64,
    /// When the vehicle closes its relays.
    pub relays: EvRelays,
    /// [`EvRelays::AfterPrecharge`]: the largest gap between gun and battery voltage at which the
    /// vehicle closes its relays.
    pub relay_tolerance: Volts,
    /// [`EvRelays::AfterPrecharge`]: how long the gun voltage must hold steady before the vehicle
    /// closes its relays.
    pub relay_settle: Duration,
}

impl Default for EvConfig {
    /// A 400 V class car: 75 kWh at 30 %, [`OcvCurve::pack_400v`], 0.05 Ω, at most 450 V and
    /// 200 A, tapering above 80 %, relays [`EvRelays::WithContactor`] (±20 V and 200 ms when
    /// switched to [`EvRelays::AfterPrecharge`]).
    fn default() -> Self {
        Self {
            capacity: WattHours(75_000.0),
            initial_soc_percent: 30.0,
            ocv: OcvCurve::pack_400v(),
            internal_resistance: Ohms(0.05),
            max_voltage: Volts(450.0),
            max_current: Amps(200.0),
            taper_start_soc_percent: 80.0,
            relays: EvRelays::WithContactor,
            relay_tolerance: Volts(20.0),
            relay_settle: Duration::from_millis(200),
        }
    }
}

/// A battery's open-circuit voltage by state of charge: a monotone, piecewise-linear curve from
/// 0 % to 100 %.
#[derive(Debug, Clone, PartialEq)]
pub struct OcvCurve {
    /// `(state of charge in percent, voltage)`, from 0 % to 100 %, strictly increasing in state of
    /// charge and never decreasing in voltage.
    points: Vec<(f64, Volts)>,
}

impl OcvCurve {
    /// The curve through `points` (`(percent, voltage)`); `None` unless there are at least two,
    /// the first at 0 % and the last at 100 %, the state of charge strictly increases and the
    /// voltage never decreases.
    pub fn new(points: Vec<(f64, Volts)>) -> Option<Self> {
        let (first, last) = (points.first()?, points.last()?);
        let finite = points
            .iter()
            .all(|(soc, v)| soc.is_finite() && v.value().is_finite());
        let monotone = points
            .windows(2)
            .all(|pair| pair[0].0 < pair[1].0 && pair[0].1 <= pair[1].1);
        let spans = first.0 == 0.0 && last.0 == 100.0;
        (points.len() >= 2 && finite && monotone && spans).then_some(Self { points })
    }

    /// A 400 V class NMC pack: 330 V empty, 360 V at 30 %, 388 V at 80 %, 410 V full.
    pub fn pack_400v() -> Self {
        Self {
            points: [
                (0.0, 330.0),
                (10.0, 348.0),
                (30.0, 360.0),
                (50.0, 370.0),
                (80.0, 388.0),
                (90.0, 396.0),
                (100.0, 410.0),
            ]
            .into_iter()
            .map(|(soc, v)| (soc, Volts(v)))
            .collect(),
        }
    }

    /// The curve's points, `(percent, voltage)`.
    pub fn points(&self) -> &[(f64, Volts)] {
        &self.points
    }

    /// The open-circuit voltage at `soc_percent` (clamped to 0–100 %).
    pub fn voltage_at(&self, soc_percent: f64) -> Volts {
        let soc = soc_percent.clamp(0.0, 100.0);
        // `new` and `pack_400v` guarantee at least two points; an empty curve would read 0 V.
        let Some((&first, rest)) = self.points.split_first() else {
            return Volts::ZERO;
        };
        let mut previous = first;
        for &(s, v) in rest {
            if soc <= s {
                let (s0, v0) = previous;
                let fraction = (soc - s0) / (s - s0);
                return Volts(v0.value() + fraction * (v.value() - v0.value()));
            }
            previous = (s, v);
        }
        previous.1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(max_voltage: f64, max_current: f64, max_power: f64) -> GunSettings {
        GunSettings {
            gun: 1,
            max_current: Amps(max_current),
            max_power: Watts(max_power),
            max_voltage: Volts(max_voltage),
        }
    }

    #[test]
    fn supply_limits_follow_the_gun_but_cap_at_1000_v_and_500_a() {
        let small = SimConfig::for_gun(&settings(920.0, 200.0, 150_000.0));
        assert_eq!(small.supply.max_voltage, Volts(920.0));
        assert_eq!(small.supply.max_current, Amps(200.0));
        assert_eq!(small.supply.max_power, Watts(150_000.0));
        assert_eq!(small.supply.min_voltage, Volts(150.0));
        let big = SimConfig::for_gun(&settings(1500.0, 800.0, 400_000.0));
        assert_eq!(big.supply.max_voltage, Volts(1000.0));
        assert_eq!(big.supply.max_current, Amps(500.0));
        let broken = SimConfig::for_gun(&settings(f64::NAN, -5.0, f64::INFINITY));
        assert_eq!(broken.supply.max_voltage, Volts(0.0));
        assert_eq!(broken.supply.max_current, Amps(0.0));
        assert_eq!(broken.supply.max_power, Watts(0.0));
    }

    #[test]
    fn ocv_curve_interpolates_and_clamps() {
        let curve = OcvCurve::pack_400v();
        assert_eq!(curve.voltage_at(0.0), Volts(330.0));
        assert_eq!(curve.voltage_at(30.0), Volts(360.0));
        assert_eq!(curve.voltage_at(40.0), Volts(365.0));
        assert_eq!(curve.voltage_at(100.0), Volts(410.0));
        assert_eq!(curve.voltage_at(-3.0), Volts(330.0));
        assert_eq!(curve.voltage_at(130.0), Volts(410.0));
        let mut last = Volts(0.0);
        for soc in 0..=1000 {
            let v = curve.voltage_at(f64::from(soc) / 10.0);
            assert!(v >= last, "not monotone at {soc}");
            last = v;
        }
    }

    #[test]
    fn ocv_curve_rejects_bad_points() {
        let v = Volts;
        assert!(OcvCurve::new(vec![(0.0, v(300.0)), (100.0, v(400.0))]).is_some());
        assert!(OcvCurve::new(vec![(0.0, v(300.0))]).is_none());
        assert!(OcvCurve::new(vec![(5.0, v(300.0)), (100.0, v(400.0))]).is_none());
        assert!(OcvCurve::new(vec![(0.0, v(300.0)), (90.0, v(400.0))]).is_none());
        assert!(OcvCurve::new(vec![(0.0, v(400.0)), (100.0, v(300.0))]).is_none());
        assert!(
            OcvCurve::new(vec![
                (0.0, v(300.0)),
                (50.0, v(350.0)),
                (50.0, v(360.0)),
                (100.0, v(400.0))
            ])
            .is_none()
        );
        assert!(OcvCurve::new(vec![(0.0, v(f64::NAN)), (100.0, v(400.0))]).is_none());
    }
}
