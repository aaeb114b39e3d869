//! PostgreSQL: see [`super`] (to be written).

#![allow(unused_variables)]

#[allow(unused_imports)]
use crate::db::users::*;
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
    pub(crate) async fn create_user(
        &self,
        email: &str,
        password_hash: &str,
        role: Role,
    ) -> anyhow::Result<Option<User>> {
        anyhow::bail!("not yet on PostgreSQL")
    }
    pub(crate) async fn create_user_pending(
        &self,
        email: &str,
        password_hash: &str,
        role: Role,
        pending: bool,
    ) -> anyhow::Result<Option<User>> {
        anyhow::bail!("not yet on PostgreSQL")
    }
    pub(crate) async fn approve_user(&self, id: i64) -> anyhow::Result<bool> {
        anyhow::bail!("not yet on PostgreSQL")
    }
    pub(crate) async fn delete_pending_user(&self, id: i64) -> anyhow::Result<bool> {
        anyhow::bail!("not yet on PostgreSQL")
    }
    pub(crate) async fn user_by_email(
        &self,
        email: &str,
    ) -> anyhow::Result<Option<(User, String)>> {
        anyhow::bail!("not yet on PostgreSQL")
    }
    pub(crate) async fn user(&self, id: i64) -> anyhow::Result<Option<User>> {
        anyhow::bail!("not yet on PostgreSQL")
    }
    pub(crate) async fn users(&self) -> anyhow::Result<Vec<User>> {
        anyhow::bail!("not yet on PostgreSQL")
    }
    pub(crate) async fn update_user(
        &self,
        id: i64,
        role: Role,
        disabled: bool,
    ) -> anyhow::Result<bool> {
        anyhow::bail!("not yet on PostgreSQL")
    }
    pub(crate) async fn set_password(&self, id: i64, hash: &str) -> anyhow::Result<()> {
        anyhow::bail!("not yet on PostgreSQL")
    }
    pub(crate) async fn user_count(&self) -> anyhow::Result<i64> {
        anyhow::bail!("not yet on PostgreSQL")
    }
    pub(crate) async fn create_api_key(
        &self,
        user_id: i64,
        name: &str,
        prefix: &str,
        hash: &[u8],
        scope: &str,
    ) -> anyhow::Result<ApiKeyInfo> {
        anyhow::bail!("not yet on PostgreSQL")
    }
    pub(crate) async fn create_api_key_capped(
        &self,
        user_id: i64,
        name: &str,
        prefix: &str,
        hash: &[u8],
        scope: &str,
        max_live: Option<i64>,
    ) -> anyhow::Result<Option<ApiKeyInfo>> {
        anyhow::bail!("not yet on PostgreSQL")
    }
    pub(crate) async fn api_key_by_hash(
        &self,
        hash: &[u8],
    ) -> anyhow::Result<Option<(ApiKeyInfo, User)>> {
        anyhow::bail!("not yet on PostgreSQL")
    }
    pub(crate) async fn api_key_status(&self, hash: &[u8]) -> anyhow::Result<Option<(i64, bool)>> {
        anyhow::bail!("not yet on PostgreSQL")
    }
    pub(crate) async fn touch_api_key(
        &self,
        id: i64,
        last_used_at: Option<&str>,
    ) -> anyhow::Result<()> {
        anyhow::bail!("not yet on PostgreSQL")
    }
    pub(crate) async fn api_keys(&self, user_id: Option<i64>) -> anyhow::Result<Vec<ApiKeyInfo>> {
        anyhow::bail!("not yet on PostgreSQL")
    }
    pub(crate) async fn revoke_api_key(
        &self,
        id: i64,
        user_id: Option<i64>,
    ) -> anyhow::Result<bool> {
        anyhow::bail!("not yet on PostgreSQL")
    }
}
