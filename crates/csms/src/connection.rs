//! One task per station connection: it drives the sans-I/O OCPP session over the WebSocket,
//! answers the station's CALLs through the version's handlers, sends operators' CALLs and
//! routes their answers back, and pings the station to detect half-open sockets.

use crate::handlers::Handles;
use crate::registry::{Mailbox, StationHandle};
use crate::{Ctx, now_ms, telemetry};
use axum::extract::ws::{Message, WebSocket};
use futures_util::future::Either;
use proto_ocpp::session::{CallFailure, Config, Event, Role, Session};
use proto_ocpp::validate::Mode;
use proto_ocpp::{OcppVersion, codec, v16, v21, v201};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tracing::Instrument;

/// How many answered CALLs of the station are kept to answer a repeated id again. A station
/// repeats a CALL only when its answer did not arrive, and it has one CALL in flight at a time,
/// so the last few suffice; each kept answer costs its length on every connection. Beyond them,
/// the store absorbs a repeated transaction message by itself (a retried start returns the same
/// transaction, a repeated stop or meter sample changes nothing).
const REMEMBER_ANSWERED: usize = 4;

/// A request to a connection task.
#[derive(Debug)]
pub enum Command {
    /// Send a CALL of `action` with `payload` and report the station's answer.
    Call {
        /// Action name.
        action: String,
        /// Request payload, validated before it is sent.
        payload: Value,
        /// Where the outcome goes.
        reply: oneshot::Sender<CallOutcome>,
    },
}

/// What became of an operator's CALL.
#[derive(Debug, Clone, PartialEq)]
pub enum CallOutcome {
    /// The station answered with this payload.
    Response(Value),
    /// The station answered with a CALLERROR.
    CallError {
        /// Error code as sent.
        code: String,
        /// Description as sent.
        description: String,
        /// Details as sent.
        details: Map<String, Value>,
    },
    /// The payload is not a valid request of the station's OCPP version; nothing was sent.
    Invalid(String),
    /// The station's answer broke the response schema.
    InvalidResponse(String),
    /// No answer within the call timeout.
    Timeout,
    /// The connection closed before an answer came.
    Disconnected,
}

/// Serves one station connection speaking dialect `D` until either side closes it.
///
/// The connection's state goes to the heap in one block before the task's future is made, so
/// the future holds a pointer and what it awaits, and nothing is copied into each layer of
/// futures (an `async fn` keeps its arguments beside everything moved out of them).
pub fn serve<D: Handles>(
    socket: WebSocket,
    ctx: Arc<Ctx>,
    station: String,
) -> impl Future<Output = ()> + Send + 'static {
    let connection = ctx.registry.next_connection();
    let span = tracing::info_span!("station", id = %station, version = %D::VERSION, connection);
    let link = Box::new(Link::<D>::new(socket, ctx, station.into(), connection));
    run(link).instrument(span)
}

/// [`serve`] for the version negotiated at the upgrade.
pub fn serve_version(
    version: OcppVersion,
    socket: WebSocket,
    ctx: Arc<Ctx>,
    station: String,
) -> impl Future<Output = ()> + Send + 'static {
    match version {
        OcppVersion::V16 => Either::Left(serve::<v16::V16>(socket, ctx, station)),
        OcppVersion::V201 => Either::Right(Either::Left(serve::<v201::V201>(socket, ctx, station))),
        OcppVersion::V21 => Either::Right(Either::Right(serve::<v21::V21>(socket, ctx, station))),
    }
}

/// Everything a connection task keeps between messages.
struct Link<D: Handles> {
    socket: WebSocket,
    session: Session<D>,
    ctx: Arc<Ctx>,
    station: Arc<str>,
    connection: u64,
    mailbox: Arc<Mailbox>,
    /// Operators' CALLs awaiting the station's answer, by message id.
    waiting: HashMap<String, oneshot::Sender<CallOutcome>>,
    next_ping: Instant,
    awaiting_pong: bool,
}

impl<D: Handles> Link<D> {
    fn new(socket: WebSocket, ctx: Arc<Ctx>, station: Arc<str>, connection: u64) -> Self {
        let mut config = Config::new(Role::CentralSystem);
        config.call_timeout = ctx.config.call_timeout;
        config.id_prefix = format!("{:08x}-", rand::random::<u32>());
        config.remember_answered = REMEMBER_ANSWERED;
        let next_ping = Instant::now() + ctx.config.ping_interval;
        Self {
            socket,
            session: Session::new(config),
            ctx,
            station,
            connection,
            mailbox: Arc::default(),
            waiting: HashMap::new(),
            next_ping,
            awaiting_pong: false,
        }
    }

    /// Enters the station in the registry, closing the connection it replaces.
    fn register(&self) {
        let handle = StationHandle {
            connection: self.connection,
            version: D::VERSION,
            mailbox: self.mailbox.clone(),
        };
        if let Some(old) = self.ctx.registry.insert(self.station.clone(), handle) {
            tracing::info!(
                replaced = old.connection,
                "station reconnected; closing its old connection"
            );
            old.mailbox.close();
        }
        tracing::info!("station connected");
        telemetry::station_connected(D::VERSION.label(), 1.0);
        self.ctx
            .store
            .touch_soon(&self.station, D::VERSION, now_ms());
    }

    /// Runs the operators' commands that arrived; false once the connection must close.
    fn take_commands(&mut self) -> bool {
        while let Some(command) = self.mailbox.take() {
            match command {
                Command::Call {
                    action,
                    payload,
                    reply,
                } => send_call::<D>(&mut self.session, &mut self.waiting, action, payload, reply),
            }
        }
        !self.mailbox.is_closed()
    }
}

async fn run<D: Handles>(mut link: Box<Link<D>>) {
    link.register();

    'connection: loop {
        // Answer what arrived and send what is due before waiting again.
        loop {
            while let Some(text) = link.session.poll_transmit() {
                if let Err(e) = link.socket.send(Message::Text(text.into())).await {
                    tracing::info!(error = %e, "send failed");
                    break 'connection;
                }
            }
            let Some(event) = link.session.poll_event() else {
                break;
            };
            // Boxed: the handlers' future is the largest part of a connection's state, and an
            // idle connection should not carry it.
            let link = &mut *link;
            Box::pin(handle_event::<D>(
                &link.ctx,
                &link.station,
                &mut link.session,
                &mut link.waiting,
                event,
            ))
            .await;
        }

        let deadline = match link.session.poll_timeout() {
            Some(t) => Instant::from_std(t).min(link.next_ping),
            None => link.next_ping,
        };
        let link = &mut *link;
        tokio::select! {
            received = link.socket.recv() => match received {
                Some(Ok(Message::Text(text))) => {
                    link.session.handle_text(text.as_str(), Instant::now().into_std());
                }
                Some(Ok(Message::Pong(_))) => link.awaiting_pong = false,
                // Pings are answered by the WebSocket layer itself.
                Some(Ok(Message::Ping(_))) => {}
                Some(Ok(Message::Binary(_))) => {
                    tracing::warn!("binary frame; OCPP-J uses text frames only; closing");
                    break 'connection;
                }
                Some(Ok(Message::Close(frame))) => {
                    tracing::info!(?frame, "station closed the connection");
                    break 'connection;
                }
                Some(Err(e)) => {
                    tracing::info!(error = %e, "connection failed");
                    break 'connection;
                }
                None => break 'connection,
            },
            () = link.mailbox.wait() => {
                if !link.take_commands() {
                    let _ = link.socket.send(Message::Close(None)).await;
                    break 'connection;
                }
            },
            () = tokio::time::sleep_until(deadline) => {
                let now = Instant::now();
                link.session.handle_timeout(now.into_std());
                if now >= link.next_ping {
                    if link.awaiting_pong {
                        tracing::warn!("no pong within the ping interval; the socket is half-open");
                        break 'connection;
                    }
                    if link.socket.send(Message::Ping(Default::default())).await.is_err() {
                        break 'connection;
                    }
                    link.awaiting_pong = true;
                    link.next_ping = now + link.ctx.config.ping_interval;
                }
            }
        }
    }

    // Release the socket first; the bookkeeping below must not keep a dead peer waiting.
    let Link {
        socket,
        ctx,
        station,
        connection,
        mailbox,
        waiting,
        ..
    } = *link;
    drop(socket);
    ctx.registry.remove(&station, connection);
    mailbox.close();
    telemetry::station_connected(D::VERSION.label(), -1.0);
    for (_, reply) in waiting {
        let _ = reply.send(CallOutcome::Disconnected);
    }
    ctx.store.touch_soon(&station, D::VERSION, now_ms());
    tracing::info!("station disconnected");
}

/// Validates an operator's request and queues it; invalid payloads are never sent.
fn send_call<D: Handles>(
    session: &mut Session<D>,
    waiting: &mut HashMap<String, oneshot::Sender<CallOutcome>>,
    action: String,
    payload: Value,
    reply: oneshot::Sender<CallOutcome>,
) {
    let request = match codec::decode_request::<D>(&action, payload, Mode::Strict) {
        Ok(decoded) => decoded.message,
        Err(violation) => {
            let _ = reply.send(CallOutcome::Invalid(violation.to_string()));
            return;
        }
    };
    if D::initiator(D::request_action(&request)) == proto_ocpp::Initiator::ChargingStation {
        let _ = reply.send(CallOutcome::Invalid(format!(
            "{action} is sent by stations, not to them"
        )));
        return;
    }
    let name = D::action_name(D::request_action(&request));
    match session.call(request, Instant::now().into_std()) {
        Ok(id) => {
            telemetry::message(name, "sent");
            waiting.insert(id, reply);
        }
        Err(e) => {
            let _ = reply.send(CallOutcome::Invalid(e.to_string()));
        }
    }
}

async fn handle_event<D: Handles>(
    ctx: &Ctx,
    station: &str,
    session: &mut Session<D>,
    waiting: &mut HashMap<String, oneshot::Sender<CallOutcome>>,
    event: Event<D>,
) {
    match event {
        Event::Call {
            id,
            request,
            violations,
        } => {
            let action = D::request_action(&request);
            let name = D::action_name(action);
            telemetry::message(name, "received");
            if !violations.is_empty() {
                tracing::warn!(%action, ?violations, "accepted a CALL with schema violations");
            }
            let started = Instant::now();
            let result = D::handle(ctx, station, request).await;
            telemetry::handled(name, started.elapsed().as_secs_f64());
            let answered = match result {
                Ok(response) => session.respond(&id, response),
                Err(e) => {
                    tracing::error!(%action, error = %e, "handler failed");
                    telemetry::call_error(e.code().as_str(D::VERSION).to_string(), "sent");
                    session.respond_error(&id, e.code(), &e.to_string(), Map::new())
                }
            };
            if let Err(e) = answered {
                tracing::error!(%action, error = %e, "cannot answer the CALL");
            }
        }
        Event::Send { request, .. } => {
            let action = D::request_action(&request);
            telemetry::message(D::action_name(action), "received");
            let payload = serde_json::to_string(&request).unwrap_or_default();
            if let Err(e) = ctx
                .store
                .add_station_event(station, D::action_name(action), &payload, now_ms())
                .await
            {
                tracing::error!(%action, error = %e, "cannot store a SEND");
            }
        }
        Event::Response { id, response, .. } => {
            if let Some(reply) = waiting.remove(&id) {
                let value = serde_json::to_value(&response).unwrap_or(Value::Null);
                let _ = reply.send(CallOutcome::Response(value));
            }
        }
        Event::Failed {
            id,
            action,
            failure,
        } => {
            tracing::warn!(%id, %action, %failure, "operator CALL failed");
            if let Some(reply) = waiting.remove(&id) {
                let outcome = match failure {
                    CallFailure::CallError { error, .. } => {
                        telemetry::call_error(error.code.clone(), "received");
                        CallOutcome::CallError {
                            code: error.code,
                            description: error.description,
                            details: error.details,
                        }
                    }
                    CallFailure::InvalidResponse(v) => CallOutcome::InvalidResponse(v.to_string()),
                    CallFailure::Timeout => CallOutcome::Timeout,
                };
                let _ = reply.send(outcome);
            }
        }
        Event::ResponseRejected(error) => {
            tracing::error!(id = %error.id, code = %error.code, "station rejected our answer");
        }
        Event::Rejected { id, kind, reason } => {
            telemetry::call_error(kind.code(D::VERSION).as_str(D::VERSION).to_string(), "sent");
            tracing::warn!(?id, %kind, %reason, "refused a message of the station");
        }
    }
}
