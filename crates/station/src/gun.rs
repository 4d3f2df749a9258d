//! One task per gun: it owns the gun's session machine and hardware, ticks them on the tokio
//! clock, takes commands from a channel and publishes a snapshot after every change. Nothing else
//! touches the hardware, so two commands can never race (a second start gets `SessionActive`).

use charger::{Action, Event, Gun, MeterView, Readings, Refusal, SessionParams, Status};
use hal::{CpState, Fault, GunHardware, HalError};
use serde::Serialize;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{Instant, MissedTickBehavior};

/// How often a gun's machine and hardware are advanced.
pub const TICK: Duration = Duration::from_millis(100);

/// A request to a gun task.
#[derive(Debug)]
pub enum GunCommand {
    /// Start a session.
    Start(SessionParams, oneshot::Sender<Result<(), Refusal>>),
    /// Stop the session.
    Stop(oneshot::Sender<()>),
    /// Inject a fault.
    Fault(Fault, oneshot::Sender<()>),
    /// Clear an injected fault.
    ClearFault(oneshot::Sender<Result<(), Refusal>>),
    /// Open or close the contactor by hand (refused during a session).
    Contactor(bool, oneshot::Sender<Result<bool, ControlError>>),
    /// Set the pilot PWM duty by hand.
    Pwm(f64, oneshot::Sender<Result<f64, ControlError>>),
    /// Force the pilot state (simulation).
    CpState(CpState, oneshot::Sender<Result<CpState, ControlError>>),
    /// Set or lift the external power limit (smart charging).
    Limit(Option<hal::Watts>, oneshot::Sender<Result<(), Refusal>>),
    /// The simulated vehicle pauses (`true`) or resumes.
    EvPause(bool, oneshot::Sender<()>),
}

/// Why a manual control command was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// The session machine owns the hardware while a session runs.
    #[error("a session is active; manual control is refused")]
    SessionActive,
    /// The gun has a fault; the contactor stays open.
    #[error("gun unavailable: fault {0}")]
    Faulted(String),
    /// The hardware refused.
    #[error("{0}")]
    Hardware(#[from] HalError),
}

/// What a gun shows: `/status` and `/meter` in one snapshot.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GunSnapshot {
    /// Gun number.
    pub gun: u32,
    /// Gun label.
    pub label: String,
    /// The `/status` body.
    pub status: Status,
    /// The `/meter` body.
    pub meter: MeterView,
    /// The meter's energy register, Wh (for OCPP meterStart/meterStop); `None` while silent.
    #[serde(skip)]
    pub register_wh: Option<f64>,
    /// The vehicle's state of charge, percent, when the hardware knows it.
    #[serde(skip)]
    pub soc_percent: Option<f64>,
    /// What the hardware reports wrong right now (e.g. a power cabinet out of reach).
    #[serde(skip)]
    pub hardware_faults: Vec<String>,
}

/// The handle to a running gun task.
#[derive(Debug, Clone)]
pub struct GunHandle {
    /// Gun number.
    pub gun: u32,
    commands: mpsc::Sender<GunCommand>,
    snapshot: watch::Receiver<GunSnapshot>,
}

impl GunHandle {
    /// The latest snapshot.
    pub fn snapshot(&self) -> GunSnapshot {
        self.snapshot.borrow().clone()
    }

    /// A receiver that sees every new snapshot (for event streams).
    pub fn subscribe(&self) -> watch::Receiver<GunSnapshot> {
        self.snapshot.clone()
    }

    /// Sends a command built around a reply channel and waits for the answer; `None` if the task
    /// has ended.
    pub async fn request<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<T>) -> GunCommand,
    ) -> Option<T> {
        let (reply, answer) = oneshot::channel();
        self.commands.send(command(reply)).await.ok()?;
        answer.await.ok()
    }
}

/// Starts the task of gun `gun` over `hardware`.
pub fn spawn(gun: u32, label: String, machine: Gun, hardware: Box<dyn GunHardware>) -> GunHandle {
    let now = Instant::now();
    let mut task = GunTask {
        gun,
        label,
        machine,
        hardware,
        readings: None,
    };
    let readings = task.read(now);
    let (publish, snapshot) = watch::channel(task.snapshot(&readings, now));
    task.readings = Some(readings);
    let (commands, inbox) = mpsc::channel(32);
    let span = tracing::info_span!("gun", gun);
    tokio::spawn(tracing::Instrument::instrument(
        task.run(inbox, publish),
        span,
    ));
    GunHandle {
        gun,
        commands,
        snapshot,
    }
}

struct GunTask {
    gun: u32,
    label: String,
    machine: Gun,
    hardware: Box<dyn GunHardware>,
    readings: Option<Readings>,
}

impl GunTask {
    async fn run(
        mut self,
        mut inbox: mpsc::Receiver<GunCommand>,
        publish: watch::Sender<GunSnapshot>,
    ) {
        let mut ticks = tokio::time::interval(TICK);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {
                    let now = Instant::now();
                    let readings = self.read(now);
                    let actions = self.machine.handle(Event::Tick(readings), now.into_std()).unwrap_or_default();
                    self.apply(&actions, now);
                }
                command = inbox.recv() => match command {
                    Some(command) => self.command(command, Instant::now()),
                    None => break,
                },
            }
            let now = Instant::now();
            let readings = self.read(now);
            let snapshot = self.snapshot(&readings, now);
            self.readings = Some(readings);
            publish.send_if_modified(|current| {
                let changed = *current != snapshot;
                if changed {
                    *current = snapshot;
                }
                changed
            });
        }
        // Nobody can command this gun any more: leave it safe.
        self.apply(
            &[
                Action::SetCurrentLimit(hal::Amps::ZERO),
                Action::EnableSupply(false),
                Action::OpenContactor,
            ],
            Instant::now(),
        );
    }

    fn command(&mut self, command: GunCommand, now: Instant) {
        let std_now = now.into_std();
        match command {
            GunCommand::Start(params, reply) => {
                let result = self.machine.handle(Event::Start(params), std_now);
                let _ = reply.send(result.map(|actions| self.apply(&actions, now)));
            }
            GunCommand::Stop(reply) => {
                if let Ok(actions) = self.machine.handle(Event::Stop, std_now) {
                    self.apply(&actions, now);
                }
                let _ = reply.send(());
            }
            GunCommand::Fault(fault, reply) => {
                if let Ok(actions) = self.machine.handle(Event::InjectFault(fault), std_now) {
                    self.apply(&actions, now);
                }
                let _ = reply.send(());
            }
            GunCommand::ClearFault(reply) => {
                let result = self.machine.handle(Event::ClearFault, std_now);
                let _ = reply.send(result.map(|actions| self.apply(&actions, now)));
            }
            GunCommand::Contactor(closed, reply) => {
                let result = self.manual(closed).and_then(|()| {
                    self.hardware.contactor().command(closed)?;
                    self.hardware.poll(std_now);
                    Ok(self.hardware.contactor().commanded_closed())
                });
                let _ = reply.send(result);
            }
            GunCommand::Pwm(duty, reply) => {
                let result = self
                    .hardware
                    .pwm()
                    .set_duty(duty)
                    .map_err(ControlError::from);
                let _ = reply.send(result.map(|()| self.hardware.pwm().duty()));
            }
            GunCommand::CpState(state, reply) => {
                let result = self
                    .hardware
                    .control_pilot()
                    .simulate(state)
                    .map_err(ControlError::from);
                self.hardware.poll(std_now);
                let _ = reply.send(result.map(|()| self.hardware.control_pilot().state()));
            }
            GunCommand::Limit(limit, reply) => {
                let result = self.machine.handle(Event::Limit(limit), std_now);
                let _ = reply.send(result.map(|actions| self.apply(&actions, now)));
            }
            GunCommand::EvPause(paused, reply) => {
                if let Ok(actions) = self.machine.handle(Event::EvPause(paused), std_now) {
                    self.apply(&actions, now);
                }
                let _ = reply.send(());
            }
        }
    }

    /// Manual contactor control is the operator's only outside a session and never on a faulted gun
    /// (opening is always allowed).
    fn manual(&self, closing: bool) -> Result<(), ControlError> {
        if !closing {
            return Ok(());
        }
        if self.machine.session_active() {
            return Err(ControlError::SessionActive);
        }
        if let Some(fault) = self.machine.fault() {
            return Err(ControlError::Faulted(fault.to_string()));
        }
        Ok(())
    }

    fn apply(&mut self, actions: &[Action], now: Instant) {
        let hw = &mut self.hardware;
        for action in actions {
            let result = match action {
                Action::SetPwm(duty) => hw.pwm().set_duty(*duty),
                Action::SetCpState(state) => match hw.control_pilot().simulate(*state) {
                    // Real pilots are read, not written.
                    Err(HalError::Unsupported { .. }) => Ok(()),
                    other => other,
                },
                Action::EnableSupply(on) => hw.power_supply().enable(*on),
                Action::SetVoltage(v) => hw.power_supply().set_voltage(*v),
                Action::SetCurrentLimit(a) => hw.power_supply().set_current_limit(*a),
                Action::CloseContactor => hw.contactor().command(true),
                Action::OpenContactor => hw.contactor().command(false),
                Action::StartIsolationSelfTest => hw.isolation_monitor().start_self_test(),
                Action::Lock(locked) => hw.connector_lock().set_locked(*locked),
                Action::SetStage(stage) => hw.power_supply().set_stage(*stage),
            };
            if let Err(e) = result {
                tracing::error!(?action, error = %e, "hardware refused a command");
            }
        }
        hw.poll(now.into_std());
    }

    fn read(&mut self, now: Instant) -> Readings {
        let hw = &mut self.hardware;
        hw.poll(now.into_std());
        let (supply_voltage, supply_current) = hw.power_supply().measured();
        Readings {
            supply_voltage,
            supply_current,
            meter: hw.meter().reading(),
            contactor_closed: hw.contactor().feedback_closed(),
            cp_state: hw.control_pilot().state(),
            isolation: hw.isolation_monitor().resistance(),
            self_test_passed: hw.isolation_monitor().self_test_passed(),
            hardware_faults: hw.faults(),
        }
    }

    fn snapshot(&self, readings: &Readings, now: Instant) -> GunSnapshot {
        GunSnapshot {
            gun: self.gun,
            label: self.label.clone(),
            status: self.machine.status(readings, now.into_std()),
            meter: self.machine.meter_view(now.into_std()),
            register_wh: readings.meter.map(|m| m.energy.value()),
            soc_percent: self.hardware.ev_state_of_charge(),
            hardware_faults: readings
                .hardware_faults
                .iter()
                .map(ToString::to_string)
                .collect(),
        }
    }
}
