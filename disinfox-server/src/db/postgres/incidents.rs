//! PostgreSQL: incidents (see [`crate::db::incidents`]). Every write runs under the change
//! log's advisory lock (see [`super::changes`]), taken before the write reads the stored
//! version, so writes of incidents are serialised across processes as SQLite serialises
//! them within one.

use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, Row};
use stix_model::{Identifier, Timestamp};

use super::{Postgres, Tx};
use crate::db::incidents::{
    facet_rows, has_first_seen, next_modified, stored_incident, ts_query, versions, FacetRows,
};
use crate::db::{parse_ts, IncidentFilter, Sort, Sqlite, StoredIncident};
use crate::model::Incident;

impl Postgres {
    pub(super) fn incident_from_row(r: &PgRow) -> anyhow::Result<StoredIncident> {
        stored_incident(
            r.try_get("id")?,
            r.try_get("created")?,
            r.try_get("modified")?,
            r.try_get("revoked")?,
            r.try_get("change_seq")?,
            r.try_get("changed_at")?,
            r.try_get("data")?,
        )
    }

    pub(crate) async fn incident(&self, id: &str) -> anyhow::Result<Option<StoredIncident>> {
        Self::incident_with(&self.pool, id).await
    }

    pub(super) async fn incident_with<'e>(
        ex: impl sqlx::PgExecutor<'e>,
        id: &str,
    ) -> anyhow::Result<Option<StoredIncident>> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {} FROM incidents WHERE id = $1",
            Sqlite::COLUMNS
        )))
        .bind(id)
        .fetch_optional(ex)
        .await?;
        row.map(|r| Self::incident_from_row(&r)).transpose()
    }

    pub(crate) async fn save_incident(
        &self,
        id: &Identifier,
        incident: &Incident,
        created: Timestamp,
        modified: Option<Timestamp>,
        user_id: Option<i64>,
    ) -> anyhow::Result<StoredIncident> {
        let mut tx = self.pool.begin().await?;
        let stored = self
            .write_incident(&mut tx, id, incident, created, modified, user_id)
            .await?;
        tx.commit().await?;
        self.announce_changes();
        Ok(stored)
    }

    /// [`Postgres::save_incident`] inside a transaction the caller holds.
    pub(super) async fn write_incident(
        &self,
        tx: &mut Tx<'_>,
        id: &Identifier,
        incident: &Incident,
        created: Timestamp,
        modified: Option<Timestamp>,
        user_id: Option<i64>,
    ) -> anyhow::Result<StoredIncident> {
        Self::lock_change_log(tx).await?;
        let existing = sqlx::query("SELECT created, modified FROM incidents WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&mut **tx)
            .await?;
        let existing = match &existing {
            Some(r) => Some((
                parse_ts(r.try_get("created")?)?,
                parse_ts(r.try_get("modified")?)?,
            )),
            None => None,
        };
        let fresh = existing.is_none();
        let (created, action, modified) = versions(existing, created, modified);
        let (seq, at) = self.next_change(tx, id.as_str(), action, user_id).await?;
        let data = serde_json::to_string(incident)?;
        let first_seen = incident.date_key(&created);
        sqlx::query(
            "INSERT INTO incidents (id, name, description, created, modified, first_seen, last_seen, data, revoked, change_seq, changed_at, created_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, FALSE, $9, $10, $11)
             ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, description = EXCLUDED.description,
               modified = EXCLUDED.modified, first_seen = EXCLUDED.first_seen, last_seen = EXCLUDED.last_seen,
               data = EXCLUDED.data, revoked = FALSE, change_seq = EXCLUDED.change_seq, changed_at = EXCLUDED.changed_at",
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
        if !fresh {
            // One statement for the four facet tables of the previous version.
            sqlx::query(
                "WITH t AS (DELETE FROM incident_techniques WHERE incident_id = $1),
                      a AS (DELETE FROM incident_actors WHERE incident_id = $1),
                      c AS (DELETE FROM incident_countries WHERE incident_id = $1)
                 DELETE FROM incident_channels WHERE incident_id = $1",
            )
            .bind(id.as_str())
            .execute(&mut **tx)
            .await?;
        }
        let FacetRows {
            techniques,
            actors,
            countries,
        } = facet_rows(incident);
        let channels = &incident.input.channels;
        if !(techniques.is_empty()
            && actors.is_empty()
            && countries.is_empty()
            && channels.is_empty())
        {
            // Every facet row in one statement (arrays, unnested). Duplicates (an actor
            // written twice in different case) keep the first, as SQLite's INSERT OR IGNORE.
            let (t, tactic): (Vec<&String>, Vec<String>) = techniques.into_iter().unzip();
            let (country, role): (Vec<&String>, Vec<&str>) = countries.into_iter().unzip();
            sqlx::query(
                "WITH t AS (INSERT INTO incident_techniques (incident_id, technique, tactic)
                       SELECT $1, x.t, x.a FROM UNNEST($2::TEXT[], $3::TEXT[]) AS x(t, a) ON CONFLICT DO NOTHING),
                      a AS (INSERT INTO incident_actors (incident_id, actor)
                       SELECT $1, x.a FROM UNNEST($4::TEXT[]) WITH ORDINALITY AS x(a, n) ORDER BY x.n ON CONFLICT DO NOTHING),
                      c AS (INSERT INTO incident_countries (incident_id, country, role)
                       SELECT $1, x.c, x.r FROM UNNEST($5::TEXT[], $6::TEXT[]) AS x(c, r) ON CONFLICT DO NOTHING)
                 INSERT INTO incident_channels (incident_id, channel)
                 SELECT $1, x.c FROM UNNEST($7::TEXT[]) WITH ORDINALITY AS x(c, n) ORDER BY x.n ON CONFLICT DO NOTHING",
            )
            .bind(id.as_str())
            .bind(&t)
            .bind(&tactic)
            .bind(&actors)
            .bind(&country)
            .bind(&role)
            .bind(channels)
            .execute(&mut **tx)
            .await?;
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

    pub(crate) async fn revoke_incident(
        &self,
        id: &str,
        user_id: Option<i64>,
    ) -> anyhow::Result<Option<StoredIncident>> {
        let mut tx = self.pool.begin().await?;
        if self.write_revocation(&mut tx, id, user_id).await?.is_none() {
            return Ok(None);
        }
        tx.commit().await?;
        self.announce_changes();
        self.incident(id).await
    }

    /// Revokes a live incident inside a transaction the caller holds: the change's sequence
    /// number, or `None` when there is no such live incident.
    pub(super) async fn write_revocation(
        &self,
        tx: &mut Tx<'_>,
        id: &str,
        user_id: Option<i64>,
    ) -> anyhow::Result<Option<i64>> {
        Self::lock_change_log(tx).await?;
        let row = sqlx::query("SELECT modified FROM incidents WHERE id = $1 AND NOT revoked")
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let prev = parse_ts(row.try_get("modified")?)?;
        let modified = next_modified(Timestamp::now(), prev);
        let (seq, at) = self.next_change(tx, id, "delete", user_id).await?;
        let revoked = sqlx::query(AssertSqlSafe(format!(
            "UPDATE incidents SET revoked = TRUE, modified = $1, change_seq = $2, changed_at = $3
             WHERE id = $4 RETURNING {}",
            Sqlite::COLUMNS
        )))
        .bind(modified.to_string())
        .bind(seq)
        .bind(&at)
        .bind(id)
        .fetch_one(&mut **tx)
        .await?;
        let revoked = Self::incident_from_row(&revoked)?;
        Self::record_collection_refs(tx, id, None, seq, &at, false).await?;
        Self::write_stix(tx, self.stix_rules().as_ref(), &revoked).await?;
        Ok(Some(seq))
    }

    /// The WHERE clause of a filter of live incidents (`i` is the incidents table), with
    /// its arguments, numbered after the `first` arguments the statement binds before them.
    pub(super) fn filter_sql(
        f: &IncidentFilter,
        first: usize,
        sql: &mut String,
        args: &mut Vec<String>,
    ) {
        let arg = |sql: &mut String, args: &mut Vec<String>, clause: &str, v: String| {
            args.push(v);
            sql.push_str(&clause.replace("$?", &format!("${}", first + args.len())));
        };
        sql.push_str(" WHERE NOT i.revoked");
        let q = f.q.as_deref().map(ts_query).filter(|q| !q.is_empty());
        if let Some(q) = q {
            arg(
                sql,
                args,
                " AND i.search @@ to_tsquery('disinfox'::regconfig, $?)",
                q,
            );
        }
        let facets: [(&Option<String>, &str); 6] = [
            (
                &f.country,
                "SELECT incident_id FROM incident_countries WHERE country = $? AND role = 'target'",
            ),
            (
                &f.origin,
                "SELECT incident_id FROM incident_countries WHERE country = $? AND role = 'origin'",
            ),
            (
                &f.actor,
                "SELECT incident_id FROM incident_actors WHERE actor = $?",
            ),
            (
                &f.technique,
                "SELECT incident_id FROM incident_techniques WHERE technique = $?",
            ),
            (
                &f.tactic,
                "SELECT incident_id FROM incident_techniques WHERE tactic = $?",
            ),
            (
                &f.channel,
                "SELECT incident_id FROM incident_channels WHERE channel = $?",
            ),
        ];
        for (v, sub) in facets {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                arg(sql, args, &format!(" AND i.id IN ({sub})"), v.to_owned());
            }
        }
        if let Some(from) = &f.from {
            arg(sql, args, " AND i.first_seen >= $?", from.clone());
        }
        if let Some(to) = &f.to {
            arg(sql, args, " AND i.first_seen <= $?", to.clone());
        }
        if let Some(seq) = f.after_seq {
            arg(
                sql,
                args,
                " AND i.change_seq > CAST($? AS BIGINT)",
                seq.to_string(),
            );
        }
    }

    /// The incidents' columns prefixed with `i.`.
    pub(super) fn incident_columns() -> String {
        Sqlite::columns_of_i()
    }

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
        Self::filter_sql(f, 0, &mut where_sql, &mut args);
        let dir = if descending { "DESC" } else { "ASC" };
        // SQLite puts NULLs first in ascending order (only `first_seen` can be NULL);
        // PostgreSQL puts them last unless told.
        let order = match (sort, descending) {
            (Sort::Modified, _) => format!("i.change_seq {dir}"),
            (Sort::Created, _) => format!("i.created {dir}"),
            (Sort::Date, false) => "i.first_seen ASC NULLS FIRST".to_owned(),
            (Sort::Date, true) => "i.first_seen DESC NULLS LAST".to_owned(),
            (Sort::Name, _) => format!("lower(i.name) {dir}"),
        };
        let n = args.len();
        let sql = format!(
            "SELECT {} FROM incidents i{where_sql} ORDER BY {order}, i.change_seq {dir} LIMIT ${} OFFSET ${}",
            Self::incident_columns(),
            n + 1,
            n + 2
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

    /// The id of the live incident with this name (any case) and first-seen date, if any.
    pub(super) async fn incident_id_by_name<'e>(
        ex: impl sqlx::PgExecutor<'e>,
        name: &str,
        first_seen: Option<&str>,
    ) -> anyhow::Result<Option<String>> {
        let rows = sqlx::query(
            "SELECT id, data FROM incidents WHERE lower(name) = lower($1) AND NOT revoked ORDER BY change_seq",
        )
        .bind(name)
        .fetch_all(ex)
        .await?;
        for r in rows {
            if has_first_seen(r.try_get("data")?, first_seen)? {
                return Ok(Some(r.try_get("id")?));
            }
        }
        Ok(None)
    }

    pub(crate) async fn incidents_by_ids(
        &self,
        ids: &[String],
    ) -> anyhow::Result<Vec<StoredIncident>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {} FROM UNNEST($1::TEXT[]) WITH ORDINALITY AS x(id, n)
             JOIN incidents i ON i.id = x.id WHERE NOT i.revoked ORDER BY x.n",
            Self::incident_columns()
        )))
        .bind(ids)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Self::incident_from_row).collect()
    }
}
