//! PostgreSQL: see [`super`] (to be written).

#![allow(unused_variables)]

#[allow(unused_imports)]
use crate::db::facets::*;
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
    pub(crate) async fn facet_counts(
        &self,
        facet: Facet,
        limit: i64,
    ) -> anyhow::Result<Vec<Count>> {
        anyhow::bail!("not yet on PostgreSQL")
    }
    pub(crate) async fn facet_counts_where(
        &self,
        facet: Facet,
        f: &IncidentFilter,
        limit: i64,
    ) -> anyhow::Result<Vec<Count>> {
        anyhow::bail!("not yet on PostgreSQL")
    }
    pub(crate) async fn technique_counts(
        &self,
        f: &IncidentFilter,
    ) -> anyhow::Result<(BTreeMap<String, i64>, i64)> {
        anyhow::bail!("not yet on PostgreSQL")
    }
    pub(crate) async fn timeline(&self) -> anyhow::Result<Vec<Count>> {
        anyhow::bail!("not yet on PostgreSQL")
    }
    pub(crate) async fn incident_counts(&self) -> anyhow::Result<(i64, i64)> {
        anyhow::bail!("not yet on PostgreSQL")
    }
    pub(crate) async fn shared_facets(
        &self,
        id: &str,
        limit: i64,
    ) -> anyhow::Result<Vec<(String, &'static str, String)>> {
        anyhow::bail!("not yet on PostgreSQL")
    }
}
