//! The hardware of one DC charging gun, as the session logic sees it.
//!
//! Each device is a trait: PWM generator, control pilot, output contactor (with feedback), DC power
//! supply, meter, isolation monitor and connector lock. A backend bundles them as a
//! [`GunHardware`], chosen by name per gun through [`create`] (`sim` now; CAN to a per-gun PLC and
//! PEP-WS to a power cabinet later, behind the same traits).
//!
//! The traits are synchronous on purpose: commands are recorded or queued, readings come from the
//! backend's latest known state. A backend that talks to hardware over a bus keeps that state up to
//! date in [`GunHardware::poll`] (the simulated backend integrates its physics there), so the
//! per-gun task owns its hardware without locks and tests drive it on virtual time.

pub mod pepws;
pub mod sim;
pub mod units;

use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Instant;
pub use units::{Amps, Ohms, Volts, WattHours, Watts};

/// Control-pilot state (IEC 61851-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CpState {
    /// No vehicle.
    A,
    /// Vehicle connected, not ready.
    B,
    /// Vehicle ready to charge.
    C,
    /// Vehicle ready, ventilation required.
    D,
    /// Short circuit or no power.
    E,
    /// EVSE fault (−12 V).
    F,
}

impl CpState {
    /// The state's letter.
    pub const fn letter(self) -> &'static str {
        match self {
            CpState::A => "A",
            CpState::B => "B",
            CpState::C => "C",
            CpState::D => "D",
            CpState::E => "E",
            CpState::F => "F",
        }
    }

    /// The state named by `letter` (`A`–`F`).
    pub fn from_letter(letter: &str) -> Option<Self> {
        Some(match letter {
            "A" => CpState::A,
            "B" => CpState::B,
            "C" => CpState::C,
            "D" => CpState::D,
            "E" => CpState::E,
            "F" => CpState::F,
            _ => return None,
        })
    }

    /// The nominal pilot voltage of the state's positive half-wave.
    pub const fn nominal_voltage(self) -> Volts {
        Volts(match self {
            CpState::A => 12.0,
            CpState::B => 9.0,
            CpState::C => 6.0,
            CpState::D => 3.0,
            CpState::E => 0.0,
            CpState::F => -12.0,
        })
    }
}

impl fmt::Display for CpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.letter())
    }
}

/// A fault, raised by the hardware or injected by an operator.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Fault {
    /// Emergency stop pressed.
    EmergencyStop,
    /// Output current above the allowed value.
    Overcurrent,
    /// Output voltage above the allowed value.
    Overvoltage,
    /// Insulation resistance below the fault threshold.
    Isolation,
    /// Ground (earth) fault.
    GroundFault,
    /// Communication with the hardware or the vehicle lost.
    CommunicationLoss,
    /// The contactor stays closed after being opened.
    ContactorWelded,
    /// The contactor does not close when commanded.
    ContactorStuckOpen,
    /// Over-temperature.
    OverTemperature,
    /// Meter readings missing or implausible.
    MeterFailure,
    /// Any other fault, by name (the seed API accepts any string).
    Other(String),
}

impl Fault {
    /// The fault's API spelling (`E_STOP`, `OVERCURRENT`, …).
    pub fn as_str(&self) -> &str {
        match self {
            Fault::EmergencyStop => "E_STOP",
            Fault::Overcurrent => "OVERCURRENT",
            Fault::Overvoltage => "OVERVOLTAGE",
            Fault::Isolation => "ISOLATION",
            Fault::GroundFault => "GROUND_FAULT",
            Fault::CommunicationLoss => "COMM_LOSS",
            Fault::ContactorWelded => "CONTACTOR_WELDED",
            Fault::ContactorStuckOpen => "CONTACTOR_STUCK_OPEN",
            Fault::OverTemperature => "OVER_TEMPERATURE",
            Fault::MeterFailure => "METER_FAILURE",
            Fault::Other(name) => name,
        }
    }

    /// The fault an API name stands for; unknown names are kept as [`Fault::Other`].
    pub fn parse(name: &str) -> Self {
        match name {
            "E_STOP" => Fault::EmergencyStop,
            "OVERCURRENT" => Fault::Overcurrent,
            "OVERVOLTAGE" => Fault::Overvoltage,
            "ISOLATION" => Fault::Isolation,
            "GROUND_FAULT" => Fault::GroundFault,
            "COMM_LOSS" => Fault::CommunicationLoss,
            "CONTACTOR_WELDED" => Fault::ContactorWelded,
            "CONTACTOR_STUCK_OPEN" => Fault::ContactorStuckOpen,
            "OVER_TEMPERATURE" => Fault::OverTemperature,
            "METER_FAILURE" => Fault::MeterFailure,
            other => Fault::Other(other.to_string()),
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a hardware command failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum HalError {
    /// A value outside what the device accepts.
    #[error("{what} out of range: {value}")]
    OutOfRange {
        /// The quantity.
        what: &'static str,
        /// The value given.
        value: f64,
    },
    /// The operation does not exist on this backend (e.g. forcing a pilot state on real hardware).
    #[error("not supported by the {backend} backend: {operation}")]
    Unsupported {
        /// The backend.
        backend: &'static str,
        /// The operation.
        operation: &'static str,
    },
    /// The device does not answer.
    #[error("device not responding: {0}")]
    NotResponding(&'static str),
}

/// Result of hardware commands.
pub type HalResult<T = ()> = Result<T, HalError>;

/// The PWM generator of the control pilot.
pub trait Pwm: Send {
    /// Sets the duty cycle in percent (0–100; 5 % requests digital communication).
    fn set_duty(&mut self, percent: f64) -> HalResult;
    /// The duty cycle in force, percent.
    fn duty(&self) -> f64;
}

/// The control-pilot line.
pub trait ControlPilot: Send {
    /// The state read from the line.
    fn state(&self) -> CpState;
    /// The measured pilot voltage.
    fn voltage(&self) -> Volts;
    /// Forces the state (simulation only; real pilots are read, not written).
    fn simulate(&mut self, state: CpState) -> HalResult;
}

/// The output contactor.
pub trait Contactor: Send {
    /// Commands it closed or open.
    fn command(&mut self, closed: bool) -> HalResult;
    /// What was last commanded.
    fn commanded_closed(&self) -> bool;
    /// What the auxiliary contact reports.
    fn feedback_closed(&self) -> bool;
}

/// What a power supply can deliver.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SupplyCapabilities {
    /// Lowest regulated output voltage.
    pub min_voltage: Volts,
    /// Highest output voltage.
    pub max_voltage: Volts,
    /// Highest output current.
    pub max_current: Amps,
    /// Highest output power.
    pub max_power: Watts,
}

/// The phase of a charging session as the power electronics see it. A local supply ignores it;
/// a remote power cabinet (PEP-WS) needs it to tell pre-charge from charge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SupplyStage {
    /// No session: output off.
    Standby,
    /// Insulation test before charging.
    CableCheck,
    /// Matching the vehicle's battery voltage at limited current.
    PreCharge,
    /// Energy transfer.
    Charge,
    /// Winding down: no current.
    PostCharge,
}

/// The DC power supply (power modules) behind the contactor.
pub trait PowerSupply: Send {
    /// Tells the supply which phase the session is in (a local supply need not care).
    fn set_stage(&mut self, stage: SupplyStage) -> HalResult {
        let _ = stage;
        Ok(())
    }
    /// Switches the output on or off (off discharges towards 0 V).
    fn enable(&mut self, on: bool) -> HalResult;
    /// Whether the output is on.
    fn enabled(&self) -> bool;
    /// Sets the voltage setpoint.
    fn set_voltage(&mut self, voltage: Volts) -> HalResult;
    /// Sets the current limit.
    fn set_current_limit(&mut self, current: Amps) -> HalResult;
    /// Measured output voltage and current, at the supply side of the contactor.
    fn measured(&self) -> (Volts, Amps);
    /// The supply's limits.
    fn capabilities(&self) -> SupplyCapabilities;
}

/// One meter reading.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MeterReading {
    /// The imported-energy register, monotonic.
    pub energy: WattHours,
    /// Voltage at the gun.
    pub voltage: Volts,
    /// Current through the gun.
    pub current: Amps,
    /// Power through the gun.
    pub power: Watts,
}

/// The DC meter at the gun, after the contactor.
pub trait Meter: Send {
    /// The latest reading; `None` while the meter does not deliver (a real meter may go silent).
    fn reading(&self) -> Option<MeterReading>;
}

/// The insulation monitor.
pub trait IsolationMonitor: Send {
    /// Starts a self-test; its result comes through [`IsolationMonitor::self_test_passed`].
    fn start_self_test(&mut self) -> HalResult;
    /// `None` while a self-test runs or before any, then whether the last one passed.
    fn self_test_passed(&self) -> Option<bool>;
    /// Measured insulation resistance between the DC lines and earth, if measuring.
    fn resistance(&self) -> Option<Ohms>;
}

/// The connector lock.
pub trait ConnectorLock: Send {
    /// Locks or unlocks.
    fn set_locked(&mut self, locked: bool) -> HalResult;
    /// Whether it is locked (feedback).
    fn is_locked(&self) -> bool;
}

/// All the hardware of one gun.
pub trait GunHardware: Send {
    /// The backend's name (`sim`, …).
    fn backend(&self) -> &'static str;
    /// The pilot PWM generator.
    fn pwm(&mut self) -> &mut dyn Pwm;
    /// The control pilot.
    fn control_pilot(&mut self) -> &mut dyn ControlPilot;
    /// The output contactor.
    fn contactor(&mut self) -> &mut dyn Contactor;
    /// The power supply.
    fn power_supply(&mut self) -> &mut dyn PowerSupply;
    /// The meter.
    fn meter(&mut self) -> &mut dyn Meter;
    /// The isolation monitor.
    fn isolation_monitor(&mut self) -> &mut dyn IsolationMonitor;
    /// The connector lock.
    fn connector_lock(&mut self) -> &mut dyn ConnectorLock;
    /// Brings the backend's state up to `now`: the simulation advances its physics, a bus backend
    /// takes in what arrived. Call it before reading and after commanding.
    fn poll(&mut self, now: Instant);
    /// Faults the hardware reports at present (empty when healthy).
    fn faults(&self) -> Vec<Fault>;

    /// The vehicle's state of charge in percent, when the backend knows it (a simulated
    /// vehicle, or ISO 15118 / DIN 70121 messages relayed by a PLC).
    fn ev_state_of_charge(&self) -> Option<f64> {
        None
    }

    /// Whether the power electronics run the cable check themselves (a PEP-WS power cabinet
    /// closes the contactors, drives the test voltage and reports the verdict through the
    /// isolation monitor's self-test) instead of the session machine sampling the insulation.
    fn delegated_cable_check(&self) -> bool {
        false
    }
}

/// Settings a backend needs for one gun.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GunSettings {
    /// Gun number, from 1.
    pub gun: u32,
    /// The gun's current limit.
    pub max_current: Amps,
    /// The gun's power limit.
    pub max_power: Watts,
    /// The gun's voltage limit.
    pub max_voltage: Volts,
}

/// Why a backend could not be created.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// No backend has this name.
    #[error("unknown hardware backend {0:?} (available: {1})")]
    Unknown(String, String),
    /// The backend talks to remote equipment and is built with its link (see [`pepws`]).
    #[error("the {0} backend needs a network link; build it with its link")]
    NeedsLink(&'static str),
}

/// The backend names a station may configure: [`create`] builds `sim`; `pepws` is built by the
/// station with its network link ([`pepws::PepwsGun::new`]).
pub const BACKENDS: &[&str] = &["sim", "pepws"];

/// Creates the backend named `name` (case-insensitive) for a gun, starting at `now`.
pub fn create(
    name: &str,
    settings: &GunSettings,
    now: Instant,
) -> Result<Box<dyn GunHardware>, RegistryError> {
    match name.to_ascii_lowercase().as_str() {
        "sim" => Ok(Box::new(sim::SimGun::new(
            sim::SimConfig::for_gun(settings),
            now,
        ))),
        "pepws" => Err(RegistryError::NeedsLink("pepws")),
        _ => Err(RegistryError::Unknown(
            name.to_string(),
            BACKENDS.join(", "),
        )),
    }
}
