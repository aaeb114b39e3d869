//! PostgreSQL: see [`super`] (to be written).

#![allow(unused_variables)]

#[allow(unused_imports)]
use crate::db::jobs::*;
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
    pub(crate) async fn create_job(
        &self,
        user_id: Option<i64>,
        file_name: &str,
        format: &str,
        size: usize,
        per_user: u32,
        per_server: u32,
    ) -> anyhow::Result<Result<Job, Busy>> {
        anyhow::bail!("not yet on PostgreSQL")
    }
    pub(crate) async fn job(&self, id: &str) -> anyhow::Result<Option<Job>> {
        anyhow::bail!("not yet on PostgreSQL")
    }
    pub(crate) async fn job_items(&self, id: &str) -> anyhow::Result<Vec<JobItem>> {
        anyhow::bail!("not yet on PostgreSQL")
    }
    pub(crate) async fn start_job(
        &self,
        id: &str,
        total: usize,
        warnings: &[String],
    ) -> anyhow::Result<()> {
        anyhow::bail!("not yet on PostgreSQL")
    }
    pub(crate) async fn finish_job(&self, id: &str, error: Option<&str>) -> anyhow::Result<()> {
        anyhow::bail!("not yet on PostgreSQL")
    }
    pub(crate) async fn fail_interrupted_jobs(&self) -> anyhow::Result<Vec<String>> {
        anyhow::bail!("not yet on PostgreSQL")
    }
    pub(crate) async fn import_items(
        &self,
        job: Option<&str>,
        batch: &[(i64, &Planned)],
        user_id: Option<i64>,
    ) -> anyhow::Result<Vec<Outcome>> {
        anyhow::bail!("not yet on PostgreSQL")
    }
}
