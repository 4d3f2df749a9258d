//! One task per SECC connection: it drives the sans-I/O [`PeccConnection`] over the WebSocket,
//! hands the SECC's requests and infos to the control task (a request the control task cannot
//! take within the 450 ms answer window is withdrawn and answered with `error/internal`, so the
//! SECC always hears back within its 500 ms), sends the status every 200 ms from the gun's
//! published view, forwards PE events, sends the PECC's own requests for the admin API, and
//! reports the end of the connection (closed, failed, silent or replaced) so the gun goes to
//! standby.

use crate::Shared;
use crate::cabinet::CabinetCommand;
use crate::chargepoint::{Level, Reply, StandbyReason};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use proto_pepws::connection::{PeccConfig, PeccConnection};
use proto_pepws::{ErrorReply, Event, Request, Response, Transmit};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::time::Instant;
use tracing::Instrument;

/// A request to a connection task.
#[derive(Debug)]
pub enum ConnectionCommand {
    /// A newer connection took over this gun: close.
    Replaced,
    /// Send a PECC request (`getInput`, `setOutput`, `stopCharging`) and report the answer.
    Request(Request, oneshot::Sender<Outcome>),
}

/// What became of a PECC request.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The SECC answered with this response.
    Response(Response),
    /// The SECC answered with an error.
    Error(ErrorReply),
    /// No answer within 500 ms.
    Timeout,
    /// Another PECC request is still pending.
    Busy,
    /// The connection closed first.
    Disconnected,
}

/// The slot of a gun's live connection.
#[derive(Debug)]
pub struct Slot {
    /// The connection's number.
    pub connection: u64,
    /// Its command channel.
    pub commands: mpsc::Sender<ConnectionCommand>,
}

/// Serves one SECC connection on gun `gun`.
pub async fn serve(socket: WebSocket, shared: Arc<Shared>, gun: u32) {
    let connection = shared.next_connection.fetch_add(1, Ordering::Relaxed);
    let span = tracing::info_span!("secc", gun, connection);
    run(socket, shared, gun, connection).instrument(span).await;
}

async fn run(mut socket: WebSocket, shared: Arc<Shared>, gun: u32, connection: u64) {
    let (commands, mut inbox) = mpsc::channel(8);
    let replaced = shared.slots.lock().ok().and_then(|mut slots| {
        let slot = slots.get_mut((gun as usize).wrapping_sub(1))?;
        slot.replace(Slot {
            connection,
            commands,
        })
    });
    if let Some(old) = replaced {
        // The old task closes its socket; its end is ignored by the control task.
        let _ = old.commands.try_send(ConnectionCommand::Replaced);
    }
    let hub = &shared.hub;
    hub.log(
        Level::Info,
        Some(gun),
        &format!("SECC connected (connection {connection})"),
    );
    let cabinet = &shared.cabinet;
    let _ = cabinet
        .commands
        .send(CabinetCommand::Connected { gun, connection })
        .await;
    let Some(view) = cabinet.view(gun).cloned() else {
        return;
    };
    let mut events = cabinet
        .events
        .get((gun as usize).wrapping_sub(1))
        .map(broadcast::Sender::subscribe);
    // The number format is fixed per connection: a `floatValues` change applies to the next.
    let float_values = cabinet
        .ask(|reply| CabinetCommand::Parameters { gun, reply })
        .await
        .flatten()
        .is_none_or(|p| p.float_values);
    let link = &shared.config.link;
    let config = PeccConfig {
        unresponsive_timeout: link.unresponsive_timeout,
        ping_interval: Some(link.ping_interval),
        send_mode: if float_values {
            proto_pepws::NumberMode::Float
        } else {
            proto_pepws::NumberMode::Integer
        },
        ..PeccConfig::default()
    };
    let mut machine = PeccConnection::new(config, Instant::now().into_std());
    let mut waiting: Option<(u32, oneshot::Sender<Outcome>)> = None;

    let reason = 'connection: loop {
        while let Some(event) = machine.poll_event() {
            match event {
                Event::Request {
                    sequence_number,
                    request,
                } => {
                    // The SECC waits 500 ms at most: a control task that cannot take the
                    // request within the answer window gets it withdrawn (it checks before
                    // acting), and the SECC gets error/internal in time.
                    let asked = cabinet.ask(|reply| CabinetCommand::Request {
                        gun,
                        connection,
                        request,
                        reply,
                    });
                    let answer = match tokio::time::timeout(config.answer_within, asked).await {
                        Ok(Some(answer)) => answer,
                        Ok(None) => Reply::Error(
                            proto_pepws::ErrorCategory::Internal,
                            "the controller is shutting down".into(),
                        ),
                        Err(_) => {
                            hub.log(
                                Level::Error,
                                Some(gun),
                                &format!(
                                    "request {sequence_number} not taken by the control task within {} ms: error/internal",
                                    config.answer_within.as_millis()
                                ),
                            );
                            Reply::Error(
                                proto_pepws::ErrorCategory::Internal,
                                "the controller could not process the request in time".into(),
                            )
                        }
                    };
                    let answered = match answer {
                        Reply::Response(response) => machine.respond(sequence_number, response),
                        Reply::Error(category, details) => {
                            machine.respond_error(sequence_number, category, &details)
                        }
                    };
                    if let Err(e) = answered {
                        hub.log(Level::Error, Some(gun), &format!("cannot answer: {e}"));
                    }
                }
                Event::Info(info) => {
                    let _ = cabinet
                        .commands
                        .send(CabinetCommand::Info {
                            gun,
                            connection,
                            info,
                        })
                        .await;
                }
                Event::StatusDue => {
                    let status = view.borrow().status;
                    if let Err(e) = machine.send_status(status) {
                        hub.log(Level::Error, Some(gun), &format!("status not sent: {e}"));
                    }
                }
                Event::PeerUnresponsive => {
                    hub.log(
                        Level::Warn,
                        Some(gun),
                        &format!(
                            "SECC silent for {} ms: standby",
                            link.unresponsive_timeout.as_millis()
                        ),
                    );
                    break 'connection StandbyReason::Unresponsive;
                }
                Event::Malformed { error, answered } => {
                    let reply = if answered {
                        "answered with error/format"
                    } else {
                        "dropped"
                    };
                    hub.log(
                        Level::Warn,
                        Some(gun),
                        &format!("malformed message {reply}: {error}"),
                    );
                }
                Event::Ignored {
                    message_type,
                    kind,
                    reason,
                } => {
                    hub.log(
                        Level::Warn,
                        Some(gun),
                        &format!("{kind} {message_type} ignored: {reason}"),
                    );
                }
                Event::AnswerOverdue {
                    sequence_number,
                    kind,
                } => {
                    hub.log(
                        Level::Error,
                        Some(gun),
                        &format!("{kind} request {sequence_number} not answered in time: error/internal sent"),
                    );
                }
                Event::Response {
                    sequence_number,
                    response,
                } => {
                    settle(&mut waiting, sequence_number, Outcome::Response(response));
                }
                Event::ErrorReply(reply) => {
                    settle(&mut waiting, reply.sequence_number, Outcome::Error(reply));
                }
                Event::RequestTimedOut {
                    sequence_number,
                    kind,
                } => {
                    hub.log(
                        Level::Warn,
                        Some(gun),
                        &format!("{kind} request {sequence_number} timed out"),
                    );
                    settle(&mut waiting, sequence_number, Outcome::Timeout);
                }
                Event::PeerResponsive => {}
            }
        }
        while let Some(transmit) = machine.poll_transmit() {
            let message = match transmit {
                Transmit::Text(text) => {
                    if !text.contains(r#""kind":"status""#) {
                        hub.frame(gun, "sent", &text);
                    }
                    Message::Text(text.into())
                }
                Transmit::Ping => Message::Ping(Default::default()),
            };
            match tokio::time::timeout(link.send_timeout, socket.send(message)).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => break 'connection StandbyReason::Disconnected,
                Err(_) => {
                    hub.log(
                        Level::Warn,
                        Some(gun),
                        "SECC does not take messages: connection dropped",
                    );
                    break 'connection StandbyReason::Unresponsive;
                }
            }
        }
        let deadline = machine.poll_timeout().map_or_else(
            || Instant::now() + link.unresponsive_timeout,
            Instant::from_std,
        );
        tokio::select! {
            received = socket.recv() => {
                let now = Instant::now().into_std();
                match received {
                    Some(Ok(Message::Text(text))) => {
                        hub.frame(gun, "received", text.as_str());
                        machine.handle_text(text.as_str(), now);
                    }
                    Some(Ok(Message::Binary(_))) => {
                        machine.handle_activity(now);
                        hub.log(Level::Warn, Some(gun), "binary frame ignored: PEP-WS uses text frames");
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => machine.handle_activity(now),
                    Some(Ok(Message::Close(frame))) => {
                        hub.log(Level::Info, Some(gun), &format!("SECC closed the connection ({frame:?})"));
                        break 'connection StandbyReason::Disconnected;
                    }
                    Some(Err(e)) => {
                        hub.log(Level::Warn, Some(gun), &format!("connection failed: {e}"));
                        break 'connection StandbyReason::Disconnected;
                    }
                    None => break 'connection StandbyReason::Disconnected,
                }
            }
            event = recv_event(&mut events) => {
                if let Some(details) = event
                    && let Err(e) = machine.send_event(details)
                {
                    hub.log(Level::Error, Some(gun), &format!("event not sent: {e}"));
                }
            }
            command = inbox.recv() => match command {
                Some(ConnectionCommand::Request(request, reply)) => {
                    if machine.pending().is_some() {
                        let _ = reply.send(Outcome::Busy);
                    } else {
                        match machine.send_request(request, Instant::now().into_std()) {
                            Ok(n) => waiting = Some((n, reply)),
                            Err(e) => {
                                hub.log(Level::Error, Some(gun), &format!("PECC request not sent: {e}"));
                                let _ = reply.send(Outcome::Busy);
                            }
                        }
                    }
                }
                Some(ConnectionCommand::Replaced) | None => {
                    let close = Message::Close(Some(CloseFrame {
                        code: 1000,
                        reason: "replaced by a newer connection".into(),
                    }));
                    let _ = tokio::time::timeout(link.send_timeout, socket.send(close)).await;
                    break 'connection StandbyReason::NewConnection;
                }
            },
            () = tokio::time::sleep_until(deadline) => machine.handle_timeout(Instant::now().into_std()),
        }
    };

    // Release the socket first, then tell the control task; a dead peer must not hold up
    // the standby.
    machine.close();
    drop(socket);
    if let Some((_, reply)) = waiting.take() {
        let _ = reply.send(Outcome::Disconnected);
    }
    if let Ok(mut slots) = shared.slots.lock()
        && let Some(slot) = slots.get_mut((gun as usize).wrapping_sub(1))
        && slot.as_ref().is_some_and(|s| s.connection == connection)
    {
        *slot = None;
    }
    let _ = cabinet
        .commands
        .send(CabinetCommand::Disconnected {
            gun,
            connection,
            reason: reason.clone(),
        })
        .await;
    hub.log(
        Level::Info,
        Some(gun),
        &format!("SECC connection {connection} ended ({reason:?})"),
    );
}

fn settle(
    waiting: &mut Option<(u32, oneshot::Sender<Outcome>)>,
    sequence_number: u32,
    outcome: Outcome,
) {
    if waiting.as_ref().is_some_and(|(n, _)| *n == sequence_number)
        && let Some((_, reply)) = waiting.take()
    {
        let _ = reply.send(outcome);
    }
}

/// The next PE event, or never if the gun has no event channel. A lagging receiver skips ahead.
async fn recv_event(events: &mut Option<broadcast::Receiver<String>>) -> Option<String> {
    let Some(receiver) = events else {
        return std::future::pending().await;
    };
    loop {
        match receiver.recv().await {
            Ok(details) => return Some(details),
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return std::future::pending().await,
        }
    }
}
