//! The `joule` command as operators run it: `ocpp check` on logs (one line per violation, exit
//! code 1 when any frame is invalid, 0 when all are valid, 2 on usage errors) and `demo`.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn joule(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_joule"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("joule starts");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(stdin.as_bytes())
        .expect("stdin accepts the log");
    child.wait_with_output().expect("joule exits")
}

const VALID_LOG: &str = r#"2026-11-21 07:00:00.120 SEND [2,"b1","BootNotification",{"chargingStation":{"model":"DC-150","vendorName":"joule"},"reason":"PowerUp"}]
2026-11-21 07:00:00.190 RECV [3,"b1",{"currentTime":"2026-11-21T07:00:00.190Z","interval":300,"status":"Accepted"}]
2026-11-21 07:00:05.000 RECV [2,"m1","GetVariables",{"getVariableData":[{"component":{"name":"OCPPCommCtrlr"},"variable":{"name":"HeartbeatInterval"}}]}]
2026-11-21 07:00:05.020 SEND [3,"m1",{"getVariableResult":[{"attributeStatus":"Accepted","attributeValue":"300","component":{"name":"OCPPCommCtrlr"},"variable":{"name":"HeartbeatInterval"}}]}]
"#;

#[test]
fn a_valid_log_exits_0_and_prints_nothing() {
    let out = joule(&["ocpp", "check", "--ocpp", "2.0.1", "-"], VALID_LOG);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("4 frames checked against OCPP 2.0.1: 0 invalid")
    );
}

#[test]
fn violations_are_listed_and_exit_1() {
    let log = format!(
        "{VALID_LOG}{}\n{}\n",
        r#"[2,"t1","TransactionEvent",{"eventType":"Started","timestamp":"2026-11-21T07:01:00","triggerReason":"Authorized","seqNo":0,"transactionInfo":{"transactionId":"x"}}]"#,
        r#"[3,"t1",{"totalCost":"free"}]"#
    );
    let out = joule(&["ocpp", "check", "--ocpp", "2.0.1"], &log);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(
        lines[0].starts_with("line 5: id t1: TransactionEvent: /timestamp: "),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].ends_with("[PropertyConstraintViolation]"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with("line 6: id t1: TransactionEvent: /totalCost: "),
        "{}",
        lines[1]
    );
    assert!(
        lines[1].ends_with("[TypeConstraintViolation]"),
        "{}",
        lines[1]
    );
}

#[test]
fn reads_a_file_and_versions_matter() {
    let dir = std::env::temp_dir().join(format!("joule-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("charger.log");
    std::fs::write(&path, VALID_LOG).expect("log written");
    let path = path.to_str().expect("UTF-8 path");
    assert_eq!(
        joule(&["ocpp", "check", "--ocpp", "2.0.1", path], "")
            .status
            .code(),
        Some(0)
    );
    // The same 2.0.1 log is not valid OCPP 1.6.
    assert_eq!(
        joule(&["ocpp", "check", "--ocpp", "1.6", path], "")
            .status
            .code(),
        Some(1)
    );
    std::fs::remove_dir_all(&dir).expect("temp dir removed");
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(
        joule(&["ocpp", "check", "--ocpp", "3.0"], "").status.code(),
        Some(2)
    );
    let missing = joule(
        &["ocpp", "check", "--ocpp", "1.6", "/nonexistent/charger.log"],
        "",
    );
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot open"));
}

#[test]
fn demo_charges_a_station_of_every_version_through_the_central_system() {
    let out = joule(&["demo"], "");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("X-API-Key: "),
        "the generated API key is printed"
    );
    for version in ["OCPP 1.6", "OCPP 2.0.1", "OCPP 2.1"] {
        assert!(
            stdout.contains(&format!("=== {version}")),
            "{version} missing:\n{stdout}"
        );
    }
    assert_eq!(
        stdout.matches("station answered \"Accepted\"").count(),
        3,
        "{stdout}"
    );
    assert_eq!(
        stdout.matches("30200.0 Wh  stopped: Remote").count(),
        3,
        "{stdout}"
    );
    assert!(stdout.contains("All three OCPP versions completed a charging session."));
    assert!(
        stdout.contains("=== Two-gun simulated charger ==="),
        "{stdout}"
    );
    assert!(
        stdout.contains("Both guns charged at once through the central system."),
        "{stdout}"
    );
    assert_eq!(
        stdout.matches("JOULE-DEMO-DC    gun").count(),
        2,
        "two completed transactions of the DC charger: {stdout}"
    );
    assert!(
        stdout.contains("stopped: Remote") && stdout.contains("stopped: Local"),
        "{stdout}"
    );
}

#[test]
fn csms_refuses_to_start_without_an_api_key_or_with_a_bad_config() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_joule"))
        .args([
            "csms",
            "--ocpp-listen",
            "127.0.0.1:0",
            "--api-listen",
            "127.0.0.1:0",
            "--db",
            "sqlite::memory:",
        ])
        .env_remove("JOULE_API_KEY")
        .stderr(Stdio::piped())
        .spawn()
        .expect("joule starts");
    let status = child.wait().expect("joule exits");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr)
        .expect("stderr read");
    assert_eq!(status.code(), Some(2));
    assert!(stderr.contains("no API key configured"), "{stderr}");

    let dir = std::env::temp_dir().join(format!("joule-cli-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = dir.join("csms.toml");
    std::fs::write(&config, "api_keys = [\"k\"]\nauto_registr = true\n").expect("written");
    let out = joule(&["csms", "--config", config.to_str().expect("UTF-8")], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("auto_registr"),
        "the unknown key is named"
    );
    std::fs::remove_dir_all(&dir).expect("cleaned");
}
