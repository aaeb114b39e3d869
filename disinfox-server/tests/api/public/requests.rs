//! Careless and hostile requests: methods a page does not take, the forms of Basic
//! authentication, authorization before parsing, repeated headers, caching and sniffing.

use disinfox_server::http::Access;
use disinfox_server::routes::routes;
use disinfox_server::web::pages;
use reqwest::header::{CONTENT_TYPE, COOKIE};
use reqwest::Method;
use serde_json::Value;

use crate::pages::{is_html, no_redirects, page_path, sign_in};
use crate::support::spawn_with;

/// L: a request with a method a page does not take gets 405, whoever sends it, not a
/// complaint about a missing security token.
#[tokio::test]
async fn a_page_answers_405_to_a_method_it_does_not_take() {
    let app = spawn_with(|_| {}).await;
    let s = sign_in(&app, "analyst@test.org").await;
    let client = no_redirects();
    for (method, path) in [
        (Method::POST, "/dashboard"),
        (Method::PUT, "/login"),
        (Method::DELETE, "/incidents"),
        (Method::PATCH, "/profile"),
        (Method::POST, "/"),
    ] {
        for cookie in [None, Some(s.cookie.as_str())] {
            let mut req = client.request(method.clone(), app.url(path));
            if let Some(c) = cookie {
                req = req.header(COOKIE, c);
            }
            let r = req.send().await.unwrap();
            assert_eq!(
                r.status().as_u16(),
                405,
                "{method} {path} signed in: {}",
                cookie.is_some()
            );
            assert!(r.headers().contains_key("allow"), "{method} {path}");
            assert!(is_html(&r));
            assert!(!r.text().await.unwrap().contains("security token"));
        }
    }
}

/// L: HTTP Basic with the key as the user name and an empty password (`curl -u KEY:`).
#[tokio::test]
async fn basic_auth_takes_the_key_as_user_name_too() {
    let app = spawn_with(|_| {}).await;
    for (user, password) in [
        (app.reader.as_str(), None),
        ("taxii", Some(app.reader.as_str())),
    ] {
        let r = app
            .client
            .get(app.url("/api/v1/me"))
            .basic_auth(user, password)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "user {user}");
    }
    let r = app
        .client
        .get(app.url("/taxii2/"))
        .basic_auth(&app.reader, None::<&str>)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

/// L: authorize before parsing, on every route: a caller who may not call a route gets 403
/// whatever its body, query or path (broken JSON, a wrong media type, an oversized body).
#[tokio::test]
async fn every_route_authorizes_before_it_parses() {
    let app = spawn_with(|s| s.body_limit_bytes = 4096).await;
    let huge = "x".repeat(100_000);
    let mut checked = 0;
    for r in routes() {
        let who: &[(&str, &str)] = match r.access {
            Access::Write => &[
                (&app.reader, "reader"),
                (&app.analyst_read, "analyst read key"),
            ],
            Access::Admin => &[
                (&app.analyst, "analyst"),
                (&app.analyst_read, "analyst read key"),
            ],
            Access::Account => &[(&app.reader, "reader read key")],
            _ => continue,
        };
        let path = r.path.replace("{id}", "not-an-id");
        let method = Method::from_bytes(r.method.as_bytes()).unwrap();
        for (key, name) in who {
            for (ct, body) in [
                ("application/json", "{\"broken"),
                ("text/plain", "not json"),
                ("application/json", huge.as_str()),
            ] {
                let res = app
                    .client
                    .request(
                        method.clone(),
                        app.url(&format!("{path}?page=-1&all=maybe")),
                    )
                    .bearer_auth(key)
                    .header(CONTENT_TYPE, ct)
                    .body(body.to_owned())
                    .send()
                    .await
                    .unwrap();
                let status = res.status().as_u16();
                let v: Value = res.json().await.unwrap();
                assert_eq!(
                    status,
                    403,
                    "{} {} as {name} with {ct} ({} bytes): {v}",
                    r.method,
                    r.path,
                    body.len()
                );
                assert_eq!(v["error"]["status"], 403);
            }
        }
        checked += 1;
    }
    assert!(checked >= 8, "{checked}");
    // The pages: a reader posting to an analyst's or administrator's page, whatever the body.
    let reader = sign_in(&app, "reader@test.org").await;
    for p in pages()
        .iter()
        .filter(|p| p.method == "POST" && matches!(p.access, Access::Write | Access::Admin))
    {
        let path = page_path(p.path);
        let r = reader
            .client
            .post(app.url(&path))
            .header(COOKIE, &reader.cookie)
            .header(CONTENT_TYPE, "multipart/form-data; boundary=x")
            .body(huge.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 403, "POST {path}");
    }
}

/// L: two Authorization headers are refused with a clear error, never first-wins.
#[tokio::test]
async fn repeated_authorization_headers_are_refused() {
    let app = spawn_with(|_| {}).await;
    for path in ["/api/v1/me", "/api/v1/users", "/taxii2/"] {
        let r = app
            .client
            .get(app.url(path))
            .header("authorization", format!("Bearer {}", app.reader))
            .header("authorization", format!("Bearer {}", app.admin))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 400, "{path}");
        let text = r.text().await.unwrap();
        assert!(
            text.contains("more than one Authorization header"),
            "{path}: {text}"
        );
    }
}

/// L: signed-in pages are not cached; the API's JSON says nosniff.
#[tokio::test]
async fn pages_are_not_stored_and_api_answers_are_not_sniffed() {
    let app = spawn_with(|_| {}).await;
    let s = sign_in(&app, "reader@test.org").await;
    for path in ["/dashboard", "/profile", "/incidents", "/incidents/nowhere"] {
        let r = s.get(path).await;
        assert_eq!(r.headers()["cache-control"], "no-store", "{path}");
    }
    let r = s.get("/assets/style.css").await;
    assert_ne!(
        r.headers()["cache-control"],
        "no-store",
        "assets stay cacheable"
    );
    for (path, key) in [
        ("/api/v1/me", app.reader.as_str()),
        ("/api/v1/me", "wrong"),
        ("/health", ""),
        ("/api/v1/nowhere", ""),
        ("/taxii2/", app.reader.as_str()),
    ] {
        let r = app
            .client
            .get(app.url(path))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["x-content-type-options"], "nosniff", "{path}");
    }
}
