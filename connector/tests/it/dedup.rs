//! Objects OpenCTI accepted earlier in a run are not sent again in that run (`seen.rs`): the
//! objects every page repeats (identity, markings, techniques, actors, countries, channels)
//! arrive once per run, a changed version arrives again, a failed page and a new run start
//! over, and nothing the server sent is lost. Against a real disinfox-server (or hand-made
//! pages) and the stand-in.

use std::collections::BTreeMap;

use connector::configuration::Settings;
use opencti_standin::{Fault, StandIn, StandInHandle, StandInOptions};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::e2e::{fast, settings, CONNECTOR_ID};
use crate::support::Server;

async fn standin() -> StandInHandle {
    StandIn::start(StandInOptions::default()).await.unwrap()
}

async fn run_once(settings: Settings) -> Result<(), connector::worker::StartError> {
    connector::run_with(settings, fast(), CancellationToken::new()).await
}

/// Every object id of every page the server gives at `page_size` (OpenCTI flavour, 6.x ids,
/// as the connector asks a 6.8 platform's), with the number of pages it is on.
async fn server_pages(server: &Server, page_size: u32) -> BTreeMap<String, u64> {
    let client = reqwest::Client::new();
    let mut on_pages = BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut q = vec![
            ("limit", page_size.to_string()),
            ("flavor", "opencti".into()),
            ("opencti_ids", "6".into()),
        ];
        q.extend(cursor.clone().map(|c| ("cursor", c)));
        let r = client
            .get(server.url())
            .query(&q)
            .bearer_auth(&server.key)
            .send()
            .await
            .unwrap();
        let header = |n: &str| {
            r.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (next, more) = (
            header("x-disinfox-next-cursor"),
            header("x-disinfox-more").as_deref() == Some("true"),
        );
        let page: Value = r.json().await.unwrap();
        for o in page["objects"].as_array().into_iter().flatten() {
            *on_pages
                .entry(o["id"].as_str().unwrap().to_owned())
                .or_insert(0) += 1;
        }
        if !more {
            return on_pages;
        }
        cursor = next;
    }
}

/// The ids OpenCTI imports among `ids` (extension-definitions are left out by the split).
fn importable(ids: &BTreeMap<String, u64>) -> Vec<String> {
    ids.keys()
        .filter(|id| stix_model::split::is_supported_id(id))
        .cloned()
        .collect()
}

/// Asserts that the stand-in received exactly the objects OpenCTI imports among `sent`.
fn assert_all_arrived(got: &BTreeMap<String, u64>, sent: &BTreeMap<String, u64>, what: &str) {
    let expected = importable(sent);
    let missing: Vec<_> = expected
        .iter()
        .filter(|id| !got.contains_key(*id))
        .collect();
    let extra: Vec<_> = got.keys().filter(|id| !expected.contains(id)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{what}: missing {missing:?}, not sent by the server {extra:?}"
    );
}

fn identity_ids(octi: &StandInHandle) -> Vec<String> {
    octi.objects()
        .into_iter()
        .filter(|o| o.object_type.as_deref() == Some("identity"))
        .map(|o| o.id)
        .collect()
}

/// The stand-in for `protocol` (with a broker for AMQP).
async fn standin_for(protocol: &str) -> StandInHandle {
    if protocol == "amqp" {
        crate::amqp_path::standin_with_broker("6.8.10").await
    } else {
        standin().await
    }
}

/// Runs once over `protocol` and, for AMQP, waits until the worker consumed the run's work.
async fn run_and_drain(settings: Settings, octi: &StandInHandle, protocol: &str) {
    let works = octi.works_of(CONNECTOR_ID).len();
    run_once(settings).await.unwrap();
    if protocol == "amqp" {
        let work = octi.works_of(CONNECTOR_ID)[works].id.clone();
        crate::amqp_path::wait_drained(octi, &work).await;
    }
}

#[tokio::test]
async fn a_shared_object_is_sent_once_per_run_and_a_new_run_sends_it_again() {
    for protocol in ["api", "amqp"] {
        let mut server = Server::start(120).await;
        let on_pages = server_pages(&server, 25).await;
        let repeated: BTreeMap<_, _> = on_pages
            .iter()
            .filter(|(id, n)| **n > 1 && stix_model::split::is_supported_id(id))
            .collect();
        assert!(
            repeated.len() >= 5,
            "the server repeats shared objects on every page: {repeated:?}"
        );
        let octi = standin_for(protocol).await;
        let extra = [("CONNECTOR_QUEUE_PROTOCOL", protocol)];
        run_and_drain(settings(&server, &octi, &extra), &octi, protocol).await;

        // Every object the server sent arrived, and each exactly once, however many pages
        // carried it.
        let got = octi.object_counts();
        assert_all_arrived(&got, &on_pages, protocol);
        let twice: Vec<_> = got.iter().filter(|(_, c)| **c != 1).collect();
        assert!(
            twice.is_empty(),
            "{protocol}: sent more than once: {twice:?}"
        );
        // Nothing was sent that OpenCTI's worker would leave out (the extension-definition
        // every page carries stays home).
        let dropped: Vec<_> = octi.pushes().into_iter().flat_map(|p| p.dropped).collect();
        assert!(dropped.is_empty(), "{protocol}: {dropped:?}");
        let w = &octi.works_of(CONNECTOR_ID)[0];
        let left_out: u64 = repeated.values().map(|n| **n - 1).sum();
        let said = format!("{left_out} objects already sent in this run left out");
        assert!(
            w.messages.iter().any(|m| m.message.contains(&said)),
            "{protocol}: {said:?} not in {:?}",
            w.messages
        );

        // A new run starts with nothing seen: OpenCTI may have been reset in between, so the
        // shared objects the new incidents refer to go again.
        server.add(10).await;
        run_and_drain(settings(&server, &octi, &extra), &octi, protocol).await;
        let got = octi.object_counts();
        let identities = identity_ids(&octi);
        assert!(!identities.is_empty());
        assert!(
            identities.iter().any(|id| got[id] == 2),
            "{protocol}: the creator identity came again in the second run: {:?}",
            identities
                .iter()
                .map(|id| (id, got[id]))
                .collect::<Vec<_>>()
        );
        assert!(got.values().all(|c| *c <= 2), "{protocol}: {got:?}");
    }
}

#[tokio::test]
async fn a_failed_page_is_not_remembered_and_the_next_run_sends_it_whole() {
    let server = Server::start(100).await;
    let on_pages = server_pages(&server, 25).await;
    let octi = standin().await;
    // The second page's push fails on every attempt, before OpenCTI imports it.
    octi.add_fault(Fault::status(500).on("StixBundlePush").skip(1).times(3));
    assert!(run_once(settings(&server, &octi, &[])).await.is_err());
    let after_first = octi.object_counts();
    assert!(!after_first.is_empty(), "the first page arrived");
    assert!(after_first.values().all(|c| *c == 1));

    octi.clear_faults();
    run_once(settings(&server, &octi, &[])).await.unwrap();
    let got = octi.object_counts();
    assert_all_arrived(&got, &on_pages, "after the second run");
    // The second run started at the failed page with nothing seen: the shared objects of the
    // first page came again with it, once; nothing came a third time.
    let identities = identity_ids(&octi);
    assert!(identities.iter().any(|id| got[id] == 2), "{got:?}");
    assert!(got.values().all(|c| *c <= 2), "{got:?}");
    for (id, c) in &after_first {
        if on_pages.get(id).is_none_or(|n| *n <= 1) {
            assert_eq!(got[id], *c, "{id}: only on the first page, sent once");
        }
    }
}

// Hand-made pages: a source that changes a shared object in the middle of a run.

const IDENTITY: &str = "identity--2d1c6e2a-7f7b-4a8e-9c3d-5b6a7e8f9a0b";

fn identity(modified: &str, name: &str) -> Value {
    json!({"type": "identity", "spec_version": "2.1", "id": IDENTITY,
           "created": "2024-05-01T00:00:00.000Z", "modified": modified,
           "name": name, "identity_class": "organization"})
}

fn incident(uuid: &str, modified: &str) -> Value {
    json!({"type": "incident", "spec_version": "2.1", "id": format!("incident--{uuid}"),
           "created": "2024-05-01T00:00:00.000Z", "modified": modified,
           "name": format!("Incident {uuid}"), "created_by_ref": IDENTITY})
}

const A: &str = "0a6f2c1e-3b4d-4e5f-8a9b-1c2d3e4f5a6b";
const B: &str = "1b7f3d2e-4c5e-4f6a-9b0c-2d3e4f5a6b7c";
const C: &str = "2c8a4e3f-5d6f-4a7b-8c1d-3e4f5a6b7c8d";

/// Serves `pages` in order at `/api/v1/bundle` (cursors 1, 2, …).
async fn source(pages: Vec<Vec<Value>>) -> MockServer {
    let server = MockServer::start().await;
    let n = pages.len();
    for (i, objects) in pages.into_iter().enumerate() {
        let body = json!({"type": "bundle", "id": "bundle--4a6e3b68-6d5c-4b5d-9d8a-1b2c3d4e5f60",
                          "objects": objects});
        let answer = ResponseTemplate::new(200)
            .insert_header("x-disinfox-next-cursor", (i + 1).to_string())
            .insert_header("x-disinfox-more", if i + 1 < n { "true" } else { "false" })
            .set_body_json(body);
        let m = Mock::given(method("GET")).and(path("/api/v1/bundle"));
        let m = if i == 0 {
            m.and(query_param_is_missing("cursor"))
        } else {
            m.and(query_param("cursor", i.to_string()))
        };
        m.respond_with(answer).expect(1).mount(&server).await;
    }
    server
}

fn settings_for(source: &MockServer, octi: &StandInHandle, extra: &[(&str, &str)]) -> Settings {
    let mut env: Vec<(String, String)> = [
        ("OPENCTI_URL", octi.url()),
        ("OPENCTI_TOKEN", octi.token().to_owned()),
        ("CONNECTOR_ID", CONNECTOR_ID.into()),
        ("DISINFOX_URL", format!("{}/api/v1/bundle", source.uri())),
        ("DISINFOX_API_KEY", "dfx_test".into()),
        ("CONNECTOR_RUN_AND_TERMINATE", "true".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    env.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    Settings::from_parts(None, &env).unwrap()
}

#[tokio::test]
async fn a_changed_version_or_a_revoked_incident_is_sent_again_in_the_same_run() {
    for protocol in ["api", "amqp"] {
        let later = "2024-06-01T00:00:00.000Z";
        let mut revoked = incident(A, later);
        revoked["revoked"] = json!(true);
        let v1 = identity("2024-05-01T00:00:00.000Z", "Creator");
        let v2 = identity(later, "Creator, renamed");
        let pages = vec![
            vec![v1.clone(), incident(A, "2024-05-01T00:00:00.000Z")],
            vec![v1, incident(B, "2024-05-01T00:00:00.000Z")],
            vec![v2.clone(), incident(C, "2024-05-01T00:00:00.000Z")],
            vec![v2, revoked],
        ];
        let source = source(pages).await;
        let octi = standin_for(protocol).await;
        let extra = [("CONNECTOR_QUEUE_PROTOCOL", protocol)];
        run_and_drain(settings_for(&source, &octi, &extra), &octi, protocol).await;
        let got = octi.object_counts();
        let count = |id: &str| got.get(id).copied().unwrap_or(0);
        // The identity: once as first written (pages 1-2), once changed (pages 3-4).
        assert_eq!(count(IDENTITY), 2, "{protocol}: {got:?}");
        assert_eq!(
            octi.object(IDENTITY).unwrap().object["name"],
            "Creator, renamed",
            "{protocol}"
        );
        // Incident A: once, then once more revoked.
        assert_eq!(count(&format!("incident--{A}")), 2, "{protocol}: {got:?}");
        assert_eq!(
            octi.object(&format!("incident--{A}")).unwrap().object["revoked"],
            true
        );
        assert_eq!(count(&format!("incident--{B}")), 1, "{protocol}");
        assert_eq!(count(&format!("incident--{C}")), 1, "{protocol}");
    }
}

#[tokio::test]
async fn a_page_referring_to_an_invalid_object_is_split_whole_as_before() {
    let location = "location--3d9b5f4a-6e7a-4b8c-9d2e-4f5a6b7c8d9e";
    let relationship = "relationship--4e0c6a5b-7f8b-4c9d-8e3f-5a6b7c8d9e0f";
    // Not valid STIX: `modified` without its milliseconds.
    let bad_location = json!({"type": "location", "spec_version": "2.1", "id": location,
        "created": "2024-05-01T00:00:00.000Z", "modified": "2024-05-01T00:00:00Z",
        "country": "LT"});
    let targets = json!({"type": "relationship", "spec_version": "2.1", "id": relationship,
        "created": "2024-05-01T00:00:00.000Z", "modified": "2024-05-01T00:00:00.000Z",
        "relationship_type": "targets", "source_ref": format!("incident--{B}"),
        "target_ref": location, "created_by_ref": IDENTITY});
    let v1 = identity("2024-05-01T00:00:00.000Z", "Creator");
    let pages = vec![
        vec![v1.clone(), incident(A, "2024-05-01T00:00:00.000Z")],
        vec![
            v1,
            incident(B, "2024-05-01T00:00:00.000Z"),
            bad_location,
            targets,
        ],
    ];
    let source = source(pages).await;
    let octi = standin().await;
    run_once(settings_for(&source, &octi, &[])).await.unwrap();
    let got = octi.object_counts();
    // The second page refers to an object that is not there: it is split whole, with the
    // clean-up, as if nothing had been sent before. The relationship loses its target and is
    // left out; the identity goes again.
    assert_eq!(got.get(IDENTITY), Some(&2), "{got:?}");
    assert!(!got.contains_key(relationship), "{got:?}");
    assert!(!got.contains_key(location));
    assert_eq!(got.get(&format!("incident--{B}")), Some(&1));
    let w = &octi.works_of(CONNECTOR_ID)[0];
    assert!(
        w.errors.iter().any(|e| e.message.contains(location)),
        "the invalid object is reported: {:?}",
        w.errors
    );
}
