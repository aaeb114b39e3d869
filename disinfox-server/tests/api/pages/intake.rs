//! The PDF intake on the new-incident form over plain HTTP: proposals with their sentences
//! as checkboxes named like the form's fields, nothing saved until the form is submitted,
//! bad PDFs told on the form with a 4xx, CSRF and the writer role required.

use reqwest::header::{COOKIE, LOCATION};
use reqwest::Response;
use serde_json::json;

use crate::sample_pdfs::{encrypted_pdf, image_only_pdf, plain_pdf, SAMPLE_REPORT as REPORT};
use crate::support::{incident, spawn_app, spawn_with, TestApp};

use super::*;

/// Records an incident with the actor the report names (actors are proposed only when
/// known).
pub async fn record_actor(app: &TestApp) {
    let mut body = incident("Earlier operation");
    body["actors"] = json!(["Storm-1516"]);
    app.create(&body).await;
}

pub async fn upload(s: &Session, name: &str, bytes: Vec<u8>, csrf: Option<&str>) -> Response {
    let mut form = reqwest::multipart::Form::new();
    if let Some(t) = csrf.or(Some(s.csrf.as_str())).filter(|t| *t != "-") {
        form = form.text("csrf", t.to_owned());
    }
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name(name.to_owned())
        .mime_str("application/pdf")
        .unwrap();
    s.client
        .post(format!("{}/incidents/new/intake", s.base))
        .header(COOKIE, &s.cookie)
        .multipart(form.part("pdf", part))
        .send()
        .await
        .unwrap()
}

fn unescape(s: &str) -> String {
    s.replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&#38;", "&")
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let key = format!(" {name}=\"");
    let at = tag.find(&key)? + key.len();
    Some(unescape(&tag[at..at + tag[at..].find('"')?]))
}

/// The proposals' checkboxes: (field, value, checked), in the page's order.
pub fn proposals(html: &str) -> Vec<(String, String, bool)> {
    let start = html.find("id=\"proposals\"").expect("a Proposals section");
    let section = &html[start..start + html[start..].find("</section>").unwrap()];
    section
        .split("<input ")
        .skip(1)
        .map(|t| &t[..t.find('>').unwrap()])
        .filter(|t| t.contains("type=\"checkbox\""))
        .map(|t| {
            (
                attr(t, "name").unwrap(),
                attr(t, "value").unwrap(),
                t.contains(" checked"),
            )
        })
        .collect()
}

fn has(ps: &[(String, String, bool)], field: &str, value: &str, checked: bool) -> bool {
    ps.iter()
        .any(|(f, v, c)| f == field && v == value && *c == checked)
}

async fn total(app: &TestApp) -> u64 {
    let (_, list) = app.get("/api/v1/incidents", &app.reader).await;
    list["total"].as_u64().unwrap()
}

#[tokio::test]
async fn a_report_gives_proposals_and_only_what_the_form_sends_is_saved() {
    let app = spawn_app().await;
    record_actor(&app).await;
    let s = sign_in(&app, "analyst@test.org").await;
    // The new-incident form offers the upload.
    let html = s.get("/incidents/new").await.text().await.unwrap();
    assert!(
        html.contains("action=\"/incidents/new/intake\" enctype=\"multipart/form-data\"")
            && html.contains("name=\"pdf\""),
        "the form has the upload"
    );
    assert!(!html.contains("id=\"proposals\""));

    let r = upload(&s, "report <1>.pdf", plain_pdf(&[REPORT]), None).await;
    assert_eq!(r.status().as_u16(), 200);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("Proposals from report &#60;1&#62;.pdf"),
        "the file's name, escaped"
    );
    let ps = proposals(&html);
    for (field, value, checked) in [
        ("techniques", "T0015", true),
        ("techniques", "T0086.001", true),
        ("techniques", "T0049", false),
        (
            "source_urls",
            "https://example.org/reports/cloned-sites",
            true,
        ),
        ("channels", "example.org", false),
        ("channels", "rrn.media", false),
        ("target_countries", "MD", false),
        ("actors", "Storm-1516", true),
        ("channels", "Telegram", true),
    ] {
        assert!(
            has(&ps, field, value, checked),
            "{field}={value} checked={checked} in {ps:?}"
        );
    }
    // Each with the sentence it came from.
    assert!(html.contains("Operators linked to Storm-1516 built cloned news sites"));
    assert!(html.contains("pushed them on Telegram to audiences in Moldova."));
    // Nothing is saved by the upload.
    assert_eq!(total(&app).await, 1);

    // Submitting the form with what is checked saves exactly that.
    let mut fields: Vec<(&str, &str)> = vec![("name", "From the report")];
    fields.extend(
        ps.iter()
            .filter(|p| p.2)
            .map(|(f, v, _)| (f.as_str(), v.as_str())),
    );
    let r = s.post("/incidents/new", &fields, None).await;
    assert_eq!(r.status().as_u16(), 303);
    let saved = app
        .incident_at(r.headers()[LOCATION].to_str().unwrap())
        .await;
    let mut techniques: Vec<&str> = saved["techniques"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    techniques.sort_unstable();
    assert_eq!(techniques, ["T0015", "T0086.001"], "{saved}");
    assert_eq!(saved["actors"], json!(["Storm-1516"]));
    assert_eq!(saved["channels"], json!(["Telegram"]));
    assert_eq!(
        saved["source_urls"],
        json!(["https://example.org/reports/cloned-sites"])
    );
    assert_eq!(saved["target_countries"], json!([]), "{saved}");
    assert_eq!(total(&app).await, 2);
}

#[tokio::test]
async fn bad_pdfs_are_told_on_the_form_with_a_4xx() {
    let app = spawn_with(|s| s.body_limit_bytes = 64 * 1024).await;
    let s = sign_in(&app, "analyst@test.org").await;
    // A header and noise.
    let mut damaged = b"%PDF-1.7\n".to_vec();
    damaged.extend((0..5000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    let mut oversized = plain_pdf(&[REPORT]);
    oversized.resize(50 * 1024, b' ');
    for (name, bytes, status, says) in [
        (
            "locked.pdf",
            encrypted_pdf(),
            422,
            "encrypted (password-protected)",
        ),
        ("scan.pdf", image_only_pdf(), 422, "it looks scanned"),
        ("damaged.pdf", damaged, 422, "it looks damaged"),
        ("notes.pdf", b"just some notes".to_vec(), 422, "not a PDF"),
        // The file's limit is the body limit less room for the form: 48 KiB here.
        ("big.pdf", oversized, 413, "the limit is 0.1 MB"),
        ("empty.pdf", Vec::new(), 400, "no file was uploaded"),
    ] {
        let r = upload(&s, name, bytes, None).await;
        assert_eq!(r.status().as_u16(), status, "{name}");
        assert!(is_html(&r), "{name}");
        let html = r.text().await.unwrap();
        let at = html
            .find("id=\"intake-error\"")
            .expect("the message on the form");
        let message = &html[at..at + html[at..].find("</p>").unwrap()];
        assert!(message.contains(says), "{name}: {message}");
        assert!(!html.contains("id=\"proposals\""), "{name}");
        assert!(
            html.contains("action=\"/incidents/new\""),
            "{name}: the form is there"
        );
    }
    // A body over the body limit is refused before the page reads it.
    let r = upload(&s, "huge.pdf", vec![b'%'; 80 * 1024], None).await;
    assert_eq!(r.status().as_u16(), 413);
    assert_eq!(total(&app).await, 0);
}

#[tokio::test]
async fn the_upload_needs_the_forms_token_and_the_writer_role() {
    let app = spawn_app().await;
    let s = sign_in(&app, "analyst@test.org").await;
    for csrf in ["-", "wrong-token-wrong-token-wrong-token"] {
        let r = upload(&s, "r.pdf", plain_pdf(&[REPORT]), Some(csrf)).await;
        assert_eq!(r.status().as_u16(), 403, "csrf {csrf}");
        assert!(r.text().await.unwrap().contains("security token"));
    }
    let reader = sign_in(&app, "reader@test.org").await;
    let r = upload(&reader, "r.pdf", plain_pdf(&[REPORT]), None).await;
    assert_eq!(r.status().as_u16(), 403);
    let html = r.text().await.unwrap();
    assert!(!html.contains("id=\"proposals\""));
    // Signed out: to the sign-in page.
    let r = no_redirects()
        .post(app.url("/incidents/new/intake"))
        .multipart(reqwest::multipart::Form::new().text("csrf", "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    assert!(r.headers()[LOCATION]
        .to_str()
        .unwrap()
        .starts_with("/login"));
}
