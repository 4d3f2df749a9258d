//! Repository tasks.
//!
//! `cargo xtask codegen [--check]` regenerates the typed OCPP messages from the vendored OCA schemas
//! (with `--check` it only reports whether the checked-in code is current). `cargo xtask test` is the
//! project's whole test run: the Python interop peer, formatting, lints, generated-code freshness
//! and every test of the workspace. `cargo xtask bench-csms` is the central system's capacity
//! benchmark (see `bench_csms`).

mod bench_csms;
mod codegen;
mod test;

use anyhow::{Context, Result, bail};
use std::path::PathBuf;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = workspace_root()?;
    match args.first().map(String::as_str) {
        Some("codegen") => {
            let check = args.iter().any(|a| a == "--check");
            codegen::run(&root, check)
        }
        Some("test") => test::run(&root, &args[1..]),
        Some("bench-csms") => bench_csms::run(&root, &args[1..]),
        _ => bail!(
            "usage: cargo xtask codegen [--check] | cargo xtask test [--quick] | cargo xtask \
             bench-csms [options]"
        ),
    }
}

fn workspace_root() -> Result<PathBuf> {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").context("run through `cargo xtask`")?;
    let root = PathBuf::from(manifest)
        .parent()
        .context("xtask lives one level below the workspace root")?
        .to_path_buf();
    Ok(root)
}
