//! `joule sim`: simulated charge points. Without a subcommand it runs one station on simulated
//! hardware with a simulated EV per connector, connected to a central system over OCPP 1.6J and
//! driven over HTTP (seed 004's control API); `joule sim fleet` runs a load test of many
//! lightweight stations.

use crate::fleet_cmd::FleetArgs;
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use hal::{Amps, Volts, Watts};
use serde_json::json;
use station::GunSpec;
use station::ocpp16::{self, OcppSettings};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// `joule sim [fleet]`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SimArgs {
    #[command(subcommand)]
    command: Option<SimCommand>,
    #[command(flatten)]
    station: StationSimArgs,
}

#[derive(Debug, Subcommand)]
enum SimCommand {
    /// Load generator: many simulated stations, each a real OCPP client over its own WebSocket,
    /// with latency histograms per action and a JSON report.
    Fleet(FleetArgs),
}

/// One simulated station.
#[derive(Debug, Args)]
struct StationSimArgs {
    /// Central-system URL without the station id (`ws://127.0.0.1:9000/ocpp`).
    #[arg(long, env = "CSMS_URL", default_value = "ws://127.0.0.1:9000/ocpp")]
    csms: String,
    /// Station identity.
    #[arg(long, env = "CPID", default_value = "TestCP01")]
    id: String,
    /// Connectors (each a DC gun with a simulated vehicle).
    #[arg(long, env = "CONNECTORS", default_value_t = 2)]
    connectors: u32,
    /// OCPP version (1.6 only for now).
    #[arg(long, default_value = "1.6")]
    ocpp: String,
    /// Address of the control API.
    #[arg(long, env = "HTTP_ADDR", default_value = "127.0.0.1:7071")]
    http: SocketAddr,
    /// Measurands of periodic MeterValues (MeterValuesSampledData), comma-separated.
    #[arg(
        long,
        default_value = "Energy.Active.Import.Register,Power.Active.Import,Voltage,Current.Import,SoC"
    )]
    measurands: String,
    /// Jitter of reported power, voltage and current, ±percent (the energy register stays exact).
    #[arg(long, default_value_t = 0.0)]
    noise_percent: f64,
    /// Seconds between periodic MeterValues (MeterValueSampleInterval).
    #[arg(long, default_value_t = 10)]
    meter_interval: u32,
    /// SQLite state file (queued transaction messages, keys, list, cache, reservations); none
    /// keeps nothing across restarts.
    #[arg(long)]
    state: Option<PathBuf>,
    /// Password for HTTP Basic authentication (security profiles 1 and 2).
    #[arg(long, env = "CP_PASSWORD")]
    password: Option<String>,
    /// The central system's root certificate(s), PEM, for `wss://` (profiles 2 and 3).
    #[arg(long, env = "TLS_CA_CERT")]
    ca: Option<PathBuf>,
    /// The station's certificate chain, PEM, for mutual TLS (profile 3); needs `--key`.
    #[arg(long, env = "TLS_CLIENT_CERT", requires = "key")]
    cert: Option<PathBuf>,
    /// The station's private key, PEM (profile 3).
    #[arg(long, env = "TLS_CLIENT_KEY", requires = "cert")]
    key: Option<PathBuf>,
    /// Power rating of each gun, W.
    #[arg(long, default_value_t = 150_000.0)]
    gun_power: f64,
    /// BootNotification vendor.
    #[arg(long, default_value = "joule")]
    vendor: String,
    /// BootNotification model.
    #[arg(long, default_value = "joule-sim")]
    model: String,
}

/// TLS settings from `--ca`, `--cert` and `--key`.
fn tls_settings(args: &StationSimArgs) -> Result<Option<Arc<rustls::ClientConfig>>> {
    let Some(ca) = &args.ca else {
        if args.csms.starts_with("wss://") {
            bail!("a wss:// central system needs --ca (its root certificate)");
        }
        return Ok(None);
    };
    let read = |path: &PathBuf| {
        std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
    };
    let roots = read(ca)?;
    let identity = match (&args.cert, &args.key) {
        (Some(cert), Some(key)) => Some((read(cert)?, read(key)?)),
        _ => None,
    };
    let config = ocpp_client::tls::client_config(
        &roots,
        identity.as_ref().map(|(c, k)| (c.as_slice(), k.as_slice())),
    )?;
    Ok(Some(config))
}

/// Runs the chosen simulator.
pub fn run(args: SimArgs) -> Result<ExitCode> {
    match args.command {
        Some(SimCommand::Fleet(fleet)) => crate::fleet_cmd::run(fleet),
        None => station(args.station),
    }
}

fn station(args: StationSimArgs) -> Result<ExitCode> {
    if args.ocpp != "1.6" {
        bail!(
            "the simulated station speaks OCPP 1.6 only so far (got --ocpp {})",
            args.ocpp
        );
    }
    if !(1..=24).contains(&args.connectors) {
        bail!("--connectors must be 1 to 24");
    }
    let specs: Vec<GunSpec> = (1..=args.connectors)
        .map(|n| GunSpec {
            gun: n,
            label: format!("Connector {n}"),
            backend: "sim".into(),
            max_voltage: Volts(1000.0),
            max_current: Amps(400.0),
            max_power: Watts(args.gun_power),
            pecc_url: None,
        })
        .collect();
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let guns = station::spawn_guns(&specs)?;
        let mut settings = OcppSettings::new(args.csms.clone(), args.id.clone());
        settings.vendor = args.vendor.clone();
        settings.model = args.model.clone();
        settings.plug_sensing = true;
        if !(0.0..=50.0).contains(&args.noise_percent) {
            bail!("--noise-percent must be 0 to 50");
        }
        settings.meter_noise_percent = args.noise_percent;
        settings.state_file = args.state.clone();
        settings.keys = vec![
            ("MeterValuesSampledData".into(), args.measurands.clone()),
            (
                "MeterValueSampleInterval".into(),
                args.meter_interval.to_string(),
            ),
        ];
        if let Some(password) = &args.password {
            settings
                .keys
                .push(("AuthorizationKey".into(), password.clone()));
        }
        settings.tls = tls_settings(&args)?;
        let charge_point = ocpp16::start(settings, guns.clone()).await?;
        let app = Arc::new(station::sim::SimApp {
            charge_point,
            guns,
            settings: json!({
                "csms": args.csms,
                "id": args.id,
                "connectors": args.connectors,
                "ocpp": args.ocpp,
                "measurands": args.measurands,
                "meterInterval": args.meter_interval,
            }),
        });
        let listener = tokio::net::TcpListener::bind(args.http)
            .await
            .with_context(|| format!("cannot listen on {}", args.http))?;
        let addr = listener.local_addr()?;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "simulated station {} ({} connectors) → {}; control API on http://{addr}",
            args.id, args.connectors, args.csms
        );
        drop(out);
        axum::serve(listener, station::sim::router(app))
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .context("control API failed")?;
        Ok(ExitCode::SUCCESS)
    })
}
