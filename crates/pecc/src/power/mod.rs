//! The power stage of the cabinet as the controller sees it: a [`PowerBackend`] takes per-gun
//! commands (contactors, output demand, insulation measurement) and reports per-gun readings.
//!
//! The backend owns the power modules and shares them among the guns by demand
//! ([`allocation`]): a gun asks for a voltage and a current, and gets the modules that power
//! needs while others are free; its current is derated to what its modules deliver. The
//! simulated stage ([`sim`]) is delivered now; a CAN power-module backend implements the same
//! trait later.
//!
//! Like the station's hardware traits, this one is synchronous: commands are recorded, readings
//! are the latest state, and [`PowerBackend::poll`] brings that state up to `now`.

pub mod allocation;
pub mod sim;

use hal::{Amps, Ohms, Volts};
use serde::Serialize;
use std::time::Instant;

/// What the output should drive.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Demand {
    /// Voltage setpoint.
    pub voltage: Volts,
    /// Current limit.
    pub current: Amps,
}

/// A command to one gun's part of the power stage.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum PowerCommand {
    /// Close (`true`) or open the output contactors. Closing also needs the CP/PP supervision
    /// signal (a hardware AND gate).
    Contactors(bool),
    /// Drive the output (`Some`) or switch it off and discharge it (`None`).
    Output(Option<Demand>),
    /// Start (`true`) or stop the insulation measurement.
    Isolation(bool),
}

/// One gun's readings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Readings {
    /// Voltage measured at the outlet (after the contactors).
    pub outlet_voltage: Volts,
    /// Current measured at the outlet.
    pub outlet_current: Amps,
    /// Voltage at the power stage's output (before the contactors).
    pub output_voltage: Volts,
    /// Current of the power stage's output.
    pub output_current: Amps,
    /// The voltage setpoint in force (0 when off).
    pub driven_voltage: Volts,
    /// The current limit in force after derating to the allocated modules (0 when off).
    pub driven_current: Amps,
    /// Hottest temperature of the gun's power path, °C.
    pub temperature: f64,
    /// Contactor feedback: closed.
    pub contactors_closed: bool,
    /// The CP/PP supervision signal from the SECC allows closing.
    pub supervision: bool,
    /// Latest insulation resistance while measuring, once settled.
    pub isolation: Option<Ohms>,
    /// Power modules allocated to the gun now.
    pub modules: usize,
    /// Faults of the gun's power path (empty when healthy).
    pub faults: Vec<String>,
}

impl Readings {
    /// Readings of an idle, healthy gun.
    pub fn idle(ambient: f64) -> Self {
        Self {
            outlet_voltage: Volts::ZERO,
            outlet_current: Amps::ZERO,
            output_voltage: Volts::ZERO,
            output_current: Amps::ZERO,
            driven_voltage: Volts::ZERO,
            driven_current: Amps::ZERO,
            temperature: ambient,
            contactors_closed: false,
            supervision: true,
            isolation: None,
            modules: 0,
            faults: Vec::new(),
        }
    }
}

/// One power module's state, for diagnostics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModuleStatus {
    /// Module number, from 1.
    pub module: usize,
    /// The gun it feeds, if any.
    pub gun: Option<u32>,
    /// Output voltage.
    pub voltage: Volts,
    /// Output current.
    pub current: Amps,
    /// Temperature, °C.
    pub temperature: f64,
}

/// Why a power-stage command failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PowerError {
    /// No such gun.
    #[error("no gun {0}")]
    UnknownGun(u32),
    /// A value the stage cannot take.
    #[error("{what} out of range: {value}")]
    OutOfRange {
        /// The quantity.
        what: &'static str,
        /// The value.
        value: f64,
    },
    /// The stage does not answer.
    #[error("power stage not responding: {0}")]
    NotResponding(String),
}

/// The cabinet's power stage.
pub trait PowerBackend: Send + std::fmt::Debug {
    /// The backend's name (`sim`, …).
    fn name(&self) -> &'static str;
    /// How many guns it feeds (numbered from 1).
    fn guns(&self) -> u32;
    /// Commands gun `gun`.
    fn command(&mut self, gun: u32, command: PowerCommand) -> Result<(), PowerError>;
    /// Brings the state up to `now` (the simulation integrates its physics, a bus backend takes
    /// in what arrived), re-allocating modules by demand.
    fn poll(&mut self, now: Instant);
    /// Gun `gun`'s latest readings.
    fn readings(&self, gun: u32) -> Result<Readings, PowerError>;
    /// Every module's state.
    fn modules(&self) -> Vec<ModuleStatus>;
}
