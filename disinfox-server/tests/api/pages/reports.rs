//! Report downloads from the pages: an incident's report and a filtered set's, as PDF and
//! DOCX; signed-in users only. The PDF is read back with `pdftotext` (poppler-utils) when it
//! is there; without it that check writes a `SKIPPED` line (and fails under `scripts/test`,
//! which installs it).

use reqwest::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use serde_json::json;

use crate::support::{incident, pdf_text, spawn_app, spawn_with};

use super::*;

const DOCX: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";

async fn download(s: &Session, path: &str, content_type: &str, filename: &str) -> Vec<u8> {
    let r = s.get(path).await;
    assert_eq!(r.status().as_u16(), 200, "{path}");
    assert_eq!(
        r.headers().get(CONTENT_TYPE).unwrap().to_str().unwrap(),
        content_type,
        "{path}"
    );
    let cd = r
        .headers()
        .get(CONTENT_DISPOSITION)
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(cd, format!("attachment; filename=\"{filename}\""), "{path}");
    r.bytes().await.unwrap().to_vec()
}

#[tokio::test]
async fn an_incident_report_downloads_as_pdf_and_docx() {
    let app = spawn_app().await;
    let created = app.create(&incident("Reported operation")).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let s = sign_in(&app, "analyst@test.org").await;
    let html = s
        .get(&format!("/incidents/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains(&format!("href=\"/incidents/{id}/report.pdf\"")));
    assert!(html.contains(&format!("href=\"/incidents/{id}/report.docx\"")));

    let pdf = download(
        &s,
        &format!("/incidents/{id}/report.pdf"),
        "application/pdf",
        &format!("report-{id}.pdf"),
    )
    .await;
    assert!(pdf.starts_with(b"%PDF-"), "a PDF");
    if let Some(text) = pdf_text(&pdf, "incident_report_pdf") {
        assert!(text.contains("Reported operation"), "{text}");
        assert!(text.contains("TLP:"), "the TLP marking: {text}");
        assert!(text.contains("T0002"), "the techniques: {text}");
    }
    let docx = download(
        &s,
        &format!("/incidents/{id}/report.docx"),
        DOCX,
        &format!("report-{id}.docx"),
    )
    .await;
    assert!(docx.starts_with(b"PK\x03\x04"), "a ZIP package");

    let r = s
        .get("/incidents/incident--00000000-0000-4000-8000-000000000000/report.pdf")
        .await;
    assert_eq!(r.status().as_u16(), 404);
}

#[tokio::test]
async fn a_filtered_set_reports_its_incidents_only() {
    let app = spawn_app().await;
    app.create(&incident("Kept by the filter")).await;
    let mut other = incident("Left out by the filter");
    other["actors"] = json!(["Someone else"]);
    app.create(&other).await;
    let s = sign_in(&app, "analyst@test.org").await;
    let list = s.get("/incidents?actor=Russia").await.text().await.unwrap();
    assert!(list.contains("href=\"/incidents/report.pdf?actor=Russia\""));
    assert!(list.contains("href=\"/incidents/report.docx?actor=Russia\""));
    let map = s.get("/map?actor=Russia").await.text().await.unwrap();
    assert!(map.contains("href=\"/incidents/report.pdf?actor=Russia\""));

    let pdf = download(
        &s,
        "/incidents/report.pdf?actor=Russia",
        "application/pdf",
        "incidents-report.pdf",
    )
    .await;
    assert!(pdf.starts_with(b"%PDF-"));
    if let Some(text) = pdf_text(&pdf, "set_report_pdf") {
        assert!(text.contains("Kept by the filter"), "{text}");
        assert!(!text.contains("Left out by the filter"), "{text}");
    }
    let docx = download(&s, "/incidents/report.docx", DOCX, "incidents-report.docx").await;
    assert!(docx.starts_with(b"PK\x03\x04"));
    let r = s.get("/incidents/report.pdf?country=Atlantis").await;
    assert_eq!(r.status().as_u16(), 400);
}

#[tokio::test]
async fn visitors_without_an_account_get_no_reports() {
    let app = spawn_with(|s| s.public_read = true).await;
    let id = app.create(&incident("Public incident")).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let client = no_redirects();
    let html = client
        .get(app.url(&format!("/incidents/{id}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Public incident") && !html.contains("/report.pdf"));
    for path in [
        format!("/incidents/{id}/report.pdf"),
        format!("/incidents/{id}/report.docx"),
        "/incidents/report.pdf".to_owned(),
        "/incidents/report.docx".to_owned(),
    ] {
        let r = client.get(app.url(&path)).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 303, "{path} needs a session");
    }
    // The map is a browsing page: open to them.
    let r = client.get(app.url("/map")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
}
