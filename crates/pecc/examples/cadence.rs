//! Measures the status cadence of a fully loaded controller in real time.
//!
//! ```text
//! cargo run --release -p pecc --example cadence -- [--guns 72] [--seconds 60] [--request-ms 250]
//! ```
//!
//! Starts the controller on 127.0.0.1 with `--guns` charge points (a simulated module per gun),
//! connects one `/splitdash` client that never reads (kept connected, so it stays clogged for
//! the whole run), and one SECC per gun. Each SECC runs a session to charging, then sends
//! `targetValues(charge)` every `--request-ms` while it records the arrival of every status.
//! After `--seconds` of charging it prints the spread of the gaps between consecutive statuses
//! of a gun around the 200 ms period: p50, p90, p99, p99.9 and the largest deviation.
//!
//! The controller runs on its own multi-threaded runtime, as in `joule pecc`; the SECCs share a
//! single-threaded runtime on another thread and stamp each status as their reader takes it,
//! so the figures include the clients' own scheduling.

use futures_util::{SinkExt, StreamExt};
use pecc::PeccConfig;
use pecc::config::PowerSettings;
use serde_json::{Value, json};
use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::net::TcpSocket;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const PERIOD: Duration = Duration::from_millis(200);

/// The monitoring client that never reads.
type Monitor = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// What a status must show before a session step is sent.
type Precondition = Box<dyn Fn(&Value) -> bool + Send>;

#[derive(Debug, Clone, Copy)]
struct Options {
    guns: u32,
    seconds: u64,
    request_ms: u64,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        guns: 72,
        seconds: 60,
        request_ms: 250,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        let number = |v: &str| v.parse::<u64>().map_err(|e| format!("{flag} {v}: {e}"));
        match flag.as_str() {
            "--guns" => options.guns = u32::try_from(number(&value)?).map_err(|e| e.to_string())?,
            "--seconds" => options.seconds = number(&value)?,
            "--request-ms" => options.request_ms = number(&value)?.max(1),
            _ => {
                return Err(format!(
                    "unknown flag {flag} (--guns, --seconds, --request-ms)"
                ));
            }
        }
    }
    Ok(options)
}

fn main() -> Result<(), String> {
    let options = options()?;
    let mut config = PeccConfig::new(options.guns).with_guns(options.guns);
    config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    let PowerSettings::Sim(sim) = &mut config.power;
    sim.modules = options.guns as usize;
    config.splitdash.queue = 1 << 20;
    config.splitdash.send_timeout = Duration::from_secs(24 * 3600);

    let server = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let running = server
        .block_on(pecc::start(config))
        .map_err(|e| e.to_string())?;
    let addr = running.addr;
    let urls: Vec<String> = (1..=options.guns)
        .filter_map(|gun| running.gun_url(gun))
        .collect();

    let clients = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime.block_on(drive(addr, urls, options))
    });
    let result = clients
        .join()
        .map_err(|_| "the client thread panicked".to_string())?;
    // Counted before the monitoring client leaves: was it served (and clogged) to the end?
    let subscribers = running.shared.hub.subscribers();
    let (gaps, stalled) = result?;
    drop(stalled);
    server.block_on(running.shutdown());
    report(&options, &gaps, subscribers).map_err(|e| e.to_string())
}

/// Runs the clients; returns every gun's status gaps during the measurement, and the monitoring
/// client, still connected.
async fn drive(
    addr: SocketAddr,
    urls: Vec<String>,
    options: Options,
) -> Result<(Vec<Vec<Duration>>, Monitor), String> {
    let stalled = stalled_monitor(addr).await?;
    let (ready, mut charging) = mpsc::unbounded_channel();
    let (go, start) = tokio::sync::watch::channel(None::<Instant>);
    let mut sessions = Vec::new();
    for (index, url) in urls.into_iter().enumerate() {
        let ready = ready.clone();
        let start = start.clone();
        let amps = 20.0 + index as f64 / 2.0;
        sessions.push(tokio::spawn(secc(url, amps, ready, start, options)));
    }
    drop(ready);
    // The measurement starts once every gun charges.
    for _ in 0..sessions.len() {
        charging
            .recv()
            .await
            .ok_or("a session ended before charging")?;
    }
    let begin = Instant::now();
    let _ = go.send(Some(begin));
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "{} guns charging; measuring for {} s",
        sessions.len(),
        options.seconds
    );
    let mut gaps = Vec::new();
    for session in sessions {
        gaps.push(session.await.map_err(|e| e.to_string())??);
    }
    Ok((gaps, stalled))
}

/// A `/splitdash` client with a tiny receive window that never reads.
async fn stalled_monitor(addr: SocketAddr) -> Result<Monitor, String> {
    let socket = TcpSocket::new_v4().map_err(|e| e.to_string())?;
    socket
        .set_recv_buffer_size(2048)
        .map_err(|e| e.to_string())?;
    let stream = socket.connect(addr).await.map_err(|e| e.to_string())?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let url = format!("ws://{addr}/splitdash");
    let (ws, _) = tokio_tungstenite::client_async(url.as_str(), stream)
        .await
        .map_err(|e| e.to_string())?;
    Ok(ws)
}

/// One SECC: a session to charging at `amps`, then requests every `request_ms` while the
/// statuses are stamped; returns the gaps between statuses that arrived after the start.
async fn secc(
    url: String,
    amps: f64,
    ready: mpsc::UnboundedSender<()>,
    mut start: tokio::sync::watch::Receiver<Option<Instant>>,
    options: Options,
) -> Result<Vec<Duration>, String> {
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| e.to_string())?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "pep1.8".parse().map_err(|_| "header")?,
    );
    let (ws, _) = tokio_tungstenite::connect_async_with_config(request, None, true)
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let (mut sink, mut stream) = ws.split();
    // The reader stamps every message as it arrives; answers to our requests are not needed.
    let (post, mut inbox) = mpsc::unbounded_channel::<(Instant, Value)>();
    let reader = tokio::spawn(async move {
        while let Some(Ok(message)) = stream.next().await {
            if let Message::Text(text) = message
                && let Ok(value) = serde_json::from_str::<Value>(text.as_str())
                && post.send((Instant::now(), value)).is_err()
            {
                break;
            }
        }
    });
    let mut seq = 0u32;
    let mut send = |kind: &str, payload: Value| {
        seq += 1;
        json!({"type": "request", "kind": kind, "sequenceNumber": seq, "payload": payload})
            .to_string()
    };
    let target = |volts: f64, amps: f64, state: &str| {
        json!({"targetVoltage": volts, "targetCurrent": amps, "batteryStateOfCharge": 50,
               "chargingState": state})
    };
    // The session: each step sent once its precondition shows in the status.
    let steps: Vec<(String, Precondition)> = vec![
        (send("configuration", json!({})), Box::new(|_| true)),
        (
            send("contactorsStatus", json!({"contactorsStatus": "closed"})),
            Box::new(|_| true),
        ),
        (
            send("cableCheck", json!({"voltage": 400})),
            Box::new(|s| s["contactorsStatus"] == "closed"),
        ),
        (
            send("targetValues", target(380.0, 2.0, "preCharge")),
            Box::new(|s| s["isolationStatus"] == "valid"),
        ),
        (
            send("targetValues", target(400.0, amps, "charge")),
            Box::new(|s| s["measuredVoltage"].as_f64().is_some_and(|v| v > 370.0)),
        ),
    ];
    let mut statuses: Vec<Instant> = Vec::new();
    let mut last_status = json!({});
    for (text, precondition) in steps {
        while !precondition(&last_status) {
            let (at, message) = inbox.recv().await.ok_or("connection ended")?;
            if message["kind"] == "status" {
                statuses.push(at);
                last_status = message["payload"].clone();
            }
        }
        sink.send(Message::text(text))
            .await
            .map_err(|e| e.to_string())?;
    }
    while (last_status["measuredCurrent"].as_f64().unwrap_or(0.0) - amps).abs() > 1.0 {
        let (at, message) = inbox.recv().await.ok_or("connection ended")?;
        if message["kind"] == "status" {
            statuses.push(at);
            last_status = message["payload"].clone();
        }
    }
    let _ = ready.send(());
    let begin = loop {
        if let Some(begin) = *start.borrow_and_update() {
            break begin;
        }
        tokio::select! {
            changed = start.changed() => changed.map_err(|e| e.to_string())?,
            received = inbox.recv() => {
                let (at, message) = received.ok_or("connection ended")?;
                if message["kind"] == "status" {
                    statuses.push(at);
                }
            }
        }
    };
    let end = begin + Duration::from_secs(options.seconds);
    let mut requests = tokio::time::interval(Duration::from_millis(options.request_ms));
    loop {
        tokio::select! {
            received = inbox.recv() => {
                let (at, message) = received.ok_or("connection ended")?;
                if message["kind"] == "status" {
                    statuses.push(at);
                }
                if at >= end {
                    break;
                }
            }
            _ = requests.tick() => {
                let text = send("targetValues", target(400.0, amps, "charge"));
                sink.send(Message::text(text)).await.map_err(|e| e.to_string())?;
            }
        }
    }
    reader.abort();
    let measured: Vec<Instant> = statuses.into_iter().filter(|at| *at >= begin).collect();
    Ok(measured.windows(2).map(|w| w[1] - w[0]).collect())
}

fn report(options: &Options, gaps: &[Vec<Duration>], subscribers: usize) -> std::io::Result<()> {
    let mut deviations: Vec<Duration> = gaps
        .iter()
        .flatten()
        .map(|gap| gap.abs_diff(PERIOD))
        .collect();
    deviations.sort_unstable();
    let quantile = |q: f64| -> Duration {
        if deviations.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((q * deviations.len() as f64).ceil() as usize).clamp(1, deviations.len());
        deviations[rank - 1]
    };
    let shortest = gaps.iter().flatten().min().copied().unwrap_or_default();
    let longest = gaps.iter().flatten().max().copied().unwrap_or_default();
    let per_gun: Vec<usize> = gaps.iter().map(Vec::len).collect();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{} guns, {} s of charging, targetValues every {} ms per gun, one /splitdash client not reading ({})",
        options.guns,
        options.seconds,
        options.request_ms,
        if subscribers == 1 {
            "still connected at the end"
        } else {
            "dropped"
        }
    )?;
    writeln!(
        out,
        "status gaps measured: {} ({} … {} per gun)",
        deviations.len(),
        per_gun.iter().min().copied().unwrap_or(0),
        per_gun.iter().max().copied().unwrap_or(0)
    )?;
    writeln!(
        out,
        "gap range: {:.3} … {:.3} ms",
        ms(shortest),
        ms(longest)
    )?;
    writeln!(
        out,
        "jitter |gap − 200 ms|: p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms, p99.9 {:.3} ms, max {:.3} ms",
        ms(quantile(0.5)),
        ms(quantile(0.9)),
        ms(quantile(0.99)),
        ms(quantile(0.999)),
        ms(deviations.last().copied().unwrap_or_default())
    )
}
