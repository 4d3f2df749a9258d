//! `cargo xtask bench-csms`: the central system's capacity benchmark.
//!
//! For each database backend (SQLite, PostgreSQL) and each step, it starts a fresh `joule csms`
//! (release build) on a fresh database, runs `joule sim fleet` against it, samples the central
//! system's resident memory and CPU time from `/proc` while the fleet holds full load, checks the
//! transactions in the database against the fleet's report through the REST API, and prints one
//! table row per step. Steps:
//!
//! - `hold`: N stations connect in a boot storm and stay connected with heartbeats only; the
//!   memory per connection is the resident-memory growth over the idle central system, divided by
//!   the stations connected;
//! - `workload`: N stations with the fleet's modelled workload (sessions, meter values, status
//!   changes, heartbeats);
//! - `saturate`: N stations each keep one CALL in flight all the time.
//!
//! ```text
//! cargo xtask bench-csms [--hold 1000,10000,50000,100000] [--workload 10000]
//!     [--saturate 1000,10000] [--backends sqlite,postgres] [--duration 30s] [--ramp 2000]
//!     [--ocpp 1.6] [--postgres URL] [--out DIR] [--no-build] [--joule PATH]
//! ```
//!
//! `--joule PATH` runs a given binary instead of building `target/release/joule`.
//!
//! CPU is the central system's own process, in percent of one core (PostgreSQL's server
//! processes are not counted); latencies are the fleet's, over the full-load window.
//!
//! Results go to `DIR/results.json` and `DIR/results.md` (default `target/bench-csms`), with the
//! machine described; each step's fleet report and logs stay beside them.

use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const API_KEY: &str = "bench-key";
const OCPP_PORT: u16 = 19_700;
const API_PORT: u16 = 19_701;

/// What to run.
struct Options {
    hold: Vec<usize>,
    workload: Vec<usize>,
    saturate: Vec<usize>,
    backends: Vec<String>,
    duration: String,
    ramp: String,
    ocpp: String,
    postgres: String,
    out: PathBuf,
    build: bool,
    joule: PathBuf,
}

impl Options {
    fn parse(root: &Path, args: &[String]) -> Result<Options> {
        let mut options = Options {
            hold: vec![1_000, 10_000, 50_000, 100_000],
            workload: vec![10_000],
            saturate: vec![1_000, 10_000],
            backends: vec!["sqlite".into(), "postgres".into()],
            duration: "30s".into(),
            ramp: "2000".into(),
            ocpp: "1.6".into(),
            postgres: "postgres://postgres@127.0.0.1:5432/test".into(),
            out: root.join("target/bench-csms"),
            build: true,
            joule: root.join("target/release/joule"),
        };
        let sizes = |text: &str| -> Result<Vec<usize>> {
            text.split(',')
                .filter(|s| !s.trim().is_empty())
                .map(|s| s.trim().parse().with_context(|| format!("size {s:?}")))
                .collect()
        };
        let mut args = args.iter();
        while let Some(flag) = args.next() {
            if flag == "--no-build" {
                options.build = false;
                continue;
            }
            let value = args
                .next()
                .with_context(|| format!("{flag} needs a value"))?;
            match flag.as_str() {
                "--hold" => options.hold = sizes(value)?,
                "--workload" => options.workload = sizes(value)?,
                "--saturate" => options.saturate = sizes(value)?,
                "--backends" => {
                    options.backends = value.split(',').map(|s| s.trim().to_string()).collect();
                }
                "--duration" => options.duration = value.clone(),
                "--ramp" => options.ramp = value.clone(),
                "--ocpp" => options.ocpp = value.clone(),
                "--postgres" => options.postgres = value.clone(),
                "--out" => options.out = PathBuf::from(value),
                "--joule" => {
                    options.joule = PathBuf::from(value);
                    options.build = false;
                }
                other => bail!(
                    "unknown option {other}; usage: cargo xtask bench-csms [--hold SIZES] \
                     [--workload SIZES] [--saturate SIZES] [--backends sqlite,postgres] \
                     [--duration D] [--ramp R] [--ocpp V] [--postgres URL] [--out DIR] [--no-build] [--joule PATH]"
                ),
            }
        }
        for backend in &options.backends {
            ensure!(
                backend == "sqlite" || backend == "postgres",
                "unknown backend {backend:?}: sqlite or postgres"
            );
        }
        Ok(options)
    }
}

/// One step of the benchmark.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Hold,
    Workload,
    Saturate,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Hold => "hold",
            Mode::Workload => "workload",
            Mode::Saturate => "saturate",
        }
    }
}

pub fn run(root: &Path, args: &[String]) -> Result<()> {
    let options = Options::parse(root, args)?;
    let joule = options.joule.clone();
    if options.build {
        eprintln!("==> cargo build --release -p joule");
        let status = Command::new("cargo")
            .args(["build", "--release", "-p", "joule"])
            .current_dir(root)
            .status()
            .context("cannot run cargo")?;
        ensure!(status.success(), "the release build failed");
    }
    ensure!(
        joule.exists(),
        "{} is missing; build it or drop --no-build",
        joule.display()
    );
    std::fs::create_dir_all(&options.out)?;
    let machine = machine();
    eprintln!("==> machine: {}", machine["summary"].as_str().unwrap_or(""));
    let mut steps = Vec::new();
    for size in &options.hold {
        steps.push((Mode::Hold, *size));
    }
    for size in &options.workload {
        steps.push((Mode::Workload, *size));
    }
    for size in &options.saturate {
        steps.push((Mode::Saturate, *size));
    }
    let mut rows = Vec::new();
    for backend in &options.backends {
        for (mode, size) in &steps {
            eprintln!("==> {backend} {} {size}", mode.name());
            let row = match run_step(&options, &joule, backend, *mode, *size) {
                Ok(row) => row,
                Err(e) => {
                    eprintln!("    failed: {e:#}");
                    json!({"backend": backend, "mode": mode.name(), "stations": size,
                           "failure": format!("{e:#}")})
                }
            };
            eprintln!("    {}", table_row(&row));
            rows.push(row);
            write_results(&options.out, &machine, &rows)?;
        }
    }
    let table = table(&machine, &rows);
    println!("{table}");
    Ok(())
}

fn write_results(out: &Path, machine: &Value, rows: &[Value]) -> Result<()> {
    let results = json!({"machine": machine, "steps": rows});
    std::fs::write(
        out.join("results.json"),
        serde_json::to_string_pretty(&results)?,
    )?;
    std::fs::write(out.join("results.md"), table(machine, rows))?;
    Ok(())
}

/// Runs one step and returns its row.
fn run_step(
    options: &Options,
    joule: &Path,
    backend: &str,
    mode: Mode,
    size: usize,
) -> Result<Value> {
    let name = format!("{backend}-{}-{size}", mode.name());
    let db = fresh_database(options, backend)?;
    let csms_log = std::fs::File::create(options.out.join(format!("{name}.csms.log")))?;
    let mut csms = Command::new(joule)
        .args([
            "csms",
            "--ocpp-listen",
            &format!("127.0.0.1:{OCPP_PORT}"),
            "--api-listen",
            &format!("127.0.0.1:{API_PORT}"),
            "--db",
            &db,
            "--api-key",
            API_KEY,
            "--auto-register",
            "--ping-interval",
            "300",
            "--heartbeat-interval",
            "300",
        ])
        .stdout(Stdio::null())
        .stderr(csms_log)
        .spawn()
        .context("cannot start joule csms")?;
    let result = measure(options, joule, &mut csms, &name, mode, size);
    stop(&mut csms);
    let mut row = result?;
    row["backend"] = json!(backend);
    Ok(row)
}

fn measure(
    options: &Options,
    joule: &Path,
    csms: &mut Child,
    name: &str,
    mode: Mode,
    size: usize,
) -> Result<Value> {
    wait_for_port(OCPP_PORT, csms)?;
    std::thread::sleep(Duration::from_secs(1));
    let pid = csms.id();
    let idle_rss_kb = rss_kb(pid).context("cannot read the central system's memory")?;
    let report_path = options.out.join(format!("{name}.report.json"));
    let _ = std::fs::remove_file(&report_path);
    let fleet_log = std::fs::File::create(options.out.join(format!("{name}.fleet.log")))?;
    let mut fleet = Command::new(joule);
    fleet.args([
        "sim",
        "fleet",
        "--csms",
        &format!("ws://127.0.0.1:{OCPP_PORT}/ocpp"),
        "--stations",
        &size.to_string(),
        "--ocpp",
        &options.ocpp,
        "--duration",
        &options.duration,
        "--ramp",
        &options.ramp,
        "--report",
        &report_path.to_string_lossy(),
    ]);
    match mode {
        Mode::Hold => {
            fleet.args([
                "--sessions-per-hour",
                "0",
                "--status-changes-per-hour",
                "0",
                "--heartbeat",
                "60s",
            ]);
        }
        Mode::Workload => {}
        Mode::Saturate => {
            fleet.arg("--saturate");
        }
    }
    let started = Instant::now();
    let mut fleet = fleet
        .stdout(Stdio::null())
        .stderr(fleet_log)
        .spawn()
        .context("cannot start the fleet")?;
    let fleet_pid = fleet.id();
    let samples = Arc::new(Mutex::new(Vec::<Sample>::new()));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (samples, done) = (samples.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                if let Some(sample) = Sample::take(pid, fleet_pid, started) {
                    samples.lock().map(|mut s| s.push(sample)).ok();
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        })
    };
    let status = fleet.wait().context("the fleet did not finish")?;
    done.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(&report_path)
            .with_context(|| format!("the fleet wrote no report (exit {status})"))?,
    )?;
    let peak_rss_kb = peak_rss_kb(pid).unwrap_or(0);
    let samples = samples.lock().map(|s| s.clone()).unwrap_or_default();
    // The full-load window: from the end of the ramp (plus two seconds of settling) to the end.
    let ramp_s = size as f64 / parse_rate(&options.ramp) + 1.0;
    let hold_s = report["duration_s"].as_f64().unwrap_or(0.0);
    let window = (ramp_s + 2.0, ramp_s + hold_s);
    let in_window: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.at >= window.0 && s.at <= window.1)
        .collect();
    let hold_rss_kb = median(in_window.iter().map(|s| s.csms_rss_kb as f64).collect());
    let cpu = |pick: fn(&Sample) -> f64| -> f64 {
        match (in_window.first(), in_window.last()) {
            (Some(first), Some(last)) if last.at > first.at => {
                (pick(last) - pick(first)) / (last.at - first.at) * 100.0
            }
            _ => 0.0,
        }
    };
    let csms_cpu = cpu(|s| s.csms_cpu_s);
    let fleet_cpu = cpu(|s| s.fleet_cpu_s);
    let fleet_rss_kb = median(in_window.iter().map(|s| s.fleet_rss_kb as f64).collect());
    let connected = report["stations_connected"].as_f64().unwrap_or(0.0);
    let per_connection_kb = if connected > 0.0 && hold_rss_kb > 0.0 {
        (hold_rss_kb - idle_rss_kb as f64) / connected
    } else {
        0.0
    };
    let transactions = transactions_in_db().unwrap_or_else(|e| json!({"error": format!("{e:#}")}));
    Ok(json!({
        "mode": mode.name(),
        "stations": size,
        "fleet_exit": status.code(),
        "report": report,
        "csms": {
            "idle_rss_kb": idle_rss_kb,
            "hold_rss_kb": hold_rss_kb,
            "peak_rss_kb": peak_rss_kb,
            "rss_per_connection_kb": per_connection_kb,
            "cpu_percent": csms_cpu,
        },
        "fleet": {"rss_kb": fleet_rss_kb, "cpu_percent": fleet_cpu},
        "transactions_in_db": transactions,
        "window_s": [window.0, window.1],
        "samples": in_window.len(),
    }))
}

/// One reading of both processes.
#[derive(Clone, Copy)]
struct Sample {
    /// Seconds since the fleet started.
    at: f64,
    csms_rss_kb: u64,
    csms_cpu_s: f64,
    fleet_rss_kb: u64,
    fleet_cpu_s: f64,
}

impl Sample {
    fn take(csms: u32, fleet: u32, started: Instant) -> Option<Sample> {
        Some(Sample {
            at: started.elapsed().as_secs_f64(),
            csms_rss_kb: rss_kb(csms)?,
            csms_cpu_s: cpu_seconds(csms)?,
            fleet_rss_kb: rss_kb(fleet).unwrap_or(0),
            fleet_cpu_s: cpu_seconds(fleet).unwrap_or(0.0),
        })
    }
}

fn status_field(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn rss_kb(pid: u32) -> Option<u64> {
    status_field(pid, "VmRSS:")
}

fn peak_rss_kb(pid: u32) -> Option<u64> {
    status_field(pid, "VmHWM:")
}

/// User plus system CPU time of a process, in seconds (Linux counts it in ticks of 1/100 s).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; the fields after it are plain.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn parse_rate(text: &str) -> f64 {
    text.parse().unwrap_or(1000.0)
}

/// A database URL for a fresh, empty database of `backend`.
fn fresh_database(options: &Options, backend: &str) -> Result<String> {
    if backend == "sqlite" {
        let dir = options.out.join("db");
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("bench.db");
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        return Ok(format!("sqlite://{}", path.display()));
    }
    let psql = |sql: &str| -> Result<()> {
        let status = Command::new("psql")
            .args([options.postgres.as_str(), "-q", "-c", sql])
            .stdout(Stdio::null())
            .status()
            .context("cannot run psql (needed to make a fresh PostgreSQL database)")?;
        ensure!(status.success(), "psql failed: {sql}");
        Ok(())
    };
    psql("DROP DATABASE IF EXISTS joule_bench WITH (FORCE)")?;
    psql("CREATE DATABASE joule_bench")?;
    let (server, _) = options
        .postgres
        .rsplit_once('/')
        .context("the PostgreSQL URL names no database")?;
    Ok(format!("{server}/joule_bench"))
}

fn wait_for_port(port: u16, csms: &mut Child) -> Result<()> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if let Some(status) = csms.try_wait()? {
            bail!("joule csms exited with {status}; see its log");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    bail!("joule csms did not listen on {addr} within a minute")
}

/// Stops the central system with Ctrl-C (SIGINT), then kills it if it lingers.
fn stop(csms: &mut Child) {
    let _ = Command::new("kill")
        .args(["-INT", &csms.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = csms.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = csms.kill();
    let _ = csms.wait();
}

/// Transactions in the database: all, still active, and whether any repeats a station's
/// transaction (same station, connector and start time).
fn transactions_in_db() -> Result<Value> {
    let all = api_get("/api/v1/transactions")?;
    let list = all["transactions"]
        .as_array()
        .context("no transactions list")?;
    let active = list
        .iter()
        .filter(|t| t["state"].as_str() == Some("active"))
        .count();
    let mut keys: Vec<String> = list
        .iter()
        .map(|t| format!("{}|{}|{}", t["station"], t["connectorId"], t["startedAt"]))
        .collect();
    keys.sort();
    let before = keys.len();
    keys.dedup();
    Ok(json!({"total": list.len(), "active": active, "duplicates": before - keys.len()}))
}

/// A GET on the REST API, its body as JSON.
fn api_get(path: &str) -> Result<Value> {
    let mut stream = TcpStream::connect(("127.0.0.1", API_PORT))?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {API_KEY}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .context("no HTTP header end")?;
    ensure!(head.starts_with("HTTP/1.1 200"), "{path}: {head}");
    Ok(serde_json::from_str(body)?)
}

/// What the benchmark ran on.
fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU".to_string(), |(_, m)| m.trim().to_string());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory_kb = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string();
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let open_files = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .map(|l| {
            l.split_whitespace()
                .skip(3)
                .take(2)
                .collect::<Vec<_>>()
                .join("/")
        })
        .unwrap_or_default();
    let summary = format!(
        "{cores} cores ({model}), {:.0} GiB memory, Linux {kernel}, open files soft/hard {open_files}",
        memory_kb as f64 / 1024.0 / 1024.0
    );
    json!({"summary": summary, "cores": cores, "cpu": model, "memory_kb": memory_kb,
           "kernel": kernel, "open_files": open_files})
}

fn table(machine: &Value, rows: &[Value]) -> String {
    let mut out = format!(
        "Machine: {}\n\n| backend | mode | stations | connected | round trips/s | p50 ms | p99 ms | p99.9 ms | max ms | errors | disconnects | CSMS RSS MB | KB/connection | CSMS CPU % | fleet CPU % | transactions (fleet/db/open) |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
        machine["summary"].as_str().unwrap_or("")
    );
    for row in rows {
        out.push_str(&table_row(row));
        out.push('\n');
    }
    out
}

fn table_row(row: &Value) -> String {
    if let Some(failure) = row["failure"].as_str() {
        return format!(
            "| {} | {} | {} | failed: {failure} |",
            text(&row["backend"]),
            text(&row["mode"]),
            text(&row["stations"])
        );
    }
    let report = &row["report"];
    let latency = &report["hold_latency_ms"];
    let number = |v: &Value, digits: usize| {
        v.as_f64()
            .map_or("-".to_string(), |n| format!("{n:.digits$}"))
    };
    let tx = &row["transactions_in_db"];
    format!(
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {}/{}/{} |",
        text(&row["backend"]),
        text(&row["mode"]),
        text(&row["stations"]),
        text(&report["stations_connected"]),
        number(&report["round_trips_per_s"], 0),
        number(&latency["p50"], 1),
        number(&latency["p99"], 1),
        number(&latency["p999"], 1),
        number(&latency["max"], 1),
        text(&report["errors"]),
        text(&report["disconnects"]),
        number(
            &json!(row["csms"]["hold_rss_kb"].as_f64().unwrap_or(0.0) / 1024.0),
            0
        ),
        number(&row["csms"]["rss_per_connection_kb"], 1),
        number(&row["csms"]["cpu_percent"], 0),
        number(&row["fleet"]["cpu_percent"], 0),
        text(&report["transactions_started"]),
        text(&tx["total"]),
        text(&tx["active"]),
    )
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}
