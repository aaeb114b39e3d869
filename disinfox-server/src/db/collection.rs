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

use sqlx::{AssertSqlSafe, Row};

use super::{Store, StoredIncident};
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

fn entry_from_row(r: &sqlx::sqlite::SqliteRow) -> anyhow::Result<CollectionEntry> {
    Ok(CollectionEntry {
        key: r.try_get("key")?,
        seq: r.try_get("seq")?,
        at: r.try_get("at")?,
        value: r.try_get("value")?,
    })
}

impl Store {
    /// Records, inside an incident write, the shared objects the incident now refers to
    /// (`None`: it was deleted): new ones enter the collection at this change, and those no
    /// live incident refers to any more leave it.
    pub(super) async fn record_collection_refs(
        tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
        incident_id: &str,
        keys: Option<&BTreeMap<String, String>>,
        seq: i64,
        at: &str,
    ) -> anyhow::Result<()> {
        let old: Vec<String> =
            sqlx::query_scalar("SELECT key FROM collection_refs WHERE incident_id = ?")
                .bind(incident_id)
                .fetch_all(&mut **tx)
                .await?;
        sqlx::query("DELETE FROM collection_refs WHERE incident_id = ?")
            .bind(incident_id)
            .execute(&mut **tx)
            .await?;
        // A few set-based statements per write (SQLite's json_each over the keys) rather than
        // two statements per key: incident writes stay cheap.
        let empty = BTreeMap::new();
        let keys = keys.unwrap_or(&empty);
        let mut entering = keys.clone();
        entering.insert(BASE_KEY.to_owned(), String::new());
        let entering = serde_json::to_string(&entering)?;
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
        let gone: Vec<&String> = old.iter().filter(|k| !keys.contains_key(*k)).collect();
        if !gone.is_empty() {
            sqlx::query(
                "DELETE FROM collection_entries WHERE key IN (SELECT value FROM json_each(?1))
                 AND NOT EXISTS (SELECT 1 FROM collection_refs r WHERE r.key = collection_entries.key)",
            )
            .bind(serde_json::to_string(&gone)?)
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
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
            let rows = sqlx::query(AssertSqlSafe(format!(
                "SELECT {} FROM incidents WHERE change_seq > ? ORDER BY change_seq LIMIT 500",
                Self::COLUMNS
            )))
            .bind(after)
            .fetch_all(&mut *tx)
            .await?;
            let Some(last) = rows.last() else { break };
            after = last.try_get("change_seq")?;
            for r in &rows {
                let s = Self::incident_from_row(r)?;
                let keys = (!s.revoked).then(|| collection_keys(&s.incident));
                Self::record_collection_refs(
                    &mut tx,
                    s.id.as_str(),
                    keys.as_ref(),
                    s.change_seq,
                    &s.changed_at,
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
    pub async fn collection_window(
        &self,
        from_seq: i64,
        limit: i64,
        with_incidents: bool,
    ) -> anyhow::Result<(Vec<StoredIncident>, Vec<CollectionEntry>, i64)> {
        // One read transaction: SQLite (WAL) reads both tables from the same snapshot.
        let mut tx = self.pool.begin().await?;
        let incidents = if with_incidents {
            let rows = sqlx::query(AssertSqlSafe(format!(
                "SELECT {} FROM incidents WHERE change_seq >= ? ORDER BY change_seq LIMIT ?",
                Self::COLUMNS
            )))
            .bind(from_seq)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
            rows.iter()
                .map(Self::incident_from_row)
                .collect::<anyhow::Result<Vec<_>>>()?
        } else {
            Vec::new()
        };
        let upto = match incidents.last() {
            Some(last) if incidents.len() as i64 >= limit => last.change_seq,
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
    pub async fn collection_entries(&self) -> anyhow::Result<Vec<CollectionEntry>> {
        sqlx::query("SELECT key, seq, at, value FROM collection_entries ORDER BY seq, key")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(entry_from_row)
            .collect()
    }

    /// The keys live incidents refer to, recomputed from the incidents themselves (to check
    /// the recorded collection against; see the tests).
    pub async fn expected_collection_keys(&self) -> anyhow::Result<BTreeSet<String>> {
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
