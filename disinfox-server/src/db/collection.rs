//! The store side of the TAXII collection: where each shared object entered the collection.
//!
//! The collection holds what the bundle endpoint returns for every incident: each incident
//! (revoked ones too) with its relationships, and the objects incidents share: the author
//! identity, its TLP marking, the project identity and the extension-definition ("base"), the
//! DISARM identity and marking ("disarm"), and one attack-pattern, threat-actor or location
//! per technique, actor or country that a live incident refers to.
//!
//! An incident and its relationships sit at the position of the incident's latest change in
//! the change log: a new version moves them to the end, as new versions. A shared object has
//! one version forever, so it must not move while it stays in the collection, or a client
//! walking the collection would see it twice. Its position is the change that brought it in,
//! kept in `collection_entries`; it leaves when no live incident refers to it any more (and
//! comes back, at the end, if one does again). Both tables are written in the transaction of
//! the incident write, so a reader never sees one without the other.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context;
use sqlx::{AssertSqlSafe, Row};
use stix_model::incident::SHARED_CREATED;
use stix_model::incident::{ActorDescription, BuildOptions, BundleBuilder, IncidentDescription};
use stix_model::opencti::OpenCtiIdRules;
use stix_model::{CountryCode, Identifier, StixObject, Timestamp};

use super::stix::{stored_from_row, StoredObjects};
use super::{Sqlite, StoredIncident};
use crate::model::Incident;

/// The key of the objects every non-empty collection holds (author, TLP marking, project
/// identity, extension-definition).
pub const BASE_KEY: &str = "base";
/// The key of the DISARM Foundation identity and its licence marking.
pub const DISARM_KEY: &str = "disarm";

/// A shared object of the collection and where it entered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionEntry {
    /// `base`, `disarm`, `technique:<id>`, `actor:<lower-case name>` or `country:<code>`.
    pub key: String,
    /// The change that brought it in.
    pub seq: i64,
    /// That change's time (the TAXII `date_added`).
    pub at: String,
    /// What the object is built from: the technique id, the actor's name as first written,
    /// the country code.
    pub value: String,
}

/// The keys of the shared objects an incident refers to, with their values (see
/// [`CollectionEntry`]); the same objects `BundleBuilder` adds for it.
pub fn collection_keys(incident: &Incident) -> BTreeMap<String, String> {
    let input = &incident.input;
    let mut keys = BTreeMap::new();
    for t in &input.techniques {
        keys.insert(format!("technique:{t}"), t.clone());
    }
    if !input.techniques.is_empty() {
        keys.insert(DISARM_KEY.to_owned(), String::new());
    }
    for a in incident.actor_names() {
        let norm = a.trim().to_lowercase();
        if !norm.is_empty() {
            keys.entry(format!("actor:{norm}")).or_insert(a);
        }
    }
    for c in input
        .target_countries
        .iter()
        .chain(input.country_of_origin.iter())
        .filter(|c| stix_model::CountryCode::parse(c).is_ok())
    {
        keys.insert(format!("country:{c}"), c.clone());
    }
    keys
}

/// The one attack-pattern, threat-actor or location `BundleBuilder` builds for a technique,
/// actor or country entry, with these options; nothing for the base and DISARM entries
/// (whose objects do not depend on the entry) and for keys of no known kind.
pub fn entry_object(
    key: &str,
    value: &str,
    opts: &BuildOptions,
) -> anyhow::Result<Option<StixObject>> {
    let mut d = IncidentDescription::new("collection entry");
    d.id = Some(Identifier::parse(
        "incident--00000000-0000-4000-8000-000000000000",
    )?);
    d.created = Timestamp::parse(SHARED_CREATED).ok();
    let ty = match key.split_once(':') {
        Some(("technique", _)) => {
            d.techniques = vec![value.to_owned()];
            "attack-pattern"
        }
        Some(("actor", _)) => {
            d.actors = vec![ActorDescription::new(value)];
            "threat-actor"
        }
        Some(("country", _)) => {
            d.target_countries =
                vec![CountryCode::parse(value).with_context(|| format!("collection entry {key}"))?];
            "location"
        }
        _ => return Ok(None),
    };
    let mut b = BundleBuilder::new(opts.clone());
    b.add_incident(&d)
        .with_context(|| format!("building collection entry {key}"))?;
    Ok(b.into_objects().into_iter().find(|o| o.object_type() == ty))
}

/// Options under each of OpenCTI's id rules: the ids the index holds do not depend on the
/// `opencti_id_rules` setting (only attack-pattern ids, and the relationships to them, differ).
fn options_of_every_rule() -> anyhow::Result<[BuildOptions; 2]> {
    let mut v6 = BuildOptions::with_author("DISINFOX")?;
    v6.id_rules = OpenCtiIdRules::V6;
    let mut v7 = v6.clone();
    v7.id_rules = OpenCtiIdRules::V7;
    Ok([v6, v7])
}

/// The ids of an entry's object under every id rule (see [`entry_object`]).
fn entry_object_ids(key: &str, value: &str) -> anyhow::Result<BTreeSet<String>> {
    let mut ids = BTreeSet::new();
    for opts in options_of_every_rule()? {
        if let Some(o) = entry_object(key, value, &opts)? {
            ids.insert(o.id().to_owned());
        }
    }
    Ok(ids)
}

/// The ids of a live incident's relationships in the collection, under every id rule.
pub fn relationship_ids(id: &str, incident: &Incident) -> anyhow::Result<BTreeSet<String>> {
    let id = Identifier::parse(id).with_context(|| format!("incident id {id:?}"))?;
    let at = Timestamp::parse(SHARED_CREATED)?;
    let d = incident.to_description(&id, at, at, false);
    let mut ids = BTreeSet::new();
    for opts in options_of_every_rule()? {
        let mut b = BundleBuilder::new(opts);
        b.add_incident(&d)
            .with_context(|| format!("building the relationships of {id}"))?;
        ids.extend(
            b.into_objects()
                .iter()
                .filter(|o| o.object_type() == "relationship")
                .map(|o| o.id().to_owned()),
        );
    }
    Ok(ids)
}

/// The entries an incident write brings into the collection if they are not there yet: the
/// incident's keys and the base entry (every incident, revoked ones too, needs the base).
pub(super) fn entering_keys(keys: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut entering = keys.clone();
    entering.insert(BASE_KEY.to_owned(), String::new());
    entering
}

/// The object index rows an incident write adds: the objects of the entries that enter the
/// collection now (`new_keys`, with their values) and the incident's relationships (none
/// for a deleted incident).
pub(super) fn index_rows(
    new_keys: &[(String, String)],
    incident_id: &str,
    incident: Option<&Incident>,
) -> anyhow::Result<Vec<IndexRow>> {
    let relationships = incident
        .map(|i| relationship_ids(incident_id, i))
        .transpose()?;
    index_rows_with(new_keys, incident_id, relationships)
}

/// [`index_rows`] given the incident's relationship ids ([`relationship_ids`]; `None` for a
/// deleted incident).
pub(super) fn index_rows_with(
    new_keys: &[(String, String)],
    incident_id: &str,
    relationships: Option<BTreeSet<String>>,
) -> anyhow::Result<Vec<IndexRow>> {
    let mut index: Vec<IndexRow> = Vec::new();
    for (key, value) in new_keys {
        for id in entry_object_ids(key, value)? {
            index.push((id, None, Some(key.clone())));
        }
    }
    for id in relationships.into_iter().flatten() {
        index.push((id, Some(incident_id.to_owned()), None));
    }
    Ok(index)
}

/// The keys an incident referred to (`old`) and no longer does: they leave the collection
/// unless another live incident still refers to them.
pub(super) fn gone_keys<'a>(old: &'a [String], keys: &BTreeMap<String, String>) -> Vec<&'a String> {
    old.iter().filter(|k| !keys.contains_key(*k)).collect()
}

/// Where the collection holds an object: the live incident whose relationship it is, or the
/// shared entry it is built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectHome {
    /// A relationship of this incident.
    Incident(String),
    /// The object of this entry key.
    Entry(String),
}

/// Looks up where the collection holds these objects (ids the index does not hold are left
/// out): one primary-key search per id.
pub(super) const SQL_OBJECT_HOMES: &str =
    "SELECT x.object_id, x.incident_id, x.key FROM json_each(?1) j
     JOIN collection_object_ids x ON x.object_id = j.value";

/// Incidents by id from a change on, in change order (a primary-key search per id).
pub(super) const SQL_INCIDENTS_BY_IDS: &str =
    "SELECT i.id, i.created, i.modified, i.revoked, i.change_seq, i.changed_at, i.data,
       s.refs, s.own
     FROM json_each(?1) j JOIN incidents i ON i.id = j.value
     LEFT JOIN incident_stix s ON s.incident_id = i.id AND s.flavor = 'standard'
     WHERE i.change_seq >= ?2 ORDER BY i.change_seq";

/// An incident of the collection with its stored objects of the standard flavour, if any.
pub type WithObjects = (StoredIncident, Option<StoredObjects>);

fn with_objects(r: &sqlx::sqlite::SqliteRow) -> anyhow::Result<WithObjects> {
    Ok((Sqlite::incident_from_row(r)?, stored_from_row(r)?))
}

/// Shared entries by key from a change on (a primary-key search per key).
pub(super) const SQL_ENTRIES_BY_KEYS: &str = "SELECT e.key, e.seq, e.at, e.value
     FROM json_each(?1) j JOIN collection_entries e ON e.key = j.value
     WHERE e.seq >= ?2 ORDER BY e.seq, e.key";

/// A row of the object index: `(object id, incident, entry key)`.
pub(crate) type IndexRow = (String, Option<String>, Option<String>);

/// A collection entry from its row (either backend).
pub(super) fn entry_from_row<R>(r: &R) -> anyhow::Result<CollectionEntry>
where
    R: Row,
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    for<'q> String: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
    for<'q> i64: sqlx::Decode<'q, R::Database> + sqlx::Type<R::Database>,
{
    Ok(CollectionEntry {
        key: r.try_get("key")?,
        seq: r.try_get("seq")?,
        at: r.try_get("at")?,
        value: r.try_get("value")?,
    })
}

impl Sqlite {
    /// Records, inside an incident write, the shared objects the incident now refers to
    /// (`None`: it was deleted): new ones enter the collection at this change, and those no
    /// live incident refers to any more leave it. `fresh`: the incident is new (it has no
    /// references or index rows yet, so there is nothing to read or delete).
    pub(super) async fn record_collection_refs(
        tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
        incident_id: &str,
        incident: Option<&Incident>,
        seq: i64,
        at: &str,
        fresh: bool,
    ) -> anyhow::Result<()> {
        let keys = incident.map(collection_keys);
        let keys = keys.as_ref();
        let mut old: Vec<String> = Vec::new();
        if !fresh {
            old = sqlx::query_scalar("SELECT key FROM collection_refs WHERE incident_id = ?")
                .bind(incident_id)
                .fetch_all(&mut **tx)
                .await?;
            sqlx::query("DELETE FROM collection_refs WHERE incident_id = ?")
                .bind(incident_id)
                .execute(&mut **tx)
                .await?;
        }
        // A few set-based statements per write (SQLite's json_each over the keys) rather than
        // two statements per key: incident writes stay cheap.
        let empty = BTreeMap::new();
        let keys = keys.unwrap_or(&empty);
        let entering = serde_json::to_string(&entering_keys(keys))?;
        // The ids of the objects of the entries that enter now, and of the incident's
        // relationships, go into the object index with them.
        let new_keys: Vec<(String, String)> = sqlx::query_as(
            "SELECT key, value FROM json_each(?1)
             WHERE key NOT IN (SELECT key FROM collection_entries)",
        )
        .bind(&entering)
        .fetch_all(&mut **tx)
        .await?;
        if !fresh {
            sqlx::query("DELETE FROM collection_object_ids WHERE incident_id = ?")
                .bind(incident_id)
                .execute(&mut **tx)
                .await?;
        }
        let index = index_rows(&new_keys, incident_id, incident)?;
        Self::insert_object_index(tx, &index).await?;
        if !keys.is_empty() {
            sqlx::query(
                "INSERT INTO collection_refs (incident_id, key) SELECT ?1, key FROM json_each(?2)",
            )
            .bind(incident_id)
            .bind(serde_json::to_string(keys)?)
            .execute(&mut **tx)
            .await?;
        }
        sqlx::query(
            "INSERT OR IGNORE INTO collection_entries (key, seq, at, value)
             SELECT key, ?2, ?3, value FROM json_each(?1)",
        )
        .bind(&entering)
        .bind(seq)
        .bind(at)
        .execute(&mut **tx)
        .await?;
        let gone = gone_keys(&old, keys);
        if !gone.is_empty() {
            let gone = serde_json::to_string(&gone)?;
            sqlx::query(
                "DELETE FROM collection_entries WHERE key IN (SELECT value FROM json_each(?1))
                 AND NOT EXISTS (SELECT 1 FROM collection_refs r WHERE r.key = collection_entries.key)",
            )
            .bind(&gone)
            .execute(&mut **tx)
            .await?;
            sqlx::query(
                "DELETE FROM collection_object_ids WHERE key IN (SELECT value FROM json_each(?1))
                 AND key NOT IN (SELECT key FROM collection_entries)",
            )
            .bind(&gone)
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }

    /// Adds rows to the object index (one statement).
    pub(super) async fn insert_object_index(
        tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
        rows: &[IndexRow],
    ) -> anyhow::Result<()> {
        if !rows.is_empty() {
            sqlx::query(
                "INSERT OR IGNORE INTO collection_object_ids (object_id, incident_id, key)
                 SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]')
                 FROM json_each(?1)",
            )
            .bind(serde_json::to_string(rows)?)
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }

    /// The next 500 incidents (revoked ones too) after change `after`, in change order, read
    /// in a start-up transaction.
    async fn incidents_after(
        tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
        after: i64,
    ) -> anyhow::Result<Vec<StoredIncident>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {} FROM incidents WHERE change_seq > ? ORDER BY change_seq LIMIT 500",
            Self::COLUMNS
        )))
        .bind(after)
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(Self::incident_from_row)
        .collect()
    }

    /// Fills the object index of a database written before it existed (a task the migration
    /// leaves in `maintenance`): every live incident's relationships and every shared entry.
    pub(super) async fn index_collection_objects(&self) -> anyhow::Result<()> {
        const TASK: &str = "index collection object ids";
        let _w = self.write.lock().await;
        let mut tx = self.pool.begin().await?;
        let pending: Option<String> =
            sqlx::query_scalar("SELECT task FROM maintenance WHERE task = ?")
                .bind(TASK)
                .fetch_optional(&mut *tx)
                .await?;
        if pending.is_none() {
            return Ok(());
        }
        sqlx::query("DELETE FROM collection_object_ids")
            .execute(&mut *tx)
            .await?;
        let entries: Vec<(String, String)> =
            sqlx::query_as("SELECT key, value FROM collection_entries")
                .fetch_all(&mut *tx)
                .await?;
        let mut index: Vec<IndexRow> = Vec::new();
        for (key, value) in entries {
            for id in entry_object_ids(&key, &value)? {
                index.push((id, None, Some(key.clone())));
            }
        }
        let mut after = 0;
        loop {
            let batch = Self::incidents_after(&mut tx, after).await?;
            let Some(last) = batch.last() else { break };
            after = last.change_seq;
            for s in batch.iter().filter(|s| !s.revoked) {
                for id in relationship_ids(s.id.as_str(), &s.incident)? {
                    index.push((id, Some(s.id.to_string()), None));
                }
            }
        }
        for chunk in index.chunks(5000) {
            Self::insert_object_index(&mut tx, chunk).await?;
        }
        sqlx::query("DELETE FROM maintenance WHERE task = ?")
            .bind(TASK)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Where the collection holds each of these objects (see [`ObjectHome`]); ids it does
    /// not hold in the index (incidents, base and DISARM objects, unknown ids) are left out.
    pub(crate) async fn object_homes(
        &self,
        ids: &BTreeSet<String>,
    ) -> anyhow::Result<BTreeMap<String, ObjectHome>> {
        let rows: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(SQL_OBJECT_HOMES)
            .bind(serde_json::to_string(ids)?)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, incident, key)| match (incident, key) {
                (Some(i), _) => Some((id, ObjectHome::Incident(i))),
                (None, Some(k)) => Some((id, ObjectHome::Entry(k))),
                (None, None) => None,
            })
            .collect())
    }

    /// [`Store::collection_window`] for named objects only: the incidents with these ids and
    /// the entries with these keys, from change `from_seq` on, in one read.
    pub(crate) async fn collection_items_of(
        &self,
        from_seq: i64,
        incident_ids: &BTreeSet<String>,
        keys: &BTreeSet<String>,
    ) -> anyhow::Result<(Vec<WithObjects>, Vec<CollectionEntry>)> {
        let mut tx = self.pool.begin().await?;
        let incidents = sqlx::query(SQL_INCIDENTS_BY_IDS)
            .bind(serde_json::to_string(incident_ids)?)
            .bind(from_seq)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(with_objects)
            .collect::<anyhow::Result<Vec<_>>>()?;
        let entries = sqlx::query(SQL_ENTRIES_BY_KEYS)
            .bind(serde_json::to_string(keys)?)
            .bind(from_seq)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(entry_from_row)
            .collect::<anyhow::Result<Vec<_>>>()?;
        tx.commit().await?;
        Ok((incidents, entries))
    }

    /// The object index as stored, `(object id, incident, key)` (for checks and tests).
    pub(crate) async fn object_index(&self) -> anyhow::Result<Vec<IndexRow>> {
        Ok(sqlx::query_as(
            "SELECT object_id, incident_id, key FROM collection_object_ids ORDER BY object_id",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// Fills the collection tables of a database that has incidents but no collection yet
    /// (one written before the tables existed): each shared object enters at the earliest
    /// latest-change of the live incidents that refer to it.
    pub(super) async fn backfill_collection(&self) -> anyhow::Result<()> {
        let _w = self.write.lock().await;
        let mut tx = self.pool.begin().await?;
        let has_base: Option<i64> =
            sqlx::query_scalar("SELECT seq FROM collection_entries WHERE key = ?")
                .bind(BASE_KEY)
                .fetch_optional(&mut *tx)
                .await?;
        if has_base.is_some() {
            return Ok(());
        }
        let mut after = 0;
        loop {
            let batch = Self::incidents_after(&mut tx, after).await?;
            let Some(last) = batch.last() else { break };
            after = last.change_seq;
            for s in &batch {
                Self::record_collection_refs(
                    &mut tx,
                    s.id.as_str(),
                    (!s.revoked).then_some(&s.incident),
                    s.change_seq,
                    &s.changed_at,
                    false,
                )
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// One consistent read of the collection from change `from_seq` on: up to `limit`
    /// incidents (revoked ones too) with `change_seq >= from_seq` in change order (none when
    /// `with_incidents` is false), and the shared objects that entered from `from_seq` up to
    /// the last incident read (to the end when fewer than `limit` incidents remain). The last
    /// value is that upper bound (`i64::MAX` for the end).
    pub(crate) async fn collection_window(
        &self,
        from_seq: i64,
        limit: i64,
        with_incidents: bool,
    ) -> anyhow::Result<(Vec<WithObjects>, Vec<CollectionEntry>, i64)> {
        // One read transaction: SQLite (WAL) reads both tables from the same snapshot.
        let mut tx = self.pool.begin().await?;
        let incidents = if with_incidents {
            let rows = sqlx::query(
                "SELECT i.id, i.created, i.modified, i.revoked, i.change_seq, i.changed_at, i.data,
                   s.refs, s.own
                 FROM incidents i
                 LEFT JOIN incident_stix s ON s.incident_id = i.id AND s.flavor = 'standard'
                 WHERE i.change_seq >= ? ORDER BY i.change_seq LIMIT ?",
            )
            .bind(from_seq)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
            rows.iter()
                .map(with_objects)
                .collect::<anyhow::Result<Vec<_>>>()?
        } else {
            Vec::new()
        };
        let upto = match incidents.last() {
            Some((last, _)) if incidents.len() as i64 >= limit => last.change_seq,
            _ => i64::MAX,
        };
        let entries = sqlx::query(
            "SELECT key, seq, at, value FROM collection_entries WHERE seq >= ? AND seq <= ? ORDER BY seq, key",
        )
        .bind(from_seq)
        .bind(upto)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(entry_from_row)
        .collect::<anyhow::Result<Vec<_>>>()?;
        tx.commit().await?;
        Ok((incidents, entries, upto))
    }

    /// Every shared object of the collection (for checks and tests).
    pub(crate) async fn collection_entries(&self) -> anyhow::Result<Vec<CollectionEntry>> {
        sqlx::query("SELECT key, seq, at, value FROM collection_entries ORDER BY seq, key")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(entry_from_row)
            .collect()
    }

    /// The keys live incidents refer to, recomputed from the incidents themselves (to check
    /// the recorded collection against; see the tests).
    pub(crate) async fn expected_collection_keys(&self) -> anyhow::Result<BTreeSet<String>> {
        let mut keys = BTreeSet::new();
        let mut after = 0;
        loop {
            let rows = self.changes_after(after, 500).await?;
            let Some(last) = rows.last() else { break };
            after = last.change_seq;
            keys.insert(BASE_KEY.to_owned());
            for s in rows.iter().filter(|s| !s.revoked) {
                keys.extend(collection_keys(&s.incident).into_keys());
            }
        }
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{IncidentInput, TechniquePolicy};
    use stix_model::disarm::DisarmVersion;

    #[test]
    fn keys_follow_what_the_builder_adds() {
        let input = IncidentInput {
            name: "x".into(),
            techniques: vec!["T0002".into()],
            actors: vec!["Russia*".into(), "RUSSIA".into(), "Storm-1516".into()],
            target_countries: vec!["UA".into()],
            country_of_origin: Some("RU".into()),
            ..IncidentInput::default()
        };
        let i = input
            .validate(
                DisarmVersion::V1_7,
                TechniquePolicy::Strict,
                &mut Vec::new(),
            )
            .unwrap();
        let keys = collection_keys(&i);
        assert_eq!(
            keys.keys().map(String::as_str).collect::<Vec<_>>(),
            [
                "actor:russia",
                "actor:storm-1516",
                "country:RU",
                "country:UA",
                "disarm",
                "technique:T0002",
            ]
        );
        // One threat-actor per lower-cased name (its OpenCTI id), built from the first spelling.
        assert_eq!(keys["actor:russia"], "Russia");
        let none = IncidentInput {
            name: "y".into(),
            ..IncidentInput::default()
        }
        .validate(
            DisarmVersion::V1_7,
            TechniquePolicy::Strict,
            &mut Vec::new(),
        )
        .unwrap();
        assert!(
            collection_keys(&none).is_empty(),
            "no DISARM without techniques"
        );
    }
}

super::forward! {
    /// Where the collection holds each of these objects (see [`ObjectHome`]); ids it does
    /// not hold in the index (incidents, base and DISARM objects, unknown ids) are left out.
    fn object_homes(&self, ids: &BTreeSet<String>) -> anyhow::Result<BTreeMap<String, ObjectHome>>;
    /// [`Store::collection_window`](crate::db::Store::collection_window) for named objects only: the incidents with these ids and
    /// the entries with these keys, from change `from_seq` on, in one read.
    fn collection_items_of(&self, from_seq: i64, incident_ids: &BTreeSet<String>, keys: &BTreeSet<String>) -> anyhow::Result<(Vec<WithObjects>, Vec<CollectionEntry>)>;
    /// The object index as stored, `(object id, incident, key)` (for checks and tests).
    fn object_index(&self) -> anyhow::Result<Vec<IndexRow>>;
    /// One consistent read of the collection from change `from_seq` on: up to `limit`
    /// incidents (revoked ones too) with `change_seq >= from_seq` in change order (none when
    /// `with_incidents` is false), and the shared objects that entered from `from_seq` up to
    /// the last incident read (to the end when fewer than `limit` incidents remain). The last
    /// value is that upper bound (`i64::MAX` for the end).
    fn collection_window(&self, from_seq: i64, limit: i64, with_incidents: bool) -> anyhow::Result<(Vec<WithObjects>, Vec<CollectionEntry>, i64)>;
    /// Every shared object of the collection (for checks and tests).
    fn collection_entries(&self) -> anyhow::Result<Vec<CollectionEntry>>;
    /// The keys live incidents refer to, recomputed from the incidents themselves (to check
    /// the recorded collection against; see the tests).
    fn expected_collection_keys(&self) -> anyhow::Result<BTreeSet<String>>;
}
