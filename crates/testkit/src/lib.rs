//! Test support shared by the joule crates (dev-dependency only).
//!
//! Interop tests run independent peers written in Python (`interop/*.py`, requirements in
//! `interop/requirements.txt`). [`interop_python`] finds a Python that can run them: `JOULE_PYTHON`
//! first, then the repository's `.venv` that `cargo xtask test` prepares. With `JOULE_INTEROP=1`
//! (as CI sets it) a missing peer fails the test; otherwise the test is skipped with a notice, so a
//! plain `cargo test` on a fresh machine still passes.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// A file of the repository, from its path relative to the root.
pub fn repo_path(relative: &str) -> PathBuf {
    repo_root().join(relative)
}

/// A Python that can `import` every module in `modules` (e.g. `["ocpp", "websockets"]`), or
/// `None` to skip `what` (a short description for the notice).
///
/// # Panics
/// When `JOULE_INTEROP=1` and no candidate can import the modules: a required peer is missing.
#[allow(clippy::print_stderr)]
pub fn interop_python(modules: &[&str], what: &str) -> Option<OsString> {
    let candidates: Vec<OsString> = std::env::var_os("JOULE_PYTHON")
        .into_iter()
        .chain([repo_path(".venv/bin/python").into_os_string()])
        .collect();
    let script = format!("import {}", modules.join(", "));
    let can_import = |python: &OsString| {
        Command::new(python)
            .args(["-c", &script])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    };
    if let Some(python) = candidates.iter().find(|python| can_import(python)) {
        return Some(python.clone());
    }
    let tried = candidates
        .iter()
        .map(|python| python.to_string_lossy())
        .collect::<Vec<_>>()
        .join(", ");
    let missing = modules.join("`, `");
    assert!(
        std::env::var_os("JOULE_INTEROP").is_none_or(|required| required != "1"),
        "JOULE_INTEROP=1 but no Python can import `{missing}` (tried {tried}); run `cargo xtask \
         test`, or point JOULE_PYTHON at a Python with interop/requirements.txt installed"
    );
    eprintln!(
        "skipping {what}: no Python can import `{missing}` (tried {tried}); set JOULE_INTEROP=1 \
         to require it"
    );
    None
}
