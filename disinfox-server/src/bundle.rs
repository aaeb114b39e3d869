//! STIX bundles built from stored incidents: the one place that turns [`StoredIncident`]s into
//! STIX objects with this server's options (author, TLP, DISARM version, OpenCTI id rules).
//!
//! Every bundle the server hands out comes from here: one incident's bundle (the API and the
//! incident page), the incremental pages of `GET /api/v1/bundle` ([`changes`]), the streamed
//! export of a filtered set and the `export` command ([`export`]), and the objects of the TAXII
//! collection ([`crate::taxii`]). The objects themselves are built by `stix-model`'s
//! `BundleBuilder`, so every path emits the same objects with the same ids.

pub mod changes;
pub mod export;

use stix_model::incident::{BuildOptions, BundleBuilder};
use stix_model::{Bundle, Timestamp};

use crate::configuration::Settings;
use crate::db::StoredIncident;
use crate::error::{ApiError, ApiResult};

/// The builder options of this server (`opencti`: the OpenCTI flavour).
pub fn options(settings: &Settings, opencti: bool) -> ApiResult<BuildOptions> {
    let mut o = BuildOptions::with_author(&settings.organization)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("organization name: {e}")))?;
    o.tlp = settings.tlp;
    o.disarm = settings.disarm_version;
    o.id_rules = settings.opencti_id_rules;
    o.opencti = opencti;
    Ok(o)
}

/// A builder with these options and the incidents added.
pub fn builder(options: BuildOptions, incidents: &[StoredIncident]) -> ApiResult<BundleBuilder> {
    let mut b = BundleBuilder::new(options);
    for s in incidents {
        let d = s
            .incident
            .to_description(&s.id, s.created, s.modified, s.revoked);
        b.add_incident(&d).map_err(|e| {
            ApiError::Internal(anyhow::anyhow!("building the bundle of {}: {e}", s.id))
        })?;
    }
    Ok(b)
}

/// A builder with this server's options and the incidents added.
pub fn builder_of(
    settings: &Settings,
    incidents: &[StoredIncident],
    opencti: bool,
) -> ApiResult<BundleBuilder> {
    builder(options(settings, opencti)?, incidents)
}

/// The bundle of one incident: the incident, its relationships and every object they refer to.
pub fn of_incident(settings: &Settings, s: &StoredIncident, opencti: bool) -> ApiResult<Bundle> {
    Ok(builder_of(settings, std::slice::from_ref(s), opencti)?.build())
}

/// The `flavor` parameter: `standard` (the default) or `opencti`; true for the OpenCTI flavour.
pub fn parse_flavor(flavor: Option<&str>) -> ApiResult<bool> {
    match flavor.unwrap_or("standard") {
        "standard" => Ok(false),
        "opencti" => Ok(true),
        other => Err(ApiError::BadRequest(format!(
            "flavor: {other:?} is not standard or opencti"
        ))),
    }
}

/// Parses `newer_than` as the existing DISINFOX connector sends it too: RFC 3339, microseconds,
/// a doubled trailing `Z`, an explicit `+00:00`, or no zone at all (read as UTC).
pub fn parse_newer_than(s: &str) -> Option<Timestamp> {
    let t = s.trim();
    let t = t
        .strip_suffix("ZZ")
        .map(|x| format!("{x}Z"))
        .unwrap_or_else(|| t.to_owned());
    let t = if let Some(x) = t.strip_suffix("+00:00") {
        format!("{x}Z")
    } else if !t.ends_with('Z') {
        format!("{t}Z")
    } else {
        t
    };
    // A space instead of T is a common client slip.
    Timestamp::parse(&t.replacen(' ', "T", 1)).ok()
}

#[cfg(test)]
mod tests {
    use super::parse_newer_than;

    #[test]
    fn newer_than_forms_of_the_existing_connector() {
        for (input, want) in [
            ("2024-10-30T01:35:21.128381Z", "2024-10-30T01:35:21.128381Z"),
            (
                "2024-10-30T01:35:21.128381ZZ",
                "2024-10-30T01:35:21.128381Z",
            ),
            ("1970-01-01T00:00:00.000000Z", "1970-01-01T00:00:00.000000Z"),
            ("2024-10-30T01:35:21+00:00", "2024-10-30T01:35:21Z"),
            ("2024-10-30T01:35:21.5", "2024-10-30T01:35:21.5Z"),
        ] {
            assert_eq!(
                parse_newer_than(input).map(|t| t.to_string()).as_deref(),
                Some(want),
                "{input}"
            );
        }
        for bad in [
            "yesterday",
            "2024-13-01T00:00:00Z",
            "",
            "2024-10-30T01:35:21+02:00",
        ] {
            assert!(parse_newer_than(bad).is_none(), "{bad}");
        }
    }
}
