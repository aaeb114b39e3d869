//! What can go wrong talking to OpenCTI, and which failures are worth asking again
//! (`docs/opencti-connector-protocol.md#faults`).

use serde_json::{Map, Value};

/// What went wrong talking to OpenCTI.
#[derive(Debug, Clone, thiserror::Error)]
pub enum OpenCtiError {
    /// The token is missing, wrong, or lacks a capability.
    #[error("OpenCTI refused the token or its rights ({0})")]
    Unauthorized(String),
    /// OpenCTI answered with GraphQL errors.
    #[error("OpenCTI answered {name}: {message}")]
    Graphql {
        /// The error's name (`FUNCTIONAL_ERROR`, …), or its code.
        name: String,
        /// Its message and data.
        message: String,
    },
    /// OpenCTI answered with a GraphQL error that names a passing failure (a lock held by
    /// concurrent writes, the database or search engine unavailable): asking again may help.
    #[error("OpenCTI is busy ({name}): {message}")]
    Busy {
        /// The error's name or code (`LOCK_ERROR`, `DATABASE_ERROR`, …).
        name: String,
        /// Its message and data.
        message: String,
    },
    /// An HTTP status other than 200 (the body: the first GraphQL error when there is one,
    /// else its start).
    #[error("OpenCTI answered HTTP {status}: {body}")]
    Http {
        /// Status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// The request did not complete (connection refused, reset, timed out).
    #[error("OpenCTI is unreachable: {0}")]
    Transport(String),
    /// The answer is not what the document asked for.
    #[error("OpenCTI's answer is malformed: {0}")]
    Malformed(String),
    /// The connector is stopping.
    #[error("stopped")]
    Stopped,
}

impl OpenCtiError {
    /// Whether asking again may help (docs/opencti-connector-protocol.md#faults): a failed or
    /// timed-out connection, HTTP 5xx, 429 or 408 whatever the body, or a GraphQL error naming
    /// a passing failure ([`TRANSIENT_ERRORS`]).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Transport(_) | Self::Busy { .. } => true,
            Self::Http { status, .. } => *status >= 500 || *status == 429 || *status == 408,
            _ => false,
        }
    }
}

/// OpenCTI's GraphQL errors that name a passing failure, by `extensions.code` (6.x) and by
/// `name` (older platforms): a lock timeout under concurrent writes, and a database or search
/// engine failure. Why these and not others: docs/opencti-connector-protocol.md#faults.
pub const TRANSIENT_ERRORS: &[&str] =
    &["LOCK_ERROR", "LockError", "DATABASE_ERROR", "DatabaseError"];

/// Classifies one entry of a GraphQL `errors` array.
pub(super) fn graphql_error(e: &Value) -> OpenCtiError {
    let s = |p: &str| e.pointer(p).and_then(Value::as_str).map(str::to_owned);
    let (given_name, code) = (s("/name"), s("/extensions/code"));
    let transient = [&given_name, &code]
        .into_iter()
        .flatten()
        .any(|n| TRANSIENT_ERRORS.contains(&n.as_str()));
    let name = given_name
        .or(code)
        .unwrap_or_else(|| "GraphQL error".into());
    let mut message = s("/message").unwrap_or_default();
    if let Some(Value::Object(data)) = e.get("data").or_else(|| e.pointer("/extensions/data")) {
        let extra: Map<String, Value> = data.clone();
        message.push_str(&format!(" {}", Value::Object(extra)));
    }
    let upper = name.to_ascii_uppercase();
    if transient {
        OpenCtiError::Busy { name, message }
    } else if upper.contains("AUTH") || upper.contains("FORBIDDEN") || upper == "UNAUTHENTICATED" {
        OpenCtiError::Unauthorized(format!("{name}: {message}"))
    } else {
        OpenCtiError::Graphql { name, message }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn errors_are_classified() {
        let auth =
            graphql_error(&json!({"name": "AUTH_REQUIRED", "message": "You must be logged in"}));
        assert!(matches!(auth, OpenCtiError::Unauthorized(_)), "{auth:?}");
        let f = graphql_error(
            &json!({"message": "No connector found", "extensions": {"code": "FUNCTIONAL_ERROR", "data": {"id": "x"}}}),
        );
        match f {
            OpenCtiError::Graphql { name, message } => {
                assert_eq!(name, "FUNCTIONAL_ERROR");
                assert!(message.contains("No connector found") && message.contains("\"id\""));
            }
            other => panic!("{other:?}"),
        }
        for busy in [
            json!({"message": "Lock timeout", "extensions": {"code": "LOCK_ERROR"}}),
            json!({"message": "shards", "extensions": {"code": "DATABASE_ERROR"}}),
            json!({"name": "LockError", "message": "Lock timeout"}),
            json!({"name": "GraphQLError", "message": "x", "extensions": {"code": "DATABASE_ERROR"}}),
        ] {
            let e = graphql_error(&busy);
            assert!(
                matches!(e, OpenCtiError::Busy { .. }) && e.is_transient(),
                "{busy}: {e:?}"
            );
        }
        for permanent in [
            "UNKNOWN_ERROR",
            "VALIDATION_ERROR",
            "MISSING_REFERENCE_ERROR",
            "WORK_NOT_ALIVE",
        ] {
            let e = graphql_error(&json!({"message": "m", "extensions": {"code": permanent}}));
            assert!(!e.is_transient(), "{permanent}: {e:?}");
        }
        assert!(OpenCtiError::Http {
            status: 502,
            body: String::new()
        }
        .is_transient());
        assert!(!OpenCtiError::Http {
            status: 400,
            body: String::new()
        }
        .is_transient());
    }
}
