//! PostgreSQL: see [`super`] (to be written).

#![allow(unused_variables)]

#[allow(unused_imports)]
use crate::db::collection::*;
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
    pub(crate) async fn object_homes(
        &self,
        ids: &BTreeSet<String>,
    ) -> anyhow::Result<BTreeMap<String, ObjectHome>> {
        anyhow::bail!("not yet on PostgreSQL")
    }
    pub(crate) async fn collection_items_of(
        &self,
        from_seq: i64,
        incident_ids: &BTreeSet<String>,
        keys: &BTreeSet<String>,
    ) -> anyhow::Result<(Vec<WithObjects>, Vec<CollectionEntry>)> {
        anyhow::bail!("not yet on PostgreSQL")
    }
    pub(crate) async fn object_index(&self) -> anyhow::Result<Vec<IndexRow>> {
        anyhow::bail!("not yet on PostgreSQL")
    }
    pub(crate) async fn collection_window(
        &self,
        from_seq: i64,
        limit: i64,
        with_incidents: bool,
    ) -> anyhow::Result<(Vec<WithObjects>, Vec<CollectionEntry>, i64)> {
        anyhow::bail!("not yet on PostgreSQL")
    }
    pub(crate) async fn collection_entries(&self) -> anyhow::Result<Vec<CollectionEntry>> {
        anyhow::bail!("not yet on PostgreSQL")
    }
    pub(crate) async fn expected_collection_keys(&self) -> anyhow::Result<BTreeSet<String>> {
        anyhow::bail!("not yet on PostgreSQL")
    }
}
