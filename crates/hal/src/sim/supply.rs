//! The DC power supply's command interface: enable, voltage setpoint, current limit, and its
//! readings at the supply side of the contactor. The physics is in [`super::circuit`].

use super::SimGun;
use super::circuit::Drive;
use crate::{Amps, HalError, HalResult, PowerSupply, SupplyCapabilities, Volts};

/// The supply's commands.
#[derive(Debug, Clone, Default)]
pub(super) struct SupplyState {
    /// Whether the output is switched on.
    enabled: bool,
    /// The voltage setpoint, V (within 0 and the maximum).
    setpoint: f64,
    /// The current limit, A (within 0 and the maximum); 0 until set.
    current_limit: f64,
}

impl SupplyState {
    /// What the supply does while on, under `capabilities` and the slew rate `slew` (V/s).
    pub(super) fn drive(&self, capabilities: &SupplyCapabilities, slew: f64) -> Drive {
        let max_voltage = capabilities.max_voltage.value();
        Drive {
            target: self
                .setpoint
                .max(capabilities.min_voltage.value())
                .min(max_voltage),
            slew,
            current: self.current_limit.min(capabilities.max_current.value()),
            power: capabilities.max_power.value(),
        }
    }

    /// Whether the output is switched on.
    pub(super) fn enabled(&self) -> bool {
        self.enabled
    }
}

/// `value` if it is a finite, non-negative number, capped at `max`; else `OutOfRange`.
fn accept(what: &'static str, value: f64, max: f64) -> HalResult<f64> {
    if value.is_finite() && value >= 0.0 {
        Ok(value.min(max))
    } else {
        Err(HalError::OutOfRange { what, value })
    }
}

impl PowerSupply for SimGun {
    /// Switching on starts regulating from the present output voltage; switching off stops the
    /// current at once and bleeds the output down. While the emergency stop is pressed the output
    /// stays off whatever is commanded. Never fails in simulation.
    fn enable(&mut self, on: bool) -> HalResult {
        self.supply.enabled = on;
        Ok(())
    }

    fn enabled(&self) -> bool {
        self.supply.enabled
    }

    /// Negative or non-finite setpoints are [`HalError::OutOfRange`]; above the maximum the
    /// setpoint is capped at it. While on, the supply regulates no lower than its minimum.
    fn set_voltage(&mut self, voltage: Volts) -> HalResult {
        let max = self.config.supply.max_voltage.value();
        self.supply.setpoint = accept("voltage setpoint", voltage.value(), max)?;
        Ok(())
    }

    /// Negative or non-finite limits are [`HalError::OutOfRange`]; above the maximum current the
    /// limit is capped at it.
    fn set_current_limit(&mut self, current: Amps) -> HalResult {
        let max = self.config.supply.max_current.value();
        self.supply.current_limit = accept("current limit", current.value(), max)?;
        Ok(())
    }

    /// The output voltage and the current the supply delivered over the last sub-step (into the
    /// output capacitance or through the contactor).
    fn measured(&self) -> (Volts, Amps) {
        (
            Volts(self.circuit.voltage),
            Amps(self.circuit.supply_current),
        )
    }

    fn capabilities(&self) -> SupplyCapabilities {
        self.config.supply
    }
}
