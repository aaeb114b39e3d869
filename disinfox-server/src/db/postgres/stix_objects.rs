//! PostgreSQL: see [`super`] (to be written).

#![allow(unused_variables)]

#[allow(unused_imports)]
use crate::db::stix::*;
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
    pub(crate) async fn use_stix_rules(&self, rules: StixRules) -> anyhow::Result<usize> {
        anyhow::bail!("not yet on PostgreSQL")
    }
    pub(crate) async fn stored_objects(
        &self,
        incident_id: &str,
        flavor: Flavor,
    ) -> anyhow::Result<Option<StoredObjects>> {
        anyhow::bail!("not yet on PostgreSQL")
    }
    pub(crate) async fn stored_stix_version(&self) -> anyhow::Result<Option<String>> {
        anyhow::bail!("not yet on PostgreSQL")
    }
    pub(crate) async fn changes_after_stix(
        &self,
        after_seq: i64,
        limit: i64,
        flavor: Option<Flavor>,
    ) -> anyhow::Result<Vec<StixRow>> {
        anyhow::bail!("not yet on PostgreSQL")
    }
    pub(crate) async fn live_incidents_stix(
        &self,
        f: &crate::db::IncidentFilter,
        limit: i64,
        flavor: Option<Flavor>,
    ) -> anyhow::Result<Vec<StixRow>> {
        anyhow::bail!("not yet on PostgreSQL")
    }
}
