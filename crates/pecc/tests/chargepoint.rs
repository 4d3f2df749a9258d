//! The charge-point machine over the simulated power stage, on stepped time: a whole session,
//! the standby triggers, limits, the cable check's verdicts, and faults.

use hal::{Ohms, Watts};
use pecc::chargepoint::{ChargePoint, Phase, Reply, Settings, StandbyReason};
use pecc::datamodel::GunParameters;
use pecc::power::sim::{SimConfig, SimControls, SimPowerStage};
use pecc::power::{PowerBackend, Readings};
use proto_pepws::{
    CableCheck, ChargingState, ContactorsCommand, ContactorsStatus, ErrorCategory, IsolationStatus,
    OperationalStatus, Request, Response, Status, TargetValues,
};
use std::time::{Duration, Instant};

const TICK: Duration = Duration::from_millis(50);

struct Bench {
    now: Instant,
    stage: SimPowerStage,
    controls: SimControls,
    point: ChargePoint,
    events_to_secc: Vec<String>,
}

impl Bench {
    fn new(params: GunParameters) -> Self {
        let now = Instant::now();
        let stage = SimPowerStage::new(SimConfig::default(), 1, now);
        let controls = stage.controls();
        let mut bench = Self {
            now,
            stage,
            controls,
            point: ChargePoint::new(1, params, Settings::default()),
            events_to_secc: Vec::new(),
        };
        let readings = bench.readings();
        bench.point.handle_connected(&readings, now);
        bench.apply();
        bench
    }

    fn readings(&self) -> Readings {
        self.stage.readings(1).expect("gun 1")
    }

    fn apply(&mut self) {
        for command in self.point.take_commands() {
            self.stage.command(1, command).expect("accepted");
        }
        for notice in self.point.take_notices() {
            if notice.to_secc {
                self.events_to_secc.push(notice.message);
            }
        }
    }

    fn request(&mut self, request: Request) -> Reply {
        self.stage.poll(self.now);
        let readings = self.readings();
        let reply = self.point.handle_request(&request, &readings, self.now);
        self.apply();
        reply
    }

    fn run(&mut self, duration: Duration) {
        let end = self.now + duration;
        while self.now < end {
            self.now += TICK;
            self.stage.poll(self.now);
            let readings = self.readings();
            self.point.tick(&readings, self.now);
            self.apply();
        }
    }

    /// Runs until `done` holds for the status, at most `limit`; returns how long it took.
    fn until(&mut self, limit: Duration, done: impl Fn(&Status) -> bool) -> Duration {
        let start = self.now;
        while !done(&self.status()) {
            assert!(
                self.now - start < limit,
                "not within {limit:?}: {:?}",
                self.status()
            );
            self.run(TICK);
        }
        self.now - start
    }

    fn status(&self) -> Status {
        self.point.status(&self.readings())
    }

    fn target(&mut self, voltage: f64, current: f64, state: ChargingState) -> Reply {
        self.request(Request::TargetValues(TargetValues {
            target_voltage: voltage,
            target_current: current,
            battery_state_of_charge: 50.0,
            charging_state: state,
        }))
    }

    fn contactors(&mut self, wanted: ContactorsStatus) -> Reply {
        self.request(Request::ContactorsStatus(ContactorsCommand {
            contactors_status: wanted,
        }))
    }

    /// Configuration, contactors closed and a cable check at `ev_max` V; returns the verdict.
    fn prepare(&mut self, ev_max: f64) -> IsolationStatus {
        assert!(matches!(
            self.request(Request::Configuration),
            Reply::Response(Response::Configuration(_))
        ));
        assert_eq!(
            self.contactors(ContactorsStatus::Closed),
            Reply::Response(Response::ContactorsStatus)
        );
        self.until(Duration::from_millis(500), |s| {
            s.contactors_status == ContactorsStatus::Closed
        });
        assert_eq!(
            self.request(Request::CableCheck(CableCheck { voltage: ev_max })),
            Reply::Response(Response::CableCheck)
        );
        let took = self.until(Duration::from_secs(37), |s| {
            s.isolation_status != IsolationStatus::Invalid
        });
        assert!(took < Duration::from_secs(10), "cable check took {took:?}");
        self.status().isolation_status
    }
}

fn params() -> GunParameters {
    GunParameters::builtin(Watts(150_000.0))
}

fn is_standby(s: &Status) -> bool {
    s.contactors_status == ContactorsStatus::Open
        && s.measured_voltage <= 60.0
        && s.measured_current == 0.0
        && s.driven_voltage == 0.0
        && s.driven_current == 0.0
        && s.operational_status == OperationalStatus::Operative
}

#[test]
fn a_whole_session_from_configuration_to_reset() {
    let mut b = Bench::new(params());
    assert!(is_standby(&b.status()));
    assert_eq!(b.prepare(400.0), IsolationStatus::Valid);
    assert!(
        b.events_to_secc
            .iter()
            .any(|e| e.starts_with("cable check valid"))
    );
    // After the cable check the output is discharged again before precharge.
    assert!(b.status().measured_voltage < 60.0);

    assert_eq!(
        b.target(380.0, 2.0, ChargingState::PreCharge),
        Reply::Response(Response::TargetValues)
    );
    let took = b.until(Duration::from_secs(4), |s| {
        (s.measured_voltage - 380.0).abs() <= 10.0
    });
    assert!(took <= Duration::from_secs(1), "pre-charge took {took:?}");
    assert!(matches!(b.point.phase(), Phase::PreCharge { .. }));

    assert_eq!(
        b.target(400.0, 150.0, ChargingState::Charge),
        Reply::Response(Response::TargetValues)
    );
    b.until(Duration::from_secs(2), |s| {
        (s.measured_current - 150.0).abs() < 1.0
    });
    let s = b.status();
    assert_eq!(s.driven_current, 150.0);
    assert!(
        s.measured_voltage > 370.0 && s.measured_voltage < 400.0,
        "{s:?}"
    );
    assert_eq!(b.point.phase(), &Phase::Charge);
    assert_eq!(b.readings().modules, 2, "60 kW needs two 30 kW modules");

    // More than the limits allow is derated, not refused: 250 A and 150 kW at 400 V = 375 A.
    assert_eq!(
        b.target(400.0, 500.0, ChargingState::Charge),
        Reply::Response(Response::TargetValues)
    );
    b.run(Duration::from_secs(1));
    assert_eq!(b.status().driven_current, 250.0);

    assert_eq!(
        b.target(0.0, 0.0, ChargingState::PostCharge),
        Reply::Response(Response::TargetValues)
    );
    b.until(Duration::from_secs(2), |s| {
        s.measured_current == 0.0 && s.measured_voltage < 60.0
    });
    assert_eq!(
        b.status().contactors_status,
        ContactorsStatus::Closed,
        "closed until reset"
    );
    assert_eq!(b.request(Request::Reset), Reply::Response(Response::Reset));
    b.until(Duration::from_millis(500), is_standby);
    assert_eq!(b.status().isolation_status, IsolationStatus::Invalid);
    assert_eq!(b.point.phase(), &Phase::Standby);
}

/// Something that sends a charge point to standby, with the reply if it is a request.
type Trigger = dyn Fn(&mut Bench) -> Option<Reply>;

#[test]
fn standby_triggers_under_load_switch_off_at_once_and_open_safely() {
    let triggers: [&Trigger; 4] = [
        &|b| {
            let r = b.readings();
            b.point
                .handle_disconnected(StandbyReason::Disconnected, &r, b.now);
            b.apply();
            None
        },
        &|b| {
            let r = b.readings();
            b.point
                .handle_disconnected(StandbyReason::Unresponsive, &r, b.now);
            b.apply();
            None
        },
        &|b| Some(b.contactors(ContactorsStatus::Open)),
        &|b| Some(b.request(Request::Reset)),
    ];
    for (i, trigger) in triggers.iter().enumerate() {
        let mut b = Bench::new(params());
        assert_eq!(b.prepare(400.0), IsolationStatus::Valid);
        b.target(380.0, 2.0, ChargingState::PreCharge);
        b.run(Duration::from_secs(1));
        b.target(400.0, 200.0, ChargingState::Charge);
        b.until(Duration::from_secs(2), |s| s.measured_current > 190.0);

        if let Some(reply) = trigger(&mut b) {
            assert!(
                matches!(reply, Reply::Response(_)),
                "trigger {i}: {reply:?}"
            );
        }
        // The output is off in the same step; the driven values drop at once.
        b.stage.poll(b.now);
        let s = b.status();
        assert_eq!(
            (s.driven_voltage, s.driven_current),
            (0.0, 0.0),
            "trigger {i}"
        );
        assert_eq!(
            s.operational_status,
            OperationalStatus::Inoperative,
            "trigger {i}"
        );
        // During the transition every request is refused as inoperative.
        assert!(matches!(
            b.request(Request::Configuration),
            Reply::Error(ErrorCategory::Inoperative, _)
        ));
        let took = b.until(Duration::from_secs(2), is_standby);
        assert!(
            took <= Duration::from_millis(1500),
            "trigger {i}: standby took {took:?}"
        );
        assert!(matches!(
            b.request(Request::Configuration),
            Reply::Response(_)
        ));
    }
}

#[test]
fn value_errors_change_nothing_and_unsuitable_requests_are_ignored() {
    let mut b = Bench::new(params());
    // Target values with the contactors open: empty response, no output.
    assert_eq!(
        b.target(400.0, 10.0, ChargingState::PreCharge),
        Reply::Response(Response::TargetValues)
    );
    b.run(Duration::from_millis(500));
    assert!(is_standby(&b.status()));
    // A cable check outside the cable-check phase is ignored too.
    assert_eq!(
        b.request(Request::CableCheck(CableCheck { voltage: 400.0 })),
        Reply::Response(Response::CableCheck)
    );
    b.run(Duration::from_millis(500));
    assert_eq!(b.status().driven_voltage, 0.0);
    // Opening open contactors: nothing.
    assert_eq!(
        b.contactors(ContactorsStatus::Open),
        Reply::Response(Response::ContactorsStatus)
    );

    assert_eq!(b.prepare(400.0), IsolationStatus::Valid);
    b.target(380.0, 2.0, ChargingState::PreCharge);
    b.run(Duration::from_secs(1));
    let before = b.status();
    let reply = b.target(1000.5, 2.0, ChargingState::PreCharge);
    assert!(
        matches!(&reply, Reply::Error(ErrorCategory::Value, d) if d.contains("1000.5")),
        "{reply:?}"
    );
    let reply = b.request(Request::CableCheck(CableCheck { voltage: 1200.0 }));
    assert!(matches!(reply, Reply::Error(ErrorCategory::Value, _)));
    b.run(Duration::from_millis(500));
    let after = b.status();
    assert_eq!(after.contactors_status, ContactorsStatus::Closed);
    assert_eq!(after.driven_voltage, before.driven_voltage);
    // Closing closed contactors: nothing.
    assert_eq!(
        b.contactors(ContactorsStatus::Closed),
        Reply::Response(Response::ContactorsStatus)
    );
    assert!(matches!(b.point.phase(), Phase::PreCharge { .. }));
}

#[test]
fn pre_charge_waits_for_a_passed_cable_check() {
    let mut b = Bench::new(params());
    b.contactors(ContactorsStatus::Closed);
    b.run(Duration::from_millis(200));
    assert_eq!(
        b.target(380.0, 2.0, ChargingState::PreCharge),
        Reply::Response(Response::TargetValues)
    );
    b.run(Duration::from_millis(500));
    assert_eq!(
        b.status().driven_voltage,
        0.0,
        "no energy before the cable check"
    );
    assert!(matches!(b.point.phase(), Phase::CableCheck(_)));
}

#[test]
fn insulation_verdicts_follow_the_thresholds() {
    // 10 MΩ valid; 150 kΩ at 450 V is below 500 Ω/V (225 kΩ): warning; 50 kΩ is a fault.
    for (resistance, verdict) in [
        (10_000_000.0, IsolationStatus::Valid),
        (150_000.0, IsolationStatus::Warning),
        (50_000.0, IsolationStatus::Fault),
    ] {
        let mut b = Bench::new(params());
        b.controls
            .set_isolation(1, Ohms(resistance))
            .expect("gun 1");
        assert_eq!(b.prepare(400.0), verdict, "{resistance} Ω");
        let reply = b.target(380.0, 2.0, ChargingState::PreCharge);
        if verdict == IsolationStatus::Fault {
            assert!(matches!(reply, Reply::Error(ErrorCategory::Internal, _)));
            b.run(Duration::from_millis(500));
            assert_eq!(b.status().driven_voltage, 0.0);
            // A reset clears the verdict for the next session.
            b.request(Request::Reset);
            b.until(Duration::from_secs(1), is_standby);
            assert_eq!(b.status().isolation_status, IsolationStatus::Invalid);
        } else {
            assert_eq!(reply, Reply::Response(Response::TargetValues));
        }
    }
}

#[test]
fn supervision_gates_closing_and_its_loss_means_standby() {
    let mut b = Bench::new(params());
    b.controls.set_supervision(1, false).expect("gun 1");
    b.run(TICK);
    assert!(matches!(
        b.contactors(ContactorsStatus::Closed),
        Reply::Error(ErrorCategory::Internal, _)
    ));
    b.controls.set_supervision(1, true).expect("gun 1");
    b.run(TICK);
    assert_eq!(b.prepare(400.0), IsolationStatus::Valid);
    b.controls.set_supervision(1, false).expect("gun 1");
    b.run(Duration::from_millis(100));
    assert_eq!(b.point.phase(), &Phase::Standby);
    assert!(b.events_to_secc.iter().any(|e| e.contains("supervision")));
    b.until(Duration::from_secs(2), |s| {
        s.contactors_status == ContactorsStatus::Open
            && s.operational_status == OperationalStatus::Operative
    });
}

#[test]
fn hardware_faults_make_the_gun_inoperative_until_cleared() {
    let mut b = Bench::new(params());
    assert_eq!(b.prepare(400.0), IsolationStatus::Valid);
    b.target(380.0, 2.0, ChargingState::PreCharge);
    b.run(Duration::from_secs(1));
    b.target(400.0, 100.0, ChargingState::Charge);
    b.run(Duration::from_secs(1));
    b.controls
        .set_fault(1, Some("module 1 lost".into()))
        .expect("gun 1");
    b.run(TICK);
    let s = b.status();
    assert_eq!(s.operational_status, OperationalStatus::Inoperative);
    assert_eq!(s.driven_current, 0.0);
    assert!(b.events_to_secc.iter().any(|e| e.contains("module 1 lost")));
    b.until(Duration::from_secs(2), |s| {
        s.contactors_status == ContactorsStatus::Open
    });
    assert!(matches!(
        b.request(Request::Configuration),
        Reply::Error(ErrorCategory::Inoperative, d) if d.contains("module 1 lost")
    ));
    b.controls.set_fault(1, None).expect("gun 1");
    b.until(Duration::from_secs(2), is_standby);
    assert!(
        b.events_to_secc
            .iter()
            .any(|e| e.starts_with("fault cleared"))
    );
}

#[test]
fn parameter_updates_apply_at_once() {
    let mut b = Bench::new(params());
    assert_eq!(b.prepare(400.0), IsolationStatus::Valid);
    b.target(380.0, 2.0, ChargingState::PreCharge);
    b.run(Duration::from_secs(1));
    b.target(400.0, 200.0, ChargingState::Charge);
    b.run(Duration::from_secs(1));
    assert_eq!(b.status().driven_current, 200.0);
    let lower = b
        .point
        .parameters()
        .updated(&serde_json::json!({"limitCurrentMax": 80}))
        .expect("valid");
    b.point.set_parameters(lower);
    b.apply();
    b.run(TICK);
    assert_eq!(b.status().driven_current, 80.0);
    let lower = b
        .point
        .parameters()
        .updated(&serde_json::json!({"limitVoltageMax": 300}))
        .expect("valid");
    b.point.set_parameters(lower);
    b.apply();
    b.run(TICK);
    assert_eq!(b.status().driven_voltage, 0.0);
    assert!(
        b.events_to_secc
            .iter()
            .any(|e| e.starts_with("limitVoltageMax lowered"))
    );
}

#[test]
fn delivered_energy_follows_the_outlet_power() {
    let mut b = Bench::new(params());
    assert_eq!(b.point.view(&b.readings()).energy_wh, 0.0);
    assert_eq!(b.prepare(400.0), IsolationStatus::Valid);
    // The cable check charges the cable at ≤ 2 A: a trace of energy, far below 1 Wh.
    let after_check = b.point.energy().total().value();
    assert!(after_check < 1.0, "{after_check} Wh");
    b.target(380.0, 2.0, ChargingState::PreCharge);
    b.run(Duration::from_secs(1));
    b.target(400.0, 150.0, ChargingState::Charge);
    b.until(Duration::from_secs(2), |s| {
        (s.measured_current - 150.0).abs() < 0.01
    });
    // Steady charging for 36 s (a hundredth of an hour): V × 150 A × 0.01 h.
    let start = b.point.energy().total().value();
    let volts = b.status().measured_voltage;
    b.run(Duration::from_secs(36));
    assert_eq!(b.status().measured_voltage, volts, "steady");
    let delivered = b.point.energy().total().value() - start;
    let expected = volts * 150.0 * 0.01;
    assert!(
        (delivered - expected).abs() <= expected * 0.001,
        "{delivered} Wh delivered, {expected} Wh expected"
    );
    let view = b.point.view(&b.readings());
    assert_eq!(view.energy_wh, b.point.energy().total().value());
    assert!(
        (view.session_energy_wh - view.energy_wh).abs() < 1e-9,
        "the first session holds everything"
    );

    // Standby: the register stops.
    b.request(Request::Reset);
    b.until(Duration::from_secs(2), is_standby);
    let stopped = b.point.energy().total().value();
    b.run(Duration::from_secs(10));
    assert_eq!(b.point.energy().total().value(), stopped);

    // A new charging procedure restarts the session register; the total keeps counting.
    b.contactors(ContactorsStatus::Closed);
    b.run(Duration::from_millis(200));
    let view = b.point.view(&b.readings());
    assert_eq!(view.session_energy_wh, 0.0);
    assert_eq!(view.energy_wh, stopped);
}
