//! Authentication and roles: every data route needs a key; roles and scopes are enforced.

use disinfox_server::configuration::Secret;
use disinfox_server::http::Access;
use disinfox_server::routes::{openapi_document, routes, Protocol};
use disinfox_server::web::pages;
use reqwest::header::LOCATION;
use reqwest::Method;
use serde_json::json;

use crate::pages::{is_html, no_redirects, page_path};
use crate::support::{incident, spawn_app, spawn_with};

#[tokio::test]
async fn every_route_but_health_and_the_description_requires_authentication() {
    let app = spawn_app().await;
    let table = routes();
    assert!(table.len() >= 20);
    for r in &table {
        let path = r
            .path
            .replace("{id}", "incident--c1817dc0-80ae-547f-83c0-920b0c6a25b8");
        let method = Method::from_bytes(r.method.as_bytes()).unwrap();
        let res = app
            .client
            .request(method.clone(), app.url(&path))
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        if r.access == Access::Public {
            assert_eq!(status, 200, "{} {} is public", r.method, r.path);
        } else {
            assert_eq!(
                status, 401,
                "{} {} must require authentication",
                r.method, r.path
            );
            if r.protocol == Protocol::Taxii {
                // TAXII: the TAXII error message, and both schemes offered.
                let challenges: Vec<_> = res
                    .headers()
                    .get_all("www-authenticate")
                    .iter()
                    .map(|v| v.to_str().unwrap().to_owned())
                    .collect();
                assert!(
                    challenges.iter().any(|c| c.starts_with("Basic "))
                        && challenges.iter().any(|c| c.starts_with("Bearer ")),
                    "{} {}: {challenges:?}",
                    r.method,
                    r.path
                );
                assert_eq!(
                    res.headers()["content-type"],
                    "application/taxii+json;version=2.1"
                );
                let body: serde_json::Value = res.json().await.unwrap();
                assert_eq!(
                    body["http_status"], "401",
                    "{} {}: TAXII error",
                    r.method, r.path
                );
                assert!(body["title"].is_string() && body["error"].is_null());
            } else {
                let body: serde_json::Value = res.json().await.unwrap();
                assert_eq!(
                    body["error"]["status"], 401,
                    "{} {}: JSON error shape",
                    r.method, r.path
                );
            }
            // A wrong key is refused the same way.
            let res = app
                .client
                .request(method, app.url(&path))
                .bearer_auth("dfx_wrong")
                .send()
                .await
                .unwrap();
            assert_eq!(
                res.status().as_u16(),
                401,
                "{} {} with a wrong key",
                r.method,
                r.path
            );
        }
    }
    let public: Vec<_> = table
        .iter()
        .filter(|r| r.access == Access::Public)
        .map(|r| r.path)
        .collect();
    assert_eq!(
        public,
        vec!["/health", "/api/v1/health", "/api/v1/openapi.json"]
    );
}

#[tokio::test]
/// The web pages too: every page but the public ones leads to the sign-in form (and the
/// public sign-in form still wants its CSRF token).
async fn every_page_but_the_public_ones_leads_to_the_sign_in_form() {
    let app = spawn_app().await;
    let client = no_redirects();
    let table = pages();
    assert!(table.len() >= 20);
    for p in &table {
        let path = page_path(p.path);
        let method = Method::from_bytes(p.method.as_bytes()).unwrap();
        let r = client.request(method, app.url(&path)).send().await.unwrap();
        let status = r.status().as_u16();
        match (p.access, p.method) {
            (Access::Public, "GET") => assert_eq!(status, 200, "{} {path} is public", p.method),
            (Access::Public, _) => {
                assert_eq!(status, 403, "{} {path}: no CSRF token", p.method);
                assert!(is_html(&r));
            }
            (_, "GET") => {
                assert_eq!(status, 303, "{} {path} needs a session", p.method);
                let to = r.headers()[LOCATION].to_str().unwrap();
                assert!(to.starts_with("/login?next=%2F"), "{path}: {to}");
            }
            _ => {
                assert_eq!(status, 303, "{} {path} needs a session", p.method);
                assert_eq!(r.headers()[LOCATION], "/login");
            }
        }
    }
    let public: Vec<_> = table
        .iter()
        .filter(|p| p.access == Access::Public)
        .map(|p| (p.method, p.path))
        .collect();
    assert_eq!(
        public,
        vec![
            ("GET", "/"),
            ("GET", "/assets/{file}"),
            ("GET", "/developers"),
            ("GET", "/login"),
            ("POST", "/login"),
            ("GET", "/register"),
            ("POST", "/register"),
            ("POST", "/theme")
        ]
    );
    // Pages are not in the API description, and API routes keep their JSON 401.
    let doc = disinfox_server::routes::openapi_document();
    for p in &table {
        assert!(
            doc["paths"][p.path].is_null(),
            "{} documented as API",
            p.path
        );
    }
    let r = client
        .get(app.url("/api/v1/incidents"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["error"]["status"],
        401
    );
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let app = spawn_app().await;
    let (status, doc) = app.get("/api/v1/openapi.json", "").await;
    assert_eq!(status, 200);
    assert_eq!(doc, openapi_document());
    assert_eq!(doc["openapi"], "3.1.0");
    let mut n = 0;
    let mut ids: Vec<String> = Vec::new();
    let (api, taxii): (Vec<_>, Vec<_>) = routes()
        .into_iter()
        .partition(|r| r.protocol == Protocol::Api);
    assert!(taxii.len() >= 8, "the TAXII routes are in the table");
    for r in &taxii {
        assert!(
            doc["paths"][r.path].is_null(),
            "TAXII {} is not part of the OpenAPI document",
            r.path
        );
    }
    for r in api {
        let op = &doc["paths"][r.path][r.method.to_lowercase()];
        assert!(
            op.is_object(),
            "{} {} missing from the document",
            r.method,
            r.path
        );
        assert_eq!(
            op["security"].is_array(),
            r.access != Access::Public,
            "{} {}",
            r.method,
            r.path
        );
        // Every body has its schema, from the Rust type.
        let ok = &op["responses"][r.ok.0.to_string()];
        if r.ok.0 == 204 {
            assert!(ok["content"].is_null(), "{} {}", r.method, r.path);
        } else {
            assert!(
                ok["content"][r.response_media()]["schema"].is_object(),
                "{} {}: no response schema",
                r.method,
                r.path
            );
        }
        if r.body.is_some() {
            assert!(
                op["requestBody"]["content"]["application/json"]["schema"].is_object(),
                "{} {}: no request schema",
                r.method,
                r.path
            );
        }
        let id = op["operationId"].as_str().unwrap().to_owned();
        assert!(!ids.contains(&id), "operationId {id} twice");
        ids.push(id);
        n += 1;
    }
    // Every reference names a schema of the document.
    let text = doc.to_string();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for part in text.split("\"$ref\":\"").skip(1) {
        let target = part.split('"').next().unwrap();
        if target == "#/components/responses/Error" {
            continue;
        }
        let name = target.strip_prefix("#/components/schemas/").unwrap();
        assert!(
            schemas.contains_key(name),
            "{target} is not in the document"
        );
    }
    let incident = &schemas["IncidentView"];
    for field in ["id", "modified", "name", "techniques", "technique_details"] {
        assert!(
            incident["required"]
                .as_array()
                .unwrap()
                .contains(&serde_json::json!(field)),
            "IncidentView.{field} is always sent"
        );
    }
    assert!(incident["properties"]["first_seen"].is_object());
    assert_eq!(
        schemas["IncidentInput"]["additionalProperties"], false,
        "an incident's unknown fields are refused"
    );
    let documented: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p.as_object().unwrap().len())
        .sum();
    assert_eq!(documented, n, "nothing documented that the router lacks");
}

#[tokio::test]
async fn keys_work_as_bearer_or_raw_and_stop_working_when_revoked() {
    let app = spawn_app().await;
    let raw = app
        .client
        .get(app.url("/api/v1/me"))
        .header("Authorization", &app.reader)
        .send()
        .await
        .unwrap();
    assert_eq!(
        raw.status().as_u16(),
        200,
        "raw key as the existing DISINFOX connector sends it"
    );
    let (status, me) = app.get("/api/v1/me", &app.reader).await;
    assert_eq!(status, 200);
    assert_eq!(me["user"]["role"], "reader");
    for bad in ["Basic abc", "Bearer", "Bearer  ", "Token x y"] {
        let r = app
            .client
            .get(app.url("/api/v1/me"))
            .header("Authorization", bad)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 401, "{bad}");
    }
    // The analyst creates a key through the API, uses it, revokes it.
    let (status, created) = app
        .send(
            Method::POST,
            "/api/v1/keys",
            &app.analyst,
            &json!({"name": "ci", "scope": "read"}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let key = created["key"].as_str().unwrap().to_owned();
    assert_eq!(app.get("/api/v1/me", &key).await.0, 200);
    let (_, list) = app.get("/api/v1/keys", &app.analyst).await;
    assert!(
        list.to_string().find(&key).is_none(),
        "secrets are never listed"
    );
    let id = created["info"]["id"].as_i64().unwrap();
    let r = app
        .client
        .delete(app.url(&format!("/api/v1/keys/{id}")))
        .bearer_auth(&app.analyst)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    assert_eq!(
        app.get("/api/v1/me", &key).await.0,
        401,
        "revoked keys stop working"
    );
    // Someone else's key cannot be revoked by a non-admin.
    let r = app
        .client
        .delete(app.url("/api/v1/keys/1"))
        .bearer_auth(&app.analyst)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
}

#[tokio::test]
async fn roles_and_scopes_are_enforced() {
    let app = spawn_app().await;
    let body = incident("Role check");
    for (key, who) in [
        (&app.reader, "reader"),
        (&app.analyst_read, "analyst with a read key"),
    ] {
        let (status, v) = app
            .send(Method::POST, "/api/v1/incidents", key, &body)
            .await;
        assert_eq!(status, 403, "{who}: {v}");
    }
    let (status, _) = app
        .send(Method::POST, "/api/v1/incidents", &app.analyst, &body)
        .await;
    assert_eq!(status, 201);
    assert_eq!(
        app.get("/api/v1/users", &app.analyst).await.0,
        403,
        "analysts do not manage users"
    );
    let (status, users) = app.get("/api/v1/users", &app.admin).await;
    assert_eq!(status, 200);
    assert!(
        !users.to_string().contains("password"),
        "no password hashes"
    );
    let admin_id = users["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["role"] == "admin")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let analyst_id = users["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["role"] == "analyst")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let (status, _) = app
        .send(
            Method::PATCH,
            &format!("/api/v1/users/{admin_id}"),
            &app.admin,
            &json!({"role": "reader"}),
        )
        .await;
    assert_eq!(status, 403, "no one changes their own role");
    let (status, _) = app
        .send(
            Method::PATCH,
            &format!("/api/v1/users/{analyst_id}"),
            &app.analyst,
            &json!({"role": "admin"}),
        )
        .await;
    assert_eq!(status, 403, "no route lets a user raise their own role");
    let (status, _) = app
        .send(
            Method::POST,
            "/api/v1/keys",
            &app.reader,
            &json!({"scope": "write"}),
        )
        .await;
    assert_eq!(status, 403, "a read key cannot create keys");
    let (status, v) = app
        .send(
            Method::PATCH,
            &format!("/api/v1/users/{analyst_id}"),
            &app.admin,
            &json!({"disabled": true}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        app.get("/api/v1/me", &app.analyst).await.0,
        401,
        "a disabled user's keys stop working"
    );
    let (status, v) = app
        .send(
            Method::POST,
            "/api/v1/users",
            &app.admin,
            &json!({"email": "new@test.org", "role": "reader"}),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    assert!(
        v["password"].as_str().unwrap().len() >= 20,
        "generated and shown once"
    );
    let (status, v) = app
        .send(
            Method::POST,
            "/api/v1/users",
            &app.admin,
            &json!({"email": "x", "role": "god", "isAdmin": true}),
        )
        .await;
    assert_eq!(status, 400, "unknown fields are refused: {v}");
}

#[tokio::test]
async fn rate_limit_and_body_limit_answer_in_json() {
    let app = spawn_with(|s| {
        s.rate_limit_per_minute = 3;
        s.body_limit_bytes = 2048;
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(app.get("/api/v1/me", &app.reader).await);
    }
    assert_eq!(
        statuses.iter().map(|s| s.0).collect::<Vec<_>>(),
        vec![200, 200, 200, 429]
    );
    assert_eq!(statuses[3].1["error"]["status"], 429);
    let big = json!({"name": "x", "description": "y".repeat(5000)});
    let (status, v) = app
        .send(Method::POST, "/api/v1/incidents", &app.analyst, &big)
        .await;
    assert_eq!(status, 413, "{v}");
    assert_eq!(v["error"]["status"], 413);
}

#[tokio::test]
async fn a_provisioned_connector_key_reads_and_cannot_write() {
    let key = "connector-key-from-the-env-file-0123456789";
    let app = spawn_with(|s| s.connector_api_key = Some(Secret::new(key))).await;
    let r = app
        .client
        .get(app.url("/api/v1/bundle?limit=1"))
        .header("Authorization", key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let w = app
        .client
        .post(app.url("/api/v1/incidents"))
        .bearer_auth(key)
        .json(&incident("Written with the connector key"))
        .send()
        .await
        .unwrap();
    assert_eq!(w.status(), 403, "a read key does not write");
    // Provisioning again (a restart) keeps one key.
    disinfox_server::ops::provision_connector_key(&app.state, key)
        .await
        .unwrap();
    let keys = app.state.store.api_keys(None).await.unwrap();
    let provisioned: Vec<_> = keys
        .iter()
        .filter(|k| k.name.contains("DISINFOX_CONNECTOR_API_KEY"))
        .collect();
    assert_eq!(provisioned.len(), 1);
    assert_eq!(provisioned[0].scope, "read");
    // A revoked provisioned key is not silently brought back.
    app.state
        .store
        .revoke_api_key(provisioned[0].id, None)
        .await
        .unwrap();
    let again = disinfox_server::ops::provision_connector_key(&app.state, key).await;
    assert!(again.unwrap_err().to_string().contains("revoked"));
}
