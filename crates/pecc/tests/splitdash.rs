//! `/splitdash`: monitoring clients get structured records; a client that stops reading is
//! dropped while the others, and the SECCs' 200 ms status stream, go on undisturbed.

mod support;

use futures_util::StreamExt;
use serde_json::{Value, json};
use std::time::Duration;
use support::{Secc, http, start};
use tokio::net::TcpSocket;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// `2026-05-01T12:00:00.123Z`: RFC 3339, UTC, milliseconds.
fn millisecond_timestamp(ts: &str) -> bool {
    let bytes = ts.as_bytes();
    ts.len() == 24
        && bytes[10] == b'T'
        && bytes[19] == b'.'
        && bytes[23] == b'Z'
        && bytes[20..23].iter().all(u8::is_ascii_digit)
}

#[tokio::test(start_paused = true)]
async fn a_slow_client_is_dropped_and_nobody_else_notices() {
    let pecc = start(8, |c| {
        c.splitdash.queue = 64;
        c.splitdash.diagnostics_interval = Duration::from_millis(10);
    })
    .await;
    let url = format!("ws://{}/splitdash", pecc.addr);

    // A client that reads everything, on its own task.
    let (fast, _) = support::connect(&url, "").await;
    let (records, mut received) = mpsc::unbounded_channel::<Value>();
    let reader = tokio::spawn(async move {
        let mut fast = fast;
        while let Some(Ok(message)) = fast.next().await {
            if let Message::Text(text) = message {
                let _ =
                    records.send(serde_json::from_str(text.as_str()).expect("records are JSON"));
            }
        }
    });

    // A client with a tiny receive window that never reads.
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(2048).expect("buffer size");
    let stream = socket.connect(pecc.addr).await.expect("connects");
    stream.set_nodelay(true).expect("Nagle off");
    let (mut slow, _) = tokio_tungstenite::client_async(url.as_str(), stream)
        .await
        .expect("handshake");

    // An SECC on gun 1 that talks and watches its statuses throughout.
    let mut secc = Secc::connect(&pecc.gun_url(1).expect("gun 1")).await;
    secc.request("configuration", json!({})).await;
    let (_, health) = http(pecc.addr, "GET", "/health", None, None).await;
    assert_eq!(health["splitdashClients"], 2);

    let mut dropped = false;
    for _ in 0..40 {
        secc.next_status().await;
        let (_, health) = http(pecc.addr, "GET", "/health", None, None).await;
        if health["splitdashClients"] == 1 {
            dropped = true;
            break;
        }
    }
    assert!(dropped, "the slow client is still served");
    // The SECC kept its cadence while the slow client clogged and was dropped.
    for _ in 0..5 {
        secc.next_status().await;
    }
    let gaps: Vec<Duration> = secc.statuses.windows(2).map(|w| w[1].0 - w[0].0).collect();
    assert!(gaps.len() >= 5);
    assert!(
        gaps.iter()
            .all(|g| *g >= Duration::from_millis(190) && *g <= Duration::from_millis(210)),
        "status gaps {gaps:?}"
    );

    // The fast client saw every kind of record, stamped to the millisecond, and the drop.
    secc.request("reset", json!({})).await;
    let mut kinds = std::collections::BTreeSet::new();
    let mut saw_drop = false;
    let mut saw_reset_frame = false;
    let collect = async {
        while let Some(record) = received.recv().await {
            assert!(
                record["ts"].as_str().is_some_and(millisecond_timestamp),
                "{record}"
            );
            kinds.insert(record["type"].as_str().unwrap_or_default().to_string());
            let message = record["message"].as_str().unwrap_or_default();
            saw_drop |= message.contains("dropped");
            saw_reset_frame |= record["type"] == "frame" && record["message"]["kind"] == "reset";
            if saw_drop && saw_reset_frame && kinds.len() >= 4 {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), collect)
        .await
        .expect("records keep coming");
    assert!(saw_drop && saw_reset_frame);
    for kind in ["log", "frame", "diagnostics", "modules"] {
        assert!(kinds.contains(kind), "no {kind} record: {kinds:?}");
    }

    // The slow client finds its stream ended (with a close frame saying why, if it got through).
    let mut end = None;
    while let Some(message) = slow.next().await {
        match message {
            Ok(Message::Close(frame)) => {
                end = frame.map(|f| f.code);
                break;
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    assert!(end.is_none_or(|code| code == CloseCode::Policy), "{end:?}");
    assert!(!reader.is_finished(), "the fast client is still connected");
    reader.abort();
    pecc.shutdown().await;
}
