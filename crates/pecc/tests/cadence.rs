//! 72 charge points served at once, on virtual time: every SECC runs a session to charging
//! while a `/splitdash` client that never reads sits on the same controller, and every status
//! stream keeps its 200 ms to the millisecond. (`examples/cadence.rs` measures the same in real
//! time.)

mod support;

use pecc::config::PowerSettings;
use std::time::Duration;
use support::{Recorder, start};
use tokio::net::TcpSocket;
use tokio::time::Instant;

const GUNS: u32 = 72;

/// Each gun's current: 20.5 … 56 A, within one 30 kW module at 400 V.
fn amps(gun: u32) -> f64 {
    20.0 + f64::from(gun) / 2.0
}

#[tokio::test(start_paused = true)]
async fn seventy_two_status_streams_keep_200_ms_while_a_splitdash_client_does_not_read() {
    let pecc = start(GUNS, |c| {
        // A module per gun, so every gun really charges; a monitoring client that is never
        // dropped, so it stays clogged for the whole run.
        let PowerSettings::Sim(sim) = &mut c.power;
        sim.modules = GUNS as usize;
        c.splitdash.diagnostics_interval = Duration::from_millis(50);
        c.splitdash.queue = 100_000;
        c.splitdash.send_timeout = Duration::from_secs(600);
    })
    .await;

    // The monitoring client: a tiny receive window, and it never reads. The controller publishes
    // megabytes of records meanwhile (a diagnostics record per gun every 50 ms, a frame record
    // per request and reply), far beyond what the socket buffers hold: its sender is stuck.
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(2048).expect("buffer size");
    let stream = socket.connect(pecc.addr).await.expect("connects");
    stream.set_nodelay(true).expect("Nagle off");
    let url = format!("ws://{}/splitdash", pecc.addr);
    let (stalled, _) = tokio_tungstenite::client_async(url.as_str(), stream)
        .await
        .expect("handshake");
    assert_eq!(pecc.shared.hub.subscribers(), 1);

    // Every gun's SECC charges at its own current, then watches its statuses for 10 s.
    let start = Instant::now();
    let mut sessions = Vec::new();
    for gun in 1..=GUNS {
        let url = pecc.gun_url(gun).expect("gun");
        sessions.push(tokio::spawn(async move {
            let mut secc = Recorder::connect(&url).await;
            secc.charge(amps(gun)).await;
            let charging = Instant::now();
            while charging.elapsed() < Duration::from_secs(10) {
                secc.next_status().await;
            }
            secc
        }));
    }
    let mut seccs = Vec::new();
    for session in sessions {
        seccs.push(session.await.expect("the session ran"));
    }

    for (index, secc) in seccs.iter().enumerate() {
        let gun = index + 1;
        let gaps = secc.status_gaps();
        assert!(
            gaps.len() >= 60,
            "gun {gun}: {} statuses",
            secc.statuses.len()
        );
        assert!(
            gaps.iter().all(|g| *g == Duration::from_millis(200)),
            "gun {gun}: status gaps {gaps:?}"
        );
        let (_, last) = secc.statuses.last().expect("statuses");
        let current = last["measuredCurrent"].as_f64().unwrap_or(0.0);
        assert!(
            (current - amps(gun as u32)).abs() < 1.0,
            "gun {gun} charges: {last}"
        );
    }
    assert!(start.elapsed() >= Duration::from_secs(10));
    assert_eq!(
        pecc.shared.hub.subscribers(),
        1,
        "the monitoring client was still connected, and still not reading, throughout"
    );
    drop(stalled);
    drop(seccs);
    pecc.shutdown().await;
}
