//! The DC meter at the gun, after the contactor.
//!
//! It reads the gun-side voltage and current (0 V and 0 A while the contactor is open) and keeps an
//! energy register that integrates the gun-side power over each physics sub-step, exactly for the
//! piecewise-constant model: nothing accrues while no current flows, however long between polls,
//! and the register never decreases. A silent meter ([`SimGun::meter_silent`]) still counts; it
//! only stops answering.

use super::SimGun;
use crate::{Amps, Meter, MeterReading, Volts, WattHours};

/// The meter's state.
#[derive(Debug, Clone)]
pub(super) struct MeterState {
    /// The imported-energy register, Wh.
    energy: f64,
    /// Whether it has stopped answering.
    pub(super) silent: bool,
}

impl MeterState {
    /// A meter whose register starts at `energy`.
    pub(super) fn new(energy: WattHours) -> Self {
        let energy = energy.value();
        Self {
            energy: if energy.is_finite() {
                energy.max(0.0)
            } else {
                0.0
            },
            silent: false,
        }
    }

    /// Adds `power` watts held for `seconds` (imported energy only).
    pub(super) fn integrate(&mut self, power: f64, seconds: f64) {
        let wh = power * seconds / 3600.0;
        if wh > 0.0 {
            self.energy += wh;
        }
    }

    /// The register, Wh.
    pub(super) fn energy(&self) -> WattHours {
        WattHours(self.energy)
    }
}

impl Meter for SimGun {
    /// The gun-side voltage, current and power as of the last poll, and the register; `None`
    /// while silent.
    fn reading(&self) -> Option<MeterReading> {
        if self.meter.silent {
            return None;
        }
        let voltage = Volts(self.gun_voltage());
        let current = Amps(self.gun_current());
        Some(MeterReading {
            energy: self.meter.energy(),
            voltage,
            current,
            power: voltage * current,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_only_counts_imported_energy() {
        let mut m = MeterState::new(WattHours(1_000_000.0));
        m.integrate(36_000.0, 10.0);
        assert_eq!(m.energy(), WattHours(1_000_100.0));
        m.integrate(0.0, 3600.0);
        m.integrate(-500.0, 10.0);
        assert_eq!(m.energy(), WattHours(1_000_100.0));
    }
}
