//! The SECC end of `proto-pepws` (its session layer, driven by a thin socket loop like the
//! station's PEP-WS backend will use) against the running controller: a whole session,
//! including the PECC asking to stop.

mod support;

use futures_util::{SinkExt, StreamExt};
use proto_pepws::connection::SeccConfig;
use proto_pepws::secc_session::{SeccSession, SessionEvent};
use proto_pepws::{
    ChargingSession, ChargingState, ContactorsStatus, EvConnectionState, IsolationStatus,
    TargetValues, Transmit,
};
use std::time::Duration;
use support::{Ws, connect, http, start};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// The thin driver: socket ⇄ session, timers from the session.
struct Driver {
    ws: Ws,
    session: SeccSession,
    events: Vec<SessionEvent>,
}

impl Driver {
    async fn connect(url: &str) -> Self {
        let (ws, chosen) = connect(url, "pep1.5").await;
        assert_eq!(chosen.as_deref(), Some("pep1.5"));
        let mut session = SeccSession::new(SeccConfig::default());
        session.handle_connected(Instant::now().into_std());
        Self {
            ws,
            session,
            events: Vec::new(),
        }
    }

    /// Runs the link until `done` holds, at most `limit` of virtual time.
    async fn until(
        &mut self,
        limit: Duration,
        done: impl Fn(&SeccSession, &[SessionEvent]) -> bool,
    ) {
        let start = Instant::now();
        loop {
            while let Some(event) = self.session.poll_event() {
                self.events.push(event);
            }
            while let Some(Transmit::Text(text)) = self.session.poll_transmit() {
                self.ws.send(Message::text(text)).await.expect("sent");
            }
            if done(&self.session, &self.events) {
                return;
            }
            assert!(
                start.elapsed() <= limit,
                "not within {limit:?}: {:?}",
                self.session.status()
            );
            let deadline = self.session.poll_timeout().map_or_else(
                || Instant::now() + Duration::from_secs(1),
                Instant::from_std,
            );
            tokio::select! {
                frame = self.ws.next() => match frame {
                    Some(Ok(Message::Text(text))) => {
                        self.session.handle_text(text.as_str(), Instant::now().into_std());
                    }
                    Some(Ok(_)) => {}
                    _ => self.session.handle_disconnected(),
                },
                () = tokio::time::sleep_until(deadline) => {
                    self.session.handle_timeout(Instant::now().into_std());
                }
            }
        }
    }
}

fn target(voltage: f64, current: f64, state: ChargingState) -> TargetValues {
    TargetValues {
        target_voltage: voltage,
        target_current: current,
        battery_state_of_charge: 55.0,
        charging_state: state,
    }
}

fn measured(session: &SeccSession) -> (f64, f64) {
    session.status().map_or((f64::NAN, f64::NAN), |s| {
        (s.measured_voltage, s.measured_current)
    })
}

#[tokio::test(start_paused = true)]
async fn our_secc_end_charges_through_our_pecc() {
    let pecc = start(2, |_| {}).await;
    let mut secc = Driver::connect(&pecc.gun_url(2).expect("gun 2")).await;
    let now = || Instant::now().into_std();

    secc.until(Duration::from_secs(1), |s, _| {
        s.configuration().is_some() && s.pecc_ready()
    })
    .await;
    assert_eq!(
        secc.session.configuration().map(|c| c.float_values),
        Some(Some(true))
    );
    secc.session.set_ev_connection(
        EvConnectionState::Connected,
        Some("02:00:5E:10:00:01".into()),
        now(),
    );
    secc.session.update_charging_session(
        ChargingSession {
            ev_max_voltage_volts: Some(450.0),
            ev_max_current_amperes: Some(200.0),
            ..ChargingSession::default()
        },
        now(),
    );
    secc.session
        .set_ev_connection(EvConnectionState::EnergyTransferAllowed, None, now());

    secc.session.set_contactors(true, now());
    secc.until(Duration::from_secs(1), |s, _| {
        s.status()
            .is_some_and(|st| st.contactors_status == ContactorsStatus::Closed)
    })
    .await;
    secc.session.request_cable_check(450.0, now());
    secc.until(Duration::from_secs(37), |s, _| {
        s.isolation() != IsolationStatus::Invalid
    })
    .await;
    assert_eq!(secc.session.isolation(), IsolationStatus::Valid);

    secc.session
        .set_target(target(380.0, 2.0, ChargingState::PreCharge), now());
    secc.until(Duration::from_secs(4), |s, _| {
        (measured(s).0 - 380.0).abs() <= 10.0
    })
    .await;
    // The charge loop: new targets every 250 ms, as an EV's current demand would come.
    for step in 1..=8 {
        secc.session.set_target(
            target(400.0, 25.0 * f64::from(step), ChargingState::Charge),
            now(),
        );
        let until = Instant::now() + Duration::from_millis(250);
        secc.until(Duration::from_secs(1), |_, _| Instant::now() >= until)
            .await;
    }
    secc.until(Duration::from_secs(2), |s, _| {
        (measured(s).1 - 200.0).abs() < 1.0
    })
    .await;

    // The PECC asks to stop (through the admin API); the SECC ends the session its usual way.
    let addr = pecc.addr;
    let stop = tokio::spawn(async move {
        http(addr, "POST", "/api/v1/guns/2/stop-charging", None, None).await
    });
    secc.until(Duration::from_secs(1), |_, events| {
        events.contains(&SessionEvent::StopRequested)
    })
    .await;
    assert_eq!(stop.await.expect("answered").0, 200);
    secc.session
        .set_target(target(0.0, 0.0, ChargingState::PostCharge), now());
    secc.until(Duration::from_secs(3), |s, _| {
        let (v, i) = measured(s);
        i == 0.0 && v < 60.0
    })
    .await;
    secc.session.reset(now());
    secc.until(Duration::from_secs(3), |s, _| {
        s.settled()
            && s.status().is_some_and(|st| {
                st.contactors_status == ContactorsStatus::Open
                    && st.operational_status == proto_pepws::OperationalStatus::Operative
            })
    })
    .await;
    // Nothing was refused along the way, and the PECC kept its status stream.
    assert!(
        !secc.events.iter().any(|e| matches!(
            e,
            SessionEvent::Refused { .. } | SessionEvent::PeccUnresponsive
        )),
        "{:?}",
        secc.events
    );
    let view = pecc
        .shared
        .cabinet
        .view(2)
        .expect("gun 2")
        .borrow()
        .view
        .clone();
    assert_eq!(view.phase, "standby");
    pecc.shutdown().await;
}
