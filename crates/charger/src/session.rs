//! The per-gun state machine: events in, hardware actions out.

use crate::meter::{SessionMeter, Summary, round};
use hal::{Amps, CpState, Fault, MeterReading, Ohms, SupplyStage, Volts, Watts};
use serde::Serialize;
use std::time::{Duration, Instant};

/// What an operator or the vehicle asks of a session (seed 001 `/start_session`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionParams {
    /// DC target voltage.
    pub target_voltage: Volts,
    /// Current requested once charging.
    pub initial_current: Amps,
    /// How long to charge after precharge.
    #[serde(rename = "duration_s", serialize_with = "seconds")]
    pub duration: Duration,
    /// The vehicle's maximum voltage, which sets the cable-check test voltage; the target voltage
    /// when unknown.
    #[serde(skip)]
    pub ev_max_voltage: Option<Volts>,
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl SessionParams {
    /// Seed 001's defaults: 400 V, 50 A, 10 s.
    pub fn seed_defaults() -> Self {
        Self {
            target_voltage: Volts(400.0),
            initial_current: Amps(50.0),
            duration: Duration::from_secs(10),
            ev_max_voltage: None,
        }
    }
}

/// A gun's limits and timings.
#[derive(Debug, Clone, PartialEq)]
pub struct GunConfig {
    /// Highest output voltage (the gun's and the supply's, whichever is lower).
    pub max_voltage: Volts,
    /// Highest output current.
    pub max_current: Amps,
    /// Highest output power.
    pub max_power: Watts,
    /// Time for the vehicle handshake (seed: 2 s).
    pub handshake: Duration,
    /// Current limit while testing the cable and precharging (IEC 61851-23: 2 A).
    pub test_current: Amps,
    /// Time allowed to reach the cable-check test voltage and finish the check.
    pub cable_check_timeout: Duration,
    /// Insulation samples taken after the monitor's self-test.
    pub isolation_samples: u32,
    /// Insulation resistance below which the cable check fails (IEC 61851-23: 100 kΩ).
    pub isolation_fault: Ohms,
    /// Insulation resistance per volt of test voltage below which the check warns (500 Ω/V).
    pub isolation_warning_ohms_per_volt: f64,
    /// Voltage matching tolerance for the test voltage and precharge.
    pub voltage_tolerance: Volts,
    /// Time allowed for precharge (seed: 10 s).
    pub precharge_timeout: Duration,
    /// Current ramp while charging, A/s.
    pub ramp_up_rate: f64,
    /// Current ramp when stopping, A/s.
    pub ramp_down_rate: f64,
    /// Below this current the contactor may open.
    pub open_current: Amps,
    /// Longest ramp-down before the contactor is opened regardless.
    pub ramp_down_timeout: Duration,
    /// The output counts as safe below this voltage (60 V).
    pub safe_voltage: Volts,
    /// Time allowed to discharge below the safe voltage.
    pub discharge_timeout: Duration,
    /// The power electronics run the cable check themselves (a PEP-WS power cabinet): the
    /// contactor closes first, the verdict comes through the isolation monitor's self-test, and
    /// no insulation samples are taken here.
    pub delegated_cable_check: bool,
    /// Time allowed for a delegated cable check (a cabinet may take up to 37 s).
    pub delegated_cable_check_timeout: Duration,
}

impl GunConfig {
    /// Defaults for a gun with these limits.
    pub fn new(max_voltage: Volts, max_current: Amps, max_power: Watts) -> Self {
        Self {
            max_voltage,
            max_current,
            max_power,
            handshake: Duration::from_secs(2),
            test_current: Amps(2.0),
            cable_check_timeout: Duration::from_secs(10),
            isolation_samples: 3,
            isolation_fault: Ohms(100_000.0),
            isolation_warning_ohms_per_volt: 500.0,
            voltage_tolerance: Volts(10.0),
            precharge_timeout: Duration::from_secs(10),
            ramp_up_rate: 25.0,
            ramp_down_rate: 100.0,
            open_current: Amps(1.0),
            ramp_down_timeout: Duration::from_secs(2),
            safe_voltage: Volts(60.0),
            discharge_timeout: Duration::from_secs(5),
            delegated_cable_check: false,
            delegated_cable_check_timeout: Duration::from_secs(40),
        }
    }
}

/// What the hardware showed at a tick.
#[derive(Debug, Clone, PartialEq)]
pub struct Readings {
    /// Supply-side voltage and current (before the contactor).
    pub supply_voltage: Volts,
    /// Supply-side current.
    pub supply_current: Amps,
    /// The gun meter (after the contactor); `None` while it does not deliver.
    pub meter: Option<MeterReading>,
    /// Contactor feedback.
    pub contactor_closed: bool,
    /// Control-pilot state.
    pub cp_state: CpState,
    /// Insulation resistance, when measuring.
    pub isolation: Option<Ohms>,
    /// Result of the last isolation-monitor self-test.
    pub self_test_passed: Option<bool>,
    /// Faults the hardware reports.
    pub hardware_faults: Vec<Fault>,
}

/// An input to a gun.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Start a session.
    Start(SessionParams),
    /// Stop the session (it ends ABORTED with `STOP_REQUESTED` or the phase's stop reason).
    Stop,
    /// An operator injects a fault.
    InjectFault(Fault),
    /// An operator clears an injected fault.
    ClearFault,
    /// Time passed; here is what the hardware shows.
    Tick(Readings),
    /// The power the gun may deliver from now on, set from outside the session (smart charging,
    /// site limits); `None` lifts it. It outlives sessions. Zero suspends charging (the EVSE
    /// offers no energy) without ending the session.
    Limit(Option<Watts>),
    /// The vehicle pauses (`true`: it draws no current although energy is offered) or resumes.
    EvPause(bool),
}

/// A command for the gun's hardware.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Pilot PWM duty, percent.
    SetPwm(f64),
    /// Force the pilot state (simulation; ignored by real backends).
    SetCpState(CpState),
    /// Switch the power supply output on or off.
    EnableSupply(bool),
    /// Supply voltage setpoint.
    SetVoltage(Volts),
    /// Supply current limit.
    SetCurrentLimit(Amps),
    /// Close the output contactor.
    CloseContactor,
    /// Open the output contactor.
    OpenContactor,
    /// Start the isolation monitor's self-test.
    StartIsolationSelfTest,
    /// Lock or unlock the connector.
    Lock(bool),
    /// Tell the power electronics the session's phase (a remote cabinet needs it).
    SetStage(SupplyStage),
}

/// Why an event was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// A session is already active on this gun.
    #[error("Session already in progress")]
    SessionActive,
    /// The gun has an uncleared fault.
    #[error("gun unavailable: fault {0}")]
    Faulted(String),
    /// The parameters are out of range.
    #[error("{0}")]
    InvalidParams(String),
    /// A hardware fault clears only when the hardware reports healthy.
    #[error("fault {0} is reported by the hardware and clears when the hardware is healthy")]
    HardwareFault(String),
}

/// The session phase `/status.phase` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Phase {
    /// No session yet.
    Idle,
    /// Vehicle handshake.
    Handshake,
    /// Cable check and precharge.
    Precharge,
    /// Energy flows.
    Charging,
    /// The last session ended normally.
    Complete,
    /// The last session was stopped or faulted.
    Aborted,
}

impl Phase {
    /// The API spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Phase::Idle => "IDLE",
            Phase::Handshake => "HANDSHAKE",
            Phase::Precharge => "PRECHARGE",
            Phase::Charging => "CHARGING",
            Phase::Complete => "COMPLETE",
            Phase::Aborted => "ABORTED",
        }
    }
}

/// The finer step within a phase (`/status.step`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Nothing running.
    Idle,
    /// Vehicle handshake.
    Handshake,
    /// Insulation test of the cable.
    CableCheck,
    /// Matching the vehicle's voltage.
    Precharge,
    /// Delivering current.
    Charging,
    /// Bringing the current to zero before opening the contactor.
    RampDown,
    /// Waiting for the output to fall below the safe voltage.
    Discharge,
}

/// Live metering of the running session (seed 001 `/meter`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MeterView {
    /// Energy so far, Wh.
    #[serde(rename = "energy_Wh")]
    pub energy_wh: f64,
    /// Time-weighted average voltage while charging.
    pub avg_voltage: f64,
    /// Time-weighted average current while charging.
    pub avg_current: f64,
    /// Seconds since the session started.
    pub session_time_s: f64,
}

/// The cable check's verdict (PEP-WS / ISO 15118 `isolationStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CableCheckVerdict {
    /// Insulation good.
    Valid,
    /// Insulation between the fault and warning thresholds.
    Warning,
    /// Insulation below the fault threshold.
    Fault,
}

/// A snapshot for `/status`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    /// Whether a session runs (including its ramp-down and discharge).
    pub session_active: bool,
    /// The phase.
    pub phase: Phase,
    /// The step within the phase.
    pub step: Step,
    /// The running or last session's error.
    pub error: Option<String>,
    /// Contactor feedback.
    pub contactor_closed: bool,
    /// Pilot state letter.
    pub cp_state: String,
    /// Gun voltage (0 while the contactor is open).
    pub voltage: f64,
    /// Gun current (0 while the contactor is open).
    pub current: f64,
    /// Energy of the running session, Wh.
    #[serde(rename = "energy_Wh")]
    pub energy_wh: f64,
    /// Seconds since the running session started.
    pub time_s: f64,
    /// The last finished session.
    pub last_session_summary: Option<Summary>,
    /// The running session's parameters.
    pub session_params: Option<SessionParams>,
    /// The uncleared fault that makes the gun unavailable.
    pub fault: Option<String>,
    /// The last cable check's verdict.
    pub cable_check: Option<CableCheckVerdict>,
    /// The external power limit, W (smart charging); absent when none applies.
    #[serde(rename = "power_limit_W", skip_serializing_if = "Option::is_none")]
    pub power_limit: Option<f64>,
    /// Whether the vehicle has paused charging.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub ev_paused: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum CableStage {
    /// The power electronics test the cable; waiting for their verdict.
    Delegated,
    /// The output is above the safe voltage from before; discharge first.
    WaitSafe,
    /// Driving the test voltage at the test current.
    Ramp,
    /// Isolation monitor self-test running.
    SelfTest,
    /// Taking insulation samples; the lowest so far.
    Samples { taken: u32, lowest: Option<Ohms> },
    /// Test voltage off; waiting for the safe voltage.
    Discharge,
}

#[derive(Debug, Clone, PartialEq)]
enum State {
    Idle,
    Handshake {
        until: Instant,
    },
    CableCheck {
        stage: CableStage,
        test_voltage: Volts,
        deadline: Instant,
    },
    Precharge {
        target: Volts,
        deadline: Instant,
    },
    Charging {
        until: Instant,
        setpoint: Amps,
    },
    RampDown {
        outcome: Outcome,
        setpoint: Amps,
        deadline: Instant,
    },
    Discharge {
        outcome: Outcome,
        deadline: Instant,
    },
}

#[derive(Debug, Clone, PartialEq)]
struct Outcome {
    phase: Phase,
    error: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
enum FaultSource {
    Injected,
    Hardware,
}

/// One gun.
#[derive(Debug, Clone)]
pub struct Gun {
    config: GunConfig,
    state: State,
    params: Option<SessionParams>,
    meter: Option<SessionMeter>,
    /// The phase shown while no session runs: IDLE, or how the last session ended.
    resting_phase: Phase,
    error: Option<String>,
    fault: Option<(Fault, FaultSource)>,
    summary: Option<Summary>,
    verdict: Option<CableCheckVerdict>,
    last_tick: Option<Instant>,
    limit: Option<Watts>,
    ev_paused: bool,
}

impl Gun {
    /// An idle gun.
    pub fn new(config: GunConfig) -> Self {
        Self {
            config,
            state: State::Idle,
            params: None,
            meter: None,
            resting_phase: Phase::Idle,
            error: None,
            fault: None,
            summary: None,
            verdict: None,
            last_tick: None,
            limit: None,
            ev_paused: false,
        }
    }

    /// The gun's configuration.
    pub fn config(&self) -> &GunConfig {
        &self.config
    }

    /// Whether a session runs.
    pub fn session_active(&self) -> bool {
        self.state != State::Idle
    }

    /// The phase.
    pub fn phase(&self) -> Phase {
        match &self.state {
            State::Idle => self.resting_phase,
            State::Handshake { .. } => Phase::Handshake,
            State::CableCheck { .. } | State::Precharge { .. } => Phase::Precharge,
            State::Charging { .. } => Phase::Charging,
            // Ramp-down and discharge belong to the phase the session ends in.
            State::RampDown { outcome, .. } | State::Discharge { outcome, .. } => outcome.phase,
        }
    }

    /// The step.
    pub fn step(&self) -> Step {
        match &self.state {
            State::Idle => Step::Idle,
            State::Handshake { .. } => Step::Handshake,
            State::CableCheck { .. } => Step::CableCheck,
            State::Precharge { .. } => Step::Precharge,
            State::Charging { .. } => Step::Charging,
            State::RampDown { .. } => Step::RampDown,
            State::Discharge { .. } => Step::Discharge,
        }
    }

    /// The last finished session's summary.
    pub fn last_summary(&self) -> Option<&Summary> {
        self.summary.as_ref()
    }

    /// The uncleared fault, if any.
    pub fn fault(&self) -> Option<&Fault> {
        self.fault.as_ref().map(|(f, _)| f)
    }

    /// Handles `event` at `now`; returns the hardware actions to apply, in order.
    pub fn handle(&mut self, event: Event, now: Instant) -> Result<Vec<Action>, Refusal> {
        match event {
            Event::Start(params) => self.start(params, now),
            Event::Stop => Ok(self.stop(now)),
            Event::InjectFault(fault) => Ok(self.raise(fault, FaultSource::Injected, now)),
            Event::ClearFault => self.clear_fault(),
            Event::Tick(readings) => Ok(self.tick(&readings, now)),
            Event::Limit(limit) => {
                let valid = limit.is_none_or(|w| w.value().is_finite() && w.value() >= 0.0);
                if !valid {
                    return Err(Refusal::InvalidParams("a power limit must be ≥ 0 W".into()));
                }
                self.limit = limit;
                Ok(Vec::new())
            }
            Event::EvPause(paused) => {
                self.ev_paused = paused;
                Ok(Vec::new())
            }
        }
    }

    /// The external power limit.
    pub fn limit(&self) -> Option<Watts> {
        self.limit
    }

    /// Whether the vehicle has paused.
    pub fn ev_paused(&self) -> bool {
        self.ev_paused
    }

    fn start(&mut self, params: SessionParams, now: Instant) -> Result<Vec<Action>, Refusal> {
        if self.session_active() {
            return Err(Refusal::SessionActive);
        }
        if let Some((fault, _)) = &self.fault {
            return Err(Refusal::Faulted(fault.to_string()));
        }
        let valid = |x: f64| x.is_finite() && x >= 0.0;
        if !valid(params.target_voltage.value()) || !valid(params.initial_current.value()) {
            return Err(Refusal::InvalidParams(
                "target_voltage and initial_current must be ≥ 0".into(),
            ));
        }
        if params.duration < Duration::from_secs(1) {
            return Err(Refusal::InvalidParams("duration_s must be ≥ 1".into()));
        }
        self.params = Some(params);
        self.meter = Some(SessionMeter::new(now));
        self.error = None;
        self.verdict = None;
        self.state = State::Handshake {
            until: now + self.config.handshake,
        };
        // 5 % duty tells the vehicle to talk digitally (DIN 70121 / ISO 15118).
        Ok(vec![Action::SetPwm(5.0), Action::Lock(true)])
    }

    fn stop(&mut self, now: Instant) -> Vec<Action> {
        let reason = match &self.state {
            State::Idle | State::RampDown { .. } | State::Discharge { .. } => return Vec::new(),
            State::Handshake { .. } => "STOPPED_DURING_HANDSHAKE",
            State::CableCheck { .. } => "STOPPED_DURING_CABLE_CHECK",
            State::Precharge { .. } => "PRECHARGE_FAILED",
            State::Charging { .. } => "STOP_REQUESTED",
        };
        self.end(Phase::Aborted, Some(reason.to_string()), now, false)
    }

    fn raise(&mut self, fault: Fault, source: FaultSource, now: Instant) -> Vec<Action> {
        let name = fault.to_string();
        if self.fault.is_none() {
            self.fault = Some((fault, source));
        }
        // Even without a session the seed records the error at once.
        self.error = Some(self.error.take().unwrap_or(name.clone()));
        match &self.state {
            // Nothing runs, but make sure nothing can: output off, contactor open.
            State::Idle => power_off(),
            // Already stopping: a fault skips the rest of the ramp.
            State::RampDown { outcome, .. } | State::Discharge { outcome, .. }
                if outcome.error.is_some() =>
            {
                let outcome = outcome.clone();
                self.state = State::Discharge {
                    outcome,
                    deadline: now + self.config.discharge_timeout,
                };
                power_off()
            }
            _ => self.end(Phase::Aborted, Some(name), now, true),
        }
    }

    fn clear_fault(&mut self) -> Result<Vec<Action>, Refusal> {
        match &self.fault {
            Some((fault, FaultSource::Hardware)) => Err(Refusal::HardwareFault(fault.to_string())),
            _ => {
                self.fault = None;
                if !self.session_active() {
                    self.error = None;
                }
                Ok(Vec::new())
            }
        }
    }

    /// Begins ending the session: an emergency opens the contactor at once, otherwise the
    /// current ramps down first when energy is flowing.
    fn end(
        &mut self,
        phase: Phase,
        error: Option<String>,
        now: Instant,
        emergency: bool,
    ) -> Vec<Action> {
        let outcome = Outcome { phase, error };
        if let (State::Charging { setpoint, .. }, false) = (&self.state, emergency) {
            let setpoint = *setpoint;
            self.state = State::RampDown {
                outcome,
                setpoint,
                deadline: now + self.config.ramp_down_timeout,
            };
            return Vec::new();
        }
        if let Some(meter) = &mut self.meter {
            meter.pause();
        }
        self.state = State::Discharge {
            outcome,
            deadline: now + self.config.discharge_timeout,
        };
        power_off()
    }

    fn tick(&mut self, r: &Readings, now: Instant) -> Vec<Action> {
        let dt = self
            .last_tick
            .map_or(0.0, |t| now.saturating_duration_since(t).as_secs_f64());
        self.last_tick = Some(now);

        // Hardware faults first: they stop everything, in any phase.
        if let Some(fault) = r.hardware_faults.first() {
            if self.fault.is_none() {
                return self.raise(fault.clone(), FaultSource::Hardware, now);
            }
        } else if matches!(self.fault, Some((_, FaultSource::Hardware))) {
            self.fault = None;
        }
        if let (Some(meter), Some(reading)) = (&mut self.meter, &r.meter) {
            meter.register(reading.energy);
        }
        let gun_v = gun_voltage(r);
        let gun_i = gun_current(r);

        match self.state.clone() {
            State::Idle => Vec::new(),
            State::Handshake { until } => {
                if now < until {
                    return Vec::new();
                }
                let test_voltage = self.test_voltage();
                if self.config.delegated_cable_check {
                    self.state = State::CableCheck {
                        stage: CableStage::Delegated,
                        test_voltage,
                        deadline: now + self.config.delegated_cable_check_timeout,
                    };
                    return vec![
                        Action::SetCpState(CpState::C),
                        Action::SetStage(SupplyStage::CableCheck),
                        Action::SetCurrentLimit(self.config.test_current),
                        Action::SetVoltage(test_voltage),
                        Action::CloseContactor,
                        Action::StartIsolationSelfTest,
                    ];
                }
                self.state = State::CableCheck {
                    stage: CableStage::WaitSafe,
                    test_voltage,
                    deadline: now + self.config.cable_check_timeout,
                };
                // In simulation the vehicle is now ready; real pilots report it themselves.
                vec![
                    Action::SetCpState(CpState::C),
                    Action::SetStage(SupplyStage::CableCheck),
                ]
            }
            State::CableCheck {
                stage,
                test_voltage,
                deadline,
            } => self.cable_check(stage, test_voltage, deadline, r, now),
            State::Precharge { target, deadline } => {
                if (r.supply_voltage - target).abs() <= self.config.voltage_tolerance {
                    let params = self
                        .params
                        .clone()
                        .unwrap_or_else(SessionParams::seed_defaults);
                    if let Some(meter) = &mut self.meter {
                        meter.sample(gun_v, gun_i, now);
                    }
                    self.state = State::Charging {
                        until: now + params.duration,
                        setpoint: Amps::ZERO,
                    };
                    return vec![
                        Action::SetStage(SupplyStage::Charge),
                        Action::SetCurrentLimit(Amps::ZERO),
                        Action::CloseContactor,
                    ];
                }
                if now >= deadline {
                    return self.end(Phase::Aborted, Some("PRECHARGE_FAILED".into()), now, false);
                }
                Vec::new()
            }
            State::Charging { until, setpoint } => {
                if let Some(meter) = &mut self.meter {
                    meter.sample(gun_v, gun_i, now);
                }
                if let Some(fault) = self.protection(gun_v, gun_i, setpoint) {
                    return self.raise(fault, FaultSource::Hardware, now);
                }
                if now >= until {
                    return self.end(Phase::Complete, None, now, false);
                }
                let target = self.allowed_current(gun_v);
                let next = if setpoint < target {
                    (setpoint + Amps(self.config.ramp_up_rate * dt)).min(target)
                } else {
                    target
                };
                self.state = State::Charging {
                    until,
                    setpoint: next,
                };
                if next == setpoint {
                    Vec::new()
                } else {
                    vec![Action::SetCurrentLimit(next)]
                }
            }
            State::RampDown {
                outcome,
                setpoint,
                deadline,
            } => {
                let next = (setpoint - Amps(self.config.ramp_down_rate * dt)).max(Amps::ZERO);
                if (next == Amps::ZERO && gun_i <= self.config.open_current) || now >= deadline {
                    if let Some(meter) = &mut self.meter {
                        meter.pause();
                    }
                    self.state = State::Discharge {
                        outcome,
                        deadline: now + self.config.discharge_timeout,
                    };
                    return power_off();
                }
                self.state = State::RampDown {
                    outcome,
                    setpoint: next,
                    deadline,
                };
                vec![Action::SetCurrentLimit(next)]
            }
            State::Discharge {
                mut outcome,
                deadline,
            } => {
                let safe = r.supply_voltage < self.config.safe_voltage && !r.contactor_closed;
                if !safe && now < deadline {
                    return Vec::new();
                }
                if !safe && outcome.error.is_none() {
                    outcome.error = Some("DISCHARGE_FAILED".into());
                    outcome.phase = Phase::Aborted;
                }
                self.finish(outcome, now)
            }
        }
    }

    fn cable_check(
        &mut self,
        stage: CableStage,
        test_voltage: Volts,
        deadline: Instant,
        r: &Readings,
        now: Instant,
    ) -> Vec<Action> {
        if now >= deadline {
            return self.end(
                Phase::Aborted,
                Some("CABLE_CHECK_FAILED".into()),
                now,
                false,
            );
        }
        let next = |stage| State::CableCheck {
            stage,
            test_voltage,
            deadline,
        };
        match stage {
            CableStage::Delegated => match r.self_test_passed {
                None => Vec::new(),
                Some(false) => {
                    self.verdict = Some(CableCheckVerdict::Fault);
                    self.raise(Fault::Isolation, FaultSource::Hardware, now)
                }
                Some(true) => {
                    self.verdict = Some(CableCheckVerdict::Valid);
                    let target = self.target_voltage();
                    self.state = State::Precharge {
                        target,
                        deadline: now + self.config.precharge_timeout,
                    };
                    vec![
                        Action::SetStage(SupplyStage::PreCharge),
                        Action::SetCurrentLimit(self.config.test_current),
                        Action::SetVoltage(target),
                        Action::EnableSupply(true),
                    ]
                }
            },
            CableStage::WaitSafe => {
                if r.supply_voltage >= self.config.safe_voltage {
                    // Left charged by something earlier: discharge before testing.
                    return vec![Action::EnableSupply(false)];
                }
                self.state = next(CableStage::Ramp);
                vec![
                    Action::SetCurrentLimit(self.config.test_current),
                    Action::SetVoltage(test_voltage),
                    Action::EnableSupply(true),
                ]
            }
            CableStage::Ramp => {
                if (r.supply_voltage - test_voltage).abs() > self.config.voltage_tolerance {
                    return Vec::new();
                }
                self.state = next(CableStage::SelfTest);
                vec![Action::StartIsolationSelfTest]
            }
            CableStage::SelfTest => match r.self_test_passed {
                None => Vec::new(),
                Some(false) => {
                    self.verdict = Some(CableCheckVerdict::Fault);
                    self.raise(Fault::Isolation, FaultSource::Hardware, now)
                }
                Some(true) => {
                    self.state = next(CableStage::Samples {
                        taken: 0,
                        lowest: None,
                    });
                    Vec::new()
                }
            },
            CableStage::Samples { taken, lowest } => {
                // A gap in the readings is skipped, not a failure.
                let Some(sample) = r.isolation else {
                    return Vec::new();
                };
                let lowest = lowest.map_or(sample, |l| l.min(sample));
                let taken = taken + 1;
                if taken < self.config.isolation_samples {
                    self.state = next(CableStage::Samples {
                        taken,
                        lowest: Some(lowest),
                    });
                    return Vec::new();
                }
                let warning =
                    Ohms(self.config.isolation_warning_ohms_per_volt * test_voltage.value());
                if lowest < self.config.isolation_fault {
                    self.verdict = Some(CableCheckVerdict::Fault);
                    return self.raise(Fault::Isolation, FaultSource::Hardware, now);
                }
                self.verdict = Some(if lowest < warning {
                    CableCheckVerdict::Warning
                } else {
                    CableCheckVerdict::Valid
                });
                self.state = next(CableStage::Discharge);
                vec![Action::EnableSupply(false), Action::SetVoltage(Volts::ZERO)]
            }
            CableStage::Discharge => {
                if r.supply_voltage >= self.config.safe_voltage {
                    return Vec::new();
                }
                let target = self.target_voltage();
                self.state = State::Precharge {
                    target,
                    deadline: now + self.config.precharge_timeout,
                };
                vec![
                    Action::SetStage(SupplyStage::PreCharge),
                    Action::SetCurrentLimit(self.config.test_current),
                    Action::SetVoltage(target),
                    Action::EnableSupply(true),
                ]
            }
        }
    }

    fn finish(&mut self, outcome: Outcome, now: Instant) -> Vec<Action> {
        let error = outcome.error.clone().or_else(|| self.error.clone());
        let error = if outcome.phase == Phase::Complete {
            None
        } else {
            error
        };
        if let Some(meter) = self.meter.take() {
            self.summary = Some(meter.summary(now, outcome.phase.as_str(), error.clone()));
        }
        self.error = error;
        self.resting_phase = outcome.phase;
        self.state = State::Idle;
        self.params = None;
        vec![
            Action::SetStage(SupplyStage::Standby),
            Action::Lock(false),
            Action::SetCpState(CpState::B),
        ]
    }

    /// IEC 61851-23 cable-check test voltage from the vehicle's maximum and the gun's limit.
    fn test_voltage(&self) -> Volts {
        let ev_max = self
            .params
            .as_ref()
            .map(|p| p.ev_max_voltage.unwrap_or(p.target_voltage))
            .unwrap_or(Volts(400.0));
        let voltage = if ev_max <= Volts(500.0) {
            (ev_max + Volts(50.0)).min(Volts(500.0))
        } else {
            Volts(ev_max.value() * 1.1)
        };
        voltage.min(self.config.max_voltage)
    }

    fn target_voltage(&self) -> Volts {
        self.params
            .as_ref()
            .map_or(Volts(400.0), |p| p.target_voltage)
            .clamp(Volts::ZERO, self.config.max_voltage)
    }

    /// The current the session may have now: the request (none while the vehicle pauses), the
    /// gun's current limit and the power limits (the gun's, the external one) at the present
    /// voltage.
    fn allowed_current(&self, voltage: Volts) -> Amps {
        let requested = if self.ev_paused {
            Amps::ZERO
        } else {
            self.params
                .as_ref()
                .map_or(Amps::ZERO, |p| p.initial_current)
        };
        let power = self
            .limit
            .map_or(self.config.max_power, |l| l.min(self.config.max_power));
        let by_power = if voltage.value() > 1.0 {
            power.at(voltage)
        } else if self.limit.is_some_and(|l| l.value() <= 0.0) {
            Amps::ZERO
        } else {
            self.config.max_current
        };
        requested
            .min(self.config.max_current)
            .min(by_power)
            .max(Amps::ZERO)
    }

    /// Software protection while charging.
    fn protection(&self, voltage: Volts, current: Amps, setpoint: Amps) -> Option<Fault> {
        let max_voltage = self
            .params
            .as_ref()
            .map(|p| p.ev_max_voltage.unwrap_or(p.target_voltage))
            .unwrap_or(self.config.max_voltage)
            .max(self.target_voltage());
        if voltage.value() > max_voltage.value() * 1.1 + 10.0 {
            return Some(Fault::Overvoltage);
        }
        if current.value() > setpoint.value().max(self.config.test_current.value()) * 1.1 + 5.0 {
            return Some(Fault::Overcurrent);
        }
        None
    }

    /// The running session's metering (`/meter`); zeros when no session runs.
    pub fn meter_view(&self, now: Instant) -> MeterView {
        match &self.meter {
            Some(meter) => {
                let (avg_voltage, avg_current) = meter.averages();
                MeterView {
                    energy_wh: round(meter.energy().value(), 3),
                    avg_voltage,
                    avg_current,
                    session_time_s: round(meter.elapsed(now), 2),
                }
            }
            None => MeterView {
                energy_wh: 0.0,
                avg_voltage: 0.0,
                avg_current: 0.0,
                session_time_s: 0.0,
            },
        }
    }

    /// The `/status` snapshot with `r` as the latest readings.
    pub fn status(&self, r: &Readings, now: Instant) -> Status {
        let meter = self.meter.as_ref();
        Status {
            session_active: self.session_active(),
            phase: self.phase(),
            step: self.step(),
            error: self.error.clone(),
            contactor_closed: r.contactor_closed,
            cp_state: r.cp_state.letter().to_string(),
            voltage: round(gun_voltage(r).value(), 2),
            current: round(gun_current(r).value(), 2),
            energy_wh: meter.map_or(0.0, |m| round(m.energy().value(), 3)),
            time_s: meter.map_or(0.0, |m| round(m.elapsed(now), 1)),
            last_session_summary: self.summary.clone(),
            session_params: self.params.clone(),
            fault: self.fault.as_ref().map(|(f, _)| f.to_string()),
            cable_check: self.verdict,
            power_limit: self.limit.map(|w| round(w.value(), 1)),
            ev_paused: self.ev_paused,
        }
    }
}

/// Everything that makes the output safe, in the order it is applied: no current, supply off,
/// contactor open, setpoint zero.
fn power_off() -> Vec<Action> {
    vec![
        Action::SetStage(SupplyStage::PostCharge),
        Action::SetCurrentLimit(Amps::ZERO),
        Action::EnableSupply(false),
        Action::OpenContactor,
        Action::SetVoltage(Volts::ZERO),
    ]
}

/// Gun-side voltage: the meter's, and 0 while the contactor is open.
fn gun_voltage(r: &Readings) -> Volts {
    match (&r.meter, r.contactor_closed) {
        (Some(m), true) => m.voltage,
        _ => Volts::ZERO,
    }
}

/// Gun-side current: the meter's, and 0 while the contactor is open.
fn gun_current(r: &Readings) -> Amps {
    match (&r.meter, r.contactor_closed) {
        (Some(m), true) => m.current,
        _ => Amps::ZERO,
    }
}

#[cfg(test)]
mod tests;
