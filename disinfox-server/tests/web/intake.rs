//! In the browser: a report (PDF) uploaded on the new-incident form, its proposals kept or
//! dropped, the incident saved with exactly the kept ones; the report downloads of an
//! incident page and of a filtered list, fetched with the browser's own session.

use base64::Engine;
use serde_json::{json, Value};

use crate::browser::Browser;
use crate::sample_pdfs::{plain_pdf, SAMPLE_REPORT};
use crate::support::{incident, pdf_text, spawn_app, TempDir};

/// Writes the sample report to a file the browser can upload, uploads it on the
/// new-incident form and waits for the proposals.
pub async fn upload_sample_report(b: &Browser, dir: &TempDir) {
    let file = dir.0.join("cloned-sites-report.pdf");
    std::fs::write(&file, plain_pdf(&[SAMPLE_REPORT])).unwrap();
    b.goto("/incidents/new").await;
    b.c.find(fantoccini::Locator::Css("#f-pdf"))
        .await
        .unwrap()
        .send_keys(&file.display().to_string())
        .await
        .unwrap();
    b.click_and_wait("#intake-upload button[type=submit]").await;
    assert!(b.exists("#proposals").await, "{}", b.main_text().await);
}

async fn checked(b: &Browser, css: &str) -> bool {
    b.c.find(fantoccini::Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .prop("checked")
        .await
        .unwrap()
        .as_deref()
        == Some("true")
}

fn sorted(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_owned())
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proposals_from_a_pdf_are_kept_or_dropped_and_only_the_kept_are_saved() {
    let app = spawn_app().await;
    let mut body = incident("Earlier operation");
    body["actors"] = json!(["Storm-1516"]);
    app.create(&body).await;
    let b = Browser::start(&app.base).await;
    b.sign_in("analyst@test.org").await;
    let dir = TempDir::new();
    upload_sample_report(&b, &dir).await;

    let text = b.text("#proposals").await;
    assert!(
        text.contains("Proposals from cloned-sites-report.pdf"),
        "{text}"
    );
    assert!(
        text.contains("pushed them on Telegram to audiences in Moldova."),
        "each with its sentence: {text}"
    );
    let p = |field: &str, value: &str| format!("#proposals input[name={field}][value='{value}']");
    // As proposed: ids checked, the name-only technique and the country not.
    for (css, on) in [
        (p("techniques", "T0015"), true),
        (p("techniques", "T0086.001"), true),
        (p("techniques", "T0049"), false),
        (p("target_countries", "MD"), false),
        (p("actors", "Storm-1516"), true),
        (p("channels", "Telegram"), true),
        (p("channels", "rrn.media"), false),
        (
            p("source_urls", "https://example.org/reports/cloned-sites"),
            true,
        ),
    ] {
        assert_eq!(checked(&b, &css).await, on, "{css}");
    }
    // Nothing is saved yet.
    let (_, list) = app.get("/api/v1/incidents", &app.reader).await;
    assert_eq!(list["total"], 1);

    // The analyst drops a technique and the channel, keeps the name-only technique and the
    // country, names the incident and creates it.
    for (field, value) in [
        ("techniques", "T0015"),
        ("channels", "Telegram"),
        ("techniques", "T0049"),
        ("target_countries", "MD"),
    ] {
        b.click(&p(field, value)).await;
    }
    b.fill("#f-name", "Cloned news sites").await;
    b.click_and_wait("form.incident-form .formbar button[type=submit]")
        .await;
    let path = b.path().await;
    assert!(path.ends_with("?done=created"), "{path}");
    let saved = app.incident_at(&path).await;
    assert_eq!(sorted(&saved["techniques"]), ["T0049", "T0086.001"]);
    assert_eq!(sorted(&saved["target_countries"]), ["MD"]);
    assert_eq!(sorted(&saved["actors"]), ["Storm-1516"]);
    assert_eq!(sorted(&saved["channels"]), Vec::<String>::new(), "{saved}");
    assert_eq!(
        sorted(&saved["source_urls"]),
        ["https://example.org/reports/cloned-sites"]
    );
    b.close().await;
}

/// Fetches a link's target with the browser's own session (the page's cookies): status,
/// content type, content disposition and the bytes.
pub async fn fetch_link(b: &Browser, css: &str) -> (u64, String, String, Vec<u8>) {
    let href =
        b.c.find(fantoccini::Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .attr("href")
            .await
            .unwrap()
            .unwrap();
    let r =
        b.c.execute_async(
            "const [href, done] = arguments;
             fetch(href, {credentials: 'same-origin'}).then(r => r.arrayBuffer().then(buf => {
               const u = new Uint8Array(buf); let s = '';
               for (let i = 0; i < u.length; i += 8192) {
                 s += String.fromCharCode.apply(null, u.subarray(i, i + 8192));
               }
               done({status: r.status, type: r.headers.get('content-type') || '',
                     disposition: r.headers.get('content-disposition') || '', b64: btoa(s)});
             })).catch(e => done({status: 0, type: String(e), disposition: '', b64: ''}));",
            vec![json!(href)],
        )
        .await
        .unwrap();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(r["b64"].as_str().unwrap())
        .unwrap();
    (
        r["status"].as_u64().unwrap(),
        r["type"].as_str().unwrap().to_owned(),
        r["disposition"].as_str().unwrap().to_owned(),
        bytes,
    )
}

const DOCX: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_links_download_pdf_and_docx_with_the_session() {
    let app = spawn_app().await;
    let id = app.create(&incident("Downloaded operation")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.create(&json!({"name": "Unrelated elsewhere", "target_countries": ["BR"]}))
        .await;
    let b = Browser::start(&app.base).await;
    b.sign_in("reader@test.org").await;

    // From the incident page.
    b.goto(&format!("/incidents/{id}")).await;
    let (status, ty, disposition, pdf) = fetch_link(&b, "#report-pdf").await;
    assert_eq!((status, ty.as_str()), (200, "application/pdf"));
    assert!(
        disposition.contains(&format!("report-{id}.pdf")),
        "{disposition}"
    );
    assert!(pdf.starts_with(b"%PDF-"));
    if let Some(text) = pdf_text(&pdf, "browser_incident_report") {
        assert!(text.contains("Downloaded operation"), "{text}");
    }
    let (status, ty, disposition, docx) = fetch_link(&b, "#report-docx").await;
    assert_eq!((status, ty.as_str()), (200, DOCX));
    assert!(disposition.contains(".docx"), "{disposition}");
    assert!(docx.starts_with(b"PK\x03\x04") && docx.windows(17).any(|w| w == b"word/document.xml"));

    // From the filtered list: the set's report has the matching incident only.
    b.goto("/incidents?country=UA").await;
    assert!(b.main_text().await.contains("Downloaded operation"));
    let (status, ty, _, pdf) = fetch_link(&b, "#set-report-pdf").await;
    assert_eq!((status, ty.as_str()), (200, "application/pdf"));
    if let Some(text) = pdf_text(&pdf, "browser_set_report") {
        assert!(
            text.contains("Downloaded operation") && !text.contains("Unrelated elsewhere"),
            "{text}"
        );
    }
    let (status, ty, _, docx) = fetch_link(&b, "#set-report-docx").await;
    assert_eq!((status, ty.as_str()), (200, DOCX));
    assert!(docx.starts_with(b"PK\x03\x04"));
    b.close().await;
}
