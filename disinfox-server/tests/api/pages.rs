//! The web pages over plain HTTP: sessions, cookies, CSRF, roles, escaping, error pages.

use disinfox_server::http::Access;
use disinfox_server::web::pages;
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use reqwest::Response;
use serde_json::json;

use crate::support::{incident, spawn_app, spawn_with, TestApp};

const PASSWORD: &str = "long enough password";
const SOME_ID: &str = "incident--c1817dc0-80ae-547f-83c0-920b0c6a25b8";

pub fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A signed-in browser, without the browser.
pub struct Session {
    pub cookie: String,
    pub csrf: String,
    pub client: reqwest::Client,
    pub base: String,
}

pub fn set_cookie(r: &Response, name: &str) -> Option<String> {
    r.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

pub fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_owned()
}

pub fn csrf_of(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .expect("a form with a CSRF token")
        + 19;
    html[at..at + html[at..].find('"').unwrap()].to_owned()
}

async fn login_page(app: &TestApp) -> (String, String) {
    let r = no_redirects().get(app.url("/login")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let c = set_cookie(&r, "dfx_csrf").expect("a pre-session CSRF cookie");
    assert!(
        c.contains("HttpOnly") && c.contains("SameSite=Strict"),
        "{c}"
    );
    let html = r.text().await.unwrap();
    (cookie_pair(&c), csrf_of(&html))
}

async fn try_sign_in(app: &TestApp, email: &str, password: &str) -> Response {
    let (cookie, csrf) = login_page(app).await;
    no_redirects()
        .post(app.url("/login"))
        .header(COOKIE, cookie)
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", email),
            ("password", password),
            ("next", "/incidents?q=x"),
        ])
        .send()
        .await
        .unwrap()
}

pub async fn sign_in(app: &TestApp, email: &str) -> Session {
    let r = try_sign_in(app, email, PASSWORD).await;
    assert_eq!(r.status().as_u16(), 303, "{email} signs in");
    assert_eq!(
        r.headers()[LOCATION],
        "/incidents?q=x",
        "back where they were going"
    );
    let cookie = cookie_pair(&set_cookie(&r, "dfx_session").expect("a session cookie"));
    let mut s = Session {
        cookie,
        csrf: String::new(),
        client: no_redirects(),
        base: app.base.clone(),
    };
    let html = s.get("/dashboard").await.text().await.unwrap();
    s.csrf = csrf_of(&html);
    s
}

impl Session {
    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(format!("{}{path}", self.base))
            .header(COOKIE, &self.cookie)
            .send()
            .await
            .unwrap()
    }

    /// Posts a form; `csrf: None` sends the session's token.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)], csrf: Option<&str>) -> Response {
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        let token = csrf.unwrap_or(&self.csrf);
        if token != "-" {
            form.push(("csrf", token));
        }
        self.client
            .post(format!("{}{path}", self.base))
            .header(COOKIE, &self.cookie)
            .form(&form)
            .send()
            .await
            .unwrap()
    }
}

/// A page path with its placeholders filled in.
pub fn page_path(path: &str) -> String {
    path.replace("{file}", "style.css")
        .replace("{name}", "Russia")
        .replace(
            "{id}",
            if path.starts_with("/incidents") {
                SOME_ID
            } else {
                "1"
            },
        )
}

pub fn is_html(r: &Response) -> bool {
    r.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"))
}

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
    let rows: Vec<(Vec<u8>,)> = sqlx::query_as("SELECT id_hash FROM sessions")
        .fetch_all(app.state.store.pool())
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0].0,
        disinfox_server::auth::hash_api_key(&token),
        "the SHA-256 only"
    );
    let dump: Vec<(String,)> = sqlx::query_as("SELECT csrf || created_at FROM sessions")
        .fetch_all(app.state.store.pool())
        .await
        .unwrap();
    assert!(!dump[0].0.contains(&token));

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

#[tokio::test]
async fn user_text_is_escaped_on_every_page() {
    let app = spawn_app().await;
    let mut body = incident("<script>alert(1)</script>");
    body["actors"] = json!(["\"><img src=x onerror=alert(2)>"]);
    body["channels"] = json!(["<b>Tele</b>gram"]);
    let created = app.create(&body).await;
    let id = created["id"].as_str().unwrap();
    let s = sign_in(&app, "analyst@test.org").await;
    for path in [
        format!("/incidents/{id}"),
        format!("/incidents/{id}/edit"),
        "/incidents".into(),
        "/incidents?q=alert".into(),
        "/dashboard".into(),
        "/actors".into(),
        "/matrix?channel=%3Cb%3ETele%3C%2Fb%3Egram".into(),
        format!(
            "/actors/{}",
            "%22%3E%3Cimg%20src%3Dx%20onerror%3Dalert(2)%3E"
        ),
    ] {
        let r = s.get(&path).await;
        assert_eq!(r.status().as_u16(), 200, "{path}");
        let html = r.text().await.unwrap();
        for raw in ["<script>alert(1)", "<img src=x", "<b>Tele"] {
            assert!(!html.contains(raw), "{path}: {raw} unescaped");
        }
        assert!(
            html.contains("&#60;script&#62;alert(1)&#60;/script&#62;")
                || html.contains("&#60;img src=x")
                || html.contains("&#60;b&#62;Tele"),
            "{path}: the text is there, escaped"
        );
    }
    // A broken form echoes what was typed, escaped.
    let r = s
        .post(
            "/incidents/new",
            &[
                ("name", "</textarea><script>x()</script>"),
                ("first_seen", "<b>"),
            ],
            None,
        )
        .await;
    assert_eq!(r.status().as_u16(), 422);
    let html = r.text().await.unwrap();
    assert!(!html.contains("<script>x()") && html.contains("&#60;/textarea&#62;&#60;script&#62;"));
}

#[tokio::test]
async fn broken_forms_come_back_with_field_errors_and_the_typed_values() {
    let app = spawn_app().await;
    let s = sign_in(&app, "analyst@test.org").await;
    let r = s
        .post(
            "/incidents/new",
            &[
                ("name", ""),
                ("description", "typed description"),
                ("first_seen", "2024-02"),
                ("last_seen", "2023"),
                ("techniques", "T0002"),
                ("target_countries", "Narnia"),
                ("attribution_confidence", "101"),
                ("source_urls", "not a url"),
            ],
            None,
        )
        .await;
    assert_eq!(r.status().as_u16(), 422);
    let html = r.text().await.unwrap();
    for id in [
        "err-name",
        "err-last_seen",
        "err-target_countries",
        "err-attribution_confidence",
        "err-source_urls",
    ] {
        assert!(html.contains(&format!("id=\"{id}\"")), "{id}");
    }
    for kept in [
        "typed description",
        "value=\"2024-02\"",
        "value=\"Narnia\"",
        "value=\"101\"",
        "not a url",
        "value=\"T0002\" checked",
    ] {
        assert!(html.contains(kept), "{kept} kept");
    }
    let (_, list) = app.get("/api/v1/incidents", &app.reader).await;
    assert_eq!(list["total"], 0);
}

#[tokio::test]
async fn pages_answer_in_html_and_the_api_in_json() {
    let app = spawn_with(|s| s.body_limit_bytes = 4096).await;
    let s = sign_in(&app, "analyst@test.org").await;
    let r = s.get(&format!("/incidents/{SOME_ID}")).await;
    assert_eq!(r.status().as_u16(), 404);
    assert!(is_html(&r));
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    let r = s.get("/incidents/not-an-id").await;
    assert_eq!(r.status().as_u16(), 404);
    assert!(is_html(&r));
    let r = s.get("/incidents?page=abc").await;
    assert_eq!(r.status().as_u16(), 400);
    assert!(is_html(&r));
    let r = s.get("/incidents?country=Atlantis").await;
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().await.unwrap().contains("is not a country"));
    let big = "x".repeat(8000);
    let r = s.post("/incidents/new", &[("name", &big)], None).await;
    assert_eq!(r.status().as_u16(), 413);
    assert!(is_html(&r));
    let r = s.get("/assets/nothing.css").await;
    assert_eq!(r.status().as_u16(), 404);
    let r = s.get("/assets/style.css").await;
    assert_eq!(r.headers()[CONTENT_TYPE], "text/css; charset=utf-8");
    let r = app
        .client
        .get(app.url("/api/v1/nothing"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    assert!(r.headers().get("content-security-policy").is_none());
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["error"]["status"],
        404
    );
    // Every page loads its script and style from this server only.
    for path in [
        "/",
        "/dashboard",
        "/incidents",
        "/incidents/new",
        "/matrix",
        "/actors",
        "/import",
        "/profile",
    ] {
        let html = s.get(path).await.text().await.unwrap();
        for tag in ["<script", "<link"] {
            for piece in html.split(tag).skip(1) {
                let head = &piece[..piece.find('>').unwrap()];
                if head.contains("src=") || head.contains("href=") {
                    assert!(head.contains("\"/assets/"), "{path}: {tag}{head}>");
                }
            }
        }
    }
}

#[tokio::test]
async fn the_import_page_reports_created_updated_and_rejected() {
    let app = spawn_app().await;
    let s = sign_in(&app, "analyst@test.org").await;
    let csv = "Year,Target Country,Event,Threat Actor,Event description,T0002_Facilitate State Propaganda\n\
               2023,Poland,Grain scare,Russia,About grain,1\n\
               20x3,Atlantis,Broken,,x,1\n";
    let upload = |bytes: &'static str| {
        let part = reqwest::multipart::Part::bytes(bytes.as_bytes()).file_name("bulk.csv");
        reqwest::multipart::Form::new()
            .text("csrf", s.csrf.clone())
            .part("file", part)
    };
    let send = |form| {
        s.client
            .post(app.url("/import"))
            .header(COOKIE, &s.cookie)
            .multipart(form)
            .send()
    };
    // The upload leads to the job's page, which shows the report once the job is over.
    let report = async |r: Response| -> String {
        assert_eq!(r.status().as_u16(), 303);
        let job = r.headers()[LOCATION].to_str().unwrap().to_owned();
        assert!(job.starts_with("/import/jobs/"), "{job}");
        loop {
            let html = s.get(&job).await.text().await.unwrap();
            if !html.contains("http-equiv=\"refresh\"") {
                return html;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    };
    let html = report(send(upload(csv)).await.unwrap()).await;
    assert!(
        html.contains("Grain scare") && html.contains("is not a year"),
        "{html}"
    );
    let html = report(send(upload(csv)).await.unwrap()).await;
    assert!(
        html.contains("<span class=\"n\">1</span><span class=\"what\">unchanged</span>"),
        "again: unchanged"
    );
    let html = report(
        send(upload("{\"type\": \"bundle\", \"objects\": [tru"))
            .await
            .unwrap(),
    )
    .await;
    assert!(html.contains("stopped: not a STIX bundle"), "{html}");
    // A file that is not even the format is refused at once.
    let r = send(upload("[1, 2]")).await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().await.unwrap().contains("was not imported"));
}

#[tokio::test]
async fn the_incident_and_matrix_pages_offer_navigator_layers() {
    let app = spawn_app().await;
    let created = app.create(&incident("Layered incident")).await;
    let id = created["id"].as_str().unwrap();
    let s = sign_in(&app, "reader@test.org").await;
    let catalogue = stix_model::disarm::Catalogue::builtin(app.state.settings.disarm_version);
    // The incident page links its layer, and the link downloads a valid layer.
    let html = s
        .get(&format!("/incidents/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        html.contains(&format!("href=\"/incidents/{id}/navigator\"")),
        "link on the page"
    );
    let r = s.get(&format!("/incidents/{id}/navigator")).await;
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("attachment"));
    let layer: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        disinfox_server::navigator::check_layer(&layer, catalogue),
        Vec::<String>::new()
    );
    // Every scored technique links back to the incidents that use it (unscored parents,
    // shown only to expand their sub-techniques, carry no link).
    let scored: Vec<_> = layer["techniques"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["score"].is_number())
        .collect();
    assert!(!scored.is_empty());
    let unlinked: Vec<_> = scored
        .iter()
        .filter(|t| {
            !t["links"].as_array().is_some_and(|l| {
                l.iter().any(|x| {
                    x["url"]
                        .as_str()
                        .is_some_and(|u| u.contains("/incidents?technique="))
                })
            })
        })
        .collect();
    assert!(unlinked.is_empty(), "{unlinked:?}");
    // The matrix page links the heatmap of its filter.
    let html = s.get("/matrix?country=UA").await.text().await.unwrap();
    assert!(
        html.contains("href=\"/matrix/navigator?country=UA\""),
        "heatmap link keeps the filter"
    );
    let r = s.get("/matrix/navigator?country=UA").await;
    assert_eq!(r.status().as_u16(), 200);
    let heat: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        disinfox_server::navigator::check_layer(&heat, catalogue),
        Vec::<String>::new()
    );
    assert!(
        heat["name"].as_str().unwrap().contains("country=UA"),
        "{}",
        heat["name"]
    );
    // Signed out, the download leads to the sign-in form like every page.
    let anon = no_redirects()
        .get(app.url(&format!("/incidents/{id}/navigator")))
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status().as_u16(), 303);
}
