//! The connection task: moves frames between the WebSocket and the sans-I/O session, hands the
//! central system's CALLs to the application and sends its answers and calls in the order given,
//! and pings to find a half-open socket.

use crate::{ClientError, Command, IncomingCall};
use futures_util::{SinkExt, StreamExt};
use proto_ocpp::session::{Event, Session};
use proto_ocpp::{Dialect, ErrorCode};
use serde_json::Map;
use std::collections::HashMap;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

type Waiting<D> = HashMap<String, oneshot::Sender<Result<<D as Dialect>::Response, ClientError>>>;

pub(crate) struct Link<D: Dialect> {
    session: Session<D>,
    inbox: mpsc::UnboundedReceiver<Command<D>>,
    calls: mpsc::Sender<IncomingCall<D>>,
    /// Weak, so that the connection closes once the application has dropped every handle.
    commands: mpsc::WeakUnboundedSender<Command<D>>,
    waiting: Waiting<D>,
}

impl<D: Dialect> Link<D> {
    pub(crate) fn new(
        session: Session<D>,
        inbox: mpsc::UnboundedReceiver<Command<D>>,
        calls: mpsc::Sender<IncomingCall<D>>,
        commands: mpsc::WeakUnboundedSender<Command<D>>,
    ) -> Self {
        Self {
            session,
            inbox,
            calls,
            commands,
            waiting: HashMap::new(),
        }
    }

    pub(crate) async fn run<S>(mut self, mut socket: WebSocketStream<S>, ping: Option<Duration>)
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let mut next_ping = ping.map(|p| Instant::now() + p);
        // When a ping is out: the deadline for any frame from the central system.
        let mut pong_due: Option<Instant> = None;
        'connection: loop {
            // Send what is due and hand over what arrived, until both are drained.
            loop {
                while let Some(text) = self.session.poll_transmit() {
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        break 'connection;
                    }
                }
                let Some(event) = self.session.poll_event() else {
                    break;
                };
                self.deliver(event).await;
            }
            let deadline = [
                self.session.poll_timeout().map(Instant::from_std),
                next_ping,
                pong_due,
            ]
            .into_iter()
            .flatten()
            .min();
            tokio::select! {
                received = socket.next() => {
                    pong_due = None;
                    match received {
                        Some(Ok(Message::Text(text))) => {
                            self.session.handle_text(text.as_str(), Instant::now().into_std());
                        }
                        Some(Ok(Message::Close(_))) => {
                            // Complete the closing handshake before leaving.
                            let _ = socket.close(None).await;
                            break 'connection;
                        }
                        Some(Err(_)) | None => break 'connection,
                        Some(Ok(_)) => {}
                    }
                }
                command = self.inbox.recv() => match command {
                    Some(Command::Call(request, reply)) => {
                        match self.session.call(request, Instant::now().into_std()) {
                            Ok(id) => {
                                self.waiting.insert(id, reply);
                            }
                            Err(e) => {
                                let _ = reply.send(Err(e.into()));
                            }
                        }
                    }
                    Some(Command::Answer(id, answer)) => {
                        let result = match answer {
                            Ok(response) => self.session.respond(&id, response),
                            Err((code, description)) => {
                                self.session.respond_error(&id, code, &description, Map::new())
                            }
                        };
                        if let Err(e) = result {
                            tracing::warn!(%id, error = %e, "cannot answer the central system");
                        }
                    }
                    Some(Command::Close) | None => {
                        let _ = socket.close(None).await;
                        break 'connection;
                    }
                },
                () = sleep_until(deadline) => {
                    let now = Instant::now();
                    if pong_due.is_some_and(|due| due <= now) {
                        tracing::warn!("no answer to the WebSocket ping: the connection is dead");
                        break 'connection;
                    }
                    if let (Some(at), Some(period)) = (next_ping, ping)
                        && at <= now
                    {
                        if socket.send(Message::Ping(Vec::new().into())).await.is_err() {
                            break 'connection;
                        }
                        next_ping = Some(now + period);
                        pong_due = Some(now + period);
                    }
                    self.session.handle_timeout(now.into_std());
                }
            }
        }
        for (_, reply) in self.waiting.drain() {
            let _ = reply.send(Err(ClientError::Closed));
        }
    }

    async fn deliver(&mut self, event: Event<D>) {
        match event {
            Event::Call { id, request, .. } => {
                let call = IncomingCall {
                    request,
                    id: id.clone(),
                    commands: self.commands.upgrade(),
                };
                if let Err(refused) = self.calls.send(call).await {
                    // The application has gone: answer here, and defuse the call's own answer.
                    let mut call = refused.0;
                    call.commands = None;
                    let _ = self.session.respond_error(
                        &id,
                        ErrorCode::InternalError,
                        "station is shutting down",
                        Map::new(),
                    );
                }
            }
            Event::Response { id, response, .. } => {
                if let Some(reply) = self.waiting.remove(&id) {
                    let _ = reply.send(Ok(response));
                }
            }
            Event::Failed { id, failure, .. } => {
                if let Some(reply) = self.waiting.remove(&id) {
                    let _ = reply.send(Err(ClientError::Call(failure)));
                }
            }
            Event::Send { .. } | Event::ResponseRejected(_) | Event::Rejected { .. } => {}
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
