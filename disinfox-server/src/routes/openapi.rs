//! The OpenAPI 3.1 document, generated from the route table.

use axum::Json;
use serde_json::{json, Map, Value};

use super::{routes, Access, Protocol};

/// The OpenAPI 3.1 document of the API.
pub fn openapi_document() -> Value {
    let mut paths = Map::new();
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
        responses.insert(
            r.ok.0.to_string(),
            json!({"description": r.ok.1, "content": {"application/json": {}}}),
        );
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
        let mut op = json!({
            "summary": r.summary,
            "operationId": format!("{} {}", r.method.to_lowercase(), r.path),
            "parameters": params,
            "responses": responses,
        });
        if r.access != Access::Public {
            op["security"] = json!([{"apiKey": []}, {"bearer": []}]);
        }
        if let Some((media, desc)) = r.body {
            let content: Map<String, Value> = media
                .split(" or ")
                .map(|m| (m.to_owned(), json!({})))
                .collect();
            op["requestBody"] = json!({"required": true, "description": desc, "content": content});
        }
        let entry = paths.entry(r.path.to_owned()).or_insert_with(|| json!({}));
        entry[r.method.to_lowercase()] = op;
    }
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
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                },
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {"type": "object", "required": ["status", "message"], "properties": {
                        "status": {"type": "integer"},
                        "message": {"type": "string"},
                        "fields": {"type": "object", "additionalProperties": {"type": "string"}},
                    }}},
                },
            },
        },
    })
}

pub(crate) async fn serve() -> Json<Value> {
    Json(openapi_document())
}
