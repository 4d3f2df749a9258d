//! The session machine driven against a small plant model on virtual time: a supply that slews
//! 500 V/s with 2 mF of output capacitance and bleeds down when off, an EV battery behind the
//! contactor, a meter that integrates only what flows through the gun.

use super::*;

const TICK: Duration = Duration::from_millis(100);

/// The hardware as the tests model it.
struct Plant {
    enabled: bool,
    setpoint: Volts,
    limit: Amps,
    supply_v: Volts,
    contactor: bool,
    battery_v: Volts,
    register_wh: f64,
    current: Amps,
    isolation: Ohms,
    self_test: Option<bool>,
    self_test_ok: bool,
    cp: CpState,
    faults: Vec<Fault>,
    /// Every contactor command with the phase it was given in.
    contactor_log: Vec<(bool, Phase)>,
}

impl Plant {
    fn new() -> Self {
        Self {
            enabled: false,
            setpoint: Volts::ZERO,
            limit: Amps::ZERO,
            supply_v: Volts::ZERO,
            contactor: false,
            battery_v: Volts(395.0),
            register_wh: 1_000_000.0,
            current: Amps::ZERO,
            isolation: Ohms(5_000_000.0),
            self_test: None,
            self_test_ok: true,
            cp: CpState::B,
            faults: Vec::new(),
            contactor_log: Vec::new(),
        }
    }

    fn apply(&mut self, actions: &[Action], phase: Phase) {
        for action in actions {
            match action {
                Action::EnableSupply(on) => self.enabled = *on,
                Action::SetVoltage(v) => self.setpoint = *v,
                Action::SetCurrentLimit(a) => self.limit = *a,
                Action::CloseContactor => {
                    self.contactor = true;
                    self.contactor_log.push((true, phase));
                }
                Action::OpenContactor => {
                    self.contactor = false;
                    self.contactor_log.push((false, phase));
                }
                Action::StartIsolationSelfTest => self.self_test = Some(self.self_test_ok),
                Action::SetCpState(s) => self.cp = *s,
                Action::SetPwm(_) | Action::Lock(_) | Action::SetStage(_) => {}
            }
        }
    }

    fn step(&mut self, dt: f64) {
        if self.contactor && self.enabled {
            // The battery holds the voltage; current follows the limit.
            self.current = self.limit.min(Amps(500.0));
            self.supply_v = self.battery_v + Volts(self.current.value() * 0.05);
            self.register_wh += self.supply_v.value() * self.current.value() * dt / 3600.0;
        } else if self.enabled {
            self.current = Amps::ZERO;
            let max_step = (500.0_f64).min(self.limit.value() / 0.002) * dt;
            let delta = (self.setpoint - self.supply_v)
                .value()
                .clamp(-max_step, max_step);
            self.supply_v += Volts(delta);
        } else {
            self.current = Amps::ZERO;
            // Bleed-down with a 0.5 s time constant.
            self.supply_v = Volts(self.supply_v.value() * (-dt / 0.5).exp());
        }
    }

    fn readings(&self) -> Readings {
        Readings {
            supply_voltage: self.supply_v,
            supply_current: self.current,
            meter: Some(MeterReading {
                energy: hal::WattHours(self.register_wh),
                voltage: if self.contactor {
                    self.supply_v
                } else {
                    Volts::ZERO
                },
                current: if self.contactor {
                    self.current
                } else {
                    Amps::ZERO
                },
                power: Watts::ZERO,
            }),
            contactor_closed: self.contactor,
            cp_state: self.cp,
            isolation: (self.supply_v > Volts(50.0)).then_some(self.isolation),
            self_test_passed: self.self_test,
            hardware_faults: self.faults.clone(),
        }
    }
}

/// A gun, its plant and a virtual clock.
struct Rig {
    gun: Gun,
    plant: Plant,
    t0: Instant,
    now: Instant,
    phases: Vec<Phase>,
}

impl Rig {
    fn new() -> Self {
        let t0 = Instant::now();
        Self {
            gun: Gun::new(GunConfig::new(Volts(1000.0), Amps(200.0), Watts(150_000.0))),
            plant: Plant::new(),
            t0,
            now: t0,
            phases: vec![Phase::Idle],
        }
    }

    fn send(&mut self, event: Event) -> Result<Vec<Action>, Refusal> {
        let actions = self.gun.handle(event, self.now)?;
        self.plant.apply(&actions, self.gun.phase());
        self.record();
        Ok(actions)
    }

    fn record(&mut self) {
        let phase = self.gun.phase();
        if self.phases.last() != Some(&phase) {
            self.phases.push(phase);
        }
    }

    fn tick(&mut self) -> Vec<Action> {
        self.now += TICK;
        self.plant.step(TICK.as_secs_f64());
        let actions = self
            .gun
            .handle(Event::Tick(self.plant.readings()), self.now)
            .expect("ticks are never refused");
        self.plant.apply(&actions, self.gun.phase());
        self.record();
        actions
    }

    /// Ticks until `done` holds, at most `limit` of virtual time.
    fn run_until(&mut self, limit: Duration, done: impl Fn(&Gun) -> bool) {
        let end = self.now + limit;
        while !done(&self.gun) {
            assert!(
                self.now < end,
                "not reached within {limit:?}: {:?}/{:?}",
                self.gun.phase(),
                self.gun.step()
            );
            self.tick();
        }
    }

    /// Ticks for `duration` of virtual time.
    fn run_for(&mut self, duration: Duration) {
        let end = self.now + duration;
        while self.now < end {
            self.tick();
        }
    }

    fn elapsed(&self) -> f64 {
        self.now.duration_since(self.t0).as_secs_f64()
    }

    fn status(&self) -> Status {
        self.gun.status(&self.plant.readings(), self.now)
    }
}

fn defaults() -> SessionParams {
    SessionParams::seed_defaults()
}

#[test]
fn a_default_session_goes_through_every_phase_and_completes() {
    let mut rig = Rig::new();
    rig.send(Event::Start(defaults())).expect("started");
    assert_eq!(rig.gun.phase(), Phase::Handshake);
    rig.run_until(Duration::from_secs(3), |g| g.phase() == Phase::Precharge);
    assert!(
        (rig.elapsed() - 2.0).abs() < 0.15,
        "handshake ≈ 2 s, took {}",
        rig.elapsed()
    );
    rig.run_until(Duration::from_secs(15), |g| g.phase() == Phase::Charging);
    assert_eq!(rig.status().cable_check, Some(CableCheckVerdict::Valid));
    let charging_at = rig.elapsed();
    rig.run_until(Duration::from_secs(15), |g| g.phase() != Phase::Charging);
    let charged = rig.elapsed() - charging_at;
    assert!((10.0..10.2).contains(&charged), "charged for {charged} s");
    // Ramp-down and discharge follow before the session is over.
    rig.run_until(Duration::from_secs(5), |g| !g.session_active());

    assert_eq!(
        rig.phases,
        [
            Phase::Idle,
            Phase::Handshake,
            Phase::Precharge,
            Phase::Charging,
            Phase::Complete
        ]
    );
    let summary = rig.gun.last_summary().expect("summary").clone();
    assert_eq!(
        (summary.ended_phase.as_str(), summary.error.as_deref()),
        ("COMPLETE", None)
    );
    // 50 A after a 2 s ramp at 25 A/s, at about 397.5 V: ≈ 50 Wh in 10 s.
    assert!((45.0..56.0).contains(&summary.energy_wh), "{summary:?}");
    assert!(
        summary.avg_voltage > 390.0 && summary.avg_current > 35.0,
        "{summary:?}"
    );
    // The contactor closed once, in CHARGING, and opened once, after it.
    assert_eq!(
        rig.plant.contactor_log,
        [(true, Phase::Charging), (false, Phase::Complete)]
    );
    assert!(
        rig.plant.supply_v < Volts(60.0),
        "the session ends discharged"
    );
    let status = rig.status();
    assert_eq!(
        (status.voltage, status.current, status.energy_wh),
        (0.0, 0.0, 0.0)
    );
}

#[test]
fn the_second_session_precharges_from_zero_volts() {
    let mut rig = Rig::new();
    rig.send(Event::Start(defaults())).expect("started");
    rig.run_until(Duration::from_secs(30), |g| !g.session_active());
    // Seed defect: the supply stayed at 400 V and the next precharge finished at once.
    rig.plant.supply_v = Volts(400.0);
    rig.plant.enabled = false;
    rig.send(Event::Start(defaults())).expect("second start");
    rig.run_until(Duration::from_secs(3), |g| g.phase() == Phase::Precharge);
    let mut lowest = rig.plant.supply_v;
    while rig.gun.phase() == Phase::Precharge {
        rig.tick();
        lowest = lowest.min(rig.plant.supply_v);
        assert!(rig.elapsed() < 60.0);
    }
    assert!(
        lowest < Volts(60.0),
        "the output went below 60 V before the cable check: {lowest}"
    );
    assert_eq!(rig.gun.phase(), Phase::Charging);
}

#[test]
fn stop_in_every_phase_aborts_with_the_seed_s_reason_and_opens_the_contactor() {
    let cases: [(Step, &str); 4] = [
        (Step::Handshake, "STOPPED_DURING_HANDSHAKE"),
        (Step::CableCheck, "STOPPED_DURING_CABLE_CHECK"),
        (Step::Precharge, "PRECHARGE_FAILED"),
        (Step::Charging, "STOP_REQUESTED"),
    ];
    for (step, reason) in cases {
        let mut rig = Rig::new();
        rig.send(Event::Start(defaults())).expect("started");
        rig.run_until(Duration::from_secs(20), |g| g.step() == step);
        rig.tick();
        rig.send(Event::Stop).expect("stop");
        rig.run_until(Duration::from_secs(10), |g| !g.session_active());
        let summary = rig.gun.last_summary().expect("summary");
        assert_eq!(
            (rig.gun.phase(), summary.error.as_deref()),
            (Phase::Aborted, Some(reason)),
            "{step:?}"
        );
        assert!(!rig.plant.contactor, "{step:?}: contactor open");
        assert!(rig.plant.supply_v < Volts(60.0), "{step:?}: discharged");
        // The gun can start again right away: a stop is not a fault.
        rig.send(Event::Start(defaults()))
            .expect("restart after a stop");
    }
}

#[test]
fn a_stop_while_charging_ramps_the_current_down_before_opening() {
    let mut rig = Rig::new();
    rig.send(Event::Start(defaults())).expect("started");
    rig.run_until(Duration::from_secs(20), |g| g.phase() == Phase::Charging);
    rig.run_for(Duration::from_secs(3));
    assert!(rig.plant.current > Amps(40.0), "charging before the stop");
    rig.send(Event::Stop).expect("stop");
    let mut opened_at_current = None;
    while rig.gun.session_active() {
        let actions = rig.tick();
        // The current the gun saw when it decided (the plant changes only at the next step).
        if actions.contains(&Action::OpenContactor) {
            opened_at_current = Some(rig.plant.current);
        }
    }
    let current = opened_at_current.expect("the contactor was opened");
    assert!(current <= Amps(1.0), "opened under load: {current}");
}

#[test]
fn every_fault_in_every_phase_opens_the_contactor_at_once_and_blocks_restarts() {
    let faults = [
        Fault::EmergencyStop,
        Fault::Overcurrent,
        Fault::Overvoltage,
        Fault::Isolation,
        Fault::GroundFault,
        Fault::CommunicationLoss,
        Fault::ContactorWelded,
        Fault::Other("CUSTOM".into()),
    ];
    let steps = [
        Step::Idle,
        Step::Handshake,
        Step::CableCheck,
        Step::Precharge,
        Step::Charging,
    ];
    for fault in &faults {
        for step in steps {
            let mut rig = Rig::new();
            if step != Step::Idle {
                rig.send(Event::Start(defaults())).expect("started");
                rig.run_until(Duration::from_secs(20), |g| g.step() == step);
            }
            let actions = rig.send(Event::InjectFault(fault.clone())).expect("fault");
            assert!(
                actions.contains(&Action::OpenContactor),
                "{fault} in {step:?}: {actions:?}"
            );
            assert!(
                actions.contains(&Action::EnableSupply(false)),
                "{fault} in {step:?}"
            );
            assert!(!rig.plant.contactor);
            rig.run_until(Duration::from_secs(10), |g| !g.session_active());
            let status = rig.status();
            assert_eq!(
                status.error.as_deref(),
                Some(fault.as_str()),
                "{fault} in {step:?}"
            );
            if step != Step::Idle {
                assert_eq!(status.phase, Phase::Aborted);
                assert_eq!(
                    status.last_session_summary.and_then(|s| s.error).as_deref(),
                    Some(fault.as_str())
                );
            }
            assert_eq!(
                rig.send(Event::Start(defaults())),
                Err(Refusal::Faulted(fault.to_string())),
                "a faulted gun is unavailable"
            );
            rig.send(Event::ClearFault).expect("cleared");
            rig.send(Event::Start(defaults())).expect("available again");
        }
    }
}

#[test]
fn a_hardware_fault_clears_only_when_the_hardware_is_healthy() {
    let mut rig = Rig::new();
    rig.send(Event::Start(defaults())).expect("started");
    rig.run_until(Duration::from_secs(20), |g| g.phase() == Phase::Charging);
    rig.plant.faults = vec![Fault::EmergencyStop];
    let actions = rig.tick();
    assert!(
        actions.contains(&Action::OpenContactor),
        "opened in the same step"
    );
    rig.run_until(Duration::from_secs(10), |g| !g.session_active());
    assert_eq!(rig.status().error.as_deref(), Some("E_STOP"));
    assert!(matches!(
        rig.send(Event::ClearFault),
        Err(Refusal::HardwareFault(_))
    ));
    rig.plant.faults.clear();
    rig.tick();
    rig.send(Event::Start(defaults())).expect("healthy again");
}

#[test]
fn low_insulation_fails_the_cable_check() {
    let mut rig = Rig::new();
    rig.plant.isolation = Ohms(80_000.0);
    rig.send(Event::Start(defaults())).expect("started");
    rig.run_until(Duration::from_secs(20), |g| !g.session_active());
    let status = rig.status();
    assert_eq!(
        (status.phase, status.error.as_deref()),
        (Phase::Aborted, Some("ISOLATION"))
    );
    assert_eq!(status.cable_check, Some(CableCheckVerdict::Fault));
    assert!(
        rig.plant.contactor_log.iter().all(|(closed, _)| !closed),
        "never closed"
    );

    // Between the fault and warning thresholds (500 Ω/V × 450 V = 225 kΩ) the check warns.
    let mut rig = Rig::new();
    rig.plant.isolation = Ohms(150_000.0);
    rig.send(Event::Start(defaults())).expect("started");
    rig.run_until(Duration::from_secs(20), |g| g.phase() == Phase::Charging);
    assert_eq!(rig.status().cable_check, Some(CableCheckVerdict::Warning));

    let mut rig = Rig::new();
    rig.plant.self_test_ok = false;
    rig.send(Event::Start(defaults())).expect("started");
    rig.run_until(Duration::from_secs(20), |g| !g.session_active());
    assert_eq!(rig.status().error.as_deref(), Some("ISOLATION"));
}

#[test]
fn a_supply_that_never_reaches_the_target_fails_precharge() {
    let mut rig = Rig::new();
    // The supply cannot reach 900 V; the gun allows it.
    rig.send(Event::Start(SessionParams {
        target_voltage: Volts(900.0),
        ev_max_voltage: Some(Volts(450.0)),
        ..defaults()
    }))
    .expect("started");
    rig.run_until(Duration::from_secs(20), |g| g.step() == Step::Precharge);
    // Cap the plant below the target.
    rig.plant.limit = Amps::ZERO;
    let before = rig.elapsed();
    while rig.gun.session_active() {
        rig.plant.limit = Amps::ZERO;
        rig.tick();
        assert!(rig.elapsed() < before + 20.0);
    }
    assert_eq!(rig.status().error.as_deref(), Some("PRECHARGE_FAILED"));
}

#[test]
fn starts_are_refused_while_active_and_params_are_checked() {
    let mut rig = Rig::new();
    rig.send(Event::Start(defaults())).expect("started");
    assert_eq!(
        rig.send(Event::Start(defaults())),
        Err(Refusal::SessionActive)
    );
    let mut rig = Rig::new();
    let bad = SessionParams {
        duration: Duration::from_millis(500),
        ..defaults()
    };
    assert!(matches!(
        rig.send(Event::Start(bad)),
        Err(Refusal::InvalidParams(_))
    ));
    let bad = SessionParams {
        target_voltage: Volts(-1.0),
        ..defaults()
    };
    assert!(matches!(
        rig.send(Event::Start(bad)),
        Err(Refusal::InvalidParams(_))
    ));
    assert!(!rig.gun.session_active());
}

#[test]
fn current_is_clamped_to_the_gun_and_power_limits() {
    let mut rig = Rig::new();
    rig.gun = Gun::new(GunConfig::new(Volts(1000.0), Amps(200.0), Watts(20_000.0)));
    rig.send(Event::Start(SessionParams {
        initial_current: Amps(300.0),
        duration: Duration::from_secs(30),
        ..defaults()
    }))
    .expect("started");
    rig.run_until(Duration::from_secs(20), |g| g.phase() == Phase::Charging);
    rig.run_for(Duration::from_secs(12));
    // 20 kW at about 398 V is about 50 A, whatever the 300 A request and the 200 A gun limit.
    let power = rig.plant.supply_v * rig.plant.current;
    assert!(power <= Watts(20_500.0), "{power}");
    assert!(rig.plant.current > Amps(45.0), "{}", rig.plant.current);
}

#[test]
fn an_external_limit_lowers_the_power_and_zero_suspends_without_ending() {
    let mut rig = Rig::new();
    rig.send(Event::Start(SessionParams {
        initial_current: Amps(100.0),
        duration: Duration::from_secs(120),
        ..defaults()
    }))
    .expect("started");
    rig.run_until(Duration::from_secs(20), |g| g.phase() == Phase::Charging);
    rig.run_for(Duration::from_secs(6));
    assert!(rig.plant.current > Amps(95.0), "{}", rig.plant.current);
    // 10 kW at about 400 V: about 25 A.
    rig.send(Event::Limit(Some(Watts(10_000.0))))
        .expect("limit taken");
    rig.run_for(Duration::from_secs(2));
    let power = rig.plant.supply_v * rig.plant.current;
    assert!(
        power <= Watts(10_100.0) && power > Watts(9_000.0),
        "{power}"
    );
    assert_eq!(rig.status().power_limit, Some(10_000.0));
    // Zero: no current, the session goes on.
    rig.send(Event::Limit(Some(Watts(0.0))))
        .expect("limit taken");
    rig.run_for(Duration::from_secs(2));
    assert_eq!(rig.plant.current, Amps::ZERO);
    assert_eq!(rig.gun.phase(), Phase::Charging);
    // Lifted: the current ramps back to the request.
    rig.send(Event::Limit(None)).expect("limit lifted");
    rig.run_for(Duration::from_secs(6));
    assert!(rig.plant.current > Amps(95.0), "{}", rig.plant.current);
    assert!(rig.send(Event::Limit(Some(Watts(-1.0)))).is_err());
    assert!(rig.send(Event::Limit(Some(Watts(f64::NAN)))).is_err());
}

#[test]
fn a_pausing_vehicle_draws_nothing_until_it_resumes() {
    let mut rig = Rig::new();
    rig.send(Event::Start(SessionParams {
        duration: Duration::from_secs(120),
        ..defaults()
    }))
    .expect("started");
    rig.run_until(Duration::from_secs(20), |g| g.phase() == Phase::Charging);
    rig.run_for(Duration::from_secs(4));
    assert!(rig.plant.current > Amps(45.0));
    rig.send(Event::EvPause(true)).expect("pause");
    rig.run_for(Duration::from_secs(1));
    assert_eq!(rig.plant.current, Amps::ZERO);
    assert!(rig.status().ev_paused);
    assert_eq!(rig.gun.phase(), Phase::Charging);
    rig.send(Event::EvPause(false)).expect("resume");
    rig.run_for(Duration::from_secs(4));
    assert!(rig.plant.current > Amps(45.0));
}

#[test]
fn the_status_reports_zero_at_the_gun_while_the_contactor_is_open() {
    let mut rig = Rig::new();
    rig.send(Event::Start(defaults())).expect("started");
    rig.run_until(Duration::from_secs(20), |g| g.step() == Step::Precharge);
    rig.tick();
    assert!(
        rig.plant.supply_v > Volts(60.0),
        "the supply is live behind the open contactor"
    );
    let status = rig.status();
    assert_eq!(
        (status.contactor_closed, status.voltage, status.current),
        (false, 0.0, 0.0)
    );
    assert_eq!(status.phase, Phase::Precharge);
    assert_eq!(status.step, Step::Precharge);
}

#[test]
fn status_serializes_with_the_seed_field_names() {
    let rig = Rig::new();
    let json = serde_json::to_value(rig.status()).expect("JSON");
    for field in [
        "session_active",
        "phase",
        "error",
        "contactor_closed",
        "cp_state",
        "voltage",
        "current",
        "energy_Wh",
        "time_s",
        "last_session_summary",
    ] {
        assert!(json.get(field).is_some(), "{field} missing: {json}");
    }
    assert_eq!(json["phase"], "IDLE");
}

fn delegated_rig() -> Rig {
    let mut rig = Rig::new();
    let mut config = GunConfig::new(Volts(1000.0), Amps(200.0), Watts(150_000.0));
    config.delegated_cable_check = true;
    rig.gun = Gun::new(config);
    rig
}

#[test]
fn a_delegated_cable_check_closes_first_and_takes_the_cabinets_verdict() {
    let mut rig = delegated_rig();
    rig.send(Event::Start(defaults())).expect("started");
    rig.run_until(Duration::from_secs(3), |g| g.phase() == Phase::Precharge);
    // At the start of the cable check the contactor closes and the test is asked for.
    rig.tick();
    assert!(
        rig.plant.contactor,
        "the cabinet's cable check runs with the contactor closed"
    );
    rig.run_until(Duration::from_secs(15), |g| g.phase() == Phase::Charging);
    assert_eq!(rig.status().cable_check, Some(CableCheckVerdict::Valid));
    rig.run_until(Duration::from_secs(15), |g| g.phase() != Phase::Charging);
    rig.run_until(Duration::from_secs(5), |g| !g.session_active());
    let summary = rig.gun.last_summary().expect("summary").clone();
    assert_eq!(summary.ended_phase, "COMPLETE", "{summary:?}");
    assert!(summary.energy_wh > 40.0, "{summary:?}");
    assert!(!rig.plant.contactor, "open after the session");
}

#[test]
fn a_failed_delegated_cable_check_is_an_isolation_fault_with_the_contactor_open() {
    let mut rig = delegated_rig();
    rig.plant.self_test_ok = false;
    rig.send(Event::Start(defaults())).expect("started");
    rig.run_until(Duration::from_secs(5), |g| g.fault().is_some());
    assert_eq!(rig.gun.fault(), Some(&Fault::Isolation));
    assert_eq!(rig.status().cable_check, Some(CableCheckVerdict::Fault));
    rig.run_until(Duration::from_secs(5), |g| !g.session_active());
    assert!(!rig.plant.contactor);
    assert_eq!(rig.plant.current, Amps::ZERO);
}
