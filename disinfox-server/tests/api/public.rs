//! Running in public: hostile and careless clients (sign-in floods, locks, proxies, broken
//! requests), self-service accounts, public reading, quotas and the audit log.

use disinfox_server::http::Access;
use disinfox_server::routes::routes;
use disinfox_server::web::pages;
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION};
use reqwest::{Method, Response};
use serde_json::{json, Value};

use crate::pages::{
    cookie_pair, csrf_of, is_html, no_redirects, page_path, set_cookie, sign_in, Session,
};
use crate::support::{incident, spawn_with, TestApp};

const PASSWORD: &str = "long enough password";

/// Signs in through the form, as a client at `from` (an `X-Forwarded-For` value; only
/// believed when the server trusts 127.0.0.1 as a proxy).
async fn sign_in_from(app: &TestApp, from: Option<&str>, email: &str, password: &str) -> Response {
    let client = no_redirects();
    let mut get = client.get(app.url("/login"));
    if let Some(f) = from {
        get = get.header("x-forwarded-for", f);
    }
    let r = get.send().await.unwrap();
    let cookie = cookie_pair(&set_cookie(&r, "dfx_csrf").unwrap());
    let csrf = csrf_of(&r.text().await.unwrap());
    let mut post = client
        .post(app.url("/login"))
        .header(COOKIE, cookie)
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", email),
            ("password", password),
            ("next", "/dashboard"),
        ]);
    if let Some(f) = from {
        post = post.header("x-forwarded-for", f);
    }
    post.send().await.unwrap()
}

/// A server behind a reverse proxy on 127.0.0.1.
async fn behind_proxy(
    adjust: impl FnOnce(&mut disinfox_server::configuration::Settings),
) -> TestApp {
    spawn_with(|s| {
        s.trusted_proxies = disinfox_server::client::parse_cidrs("127.0.0.1").unwrap();
        adjust(s);
    })
    .await
}

fn retry_after(r: &Response) -> u64 {
    r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// H1: a flood of bad sign-ins from one address is cut by the address's attempt limit before
/// any password is hashed; what does get hashed never exceeds the hashing cap.
#[tokio::test]
async fn a_sign_in_flood_from_one_address_is_throttled_before_hashing() {
    let app = spawn_with(|s| s.login_attempts_per_minute = 5).await;
    let tries: Vec<_> = (0..24)
        .map(|i| {
            let app = &app;
            async move {
                sign_in_from(
                    app,
                    None,
                    &format!("random{i}@nowhere.example"),
                    "whatever it is",
                )
                .await
            }
        })
        .collect();
    let mut statuses = Vec::new();
    for r in futures_util::future::join_all(tries).await {
        let s = r.status().as_u16();
        if s == 429 {
            assert!((1..=60).contains(&retry_after(&r)));
            assert!(r
                .text()
                .await
                .unwrap()
                .contains("Too many sign-in attempts from your address"));
        }
        statuses.push(s);
    }
    // Five attempts get through to the hasher (401, or 503 if the hasher stays busy for
    // longer than a request waits); every other one is refused before any hashing.
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        19,
        "{statuses:?}"
    );
    assert!(statuses.iter().all(|s| [401, 429, 503].contains(s)));
    assert!(statuses.contains(&401));
    assert!(app.state.hasher.peak_concurrency() <= 2);
}

/// Successful sign-ins do not use up the attempts of an address (an office behind one NAT).
#[tokio::test]
async fn successful_sign_ins_do_not_count_against_the_address() {
    let app = spawn_with(|s| s.login_attempts_per_minute = 3).await;
    for _ in 0..8 {
        let r = sign_in_from(&app, None, "reader@test.org", PASSWORD).await;
        assert_eq!(r.status().as_u16(), 303);
    }
}

/// H1: a flood from many addresses (each under its limit) is bounded by the hashing cap:
/// at most `password_hash_concurrency` passwords are hashed at once, the others wait or get
/// 503 with Retry-After; nothing else happens.
#[tokio::test]
async fn a_flood_from_many_addresses_never_hashes_more_than_the_cap_at_once() {
    let app = behind_proxy(|s| s.password_hash_concurrency = 2).await;
    let tries: Vec<_> = (0..40)
        .map(|i| {
            let from = format!("198.51.100.{i}");
            let app = &app;
            async move {
                sign_in_from(
                    app,
                    Some(&from),
                    &format!("x{i}@nowhere.example"),
                    "whatever it is",
                )
                .await
                .status()
                .as_u16()
            }
        })
        .collect();
    let statuses = futures_util::future::join_all(tries).await;
    assert!(
        statuses.iter().all(|s| *s == 401 || *s == 503),
        "{statuses:?}"
    );
    assert!(statuses.contains(&401));
    let peak = app.state.hasher.peak_concurrency();
    assert!((1..=2).contains(&peak), "peak {peak}");
}

/// H1: when every hashing worker is busy, whatever hashes a password waits briefly, then is
/// refused with 503 and Retry-After: sign-in, registration, password change, users created by
/// an administrator through the API.
#[tokio::test]
async fn every_password_hash_goes_through_the_cap() {
    let app = spawn_with(|s| {
        s.password_hash_concurrency = 1;
        s.registration = disinfox_server::configuration::Registration::Open;
    })
    .await;
    let analyst = sign_in(&app, "analyst@test.org").await;
    let held = app
        .state
        .hasher
        .occupy(disinfox_server::auth::Lane::Known)
        .await;
    let r = sign_in_from(&app, None, "reader@test.org", PASSWORD).await;
    assert_eq!(r.status().as_u16(), 503);
    assert!((1..=5).contains(&retry_after(&r)));
    assert!(r.text().await.unwrap().contains("busy"));
    let r = analyst
        .post(
            "/profile/password",
            &[
                ("current", PASSWORD),
                ("new", "another long password"),
                ("confirm", "another long password"),
            ],
            None,
        )
        .await;
    assert_eq!(r.status().as_u16(), 503, "password change");
    let (status, v) = app
        .send(
            Method::POST,
            "/api/v1/users",
            &app.admin,
            &json!({"email": "new@test.org", "role": "reader"}),
        )
        .await;
    assert_eq!(status, 503, "{v}");
    assert_eq!(v["error"]["status"], 503);
    let r = register(&app, None, "applicant@test.org", "applicant password").await;
    assert_eq!(r.status().as_u16(), 503, "registration");
    drop(held);
    // Refused while busy counts as no attempt: everything works now.
    assert_eq!(
        sign_in_from(&app, None, "reader@test.org", PASSWORD)
            .await
            .status(),
        303
    );
    let r = register(&app, None, "applicant@test.org", "applicant password").await;
    assert_eq!(r.status().as_u16(), 200);
}

/// H1: one hashing worker is kept for addresses that signed in before, so a flood from
/// addresses never seen (a botnet) does not keep returning users out.
#[tokio::test]
async fn returning_users_sign_in_while_a_flood_holds_the_shared_workers() {
    let app = behind_proxy(|s| s.password_hash_concurrency = 2).await;
    let home = Some("192.0.2.50");
    assert_eq!(
        sign_in_from(&app, home, "reader@test.org", PASSWORD)
            .await
            .status(),
        303
    );
    let held = app
        .state
        .hasher
        .occupy(disinfox_server::auth::Lane::Other)
        .await;
    let r = sign_in_from(&app, Some("198.51.100.9"), "analyst@test.org", PASSWORD).await;
    assert_eq!(
        r.status().as_u16(),
        503,
        "a new address waits in the shared lane"
    );
    let r = sign_in_from(&app, home, "reader@test.org", PASSWORD).await;
    assert_eq!(
        r.status().as_u16(),
        303,
        "a known address gets the reserved worker"
    );
    let r = sign_in_from(&app, home, "analyst@test.org", PASSWORD).await;
    assert_eq!(
        r.status().as_u16(),
        303,
        "known by address, whatever the account"
    );
    drop(held);
    let r = sign_in_from(&app, Some("198.51.100.9"), "analyst@test.org", PASSWORD).await;
    assert_eq!(r.status().as_u16(), 303);
}

/// M2: the lock after failed sign-ins keys on (address, account): an attacker cannot lock the
/// owner out from elsewhere, and spraying accounts from one address hits the address limit.
#[tokio::test]
async fn a_lock_holds_the_address_and_account_pair_only() {
    let app = behind_proxy(|s| s.login_attempts_per_minute = 6).await;
    let attacker = Some("203.0.113.66");
    for _ in 0..disinfox_server::auth::FREE_FAILURES {
        let r = sign_in_from(&app, attacker, "admin@test.org", "guessing").await;
        assert_eq!(r.status().as_u16(), 401);
    }
    let r = sign_in_from(&app, attacker, "admin@test.org", PASSWORD).await;
    assert_eq!(
        r.status().as_u16(),
        429,
        "the attacker's address is locked for this account"
    );
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("Too many failed sign-ins for this account from your address"));
    // The owner, elsewhere, signs in.
    let r = sign_in_from(&app, Some("192.0.2.10"), "admin@test.org", PASSWORD).await;
    assert_eq!(r.status().as_u16(), 303, "the owner is not locked out");
    // Spraying other accounts from the attacker's address: the address limit (6 attempts a
    // minute, 5 used) stops it.
    let mut statuses = Vec::new();
    for i in 0..6 {
        statuses.push(
            sign_in_from(&app, attacker, &format!("user{i}@test.org"), "guessing")
                .await
                .status()
                .as_u16(),
        );
    }
    assert!(
        statuses.iter().filter(|s| **s == 429).count() >= 4,
        "{statuses:?}"
    );
}

/// M2: X-Forwarded-For is ignored unless the peer is a trusted proxy (else anyone could pick
/// an address per request and escape every limit).
#[tokio::test]
async fn x_forwarded_for_is_ignored_without_trusted_proxies() {
    let app = spawn_with(|_| {}).await;
    for i in 0..disinfox_server::auth::FREE_FAILURES {
        let from = format!("198.51.100.{i}");
        let r = sign_in_from(&app, Some(&from), "reader@test.org", "guessing").await;
        assert_eq!(r.status().as_u16(), 401);
    }
    let r = sign_in_from(&app, Some("192.0.2.99"), "reader@test.org", PASSWORD).await;
    assert_eq!(r.status().as_u16(), 429, "the same address: 127.0.0.1");
    let (entries, _) = app
        .state
        .store
        .audit_entries(&Default::default(), 0, 1000)
        .await
        .unwrap();
    let addresses: std::collections::BTreeSet<&str> = entries
        .iter()
        .filter(|e| e.kind == "sign-in-failed")
        .map(|e| e.address.as_str())
        .collect();
    assert_eq!(addresses, std::collections::BTreeSet::from(["127.0.0.1"]));
}

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

/// Posts the registration form as a client at `from`.
async fn register(app: &TestApp, from: Option<&str>, email: &str, password: &str) -> Response {
    let client = no_redirects();
    let r = client.get(app.url("/register")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let cookie = cookie_pair(&set_cookie(&r, "dfx_csrf").unwrap());
    let html = r.text().await.unwrap();
    let csrf = if html.contains("name=\"csrf\"") {
        csrf_of(&html)
    } else {
        "x".repeat(43)
    };
    let mut post = client
        .post(app.url("/register"))
        .header(COOKIE, cookie)
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", email),
            ("password", password),
            ("confirm", password),
        ]);
    if let Some(f) = from {
        post = post.header("x-forwarded-for", f);
    }
    post.send().await.unwrap()
}

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

async fn audit_page(s: &Session, query: &str) -> String {
    let r = s.get(&format!("/admin/audit{query}")).await;
    assert_eq!(r.status().as_u16(), 200, "{query}");
    r.text().await.unwrap()
}

fn rows(html: &str) -> usize {
    html.matches("<tr><td class=\"nowrap\">").count()
}

/// The audit log: stored, never a secret, shown to administrators with filters and pages.
#[tokio::test]
async fn the_audit_log_records_security_events_without_secrets() {
    use disinfox_server::configuration::Registration;
    let app = behind_proxy(|s| s.registration = Registration::Approval).await;
    let from = Some("192.0.2.77");
    for _ in 0..disinfox_server::auth::FREE_FAILURES {
        sign_in_from(&app, from, "analyst@test.org", "secret-guess-1").await;
    }
    sign_in_from(&app, from, "secret-in-the-email-field", "x").await;
    register(&app, from, "applicant@test.org", "applicant secret 1").await;
    let admin = sign_in(&app, "admin@test.org").await;
    let id = app.user("applicant@test.org").await.id;
    admin
        .post(&format!("/admin/users/{id}/approve"), &[], None)
        .await;
    let analyst_id = app.user("analyst@test.org").await.id;
    admin
        .post(
            &format!("/admin/users/{analyst_id}"),
            &[("role", "admin")],
            None,
        )
        .await;
    let (_, key) = app
        .send(Method::POST, "/api/v1/keys", &app.reader, &json!({}))
        .await;
    assert!(key["error"].is_object(), "a read key cannot");
    let (_, key) = app
        .send(
            Method::POST,
            "/api/v1/keys",
            &app.analyst,
            &json!({"name": "ci"}),
        )
        .await;
    let secret = key["key"].as_str().unwrap().to_owned();
    let key_id = key["info"]["id"].as_i64().unwrap();
    app.client
        .delete(app.url(&format!("/api/v1/keys/{key_id}")))
        .bearer_auth(&app.analyst)
        .send()
        .await
        .unwrap();
    let inc = app.create(&incident("To delete")).await;
    let inc_id = inc["id"].as_str().unwrap();
    app.client
        .delete(app.url(&format!("/api/v1/incidents/{inc_id}")))
        .bearer_auth(&app.analyst)
        .send()
        .await
        .unwrap();

    let all = audit_page(&admin, "").await;
    for kind in [
        "sign-in-failed",
        "sign-in-locked",
        "registration",
        "registration-approved",
        "sign-in",
        "role-changed",
        "key-created",
        "key-revoked",
        "incident-deleted",
    ] {
        assert!(
            all.contains(&format!("<td class=\"nowrap\">{kind}</td>")),
            "{kind} missing"
        );
    }
    assert!(all.contains("192.0.2.77"), "the client's address");
    let (entries, _) = app
        .state
        .store
        .audit_entries(&Default::default(), 0, 1000)
        .await
        .unwrap();
    let detail = entries
        .iter()
        .find(|e| e.kind == "role-changed")
        .map(|e| e.detail.as_str())
        .unwrap_or_default();
    assert!(detail.starts_with("analyst -> admin"), "{detail}");
    assert!(all.contains(inc_id));
    let dump: Vec<String> = entries
        .iter()
        .map(|e| format!("{}{}{}{}{}", e.kind, e.actor, e.address, e.object, e.detail))
        .collect();
    for row in &dump {
        for secret in [
            "secret-guess-1",
            "secret-in-the-email-field",
            "applicant secret 1",
            &secret,
            PASSWORD,
        ] {
            assert!(!row.contains(secret), "{row}");
        }
    }
    // Filters: kind, actor, dates; bad filters are explained.
    let failed = audit_page(&admin, "?kind=sign-in-failed").await;
    assert_eq!(rows(&failed), 6, "{failed}");
    let by_actor = audit_page(&admin, "?actor=ANALYST@").await;
    assert!(rows(&by_actor) >= 7 && !by_actor.contains("applicant@test.org"));
    let today = stix_model::Timestamp::now().to_string()[..10].to_owned();
    assert_eq!(
        rows(&audit_page(&admin, &format!("?from={today}&to={today}")).await),
        rows(&all)
    );
    assert_eq!(rows(&audit_page(&admin, "?to=2000-01-01").await), 0);
    let r = admin.get("/admin/audit?from=yesterday").await;
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().await.unwrap().contains("is not a date"));
    // Administrators only.
    let reader = sign_in(&app, "reader@test.org").await;
    assert_eq!(reader.get("/admin/audit").await.status().as_u16(), 403);
}

#[tokio::test]
async fn the_audit_log_pages_newest_first() {
    let app = spawn_with(|_| {}).await;
    for i in 0..60 {
        disinfox_server::audit::record(
            &app.state.store,
            disinfox_server::audit::AuditEvent::new(disinfox_server::audit::AuditKind::KeyRevoked)
                .on(format!("key {i}")),
        )
        .await;
    }
    let admin = sign_in(&app, "admin@test.org").await;
    let first = audit_page(&admin, "?kind=key-revoked").await;
    assert_eq!(rows(&first), 50);
    assert!(first.contains("key 59") && !first.contains("<td>key 9</td>"));
    let older = &first[first.find("rel=\"next\"").unwrap() - 80..];
    assert!(
        older.contains("kind=key-revoked") && older.contains("page=2"),
        "the older link keeps the filter: {older}"
    );
    let second = audit_page(&admin, "?kind=key-revoked&page=2").await;
    assert_eq!(rows(&second), 10);
    assert!(second.contains("<td>key 0</td>"));
}
