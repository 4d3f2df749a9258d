//! `joule ocpp check`: validates a charger's OCPP-J message log against the official schemas.

use anyhow::{Context, Result};
use proto_ocpp::OcppVersion;
use proto_ocpp::logcheck::LogChecker;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::ExitCode;

/// Checks `file` (standard input for `None` or `-`); exit code 1 if any frame is invalid.
pub fn run(version: OcppVersion, file: Option<&Path>) -> Result<ExitCode> {
    let input: Box<dyn Read> = match file {
        None => Box::new(std::io::stdin()),
        Some(p) if p == Path::new("-") => Box::new(std::io::stdin()),
        Some(p) => Box::new(
            std::fs::File::open(p).with_context(|| format!("cannot open {}", p.display()))?,
        ),
    };
    let mut checker = LogChecker::new(version);
    let mut out = std::io::stdout().lock();
    for (index, line) in BufReader::new(input).lines().enumerate() {
        let line = line.with_context(|| format!("cannot read line {}", index + 1))?;
        for finding in checker.check_line(index + 1, &line) {
            if let Err(e) = writeln!(out, "{finding}") {
                // A closed pipe (`| head`) ends the report, not the check's verdict.
                if e.kind() == std::io::ErrorKind::BrokenPipe {
                    break;
                }
                return Err(e.into());
            }
        }
    }
    let _ = out.flush();
    let _ = writeln!(
        std::io::stderr(),
        "{} frames checked against OCPP {version}: {} invalid",
        checker.frames(),
        checker.invalid()
    );
    Ok(if checker.invalid() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
