//! Operations shared by the JSON API, the web pages and the command line. Each checks the
//! caller's rights and validates its input in one place, whichever door the request came
//! through; the handlers and commands only translate requests and answers.
//!
//! - [`incidents`]: the incident list, create, read, replace, delete, counts;
//! - [`keys`]: issuing ([`issue_key`], the only way a key is made) and revoking API keys;
//! - [`users`]: adding and changing users, registrations, passwords;
//! - [`watchlist`]: each user's watchlist and the incidents they created or edited.

pub mod incidents;
pub mod keys;
pub mod users;
pub mod watchlist;

pub use incidents::{
    check_incident, create_incident, delete_incident, invalid_incident, list_incidents,
    load_incident, stats, technique_counts, update_incident, ListQuery, ListRequest, Stats,
    MAX_PAGE,
};
pub use keys::{
    create_key, issue_key, provision_connector_key, revoke, revoke_key, CONNECTOR_KEY_NAME,
    CONNECTOR_USER, MAX_KEY_NAME,
};
pub use users::{
    add_user, approve_user, change_password, create_user, register, reject_user, update_user,
    Registered,
};

use crate::audit::AuditEvent;
use crate::auth::Caller;

/// Who asks for an operation that does not only come from a request.
#[derive(Debug, Clone, Copy)]
pub enum By<'a> {
    /// The caller of an API request or a page.
    Caller(&'a Caller),
    /// The operator of the server: a command of the command line, or the server itself at
    /// start (the demo accounts, the provisioned connector key). Named in the audit log.
    Operator(&'static str),
}

impl By<'_> {
    /// The event, with who did it.
    pub fn audit(self, event: AuditEvent) -> AuditEvent {
        match self {
            Self::Caller(c) => event.by(c),
            Self::Operator(what) => event.by_operator(what),
        }
    }
}
