//! The split charger end to end, as two real processes: `joule pecc` (the power cabinet on its
//! simulated power stage) and `joule charger` with a `pepws` gun (the dispenser), a session
//! started through seed 001's API running through configuration, contactors, the cabinet's cable
//! check, pre-charge, charge and stop, and the energy the cabinet measured matching the
//! station's meter. Runs in real time (about 15 s).

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process, killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `joule ARGS` and returns it with the first `lines` lines it prints.
fn start(args: &[&str], lines: usize) -> (Process, Vec<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_joule"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("joule starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut reader = BufReader::new(stdout);
    let mut banner = Vec::new();
    for _ in 0..lines {
        let mut line = String::new();
        reader.read_line(&mut line).expect("banner");
        banner.push(line.trim().to_owned());
    }
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
    (Process(child), banner)
}

/// `curl -s -X METHOD addr/path -d BODY`.
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

/// Polls `GET path` until `done` holds, at most 60 s.
fn poll(addr: SocketAddr, path: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, body) = curl(addr, "GET", path, None);
        if done(&body) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_split_charger_charges_through_the_power_cabinet() {
    let (_pecc, banner) = start(&["pecc", "--listen", "127.0.0.1:0", "--guns", "2"], 3);
    let pecc_addr: SocketAddr = banner[0]
        .split(" running on ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("no address in {banner:?}"));
    let gun_url = banner[1]
        .split(": ")
        .nth(1)
        .unwrap_or_else(|| panic!("no gun URL in {banner:?}"))
        .to_owned();

    // The shipped split example, pointed at this cabinet.
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../configs/charger-pepws.toml"
    ))
    .expect("example");
    let config = example.replace("ws://127.0.0.1:8765/GUN1", &gun_url);
    assert_ne!(config, example, "the example names the default cabinet URL");
    let dir = std::env::temp_dir().join(format!("joule-pecc-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("charger.toml");
    std::fs::write(&path, config).expect("config written");
    let (_charger, banner) = start(
        &[
            "charger",
            "--config",
            path.to_str().expect("path"),
            "--http",
            "127.0.0.1:0",
        ],
        1,
    );
    let station: SocketAddr = banner[0]
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.trim().parse().ok())
        .unwrap_or_else(|| panic!("no address in {banner:?}"));

    // The gun is ready once the cabinet's status stream flows (no fault, contactor open).
    poll(station, "/status", "the cabinet connection", |s| {
        s["fault"].is_null() && s["contactor_closed"] == false
    });
    let (code, body) = curl(
        station,
        "POST",
        "/start_session",
        Some(json!({"target_voltage": 400, "initial_current": 60, "duration_s": 3})),
    );
    assert_eq!((code, body), (200, json!({"status": "started"})));
    let charging = poll(station, "/status", "charging", |s| {
        s["phase"] == "CHARGING" && s["current"].as_f64().unwrap_or(0.0) > 10.0
    });
    assert_eq!(charging["contactor_closed"], true, "{charging}");
    assert_eq!(charging["cable_check"], "valid", "{charging}");
    let done = poll(station, "/status", "the session to end", |s| {
        s["session_active"] == false && !s["last_session_summary"].is_null()
    });
    let summary = &done["last_session_summary"];
    assert_eq!(summary["ended_phase"], "COMPLETE", "{done}");
    let station_wh = summary["energy_Wh"].as_f64().expect("energy");
    assert!(station_wh > 5.0, "{summary}");

    // The cabinet's own count of the energy it delivered agrees with the station's meter.
    let (_, gun) = curl(pecc_addr, "GET", "/api/v1/guns/1", None);
    let pecc_wh = gun["energyWh"]
        .as_f64()
        .unwrap_or_else(|| panic!("no energyWh in {gun}"));
    assert!(
        (pecc_wh - station_wh).abs() <= 0.05 * pecc_wh.max(station_wh) + 0.5,
        "cabinet {pecc_wh} Wh vs station {station_wh} Wh"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
