//! Running in public: hostile and careless clients (sign-in floods, locks, proxies, broken
//! requests), self-service accounts, public reading, quotas and the audit log.

mod accounts;
mod audit;
mod requests;

use reqwest::header::COOKIE;
use reqwest::{Method, Response};
use serde_json::json;

use crate::pages::{cookie_pair, csrf_of, no_redirects, set_cookie, sign_in};
use crate::support::{spawn_with, TestApp};

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

/// H1: an address never seen to sign in has one password in the hasher at a time: the rest of
/// a flood from it is refused at once (503, counted as attempts), so it holds one place in the
/// queue and a newcomer from elsewhere waits for one password at most.
#[tokio::test]
async fn a_flood_from_one_new_address_holds_one_place_in_the_hasher() {
    let app = behind_proxy(|s| {
        s.password_hash_concurrency = 2;
        s.login_attempts_per_minute = 1000;
    })
    .await;
    let flood: Vec<_> = (0..16)
        .map(|i| {
            let app = &app;
            async move {
                sign_in_from(
                    app,
                    Some("203.0.113.66"),
                    &format!("random{i}@nowhere.example"),
                    "whatever it is",
                )
                .await
            }
        })
        .collect();
    let newcomer = sign_in_from(&app, Some("198.51.100.20"), "analyst@test.org", PASSWORD);
    let (flood, newcomer) = tokio::join!(futures_util::future::join_all(flood), newcomer);
    assert_eq!(newcomer.status().as_u16(), 303, "the newcomer signs in");
    let mut refused_at_once = 0;
    for r in flood {
        match r.status().as_u16() {
            401 => {}
            503 => {
                assert!(retry_after(&r) >= 1);
                assert!(r
                    .text()
                    .await
                    .unwrap()
                    .contains("Another sign-in from your address"));
                refused_at_once += 1;
            }
            s => panic!("unexpected status {s}"),
        }
    }
    assert!(refused_at_once > 0, "the flood is cut to one at a time");
    // One worker for the flood's one place, one for the newcomer: never more.
    assert!(app.state.hasher.peak_concurrency() <= 2);
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
