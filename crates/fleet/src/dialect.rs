//! What a fleet station sends, per OCPP version: the CALLs a trigger expands into, the request
//! each one is, and what the station learns from the answers.
//!
//! Requests are built when they are sent, not when they are planned, because some depend on an
//! earlier answer (an OCPP 1.6 transaction id comes from the StartTransaction answer).

use crate::workload::Trigger;
use proto_ocpp::{Dialect, OcppVersion, Timestamp, v16, v21, v201};

/// One CALL of a station.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// BootNotification.
    Boot,
    /// Heartbeat.
    Heartbeat,
    /// StatusNotification of a connector.
    Status(u32, Status),
    /// Authorize the connector's driver.
    Authorize(u32),
    /// StartTransaction (1.6) or TransactionEvent Started (2.x).
    Start(u32),
    /// MeterValues of the transaction (1.6) or TransactionEvent Updated (2.x).
    Meter(u32),
    /// StopTransaction (1.6) or TransactionEvent Ended (2.x).
    Stop(u32),
    /// MeterValues outside any transaction, for saturation.
    SaturationMeter,
}

/// A connector status, in 1.6 terms; 2.x reports Preparing, Charging and Finishing as Occupied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Available,
    Preparing,
    Charging,
    Finishing,
    Unavailable,
}

/// The steps `trigger` expands into in `version`, in order (as many as [`Trigger::calls`]).
pub(crate) fn expand(trigger: Trigger, version: OcppVersion, mut push: impl FnMut(Step)) {
    let v16 = version == OcppVersion::V16;
    match trigger {
        Trigger::Heartbeat => push(Step::Heartbeat),
        Trigger::SessionStart(c) => {
            push(Step::Authorize(c));
            push(Step::Status(c, Status::Preparing));
            push(Step::Start(c));
            if v16 {
                push(Step::Status(c, Status::Charging));
            }
        }
        Trigger::MeterSample(c) => push(Step::Meter(c)),
        Trigger::SessionStop(c) => {
            push(Step::Stop(c));
            if v16 {
                push(Step::Status(c, Status::Finishing));
            }
            push(Step::Status(c, Status::Available));
        }
        Trigger::StatusDown(c) => push(Step::Status(c, Status::Unavailable)),
        Trigger::StatusUp(c) => push(Step::Status(c, Status::Available)),
    }
}

/// A station's protocol state: what its requests need to carry.
#[derive(Debug)]
pub(crate) struct StationState {
    /// Station index in the fleet, from 0.
    pub index: usize,
    /// Energy added per meter value, Wh.
    pub sample_wh: i64,
    /// Per connector, from connector 1.
    pub connectors: Vec<ConnectorState>,
    /// The energy register reported by saturation MeterValues, Wh (one more each time, so no
    /// two samples are alike).
    pub saturation_wh: i64,
}

impl StationState {
    pub(crate) fn new(index: usize, connectors: u32, sample_wh: i64) -> Self {
        Self {
            index,
            sample_wh,
            connectors: (0..connectors).map(|_| ConnectorState::default()).collect(),
            saturation_wh: 0,
        }
    }

    fn connector(&mut self, connector: u32) -> Option<&mut ConnectorState> {
        let slot = usize::try_from(connector.checked_sub(1)?).ok()?;
        self.connectors.get_mut(slot)
    }

    /// The driver's token on a connector: fixed per station and connector.
    fn id_tag(&self, connector: u32) -> String {
        format!("T{:06}-{connector}", self.index + 1)
    }

    /// Whether a session is open on any connector (one is stopped before the station leaves).
    pub(crate) fn open_sessions(&self) -> impl Iterator<Item = u32> + '_ {
        self.connectors
            .iter()
            .zip(1..)
            .filter(|(c, _)| c.tx.is_some())
            .map(|(_, n)| n)
    }
}

/// One connector's meter and transaction.
#[derive(Debug, Default)]
pub(crate) struct ConnectorState {
    /// The energy register, Wh.
    pub register_wh: i64,
    /// The open transaction, if any.
    pub tx: Option<Tx>,
    /// Sessions started so far (part of 2.x transaction ids).
    pub sessions: u32,
}

/// An open transaction.
#[derive(Debug)]
pub(crate) struct Tx {
    /// 1.6: the id the central system assigned; `None` until StartTransaction is answered.
    pub csms_id: Option<i32>,
    /// 2.x: the station's transaction id.
    pub key: String,
    /// 2.x: the next TransactionEvent sequence number.
    pub seq_no: i32,
}

/// What an answer meant to the station.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Nothing to count.
    Done,
    /// A transaction started.
    TxStarted,
    /// A transaction stopped.
    TxStopped,
    /// The central system refused the boot or the token; the load goes on regardless.
    Refused,
}

/// A version's requests and answers, as a fleet station uses them.
pub(crate) trait FleetDialect: Dialect {
    /// The request for `step` at `now`; `None` when it has nothing to send (the transaction it
    /// belongs to never started).
    fn request(state: &mut StationState, step: Step, now: Timestamp) -> Option<Self::Request>;
    /// Takes in the answer to `step`.
    fn answer(state: &mut StationState, step: Step, response: &Self::Response) -> Outcome;
    /// Forgets the transaction of a connector whose stop failed, so the station can go on.
    fn abandon(state: &mut StationState, step: Step) {
        if let Step::Stop(c) = step
            && let Some(connector) = state.connector(c)
        {
            connector.tx = None;
        }
    }
}

fn to_i32(value: i64) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

fn signed(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

impl FleetDialect for v16::V16 {
    fn request(state: &mut StationState, step: Step, now: Timestamp) -> Option<v16::Request> {
        use v16::*;
        let periodic = |register: i64| {
            let mut sample = SampledValue::new(register.to_string());
            sample.measurand = Some(Measurand::EnergyActiveImportRegister);
            sample.unit = Some(UnitOfMeasure::Wh);
            sample.context = Some(ReadingContext::SamplePeriodic);
            vec![MeterValue::new(now, vec![sample])]
        };
        let request: Request = match step {
            Step::Boot => {
                let mut boot = BootNotificationRequest::new("joule".into(), "fleet".into());
                boot.charge_point_serial_number = Some(format!("F{:06}", state.index + 1));
                boot.firmware_version = Some(env!("CARGO_PKG_VERSION").into());
                boot.into()
            }
            Step::Heartbeat => HeartbeatRequest::new().into(),
            Step::Status(c, status) => {
                let status = match status {
                    Status::Available => ChargePointStatus::Available,
                    Status::Preparing => ChargePointStatus::Preparing,
                    Status::Charging => ChargePointStatus::Charging,
                    Status::Finishing => ChargePointStatus::Finishing,
                    Status::Unavailable => ChargePointStatus::Unavailable,
                };
                let mut request = StatusNotificationRequest::new(
                    signed(c),
                    ChargePointErrorCode::NoError,
                    status,
                );
                request.timestamp = Some(now);
                request.into()
            }
            Step::Authorize(c) => AuthorizeRequest::new(state.id_tag(c)).into(),
            Step::Start(c) => {
                let id_tag = state.id_tag(c);
                let connector = state.connector(c)?;
                connector.tx = Some(Tx {
                    csms_id: None,
                    key: String::new(),
                    seq_no: 0,
                });
                StartTransactionRequest::new(signed(c), id_tag, to_i32(connector.register_wh), now)
                    .into()
            }
            Step::Meter(c) => {
                let sample_wh = state.sample_wh;
                let connector = state.connector(c)?;
                let tx = connector.tx.as_ref()?.csms_id?;
                connector.register_wh += sample_wh;
                let mut request =
                    MeterValuesRequest::new(signed(c), periodic(connector.register_wh));
                request.transaction_id = Some(tx);
                request.into()
            }
            Step::Stop(c) => {
                let id_tag = state.id_tag(c);
                let connector = state.connector(c)?;
                let Some(tx) = connector.tx.as_ref().and_then(|t| t.csms_id) else {
                    // The start failed: there is nothing to stop.
                    connector.tx = None;
                    return None;
                };
                let mut request =
                    StopTransactionRequest::new(to_i32(connector.register_wh), now, tx);
                request.id_tag = Some(id_tag);
                request.reason = Some(Reason::Local);
                request.into()
            }
            Step::SaturationMeter => {
                state.saturation_wh += 1;
                MeterValuesRequest::new(1, periodic(state.saturation_wh)).into()
            }
        };
        Some(request)
    }

    fn answer(state: &mut StationState, step: Step, response: &v16::Response) -> Outcome {
        use v16::*;
        let accepted = |info: &IdTagInfo| info.status == AuthorizationStatus::Accepted;
        match (step, response) {
            (Step::Boot, Response::BootNotification(r)) => {
                if r.status == RegistrationStatus::Accepted {
                    Outcome::Done
                } else {
                    Outcome::Refused
                }
            }
            (Step::Authorize(_), Response::Authorize(r)) if !accepted(&r.id_tag_info) => {
                Outcome::Refused
            }
            (Step::Start(c), Response::StartTransaction(r)) => {
                if let Some(tx) = state.connector(c).and_then(|c| c.tx.as_mut()) {
                    tx.csms_id = Some(r.transaction_id);
                }
                Outcome::TxStarted
            }
            (Step::Stop(c), Response::StopTransaction(_)) => {
                if let Some(connector) = state.connector(c) {
                    connector.tx = None;
                }
                Outcome::TxStopped
            }
            _ => Outcome::Done,
        }
    }
}

/// OCPP 2.0.1 and 2.1 share the shapes a fleet station uses; one body serves both.
macro_rules! fleet_dialect_2x {
    ($module:ident, $dialect:ident, $token_type:expr) => {
        impl FleetDialect for $module::$dialect {
            fn request(
                state: &mut StationState,
                step: Step,
                now: Timestamp,
            ) -> Option<$module::Request> {
                use $module::*;
                let sample = |register: i64| {
                    // Wh as f64: exact far beyond any register a run reaches.
                    #[allow(clippy::cast_precision_loss)]
                    let value = SampledValue::new(register as f64);
                    vec![MeterValue::new(vec![value], now)]
                };
                let token = |tag: String| IdToken::new(tag, $token_type);
                let evse = |c: u32| {
                    let mut evse = Evse::new(signed(c));
                    evse.connector_id = Some(1);
                    evse
                };
                let request: Request = match step {
                    Step::Boot => {
                        let mut station = ChargingStation::new("fleet".into(), "joule".into());
                        station.serial_number = Some(format!("F{:06}", state.index + 1));
                        station.firmware_version = Some(env!("CARGO_PKG_VERSION").into());
                        BootNotificationRequest::new(station, BootReasonEnum::PowerUp).into()
                    }
                    Step::Heartbeat => HeartbeatRequest::new().into(),
                    Step::Status(c, status) => {
                        let status = match status {
                            Status::Available => ConnectorStatusEnum::Available,
                            Status::Preparing | Status::Charging | Status::Finishing => {
                                ConnectorStatusEnum::Occupied
                            }
                            Status::Unavailable => ConnectorStatusEnum::Unavailable,
                        };
                        StatusNotificationRequest::new(now, status, signed(c), 1).into()
                    }
                    Step::Authorize(c) => AuthorizeRequest::new(token(state.id_tag(c))).into(),
                    Step::Start(c) => {
                        let id_tag = state.id_tag(c);
                        let index = state.index;
                        let connector = state.connector(c)?;
                        connector.sessions += 1;
                        let key = format!("F{:06}-{c}-{}", index + 1, connector.sessions);
                        connector.tx = Some(Tx {
                            csms_id: None,
                            key: key.clone(),
                            seq_no: 1,
                        });
                        let mut info = Transaction::new(key);
                        info.charging_state = Some(ChargingStateEnum::Charging);
                        let mut event = TransactionEventRequest::new(
                            TransactionEventEnum::Started,
                            now,
                            TriggerReasonEnum::Authorized,
                            0,
                            info,
                        );
                        event.evse = Some(evse(c));
                        event.id_token = Some(token(id_tag));
                        event.meter_value = Some(sample(connector.register_wh));
                        event.into()
                    }
                    Step::Meter(c) => {
                        let sample_wh = state.sample_wh;
                        let connector = state.connector(c)?;
                        let tx = connector.tx.as_mut()?;
                        connector.register_wh += sample_wh;
                        let seq_no = tx.seq_no;
                        tx.seq_no += 1;
                        let mut info = Transaction::new(tx.key.clone());
                        info.charging_state = Some(ChargingStateEnum::Charging);
                        let mut event = TransactionEventRequest::new(
                            TransactionEventEnum::Updated,
                            now,
                            TriggerReasonEnum::MeterValuePeriodic,
                            seq_no,
                            info,
                        );
                        event.meter_value = Some(sample(connector.register_wh));
                        event.into()
                    }
                    Step::Stop(c) => {
                        let id_tag = state.id_tag(c);
                        let connector = state.connector(c)?;
                        let tx = connector.tx.as_mut()?;
                        let seq_no = tx.seq_no;
                        tx.seq_no += 1;
                        let mut info = Transaction::new(tx.key.clone());
                        info.stopped_reason = Some(ReasonEnum::Local);
                        info.charging_state = Some(ChargingStateEnum::Idle);
                        let mut event = TransactionEventRequest::new(
                            TransactionEventEnum::Ended,
                            now,
                            TriggerReasonEnum::StopAuthorized,
                            seq_no,
                            info,
                        );
                        event.id_token = Some(token(id_tag));
                        event.meter_value = Some(sample(connector.register_wh));
                        event.into()
                    }
                    Step::SaturationMeter => {
                        state.saturation_wh += 1;
                        MeterValuesRequest::new(1, sample(state.saturation_wh)).into()
                    }
                };
                Some(request)
            }

            fn answer(
                state: &mut StationState,
                step: Step,
                response: &$module::Response,
            ) -> Outcome {
                use $module::*;
                match (step, response) {
                    (Step::Boot, Response::BootNotification(r)) => {
                        if r.status == RegistrationStatusEnum::Accepted {
                            Outcome::Done
                        } else {
                            Outcome::Refused
                        }
                    }
                    (Step::Authorize(_), Response::Authorize(r))
                        if r.id_token_info.status != AuthorizationStatusEnum::Accepted =>
                    {
                        Outcome::Refused
                    }
                    (Step::Start(_), Response::TransactionEvent(_)) => Outcome::TxStarted,
                    (Step::Stop(c), Response::TransactionEvent(_)) => {
                        if let Some(connector) = state.connector(c) {
                            connector.tx = None;
                        }
                        Outcome::TxStopped
                    }
                    _ => Outcome::Done,
                }
            }
        }
    };
}

fleet_dialect_2x!(v201, V201, IdTokenEnum::Iso14443);
fleet_dialect_2x!(v21, V21, "ISO14443".to_string());

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::Trigger;
    use proto_ocpp::OcppRequest;

    fn steps(trigger: Trigger, version: OcppVersion) -> Vec<Step> {
        let mut out = Vec::new();
        expand(trigger, version, |s| out.push(s));
        out
    }

    #[test]
    fn expansions_have_as_many_steps_as_the_trigger_counts() {
        let triggers = [
            Trigger::Heartbeat,
            Trigger::SessionStart(2),
            Trigger::MeterSample(2),
            Trigger::SessionStop(2),
            Trigger::StatusDown(1),
            Trigger::StatusUp(1),
        ];
        for version in [OcppVersion::V16, OcppVersion::V201, OcppVersion::V21] {
            for trigger in triggers {
                let count = u64::try_from(steps(trigger, version).len()).unwrap_or(0);
                assert_eq!(count, trigger.calls(version), "{trigger:?} in {version}");
            }
        }
    }

    /// Every request a 1.6 station builds passes the official schema, and the transaction id
    /// of the StartTransaction answer is used until the stop.
    #[test]
    fn v16_session_requests_are_valid_and_carry_the_transaction_id() {
        let mut state = StationState::new(4, 2, 1000);
        let now = Timestamp::now();
        let mut texts = Vec::new();
        for step in [Step::Boot, Step::Authorize(2), Step::Start(2)] {
            let request = v16::V16::request(&mut state, step, now).expect("request");
            texts.push(serde_json::to_value(&request).expect("json"));
        }
        let answer = v16::Response::StartTransaction(v16::StartTransactionResponse::new(
            v16::IdTagInfo::new(v16::AuthorizationStatus::Accepted),
            77,
        ));
        assert_eq!(
            v16::V16::answer(&mut state, Step::Start(2), &answer),
            Outcome::TxStarted
        );
        let meter = v16::V16::request(&mut state, Step::Meter(2), now).expect("meter");
        let v16::Request::MeterValues(meter) = meter else {
            panic!("not MeterValues: {meter:?}");
        };
        assert_eq!(meter.transaction_id, Some(77));
        assert_eq!(meter.meter_value[0].sampled_value[0].value, "1000");
        let stop = v16::V16::request(&mut state, Step::Stop(2), now).expect("stop");
        let v16::Request::StopTransaction(stop) = stop else {
            panic!("not StopTransaction: {stop:?}");
        };
        assert_eq!((stop.transaction_id, stop.meter_stop), (77, 1000));
        for (action, payload) in [
            (
                v16::MeterValuesRequest::ACTION,
                serde_json::to_value(&meter),
            ),
            (
                v16::StopTransactionRequest::ACTION,
                serde_json::to_value(&stop),
            ),
        ] {
            let payload = payload.expect("json");
            proto_ocpp::codec::decode_request::<v16::V16>(
                action,
                payload,
                proto_ocpp::validate::Mode::Strict,
            )
            .expect("valid");
        }
        // Without a started transaction, nothing is metered or stopped.
        assert!(v16::V16::request(&mut state, Step::Meter(1), now).is_none());
        assert!(v16::V16::request(&mut state, Step::Stop(1), now).is_none());
    }

    #[test]
    fn v201_transaction_events_count_their_sequence() {
        let mut state = StationState::new(0, 1, 500);
        let now = Timestamp::now();
        let mut seq = Vec::new();
        for step in [
            Step::Start(1),
            Step::Meter(1),
            Step::Meter(1),
            Step::Stop(1),
        ] {
            let request = v201::V201::request(&mut state, step, now).expect("request");
            let v201::Request::TransactionEvent(event) = request else {
                panic!("not a TransactionEvent: {request:?}");
            };
            assert_eq!(event.transaction_info.transaction_id, "F000001-1-1");
            let payload = serde_json::to_value(&event).expect("json");
            proto_ocpp::codec::decode_request::<v201::V201>(
                "TransactionEvent",
                payload,
                proto_ocpp::validate::Mode::Strict,
            )
            .expect("valid");
            seq.push(event.seq_no);
        }
        assert_eq!(seq, [0, 1, 2, 3]);
    }
}
