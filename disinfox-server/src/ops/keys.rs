//! API keys: the one function that issues them ([`issue_key`]), for every door (the API, the
//! profile page, the command line, the demo and the key provisioned at start), and revocation.

use std::collections::BTreeMap;

use super::By;
use crate::audit::{self, AuditEvent, AuditKind};
use crate::auth::{Caller, KeyMaterial, Scope};
use crate::db::{ApiKeyInfo, Role, Store, User};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The longest name of a key.
pub const MAX_KEY_NAME: usize = 100;

/// Issues an API key to `owner`: the only way a key is made. Checks that a reader gets no
/// write key and that the name is short, stores the key's hash and its first characters
/// ([`crate::auth::SHOWN_PREFIX`]) unless `owner` holds `max_live` live keys already (409; the
/// count and the insert are one step of the store, so parallel requests cannot overshoot), and
/// records the audit event.
pub async fn issue_key(
    store: &Store,
    by: By<'_>,
    owner: &User,
    name: &str,
    scope: Scope,
    key: &KeyMaterial,
    max_live: Option<u32>,
) -> ApiResult<ApiKeyInfo> {
    if scope == Scope::Write && !owner.role.can_write() {
        return Err(ApiError::Forbidden(
            "readers can only create read keys".into(),
        ));
    }
    let name = name.trim();
    if name.chars().count() > MAX_KEY_NAME {
        return Err(ApiError::Invalid {
            message: "name too long".into(),
            fields: BTreeMap::from([("name".into(), format!("at most {MAX_KEY_NAME} characters"))]),
        });
    }
    let Some(info) = store
        .create_api_key_capped(
            owner.id,
            name,
            &key.prefix,
            &key.hash,
            scope.as_str(),
            max_live.map(i64::from),
        )
        .await?
    else {
        let max = max_live.unwrap_or_default();
        let who = match by {
            By::Caller(c) if c.user.id == owner.id => "you hold".to_owned(),
            _ => format!("{} holds", owner.email),
        };
        return Err(ApiError::Conflict(format!(
            "{who} {max} live API keys, the most allowed: revoke one first"
        )));
    };
    let e = by
        .audit(AuditEvent::new(AuditKind::KeyCreated))
        .on(format!(
            "key {} {:?} ({}…) of {}",
            info.id, info.name, info.prefix, owner.email
        ))
        .detail(format!("scope {}", info.scope));
    audit::record(store, e).await;
    Ok(info)
}

/// Creates an API key for the caller (the API and the profile page), within the
/// `max_keys_per_user` live keys (409 beyond); returns the secret (to show once) and its
/// metadata. `scope` is `read` (the default) or `write`.
pub async fn create_key(
    state: &AppState,
    caller: &Caller,
    name: &str,
    scope: Option<&str>,
) -> ApiResult<(String, ApiKeyInfo)> {
    caller.require_account()?;
    let Some(scope) = Scope::parse(scope.unwrap_or("read")) else {
        return Err(ApiError::Invalid {
            message: "scope must be read or write".into(),
            fields: BTreeMap::from([("scope".into(), "must be read or write".into())]),
        });
    };
    let key = KeyMaterial::generate()?;
    let info = issue_key(
        &state.store,
        By::Caller(caller),
        &caller.user,
        name,
        scope,
        &key,
        Some(state.settings.max_keys_per_user),
    )
    .await?;
    Ok((key.secret, info))
}

/// Revokes one of the caller's keys (any key, for an administrator).
pub async fn revoke_key(state: &AppState, caller: &Caller, id: i64) -> ApiResult<()> {
    caller.require_account()?;
    let owner = if caller.user.role == Role::Admin {
        None
    } else {
        Some(caller.user.id)
    };
    revoke(&state.store, By::Caller(caller), id, owner).await
}

/// Revokes the live key `id` (of `owner` only, unless `None`) and records it; 404 when there
/// is no such live key.
pub async fn revoke(store: &Store, by: By<'_>, id: i64, owner: Option<i64>) -> ApiResult<()> {
    if store.revoke_api_key(id, owner).await? {
        let e = by
            .audit(AuditEvent::new(AuditKind::KeyRevoked))
            .on(format!("key {id}"));
        audit::record(store, e).await;
        Ok(())
    } else if owner.is_some() {
        Err(ApiError::NotFound(format!("no live key {id} of yours")))
    } else {
        Err(ApiError::NotFound(format!("no live key {id}")))
    }
}

/// The user owning the provisioned connector key.
pub const CONNECTOR_USER: &str = "opencti-connector@disinfox.local";

/// The name of the provisioned connector key.
pub const CONNECTOR_KEY_NAME: &str = "OpenCTI connector (DISINFOX_CONNECTOR_API_KEY)";

/// Makes sure `secret` (the `connector_api_key` setting) is a read key of the reader
/// [`CONNECTOR_USER`], so a deployment can hand the same secret to the server and to the
/// connector. Idempotent; the key is stored as a hash like every other key. A key that was
/// revoked is not brought back.
///
/// Replicas starting together on one database each look, find nothing and write: the unique
/// e-mail of users and the unique hash of keys refuse the second user or key, and that
/// replica looks again and finds the other's. So the key (and its user) is created once.
pub async fn provision_connector_key(state: &AppState, secret: &str) -> anyhow::Result<()> {
    let mut tries = 0;
    loop {
        tries += 1;
        match provision_once(state, secret).await {
            Err(e) if tries < 3 => {
                tracing::info!(error = %e, "provisioning the connector's key raced another process; looking again");
            }
            done => return done,
        }
    }
}

async fn provision_once(state: &AppState, secret: &str) -> anyhow::Result<()> {
    let key = KeyMaterial::of_secret(secret);
    match state.store.api_key_status(&key.hash).await? {
        Some((_, false)) => return Ok(()),
        Some((id, true)) => anyhow::bail!(
            "DISINFOX_CONNECTOR_API_KEY: this key was revoked (or its user disabled); choose a new one (key id {id})"
        ),
        None => {}
    }
    let by = By::Operator("start-up: connector_api_key");
    let user = match state.store.user_by_email(CONNECTOR_USER).await? {
        Some((u, _)) => u,
        None => {
            super::add_user(state, by, CONNECTOR_USER, "reader", None)
                .await
                .map_err(|e| anyhow::anyhow!("creating the connector's user: {e}"))?
                .0
        }
    };
    issue_key(
        &state.store,
        by,
        &user,
        CONNECTOR_KEY_NAME,
        Scope::Read,
        &key,
        None,
    )
    .await
    .map_err(|e| anyhow::anyhow!("provisioning the connector's key: {e}"))?;
    tracing::info!(
        user = CONNECTOR_USER,
        "provisioned the connector's read key"
    );
    Ok(())
}
