//! An import's batch written with one statement per table (both backends call these
//! backend-neutral rules; see `Store::import_items`).
//!
//! The batch's stored state is read first, in one statement per kind (the incidents of the
//! batch's ids, the live incidents of its CSV rows' names), and each incident's outcome is
//! decided here by the same rules as the per-incident path ([`is_unchanged`], [`versions`],
//! the by-name identity): rejected and unchanged incidents write nothing, new incidents are
//! written together (their change-log positions and times allocated in one go, strictly
//! increasing, and their facets, collection references, entries and object index rows as one
//! row set per table), and the rest (new versions, revocations) take the per-incident path
//! inside the same transaction, in file order, in a savepoint each. A batch whose incidents
//! could see each other (the same id twice, two names that may be one) takes the per-incident
//! path whole, as does a batch whose set-based statements fail: so the outcome of every
//! incident, and the report, is exactly what the per-incident path gives.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::Serialize;
use stix_model::{Identifier, Timestamp};

use super::changes::next_change_time;
use super::collection::{
    collection_keys, entering_keys, index_rows_with, relationship_ids, IndexRow,
};
use super::incidents::{facet_rows, has_first_seen, versions, FacetRows};
use super::jobs::{is_unchanged, Change, Outcome, Planned};
use super::stix::{flavour_rows, FlavourRows, StixRules};
use super::StoredIncident;
use crate::model::Incident;

/// What a batch's new incidents will store that does not depend on the database: each one's
/// `data` JSON, the ids of its relationships in the collection's object index, and its STIX
/// objects under both flavours of the store's rules. It is built before the batch takes the
/// writer (`Store::prepare_creates`), so that an import builds the next batch while the
/// database writes this one.
///
/// The writer uses a prepared incident only when it writes that very item (the same
/// `Incident` in memory) as new, with the times it was prepared with, and its objects only
/// under the rules they were built with; anything else (a new version, rules replaced
/// meanwhile, an id twice in the batch, other items) is built in the transaction as before.
/// So a preparation can make a write faster, never different.
#[derive(Debug, Default)]
pub struct Prepared {
    /// The rules the objects were built with.
    rules: Option<Arc<StixRules>>,
    /// By incident id, until the writer takes them.
    incidents: BTreeMap<String, PreparedIncident>,
    /// The objects of the incidents the writer took, by id, until it stores them.
    objects: BTreeMap<String, (Timestamp, Timestamp, Vec<FlavourRows>)>,
}

/// One prepared incident.
#[derive(Debug)]
struct PreparedIncident {
    /// The address of the `Incident` it was prepared from (its identity: prepared items stay
    /// in memory until written).
    from: usize,
    created: Timestamp,
    modified: Timestamp,
    data: String,
    relationships: BTreeSet<String>,
    objects: Option<Vec<FlavourRows>>,
}

/// What a new incident of a batch stores apart from the database, prepared or built now.
pub(super) struct Taken {
    pub data: String,
    pub relationships: BTreeSet<String>,
}

impl Prepared {
    /// Prepares the new incidents these items would create (CPU only; an item that cannot be
    /// built is left to the writer, which reports why).
    pub(super) fn new(rules: Option<Arc<StixRules>>, items: &[&Planned]) -> Self {
        let mut seen = BTreeMap::new();
        for item in items {
            if let Change::Save { id, .. } = &item.change {
                *seen.entry(id.as_str()).or_insert(0) += 1;
            }
        }
        let mut incidents = BTreeMap::new();
        for item in items {
            let Change::Save {
                id,
                incident,
                created,
                modified,
                ..
            } = &item.change
            else {
                continue;
            };
            if seen.get(id.as_str()) != Some(&1) {
                continue;
            }
            let (created, _, modified) = versions(None, *created, *modified);
            let (Ok(data), Ok(relationships)) = (
                serde_json::to_string(incident),
                relationship_ids(id.as_str(), incident),
            ) else {
                continue;
            };
            let objects = rules.as_deref().and_then(|rules| {
                let s = StoredIncident {
                    id: id.clone(),
                    created,
                    modified,
                    revoked: false,
                    change_seq: 0,
                    changed_at: String::new(),
                    incident: (**incident).clone(),
                };
                flavour_rows(rules, &s).ok()
            });
            incidents.insert(
                id.to_string(),
                PreparedIncident {
                    from: address(incident),
                    created,
                    modified,
                    data,
                    relationships,
                    objects,
                },
            );
        }
        Self {
            rules,
            incidents,
            objects: BTreeMap::new(),
        }
    }

    /// What a new incident stores apart from the database: prepared when it was prepared from
    /// this item with these times (its objects are then kept for [`Prepared::take_objects`]),
    /// else built now.
    pub(super) fn take(&mut self, c: &Create) -> anyhow::Result<Taken> {
        let (created, _, modified) = versions(None, c.created, c.modified);
        if let Some(p) = self.incidents.remove(c.id.as_str()) {
            if p.from == address(c.incident) && p.created == created && p.modified == modified {
                if let Some(objects) = p.objects {
                    self.objects
                        .insert(c.id.to_string(), (created, modified, objects));
                }
                return Ok(Taken {
                    data: p.data,
                    relationships: p.relationships,
                });
            }
        }
        Ok(Taken {
            data: serde_json::to_string(c.incident)?,
            relationships: relationship_ids(c.id.as_str(), c.incident)?,
        })
    }

    /// The prepared objects of an incident [`Prepared::take`] took, if it is stored as it was
    /// prepared and under the rules they were built with.
    pub(super) fn take_objects(
        &mut self,
        rules: &Arc<StixRules>,
        s: &StoredIncident,
    ) -> Option<Vec<FlavourRows>> {
        if s.revoked || !self.rules.as_ref().is_some_and(|r| Arc::ptr_eq(r, rules)) {
            return None;
        }
        let (created, modified, objects) = self.objects.remove(s.id.as_str())?;
        (created == s.created && modified == s.modified).then_some(objects)
    }
}

/// The address of an incident in memory (see [`PreparedIncident::from`]).
fn address(incident: &Incident) -> usize {
    std::ptr::from_ref(incident).addr()
}

/// What to do with one incident of a batch.
pub(super) enum Step<'a> {
    /// Nothing to write: rejected, or identical to what is stored.
    Done(Outcome),
    /// A new incident, written with the others of its run.
    Create(Create<'a>),
    /// A new version or a revocation: the per-incident path, in a savepoint.
    Single,
}

/// A new incident of a batch.
pub(super) struct Create<'a> {
    pub id: Identifier,
    pub incident: &'a Incident,
    pub created: Timestamp,
    pub modified: Option<Timestamp>,
}

/// The names to look up for the batch's CSV rows: `(position in the batch, name)`.
pub(super) fn name_lookups<'a>(batch: &[(i64, &'a Planned)]) -> Vec<(i64, &'a str)> {
    batch
        .iter()
        .enumerate()
        .filter_map(|(i, (_, item))| match &item.change {
            Change::Save {
                by_name: true,
                incident,
                ..
            } => Some((i as i64, incident.input.name.as_str())),
            _ => None,
        })
        .collect()
}

/// The live incident each CSV row of the batch names, from the rows of the by-name look-up
/// (`(position, id, data)`, in change order for each position): the first whose first-seen
/// date is the row's, as `incident_id_by_name` chooses.
pub(super) fn found_by_name(
    batch: &[(i64, &Planned)],
    rows: Vec<(i64, String, String)>,
) -> anyhow::Result<BTreeMap<usize, Identifier>> {
    let mut found = BTreeMap::new();
    for (i, id, data) in rows {
        let i = usize::try_from(i)?;
        if found.contains_key(&i) {
            continue;
        }
        let Some((_, item)) = batch.get(i) else {
            continue;
        };
        if let Change::Save { incident, .. } = &item.change {
            if has_first_seen(&data, incident.input.first_seen.as_deref())? {
                found.insert(i, Identifier::parse(id.as_str())?);
            }
        }
    }
    Ok(found)
}

/// The id each incident of the batch is written under (`None` for rejected ones).
fn target_ids<'a>(
    batch: &'a [(i64, &Planned)],
    found: &'a BTreeMap<usize, Identifier>,
) -> Vec<Option<&'a Identifier>> {
    batch
        .iter()
        .enumerate()
        .map(|(i, (_, item))| match &item.change {
            Change::Save { id, .. } => Some(found.get(&i).unwrap_or(id)),
            Change::Revoke(id) => Some(id),
            Change::Reject(_) => None,
        })
        .collect()
}

/// The ids whose stored rows the batch needs.
pub(super) fn ids_to_read(
    batch: &[(i64, &Planned)],
    found: &BTreeMap<usize, Identifier>,
) -> Vec<String> {
    let ids: BTreeSet<String> = target_ids(batch, found)
        .into_iter()
        .flatten()
        .map(|id| id.to_string())
        .collect();
    ids.into_iter().collect()
}

/// Each incident's step, given what is stored (`existing`, by id); `None` when incidents of
/// the batch could see each other's writes (the same id twice, or two names that one
/// by-name look-up might take for one): then the batch takes the per-incident path.
pub(super) fn plan_steps<'a>(
    batch: &[(i64, &'a Planned)],
    found: &BTreeMap<usize, Identifier>,
    existing: &BTreeMap<String, StoredIncident>,
) -> Option<Vec<Step<'a>>> {
    let targets = target_ids(batch, found);
    let mut ids = BTreeSet::new();
    if !targets.iter().flatten().all(|id| ids.insert(id.as_str())) {
        return None;
    }
    if batch
        .iter()
        .any(|(_, item)| matches!(item.change, Change::Save { by_name: true, .. }))
    {
        let mut names = BTreeSet::new();
        let distinct = batch.iter().all(|(_, item)| match &item.change {
            Change::Save { incident, .. } => names.insert(incident.input.name.to_lowercase()),
            _ => true,
        });
        if !distinct {
            return None;
        }
    }
    let steps = batch
        .iter()
        .zip(targets)
        .map(|((_, item), target)| match (&item.change, target) {
            (Change::Reject(e), _) => Step::Done(Outcome::Rejected(e.clone())),
            (Change::Revoke(_), _) | (_, None) => Step::Single,
            (
                Change::Save {
                    incident,
                    created,
                    modified,
                    ..
                },
                Some(id),
            ) => match existing.get(id.as_str()) {
                Some(e) if is_unchanged(e, incident, *modified) => {
                    Step::Done(Outcome::Unchanged(id.to_string()))
                }
                Some(_) => Step::Single,
                None => Step::Create(Create {
                    id: id.clone(),
                    incident,
                    created: *created,
                    modified: *modified,
                }),
            },
        })
        .collect();
    Some(steps)
}

/// The writes of a batch on one backend, inside its transaction.
pub(super) trait BatchWriter {
    /// Writes a run of new incidents with one statement per table: their outcomes, in order.
    async fn creates(&mut self, run: &[Create<'_>]) -> anyhow::Result<Vec<Outcome>>;
    /// One incident on the per-incident path, in a savepoint.
    async fn single(&mut self, item: &Planned) -> anyhow::Result<Outcome>;
}

/// Applies the steps of a batch in file order: each run of new incidents is written together
/// before the next incident that takes the per-incident path, so change-log positions follow
/// the file.
pub(super) async fn apply_steps(
    w: &mut impl BatchWriter,
    batch: &[(i64, &Planned)],
    steps: Vec<Step<'_>>,
) -> anyhow::Result<Vec<Outcome>> {
    async fn flush(
        w: &mut impl BatchWriter,
        run: &mut Vec<(usize, Create<'_>)>,
        outcomes: &mut [Option<Outcome>],
    ) -> anyhow::Result<()> {
        if run.is_empty() {
            return Ok(());
        }
        let (positions, creates): (Vec<usize>, Vec<Create>) = run.drain(..).unzip();
        let written = w.creates(&creates).await?;
        anyhow::ensure!(
            written.len() == positions.len(),
            "a new incident was not written"
        );
        for (p, o) in positions.into_iter().zip(written) {
            if let Some(slot) = outcomes.get_mut(p) {
                *slot = Some(o);
            }
        }
        Ok(())
    }
    let mut outcomes: Vec<Option<Outcome>> = Vec::with_capacity(batch.len());
    let mut run = Vec::new();
    for ((_, item), step) in batch.iter().zip(steps) {
        match step {
            Step::Done(o) => outcomes.push(Some(o)),
            Step::Create(c) => {
                run.push((outcomes.len(), c));
                outcomes.push(None);
            }
            Step::Single => {
                flush(w, &mut run, &mut outcomes).await?;
                outcomes.push(Some(w.single(item).await?));
            }
        }
    }
    flush(w, &mut run, &mut outcomes).await?;
    outcomes
        .into_iter()
        .map(|o| o.ok_or_else(|| anyhow::anyhow!("an incident of the batch was not written")))
        .collect()
}

/// The entries a run of new incidents may bring into the collection (to look up which the
/// collection holds already).
pub(super) fn entering_of(creates: &[Create]) -> Vec<String> {
    let mut keys = BTreeSet::new();
    for c in creates {
        keys.extend(entering_keys(&collection_keys(c.incident)).into_keys());
    }
    keys.into_iter().collect()
}

/// An incident row of a run of new incidents.
#[derive(Serialize)]
pub(super) struct IncidentRow {
    pub id: String,
    pub name: String,
    pub description: String,
    pub created: String,
    pub modified: String,
    pub first_seen: String,
    pub last_seen: Option<String>,
    pub data: String,
    pub seq: i64,
    pub at: String,
}

/// Every row a run of new incidents writes, table by table.
#[derive(Default)]
pub(super) struct CreateRows {
    /// `(seq, incident, at)`: the change log's `create` changes.
    pub changes: Vec<(i64, String, String)>,
    pub incidents: Vec<IncidentRow>,
    /// `(incident, technique, tactic)`.
    pub techniques: Vec<(String, String, String)>,
    /// `(incident, actor)`, in the incident's order.
    pub actors: Vec<(String, String)>,
    /// `(incident, country, role)`.
    pub countries: Vec<(String, String, &'static str)>,
    /// `(incident, channel)`, in the incident's order.
    pub channels: Vec<(String, String)>,
    /// `(incident, key)`: the collection references.
    pub refs: Vec<(String, String)>,
    /// `(key, seq, at, value)`: the entries that enter the collection.
    pub entries: Vec<(String, i64, String, String)>,
    /// The object index rows.
    pub index: Vec<IndexRow>,
    /// The incidents as stored (for their STIX objects).
    pub stored: Vec<StoredIncident>,
}

/// The rows of a run of new incidents written after the change `(last_seq, last_at)` (the
/// newest of the log), given which of their entries the collection holds (`held`): each gets
/// the next position and a change time strictly after the previous one, and each entry
/// enters with the first incident that refers to it, as one write after the other would do.
pub(super) fn create_rows(
    creates: &[Create],
    last_seq: i64,
    last_at: Option<String>,
    held: &BTreeSet<String>,
    prepared: &mut Prepared,
) -> anyhow::Result<CreateRows> {
    let mut rows = CreateRows::default();
    let mut held: BTreeSet<&str> = held.iter().map(String::as_str).collect();
    let mut last_at = last_at;
    let mut entering_all: Vec<BTreeMap<String, String>> = Vec::with_capacity(creates.len());
    for c in creates {
        entering_all.push(entering_keys(&collection_keys(c.incident)));
    }
    for (n, (c, entering)) in creates.iter().zip(&entering_all).enumerate() {
        let seq = last_seq + 1 + i64::try_from(n)?;
        let at = next_change_time(last_at.as_deref());
        last_at = Some(at.clone());
        let (created, _, modified) = versions(None, c.created, c.modified);
        let id = c.id.to_string();
        let taken = prepared.take(c)?;
        let input = &c.incident.input;
        rows.changes.push((seq, id.clone(), at.clone()));
        rows.incidents.push(IncidentRow {
            id: id.clone(),
            name: input.name.clone(),
            description: input.description.clone(),
            created: created.to_string(),
            modified: modified.to_string(),
            first_seen: c.incident.date_key(&created),
            last_seen: input.last_seen.clone(),
            data: taken.data,
            seq,
            at: at.clone(),
        });
        let FacetRows {
            techniques,
            actors,
            countries,
        } = facet_rows(c.incident);
        rows.techniques.extend(
            techniques
                .into_iter()
                .map(|(t, tactic)| (id.clone(), t.clone(), tactic)),
        );
        rows.actors
            .extend(actors.into_iter().map(|a| (id.clone(), a)));
        rows.countries.extend(
            countries
                .into_iter()
                .map(|(c, r)| (id.clone(), c.clone(), r)),
        );
        rows.channels
            .extend(input.channels.iter().map(|ch| (id.clone(), ch.clone())));
        let keys = collection_keys(c.incident);
        rows.refs.extend(keys.into_keys().map(|k| (id.clone(), k)));
        let mut new_keys = Vec::new();
        for (key, value) in entering {
            if held.insert(key.as_str()) {
                new_keys.push((key.clone(), value.clone()));
                rows.entries
                    .push((key.clone(), seq, at.clone(), value.clone()));
            }
        }
        rows.index
            .extend(index_rows_with(&new_keys, &id, Some(taken.relationships))?);
        rows.stored.push(StoredIncident {
            id: c.id.clone(),
            created,
            modified,
            revoked: false,
            change_seq: seq,
            changed_at: at,
            incident: c.incident.clone(),
        });
    }
    Ok(rows)
}

/// A report row of a job: `(n, ref, name, outcome, incident, change, errors, warnings)`.
pub(super) type ReportRow<'a> = (
    i64,
    &'a str,
    Option<&'a str>,
    &'static str,
    Option<&'a str>,
    Option<i64>,
    String,
    String,
);

/// The report rows of a batch and the job's counters to add: `[created, updated,
/// unchanged, rejected]`.
pub(super) fn report_rows<'a>(
    batch: &[(i64, &'a Planned)],
    outcomes: &'a [Outcome],
) -> anyhow::Result<(Vec<ReportRow<'a>>, [i64; 4])> {
    let mut counts = [0; 4];
    let mut rows = Vec::with_capacity(batch.len());
    for ((n, item), outcome) in batch.iter().zip(outcomes) {
        let (what, incident_id, seq) = outcome.parts();
        let errors = match outcome {
            Outcome::Rejected(e) => e.as_slice(),
            _ => &[],
        };
        counts[match outcome {
            Outcome::Created(..) => 0,
            Outcome::Updated(..) => 1,
            Outcome::Unchanged(_) => 2,
            Outcome::Rejected(_) => 3,
        }] += 1;
        rows.push((
            *n,
            item.r#ref.as_str(),
            item.name.as_deref(),
            what,
            incident_id,
            seq,
            serde_json::to_string(errors)?,
            serde_json::to_string(&item.warnings)?,
        ));
    }
    Ok((rows, counts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::postgres::tests::{
        incident, new_id, on_postgres, on_sqlite, planned, rules, save,
    };
    use crate::db::stix::{objects_of, Flavor};
    use crate::db::{IncidentFilter, Sort, Store};
    use crate::model::IncidentInput;

    /// A batch with an incident that cannot be stored in the middle: the others are stored
    /// (new ones, a new version, an unchanged one), it is reported rejected with the reason,
    /// the change log has no gap, shared entries enter with the first incident that refers to
    /// them, and the job's report is exact.
    async fn a_bad_incident_in_a_batch_leaves_the_others(store: &Store) {
        assert_eq!(store.use_stix_rules(rules("Test org")).await.unwrap(), 0);
        let (a, e) = (new_id(), new_id());
        let stored_e = incident("Unchanged", "", &[], &[]);
        for (id, i) in [
            (&a, incident("Old version", "", &["T0002"], &[])),
            (&e, stored_e.clone()),
        ] {
            store
                .save_incident(id, &i, Timestamp::now(), None, None)
                .await
                .unwrap();
        }
        let (b, bad, c) = (new_id(), new_id(), new_id());
        // An empty name: its objects cannot be built.
        let broken = Incident::from_stored(IncidentInput {
            name: " ".into(),
            ..IncidentInput::default()
        });
        let items = [
            planned(save(&b, incident("First", "", &["T0002"], &["Actor B"]))),
            planned(save(&bad, broken)),
            planned(save(&a, incident("New version", "", &[], &[]))),
            planned(save(&c, incident("Second", "", &["T0002"], &["Actor C"]))),
            planned(Change::Reject(vec!["no".into()])),
            planned(save(&e, stored_e)),
        ];
        let batch: Vec<(i64, &Planned)> = (1..).zip(&items).collect();
        let job = store
            .create_job(None, "f.json", "stix", 10, 5, 5)
            .await
            .unwrap()
            .expect("accepted");
        store.start_job(&job.id, items.len(), &[]).await.unwrap();
        let outcomes = store
            .import_items(Some(&job.id), &batch, None, Prepared::default())
            .await
            .unwrap();
        assert_eq!(outcomes[0], Outcome::Created(b.to_string(), 3));
        assert!(
            matches!(&outcomes[1], Outcome::Rejected(e) if e[0].starts_with("could not be stored")),
            "{:?}",
            outcomes[1]
        );
        assert_eq!(outcomes[2], Outcome::Updated(a.to_string(), 4));
        assert_eq!(outcomes[3], Outcome::Created(c.to_string(), 5));
        assert_eq!(outcomes[4], Outcome::Rejected(vec!["no".into()]));
        assert_eq!(outcomes[5], Outcome::Unchanged(e.to_string()));
        assert!(store.incident(bad.as_str()).await.unwrap().is_none());
        assert_eq!(store.last_change_seq().await.unwrap(), 5);
        let job = store.job(&job.id).await.unwrap().unwrap();
        assert_eq!(
            (
                job.done,
                job.created,
                job.updated,
                job.unchanged,
                job.rejected
            ),
            (6, 2, 1, 1, 2)
        );
        let report = store.job_items(&job.id).await.unwrap();
        let seen: Vec<(i64, &str, Option<i64>)> = report
            .iter()
            .map(|i| (i.n, i.outcome.as_str(), i.change_seq))
            .collect();
        assert_eq!(
            seen,
            [
                (1, "created", Some(3)),
                (2, "rejected", None),
                (3, "updated", Some(4)),
                (4, "created", Some(5)),
                (5, "rejected", None),
                (6, "unchanged", None),
            ]
        );

        // The same without the bad incident: written with one statement per table.
        let (f, g) = (new_id(), new_id());
        let items = [
            planned(save(&f, incident("Third", "", &["T0002"], &["Actor F"]))),
            planned(save(&g, incident("Fourth", "", &["T0049"], &["Actor F"]))),
        ];
        let batch: Vec<(i64, &Planned)> = (1..).zip(&items).collect();
        let outcomes = store
            .import_items(None, &batch, None, Prepared::default())
            .await
            .unwrap();
        assert_eq!(
            outcomes,
            [
                Outcome::Created(f.to_string(), 6),
                Outcome::Created(g.to_string(), 7)
            ]
        );
        let (_, entries, _) = store.collection_window(0, 100, false).await.unwrap();
        let seq_of = |key: &str| entries.iter().find(|e| e.key == key).map(|e| e.seq);
        // T0002 entered with the old version of `a`; it stays, as `b` refers to it.
        assert_eq!(seq_of("technique:T0002"), Some(1));
        assert_eq!(seq_of("actor:actor b"), Some(3));
        assert_eq!(seq_of("actor:actor c"), Some(5));
        assert_eq!(seq_of("actor:actor f"), Some(6));
        assert_eq!(seq_of("technique:T0049"), Some(7));
        for id in [&b, &c, &f, &g] {
            assert!(store
                .stored_objects(id.as_str(), crate::db::stix::Flavor::Standard)
                .await
                .unwrap()
                .is_some());
        }
        let by_actor = IncidentFilter {
            actor: Some("Actor F".into()),
            ..IncidentFilter::default()
        };
        let (found, n) = store
            .list_incidents(&by_actor, Sort::Modified, false, 0, 10)
            .await
            .unwrap();
        assert_eq!(n, 2);
        let found: Vec<(String, i64)> = found
            .iter()
            .map(|s| (s.id.to_string(), s.change_seq))
            .collect();
        assert_eq!(found, [(f.to_string(), 6), (g.to_string(), 7)]);
        let text = IncidentFilter {
            q: Some("Fourth".into()),
            ..IncidentFilter::default()
        };
        assert_eq!(
            store
                .list_incidents(&text, Sort::Modified, false, 0, 10)
                .await
                .unwrap()
                .1,
            1
        );
    }

    /// Every incident's stored objects are what the builder makes of the incident as stored.
    async fn assert_objects_follow_the_rules(store: &Store, ids: &[&Identifier]) {
        let rules = store.stix_rules().expect("rules");
        for id in ids {
            let s = store.incident(id.as_str()).await.unwrap().expect("stored");
            for flavor in Flavor::ALL {
                let stored = store
                    .stored_objects(id.as_str(), flavor)
                    .await
                    .unwrap()
                    .expect("objects stored");
                let (built, _) = objects_of(rules.options(flavor), &s).unwrap().split();
                assert_eq!(stored.refs, built.refs, "{id} {flavor:?}");
                assert_eq!(stored.own, built.own, "{id} {flavor:?}");
            }
        }
    }

    /// A batch prepared beforehand stores exactly what one built in its transaction stores:
    /// new incidents take their prepared objects and data, an incident that turned out to
    /// be stored already (a new version) and every incident prepared under rules replaced
    /// since are built again.
    async fn a_prepared_batch_stores_what_the_transaction_would(store: &Store) {
        store.use_stix_rules(rules("Test org")).await.unwrap();
        let (a, b, c) = (new_id(), new_id(), new_id());
        let items = [
            planned(save(
                &a,
                incident("Prepared A", "", &["T0002"], &["Actor A"]),
            )),
            planned(save(&b, incident("Prepared B", "", &["T0049"], &[]))),
            planned(save(&c, incident("Prepared C", "", &[], &["Actor A"]))),
        ];
        let refs: Vec<&Planned> = items.iter().collect();
        let prepared = store.prepare_creates(&refs);
        // `c` is stored before the batch: it becomes a new version, not a creation.
        store
            .save_incident(
                &c,
                &incident("Earlier C", "", &[], &[]),
                Timestamp::now(),
                None,
                None,
            )
            .await
            .unwrap();
        let batch: Vec<(i64, &Planned)> = (1..).zip(&items).collect();
        let outcomes = store
            .import_items(None, &batch, None, prepared)
            .await
            .unwrap();
        assert!(matches!(outcomes[0], Outcome::Created(_, _)));
        assert!(matches!(outcomes[1], Outcome::Created(_, _)));
        assert!(
            matches!(outcomes[2], Outcome::Updated(_, _)),
            "{outcomes:?}"
        );
        for (id, item) in [(&a, &items[0]), (&b, &items[1]), (&c, &items[2])] {
            let Change::Save { incident, .. } = &item.change else {
                unreachable!()
            };
            let s = store.incident(id.as_str()).await.unwrap().expect("stored");
            assert_eq!(&s.incident, incident.as_ref());
        }
        assert_objects_follow_the_rules(store, &[&a, &b, &c]).await;

        // Prepared under rules that were replaced before the batch was written.
        let (d, e) = (new_id(), new_id());
        let items = [
            planned(save(&d, incident("Prepared D", "", &["T0002"], &[]))),
            planned(save(&e, incident("Prepared E", "", &[], &["Actor E"]))),
        ];
        let refs: Vec<&Planned> = items.iter().collect();
        let prepared = store.prepare_creates(&refs);
        let old_rules = store.stix_rules().expect("rules");
        store.use_stix_rules(rules("Other org")).await.unwrap();
        let batch: Vec<(i64, &Planned)> = (1..).zip(&items).collect();
        store
            .import_items(None, &batch, None, prepared)
            .await
            .unwrap();
        assert_objects_follow_the_rules(store, &[&d, &e]).await;
        // (The old rules would have stored other objects.)
        let s = store.incident(d.as_str()).await.unwrap().expect("stored");
        let stored = store
            .stored_objects(d.as_str(), Flavor::Standard)
            .await
            .unwrap()
            .expect("stored");
        let (old, _) = objects_of(old_rules.options(Flavor::Standard), &s)
            .unwrap()
            .split();
        assert_ne!(stored.own, old.own);
    }

    #[tokio::test]
    async fn a_prepared_batch_stores_what_the_transaction_would_on_sqlite() {
        on_sqlite(async |store, _| a_prepared_batch_stores_what_the_transaction_would(store).await)
            .await;
    }

    #[tokio::test]
    async fn a_prepared_batch_stores_what_the_transaction_would_on_postgres() {
        on_postgres(
            "a_prepared_batch_stores_what_the_transaction_would",
            a_prepared_batch_stores_what_the_transaction_would,
        )
        .await;
    }

    #[tokio::test]
    async fn a_bad_incident_in_a_batch_leaves_the_others_on_sqlite() {
        on_sqlite(async |store, _| a_bad_incident_in_a_batch_leaves_the_others(store).await).await;
    }

    #[tokio::test]
    async fn a_bad_incident_in_a_batch_leaves_the_others_on_postgres() {
        on_postgres(
            "a_bad_incident_in_a_batch_leaves_the_others_on_postgres",
            a_bad_incident_in_a_batch_leaves_the_others,
        )
        .await;
    }
}
