//! `joule charger`: runs a charging station from its configuration until interrupted.

use anyhow::{Context, Result};
use clap::Args;
use station::GunSpec;
use station::config::{OcppVersion, StationConfig};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// Command-line settings of the station.
#[derive(Debug, Args)]
pub struct ChargerArgs {
    /// Station configuration (`.toml` or `.json`; seed 003's `charger.json` layout loads as is).
    #[arg(long)]
    config: PathBuf,
    /// Address of the Live Controller HTTP API, overriding the configuration.
    #[arg(long)]
    http: Option<SocketAddr>,
}

/// The runtime's view of each configured gun.
pub fn gun_specs(config: &StationConfig) -> Vec<GunSpec> {
    config
        .guns
        .iter()
        .map(|g| GunSpec {
            gun: g.id,
            label: g.label.clone(),
            backend: g.backend.clone(),
            max_voltage: g.max_voltage,
            max_current: g.max_current,
            max_power: g.max_power,
            pecc_url: g.pecc_url.clone(),
        })
        .collect()
}

/// Runs the station until Ctrl-C.
pub fn run(args: ChargerArgs) -> Result<ExitCode> {
    let config = StationConfig::from_file(&args.config)?;
    let http = args.http.unwrap_or(config.http);
    let specs = gun_specs(&config);
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let running = station::start(&specs, http, config.api_token.clone()).await?;
        if let Some(endpoint) = config.ocpp() {
            if endpoint.version == OcppVersion::V16 {
                let mut settings = station::ocpp16::OcppSettings::new(
                    endpoint.url.to_string(),
                    endpoint.station_id.to_string(),
                );
                settings.vendor = config.vendor.clone();
                settings.model = config.model.clone();
                settings.firmware_version = config.firmware_version.clone();
                settings.keys = vec![(
                    "MeterValueSampleInterval".into(),
                    config.meter_sample_interval.as_secs().to_string(),
                )];
                settings.session = charger::SessionParams::seed_defaults();
                station::ocpp16::start(settings, running.guns.clone()).await?;
            } else {
                tracing::warn!(version = %endpoint.version, "the station speaks OCPP 1.6 only so far; running standalone");
            }
        }
        // The banner is informational: a closed stdout must not stop the station.
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "station {} running: HTTP API on http://{}",
            config.station_id, running.http_addr
        );
        for spec in &specs {
            let _ = writeln!(
                out,
                "  gun {} ({}): http://{}/guns/{}/status",
                spec.gun, spec.label, running.http_addr, spec.gun
            );
        }
        let _ = out.flush();
        drop(out);
        tokio::signal::ctrl_c()
            .await
            .context("cannot wait for Ctrl-C")?;
        running.shutdown().await;
        Ok(ExitCode::SUCCESS)
    })
}
