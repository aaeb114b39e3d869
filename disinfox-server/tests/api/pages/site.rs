//! Pages about the site rather than incidents: the colour theme switch, the CSV template of the
//! import page, the developer page.

use disinfox_server::routes::{routes, Protocol};
use reqwest::header::{CONTENT_DISPOSITION, CONTENT_TYPE, COOKIE, LOCATION};

use crate::support::spawn_app;

use super::*;

/// The dashboard of the session, with one more cookie.
async fn dashboard_with(s: &Session, cookie: &str) -> String {
    s.client
        .get(format!("{}/dashboard", s.base))
        .header(COOKIE, format!("{}; {cookie}", s.cookie))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_theme_switch_sets_a_cookie_marks_the_page_and_goes_back() {
    let app = spawn_app().await;
    let s = sign_in(&app, "reader@test.org").await;
    let html = s.get("/techniques").await.text().await.unwrap();
    assert!(
        html.contains("<html lang=\"en\">"),
        "the system's theme by default"
    );
    assert!(html.contains("<input type=\"hidden\" name=\"back\" value=\"/techniques\">"));
    assert!(html.contains("<option value=\"system\" selected>"));

    let r = s
        .post(
            "/theme",
            &[("theme", "dark"), ("back", "/techniques?q=memes")],
            None,
        )
        .await;
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(r.headers()[LOCATION], "/techniques?q=memes");
    let cookie = set_cookie(&r, "theme").expect("a theme cookie");
    assert!(
        cookie.starts_with("theme=dark;")
            && cookie.contains("Path=/")
            && cookie.contains("Max-Age=31536000"),
        "{cookie}"
    );
    let html = dashboard_with(&s, &cookie_pair(&cookie)).await;
    assert!(
        html.contains("<html lang=\"en\" data-theme=\"dark\">"),
        "{html}"
    );
    assert!(html.contains("<option value=\"dark\" selected>"));

    // Back to the system's: the cookie goes.
    let r = s
        .post("/theme", &[("theme", "system"), ("back", "/")], None)
        .await;
    assert_eq!(r.status().as_u16(), 303);
    assert!(set_cookie(&r, "theme").unwrap().contains("Max-Age=0"));
    // Only to a page of this site; only the three themes; only with the form's token.
    let r = s
        .post(
            "/theme",
            &[("theme", "light"), ("back", "//evil.example/x")],
            None,
        )
        .await;
    assert_eq!(r.headers()[LOCATION], "/dashboard");
    let r = s.post("/theme", &[("theme", "purple")], None).await;
    assert_eq!(r.status().as_u16(), 400);
    assert!(set_cookie(&r, "theme").is_none());
    let r = s.post("/theme", &[("theme", "dark")], Some("wrong")).await;
    assert_eq!(r.status().as_u16(), 403);
    assert!(set_cookie(&r, "theme").is_none());
    // A strange cookie is the system's theme, and never reaches the page.
    let html = dashboard_with(&s, "theme=\"><script>").await;
    assert!(html.contains("<html lang=\"en\">") && !html.contains("\"><script>"));
}

#[tokio::test]
async fn visitors_without_an_account_switch_the_theme_too() {
    let app = spawn_app().await;
    let r = no_redirects().get(app.url("/login")).send().await.unwrap();
    let login = cookie_pair(&set_cookie(&r, "dfx_csrf").unwrap());
    let html = r.text().await.unwrap();
    assert!(html.contains("action=\"/theme\""));
    let r = no_redirects()
        .post(app.url("/theme"))
        .header(COOKIE, &login)
        .form(&[
            ("csrf", csrf_of(&html).as_str()),
            ("theme", "light"),
            ("back", "/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    assert!(set_cookie(&r, "theme").unwrap().starts_with("theme=light;"));
}

#[tokio::test]
async fn the_csv_template_downloads_and_imports_cleanly() {
    let app = spawn_app().await;
    let s = sign_in(&app, "analyst@test.org").await;
    let html = s.get("/import").await.text().await.unwrap();
    assert!(html.contains("href=\"/import/template.csv\" download"));
    let r = s.get("/import/template.csv").await;
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()[CONTENT_TYPE], "text/csv; charset=utf-8");
    assert_eq!(
        r.headers()[CONTENT_DISPOSITION],
        "attachment; filename=\"disinfox-import-template.csv\""
    );
    let csv = r.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "the header and one example row");
    assert!(lines[0].starts_with(
        "Year,Target Country,Event,Region,Sub-region,Country of Origin,Threat Actor,Event description,T0"
    ));
    assert!(lines[0].contains(",T0086.001_Develop Memes,"));
    assert!(lines[0]
        .ends_with(",Source 1,Source 2,Source 3,Source 4,Source 5,Source 6,Source 7,Source 8"));

    // Through the real importer (the API's import job), as a user would upload it.
    let (status, job) = app.import_with(&app.analyst, csv.clone(), "text/csv").await;
    assert_eq!(status, 202);
    assert_eq!(job["state"], "succeeded", "{job}");
    let report = &job["report"];
    assert_eq!(report["created"].as_array().unwrap().len(), 1, "{job}");
    assert_eq!(report["rejected"], serde_json::json!([]), "{job}");
    assert_eq!(report["warnings"], serde_json::json!([]), "{job}");
    let (_, list) = app
        .get(
            "/api/v1/incidents?technique=T0086.001&country=PL&channel=Telegram",
            &app.reader,
        )
        .await;
    assert_eq!(list["total"], 1, "{list}");
    let incident = &list["items"][0];
    assert_eq!(incident["first_seen"], "2024", "{incident}");

    // Readers have no import page, so no template either.
    let reader = sign_in(&app, "reader@test.org").await;
    assert_eq!(
        reader.get("/import/template.csv").await.status().as_u16(),
        403
    );
}

#[tokio::test]
async fn the_developer_page_lists_every_route_and_its_examples_work() {
    let app = spawn_app().await;
    let created = app
        .create(&crate::support::incident("Seen by a program"))
        .await;
    assert!(created["id"].is_string());
    // Public, like the API description it links to.
    let r = no_redirects()
        .get(app.url("/developers"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("href=\"/api/v1/openapi.json\""));
    assert!(html.contains("daf6258c-a3cb-4b3b-bbca-0dbf5a6a7ce4"));
    for r in routes() {
        let row = format!(
            "<td class=\"mono\">{}</td><td class=\"mono\">{}</td>",
            r.method, r.path
        );
        assert!(html.contains(&row), "{} {} is listed", r.method, r.path);
        if r.protocol == Protocol::Api && ["/api/v1/bundle", "/api/v1/stream"].contains(&r.path) {
            for (name, _) in r.query {
                assert!(
                    html.contains(&format!("<code>{name}")) || html.contains(name),
                    "{}: {name}",
                    r.path
                );
            }
        }
    }
    // The footer leads here.
    let html_dash = sign_in(&app, "reader@test.org")
        .await
        .get("/dashboard")
        .await
        .text()
        .await
        .unwrap();
    assert!(html_dash.contains("href=\"/developers\""));

    // Every GET example, as a program would send it, with the examples' headers.
    let base = app.state.settings.public_url.clone();
    let text = html
        .replace("&amp;", "&")
        .replace("&#39;", "'")
        .replace("&#34;", "\"");
    let mut urls: Vec<String> = Vec::new();
    for block in text.split("<pre class=\"example\"").skip(1) {
        let block = &block[..block.find("</pre>").unwrap()];
        let plain: String = {
            // Tags out (the base URL is in a span the script rewrites).
            let mut out = String::new();
            let mut in_tag = false;
            for c in block.chars() {
                match c {
                    '<' => in_tag = true,
                    '>' if in_tag => in_tag = false,
                    _ if !in_tag => out.push(c),
                    _ => {}
                }
            }
            out
        };
        for word in plain.split_whitespace() {
            let w = word.trim_matches('\'');
            if let Some(rest) = w.strip_prefix(&base) {
                urls.push(rest.to_owned());
            }
        }
    }
    assert!(urls.len() >= 6, "{urls:?}");
    let first = app
        .client
        .get(app.url("/api/v1/bundle?newer_than=2000-01-01T00:00:00Z&limit=1"))
        .bearer_auth(&app.reader)
        .send()
        .await
        .unwrap();
    let cursor = first.headers()["x-disinfox-next-cursor"]
        .to_str()
        .unwrap()
        .to_owned();
    for u in &urls {
        if u.starts_with("/api/v1/stream") {
            continue; // an event stream: tested in tests/api/stream.rs
        }
        let u = u.replace("NEXT_CURSOR", &cursor);
        let r = app
            .client
            .get(app.url(&u))
            .bearer_auth(&app.reader)
            .header("accept", "application/taxii+json;version=2.1")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{u}: {}", r.text().await.unwrap());
    }
}
