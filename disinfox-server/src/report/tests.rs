//! The reports read back by real readers: `pdftotext` (Debian's poppler-utils) for the PDF,
//! Python's `python-docx` (PyPI) for the DOCX. `scripts/test` installs both and sets
//! `DISINFOX_PYTHON`; under it a missing reader fails the test. Run otherwise (a bare
//! `cargo test`), a test whose reader is missing writes a `SKIPPED` line and returns.

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;

use stix_model::disarm::{Catalogue, DisarmVersion};
use stix_model::markings::Tlp;
use stix_model::CountryCode;

use super::*;

fn cc(s: &str) -> CountryCode {
    CountryCode::parse(s).unwrap()
}

fn meta(tlp: Tlp) -> ReportMeta {
    ReportMeta {
        tlp,
        organisation: "Observatoire <Européen> & Co".into(),
        date: "2025-06-01".into(),
        disarm: DisarmVersion::V1_7,
    }
}

pub(crate) fn sample() -> IncidentReport {
    IncidentReport {
        meta: meta(Tlp::Amber),
        incident: ReportIncident {
            id: "incident--6b3c1a9e-0f7e-4f43-9d55-2a4b1c9d0e11".into(),
            url: Some("https://disinfox.example.org/incidents/incident--6b3c1a9e".into()),
            name: "Фейкове відео про мобілізацію в Україні".into(),
            description: "Сфабриковане відео поширювалося в Telegram.\n\nA second paragraph, in English, \
                          long enough to wrap over more than one line of the report so that wrapping \
                          is exercised: the quick brown fox jumps over the lazy dog again and again."
                .into(),
            first_seen: Some("2024-03".into()),
            last_seen: Some("2024-04-15".into()),
            created: Some("2024-03-02T10:00:00.000Z".into()),
            modified: Some("2024-05-01T08:30:00.000Z".into()),
            revoked: false,
            actors: vec![
                ReportActor {
                    name: "Storm-1516".into(),
                    uncertain: false,
                },
                ReportActor {
                    name: "Doppelganger network".into(),
                    uncertain: true,
                },
            ],
            target_countries: vec![cc("UA"), cc("MD")],
            country_of_origin: Some(cc("RU")),
            region: Some("Europe".into()),
            sub_region: Some("Eastern Europe".into()),
            channels: vec!["Telegram".into(), "TikTok".into()],
            attribution_sources: vec!["researchers".into()],
            attribution_confidence: Some(70),
            confidence: Some(85),
            cyber_attack: Some(false),
            labels: vec!["deepfake".into(), "mobilisation".into()],
            source_urls: vec![
                "https://example.org/reports/deepfake-mobilisation".into(),
                "https://example.net/analysis?id=42&lang=uk".into(),
            ],
            techniques: vec!["T0086.001".into(), "T0002".into(), "T9999".into()],
        },
        related: vec![ReportRelated {
            name: "Forged letter about grain exports".into(),
            url: Some("https://disinfox.example.org/incidents/incident--2".into()),
            reason: "shares 1 actor and 2 techniques, 12 days apart".into(),
        }],
    }
}

fn demo_set(tlp: Tlp) -> SetReport {
    SetReport {
        meta: meta(tlp),
        title: "All demo incidents".into(),
        filters: vec![("Target country".into(), "any".into())],
        incidents: stix_model::sample::incidents(42, 240)
            .iter()
            .enumerate()
            .map(|(i, d)| ReportIncident {
                id: format!("incident--{i}"),
                url: Some(format!(
                    "https://disinfox.example.org/incidents/incident--{i}"
                )),
                ..ReportIncident::from_description(d)
            })
            .collect(),
    }
}

/// An external reader a test needs.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Reader {
    /// `pdftotext`, from Debian's poppler-utils.
    Pdftotext,
    /// Python with `python-docx` (PyPI).
    PythonDocx,
}

/// Whether `reader` is there. When it is not: a failure under `scripts/test` (which installs
/// the readers and sets `DISINFOX_PYTHON`), else a `SKIPPED` line naming `test`, and `false`.
pub(crate) fn have(reader: Reader, test: &str) -> bool {
    let (ok, what) = match reader {
        Reader::Pdftotext => (
            Command::new("pdftotext")
                .arg("-v")
                .output()
                .is_ok_and(|o| o.status.success()),
            "pdftotext (apt-get install poppler-utils)",
        ),
        Reader::PythonDocx => (
            Command::new(python())
                .args(["-c", "import docx"])
                .output()
                .is_ok_and(|o| o.status.success()),
            "python-docx (pip install python-docx, in DISINFOX_PYTHON's environment)",
        ),
    };
    if ok {
        return true;
    }
    let why = format!("{test}: {what} is not installed; bash scripts/test installs it");
    if std::env::var_os("DISINFOX_PYTHON").is_some_and(|p| !p.is_empty()) {
        panic!("{why} (DISINFOX_PYTHON is set: running under scripts/test, which installs it)");
    }
    // Straight to the process's standard error: libtest captures `eprintln!` of passing
    // tests, and a skip must be seen.
    let _ = writeln!(std::io::stderr().lock(), "SKIPPED {why}");
    false
}

pub(crate) fn temp(name: &str, bytes: &[u8]) -> PathBuf {
    let p = std::env::temp_dir().join(format!("disinfox-report-{}-{name}", std::process::id()));
    std::fs::write(&p, bytes).unwrap();
    p
}

/// The text of a PDF as `pdftotext` reads it, one string per page.
pub(crate) fn pdftotext(name: &str, pdf: &[u8]) -> Vec<String> {
    let p = temp(name, pdf);
    let out = Command::new("pdftotext")
        .args(["-enc", "UTF-8"])
        .arg(&p)
        .arg("-")
        .output()
        .expect("pdftotext (Debian's poppler-utils; scripts/test installs it)");
    let _ = std::fs::remove_file(&p);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut pages: Vec<String> = text.split('\u{c}').map(str::to_owned).collect();
    if pages.last().is_some_and(|p| p.trim().is_empty()) {
        pages.pop();
    }
    pages
}

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("DISINFOX_PYTHON").filter(|p| !p.is_empty()) {
        return p.into();
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    if venv.exists() {
        venv
    } else {
        "python3".into()
    }
}

/// What `python-docx` reads in a DOCX, as JSON.
fn python_docx(name: &str, docx: &[u8]) -> serde_json::Value {
    let p = temp(name, docx);
    let script = r#"
import json, sys, zipfile
import docx
from docx.opc.constants import RELATIONSHIP_TYPE as RT
zipfile.ZipFile(sys.argv[1]).testzip()
d = docx.Document(sys.argv[1])
def para(p):
    return {"text": p.text, "style": p.style.name,
            "runs": [{"text": r.text, "bold": r.bold,
                      "colour": str(r.font.color.rgb) if r.font.color and r.font.color.type else None,
                      "size": r.font.size.pt if r.font.size else None,
                      "shading": "w:fill=\"000000\"" in r._r.xml} for r in p.runs]}
s = d.sections[0]
print(json.dumps({
    "paragraphs": [para(p) for p in d.paragraphs],
    "tables": [[[c.text for c in row.cells] for row in t.rows] for t in d.tables],
    "header": [para(p) for p in s.header.paragraphs],
    "footer": [para(p) for p in s.footer.paragraphs],
    "links": sorted(r.target_ref for r in d.part.rels.values() if r.reltype == RT.HYPERLINK),
    "pictures": len(d.inline_shapes),
    "title": d.core_properties.title,
    "author": d.core_properties.author,
    "page_width_cm": round(s.page_width.cm, 1),
}, ensure_ascii=False))
"#;
    let out = Command::new(python())
        .arg("-c")
        .arg(script)
        .arg(&p)
        .output()
        .expect("Python (DISINFOX_PYTHON, ./.venv from scripts/test, or python3)");
    let _ = std::fs::remove_file(&p);
    assert!(
        out.status.success(),
        "python-docx could not read the DOCX (pip install python-docx; scripts/test does): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn all_text(v: &serde_json::Value) -> String {
    let mut s = String::new();
    for p in v["paragraphs"].as_array().unwrap() {
        s.push_str(p["text"].as_str().unwrap());
        s.push('\n');
    }
    for t in v["tables"].as_array().unwrap() {
        for row in t.as_array().unwrap() {
            for c in row.as_array().unwrap() {
                s.push_str(c.as_str().unwrap());
                s.push('\t');
            }
            s.push('\n');
        }
    }
    s
}

/// URIs of the link annotations of a PDF, read with lopdf.
fn pdf_links(pdf: &[u8]) -> Vec<String> {
    let doc = lopdf::Document::load_mem(pdf).unwrap();
    let mut out = Vec::new();
    for (_, page) in doc.get_pages() {
        for a in doc.get_page_annotations(page).unwrap_or_default() {
            if let Ok(action) = a.get(b"A").and_then(|o| o.as_dict()) {
                if let Ok(uri) = action.get(b"URI").and_then(|o| o.as_str()) {
                    out.push(String::from_utf8_lossy(uri).into_owned());
                }
            }
        }
    }
    out
}

fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn techniques_group_by_tactic_in_matrix_order() {
    let cat = Catalogue::builtin(DisarmVersion::V1_7);
    let groups = by_tactic(
        &[
            "T0086.001".into(),
            "T0002".into(),
            "T9999".into(),
            "T0049.003".into(),
        ],
        cat,
    );
    let ids: Vec<&str> = groups.iter().map(|g| g.tactic_id.as_str()).collect();
    assert_eq!(ids, vec!["TA02", "TA06", "TA17", ""]);
    assert_eq!(groups[1].techniques[0].id, "T0086.001");
    assert_eq!(groups[1].techniques[0].name, "Develop Memes");
    assert!(groups[1].techniques[0]
        .url
        .as_deref()
        .unwrap()
        .starts_with("https://"));
    assert_eq!(groups[3].tactic, "Not in DISARM 1.7");
    assert_eq!(groups[3].techniques[0].id, "T9999");
    assert!(by_tactic(&[], cat).is_empty());
}

#[test]
fn tlp_labels_have_the_tlp_2_colours() {
    assert_eq!(tlp_colour(Tlp::Red), (255, 43, 43));
    assert_eq!(tlp_colour(Tlp::Amber), (255, 192, 0));
    assert_eq!(tlp_colour(Tlp::AmberStrict), (255, 192, 0));
    assert_eq!(tlp_colour(Tlp::Green), (51, 255, 0));
    assert_eq!(tlp_colour(Tlp::Clear), (255, 255, 255));
}

#[test]
fn an_incident_pdf_reads_back_with_every_field() {
    if !have(
        Reader::Pdftotext,
        "an_incident_pdf_reads_back_with_every_field",
    ) {
        return;
    }
    let r = sample();
    let pdf = r.pdf().unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    let pages = pdftotext("incident.pdf", &pdf);
    assert!(pages.len() >= 2, "a title page and the report");
    let text = squash(&pages.join("\n"));
    // The title page.
    for s in [
        "INCIDENT REPORT",
        "Фейкове відео про мобілізацію в Україні",
        "Observatoire <Européen> & Co",
        "2025-06-01",
        "TLP:AMBER — Limited disclosure",
        "version 1.7",
    ] {
        assert!(
            squash(&pages[0]).contains(s),
            "title page: {s}\n{}",
            pages[0]
        );
    }
    // Every field of the incident, with its value.
    for s in [
        "Identifier incident--6b3c1a9e-0f7e-4f43-9d55-2a4b1c9d0e11",
        "First seen 2024-03",
        "Last seen 2024-04-15",
        "Created 2024-03-02T10:00:00.000Z",
        "Last modified 2024-05-01T08:30:00.000Z",
        "Status Active",
        "Actors Storm-1516, Doppelganger network (uncertain)",
        "Target countries Ukraine (UA), Moldova (MD)",
        "Country of origin Russian Federation (RU)",
        "Region Europe",
        "Sub-region Eastern Europe",
        "Channels Telegram, TikTok",
        "Attribution sources researchers",
        "Attribution confidence 70 / 100",
        "Confidence 85 / 100",
        "Cyber attack No",
        "Labels deepfake, mobilisation",
        "DISARM techniques 3",
        "Сфабриковане відео поширювалося в Telegram.",
        "the quick brown fox jumps over the lazy dog again and again.",
        // Techniques by tactic, with DISARM links.
        "TA02 Plan Objectives",
        "T0002 Facilitate State Propaganda",
        "TA06 Develop Content",
        "T0086.001 Develop Memes",
        "Not in DISARM 1.7",
        "T9999",
        // Related incidents and sources.
        "Forged letter about grain exports shares 1 actor and 2 techniques, 12 days apart",
        "https://example.org/reports/deepfake-mobilisation",
        "https://example.net/analysis?id=42&lang=uk",
        // The map's legend.
        "Target",
        "Origin",
    ] {
        assert!(text.contains(s), "missing {s:?} in\n{text}");
    }
    // Links: DISARM pages, sources, the incident's and the related incident's pages.
    let links = pdf_links(&pdf);
    let t0002 = Catalogue::builtin(DisarmVersion::V1_7)
        .technique("T0002")
        .and_then(|t| t.url.clone())
        .unwrap();
    for l in [
        t0002.as_str(),
        "https://example.net/analysis?id=42&lang=uk",
        "https://disinfox.example.org/incidents/incident--2",
        "https://disinfox.example.org/incidents/incident--6b3c1a9e",
    ] {
        assert!(links.iter().any(|x| x == l), "link {l} in {links:?}");
    }
}

#[test]
fn every_pdf_page_carries_the_tlp_label_in_header_and_footer() {
    if !have(
        Reader::Pdftotext,
        "every_pdf_page_carries_the_tlp_label_in_header_and_footer",
    ) {
        return;
    }
    for tlp in [
        Tlp::Clear,
        Tlp::Green,
        Tlp::Amber,
        Tlp::AmberStrict,
        Tlp::Red,
    ] {
        let mut r = sample();
        r.meta.tlp = tlp;
        let pdf = r.pdf().unwrap();
        let pages = pdftotext("tlp.pdf", &pdf);
        let total = pages.len();
        for (i, p) in pages.iter().enumerate() {
            // `TLP:AMBER` is inside `TLP:AMBER+STRICT`: count whole labels.
            let n = p.split_whitespace().filter(|w| *w == tlp.name()).count();
            let expected = if i == 0 { 3 } else { 2 };
            assert_eq!(
                n,
                expected,
                "{} on page {} of {total}:\n{p}",
                tlp.name(),
                i + 1
            );
            assert!(p.contains(&format!("Page {} of {total}", i + 1)));
        }
        // The label's colour on black, in every page's content.
        let (r8, g8, b8) = tlp_colour(tlp);
        let doc = lopdf::Document::load_mem(&pdf).unwrap();
        for (_, page) in doc.get_pages() {
            let content = lopdf::content::Content::decode(&doc.get_page_content(page)).unwrap();
            let ops = &content.operations;
            let colour_at = |i: usize| -> Vec<f32> {
                ops[i]
                    .operands
                    .iter()
                    .map(|o| o.as_float().unwrap())
                    .collect()
            };
            let labels = ops
                .iter()
                .enumerate()
                .filter(|(_, o)| o.operator == "rg")
                .filter(|(i, _)| {
                    let c = colour_at(*i);
                    (c[0] - f32::from(r8) / 255.0).abs() < 0.01
                        && (c[1] - f32::from(g8) / 255.0).abs() < 0.01
                        && (c[2] - f32::from(b8) / 255.0).abs() < 0.01
                })
                .count();
            let black_boxes = ops
                .windows(3)
                .filter(|w| {
                    w[0].operator == "rg"
                        && w[0].operands.iter().all(|o| o.as_float().unwrap() == 0.0)
                        && w[1].operator == "re"
                        && w[2].operator == "f"
                })
                .count();
            assert!(labels >= 2, "{}: {labels} label colours", tlp.name());
            assert!(
                black_boxes >= 2,
                "{}: {black_boxes} black boxes",
                tlp.name()
            );
        }
    }
}

#[test]
fn an_incident_docx_reads_back_with_python_docx() {
    if !have(
        Reader::PythonDocx,
        "an_incident_docx_reads_back_with_python_docx",
    ) {
        return;
    }
    let r = sample();
    let v = python_docx("incident.docx", &r.docx().unwrap());
    let text = squash(&all_text(&v));
    for s in [
        "Incident report",
        "Фейкове відео про мобілізацію в Україні",
        "Observatoire <Européen> & Co",
        "TLP:AMBER — Limited disclosure",
        "Status Active",
        "Actors Storm-1516, Doppelganger network (uncertain)",
        "Country of origin Russian Federation (RU)",
        "Attribution confidence 70 / 100",
        "Cyber attack No",
        "Сфабриковане відео поширювалося в Telegram.",
        "TA06 Develop Content",
        "T0086.001 Develop Memes",
        "Forged letter about grain exports shares 1 actor and 2 techniques, 12 days apart",
        "https://example.net/analysis?id=42&lang=uk",
    ] {
        assert!(text.contains(s), "missing {s:?} in\n{text}");
    }
    assert_eq!(v["title"], "Фейкове відео про мобілізацію в Україні");
    assert_eq!(v["author"], "Observatoire <Européen> & Co");
    assert_eq!(v["page_width_cm"], 21.0);
    assert_eq!(v["pictures"], 1, "the map");
    // The TLP label at the right of the header and the footer: bold 12 pt, amber on black.
    for part in ["header", "footer"] {
        let runs = v[part][0]["runs"].as_array().unwrap();
        let label = runs.last().unwrap();
        assert_eq!(
            label["text"].as_str().unwrap().trim_matches('\u{a0}'),
            "TLP:AMBER",
            "{part}"
        );
        assert_eq!(label["bold"], true);
        assert_eq!(label["size"], 12.0);
        assert_eq!(label["colour"], "FFC000");
        assert_eq!(label["shading"], true);
    }
    assert!(v["header"][0]["text"]
        .as_str()
        .unwrap()
        .starts_with("Observatoire <Européen> & Co · Incident report"));
    let links: Vec<&str> = v["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    let t0002 = Catalogue::builtin(DisarmVersion::V1_7)
        .technique("T0002")
        .and_then(|t| t.url.clone())
        .unwrap();
    for l in [
        t0002.as_str(),
        "https://example.net/analysis?id=42&lang=uk",
        "https://disinfox.example.org/incidents/incident--2",
    ] {
        assert!(links.contains(&l), "{l} in {links:?}");
    }
    let headings: Vec<&str> = v["paragraphs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["style"] == "Heading 1")
        .map(|p| p["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        headings,
        vec![
            "The incident",
            "Description",
            "Where",
            "DISARM techniques by tactic",
            "Related incidents",
            "Sources"
        ]
    );
}

#[test]
fn a_set_report_of_the_demo_incidents_reads_back() {
    if !have(
        Reader::Pdftotext,
        "a_set_report_of_the_demo_incidents_reads_back",
    ) || !have(
        Reader::PythonDocx,
        "a_set_report_of_the_demo_incidents_reads_back",
    ) {
        return;
    }
    let r = demo_set(Tlp::Green);
    let pdf = r.pdf().unwrap();
    let pages = pdftotext("set.pdf", &pdf);
    let text = squash(&pages.join("\n"));
    for s in [
        "INCIDENTS REPORT",
        "All demo incidents",
        "Selection 240 incidents",
        "240 incidents, dated from 2022-01 to 2024-12.",
        "Target country any",
        "Incidents 240",
        "Top target countries",
        "Top actors",
        "Top channels",
        "Countries of origin",
        "Map of target countries",
        "Top techniques by tactic",
    ] {
        assert!(text.contains(s), "missing {s:?}");
    }
    // Every incident is listed, with a link to its page.
    for d in stix_model::sample::incidents(42, 240).iter().step_by(37) {
        assert!(text.contains(&squash(&d.name)), "{}", d.name);
    }
    let links = pdf_links(&pdf);
    assert!(links.contains(&"https://disinfox.example.org/incidents/incident--239".to_owned()));
    assert!(pages.len() > 5, "{} pages", pages.len());
    for (i, p) in pages.iter().enumerate() {
        assert!(
            p.split_whitespace().filter(|w| *w == "TLP:GREEN").count() >= 2,
            "page {}",
            i + 1
        );
    }
    let v = python_docx("set.docx", &r.docx().unwrap());
    let text = squash(&all_text(&v));
    assert!(text.contains("240 incidents, dated from 2022-01 to 2024-12."));
    assert_eq!(v["pictures"], 1);
    let list = v["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t[0][1] == "Incident")
        .expect("the incident list");
    assert_eq!(
        list.as_array().unwrap().len(),
        241,
        "header and 240 incidents"
    );
    assert_eq!(
        v["footer"][0]["runs"].as_array().unwrap().last().unwrap()["colour"],
        "33FF00"
    );
}

#[test]
fn a_bare_incident_and_an_empty_set_still_make_reports() {
    if !have(
        Reader::Pdftotext,
        "a_bare_incident_and_an_empty_set_still_make_reports",
    ) || !have(
        Reader::PythonDocx,
        "a_bare_incident_and_an_empty_set_still_make_reports",
    ) {
        return;
    }
    let r = IncidentReport {
        meta: meta(Tlp::Red),
        incident: ReportIncident {
            id: "incident--x".into(),
            name: "Bare".into(),
            ..Default::default()
        },
        related: Vec::new(),
    };
    let text = squash(&pdftotext("bare.pdf", &r.pdf().unwrap()).join("\n"));
    for s in [
        "First seen —",
        "Cyber attack —",
        "No description recorded.",
        "No DISARM technique recorded.",
        "No related incident found.",
        "No source recorded.",
    ] {
        assert!(text.contains(s), "{s}");
    }
    assert!(!text.contains("Where"), "no map without countries");
    let empty = SetReport {
        meta: meta(Tlp::Clear),
        title: String::new(),
        filters: Vec::new(),
        incidents: Vec::new(),
    };
    let text = squash(&pdftotext("empty.pdf", &empty.pdf().unwrap()).join("\n"));
    assert!(text.contains("Untitled"));
    assert!(text.contains("No filter: every incident is included."));
    assert!(text.contains("No incident matches."));
    let v = python_docx("empty.docx", &empty.docx().unwrap());
    assert!(all_text(&v).contains("No incident matches."));
}

#[test]
fn reports_are_the_same_bytes_every_time() {
    let r = sample();
    assert_eq!(r.pdf().unwrap(), r.pdf().unwrap());
    assert_eq!(r.docx().unwrap(), r.docx().unwrap());
    let s = demo_set(Tlp::Amber);
    assert_eq!(s.docx().unwrap(), s.docx().unwrap());
}

#[test]
fn text_outside_the_font_prints_as_a_mark_not_a_gap() {
    if !have(
        Reader::Pdftotext,
        "text_outside_the_font_prints_as_a_mark_not_a_gap",
    ) {
        return;
    }
    let mut r = sample();
    r.incident.name = "中文 report \u{7} with a bell".into();
    let text = squash(&pdftotext("cjk.pdf", &r.pdf().unwrap()).join("\n"));
    assert!(text.contains("?? report with a bell"), "{text}");
}

/// The "Where" heading is never left at the foot of a page with its map on the next: whatever
/// the length of the text before it, the heading's page also holds the map's legend.
#[test]
fn the_map_heading_stays_with_its_map() {
    if !have(Reader::Pdftotext, "the_map_heading_stays_with_its_map") {
        return;
    }
    let paragraph = "A paragraph long enough to wrap over more than one line of the report, so \
                     that each one moves what follows it down the page by a few lines of text.";
    for n in 0..14 {
        let mut r = sample();
        r.incident.description = vec![paragraph; n].join("\n\n");
        let pages = pdftotext(&format!("where-{n}.pdf"), &r.pdf().unwrap());
        let with_heading: Vec<&String> = pages
            .iter()
            .filter(|p| p.lines().any(|l| l.trim() == "Where"))
            .collect();
        assert_eq!(with_heading.len(), 1, "{n} paragraphs: {pages:?}");
        assert!(
            with_heading[0].contains("Colours"),
            "{n} paragraphs: the heading's page has no map legend: {:?}",
            with_heading[0]
        );
    }
}
