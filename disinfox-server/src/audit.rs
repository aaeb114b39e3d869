//! The audit log: security events, stored in the database (table `audit_log`, shown to
//! administrators on `/admin/audit`) and written as log lines with the tracing target
//! `audit`.
//!
//! What is recorded: sign-ins (succeeded, failed, and an (address, account) pair becoming
//! locked), registrations, their approval or rejection, users created, role changes, accounts
//! disabled or enabled, password changes, API keys created and revoked, incidents deleted.
//! An entry never holds a secret (no password, key, session or hash): the actor's e-mail and
//! id, the client's address, what was acted on (an e-mail, a key's id, name and first
//! characters, an incident id) and a short detail.
//!
//! Other code records an event with [`record`]:
//!
//! ```no_run
//! # async fn f(state: &disinfox_server::state::AppState, caller: &disinfox_server::auth::Caller) {
//! use disinfox_server::audit::{self, AuditEvent, AuditKind};
//! audit::record(
//!     &state.store,
//!     AuditEvent::new(AuditKind::IncidentDeleted)
//!         .by(caller)
//!         .on("incident--c1817dc0-80ae-547f-83c0-920b0c6a25b8"),
//! )
//! .await;
//! # }
//! ```
//!
//! Recording never fails the request: the log line is written first, and a database error is
//! logged as an error of its own.
//!
//! Refusals that cost nothing (a locked pair tried again, an address over its attempt limit,
//! an unknown API key, a repeated `Authorization` header) are written as log lines only, so a
//! flood of them cannot fill the database.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use crate::auth::Caller;
use crate::client::ClientAddr;
use crate::db::{Store, User};

/// The kinds of audit events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditKind {
    /// A successful sign-in on the web pages.
    SignIn,
    /// A sign-in with a wrong password or an unknown e-mail.
    SignInFailed,
    /// An (address, account) pair locked after repeated failures.
    SignInLocked,
    /// A registration (pending or active; or refused because the e-mail is taken).
    Registration,
    /// A pending registration approved by an administrator.
    RegistrationApproved,
    /// A pending registration rejected (deleted) by an administrator.
    RegistrationRejected,
    /// A user created by an administrator.
    UserCreated,
    /// A user's role changed.
    RoleChanged,
    /// A user disabled.
    UserDisabled,
    /// A user enabled again.
    UserEnabled,
    /// A user changed their password.
    PasswordChanged,
    /// An API key created.
    KeyCreated,
    /// An API key revoked.
    KeyRevoked,
    /// An incident deleted (published revoked).
    IncidentDeleted,
    /// An import job accepted (file name, format, size).
    ImportStarted,
    /// An import job over (its state and counts).
    ImportFinished,
}

impl AuditKind {
    /// Every kind, in the order the audit page offers them.
    pub const ALL: &'static [AuditKind] = &[
        Self::SignIn,
        Self::SignInFailed,
        Self::SignInLocked,
        Self::Registration,
        Self::RegistrationApproved,
        Self::RegistrationRejected,
        Self::UserCreated,
        Self::RoleChanged,
        Self::UserDisabled,
        Self::UserEnabled,
        Self::PasswordChanged,
        Self::KeyCreated,
        Self::KeyRevoked,
        Self::IncidentDeleted,
        Self::ImportStarted,
        Self::ImportFinished,
    ];

    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignIn => "sign-in",
            Self::SignInFailed => "sign-in-failed",
            Self::SignInLocked => "sign-in-locked",
            Self::Registration => "registration",
            Self::RegistrationApproved => "registration-approved",
            Self::RegistrationRejected => "registration-rejected",
            Self::UserCreated => "user-created",
            Self::RoleChanged => "role-changed",
            Self::UserDisabled => "user-disabled",
            Self::UserEnabled => "user-enabled",
            Self::PasswordChanged => "password-changed",
            Self::KeyCreated => "key-created",
            Self::KeyRevoked => "key-revoked",
            Self::IncidentDeleted => "incident-deleted",
            Self::ImportStarted => "import-started",
            Self::ImportFinished => "import-finished",
        }
    }

    /// The kind of a stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for AuditKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One event to record; built with [`AuditEvent::new`] and the methods after it.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    /// The kind.
    pub kind: AuditKind,
    /// The acting user's id.
    pub actor_id: Option<i64>,
    /// The acting user's e-mail.
    pub actor: String,
    /// The client's address.
    pub address: Option<ClientAddr>,
    /// What was acted on.
    pub object: String,
    /// More about it (never a secret).
    pub detail: String,
}

/// The longest text kept in a field of an entry.
const MAX_FIELD: usize = 300;

fn clip(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control())
        .take(MAX_FIELD)
        .collect()
}

impl AuditEvent {
    /// An event of this kind, with no actor yet.
    pub fn new(kind: AuditKind) -> Self {
        Self {
            kind,
            actor_id: None,
            actor: String::new(),
            address: None,
            object: String::new(),
            detail: String::new(),
        }
    }

    /// Done by the caller of a request (user and address; the key, when a key was used).
    pub fn by(self, caller: &Caller) -> Self {
        let e = self.by_user(&caller.user).from(caller.address);
        match caller.key_id {
            Some(k) => e.detail(format!("with API key {k}")),
            None => e,
        }
    }

    /// Done by this user.
    pub fn by_user(mut self, user: &User) -> Self {
        self.actor_id = Some(user.id);
        self.actor = clip(&user.email);
        self
    }

    /// Done by the operator of the server (`what`: the command line, the start of the server).
    pub fn by_operator(mut self, what: &str) -> Self {
        self.actor = clip(&format!("operator ({what})"));
        self
    }

    /// Tried with this e-mail (sign-in, registration): kept only when it looks like an
    /// e-mail address, since people type passwords into the wrong field.
    pub fn tried(mut self, email: &str) -> Self {
        let email = email.trim();
        self.actor = if crate::auth::valid_email(email) {
            clip(email)
        } else {
            "(not an e-mail address)".to_owned()
        };
        self
    }

    /// From this client address.
    pub fn from(mut self, address: ClientAddr) -> Self {
        self.address = Some(address);
        self
    }

    /// Acting on this (a user's e-mail, a key, an incident id).
    pub fn on(mut self, object: impl AsRef<str>) -> Self {
        self.object = clip(object.as_ref());
        self
    }

    /// With this detail (after any detail already there).
    pub fn detail(mut self, detail: impl AsRef<str>) -> Self {
        let d = detail.as_ref();
        self.detail = if self.detail.is_empty() {
            clip(d)
        } else {
            clip(&format!("{}; {d}", self.detail))
        };
        self
    }
}

/// Records an event: a log line (target `audit`), then a row of the audit log.
pub async fn record(store: &Store, event: AuditEvent) {
    let address = event.address.map(|a| a.to_string()).unwrap_or_default();
    tracing::info!(
        target: "audit",
        kind = event.kind.as_str(),
        actor = %event.actor,
        actor_id = event.actor_id,
        address = %address,
        object = %event.object,
        detail = %event.detail,
        "audit event"
    );
    if let Err(e) = store
        .insert_audit(
            event.kind.as_str(),
            event.actor_id,
            &event.actor,
            &address,
            &event.object,
            &event.detail,
        )
        .await
    {
        tracing::error!(error = ?e, kind = event.kind.as_str(), "could not store an audit event");
    }
}

/// Refusals of one kind from one address are logged at most once in this long; the next
/// line says how many were left out.
pub const REFUSAL_EVERY: Duration = Duration::from_secs(60);
/// (kind, address) pairs tracked for that at most.
const REFUSALS_TRACKED: usize = 10_000;

type Refusals = BTreeMap<(&'static str, IpAddr), (Instant, u64)>;

static REFUSALS: LazyLock<Mutex<Refusals>> = LazyLock::new(Mutex::default);

/// Whether to log a refusal now, and how many were left out since the last line.
fn refusal_due(map: &mut Refusals, kind: &'static str, addr: IpAddr, now: Instant) -> Option<u64> {
    if let Some((last, left_out)) = map.get_mut(&(kind, addr)) {
        if now.duration_since(*last) < REFUSAL_EVERY {
            *left_out += 1;
            return None;
        }
        let n = *left_out;
        *last = now;
        *left_out = 0;
        return Some(n);
    }
    if map.len() >= REFUSALS_TRACKED {
        map.retain(|_, (last, _)| now.duration_since(*last) < REFUSAL_EVERY);
    }
    if map.len() < REFUSALS_TRACKED {
        map.insert((kind, addr), (now, 0));
    }
    Some(0)
}

/// Writes a refusal that is not stored (see the module documentation) as a log line (level
/// warn, target `audit`): at most one line per kind and address in [`REFUSAL_EVERY`], with the
/// number left out, so a flood of refusals does not flood the log.
pub fn refusal(kind: &'static str, address: ClientAddr, actor: &str, reason: &str) {
    let due = {
        let mut map = REFUSALS.lock().unwrap_or_else(|p| p.into_inner());
        refusal_due(&mut map, kind, address.bucket(), Instant::now())
    };
    if let Some(left_out) = due {
        tracing::warn!(target: "audit", kind, %address, actor, reason, left_out, "refused");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_logged_once_a_minute_per_kind_and_address() {
        let mut map = Refusals::new();
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let t = Instant::now();
        assert_eq!(refusal_due(&mut map, "x", a, t), Some(0));
        for _ in 0..5 {
            assert_eq!(refusal_due(&mut map, "x", a, t), None);
        }
        assert_eq!(refusal_due(&mut map, "y", a, t), Some(0), "another kind");
        assert_eq!(refusal_due(&mut map, "x", b, t), Some(0), "another address");
        assert_eq!(
            refusal_due(&mut map, "x", a, t + REFUSAL_EVERY),
            Some(5),
            "says how many were left out"
        );
    }

    #[test]
    fn kinds_round_trip_and_fields_stay_short_and_clean() {
        for k in AuditKind::ALL {
            assert_eq!(AuditKind::parse(k.as_str()), Some(*k));
        }
        assert_eq!(AuditKind::parse("nope"), None);
        let e = AuditEvent::new(AuditKind::SignInFailed)
            .tried("hunter2 my password")
            .on("x\n".repeat(400))
            .detail("a")
            .detail("b");
        assert_eq!(e.actor, "(not an e-mail address)");
        assert_eq!(e.object.len(), MAX_FIELD);
        assert!(!e.object.contains('\n'));
        assert_eq!(e.detail, "a; b");
        assert_eq!(
            AuditEvent::new(AuditKind::SignIn).tried(" A@b.org ").actor,
            "A@b.org"
        );
    }
}
