//! The output contactor: a coil driven by the command (and dropped by the emergency stop), contacts
//! that follow the coil after the operate delay, and an auxiliary contact reporting them.
//!
//! A welded contactor ([`SimGun::weld_contactor`]) keeps its contacts closed once closed; the gun
//! reports [`crate::Fault::ContactorWelded`] when the coil has been off for longer than the delay
//! while the contacts still say closed.

use super::SimGun;
use crate::{Contactor, HalResult};
use std::time::{Duration, Instant};

/// The contactor's state.
#[derive(Debug, Clone)]
pub(super) struct ContactorState {
    /// What was last commanded.
    commanded: bool,
    /// Whether the coil is energised: commanded and not cut by the emergency stop.
    coil: bool,
    /// When the coil last changed (stamped with the poll time before the change).
    coil_since: Instant,
    /// Whether the contacts are closed; the auxiliary contact reports this.
    closed: bool,
    /// Whether the contacts are welded.
    welded: bool,
}

impl ContactorState {
    /// An open contactor at `now`.
    pub(super) fn new(now: Instant) -> Self {
        Self {
            commanded: false,
            coil: false,
            coil_since: now,
            closed: false,
            welded: false,
        }
    }

    /// Whether the contacts are closed.
    pub(super) fn closed(&self) -> bool {
        self.closed
    }

    /// What was last commanded.
    pub(super) fn commanded(&self) -> bool {
        self.commanded
    }

    /// Energises or drops the coil at `at`.
    pub(super) fn drive_coil(&mut self, coil: bool, at: Instant) {
        if coil != self.coil {
            self.coil = coil;
            self.coil_since = at;
        }
    }

    /// Welds the contacts (they stay closed once closed) or frees them.
    pub(super) fn weld(&mut self, welded: bool) {
        self.welded = welded;
    }

    /// Moves the contacts if the coil changed at least `delay` before `now`. Returns whether they
    /// moved.
    pub(super) fn settle(&mut self, now: Instant, delay: Duration) -> bool {
        let due = now >= self.coil_since + delay;
        let moves = self.closed != self.coil && due && !(self.closed && self.welded);
        if moves {
            self.closed = self.coil;
        }
        moves
    }

    /// When the contacts will move if nothing changes.
    pub(super) fn next_event(&self, delay: Duration) -> Option<Instant> {
        (self.closed != self.coil && !(self.closed && self.welded)).then(|| self.coil_since + delay)
    }

    /// Whether, at `now`, the coil has been off for at least `delay` with the contacts still
    /// closed.
    pub(super) fn welded_detected(&self, now: Instant, delay: Duration) -> bool {
        !self.coil && self.closed && now >= self.coil_since + delay
    }
}

impl Contactor for SimGun {
    /// Records the command at the last poll time; the contacts follow after the operate delay
    /// (unless the emergency stop is pressed or they are welded). Never fails in simulation.
    fn command(&mut self, closed: bool) -> HalResult {
        self.contactor.commanded = closed;
        self.contactor
            .drive_coil(closed && !self.emergency_stop, self.now);
        Ok(())
    }

    fn commanded_closed(&self) -> bool {
        self.contactor.commanded
    }

    fn feedback_closed(&self) -> bool {
        self.contactor.closed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contacts_follow_the_coil_after_the_delay() {
        let t0 = Instant::now();
        let delay = Duration::from_millis(20);
        let mut c = ContactorState::new(t0);
        c.drive_coil(true, t0);
        assert_eq!(c.next_event(delay), Some(t0 + delay));
        assert!(!c.settle(t0 + Duration::from_millis(19), delay));
        assert!(c.settle(t0 + delay, delay));
        assert!(c.closed());
        assert_eq!(c.next_event(delay), None);
    }

    #[test]
    fn welded_contacts_stay_closed_and_are_detected_after_the_delay() {
        let t0 = Instant::now();
        let delay = Duration::from_millis(20);
        let mut c = ContactorState::new(t0);
        c.drive_coil(true, t0);
        c.settle(t0 + delay, delay);
        c.weld(true);
        let off = t0 + Duration::from_secs(1);
        c.drive_coil(false, off);
        assert!(!c.welded_detected(off + Duration::from_millis(19), delay));
        assert!(!c.settle(off + delay, delay));
        assert!(c.closed());
        assert!(c.welded_detected(off + delay, delay));
        assert_eq!(c.next_event(delay), None);
        c.weld(false);
        assert!(c.settle(off + delay, delay));
        assert!(!c.closed());
        assert!(!c.welded_detected(off + delay, delay));
    }
}
