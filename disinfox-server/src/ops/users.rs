//! Users: created by administrators or the operator, changed, registering themselves, and
//! their passwords.

use std::collections::BTreeMap;

use super::By;
use crate::audit::{self, AuditEvent, AuditKind};
use crate::auth::{self, Caller};
use crate::client::ClientAddr;
use crate::configuration::Registration;
use crate::db::{Role, User};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

fn invalid_user(fields: BTreeMap<String, String>) -> ApiError {
    ApiError::Invalid {
        message: "invalid user".into(),
        fields,
    }
}

/// Creates a user (administrators). Without a password, one is generated and returned to be
/// shown once.
pub async fn create_user(
    state: &AppState,
    caller: &Caller,
    email: &str,
    role: &str,
    password: Option<String>,
) -> ApiResult<(User, Option<String>)> {
    caller.require_admin()?;
    add_user(state, By::Caller(caller), email, role, password).await
}

/// Adds a user for an administrator or the operator (the `user add` command): the e-mail must
/// be an address, the role one of the three, a given password long enough; without one, a
/// password is generated and returned to be shown once. 409 when the e-mail has an account.
pub async fn add_user(
    state: &AppState,
    by: By<'_>,
    email: &str,
    role: &str,
    password: Option<String>,
) -> ApiResult<(User, Option<String>)> {
    let mut fields = BTreeMap::new();
    if !auth::valid_email(email) {
        fields.insert("email".to_owned(), "is not an e-mail address".to_owned());
    }
    let role = Role::parse(role);
    if role.is_none() {
        fields.insert(
            "role".to_owned(),
            "must be admin, analyst or reader".to_owned(),
        );
    }
    if matches!(&password, Some(p) if p.chars().count() < auth::MIN_PASSWORD) {
        fields.insert(
            "password".to_owned(),
            format!("must be at least {} characters", auth::MIN_PASSWORD),
        );
    }
    let Some(role) = role.filter(|_| fields.is_empty()) else {
        return Err(invalid_user(fields));
    };
    let (password, generated) = match password {
        Some(p) => (p, false),
        None => (auth::generate_password()?, true),
    };
    let hash = state.hasher.hash(&password, auth::Lane::Known).await?;
    let Some(user) = state.store.create_user(email.trim(), &hash, role).await? else {
        return Err(ApiError::Conflict(format!(
            "a user {} exists already",
            email.trim()
        )));
    };
    let e = by
        .audit(AuditEvent::new(AuditKind::UserCreated))
        .on(&user.email)
        .detail(format!("role {}", role.as_str()));
    audit::record(&state.store, e).await;
    Ok((user, generated.then_some(password)))
}

/// Changes a user's role or disables it (administrators; not their own account).
pub async fn update_user(
    state: &AppState,
    caller: &Caller,
    id: i64,
    role: Option<&str>,
    disabled: Option<bool>,
) -> ApiResult<User> {
    caller.require_admin()?;
    if id == caller.user.id {
        return Err(ApiError::Forbidden(
            "administrators cannot change their own role or disable themselves".into(),
        ));
    }
    let Some(user) = state.store.user(id).await? else {
        return Err(ApiError::NotFound(format!("no user {id}")));
    };
    let role = match role {
        Some(r) => Role::parse(r).ok_or_else(|| {
            invalid_user(BTreeMap::from([(
                "role".into(),
                "must be admin, analyst or reader".into(),
            )]))
        })?,
        None => user.role,
    };
    let disabled = disabled.unwrap_or(user.disabled);
    state.store.update_user(id, role, disabled).await?;
    if disabled {
        state.store.delete_user_sessions(id, None).await?;
    }
    let mut events = Vec::new();
    if role != user.role {
        events.push(AuditEvent::new(AuditKind::RoleChanged).detail(format!(
            "{} -> {}",
            user.role.as_str(),
            role.as_str()
        )));
    }
    if disabled != user.disabled {
        let kind = if disabled {
            AuditKind::UserDisabled
        } else {
            AuditKind::UserEnabled
        };
        events.push(AuditEvent::new(kind));
    }
    for e in events {
        audit::record(&state.store, e.by(caller).on(&user.email)).await;
    }
    state
        .store
        .user(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no user {id}")))
}

/// Changes the caller's own password after checking the current one; every other browser
/// session of the user ends (`keep_session` is the hash of the one to keep).
pub async fn change_password(
    state: &AppState,
    caller: &Caller,
    current: &str,
    new: &str,
    confirm: &str,
    keep_session: Option<&[u8]>,
) -> ApiResult<()> {
    let mut fields = BTreeMap::new();
    let stored = state.store.user_by_email(&caller.user.email).await?;
    let current_ok = match &stored {
        Some((_, hash)) => {
            state
                .hasher
                .verify(current, Some(hash), auth::Lane::Known)
                .await?
        }
        None => false,
    };
    if !current_ok {
        fields.insert("current".to_owned(), "is not your password".to_owned());
    }
    if new.chars().count() < auth::MIN_PASSWORD {
        fields.insert(
            "new".to_owned(),
            format!("must be at least {} characters", auth::MIN_PASSWORD),
        );
    } else if new != confirm {
        fields.insert(
            "confirm".to_owned(),
            "does not match the new password".to_owned(),
        );
    }
    if !fields.is_empty() {
        return Err(ApiError::Invalid {
            message: "the password was not changed".into(),
            fields,
        });
    }
    state
        .store
        .set_password(
            caller.user.id,
            &state.hasher.hash(new, auth::Lane::Known).await?,
        )
        .await?;
    state
        .store
        .delete_user_sessions(caller.user.id, keep_session)
        .await?;
    let e = AuditEvent::new(AuditKind::PasswordChanged)
        .by(caller)
        .on(&caller.user.email);
    audit::record(&state.store, e).await;
    Ok(())
}

/// What a registration says to the applicant: the same whether or not the e-mail already had
/// an account, so that the form tells nobody which addresses are registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registered {
    /// The account can sign in now (registration `open`).
    Active,
    /// The account waits for an administrator (registration `approval`).
    Pending,
}

/// Registers a reader account (the `registration` setting allows it: `approval` makes it
/// pending, `open` active). Bounded for anonymous callers: a per-address limit
/// ([`crate::state::REGISTRATIONS_PER_HOUR`]) before anything else, field checks, and the
/// password hashed through the hasher's cap. An e-mail that has an account already gets the
/// same answer as a new one (and the account is left alone); the audit log tells the
/// administrators.
pub async fn register(
    state: &AppState,
    address: ClientAddr,
    email: &str,
    password: &str,
    confirm: &str,
) -> ApiResult<Registered> {
    let outcome =
        match state.settings.registration {
            Registration::Closed => return Err(ApiError::Forbidden(
                "registration is closed on this instance; ask its administrators for an account"
                    .into(),
            )),
            Registration::Approval => Registered::Pending,
            Registration::Open => Registered::Active,
        };
    state
        .registrations
        .take(address.bucket())
        .await
        .map_err(|wait| {
            audit::refusal(
                "registration-throttled",
                address,
                email,
                "too many registrations",
            );
            ApiError::RateLimited {
                retry_after_secs: wait.as_secs().max(1),
            }
        })?;
    let email = email.trim();
    let mut fields = BTreeMap::new();
    if !auth::valid_email(email) {
        fields.insert("email".to_owned(), "is not an e-mail address".to_owned());
    }
    if password.chars().count() < auth::MIN_PASSWORD {
        fields.insert(
            "password".to_owned(),
            format!("must be at least {} characters", auth::MIN_PASSWORD),
        );
    } else if password.len() > 1024 {
        fields.insert("password".to_owned(), "is too long".to_owned());
    } else if password != confirm {
        fields.insert(
            "confirm".to_owned(),
            "does not match the password".to_owned(),
        );
    }
    if !fields.is_empty() {
        // A mistake in the form is not an attempt.
        state.registrations.refund(address.bucket()).await;
        return Err(invalid_user(fields));
    }
    // One password at a time per address: the attempt counts, nothing is hashed.
    let _turn = state.hasher.turn(address, auth::Lane::Other)?;
    let hash = match state.hasher.hash(password, auth::Lane::Other).await {
        Ok(h) => h,
        Err(e) => {
            state.registrations.refund(address.bucket()).await;
            return Err(e.into());
        }
    };
    let created = state
        .store
        .create_user_pending(email, &hash, Role::Reader, outcome == Registered::Pending)
        .await?;
    let e = AuditEvent::new(AuditKind::Registration)
        .tried(email)
        .from(address);
    let e = match &created {
        Some(u) => e.on(&u.email).detail(match outcome {
            Registered::Pending => "pending approval",
            Registered::Active => "active reader",
        }),
        None => e
            .on(email)
            .detail("refused: the e-mail has an account already (the applicant was not told)"),
    };
    audit::record(&state.store, e).await;
    Ok(outcome)
}

/// Approves a pending registration (administrators).
pub async fn approve_user(state: &AppState, caller: &Caller, id: i64) -> ApiResult<User> {
    caller.require_admin()?;
    let user = state.store.user(id).await?;
    match user {
        Some(u) if u.pending && state.store.approve_user(id).await? => {
            let e = AuditEvent::new(AuditKind::RegistrationApproved)
                .by(caller)
                .on(&u.email);
            audit::record(&state.store, e).await;
            Ok(User {
                pending: false,
                ..u
            })
        }
        _ => Err(ApiError::NotFound(format!("no pending registration {id}"))),
    }
}

/// Rejects a pending registration (administrators): the application is deleted, and the
/// e-mail may apply again.
pub async fn reject_user(state: &AppState, caller: &Caller, id: i64) -> ApiResult<()> {
    caller.require_admin()?;
    let user = state.store.user(id).await?;
    match user {
        Some(u) if u.pending && state.store.delete_pending_user(id).await? => {
            let e = AuditEvent::new(AuditKind::RegistrationRejected)
                .by(caller)
                .on(&u.email);
            audit::record(&state.store, e).await;
            Ok(())
        }
        _ => Err(ApiError::NotFound(format!("no pending registration {id}"))),
    }
}
