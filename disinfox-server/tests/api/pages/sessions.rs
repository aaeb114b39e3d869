//! Sessions, cookies, CSRF tokens, roles and sign-in locks.

use disinfox_server::http::Access;
use disinfox_server::web::pages;
use reqwest::header::COOKIE;
use serde_json::json;

use crate::support::{spawn_app, spawn_with};

use super::*;

#[tokio::test]
async fn roles_are_enforced_on_every_page() {
    let app = spawn_app().await;
    let reader = sign_in(&app, "reader@test.org").await;
    let analyst = sign_in(&app, "analyst@test.org").await;
    for p in pages() {
        let path = page_path(p.path);
        let run = async |s: &Session| {
            if p.method == "GET" {
                s.get(&path).await
            } else {
                s.post(&path, &[], None).await
            }
        };
        match p.access {
            Access::Write => {
                let r = run(&reader).await;
                assert_eq!(r.status().as_u16(), 403, "reader: {} {path}", p.method);
                assert!(is_html(&r));
                assert!(r.text().await.unwrap().contains("for analysts"));
            }
            Access::Admin => {
                let r = run(&analyst).await;
                assert_eq!(r.status().as_u16(), 403, "analyst: {} {path}", p.method);
                assert!(r.text().await.unwrap().contains("for administrators"));
            }
            Access::Read | Access::Browse if p.method == "GET" => {
                let r = run(&reader).await;
                let s = r.status().as_u16();
                assert!(s == 200 || s == 404, "reader: GET {path}: {s}");
                // A page, or a file it offers for download.
                let download = r
                    .headers()
                    .get("content-disposition")
                    .is_some_and(|v| v.to_str().unwrap_or("").starts_with("attachment"));
                assert!(is_html(&r) || (s == 200 && download), "{path}");
            }
            _ => {}
        }
    }
}

#[tokio::test]
async fn a_state_changing_request_needs_the_sessions_token() {
    let app = spawn_app().await;
    let s = sign_in(&app, "analyst@test.org").await;
    let fields = [("name", "CSRF check"), ("techniques", "T0002")];
    for (what, token) in [
        ("no token", "-"),
        ("a wrong token", "wrong"),
        ("an empty token", ""),
    ] {
        let r = s.post("/incidents/new", &fields, Some(token)).await;
        assert_eq!(r.status().as_u16(), 403, "{what}");
        assert!(r.text().await.unwrap().contains("security token"), "{what}");
    }
    // Another session's token is a wrong token.
    let other = sign_in(&app, "admin@test.org").await;
    assert_ne!(other.csrf, s.csrf);
    let r = s.post("/incidents/new", &fields, Some(&other.csrf)).await;
    assert_eq!(r.status().as_u16(), 403);
    // A JSON or multipart body does not skip the check.
    let r = s
        .client
        .post(app.url("/incidents/new"))
        .header(COOKIE, &s.cookie)
        .json(&json!({"name": "x", "csrf": s.csrf}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let part = reqwest::multipart::Form::new()
        .text("csrf", "wrong")
        .text("file", "x");
    let r = s
        .client
        .post(app.url("/import"))
        .header(COOKIE, &s.cookie)
        .multipart(part)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403, "multipart");
    let (_, list) = app.get("/api/v1/incidents", &app.reader).await;
    assert_eq!(list["total"], 0);
    let r = s.post("/incidents/new", &fields, None).await;
    assert_eq!(r.status().as_u16(), 303, "with the token");
    let (_, list) = app.get("/api/v1/incidents", &app.reader).await;
    assert_eq!(list["total"], 1);
    // Signing in needs the pre-session token too.
    let r = no_redirects()
        .post(app.url("/login"))
        .form(&[("email", "analyst@test.org"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
}

#[tokio::test]
async fn repeated_failed_sign_ins_lock_the_address_for_a_while() {
    let app = spawn_app().await;
    for _ in 0..disinfox_server::auth::FREE_FAILURES {
        let r = try_sign_in(&app, "reader@test.org", "wrong password").await;
        assert_eq!(r.status().as_u16(), 401);
    }
    // Now even the right password is refused, without a session, and the page says when to
    // try again.
    let r = try_sign_in(&app, "Reader@test.org", PASSWORD).await;
    assert_eq!(r.status().as_u16(), 429);
    assert!(set_cookie(&r, "dfx_session").is_none());
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry), "{retry}");
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("Too many failed sign-ins for this account from your address"));
    // Other addresses are not affected.
    sign_in(&app, "analyst@test.org").await;
    // An address without an account is locked the same way: a lock tells nothing.
    for _ in 0..disinfox_server::auth::FREE_FAILURES {
        let r = try_sign_in(&app, "nobody@test.org", PASSWORD).await;
        assert_eq!(r.status().as_u16(), 401);
    }
    let r = try_sign_in(&app, "nobody@test.org", PASSWORD).await;
    assert_eq!(r.status().as_u16(), 429);
}

#[tokio::test]
async fn sessions_are_stored_hashed_with_safe_cookies_and_end() {
    let app = spawn_app().await;
    let r = try_sign_in(&app, "reader@test.org", "wrong password").await;
    assert_eq!(r.status().as_u16(), 401);
    assert!(set_cookie(&r, "dfx_session").is_none());
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("Wrong e-mail address or password"));
    let r = try_sign_in(&app, "nobody@test.org", PASSWORD).await;
    assert_eq!(r.status().as_u16(), 401);

    let r = try_sign_in(&app, "reader@test.org", PASSWORD).await;
    let c = set_cookie(&r, "dfx_session").unwrap();
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=43200"] {
        assert!(c.contains(attr), "{attr} in {c}");
    }
    assert!(!c.contains("Secure"), "plain http: {c}");
    let token = cookie_pair(&c)["dfx_session=".len()..].to_owned();
    let rows = crate::support::raw::bytes(&app.state.store, "SELECT id_hash FROM sessions").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0],
        disinfox_server::auth::hash_api_key(&token),
        "the SHA-256 only"
    );
    let dump =
        crate::support::raw::strings(&app.state.store, "SELECT csrf || created_at FROM sessions")
            .await;
    assert!(!dump[0].contains(&token));

    let s = sign_in(&app, "reader@test.org").await;
    assert_eq!(s.get("/dashboard").await.status().as_u16(), 200);
    let r = s.post("/logout", &[], None).await;
    assert_eq!(r.status().as_u16(), 303);
    assert!(set_cookie(&r, "dfx_session").unwrap().contains("Max-Age=0"));
    assert_eq!(
        s.get("/dashboard").await.status().as_u16(),
        303,
        "signed out"
    );

    // A disabled user's sessions end at once.
    let s = sign_in(&app, "reader@test.org").await;
    let admin = sign_in(&app, "admin@test.org").await;
    let reader_id = app.user("reader@test.org").await.id;
    let r = admin
        .post(
            &format!("/admin/users/{reader_id}"),
            &[("role", "reader"), ("disabled", "on")],
            None,
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(s.get("/dashboard").await.status().as_u16(), 303);
    let r = try_sign_in(&app, "reader@test.org", PASSWORD).await;
    assert_eq!(r.status().as_u16(), 401, "disabled");
}

#[tokio::test]
async fn cookies_are_secure_behind_https() {
    let app = spawn_with(|s| s.public_url = "https://disinfox.example.org".into()).await;
    let r = try_sign_in(&app, "reader@test.org", PASSWORD).await;
    assert!(set_cookie(&r, "dfx_session").unwrap().contains("; Secure"));
}

#[tokio::test]
async fn a_password_change_ends_the_other_sessions() {
    let app = spawn_app().await;
    let a = sign_in(&app, "analyst@test.org").await;
    let b = sign_in(&app, "analyst@test.org").await;
    let r = a
        .post(
            "/profile/password",
            &[("current", "nope"), ("new", "short"), ("confirm", "short")],
            None,
        )
        .await;
    assert_eq!(r.status().as_u16(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains("is not your password") && html.contains("at least 12 characters"));
    let new = "a new long enough password";
    let r = a
        .post(
            "/profile/password",
            &[("current", PASSWORD), ("new", new), ("confirm", new)],
            None,
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(
        a.get("/profile").await.status().as_u16(),
        200,
        "this session goes on"
    );
    assert_eq!(
        b.get("/profile").await.status().as_u16(),
        303,
        "the other one ended"
    );
    assert_eq!(
        try_sign_in(&app, "analyst@test.org", new)
            .await
            .status()
            .as_u16(),
        303
    );
}
