//! PostgreSQL: see [`super`] (to be written).

#![allow(unused_variables)]

#[allow(unused_imports)]
use crate::db::incidents::*;
#[allow(unused_imports)]
use crate::db::*;
#[allow(unused_imports)]
use crate::model::Incident;
#[allow(unused_imports)]
use chrono::{DateTime, Utc};
#[allow(unused_imports)]
use std::collections::{BTreeMap, BTreeSet};
#[allow(unused_imports)]
use stix_model::{Identifier, Timestamp};

use super::Postgres;

impl Postgres {
    pub(crate) async fn incident(&self, id: &str) -> anyhow::Result<Option<StoredIncident>> {
        anyhow::bail!("not yet on PostgreSQL")
    }
    pub(crate) async fn save_incident(
        &self,
        id: &Identifier,
        incident: &Incident,
        created: Timestamp,
        modified: Option<Timestamp>,
        user_id: Option<i64>,
    ) -> anyhow::Result<StoredIncident> {
        anyhow::bail!("not yet on PostgreSQL")
    }
    pub(crate) async fn revoke_incident(
        &self,
        id: &str,
        user_id: Option<i64>,
    ) -> anyhow::Result<Option<StoredIncident>> {
        anyhow::bail!("not yet on PostgreSQL")
    }
    pub(crate) async fn list_incidents(
        &self,
        f: &IncidentFilter,
        sort: Sort,
        descending: bool,
        offset: i64,
        limit: i64,
    ) -> anyhow::Result<(Vec<StoredIncident>, i64)> {
        anyhow::bail!("not yet on PostgreSQL")
    }
    pub(crate) async fn incidents_by_ids(
        &self,
        ids: &[String],
    ) -> anyhow::Result<Vec<StoredIncident>> {
        anyhow::bail!("not yet on PostgreSQL")
    }
}
