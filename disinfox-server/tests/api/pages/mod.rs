//! The web pages over plain HTTP: sessions, cookies, CSRF, roles, escaping, error pages.

mod analyst;
mod content;
mod intake;
mod reports;
mod sessions;
mod site;
mod techniques;

use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use reqwest::Response;

use crate::support::TestApp;

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
            } else if path.starts_with("/techniques") {
                "T0086.001"
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
