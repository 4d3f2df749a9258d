//! `joule pecc`: the power-cabinet controller's command line.

use anyhow::Result;
use clap::Args;
use std::process::ExitCode;

/// Command-line settings of the power-cabinet controller.
#[derive(Debug, Args)]
pub struct PeccArgs {}

/// Runs the power-cabinet controller until interrupted.
pub fn run(_args: PeccArgs) -> Result<ExitCode> {
    anyhow::bail!("not built yet")
}
