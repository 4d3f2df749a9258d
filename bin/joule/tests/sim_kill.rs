//! A `joule sim` process killed with SIGKILL mid-session and started again on the same state
//! file: the interrupted transaction ends exactly once, with reason PowerLoss and the last meter
//! reading the station persisted, and nothing queued is lost. The central system is `joule csms`
//! in process; the station is the real binary. Runs in real time (about 15 s).

use csms::CsmsConfig;
use csms::store::{TokenRecord, TransactionRecord, TxState};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const STATION: &str = "KILL-1";

/// The simulator process, killed when dropped.
struct Sim(Child, SocketAddr);

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_sim(csms: SocketAddr, state: &Path) -> Sim {
    let mut child = Command::new(env!("CARGO_BIN_EXE_joule"))
        .args([
            "sim",
            "--csms",
            &format!("ws://{csms}/ocpp"),
            "--id",
            STATION,
        ])
        .args([
            "--connectors",
            "2",
            "--ocpp",
            "1.6",
            "--http",
            "127.0.0.1:0",
        ])
        .args(["--meter-interval", "1", "--state"])
        .arg(state)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("joule sim starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout);
    let mut first = String::new();
    lines.read_line(&mut first).expect("banner");
    std::thread::spawn(move || std::io::copy(&mut lines, &mut std::io::sink()));
    let addr = first
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.trim().parse().ok())
        .unwrap_or_else(|| panic!("no address in {first:?}"));
    Sim(child, addr)
}

/// `curl -s -X POST addr/path`.
fn post(addr: SocketAddr, path: &str) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).expect("HTTP");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
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

/// Polls the central system's transactions of the station until `check` finds something, at
/// most 60 s.
async fn eventually<T>(
    ctx: &csms::Ctx,
    what: &str,
    check: impl Fn(Vec<TransactionRecord>) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let all = ctx
            .store
            .transactions(Some(STATION), None)
            .await
            .expect("store");
        if let Some(found) = check(all) {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The energy-register readings the central system holds for transaction `id`.
async fn registers(ctx: &csms::Ctx, id: i64) -> Vec<f64> {
    ctx.store
        .meter_values(id)
        .await
        .expect("store")
        .iter()
        .filter(|s| s.measurand == "Energy.Active.Import.Register")
        .filter_map(|s| s.value.parse::<f64>().ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_station_killed_mid_session_ends_the_transaction_with_power_loss_after_restart() {
    let dir = std::env::temp_dir().join(format!("joule-sim-kill-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut config = CsmsConfig::new(vec!["k".into()]);
    config.ocpp_listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.api_listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.db = format!("sqlite://{}", dir.join("csms.db").display());
    config.auto_register = true;
    let csms = csms::start(config).await.expect("central system");
    let ctx = csms.ctx.clone();
    ctx.store
        .upsert_token(&TokenRecord {
            id_tag: "TAG-K".into(),
            status: "Accepted".into(),
            expiry_ms: None,
            parent_id_tag: None,
        })
        .await
        .expect("token");
    let state = dir.join("station.db");

    let sim = start_sim(csms.ocpp_addr, &state);
    let http = sim.1;
    // Online and accepted: the central system has the connectors' statuses.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !ctx
        .store
        .connector_statuses(STATION)
        .await
        .is_ok_and(|all| all.iter().any(|s| s.connector_id == 2))
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the station never booted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let plugged = tokio::task::spawn_blocking(move || post(http, "/plug/1"))
        .await
        .expect("plug");
    assert_eq!(plugged.0, 200, "{plugged:?}");
    let started = tokio::task::spawn_blocking(move || post(http, "/local_start/1?idTag=TAG-K"))
        .await
        .expect("start");
    assert_eq!(started.0, 200, "{started:?}");
    let running = eventually(&ctx, "the transaction to start", |all| {
        all.into_iter().find(|t| t.state == TxState::Active)
    })
    .await;
    // Charge until the central system has seen energy flow (each sample is also the station's
    // checkpoint for a power-loss stop).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let before_kill = loop {
        let energy = registers(&ctx, running.id).await;
        let highest = energy.iter().copied().fold(0.0_f64, f64::max);
        if energy.len() >= 3 && highest > running.meter_start_wh + 1.0 {
            break highest;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no energy flowed: {energy:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    // SIGKILL: no chance to send anything.
    let mut sim = sim;
    sim.0.kill().expect("SIGKILL");
    let _ = sim.0.wait();
    let record = ctx.store.transaction(running.id).await.expect("store");
    assert_eq!(
        record.map(|t| t.state),
        Some(TxState::Active),
        "nothing stopped the transaction before the restart"
    );

    let restarted = start_sim(csms.ocpp_addr, &state);
    let stopped = eventually(&ctx, "the interrupted transaction to end", |all| {
        all.into_iter()
            .find(|t| t.id == running.id && t.state == TxState::Completed)
    })
    .await;
    assert_eq!(stopped.stop_reason.as_deref(), Some("PowerLoss"));
    let meter_stop = stopped.meter_stop_wh.expect("meterStop");
    let highest = registers(&ctx, running.id)
        .await
        .into_iter()
        .fold(0.0_f64, f64::max);
    assert!(
        meter_stop >= before_kill && meter_stop <= highest,
        "meterStop {meter_stop} is the last persisted reading: at least {before_kill} (seen \
         before the kill), at most {highest} (the last sample delivered)"
    );
    let all = ctx
        .store
        .transactions(Some(STATION), None)
        .await
        .expect("store");
    assert_eq!(
        all.len(),
        1,
        "the restart opened no other transaction: {all:?}"
    );

    drop(restarted);
    csms.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
