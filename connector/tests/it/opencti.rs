//! The OpenCTI client at the HTTP edge: GraphQL errors in a 200, 401, 5xx retried a bounded
//! number of times, timeouts, malformed JSON. Mocks count their calls.

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
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"data": {"stixBundlePush": true}})),
        )
        .expect(1)
        .mount(&server)
        .await;
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
