//! The DC output stage: the supply's regulator, the output capacitance, the bleed resistor and,
//! through the contactor and the vehicle's relays, the vehicle's battery.
//!
//! One [`Circuit::step`] integrates one sub-step during which the topology (supply on or off,
//! battery connected or not) and the commands stay fixed:
//!
//! - **Supply on, no battery:** the regulator's reference slews towards the target; the output
//!   follows it, as fast as the available current can charge the capacitance (`dV = I·dt/C`). A
//!   target below the output is followed down at the slew rate (the regulator pulls the output
//!   down) with no current delivered.
//! - **Supply on, battery connected:** the battery's time constant `R·C` (100 µs with the
//!   defaults) is far below a sub-step, so the output is quasi-static: the current is
//!   `(V_ref − V_ocv)/R`, clamped to zero and to the available current, and the output sits at
//!   the battery's terminal voltage `V_ocv + I·R`.
//! - **Supply off, no battery:** the capacitance bleeds through the discharge resistor, exactly
//!   `V·e^(−dt/τ)` per sub-step.
//! - **Supply off, battery connected:** the battery holds the output at its open-circuit voltage;
//!   no current flows (the discharge resistor is taken as switched in only without a battery).
//!
//! The insulation's leakage current (below a milliampere at 5 MΩ) is neglected.

/// Below this the output counts as fully discharged, so a resting output stops changing.
const DISCHARGED_VOLTS: f64 = 1e-6;

/// What the supply does during a sub-step, when it is on.
#[derive(Debug, Clone, Copy)]
pub(super) struct Drive {
    /// The voltage it regulates to: the setpoint within its regulating range.
    pub target: f64,
    /// Slew rate of its reference, V/s.
    pub slew: f64,
    /// The least of its current limit and its maximum current, A.
    pub current: f64,
    /// Its maximum power, W.
    pub power: f64,
}

/// The battery as the output sees it during a sub-step, when connected.
#[derive(Debug, Clone, Copy)]
pub(super) struct Battery {
    /// Open-circuit voltage, V.
    pub ocv: f64,
    /// Internal resistance, Ω (positive).
    pub resistance: f64,
    /// The most current the vehicle takes, A.
    pub accepted: f64,
}

/// The state of the output stage.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Circuit {
    /// Voltage across the output capacitance: the supply side of the contactor, V.
    pub voltage: f64,
    /// The regulator's reference while the supply is on, V.
    reference: Option<f64>,
    /// The supply's output current over the last sub-step, A.
    pub supply_current: f64,
    /// The current into the battery over the last sub-step, A.
    pub battery_current: f64,
}

impl Circuit {
    /// Integrates `dt` seconds (`dt > 0`) with the supply doing `drive` (`None`: off) and
    /// `battery` connected or not. `capacitance` is in farads, `bleed` in ohms.
    pub(super) fn step(
        &mut self,
        drive: Option<Drive>,
        battery: Option<Battery>,
        capacitance: f64,
        bleed: f64,
        dt: f64,
    ) {
        let Some(drive) = drive else {
            self.reference = None;
            self.supply_current = 0.0;
            self.battery_current = 0.0;
            self.voltage = match battery {
                Some(battery) => battery.ocv,
                None => self.bleed(capacitance, bleed, dt),
            };
            return;
        };
        // Switching on starts the reference where the output is, never at a stale setpoint.
        let reference = self.reference.unwrap_or(self.voltage);
        let reach = drive.slew.max(0.0) * dt;
        let reference = if drive.target >= reference {
            (reference + reach).min(drive.target)
        } else {
            (reference - reach).max(drive.target)
        };
        self.reference = Some(reference);

        match battery {
            Some(battery) => {
                let available = drive
                    .current
                    .min(power_limited_current(
                        drive.power,
                        battery.ocv,
                        battery.resistance,
                    ))
                    .min(battery.accepted)
                    .max(0.0);
                let current =
                    ((reference - battery.ocv) / battery.resistance).clamp(0.0, available);
                self.supply_current = current;
                self.battery_current = current;
                self.voltage = battery.ocv + current * battery.resistance;
            }
            None => {
                self.battery_current = 0.0;
                if reference <= self.voltage {
                    self.supply_current = 0.0;
                    self.voltage = reference;
                    return;
                }
                let available = drive
                    .current
                    .min(drive.power / self.voltage.max(1.0))
                    .max(0.0);
                let capacitance = capacitance.max(1e-9);
                let rise = (reference - self.voltage).min(available * dt / capacitance);
                self.supply_current = capacitance * rise / dt;
                self.voltage += rise;
            }
        }
    }

    /// The output voltage after bleeding `dt` seconds through `bleed` ohms.
    fn bleed(&self, capacitance: f64, bleed: f64, dt: f64) -> f64 {
        let tau = bleed.max(0.0) * capacitance.max(0.0);
        let v = if tau > 0.0 {
            self.voltage * (-dt / tau).exp()
        } else {
            0.0
        };
        if v.abs() < DISCHARGED_VOLTS { 0.0 } else { v }
    }
}

/// The current at which a battery of `ocv` volts behind `resistance` ohms draws `power` watts:
/// the positive root of `I·(V_ocv + I·R) = P`.
fn power_limited_current(power: f64, ocv: f64, resistance: f64) -> f64 {
    let power = power.max(0.0);
    let ocv = ocv.max(0.0);
    let root = (ocv * ocv + 4.0 * resistance * power).sqrt();
    // Written as 2P/(V + √(V² + 4RP)) to stay exact for small R; zero only if P is.
    if ocv + root > 0.0 {
        2.0 * power / (ocv + root)
    } else {
        f64::INFINITY
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: f64 = 2e-3;

    fn drive(target: f64, current: f64) -> Option<Drive> {
        Some(Drive {
            target,
            slew: 200.0,
            current,
            power: 1e6,
        })
    }

    #[test]
    fn capacitance_charges_at_the_slew_rate_or_current_limit() {
        let mut c = Circuit::default();
        c.step(drive(400.0, 2.0), None, C, 150.0, 0.01);
        // 200 V/s needs 0.4 A into 2 mF, below the 2 A limit.
        assert!((c.voltage - 2.0).abs() < 1e-9);
        assert!((c.supply_current - 0.4).abs() < 1e-9);
        let mut c = Circuit::default();
        c.step(
            Some(Drive {
                slew: 10_000.0,
                ..drive(400.0, 2.0).expect("drive")
            }),
            None,
            C,
            150.0,
            0.01,
        );
        // 2 A into 2 mF: 1000 V/s.
        assert!((c.voltage - 10.0).abs() < 1e-9);
        assert!((c.supply_current - 2.0).abs() < 1e-9);
    }

    #[test]
    fn battery_clamps_the_output() {
        let mut c = Circuit {
            voltage: 360.0,
            ..Circuit::default()
        };
        let battery = Some(Battery {
            ocv: 360.0,
            resistance: 0.05,
            accepted: 200.0,
        });
        for _ in 0..100 {
            c.step(drive(400.0, 50.0), battery, C, 150.0, 0.01);
        }
        assert!((c.battery_current - 50.0).abs() < 1e-9);
        assert!((c.voltage - 362.5).abs() < 1e-9);
        c.step(None, battery, C, 150.0, 0.01);
        assert_eq!((c.voltage, c.battery_current), (360.0, 0.0));
    }

    #[test]
    fn power_limit_accounts_for_the_terminal_voltage() {
        let i = power_limited_current(20_000.0, 360.0, 0.05);
        assert!(((360.0 + i * 0.05) * i - 20_000.0).abs() < 1e-6);
        assert!((power_limited_current(3600.0, 360.0, 0.0) - 10.0).abs() < 1e-12);
    }

    #[test]
    fn bleed_is_exponential() {
        let mut c = Circuit {
            voltage: 400.0,
            ..Circuit::default()
        };
        for _ in 0..30 {
            c.step(None, None, C, 150.0, 0.01);
        }
        // τ = 0.3 s: one time constant.
        assert!((c.voltage - 400.0 / std::f64::consts::E).abs() < 1e-9);
    }
}
