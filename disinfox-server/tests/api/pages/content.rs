//! What the pages show: escaping, forms with errors, HTML for pages and JSON for the API, the
//! import report, Navigator layers.

use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION};
use reqwest::Response;
use serde_json::json;

use crate::support::{incident, spawn_app, spawn_with};

use super::*;

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
        "/techniques/T0002".into(),
        "/techniques?q=%3Cscript%3Ealert(1)%3C/script%3E".into(),
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
        "/techniques",
        "/techniques/T0002",
        "/developers",
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
