//! The technique descriptions the server ships (`data/disarm-*-summaries.tsv`) are what
//! `scripts/derive_disarm.py --summaries` derives from the DISARM Foundation's published bundles
//! today. The bundles are not in the repository: found through `DISINFOX_DISARM_DIR` (relative
//! to the repository root), by default `data/disarm` in the `shared` folder beside the
//! repository; without them the test says `SKIPPED`, and fails with `DISINFOX_REQUIRE_DISARM=1`.

use std::io::Write;
use std::path::Path;
use std::process::Command;

#[test]
fn the_shipped_summaries_are_derived_from_the_published_bundles() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = manifest.parent().unwrap();
    let dir = match std::env::var_os("DISINFOX_DISARM_DIR") {
        Some(d) if !d.is_empty() => root.join(d),
        _ => root
            .parent()
            .unwrap()
            .join("shared")
            .join("data")
            .join("disarm"),
    };
    for version in ["1.6", "1.7"] {
        let bundle = dir.join(format!("DISARM-{version}.json"));
        if !bundle.exists() {
            let why = format!("the DISARM {version} bundle is not at {}", bundle.display());
            assert!(
                std::env::var("DISINFOX_REQUIRE_DISARM").map_or(true, |v| v != "1"),
                "{why}"
            );
            let _ = writeln!(
                std::io::stderr().lock(),
                "SKIPPED the_shipped_summaries_are_derived_from_the_published_bundles: {why}"
            );
            return;
        }
        let out = Command::new("python3")
            .arg(root.join("scripts/derive_disarm.py"))
            .arg(&bundle)
            .arg(version)
            .arg("--summaries")
            .output()
            .expect("python3 runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let shipped =
            std::fs::read(manifest.join(format!("data/disarm-{version}-summaries.tsv"))).unwrap();
        assert!(
            out.stdout == shipped,
            "data/disarm-{version}-summaries.tsv differs from what the script derives: run it again (see data/LICENSE-DISARM.md)"
        );
    }
}
