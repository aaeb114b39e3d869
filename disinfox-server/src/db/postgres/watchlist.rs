//! PostgreSQL: see [`super`] (to be written).

#![allow(unused_variables)]

#[allow(unused_imports)]
use crate::db::watchlist::*;
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
    pub(crate) async fn watch(
        &self,
        user_id: i64,
        incident_id: &str,
        max: i64,
    ) -> anyhow::Result<Watch> {
        anyhow::bail!("not yet on PostgreSQL")
    }
    pub(crate) async fn unwatch(&self, user_id: i64, incident_id: &str) -> anyhow::Result<bool> {
        anyhow::bail!("not yet on PostgreSQL")
    }
    pub(crate) async fn watched_among(
        &self,
        user_id: i64,
        ids: &[String],
    ) -> anyhow::Result<BTreeSet<String>> {
        anyhow::bail!("not yet on PostgreSQL")
    }
    pub(crate) async fn watchlist(
        &self,
        user_id: i64,
        offset: i64,
        limit: i64,
    ) -> anyhow::Result<(Vec<WatchEntry>, i64)> {
        anyhow::bail!("not yet on PostgreSQL")
    }
    pub(crate) async fn mark_seen(&self, user_id: i64, ids: &[String]) -> anyhow::Result<()> {
        anyhow::bail!("not yet on PostgreSQL")
    }
    pub(crate) async fn my_work(
        &self,
        user_id: i64,
        offset: i64,
        limit: i64,
    ) -> anyhow::Result<(Vec<WorkEntry>, i64)> {
        anyhow::bail!("not yet on PostgreSQL")
    }
}
