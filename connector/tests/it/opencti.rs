//! The OpenCTI client at the HTTP edge: GraphQL errors in a 200, 401, 5xx retried a bounded
//! number of times, timeouts, malformed JSON, and the fault classification of
//! docs/opencti-connector-protocol.md#faults (the status first; OpenCTI's transient error
//! names retried; permanent errors at once). Mocks count their calls.

use std::time::Duration;

use connector::configuration::{Secret, TlsVerify};
use connector::opencti::{http_client, OpenCti, OpenCtiError};
use connector::retry::RetryPolicy;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn client(server: &MockServer, timeout_ms: u64) -> OpenCti {
    let http = http_client(
        Duration::from_millis(timeout_ms),
        &TlsVerify::Yes,
        &[("X-Tenant".into(), "t1".into())],
    )
    .unwrap();
    OpenCti::new(
        &format!("{}/", server.uri()),
        Secret::new("octi-token"),
        http,
        RetryPolicy {
            attempts: 3,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(20),
        },
        CancellationToken::new(),
    )
}

#[tokio::test]
async fn a_graphql_error_in_a_200_is_a_failure_and_is_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .and(header("authorization", "Bearer octi-token"))
        .and(header("x-tenant", "t1"))
        .and(body_string_contains("WorkAdd"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "errors": [{"message": "No connector found", "name": "FUNCTIONAL_ERROR", "data": {"id": "c"}}],
            "data": null
        })))
        .expect(1)
        .mount(&server)
        .await;
    let e = client(&server, 1000)
        .work_add("c", "run", false)
        .await
        .unwrap_err();
    match e {
        OpenCtiError::Graphql { name, message } => {
            assert_eq!(name, "FUNCTIONAL_ERROR");
            assert!(message.contains("No connector found"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn unauthorized_is_reported_at_once() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "errors": [{"message": "You must be logged in to do this.", "extensions": {"code": "AUTH_REQUIRED"}}]
        })))
        .expect(1)
        .mount(&server)
        .await;
    let e = client(&server, 1000).platform_version().await.unwrap_err();
    assert!(matches!(e, OpenCtiError::Unauthorized(_)), "{e:?}");
    let server401 = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401).set_body_string("no"))
        .expect(1)
        .mount(&server401)
        .await;
    let e = client(&server401, 1000)
        .add_expectations("w", 2)
        .await
        .unwrap_err();
    assert!(matches!(e, OpenCtiError::Unauthorized(_)), "{e:?}");
}

#[tokio::test]
async fn server_errors_are_retried_a_bounded_number_of_times() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(502).set_body_string("bad gateway"))
        .expect(3)
        .mount(&server)
        .await;
    let e = client(&server, 1000)
        .bundle_push("c", "{}", Some("w"))
        .await
        .unwrap_err();
    assert!(matches!(e, OpenCtiError::Http { status: 502, .. }), "{e:?}");
}

#[tokio::test]
async fn a_recovering_server_succeeds_on_retry() {
    let server = failing_then_ok(ResponseTemplate::new(503), 2).await;
    client(&server, 1000)
        .bundle_push("c", "{}", Some("w"))
        .await
        .unwrap();
}

#[tokio::test]
async fn timeouts_and_malformed_answers() {
    let slow = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"data": {"about": {"version": "6.8.10"}}}))
                .set_delay(Duration::from_millis(500)),
        )
        .expect(3)
        .mount(&slow)
        .await;
    let e = client(&slow, 50).queue_size("c").await.unwrap_err();
    assert!(
        matches!(e, OpenCtiError::Transport(ref m) if m.contains("timed out")),
        "{e:?}"
    );

    let garbled = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>proxy error</html>"))
        .expect(1)
        .mount(&garbled)
        .await;
    let e = client(&garbled, 1000).platform_version().await.unwrap_err();
    assert!(matches!(e, OpenCtiError::Malformed(_)), "{e:?}");

    let not_true = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"data": {"stixBundlePush": null}})),
        )
        .expect(1)
        .mount(&not_true)
        .await;
    let e = client(&not_true, 1000)
        .bundle_push("c", "{}", None)
        .await
        .unwrap_err();
    assert!(matches!(e, OpenCtiError::Malformed(_)), "{e:?}");
}

/// A GraphQL `errors` document as OpenCTI writes it (6.x: the name in `extensions.code`).
fn errors_body(code: &str, message: &str) -> serde_json::Value {
    json!({"errors": [{"message": message, "extensions": {"code": code, "data": {"http_status": 500}}}], "data": null})
}

/// A server answering every request with `answer`, expecting `expect` requests.
async fn always(answer: ResponseTemplate, expect: u64) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(answer)
        .expect(expect)
        .mount(&server)
        .await;
    server
}

/// Mounts `first` answered `times` times, then a `stixBundlePush` success.
async fn failing_then_ok(first: ResponseTemplate, times: u64) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(first)
        .up_to_n_times(times)
        .expect(times)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"data": {"stixBundlePush": true}})),
        )
        .expect(1)
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn the_status_decides_first_a_500_with_a_graphql_body_is_retried() {
    // An HTTP 500 whose body is a GraphQL errors document with a permanent-looking code.
    let body = errors_body("FUNCTIONAL_ERROR", "Business validation");
    let server = failing_then_ok(ResponseTemplate::new(500).set_body_json(body.clone()), 2).await;
    client(&server, 1000)
        .bundle_push("c", "{}", Some("w"))
        .await
        .unwrap();
    // Still failing after every attempt: the error is the status, with the GraphQL detail.
    let down = always(ResponseTemplate::new(500).set_body_json(body), 3).await;
    let e = client(&down, 1000)
        .bundle_push("c", "{}", Some("w"))
        .await
        .unwrap_err();
    match e {
        OpenCtiError::Http { status: 500, body } => {
            assert!(
                body.contains("FUNCTIONAL_ERROR: Business validation"),
                "{body}"
            )
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn too_many_requests_and_request_timeout_are_retried() {
    for status in [429, 408, 503, 504] {
        let server = failing_then_ok(ResponseTemplate::new(status), 2).await;
        client(&server, 1000)
            .bundle_push("c", "{}", Some("w"))
            .await
            .unwrap_or_else(|e| panic!("HTTP {status}: {e}"));
    }
}

#[tokio::test]
async fn opencti_transient_error_names_are_retried() {
    let lock_6x = errors_body(
        "LOCK_ERROR",
        "Execution timeout, too many concurrent call on the same entities",
    );
    let db_6x = errors_body(
        "DATABASE_ERROR",
        "Engine execution fail, some shards are not available, please check your engine status",
    );
    // Older platforms name the error at the top of the entry.
    let lock_old = json!({"errors": [{"name": "LockError", "message": "Lock timeout", "data": {"http_status": 500}}]});
    let db_old =
        json!({"errors": [{"name": "DatabaseError", "message": "A database error has occurred"}]});
    for body in [lock_6x, db_6x, lock_old, db_old] {
        let server =
            failing_then_ok(ResponseTemplate::new(200).set_body_json(body.clone()), 2).await;
        client(&server, 1000)
            .bundle_push("c", "{}", Some("w"))
            .await
            .unwrap_or_else(|e| panic!("{body}: {e}"));
    }
    // Bounded: a lock that is never released fails after the attempts, as busy.
    let locked = always(
        ResponseTemplate::new(200).set_body_json(errors_body("LOCK_ERROR", "Lock timeout")),
        3,
    )
    .await;
    let e = client(&locked, 1000)
        .work_add("c", "run", false)
        .await
        .unwrap_err();
    assert!(
        matches!(e, OpenCtiError::Busy { ref name, .. } if name == "LOCK_ERROR"),
        "{e:?}"
    );
    assert!(e.is_transient());
}

#[tokio::test]
async fn permanent_graphql_errors_and_other_client_errors_fail_at_once() {
    for (status, body, auth) in [
        (
            200,
            errors_body(
                "GRAPHQL_VALIDATION_FAILED",
                "Cannot query field \"versoin\"",
            ),
            false,
        ),
        (
            200,
            errors_body("BAD_USER_INPUT", "Variable \"$id\" got invalid value"),
            false,
        ),
        (
            200,
            errors_body("VALIDATION_ERROR", "Invalid field name"),
            false,
        ),
        (
            200,
            errors_body("UNKNOWN_ERROR", "An unknown error has occurred"),
            false,
        ),
        (
            200,
            errors_body("FORBIDDEN_ACCESS", "You are not allowed to do this."),
            true,
        ),
        (
            400,
            errors_body("GRAPHQL_PARSE_FAILED", "Syntax Error"),
            false,
        ),
        (
            403,
            errors_body("FORBIDDEN_ACCESS", "You are not allowed to do this."),
            true,
        ),
        (404, json!("not found"), false),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(status).set_body_json(body.clone()))
            .expect(1)
            .mount(&server)
            .await;
        let e = client(&server, 1000)
            .bundle_push("c", "{}", Some("w"))
            .await
            .unwrap_err();
        assert!(!e.is_transient(), "{status} {body}: {e:?}");
        assert_eq!(
            matches!(e, OpenCtiError::Unauthorized(_)),
            auth,
            "{status} {body}: {e:?}"
        );
    }
}
