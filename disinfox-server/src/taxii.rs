//! The TAXII 2.1 collection of incidents: its objects in order, and pages of them.
//!
//! The collection holds exactly the objects `GET /api/v1/bundle` returns for every incident,
//! built by the same `BundleBuilder` (so no object refers to one the collection does not
//! serve), each once. Its order is the change log's: every object has a [`Position`]
//! `(change sequence, rank, id)`. An incident and its relationships sit at the incident's
//! latest change; a shared object (author, markings, DISARM, technique, actor, country) at the
//! change that brought it into the collection (see [`crate::db::collection`]). Within one
//! change, referenced objects come before the objects that refer to them (ranks below), so a
//! client walking the collection always has an object's references already.
//!
//! `date_added` is the time of the object's change, strictly increasing with the sequence, so
//! `added_after` is exact too. A new version of an incident is added at the end; an object a
//! client already has never comes again unless it changed (a new version) or left the
//! collection and came back. Paging is by position: `next` is the position of the last object
//! of a page, and the next page starts after it, whatever was written in between.

use std::collections::BTreeSet;

use stix_model::incident::{disarm_identity, disarm_marking, BuildOptions, BundleBuilder};
use stix_model::incident::{DISARM_IDENTITY_ID, DISARM_MARKING_ID};
use stix_model::{Identifier, StixObject, Timestamp};

use crate::bundle;
use crate::db::collection::{self, ObjectHome, WithObjects, BASE_KEY, DISARM_KEY};
use crate::db::stix::StoredObjects;
use crate::db::{CollectionEntry, StoredIncident};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The id of the collection of every incident.
pub const COLLECTION_ID: &str = "daf6258c-a3cb-4b3b-bbca-0dbf5a6a7ce4";
/// The collection's alias.
pub const COLLECTION_ALIAS: &str = "incidents";
/// The media type of TAXII 2.1 resources (every response of `/taxii2/`).
pub const MEDIA_TAXII: &str = "application/taxii+json;version=2.1";
/// The media type of the objects the collection holds.
pub const MEDIA_STIX: &str = "application/stix+json;version=2.1";
/// The STIX version of every object.
pub const SPEC_VERSION: &str = "2.1";

/// The most incidents read per window while a page is assembled (every incident gives at
/// least one object, so `limit + 1` incidents fill a page unless filters drop objects).
const WINDOW: i64 = 200;

/// Ranks of the TLP marking, author, project identity and extension-definition (0 to 3, in
/// the builder's order, which puts each before the objects that refer to it).
const RANK_BASE: u8 = 0;
/// Ranks of the DISARM identity and its marking (4 and 5).
const RANK_DISARM: u8 = 4;
/// Rank of attack-patterns, threat-actors and locations.
const RANK_SHARED: u8 = 6;
/// Rank of an incident.
const RANK_INCIDENT: u8 = 7;
/// Rank of an incident's relationships.
const RANK_RELATIONSHIP: u8 = 8;

/// Where an object sits in the collection. Positions are totally ordered (sequence, then
/// rank, then id).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    /// The change-log sequence number.
    pub seq: i64,
    /// Referenced objects first: 0-3 author, markings and extension, 4-5 DISARM, 6
    /// techniques, actors and countries, 7 the incident, 8 its relationships.
    pub rank: u8,
    /// The object's id.
    pub id: String,
}

impl Position {
    /// Before every object.
    pub fn start() -> Self {
        Self {
            seq: 0,
            rank: 0,
            id: String::new(),
        }
    }

    /// After every object of change `seq` and of the changes before it.
    pub fn after_seq(seq: i64) -> Self {
        Self {
            seq,
            rank: u8::MAX,
            id: String::new(),
        }
    }

    /// The `next` token of a page ending at this position (`<seq>.end` after every object of
    /// a change).
    pub fn token(&self) -> String {
        if self.rank == u8::MAX {
            format!("{}.end", self.seq)
        } else {
            format!("{}.{}.{}", self.seq, self.rank, self.id)
        }
    }

    /// Reads a `next` token; `None` when it is not one this server gives.
    pub fn parse_token(s: &str) -> Option<Self> {
        if let Some(seq) = s.strip_suffix(".end") {
            return seq.parse().ok().filter(|n| *n >= 0).map(Self::after_seq);
        }
        let mut parts = s.splitn(3, '.');
        let seq: i64 = parts.next()?.parse().ok().filter(|n| *n >= 0)?;
        let rank: u8 = parts
            .next()?
            .parse()
            .ok()
            .filter(|r| *r <= RANK_RELATIONSHIP)?;
        let id = parts.next()?;
        Identifier::parse(id).ok()?;
        Some(Self {
            seq,
            rank,
            id: id.to_owned(),
        })
    }
}

/// An object of the collection with its place and TAXII `date_added`.
#[derive(Debug, Clone)]
pub struct Item {
    /// Where it sits.
    pub position: Position,
    /// When it was added (`YYYY-MM-DDTHH:MM:SS.ffffffZ`).
    pub date_added: String,
    /// The object.
    pub object: StixObject,
}

impl Item {
    /// The object's version: its `modified` (`created` for a marking-definition).
    pub fn version(&self) -> String {
        self.object
            .modified()
            .map(|t| t.to_string())
            .unwrap_or_else(|| self.date_added.clone())
    }
}

/// Which versions `match[version]` asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Versions {
    /// `last` (the default), `first` or `all`: the collection keeps one version of each
    /// object, so these are the same.
    #[default]
    Any,
    /// Only these `modified` times.
    Only(BTreeSet<Timestamp>),
}

/// The `match[...]` filters of a request (TAXII 2.1 §3.6); `None` means no filter.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// `match[id]`.
    pub ids: Option<BTreeSet<String>>,
    /// `match[type]`.
    pub types: Option<BTreeSet<String>>,
    /// `match[version]`.
    pub versions: Versions,
    /// `match[spec_version]`.
    pub spec_versions: Option<BTreeSet<String>>,
}

fn id_type(id: &str) -> &str {
    id.split_once("--").map_or(id, |(t, _)| t)
}

impl Filter {
    /// Whether an object passes every filter.
    pub fn matches(&self, o: &StixObject) -> bool {
        self.ids.as_ref().is_none_or(|s| s.contains(o.id()))
            && self
                .types
                .as_ref()
                .is_none_or(|s| s.contains(o.object_type()))
            && match &self.versions {
                Versions::Any => true,
                Versions::Only(v) => o.modified().is_some_and(|m| v.contains(&m)),
            }
            && self
                .spec_versions
                .as_ref()
                .is_none_or(|s| s.contains(SPEC_VERSION))
    }

    /// The types of the ids asked for, once per request (`None`: no `match[id]`).
    fn id_types(&self) -> Option<BTreeSet<&str>> {
        self.ids
            .as_ref()
            .map(|ids| ids.iter().map(|i| id_type(i)).collect())
    }
}

/// A filter with what is worked out once per request, so that the checks per object cost
/// the same whatever the number of ids asked for.
struct Plan<'a> {
    filter: &'a Filter,
    id_types: Option<BTreeSet<&'a str>>,
}

impl<'a> Plan<'a> {
    fn new(filter: &'a Filter) -> Self {
        Self {
            filter,
            id_types: filter.id_types(),
        }
    }

    /// Whether an object of one of these types could pass (to skip building the others).
    fn may_have_type(&self, types: &[&str]) -> bool {
        self.filter
            .types
            .as_ref()
            .is_none_or(|s| types.iter().any(|t| s.contains(*t)))
            && self
                .id_types
                .as_ref()
                .is_none_or(|s| types.iter().any(|t| s.contains(t)))
            && self
                .filter
                .spec_versions
                .as_ref()
                .is_none_or(|s| s.contains(SPEC_VERSION))
    }

    fn may_match_incident(&self, s: &StoredIncident) -> bool {
        let types: &[&str] = if s.revoked {
            &["incident"]
        } else {
            &["incident", "relationship"]
        };
        if !self.may_have_type(types) {
            return false;
        }
        // An incident id asked for is the incident's; relationship ids cannot be told apart
        // before they are built.
        self.filter.ids.as_ref().is_none_or(|ids| {
            ids.contains(s.id.as_str())
                || self
                    .id_types
                    .as_ref()
                    .is_some_and(|t| t.contains("relationship"))
        })
    }
}

/// The kinds of shared objects, by the key of their collection entry.
enum Shared {
    Base,
    Disarm,
    Technique,
    Actor,
    Country,
}

impl Shared {
    fn of(e: &CollectionEntry) -> Option<Self> {
        match e.key.split_once(':') {
            None if e.key == BASE_KEY => Some(Self::Base),
            None if e.key == DISARM_KEY => Some(Self::Disarm),
            Some(("technique", _)) => Some(Self::Technique),
            Some(("actor", _)) => Some(Self::Actor),
            Some(("country", _)) => Some(Self::Country),
            _ => None,
        }
    }

    fn types(&self) -> &'static [&'static str] {
        match self {
            Self::Base => &["marking-definition", "identity", "extension-definition"],
            Self::Disarm => &["marking-definition", "identity"],
            Self::Technique => &["attack-pattern"],
            Self::Actor => &["threat-actor"],
            Self::Country => &["location"],
        }
    }
}

fn internal(what: String) -> ApiError {
    ApiError::Internal(anyhow::anyhow!(what))
}

/// The objects of a shared entry with their ranks, built as `BundleBuilder` builds them for
/// an incident that refers to them.
fn entry_objects(e: &CollectionEntry, opts: &BuildOptions) -> ApiResult<Vec<(u8, StixObject)>> {
    let ranked = |first: u8, objects: Vec<StixObject>| (first..).zip(objects).collect::<Vec<_>>();
    let Some(kind) = Shared::of(e) else {
        tracing::warn!(key = %e.key, "unknown TAXII collection entry; skipped");
        return Ok(Vec::new());
    };
    match kind {
        Shared::Base => {
            let objects = BundleBuilder::new(opts.clone()).into_objects();
            if objects.len() > usize::from(RANK_DISARM - RANK_BASE) {
                return Err(internal("more base objects than ranks".into()));
            }
            Ok(ranked(RANK_BASE, objects))
        }
        Shared::Disarm => Ok(ranked(
            RANK_DISARM,
            vec![disarm_identity().into(), disarm_marking().into()],
        )),
        Shared::Technique | Shared::Actor | Shared::Country => {
            Ok(collection::entry_object(&e.key, &e.value, opts)?
                .map(|o| (RANK_SHARED, o))
                .into_iter()
                .collect())
        }
    }
}

/// The objects of one incident (those of the collection among them): read from its stored
/// objects when they follow these options, built otherwise.
fn incident_objects(
    state: &AppState,
    opts: &BuildOptions,
    s: &StoredIncident,
    stored: Option<&StoredObjects>,
) -> ApiResult<Vec<StixObject>> {
    let rules = state.store.stix_rules().filter(|r| r.serves(opts));
    match (rules, stored) {
        (Some(_), Some(stored)) => Ok(stored
            .own_objects()
            .map_err(|e| internal(format!("stored objects of {}: {e:#}", s.id)))?
            .into_iter()
            .filter(|o| matches!(o.object_type(), "incident" | "relationship"))
            .collect()),
        _ => Ok(bundle::builder(opts.clone(), std::slice::from_ref(s))?.into_objects()),
    }
}

/// The items of one incident: the incident and, unless it was deleted, its relationships.
fn incident_items(
    state: &AppState,
    opts: &BuildOptions,
    (s, stored): &WithObjects,
) -> ApiResult<Vec<Item>> {
    Ok(incident_objects(state, opts, s, stored.as_ref())?
        .into_iter()
        .filter_map(|o| {
            let rank = if o.id() == s.id.as_str() {
                RANK_INCIDENT
            } else if o.object_type() == "relationship" {
                RANK_RELATIONSHIP
            } else {
                return None;
            };
            Some(Item {
                position: Position {
                    seq: s.change_seq,
                    rank,
                    id: o.id().to_owned(),
                },
                date_added: s.changed_at.clone(),
                object: o,
            })
        })
        .collect())
}

/// The items of these incidents and entries that the plan may keep, in collection order.
fn items_of(
    state: &AppState,
    plan: &Plan<'_>,
    opts: &BuildOptions,
    incidents: &[WithObjects],
    entries: &[CollectionEntry],
) -> ApiResult<Vec<Item>> {
    let mut items = Vec::new();
    for e in entries {
        if Shared::of(e).is_some_and(|k| !plan.may_have_type(k.types())) {
            continue;
        }
        items.extend(entry_objects(e, opts)?.into_iter().map(|(rank, o)| Item {
            position: Position {
                seq: e.seq,
                rank,
                id: o.id().to_owned(),
            },
            date_added: e.at.clone(),
            object: o,
        }));
    }
    for s in incidents.iter().filter(|(s, _)| plan.may_match_incident(s)) {
        items.extend(incident_items(state, opts, s)?);
    }
    items.sort_by(|a, b| a.position.cmp(&b.position));
    Ok(items)
}

/// The most windows of incidents one request reads: a filter that matches little stops
/// after this much work and answers a short (even empty) page with `more` and a `next`
/// that resumes after what was read.
const MAX_WINDOWS: usize = 10;

/// Up to `limit` objects after `after` that pass `filter`, in collection order, and where
/// the next page starts when more follow.
///
/// With `match[id]`, the objects are looked up (an incident by its id, a relationship or
/// shared object in the object index): the work is bounded by the ids asked for, whatever
/// the size of the collection. Otherwise the collection is read window by window from
/// `after`, at most `MAX_WINDOWS` windows per request.
pub async fn page(
    state: &AppState,
    after: &Position,
    filter: &Filter,
    limit: usize,
) -> ApiResult<(Vec<Item>, Option<Position>)> {
    let opts = bundle::options(&state.settings, false)?;
    let plan = Plan::new(filter);
    let take = |items: Vec<Item>, out: &mut Vec<Item>| -> Option<Position> {
        for it in items {
            if it.position > *after && filter.matches(&it.object) {
                out.push(it);
                if out.len() > limit {
                    out.truncate(limit);
                    return out.last().map(|i| i.position.clone());
                }
            }
        }
        None
    };
    let mut out = Vec::new();
    if let Some(ids) = &filter.ids {
        let (incident_ids, keys) = homes_of(state, &opts, ids).await?;
        let (incidents, entries) = state
            .store
            .collection_items_of(after.seq, &incident_ids, &keys)
            .await?;
        let items = items_of(state, &plan, &opts, &incidents, &entries)?;
        let next = take(items, &mut out);
        return Ok((out, next));
    }
    let with_incidents = plan.may_have_type(&["incident", "relationship"]);
    let window = i64::try_from(limit).map_or(WINDOW, |l| l.saturating_add(1).min(WINDOW));
    let mut from = after.seq;
    for _ in 0..MAX_WINDOWS {
        let (incidents, entries, upto) = state
            .store
            .collection_window(from, window, with_incidents)
            .await?;
        let items = items_of(state, &plan, &opts, &incidents, &entries)?;
        if let Some(next) = take(items, &mut out) {
            return Ok((out, Some(next)));
        }
        if upto == i64::MAX {
            return Ok((out, None));
        }
        from = upto.saturating_add(1);
    }
    // Every object up to change `from - 1` was read.
    Ok((out, Some(Position::after_seq(from - 1))))
}

/// The incidents and entry keys that hold these ids: incidents by their own ids,
/// relationships and shared objects through the object index, the base and DISARM objects
/// by their fixed ids. Unknown ids hold nothing.
async fn homes_of(
    state: &AppState,
    opts: &BuildOptions,
    ids: &BTreeSet<String>,
) -> ApiResult<(BTreeSet<String>, BTreeSet<String>)> {
    let mut incidents: BTreeSet<String> = ids
        .iter()
        .filter(|i| id_type(i) == "incident")
        .cloned()
        .collect();
    let mut keys = BTreeSet::new();
    for home in state.store.object_homes(ids).await?.into_values() {
        match home {
            ObjectHome::Incident(i) => incidents.insert(i),
            ObjectHome::Entry(k) => keys.insert(k),
        };
    }
    let base = BundleBuilder::new(opts.clone()).into_objects();
    if base.iter().any(|o| ids.contains(o.id())) {
        keys.insert(BASE_KEY.to_owned());
    }
    if ids.contains(DISARM_IDENTITY_ID) || ids.contains(DISARM_MARKING_ID) {
        keys.insert(DISARM_KEY.to_owned());
    }
    Ok((incidents, keys))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_refuse_what_the_server_never_gave() {
        let p = Position {
            seq: 42,
            rank: RANK_INCIDENT,
            id: "incident--c1817dc0-80ae-547f-83c0-920b0c6a25b8".into(),
        };
        assert_eq!(Position::parse_token(&p.token()), Some(p.clone()));
        let end = Position::after_seq(41);
        assert_eq!(end.token(), "41.end");
        assert_eq!(Position::parse_token("41.end"), Some(end));
        assert!(Position::start() < p && p < Position::after_seq(42));
        assert!(Position::after_seq(41) < p);
        for bad in [
            "",
            "x",
            "42",
            "-1.3.incident--c1817dc0-80ae-547f-83c0-920b0c6a25b8",
            "42.9.incident--c1817dc0-80ae-547f-83c0-920b0c6a25b8",
            "42.300.incident--c1817dc0-80ae-547f-83c0-920b0c6a25b8",
            "42.3.nonsense",
            "42.3.",
            "-1.end",
            "x.end",
            ".end",
        ] {
            assert_eq!(Position::parse_token(bad), None, "{bad}");
        }
    }
}
