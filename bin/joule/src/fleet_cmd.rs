//! `joule sim fleet`: the load generator's command line. It raises the open-file limit, runs the
//! fleet with a progress line on standard error, prints the summary and writes the JSON report.
//! The exit status is 0 for a clean run (every station connected, no failed CALL, no dropped
//! connection, every transaction stopped), 1 otherwise.

use anyhow::{Context, Result};
use clap::Args;
use fleet::{FleetConfig, Progress, Report, Workload, parse_duration};
use proto_ocpp::OcppVersion;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Command-line settings of the fleet.
#[derive(Debug, Args)]
pub struct FleetArgs {
    /// Central-system URL without the station id; station N connects to URL/FLEET-00000N.
    #[arg(long, value_name = "URL")]
    csms: String,
    /// Number of simulated stations.
    #[arg(long, value_name = "N")]
    stations: usize,
    /// Connectors per station.
    #[arg(long, value_name = "K", default_value_t = 1)]
    connectors: u32,
    /// OCPP version the stations speak: 1.6, 2.0.1 or 2.1.
    #[arg(long = "ocpp", value_name = "VERSION", default_value = "1.6")]
    version: OcppVersion,
    /// How long to run at full load once every station has started (e.g. 15s, 2m).
    #[arg(long, value_name = "D", value_parser = duration, default_value = "60s")]
    duration: Duration,
    /// Stations started per second during the boot storm.
    #[arg(long, value_name = "R", default_value_t = 1000.0)]
    ramp: f64,
    /// Seed of the workload's random draws; the same seed repeats the same workload.
    #[arg(long, value_name = "S", default_value_t = 1)]
    seed: u64,
    /// Keep one CALL in flight per station all the time (Heartbeat and MeterValues
    /// alternating) instead of the modelled workload.
    #[arg(long)]
    saturate: bool,
    /// Write the report as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Time between a station's heartbeats.
    #[arg(long, value_name = "D", value_parser = duration, default_value = "60s")]
    heartbeat: Duration,
    /// Charging sessions per connector per hour.
    #[arg(long, value_name = "RATE", default_value_t = 2.0)]
    sessions_per_hour: f64,
    /// Mean length of a charging session (each lasts 0.5 to 1.5 times it).
    #[arg(long, value_name = "D", value_parser = duration, default_value = "20m")]
    session_length: Duration,
    /// Time between meter values during a session.
    #[arg(long, value_name = "D", value_parser = duration, default_value = "60s")]
    meter_interval: Duration,
    /// Status changes (Unavailable, then Available again) per idle connector per hour.
    #[arg(long, value_name = "RATE", default_value_t = 1.0)]
    status_changes_per_hour: f64,
    /// Each station starts up to this much after its place in the ramp.
    #[arg(long, value_name = "D", value_parser = duration, default_value = "1s")]
    boot_jitter: Duration,
    /// Station ids are this prefix and a six-digit number.
    #[arg(long, value_name = "PREFIX", default_value = "FLEET-")]
    station_prefix: String,
    /// Loopback source addresses (127.0.0.1, 127.0.0.2, …) to spread connections over when the
    /// central system is on loopback [default: one per 25,000 stations].
    #[arg(long, value_name = "N")]
    source_addresses: Option<u8>,
    /// How long a CALL may wait for its answer before it counts as a Timeout error.
    #[arg(long, value_name = "D", value_parser = duration, default_value = "30s")]
    call_timeout: Duration,
    /// How long one station's TCP and WebSocket handshakes may take.
    #[arg(long, value_name = "D", value_parser = duration, default_value = "30s")]
    connect_timeout: Duration,
    /// Worker threads of the fleet's runtime [default: one per core].
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// No progress line.
    #[arg(long, short)]
    quiet: bool,
}

fn duration(text: &str) -> Result<Duration, String> {
    parse_duration(text).map_err(|e| e.to_string())
}

impl FleetArgs {
    fn config(&self) -> FleetConfig {
        let mut config = FleetConfig::new(self.csms.clone(), self.stations, self.version);
        config.connectors = self.connectors;
        config.duration = self.duration;
        config.ramp_per_s = self.ramp;
        config.seed = self.seed;
        config.saturate = self.saturate;
        config.workload = Workload {
            heartbeat_interval: self.heartbeat,
            sessions_per_hour: self.sessions_per_hour,
            session_length: self.session_length,
            meter_interval: self.meter_interval,
            status_changes_per_hour: self.status_changes_per_hour,
            boot_jitter: self.boot_jitter,
        };
        config.station_prefix = self.station_prefix.clone();
        config.source_addresses = self.source_addresses;
        config.call_timeout = self.call_timeout;
        config.connect_timeout = self.connect_timeout;
        config
    }
}

/// Runs the fleet.
pub fn run(args: FleetArgs) -> Result<ExitCode> {
    let config = args.config();
    config.validate()?;
    let limit = fleet::limits::raise_for(config.stations, 0);
    let mut err = std::io::stderr();
    if let Some(refused) = &limit.refused {
        writeln!(err, "joule sim fleet: warning: {refused}")?;
    }
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if let Some(threads) = args.threads {
        builder.worker_threads(threads.max(1));
    }
    let runtime = builder.build().context("cannot start the async runtime")?;
    let report = runtime.block_on(drive(config, limit, args.quiet))?;
    writeln!(err)?;
    write!(err, "{report}")?;
    if let Some(path) = &args.report {
        std::fs::write(path, report.to_json() + "\n")
            .with_context(|| format!("cannot write the report to {}", path.display()))?;
    }
    Ok(if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn drive(config: FleetConfig, limit: fleet::FileLimit, quiet: bool) -> Result<Report> {
    let total = config.end();
    let running = fleet::start_with_limit(config, Some(limit)).await?;
    let terminal = std::io::stderr().is_terminal();
    // A terminal gets a line redrawn four times a second; a log, a line every ten seconds.
    let every = if terminal {
        Duration::from_millis(250)
    } else {
        Duration::from_secs(10)
    };
    let mut ticks = tokio::time::interval(every);
    ticks.tick().await;
    let monitor = running.monitor();
    let finished = running.finish();
    tokio::pin!(finished);
    let mut stopping = false;
    loop {
        tokio::select! {
            report = &mut finished => return Ok(report),
            _ = ticks.tick(), if !quiet => {
                let mut err = std::io::stderr();
                let line = progress_line(&monitor.progress(), total);
                if terminal {
                    let _ = write!(err, "\r{line}\x1b[K");
                } else {
                    let _ = writeln!(err, "{line}");
                }
            }
            result = tokio::signal::ctrl_c(), if !stopping => {
                result.context("cannot wait for Ctrl-C")?;
                stopping = true;
                let _ = writeln!(std::io::stderr(), "\nstopping: open sessions are stopped, then the stations leave");
                monitor.stop();
            }
        }
    }
}

/// `[#####-----] 12,000/20,000 connected · 11,990 online · 123,456 round trips · 0 errors ·
/// 0 dropped · 42 s of 80 s`.
fn progress_line(p: &Progress, total: Duration) -> String {
    const WIDTH: u64 = 24;
    let stations = p.stations.max(1);
    let filled = (p.connected + p.connect_failures).min(stations) * WIDTH / stations;
    let bar: String = (0..WIDTH)
        .map(|i| if i < filled { '#' } else { '-' })
        .collect();
    let mut line = format!(
        "[{bar}] {}/{} connected · {} online · {} round trips · {} errors · {} dropped",
        p.connected, p.stations, p.online, p.round_trips, p.errors, p.disconnects
    );
    if p.connect_failures > 0 {
        line.push_str(&format!(" · {} not connected", p.connect_failures));
    }
    line.push_str(&format!(
        " · {:.0} s of {:.0} s",
        p.elapsed.as_secs_f64(),
        total.as_secs_f64()
    ));
    line
}
