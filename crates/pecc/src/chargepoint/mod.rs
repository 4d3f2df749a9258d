//! The state machine of one charge point (fact sheet section 14.2), pure: requests, infos,
//! connection changes and power-stage readings in; power commands, replies and notices out.
//!
//! ```text
//!             contactorsStatus: closed                 targetValues(preCharge)
//!   STANDBY ───────────────────────────▶ CABLE CHECK ──────────────────────────▶ PRE-CHARGE
//!      ▲      (supervision must allow)   waiting → ramp to the test voltage at     │
//!      │                                 ≤ 2 A → measure insulation → discharge    │ targetValues(charge)
//!      │                                 → isolationStatus valid/warning/fault     ▼
//!      │   reset · open while closed · SECC gone or silent 5 s · fault       CHARGE ⇄ targetValues
//!      └──────────────────────────────── (any state) ◀──────────────── POST-CHARGE ◀─┘ (postCharge)
//! ```
//!
//! Entering standby switches the output off at once, opens the contactors once the current has
//! fallen (or after a short bound), and waits for the output to discharge below 60 V. While that
//! transition runs, and while a fault lasts, the charge point reports `inoperative` and answers
//! every request with `error/inoperative` (section 12.2). A standby trigger with nothing
//! energized is immediate.
//!
//! Requests: a target voltage above `limitVoltageMax` is a `value` error and changes nothing;
//! current beyond the limits is derated, never refused; requests at an unsuitable moment
//! (target values with the contactors open, a repeated contactor command, a cable check outside
//! the cable-check phase) get the empty response and change nothing (section 20.2's
//! recommendation); after an insulation fault, target values are refused with `internal` until
//! a reset. `evConnectionState` and `chargingSession` are recorded for diagnostics and never
//! drive a decision.

use crate::datamodel::GunParameters;
use crate::power::{Demand, PowerCommand, Readings};
use hal::{Amps, Ohms, Volts, Watts};
use proto_pepws::schema::LIMIT;
use proto_pepws::{
    ChargingSession, ChargingState, ContactorsStatus, ErrorCategory, EvConnection, Info,
    IsolationStatus, OperationalStatus, Request, Response, Status, TargetValues,
};
use serde::Serialize;
use std::time::{Duration, Instant};

mod cable_check;
mod energy;
mod standby;

pub use cable_check::CableStage;
pub use energy::EnergyCounter;
use standby::Transition;
pub use standby::{Fault, StandbyReason};

/// Settings of the charge-point machine (IEC 61851-23 values by default).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Current limit while testing insulation.
    pub test_current: Amps,
    /// How close the output must come to the test voltage.
    pub test_voltage_tolerance: Volts,
    /// Touch-safe voltage: standby and the end of a cable check need the output below it.
    pub safe_voltage: Volts,
    /// Insulation resistance below which the verdict is `fault`.
    pub isolation_fault: Ohms,
    /// Insulation resistance per test volt below which the verdict is `warning`.
    pub isolation_warning_ohms_per_volt: f64,
    /// Insulation samples taken per cable check.
    pub isolation_samples: u32,
    /// Time between samples.
    pub sample_interval: Duration,
    /// The whole cable check's bound (`PE_CABLE_CHECK_TIME`).
    pub cable_check_time: Duration,
    /// Bound for reaching the test voltage (a short circuit never gets there).
    pub test_ramp_time: Duration,
    /// Pre-charge bound (`PE_PRE_CHARGE_TIME`); exceeding it is reported, not enforced.
    pub precharge_time: Duration,
    /// How close the outlet must come to the pre-charge target.
    pub precharge_tolerance: Volts,
    /// Current below which the contactors may open.
    pub open_current: Amps,
    /// The longest wait for the current to fall before the contactors open anyway.
    pub open_delay: Duration,
    /// The longest wait for the output to fall below the safe voltage.
    pub discharge_time: Duration,
    /// How long contactor feedback may disagree with the command.
    pub contactor_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            test_current: Amps(2.0),
            test_voltage_tolerance: Volts(10.0),
            safe_voltage: Volts(60.0),
            isolation_fault: Ohms(100_000.0),
            isolation_warning_ohms_per_volt: 500.0,
            isolation_samples: 3,
            sample_interval: Duration::from_millis(200),
            cable_check_time: proto_pepws::connection::CABLE_CHECK_TIME,
            test_ramp_time: Duration::from_secs(10),
            precharge_time: proto_pepws::connection::PRE_CHARGE_TIME,
            precharge_tolerance: Volts(20.0),
            open_current: Amps(1.0),
            open_delay: Duration::from_millis(300),
            discharge_time: Duration::from_secs(3),
            contactor_timeout: Duration::from_millis(500),
        }
    }
}

/// Where the charging procedure is.
#[derive(Debug, Clone, PartialEq)]
pub enum Phase {
    /// Contactors open, output off.
    Standby,
    /// Contactors closed; the insulation test runs or waits.
    CableCheck(CableStage),
    /// Matching the EV's battery voltage.
    PreCharge {
        /// The voltage to reach.
        target: Volts,
        /// When `PE_PRE_CHARGE_TIME` runs out.
        deadline: Instant,
        /// Whether running out was already reported.
        late_reported: bool,
    },
    /// Energy transfer.
    Charge,
    /// The EV has finished; contactors stay closed until `reset` or `open`.
    PostCharge,
}

/// How an answer to a request looks.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// The response.
    Response(Response),
    /// An error reply.
    Error(ErrorCategory, String),
}

/// How loud a notice is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Normal operation.
    Info,
    /// Something unusual, handled.
    Warn,
    /// A fault.
    Error,
}

/// Something worth telling: logged always, and sent to the SECC as `info/event` when `to_secc`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// Severity.
    pub level: Level,
    /// What happened, as a sentence.
    pub message: String,
    /// Whether the SECC gets it as a vendor-specific event.
    pub to_secc: bool,
}

/// A charge point's state for diagnostics.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct View {
    /// Gun number.
    pub gun: u32,
    /// Whether an SECC is connected.
    pub connected: bool,
    /// `standby`, `cableCheck`, `preCharge`, `charge` or `postCharge`.
    pub phase: &'static str,
    /// The cable-check step, during the cable-check phase.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cable_check: Option<&'static str>,
    /// Why the charge point is in a transition to standby, if it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transition: Option<StandbyReason>,
    /// The fault keeping it inoperative, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<Fault>,
    /// The status the SECC sees.
    pub status: Status,
    /// What the output is asked to drive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub demand: Option<Demand>,
    /// The EV connection state the SECC reported (information only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ev_connection: Option<EvConnection>,
    /// The EV session values the SECC reported (information only).
    pub charging_session: ChargingSession,
    /// Power modules feeding the gun.
    pub modules: usize,
    /// Energy delivered through the outlet since the controller started, Wh (measured outlet
    /// voltage × current, integrated by the control loop).
    pub energy_wh: f64,
    /// Energy delivered since the current (or last) charging procedure began, Wh.
    pub session_energy_wh: f64,
}

/// One charge point.
#[derive(Debug)]
pub struct ChargePoint {
    gun: u32,
    settings: Settings,
    params: GunParameters,
    phase: Phase,
    isolation: IsolationStatus,
    transition: Option<Transition>,
    fault: Option<Fault>,
    demand: Option<Demand>,
    last_target: Option<TargetValues>,
    contactors: bool,
    mismatch_since: Option<Instant>,
    session: ChargingSession,
    ev: Option<EvConnection>,
    connected: bool,
    energy: EnergyCounter,
    commands: Vec<PowerCommand>,
    notices: Vec<Notice>,
}

impl ChargePoint {
    /// Charge point `gun` with `params`, in standby.
    pub fn new(gun: u32, params: GunParameters, settings: Settings) -> Self {
        Self {
            gun,
            settings,
            params,
            phase: Phase::Standby,
            isolation: IsolationStatus::Invalid,
            transition: None,
            fault: None,
            demand: None,
            last_target: None,
            contactors: false,
            mismatch_since: None,
            session: ChargingSession::default(),
            ev: None,
            connected: false,
            energy: EnergyCounter::default(),
            commands: Vec::new(),
            notices: Vec::new(),
        }
    }

    /// The power commands produced since the last call, in order.
    pub fn take_commands(&mut self) -> Vec<PowerCommand> {
        std::mem::take(&mut self.commands)
    }

    /// The notices produced since the last call, in order.
    pub fn take_notices(&mut self) -> Vec<Notice> {
        std::mem::take(&mut self.notices)
    }

    /// The phase.
    pub fn phase(&self) -> &Phase {
        &self.phase
    }

    /// The parameters in force.
    pub fn parameters(&self) -> &GunParameters {
        &self.params
    }

    /// Whether a transition to standby is still running.
    pub fn settling(&self) -> bool {
        self.transition.is_some()
    }

    /// Whether the PE can serve requests now.
    pub fn operational(&self) -> OperationalStatus {
        if self.transition.is_some() || self.fault.is_some() {
            OperationalStatus::Inoperative
        } else {
            OperationalStatus::Operative
        }
    }

    fn notice(&mut self, level: Level, to_secc: bool, message: String) {
        self.notices.push(Notice {
            level,
            message,
            to_secc,
        });
    }

    fn command(&mut self, command: PowerCommand) {
        if let PowerCommand::Output(demand) = command {
            self.demand = demand;
        }
        if let PowerCommand::Contactors(closed) = command {
            self.contactors = closed;
            self.mismatch_since = None;
        }
        self.commands.push(command);
    }

    /// A new SECC connection: whatever the previous one left running stops.
    pub fn handle_connected(&mut self, readings: &Readings, now: Instant) {
        if self.connected || self.phase != Phase::Standby || self.contactors {
            self.go_standby(StandbyReason::NewConnection, readings, now);
        }
        self.connected = true;
        self.session = ChargingSession::default();
        self.ev = None;
    }

    /// The SECC's connection ended (`Disconnected`) or it went silent (`Unresponsive`).
    pub fn handle_disconnected(
        &mut self,
        reason: StandbyReason,
        readings: &Readings,
        now: Instant,
    ) {
        self.connected = false;
        self.session = ChargingSession::default();
        self.ev = None;
        self.go_standby(reason, readings, now);
    }

    /// Takes in an info of the SECC (information only).
    pub fn handle_info(&mut self, info: &Info) {
        match info {
            Info::EvConnectionState(state) => {
                self.notice(
                    Level::Info,
                    false,
                    format!("EV connection state {}", state.ev_connection_state),
                );
                self.ev = Some(state.clone());
            }
            Info::ChargingSession(update) => self.session.merge(update),
            Info::Status(_) | Info::Event(_) => {}
        }
    }

    /// New parameters from the data model, in force at once: a running output is re-derated,
    /// and switched off if its voltage is now above the limit.
    pub fn set_parameters(&mut self, params: GunParameters) {
        self.params = params;
        if let Some(target) = self.last_target
            && self.demand.is_some()
        {
            if target.target_voltage > self.params.limit_voltage_max.value() {
                self.notice(
                    Level::Warn,
                    true,
                    format!(
                        "limitVoltageMax lowered to {} below the target {} V: output off",
                        self.params.limit_voltage_max, target.target_voltage
                    ),
                );
                self.command(PowerCommand::Output(None));
            } else {
                self.drive(&target);
            }
        }
    }

    /// Answers one request of the SECC.
    pub fn handle_request(
        &mut self,
        request: &Request,
        readings: &Readings,
        now: Instant,
    ) -> Reply {
        if let Some(why) = self.inoperative_reason() {
            return Reply::Error(ErrorCategory::Inoperative, why);
        }
        match request {
            Request::Configuration => {
                Reply::Response(Response::Configuration(self.params.configuration()))
            }
            Request::Reset => {
                self.session = ChargingSession::default();
                self.go_standby(StandbyReason::Reset, readings, now);
                Reply::Response(Response::Reset)
            }
            Request::ContactorsStatus(command) => {
                self.contactors_request(command.contactors_status, readings, now)
            }
            Request::CableCheck(check) => self.cable_check_request(check.voltage, now),
            Request::TargetValues(target) => self.target_values(target, now),
            Request::GetInput(_) | Request::SetOutput(_) | Request::StopCharging => Reply::Error(
                ErrorCategory::Generic,
                format!("the PECC does not serve {} requests", request.kind()),
            ),
        }
    }

    fn inoperative_reason(&self) -> Option<String> {
        if let Some(fault) = &self.fault {
            return Some(format!("fault: {}", fault.text()));
        }
        self.transition
            .as_ref()
            .map(|t| format!("transition to standby ({:?})", t.reason))
    }

    fn contactors_request(
        &mut self,
        wanted: ContactorsStatus,
        readings: &Readings,
        now: Instant,
    ) -> Reply {
        match wanted {
            ContactorsStatus::Closed if self.contactors => {
                Reply::Response(Response::ContactorsStatus)
            }
            ContactorsStatus::Closed if !readings.supervision => Reply::Error(
                ErrorCategory::Internal,
                "CP/PP supervision does not allow closing the contactors".into(),
            ),
            ContactorsStatus::Closed => {
                self.command(PowerCommand::Contactors(true));
                self.energy.start_session();
                self.phase = Phase::CableCheck(CableStage::Waiting);
                self.isolation = IsolationStatus::Invalid;
                self.notice(Level::Info, false, "contactors closing".into());
                Reply::Response(Response::ContactorsStatus)
            }
            ContactorsStatus::Open if self.contactors || readings.contactors_closed => {
                self.go_standby(StandbyReason::OpenRequest, readings, now);
                Reply::Response(Response::ContactorsStatus)
            }
            ContactorsStatus::Open => Reply::Response(Response::ContactorsStatus),
        }
    }

    fn target_values(&mut self, target: &TargetValues, now: Instant) -> Reply {
        let max = self.params.limit_voltage_max.value();
        if target.target_voltage > max {
            return Reply::Error(
                ErrorCategory::Value,
                format!(
                    "targetVoltage {} V above limitVoltageMax {max} V",
                    target.target_voltage
                ),
            );
        }
        if !self.contactors {
            return self.ignored(target, "the contactors are open");
        }
        if self.isolation == IsolationStatus::Fault {
            return Reply::Error(
                ErrorCategory::Internal,
                "insulation fault found by the cable check; reset required".into(),
            );
        }
        let passed = self.isolation.passed();
        let cable_done = matches!(self.phase, Phase::CableCheck(CableStage::Done));
        let in_precharge = matches!(self.phase, Phase::PreCharge { .. });
        let ready = passed && (cable_done || in_precharge);
        match target.charging_state {
            ChargingState::Standby => {
                self.command(PowerCommand::Output(None));
            }
            ChargingState::PreCharge if ready => {
                self.phase = Phase::PreCharge {
                    target: Volts(target.target_voltage),
                    deadline: now + self.settings.precharge_time,
                    late_reported: false,
                };
                self.drive(target);
            }
            ChargingState::Charge if ready || self.phase == Phase::Charge => {
                if self.phase != Phase::Charge {
                    self.notice(Level::Info, false, "charging".into());
                }
                self.phase = Phase::Charge;
                self.drive(target);
            }
            ChargingState::PostCharge => {
                if matches!(self.phase, Phase::CableCheck(_)) {
                    self.command(PowerCommand::Isolation(false));
                }
                if self.phase != Phase::PostCharge {
                    self.notice(Level::Info, false, "post-charge".into());
                }
                self.phase = Phase::PostCharge;
                self.drive(target);
            }
            _ => {
                let why = match &self.phase {
                    Phase::CableCheck(_) if !passed => "the cable check has not passed",
                    Phase::CableCheck(_) => "the cable check is still running",
                    Phase::PostCharge => "the session is in post-charge",
                    _ => "it does not fit the phase",
                };
                return self.ignored(target, why);
            }
        }
        Reply::Response(Response::TargetValues)
    }

    fn ignored(&mut self, target: &TargetValues, why: &str) -> Reply {
        self.notice(
            Level::Warn,
            false,
            format!("targetValues({}) ignored: {why}", target.charging_state),
        );
        Reply::Response(Response::TargetValues)
    }

    /// Drives `target` within the limits: below the minimum voltage the output is off; the
    /// current is derated to `limitCurrentMax` and `limitPowerMax` at the target voltage.
    fn drive(&mut self, target: &TargetValues) {
        self.last_target = Some(*target);
        let voltage = target.target_voltage;
        if voltage <= 0.0 || voltage < self.params.limit_voltage_min.value() {
            self.command(PowerCommand::Output(None));
            return;
        }
        let by_power = self.params.limit_power_max.at(Volts(voltage));
        let current = Amps(target.target_current)
            .min(self.params.limit_current_max)
            .min(by_power)
            .max(Amps::ZERO);
        let demand = Some(Demand {
            voltage: Volts(voltage),
            current,
        });
        if demand != self.demand {
            self.command(PowerCommand::Output(demand));
        }
    }

    /// Advances the machine with the power stage's latest readings, and adds the outlet's power
    /// since the previous tick to the energy registers.
    pub fn tick(&mut self, readings: &Readings, now: Instant) {
        self.energy.sample(readings, now);
        self.check_fault(readings, now);
        self.check_contactors(readings, now);
        self.advance_transition(readings, now);
        self.advance_cable_check(readings, now);
        if let Phase::PreCharge {
            target,
            deadline,
            late_reported: false,
        } = self.phase
            && now >= deadline
        {
            if (readings.outlet_voltage - target).abs() > self.settings.precharge_tolerance {
                self.notice(
                    Level::Warn,
                    true,
                    format!(
                        "pre-charge to {} V not reached within {} ms (outlet {:.1} V)",
                        target.value(),
                        self.settings.precharge_time.as_millis(),
                        readings.outlet_voltage.value()
                    ),
                );
            }
            self.phase = Phase::PreCharge {
                target,
                deadline,
                late_reported: true,
            };
        }
    }

    /// The `info/status` payload for `readings`.
    pub fn status(&self, readings: &Readings) -> Status {
        Status {
            measured_voltage: wire(readings.outlet_voltage.value()),
            measured_current: wire(readings.outlet_current.value()),
            driven_voltage: wire(readings.driven_voltage.value()),
            driven_current: wire(readings.driven_current.value()),
            temperature: if readings.temperature.is_finite() {
                readings.temperature
            } else {
                0.0
            },
            contactors_status: if readings.contactors_closed {
                ContactorsStatus::Closed
            } else {
                ContactorsStatus::Open
            },
            isolation_status: self.isolation,
            operational_status: self.operational(),
        }
    }

    /// The diagnostics view for `readings`.
    pub fn view(&self, readings: &Readings) -> View {
        View {
            gun: self.gun,
            connected: self.connected,
            phase: match self.phase {
                Phase::Standby => "standby",
                Phase::CableCheck(_) => "cableCheck",
                Phase::PreCharge { .. } => "preCharge",
                Phase::Charge => "charge",
                Phase::PostCharge => "postCharge",
            },
            cable_check: match &self.phase {
                Phase::CableCheck(stage) => Some(match stage {
                    CableStage::Waiting => "waiting",
                    CableStage::Ramp { .. } => "ramp",
                    CableStage::Measure { .. } => "measure",
                    CableStage::Discharge { .. } => "discharge",
                    CableStage::Done => "done",
                }),
                _ => None,
            },
            transition: self.transition.as_ref().map(|t| t.reason.clone()),
            fault: self.fault.clone(),
            status: self.status(readings),
            demand: self.demand,
            ev_connection: self.ev.clone(),
            charging_session: self.session,
            modules: readings.modules,
            energy_wh: self.energy.total().value(),
            session_energy_wh: self.energy.session().value(),
        }
    }

    /// The delivered-energy registers.
    pub fn energy(&self) -> &EnergyCounter {
        &self.energy
    }

    /// The power the gun asks for now.
    pub fn demanded_power(&self) -> Watts {
        self.demand.map_or(Watts::ZERO, |d| d.voltage * d.current)
    }
}

/// A reading as the status schema takes it: finite and within 0 … 2³¹ − 1.
fn wire(x: f64) -> f64 {
    if x.is_finite() {
        x.clamp(0.0, LIMIT)
    } else {
        0.0
    }
}
