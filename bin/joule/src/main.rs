//! `joule`: the EV fast-charging platform in one binary, one subcommand per service.

mod charger_cmd;
mod csms_cmd;
mod demo;
mod fleet_cmd;
mod ocpp_check;
mod pecc_cmd;
mod sim_cmd;

use clap::{Parser, Subcommand};
use proto_ocpp::OcppVersion;
use std::path::PathBuf;
use std::process::ExitCode;

/// mimalloc: every message allocates its strings; glibc malloc and free were a fifth of the codec's
/// instructions, mimalloc cuts that and fragments less in long-running services.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "joule",
    version,
    about = "EV fast-charging platform: station, power cabinet, central system, simulators"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Starts the central system on built-in defaults (SQLite in a temporary directory, a
    /// generated API key, loopback ports) and charges one simulated station per OCPP version over
    /// real WebSockets, each stopped remotely through the REST API; then starts a two-gun
    /// simulated DC charger connected to it over OCPP 1.6 and charges on both guns at once.
    Demo {
        /// Keep the central system running afterwards, until Ctrl-C.
        #[arg(long)]
        keep_running: bool,
    },
    /// The charging station: one task per gun over its hardware backend (`sim` for now), the
    /// Live Controller HTTP API for every gun.
    Charger(charger_cmd::ChargerArgs),
    /// The central system: OCPP 1.6J, 2.0.1 and 2.1 stations over WebSocket, a REST API for
    /// operators, SQLite (default) or PostgreSQL.
    Csms(Box<csms_cmd::CsmsArgs>),
    /// The power-cabinet controller: serves PEP-WS to the SECCs of the dispensers and drives the
    /// power modules.
    Pecc(pecc_cmd::PeccArgs),
    /// Simulated charge points: one station on simulated hardware driven over HTTP, or a load-test
    /// fleet (`joule sim fleet`).
    Sim(Box<sim_cmd::SimArgs>),
    /// OCPP tools.
    Ocpp {
        #[command(subcommand)]
        command: OcppCommand,
    },
}

#[derive(Debug, Subcommand)]
enum OcppCommand {
    /// Checks a log of OCPP-J frames (one JSON array per line, optionally after a prefix such as a
    /// timestamp) against the official schemas. Prints one line per violation; exits 1 if any
    /// frame is invalid, 0 if all are valid.
    Check {
        /// OCPP version of the log: 1.6, 2.0.1 or 2.1.
        #[arg(long = "ocpp", value_name = "VERSION")]
        version: OcppVersion,
        /// The log file; `-` or nothing reads standard input.
        file: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Demo { keep_running } => demo::run(keep_running),
        Command::Csms(args) => csms_cmd::run(*args),
        Command::Charger(args) => charger_cmd::run(args),
        Command::Pecc(args) => pecc_cmd::run(args),
        Command::Sim(args) => sim_cmd::run(*args),
        Command::Ocpp {
            command: OcppCommand::Check { version, file },
        } => ocpp_check::run(version, file.as_deref()),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            // Usage and I/O failures exit with 2, like clap's own usage errors.
            let _ = std::io::Write::write_fmt(
                &mut std::io::stderr(),
                format_args!("joule: {error:#}\n"),
            );
            ExitCode::from(2)
        }
    }
}
