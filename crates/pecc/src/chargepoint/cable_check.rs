//! The cable check (insulation test) of a charge point, IEC 61851-23 style: drive the test
//! voltage at the test current, take insulation samples from the power stage's measurement,
//! discharge below the safe voltage, then report `valid`, `warning` or `fault` in
//! `isolationStatus`, all within `PE_CABLE_CHECK_TIME`.

use super::{ChargePoint, Fault, Level, Phase, Reply};
use crate::power::{Demand, PowerCommand, Readings};
use hal::{Ohms, Volts};
use proto_pepws::{ErrorCategory, IsolationStatus, Response};
use std::time::Instant;

/// The steps of the insulation test.
#[derive(Debug, Clone, PartialEq)]
pub enum CableStage {
    /// Contactors closed, no `cableCheck` request yet.
    Waiting,
    /// Driving the test voltage at the test current.
    Ramp {
        /// The test voltage.
        test: Volts,
        /// End of `PE_CABLE_CHECK_TIME`.
        deadline: Instant,
        /// End of the ramp bound.
        ramp_deadline: Instant,
    },
    /// Taking insulation samples.
    Measure {
        /// The test voltage.
        test: Volts,
        /// End of `PE_CABLE_CHECK_TIME`.
        deadline: Instant,
        /// Samples taken.
        taken: u32,
        /// Lowest resistance seen.
        lowest: Option<Ohms>,
        /// When the next sample may be taken.
        next_sample: Instant,
    },
    /// Output off, waiting for it to fall below the safe voltage before reporting.
    Discharge {
        /// The result to report.
        verdict: IsolationStatus,
        /// What was measured, for the notice.
        detail: String,
        /// When waiting becomes a fault.
        deadline: Instant,
    },
    /// The result is in `isolationStatus`.
    Done,
}

impl ChargePoint {
    pub(super) fn cable_check_request(&mut self, voltage: f64, now: Instant) -> Reply {
        let max = self.params.limit_voltage_max;
        if voltage > max.value() {
            return Reply::Error(
                ErrorCategory::Value,
                format!(
                    "cable-check voltage {voltage} V above limitVoltageMax {}",
                    max.value()
                ),
            );
        }
        if !matches!(self.phase, Phase::CableCheck(_)) || !self.contactors {
            self.notice(
                Level::Warn,
                false,
                "cableCheck outside the cable-check phase ignored".into(),
            );
            return Reply::Response(Response::CableCheck);
        }
        let test = self.test_voltage(voltage);
        self.isolation = IsolationStatus::Invalid;
        self.phase = Phase::CableCheck(CableStage::Ramp {
            test,
            deadline: now + self.settings.cable_check_time,
            ramp_deadline: now + self.settings.test_ramp_time,
        });
        self.command(PowerCommand::Output(Some(Demand {
            voltage: test,
            current: self.settings.test_current,
        })));
        self.notice(
            Level::Info,
            false,
            format!("cable check at {} V (suggested {voltage} V)", test.value()),
        );
        Reply::Response(Response::CableCheck)
    }

    /// IEC 61851-23 test voltage from the EV's maximum (the request's suggestion): up to 500 V
    /// add 50 V (at most 500 V), above that 110 %; never above the PE's limit.
    pub(super) fn test_voltage(&self, suggested: f64) -> Volts {
        let ev_max = if suggested > 0.0 { suggested } else { 450.0 };
        let test = if ev_max <= 500.0 {
            (ev_max + 50.0).min(500.0)
        } else {
            ev_max * 1.1
        };
        Volts(test.min(self.params.limit_voltage_max.value()))
    }

    pub(super) fn advance_cable_check(&mut self, readings: &Readings, now: Instant) {
        let Phase::CableCheck(stage) = &self.phase else {
            return;
        };
        let next = match stage.clone() {
            CableStage::Waiting | CableStage::Done => return,
            CableStage::Ramp {
                test,
                deadline,
                ramp_deadline,
            } => {
                let reached = readings.contactors_closed
                    && (readings.outlet_voltage - test).abs()
                        <= self.settings.test_voltage_tolerance;
                if reached {
                    self.command(PowerCommand::Isolation(true));
                    CableStage::Measure {
                        test,
                        deadline,
                        taken: 0,
                        lowest: None,
                        next_sample: now,
                    }
                } else if now >= ramp_deadline.min(deadline) {
                    self.end_measurement(
                        IsolationStatus::Fault,
                        format!(
                            "test voltage {} V not reached at {} A (outlet {:.0} V): short circuit?",
                            test.value(),
                            self.settings.test_current.value(),
                            readings.outlet_voltage.value()
                        ),
                        now,
                    )
                } else {
                    return;
                }
            }
            CableStage::Measure {
                test,
                deadline,
                taken,
                lowest,
                next_sample,
            } => {
                if now >= deadline {
                    self.end_measurement(
                        IsolationStatus::Fault,
                        "no insulation reading within the cable-check time".into(),
                        now,
                    )
                } else if let Some(sample) = readings.isolation.filter(|_| now >= next_sample) {
                    let lowest = lowest.map_or(sample, |l| l.min(sample));
                    let taken = taken + 1;
                    if taken < self.settings.isolation_samples {
                        CableStage::Measure {
                            test,
                            deadline,
                            taken,
                            lowest: Some(lowest),
                            next_sample: now + self.settings.sample_interval,
                        }
                    } else {
                        let warning =
                            Ohms(self.settings.isolation_warning_ohms_per_volt * test.value());
                        let verdict = if lowest < self.settings.isolation_fault {
                            IsolationStatus::Fault
                        } else if lowest < warning {
                            IsolationStatus::Warning
                        } else {
                            IsolationStatus::Valid
                        };
                        self.end_measurement(
                            verdict,
                            format!("{:.0} kΩ at {} V", lowest.value() / 1000.0, test.value()),
                            now,
                        )
                    }
                } else {
                    return;
                }
            }
            CableStage::Discharge {
                verdict,
                detail,
                deadline,
            } => {
                let safe = readings.output_voltage < self.settings.safe_voltage;
                if !safe && now < deadline {
                    return;
                }
                self.isolation = verdict;
                let level = match verdict {
                    IsolationStatus::Valid => Level::Info,
                    IsolationStatus::Warning => Level::Warn,
                    _ => Level::Error,
                };
                self.notice(level, true, format!("cable check {verdict}: {detail}"));
                if !safe {
                    self.raise(
                        Fault::Discharge(format!(
                            "the output stays at {:.0} V after the cable check",
                            readings.output_voltage.value()
                        )),
                        readings,
                        now,
                    );
                    return;
                }
                CableStage::Done
            }
        };
        self.phase = Phase::CableCheck(next);
    }

    pub(super) fn end_measurement(
        &mut self,
        verdict: IsolationStatus,
        detail: String,
        now: Instant,
    ) -> CableStage {
        self.command(PowerCommand::Isolation(false));
        self.command(PowerCommand::Output(None));
        CableStage::Discharge {
            verdict,
            detail,
            deadline: now + self.settings.discharge_time,
        }
    }
}
