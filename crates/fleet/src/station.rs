//! One fleet station: a single task that connects at its planned start, boots, then follows its
//! plan (or saturates the link) over the sans-I/O OCPP session, and winds down at the end.
//!
//! The task owns its socket, its session and its plan; nothing else is allocated per station,
//! so a fleet of a hundred thousand fits in one process. Like a real charger it has at most one
//! CALL in flight: triggers that come due while it waits for an answer queue up, and their
//! latency counts from when they were due.

use crate::Shared;
use crate::connect::{ConnectError, Socket, describe};
use crate::dialect::{self, FleetDialect, Outcome, StationState, Status, Step};
use crate::workload::Plan;
use futures_util::{SinkExt, StreamExt};
use proto_ocpp::session::{CallFailure, Config, Event, Role, Session};
use proto_ocpp::validate::Mode;
use proto_ocpp::{ErrorCode, Timestamp};
use serde_json::Map;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{Instant, sleep_until};
use tokio_tungstenite::tungstenite::Message;

/// How long a station waits for the central system to acknowledge its close.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// A CALL waiting to be sent.
#[derive(Debug, Clone, Copy)]
struct Pending {
    step: Step,
    /// When it was due; `None` when it follows the answer to the previous step.
    due: Option<Instant>,
}

/// The CALL awaiting its answer.
#[derive(Debug)]
struct InFlight {
    id: String,
    step: Step,
    action: &'static str,
    due: Instant,
}

/// How a station's connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The station closed it after its last step.
    Closed,
    /// The central system or the network dropped it.
    Dropped,
}

/// Runs station `index` of the fleet until its plan is done.
pub(crate) async fn run<D: FleetDialect>(shared: Arc<Shared>, index: usize) {
    let plan = Plan::for_station(&shared.config, index);
    let start = shared.recorder.epoch() + plan.start();
    let mut stop = shared.stop.clone();
    tokio::select! {
        () = sleep_until(start) => {}
        () = stopped(&mut stop) => {
            shared.recorder.station_finished();
            return;
        }
    }
    shared.recorder.station_started();
    let id = shared.config.station_id(index);
    // Boxed: the handshake's future is large and needed only once; the task keeps only what
    // the connection needs.
    let connecting = Box::pin(shared.target.connect(index, &id, shared.config.version));
    let socket = match tokio::time::timeout(shared.config.connect_timeout, connecting).await {
        Ok(Ok(socket)) => socket,
        Ok(Err(e)) => return connect_failed(&shared, &id, &e),
        Err(_) => return connect_failed(&shared, &id, &ConnectError::Timeout),
    };
    shared.recorder.connected(start.elapsed());
    let mut station = Station::<D>::new(shared.clone(), index, plan);
    let end = station.drive(socket).await;
    shared.recorder.offline(end == End::Dropped);
    shared.recorder.station_finished();
}

fn connect_failed(shared: &Shared, id: &str, error: &ConnectError) {
    let reason = error.reason();
    tracing::debug!(station = id, %reason, "cannot connect");
    shared.recorder.connect_failed(reason);
    shared.recorder.station_finished();
}

struct Station<D: FleetDialect> {
    shared: Arc<Shared>,
    plan: Plan,
    session: Session<D>,
    state: StationState,
    steps: VecDeque<Pending>,
    in_flight: Option<InFlight>,
    /// Alternates Heartbeat and MeterValues in saturation.
    saturation_heartbeat: bool,
    /// Past the end of the run (or told to stop): no new work, open sessions are stopped.
    ending: bool,
}

impl<D: FleetDialect> Station<D> {
    fn new(shared: Arc<Shared>, index: usize, plan: Plan) -> Self {
        let mut config = Config::new(Role::ChargingStation);
        config.call_timeout = shared.config.call_timeout;
        config.mode = Mode::Strict;
        // Answered ids of the central system are only remembered for its own CALLs, which the
        // fleet does not act on; a short memory keeps stations small.
        config.remember_answered = 4;
        let workload = &shared.config.workload;
        // Energy per meter value at 50 kW, Wh.
        let sample_wh = (50_000.0 * workload.meter_interval.as_secs_f64() / 3600.0).round();
        // Rounded and far inside i64.
        #[allow(clippy::cast_possible_truncation)]
        let sample_wh = sample_wh as i64;
        let state = StationState::new(index, shared.config.connectors, sample_wh.max(1));
        let mut steps = VecDeque::new();
        let now = Instant::now();
        steps.push_back(Pending {
            step: Step::Boot,
            due: Some(now),
        });
        for connector in 1..=shared.config.connectors {
            steps.push_back(Pending {
                step: Step::Status(connector, Status::Available),
                due: None,
            });
        }
        Self {
            shared,
            plan,
            session: Session::new(config),
            state,
            steps,
            in_flight: None,
            saturation_heartbeat: true,
            ending: false,
        }
    }

    /// Runs the connection until the station is done or the connection drops.
    async fn drive(&mut self, mut socket: Socket) -> End {
        let recorder = self.shared.recorder.clone();
        let epoch = recorder.epoch();
        let end_at = epoch + self.plan.end();
        // A station that cannot finish (answers that never come back) gives up this long after
        // the end.
        let give_up = end_at + self.shared.config.call_timeout * 2 + Duration::from_secs(5);
        let mut stop = self.shared.stop.clone();
        loop {
            self.send_next();
            while let Some(text) = self.session.poll_transmit() {
                if let Err(e) = socket.feed(Message::text(text)).await {
                    tracing::debug!(error = %describe(&e), "send failed");
                    return End::Dropped;
                }
                recorder.frame_sent();
            }
            if let Err(e) = socket.flush().await {
                tracing::debug!(error = %describe(&e), "send failed");
                return End::Dropped;
            }
            if self.ending && self.in_flight.is_none() && self.steps.is_empty() {
                return close(socket).await;
            }
            let next_trigger = if self.ending || self.shared.config.saturate {
                None
            } else {
                self.plan.peek().map(|at| epoch + at)
            };
            let call_deadline = self.session.poll_timeout().map(Instant::from_std);
            tokio::select! {
                received = socket.next() => match received {
                    Some(Ok(Message::Text(text))) => {
                        recorder.frame_received();
                        self.session.handle_text(text.as_str(), Instant::now().into_std());
                    }
                    Some(Ok(Message::Close(_))) | None => return End::Dropped,
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        tracing::debug!(error = %describe(&e), "connection failed");
                        return End::Dropped;
                    }
                },
                () = sleep_opt(next_trigger) => self.take_due_triggers(epoch),
                () = sleep_opt(call_deadline) => self.session.handle_timeout(Instant::now().into_std()),
                () = sleep_until(end_at), if !self.ending && self.shared.config.saturate => {
                    self.wind_down();
                }
                () = sleep_opt(self.plan_exhausted().then_some(end_at)), if !self.ending => {
                    self.wind_down();
                }
                () = stopped(&mut stop), if !self.ending => self.wind_down(),
                () = sleep_until(give_up) => {
                    tracing::debug!("no answer long after the end; leaving");
                    return close(socket).await;
                }
            }
            self.take_events();
        }
    }

    /// Whether the plan has nothing more to trigger.
    fn plan_exhausted(&self) -> bool {
        self.plan.peek().is_none()
    }

    /// Queues the steps of every trigger that is due.
    fn take_due_triggers(&mut self, epoch: Instant) {
        let now = Instant::now();
        while let Some(at) = self.plan.peek() {
            let due = epoch + at;
            if due > now {
                break;
            }
            let Some((_, trigger)) = self.plan.next() else {
                break;
            };
            let mut first = true;
            dialect::expand(trigger, self.shared.config.version, |step| {
                self.steps.push_back(Pending {
                    step,
                    due: first.then_some(due),
                });
                first = false;
            });
        }
    }

    /// Stops taking new work; sessions still open are stopped before the station leaves.
    fn wind_down(&mut self) {
        if self.ending {
            return;
        }
        self.ending = true;
        // The plan's own stops are queued already when it ran out; after an early stop or in
        // saturation, stop what is open or about to open. Steps already queued still go out, so
        // a stop queued now follows its session's start.
        let in_flight = self.in_flight.as_ref().map(|call| call.step);
        let queued = || self.steps.iter().map(|p| p.step).chain(in_flight);
        let starting: Vec<u32> = queued()
            .filter_map(|step| match step {
                Step::Start(c) => Some(c),
                _ => None,
            })
            .collect();
        let stopping: Vec<u32> = queued()
            .filter_map(|step| match step {
                Step::Stop(c) => Some(c),
                _ => None,
            })
            .collect();
        let mut open: Vec<u32> = self.state.open_sessions().chain(starting).collect();
        open.sort_unstable();
        open.dedup();
        open.retain(|c| !stopping.contains(c));
        let now = Instant::now();
        for connector in open {
            let mut first = true;
            dialect::expand(
                crate::workload::Trigger::SessionStop(connector),
                self.shared.config.version,
                |step| {
                    self.steps.push_back(Pending {
                        step,
                        due: first.then_some(now),
                    });
                    first = false;
                },
            );
        }
    }

    /// Sends the next step when nothing is in flight.
    fn send_next(&mut self) {
        while self.in_flight.is_none() {
            let now = Instant::now();
            let pending = match self.steps.pop_front() {
                Some(pending) => pending,
                None if self.shared.config.saturate && !self.ending => {
                    let step = if self.saturation_heartbeat {
                        Step::Heartbeat
                    } else {
                        Step::SaturationMeter
                    };
                    self.saturation_heartbeat = !self.saturation_heartbeat;
                    Pending {
                        step,
                        due: Some(now),
                    }
                }
                None => return,
            };
            let Some(request) = D::request(&mut self.state, pending.step, Timestamp::now()) else {
                continue;
            };
            let action = D::action_name(D::request_action(&request));
            match self.session.call(request, now.into_std()) {
                Ok(id) => {
                    self.in_flight = Some(InFlight {
                        id,
                        step: pending.step,
                        action,
                        due: pending.due.unwrap_or(now),
                    });
                }
                Err(e) => {
                    tracing::warn!(%action, error = %e, "cannot send");
                    self.shared.recorder.error("EncodeError");
                }
            }
        }
    }

    /// Takes in what the session decoded.
    fn take_events(&mut self) {
        let recorder = self.shared.recorder.clone();
        while let Some(event) = self.session.poll_event() {
            match event {
                Event::Response { id, response, .. } => {
                    let Some(call) = self.take_in_flight(&id) else {
                        continue;
                    };
                    recorder.round_trip(call.action, call.due, Instant::now());
                    match D::answer(&mut self.state, call.step, &response) {
                        Outcome::Done => {}
                        Outcome::TxStarted => recorder.transaction_started(),
                        Outcome::TxStopped => recorder.transaction_stopped(),
                        Outcome::Refused => recorder.refused(),
                    }
                }
                Event::Failed { id, failure, .. } => {
                    let Some(call) = self.take_in_flight(&id) else {
                        continue;
                    };
                    let code = match &failure {
                        CallFailure::CallError { error, .. } => error.code.clone(),
                        CallFailure::InvalidResponse(_) => "InvalidResponse".into(),
                        CallFailure::Timeout => "Timeout".into(),
                    };
                    tracing::debug!(action = call.action, %failure, "call failed");
                    recorder.error(&code);
                    D::abandon(&mut self.state, call.step);
                }
                Event::Call { id, request, .. } => {
                    // The fleet measures the central system's answers; it takes no orders.
                    recorder.csms_call();
                    let action = D::action_name(D::request_action(&request));
                    let _ = self.session.respond_error(
                        &id,
                        ErrorCode::NotImplemented,
                        &format!("{action} is not implemented by the load generator"),
                        Map::new(),
                    );
                }
                Event::Rejected { kind, .. } => {
                    recorder.error(&format!("Rejected{kind:?}"));
                }
                Event::ResponseRejected(error) => {
                    recorder.error(&format!("CallResultError{}", error.code));
                }
                Event::Send { .. } => recorder.csms_call(),
            }
        }
    }

    fn take_in_flight(&mut self, id: &str) -> Option<InFlight> {
        if self.in_flight.as_ref().is_some_and(|call| call.id == id) {
            self.in_flight.take()
        } else {
            None
        }
    }
}

/// Closes the WebSocket and waits briefly for the central system's close.
async fn close(mut socket: Socket) -> End {
    let _ = socket.close(None).await;
    let drain = async { while let Some(Ok(_)) = socket.next().await {} };
    let _ = tokio::time::timeout(CLOSE_WAIT, drain).await;
    End::Closed
}

/// Resolves once the run is told to stop.
async fn stopped(stop: &mut tokio::sync::watch::Receiver<bool>) {
    // An error means the run is gone; stopping is right then too.
    let _ = stop.wait_for(|stop| *stop).await;
}

async fn sleep_opt(deadline: Option<Instant>) {
    match deadline {
        Some(at) => sleep_until(at).await,
        None => std::future::pending().await,
    }
}
