//! Interop against an independent central system: bounded fleet runs against
//! `interop/fleet_central.py`, built on the Python `ocpp` package (pinned in
//! `interop/requirements.txt`), which validates every message against its own copies of the OCA
//! schemas. Each version's run must complete every planned CALL with no protocol error on either
//! side, and the central system must see every transaction started and stopped exactly once.
//!
//! The peer is the Python named by `JOULE_PYTHON`, else the workspace's `.venv` (which
//! `cargo xtask test` prepares). Without one the test is skipped, unless `JOULE_INTEROP=1` asks
//! for it to be required.

#![allow(clippy::print_stderr)]

use fleet::{FleetConfig, Workload, workload};
use proto_ocpp::OcppVersion;
use serde_json::Value;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const CENTRAL_SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../interop/fleet_central.py"
);
/// The longest the central system may take to print a line.
const LINE_TIMEOUT: Duration = Duration::from_secs(60);

/// The Python central system, its stdin and a channel of its stdout lines.
struct PythonCentral {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
}

impl PythonCentral {
    fn spawn(python: &OsStr) -> Self {
        let mut child = Command::new(python)
            .arg(CENTRAL_SCRIPT)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the Python central system");
        let stdout = child.stdout.take().expect("stdout");
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        Self {
            child,
            stdin,
            lines,
        }
    }

    /// The next event line of `kind`, failing the test with the peer's stderr if none comes.
    fn event(&mut self, kind: &str) -> Value {
        loop {
            let Ok(line) = self.lines.recv_timeout(LINE_TIMEOUT) else {
                self.fail(&format!("no {kind} event"));
            };
            let event: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| self.fail(&format!("unreadable line {line:?}: {e}")));
            if event["event"] == kind {
                return event;
            }
            if event["event"] == "error" {
                self.fail(&format!("the central system failed: {event}"));
            }
        }
    }

    fn quit(&mut self) -> Value {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"quit\n");
        }
        let summary = self.event("summary");
        let status = self.child.wait().expect("the central system exits");
        assert!(status.success(), "the central system exited with {status}");
        summary
    }

    fn fail(&mut self, what: &str) -> ! {
        let _ = self.child.kill();
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            let _ = pipe.read_to_string(&mut stderr);
        }
        panic!("{what}; the central system's stderr:\n{stderr}");
    }
}

impl Drop for PythonCentral {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn run_against_python(python: &OsStr, version: OcppVersion) {
    let mut central = PythonCentral::spawn(python);
    let listening = central.event("listening");
    let Some(port) = listening["port"].as_u64() else {
        central.fail(&format!("no port in {listening}"));
    };
    let mut config = FleetConfig::new(format!("ws://127.0.0.1:{port}/ocpp"), 25, version);
    config.connectors = 2;
    config.duration = Duration::from_secs(2);
    config.ramp_per_s = 250.0;
    config.seed = 21;
    config.workload = Workload {
        heartbeat_interval: Duration::from_millis(400),
        sessions_per_hour: 3600.0,
        session_length: Duration::from_millis(800),
        meter_interval: Duration::from_millis(250),
        status_changes_per_hour: 1800.0,
        boot_jitter: Duration::from_millis(100),
    };
    let planned = workload::planned_calls(&config);
    let report = fleet::start(config)
        .await
        .expect("fleet starts")
        .finish()
        .await;
    let summary = central.quit();

    assert_eq!(summary["rejected"], 0, "{summary}");
    assert_eq!(report.stations_connected, 25, "{report}");
    assert_eq!(report.errors, 0, "{report}\n{summary}");
    assert_eq!(report.disconnects, 0, "{report}");
    assert_eq!(report.refusals, 0, "{report}");
    assert_eq!(report.round_trips, planned, "{report}");
    let answered: u64 = summary["calls"]
        .as_object()
        .map(|calls| calls.values().filter_map(Value::as_u64).sum())
        .unwrap_or(0);
    assert_eq!(answered, planned, "{summary}");
    let transactions = &summary["transactions"];
    assert!(report.transactions_started > 0, "{report}");
    assert_eq!(transactions["started"], report.transactions_started);
    assert_eq!(transactions["stopped"], report.transactions_stopped);
    assert_eq!(report.transactions_started, report.transactions_stopped);
    for key in ["duplicate_starts", "duplicate_stops", "unknown_stops"] {
        assert_eq!(transactions[key], 0, "{key}: {summary}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_runs_clean_against_a_python_ocpp_central_system_in_every_version() {
    let Some(python) = testkit::interop_python(
        &["ocpp", "websockets"],
        "the fleet's Python central system interop test",
    ) else {
        return;
    };
    for version in [OcppVersion::V16, OcppVersion::V201, OcppVersion::V21] {
        run_against_python(&python, version).await;
    }
}
