//! A running `joule charger` driven through seed 001's curl examples over real HTTP: the session
//! runs in real time (about 17 s with the seed's 10 s duration); phases are followed on the
//! `/events` stream, so nothing sleeps.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The charger process, killed when dropped.
struct Charger(Child, SocketAddr);

impl Drop for Charger {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_charger() -> Charger {
    let config = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../configs/charger-sim.toml"
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_joule"))
        .args(["charger", "--config", config, "--http", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("joule charger starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout);
    let mut first = String::new();
    lines.read_line(&mut first).expect("banner");
    // Keep reading what the charger prints, as a terminal would.
    std::thread::spawn(move || std::io::copy(&mut lines, &mut std::io::sink()));
    let addr = first
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.trim().parse().ok())
        .unwrap_or_else(|| panic!("no address in {first:?}"));
    Charger(child, addr)
}

/// `curl -s -X METHOD addr/path -H 'content-type: application/json' -d BODY`.
fn curl(addr: SocketAddr, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).expect("HTTP");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\ncontent-type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("request");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("response");
    let (head, body) = raw.split_once("\r\n\r\n").expect("HTTP response");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// Follows `/events` and returns gun 1's phases until its session is over.
fn follow_gun_1(addr: SocketAddr) -> Vec<String> {
    let mut stream = TcpStream::connect(addr).expect("HTTP");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    write!(
        stream,
        "GET /events HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n"
    )
    .expect("request");
    let mut phases: Vec<String> = Vec::new();
    let mut seen_active = false;
    for line in BufReader::new(stream).lines() {
        let line = line.expect("event stream");
        let Some(data) = line.strip_prefix("data:") else {
            continue;
        };
        let Ok(event) = serde_json::from_str::<Value>(data.trim()) else {
            continue;
        };
        if event["gun"] != 1 {
            continue;
        }
        let phase = event["phase"].as_str().unwrap_or_default().to_string();
        if phases.last() != Some(&phase) {
            phases.push(phase);
        }
        let active = event["session_active"] == true;
        seen_active |= active;
        if seen_active && !active {
            return phases;
        }
    }
    panic!("the event stream ended: {phases:?}")
}

#[test]
fn seed_001_curl_examples_on_a_running_charger() {
    let charger = start_charger();
    let addr = charger.1;
    let events = std::thread::spawn(move || follow_gun_1(addr));

    let (code, body) = curl(
        addr,
        "POST",
        "/start_session",
        Some(json!({"target_voltage": 400, "initial_current": 50, "duration_s": 10})),
    );
    assert_eq!((code, body), (200, json!({"status": "started"})));
    let phases = events.join().expect("event thread");
    // The stream may begin after the start was taken (HANDSHAKE) or just before it (IDLE).
    let phases: Vec<&str> = phases
        .iter()
        .map(String::as_str)
        .filter(|p| *p != "IDLE")
        .collect();
    assert_eq!(phases, ["HANDSHAKE", "PRECHARGE", "CHARGING", "COMPLETE"]);

    let (_, status) = curl(addr, "GET", "/status", None);
    let summary = &status["last_session_summary"];
    assert_eq!(summary["ended_phase"], "COMPLETE");
    assert!(
        summary["energy_Wh"].as_f64().expect("energy") > 0.0,
        "{summary}"
    );
    assert!(
        summary["avg_voltage"].as_f64().expect("avg V") > 300.0,
        "{summary}"
    );
    assert!(
        summary["duration_s"].as_f64().expect("duration") >= 10.0,
        "{summary}"
    );

    let (code, body) = curl(
        addr,
        "POST",
        "/control/contactor",
        Some(json!({"closed": false})),
    );
    assert_eq!(
        (code, body),
        (200, json!({"status": "ok", "contactor_closed": false}))
    );
    let (code, body) = curl(
        addr,
        "POST",
        "/control/contactor",
        Some(json!({"closed": true})),
    );
    assert_eq!(
        (code, body),
        (200, json!({"status": "ok", "contactor_closed": true}))
    );
    let (_, status) = curl(addr, "GET", "/status", None);
    assert_eq!(
        (status["voltage"].as_f64(), status["current"].as_f64()),
        (Some(0.0), Some(0.0)),
        "supply off"
    );

    let (code, body) = curl(addr, "POST", "/fault", Some(json!({"type": "E_STOP"})));
    assert_eq!(
        (code, body),
        (200, json!({"status": "fault_injected", "type": "E_STOP"}))
    );
    let (_, status) = curl(addr, "GET", "/status", None);
    assert_eq!(status["error"], "E_STOP");
    let (code, _) = curl(addr, "POST", "/start_session", None);
    assert_eq!(code, 409, "a faulted gun does not start");

    let (code, meter) = curl(addr, "GET", "/meter", None);
    assert_eq!(code, 200);
    for field in ["energy_Wh", "avg_voltage", "avg_current", "session_time_s"] {
        assert!(meter.get(field).is_some(), "{field} missing: {meter}");
    }
}
