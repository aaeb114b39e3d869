//! Self-service accounts, public reading, and quotas of keys and requests.

use reqwest::header::LOCATION;
use reqwest::Method;
use serde_json::json;

use crate::pages::{cookie_pair, csrf_of, no_redirects, set_cookie, sign_in, Session};
use crate::support::{incident, spawn_with};

use super::*;

#[tokio::test]
async fn registration_is_closed_by_default() {
    let app = spawn_with(|_| {}).await;
    let r = no_redirects()
        .get(app.url("/register"))
        .send()
        .await
        .unwrap();
    assert!(r.text().await.unwrap().contains("Registration is closed"));
    let r = register(&app, None, "someone@test.org", "a long enough password").await;
    assert_eq!(r.status().as_u16(), 403);
    assert!(app
        .state
        .store
        .user_by_email("someone@test.org")
        .await
        .unwrap()
        .is_none());
    let login = no_redirects().get(app.url("/login")).send().await.unwrap();
    assert!(!login.text().await.unwrap().contains("href=\"/register\""));
}

/// Registration with approval: the applicant is pending and cannot sign in; an administrator
/// approves on /admin/users; then the applicant is a reader who makes their own keys.
#[tokio::test]
async fn registration_with_approval_waits_for_an_administrator() {
    use disinfox_server::configuration::Registration;
    let app = spawn_with(|s| s.registration = Registration::Approval).await;
    let r = register(&app, None, "applicant@test.org", "applicant password").await;
    assert_eq!(r.status().as_u16(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("Your registration is pending"), "{html}");
    let r = sign_in_from(&app, None, "applicant@test.org", "applicant password").await;
    assert_eq!(r.status().as_u16(), 403);
    assert!(r.text().await.unwrap().contains("pending"));
    // A wrong password does not reveal that the account exists, pending or not.
    let r = sign_in_from(&app, None, "applicant@test.org", "wrong password here").await;
    assert_eq!(r.status().as_u16(), 401);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("Wrong e-mail address or password"));

    let admin = sign_in(&app, "admin@test.org").await;
    let users = admin.get("/admin/users").await.text().await.unwrap();
    assert!(
        users.contains("1 registration waits for approval"),
        "{users}"
    );
    let id = app.user("applicant@test.org").await.id;
    // Only administrators approve.
    let analyst = sign_in(&app, "analyst@test.org").await;
    let r = analyst
        .post(&format!("/admin/users/{id}/approve"), &[], None)
        .await;
    assert_eq!(r.status().as_u16(), 403);
    let r = admin
        .post(&format!("/admin/users/{id}/approve"), &[], None)
        .await;
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(r.headers()[LOCATION], "/admin/users?done=approved");
    let r = admin
        .post(&format!("/admin/users/{id}/approve"), &[], None)
        .await;
    assert_eq!(r.status().as_u16(), 404, "approved once");

    let r = sign_in_from(&app, None, "applicant@test.org", "applicant password").await;
    assert_eq!(r.status().as_u16(), 303);
    let user = app.user("applicant@test.org").await;
    assert_eq!(user.role, disinfox_server::db::Role::Reader);
    assert!(!user.pending);
}

/// Another application from the same e-mail gets the same answer as a new one, and the
/// account stays as it was; broken forms and floods are bounded.
#[tokio::test]
async fn registration_tells_nobody_which_addresses_have_accounts() {
    use disinfox_server::configuration::Registration;
    let app = behind_proxy(|s| s.registration = Registration::Open).await;
    let new = register(
        &app,
        Some("192.0.2.1"),
        "fresh@test.org",
        "a long enough password",
    )
    .await;
    let old = register(
        &app,
        Some("192.0.2.2"),
        "reader@test.org",
        "an attacker's password",
    )
    .await;
    assert_eq!(new.status(), old.status());
    let strip = |h: String| {
        h.replace("fresh@test.org", "E")
            .replace("reader@test.org", "E")
    };
    let (a, b) = (
        strip(new.text().await.unwrap()),
        strip(old.text().await.unwrap()),
    );
    let body = |h: &str| h[h.find("<main").unwrap()..h.find("</main>").unwrap()].to_owned();
    assert_eq!(body(&a), body(&b), "same page");
    // The existing account keeps its password and role; the new one is an active reader.
    assert_eq!(
        sign_in_from(&app, Some("192.0.2.3"), "reader@test.org", PASSWORD)
            .await
            .status(),
        303
    );
    assert_eq!(
        sign_in_from(
            &app,
            Some("192.0.2.3"),
            "reader@test.org",
            "an attacker's password"
        )
        .await
        .status(),
        401
    );
    assert_eq!(
        sign_in_from(
            &app,
            Some("192.0.2.3"),
            "fresh@test.org",
            "a long enough password"
        )
        .await
        .status(),
        303
    );
    // Broken forms: field errors, no account.
    let r = register(&app, Some("192.0.2.4"), "not an address", "short").await;
    assert_eq!(r.status().as_u16(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains("is not an e-mail address") && html.contains("at least 12 characters"));
    // A flood from one address: the hourly limit, then 429 with Retry-After.
    let mut statuses = Vec::new();
    for i in 0..7 {
        let r = register(
            &app,
            Some("203.0.113.5"),
            &format!("bot{i}@test.org"),
            "a long enough password",
        )
        .await;
        statuses.push(r.status().as_u16());
        if r.status() == 429 {
            assert!(retry_after(&r) > 60);
        }
    }
    assert_eq!(statuses, vec![200, 200, 200, 200, 200, 429, 429]);
}

/// Registered users are readers and make their own keys on /profile.
#[tokio::test]
async fn an_open_registration_makes_a_reader_who_makes_keys() {
    use disinfox_server::configuration::Registration;
    let app = spawn_with(|s| s.registration = Registration::Open).await;
    app.create(&incident("Seen by the new reader")).await;
    let r = register(&app, None, "client@test.org", "client password 1").await;
    assert!(r.text().await.unwrap().contains("You can now"));
    let r = sign_in_from(&app, None, "client@test.org", "client password 1").await;
    let cookie = cookie_pair(&set_cookie(&r, "dfx_session").unwrap());
    let mut s = Session {
        cookie,
        csrf: String::new(),
        client: no_redirects(),
        base: app.base.clone(),
    };
    s.csrf = csrf_of(&s.get("/profile").await.text().await.unwrap());
    let r = s
        .post(
            "/profile/keys",
            &[("name", "mine"), ("scope", "write")],
            None,
        )
        .await;
    assert_eq!(r.status().as_u16(), 403, "readers make read keys");
    let r = s
        .post(
            "/profile/keys",
            &[("name", "mine"), ("scope", "read")],
            None,
        )
        .await;
    assert_eq!(r.status().as_u16(), 201);
    let html = r.text().await.unwrap();
    let at = html.find("id=\"new-key\" class=\"mono\">").unwrap() + 26;
    let key = &html[at..at + 47];
    let (status, v) = app.get("/api/v1/incidents", key).await;
    assert_eq!(status, 200);
    assert_eq!(v["total"], 1);
    let (status, _) = app
        .send(Method::POST, "/api/v1/incidents", key, &incident("No"))
        .await;
    assert_eq!(status, 403);
}

/// public_read: visitors browse the incident pages, matrix, actors and dashboard; never the
/// API or the write pages; off by default.
#[tokio::test]
async fn public_read_opens_the_browsing_pages_only() {
    let created = {
        let app = spawn_with(|_| {}).await;
        let r = no_redirects()
            .get(app.url("/dashboard"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 303, "off by default");
        app.create(&incident("x")).await
    };
    assert!(created["id"].is_string());
    let app = spawn_with(|s| s.public_read = true).await;
    let id = app.create(&incident("Public incident")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let client = no_redirects();
    for path in [
        "/dashboard".to_owned(),
        "/incidents".to_owned(),
        "/incidents?q=public".to_owned(),
        format!("/incidents/{id}"),
        format!("/incidents/{id}/bundle"),
        "/matrix".to_owned(),
        "/actors".to_owned(),
        "/actors/Russia".to_owned(),
        "/techniques".to_owned(),
        "/techniques/T0002".to_owned(),
        "/developers".to_owned(),
    ] {
        let r = client.get(app.url(&path)).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200, "{path}");
    }
    let html = client
        .get(app.url("/incidents"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Public incident") && html.contains("href=\"/login\""));
    assert!(
        !html.contains("/incidents/new"),
        "no write links for visitors"
    );
    for path in [
        "/incidents/new",
        "/import",
        "/profile",
        "/admin/users",
        "/admin/audit",
        &format!("/incidents/{id}/edit"),
    ] {
        let r = client.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 303, "{path} needs a session");
    }
    let r = client
        .post(app.url(&format!("/incidents/{id}/delete")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    for path in [
        "/api/v1/incidents",
        "/api/v1/bundle",
        "/taxii2/",
        "/api/v1/stats",
    ] {
        let r = client.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 401, "{path}");
    }
}

/// Visitors without an account are rate-limited per address like users are.
#[tokio::test]
async fn anonymous_browsing_is_rate_limited_per_address() {
    let app = spawn_with(|s| {
        s.public_read = true;
        s.rate_limit_per_minute = 3;
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(
            no_redirects()
                .get(app.url("/incidents"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16(),
        );
    }
    assert_eq!(statuses, vec![200, 200, 200, 429]);
}

/// Quotas: a cap on live keys per user; the rate limit counts a user's keys together.
#[tokio::test]
async fn keys_per_user_are_capped_and_share_one_rate_limit() {
    let app = spawn_with(|s| s.max_keys_per_user = 3).await;
    // The analyst holds two keys already (write and read).
    let (status, v) = app
        .send(
            Method::POST,
            "/api/v1/keys",
            &app.analyst,
            &json!({"name": "third"}),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    let (status, v) = app
        .send(
            Method::POST,
            "/api/v1/keys",
            &app.analyst,
            &json!({"name": "fourth"}),
        )
        .await;
    assert_eq!(status, 409, "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("3 live API keys"));
    let id = app
        .state
        .store
        .api_keys(Some(app.user("analyst@test.org").await.id))
        .await
        .unwrap()[2]
        .id;
    let r = app
        .client
        .delete(app.url(&format!("/api/v1/keys/{id}")))
        .bearer_auth(&app.analyst)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let (status, _) = app
        .send(
            Method::POST,
            "/api/v1/keys",
            &app.analyst,
            &json!({"name": "again"}),
        )
        .await;
    assert_eq!(status, 201, "a revoked key frees its place");
    // The profile page says so next to the form.
    let s = sign_in(&app, "analyst@test.org").await;
    let r = s
        .post(
            "/profile/keys",
            &[("name", "one too many"), ("scope", "read")],
            None,
        )
        .await;
    assert_eq!(r.status().as_u16(), 409);
    assert!(r.text().await.unwrap().contains("the most allowed"));

    let app = spawn_with(|s| s.rate_limit_per_minute = 4).await;
    let mut statuses = Vec::new();
    for key in [
        &app.analyst,
        &app.analyst_read,
        &app.analyst,
        &app.analyst_read,
        &app.analyst_read,
    ] {
        statuses.push(app.get("/api/v1/me", key).await.0);
    }
    assert_eq!(
        statuses,
        vec![200, 200, 200, 200, 429],
        "two keys, one budget"
    );
    assert_eq!(
        app.get("/api/v1/me", &app.reader).await.0,
        200,
        "other users unaffected"
    );
}
