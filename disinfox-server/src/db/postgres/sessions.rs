//! PostgreSQL: see [`super`] (to be written).

#![allow(unused_variables)]

#[allow(unused_imports)]
use crate::db::sessions::*;
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
    pub(crate) async fn create_session(
        &self,
        id_hash: &[u8],
        user_id: i64,
        csrf: &str,
        expires_at: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        anyhow::bail!("not yet on PostgreSQL")
    }
    pub(crate) async fn session(&self, id_hash: &[u8]) -> anyhow::Result<Option<(User, String)>> {
        anyhow::bail!("not yet on PostgreSQL")
    }
    pub(crate) async fn delete_session(&self, id_hash: &[u8]) -> anyhow::Result<()> {
        anyhow::bail!("not yet on PostgreSQL")
    }
    pub(crate) async fn delete_user_sessions(
        &self,
        user_id: i64,
        keep: Option<&[u8]>,
    ) -> anyhow::Result<()> {
        anyhow::bail!("not yet on PostgreSQL")
    }
}
