//! Decode + validate + encode of an OCPP 1.6 MeterValues CALL with four sampled values: the work
//! a central system does for the most frequent message of a charging session.

use criterion::{Criterion, criterion_group, criterion_main};
use proto_ocpp::validate::Mode;
use proto_ocpp::{codec, frame, v16};
use std::hint::black_box;

/// The allocator of the `joule` binary, so the figure is the one the services see.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const METER_VALUES: &str = r#"[2,"4f1c2a9e-8b7d-4c3e-9a1f-0d2e3b4c5a6f","MeterValues",{"connectorId":1,"transactionId":170412,"meterValue":[{"timestamp":"2026-11-21T07:06:41.000Z","sampledValue":[{"value":"128500","context":"Sample.Periodic","measurand":"Energy.Active.Import.Register","unit":"Wh"},{"value":"149800","context":"Sample.Periodic","measurand":"Power.Active.Import","unit":"W"},{"value":"402.5","context":"Sample.Periodic","measurand":"Voltage","unit":"V"},{"value":"372.2","context":"Sample.Periodic","measurand":"Current.Import","unit":"A"}]}]}]"#;

/// One full round: frame decode, schema validation, typed decode, typed encode.
fn round(text: &str) -> String {
    let Ok(frame::Frame::Call {
        id,
        action,
        payload,
    }) = frame::decode(text, proto_ocpp::OcppVersion::V16)
    else {
        panic!("benchmark frame is a CALL")
    };
    let decoded =
        codec::decode_request::<v16::V16>(&action, payload, Mode::Strict).expect("valid payload");
    frame::encode_call(&id, &action, &decoded.message).expect("encodes")
}

fn bench(c: &mut Criterion) {
    // Compile the validator outside the measurement, as a long-running service would.
    let encoded = round(METER_VALUES);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&encoded).expect("JSON"),
        serde_json::from_str::<serde_json::Value>(METER_VALUES).expect("JSON")
    );
    c.bench_function("meter_values_call_decode_validate_encode", |b| {
        b.iter(|| round(black_box(METER_VALUES)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
