//! `joule demo`: a charging station and a central system exchange a full charging session in
//! each OCPP version, through the shared protocol core, and every frame is printed.
//!
//! Both ends are [`Session`]s wired back to back in memory; the station and central-system
//! services replace these scripted ends as they arrive.

use anyhow::{Context, Result, bail};
use proto_ocpp::session::{Config, Event, Role, Session};
use proto_ocpp::{Dialect, Timestamp, v16, v21, v201};
use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

pub fn run() -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    session_v16(&mut out)?;
    session_v201(&mut out)?;
    session_v21(&mut out)?;
    writeln!(
        out,
        "\nAll three OCPP versions completed a charging session."
    )?;
    Ok(ExitCode::SUCCESS)
}

/// A station and a central system connected back to back.
struct Link<'a, D: Dialect> {
    station: Session<D>,
    csms: Session<D>,
    out: &'a mut dyn Write,
}

impl<'a, D: Dialect> Link<'a, D> {
    fn new(out: &'a mut dyn Write) -> Result<Self> {
        writeln!(
            out,
            "\n=== OCPP {} ({}) ===",
            D::VERSION,
            D::VERSION.subprotocol()
        )?;
        let mut station = Config::new(Role::ChargingStation);
        station.id_prefix = "cs-".into();
        let mut csms = Config::new(Role::CentralSystem);
        csms.id_prefix = "ms-".into();
        Ok(Self {
            station: Session::new(station),
            csms: Session::new(csms),
            out,
        })
    }

    /// Moves frames both ways until neither end has anything to send.
    fn flush(&mut self) -> Result<()> {
        loop {
            let now = Instant::now();
            if let Some(text) = self.station.poll_transmit() {
                writeln!(self.out, "station -> csms  {text}")?;
                self.csms.handle_text(&text, now);
            } else if let Some(text) = self.csms.poll_transmit() {
                writeln!(self.out, "csms -> station  {text}")?;
                self.station.handle_text(&text, now);
            } else {
                return Ok(());
            }
        }
    }

    /// The station calls; the central system answers with `answer`.
    fn station_calls(
        &mut self,
        request: impl Into<D::Request>,
        answer: impl FnOnce(&D::Request) -> D::Response,
    ) -> Result<D::Response> {
        self.station.call(request, Instant::now())?;
        self.flush()?;
        let (id, request) = expect_call(&mut self.csms)?;
        self.csms.respond(&id, answer(&request))?;
        self.flush()?;
        expect_response(&mut self.station)
    }

    /// The central system calls; the station answers with `answer`.
    fn csms_calls(
        &mut self,
        request: impl Into<D::Request>,
        answer: impl FnOnce(&D::Request) -> D::Response,
    ) -> Result<D::Response> {
        self.csms.call(request, Instant::now())?;
        self.flush()?;
        let (id, request) = expect_call(&mut self.station)?;
        self.station.respond(&id, answer(&request))?;
        self.flush()?;
        expect_response(&mut self.csms)
    }

    /// The station sends a broken frame; the central system refuses it with a CALLERROR.
    fn station_sends_raw(&mut self, text: &str) -> Result<()> {
        writeln!(self.out, "station -> csms  {text}")?;
        self.csms.handle_text(text, Instant::now());
        while self.csms.poll_event().is_some() {}
        self.flush()
    }
}

fn expect_call<D: Dialect>(session: &mut Session<D>) -> Result<(String, D::Request)> {
    match session.poll_event() {
        Some(Event::Call { id, request, .. }) => Ok((id, request)),
        other => bail!("expected a CALL, got {other:?}"),
    }
}

fn expect_response<D: Dialect>(session: &mut Session<D>) -> Result<D::Response> {
    match session.poll_event() {
        Some(Event::Response { response, .. }) => Ok(response),
        other => bail!("expected a response, got {other:?}"),
    }
}

fn now() -> Timestamp {
    Timestamp::now()
}

fn session_v16(out: &mut dyn Write) -> Result<()> {
    use v16::*;
    let mut link = Link::<V16>::new(out)?;
    let mut boot = BootNotificationRequest::new("joule".into(), "DC-150".into());
    boot.firmware_version = Some(env!("CARGO_PKG_VERSION").into());
    link.station_calls(boot, |_| {
        BootNotificationResponse::new(RegistrationStatus::Accepted, now(), 300).into()
    })?;
    link.station_calls(
        StatusNotificationRequest::new(
            1,
            ChargePointErrorCode::NoError,
            ChargePointStatus::Available,
        ),
        |_| StatusNotificationResponse::new().into(),
    )?;
    let accepted = || IdTagInfo::new(AuthorizationStatus::Accepted);
    link.station_calls(AuthorizeRequest::new("04A1B2C3D4".into()), |_| {
        AuthorizeResponse::new(accepted()).into()
    })?;
    let started = link.station_calls(
        StartTransactionRequest::new(1, "04A1B2C3D4".into(), 120_500, now()),
        |_| StartTransactionResponse::new(accepted(), 1).into(),
    )?;
    let Response::StartTransaction(started) = started else {
        bail!("StartTransaction was answered with {started:?}")
    };
    let transaction = started.transaction_id;
    let sample = |value: &str, measurand, unit| {
        let mut s = SampledValue::new(value.into());
        s.measurand = Some(measurand);
        s.unit = Some(unit);
        s.context = Some(ReadingContext::SamplePeriodic);
        s
    };
    let mut meter = MeterValuesRequest::new(
        1,
        vec![MeterValue::new(
            now(),
            vec![
                sample(
                    "128500",
                    Measurand::EnergyActiveImportRegister,
                    UnitOfMeasure::Wh,
                ),
                sample("149800", Measurand::PowerActiveImport, UnitOfMeasure::W),
                sample("402.5", Measurand::Voltage, UnitOfMeasure::V),
                sample("372.2", Measurand::CurrentImport, UnitOfMeasure::A),
            ],
        )],
    );
    meter.transaction_id = Some(transaction);
    link.station_calls(meter, |_| MeterValuesResponse::new().into())?;
    link.csms_calls(
        TriggerMessageRequest::new(MessageTrigger::Heartbeat),
        |_| TriggerMessageResponse::new(TriggerMessageStatus::Accepted).into(),
    )?;
    link.station_calls(HeartbeatRequest::new(), |_| {
        HeartbeatResponse::new(now()).into()
    })?;
    let mut stop = StopTransactionRequest::new(150_700, now(), transaction);
    stop.reason = Some(Reason::Local);
    link.station_calls(stop, |_| StopTransactionResponse::new().into())?;
    link.station_sends_raw(r#"[2,"cs-99","Authorize",{"idTag":"A-TAG-MUCH-LONGER-THAN-TWENTY"}]"#)?;
    writeln!(link.out, "energy delivered: {} Wh", 150_700 - 120_500)?;
    Ok(())
}

fn session_v201(out: &mut dyn Write) -> Result<()> {
    use v201::*;
    let mut link = Link::<V201>::new(out)?;
    let station = ChargingStation::new("DC-150".into(), "joule".into());
    link.station_calls(
        BootNotificationRequest::new(station, BootReasonEnum::PowerUp),
        |_| BootNotificationResponse::new(now(), 300, RegistrationStatusEnum::Accepted).into(),
    )?;
    link.station_calls(
        StatusNotificationRequest::new(now(), ConnectorStatusEnum::Occupied, 1, 1),
        |_| StatusNotificationResponse::new().into(),
    )?;
    let token = IdToken::new("04A1B2C3D4".into(), IdTokenEnum::Iso14443);
    let energy = |wh: f64| {
        let mut s = SampledValue::new(wh);
        s.measurand = Some(MeasurandEnum::EnergyActiveImportRegister);
        vec![MeterValue::new(vec![s], now())]
    };
    for (seq, event, trigger, wh) in [
        (
            0,
            TransactionEventEnum::Started,
            TriggerReasonEnum::Authorized,
            120_500.0,
        ),
        (
            1,
            TransactionEventEnum::Updated,
            TriggerReasonEnum::MeterValuePeriodic,
            128_500.0,
        ),
        (
            2,
            TransactionEventEnum::Ended,
            TriggerReasonEnum::StopAuthorized,
            150_700.0,
        ),
    ] {
        let mut tx = TransactionEventRequest::new(
            event,
            now(),
            trigger,
            seq,
            Transaction::new("tx-0001".into()),
        );
        tx.meter_value = Some(energy(wh));
        if seq == 0 {
            tx.id_token = Some(token.clone());
            tx.evse = Some(Evse::new(1));
        }
        link.station_calls(tx, |_| TransactionEventResponse::new().into())?;
    }
    link.station_calls(HeartbeatRequest::new(), |_| {
        HeartbeatResponse::new(now()).into()
    })
    .context("heartbeat")?;
    Ok(())
}

fn session_v21(out: &mut dyn Write) -> Result<()> {
    use v21::*;
    let mut link = Link::<V21>::new(out)?;
    let station = ChargingStation::new("DC-150".into(), "joule".into());
    link.station_calls(
        BootNotificationRequest::new(station, BootReasonEnum::PowerUp),
        |_| BootNotificationResponse::new(now(), 300, RegistrationStatusEnum::Accepted).into(),
    )?;
    let mut tx = TransactionEventRequest::new(
        TransactionEventEnum::Started,
        now(),
        TriggerReasonEnum::CablePluggedIn,
        0,
        Transaction::new("tx-0002".into()),
    );
    tx.evse = Some(Evse::new(1));
    link.station_calls(tx, |_| TransactionEventResponse::new().into())?;
    let stream = NotifyPeriodicEventStreamRequest::new(
        vec![
            StreamDataElement::new(0.0, "402.5".into()),
            StreamDataElement::new(0.2, "402.9".into()),
        ],
        1,
        0,
        now(),
    );
    link.station.send(stream)?;
    link.flush()?;
    match link.csms.poll_event() {
        Some(Event::Send { .. }) => {}
        other => bail!("expected the SEND, got {other:?}"),
    }
    link.station_calls(HeartbeatRequest::new(), |_| {
        HeartbeatResponse::new(now()).into()
    })?;
    Ok(())
}
