//! `joule demo`: the central system on embedded defaults (SQLite in a temporary directory, a
//! generated API key, loopback ports), and one simulated station per OCPP version charging over a
//! real WebSocket, stopped remotely through the REST API like an operator would; then a two-gun
//! simulated DC charger connected to it over OCPP 1.6, both guns charging at once.

use anyhow::{Context, Result, bail};
use csms::CsmsConfig;
use ocpp_client::{Client, ClientConfig};
use proto_ocpp::{Dialect, Timestamp, v16, v21, v201};
use serde_json::{Value, json};
use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ID_TAG: &str = "04A1B2C3D4";

/// Runs the demo; with `keep_running` the central system stays up afterwards until Ctrl-C.
pub fn run(keep_running: bool) -> Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(demo(keep_running))
}

async fn demo(keep_running: bool) -> Result<ExitCode> {
    let dir = std::env::temp_dir().join(format!("joule-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let api_key = format!(
        "{:016x}{:016x}",
        rand::random::<u64>(),
        rand::random::<u64>()
    );
    let mut config = CsmsConfig::new(vec![api_key.clone()]);
    config.ocpp_listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.api_listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.db = format!("sqlite://{}", dir.join("joule.db").display());
    config.auto_register = true;
    let csms = csms::start(config).await?;
    let api = Api {
        addr: csms.api_addr,
        key: api_key.clone(),
    };
    say(&format!(
        "central system up\n  stations: ws://{}/ocpp/{{stationId}}\n  REST API: http://{}/api/v1 (X-API-Key: {api_key})\n  database: {}",
        csms.ocpp_addr,
        csms.api_addr,
        dir.join("joule.db").display()
    ))?;

    let (status, _) = api
        .request("POST", "/api/v1/tokens", Some(json!({"idTag": ID_TAG})))
        .await?;
    expect_status(status, 201, "creating the id token")?;
    say(&format!("operator: id token {ID_TAG} created"))?;

    let url = format!("ws://{}/ocpp", csms.ocpp_addr);
    charge_v16(&api, &url).await?;
    charge_v2x::<v201::V201>(&api, &url, "JOULE-DEMO-201").await?;
    charge_v2x::<v21::V21>(&api, &url, "JOULE-DEMO-21").await?;

    let (_, list) = api
        .request("GET", "/api/v1/transactions?state=completed", None)
        .await?;
    say("\ncompleted transactions (GET /api/v1/transactions?state=completed):")?;
    for tx in list["transactions"].as_array().into_iter().flatten() {
        say(&format!(
            "  #{:<3} {:<16} connector {} idTag {:<10} {:>8} Wh  stopped: {}",
            tx["id"],
            tx["station"].as_str().unwrap_or("?"),
            tx["connectorId"],
            tx["idTag"].as_str().unwrap_or("-"),
            tx["energyWh"],
            tx["stopReason"].as_str().unwrap_or("-")
        ))?;
    }
    say("\nAll three OCPP versions completed a charging session.")?;

    let charger = charge_on_the_station(&api, &url).await?;

    if keep_running {
        say("The central system and the charger keep running; press Ctrl-C to stop.")?;
        tokio::signal::ctrl_c()
            .await
            .context("cannot wait for Ctrl-C")?;
    }
    charger.shutdown().await;
    csms.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(ExitCode::SUCCESS)
}

const DC_STATION: &str = "JOULE-DEMO-DC";

/// Starts a two-gun simulated DC charger connected to the central system over OCPP 1.6, with the
/// Live Controller API and the simulator's control API: a vehicle on each gun, a remote start
/// on gun 1 through the central system, a local start on gun 2, a remote stop of gun 1 while
/// gun 2 keeps charging, then a local stop.
async fn charge_on_the_station(csms: &Api, url: &str) -> Result<station::Running> {
    let gun = |n: u32| station::GunSpec {
        gun: n,
        label: format!("Gun {}", if n == 1 { "A" } else { "B" }),
        backend: "sim".into(),
        max_voltage: hal::Volts(1000.0),
        max_current: hal::Amps(200.0),
        max_power: hal::Watts(150_000.0),
        pecc_url: None,
    };
    let running = station::start(
        &[gun(1), gun(2)],
        SocketAddr::from(([127, 0, 0, 1], 0)),
        None,
    )
    .await?;
    let mut settings = station::ocpp16::OcppSettings::new(url, DC_STATION);
    settings.plug_sensing = true;
    settings.keys = vec![("MeterValueSampleInterval".into(), "2".into())];
    let charge_point = station::ocpp16::start(settings, running.guns.clone()).await?;
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let sim_addr = listener.local_addr()?;
    let app = std::sync::Arc::new(station::sim::SimApp {
        charge_point: charge_point.clone(),
        guns: running.guns.clone(),
        settings: json!({"id": DC_STATION, "connectors": 2}),
    });
    tokio::spawn(async move { axum::serve(listener, station::sim::router(app)).await });
    let base = format!("http://{}", running.http_addr);
    say(&format!(
        "\n=== Two-gun simulated charger ===\n  OCPP 1.6 as {DC_STATION}\n  Live Controller API: {base} (gun 1), {base}/guns/2/... (gun 2)\n  simulator control:   http://{sim_addr}/plug/{{n}}, /local_start/{{n}}?idTag=..., /local_stop/{{n}}, /unplug/{{n}}, /info, /metrics"
    ))?;
    let sim = Api {
        addr: sim_addr,
        key: String::new(),
    };
    wait_for(&charge_point, "the charger to be accepted", |i| {
        i.registration == "Accepted"
    })
    .await?;
    for n in [1, 2] {
        let (status, _) = sim.request("POST", &format!("/plug/{n}"), None).await?;
        expect_status(status, 200, "plugging a vehicle in")?;
    }
    say("vehicles plugged into guns 1 and 2")?;
    let (status, body) = csms
        .request(
            "POST",
            "/api/v1/start",
            Some(json!({"cpid": DC_STATION, "connectorId": 1, "idTag": ID_TAG})),
        )
        .await?;
    expect_status(status, 200, "remote start")?;
    say(&format!(
        "operator: remote start on gun 1 → the charger answered {}",
        body["response"]["status"]
    ))?;
    let (status, _) = sim
        .request("POST", &format!("/local_start/2?idTag={ID_TAG}"), None)
        .await?;
    expect_status(status, 200, "local start")?;
    say(&format!("driver: id tag {ID_TAG} shown at gun 2"))?;
    let info = wait_for(&charge_point, "both guns to charge", |i| {
        i.connectors
            .iter()
            .all(|c| c.status == "Charging" && c.power_w > 15_000.0)
    })
    .await?;
    for c in &info.connectors {
        say(&format!(
            "gun {}: {} transaction {} at {:.1} kW",
            c.connector,
            c.status,
            c.transaction_id.unwrap_or(-1),
            c.power_w / 1000.0
        ))?;
    }
    // Let both charge a moment.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let (status, _) = csms
        .request(
            "POST",
            "/api/v1/stop",
            Some(json!({"cpid": DC_STATION, "connectorId": 1})),
        )
        .await?;
    expect_status(status, 200, "remote stop")?;
    let info = wait_for(&charge_point, "gun 1 to stop", |i| {
        i.connectors[0].transaction_id.is_none()
    })
    .await?;
    say(&format!(
        "operator: remote stop on gun 1 → gun 1 {}, gun 2 still {}",
        info.connectors[0].status, info.connectors[1].status
    ))?;
    let (status, _) = sim.request("POST", "/local_stop/2", None).await?;
    expect_status(status, 200, "local stop")?;
    wait_for(&charge_point, "everything to be delivered", |i| {
        i.queued_messages == 0 && i.connectors.iter().all(|c| c.transaction_id.is_none())
    })
    .await?;
    for n in [1, 2] {
        let (status, _) = sim.request("POST", &format!("/unplug/{n}"), None).await?;
        expect_status(status, 200, "unplugging")?;
    }
    let (_, list) = csms
        .request(
            "GET",
            &format!("/api/v1/transactions?station={DC_STATION}&state=completed"),
            None,
        )
        .await?;
    for tx in list["transactions"].as_array().into_iter().flatten() {
        say(&format!(
            "  #{:<3} {:<16} gun {} {:>8} Wh  stopped: {}",
            tx["id"],
            DC_STATION,
            tx["connectorId"],
            tx["energyWh"],
            tx["stopReason"].as_str().unwrap_or("-")
        ))?;
    }
    say("Both guns charged at once through the central system.")?;
    Ok(running)
}

/// Polls the charge point until `done` holds (at most a minute).
async fn wait_for(
    charge_point: &station::ocpp16::ChargePoint,
    what: &str,
    done: impl Fn(&station::ocpp16::Info) -> bool,
) -> Result<station::ocpp16::Info> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let info = charge_point.info().await?;
        if done(&info) {
            return Ok(info);
        }
        if tokio::time::Instant::now() > deadline {
            bail!("timed out waiting for {what}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

fn say(line: &str) -> Result<()> {
    writeln!(std::io::stdout().lock(), "{line}")?;
    Ok(())
}

fn expect_status(got: u16, want: u16, what: &str) -> Result<()> {
    if got != want {
        bail!("{what}: HTTP {got}, expected {want}");
    }
    Ok(())
}

fn now() -> Timestamp {
    Timestamp::now()
}

/// The operator's side: the REST API over plain HTTP/1.1.
struct Api {
    addr: SocketAddr,
    key: String,
}

impl Api {
    async fn request(&self, method: &str, path: &str, body: Option<Value>) -> Result<(u16, Value)> {
        let mut stream = tokio::net::TcpStream::connect(self.addr).await?;
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nX-API-Key: {}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.addr,
            self.key,
            body.len()
        );
        stream.write_all(request.as_bytes()).await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        let text = String::from_utf8_lossy(&raw);
        let (head, body) = text
            .split_once("\r\n\r\n")
            .context("malformed HTTP response")?;
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .context("malformed HTTP status")?;
        let json = serde_json::from_str(body).unwrap_or(Value::Null);
        Ok((status, json))
    }

    /// Asks for a remote stop of the transaction on connector 1 of `station`.
    async fn remote_stop(&self, station: &str) -> Result<Value> {
        let (status, body) = self
            .request(
                "POST",
                "/api/v1/stop",
                Some(json!({"cpid": station, "connectorId": 1})),
            )
            .await?;
        expect_status(status, 200, "remote stop")?;
        Ok(body)
    }
}

/// Answers the central system's next CALL with `respond`, returning its action.
async fn answer_next<D: Dialect>(
    client: &mut Client<D>,
    respond: impl FnOnce(&D::Request) -> D::Response,
) -> Result<String> {
    let call = client.next_call().await.context("connection closed")?;
    let action = D::action_name(D::request_action(&call.request)).to_string();
    let response = respond(&call.request);
    call.respond(response);
    Ok(action)
}

async fn charge_v16(api: &Api, url: &str) -> Result<()> {
    use v16::*;
    let station = "JOULE-DEMO-16";
    say(&format!("\n=== OCPP 1.6: station {station} ==="))?;
    let mut client = Client::<V16>::connect(ClientConfig::new(url, station)).await?;
    let mut boot = BootNotificationRequest::new("joule".into(), "DC-150".into());
    boot.firmware_version = Some(env!("CARGO_PKG_VERSION").into());
    let Response::BootNotification(booted) = client.call(boot).await? else {
        bail!("unexpected answer")
    };
    say(&format!(
        "BootNotification -> {} (heartbeat every {} s)",
        booted.status, booted.interval
    ))?;
    client
        .call(StatusNotificationRequest::new(
            1,
            ChargePointErrorCode::NoError,
            ChargePointStatus::Preparing,
        ))
        .await?;
    let Response::Authorize(auth) = client.call(AuthorizeRequest::new(ID_TAG.into())).await? else {
        bail!("unexpected answer")
    };
    say(&format!(
        "Authorize {ID_TAG} -> {}",
        auth.id_tag_info.status
    ))?;
    let Response::StartTransaction(started) = client
        .call(StartTransactionRequest::new(
            1,
            ID_TAG.into(),
            120_500,
            now(),
        ))
        .await?
    else {
        bail!("unexpected answer")
    };
    let tx = started.transaction_id;
    say(&format!("StartTransaction -> transaction {tx}"))?;
    client
        .call(StatusNotificationRequest::new(
            1,
            ChargePointErrorCode::NoError,
            ChargePointStatus::Charging,
        ))
        .await?;
    for (wh, watts) in [
        (125_500, "149800"),
        (138_000, "150100"),
        (150_700, "149600"),
    ] {
        let sample = |value: String, measurand, unit| {
            let mut s = SampledValue::new(value);
            s.measurand = Some(measurand);
            s.unit = Some(unit);
            s
        };
        let mut meter = MeterValuesRequest::new(
            1,
            vec![MeterValue::new(
                now(),
                vec![
                    sample(
                        wh.to_string(),
                        Measurand::EnergyActiveImportRegister,
                        UnitOfMeasure::Wh,
                    ),
                    sample(watts.into(), Measurand::PowerActiveImport, UnitOfMeasure::W),
                ],
            )],
        );
        meter.transaction_id = Some(tx);
        client.call(meter).await?;
    }
    say("MeterValues x3 (energy register, power)")?;

    let stop = api.remote_stop(station);
    let station_side = answer_next(&mut client, |_| {
        RemoteStopTransactionResponse::new(RemoteStartStopStatus::Accepted).into()
    });
    let (stopped, action) = tokio::join!(stop, station_side);
    say(&format!(
        "operator: POST /api/v1/stop -> station answered {} to {}",
        stopped?["response"]["status"], action?
    ))?;
    let mut stop = StopTransactionRequest::new(150_700, now(), tx);
    stop.reason = Some(Reason::Remote);
    stop.id_tag = Some(ID_TAG.into());
    client.call(stop).await?;
    client
        .call(StatusNotificationRequest::new(
            1,
            ChargePointErrorCode::NoError,
            ChargePointStatus::Available,
        ))
        .await?;
    say("StopTransaction sent, connector Available")?;
    client.close().await;
    Ok(())
}

/// Common to OCPP 2.0.1 and 2.1: the two versions have the same shapes for these messages.
trait V2x: Dialect {
    fn boot() -> Self::Request;
    fn event(seq: i32, kind: &str, wh: f64) -> Self::Request;
    fn stop_accepted() -> Self::Response;
}

macro_rules! v2x {
    ($module:ident, $dialect:ident) => {
        impl V2x for $module::$dialect {
            fn boot() -> Self::Request {
                use $module::*;
                BootNotificationRequest::new(ChargingStation::new("DC-150".into(), "joule".into()), BootReasonEnum::PowerUp).into()
            }

            fn event(seq: i32, kind: &str, wh: f64) -> Self::Request {
                use $module::*;
                let (event, trigger) = match kind {
                    "Started" => (TransactionEventEnum::Started, TriggerReasonEnum::Authorized),
                    "Ended" => (TransactionEventEnum::Ended, TriggerReasonEnum::RemoteStop),
                    _ => (TransactionEventEnum::Updated, TriggerReasonEnum::MeterValuePeriodic),
                };
                let mut info = Transaction::new("TX-DEMO-0001".into());
                if kind == "Ended" {
                    info.stopped_reason = Some(ReasonEnum::Remote);
                }
                let mut sample = SampledValue::new(wh);
                sample.measurand = Some(MeasurandEnum::EnergyActiveImportRegister);
                let mut tx = TransactionEventRequest::new(event, now(), trigger, seq, info);
                tx.meter_value = Some(vec![MeterValue::new(vec![sample], now())]);
                if seq == 0 {
                    let mut evse = Evse::new(1);
                    evse.connector_id = Some(1);
                    tx.evse = Some(evse);
                    // 2.0.1 types the token kind as an enumeration, 2.1 as a string; JSON fits both.
                    tx.id_token = serde_json::from_value(json!({"idToken": ID_TAG, "type": "ISO14443"})).ok();
                }
                tx.into()
            }

            fn stop_accepted() -> Self::Response {
                use $module::*;
                RequestStopTransactionResponse::new(RequestStartStopStatusEnum::Accepted).into()
            }
        }
    };
}

v2x!(v201, V201);
v2x!(v21, V21);

async fn charge_v2x<D: V2x>(api: &Api, url: &str, station: &str) -> Result<()> {
    say(&format!("\n=== OCPP {}: station {station} ===", D::VERSION))?;
    let mut client = Client::<D>::connect(ClientConfig::new(url, station)).await?;
    client.call(D::boot()).await?;
    say("BootNotification -> accepted")?;
    client.call(D::event(0, "Started", 120_500.0)).await?;
    client.call(D::event(1, "Updated", 131_000.0)).await?;
    client.call(D::event(2, "Updated", 150_700.0)).await?;
    say("TransactionEvent Started, Updated x2 (energy register)")?;
    let stop = api.remote_stop(station);
    let station_side = answer_next(&mut client, |_| D::stop_accepted());
    let (stopped, action) = tokio::join!(stop, station_side);
    say(&format!(
        "operator: POST /api/v1/stop -> station answered {} to {}",
        stopped?["response"]["status"], action?
    ))?;
    client.call(D::event(3, "Ended", 150_700.0)).await?;
    say("TransactionEvent Ended")?;
    client.close().await;
    Ok(())
}
