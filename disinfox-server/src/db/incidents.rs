//! Incidents: each stored as its canonical JSON with the columns the list filters and sorts
//! on, and its facets (techniques, actors, countries, channels) in tables of their own; every
//! write appends to the change log ([`super::changes`]) and records the TAXII collection's
//! references ([`super::collection`]) in the same transaction.

use anyhow::Context;
use sqlx::{AssertSqlSafe, Row};
use stix_model::{Identifier, Timestamp};

use super::{parse_ts, Sqlite};
use crate::model::{Incident, IncidentInput};

/// A stored incident.
#[derive(Debug, Clone)]
pub struct StoredIncident {
    /// STIX id, kept for life.
    pub id: Identifier,
    /// Creation time.
    pub created: Timestamp,
    /// Time of the current version.
    pub modified: Timestamp,
    /// Deleted incidents are kept revoked.
    pub revoked: bool,
    /// Position in the change log of the latest change.
    pub change_seq: i64,
    /// Server time of the latest change (`YYYY-MM-DDTHH:MM:SS.ffffffZ`).
    pub changed_at: String,
    /// The content.
    pub incident: Incident,
}

/// Filters of the incident list.
#[derive(Debug, Clone, Default)]
pub struct IncidentFilter {
    /// Full-text query over names and descriptions.
    pub q: Option<String>,
    /// Target country code.
    pub country: Option<String>,
    /// Country of origin code.
    pub origin: Option<String>,
    /// Actor name.
    pub actor: Option<String>,
    /// Technique id.
    pub technique: Option<String>,
    /// Tactic short name.
    pub tactic: Option<String>,
    /// Channel.
    pub channel: Option<String>,
    /// Earliest date (`YYYY-MM-DD`), on first seen or else created.
    pub from: Option<String>,
    /// Latest date.
    pub to: Option<String>,
    /// Only incidents whose latest change comes after this sequence number (keyset paging).
    pub after_seq: Option<i64>,
}

/// Sort order of the incident list (allow-listed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Sort {
    /// Newest change first.
    #[default]
    Modified,
    /// By creation.
    Created,
    /// By date (first seen).
    Date,
    /// By name.
    Name,
}

impl Sqlite {
    pub(super) fn incident_from_row(r: &sqlx::sqlite::SqliteRow) -> anyhow::Result<StoredIncident> {
        stored_incident(
            r.try_get("id")?,
            &r.try_get::<String, _>("created")?,
            &r.try_get::<String, _>("modified")?,
            r.try_get::<i64, _>("revoked")? != 0,
            r.try_get("change_seq")?,
            r.try_get("changed_at")?,
            &r.try_get::<String, _>("data")?,
        )
    }

    pub(super) const COLUMNS: &'static str =
        "id, created, modified, revoked, change_seq, changed_at, data";

    /// [`Self::COLUMNS`] of the incidents table as `i` (either backend).
    pub(super) fn columns_of_i() -> String {
        Self::COLUMNS
            .split(", ")
            .map(|c| format!("i.{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// An incident by STIX id (revoked ones too).
    pub(crate) async fn incident(&self, id: &str) -> anyhow::Result<Option<StoredIncident>> {
        Self::incident_with(&self.pool, id).await
    }

    /// [`Store::incident`] through a pool or inside a transaction.
    pub(super) async fn incident_with<'e>(
        ex: impl sqlx::SqliteExecutor<'e>,
        id: &str,
    ) -> anyhow::Result<Option<StoredIncident>> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {} FROM incidents WHERE id = ?",
            Self::COLUMNS
        )))
        .bind(id)
        .fetch_optional(ex)
        .await?;
        row.map(|r| Self::incident_from_row(&r)).transpose()
    }

    /// Creates or replaces an incident; returns the stored version. `created` is only used
    /// for a new incident; `modified` defaults to now and is kept strictly after the previous
    /// version's.
    pub(crate) async fn save_incident(
        &self,
        id: &Identifier,
        incident: &Incident,
        created: Timestamp,
        modified: Option<Timestamp>,
        user_id: Option<i64>,
    ) -> anyhow::Result<StoredIncident> {
        let _w = self.write.lock().await;
        let mut tx = self.pool.begin().await?;
        let stored = self
            .write_incident(&mut tx, id, incident, created, modified, user_id)
            .await?;
        tx.commit().await?;
        self.announce_changes();
        Ok(stored)
    }

    /// [`Store::save_incident`] inside a transaction the caller holds (with the writer lock).
    pub(super) async fn write_incident(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
        id: &Identifier,
        incident: &Incident,
        created: Timestamp,
        modified: Option<Timestamp>,
        user_id: Option<i64>,
    ) -> anyhow::Result<StoredIncident> {
        let existing = sqlx::query("SELECT created, modified FROM incidents WHERE id = ?")
            .bind(id.as_str())
            .fetch_optional(&mut **tx)
            .await?;
        let existing = match &existing {
            Some(r) => Some((
                parse_ts(&r.try_get::<String, _>("created")?)?,
                parse_ts(&r.try_get::<String, _>("modified")?)?,
            )),
            None => None,
        };
        let (created, action, modified) = versions(existing, created, modified);
        let (seq, at) = self.next_change(tx, id.as_str(), action, user_id).await?;
        let data = serde_json::to_string(incident)?;
        let first_seen = incident.date_key(&created);
        sqlx::query(
            "INSERT INTO incidents (id, name, description, created, modified, first_seen, last_seen, data, revoked, change_seq, changed_at, created_by)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, description = excluded.description,
               modified = excluded.modified, first_seen = excluded.first_seen, last_seen = excluded.last_seen,
               data = excluded.data, revoked = 0, change_seq = excluded.change_seq, changed_at = excluded.changed_at",
        )
        .bind(id.as_str())
        .bind(&incident.input.name)
        .bind(&incident.input.description)
        .bind(created.to_string())
        .bind(modified.to_string())
        .bind(&first_seen)
        .bind(&incident.input.last_seen)
        .bind(&data)
        .bind(seq)
        .bind(&at)
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
        // A new incident has no facets, references or stored objects yet: nothing to delete.
        let fresh = existing.is_none();
        let facet_tables: &[&str] = if fresh {
            &[]
        } else {
            &[
                "incident_techniques",
                "incident_actors",
                "incident_countries",
                "incident_channels",
            ]
        };
        for table in facet_tables {
            sqlx::query(AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE incident_id = ?"
            )))
            .bind(id.as_str())
            .execute(&mut **tx)
            .await?;
        }
        // One set-based insert per facet table (SQLite's json_each over a list of rows).
        let FacetRows {
            techniques,
            actors,
            countries,
        } = facet_rows(incident);
        let facets: [(&str, String, usize); 4] = [
            (
                "INSERT OR IGNORE INTO incident_techniques (incident_id, technique, tactic)
                 SELECT ?1, json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?2)",
                serde_json::to_string(&techniques)?,
                techniques.len(),
            ),
            (
                "INSERT OR IGNORE INTO incident_actors (incident_id, actor)
                 SELECT ?1, value FROM json_each(?2)",
                serde_json::to_string(&actors)?,
                actors.len(),
            ),
            (
                "INSERT OR IGNORE INTO incident_countries (incident_id, country, role)
                 SELECT ?1, json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?2)",
                serde_json::to_string(&countries)?,
                countries.len(),
            ),
            (
                "INSERT OR IGNORE INTO incident_channels (incident_id, channel)
                 SELECT ?1, value FROM json_each(?2)",
                serde_json::to_string(&incident.input.channels)?,
                incident.input.channels.len(),
            ),
        ];
        for (sql, rows, n) in facets {
            if n > 0 {
                sqlx::query(sql)
                    .bind(id.as_str())
                    .bind(rows)
                    .execute(&mut **tx)
                    .await?;
            }
        }
        Self::record_collection_refs(tx, id.as_str(), Some(incident), seq, &at, fresh).await?;
        let stored = StoredIncident {
            id: id.clone(),
            created,
            modified,
            revoked: false,
            change_seq: seq,
            changed_at: at,
            incident: incident.clone(),
        };
        Self::write_stix(tx, self.stix_rules().as_ref(), &stored).await?;
        Ok(stored)
    }

    /// Deletes an incident: it stays, revoked, with a new version, so consumers learn of it.
    pub(crate) async fn revoke_incident(
        &self,
        id: &str,
        user_id: Option<i64>,
    ) -> anyhow::Result<Option<StoredIncident>> {
        let _w = self.write.lock().await;
        let mut tx = self.pool.begin().await?;
        if self.write_revocation(&mut tx, id, user_id).await?.is_none() {
            return Ok(None);
        }
        tx.commit().await?;
        self.announce_changes();
        self.incident(id).await
    }

    /// Revokes a live incident inside a transaction the caller holds (with the writer lock):
    /// the change's sequence number, or `None` when there is no such live incident.
    pub(super) async fn write_revocation(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
        id: &str,
        user_id: Option<i64>,
    ) -> anyhow::Result<Option<i64>> {
        let row = sqlx::query("SELECT modified FROM incidents WHERE id = ? AND revoked = 0")
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let prev = parse_ts(&row.try_get::<String, _>("modified")?)?;
        let modified = next_modified(Timestamp::now(), prev);
        let (seq, at) = self.next_change(tx, id, "delete", user_id).await?;
        sqlx::query("UPDATE incidents SET revoked = 1, modified = ?, change_seq = ?, changed_at = ? WHERE id = ?")
            .bind(modified.to_string())
            .bind(seq)
            .bind(&at)
            .bind(id)
            .execute(&mut **tx)
            .await?;
        Self::record_collection_refs(tx, id, None, seq, &at, false).await?;
        if let Some(revoked) = Self::incident_with(&mut **tx, id).await? {
            Self::write_stix(tx, self.stix_rules().as_ref(), &revoked).await?;
        }
        Ok(Some(seq))
    }

    pub(super) fn filter_sql(f: &IncidentFilter, sql: &mut String, args: &mut Vec<String>) {
        sql.push_str(" WHERE i.revoked = 0");
        if let Some(q) = f.q.as_deref().map(fts_query).filter(|q| !q.is_empty()) {
            sql.push_str(
                " AND i.rowid IN (SELECT rowid FROM incidents_fts WHERE incidents_fts MATCH ?)",
            );
            args.push(q);
        }
        let facets: [(&Option<String>, &str); 6] = [
            (
                &f.country,
                "SELECT incident_id FROM incident_countries WHERE country = ? AND role = 'target'",
            ),
            (
                &f.origin,
                "SELECT incident_id FROM incident_countries WHERE country = ? AND role = 'origin'",
            ),
            (
                &f.actor,
                "SELECT incident_id FROM incident_actors WHERE actor = ?",
            ),
            (
                &f.technique,
                "SELECT incident_id FROM incident_techniques WHERE technique = ?",
            ),
            (
                &f.tactic,
                "SELECT incident_id FROM incident_techniques WHERE tactic = ?",
            ),
            (
                &f.channel,
                "SELECT incident_id FROM incident_channels WHERE channel = ?",
            ),
        ];
        for (v, sub) in facets {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                sql.push_str(&format!(" AND i.id IN ({sub})"));
                args.push(v.to_owned());
            }
        }
        if let Some(from) = &f.from {
            sql.push_str(" AND i.first_seen >= ?");
            args.push(from.clone());
        }
        if let Some(to) = &f.to {
            sql.push_str(" AND i.first_seen <= ?");
            args.push(to.clone());
        }
        if let Some(seq) = f.after_seq {
            sql.push_str(" AND i.change_seq > CAST(? AS INTEGER)");
            args.push(seq.to_string());
        }
    }

    /// A page of live incidents matching the filter, and the total count.
    pub(crate) async fn list_incidents(
        &self,
        f: &IncidentFilter,
        sort: Sort,
        descending: bool,
        offset: i64,
        limit: i64,
    ) -> anyhow::Result<(Vec<StoredIncident>, i64)> {
        let mut where_sql = String::new();
        let mut args = Vec::new();
        Self::filter_sql(f, &mut where_sql, &mut args);
        let order = match sort {
            Sort::Modified => "i.change_seq",
            Sort::Created => "i.created",
            Sort::Date => "i.first_seen",
            Sort::Name => "i.name COLLATE NOCASE",
        };
        let dir = if descending { "DESC" } else { "ASC" };
        let sql = format!(
            "SELECT {} FROM incidents i{where_sql} ORDER BY {order} {dir}, i.change_seq {dir} LIMIT ? OFFSET ?",
            Self::columns_of_i()
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for a in &args {
            q = q.bind(a);
        }
        let rows = q.bind(limit).bind(offset).fetch_all(&self.pool).await?;
        let items = rows
            .iter()
            .map(Self::incident_from_row)
            .collect::<anyhow::Result<Vec<_>>>()?;
        let count_sql = format!("SELECT COUNT(*) FROM incidents i{where_sql}");
        let mut cq = sqlx::query_scalar::<_, i64>(AssertSqlSafe(count_sql));
        for a in &args {
            cq = cq.bind(a);
        }
        let total = cq.fetch_one(&self.pool).await?;
        Ok((items, total))
    }

    /// The id of the live incident with this name (any case) and first-seen date, if any: the
    /// identity of a row in the DISINFOX CSV format.
    pub(super) async fn incident_id_by_name<'e>(
        ex: impl sqlx::SqliteExecutor<'e>,
        name: &str,
        first_seen: Option<&str>,
    ) -> anyhow::Result<Option<String>> {
        let rows = sqlx::query("SELECT id, data FROM incidents WHERE name = ? COLLATE NOCASE AND revoked = 0 ORDER BY change_seq")
            .bind(name)
            .fetch_all(ex)
            .await?;
        for r in rows {
            if has_first_seen(&r.try_get::<String, _>("data")?, first_seen)? {
                return Ok(Some(r.try_get("id")?));
            }
        }
        Ok(None)
    }

    /// Live incidents by ids.
    pub(crate) async fn incidents_by_ids(
        &self,
        ids: &[String],
    ) -> anyhow::Result<Vec<StoredIncident>> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(i) = self.incident(id).await? {
                if !i.revoked {
                    out.push(i);
                }
            }
        }
        Ok(out)
    }
}

/// A stored incident from its row's columns (either backend).
pub(super) fn stored_incident(
    id: String,
    created: &str,
    modified: &str,
    revoked: bool,
    change_seq: i64,
    changed_at: String,
    data: &str,
) -> anyhow::Result<StoredIncident> {
    Ok(StoredIncident {
        id: Identifier::parse(id.as_str()).with_context(|| format!("stored id {id:?}"))?,
        created: parse_ts(created)?,
        modified: parse_ts(modified)?,
        revoked,
        change_seq,
        changed_at,
        incident: Incident::from_stored(
            serde_json::from_str(data).with_context(|| format!("stored incident {id}"))?,
        ),
    })
}

/// The `created`, change action and `modified` of a write, given the stored version's
/// `(created, modified)` if there is one: an existing incident keeps its creation time and
/// moves `modified` strictly forward; a new one gets `modified` no earlier than `created`.
pub(super) fn versions(
    existing: Option<(Timestamp, Timestamp)>,
    created: Timestamp,
    modified: Option<Timestamp>,
) -> (Timestamp, &'static str, Timestamp) {
    match existing {
        Some((c, prev)) => {
            let m = next_modified(modified.unwrap_or_else(Timestamp::now), prev);
            (c, "update", m)
        }
        None => {
            let m = modified.unwrap_or(created).max(created).at_least_millis();
            (created.at_least_millis(), "create", m)
        }
    }
}

/// The facet rows of an incident: `(technique, tactic)`, actors, `(country, role)`.
pub(super) struct FacetRows<'a> {
    pub techniques: Vec<(&'a String, String)>,
    pub actors: Vec<String>,
    pub countries: Vec<(&'a String, &'static str)>,
}

/// The facet rows an incident write stores (channels are the incident's own list).
pub(super) fn facet_rows(incident: &Incident) -> FacetRows<'_> {
    let catalogue = stix_model::disarm::Catalogue::builtin(stix_model::disarm::DisarmVersion::V1_7);
    let fallback = stix_model::disarm::Catalogue::builtin(stix_model::disarm::DisarmVersion::V1_6);
    let techniques = incident
        .input
        .techniques
        .iter()
        .map(|t| {
            let tactic = catalogue
                .technique(t)
                .or_else(|| fallback.technique(t))
                .map(|x| x.tactic.clone())
                .unwrap_or_default();
            (t, tactic)
        })
        .collect();
    let countries = incident
        .input
        .target_countries
        .iter()
        .map(|c| (c, "target"))
        .chain(
            incident
                .input
                .country_of_origin
                .iter()
                .map(|c| (c, "origin")),
        )
        .collect();
    FacetRows {
        techniques,
        actors: incident.actor_names(),
        countries,
    }
}

/// Whether a stored incident's data has this first-seen date (with its name, the identity
/// of a CSV row).
pub(super) fn has_first_seen(data: &str, first_seen: Option<&str>) -> anyhow::Result<bool> {
    let inc: IncidentInput = serde_json::from_str(data)?;
    Ok(inc.first_seen.as_deref() == first_seen)
}

/// A `modified` strictly after the previous version's, with millisecond precision.
pub(super) fn next_modified(now: Timestamp, prev: Timestamp) -> Timestamp {
    let now = now.with_digits(3);
    if now > prev {
        now
    } else {
        let ms = prev.unix_micros() / 1000 + 1;
        Timestamp::from_unix_nanos(
            ms.div_euclid(1000),
            (ms.rem_euclid(1000) * 1_000_000) as u32,
            3,
        )
    }
}

/// Turns free text into an FTS5 query that matches documents containing every word (as a
/// prefix), with no FTS syntax from the user.
pub fn fts_query(q: &str) -> String {
    search_words(q)
        .map(|w| format!("\"{w}\"*"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The words of a search (runs of letters and digits, at most 16): each must start a word of
/// the name or description. Both backends search with them.
fn search_words(q: &str) -> impl Iterator<Item = &str> {
    q.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(16)
}

/// The same search as [`fts_query`] in PostgreSQL's `to_tsquery` syntax: every word as a
/// prefix (`'word':*`), all required. Words hold only letters and digits, so no quote or
/// operator of the user's reaches the query syntax.
pub fn ts_query(q: &str) -> String {
    search_words(q)
        .map(|w| format!("'{w}':*"))
        .collect::<Vec<_>>()
        .join(" & ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fts_queries_carry_no_syntax() {
        assert_eq!(fts_query("howitzers France"), "\"howitzers\"* \"France\"*");
        assert_eq!(
            fts_query("\"a\" OR b* NEAR(c)"),
            "\"a\"* \"OR\"* \"b\"* \"NEAR\"* \"c\"*"
        );
        assert_eq!(fts_query("  -- ; "), "");
        assert_eq!(ts_query("howitzers France"), "'howitzers':* & 'France':*");
        assert_eq!(ts_query("' & !x:*"), "'x':*");
        assert_eq!(ts_query("  -- ; "), "");
    }

    #[test]
    fn modified_always_moves_forward() {
        let prev = Timestamp::parse("2030-01-01T00:00:00.000Z").unwrap();
        let m = next_modified(Timestamp::parse("2020-01-01T00:00:00.000Z").unwrap(), prev);
        assert_eq!(m.to_string(), "2030-01-01T00:00:00.001Z");
    }
}

super::forward! {
    /// An incident by STIX id (revoked ones too).
    fn incident(&self, id: &str) -> anyhow::Result<Option<StoredIncident>>;
    /// Creates or replaces an incident; returns the stored version. `created` is only used
    /// for a new incident; `modified` defaults to now and is kept strictly after the previous
    /// version's.
    fn save_incident(&self, id: &Identifier, incident: &Incident, created: Timestamp, modified: Option<Timestamp>, user_id: Option<i64>) -> anyhow::Result<StoredIncident>;
    /// Deletes an incident: it stays, revoked, with a new version, so consumers learn of it.
    fn revoke_incident(&self, id: &str, user_id: Option<i64>) -> anyhow::Result<Option<StoredIncident>>;
    /// A page of live incidents matching the filter, and the total count.
    fn list_incidents(&self, f: &IncidentFilter, sort: Sort, descending: bool, offset: i64, limit: i64) -> anyhow::Result<(Vec<StoredIncident>, i64)>;
    /// Live incidents by ids.
    fn incidents_by_ids(&self, ids: &[String]) -> anyhow::Result<Vec<StoredIncident>>;
}
