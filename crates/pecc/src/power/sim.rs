//! The simulated power stage: a cabinet of identical power modules shared among the guns by
//! demand, with the physics the controller and its peers can observe.
//!
//! - Modules: each delivers up to `modulePowerW` and `moduleCurrentA` up to
//!   `moduleVoltageMaxV`. A gun's current limit is its demand derated to its modules.
//! - Output: the voltage slews towards the setpoint at `slewVoltsPerSecond`, no faster than the
//!   current limit can charge `outputCapacitanceF`; switched off, the modules stop at once and
//!   an active discharge pulls the output down at `dischargeVoltsPerSecond`.
//! - Contactors: the feedback follows the command after `contactorDelayMs`; they close only
//!   while the CP/PP supervision signal allows it and open at once when it drops (the AND gate
//!   of the specification's appendix 8.1). With them open the outlet reads 0 V / 0 A.
//! - Vehicle: an EV battery joins once the contactors are closed, the output matches the
//!   setpoint (pre-charge done) and more than 2 A are allowed (energy transfer): its open-circuit
//!   voltage is the output voltage then, less `evOffsetVolts`, behind `evResistanceOhms`. It
//!   leaves when the output switches off or the contactors open.
//! - Temperature: each module heats with its power and cools towards `ambientC` with a time
//!   constant; above `overTemperatureC` its gun reports a fault.
//! - Insulation: a measurement started with voltage at the outlet reads the gun's insulation
//!   resistance after `isolationSettleMs`.
//!
//! Tests and operators change the world through [`SimControls`]: insulation resistance,
//! supervision signal, injected faults.

use super::allocation::{allocate, modules_for};
use super::{Demand, ModuleStatus, PowerBackend, PowerCommand, PowerError, Readings};
use hal::{Amps, Ohms, Volts};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Current above which an EV at a matched voltage counts as drawing energy.
const EV_JOIN_CURRENT: f64 = 2.0;
/// How close the output must be to the setpoint for the EV to join.
const EV_JOIN_TOLERANCE: f64 = 20.0;
/// The longest physics step.
const STEP: f64 = 0.005;

/// Settings of the simulated stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct SimConfig {
    /// Number of power modules in the cabinet.
    pub modules: usize,
    /// Power of one module, W.
    pub module_power_w: f64,
    /// Current of one module, A.
    pub module_current_a: f64,
    /// Highest module output voltage, V.
    pub module_voltage_max_v: f64,
    /// Output voltage slew, V/s.
    pub slew_volts_per_second: f64,
    /// Output current slew, A/s.
    pub current_slew_amps_per_second: f64,
    /// Output capacitance, F.
    pub output_capacitance_f: f64,
    /// Active discharge when off, V/s.
    pub discharge_volts_per_second: f64,
    /// Contactor feedback delay, ms.
    pub contactor_delay_ms: u64,
    /// Insulation resistance of every gun's circuit, Ω (change per gun with [`SimControls`]).
    pub isolation_ohms: f64,
    /// Time an insulation measurement needs before its first reading, ms.
    pub isolation_settle_ms: u64,
    /// Ambient temperature, °C.
    pub ambient_c: f64,
    /// Module temperature rise per kW delivered, °C.
    pub heating_c_per_kw: f64,
    /// Module thermal time constant, s.
    pub thermal_time_constant_s: f64,
    /// Module temperature above which its gun faults, °C.
    pub over_temperature_c: f64,
    /// EV battery internal resistance, Ω.
    pub ev_resistance_ohms: f64,
    /// How far below the pre-charge voltage the EV battery's open-circuit voltage sits, V.
    pub ev_offset_volts: f64,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            modules: 12,
            module_power_w: 30_000.0,
            module_current_a: 100.0,
            module_voltage_max_v: 1000.0,
            slew_volts_per_second: 1000.0,
            current_slew_amps_per_second: 500.0,
            output_capacitance_f: 0.002,
            discharge_volts_per_second: 400.0,
            contactor_delay_ms: 50,
            isolation_ohms: 10_000_000.0,
            isolation_settle_ms: 1000,
            ambient_c: 25.0,
            heating_c_per_kw: 1.5,
            thermal_time_constant_s: 60.0,
            over_temperature_c: 95.0,
            ev_resistance_ohms: 0.05,
            ev_offset_volts: 10.0,
        }
    }
}

impl SimConfig {
    /// The power of all modules together, W.
    pub fn total_power(&self) -> f64 {
        self.module_power_w * self.modules as f64
    }
}

/// What the world does to one gun, settable while running.
#[derive(Debug, Clone, PartialEq)]
struct GunWorld {
    isolation: Ohms,
    supervision: bool,
    fault: Option<String>,
}

/// A handle to change the simulated world while the controller runs.
#[derive(Debug, Clone)]
pub struct SimControls {
    guns: Arc<Mutex<Vec<GunWorld>>>,
}

impl SimControls {
    fn with(&self, gun: u32, change: impl FnOnce(&mut GunWorld)) -> Result<(), PowerError> {
        let mut guns = self
            .guns
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let index = index(gun, guns.len())?;
        change(&mut guns[index]);
        Ok(())
    }

    /// Sets gun `gun`'s insulation resistance.
    pub fn set_isolation(&self, gun: u32, resistance: Ohms) -> Result<(), PowerError> {
        self.with(gun, |g| g.isolation = resistance)
    }

    /// Sets gun `gun`'s CP/PP supervision signal.
    pub fn set_supervision(&self, gun: u32, allows: bool) -> Result<(), PowerError> {
        self.with(gun, |g| g.supervision = allows)
    }

    /// Injects (or with `None` clears) a fault of gun `gun`'s power path.
    pub fn set_fault(&self, gun: u32, fault: Option<String>) -> Result<(), PowerError> {
        self.with(gun, |g| g.fault = fault)
    }
}

fn index(gun: u32, guns: usize) -> Result<usize, PowerError> {
    let i = (gun as usize).wrapping_sub(1);
    if i < guns {
        Ok(i)
    } else {
        Err(PowerError::UnknownGun(gun))
    }
}

#[derive(Debug, Clone, Default)]
struct GunState {
    demand: Option<Demand>,
    contactors_commanded: bool,
    contactors_closed: bool,
    contactors_settle_at: Option<Instant>,
    output_voltage: f64,
    output_current: f64,
    ev_battery: Option<f64>,
    measuring_since: Option<Instant>,
    modules: usize,
}

#[derive(Debug, Clone)]
struct Module {
    owner: Option<usize>,
    temperature: f64,
    current: f64,
    voltage: f64,
}

/// The simulated power stage.
#[derive(Debug)]
pub struct SimPowerStage {
    config: SimConfig,
    guns: Vec<GunState>,
    modules: Vec<Module>,
    world: SimControls,
    world_now: Vec<GunWorld>,
    last: Instant,
}

impl SimPowerStage {
    /// A cabinet of `guns` guns, at rest at `now`.
    pub fn new(config: SimConfig, guns: u32, now: Instant) -> Self {
        let world = GunWorld {
            isolation: Ohms(config.isolation_ohms),
            supervision: true,
            fault: None,
        };
        let world_now = vec![world; guns as usize];
        let modules = (0..config.modules)
            .map(|_| Module {
                owner: None,
                temperature: config.ambient_c,
                current: 0.0,
                voltage: 0.0,
            })
            .collect();
        Self {
            guns: vec![GunState::default(); guns as usize],
            modules,
            world: SimControls {
                guns: Arc::new(Mutex::new(world_now.clone())),
            },
            world_now,
            config,
            last: now,
        }
    }

    /// The handle that changes the simulated world.
    pub fn controls(&self) -> SimControls {
        self.world.clone()
    }

    fn reallocate(&mut self) {
        let module_power = self.config.module_power_w;
        let cabinet = self.modules.len();
        let wants: Vec<usize> = self
            .guns
            .iter()
            .zip(&self.world_now)
            .map(|(g, world)| match g.demand {
                Some(d) if world.fault.is_none() => {
                    let power = d.voltage.value() * d.current.value();
                    modules_for(power, module_power).min(cabinet)
                }
                _ => 0,
            })
            .collect();
        let previous: Vec<Option<usize>> = self.modules.iter().map(|m| m.owner).collect();
        for (module, owner) in self.modules.iter_mut().zip(allocate(&wants, &previous)) {
            module.owner = owner;
        }
        for (i, gun) in self.guns.iter_mut().enumerate() {
            gun.modules = self.modules.iter().filter(|m| m.owner == Some(i)).count();
        }
    }

    /// The setpoint and the derated current limit gun `i` drives now, or `None` when off.
    fn drive(&self, i: usize) -> Option<(f64, f64)> {
        let c = &self.config;
        let gun = &self.guns[i];
        let d = gun.demand?;
        if gun.modules == 0 || self.world_now[i].fault.is_some() {
            return None;
        }
        let n = gun.modules as f64;
        let set = d.voltage.value().clamp(0.0, c.module_voltage_max_v);
        let by_power = n * c.module_power_w / gun.output_voltage.max(50.0);
        let limit = d
            .current
            .value()
            .min(n * c.module_current_a)
            .min(by_power)
            .max(0.0);
        Some((set, limit))
    }

    fn step(&mut self, now: Instant, dt: f64) {
        let drives: Vec<Option<(f64, f64)>> = (0..self.guns.len()).map(|i| self.drive(i)).collect();
        let c = &self.config;
        for (i, gun) in self.guns.iter_mut().enumerate() {
            let world = &self.world_now[i];
            // Contactors: feedback follows after the delay; the supervision gate can only open.
            if !world.supervision {
                gun.contactors_closed = false;
            } else if gun.contactors_settle_at.is_some_and(|at| now >= at) {
                gun.contactors_closed = gun.contactors_commanded;
                gun.contactors_settle_at = None;
            }
            if !gun.contactors_closed {
                gun.ev_battery = None;
            }
            match drives[i] {
                Some((set, limit)) => {
                    if gun.ev_battery.is_none()
                        && gun.contactors_closed
                        && limit > EV_JOIN_CURRENT
                        && gun.output_voltage > 50.0
                        && (gun.output_voltage - set).abs() <= EV_JOIN_TOLERANCE
                    {
                        gun.ev_battery = Some(gun.output_voltage - c.ev_offset_volts);
                    }
                    if let Some(ocv) = gun.ev_battery {
                        let wanted = ((set - ocv) / c.ev_resistance_ohms).clamp(0.0, limit);
                        let ramp = c.current_slew_amps_per_second * dt;
                        gun.output_current += (wanted - gun.output_current).clamp(-ramp, ramp);
                        gun.output_current = gun.output_current.clamp(0.0, limit);
                        gun.output_voltage = ocv + gun.output_current * c.ev_resistance_ohms;
                    } else {
                        let up = (c.slew_volts_per_second * dt)
                            .min(limit / c.output_capacitance_f.max(1e-6) * dt);
                        let down = c.discharge_volts_per_second * dt;
                        let change = (set - gun.output_voltage).clamp(-down, up);
                        gun.output_voltage += change;
                        gun.output_current = if change > 0.0 && dt > 0.0 {
                            (c.output_capacitance_f * change / dt).min(limit)
                        } else {
                            0.0
                        };
                    }
                }
                None => {
                    gun.ev_battery = None;
                    gun.output_current = 0.0;
                    gun.output_voltage =
                        (gun.output_voltage - c.discharge_volts_per_second * dt).max(0.0);
                }
            }
        }
        let alpha = (dt / c.thermal_time_constant_s.max(1e-3)).min(1.0);
        for module in &mut self.modules {
            let (voltage, current) = match module.owner {
                Some(g) => {
                    let gun = &self.guns[g];
                    (
                        gun.output_voltage,
                        gun.output_current / gun.modules.max(1) as f64,
                    )
                }
                None => (0.0, 0.0),
            };
            module.voltage = voltage;
            module.current = current;
            let settle = c.ambient_c + c.heating_c_per_kw * voltage * current / 1000.0;
            module.temperature += (settle - module.temperature) * alpha;
        }
    }
}

impl PowerBackend for SimPowerStage {
    fn name(&self) -> &'static str {
        "sim"
    }

    fn guns(&self) -> u32 {
        self.guns.len() as u32
    }

    fn command(&mut self, gun: u32, command: PowerCommand) -> Result<(), PowerError> {
        let i = index(gun, self.guns.len())?;
        let delay = Duration::from_millis(self.config.contactor_delay_ms);
        let last = self.last;
        let state = &mut self.guns[i];
        match command {
            PowerCommand::Contactors(closed) => {
                if state.contactors_commanded != closed {
                    state.contactors_commanded = closed;
                    state.contactors_settle_at = Some(last + delay);
                }
            }
            PowerCommand::Output(demand) => {
                if let Some(d) = demand {
                    for (what, value) in [
                        ("voltage", d.voltage.value()),
                        ("current", d.current.value()),
                    ] {
                        if !(value.is_finite() && value >= 0.0) {
                            return Err(PowerError::OutOfRange { what, value });
                        }
                    }
                }
                state.demand = demand;
            }
            PowerCommand::Isolation(on) => {
                state.measuring_since = match (on, state.measuring_since) {
                    (true, Some(since)) => Some(since),
                    (true, None) => Some(last),
                    (false, _) => None,
                };
            }
        }
        self.reallocate();
        Ok(())
    }

    fn poll(&mut self, now: Instant) {
        {
            let world = self
                .world
                .guns
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            self.world_now.clone_from(&world);
        }
        self.reallocate();
        let mut remaining = now.saturating_duration_since(self.last).as_secs_f64();
        let mut at = self.last;
        while remaining > 0.0 {
            let dt = remaining.min(STEP);
            at += Duration::from_secs_f64(dt);
            self.step(at.min(now), dt);
            remaining -= dt;
        }
        if now > self.last {
            self.last = now;
        }
    }

    fn readings(&self, gun: u32) -> Result<Readings, PowerError> {
        let i = index(gun, self.guns.len())?;
        let state = &self.guns[i];
        let world = &self.world_now[i];
        let temperature = self
            .modules
            .iter()
            .filter(|m| m.owner == Some(i))
            .map(|m| m.temperature)
            .fold(self.config.ambient_c, f64::max);
        let mut faults: Vec<String> = world.fault.iter().cloned().collect();
        if temperature > self.config.over_temperature_c {
            faults.push(format!("over temperature ({temperature:.0} °C)"));
        }
        let closed = state.contactors_closed;
        let (driven_voltage, driven_current) = self.drive(i).unwrap_or((0.0, 0.0));
        let settle = Duration::from_millis(self.config.isolation_settle_ms);
        let isolation = state
            .measuring_since
            .filter(|since| self.last.saturating_duration_since(*since) >= settle)
            .filter(|_| closed && state.output_voltage >= 50.0)
            .map(|_| world.isolation);
        Ok(Readings {
            outlet_voltage: Volts(if closed { state.output_voltage } else { 0.0 }),
            outlet_current: Amps(if closed { state.output_current } else { 0.0 }),
            output_voltage: Volts(state.output_voltage),
            output_current: Amps(state.output_current),
            driven_voltage: Volts(driven_voltage),
            driven_current: Amps(driven_current),
            temperature,
            contactors_closed: closed,
            supervision: world.supervision,
            isolation,
            modules: state.modules,
            faults,
        })
    }

    fn modules(&self) -> Vec<ModuleStatus> {
        self.modules
            .iter()
            .enumerate()
            .map(|(i, m)| ModuleStatus {
                module: i + 1,
                gun: m.owner.map(|g| g as u32 + 1),
                voltage: Volts(m.voltage),
                current: Amps(m.current),
                temperature: m.temperature,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn run(stage: &mut SimPowerStage, from: Instant, to: Duration) -> Instant {
        let mut now = from;
        while now < from + to {
            now += ms(20);
            stage.poll(now);
        }
        now
    }

    fn demand(voltage: f64, current: f64) -> PowerCommand {
        PowerCommand::Output(Some(Demand {
            voltage: Volts(voltage),
            current: Amps(current),
        }))
    }

    #[test]
    fn precharge_then_charge_with_the_modules_demand_needs() {
        let t0 = Instant::now();
        let mut stage = SimPowerStage::new(SimConfig::default(), 2, t0);
        stage
            .command(1, PowerCommand::Contactors(true))
            .expect("gun 1");
        stage.command(1, demand(400.0, 2.0)).expect("gun 1");
        let now = run(&mut stage, t0, ms(1000));
        let r = stage.readings(1).expect("gun 1");
        assert!(r.contactors_closed);
        assert!((r.outlet_voltage.value() - 400.0).abs() < 1.0, "{r:?}");
        assert_eq!(r.modules, 1);
        // 400 V × 200 A = 80 kW: three 30 kW modules.
        stage.command(1, demand(420.0, 200.0)).expect("gun 1");
        let now = run(&mut stage, now, ms(2000));
        let r = stage.readings(1).expect("gun 1");
        assert_eq!(r.modules, 3);
        assert!((r.outlet_current.value() - 200.0).abs() < 1.0, "{r:?}");
        assert!(r.temperature > 25.0);
        // Gun 2 starts: it gets its share, gun 1 is derated to what its modules give.
        stage
            .command(2, PowerCommand::Contactors(true))
            .expect("gun 2");
        stage.command(2, demand(800.0, 300.0)).expect("gun 2");
        let now = run(&mut stage, now, ms(500));
        let (r1, r2) = (stage.readings(1).expect("1"), stage.readings(2).expect("2"));
        assert_eq!(r1.modules, 3, "a need met in full keeps its modules");
        assert_eq!(r2.modules, 8, "240 kW needs 8 modules");
        // Off: the current stops at once, the output discharges, the EV leaves.
        stage.command(1, PowerCommand::Output(None)).expect("gun 1");
        stage.poll(now + ms(10));
        assert_eq!(stage.readings(1).expect("1").outlet_current, Amps::ZERO);
        run(&mut stage, now + ms(10), ms(1500));
        let r1 = stage.readings(1).expect("1");
        assert!(r1.outlet_voltage.value() < 60.0, "{r1:?}");
        assert_eq!(r1.modules, 0);
    }

    #[test]
    fn supervision_gates_the_contactors_and_isolation_reads_when_settled() {
        let t0 = Instant::now();
        let mut stage = SimPowerStage::new(SimConfig::default(), 1, t0);
        let controls = stage.controls();
        controls.set_supervision(1, false).expect("gun 1");
        stage
            .command(1, PowerCommand::Contactors(true))
            .expect("gun 1");
        let now = run(&mut stage, t0, ms(200));
        assert!(!stage.readings(1).expect("1").contactors_closed);
        controls.set_supervision(1, true).expect("gun 1");
        controls.set_isolation(1, Ohms(50_000.0)).expect("gun 1");
        stage
            .command(1, PowerCommand::Contactors(false))
            .expect("gun 1");
        stage
            .command(1, PowerCommand::Contactors(true))
            .expect("gun 1");
        stage.command(1, demand(500.0, 2.0)).expect("gun 1");
        stage
            .command(1, PowerCommand::Isolation(true))
            .expect("gun 1");
        let now = run(&mut stage, now, ms(600));
        assert_eq!(stage.readings(1).expect("1").isolation, None, "settling");
        run(&mut stage, now, ms(600));
        assert_eq!(
            stage.readings(1).expect("1").isolation,
            Some(Ohms(50_000.0))
        );
        assert!(stage.command(2, PowerCommand::Contactors(true)).is_err());
        assert!(stage.command(1, demand(f64::NAN, 1.0)).is_err());
    }
}
