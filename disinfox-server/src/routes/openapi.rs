//! The OpenAPI 3.1 document, generated from the route table: paths, parameters and access from
//! the table, and the JSON Schema (2020-12, OpenAPI 3.1's dialect) of every request and response
//! body from its Rust type through `schemars` ([`super::bodies`] and the domain types), under
//! `components/schemas`.
//!
//! Responses are described as the server writes them (`schemars`' serialize contract: a field
//! skipped when empty is optional), requests as it reads them (the deserialize contract: a
//! field with a default is optional).

use axum::Json;
use schemars::generate::{Contract, SchemaSettings};
use schemars::SchemaGenerator;
use serde_json::{json, Map, Value};

use super::{routes, Access, Protocol};
use crate::error::ErrorBody;

fn generator(contract: Contract) -> SchemaGenerator {
    let mut settings = SchemaSettings::draft2020_12();
    settings.definitions_path = "/components/schemas".into();
    settings.meta_schema = None;
    settings.contract = contract;
    SchemaGenerator::new(settings)
}

/// The OpenAPI 3.1 document of the API.
pub fn openapi_document() -> Value {
    let mut responses_gen = generator(Contract::Serialize);
    let mut requests_gen = generator(Contract::Deserialize);
    let error_schema = responses_gen.subschema_for::<ErrorBody>();
    let mut paths = Map::new();
    let mut operation_ids: Vec<String> = Vec::new();
    for r in routes().into_iter().filter(|r| r.protocol == Protocol::Api) {
        let params: Vec<Value> = r
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .chain(r.query.iter().map(|(name, desc)| {
                json!({"name": name, "in": "query", "required": false, "description": desc, "schema": {"type": "string"}})
            }))
            .collect();
        let mut responses = Map::new();
        let ok = match r.response_schema {
            Some(schema) => json!({
                "description": r.ok.1,
                "content": {r.response_media(): {"schema": schema(&mut responses_gen)}},
            }),
            None => json!({"description": r.ok.1}),
        };
        responses.insert(r.ok.0.to_string(), ok);
        let errors: &[(&str, &str)] = match r.access {
            Access::Public => &[],
            Access::Read | Access::Browse => {
                &[("401", "no valid API key"), ("429", "rate limit exceeded")]
            }
            Access::Write | Access::Admin | Access::Account => &[
                ("401", "no valid API key"),
                ("403", "the caller's role or key scope does not allow this"),
                ("429", "rate limit exceeded"),
            ],
        };
        for (code, desc) in errors {
            responses.insert(
                (*code).into(),
                json!({"$ref": "#/components/responses/Error", "description": desc}),
            );
        }
        if r.body.is_some() {
            responses.insert(
                "400".into(),
                json!({"$ref": "#/components/responses/Error"}),
            );
            responses.insert(
                "413".into(),
                json!({"$ref": "#/components/responses/Error"}),
            );
            responses.insert(
                "422".into(),
                json!({"$ref": "#/components/responses/Error"}),
            );
        }
        // The handler's name; a second route of the same handler adds its path.
        let mut operation_id = r.name.to_owned();
        if operation_ids.contains(&operation_id) {
            let path: String = r
                .path
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            operation_id = format!("{}{}", r.name, path.trim_end_matches('_'));
        }
        operation_ids.push(operation_id.clone());
        let mut op = json!({
            "summary": r.summary,
            "operationId": operation_id,
            "parameters": params,
            "responses": responses,
        });
        if r.access != Access::Public {
            op["security"] = json!([{"apiKey": []}, {"bearer": []}]);
        }
        if let Some((media, desc)) = r.body {
            let schema = r.request_schema.map(|s| s(&mut requests_gen));
            let content: Map<String, Value> = media
                .split(" or ")
                .map(|m| {
                    let body = match (m, &schema) {
                        ("application/json", Some(s)) => json!({"schema": s}),
                        ("text/csv", _) => json!({"schema": {"type": "string"}}),
                        _ => json!({}),
                    };
                    (m.to_owned(), body)
                })
                .collect();
            op["requestBody"] = json!({"required": true, "description": desc, "content": content});
        }
        let entry = paths.entry(r.path.to_owned()).or_insert_with(|| json!({}));
        entry[r.method.to_lowercase()] = op;
    }
    let (schemas, _) = merge(
        responses_gen.take_definitions(true),
        requests_gen.take_definitions(true),
    );
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "DISINFOX API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Disinformation incidents as STIX 2.1. Authenticate with `Authorization: Bearer <API key>` (the raw key, or HTTP Basic with the key as password, are accepted too). TAXII 2.1 is served under /taxii2/ (OASIS TAXII 2.1; not described here).",
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "Authorization"},
            },
            "responses": {
                "Error": {
                    "description": "an error",
                    "content": {"application/json": {"schema": error_schema}},
                },
            },
            "schemas": schemas,
        },
    })
}

/// The response schemas with the request schemas added, and the names whose request shape
/// differs from their response shape (the response's is kept; a test requires there be none).
fn merge(
    mut schemas: Map<String, Value>,
    requests: Map<String, Value>,
) -> (Map<String, Value>, Vec<String>) {
    let mut differing = Vec::new();
    for (name, schema) in requests {
        match schemas.get(&name) {
            Some(existing) if *existing != schema => differing.push(name),
            _ => {
                schemas.insert(name, schema);
            }
        }
    }
    (schemas, differing)
}

pub(crate) async fn openapi_json() -> Json<Value> {
    Json(openapi_document())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A type that is both read and written has one shape, so that one name in the document
    /// describes both.
    #[test]
    fn no_type_has_two_shapes() {
        let mut responses = generator(Contract::Serialize);
        let mut requests = generator(Contract::Deserialize);
        for r in routes() {
            if let Some(s) = r.response_schema {
                s(&mut responses);
            }
            if let Some(s) = r.request_schema {
                s(&mut requests);
            }
        }
        let (schemas, differing) = merge(
            responses.take_definitions(true),
            requests.take_definitions(true),
        );
        assert!(differing.is_empty(), "{differing:?}");
        assert!(schemas.contains_key("IncidentInput") && schemas.contains_key("JobView"));
    }
}
