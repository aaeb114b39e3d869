//! PostgreSQL: see [`super`] (to be written).

#![allow(unused_variables)]

#[allow(unused_imports)]
use crate::db::changes::*;
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
    pub(crate) async fn changes_after(
        &self,
        after_seq: i64,
        limit: i64,
    ) -> anyhow::Result<Vec<StoredIncident>> {
        anyhow::bail!("not yet on PostgreSQL")
    }
    pub(crate) async fn seq_at(&self, at: &str) -> anyhow::Result<i64> {
        anyhow::bail!("not yet on PostgreSQL")
    }
    pub(crate) async fn last_change_seq(&self) -> anyhow::Result<i64> {
        anyhow::bail!("not yet on PostgreSQL")
    }
    pub(crate) async fn change_time(&self, seq: i64) -> anyhow::Result<Option<String>> {
        anyhow::bail!("not yet on PostgreSQL")
    }
}
