//! The control task: it owns the power backend and every charge point's machine, so nothing
//! else touches the hardware and two commands can never race.
//!
//! It ticks every `controlIntervalMs` (power stage first, then each machine with its gun's
//! readings, which also adds the outlet's power to the gun's delivered-energy register), takes
//! [`CabinetCommand`]s from the connection tasks and the admin API (a request whose connection
//! stopped waiting is dropped untouched), applies the machines' power commands, publishes each
//! gun's [`GunView`] on a watch channel (the connections send their status from it), hands PE
//! events to the gun's connection, and logs notices and periodic diagnostics to `/splitdash`.

use crate::chargepoint::{ChargePoint, Level, Notice, Reply, Settings, StandbyReason, View};
use crate::datamodel::{DataModel, DataModelError, GunParameters};
use crate::power::{ModuleStatus, PowerBackend, Readings};
use crate::splitdash::Hub;
use proto_pepws::{Info, Request, Status};
use serde_json::{Map, Value, json};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::{Instant, MissedTickBehavior};

/// A request to the control task.
#[derive(Debug)]
pub enum CabinetCommand {
    /// An SECC connected to gun `gun` as connection `connection`.
    Connected {
        /// The gun.
        gun: u32,
        /// The connection's number.
        connection: u64,
    },
    /// That connection ended.
    Disconnected {
        /// The gun.
        gun: u32,
        /// The connection's number.
        connection: u64,
        /// Why.
        reason: StandbyReason,
    },
    /// A request of the SECC, to answer through `reply`.
    Request {
        /// The gun.
        gun: u32,
        /// The connection's number.
        connection: u64,
        /// The request.
        request: Request,
        /// Where the answer goes.
        reply: oneshot::Sender<Reply>,
    },
    /// An info of the SECC.
    Info {
        /// The gun.
        gun: u32,
        /// The connection's number.
        connection: u64,
        /// The info.
        info: Info,
    },
    /// Gun `gun`'s parameters.
    Parameters {
        /// The gun.
        gun: u32,
        /// Where they go (`None`: no such gun).
        reply: oneshot::Sender<Option<GunParameters>>,
    },
    /// Changes gun `gun`'s parameters (a JSON object under PEP-WS names), validated.
    UpdateParameters {
        /// The gun.
        gun: u32,
        /// The fields to change.
        update: Value,
        /// The parameters now in force, or why not (`None`: no such gun).
        reply: oneshot::Sender<Option<Result<GunParameters, DataModelError>>>,
    },
    /// The power modules' state.
    Modules(oneshot::Sender<Vec<ModuleStatus>>),
    /// Puts every gun in standby and ends the task.
    Shutdown(oneshot::Sender<()>),
}

/// What a gun shows: the status its SECC gets and its diagnostics.
#[derive(Debug, Clone, PartialEq)]
pub struct GunView {
    /// The `info/status` payload.
    pub status: Status,
    /// Diagnostics.
    pub view: View,
}

/// Handles to a running control task.
#[derive(Debug, Clone)]
pub struct CabinetHandle {
    /// Where commands go.
    pub commands: mpsc::Sender<CabinetCommand>,
    /// Each gun's view, gun 1 first.
    pub views: Vec<watch::Receiver<GunView>>,
    /// Each gun's PE events (`info/event` details), gun 1 first.
    pub events: Vec<broadcast::Sender<String>>,
}

impl CabinetHandle {
    /// Gun `gun`'s view receiver.
    pub fn view(&self, gun: u32) -> Option<&watch::Receiver<GunView>> {
        self.views.get((gun as usize).checked_sub(1)?)
    }

    /// Sends a command built around a reply channel and waits for the answer; `None` if the
    /// task has ended.
    pub async fn ask<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<T>) -> CabinetCommand,
    ) -> Option<T> {
        let (reply, answer) = oneshot::channel();
        self.commands.send(command(reply)).await.ok()?;
        answer.await.ok()
    }
}

struct Cabinet {
    backend: Box<dyn PowerBackend>,
    points: Vec<ChargePoint>,
    connections: Vec<Option<u64>>,
    model: DataModel,
    views: Vec<watch::Sender<GunView>>,
    events: Vec<broadcast::Sender<String>>,
    hub: Hub,
}

/// Starts the control task over `backend` with the parameters of `model`.
pub fn spawn(
    backend: Box<dyn PowerBackend>,
    model: DataModel,
    settings: &Settings,
    hub: Hub,
    control_interval: Duration,
    diagnostics_interval: Duration,
) -> CabinetHandle {
    let guns = backend.guns();
    let now = Instant::now();
    let mut cabinet = Cabinet {
        points: Vec::new(),
        connections: vec![None; guns as usize],
        views: Vec::new(),
        events: Vec::new(),
        backend,
        model,
        hub,
    };
    let mut views = Vec::new();
    let mut events = Vec::new();
    cabinet.backend.poll(now.into_std());
    for gun in 1..=guns {
        let params = cabinet
            .model
            .parameters(gun)
            .cloned()
            .unwrap_or_else(|| GunParameters::builtin(hal::Watts(0.0)));
        let point = ChargePoint::new(gun, params, settings.clone());
        let readings = cabinet.readings(gun);
        let (publish, view) = watch::channel(GunView {
            status: point.status(&readings),
            view: point.view(&readings),
        });
        cabinet.points.push(point);
        cabinet.views.push(publish);
        views.push(view);
        let (sender, _) = broadcast::channel(64);
        events.push(sender.clone());
        cabinet.events.push(sender);
    }
    let (commands, inbox) = mpsc::channel(256);
    tokio::spawn(cabinet.run(inbox, control_interval, diagnostics_interval));
    CabinetHandle {
        commands,
        views,
        events,
    }
}

impl Cabinet {
    fn readings(&self, gun: u32) -> Readings {
        self.backend.readings(gun).unwrap_or_else(|e| Readings {
            faults: vec![e.to_string()],
            ..Readings::idle(0.0)
        })
    }

    fn point(&mut self, gun: u32) -> Option<&mut ChargePoint> {
        self.points.get_mut((gun as usize).checked_sub(1)?)
    }

    async fn run(
        mut self,
        mut inbox: mpsc::Receiver<CabinetCommand>,
        control_interval: Duration,
        diagnostics_interval: Duration,
    ) {
        let mut ticks = tokio::time::interval(control_interval);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut diagnostics = tokio::time::interval(diagnostics_interval);
        diagnostics.set_missed_tick_behavior(MissedTickBehavior::Delay);
        self.hub.log(
            Level::Info,
            None,
            &format!(
                "cabinet running: {} guns on the {} power stage",
                self.points.len(),
                self.backend.name()
            ),
        );
        loop {
            tokio::select! {
                _ = ticks.tick() => self.tick(),
                _ = diagnostics.tick() => self.diagnostics(),
                command = inbox.recv() => match command {
                    Some(CabinetCommand::Shutdown(done)) => {
                        self.shutdown(control_interval).await;
                        let _ = done.send(());
                        break;
                    }
                    Some(command) => self.command(command),
                    None => {
                        self.shutdown(control_interval).await;
                        break;
                    }
                },
            }
        }
    }

    fn tick(&mut self) {
        let now = Instant::now().into_std();
        self.backend.poll(now);
        for gun in 1..=self.points.len() as u32 {
            let readings = self.readings(gun);
            if let Some(point) = self.point(gun) {
                point.tick(&readings, now);
            }
            self.flush(gun);
        }
    }

    /// Applies gun `gun`'s power commands, routes its notices and publishes its view.
    fn flush(&mut self, gun: u32) {
        let Some(point) = self.point(gun) else {
            return;
        };
        let commands = point.take_commands();
        let notices = point.take_notices();
        for command in commands {
            if let Err(e) = self.backend.command(gun, command) {
                self.hub.log(
                    Level::Error,
                    Some(gun),
                    &format!("power stage refused {command:?}: {e}"),
                );
            }
        }
        for Notice {
            level,
            message,
            to_secc,
        } in notices
        {
            self.hub.log(level, Some(gun), &message);
            if to_secc && let Some(events) = self.events.get((gun as usize).wrapping_sub(1)) {
                // No receiver just means no SECC is connected.
                let _ = events.send(message);
            }
        }
        let readings = self.readings(gun);
        let index = (gun as usize).wrapping_sub(1);
        if let (Some(point), Some(publish)) = (self.points.get(index), self.views.get(index)) {
            let view = GunView {
                status: point.status(&readings),
                view: point.view(&readings),
            };
            publish.send_if_modified(|current| {
                let changed = *current != view;
                if changed {
                    *current = view;
                }
                changed
            });
        }
    }

    fn command(&mut self, command: CabinetCommand) {
        let now = Instant::now().into_std();
        match command {
            CabinetCommand::Connected { gun, connection } => {
                let Some(slot) = self.connections.get_mut((gun as usize).wrapping_sub(1)) else {
                    return;
                };
                let previous = slot.replace(connection);
                if let Some(previous) = previous {
                    self.hub.log(
                        Level::Warn,
                        Some(gun),
                        &format!("connection {connection} replaces connection {previous}"),
                    );
                }
                self.backend.poll(now);
                let readings = self.readings(gun);
                if let Some(point) = self.point(gun) {
                    point.handle_connected(&readings, now);
                }
                self.flush(gun);
            }
            CabinetCommand::Disconnected {
                gun,
                connection,
                reason,
            } => {
                if !self.is_current(gun, connection) {
                    return;
                }
                if let Some(slot) = self.connections.get_mut((gun as usize).wrapping_sub(1)) {
                    *slot = None;
                }
                self.backend.poll(now);
                let readings = self.readings(gun);
                if let Some(point) = self.point(gun) {
                    point.handle_disconnected(reason, &readings, now);
                }
                self.flush(gun);
            }
            CabinetCommand::Request {
                gun,
                connection,
                request,
                reply,
            } => {
                if reply.is_closed() {
                    // The connection gave up waiting and told the SECC so: acting now would
                    // do what the SECC was told failed.
                    self.hub.log(
                        Level::Warn,
                        Some(gun),
                        &format!("{} request withdrawn before it was taken", request.kind()),
                    );
                    return;
                }
                if !self.is_current(gun, connection) {
                    let _ = reply.send(Reply::Error(
                        proto_pepws::ErrorCategory::Generic,
                        "this connection was replaced by a newer one".into(),
                    ));
                    return;
                }
                self.backend.poll(now);
                let readings = self.readings(gun);
                let Some(point) = self.point(gun) else {
                    return;
                };
                let answer = point.handle_request(&request, &readings, now);
                self.flush(gun);
                let _ = reply.send(answer);
            }
            CabinetCommand::Info {
                gun,
                connection,
                info,
            } => {
                if self.is_current(gun, connection)
                    && let Some(point) = self.point(gun)
                {
                    point.handle_info(&info);
                    self.flush(gun);
                }
            }
            CabinetCommand::Parameters { gun, reply } => {
                let _ = reply.send(self.model.parameters(gun).cloned());
            }
            CabinetCommand::UpdateParameters { gun, update, reply } => {
                let Some(current) = self.model.parameters(gun).cloned() else {
                    let _ = reply.send(None);
                    return;
                };
                let result = current.updated(&update);
                if let Ok(parameters) = &result {
                    self.model.set(gun, parameters.clone());
                    if let Some(point) = self.point(gun) {
                        point.set_parameters(parameters.clone());
                    }
                    self.hub.log(
                        Level::Info,
                        Some(gun),
                        &format!("parameters updated: {update}"),
                    );
                    self.flush(gun);
                }
                let _ = reply.send(Some(result));
            }
            CabinetCommand::Modules(reply) => {
                let _ = reply.send(self.backend.modules());
            }
            CabinetCommand::Shutdown(_) => {}
        }
    }

    fn is_current(&self, gun: u32, connection: u64) -> bool {
        self.connections
            .get((gun as usize).wrapping_sub(1))
            .is_some_and(|c| *c == Some(connection))
    }

    fn diagnostics(&self) {
        if !self.hub.has_clients() {
            return;
        }
        for publish in &self.views {
            let view = publish.borrow().view.clone();
            if let Ok(Value::Object(fields)) = serde_json::to_value(&view) {
                self.hub.publish("diagnostics", fields);
            }
        }
        let mut fields = Map::new();
        fields.insert("modules".into(), json!(self.backend.modules()));
        self.hub.publish("modules", fields);
    }

    /// Sends every gun to standby and runs the control loop until their transitions end (at
    /// most a few seconds), so the contactors open with the current down.
    async fn shutdown(&mut self, control_interval: Duration) {
        let now = Instant::now().into_std();
        self.backend.poll(now);
        for gun in 1..=self.points.len() as u32 {
            let readings = self.readings(gun);
            if let Some(point) = self.point(gun) {
                point.handle_disconnected(StandbyReason::Shutdown, &readings, now);
            }
            self.flush(gun);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.points.iter().any(ChargePoint::settling) && Instant::now() < deadline {
            tokio::time::sleep(control_interval).await;
            self.tick();
        }
        self.hub
            .log(Level::Info, None, "cabinet stopped: every gun in standby");
    }
}
