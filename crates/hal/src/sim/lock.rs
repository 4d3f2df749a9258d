//! The connector lock: locks and unlocks at once, but refuses to unlock while the gun is live.

use super::SimGun;
use crate::{ConnectorLock, HalError, HalResult};

impl ConnectorLock for SimGun {
    /// Locking always succeeds. Unlocking while the gun voltage (as of the last poll) is above the
    /// configured limit (60 V) fails with [`HalError::OutOfRange`] carrying that voltage, and the
    /// connector stays locked.
    fn set_locked(&mut self, locked: bool) -> HalResult {
        if !locked && self.locked {
            let voltage = self.gun_voltage();
            if voltage > self.config.unlock_max_voltage.value() {
                return Err(HalError::OutOfRange {
                    what: "gun voltage for unlocking (V)",
                    value: voltage,
                });
            }
        }
        self.locked = locked;
        Ok(())
    }

    fn is_locked(&self) -> bool {
        self.locked
    }
}
