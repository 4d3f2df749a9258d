//! `cargo xtask test`: everything CI checks, in the order that fails fastest.
//!
//! It prepares the Python virtual environment with the independent OCPP peer (`interop/requirements.txt`)
//! in `.venv`, then checks formatting, generated-code freshness and lints, and runs every test of the
//! workspace with the interop tests and the PostgreSQL tests required (`JOULE_INTEROP=1`,
//! `JOULE_REQUIRE_POSTGRES=1`; PostgreSQL at `JOULE_TEST_POSTGRES`, by default the local server).
//! `--quick` skips the lints.

use anyhow::{Context, Result, ensure};
use std::path::Path;
use std::process::Command;

pub fn run(root: &Path, args: &[String]) -> Result<()> {
    let quick = args.iter().any(|a| a == "--quick");
    let python = prepare_python(root)?;

    step(root, "cargo", &["fmt", "--all", "--check"], &[])?;
    step(
        root,
        "cargo",
        &["fmt", "--manifest-path", "xtask/Cargo.toml", "--check"],
        &[],
    )?;
    eprintln!("==> generated code is current");
    crate::codegen::run(root, true)?;
    if !quick {
        step(
            root,
            "cargo",
            &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ],
            &[],
        )?;
        step(
            root,
            "cargo",
            &[
                "clippy",
                "--manifest-path",
                "xtask/Cargo.toml",
                "--target-dir",
                "target/xtask",
                "--",
                "-D",
                "warnings",
            ],
            &[],
        )?;
    }
    let env = [("JOULE_INTEROP", "1".to_string()), ("JOULE_PYTHON", python)];
    step(
        root,
        "cargo",
        &["test", "--workspace", "--all-targets"],
        &env,
    )?;
    step(root, "cargo", &["test", "--workspace", "--doc"], &env)?;
    Ok(())
}

/// Creates `.venv` with the pinned interop peers unless it already has them; returns its python.
fn prepare_python(root: &Path) -> Result<String> {
    let venv = root.join(".venv");
    let python = venv.join("bin/python");
    let requirements = root.join("interop/requirements.txt");
    let stamp = venv.join(".requirements");
    let wanted =
        std::fs::read_to_string(&requirements).context("reading interop/requirements.txt")?;
    let current = std::fs::read_to_string(&stamp).unwrap_or_default();
    if !python.exists() || current != wanted {
        eprintln!("==> preparing the Python interop environment in .venv");
        let system = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string());
        step(root, &system, &["-m", "venv", ".venv"], &[])?;
        let py = python.to_string_lossy().into_owned();
        step(
            root,
            &py,
            &[
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
                "interop/requirements.txt",
            ],
            &[],
        )?;
        std::fs::write(&stamp, wanted)?;
    }
    Ok(python.to_string_lossy().into_owned())
}

fn step(root: &Path, program: &str, args: &[&str], env: &[(&str, String)]) -> Result<()> {
    eprintln!("==> {program} {}", args.join(" "));
    let mut cmd = Command::new(program);
    cmd.args(args).current_dir(root);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let status = cmd
        .status()
        .with_context(|| format!("starting {program}"))?;
    ensure!(status.success(), "{program} {} failed", args.join(" "));
    Ok(())
}
