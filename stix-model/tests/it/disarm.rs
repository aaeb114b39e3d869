//! The built-in DISARM catalogues against the published bundles they are derived from.

use stix_model::disarm::{Catalogue, DisarmVersion};

use crate::published::disarm_bundle;

#[test]
fn loading_the_published_bundles_gives_the_builtin_catalogues() {
    for v in [DisarmVersion::V1_6, DisarmVersion::V1_7] {
        let Some(bytes) = disarm_bundle(
            v.as_str(),
            "loading_the_published_bundles_gives_the_builtin_catalogues",
        ) else {
            return;
        };
        let loaded = Catalogue::from_stix_json(&bytes).unwrap();
        let builtin = Catalogue::builtin(v);
        assert_eq!(loaded.tactics(), builtin.tactics(), "{v}");
        assert!(loaded.techniques().eq(builtin.techniques()), "{v}");
    }
}
