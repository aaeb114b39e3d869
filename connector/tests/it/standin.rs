//! The OpenCTI stand-in, driven over HTTP with the connector's own GraphQL documents: validation,
//! projection, authentication, registration/ping/reset (step by step,
//! `docs/opencti-connector-protocol.md#ping-and-state`), work completion, `stixBundlePush`, faults,
//! the control endpoints, and the AMQP worker against a real RabbitMQ broker
//! (`DISINFOX_TEST_AMQP_URL`, default the local one; those tests fail when it is unreachable).

use std::time::Duration;

use base64::Engine as _;
use connector::graphql;
use opencti_standin::{
    Fault, RequestOutcome, StandIn, StandInHandle, StandInOptions, Via, WorkStatus,
};
use serde_json::{json, Value};

const CID: &str = "2b7a8c3e-1f5d-4c8a-9b2e-3d4f5a6b7c8d";

/// Generous bound for background work (AMQP consumption); not a timing assertion.
const PATIENCE: Duration = Duration::from_secs(60);

const IDENTITY: &str = "identity--7b9c3c3e-56e5-5b8a-9b7e-0d0f6c1f4a11";
const INCIDENT: &str = "incident--c1817dc0-80ae-547f-83c0-920b0c6a25b8";
const RELATIONSHIP: &str = "relationship--0b3f1c49-2f16-4cde-9a1c-5d0e7a4b2c33";
const TACTIC: &str = "x-mitre-tactic--5f4d2b1e-8c6a-4e3f-9b7d-1a2c3e4f5a6b";

fn objects() -> Vec<Value> {
    vec![
        json!({"type": "relationship", "spec_version": "2.1", "id": RELATIONSHIP,
               "relationship_type": "attributed-to", "source_ref": INCIDENT, "target_ref": IDENTITY}),
        json!({"type": "incident", "spec_version": "2.1", "id": INCIDENT, "name": "A",
               "created_by_ref": IDENTITY}),
        json!({"type": "identity", "spec_version": "2.1", "id": IDENTITY, "name": "DISINFOX",
               "identity_class": "organization"}),
        json!({"type": "x-mitre-tactic", "spec_version": "2.1", "id": TACTIC, "name": "T"}),
    ]
}

fn bundle(objects: Vec<Value>) -> String {
    json!({"type": "bundle", "id": "bundle--4a6e3b68-6d5c-4b5d-9d8a-1b2c3d4e5f60",
           "objects": objects})
    .to_string()
}

async fn start(version: &str) -> StandInHandle {
    StandIn::start(StandInOptions {
        version: version.into(),
        ..StandInOptions::default()
    })
    .await
    .unwrap()
}

/// A GraphQL client of the stand-in.
struct Client {
    http: reqwest::Client,
    url: String,
    token: String,
}

impl Client {
    fn new(s: &StandInHandle) -> Self {
        Self {
            http: reqwest::Client::new(),
            url: s.graphql_url(),
            token: s.token().to_owned(),
        }
    }

    async fn post_raw(&self, body: Value, token: &str) -> (u16, Value) {
        let r = self
            .http
            .post(&self.url)
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn post(&self, query: &str, variables: Value) -> (u16, Value) {
        self.post_raw(
            json!({"query": query, "variables": variables}),
            &self.token.clone(),
        )
        .await
    }

    /// Runs a query that must succeed; its `data`.
    async fn ok(&self, query: &str, variables: Value) -> Value {
        let (status, body) = self.post(query, variables).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.get("errors").is_none(), "{query}: {body}");
        body["data"].clone()
    }

    /// Runs a query that must fail with a GraphQL error (HTTP 200); the first error.
    async fn err(&self, query: &str, variables: Value) -> Value {
        let (status, body) = self.post(query, variables).await;
        assert_eq!(status, 200, "{body}");
        body["errors"][0].clone()
    }

    async fn register(&self, version: &str) -> Value {
        let input = graphql::register_input(version, CID, "DISINFOX", &["disinfox".into()]);
        self.ok(graphql::REGISTER, json!({ "input": input })).await["registerConnector"].clone()
    }

    async fn ping(&self, state: &str) -> Value {
        let info = json!({"run_and_terminate": false, "buffering": false, "queue_threshold": 500.0,
                          "queue_messages_size": 0.0, "next_run_datetime": "2024-05-01T01:00:00Z",
                          "last_run_datetime": null});
        self.ok(
            graphql::PING,
            json!({"id": CID, "state": state, "connectorInfo": info}),
        )
        .await["pingConnector"]
            .clone()
    }

    async fn work_add(&self) -> String {
        let d = self
            .ok(
                graphql::WORK_ADD,
                json!({"connectorId": CID, "friendlyName": "DISINFOX run @ 2024-05-01T00:00:00Z"}),
            )
            .await;
        d["workAdd"]["id"].as_str().unwrap().to_owned()
    }

    async fn expect(&self, work: &str, n: u64) {
        self.ok(
            graphql::WORK_ADD_EXPECTATIONS,
            json!({"id": work, "expectations": n}),
        )
        .await;
    }

    async fn report(&self, work: &str) {
        self.ok(
            "mutation R($id: ID!) { workEdit(id: $id) { reportExpectation } }",
            json!({ "id": work }),
        )
        .await;
    }

    async fn processed(&self, work: &str, message: &str, in_error: bool) {
        self.ok(
            graphql::WORK_TO_PROCESSED,
            json!({"id": work, "message": message, "inError": in_error}),
        )
        .await;
    }

    async fn push(&self, bundle: &str, work: Option<&str>) -> (u16, Value) {
        self.post(
            graphql::STIX_BUNDLE_PUSH,
            json!({"connectorId": CID, "bundle": bundle, "work_id": work}),
        )
        .await
    }
}

#[tokio::test]
async fn every_connector_document_runs() {
    let s = start("6.8.10").await;
    let c = Client::new(&s);
    assert_eq!(
        c.ok(graphql::HEALTH_CHECK, json!({})).await["about"]["version"],
        "6.8.10"
    );
    c.register("6.8.10").await;
    c.ping("null").await;
    let d = c.ok(graphql::GET_CONNECTOR, json!({ "id": CID })).await;
    assert_eq!(d["connector"]["name"], "DISINFOX");
    assert_eq!(d["connector"]["active"], true);
    let w = c.work_add().await;
    c.expect(&w, 1).await;
    c.ok(graphql::WORK_PING, json!({ "id": w })).await;
    c.ok(
        graphql::WORK_REPORT_EXPECTATION,
        json!({"id": w, "error": {"error": "invalid STIX, skipped", "source": "incident--x"}}),
    )
    .await;
    let (_, b) = c.push(&bundle(objects()), Some(&w)).await;
    assert_eq!(b["data"]["stixBundlePush"], true, "{b}");
    c.processed(&w, "done", false).await;
    // The 7.x-only document, against a 7.x platform.
    let seven = start("7.260807.0").await;
    let c7 = Client::new(&seven);
    c7.register("7.260807.0").await;
    let d = c7
        .ok(
            graphql::WORK_ADD_MULTIPART,
            json!({"connectorId": CID, "friendlyName": "DISINFOX run", "isMultiPartWork": true}),
        )
        .await;
    assert!(d["workAdd"]["id"].is_string(), "{d}");
    assert!(seven.works()[0].multipart);
    for (name, _) in graphql::ALL {
        let got = if *name == "WorkAddMultipart" {
            seven.requests_of(name)
        } else {
            s.requests_of(name)
        };
        assert!(!got.is_empty(), "{name} was not recorded");
        assert!(
            got.iter().all(|r| r.outcome == RequestOutcome::Ok),
            "{name}"
        );
    }
    assert!(s.rejected_requests().is_empty());
    assert!(seven.rejected_requests().is_empty());
    s.shutdown().await;
    seven.shutdown().await;
}

#[tokio::test]
async fn documents_that_do_not_validate_are_rejected_and_recorded() {
    let s = start("6.8.10").await;
    let c = Client::new(&s);
    let bad = [
        ("query { about { versoin } }", json!({})),
        ("mutation { workAdd(connectorId: 1) { id } }", json!({})),
        ("mutation { stixBundlePush(connectorId: \"x\") }", json!({})),
        (
            "mutation($id: ID!) { workEdit(id: $id) { toProcessed(msg: \"x\") } }",
            json!({"id": "w"}),
        ),
        ("query { about { version ", json!({})),
        // A required variable missing.
        (graphql::PING, json!({"state": "null"})),
        // A value of the wrong type.
        (
            graphql::WORK_ADD_EXPECTATIONS,
            json!({"id": "w", "expectations": "3"}),
        ),
    ];
    for (q, v) in &bad {
        let (status, body) = c.post(q, v.clone()).await;
        assert_eq!(status, 200, "{q}: {body}");
        assert!(body.get("data").is_none(), "{q}: {body}");
        let code = body["errors"][0]["extensions"]["code"].as_str().unwrap();
        assert!(
            [
                "GRAPHQL_VALIDATION_FAILED",
                "GRAPHQL_PARSE_FAILED",
                "BAD_USER_INPUT"
            ]
            .contains(&code),
            "{q}: {body}"
        );
    }
    // An input field the platform does not know rejects the whole registration.
    let mut input = graphql::register_input("6.8.10", CID, "DISINFOX", &[]);
    input["xtm_one_intent"] = json!("x");
    let e = c.err(graphql::REGISTER, json!({ "input": input })).await;
    assert_eq!(e["extensions"]["code"], "BAD_USER_INPUT", "{e}");
    assert!(
        e["message"].as_str().unwrap().contains("xtm_one_intent"),
        "{e}"
    );

    let rejected = s.rejected_requests();
    assert_eq!(rejected.len(), bad.len() + 1);
    assert!(rejected.iter().all(|r| !r.errors.is_empty()));
    assert_eq!(
        rejected.last().unwrap().operation.as_deref(),
        Some("RegisterConnector")
    );
    assert!(s.connectors().is_empty(), "nothing was executed");

    // Not GraphQL at all: HTTP 400, recorded too.
    let r = reqwest::Client::new()
        .post(s.graphql_url())
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(
        s.requests().last().unwrap().outcome,
        RequestOutcome::BadRequest
    );
}

#[tokio::test]
async fn a_6x_platform_refuses_7x_fields_and_an_older_one_newer_inputs() {
    let s6 = start("6.8.10").await;
    let s7 = start("7.260807.0").await;
    let multipart =
        "mutation W($c: String!) { workAdd(connectorId: $c, isMultiPartWork: true) { id } }";
    let s3 = "query C($id: String!) { connector(id: $id) { config { s3 { bucket_name } } } }";
    for q in [multipart, s3] {
        let c6 = Client::new(&s6);
        let e = c6.err(q, json!({"c": CID, "id": CID})).await;
        assert_eq!(e["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED", "{e}");
        let c7 = Client::new(&s7);
        c7.register("7.260807.0").await;
        c7.ok(q, json!({"c": CID, "id": CID})).await;
    }
    // 6.8.8 predates auto_update / enrichment_resolution (pycti 6.8.9).
    let old = start("6.8.8").await;
    let c = Client::new(&old);
    let input = graphql::register_input("6.8.10", CID, "DISINFOX", &[]);
    let e = c.err(graphql::REGISTER, json!({ "input": input })).await;
    assert!(
        e["message"].as_str().unwrap().contains("auto_update"),
        "{e}"
    );
    let r = c.register("6.8.8").await;
    assert_eq!(r["id"], CID);
    assert_eq!(
        old.connector(CID).unwrap().input,
        graphql::register_input("6.8.8", CID, "DISINFOX", &["disinfox".into()])
    );
}

#[tokio::test]
async fn only_the_selected_fields_come_back_with_aliases_and_fragments() {
    let s = start("6.8.10").await;
    let c = Client::new(&s);
    c.register("6.8.10").await;
    let d = c
        .ok(
            "query Q($id: String!) { c: connector(id: $id) { ...F config { push } } about { __typename } }
             fragment F on Connector { name user: connector_user_id }",
            json!({ "id": CID }),
        )
        .await;
    assert_eq!(
        d,
        json!({"c": {"name": "DISINFOX", "user": s.user_id(), "config": {"push": format!("push_{CID}")}},
               "about": {"__typename": "AppInfo"}})
    );
    // Keys in the order of the selection set, as a GraphQL server writes them.
    let r = reqwest::Client::new()
        .post(s.graphql_url())
        .bearer_auth(s.token())
        .json(&json!({"query": "{ about { version } x: about { version } }"}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        r,
        r#"{"data":{"about":{"version":"6.8.10"},"x":{"version":"6.8.10"}}}"#
    );
    // An unknown connector is null.
    let d = c.ok(graphql::GET_CONNECTOR, json!({"id": "nobody"})).await;
    assert_eq!(d, json!({"connector": null}));
}

#[tokio::test]
async fn a_wrong_or_missing_token_is_refused_like_opencti() {
    let s = start("6.8.10").await;
    let c = Client::new(&s);
    let input = graphql::register_input("6.8.10", CID, "DISINFOX", &[]);
    let body = json!({"query": graphql::REGISTER, "variables": {"input": input}});
    let (status, r) = c.post_raw(body.clone(), "wrong").await;
    assert_eq!(status, 200);
    assert_eq!(
        r["errors"][0]["message"],
        "You must be logged in to do this."
    );
    assert_eq!(r["errors"][0]["extensions"]["code"], "AUTH_REQUIRED");
    assert_eq!(r["data"]["registerConnector"], Value::Null);
    let no_header = reqwest::Client::new()
        .post(s.graphql_url())
        .json(&body)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(
        no_header["errors"][0]["extensions"]["code"],
        "AUTH_REQUIRED"
    );
    assert!(s.connectors().is_empty());
    let reqs = s.requests();
    assert_eq!(reqs.len(), 2);
    assert!(reqs
        .iter()
        .all(|r| !r.authenticated && r.outcome == RequestOutcome::FieldErrors));
}

#[tokio::test]
async fn registration_ping_and_reset_follow_opencti_step_by_step() {
    let s = start("6.8.10").await;
    let c = Client::new(&s);
    let s1 = r#"{"last_fetch": "2024-05-01T00:00:00.000000Z"}"#;
    let s2 = r#"{"last_fetch": "2024-05-02T00:00:00.000000Z"}"#;

    // Registration: new connector, no state; the token's user; the queue names.
    let r = c.register("6.8.10").await;
    assert_eq!(r["connector_state"], Value::Null);
    assert_eq!(r["connector_user_id"], s.user_id());
    assert_eq!(r["config"]["push"], format!("push_{CID}"));
    assert_eq!(r["config"]["push_routing"], format!("push_routing_{CID}"));
    assert_eq!(r["config"]["push_exchange"], "amqp.worker.exchange");
    assert_eq!(r["config"]["listen_exchange"], "amqp.connector.exchange");
    assert_eq!(r["config"]["connection"]["host"], "rabbitmq");

    // A ping stores the string verbatim and echoes it, with the connector info.
    let p = c.ping(s1).await;
    assert_eq!(p["connector_state"], s1);
    assert_eq!(p["connector_info"]["queue_threshold"], 500.0);
    assert_eq!(s.connector(CID).unwrap().state.as_deref(), Some(s1));

    // Re-registration keeps the stored state.
    let r = c.register("6.8.10").await;
    assert_eq!(r["connector_state"], s1);
    assert_eq!(s.connector(CID).unwrap().registrations, 2);

    // 1. "Reset state": state "", reset pending.
    s.reset_state(CID).await.unwrap();
    let k = s.connector(CID).unwrap();
    assert_eq!((k.state.as_deref(), k.state_reset), (Some(""), true));
    let updated = k.updated_at;

    // 2. The next ping clears the flag, ignores the sent state, answers "" and does not
    //    touch updated_at.
    let p = c.ping(s1).await;
    assert_eq!(p["connector_state"], "");
    let k = s.connector(CID).unwrap();
    assert_eq!((k.state.as_deref(), k.state_reset), (Some(""), false));
    assert_eq!(k.updated_at, updated);

    // 4. The client then sends "null", which is stored; later states are stored again.
    assert_eq!(c.ping("null").await["connector_state"], "null");
    assert_eq!(c.ping(s2).await["connector_state"], s2);
    assert_eq!(s.connector(CID).unwrap().pings, 4);

    // The same reset through GraphQL (the UI's mutation) and through the control endpoint.
    let d = c
        .ok(
            "mutation X($id: ID!) { resetStateConnector(id: $id) { connector_state } }",
            json!({ "id": CID }),
        )
        .await;
    assert_eq!(d["resetStateConnector"]["connector_state"], "");
    assert_eq!(c.ping(s2).await["connector_state"], "");
    let r = reqwest::Client::new()
        .post(format!("{}/standin/connectors/{CID}/reset", s.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(c.ping(s2).await["connector_state"], "");
    assert_eq!(c.ping(s2).await["connector_state"], s2);

    // Unknown connectors.
    let e = c
        .err(graphql::PING, json!({"id": "nobody", "state": "null"}))
        .await;
    assert_eq!(e["message"], "No connector found");
    assert_eq!(e["extensions"]["code"], "FUNCTIONAL_ERROR");
    assert_eq!(e["extensions"]["data"]["id"], "nobody");
    assert!(s.reset_state("nobody").await.is_err());
    let r = reqwest::Client::new()
        .post(format!("{}/standin/connectors/nobody/reset", s.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);

    // A name the platform's constraint refuses.
    let e = c
        .err(
            graphql::REGISTER,
            json!({"input": graphql::register_input("6.8.10", "other", " ", &[])}),
        )
        .await;
    assert_eq!(e["extensions"]["code"], "VALIDATION_ERROR");

    // deleteConnector drops it with its state.
    c.ok(
        "mutation D($id: ID!) { deleteConnector(id: $id) }",
        json!({ "id": CID }),
    )
    .await;
    assert!(s.connector(CID).is_none());
}

#[tokio::test]
async fn works_complete_by_opencti_6x_rules() {
    let s = start("6.8.10").await;
    let c = Client::new(&s);
    c.register("6.8.10").await;

    // Expectations first: not complete until every one is reported, toProcessed or not.
    let w = c.work_add().await;
    assert_eq!(s.work(&w).unwrap().status, WorkStatus::Progress);
    c.expect(&w, 2).await;
    c.report(&w).await;
    c.processed(&w, "sent 2", false).await;
    let k = s.work(&w).unwrap();
    assert_eq!(
        (k.status, k.expected, k.processed),
        (WorkStatus::Progress, 2, 1)
    );
    assert!(k.processed_time.is_some());
    c.report(&w).await;
    let k = s.work(&w).unwrap();
    assert_eq!(k.status, WorkStatus::Complete);
    assert_eq!(k.completed_number, Some(2));
    assert_eq!(k.messages[0].message, "sent 2");

    // Nothing expected: toProcessed completes it at once.
    let w = c.work_add().await;
    c.processed(&w, "nothing new", false).await;
    assert_eq!(s.work(&w).unwrap().status, WorkStatus::Complete);

    // 6.x: every expectation reported completes the work before toProcessed (opencti#8224).
    let w = c.work_add().await;
    c.expect(&w, 1).await;
    c.report(&w).await;
    assert_eq!(s.work(&w).unwrap().status, WorkStatus::Complete);

    // In error: the message goes to the errors.
    let w = c.work_add().await;
    c.processed(&w, "the source is down", true).await;
    let k = s.work(&w).unwrap();
    assert!(k.in_error);
    assert!(k.messages.is_empty());
    assert_eq!(k.errors[0].message, "the source is down");

    // A worker's error report is kept on the work.
    let w = c.work_add().await;
    c.expect(&w, 1).await;
    c.ok(
        "mutation R($id: ID!, $e: WorkErrorInput) { workEdit(id: $id) { reportExpectation(error: $e) } }",
        json!({"id": w, "e": {"error": "bad object", "source": "x--1"}}),
    )
    .await;
    let k = s.work(&w).unwrap();
    assert_eq!(k.errors[0].message, "bad object");
    assert_eq!(k.errors[0].source.as_deref(), Some("x--1"));

    // The work as GraphQL shows it.
    let d = c
        .ok(
            "mutation W($c: String!) { workAdd(connectorId: $c) { id name status tracking { import_expected_number } connector { id } } }",
            json!({ "c": CID }),
        )
        .await;
    assert_eq!(d["workAdd"]["status"], "progress");
    assert_eq!(d["workAdd"]["connector"]["id"], CID);
    assert!(d["workAdd"]["name"]
        .as_str()
        .unwrap()
        .starts_with("DISINFOX run @ "));

    // Unknown work and unknown connector.
    let e = c
        .err(
            graphql::WORK_TO_PROCESSED,
            json!({"id": "nope", "message": "x", "inError": false}),
        )
        .await;
    assert_eq!(e["extensions"]["code"], "FUNCTIONAL_ERROR");
    let e = c
        .err(graphql::WORK_ADD, json!({"connectorId": "nobody"}))
        .await;
    assert_eq!(e["message"], "No connector found");
}

#[tokio::test]
async fn a_7x_multipart_work_waits_for_to_processed() {
    let s = start("7.260807.0").await;
    let c = Client::new(&s);
    c.register("7.260807.0").await;
    let d = c
        .ok(
            "mutation W($c: String!) { workAdd(connectorId: $c, isMultiPartWork: true) { id } }",
            json!({ "c": CID }),
        )
        .await;
    let w = d["workAdd"]["id"].as_str().unwrap().to_owned();
    c.expect(&w, 3).await;
    c.ok(
        "mutation R($id: ID!) { workEdit(id: $id) { reportExpectation(expectations: 3) } }",
        json!({ "id": w }),
    )
    .await;
    assert_eq!(s.work(&w).unwrap().status, WorkStatus::Progress);
    c.processed(&w, "done", false).await;
    assert_eq!(s.work(&w).unwrap().status, WorkStatus::Complete);
    let e = c.err(graphql::WORK_PING, json!({"id": "gone"})).await;
    assert_eq!(e["extensions"]["code"], "WORK_NOT_ALIVE");
}

#[tokio::test]
async fn stix_bundle_push_imports_objects_and_counts_expectations() {
    let s = start("6.8.10").await;
    let c = Client::new(&s);
    c.register("6.8.10").await;

    // With the connector's work: the worker splits the bundle, adds the parts as
    // expectations and reports each; the unsupported x-mitre-tactic is dropped.
    let w = c.work_add().await;
    let (_, b) = c.push(&bundle(objects()), Some(&w)).await;
    assert_eq!(b["data"]["stixBundlePush"], true, "{b}");
    let k = s.work(&w).unwrap();
    assert_eq!((k.expected, k.processed), (3, 3));
    // 6.x: complete as soon as the worker is done, before toProcessed.
    assert_eq!(k.status, WorkStatus::Complete);
    c.processed(&w, "3 objects", false).await;
    assert_eq!(s.work(&w).unwrap().to_processed_calls, 1);
    let counts = s.object_counts();
    assert_eq!(
        counts.keys().cloned().collect::<Vec<_>>(),
        vec![
            IDENTITY.to_owned(),
            INCIDENT.to_owned(),
            RELATIONSHIP.to_owned()
        ]
    );
    let push = &s.pushes()[0];
    assert_eq!((push.via, push.update), (Via::Api, true));
    assert_eq!(push.work_id.as_deref(), Some(w.as_str()));
    assert_eq!(
        push.imported,
        vec![IDENTITY, INCIDENT, RELATIONSHIP],
        "dependencies first"
    );
    assert!(push.dropped[0].starts_with(TACTIC), "{:?}", push.dropped);
    assert_eq!(s.object(INCIDENT).unwrap().object["name"], "A");

    // The same page again: merged by id, counted twice.
    c.push(&bundle(objects()), Some(&w)).await;
    assert_eq!(s.object(INCIDENT).unwrap().count, 2);
    assert_eq!(s.summary().duplicates, 3);

    // Without a work id: a new work; a one-object bundle gets its expectation from the server.
    let before = s.works().len();
    c.push(&bundle(vec![objects()[2].clone()]), None).await;
    let works = s.works();
    assert_eq!(works.len(), before + 1);
    let auto = works.last().unwrap();
    assert!(auto.name.starts_with("DISINFOX run @ "), "{}", auto.name);
    assert_eq!(
        (auto.expected, auto.processed, auto.status),
        (1, 1, WorkStatus::Complete)
    );

    // Not a bundle: "Invalid bundle", nothing imported.
    let pushes = s.pushes().len();
    for bad in [
        "not json".to_owned(),
        json!({"type": "report", "objects": [objects()[1]]}).to_string(),
        json!({"type": "bundle", "objects": []}).to_string(),
        json!({"type": "bundle"}).to_string(),
    ] {
        let (status, b) = c.push(&bad, Some(&w)).await;
        assert_eq!(status, 200);
        assert_eq!(b["errors"][0]["message"], "Invalid bundle", "{bad}: {b}");
        assert_eq!(b["errors"][0]["extensions"]["code"], "FUNCTIONAL_ERROR");
    }
    assert_eq!(s.pushes().len(), pushes);
}

#[tokio::test]
async fn faults_answer_as_configured() {
    let s = start("6.8.10").await;
    let c = Client::new(&s);

    // The next two requests: HTTP 500, then normal again.
    let id = s.add_fault(Fault::status(500).times(2));
    for _ in 0..2 {
        let (status, _) = c.post(graphql::HEALTH_CHECK, json!({})).await;
        assert_eq!(status, 500);
    }
    c.ok(graphql::HEALTH_CHECK, json!({})).await;
    let f = s.faults().into_iter().find(|f| f.id == id).unwrap();
    assert_eq!((f.fired, f.active), (2, false));
    assert_eq!(s.summary().fault_answers, 2);
    assert_eq!(s.requests()[0].outcome, RequestOutcome::Fault);
    assert_eq!(s.requests()[0].http_status, 500);
    s.clear_faults();

    // Every push after the first one fails, until cleared; other operations are untouched.
    c.register("6.8.10").await;
    let w = c.work_add().await;
    s.add_fault(Fault::status(503).on("StixBundlePush").skip(1));
    assert_eq!(c.push(&bundle(objects()), Some(&w)).await.0, 200);
    for _ in 0..3 {
        assert_eq!(c.push(&bundle(objects()), Some(&w)).await.0, 503);
        c.ping("null").await;
    }
    assert_eq!(
        s.object(INCIDENT).unwrap().count,
        1,
        "refused before execution"
    );
    s.clear_faults();
    assert_eq!(c.push(&bundle(objects()), Some(&w)).await.0, 200);

    // A GraphQL error instead of an HTTP one.
    s.add_fault(
        Fault::graphql_error("Service unavailable", "DATABASE_ERROR")
            .on("PingConnector")
            .times(1),
    );
    let e = c
        .err(graphql::PING, json!({"id": CID, "state": "null"}))
        .await;
    assert_eq!(e["message"], "Service unavailable");
    assert_eq!(e["extensions"]["code"], "DATABASE_ERROR");

    // After execution: the push happened, only the answer was lost.
    s.add_fault(
        Fault::status(502)
            .on("StixBundlePush")
            .after_execution()
            .times(1),
    );
    assert_eq!(c.push(&bundle(objects()), Some(&w)).await.0, 502);
    assert_eq!(s.object(INCIDENT).unwrap().count, 3);

    // A delay, then a normal answer.
    s.add_fault(Fault::delay(Duration::from_millis(50)).times(1));
    c.ok(graphql::HEALTH_CHECK, json!({})).await;

    // The same through the control endpoints.
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/standin/faults", s.url()))
        .json(&json!({"operation": "HealthCheck", "times": 1, "action": {"status": 500}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    assert_eq!(c.post(graphql::HEALTH_CHECK, json!({})).await.0, 500);
    let listed: Value = http
        .get(format!("{}/standin/faults", s.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().last().unwrap()["fired"], 1);
    let r = http
        .delete(format!("{}/standin/faults", s.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    assert!(s.faults().is_empty());
    let r = http
        .post(format!("{}/standin/faults", s.url()))
        .body("{\"action\": {\"explode\": 1}}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
}

#[tokio::test]
async fn the_queue_size_is_what_the_test_sets_and_control_endpoints_answer() {
    let s = start("6.8.10").await;
    let c = Client::new(&s);
    c.register("6.8.10").await;
    let q = |d: &Value| d["connector"]["connector_queue_details"].clone();
    let d = c.ok(graphql::GET_CONNECTOR, json!({ "id": CID })).await;
    assert_eq!(q(&d), json!({"messages_number": 0.0, "messages_size": 0.0}));
    s.set_queue_size(CID, 1200.0, 600_000_000.0);
    let d = c.ok(graphql::GET_CONNECTOR, json!({ "id": CID })).await;
    assert_eq!(
        q(&d),
        json!({"messages_number": 1200.0, "messages_size": 600_000_000.0})
    );

    let http = reqwest::Client::new();
    let r = http
        .put(format!("{}/standin/connectors/{CID}/queue", s.url()))
        .json(&json!({"messages_number": 1.0, "messages_size": 10.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let d = c.ok(graphql::GET_CONNECTOR, json!({ "id": CID })).await;
    assert_eq!(q(&d)["messages_size"], 10.0);

    let w = c.work_add().await;
    c.push(&bundle(objects()), Some(&w)).await;
    let get = |path: String| {
        let http = http.clone();
        async move {
            let r = http.get(path).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (_, summary) = get(format!("{}/standin/summary", s.url())).await;
    assert_eq!(summary["objects"], 3);
    assert_eq!(summary["connectors"], 1);
    let (_, connectors) = get(format!("{}/standin/connectors", s.url())).await;
    assert_eq!(connectors[0]["id"], CID);
    let (_, works) = get(format!("{}/standin/works?connector={CID}", s.url())).await;
    assert_eq!(works[0]["status"], "complete");
    let (_, work) = get(format!("{}/standin/works/{w}", s.url())).await;
    assert_eq!(work["expected"], 3);
    let (_, objects) = get(format!("{}/standin/objects", s.url())).await;
    assert_eq!(objects[0]["id"], IDENTITY);
    assert_eq!(objects[0]["object_type"], "identity");
    assert_eq!(objects[0]["count"], 1);
    // One receipt time per arrival (bench/freshness.sh reads them).
    let received = objects[0]["received_unix_ms"].as_array().unwrap();
    assert_eq!(received.len(), 1);
    assert!(received[0].as_u64().unwrap() > 1_600_000_000_000);
    let (_, full) = get(format!("{}/standin/objects?full=true", s.url())).await;
    assert_eq!(full[1]["object"]["name"], "A");
    let (_, one) = get(format!("{}/standin/objects/{INCIDENT}", s.url())).await;
    assert_eq!(one["count"], 1);
    let (_, pushes) = get(format!("{}/standin/pushes", s.url())).await;
    assert_eq!(pushes[0]["via"], "api");
    let (_, reqs) = get(format!(
        "{}/standin/requests?operation=StixBundlePush",
        s.url()
    ))
    .await;
    assert_eq!(reqs.as_array().unwrap().len(), 1);
    assert_eq!(reqs[0]["variables"]["work_id"], w.as_str());
    let (status, _) = get(format!("{}/standin/works/nope", s.url())).await;
    assert_eq!(status, 404);
    let (status, _) = get(format!("{}/standin/connectors/nope", s.url())).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_and_payloads_can_be_left_out() {
    let s = StandIn::start(StandInOptions {
        max_body_bytes: 20_000,
        keep_payloads: false,
        ..StandInOptions::default()
    })
    .await
    .unwrap();
    let c = Client::new(&s);
    c.register("6.8.10").await;
    let w = c.work_add().await;
    let big = json!({"type": "incident", "spec_version": "2.1", "id": INCIDENT,
                     "name": "x".repeat(10_000)});
    assert_eq!(c.push(&bundle(vec![big.clone()]), Some(&w)).await.0, 200);
    let long = json!({"type": "incident", "spec_version": "2.1", "id": INCIDENT,
                      "name": "x".repeat(30_000)});
    assert_eq!(c.push(&bundle(vec![long]), Some(&w)).await.0, 413);
    let last = s.requests().pop().unwrap();
    assert_eq!(
        (last.outcome, last.http_status),
        (RequestOutcome::BadRequest, 413)
    );
    // The object is kept, the payloads are not.
    assert_eq!(s.object(INCIDENT).unwrap().object, big);
    assert_eq!(s.pushes()[0].bundle, Value::Null);
    let push = &s.requests_of("StixBundlePush")[0];
    assert!(push.variables["bundle"]
        .as_str()
        .unwrap()
        .ends_with(" bytes>"));
}

// ---- AMQP, against a real broker ----------------------------------------------------------

fn amqp_url() -> String {
    std::env::var("DISINFOX_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// A stand-in with the broker and a prefix of its own (parallel-safe).
async fn start_with_broker() -> (StandInHandle, String) {
    let prefix = format!("t{}", uuid::Uuid::new_v4().simple());
    let url = amqp_url();
    let s = StandIn::start(StandInOptions {
        amqp_url: Some(url.clone()),
        queue_prefix: prefix.clone(),
        ..StandInOptions::default()
    })
    .await
    .unwrap_or_else(|e| panic!("RabbitMQ at {url} is needed (DISINFOX_TEST_AMQP_URL): {e}"));
    (s, prefix)
}

async fn channel() -> (lapin::Connection, lapin::Channel) {
    let conn = lapin::Connection::connect(&amqp_url(), lapin::ConnectionProperties::default())
        .await
        .unwrap();
    let ch = conn.create_channel().await.unwrap();
    ch.confirm_select(lapin::options::ConfirmSelectOptions::default())
        .await
        .unwrap();
    (conn, ch)
}

async fn publish(ch: &lapin::Channel, exchange: &str, routing: &str, body: &[u8]) {
    let props = lapin::BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_encoding("utf-8".into());
    let confirm = ch
        .basic_publish(
            exchange.into(),
            routing.into(),
            lapin::options::BasicPublishOptions {
                mandatory: true,
                ..Default::default()
            },
            body,
            props,
        )
        .await
        .unwrap()
        .await
        .unwrap();
    assert!(confirm.is_ack());
    assert!(confirm.take_message().is_none(), "the message was routed");
}

/// pycti's message (`docs/opencti-connector-protocol.md#amqp-messages`) for one split bundle.
fn message(user: &str, work: &str, seq: u64, bundle: &Value) -> Vec<u8> {
    let content = base64::engine::general_purpose::STANDARD.encode(bundle.to_string());
    json!({"bundle_type": "QUEUE_BUNDLE", "applicant_id": user, "action_sequence": seq,
           "entities_types": [], "content": content, "update": false, "draft_id": null,
           "work_id": work})
    .to_string()
    .into_bytes()
}

async fn message_count(ch: &lapin::Channel, queue: &str) -> u32 {
    ch.queue_declare(
        queue.into(),
        lapin::options::QueueDeclareOptions {
            passive: true,
            ..Default::default()
        },
        lapin::types::FieldTable::default(),
    )
    .await
    .unwrap()
    .message_count()
}

async fn delete_exchanges(ch: &lapin::Channel, prefix: &str) {
    for e in ["amqp.worker.exchange", "amqp.connector.exchange"] {
        ch.exchange_delete(
            format!("{prefix}_{e}").as_str().into(),
            lapin::options::ExchangeDeleteOptions::default(),
        )
        .await
        .unwrap();
    }
}

#[tokio::test]
async fn amqp_the_worker_imports_pycti_messages_from_the_push_queue() {
    let (s, prefix) = start_with_broker().await;
    let c = Client::new(&s);
    let r = c.register("6.8.10").await;
    let cfg = &r["config"];
    assert_eq!(
        cfg["push_exchange"],
        format!("{prefix}_amqp.worker.exchange")
    );
    assert_eq!(cfg["push"], s.push_queue(CID));
    assert_eq!(cfg["connection"]["port"], 5672);
    let exchange = cfg["push_exchange"].as_str().unwrap().to_owned();
    let routing = cfg["push_routing"].as_str().unwrap().to_owned();
    let (conn, ch) = channel().await;

    // The connector's way: split, expectations first, then one persistent message each.
    let w = c.work_add().await;
    let mut opts = stix_model::split::SplitOptions::default();
    opts.cleanup_inconsistent_bundle = true;
    let split =
        stix_model::split::split_bundle(serde_json::from_str(&bundle(objects())).unwrap(), &opts)
            .unwrap();
    assert_eq!(split.bundles.len(), 3);
    c.expect(&w, 3).await;
    for (i, b) in split.bundles.iter().enumerate() {
        publish(
            &ch,
            &exchange,
            &routing,
            &message(&s.user_id(), &w, i as u64 + 1, b),
        )
        .await;
    }
    // A malformed message, and one from an unknown applicant: recorded, dropped.
    publish(&ch, &exchange, &routing, b"not json").await;
    publish(
        &ch,
        &exchange,
        &routing,
        &message("someone", &w, 4, &split.bundles[0]),
    )
    .await;

    assert!(
        s.wait_until(PATIENCE, |s| s.amqp_messages().len() == 5)
            .await,
        "{:?}",
        s.amqp_messages()
    );
    let k = s.work(&w).unwrap();
    assert_eq!(
        (k.expected, k.processed, k.status),
        (3, 3, WorkStatus::Complete)
    );
    assert_eq!(s.object_counts().len(), 3);
    let msgs = s.amqp_messages();
    assert!(msgs[..3].iter().all(|m| m.rejected.is_none()
        && m.delivery_mode == Some(2)
        && m.content_encoding.as_deref() == Some("utf-8")
        && m.routing_key == routing
        && m.exchange == exchange));
    assert_eq!(msgs[0].envelope.as_ref().unwrap()["action_sequence"], 1);
    assert!(msgs[3].rejected.as_deref().unwrap().contains("not JSON"));
    assert!(msgs[4].rejected.as_deref().unwrap().contains("applicant"));
    assert!(s.pushes().iter().all(|p| p.via == Via::Amqp));
    assert_eq!(s.summary().amqp_rejected, 2);
    // Nothing left on the queue (acked or dropped).
    assert_eq!(message_count(&ch, &s.push_queue(CID)).await, 0);

    // deleteConnector deletes the queues.
    c.ok(
        "mutation D($id: ID!) { deleteConnector(id: $id) }",
        json!({ "id": CID }),
    )
    .await;
    let gone = ch
        .queue_declare(
            s.push_queue(CID).as_str().into(),
            lapin::options::QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            lapin::types::FieldTable::default(),
        )
        .await;
    assert!(gone.is_err(), "the push queue was deleted");
    // (The failed passive declaration closed that channel.)
    let ch = conn.create_channel().await.unwrap();
    delete_exchanges(&ch, &prefix).await;
    s.shutdown().await;
}

#[tokio::test]
async fn amqp_ping_reasserts_the_topology_and_a_reset_purges_the_queues() {
    let (s, prefix) = start_with_broker().await;
    let c = Client::new(&s);
    let r = c.register("6.8.10").await;
    let cfg = r["config"].clone();
    let (_conn, ch) = channel().await;
    let listen = format!("{prefix}_listen_{CID}");

    // Someone deletes the listen queue: the next ping declares and binds it again.
    ch.queue_delete(listen.as_str().into(), Default::default())
        .await
        .unwrap();
    c.ping("null").await;
    // The listen queue is not consumed: messages stay until a reset purges them.
    let exchange = format!("{prefix}_amqp.connector.exchange");
    let routing = format!("{prefix}_listen_routing_{CID}");
    for _ in 0..3 {
        publish(&ch, &exchange, &routing, b"{}").await;
    }
    assert_eq!(message_count(&ch, &listen).await, 3);
    s.reset_state(CID).await.unwrap();
    assert_eq!(message_count(&ch, &listen).await, 0);
    assert_eq!(c.ping("null").await["connector_state"], "");

    // The consumer still works after all that.
    let w = c.work_add().await;
    let one = json!({"type": "bundle", "id": "bundle--1", "objects": [objects()[2]]});
    c.expect(&w, 1).await;
    publish(
        &ch,
        cfg["push_exchange"].as_str().unwrap(),
        cfg["push_routing"].as_str().unwrap(),
        &message(&s.user_id(), &w, 1, &one),
    )
    .await;
    assert!(
        s.wait_until(PATIENCE, |s| s
            .work(&w)
            .is_some_and(|w| w.status == WorkStatus::Complete))
            .await
    );
    assert_eq!(s.object(IDENTITY).unwrap().count, 1);

    c.ok(
        "mutation D($id: ID!) { deleteConnector(id: $id) }",
        json!({ "id": CID }),
    )
    .await;
    delete_exchanges(&ch, &prefix).await;
    s.shutdown().await;
}

#[tokio::test]
async fn amqp_an_unreachable_broker_stops_the_start() {
    let r = StandIn::start(StandInOptions {
        amqp_url: Some("amqp://guest:guest@127.0.0.1:1/%2f".into()),
        ..StandInOptions::default()
    })
    .await;
    assert!(r.is_err());
}
