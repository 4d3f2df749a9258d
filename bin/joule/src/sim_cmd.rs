//! `joule sim`: simulated charge points. Without a subcommand it runs one station on simulated
//! hardware with a simulated EV per connector, driven over HTTP; `joule sim fleet` runs a load
//! test of many lightweight stations.

use crate::fleet_cmd::FleetArgs;
use anyhow::Result;
use clap::{Args, Subcommand};
use std::process::ExitCode;

/// `joule sim [fleet]`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SimArgs {
    #[command(subcommand)]
    command: Option<SimCommand>,
}

#[derive(Debug, Subcommand)]
enum SimCommand {
    /// Load generator: many simulated stations, each a real OCPP client over its own WebSocket,
    /// with latency histograms per action and a JSON report.
    Fleet(FleetArgs),
}

/// Runs the chosen simulator.
pub fn run(args: SimArgs) -> Result<ExitCode> {
    match args.command {
        Some(SimCommand::Fleet(fleet)) => crate::fleet_cmd::run(fleet),
        None => anyhow::bail!(
            "the interactive station simulator is not built yet; try `joule sim fleet`"
        ),
    }
}
