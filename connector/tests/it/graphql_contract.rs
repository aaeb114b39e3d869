//! Every GraphQL document the connector can send validates against OpenCTI's schema, and the
//! variables it sends coerce to the declared types.

use apollo_compiler::request::coerce_variable_values;
use apollo_compiler::response::JsonMap;
use apollo_compiler::{ExecutableDocument, Schema};
use connector::graphql::{self, ALL};
use serde_json::json;

use opencti_standin::SCHEMA_SUBSET as SCHEMA;

fn schema() -> apollo_compiler::validation::Valid<Schema> {
    Schema::parse_and_validate(SCHEMA, "opencti-schema-subset.graphql").unwrap()
}

fn variables(v: serde_json::Value) -> JsonMap {
    serde_json::from_value(v).unwrap()
}

#[test]
fn every_document_validates_against_the_schema() {
    let schema = schema();
    for (name, doc) in ALL {
        let parsed =
            ExecutableDocument::parse_and_validate(&schema, *doc, format!("{name}.graphql"));
        assert!(
            parsed.is_ok(),
            "{name}: {}",
            parsed
                .err()
                .map(|e| e.errors.to_string())
                .unwrap_or_default()
        );
    }
}

#[test]
fn a_wrong_document_is_refused_so_the_check_can_fail() {
    let schema = schema();
    for bad in [
        "query { about { versoin } }",
        "mutation { workAdd(connectorId: 1) { id } }",
        "mutation { stixBundlePush(connectorId: \"x\") }",
        "mutation($id: ID!) { workEdit(id: $id) { toProcessed(msg: \"x\") } }",
    ] {
        assert!(
            ExecutableDocument::parse_and_validate(&schema, bad, "bad.graphql").is_err(),
            "{bad}"
        );
    }
}

#[test]
fn variables_coerce_to_the_declared_types() {
    let schema = schema();
    let cases = [
        (
            graphql::REGISTER,
            json!({"input": graphql::register_input("6.8.10", "2b7a8c3e-1f5d-4c8a-9b2e-3d4f5a6b7c8d", "DISINFOX", &["disinfox".into()])}),
        ),
        (
            graphql::PING,
            json!({"id": "c", "state": "{\"last_fetch\": \"2024-05-01T00:00:00.000000Z\"}", "connectorInfo": {
            "run_and_terminate": false, "buffering": false, "queue_threshold": 500.0, "queue_messages_size": 0.0,
            "next_run_datetime": "2024-05-01T01:00:00Z", "last_run_datetime": null}}),
        ),
        (
            graphql::WORK_ADD,
            json!({"connectorId": "c", "friendlyName": "DISINFOX run @ 2024-05-01T00:00:00Z"}),
        ),
        (
            graphql::WORK_ADD_EXPECTATIONS,
            json!({"id": "w", "expectations": 3}),
        ),
        (
            graphql::WORK_TO_PROCESSED,
            json!({"id": "w", "message": "done", "inError": false}),
        ),
        (
            graphql::STIX_BUNDLE_PUSH,
            json!({"connectorId": "c", "bundle": "{}", "work_id": "w"}),
        ),
        (graphql::GET_CONNECTOR, json!({"id": "c"})),
        (
            graphql::WORK_ADD_MULTIPART,
            json!({"connectorId": "c", "friendlyName": "DISINFOX run", "isMultiPartWork": true}),
        ),
        (
            graphql::WORK_REPORT_EXPECTATION,
            json!({"id": "w", "error": {"error": "not valid STIX", "source": "incident--x"}}),
        ),
        (graphql::WORK_PING, json!({"id": "w"})),
    ];
    for (doc, vars) in cases {
        let d = ExecutableDocument::parse_and_validate(&schema, doc, "op.graphql").unwrap();
        let op = d.operations.get(None).unwrap();
        let r = coerce_variable_values(&schema, op, &variables(vars.clone()));
        assert!(r.is_ok(), "{doc}\n{vars}\n{:?}", r.err());
    }
    // An input field the server does not know is refused (why registration is versioned).
    let d =
        ExecutableDocument::parse_and_validate(&schema, graphql::REGISTER, "op.graphql").unwrap();
    let op = d.operations.get(None).unwrap();
    let mut input = graphql::register_input("7.261026.0", "i", "DISINFOX", &[]);
    input["xtm_one_intent"] = json!("x");
    assert!(coerce_variable_values(&schema, op, &variables(json!({"input": input}))).is_err());
}
