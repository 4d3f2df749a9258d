//! The network side of a `pepws` gun: a WebSocket client to the power cabinet's charge-point
//! URL (`ws://cabinet:port/GUNx`), offering the PEP-WS subprotocols, that passes frames between
//! the socket and the gun's [`hal::pepws::Link`], and reconnects every 10 s when the cabinet is
//! gone (PEP-WS `PEP_WS_RECONNECT_INTERVAL`).

use futures_util::{SinkExt, StreamExt};
use hal::pepws::{Link, LinkEvent, LinkOutput};
use proto_pepws::connection::RECONNECT_INTERVAL;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// The subprotocols offered, newest first.
const OFFER: &str = "pep1.8, pep1.7, pep1.6, pep1.5";

/// Makes the gun's link ends and starts the task serving them for `url`.
pub fn spawn(url: String) -> Link {
    let (events, inbound) = std::sync::mpsc::channel();
    let (outputs, mut outbox) = mpsc::unbounded_channel::<LinkOutput>();
    tokio::spawn(async move {
        loop {
            match connect(&url).await {
                Ok(socket) => {
                    tracing::info!(%url, "connected to the power cabinet");
                    if events.send(LinkEvent::Connected).is_err() {
                        return;
                    }
                    let (mut sink, mut stream) = socket.split();
                    loop {
                        tokio::select! {
                            frame = stream.next() => match frame {
                                Some(Ok(Message::Text(text))) => {
                                    if events.send(LinkEvent::Text(text.to_string())).is_err() {
                                        return;
                                    }
                                }
                                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                                Some(Ok(_)) => {}
                            },
                            out = outbox.recv() => match out {
                                Some(LinkOutput::Text(text)) => {
                                    if sink.send(Message::Text(text.into())).await.is_err() {
                                        break;
                                    }
                                }
                                Some(LinkOutput::Ping) => {
                                    if sink.send(Message::Ping(Vec::new().into())).await.is_err() {
                                        break;
                                    }
                                }
                                // The gun is gone.
                                None => return,
                            },
                        }
                    }
                    tracing::warn!(%url, "power cabinet connection lost");
                    if events.send(LinkEvent::Closed).is_err() {
                        return;
                    }
                }
                Err(e) => tracing::warn!(%url, error = %e, "cannot reach the power cabinet"),
            }
            // Frames for a connection that is gone are dropped; the session starts over.
            while outbox.try_recv().is_ok() {}
            tokio::time::sleep(RECONNECT_INTERVAL).await;
        }
    });
    Link {
        inbound,
        outbound: Box::new(move |out| outputs.send(out).is_ok()),
    }
}

type Socket = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

async fn connect(url: &str) -> Result<Socket, String> {
    let mut request = url.into_client_request().map_err(|e| e.to_string())?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        OFFER
            .parse()
            .map_err(|_| "bad subprotocol header".to_string())?,
    );
    let uri = request.uri().clone();
    if uri.scheme_str() != Some("ws") {
        return Err(format!("{url}: only ws:// is supported for power cabinets"));
    }
    let host = uri.host().ok_or("no host")?.to_owned();
    let port = uri.port_u16().unwrap_or(80);
    let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| e.to_string())?;
    // PEP-WS messages are small and answered within 500 ms: no Nagle delay.
    let _ = tcp.set_nodelay(true);
    let (socket, _) = tokio_tungstenite::client_async(request, tcp)
        .await
        .map_err(|e| e.to_string())?;
    Ok(socket)
}
