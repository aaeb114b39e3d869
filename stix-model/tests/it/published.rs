//! The DISARM Foundation's published STIX bundles, which the repository does not carry
//! (`docs/disarm.md` §1): found through `DISINFOX_DISARM_DIR` (a relative path is taken from
//! the repository root), by default `data/disarm` in the `shared` folder beside the repository
//! root (where README's Test section says the bundles come from).
//!
//! Without them a test that needs them writes a `SKIPPED` line and returns; with
//! `DISINFOX_REQUIRE_DISARM=1` (as `.ci/run` sets) it fails instead.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The setting naming the folder of the bundles.
pub(crate) const DIR_SETTING: &str = "DISINFOX_DISARM_DIR";
/// The setting that turns a missing bundle into a failure.
pub(crate) const REQUIRE_SETTING: &str = "DISINFOX_REQUIRE_DISARM";

/// The folder the bundles are looked for in.
pub(crate) fn disarm_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = manifest.parent().unwrap_or(manifest);
    match std::env::var_os(DIR_SETTING) {
        Some(dir) if !dir.is_empty() => root.join(dir),
        // The `shared` folder beside the repository root.
        _ => root
            .parent()
            .unwrap_or(root)
            .join("shared")
            .join("data")
            .join("disarm"),
    }
}

/// The bytes of `DISARM-<version>.json`, or `None` after a `SKIPPED` line naming `test` when
/// the file is not there. Panics instead when `DISINFOX_REQUIRE_DISARM=1`.
pub(crate) fn disarm_bundle(version: &str, test: &str) -> Option<Vec<u8>> {
    let path = disarm_dir().join(format!("DISARM-{version}.json"));
    match std::fs::read(&path) {
        Ok(bytes) => Some(bytes),
        Err(e) => {
            let why = format!(
                "{test}: the published DISARM {version} bundle is not at {} ({e}). Set {DIR_SETTING} to a folder holding DISARM-1.6.json and DISARM-1.7.json; docs/disarm.md §1 says where they come from",
                path.display()
            );
            if std::env::var(REQUIRE_SETTING).is_ok_and(|v| v == "1") {
                panic!("{why} ({REQUIRE_SETTING}=1)");
            }
            // Straight to the process's standard error: libtest captures `eprintln!` of passing
            // tests, and a skip must be seen.
            let _ = writeln!(std::io::stderr().lock(), "SKIPPED {why}");
            None
        }
    }
}
