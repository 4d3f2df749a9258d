//! A gun whose DC supply, contactors and insulation monitor live in a remote power cabinet
//! reached over PEP-WS: the station is the SECC. Synchronous like every backend: the session
//! machine's commands become wishes of a [`SeccSession`], the frames travel over two channel
//! ends that a network task (in the station) connects to the WebSocket, and `poll(now)` moves
//! everything along. The dispenser's own devices (pilot, PWM, lock, meter) come from a local
//! backend.
//!
//! Safety: while the cabinet cannot be reached, or its status stream stops, the gun reports
//! `COMMUNICATION_LOSS`, so the session machine aborts and opens the contactors; the cabinet goes
//! to standby on its side when the SECC goes silent (PEP-WS section 16).

use crate::{
    Amps, ConnectorLock, Contactor, ControlPilot, CpState, Fault, GunHardware, GunSettings,
    HalResult, IsolationMonitor, Meter, MeterReading, Ohms, PowerSupply, Pwm, SupplyCapabilities,
    SupplyStage, Volts, WattHours, Watts,
};
use proto_pepws::connection::{SeccConfig, Transmit};
use proto_pepws::messages::TargetValues;
use proto_pepws::secc_session::{SeccSession, SessionEvent};
use proto_pepws::types::{ChargingState, ContactorsStatus, EvConnectionState, IsolationStatus};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::Instant;

/// What the network task reports.
#[derive(Debug, Clone, PartialEq)]
pub enum LinkEvent {
    /// The WebSocket to the cabinet is open.
    Connected,
    /// A text frame arrived.
    Text(String),
    /// The WebSocket closed.
    Closed,
}

/// What the network task must send.
#[derive(Debug, Clone, PartialEq)]
pub enum LinkOutput {
    /// A text frame.
    Text(String),
    /// A WebSocket ping.
    Ping,
}

/// The channel ends between the gun and its network task.
pub struct Link {
    /// Frames and connection changes from the network task.
    pub inbound: Receiver<LinkEvent>,
    /// Hands a frame to the network task; false once it has gone.
    pub outbound: Box<dyn FnMut(LinkOutput) -> bool + Send>,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link").finish_non_exhaustive()
    }
}

/// The remote half: contactors, supply and insulation monitor of the cabinet.
#[derive(Debug)]
struct Remote {
    session: SeccSession,
    settings: GunSettings,
    contactor: bool,
    enabled: bool,
    voltage: Volts,
    current: Amps,
    stage: SupplyStage,
    cable_check_asked: bool,
    unresponsive: bool,
    now: Instant,
    /// The energy the cabinet delivered, integrated from its measured voltage and current.
    energy: WattHours,
    last_sample: Option<Instant>,
}

impl Remote {
    /// Integrates the delivered energy up to `now`.
    fn integrate(&mut self, now: Instant) {
        let (voltage, current) = self.measured();
        if let Some(last) = self.last_sample
            && self.feedback_closed()
        {
            let hours = now.saturating_duration_since(last).as_secs_f64() / 3600.0;
            let watts = (voltage.value() * current.value()).max(0.0);
            self.energy = WattHours(self.energy.value() + watts * hours);
        }
        self.last_sample = Some(now);
    }

    fn status(&self) -> Option<proto_pepws::messages::Status> {
        self.session.status().filter(|_| self.session.connected())
    }
}

impl Contactor for Remote {
    fn command(&mut self, closed: bool) -> HalResult {
        self.contactor = closed;
        self.session.set_contactors(closed, self.now);
        if !closed {
            // Opening ends the session on the cabinet's side; it is ready for the next one.
            self.cable_check_asked = false;
        }
        Ok(())
    }

    fn commanded_closed(&self) -> bool {
        self.contactor
    }

    fn feedback_closed(&self) -> bool {
        self.status()
            .is_some_and(|s| s.contactors_status == ContactorsStatus::Closed)
    }
}

impl PowerSupply for Remote {
    fn set_stage(&mut self, stage: SupplyStage) -> HalResult {
        self.stage = stage;
        Ok(())
    }

    fn enable(&mut self, on: bool) -> HalResult {
        self.enabled = on;
        Ok(())
    }

    fn enabled(&self) -> bool {
        self.enabled
    }

    fn set_voltage(&mut self, voltage: Volts) -> HalResult {
        self.voltage = voltage;
        Ok(())
    }

    fn set_current_limit(&mut self, current: Amps) -> HalResult {
        self.current = current;
        Ok(())
    }

    fn measured(&self) -> (Volts, Amps) {
        self.status().map_or((Volts::ZERO, Amps::ZERO), |s| {
            (Volts(s.measured_voltage), Amps(s.measured_current))
        })
    }

    fn capabilities(&self) -> SupplyCapabilities {
        match self.session.configuration() {
            Some(c) => SupplyCapabilities {
                min_voltage: Volts(c.limit_voltage_min),
                max_voltage: Volts(c.limit_voltage_max).min(self.settings.max_voltage),
                max_current: Amps(c.limit_current_max).min(self.settings.max_current),
                max_power: Watts(c.limit_power_max).min(self.settings.max_power),
            },
            None => SupplyCapabilities {
                min_voltage: Volts::ZERO,
                max_voltage: self.settings.max_voltage,
                max_current: self.settings.max_current,
                max_power: self.settings.max_power,
            },
        }
    }
}

impl Meter for Remote {
    fn reading(&self) -> Option<MeterReading> {
        let (voltage, current) = if self.feedback_closed() {
            self.measured()
        } else {
            (Volts::ZERO, Amps::ZERO)
        };
        Some(MeterReading {
            energy: self.energy,
            voltage,
            current,
            power: Watts(voltage.value() * current.value()),
        })
    }
}

impl IsolationMonitor for Remote {
    fn start_self_test(&mut self) -> HalResult {
        self.cable_check_asked = true;
        self.session
            .request_cable_check(self.voltage.value(), self.now);
        Ok(())
    }

    fn self_test_passed(&self) -> Option<bool> {
        if !self.cable_check_asked {
            return None;
        }
        match self.session.isolation() {
            IsolationStatus::Invalid => None,
            status => Some(status.passed()),
        }
    }

    fn resistance(&self) -> Option<Ohms> {
        // PEP-WS reports a verdict, not a resistance.
        None
    }
}

/// A gun whose power electronics are a PEP-WS power cabinet.
pub struct PepwsGun {
    local: Box<dyn GunHardware>,
    remote: Remote,
    link: Link,
    ev_state: Option<EvConnectionState>,
}

impl std::fmt::Debug for PepwsGun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PepwsGun")
            .field("gun", &self.remote.settings.gun)
            .field("connected", &self.remote.session.connected())
            .finish_non_exhaustive()
    }
}

impl PepwsGun {
    /// A gun with `settings`, the dispenser's devices from `local` and the cabinet over `link`.
    pub fn new(
        settings: GunSettings,
        local: Box<dyn GunHardware>,
        link: Link,
        now: Instant,
    ) -> Self {
        Self {
            local,
            remote: Remote {
                session: SeccSession::new(SeccConfig::default()),
                settings,
                contactor: false,
                enabled: false,
                voltage: Volts::ZERO,
                current: Amps::ZERO,
                stage: SupplyStage::Standby,
                cable_check_asked: false,
                unresponsive: false,
                now,
                energy: WattHours(0.0),
                last_sample: None,
            },
            link,
            ev_state: None,
        }
    }

    /// The targets to drive now, by stage.
    fn targets(&self) -> Option<TargetValues> {
        let r = &self.remote;
        let state = match r.stage {
            SupplyStage::Standby | SupplyStage::CableCheck => return None,
            SupplyStage::PreCharge => ChargingState::PreCharge,
            SupplyStage::Charge => ChargingState::Charge,
            SupplyStage::PostCharge => ChargingState::PostCharge,
        };
        let on = r.enabled && state != ChargingState::PostCharge;
        Some(TargetValues {
            target_voltage: if on { r.voltage.value().max(0.0) } else { 0.0 },
            target_current: if on { r.current.value().max(0.0) } else { 0.0 },
            battery_state_of_charge: self
                .local
                .ev_state_of_charge()
                .unwrap_or(0.0)
                .clamp(0.0, 100.0),
            charging_state: state,
        })
    }
}

impl GunHardware for PepwsGun {
    fn backend(&self) -> &'static str {
        "pepws"
    }

    fn pwm(&mut self) -> &mut dyn Pwm {
        self.local.pwm()
    }

    fn control_pilot(&mut self) -> &mut dyn ControlPilot {
        self.local.control_pilot()
    }

    fn contactor(&mut self) -> &mut dyn Contactor {
        &mut self.remote
    }

    fn power_supply(&mut self) -> &mut dyn PowerSupply {
        &mut self.remote
    }

    fn meter(&mut self) -> &mut dyn Meter {
        // What flows through the gun is what the cabinet measures at its outlet.
        &mut self.remote
    }

    fn isolation_monitor(&mut self) -> &mut dyn IsolationMonitor {
        &mut self.remote
    }

    fn connector_lock(&mut self) -> &mut dyn ConnectorLock {
        self.local.connector_lock()
    }

    fn poll(&mut self, now: Instant) {
        self.remote.now = now;
        // What arrived.
        loop {
            match self.link.inbound.try_recv() {
                Ok(LinkEvent::Connected) => self.remote.session.handle_connected(now),
                Ok(LinkEvent::Text(text)) => self.remote.session.handle_text(&text, now),
                Ok(LinkEvent::Closed) => self.remote.session.handle_disconnected(),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        if self.remote.session.poll_timeout().is_some_and(|t| t <= now) {
            self.remote.session.handle_timeout(now);
        }
        self.remote.integrate(now);
        while let Some(event) = self.remote.session.poll_event() {
            match event {
                SessionEvent::PeccUnresponsive => self.remote.unresponsive = true,
                SessionEvent::PeccResponsive | SessionEvent::Connected => {
                    self.remote.unresponsive = false;
                }
                SessionEvent::Disconnected => {
                    self.remote.cable_check_asked = false;
                }
                SessionEvent::Refused {
                    kind,
                    category,
                    details,
                } => {
                    tracing::warn!(gun = self.remote.settings.gun, ?kind, ?category, %details, "the power cabinet refused a request");
                }
                other => tracing::debug!(gun = self.remote.settings.gun, ?other, "power cabinet"),
            }
        }
        // The dispenser side, and the vehicle's state for the cabinet.
        self.local.poll(now);
        let ev = match self.local.control_pilot().state() {
            CpState::A => EvConnectionState::Disconnected,
            CpState::B => EvConnectionState::Connected,
            CpState::C | CpState::D => EvConnectionState::EnergyTransferAllowed,
            _ => EvConnectionState::Error,
        };
        if self.ev_state != Some(ev) {
            self.ev_state = Some(ev);
            self.remote.session.set_ev_connection(ev, None, now);
        }
        if let Some(target) = self.targets() {
            self.remote.session.set_target(target, now);
        }
        // What to send.
        while let Some(out) = self.remote.session.poll_transmit() {
            let out = match out {
                Transmit::Text(text) => LinkOutput::Text(text),
                Transmit::Ping => LinkOutput::Ping,
            };
            if !(self.link.outbound)(out) {
                break;
            }
        }
    }

    fn faults(&self) -> Vec<Fault> {
        let mut faults = self.local.faults();
        if !self.remote.session.connected() || self.remote.unresponsive {
            faults.push(Fault::CommunicationLoss);
        } else if self.remote.session.isolation() == IsolationStatus::Fault {
            faults.push(Fault::Isolation);
        }
        faults
    }

    fn ev_state_of_charge(&self) -> Option<f64> {
        self.local.ev_state_of_charge()
    }

    fn delegated_cable_check(&self) -> bool {
        true
    }
}
