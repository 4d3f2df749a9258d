//! `joule sim fleet`: the load generator's command line.

use anyhow::Result;
use clap::Args;
use std::process::ExitCode;

/// Command-line settings of the fleet.
#[derive(Debug, Args)]
pub struct FleetArgs {}

/// Runs the fleet.
pub fn run(_args: FleetArgs) -> Result<ExitCode> {
    anyhow::bail!("not built yet")
}
