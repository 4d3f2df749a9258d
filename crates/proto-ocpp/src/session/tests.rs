//! Session behaviour, driven with a virtual clock: two sessions wired back to back, or one
//! session fed scripted frames.

use super::*;
use crate::{v16, v21};
use serde_json::json;

fn t0() -> Instant {
    Instant::now()
}

fn station<D: Dialect>() -> Session<D> {
    let mut config = Config::new(Role::ChargingStation);
    config.id_prefix = "cs-".into();
    Session::new(config)
}

fn csms<D: Dialect>() -> Session<D> {
    let mut config = Config::new(Role::CentralSystem);
    config.id_prefix = "ms-".into();
    Session::new(config)
}

/// Moves every pending frame from `from` to `to`; returns how many moved.
fn deliver<D: Dialect>(from: &mut Session<D>, to: &mut Session<D>, now: Instant) -> usize {
    let mut moved = 0;
    while let Some(text) = from.poll_transmit() {
        to.handle_text(&text, now);
        moved += 1;
    }
    moved
}

fn sent<D: Dialect>(session: &mut Session<D>) -> Vec<String> {
    std::iter::from_fn(|| session.poll_transmit()).collect()
}

fn events<D: Dialect>(session: &mut Session<D>) -> Vec<Event<D>> {
    std::iter::from_fn(|| session.poll_event()).collect()
}

fn heartbeat_response() -> v16::HeartbeatResponse {
    v16::HeartbeatResponse::new("2026-11-21T07:00:00.000Z".parse().expect("valid"))
}

#[test]
fn call_and_response_between_two_ends() {
    let now = t0();
    let mut cs = station::<v16::V16>();
    let mut ms = csms::<v16::V16>();
    let boot = v16::BootNotificationRequest::new("joule".into(), "DC-150".into());
    let id = cs.call(boot, now).expect("queued");
    assert_eq!(id, "cs-1");
    assert_eq!(deliver(&mut cs, &mut ms, now), 1);

    let Some(Event::Call {
        id: call_id,
        request: v16::Request::BootNotification(req),
        violations,
    }) = ms.poll_event()
    else {
        panic!("expected a BootNotification CALL")
    };
    assert_eq!(
        (call_id.as_str(), req.charge_point_model.as_str()),
        ("cs-1", "DC-150")
    );
    assert!(violations.is_empty());
    let answer = v16::BootNotificationResponse::new(
        v16::RegistrationStatus::Accepted,
        "2026-11-21T07:00:00.000Z".parse().expect("valid"),
        300,
    );
    ms.respond(&call_id, answer).expect("pending");
    deliver(&mut ms, &mut cs, now);

    let Some(Event::Response {
        id: answered,
        response: v16::Response::BootNotification(resp),
        ..
    }) = cs.poll_event()
    else {
        panic!("expected the BootNotification response")
    };
    assert_eq!((answered.as_str(), resp.interval), ("cs-1", 300));
    assert_eq!(cs.in_flight(), 0);
    assert_eq!(cs.poll_timeout(), None);
}

#[test]
fn one_outstanding_call_by_default_and_the_rest_wait_in_order() {
    let now = t0();
    let mut cs = station::<v16::V16>();
    for _ in 0..3 {
        cs.call(v16::HeartbeatRequest::new(), now).expect("queued");
    }
    assert_eq!(sent(&mut cs), [r#"[2,"cs-1","Heartbeat",{}]"#]);
    assert_eq!((cs.in_flight(), cs.queued()), (1, 2));

    let answer = frame::encode_call_result("cs-1", &heartbeat_response()).expect("encodes");
    cs.handle_text(&answer, now);
    assert_eq!(sent(&mut cs), [r#"[2,"cs-2","Heartbeat",{}]"#]);
    assert_eq!((cs.in_flight(), cs.queued()), (1, 1));
}

#[test]
fn outstanding_calls_are_configurable() {
    let now = t0();
    let mut config = Config::new(Role::ChargingStation);
    config.max_outstanding = 2;
    let mut cs = Session::<v16::V16>::new(config);
    for _ in 0..3 {
        cs.call(v16::HeartbeatRequest::new(), now).expect("queued");
    }
    assert_eq!(sent(&mut cs).len(), 2);
    assert_eq!(cs.queued(), 1);
}

#[test]
fn calls_time_out_and_late_answers_are_never_matched_to_another_call() {
    let now = t0();
    let mut cs = station::<v16::V16>();
    cs.call(v16::HeartbeatRequest::new(), now).expect("queued");
    cs.call(v16::HeartbeatRequest::new(), now).expect("queued");
    sent(&mut cs);
    let deadline = cs.poll_timeout().expect("a call is outstanding");
    assert_eq!(deadline, now + Duration::from_secs(30));

    cs.handle_timeout(deadline - Duration::from_millis(1));
    assert!(events(&mut cs).is_empty(), "nothing expires early");

    cs.handle_timeout(deadline);
    let evs = events(&mut cs);
    assert!(matches!(
        evs.as_slice(),
        [Event::Failed { id, failure: CallFailure::Timeout, .. }] if id == "cs-1"
    ));
    // The next call goes out with its own deadline.
    assert_eq!(sent(&mut cs), [r#"[2,"cs-2","Heartbeat",{}]"#]);
    assert_eq!(cs.poll_timeout(), Some(deadline + Duration::from_secs(30)));

    // The late answer to cs-1 is dropped; cs-2 still awaits its own.
    let late = frame::encode_call_result("cs-1", &heartbeat_response()).expect("encodes");
    cs.handle_text(&late, deadline);
    assert!(events(&mut cs).is_empty());
    assert_eq!((cs.stats().unmatched, cs.in_flight()), (1, 1));
    assert_eq!(cs.stats().timeouts, 1);
}

#[test]
fn invalid_calls_are_answered_with_the_version_s_error_code() {
    let now = t0();
    let cases: &[(&str, &str, FailureKind)] = &[
        (
            r#"[2,"a","Authorize",{}]"#,
            "OccurenceConstraintViolation",
            FailureKind::MissingRequired,
        ),
        (
            r#"[2,"b","Authorize",{"idTag":7}]"#,
            "TypeConstraintViolation",
            FailureKind::WrongType,
        ),
        (
            r#"[2,"c","Authorize",{"idTag":"123456789012345678901"}]"#,
            "PropertyConstraintViolation",
            FailureKind::InvalidValue,
        ),
        (
            r#"[2,"d","Authorize",{"idTag":"A","x":1}]"#,
            "FormationViolation",
            FailureKind::UnknownProperty,
        ),
        (
            r#"[2,"e","Authorise",{}]"#,
            "NotImplemented",
            FailureKind::UnknownAction,
        ),
        (
            r#"[2,"f","RemoteStartTransaction",{"idTag":"A"}]"#,
            "NotSupported",
            FailureKind::WrongDirection,
        ),
        ("[2,", "FormationViolation", FailureKind::UnparsableFrame),
    ];
    for (text, code, kind) in cases {
        let mut ms = csms::<v16::V16>();
        ms.handle_text(text, now);
        let out = sent(&mut ms);
        assert_eq!(out.len(), 1, "{text}");
        let reply: Value = serde_json::from_str(&out[0]).expect("JSON");
        assert_eq!(reply[0], 4, "{text}");
        assert_eq!(reply[2], *code, "{text}");
        assert!(
            matches!(events(&mut ms).as_slice(), [Event::Rejected { kind: k, .. }] if k == kind),
            "{text}"
        );
        assert_eq!(ms.stats().rejected, 1);
    }
}

#[test]
fn a_violation_s_pointer_is_in_the_error_details() {
    let mut ms = csms::<v16::V16>();
    ms.handle_text(r#"[2,"a","Authorize",{}]"#, t0());
    let reply: Value = serde_json::from_str(&sent(&mut ms)[0]).expect("JSON");
    assert_eq!(reply[4], json!({"pointer": "/idTag"}));
}

#[test]
fn repeated_call_ids_are_never_processed_twice() {
    let now = t0();
    let mut ms = csms::<v16::V16>();
    let call = r#"[2,"m1","Heartbeat",{}]"#;
    ms.handle_text(call, now);
    ms.handle_text(call, now);
    assert_eq!(
        events(&mut ms).len(),
        1,
        "the copy of a CALL in progress is dropped"
    );
    assert!(sent(&mut ms).is_empty());

    ms.respond("m1", heartbeat_response()).expect("pending");
    let first = sent(&mut ms);
    ms.handle_text(call, now);
    assert!(
        events(&mut ms).is_empty(),
        "a retried CALL is not surfaced again"
    );
    assert_eq!(sent(&mut ms), first, "a retried CALL gets the same answer");
    assert_eq!(ms.stats().duplicates, 2);
}

#[test]
fn answers_must_match_their_call() {
    let mut ms = csms::<v16::V16>();
    ms.handle_text(r#"[2,"m1","Heartbeat",{}]"#, t0());
    let wrong =
        v16::AuthorizeResponse::new(v16::IdTagInfo::new(v16::AuthorizationStatus::Accepted));
    assert!(matches!(
        ms.respond("m1", wrong),
        Err(SessionError::WrongResponse { .. })
    ));
    assert_eq!(
        ms.respond("zz", heartbeat_response()),
        Err(SessionError::NotPending("zz".into()))
    );
    ms.respond_error("m1", ErrorCode::InternalError, "busy", Map::new())
        .expect("pending");
    assert_eq!(sent(&mut ms), [r#"[4,"m1","InternalError","busy",{}]"#]);
    assert!(
        ms.respond("m1", heartbeat_response()).is_err(),
        "answered once only"
    );
}

#[test]
fn call_errors_reach_the_caller() {
    let now = t0();
    let mut cs = station::<v16::V16>();
    cs.call(v16::HeartbeatRequest::new(), now).expect("queued");
    sent(&mut cs);
    cs.handle_text(
        r#"[4,"cs-1","OccurenceConstraintViolation","missing",{}]"#,
        now,
    );
    let evs = events(&mut cs);
    let [
        Event::Failed {
            failure: CallFailure::CallError { code, error },
            ..
        },
    ] = evs.as_slice()
    else {
        panic!("expected a failed call: {evs:?}")
    };
    assert_eq!(*code, Some(ErrorCode::OccurrenceConstraintViolation));
    assert_eq!(error.description, "missing");
}

#[test]
fn invalid_responses_fail_the_call() {
    let now = t0();
    let mut cs = station::<v16::V16>();
    cs.call(v16::HeartbeatRequest::new(), now).expect("queued");
    sent(&mut cs);
    cs.handle_text(r#"[3,"cs-1",{"currentTime":"yesterday"}]"#, now);
    assert!(matches!(
        events(&mut cs).as_slice(),
        [Event::Failed {
            failure: CallFailure::InvalidResponse(_),
            ..
        }]
    ));
    assert!(sent(&mut cs).is_empty(), "1.6 has no CALLRESULTERROR");

    let mut cs = station::<v21::V21>();
    cs.call(v21::HeartbeatRequest::new(), now).expect("queued");
    sent(&mut cs);
    cs.handle_text(r#"[3,"cs-1",{}]"#, now);
    let out = sent(&mut cs);
    assert_eq!(out.len(), 1);
    let reply: Value = serde_json::from_str(&out[0]).expect("JSON");
    assert_eq!(
        (&reply[0], &reply[1], &reply[2]),
        (
            &json!(5),
            &json!("cs-1"),
            &json!("OccurrenceConstraintViolation")
        )
    );
}

#[test]
fn send_messages_are_unconfirmed() {
    let now = t0();
    let mut cs = station::<v21::V21>();
    let mut ms = csms::<v21::V21>();
    let stream = v21::NotifyPeriodicEventStreamRequest::new(
        vec![v21::StreamDataElement::new(0.5, "231.7".into())],
        1,
        0,
        "2026-11-21T07:00:00.000Z".parse().expect("valid"),
    );
    assert!(matches!(
        cs.call(stream.clone(), now),
        Err(SessionError::WrongMessageType(_))
    ));
    let id = cs.send(stream).expect("sent");
    assert_eq!(cs.in_flight(), 0);
    deliver(&mut cs, &mut ms, now);
    assert!(matches!(
        events(&mut ms).as_slice(),
        [Event::Send { id: got, .. }] if *got == id
    ));
    assert!(sent(&mut ms).is_empty(), "a SEND is never answered");
    assert!(matches!(
        cs.send(v21::HeartbeatRequest::new()),
        Err(SessionError::WrongMessageType(_))
    ));
}

#[test]
fn the_queue_is_bounded() {
    let now = t0();
    let mut config = Config::new(Role::ChargingStation);
    config.max_queued = 2;
    let mut cs = Session::<v16::V16>::new(config);
    for _ in 0..3 {
        cs.call(v16::HeartbeatRequest::new(), now)
            .expect("1 in flight, 2 queued");
    }
    assert_eq!(
        cs.call(v16::HeartbeatRequest::new(), now),
        Err(SessionError::QueueFull(2))
    );
}

#[test]
fn tolerant_mode_surfaces_violations_with_the_call() {
    let mut config = Config::new(Role::CentralSystem);
    config.mode = Mode::Tolerant;
    let mut ms = Session::<v16::V16>::new(config);
    ms.handle_text(
        r#"[2,"q","Authorize",{"idTag":"AN-ID-TAG-LONGER-THAN-20","fw":"x"}]"#,
        t0(),
    );
    let evs = events(&mut ms);
    let [Event::Call { violations, .. }] = evs.as_slice() else {
        panic!("expected the CALL: {evs:?}")
    };
    assert_eq!(violations.len(), 2);
    assert!(sent(&mut ms).is_empty());
}

#[test]
fn only_the_last_answers_are_remembered() {
    let now = t0();
    let mut config = Config::new(Role::CentralSystem);
    config.remember_answered = 2;
    let mut ms = Session::<v16::V16>::new(config);
    let mut answers = Vec::new();
    for id in ["m1", "m2", "m3"] {
        ms.handle_text(&format!(r#"[2,"{id}","Heartbeat",{{}}]"#), now);
        assert_eq!(events(&mut ms).len(), 1);
        ms.respond(id, heartbeat_response()).expect("pending");
        answers.push(sent(&mut ms));
    }

    ms.handle_text(r#"[2,"m3","Heartbeat",{}]"#, now);
    assert!(events(&mut ms).is_empty());
    assert_eq!(sent(&mut ms), answers[2]);
    ms.handle_text(r#"[2,"m2","Heartbeat",{}]"#, now);
    assert_eq!(sent(&mut ms), answers[1]);

    ms.handle_text(r#"[2,"m1","Heartbeat",{}]"#, now);
    assert_eq!(
        events(&mut ms).len(),
        1,
        "the oldest answer is forgotten, so its CALL is processed again"
    );
    assert_eq!(ms.stats().duplicates, 2);
}

#[test]
fn nothing_is_remembered_when_told_so() {
    let now = t0();
    let mut config = Config::new(Role::CentralSystem);
    config.remember_answered = 0;
    let mut ms = Session::<v16::V16>::new(config);
    ms.handle_text(r#"[2,"m1","Heartbeat",{}]"#, now);
    assert_eq!(events(&mut ms).len(), 1);
    ms.respond("m1", heartbeat_response()).expect("pending");
    assert_eq!(sent(&mut ms).len(), 1);
    ms.handle_text(r#"[2,"m1","Heartbeat",{}]"#, now);
    assert_eq!(events(&mut ms).len(), 1);
    assert!(ms.answered.is_empty());
}

#[test]
fn an_idle_session_holds_no_buffers() {
    let now = t0();
    let mut cs = station::<v21::V21>();
    let mut ms = csms::<v21::V21>();
    for _ in 0..3 {
        cs.call(v21::HeartbeatRequest::new(), now).expect("queued");
    }
    for _ in 0..3 {
        deliver(&mut cs, &mut ms, now);
        for event in events(&mut ms) {
            let Event::Call { id, .. } = event else {
                panic!("expected a CALL")
            };
            let answer =
                v21::HeartbeatResponse::new("2026-11-21T07:00:00.000Z".parse().expect("valid"));
            ms.respond(&id, answer).expect("pending");
        }
        deliver(&mut ms, &mut cs, now);
        assert_eq!(events(&mut cs).len(), 1);
    }
    assert_eq!(cs.stats().calls_sent, 3);
    assert_eq!(ms.stats().calls_answered, 3);
    for session in [&cs, &ms] {
        assert_eq!(session.events.capacity(), 0);
        assert_eq!(session.transmit.capacity(), 0);
        assert_eq!(session.queue.capacity(), 0);
        assert_eq!(session.in_flight.capacity(), 0);
        assert_eq!(session.pending.capacity(), 0);
    }
    assert_eq!(ms.answered.len(), 3, "the answers are kept for repeats");
}
