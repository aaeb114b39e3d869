//! PostgreSQL: see [`super`] (to be written).

#![allow(unused_variables)]

#[allow(unused_imports)]
use crate::db::audit::*;
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
    pub(crate) async fn insert_audit(
        &self,
        kind: &str,
        actor_id: Option<i64>,
        actor: &str,
        address: &str,
        object: &str,
        detail: &str,
    ) -> anyhow::Result<()> {
        anyhow::bail!("not yet on PostgreSQL")
    }
    pub(crate) async fn audit_entries(
        &self,
        filter: &AuditFilter,
        offset: i64,
        limit: i64,
    ) -> anyhow::Result<(Vec<AuditEntry>, i64)> {
        anyhow::bail!("not yet on PostgreSQL")
    }
}
