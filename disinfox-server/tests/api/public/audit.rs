//! The audit log: security events without secrets, newest first.

use reqwest::Method;
use serde_json::json;

use crate::pages::{sign_in, Session};
use crate::support::{incident, spawn_with};

use super::*;

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
