//! Each incident's STIX objects, stored as canonical (compact) JSON when the incident is
//! written, so that answers are assembled from stored text instead of built again.
//!
//! The server gives the store its rules at start ([`Store::use_stix_rules`](crate::db::Store::use_stix_rules)): the builder
//! options of both flavours (author, TLP, DISARM version, OpenCTI id rules). Every incident
//! write (a save, an import, a deletion) then stores, in its transaction, the objects
//! `BundleBuilder` adds for the incident under each flavour (everything but the four objects
//! every bundle starts with, see [`StixRules::base`]), split in two:
//! - its own objects (the incident, its relationships, its note), one text per incident and
//!   flavour, joined by commas as a bundle holds them (`incident_stix.own`);
//! - the shared objects it refers to (techniques, actors, countries, channels, the DISARM
//!   identity and marking): their ids in `incident_stix.refs`, and each object once per
//!   flavour in `stix_shared`, whichever incidents refer to it. A shared object's text
//!   depends only on its id and the rules, so storing it once loses nothing.
//!
//! The builder adds an incident's shared objects first, then its own, and drops an id it
//! already holds; no object depends on another incident. So writing, for each incident in
//! turn, its shared objects not yet written and then its own objects gives exactly the objects
//! the builder gives for those incidents together ([`crate::bundle::Assembler`]). Readers keep
//! the shared objects they read in memory (they change only with the rules).
//!
//! The rules carry a version: a digest of the options and of the builder's output for a
//! fixed sample incident under each flavour, so that a changed setting or a builder that
//! writes differently both change it. When the server starts with another version than the
//! one the stored objects were built with, every incident's objects are built again.
//! Incidents written without rules (a store used on its own) have no stored objects; readers
//! build those on the spot, and the next start stores them.

// Hash maps with a fast hasher for the lookups of every answer (clippy.toml bans std's
// HashMap where output order matters; none of these is ever iterated into an answer).
use foldhash::{HashMap, HashMapExt};
use std::sync::{Arc, Mutex, RwLock};

use anyhow::Context;
use sha2::{Digest, Sha256};
use sqlx::{AssertSqlSafe, Row};
use stix_model::incident::{BuildOptions, BundleBuilder};
use stix_model::{Identifier, Timestamp};

use super::batch::Prepared;
use super::{Sqlite, StoredIncident};
use crate::model::Incident;

/// The two flavours of the objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flavor {
    /// Standard STIX 2.1 with the extension.
    Standard,
    /// With what only OpenCTI reads (`BuildOptions::opencti`).
    OpenCti,
}

impl Flavor {
    /// Both, in a fixed order.
    pub const ALL: [Self; 2] = [Self::Standard, Self::OpenCti];

    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Standard => "standard",
            Self::OpenCti => "opencti",
        }
    }

    /// Its place in [`Self::ALL`].
    fn index(self) -> usize {
        match self {
            Self::Standard => 0,
            Self::OpenCti => 1,
        }
    }

    /// The flavour of a request (`opencti`: true for the OpenCTI flavour).
    pub fn of(opencti: bool) -> Self {
        if opencti {
            Self::OpenCti
        } else {
            Self::Standard
        }
    }
}

/// The storage format of `incident_stix` and `stix_shared`; part of the version.
const FORMAT: &str = "disinfox stored stix 2";

/// At most this many shared objects are kept in memory per rules (about 400 bytes each); when
/// full, the memory is emptied and filled again from the database as pages need them.
const SHARED_IN_MEMORY: usize = 50_000;

/// The rules the objects are built with.
#[derive(Debug)]
pub struct StixRules {
    version: String,
    standard: BuildOptions,
    opencti: BuildOptions,
    base: Vec<(String, String)>,
    /// Shared objects read from `stix_shared`, by flavour and id (their text depends only on
    /// the id and these rules).
    shared: Mutex<[HashMap<Box<str>, Arc<str>>; 2]>,
    /// Incidents' stored objects read lately, by flavour and id, with the change they belong
    /// to (see [`ObjectMemory`]).
    objects: Mutex<ObjectMemory>,
}

/// Incidents' stored objects read lately, bounded in bytes: two generations; a hit in the old
/// one moves to the new one, and when the new one is full the old one is dropped. The
/// incidents a poll asks for (the latest changes) stay in memory, and an answer copies their
/// text from here instead of reading it from the database again. An entry is used only for
/// the change it was read at: a changed incident is read again.
#[derive(Debug, Default)]
struct ObjectMemory {
    new: [HashMap<Box<str>, (i64, StoredObjects)>; 2],
    old: [HashMap<Box<str>, (i64, StoredObjects)>; 2],
    new_bytes: usize,
}

/// The bytes of stored objects kept in memory (per generation; at most twice this in all).
const OBJECTS_IN_MEMORY: usize = 16 << 20;

impl ObjectMemory {
    fn get(&mut self, flavor: Flavor, id: &str, seq: i64) -> Option<StoredObjects> {
        let f = flavor.index();
        if let Some((s, o)) = self.new[f].get(id) {
            if *s == seq {
                return Some(o.clone());
            }
            let (_, (_, o)) = self.new[f].remove_entry(id)?;
            self.new_bytes = self.new_bytes.saturating_sub(o.own.len() + o.refs.len());
            return None;
        }
        // Out of the old generation either way: into the new one, or forgotten when it is of
        // another change (changes only grow, so it will not be asked for again).
        let (key, (s, o)) = self.old[f].remove_entry(id)?;
        if s != seq {
            return None;
        }
        self.insert(flavor, key, s, o.clone());
        Some(o)
    }

    /// Keeps objects; their text is copied out of the buffer it was read into, which holds
    /// other incidents' text too, so that what is counted is what is held.
    fn put(&mut self, flavor: Flavor, id: Box<str>, seq: i64, o: StoredObjects) {
        let o = StoredObjects {
            own: bytes::Bytes::copy_from_slice(&o.own),
            refs: o.refs,
        };
        self.insert(flavor, id, seq, o);
    }

    fn insert(&mut self, flavor: Flavor, id: Box<str>, seq: i64, o: StoredObjects) {
        let size = o.own.len() + o.refs.len() + id.len() + 64;
        if self.new_bytes + size > OBJECTS_IN_MEMORY {
            self.old = std::mem::take(&mut self.new);
            self.new_bytes = 0;
        }
        self.new_bytes += size;
        if let Some((_, previous)) = self.new[flavor.index()].insert(id, (seq, o)) {
            self.new_bytes = self
                .new_bytes
                .saturating_sub(previous.own.len() + previous.refs.len());
        }
    }
}

impl StixRules {
    /// Rules from the standard options (the OpenCTI flavour is the same with `opencti` on).
    pub fn new(standard: BuildOptions) -> anyhow::Result<Self> {
        let mut standard = standard;
        standard.opencti = false;
        let mut opencti = standard.clone();
        opencti.opencti = true;
        let base = BundleBuilder::new(standard.clone())
            .into_objects()
            .iter()
            .map(|o| Ok((o.id().to_owned(), String::from_utf8(o.to_vec()?)?)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut h = Sha256::new();
        h.update(FORMAT);
        h.update(format!("{:?}|{:?}|", standard.disarm, standard.id_rules));
        for (_, json) in &base {
            h.update(json);
        }
        let sample = sample_incident()?;
        for opts in [&standard, &opencti] {
            for (id, json) in objects_of(opts, &sample)?.0 {
                h.update(id);
                h.update(json);
            }
        }
        let version = h
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>();
        Ok(Self {
            version,
            standard,
            opencti,
            base,
            shared: Mutex::new([HashMap::new(), HashMap::new()]),
            objects: Mutex::new(ObjectMemory::default()),
        })
    }

    /// The version: a digest of the options and of the builder's output for a sample.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The options of a flavour.
    pub fn options(&self, flavor: Flavor) -> &BuildOptions {
        match flavor {
            Flavor::Standard => &self.standard,
            Flavor::OpenCti => &self.opencti,
        }
    }

    /// The objects every bundle starts with (TLP marking, author, project identity,
    /// extension-definition; the same in both flavours), as `(id, JSON)`.
    pub fn base(&self) -> &[(String, String)] {
        &self.base
    }

    /// Whether a request's options are these rules' (then the stored objects answer it).
    pub fn serves(&self, opts: &BuildOptions) -> bool {
        let mine = self.options(Flavor::of(opts.opencti));
        opts.id_rules == mine.id_rules
            && opts.disarm == mine.disarm
            && opts.tlp == mine.tlp
            && opts.author.common.id == mine.author.common.id
    }

    /// The shared objects of `ids` held in memory; the ids not held are pushed to `missing`.
    fn shared_in_memory(
        &self,
        flavor: Flavor,
        ids: &[&str],
        found: &mut HashMap<Box<str>, Arc<str>>,
        missing: &mut Vec<String>,
    ) {
        let Ok(memory) = self.shared.lock() else {
            missing.extend(ids.iter().map(|id| (*id).to_owned()));
            return;
        };
        for id in ids {
            match memory[flavor.index()].get(*id) {
                Some(json) => {
                    found.insert(Box::from(*id), json.clone());
                }
                None => missing.push((*id).to_owned()),
            }
        }
    }

    /// Keeps shared objects read from the database in memory.
    fn remember_shared(&self, flavor: Flavor, read: &[(String, Arc<str>)]) {
        if let Ok(mut memory) = self.shared.lock() {
            let memory = &mut memory[flavor.index()];
            if memory.len() + read.len() > SHARED_IN_MEMORY {
                memory.clear();
            }
            for (id, json) in read {
                memory.insert(Box::from(id.as_str()), json.clone());
            }
        }
    }
}

/// Whether an object belongs to one incident (its own object, relationships and note) rather
/// than being shared by every incident that refers to it.
pub fn is_own(id: &str) -> bool {
    ["incident--", "relationship--", "note--"]
        .iter()
        .any(|p| id.starts_with(p))
}

/// The objects the builder adds for one incident, as `(id, compact JSON)` in its order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltObjects(pub Vec<(String, String)>);

/// An incident's objects as stored: the ids of the shared objects it refers to and the text
/// of its own objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObjects {
    /// The ids of its shared objects, one per line, in the builder's order.
    pub refs: String,
    /// Its own objects (incident, relationships, note), compact JSON joined by commas, in the
    /// builder's order: a piece of a bundle's `objects` array as it is.
    pub own: bytes::Bytes,
}

impl StoredObjects {
    /// The ids of its shared objects, in order.
    pub fn refs(&self) -> impl Iterator<Item = &str> {
        self.refs.split('\n').filter(|id| !id.is_empty())
    }

    /// Its own objects, parsed.
    pub fn own_objects(&self) -> anyhow::Result<Vec<stix_model::StixObject>> {
        let mut array = Vec::with_capacity(self.own.len() + 2);
        array.push(b'[');
        array.extend_from_slice(&self.own);
        array.push(b']');
        Ok(serde_json::from_slice(&array)?)
    }
}

impl BuiltObjects {
    /// Splits the objects into what an incident stores and its shared objects `(id, JSON)`.
    pub fn split(self) -> (StoredObjects, Vec<(String, String)>) {
        let mut refs = String::new();
        let mut own = Vec::new();
        let mut shared = Vec::new();
        for (id, json) in self.0 {
            if is_own(&id) {
                if !own.is_empty() {
                    own.push(b',');
                }
                own.extend_from_slice(json.as_bytes());
            } else {
                if !refs.is_empty() {
                    refs.push('\n');
                }
                refs.push_str(&id);
                shared.push((id, json));
            }
        }
        (
            StoredObjects {
                refs,
                own: own.into(),
            },
            shared,
        )
    }
}

/// The objects the builder adds for one incident with these options, after the four every
/// bundle starts with.
pub fn objects_of(opts: &BuildOptions, s: &StoredIncident) -> anyhow::Result<BuiltObjects> {
    let mut b = BundleBuilder::new(opts.clone());
    let skip = b.objects().len();
    let d = s
        .incident
        .to_description(&s.id, s.created, s.modified, s.revoked);
    b.add_incident(&d)
        .with_context(|| format!("building the objects of {}", s.id))?;
    b.into_objects()
        .iter()
        .skip(skip)
        .map(|o| Ok((o.id().to_owned(), String::from_utf8(o.to_vec()?)?)))
        .collect::<anyhow::Result<Vec<_>>>()
        .map(BuiltObjects)
}

/// What a batch of incident writes stores: each incident's row per flavour, and the shared
/// objects they refer to, each once per flavour.
#[derive(Debug, Default)]
pub(crate) struct StixWrites {
    /// `(incident id, flavour, change, refs, own)`.
    pub(crate) rows: Vec<(String, &'static str, i64, String, String)>,
    /// `(flavour, id, JSON)`, each `(flavour, id)` once.
    pub(crate) shared: Vec<(&'static str, String, String)>,
}

/// What an incident stores under one flavour: `(flavour, refs, own, shared objects (id, JSON))`.
pub(crate) type FlavourRows = (Flavor, String, String, Vec<(String, String)>);

/// What an incident stores under each flavour of the rules.
pub(crate) fn flavour_rows(
    rules: &StixRules,
    s: &StoredIncident,
) -> anyhow::Result<Vec<FlavourRows>> {
    Flavor::ALL
        .into_iter()
        .map(|flavor| {
            let (stored, shared) = objects_of(rules.options(flavor), s)?.split();
            let own = String::from_utf8(stored.own.to_vec())?;
            Ok((flavor, stored.refs, own, shared))
        })
        .collect()
}

impl StixWrites {
    /// The objects of these incidents under both flavours of the rules (those `prepared`
    /// holds are taken from it).
    pub(crate) fn build(
        rules: &Arc<StixRules>,
        incidents: &[StoredIncident],
        prepared: &mut Prepared,
    ) -> anyhow::Result<Self> {
        let mut w = Self::default();
        let mut seen = foldhash::HashSet::default();
        for s in incidents {
            let flavours = match prepared.take_objects(rules, s) {
                Some(rows) => rows,
                None => flavour_rows(rules, s)?,
            };
            for (flavor, refs, own, shared) in flavours {
                w.rows.push((
                    s.id.as_str().to_owned(),
                    flavor.as_str(),
                    s.change_seq,
                    refs,
                    own,
                ));
                for (id, json) in shared {
                    if seen.insert((flavor, id.clone())) {
                        w.shared.push((flavor.as_str(), id, json));
                    }
                }
            }
        }
        Ok(w)
    }

    /// The rows as one JSON array of arrays (for SQLite's `json_each`).
    pub(crate) fn rows_json(&self) -> anyhow::Result<String> {
        Ok(serde_json::to_string(&self.rows)?)
    }

    /// The shared objects as one JSON array of arrays.
    pub(crate) fn shared_json(&self) -> anyhow::Result<String> {
        Ok(serde_json::to_string(&self.shared)?)
    }
}

/// A fixed incident with every field the builder reads, for the rules' version.
fn sample_incident() -> anyhow::Result<StoredIncident> {
    let input = crate::model::IncidentInput {
        name: "Rules sample".into(),
        description: "A fixed incident whose objects fingerprint the builder.".into(),
        first_seen: Some("2024-02".into()),
        last_seen: Some("2024-03-04".into()),
        techniques: vec!["T0002".into(), "T0049.003".into(), "T9999".into()],
        actors: vec!["Sample Actor".into(), "Uncertain Actor*".into()],
        target_countries: vec!["UA".into(), "CZ".into()],
        country_of_origin: Some("RU".into()),
        region: Some("Europe".into()),
        sub_region: Some("Eastern Europe".into()),
        channels: vec!["X".into(), "Telegram".into()],
        attribution_sources: vec!["government".into()],
        attribution_confidence: Some(70),
        source_urls: vec!["https://example.org/report".into()],
        cyber_attack: Some(true),
        labels: vec!["sample".into()],
        confidence: Some(80),
    };
    let incident = Incident::from_stored(input);
    let at = Timestamp::parse("2024-05-01T00:00:00.000Z")?;
    Ok(StoredIncident {
        id: Identifier::parse("incident--00000000-0000-4000-8000-000000000001")?,
        created: at,
        modified: at,
        revoked: false,
        change_seq: 0,
        changed_at: String::new(),
        incident,
    })
}

/// The shared holder of the rules (none until the server gives them).
pub(super) type RulesCell = Arc<RwLock<Option<Arc<StixRules>>>>;

/// The rules in a holder, once given.
pub(super) fn rules_of(cell: &RulesCell) -> Option<Arc<StixRules>> {
    cell.read().ok().and_then(|r| r.clone())
}

/// Puts the rules in a holder.
pub(super) fn set_rules(cell: &RulesCell, rules: &Arc<StixRules>) {
    if let Ok(mut cell) = cell.write() {
        *cell = Some(rules.clone());
    }
}

impl super::Store {
    /// The rules the stored objects follow, once given.
    pub fn stix_rules(&self) -> Option<Arc<StixRules>> {
        rules_of(&self.stix)
    }

    /// The stored shared objects of these ids under a flavour, from memory or else from the
    /// database (one read for all those not in memory). An id stored nowhere is an error:
    /// shared objects are written in the same transaction as the incidents that refer to
    /// them.
    pub async fn shared_objects(
        &self,
        flavor: Flavor,
        ids: &[&str],
    ) -> anyhow::Result<HashMap<Box<str>, Arc<str>>> {
        let mut found = HashMap::with_capacity(ids.len());
        let Some(rules) = self.stix_rules() else {
            anyhow::bail!("stored objects read before the rules were given");
        };
        let mut missing = Vec::new();
        rules.shared_in_memory(flavor, ids, &mut found, &mut missing);
        if missing.is_empty() {
            return Ok(found);
        }
        let read: Vec<(String, Arc<str>)> = match self.backend() {
            super::BackendRef::Sqlite(db) => db.read_shared(flavor, &missing).await?,
            super::BackendRef::Postgres(db) => db.read_shared(flavor, &missing).await?,
        };
        rules.remember_shared(flavor, &read);
        for (id, json) in read {
            found.insert(Box::from(id.as_str()), json);
        }
        if let Some(lost) = missing.iter().find(|id| !found.contains_key(id.as_str())) {
            anyhow::bail!(
                "stored shared object {lost} ({}) is missing",
                flavor.as_str()
            );
        }
        Ok(found)
    }
}

/// Where an incident of an answer is in the change log: id, change, change time.
pub(crate) type Head = (String, i64, String);

/// An incident's objects as read by id: stored (with the change they were built at) or the
/// incident to build them from.
#[derive(Debug)]
pub(crate) struct StoredRow {
    /// The incident's id.
    pub id: String,
    /// The change the objects belong to.
    pub change_seq: i64,
    /// The objects.
    pub objects: RowObjects,
}

impl super::Store {
    /// Incidents (revoked ones too) changed after `after_seq`, in change order, with their
    /// stored objects of `flavor` (`None`: the objects are to be built). `remember`: keep
    /// the objects read in memory for the next answers when this one reaches the newest
    /// change (fewer than `limit` incidents): those are the incidents the next polls ask for.
    /// A page further back in the log (a client catching up) or a whole-log stream would only
    /// push them out.
    pub async fn changes_after_stix(
        &self,
        after_seq: i64,
        limit: i64,
        flavor: Option<Flavor>,
        remember: bool,
    ) -> anyhow::Result<Vec<StixRow>> {
        let Some(flavor) = flavor else {
            return match self.backend() {
                super::BackendRef::Sqlite(db) => db.changes_after_built(after_seq, limit).await,
                super::BackendRef::Postgres(db) => db.changes_after_built(after_seq, limit).await,
            };
        };
        let heads = match self.backend() {
            super::BackendRef::Sqlite(db) => db.change_heads(after_seq, limit).await?,
            super::BackendRef::Postgres(db) => db.change_heads(after_seq, limit).await?,
        };
        let remember = remember && heads.len() < usize::try_from(limit).unwrap_or(usize::MAX);
        self.with_objects(flavor, heads, remember).await
    }

    /// [`Self::changes_after_stix`] after the newest change at or before `at` (a `newer_than`
    /// time, in the change log's format): returns that change's position too. On PostgreSQL
    /// the position and the page's incidents are one query, one round trip fewer per poll.
    pub async fn changes_at_stix(
        &self,
        at: &str,
        limit: i64,
        flavor: Flavor,
        remember: bool,
    ) -> anyhow::Result<(i64, Vec<StixRow>)> {
        let (after_seq, heads) = match self.backend() {
            super::BackendRef::Sqlite(db) => {
                let after_seq = db.seq_at(at).await?;
                (after_seq, db.change_heads(after_seq, limit).await?)
            }
            super::BackendRef::Postgres(db) => db.change_heads_at(at, limit).await?,
        };
        let remember = remember && heads.len() < usize::try_from(limit).unwrap_or(usize::MAX);
        Ok((after_seq, self.with_objects(flavor, heads, remember).await?))
    }

    /// Up to `limit` live incidents matching the filter, in change order (keyset paging on
    /// the filter's `after_seq`), with their stored objects of `flavor` (see
    /// [`Self::changes_after_stix`]).
    pub async fn live_incidents_stix(
        &self,
        f: &super::IncidentFilter,
        limit: i64,
        flavor: Option<Flavor>,
    ) -> anyhow::Result<Vec<StixRow>> {
        let Some(flavor) = flavor else {
            return match self.backend() {
                super::BackendRef::Sqlite(db) => db.live_incidents_built(f, limit).await,
                super::BackendRef::Postgres(db) => db.live_incidents_built(f, limit).await,
            };
        };
        let heads = match self.backend() {
            super::BackendRef::Sqlite(db) => db.live_heads(f, limit).await?,
            super::BackendRef::Postgres(db) => db.live_heads(f, limit).await?,
        };
        self.with_objects(flavor, heads, false).await
    }

    /// The incidents of `heads` with their stored objects: from memory when held for that
    /// change, else read in one go. An incident changed since its head was read comes with
    /// the objects of its newer change (which the change log also lists later).
    async fn with_objects(
        &self,
        flavor: Flavor,
        heads: Vec<Head>,
        remember: bool,
    ) -> anyhow::Result<Vec<StixRow>> {
        let rules = self
            .stix_rules()
            .context("stored objects read before the rules were given")?;
        let mut held: Vec<Option<RowObjects>> = match rules.objects.lock() {
            Ok(mut memory) => heads
                .iter()
                .map(|(id, seq, _)| memory.get(flavor, id, *seq).map(RowObjects::Stored))
                .collect(),
            Err(_) => heads.iter().map(|_| None).collect(),
        };
        let missing: Vec<&str> = heads
            .iter()
            .zip(&held)
            .filter(|(_, h)| h.is_none())
            .map(|((id, _, _), _)| id.as_str())
            .collect();
        if !missing.is_empty() {
            let read = match self.backend() {
                super::BackendRef::Sqlite(db) => db.stored_of(flavor, &missing).await?,
                super::BackendRef::Postgres(db) => db.stored_of(flavor, &missing).await?,
            };
            let mut by_id: HashMap<String, StoredRow> =
                read.into_iter().map(|r| (r.id.clone(), r)).collect();
            let mut memory = rules.objects.lock().ok().filter(|_| remember);
            for ((id, _, _), h) in heads.iter().zip(held.iter_mut()) {
                if h.is_some() {
                    continue;
                }
                let row = by_id
                    .remove(id)
                    .with_context(|| format!("incident {id} of an answer is gone"))?;
                if let (Some(memory), RowObjects::Stored(o)) = (memory.as_mut(), &row.objects) {
                    memory.put(flavor, Box::from(id.as_str()), row.change_seq, o.clone());
                }
                *h = Some(row.objects);
            }
        }
        heads
            .into_iter()
            .zip(held)
            .map(|((id, change_seq, changed_at), objects)| {
                Ok(StixRow {
                    objects: objects.with_context(|| format!("objects of {id} not read"))?,
                    id,
                    change_seq,
                    changed_at,
                })
            })
            .collect()
    }
}

impl Sqlite {
    /// The rules the stored objects follow, once given.
    pub(super) fn stix_rules(&self) -> Option<Arc<StixRules>> {
        rules_of(&self.stix)
    }

    /// Gives the store its rules: from now on every incident write stores its objects. When
    /// the stored objects were built with other rules (or some incidents have none), they are
    /// built again, a few hundred incidents per transaction. Returns how many incidents were
    /// built again.
    pub(crate) async fn use_stix_rules(&self, rules: StixRules) -> anyhow::Result<usize> {
        let rules = Arc::new(rules);
        let _w = self.write.lock().await;
        set_rules(&self.stix, &rules);
        let stored: Option<String> = sqlx::query_scalar("SELECT version FROM stix_rules")
            .fetch_optional(&self.pool)
            .await?;
        let all = stored.as_deref() != Some(rules.version());
        if !all {
            // Both flavours are written together, so every incident has its objects when
            // there are as many standard rows as incidents: two counts over small indexes
            // instead of a search per incident at every start.
            let (incidents, stored): (i64, i64) = sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM incidents),
                   (SELECT COUNT(*) FROM incident_stix WHERE flavor = 'standard')",
            )
            .fetch_one(&self.pool)
            .await?;
            if incidents == stored {
                return Ok(0);
            }
        } else {
            // Shared objects of other rules: each is written again with the first incident
            // that refers to it.
            sqlx::query("DELETE FROM stix_shared")
                .execute(&self.pool)
                .await?;
        }
        let mut rebuilt = 0;
        let mut after = 0;
        loop {
            let sql = if all {
                format!(
                    "SELECT {} FROM incidents WHERE change_seq > ? ORDER BY change_seq LIMIT 500",
                    Self::COLUMNS
                )
            } else {
                // Only incidents without stored objects (written without rules).
                format!(
                    "SELECT {} FROM incidents i WHERE change_seq > ? AND NOT EXISTS
                     (SELECT 1 FROM incident_stix s WHERE s.incident_id = i.id)
                     ORDER BY change_seq LIMIT 500",
                    Self::COLUMNS
                )
            };
            let mut tx = self.pool.begin().await?;
            let batch = sqlx::query(AssertSqlSafe(sql))
                .bind(after)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(Self::incident_from_row)
                .collect::<anyhow::Result<Vec<_>>>()?;
            let Some(last) = batch.last() else { break };
            after = last.change_seq;
            Self::write_stix_batch(&mut tx, Some(&rules), &batch, &mut Prepared::default()).await?;
            tx.commit().await?;
            rebuilt += batch.len();
        }
        sqlx::query("INSERT INTO stix_rules (id, version) VALUES (1, ?1) ON CONFLICT (id) DO UPDATE SET version = ?1")
            .bind(rules.version())
            .execute(&self.pool)
            .await?;
        Ok(rebuilt)
    }

    /// Stores the objects of several incidents written in one transaction, under both
    /// flavours: one statement for their rows and one for the shared objects not stored yet.
    /// Without rules, removes what was stored (it no longer matches the incidents).
    pub(super) async fn write_stix_batch(
        tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
        rules: Option<&Arc<StixRules>>,
        incidents: &[StoredIncident],
        prepared: &mut Prepared,
    ) -> anyhow::Result<()> {
        if incidents.is_empty() {
            return Ok(());
        }
        let Some(rules) = rules else {
            let ids = serde_json::to_string(
                &incidents.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
            )?;
            sqlx::query(
                "DELETE FROM incident_stix WHERE incident_id IN (SELECT value FROM json_each(?))",
            )
            .bind(ids)
            .execute(&mut **tx)
            .await?;
            return Ok(());
        };
        let w = StixWrites::build(rules, incidents, prepared)?;
        sqlx::query(
            "INSERT INTO stix_shared (flavor, id, json)
             SELECT value ->> 0, value ->> 1, value ->> 2 FROM json_each(?) WHERE true
             ON CONFLICT (flavor, id) DO NOTHING",
        )
        .bind(w.shared_json()?)
        .execute(&mut **tx)
        .await?;
        sqlx::query(
            "INSERT INTO incident_stix (incident_id, flavor, change_seq, refs, own)
             SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4
             FROM json_each(?) WHERE true
             ON CONFLICT (incident_id, flavor) DO UPDATE SET change_seq = excluded.change_seq,
               refs = excluded.refs, own = excluded.own",
        )
        .bind(w.rows_json()?)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Stores an incident's objects under both flavours, inside its write; without rules,
    /// removes what was stored (it no longer matches the incident).
    pub(super) async fn write_stix(
        tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
        rules: Option<&Arc<StixRules>>,
        s: &StoredIncident,
    ) -> anyhow::Result<()> {
        Self::write_stix_batch(tx, rules, std::slice::from_ref(s), &mut Prepared::default()).await
    }

    /// Shared objects by id under a flavour (those stored).
    pub(super) async fn read_shared(
        &self,
        flavor: Flavor,
        ids: &[String],
    ) -> anyhow::Result<Vec<(String, Arc<str>)>> {
        sqlx::query(
            "SELECT s.id, s.json FROM json_each(?1) j
             JOIN stix_shared s ON s.flavor = ?2 AND s.id = j.value",
        )
        .bind(serde_json::to_string(ids)?)
        .bind(flavor.as_str())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("id")?, Arc::from(r.try_get::<&str, _>("json")?))))
        .collect()
    }

    /// The stored objects of an incident under a flavour, if any (for checks and tests).
    pub(crate) async fn stored_objects(
        &self,
        incident_id: &str,
        flavor: Flavor,
    ) -> anyhow::Result<Option<StoredObjects>> {
        Ok(
            sqlx::query("SELECT refs, own FROM incident_stix WHERE incident_id = ? AND flavor = ?")
                .bind(incident_id)
                .bind(flavor.as_str())
                .fetch_optional(&self.pool)
                .await?
                .map(|r| stored_from_row(&r))
                .transpose()?
                .flatten(),
        )
    }

    /// The version the stored objects were built with (for checks and tests).
    pub(crate) async fn stored_stix_version(&self) -> anyhow::Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT version FROM stix_rules")
            .fetch_optional(&self.pool)
            .await?)
    }
}

/// The stored objects of a row with `refs` and `own` columns (both null: none). The text is
/// taken as the bytes stored: the server wrote it from serialised objects.
pub(crate) fn stored_from_row(
    r: &sqlx::sqlite::SqliteRow,
) -> anyhow::Result<Option<StoredObjects>> {
    let refs: Option<String> = r.try_get("refs")?;
    let own: Option<&[u8]> = r.try_get("own")?;
    Ok(refs.zip(own).map(|(refs, own)| StoredObjects {
        refs,
        own: bytes::Bytes::copy_from_slice(own),
    }))
}

/// An incident in an answer: where it is in the change log and its objects, stored or to build.
#[derive(Debug)]
pub struct StixRow {
    /// The incident's id.
    pub id: String,
    /// Its latest change.
    pub change_seq: i64,
    /// That change's time.
    pub changed_at: String,
    /// Its objects.
    pub objects: RowObjects,
}

impl StixRow {
    /// An incident whose objects are to be built.
    pub(crate) fn to_build(s: StoredIncident) -> Self {
        Self {
            id: s.id.as_str().to_owned(),
            change_seq: s.change_seq,
            changed_at: s.changed_at.clone(),
            objects: RowObjects::Build(Box::new(s)),
        }
    }
}

/// An incident's objects as read: stored, or the incident to build them from (no stored
/// objects under the rules asked for).
#[derive(Debug)]
pub enum RowObjects {
    /// Stored text.
    Stored(StoredObjects),
    /// To build.
    Build(Box<StoredIncident>),
}

impl Sqlite {
    /// Incidents (revoked ones too) changed after `after_seq`, in change order, to build.
    pub(super) async fn changes_after_built(
        &self,
        after_seq: i64,
        limit: i64,
    ) -> anyhow::Result<Vec<StixRow>> {
        let cols = Self::columns_of_i();
        let sql = format!(
            "SELECT {cols} FROM incidents i WHERE i.change_seq > ? ORDER BY i.change_seq LIMIT ?"
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(after_seq)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok(StixRow::to_build(Self::incident_from_row(r)?)))
            .collect()
    }

    /// Live incidents matching the filter, in change order, to build.
    pub(super) async fn live_incidents_built(
        &self,
        f: &crate::db::IncidentFilter,
        limit: i64,
    ) -> anyhow::Result<Vec<StixRow>> {
        let mut where_sql = String::new();
        let mut args = Vec::new();
        Self::filter_sql(f, &mut where_sql, &mut args);
        let cols = Self::columns_of_i();
        let sql =
            format!("SELECT {cols} FROM incidents i{where_sql} ORDER BY i.change_seq LIMIT ?");
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for a in &args {
            q = q.bind(a);
        }
        q.bind(limit)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok(StixRow::to_build(Self::incident_from_row(r)?)))
            .collect()
    }

    /// The heads of incidents changed after `after_seq`, in change order.
    pub(super) async fn change_heads(
        &self,
        after_seq: i64,
        limit: i64,
    ) -> anyhow::Result<Vec<Head>> {
        let row = sqlx::query(AssertSqlSafe(Self::heads_sql(
            "FROM incidents i WHERE i.change_seq > ?",
        )))
        .bind(after_seq)
        .bind(limit)
        .fetch_one(&self.pool)
        .await?;
        heads_of(&row)
    }

    /// The heads of live incidents matching the filter, in change order.
    pub(super) async fn live_heads(
        &self,
        f: &crate::db::IncidentFilter,
        limit: i64,
    ) -> anyhow::Result<Vec<Head>> {
        let mut where_sql = String::new();
        let mut args = Vec::new();
        Self::filter_sql(f, &mut where_sql, &mut args);
        let mut q = sqlx::query(AssertSqlSafe(Self::heads_sql(&format!(
            "FROM incidents i{where_sql}"
        ))));
        for a in &args {
            q = q.bind(a);
        }
        heads_of(&q.bind(limit).fetch_one(&self.pool).await?)
    }

    /// Heads as ONE row (`FROM …`, then `LIMIT ?` last): sqlx hands each row from SQLite's
    /// thread to the caller's task, and for a page of a hundred small rows those hand-overs
    /// cost more than the query. A line per incident (id, change, change time) split by
    /// U+0002, fields by tabs; neither occurs in ids or times.
    fn heads_sql(from: &str) -> String {
        format!(
            "SELECT group_concat(id || char(9) || change_seq || char(9) || changed_at, char(2)
                 ORDER BY change_seq) AS heads
             FROM (SELECT i.id, i.change_seq, i.changed_at {from} ORDER BY i.change_seq LIMIT ?)"
        )
    }

    /// The stored objects of `flavor` of these incidents, in any order (the incident itself
    /// when none are stored), without reading the incidents' own rows: [`PAGE_ROW`] incidents
    /// a row for the reason of [`Self::heads_sql`]; a value of a few incidents stays cheap to
    /// allocate and copy (a whole page in one cost page faults in every copy). `heads`: a
    /// line per incident (id, the change the objects were built at, length in bytes of its
    /// own objects, shared ids; -1 for both when none are stored), split by U+0002 and fields
    /// by tabs; `own`: their own objects, end to
    /// end, in the same order. Neither separator occurs in ids, times or compact JSON (which
    /// escapes every control character).
    pub(super) async fn stored_of(
        &self,
        flavor: Flavor,
        ids: &[&str],
    ) -> anyhow::Result<Vec<StoredRow>> {
        let parts = sqlx::query(
            "SELECT group_concat(id || char(9) || coalesce(change_seq, -1) || char(9)
                 || coalesce(octet_length(own), -1) || char(9) || coalesce(refs, ''),
                 char(2) ORDER BY n) AS heads,
               group_concat(own, '' ORDER BY n) AS own
             FROM (SELECT j.value AS id, s.change_seq, s.refs, s.own, j.key AS n
                   FROM json_each(?2) j
                   LEFT JOIN incident_stix s ON s.incident_id = j.value AND s.flavor = ?1)
             GROUP BY n / ?3 ORDER BY n / ?3",
        )
        .bind(flavor.as_str())
        .bind(serde_json::to_string(ids)?)
        .bind(PAGE_ROW as i64)
        .fetch_all(&self.pool)
        .await?;
        let mut rows = Vec::new();
        for r in &parts {
            let heads: &str = r.try_get("heads")?;
            let own = r
                .try_get::<Option<&[u8]>, _>("own")?
                .map(bytes::Bytes::copy_from_slice)
                .unwrap_or_default();
            let mut at = 0;
            for line in heads.split('\u{2}') {
                let mut f = line.splitn(4, '\t');
                let mut next = || f.next().context("a stored page's line is short");
                let (id, seq, len, refs) = (next()?, next()?, next()?, next()?);
                let len: i64 = len.parse()?;
                let row = match usize::try_from(len) {
                    Ok(len) => {
                        let end = at + len;
                        anyhow::ensure!(
                            end <= own.len(),
                            "a stored page is shorter than its lines"
                        );
                        let o = own.slice(at..end);
                        at = end;
                        StoredRow {
                            id: id.to_owned(),
                            change_seq: seq.parse()?,
                            objects: RowObjects::Stored(StoredObjects {
                                refs: refs.to_owned(),
                                own: o,
                            }),
                        }
                    }
                    Err(_) => match self.incident(id).await? {
                        Some(s) => StoredRow {
                            id: id.to_owned(),
                            change_seq: s.change_seq,
                            objects: RowObjects::Build(Box::new(s)),
                        },
                        None => continue,
                    },
                };
                rows.push(row);
            }
        }
        Ok(rows)
    }
}

/// The heads of a [`Sqlite::heads_sql`] answer.
fn heads_of(r: &sqlx::sqlite::SqliteRow) -> anyhow::Result<Vec<Head>> {
    let Some(heads) = r.try_get::<Option<&str>, _>("heads")? else {
        return Ok(Vec::new());
    };
    heads
        .split('\u{2}')
        .map(|line| {
            let mut f = line.splitn(3, '\t');
            let mut next = || f.next().context("a head is short");
            Ok((next()?.to_owned(), next()?.parse()?, next()?.to_owned()))
        })
        .collect()
}

/// Incidents per row of a page read from SQLite (see `Sqlite::stored_page_sql`).
const PAGE_ROW: usize = 8;

super::forward! {
    /// Gives the store its rules: from now on every incident write stores its objects. When
    /// the stored objects were built with other rules (or some incidents have none), they are
    /// built again, a few hundred incidents per transaction. Returns how many incidents were
    /// built again.
    fn use_stix_rules(&self, rules: StixRules) -> anyhow::Result<usize>;
    /// The stored objects of an incident under a flavour, if any (for checks and tests).
    fn stored_objects(&self, incident_id: &str, flavor: Flavor) -> anyhow::Result<Option<StoredObjects>>;
    /// The version the stored objects were built with (for checks and tests).
    fn stored_stix_version(&self) -> anyhow::Result<Option<String>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn objects(size: usize) -> StoredObjects {
        StoredObjects {
            refs: "attack-pattern--1".into(),
            own: bytes::Bytes::from(vec![b'x'; size]),
        }
    }

    /// The memory of stored objects holds at most two generations of its budget, keeps what
    /// answers keep asking for, and answers only for the change an entry was read at.
    #[test]
    fn object_memory_is_bounded_and_keeps_what_is_asked_for() {
        let mut m = ObjectMemory::default();
        m.put(
            Flavor::Standard,
            "incident--keep".into(),
            7,
            objects(100_000),
        );
        for i in 0..1000 {
            m.put(
                Flavor::Standard,
                format!("incident--{i}").into(),
                1,
                objects(100_000),
            );
            if i % 50 == 0 {
                assert!(
                    m.get(Flavor::Standard, "incident--keep", 7).is_some(),
                    "{i}"
                );
            }
            let held: usize = m
                .new
                .iter()
                .chain(&m.old)
                .flat_map(|g| g.values())
                .map(|(_, o)| o.own.len())
                .sum();
            assert!(held <= 2 * OBJECTS_IN_MEMORY, "{held} bytes after {i}");
        }
        assert!(
            m.get(Flavor::Standard, "incident--0", 1).is_none(),
            "pushed out"
        );
        assert!(m.get(Flavor::Standard, "incident--999", 1).is_some());
        assert!(
            m.get(Flavor::OpenCti, "incident--keep", 7).is_none(),
            "another flavour"
        );
        assert!(m.get(Flavor::Standard, "incident--keep", 7).is_some());
        // Asked at a later change: the incident changed, and what is held is of no more use.
        assert!(
            m.get(Flavor::Standard, "incident--keep", 8).is_none(),
            "another change"
        );
        assert!(
            m.get(Flavor::Standard, "incident--keep", 7).is_none(),
            "forgotten"
        );
    }
}
