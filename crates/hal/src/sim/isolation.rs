//! The insulation monitor: a self-test of configurable duration with a settable outcome, and a
//! resistance reading while the output (supply side, ahead of the contactor, so a cable check
//! with the contactor open is measured too) is above the monitor's minimum voltage.

use super::SimGun;
use crate::{HalResult, IsolationMonitor, Ohms};
use std::time::Instant;

/// Where the self-test stands.
#[derive(Debug, Clone, Copy, PartialEq)]
enum SelfTest {
    /// None run yet.
    NotRun,
    /// Running until the instant given.
    Running(Instant),
    /// Finished: whether it passed.
    Done(bool),
}

/// The monitor's state.
#[derive(Debug, Clone)]
pub(super) struct IsolationState {
    /// The insulation resistance it finds when measuring.
    pub(super) resistance: Ohms,
    /// Whether self-tests fail.
    pub(super) fail_self_test: bool,
    /// The self-test.
    self_test: SelfTest,
}

impl IsolationState {
    /// A monitor that will find `resistance`.
    pub(super) fn new(resistance: Ohms) -> Self {
        Self {
            resistance,
            fail_self_test: false,
            self_test: SelfTest::NotRun,
        }
    }

    /// Ends a self-test due by `now`, with the outcome set at that moment. Returns the outcome if
    /// it just ended.
    pub(super) fn settle(&mut self, now: Instant) -> Option<bool> {
        match self.self_test {
            SelfTest::Running(until) if now >= until => {
                let passed = !self.fail_self_test;
                self.self_test = SelfTest::Done(passed);
                Some(passed)
            }
            _ => None,
        }
    }

    /// When the running self-test ends.
    pub(super) fn next_event(&self) -> Option<Instant> {
        match self.self_test {
            SelfTest::Running(until) => Some(until),
            _ => None,
        }
    }
}

impl IsolationMonitor for SimGun {
    /// Starts (or restarts) a self-test at the last poll time; it ends after the configured
    /// duration, passing unless [`SimGun::fail_self_test`] is set then.
    fn start_self_test(&mut self) -> HalResult {
        self.isolation.self_test = SelfTest::Running(self.now + self.config.self_test_duration);
        Ok(())
    }

    fn self_test_passed(&self) -> Option<bool> {
        match self.isolation.self_test {
            SelfTest::Done(passed) => Some(passed),
            SelfTest::NotRun | SelfTest::Running(_) => None,
        }
    }

    /// The resistance set for the gun while the output is above the monitor's minimum voltage
    /// (a monitor needs voltage to measure), else `None`.
    fn resistance(&self) -> Option<Ohms> {
        (self.circuit.voltage > self.config.isolation_min_voltage.value())
            .then_some(self.isolation.resistance)
    }
}
