//! The admin REST API: parameters read and changed at runtime (validated, in force at once),
//! diagnostics with the delivered energy, the PECC's own requests to an SECC, and the bearer
//! token.

mod support;

use serde_json::json;
use support::{Secc, http, start};

#[tokio::test(start_paused = true)]
async fn parameters_are_read_and_updated_without_restart() {
    let pecc = start(2, |_| {}).await;
    let addr = pecc.addr;
    let (code, parameters) = http(addr, "GET", "/api/v1/guns/2/parameters", None, None).await;
    assert_eq!(code, 200);
    assert_eq!(parameters["limitVoltageMax"], 1000.0);

    let mut secc = Secc::connect(&pecc.gun_url(2).expect("gun 2")).await;
    assert_eq!(
        secc.request("configuration", json!({})).await["payload"]["limitCurrentMax"],
        250.0
    );

    // A misspelt key from seed 000 is accepted; the change is in force for the next request.
    let update =
        json!({"limitPowermax": 50000, "limitCurrentMax": 125.5, "manufacturer": "joule test"});
    let (code, parameters) = http(
        addr,
        "PUT",
        "/api/v1/guns/2/parameters",
        Some(&update),
        None,
    )
    .await;
    assert_eq!(code, 200, "{parameters}");
    assert_eq!(parameters["limitPowerMax"], 50000.0);
    let limits = secc.request("configuration", json!({})).await["payload"].clone();
    assert_eq!(limits["limitPowerMax"], 50000.0);
    assert_eq!(limits["limitCurrentMax"], 125.5);
    assert_eq!(limits["manufacturer"], "joule test");
    // Gun 1 is untouched.
    let (_, gun1) = http(addr, "GET", "/api/v1/guns/1/parameters", None, None).await;
    assert_eq!(gun1["limitCurrentMax"], 250.0);
    assert_eq!(gun1["manufacturer"], "joule");

    for (body, expected) in [
        (json!({"limitVoltageMin": 2000}), "limitVoltageMin"),
        (
            json!({"limitDischargePowerMax": 10}),
            "limitDischargePowerMax",
        ),
        (json!({"limitVoltagMax": 900}), "limitVoltagMax"),
        (json!({"floatValues": "yes"}), "floatValues"),
    ] {
        let (code, error) = http(addr, "PUT", "/api/v1/guns/2/parameters", Some(&body), None).await;
        assert_eq!(code, 422, "{body}");
        assert!(
            error["message"]
                .as_str()
                .is_some_and(|m| m.contains(expected)),
            "{error}"
        );
    }
    let (_, unchanged) = http(addr, "GET", "/api/v1/guns/2/parameters", None, None).await;
    assert_eq!(
        unchanged["limitVoltageMin"], 0.0,
        "refused updates change nothing"
    );
    let (code, _) = http(addr, "GET", "/api/v1/guns/3/parameters", None, None).await;
    assert_eq!(code, 404);

    // floatValues false: the next connection of that gun gets integers only (section 10).
    let (code, _) = http(
        addr,
        "PUT",
        "/api/v1/guns/1/parameters",
        Some(&json!({"floatValues": false})),
        None,
    )
    .await;
    assert_eq!(code, 200);
    let mut integer_secc = Secc::connect(&pecc.gun_url(1).expect("gun 1")).await;
    let status = integer_secc.next_status().await;
    assert!(
        status["temperature"].is_i64() && status["measuredVoltage"].is_i64(),
        "{status}"
    );
    let limits = integer_secc.request("configuration", json!({})).await["payload"].clone();
    assert_eq!(limits["floatValues"], false);
    assert!(limits["limitVoltageMax"].is_i64(), "{limits}");
    let (_, parameters) = http(
        addr,
        "PUT",
        "/api/v1/guns/1/parameters",
        Some(&json!({"limitCurrentMax": 100.5})),
        None,
    )
    .await;
    assert_eq!(parameters["limitCurrentMax"], 100.5);
    let limits = integer_secc.request("configuration", json!({})).await["payload"].clone();
    assert_eq!(limits["limitCurrentMax"], 101, "rounded on the wire");

    let (code, guns) = http(addr, "GET", "/api/v1/guns", None, None).await;
    assert_eq!(code, 200);
    assert_eq!(guns.as_array().map(Vec::len), Some(2));
    assert_eq!(guns[1]["connected"], true);
    assert_eq!(guns[0]["connected"], true);
    assert_eq!(guns[1]["phase"], "standby");
    let (code, modules) = http(addr, "GET", "/api/v1/modules", None, None).await;
    assert_eq!(code, 200);
    assert_eq!(modules.as_array().map(Vec::len), Some(12));
    pecc.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn the_gun_view_reports_the_energy_delivered() {
    let pecc = start(2, |_| {}).await;
    let addr = pecc.addr;
    let (code, view) = http(addr, "GET", "/api/v1/guns/1", None, None).await;
    assert_eq!(code, 200);
    assert_eq!(view["energyWh"], 0.0);
    assert_eq!(view["sessionEnergyWh"], 0.0);
    let mut diagnostics = pecc.shared.hub.subscribe();

    let mut secc = Secc::connect(&pecc.gun_url(1).expect("gun 1")).await;
    secc.charge(100.0).await;
    let (_, before) = http(addr, "GET", "/api/v1/guns/1", None, None).await;
    let volts = secc.next_status().await["measuredVoltage"]
        .as_f64()
        .expect("a voltage");
    // Read statuses for 36 s of steady charging: about V × 100 A × 0.01 h.
    let start = tokio::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_secs(36) {
        secc.next_status().await;
    }
    let (code, after) = http(addr, "GET", "/api/v1/guns/1", None, None).await;
    assert_eq!(code, 200);
    let delivered = after["energyWh"].as_f64().expect("energyWh")
        - before["energyWh"].as_f64().expect("energyWh");
    let expected = volts * 100.0 * 0.01;
    assert!(
        (delivered - expected).abs() <= expected * 0.01,
        "{delivered} Wh delivered, {expected} Wh expected"
    );
    assert!(
        after["sessionEnergyWh"]
            .as_f64()
            .is_some_and(|e| e > 0.0 && e <= after["energyWh"].as_f64().unwrap_or(0.0))
    );
    let (_, idle) = http(addr, "GET", "/api/v1/guns/2", None, None).await;
    assert_eq!(idle["energyWh"], 0.0, "per gun");

    // The splitdash diagnostics carry the same register.
    let found = tokio::time::timeout(std::time::Duration::from_secs(3), async {
        loop {
            let record = diagnostics.recv().await.expect("records");
            let record: serde_json::Value = serde_json::from_str(&record).expect("JSON");
            if record["type"] == "diagnostics" && record["gun"] == 1 {
                return record;
            }
        }
    })
    .await
    .expect("a diagnostics record of gun 1");
    assert!(
        found["energyWh"].as_f64().is_some_and(|e| e > 0.0),
        "{found}"
    );
    pecc.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn pecc_requests_reach_the_secc_and_come_back() {
    let pecc = start(2, |_| {}).await;
    let addr = pecc.addr;
    let mut secc = Secc::connect(&pecc.gun_url(1).expect("gun 1")).await;
    secc.next_status().await;

    let asking = tokio::spawn(async move {
        http(
            addr,
            "POST",
            "/api/v1/guns/1/inputs",
            Some(&json!({"inputIdentifiers": ["d1", "t3"]})),
            None,
        )
        .await
    });
    let request = secc.next().await.expect("getInput arrives");
    assert_eq!(request["type"], "request");
    assert_eq!(request["kind"], "getInput");
    assert_eq!(request["payload"]["inputIdentifiers"], json!(["d1", "t3"]));
    let seq = request["sequenceNumber"].clone();
    secc.send(
        &json!({"type": "response", "kind": "getInput", "sequenceNumber": seq,
                      "payload": {"inputValues": {"d1": 1, "t3": 40.5}}}),
    )
    .await;
    let (code, body) = asking.await.expect("answered");
    assert_eq!(code, 200);
    assert_eq!(body["inputValues"], json!({"d1": 1, "t3": 40.5}));

    // The next request numbers on; an error reply of the SECC becomes 502.
    let asking = tokio::spawn(async move {
        http(
            addr,
            "POST",
            "/api/v1/guns/1/outputs",
            Some(&json!({"outputValues": {"d9": 1}})),
            None,
        )
        .await
    });
    let request = secc.next().await.expect("setOutput arrives");
    assert_eq!(
        request["sequenceNumber"],
        seq.as_u64().map(|n| n + 1).expect("number")
    );
    secc.send(
        &json!({"type": "error", "kind": "setOutput", "sequenceNumber": request["sequenceNumber"],
                      "payload": {"errorCategory": "value", "errorDetails": "no output d9"}}),
    )
    .await;
    let (code, body) = asking.await.expect("answered");
    assert_eq!(code, 502);
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("no output d9"))
    );

    // No answer within 500 ms: 504.
    let asking = tokio::spawn(async move {
        http(addr, "POST", "/api/v1/guns/1/stop-charging", None, None).await
    });
    let request = secc.next().await.expect("stopCharging arrives");
    assert_eq!(request["kind"], "stopCharging");
    let (code, _) = asking.await.expect("answered");
    assert_eq!(code, 504);

    let (code, body) = http(addr, "POST", "/api/v1/guns/2/stop-charging", None, None).await;
    assert_eq!(code, 409, "{body}");
    pecc.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn the_admin_token_guards_every_route() {
    let pecc = start(1, |c| c.admin_token = Some("s3cret".into())).await;
    let addr = pecc.addr;
    let (code, _) = http(addr, "GET", "/api/v1/guns/1/parameters", None, None).await;
    assert_eq!(code, 401);
    let (code, _) = http(
        addr,
        "GET",
        "/api/v1/guns/1/parameters",
        None,
        Some("wrong"),
    )
    .await;
    assert_eq!(code, 401);
    let (code, _) = http(
        addr,
        "PUT",
        "/api/v1/guns/1/parameters",
        Some(&json!({"limitCurrentMax": 10})),
        None,
    )
    .await;
    assert_eq!(code, 401);
    let (code, body) = http(
        addr,
        "GET",
        "/api/v1/guns/1/parameters",
        None,
        Some("s3cret"),
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(body["limitCurrentMax"], 250.0);
    let (code, _) = http(addr, "GET", "/health", None, None).await;
    assert_eq!(code, 200, "health needs no token");
    pecc.shutdown().await;
}
