//! The connection machines on virtual time: request discipline, numbering, cadence, liveness,
//! and an SECC and a PECC machine talking to each other.

use proto_pepws::connection::{PeccConfig, PeccConnection, SeccConfig, SeccConnection};
use proto_pepws::{
    CableCheck, ChargingState, Configuration, ContactorsStatus, ErrorCategory, Event, GetInput,
    Info, IsolationStatus, Kind, Message, NumberMode, OperationalStatus, Request, Response,
    SendError, Status, TargetValues, Transmit, decode,
};
use std::time::{Duration, Instant};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn texts(transmit: impl FnMut() -> Option<Transmit>) -> Vec<Message> {
    std::iter::from_fn(transmit)
        .filter_map(|t| match t {
            Transmit::Text(text) => {
                Some(decode(&text, NumberMode::Float).expect("we send valid messages"))
            }
            Transmit::Ping => None,
        })
        .collect()
}

fn events(mut poll: impl FnMut() -> Option<Event>) -> Vec<Event> {
    std::iter::from_fn(&mut poll).collect()
}

fn status() -> Status {
    Status {
        measured_voltage: 0.0,
        measured_current: 0.0,
        driven_voltage: 0.0,
        driven_current: 0.0,
        temperature: 25.0,
        contactors_status: ContactorsStatus::Open,
        isolation_status: IsolationStatus::Invalid,
        operational_status: OperationalStatus::Operative,
    }
}

fn configuration(float_values: Option<bool>) -> Configuration {
    Configuration {
        firmware_version: "1".into(),
        manufacturer: "joule".into(),
        limit_voltage_min: 0.0,
        limit_voltage_max: 1000.0,
        limit_current_min: 0.0,
        limit_current_max: 250.0,
        limit_power_min: None,
        limit_power_max: 120_000.0,
        limit_discharge_current_min: None,
        limit_discharge_current_max: None,
        limit_discharge_power_min: None,
        limit_discharge_power_max: None,
        float_values,
    }
}

fn request_text(n: u32, kind: &str, payload: &str) -> String {
    format!(r#"{{"type":"request","kind":"{kind}","sequenceNumber":{n},"payload":{payload}}}"#)
}

#[test]
fn pecc_status_is_due_every_200_ms_without_bursts() {
    let t0 = Instant::now();
    let mut pecc = PeccConnection::new(PeccConfig::default(), t0);
    assert_eq!(
        pecc.poll_timeout(),
        Some(t0),
        "the first status is due at once"
    );
    let mut due = Vec::new();
    let mut now = t0;
    // Jump from deadline to deadline for one second, answering each StatusDue.
    while now < t0 + ms(1000) {
        pecc.handle_timeout(now);
        pecc.handle_activity(now);
        for event in events(|| pecc.poll_event()) {
            if event == Event::StatusDue {
                due.push(now - t0);
                pecc.send_status(status()).expect("status sends");
            }
        }
        now = pecc.poll_timeout().expect("timers run");
    }
    assert_eq!(due, (0..5).map(|i| ms(200 * i)).collect::<Vec<_>>());
    let sent = texts(|| pecc.poll_transmit());
    assert_eq!(sent.len(), 5);
    assert!(sent.iter().all(|m| m.kind() == Kind::Status));

    // A late wake-up (a stalled driver) yields one status, and the cadence stays anchored.
    pecc.handle_timeout(t0 + ms(1730));
    let late: Vec<_> = events(|| pecc.poll_event());
    assert_eq!(late.iter().filter(|e| **e == Event::StatusDue).count(), 1);
    assert!(pecc.poll_timeout().expect("timers run") <= t0 + ms(1800));
}

#[test]
fn pecc_declares_the_secc_unresponsive_after_5_s_of_silence_and_pings_meanwhile() {
    let t0 = Instant::now();
    let mut pecc = PeccConnection::new(PeccConfig::default(), t0);
    // Traffic at 3 s resets the clock; a Pong counts as traffic too.
    pecc.handle_text(&request_text(1, "configuration", "{}"), t0 + ms(3000));
    pecc.handle_activity(t0 + ms(6000));
    pecc.handle_timeout(t0 + ms(10_999));
    let early = events(|| pecc.poll_event());
    assert!(!early.contains(&Event::PeerUnresponsive));
    let pings = std::iter::from_fn(|| pecc.poll_transmit())
        .filter(|t| *t == Transmit::Ping)
        .count();
    assert_eq!(pings, 1, "one Ping per interval, no burst after a stall");
    pecc.handle_timeout(t0 + ms(11_000));
    assert!(events(|| pecc.poll_event()).contains(&Event::PeerUnresponsive));
    assert!(pecc.is_closed());
    assert_eq!(pecc.poll_timeout(), None);
    assert_eq!(pecc.send_status(status()), Err(SendError::Closed));
}

#[test]
fn one_pending_request_per_direction_with_a_500_ms_timeout() {
    let t0 = Instant::now();
    let mut secc = SeccConnection::new(SeccConfig::default(), t0);
    let first = secc
        .send_request(Request::Configuration, t0)
        .expect("sends");
    assert_eq!(first, 1);
    assert_eq!(
        secc.send_request(Request::Reset, t0),
        Err(SendError::Busy {
            pending: 1,
            kind: Kind::Configuration
        })
    );
    // The PECC direction is independent: a PECC request is served while ours is pending.
    secc.handle_text(&request_text(77, "stopCharging", "{}"), t0 + ms(10));
    assert!(events(|| secc.poll_event()).contains(&Event::Request {
        sequence_number: 77,
        request: Request::StopCharging
    }));
    secc.respond(77, Response::StopCharging).expect("answers");

    secc.handle_timeout(t0 + ms(499));
    assert!(secc.pending().is_some());
    secc.handle_timeout(t0 + ms(500));
    assert!(
        events(|| secc.poll_event()).contains(&Event::RequestTimedOut {
            sequence_number: 1,
            kind: Kind::Configuration
        })
    );
    // A late answer is dropped, not matched to the next request.
    let second = secc
        .send_request(Request::Reset, t0 + ms(600))
        .expect("slot free");
    assert_eq!(second, 2);
    secc.handle_text(
        r#"{"type":"response","kind":"configuration","sequenceNumber":1,"payload":{"firmwareVersion":"1","manufacturer":"m","limitVoltageMin":0,"limitVoltageMax":1000,"limitCurrentMin":0,"limitCurrentMax":250,"limitPowerMax":1}}"#,
        t0 + ms(610),
    );
    let late = events(|| secc.poll_event());
    assert!(
        matches!(
            late.as_slice(),
            [Event::Ignored {
                kind: Kind::Configuration,
                ..
            }]
        ),
        "{late:?}"
    );
    assert_eq!(secc.pending(), Some((2, Kind::Reset)));
    // An error with the right number answers it.
    secc.handle_text(
        r#"{"type":"error","kind":"reset","sequenceNumber":2,"payload":{"errorCategory":"inoperative","errorDetails":"discharging"}}"#,
        t0 + ms(620),
    );
    assert!(matches!(
        events(|| secc.poll_event()).as_slice(),
        [Event::ErrorReply(e)] if e.category == ErrorCategory::Inoperative && e.sequence_number == 2
    ));
    assert_eq!(secc.pending(), None);
    let sent = texts(|| secc.poll_transmit());
    let numbers: Vec<_> = sent
        .iter()
        .filter_map(|m| match m {
            Message::Request {
                sequence_number, ..
            } => Some(*sequence_number),
            _ => None,
        })
        .collect();
    assert_eq!(numbers, [1, 2]);
    assert!(sent.contains(&Message::Response {
        sequence_number: 77,
        response: Response::StopCharging
    }));
}

#[test]
fn sequence_numbers_wrap_to_1() {
    let t0 = Instant::now();
    let mut pecc = PeccConnection::new(PeccConfig::default(), t0);
    pecc.set_next_sequence_number(2_147_483_647);
    assert_eq!(
        pecc.send_request(Request::StopCharging, t0),
        Ok(2_147_483_647)
    );
    pecc.handle_text(
        r#"{"type":"response","kind":"stopCharging","sequenceNumber":2147483647,"payload":{}}"#,
        t0,
    );
    assert_eq!(pecc.send_request(Request::StopCharging, t0), Ok(1));
}

#[test]
fn requests_are_answered_once_with_their_number_and_kind() {
    let t0 = Instant::now();
    let mut pecc = PeccConnection::new(PeccConfig::default(), t0);
    pecc.handle_text(&request_text(458_238, "reset", "{}"), t0);
    assert!(events(|| pecc.poll_event()).contains(&Event::Request {
        sequence_number: 458_238,
        request: Request::Reset
    }));
    assert!(matches!(
        pecc.respond(458_238, Response::CableCheck),
        Err(proto_pepws::AnswerError::KindMismatch { .. })
    ));
    pecc.respond(458_238, Response::Reset).expect("answers");
    assert_eq!(
        pecc.respond(458_238, Response::Reset),
        Err(proto_pepws::AnswerError::NotAwaiting(458_238))
    );
    // A repeated number is still a request to process (receivers never reject gaps or repeats).
    pecc.handle_text(&request_text(458_238, "reset", "{}"), t0);
    pecc.respond_error(458_238, ErrorCategory::Inoperative, "transition")
        .expect("answers");
    let sent: Vec<_> = texts(|| pecc.poll_transmit())
        .into_iter()
        .filter(|m| m.kind() == Kind::Reset)
        .collect();
    assert_eq!(sent.len(), 2);
    assert!(
        matches!(&sent[1], Message::Error(e) if e.sequence_number == 458_238 && e.category == ErrorCategory::Inoperative)
    );
}

#[test]
fn unanswered_requests_get_an_internal_error_before_the_peer_times_out() {
    let t0 = Instant::now();
    let mut pecc = PeccConnection::new(PeccConfig::default(), t0);
    pecc.handle_text(&request_text(9, "configuration", "{}"), t0);
    let _ = events(|| pecc.poll_event());
    pecc.handle_timeout(t0 + ms(450));
    assert!(
        events(|| pecc.poll_event()).contains(&Event::AnswerOverdue {
            sequence_number: 9,
            kind: Kind::Configuration
        })
    );
    let sent = texts(|| pecc.poll_transmit());
    assert!(sent.iter().any(|m| matches!(m, Message::Error(e) if e.sequence_number == 9 && e.category == ErrorCategory::Internal && e.kind == Kind::Configuration)));
    assert!(
        pecc.respond(9, Response::Configuration(configuration(Some(true))))
            .is_err()
    );
}

#[test]
fn wrong_direction_and_malformed_traffic() {
    let t0 = Instant::now();
    let mut pecc = PeccConnection::new(PeccConfig::default(), t0);
    // An SECC sending a PECC request gets `generic`; a PECC info sent by the SECC is dropped.
    pecc.handle_text(
        &request_text(4, "getInput", r#"{"inputIdentifiers":["d1"]}"#),
        t0,
    );
    pecc.handle_text(
        r#"{"type":"info","kind":"event","payload":{"eventDetails":"x"}}"#,
        t0,
    );
    pecc.handle_text("{not json", t0);
    pecc.handle_text(
        r#"{"type":"info","kind":"evConnectionState","payload":{}}"#,
        t0,
    );
    let got = events(|| pecc.poll_event());
    assert!(matches!(
        &got[0],
        Event::Ignored {
            kind: Kind::GetInput,
            ..
        }
    ));
    assert!(matches!(
        &got[1],
        Event::Ignored {
            kind: Kind::Event,
            ..
        }
    ));
    assert!(matches!(&got[2], Event::Malformed { answered: true, .. }));
    assert!(matches!(
        &got[3],
        Event::Malformed {
            answered: false,
            ..
        }
    ));
    let sent = texts(|| pecc.poll_transmit());
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(
        matches!(&sent[0], Message::Error(e) if e.sequence_number == 4 && e.kind == Kind::GetInput && e.category == ErrorCategory::Generic)
    );
    assert!(
        matches!(&sent[1], Message::Error(e) if e.sequence_number == 0 && e.kind == Kind::Error && e.category == ErrorCategory::Format)
    );
    // We cannot send the other side's messages.
    assert!(matches!(
        pecc.send_request(Request::Reset, t0),
        Err(SendError::WrongDirection { .. })
    ));
}

#[test]
fn secc_writes_integers_until_float_values_is_granted() {
    let t0 = Instant::now();
    let mut secc = SeccConnection::new(SeccConfig::default(), t0);
    let target = Request::CableCheck(CableCheck { voltage: 412.5 });
    secc.send_request(target.clone(), t0).expect("sends");
    let Some(Transmit::Text(text)) = secc.poll_transmit() else {
        panic!("sent")
    };
    assert!(text.contains("\"voltage\":413"), "{text}");
    secc.handle_text(
        r#"{"type":"response","kind":"cableCheck","sequenceNumber":1,"payload":{}}"#,
        t0,
    );
    secc.send_request(Request::Configuration, t0)
        .expect("sends");
    let answer = proto_pepws::encode(
        &Message::Response {
            sequence_number: 2,
            response: Response::Configuration(configuration(Some(true))),
        },
        NumberMode::Float,
    )
    .expect("encodes");
    secc.handle_text(&answer, t0);
    assert_eq!(secc.send_mode(), NumberMode::Float);
    let _ = secc.poll_transmit();
    secc.send_request(target, t0).expect("sends");
    let Some(Transmit::Text(text)) = secc.poll_transmit() else {
        panic!("sent")
    };
    assert!(text.contains("\"voltage\":412.5"), "{text}");
}

#[test]
fn secc_judges_the_pecc_by_its_status_stream() {
    let t0 = Instant::now();
    let mut secc = SeccConnection::new(SeccConfig::default(), t0);
    let status_text =
        proto_pepws::encode(&Message::Info(Info::Status(status())), NumberMode::Float)
            .expect("encodes");
    secc.handle_text(&status_text, t0 + ms(100));
    assert!(secc.pecc_operative());
    secc.handle_timeout(t0 + ms(2099));
    assert!(!events(|| secc.poll_event()).contains(&Event::PeerUnresponsive));
    secc.handle_timeout(t0 + ms(2100));
    assert!(events(|| secc.poll_event()).contains(&Event::PeerUnresponsive));
    assert!(!secc.pecc_operative());
    secc.handle_timeout(t0 + ms(9000));
    assert!(
        events(|| secc.poll_event()).is_empty(),
        "reported once per outage"
    );
    secc.handle_text(&status_text, t0 + ms(9100));
    assert!(events(|| secc.poll_event()).contains(&Event::PeerResponsive));
    assert!(secc.pecc_operative());
}

/// An SECC and a PECC machine joined back to back, driven from deadline to deadline.
struct Pair {
    now: Instant,
    secc: SeccConnection,
    pecc: PeccConnection,
    pecc_status: Status,
    secc_log: Vec<Event>,
}

impl Pair {
    fn new() -> Self {
        let now = Instant::now();
        Self {
            now,
            secc: SeccConnection::new(SeccConfig::default(), now),
            pecc: PeccConnection::new(PeccConfig::default(), now),
            pecc_status: status(),
            secc_log: Vec::new(),
        }
    }

    /// Delivers everything in flight and lets the PECC application answer, until quiet.
    fn exchange(&mut self) {
        loop {
            let mut moved = false;
            while let Some(t) = self.secc.poll_transmit() {
                moved = true;
                match t {
                    Transmit::Text(text) => self.pecc.handle_text(&text, self.now),
                    Transmit::Ping => self.pecc.handle_activity(self.now),
                }
            }
            while let Some(event) = self.pecc.poll_event() {
                moved = true;
                self.pecc_app(event);
            }
            while let Some(t) = self.pecc.poll_transmit() {
                moved = true;
                if let Transmit::Text(text) = t {
                    self.secc.handle_text(&text, self.now);
                } else {
                    // The SECC's WebSocket answers the Ping; the Pong is a sign of life.
                    self.pecc.handle_activity(self.now);
                }
            }
            while let Some(event) = self.secc.poll_event() {
                moved = true;
                self.secc_log.push(event);
            }
            if !moved {
                break;
            }
        }
    }

    /// A minimal PECC application: limits, contactors and a cable check that passes at once.
    fn pecc_app(&mut self, event: Event) {
        match event {
            Event::Request {
                sequence_number,
                request,
            } => {
                let response = match request {
                    Request::Configuration => Response::Configuration(configuration(Some(true))),
                    Request::ContactorsStatus(c) => {
                        self.pecc_status.contactors_status = c.contactors_status;
                        Response::ContactorsStatus
                    }
                    Request::CableCheck(_) => {
                        self.pecc_status.isolation_status = IsolationStatus::Valid;
                        Response::CableCheck
                    }
                    Request::TargetValues(t) if t.target_voltage > 1000.0 => {
                        let _ = self.pecc.respond_error(
                            sequence_number,
                            ErrorCategory::Value,
                            "above limitVoltageMax",
                        );
                        return;
                    }
                    Request::TargetValues(t) => {
                        self.pecc_status.driven_voltage = t.target_voltage;
                        self.pecc_status.measured_voltage = t.target_voltage;
                        Response::TargetValues
                    }
                    other => Response::empty(other.kind()).unwrap_or(Response::Reset),
                };
                self.pecc
                    .respond(sequence_number, response)
                    .expect("answers");
            }
            Event::StatusDue => self.pecc.send_status(self.pecc_status).expect("sends"),
            _ => {}
        }
    }

    fn advance_to(&mut self, until: Instant) {
        loop {
            self.exchange();
            let next = [self.secc.poll_timeout(), self.pecc.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= until => {
                    self.now = t.max(self.now);
                    self.secc.handle_timeout(self.now);
                    self.pecc.handle_timeout(self.now);
                }
                _ => break,
            }
        }
        self.now = until;
        self.exchange();
    }

    fn request(&mut self, request: Request) -> Event {
        let n = self
            .secc
            .send_request(request, self.now)
            .expect("slot free");
        self.exchange();
        let index = self
            .secc_log
            .iter()
            .position(|e| {
                matches!(e, Event::Response { sequence_number, .. } if *sequence_number == n)
                    || matches!(e, Event::ErrorReply(r) if r.sequence_number == n)
            })
            .expect("answered at once");
        self.secc_log.remove(index)
    }
}

#[test]
fn secc_and_pecc_machines_run_a_session_back_to_back() {
    let mut pair = Pair::new();
    let t0 = pair.now;
    pair.advance_to(t0 + ms(100));
    assert!(pair.secc.status().is_some(), "status from the first moment");
    assert!(matches!(
        pair.request(Request::Configuration),
        Event::Response {
            response: Response::Configuration(_),
            ..
        }
    ));
    assert_eq!(pair.secc.send_mode(), NumberMode::Float);
    pair.request(Request::ContactorsStatus(proto_pepws::ContactorsCommand {
        contactors_status: ContactorsStatus::Closed,
    }));
    pair.advance_to(t0 + ms(500));
    assert_eq!(
        pair.secc.status().map(|(s, _)| s.contactors_status),
        Some(ContactorsStatus::Closed)
    );
    pair.request(Request::CableCheck(CableCheck { voltage: 500.0 }));
    pair.advance_to(t0 + ms(800));
    assert_eq!(
        pair.secc.status().map(|(s, _)| s.isolation_status),
        Some(IsolationStatus::Valid)
    );
    let over = pair.request(Request::TargetValues(TargetValues {
        target_voltage: 1100.0,
        target_current: 10.0,
        battery_state_of_charge: 40.0,
        charging_state: ChargingState::PreCharge,
    }));
    assert!(matches!(over, Event::ErrorReply(e) if e.category == ErrorCategory::Value));
    pair.request(Request::TargetValues(TargetValues {
        target_voltage: 400.5,
        target_current: 2.0,
        battery_state_of_charge: 40.0,
        charging_state: ChargingState::PreCharge,
    }));
    pair.advance_to(t0 + ms(1200));
    assert_eq!(
        pair.secc.status().map(|(s, _)| s.measured_voltage),
        Some(400.5)
    );
    // A PECC request while the SECC's own is answered: both directions work.
    pair.pecc
        .send_request(
            Request::GetInput(GetInput {
                input_identifiers: vec!["d1".into()],
            }),
            pair.now,
        )
        .expect("sends");
    pair.exchange();
    let asked = pair
        .secc_log
        .iter()
        .find_map(|e| match e {
            Event::Request {
                sequence_number, ..
            } => Some(*sequence_number),
            _ => None,
        })
        .expect("SECC got getInput");
    pair.secc
        .respond_error(asked, ErrorCategory::Value, "unknown input d1")
        .expect("answers");
    pair.exchange();
    assert_eq!(pair.pecc.pending(), None);
    pair.request(Request::Reset);
    // Ten seconds of idle link: statuses keep flowing, pings keep the PECC content.
    pair.advance_to(t0 + ms(11_200));
    assert!(!pair.pecc.is_closed());
    assert!(pair.secc.pecc_operative());
    assert!(!pair.secc_log.contains(&Event::PeerUnresponsive));
}
