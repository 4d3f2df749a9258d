//! The way to the standby state (section 12): output off at once, contactors open once the
//! current has fallen, an `inoperative` transition until the output is discharged; faults that
//! keep the charge point inoperative; contactor supervision.

use super::{ChargePoint, Level, Phase};
use crate::power::{PowerCommand, Readings};
use proto_pepws::IsolationStatus;
use serde::Serialize;
use std::time::Instant;

/// Why the charge point went to standby.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum StandbyReason {
    /// A `reset` request.
    Reset,
    /// `contactorsStatus: open` while closed.
    OpenRequest,
    /// The SECC's connection closed.
    Disconnected,
    /// The SECC was silent for the unresponsive timeout.
    Unresponsive,
    /// A new SECC connection replaced the old one.
    NewConnection,
    /// The CP/PP supervision signal dropped with the contactors closed.
    SupervisionLost,
    /// A fault.
    Fault,
    /// The cabinet is shutting down.
    Shutdown,
}

/// What keeps the charge point inoperative.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "kind", content = "detail")]
pub enum Fault {
    /// The power stage reports a fault; clears when it stops.
    Hardware(String),
    /// The output did not discharge; clears once it is below the safe voltage.
    Discharge(String),
    /// The contactors stayed closed after opening; clears when they read open.
    ContactorWelded(String),
    /// The contactors did not close; clears once commanded open again.
    ContactorStuckOpen(String),
}

impl Fault {
    pub(super) fn text(&self) -> &str {
        match self {
            Fault::Hardware(t)
            | Fault::Discharge(t)
            | Fault::ContactorWelded(t)
            | Fault::ContactorStuckOpen(t) => t,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum TransitionStage {
    /// Output off; waiting for the current to fall before opening the contactors.
    CurrentDown { open_by: Instant },
    /// Contactors commanded open; waiting for feedback and a safe voltage.
    Discharge { deadline: Instant },
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Transition {
    pub(super) reason: StandbyReason,
    pub(super) stage: TransitionStage,
}

impl ChargePoint {
    /// Goes to standby: output off at once, contactors open once the current has fallen, and
    /// an `inoperative` transition while anything is still energized.
    pub(super) fn go_standby(&mut self, reason: StandbyReason, readings: &Readings, now: Instant) {
        let energized = readings.output_current > self.settings.open_current
            || readings.outlet_current > self.settings.open_current
            || readings.output_voltage >= self.settings.safe_voltage
            || readings.outlet_voltage >= self.settings.safe_voltage;
        let was_active = self.phase != Phase::Standby || self.contactors;
        self.phase = Phase::Standby;
        self.isolation = IsolationStatus::Invalid;
        self.last_target = None;
        self.command(PowerCommand::Output(None));
        self.command(PowerCommand::Isolation(false));
        if energized {
            let open_now = readings.output_current <= self.settings.open_current
                && readings.outlet_current <= self.settings.open_current;
            let stage = if open_now {
                self.command(PowerCommand::Contactors(false));
                TransitionStage::Discharge {
                    deadline: now + self.settings.discharge_time,
                }
            } else {
                TransitionStage::CurrentDown {
                    open_by: now + self.settings.open_delay,
                }
            };
            self.transition = Some(Transition {
                reason: reason.clone(),
                stage,
            });
        } else {
            self.command(PowerCommand::Contactors(false));
            self.transition = None;
        }
        if was_active || energized {
            let level = match reason {
                StandbyReason::Reset | StandbyReason::OpenRequest => Level::Info,
                _ => Level::Warn,
            };
            self.notice(level, false, format!("standby: {reason:?}"));
        }
    }

    pub(super) fn raise(&mut self, fault: Fault, readings: &Readings, now: Instant) {
        self.notice(Level::Error, true, format!("fault: {}", fault.text()));
        self.fault = Some(fault);
        self.go_standby(StandbyReason::Fault, readings, now);
    }

    pub(super) fn check_fault(&mut self, readings: &Readings, now: Instant) {
        let cleared = match &self.fault {
            None => {
                if !readings.faults.is_empty() {
                    self.raise(Fault::Hardware(readings.faults.join("; ")), readings, now);
                }
                return;
            }
            Some(Fault::Hardware(_)) => readings.faults.is_empty(),
            Some(Fault::Discharge(_)) => readings.output_voltage < self.settings.safe_voltage,
            Some(Fault::ContactorWelded(_)) => !readings.contactors_closed,
            Some(Fault::ContactorStuckOpen(_)) => !self.contactors,
        };
        if cleared
            && self.transition.is_none()
            && let Some(fault) = self.fault.take()
        {
            self.notice(
                Level::Info,
                true,
                format!("fault cleared: {}", fault.text()),
            );
        }
    }

    pub(super) fn check_contactors(&mut self, readings: &Readings, now: Instant) {
        if self.contactors && !readings.supervision {
            self.notice(
                Level::Warn,
                true,
                "CP/PP supervision dropped with the contactors closed".into(),
            );
            self.go_standby(StandbyReason::SupervisionLost, readings, now);
            return;
        }
        if readings.contactors_closed == self.contactors {
            self.mismatch_since = None;
            return;
        }
        let since = *self.mismatch_since.get_or_insert(now);
        if now.saturating_duration_since(since) < self.settings.contactor_timeout
            || self.fault.is_some()
        {
            return;
        }
        let fault = if self.contactors {
            Fault::ContactorStuckOpen("the contactors did not close".into())
        } else {
            Fault::ContactorWelded("the contactors stay closed after opening".into())
        };
        self.raise(fault, readings, now);
    }

    pub(super) fn advance_transition(&mut self, readings: &Readings, now: Instant) {
        let Some(transition) = &self.transition else {
            return;
        };
        match transition.stage {
            TransitionStage::CurrentDown { open_by } => {
                let low = readings.output_current <= self.settings.open_current
                    && readings.outlet_current <= self.settings.open_current;
                if low || now >= open_by {
                    if !low {
                        self.notice(
                            Level::Warn,
                            false,
                            format!(
                                "opening the contactors at {:.1} A: the current did not fall in time",
                                readings.outlet_current.value()
                            ),
                        );
                    }
                    self.command(PowerCommand::Contactors(false));
                    if let Some(t) = &mut self.transition {
                        t.stage = TransitionStage::Discharge {
                            deadline: now + self.settings.discharge_time,
                        };
                    }
                }
            }
            TransitionStage::Discharge { deadline } => {
                let safe = !readings.contactors_closed
                    && readings.output_voltage < self.settings.safe_voltage;
                if safe {
                    self.transition = None;
                    self.notice(Level::Info, false, "standby reached".into());
                } else if now >= deadline {
                    self.transition = None;
                    if readings.contactors_closed {
                        self.raise(
                            Fault::ContactorWelded(
                                "the contactors stay closed after opening".into(),
                            ),
                            readings,
                            now,
                        );
                    } else {
                        self.raise(
                            Fault::Discharge(format!(
                                "the output stays at {:.0} V after switching off",
                                readings.output_voltage.value()
                            )),
                            readings,
                            now,
                        );
                    }
                }
            }
        }
    }
}
