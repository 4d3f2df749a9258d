//! The SECC session against a PECC connection machine, in memory on stepped time: wishes become
//! requests one at a time, newer targets replace unsent ones, timeouts resend, refusals are
//! reported once, infos follow changes, and the PECC's requests are answered.

use proto_pepws::connection::{PeccConfig, PeccConnection, SeccConfig};
use proto_pepws::secc_session::{SeccSession, SessionEvent};
use proto_pepws::{
    ChargeMode, ChargingSession, ChargingState, Configuration, ContactorsStatus, ErrorCategory,
    EvConnectionState, Event, GetInput, Info, IsolationStatus, Kind, OperationalStatus, Request,
    Response, SetOutput, Status, TargetValues, Transmit,
};
use serde_json::json;
use std::time::{Duration, Instant};

/// A PECC machine whose application answers per a script, recording what it got.
struct Bench {
    now: Instant,
    secc: SeccSession,
    pecc: PeccConnection,
    /// Requests the PECC received, in order.
    received: Vec<Request>,
    /// Infos the PECC received.
    infos: Vec<Info>,
    /// Whether the PECC application answers (else requests time out).
    answering: bool,
    /// Target voltages above this are refused with `value`.
    max_voltage: f64,
    status: Status,
    /// Answers of the SECC to the PECC's own requests.
    secc_answers: Vec<Event>,
    secc_events: Vec<SessionEvent>,
}

impl Bench {
    fn new() -> Self {
        let now = Instant::now();
        let mut secc = SeccSession::new(SeccConfig::default());
        secc.handle_connected(now);
        let mut bench = Self {
            now,
            secc,
            pecc: PeccConnection::new(PeccConfig::default(), now),
            received: Vec::new(),
            infos: Vec::new(),
            answering: true,
            max_voltage: 1000.0,
            status: Status {
                measured_voltage: 0.0,
                measured_current: 0.0,
                driven_voltage: 0.0,
                driven_current: 0.0,
                temperature: 25.0,
                contactors_status: ContactorsStatus::Open,
                isolation_status: IsolationStatus::Invalid,
                operational_status: OperationalStatus::Operative,
            },
            secc_answers: Vec::new(),
            secc_events: Vec::new(),
        };
        bench.exchange();
        bench
    }

    fn exchange(&mut self) {
        loop {
            let mut moved = false;
            while let Some(t) = self.secc.poll_transmit() {
                moved = true;
                if let Transmit::Text(text) = t {
                    self.pecc.handle_text(&text, self.now);
                }
            }
            while let Some(event) = self.pecc.poll_event() {
                moved = true;
                match event {
                    Event::Request {
                        sequence_number,
                        request,
                    } => {
                        self.received.push(request.clone());
                        if !self.answering {
                            continue;
                        }
                        let answer = match &request {
                            Request::TargetValues(t) if t.target_voltage > self.max_voltage => {
                                Err("above limit")
                            }
                            Request::Configuration => Ok(Response::Configuration(Configuration {
                                firmware_version: "1".into(),
                                manufacturer: "m".into(),
                                limit_voltage_min: 0.0,
                                limit_voltage_max: self.max_voltage,
                                limit_current_min: 0.0,
                                limit_current_max: 250.0,
                                limit_power_min: None,
                                limit_power_max: 100_000.0,
                                limit_discharge_current_min: None,
                                limit_discharge_current_max: None,
                                limit_discharge_power_min: None,
                                limit_discharge_power_max: None,
                                float_values: Some(true),
                            })),
                            other => Response::empty(other.kind()).ok_or("no response"),
                        };
                        match answer {
                            Ok(r) => self.pecc.respond(sequence_number, r).expect("answers"),
                            Err(d) => self
                                .pecc
                                .respond_error(sequence_number, ErrorCategory::Value, d)
                                .expect("answers"),
                        }
                    }
                    Event::Info(info) => self.infos.push(info),
                    Event::StatusDue => self.pecc.send_status(self.status).expect("status"),
                    other @ (Event::Response { .. } | Event::ErrorReply(_)) => {
                        self.secc_answers.push(other)
                    }
                    _ => {}
                }
            }
            while let Some(t) = self.pecc.poll_transmit() {
                moved = true;
                if let Transmit::Text(text) = t {
                    self.secc.handle_text(&text, self.now);
                }
            }
            while let Some(event) = self.secc.poll_event() {
                moved = true;
                self.secc_events.push(event);
            }
            if !moved {
                break;
            }
        }
    }

    fn advance(&mut self, by: Duration) {
        let until = self.now + by;
        loop {
            let next = [self.secc.poll_timeout(), self.pecc.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= until => {
                    self.now = t.max(self.now);
                    self.secc.handle_timeout(self.now);
                    self.pecc.handle_timeout(self.now);
                    // Keep the PECC's silence rule content, as a WebSocket Pong would.
                    self.pecc.handle_activity(self.now);
                    self.exchange();
                }
                _ => break,
            }
        }
        self.now = until;
    }

    fn kinds(&self) -> Vec<Kind> {
        self.received.iter().map(Request::kind).collect()
    }
}

fn target(voltage: f64, state: ChargingState) -> TargetValues {
    TargetValues {
        target_voltage: voltage,
        target_current: 10.0,
        battery_state_of_charge: 40.0,
        charging_state: state,
    }
}

#[test]
fn wishes_become_requests_one_at_a_time_in_priority_order() {
    let mut b = Bench::new();
    assert_eq!(b.kinds(), [Kind::Configuration], "the limits come first");
    assert!(matches!(
        b.secc_events.as_slice(),
        [SessionEvent::Connected, SessionEvent::Configuration(_)]
    ));

    // Three wishes at once while the PECC does not answer: one request in flight.
    b.answering = false;
    b.secc
        .set_target(target(380.0, ChargingState::PreCharge), b.now);
    b.secc.request_cable_check(450.0, b.now);
    b.secc.set_contactors(true, b.now);
    b.exchange();
    assert_eq!(b.kinds()[1..], [Kind::TargetValues]);
    // A timeout frees the slot; the next request is chosen by priority, the unanswered target
    // is sent again later, and newer targets replace it.
    b.answering = true;
    b.secc
        .set_target(target(390.0, ChargingState::PreCharge), b.now);
    b.secc
        .set_target(target(400.0, ChargingState::PreCharge), b.now);
    b.advance(Duration::from_millis(600));
    assert_eq!(
        b.kinds()[2..],
        [Kind::ContactorsStatus, Kind::CableCheck, Kind::TargetValues]
    );
    let Request::TargetValues(last) = b.received[4] else {
        panic!("target")
    };
    assert_eq!(last.target_voltage, 400.0, "only the latest target is sent");
    assert!(b.secc.settled());

    // Nothing changes: nothing is sent.
    let before = b.received.len();
    b.secc
        .set_target(target(400.0, ChargingState::PreCharge), b.now);
    b.secc.set_contactors(true, b.now);
    b.advance(Duration::from_secs(1));
    assert_eq!(b.received.len(), before);
}

#[test]
fn refusals_are_reported_once_and_not_repeated() {
    let mut b = Bench::new();
    b.max_voltage = 500.0;
    b.secc
        .set_target(target(600.0, ChargingState::Charge), b.now);
    b.exchange();
    b.advance(Duration::from_secs(2));
    let refused: Vec<_> = b
        .secc_events
        .iter()
        .filter(|e| {
            matches!(
                e,
                SessionEvent::Refused {
                    kind: Kind::TargetValues,
                    category: ErrorCategory::Value,
                    ..
                }
            )
        })
        .collect();
    assert_eq!(refused.len(), 1);
    assert_eq!(
        b.kinds()
            .iter()
            .filter(|k| **k == Kind::TargetValues)
            .count(),
        1
    );
    // A schema-breaking wish is not sent at all.
    b.secc
        .set_target(target(-1.0, ChargingState::Charge), b.now);
    b.exchange();
    assert_eq!(
        b.kinds()
            .iter()
            .filter(|k| **k == Kind::TargetValues)
            .count(),
        1
    );
    assert!(b.secc_events.iter().any(|e| matches!(
        e,
        SessionEvent::Refused {
            category: ErrorCategory::Format,
            ..
        }
    )));
}

#[test]
fn reset_clears_wishes_and_ev_infos_follow_changes() {
    let mut b = Bench::new();
    b.secc.set_ev_connection(
        EvConnectionState::Connected,
        Some("02:00:5E:10:00:01".into()),
        b.now,
    );
    b.secc.set_ev_connection(
        EvConnectionState::Connected,
        Some("02:00:5E:10:00:01".into()),
        b.now,
    );
    b.secc.update_charging_session(
        ChargingSession {
            ev_max_voltage_volts: Some(450.0),
            ev_max_current_amperes: Some(200.0),
            ..ChargingSession::default()
        },
        b.now,
    );
    b.secc.update_charging_session(
        ChargingSession {
            ev_max_voltage_volts: Some(450.0),
            charge_mode: Some(ChargeMode::Dynamic),
            ..ChargingSession::default()
        },
        b.now,
    );
    b.secc.set_ev_connection(
        EvConnectionState::EnergyTransferAllowed,
        Some("ignored".into()),
        b.now,
    );
    b.exchange();
    assert_eq!(b.infos.len(), 4, "{:?}", b.infos);
    assert!(matches!(&b.infos[0], Info::EvConnectionState(e) if e.vehicle_id.is_some()));
    // The second session update carries only what changed.
    assert!(
        matches!(&b.infos[2], Info::ChargingSession(s) if s.ev_max_voltage_volts.is_none() && s.charge_mode == Some(ChargeMode::Dynamic))
    );
    assert!(matches!(&b.infos[3], Info::EvConnectionState(e) if e.vehicle_id.is_none()));

    b.secc.set_contactors(true, b.now);
    b.secc
        .set_target(target(400.0, ChargingState::Charge), b.now);
    b.exchange();
    b.secc.reset(b.now);
    b.exchange();
    assert_eq!(b.kinds().last(), Some(&Kind::Reset));
    let count = b.received.len();
    b.advance(Duration::from_secs(1));
    assert_eq!(b.received.len(), count, "nothing wished after a reset");
    // Closing again after the reset is a new request.
    b.secc.set_contactors(true, b.now);
    b.exchange();
    assert_eq!(b.kinds().last(), Some(&Kind::ContactorsStatus));
}

#[test]
fn pecc_requests_are_answered_from_the_io_table() {
    let mut b = Bench::new();
    b.secc.set_input("d1", json!(1));
    b.secc.set_input("t3", json!(40.5));
    b.secc.declare_output("d2", json!(0));
    let ask = |b: &mut Bench, request: Request| {
        b.pecc.send_request(request, b.now).expect("slot free");
        b.exchange();
        b.secc_answers.pop().expect("answered")
    };
    let answer = ask(
        &mut b,
        Request::GetInput(GetInput {
            input_identifiers: vec!["d1".into(), "t3".into()],
        }),
    );
    assert!(
        matches!(answer, Event::Response { response: Response::GetInput(ref v), .. }
        if v.input_values.as_ref().is_some_and(|m| m["t3"] == json!(40.5)))
    );
    let answer = ask(
        &mut b,
        Request::GetInput(GetInput {
            input_identifiers: vec!["a9".into()],
        }),
    );
    assert!(matches!(answer, Event::ErrorReply(ref e) if e.category == ErrorCategory::Value));
    let mut outputs = serde_json::Map::new();
    outputs.insert("d2".into(), json!(1));
    let answer = ask(
        &mut b,
        Request::SetOutput(SetOutput {
            output_values: outputs.clone(),
        }),
    );
    assert!(matches!(
        answer,
        Event::Response {
            response: Response::SetOutput,
            ..
        }
    ));
    assert_eq!(b.secc.output("d2"), Some(&json!(1)));
    assert!(b.secc_events.contains(&SessionEvent::OutputsSet(outputs)));
    // stopCharging without a session is answered and ignored; with one it is reported.
    let answer = ask(&mut b, Request::StopCharging);
    assert!(matches!(
        answer,
        Event::Response {
            response: Response::StopCharging,
            ..
        }
    ));
    assert!(!b.secc_events.contains(&SessionEvent::StopRequested));
    b.secc.set_contactors(true, b.now);
    b.exchange();
    ask(&mut b, Request::StopCharging);
    assert!(b.secc_events.contains(&SessionEvent::StopRequested));
}

#[test]
fn the_status_stream_decides_whether_the_pecc_is_ready() {
    let mut b = Bench::new();
    b.advance(Duration::from_millis(300));
    assert!(b.secc.pecc_ready());
    b.status.operational_status = OperationalStatus::Inoperative;
    b.advance(Duration::from_millis(300));
    assert!(!b.secc.pecc_ready(), "inoperative");
    b.status.operational_status = OperationalStatus::Operative;
    b.status.isolation_status = IsolationStatus::Warning;
    b.advance(Duration::from_millis(300));
    assert!(b.secc.pecc_ready());
    assert_eq!(b.secc.isolation(), IsolationStatus::Warning);
    // The PECC goes quiet (its statuses stop reaching us): unresponsive after the window.
    b.pecc.close();
    b.advance(Duration::from_secs(3));
    assert!(!b.secc.pecc_ready());
    assert!(b.secc_events.contains(&SessionEvent::PeccUnresponsive));
    b.secc.handle_disconnected();
    assert!(!b.secc.connected());
    assert_eq!(b.secc.poll_event(), Some(SessionEvent::Disconnected));
    assert_eq!(b.secc.status(), None);
}
