//! Interop against independent charge points: for each OCPP version, a station built on the
//! Python `ocpp` package (pinned in `interop/requirements.txt`) runs `interop/csms_station.py`
//! against a central system on a fresh SQLite database while the test plays the operator over
//! the REST API.
//!
//! Each station boots, reports its status, authorizes a token the operator created, charges with
//! meter values, obeys a remote stop and then retries its stop, obeys a remote start, and
//! reconnects. The script prints one JSON event per step; the test follows them in order, acts
//! when the station says it is waiting, and checks the result through the REST API. Nothing
//! sleeps: every step awaits the next event, with a time limit so that a hang fails.
//!
//! The peer is the Python named by `JOULE_PYTHON`, else the workspace's `.venv` (which
//! `cargo xtask test` prepares). Without one the tests are skipped, unless `JOULE_INTEROP=1` asks
//! for them to be required.

#![allow(clippy::print_stderr)]

mod support;

use serde_json::{Value, json};
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::thread::JoinHandle;
use std::time::Duration;
use support::{API_KEY, fresh_db, http, start};
use tokio::sync::mpsc;

const STATION_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../interop/csms_station.py");
/// The longest the station may take to print its next event.
const EVENT_TIMEOUT: Duration = Duration::from_secs(20);
const ID_TAG: &str = "PY-INTEROP-1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v16_python_station_charges_obeys_remote_stop_and_start_retries_its_stop_and_reconnects() {
    python_station_session("1.6", "PY-16").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v201_python_station_charges_obeys_remote_stop_and_start_retries_its_stop_and_reconnects() {
    python_station_session("2.0.1", "PY-201").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v21_python_station_charges_obeys_remote_stop_and_start_retries_its_stop_and_reconnects() {
    python_station_session("2.1", "PY-21").await;
}

/// The whole scenario of `interop/csms_station.py` for one version, with the operator's part.
async fn python_station_session(version: &str, station: &str) {
    let Some(python) =
        testkit::interop_python(&["ocpp", "websockets"], "the Python station interop test")
    else {
        return;
    };
    let db = fresh_db("sqlite", &format!("interop-{station}"))
        .await
        .expect("SQLite needs nothing");
    let csms = start(&db, |_| {}).await;
    let api = csms.api_addr;
    let (status, body) = post(api, "/api/v1/tokens", json!({"idTag": ID_TAG})).await;
    assert_eq!(status, 201, "token created: {body}");

    let mut cp = PythonStation::spawn(&python, csms.ocpp_addr, station, version);
    cp.next("booted").await;
    cp.next("status").await;
    let authorized = cp.next("authorized").await;
    assert_eq!(authorized["idTag"], ID_TAG);

    // The first transaction, stopped by the operator, its stop retried.
    let first = cp.next("transaction").await;
    let measurands = cp.next("meter_values").await;
    assert_eq!(measurands["id"], first["id"]);
    cp.waiting_for("remote_stop").await;
    let stop = post(
        api,
        "/api/v1/stop",
        json!({"cpid": station, "connectorId": 1}),
    )
    .await;
    cp.assert_accepted("the remote stop", stop);
    let asked = cp.next("remote_stop").await;
    assert_eq!(
        asked["transactionId"], first["id"],
        "the operator's stop names the running transaction"
    );
    let first_stop = cp.next("stopped").await;
    assert_eq!(first_stop["id"], first["id"]);
    cp.next("stop_retried").await;

    // The second transaction, started by the operator and stopped at the station.
    cp.waiting_for("remote_start").await;
    let start = post(
        api,
        "/api/v1/start",
        json!({"cpid": station, "connectorId": 1, "idTag": ID_TAG}),
    )
    .await;
    cp.assert_accepted("the remote start", start);
    let asked = cp.next("remote_start").await;
    assert_eq!(
        asked["idTag"], ID_TAG,
        "the station charges for the operator's token"
    );
    let second = cp.next("transaction").await;
    let second_stop = cp.next("stopped").await;
    assert_eq!(second_stop["id"], second["id"]);

    cp.next("disconnected").await;
    let rebooted = cp.next("booted").await;
    assert_eq!(rebooted["connection"], 2);
    cp.next("heartbeat").await;
    cp.next("done").await;

    // What the operator sees, while the station is still connected.
    let (status, list) = get(api, &format!("/api/v1/transactions?station={station}")).await;
    assert_eq!(status, 200, "{list}");
    let transactions = list["transactions"]
        .as_array()
        .expect("a list of transactions");
    assert_eq!(
        transactions.len(),
        2,
        "two transactions, whatever was retried: {list}"
    );
    for (started, stopped) in [(&first, &first_stop), (&second, &second_stop)] {
        let record = find_transaction(transactions, version, &started["id"]);
        assert_eq!(record["state"], "completed", "{record}");
        assert_eq!(record["idTag"], ID_TAG, "{record}");
        let delivered = stopped["meterStopWh"].as_f64().expect("meterStopWh")
            - stopped["meterStartWh"].as_f64().expect("meterStartWh");
        assert_eq!(
            record["energyWh"].as_f64(),
            Some(delivered),
            "energy is stop minus start, counted once: {record}"
        );
        let id = record["id"].as_i64().expect("transaction id");
        let (status, detail) = get(api, &format!("/api/v1/transactions/{id}")).await;
        assert_eq!(status, 200, "{detail}");
        let stored = detail["meterValues"].as_array().expect("meter values");
        assert_eq!(
            json!(stored.len()),
            stopped["samples"],
            "every sampled value the station sent is stored once, retries left out: {detail}"
        );
    }
    let first_record = find_transaction(transactions, version, &first["id"]);
    assert_eq!(first_record["stopReason"], "Remote", "{first_record}");
    let (_, detail) = get(api, &format!("/api/v1/transactions/{}", first_record["id"])).await;
    for measurand in measurands["measurands"].as_array().expect("measurands") {
        assert!(
            detail["meterValues"]
                .as_array()
                .is_some_and(|all| all.iter().any(|m| m["measurand"] == *measurand)),
            "{measurand} stored: {detail}"
        );
    }

    let (status, online) = get(api, &format!("/api/v1/stations/{station}")).await;
    assert_eq!(status, 200, "{online}");
    assert_eq!(
        (online["online"].as_bool(), online["ocppVersion"].as_str()),
        (Some(true), Some(version)),
        "online again after the reconnect: {online}"
    );
    assert_eq!(online["connectors"][0]["status"], "Available", "{online}");

    cp.finish().await;
    csms.shutdown().await;
}

/// The transaction the station knows as `id`: the central system's id in 1.6, the station's own
/// `transactionId` (our `transactionKey`) in 2.x.
fn find_transaction<'a>(transactions: &'a [Value], version: &str, id: &Value) -> &'a Value {
    let field = if version == "1.6" {
        "id"
    } else {
        "transactionKey"
    };
    transactions
        .iter()
        .find(|t| t[field] == *id)
        .unwrap_or_else(|| panic!("transaction {id} listed: {transactions:?}"))
}

async fn get(api: SocketAddr, path: &str) -> (u16, Value) {
    http(api, "GET", path, Some(API_KEY), None).await
}

async fn post(api: SocketAddr, path: &str, body: Value) -> (u16, Value) {
    http(api, "POST", path, Some(API_KEY), Some(body)).await
}

/// `interop/csms_station.py` running as a child process: its stdout events arrive through a
/// channel fed by a reader thread, its stderr (every frame it sent and received) is collected
/// for failure messages, and closing its stdin lets it disconnect and exit.
struct PythonStation {
    child: Child,
    stdin: Option<ChildStdin>,
    events: mpsc::UnboundedReceiver<String>,
    stderr: Option<JoinHandle<String>>,
}

impl PythonStation {
    fn spawn(python: &OsStr, ocpp: SocketAddr, station: &str, version: &str) -> Self {
        let mut child = Command::new(python)
            .arg(STATION_SCRIPT)
            .args(["--url", &format!("ws://{ocpp}/ocpp")])
            .args(["--id", station, "--version", version, "--id-tag", ID_TAG])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the station script starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (lines, events) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let mut stderr = child.stderr.take().expect("stderr is piped");
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        Self {
            stdin: child.stdin.take(),
            child,
            events,
            stderr: Some(stderr),
        }
    }

    /// The next event, which must be `expected`.
    async fn next(&mut self, expected: &str) -> Value {
        let line = match tokio::time::timeout(EVENT_TIMEOUT, self.events.recv()).await {
            Ok(Some(line)) => line,
            Ok(None) => self.fail(&format!("the station ended before {expected:?}")),
            Err(_) => self.fail(&format!(
                "no event within {EVENT_TIMEOUT:?} while waiting for {expected:?}"
            )),
        };
        let event: Value = match serde_json::from_str(&line) {
            Ok(event) => event,
            Err(e) => self.fail(&format!("not a JSON event ({e}): {line}")),
        };
        if event["event"] != expected {
            self.fail(&format!("expected {expected:?}, got {line}"));
        }
        event
    }

    /// Awaits the station's word that it waits for the operator's `request`.
    async fn waiting_for(&mut self, request: &str) {
        let event = self.next("waiting").await;
        if event["for"] != request {
            self.fail(&format!("expected to wait for {request:?}, got {event}"));
        }
    }

    /// Checks that an operator command over REST got 200 with the station's `Accepted`.
    fn assert_accepted(&mut self, command: &str, (status, body): (u16, Value)) {
        if status != 200 || body["response"]["status"] != "Accepted" {
            self.fail(&format!(
                "{command} got {status} {body}, expected 200 with the station's Accepted"
            ));
        }
    }

    /// Closes stdin and expects the station to disconnect and exit 0 without further events.
    async fn finish(mut self) {
        drop(self.stdin.take());
        match tokio::time::timeout(EVENT_TIMEOUT, self.events.recv()).await {
            Ok(None) => {}
            Ok(Some(line)) => self.fail(&format!("an event after done: {line}")),
            Err(_) => self.fail("the station did not exit after its stdin closed"),
        }
        // Its stdout is closed, so it is exiting.
        let status =
            tokio::task::block_in_place(|| self.child.wait()).expect("the station's status");
        if !status.success() {
            self.fail(&format!("the station failed: {status}"));
        }
    }

    /// Stops the station and panics with `why` and everything it wrote to stderr.
    fn fail(&mut self, why: &str) -> ! {
        let _ = self.child.kill();
        let status = tokio::task::block_in_place(|| self.child.wait());
        let stderr = self
            .stderr
            .take()
            .map(|reader| tokio::task::block_in_place(|| reader.join()).unwrap_or_default())
            .unwrap_or_default();
        panic!("{why}\nstation exit: {status:?}\nstation stderr:\n{stderr}");
    }
}

impl Drop for PythonStation {
    fn drop(&mut self) {
        // A failed assertion must not leave the station running.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
