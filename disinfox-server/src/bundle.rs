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

use std::sync::Arc;

// A fast hasher for the ids of every answer; the sets are only asked, never iterated.
use foldhash::{HashSet, HashSetExt};

use stix_model::incident::{BuildOptions, BundleBuilder};
use stix_model::{Bundle, Timestamp};

use crate::configuration::Settings;
use crate::db::stix::{is_own, objects_of, Flavor, RowObjects, StixRow, StixRules};
use crate::db::{Store, StoredIncident};
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

/// The rules of the stored objects: this server's options (both flavours).
pub fn stix_rules(settings: &Settings) -> anyhow::Result<StixRules> {
    let opts = options(settings, false).map_err(|e| anyhow::anyhow!("{e}"))?;
    StixRules::new(opts)
}

/// Opens the database and gives it this server's rules for stored objects, building the
/// objects again when the rules changed since they were stored (see [`crate::db::stix`]).
pub async fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    let store = Store::connect(&settings.database_url).await?;
    let started = std::time::Instant::now();
    let rebuilt = store.use_stix_rules(stix_rules(settings)?).await?;
    if rebuilt > 0 {
        tracing::info!(
            incidents = rebuilt,
            seconds = started.elapsed().as_secs_f64(),
            "stored STIX objects built again (new rules or objects missing)"
        );
    }
    Ok(store)
}

/// Writes bundles from incidents' objects, in order, each id once: from the stored text when
/// the store's rules are the options asked for, built on the spot otherwise (another id rule
/// asked for, or an incident without stored objects). The four objects every bundle starts
/// with come before the first incident's.
///
/// Each incident's shared objects not written yet come first, then its own objects as stored
/// (one copy of bytes): the builder's order (see [`crate::db::stix`]). Only shared ids are
/// remembered, so memory stays bounded however many incidents a stream holds (each incident
/// is in an answer once, and its own objects' ids are its own).
pub struct Assembler {
    store: Store,
    opts: BuildOptions,
    rules: Option<Arc<StixRules>>,
    base: Vec<(String, String)>,
    seen: HashSet<Box<str>>,
    wrote: bool,
    based: bool,
}

impl Assembler {
    /// An assembler with these options.
    pub fn new(store: &Store, opts: BuildOptions) -> anyhow::Result<Self> {
        let rules = store.stix_rules().filter(|r| r.serves(&opts));
        let base = match &rules {
            Some(r) => r.base().to_vec(),
            None => BundleBuilder::new(opts.clone())
                .into_objects()
                .iter()
                .map(|o| Ok((o.id().to_owned(), String::from_utf8(o.to_vec()?)?)))
                .collect::<anyhow::Result<Vec<_>>>()?,
        };
        Ok(Self {
            store: store.clone(),
            opts,
            rules,
            base,
            seen: HashSet::new(),
            wrote: false,
            based: false,
        })
    }

    /// The stored flavour that serves these options, if any (what to read with the rows).
    pub fn flavor(&self) -> Option<Flavor> {
        self.rules.as_ref().map(|_| Flavor::of(self.opts.opencti))
    }

    /// The start of a bundle, up to the opening of its objects.
    pub fn head(out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"type\":\"bundle\",\"id\":\"bundle--");
        out.extend_from_slice(uuid::Uuid::new_v4().to_string().as_bytes());
        out.extend_from_slice(b"\",\"objects\":[");
    }

    /// The end of a bundle.
    pub fn tail(out: &mut Vec<u8>) {
        out.extend_from_slice(b"]}");
    }

    /// Writes objects' text (one, or several joined by commas).
    fn push(&mut self, out: &mut Vec<u8>, json: &[u8]) {
        if json.is_empty() {
            return;
        }
        if self.wrote {
            out.push(b',');
        }
        self.wrote = true;
        out.extend_from_slice(json);
    }

    /// Writes a shared object unless it was written.
    fn push_shared(&mut self, out: &mut Vec<u8>, id: &str, json: &[u8]) {
        if !self.seen.contains(id) {
            self.seen.insert(Box::from(id));
            self.push(out, json);
        }
    }

    /// Writes the base objects unless they were written.
    pub fn base_once(&mut self, out: &mut Vec<u8>) {
        if !self.based {
            self.based = true;
            for (id, json) in std::mem::take(&mut self.base) {
                self.push_shared(out, &id, json.as_bytes());
            }
        }
    }

    /// Writes incidents' objects, in order (and, first of all, the base objects): the shared
    /// objects not yet written are read in one go.
    pub async fn add_rows(&mut self, out: &mut Vec<u8>, rows: &[StixRow]) -> anyhow::Result<()> {
        self.base_once(out);
        let mut wanted = Vec::new();
        let mut asked = HashSet::new();
        for row in rows {
            if let RowObjects::Stored(o) = &row.objects {
                for id in o.refs() {
                    if !self.seen.contains(id) && asked.insert(id) {
                        wanted.push(id);
                    }
                }
            }
        }
        let shared = match self.flavor() {
            Some(flavor) if !wanted.is_empty() => {
                self.store.shared_objects(flavor, &wanted).await?
            }
            _ => Default::default(),
        };
        for row in rows {
            match &row.objects {
                RowObjects::Stored(o) if self.rules.is_some() => {
                    for id in o.refs() {
                        if self.seen.contains(id) {
                            continue;
                        }
                        let json = shared.get(id).ok_or_else(|| {
                            anyhow::anyhow!("stored shared object {id} of {} not read", row.id)
                        })?;
                        self.push_shared(out, id, json.as_bytes());
                    }
                    self.push(out, &o.own);
                }
                RowObjects::Stored(_) => anyhow::bail!("stored objects read for other rules"),
                RowObjects::Build(s) => {
                    for (id, json) in objects_of(&self.opts, s)?.0 {
                        if is_own(&id) {
                            self.push(out, json.as_bytes());
                        } else {
                            self.push_shared(out, &id, json.as_bytes());
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether any object was written.
    pub fn wrote(&self) -> bool {
        self.wrote
    }
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
