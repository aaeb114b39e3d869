//! The DISINFOX client at the HTTP edge: timeouts, 401, 5xx, malformed JSON, empty bundles,
//! invalid objects. Mocks count their calls (checked when the server drops).

use std::time::Duration;

use connector::configuration::Settings;
use connector::source::{RetryPolicy, Source, SourceError};
use serde_json::json;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        attempts: 3,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
    }
}

fn source(server: &MockServer, timeout_ms: u64) -> Source {
    let env: Vec<(String, String)> = [
        ("OPENCTI_URL", "http://opencti:8080"),
        ("OPENCTI_TOKEN", "t"),
        ("CONNECTOR_ID", "2b7a8c3e-1f5d-4c8a-9b2e-3d4f5a6b7c8d"),
        ("DISINFOX_URL", "http://unused"),
        ("DISINFOX_API_KEY", "dfx_test"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    let s = Settings::from_parts(None, &env).unwrap();
    Source::new(
        &format!("{}/api/v1/bundle", server.uri()),
        s.disinfox.api_key,
        100,
        Duration::from_millis(timeout_ms),
        fast_retry(),
    )
    .unwrap()
}

const INCIDENT: &str = r#"{"type":"incident","spec_version":"2.1","id":"incident--c1817dc0-80ae-547f-83c0-920b0c6a25b8","created":"2024-05-01T00:00:00.000Z","modified":"2024-05-01T00:00:00.000Z","name":"A"}"#;

fn bundle(objects: &str) -> String {
    format!(
        r#"{{"type":"bundle","id":"bundle--4a6e3b68-6d5c-4b5d-9d8a-1b2c3d4e5f60","objects":[{objects}]}}"#
    )
}

#[tokio::test]
async fn a_page_with_its_headers_and_an_invalid_object_skipped() {
    let server = MockServer::start().await;
    let bad = INCIDENT
        .replace("c1817dc0", "d1817dc0")
        .replace(".000Z\",\"name", "Z\",\"name");
    Mock::given(method("GET"))
        .and(path("/api/v1/bundle"))
        .and(query_param("cursor", "41"))
        .and(header("authorization", "Bearer dfx_test"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-disinfox-next-cursor", "42")
                .insert_header("x-disinfox-high-water-mark", "2024-05-01T00:00:00.000001Z")
                .insert_header("x-disinfox-more", "true")
                .set_body_string(bundle(&format!("{INCIDENT},{bad}"))),
        )
        .expect(1)
        .mount(&server)
        .await;
    let page = source(&server, 2000).fetch(Some("41"), None).await.unwrap();
    assert_eq!(page.objects.len(), 1);
    assert_eq!(page.invalid.len(), 1, "{:?}", page.invalid);
    assert!(page.invalid[0].to_string().contains("incident--d1817dc0"));
    assert_eq!(page.next_cursor.as_deref(), Some("42"));
    assert!(page.more);
}

#[tokio::test]
async fn an_empty_bundle_without_objects_is_an_empty_page() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"type": "bundle", "id": "bundle--4a6e3b68-6d5c-4b5d-9d8a-1b2c3d4e5f60"}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let page = source(&server, 2000)
        .fetch(None, Some("2024-05-01T00:00:00.000000Z"))
        .await
        .unwrap();
    assert!(page.objects.is_empty() && page.invalid.is_empty() && !page.more);
}

#[tokio::test]
async fn unauthorized_is_reported_at_once_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401).set_body_json(
            json!({"error": {"status": 401, "message": "invalid or revoked API key"}}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let e = source(&server, 2000).fetch(None, None).await.unwrap_err();
    assert!(
        matches!(e, SourceError::Unauthorized { status: 401, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("invalid or revoked API key"));
    assert!(
        !format!("{e:?}").contains("dfx_test"),
        "the key never appears"
    );
}

#[tokio::test]
async fn server_errors_are_retried_then_succeed() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(2)
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string(bundle(INCIDENT)))
        .expect(1)
        .mount(&server)
        .await;
    let page = source(&server, 2000).fetch(None, None).await.unwrap();
    assert_eq!(page.objects.len(), 1);
}

#[tokio::test]
async fn timeouts_are_retried_a_bounded_number_of_times() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string(bundle(INCIDENT))
                .set_delay(Duration::from_millis(500)),
        )
        .expect(3)
        .mount(&server)
        .await;
    let e = source(&server, 100).fetch(None, None).await.unwrap_err();
    assert!(
        matches!(e, SourceError::Unavailable { attempts: 3, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("timed out"), "{e}");
}

#[tokio::test]
async fn malformed_json_and_other_client_errors_are_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(query_param("newer_than", "x"))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(json!({"error": {"status": 400, "message": "newer_than: bad"}})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(query_param("cursor", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>proxy</html>"))
        .expect(1)
        .mount(&server)
        .await;
    let s = source(&server, 2000);
    let e = s.fetch(None, Some("x")).await.unwrap_err();
    assert!(
        matches!(e, SourceError::Rejected { status: 400, .. }),
        "{e}"
    );
    let e = s.fetch(Some("1"), None).await.unwrap_err();
    assert!(matches!(e, SourceError::Malformed(_)), "{e}");
}
