//! `joule pecc`: the power-cabinet controller's command line.

use anyhow::{Context, Result};
use clap::Args;
use pecc::PeccConfig;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// Command-line settings of the power-cabinet controller.
#[derive(Debug, Args)]
pub struct PeccArgs {
    /// Address of the one listener: the charge points' WebSocket paths (`/GUN1` … by default),
    /// `/splitdash`, the admin API under `/api/v1` and `/health` (default 0.0.0.0:8765, or the
    /// file's `listen`).
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Settings file, `.toml` or `.json` (`configs/pecc.toml` lists every key with its default).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Number of charge points, 1 to 72 (default 12, or the file's `guns`).
    #[arg(long, value_name = "N")]
    guns: Option<u32>,
}

/// Runs the power-cabinet controller until Ctrl-C, then puts every gun in standby.
pub fn run(args: PeccArgs) -> Result<ExitCode> {
    let mut config = match &args.config {
        Some(path) => PeccConfig::from_file(path)?,
        None => PeccConfig::new(12),
    };
    if let Some(guns) = args.guns {
        config = config.with_guns(guns);
    }
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    config
        .validate()
        .map_err(|e| anyhow::anyhow!("invalid settings: {e}"))?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let running = pecc::start(config).await?;
        // The banner is informational: a closed stdout must not stop the controller.
        let mut out = std::io::stdout().lock();
        let config = &running.shared.config;
        let _ = writeln!(
            out,
            "power-cabinet controller running on {} ({} charge points, {} power stage)",
            running.addr,
            config.guns,
            match config.power {
                pecc::config::PowerSettings::Sim(_) => "simulated",
            }
        );
        let shown = config.guns.min(4);
        for gun in 1..=shown {
            if let Some(url) = running.gun_url(gun) {
                let _ = writeln!(out, "  gun {gun}: {url}");
            }
        }
        if config.guns > shown
            && let Some(url) = running.gun_url(config.guns)
        {
            let _ = writeln!(out, "  …\n  gun {}: {url}", config.guns);
        }
        let _ = writeln!(
            out,
            "  monitoring: ws://{}{}\n  admin API: http://{}/api/v1/guns{}",
            running.addr,
            config.splitdash.path,
            running.addr,
            if config.admin_token.is_some() {
                " (bearer token required)"
            } else {
                " (loopback clients only)"
            }
        );
        for note in &running.notes {
            let _ = writeln!(out, "  data model: {note}");
        }
        let _ = out.flush();
        drop(out);
        tokio::signal::ctrl_c()
            .await
            .context("cannot wait for Ctrl-C")?;
        running.shutdown().await;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
