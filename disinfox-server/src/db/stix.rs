//! Each incident's STIX objects, stored as canonical (compact) JSON when the incident is
//! written, so that answers are assembled from stored text instead of built again.
//!
//! The server gives the store its rules at start ([`Store::use_stix_rules`](crate::db::Store::use_stix_rules)): the builder
//! options of both flavours (author, TLP, DISARM version, OpenCTI id rules). Every incident
//! write (a save, an import, a deletion) then stores, in its transaction, the objects
//! `BundleBuilder` adds for the incident under each flavour (everything but the four objects
//! every bundle starts with, see [`StixRules::base`]), in the builder's order. Concatenating
//! the stored objects of several incidents and keeping the first object of each id gives
//! exactly the objects the builder gives for those incidents together: the builder adds each
//! incident's objects in the same order and drops an id it already holds, and no object
//! depends on another incident.
//!
//! The rules carry a version: a digest of the options and of the builder's output for a
//! fixed sample incident under each flavour, so that a changed setting or a builder that
//! writes differently both change it. When the server starts with another version than the
//! one the stored objects were built with, every incident's objects are built again.
//! Incidents written without rules (a store used on its own) have no stored objects; readers
//! build those on the spot, and the next start stores them.

use std::sync::{Arc, RwLock};

use anyhow::Context;
use sha2::{Digest, Sha256};
use sqlx::{AssertSqlSafe, Row};
use stix_model::incident::{BuildOptions, BundleBuilder};
use stix_model::{Identifier, Timestamp};

use super::{Sqlite, StoredIncident};
use crate::model::Incident;

/// The two flavours of the objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

    /// The flavour of a request (`opencti`: true for the OpenCTI flavour).
    pub fn of(opencti: bool) -> Self {
        if opencti {
            Self::OpenCti
        } else {
            Self::Standard
        }
    }
}

/// The storage format of `incident_stix`; part of the version.
const FORMAT: &str = "disinfox stored stix 1";

/// The rules the objects are built with.
#[derive(Debug)]
pub struct StixRules {
    version: String,
    standard: BuildOptions,
    opencti: BuildOptions,
    base: Vec<(String, String)>,
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
            let objects = objects_of(opts, &sample)?;
            h.update(&objects.ids);
            h.update(&objects.objects);
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
}

/// An incident's objects as stored: ids and compact JSON, one per line, in the same order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObjects {
    /// The ids, one per line.
    pub ids: String,
    /// The objects, one compact JSON object per line (JSON text never holds a raw newline).
    pub objects: String,
}

impl StoredObjects {
    /// `(id, JSON)` of each object, in order.
    pub fn lines(&self) -> impl Iterator<Item = (&str, &str)> {
        self.ids
            .split('\n')
            .zip(self.objects.split('\n'))
            .filter(|(id, _)| !id.is_empty())
    }
}

/// The objects the builder adds for one incident with these options, after the four every
/// bundle starts with.
pub fn objects_of(opts: &BuildOptions, s: &StoredIncident) -> anyhow::Result<StoredObjects> {
    let mut b = BundleBuilder::new(opts.clone());
    let skip = b.objects().len();
    let d = s
        .incident
        .to_description(&s.id, s.created, s.modified, s.revoked);
    b.add_incident(&d)
        .with_context(|| format!("building the objects of {}", s.id))?;
    let mut ids = String::new();
    let mut objects = String::new();
    for o in b.into_objects().iter().skip(skip) {
        if !ids.is_empty() {
            ids.push('\n');
            objects.push('\n');
        }
        ids.push_str(o.id());
        let json = o.to_vec()?;
        // Compact JSON escapes every control character, so a line is one object.
        anyhow::ensure!(!json.contains(&b'\n'), "object {} spans lines", o.id());
        objects.push_str(std::str::from_utf8(&json)?);
    }
    Ok(StoredObjects { ids, objects })
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
            for s in &batch {
                Self::write_stix(&mut tx, Some(&rules), s).await?;
            }
            tx.commit().await?;
            rebuilt += batch.len();
        }
        sqlx::query("INSERT INTO stix_rules (id, version) VALUES (1, ?1) ON CONFLICT (id) DO UPDATE SET version = ?1")
            .bind(rules.version())
            .execute(&self.pool)
            .await?;
        Ok(rebuilt)
    }

    /// [`Self::write_stix`] for several incidents written in one transaction (an import's
    /// batch).
    #[allow(dead_code)]
    pub(super) async fn write_stix_batch(
        tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
        rules: Option<&Arc<StixRules>>,
        incidents: &[StoredIncident],
    ) -> anyhow::Result<()> {
        for s in incidents {
            Self::write_stix(tx, rules, s).await?;
        }
        Ok(())
    }

    /// Stores an incident's objects under both flavours, inside its write; without rules,
    /// removes what was stored (it no longer matches the incident).
    pub(super) async fn write_stix(
        tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
        rules: Option<&Arc<StixRules>>,
        s: &StoredIncident,
    ) -> anyhow::Result<()> {
        let Some(rules) = rules else {
            sqlx::query("DELETE FROM incident_stix WHERE incident_id = ?")
                .bind(s.id.as_str())
                .execute(&mut **tx)
                .await?;
            return Ok(());
        };
        for flavor in Flavor::ALL {
            let o = objects_of(rules.options(flavor), s)?;
            sqlx::query(
                "INSERT INTO incident_stix (incident_id, flavor, ids, objects) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (incident_id, flavor) DO UPDATE SET ids = ?3, objects = ?4",
            )
            .bind(s.id.as_str())
            .bind(flavor.as_str())
            .bind(&o.ids)
            .bind(&o.objects)
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }

    /// The stored objects of an incident under a flavour, if any (for checks and tests).
    pub(crate) async fn stored_objects(
        &self,
        incident_id: &str,
        flavor: Flavor,
    ) -> anyhow::Result<Option<StoredObjects>> {
        Ok(sqlx::query(
            "SELECT ids, objects FROM incident_stix WHERE incident_id = ? AND flavor = ?",
        )
        .bind(incident_id)
        .bind(flavor.as_str())
        .fetch_optional(&self.pool)
        .await?
        .map(|r| stored_from_row(&r))
        .transpose()?
        .flatten())
    }

    /// The version the stored objects were built with (for checks and tests).
    pub(crate) async fn stored_stix_version(&self) -> anyhow::Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT version FROM stix_rules")
            .fetch_optional(&self.pool)
            .await?)
    }
}

/// The stored objects of a row with `ids` and `objects` columns (both null: none).
pub(crate) fn stored_from_row(
    r: &sqlx::sqlite::SqliteRow,
) -> anyhow::Result<Option<StoredObjects>> {
    let ids: Option<String> = r.try_get("ids")?;
    let objects: Option<String> = r.try_get("objects")?;
    Ok(ids
        .zip(objects)
        .map(|(ids, objects)| StoredObjects { ids, objects }))
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
    fn stix_row(r: &sqlx::sqlite::SqliteRow, joined: bool) -> anyhow::Result<StixRow> {
        let stored = if joined { stored_from_row(r)? } else { None };
        let objects = match stored {
            Some(o) => RowObjects::Stored(o),
            None => RowObjects::Build(Box::new(Self::incident_from_row(r)?)),
        };
        Ok(StixRow {
            id: r.try_get("id")?,
            change_seq: r.try_get("change_seq")?,
            changed_at: r.try_get("changed_at")?,
            objects,
        })
    }

    /// The select list and join of [`StixRow`]s: with `flavor`, the stored objects of that
    /// flavour (the incident's content is then only read when none are stored).
    fn stix_select(flavor: Option<Flavor>) -> (String, &'static str) {
        let cols = Self::COLUMNS
            .split(", ")
            .map(|c| format!("i.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        match flavor {
            Some(_) => (
                format!("{cols}, s.ids, s.objects"),
                " LEFT JOIN incident_stix s ON s.incident_id = i.id AND s.flavor = ?",
            ),
            None => (cols, ""),
        }
    }

    /// Incidents (revoked ones too) changed after `after_seq`, in change order, with their
    /// stored objects of `flavor` (`None`: the objects are to be built).
    pub(crate) async fn changes_after_stix(
        &self,
        after_seq: i64,
        limit: i64,
        flavor: Option<Flavor>,
    ) -> anyhow::Result<Vec<StixRow>> {
        let (cols, join) = Self::stix_select(flavor);
        let sql =
            format!("SELECT {cols} FROM incidents i{join} WHERE i.change_seq > ? ORDER BY i.change_seq LIMIT ?");
        let mut q = sqlx::query(AssertSqlSafe(sql));
        if let Some(f) = flavor {
            q = q.bind(f.as_str());
        }
        q.bind(after_seq)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Self::stix_row(r, flavor.is_some()))
            .collect()
    }

    /// Up to `limit` live incidents matching the filter, in change order (keyset paging on
    /// the filter's `after_seq`), with their stored objects of `flavor` (see
    /// [`Store::changes_after_stix`]).
    pub(crate) async fn live_incidents_stix(
        &self,
        f: &crate::db::IncidentFilter,
        limit: i64,
        flavor: Option<Flavor>,
    ) -> anyhow::Result<Vec<StixRow>> {
        let mut where_sql = String::new();
        let mut args = Vec::new();
        Self::filter_sql(f, &mut where_sql, &mut args);
        let (cols, join) = Self::stix_select(flavor);
        let sql = format!(
            "SELECT {cols} FROM incidents i{join}{where_sql} ORDER BY i.change_seq LIMIT ?"
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        if let Some(f) = flavor {
            q = q.bind(f.as_str());
        }
        for a in &args {
            q = q.bind(a);
        }
        q.bind(limit)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Self::stix_row(r, flavor.is_some()))
            .collect()
    }
}

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
    /// Incidents (revoked ones too) changed after `after_seq`, in change order, with their
    /// stored objects of `flavor` (`None`: the objects are to be built).
    fn changes_after_stix(&self, after_seq: i64, limit: i64, flavor: Option<Flavor>) -> anyhow::Result<Vec<StixRow>>;
    /// Up to `limit` live incidents matching the filter, in change order (keyset paging on
    /// the filter's `after_seq`), with their stored objects of `flavor` (see
    /// [`Store::changes_after_stix`](crate::db::Store::changes_after_stix)).
    fn live_incidents_stix(&self, f: &crate::db::IncidentFilter, limit: i64, flavor: Option<Flavor>) -> anyhow::Result<Vec<StixRow>>;
}
