//! The simulated backend: a power supply, its output stage, a contactor, a meter, an insulation
//! monitor, a connector lock, a control pilot and a vehicle with a battery, advanced only by
//! [`GunHardware::poll`] on the caller's clock.
//!
//! Nothing here reads a clock or starts a thread: every `poll(now)` integrates the physics from
//! the previous poll to `now` in sub-steps of at most [`SimConfig::max_step`] (10 ms), split at
//! the instants where something switches (contactor, vehicle relays, self-test), so tests run on
//! virtual time (`t0 + Duration`) and a long jump is as stable as many short polls. A `now`
//! before the last poll is ignored. Commands and hooks take effect from the last poll.
//!
//! The model (defaults from [`SimConfig::for_gun`] and [`EvConfig::default`]):
//!
//! - **Supply** ([`crate::PowerSupply`]): on, it slews its reference at 200 V/s towards the
//!   setpoint (no lower than its 150 V minimum), limited by its current limit, maximum current
//!   and maximum power. Into the bare 2 mF output capacitance the current is `C·dV/dt`, so a 2 A
//!   limit ramps at most 1000 V/s. Off, the output bleeds through 150 Ω (τ = 0.3 s). Switching on
//!   starts from the present output voltage. `measured()` is the supply side of the contactor.
//! - **Vehicle**: a 75 kWh battery at 30 %, open-circuit voltage 330–410 V by state of charge
//!   ([`OcvCurve::pack_400v`]), 0.05 Ω, taking at most 200 A, tapering linearly above 80 % and
//!   keeping its terminal voltage at most 450 V. Its relays connect it when the contactor is closed
//!   and the pilot shows it ready (C or D); see [`EvRelays`] for the stricter ISO 15118 behaviour.
//!   Connected, the current is `(V_ref − V_ocv)/R` clamped to the limits, the output sits at the
//!   terminal voltage `V_ocv + I·R`, and the state of charge rises by the stored energy over the
//!   capacity. With the supply off the output stays at the battery voltage: the vehicle side is
//!   live.
//! - **Meter** ([`crate::Meter`]): gun side, after the contactor (0 V, 0 A while it is open); the
//!   register starts at 1 000 000 Wh and integrates power over each sub-step only, so idle time
//!   adds nothing.
//! - **Contactor** ([`crate::Contactor`]): feedback follows the command after 20 ms; see
//!   [`SimGun::weld_contactor`].
//! - **Insulation monitor** ([`crate::IsolationMonitor`]): 5 MΩ, measured while the output is
//!   above 50 V; a self-test takes 500 ms.
//! - **Pilot** ([`crate::ControlPilot`], [`crate::Pwm`]): from the plug and readiness hooks
//!   unless forced.
//! - **Faults**: [`Fault::EmergencyStop`] while pressed, [`Fault::ContactorWelded`],
//!   [`Fault::Isolation`] below 100 kΩ measured. A silent meter is not a hardware fault.
//!
//! ```
//! use hal::sim::{SimConfig, SimGun};
//! use hal::{Amps, GunHardware, GunSettings, Volts, Watts};
//! use std::time::{Duration, Instant};
//!
//! # fn main() -> Result<(), hal::HalError> {
//! let settings = GunSettings {
//!     gun: 1,
//!     max_current: Amps(200.0),
//!     max_power: Watts(150_000.0),
//!     max_voltage: Volts(920.0),
//! };
//! let t0 = Instant::now();
//! let mut gun = SimGun::new(SimConfig::for_gun(&settings), t0);
//! gun.plug(true);
//! gun.ev_ready(true);
//!
//! // Precharge to 400 V at 2 A with the contactor open: 200 V/s, so 2 s.
//! gun.power_supply().set_current_limit(Amps(2.0))?;
//! gun.power_supply().set_voltage(Volts(400.0))?;
//! gun.power_supply().enable(true)?;
//! gun.poll(t0 + Duration::from_secs(3));
//! assert_eq!(gun.power_supply().measured().0, Volts(400.0));
//!
//! // Close the contactor: the battery (360 V at 30 %) takes the current limit.
//! gun.contactor().command(true)?;
//! gun.power_supply().set_current_limit(Amps(50.0))?;
//! gun.poll(t0 + Duration::from_secs(13));
//! let reading = gun.meter().reading().expect("the meter answers");
//! assert_eq!(reading.current, Amps(50.0));
//! assert!(reading.energy.value() > 1_000_050.0);
//! # Ok(())
//! # }
//! ```

mod circuit;
mod config;
mod contactor;
mod ev;
mod isolation;
mod lock;
mod meter;
mod pilot;
mod supply;

pub use config::{EvConfig, EvRelays, OcvCurve, SimConfig};

use crate::{
    ConnectorLock, Contactor, ControlPilot, Fault, GunHardware, IsolationMonitor, Meter, Ohms,
    PowerSupply, Pwm, Volts,
};
use circuit::Circuit;
use contactor::ContactorState;
use ev::Ev;
use isolation::IsolationState;
use meter::MeterState;
use pilot::Pilot;
use std::time::{Duration, Instant};
use supply::SupplyState;

/// The shortest sub-step, so a zero [`SimConfig::max_step`] cannot stall a poll.
const MIN_STEP: Duration = Duration::from_micros(100);

/// A simulated gun: every device of [`GunHardware`], with hooks for tests and operators.
///
/// The trait accessors all return the gun itself, so readings are always consistent with each
/// other. Hooks (`plug`, `ev_ready`, `set_isolation`, …) are inherent methods, reachable before
/// the gun is boxed.
#[derive(Debug)]
pub struct SimGun {
    config: SimConfig,
    /// The last poll.
    now: Instant,
    pilot: Pilot,
    contactor: ContactorState,
    supply: SupplyState,
    circuit: Circuit,
    ev: Ev,
    meter: MeterState,
    isolation: IsolationState,
    /// Whether the connector is locked.
    locked: bool,
    /// Whether the emergency stop is pressed.
    emergency_stop: bool,
}

impl SimGun {
    /// A gun at rest at `now`: no vehicle, supply off at 0 V with a 0 A limit, contactor open,
    /// connector unlocked.
    pub fn new(config: SimConfig, now: Instant) -> Self {
        Self {
            pilot: Pilot::new(config.initial_duty_percent),
            contactor: ContactorState::new(now),
            supply: SupplyState::default(),
            circuit: Circuit::default(),
            ev: Ev::new(&config.ev),
            meter: MeterState::new(config.meter_initial_energy),
            isolation: IsolationState::new(config.isolation_resistance),
            locked: false,
            emergency_stop: false,
            now,
            config,
        }
    }

    /// The settings it runs with.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// The time of the last poll.
    pub fn last_poll(&self) -> Instant {
        self.now
    }

    /// Plugs the vehicle in (pilot B, or C if it is ready) or out (A). Ends a forced pilot state.
    pub fn plug(&mut self, plugged: bool) {
        self.pilot.plug(plugged);
    }

    /// The vehicle asks for charge (pilot C while plugged) or stops asking (B). Ends a forced
    /// pilot state.
    pub fn ev_ready(&mut self, ready: bool) {
        self.pilot.set_ready(ready);
    }

    /// Sets the insulation resistance the monitor finds.
    pub fn set_isolation(&mut self, resistance: Ohms) {
        self.isolation.resistance = resistance;
    }

    /// Makes self-tests ending from now on fail (or pass again).
    pub fn fail_self_test(&mut self, fail: bool) {
        self.isolation.fail_self_test = fail;
    }

    /// Welds the contactor: once closed (now, or at its next closing) its contacts stay closed
    /// whatever is commanded, and the feedback says so. Releasing lets them follow the command
    /// again.
    pub fn weld_contactor(&mut self, welded: bool) {
        self.contactor.weld(welded);
    }

    /// Presses or releases the emergency stop. While pressed, the gun reports
    /// [`Fault::EmergencyStop`] and the safety chain holds the supply off and the contactor coil
    /// dropped, whatever is commanded (`enabled()` and `commanded_closed()` still show the
    /// commands); on release both follow the commands again.
    pub fn press_emergency_stop(&mut self, pressed: bool) {
        self.emergency_stop = pressed;
        let coil = self.contactor.commanded() && !pressed;
        self.contactor.drive_coil(coil, self.now);
    }

    /// Silences the meter (its reading is `None`; its register keeps counting) or lets it answer.
    pub fn meter_silent(&mut self, silent: bool) {
        self.meter.silent = silent;
    }

    /// The vehicle's state of charge, percent.
    pub fn ev_soc_percent(&self) -> f64 {
        self.ev.soc_percent()
    }

    /// The vehicle battery's open-circuit voltage: the voltage to precharge to.
    pub fn ev_battery_voltage(&self) -> Volts {
        Volts(self.ev.ocv(&self.config.ev))
    }

    /// Whether the vehicle's relays connect its battery to the cable.
    pub fn ev_relays_closed(&self) -> bool {
        self.ev.relays_closed()
    }

    /// The gun-side voltage (after the contactor), V.
    fn gun_voltage(&self) -> f64 {
        if self.contactor.closed() {
            self.circuit.voltage
        } else {
            0.0
        }
    }

    /// The current through the gun into the vehicle, A.
    fn gun_current(&self) -> f64 {
        if self.battery_connected() {
            self.circuit.battery_current
        } else {
            0.0
        }
    }

    /// Whether the battery is on the output: contactor and vehicle relays closed.
    fn battery_connected(&self) -> bool {
        self.contactor.closed() && self.ev.relays_closed()
    }

    /// Whether the supply's output is on: enabled and not cut by the emergency stop.
    fn supply_on(&self) -> bool {
        self.supply.enabled() && !self.emergency_stop
    }

    /// Applies what switches at `t`: contactor contacts, self-test end, vehicle relays.
    fn settle(&mut self, t: Instant) {
        let gun = self.config.gun.gun;
        if self.contactor.settle(t, self.config.contactor_delay) {
            tracing::debug!(gun, closed = self.contactor.closed(), "contactor moved");
        }
        if let Some(passed) = self.isolation.settle(t) {
            tracing::debug!(gun, passed, "insulation self-test finished");
        }
        let allowed = self.contactor.closed() && self.pilot.vehicle_ready();
        let gun_voltage = self.gun_voltage();
        if self.ev.settle(&self.config.ev, t, allowed, gun_voltage) {
            tracing::debug!(
                gun,
                closed = self.ev.relays_closed(),
                gun_voltage,
                battery_voltage = self.ev.ocv(&self.config.ev),
                "vehicle relays moved"
            );
        }
    }

    /// The next instant something switches, if any.
    fn next_event(&self) -> Option<Instant> {
        [
            self.contactor.next_event(self.config.contactor_delay),
            self.isolation.next_event(),
            self.ev.next_event(&self.config.ev),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Integrates one sub-step of `dt` seconds with the present topology.
    fn integrate(&mut self, dt: f64) {
        let drive = self.supply_on().then(|| {
            self.supply
                .drive(&self.config.supply, self.config.slew_rate_volts_per_second)
        });
        let ev = &self.config.ev;
        let battery = self.battery_connected().then(|| circuit::Battery {
            ocv: self.ev.ocv(ev),
            resistance: ev::resistance(ev),
            accepted: self.ev.accepted_current(ev),
        });
        self.circuit.step(
            drive,
            battery,
            self.config.output_capacitance_farads,
            self.config.bleed_resistance.value(),
            dt,
        );
        if battery.is_some() {
            self.ev.charge(ev, self.circuit.battery_current, dt);
        }
        self.meter
            .integrate(self.gun_voltage() * self.gun_current(), dt);
    }
}

impl GunHardware for SimGun {
    fn backend(&self) -> &'static str {
        "sim"
    }

    fn ev_state_of_charge(&self) -> Option<f64> {
        Some(self.ev_soc_percent())
    }

    fn pwm(&mut self) -> &mut dyn Pwm {
        self
    }

    fn control_pilot(&mut self) -> &mut dyn ControlPilot {
        self
    }

    fn contactor(&mut self) -> &mut dyn Contactor {
        self
    }

    fn power_supply(&mut self) -> &mut dyn PowerSupply {
        self
    }

    fn meter(&mut self) -> &mut dyn Meter {
        self
    }

    fn isolation_monitor(&mut self) -> &mut dyn IsolationMonitor {
        self
    }

    fn connector_lock(&mut self) -> &mut dyn ConnectorLock {
        self
    }

    /// Advances the physics to `now`; a `now` not after the last poll changes nothing.
    fn poll(&mut self, now: Instant) {
        if now <= self.now {
            return;
        }
        let max_step = self.config.max_step.max(MIN_STEP);
        let mut t = self.now;
        while t < now {
            self.settle(t);
            let next_event = self.next_event().filter(|&event| event > t);
            let end = next_event
                .map_or(now, |event| event.min(now))
                .min(t + max_step);
            let before = self.circuit.clone();
            self.integrate(end.duration_since(t).as_secs_f64());
            t = end;
            // Nothing moved and nothing flows: the state is a fixed point until the next switch.
            let resting = self.circuit == before
                && self.circuit.supply_current == 0.0
                && self.circuit.battery_current == 0.0;
            if resting {
                t = next_event.map_or(now, |event| event.min(now)).max(t);
            }
        }
        self.now = now;
        self.settle(now);
        // Currents end with the topology that carried them.
        if !self.battery_connected() {
            self.circuit.battery_current = 0.0;
        }
        if !self.supply_on() {
            self.circuit.supply_current = 0.0;
        }
    }

    /// [`Fault::EmergencyStop`] while pressed; [`Fault::ContactorWelded`] once the coil has been
    /// off longer than the operate delay with the contacts still closed; [`Fault::Isolation`]
    /// while a resistance below the threshold is measured.
    fn faults(&self) -> Vec<Fault> {
        let mut faults = Vec::new();
        if self.emergency_stop {
            faults.push(Fault::EmergencyStop);
        }
        if self
            .contactor
            .welded_detected(self.now, self.config.contactor_delay)
        {
            faults.push(Fault::ContactorWelded);
        }
        if self
            .resistance()
            .is_some_and(|r| r < self.config.isolation_fault_threshold)
        {
            faults.push(Fault::Isolation);
        }
        faults
    }
}
