//! The control pilot and its PWM generator (IEC 61851-1).
//!
//! The state comes from the vehicle: no plug is A, plugged is B, plugged and ready is C. An
//! operator may force a state with [`ControlPilot::simulate`]; the force lasts until the next
//! plug or readiness change ([`SimGun::plug`], [`SimGun::ev_ready`]) or another `simulate`.
//! Forcing B, C or D while the duty is below 3 % sets it to 5 % (digital communication), as the
//! seed does. The voltage is the state's nominal positive half-wave; the duty does not change it.

use super::SimGun;
use crate::{ControlPilot, CpState, HalError, HalResult, Pwm, Volts};

/// The pilot line and the PWM generator.
#[derive(Debug, Clone)]
pub(super) struct Pilot {
    /// Whether a vehicle is plugged in.
    plugged: bool,
    /// Whether the vehicle asks for charge.
    ready: bool,
    /// A state forced by an operator.
    forced: Option<CpState>,
    /// PWM duty, percent.
    duty: f64,
}

impl Pilot {
    /// No vehicle, PWM at `duty` percent.
    pub(super) fn new(duty: f64) -> Self {
        Self {
            plugged: false,
            ready: false,
            forced: None,
            duty: if (0.0..=100.0).contains(&duty) {
                duty
            } else {
                0.0
            },
        }
    }

    /// The state on the line.
    pub(super) fn state(&self) -> CpState {
        self.forced.unwrap_or(match (self.plugged, self.ready) {
            (false, _) => CpState::A,
            (true, false) => CpState::B,
            (true, true) => CpState::C,
        })
    }

    /// Whether the line shows a ready vehicle (C or D), forced or not: the vehicle may then
    /// connect its battery.
    pub(super) fn vehicle_ready(&self) -> bool {
        matches!(self.state(), CpState::C | CpState::D)
    }

    /// Plugs or unplugs the vehicle; ends a forced state.
    pub(super) fn plug(&mut self, plugged: bool) {
        self.plugged = plugged;
        self.forced = None;
    }

    /// Sets the vehicle's readiness; ends a forced state.
    pub(super) fn set_ready(&mut self, ready: bool) {
        self.ready = ready;
        self.forced = None;
    }
}

impl Pwm for SimGun {
    /// Accepts 0–100 %; anything else is [`HalError::OutOfRange`].
    fn set_duty(&mut self, percent: f64) -> HalResult {
        if !(0.0..=100.0).contains(&percent) {
            return Err(HalError::OutOfRange {
                what: "PWM duty cycle (percent)",
                value: percent,
            });
        }
        self.pilot.duty = percent;
        Ok(())
    }

    fn duty(&self) -> f64 {
        self.pilot.duty
    }
}

impl ControlPilot for SimGun {
    fn state(&self) -> CpState {
        self.pilot.state()
    }

    fn voltage(&self) -> Volts {
        self.pilot.state().nominal_voltage()
    }

    /// Forces `state` until the next plug or readiness change; B, C or D with a duty below 3 %
    /// also sets the duty to 5 %. Never fails in simulation.
    fn simulate(&mut self, state: CpState) -> HalResult {
        self.pilot.forced = Some(state);
        if matches!(state, CpState::B | CpState::C | CpState::D) && self.pilot.duty < 3.0 {
            self.pilot.duty = 5.0;
        }
        tracing::debug!(gun = self.config.gun.gun, %state, "pilot state forced");
        Ok(())
    }
}
