//! The intake on PDFs the tests make: reports written by `crate::report` (embedded
//! TrueType subsets, `Identity-H` with a `ToUnicode` map), plain PDFs of the common kind
//! (a standard Type 1 font, WinAnsi text, written below byte by byte), a scanned-looking one
//! (an image, no text), an encrypted one, and broken bytes.

use stix_model::disarm::{Catalogue, DisarmVersion};
use stix_model::markings::Tlp;

use super::sample_pdfs::{encrypted_pdf, image_only_pdf, plain_pdf};
use super::*;
use crate::report::{IncidentReport, ReportIncident, ReportMeta};

fn known_actors() -> Vec<String> {
    vec![
        "Storm-1516".into(),
        "Doppelganger".into(),
        "Internet Research Agency".into(),
    ]
}

fn known(actors: &[String]) -> Known<'_> {
    Known {
        catalogue: Catalogue::builtin(DisarmVersion::V1_7),
        actors,
        channels: DEFAULT_CHANNELS,
    }
}

const REPORT_TEXT: &[&str] = &[
    "Summary of the operation.",
    "Operators linked to Storm-1516 built cloned news sites (T0015 and T0086.001) and",
    "pushed them on Telegram and X to audiences in Moldova and Russia.",
    "The network used Develop Memes at scale; see https://example.org/reports/cloned-sites.",
    "Mirrors sat on rrn.media and news-front.info (see annex.pdf, contact press@example.com).",
    "A follow-up (https://en.wikipedia.org/wiki/Doppelganger_(disinformation)) names",
    "Doppelganger too. The figures for the United States of America are in T9999.",
];

fn find<'a>(ps: &'a [Proposal], kind: ProposalKind, value: &str) -> Option<&'a Proposal> {
    ps.iter().find(|p| p.kind == kind && p.value == value)
}

#[test]
fn a_plain_pdf_gives_its_text_and_proposals_with_their_sentences() {
    let pdf = plain_pdf(&[REPORT_TEXT]);
    let actors = known_actors();
    let r = read_pdf(&pdf, &known(&actors), &Limits::default()).unwrap();
    assert_eq!((r.pages, r.pages_read), (1, 1));
    assert!(r.notes.is_empty(), "{:?}", r.notes);
    // Lines are joined into running text.
    assert!(
        r.text
            .contains("(T0015 and T0086.001) and pushed them on Telegram"),
        "{}",
        r.text
    );
    let ps = &r.proposals;
    let t = find(ps, ProposalKind::Technique, "T0086.001").unwrap();
    assert_eq!(t.confidence, Confidence::High);
    assert_eq!(t.label, "T0086.001 Develop Memes");
    // Found by id and by name: two occurrences, the id's sentence and confidence.
    assert_eq!(t.occurrences, 2);
    assert!(
        t.sentence.starts_with("Operators linked to Storm-1516")
            && t.sentence.ends_with("audiences in Moldova and Russia."),
        "{}",
        t.sentence
    );
    assert_eq!(
        find(ps, ProposalKind::Technique, "T0015")
            .unwrap()
            .confidence,
        Confidence::High
    );
    assert!(
        find(ps, ProposalKind::Technique, "T9999").is_none(),
        "not in DISARM"
    );
    let url = find(
        ps,
        ProposalKind::SourceUrl,
        "https://example.org/reports/cloned-sites",
    )
    .unwrap();
    assert_eq!(url.confidence, Confidence::High);
    assert!(url.sentence.starts_with("The network used Develop Memes"));
    // A parenthesis that belongs to the URL stays; the one that closes the aside goes.
    assert!(find(
        ps,
        ProposalKind::SourceUrl,
        "https://en.wikipedia.org/wiki/Doppelganger_(disinformation)"
    )
    .is_some());
    for (d, c) in [
        ("example.org", Confidence::High),
        ("en.wikipedia.org", Confidence::High),
        ("rrn.media", Confidence::Medium),
        ("news-front.info", Confidence::Medium),
    ] {
        assert_eq!(
            find(ps, ProposalKind::Domain, d).map(|p| p.confidence),
            Some(c),
            "{d}"
        );
    }
    assert!(find(ps, ProposalKind::Domain, "annex.pdf").is_none());
    assert!(
        find(ps, ProposalKind::Domain, "example.com").is_none(),
        "e-mail address"
    );
    for (code, name) in [
        ("MD", "Moldova"),
        ("RU", "Russian Federation"),
        ("US", "United States"),
    ] {
        let p = find(ps, ProposalKind::Country, code).unwrap_or_else(|| panic!("{code}"));
        assert_eq!(p.label, name);
    }
    assert!(
        find(ps, ProposalKind::Country, "AS").is_none(),
        "“American” is no country"
    );
    for a in ["Storm-1516", "Doppelganger"] {
        assert!(find(ps, ProposalKind::Actor, a).is_some(), "{a}");
    }
    assert!(find(ps, ProposalKind::Actor, "Internet Research Agency").is_none());
    assert_eq!(
        find(ps, ProposalKind::Channel, "Telegram")
            .unwrap()
            .confidence,
        Confidence::Medium
    );
    assert_eq!(
        find(ps, ProposalKind::Channel, "X").unwrap().confidence,
        Confidence::Low
    );
    // Ordered by kind.
    let kinds: Vec<ProposalKind> = ps.iter().map(|p| p.kind).collect();
    let mut sorted = kinds.clone();
    sorted.sort();
    assert_eq!(kinds, sorted);
}

#[test]
fn a_report_written_by_the_server_reads_back() {
    // Embedded font subsets with Identity-H encoding: the text comes back through the
    // ToUnicode map, Cyrillic included.
    let report = IncidentReport {
        meta: ReportMeta {
            tlp: Tlp::Green,
            organisation: "Observatoire".into(),
            date: "2025-06-01".into(),
            disarm: DisarmVersion::V1_7,
        },
        incident: ReportIncident {
            id: "incident--1".into(),
            name: "Фейкове відео про мобілізацію".into(),
            description: REPORT_TEXT.join(" "),
            ..Default::default()
        },
        related: Vec::new(),
    };
    let pdf = report.pdf().unwrap();
    let actors = known_actors();
    let r = read_pdf(&pdf, &known(&actors), &Limits::default()).unwrap();
    assert!(r.pages >= 2);
    assert!(
        r.text.contains("Фейкове відео про мобілізацію"),
        "{}",
        r.text
    );
    assert!(r.text.contains("TLP:GREEN"));
    let ps = &r.proposals;
    for (kind, v) in [
        (ProposalKind::Technique, "T0086.001"),
        (ProposalKind::Technique, "T0015"),
        (
            ProposalKind::SourceUrl,
            "https://example.org/reports/cloned-sites",
        ),
        (ProposalKind::Domain, "rrn.media"),
        (ProposalKind::Country, "MD"),
        (ProposalKind::Country, "RU"),
        (ProposalKind::Actor, "Storm-1516"),
        (ProposalKind::Channel, "Telegram"),
    ] {
        assert!(find(ps, kind, v).is_some(), "{kind:?} {v} in {ps:#?}");
    }
}

#[test]
fn bad_files_get_a_clear_error() {
    let actors = known_actors();
    let k = known(&actors);
    let limits = Limits::default();
    // Scanned: an image and no text.
    let e = read_pdf(&image_only_pdf(), &k, &limits).unwrap_err();
    assert_eq!(e, IntakeError::NoText { pages: 1 });
    assert!(e.to_string().contains("OCR"), "{e}");
    // Encrypted.
    let e = read_pdf(&encrypted_pdf(), &k, &limits).unwrap_err();
    assert_eq!(e, IntakeError::Encrypted, "{e}");
    assert!(e.to_string().contains("password"));
    // Not a PDF at all.
    let e = read_pdf(b"PK\x03\x04 a zip file", &k, &limits).unwrap_err();
    assert_eq!(e, IntakeError::NotPdf);
    assert_eq!(read_pdf(b"", &k, &limits).unwrap_err(), IntakeError::NotPdf);
    // Malformed: a header and noise.
    let mut noise = b"%PDF-1.7\n".to_vec();
    let mut x: u32 = 12345;
    for _ in 0..5000 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        noise.push((x >> 16) as u8);
    }
    let e = read_pdf(&noise, &k, &limits).unwrap_err();
    assert!(matches!(e, IntakeError::Malformed(_)), "{e:?}");
    assert!(e.to_string().starts_with("The PDF could not be read"));
    // Oversized: refused before parsing, with both sizes in words.
    let small = Limits {
        max_bytes: 1024 * 1024,
        ..limits
    };
    let big = vec![b' '; 3 * 1024 * 1024 / 2];
    let e = read_pdf(&big, &k, &small).unwrap_err();
    assert_eq!(
        e,
        IntakeError::TooLarge {
            size: big.len(),
            max: 1024 * 1024
        }
    );
    assert_eq!(
        e.to_string(),
        "The file is 1.5 MB; the limit is 1 MB. Upload a smaller PDF, or the pages that matter."
    );
    // Too many objects, counted before parsing.
    let few = Limits {
        max_objects: 3,
        ..limits
    };
    let e = read_pdf(&plain_pdf(&[REPORT_TEXT]), &k, &few).unwrap_err();
    assert_eq!(e, IntakeError::TooComplex { max: 3 });
}

#[test]
fn a_damaged_file_never_panics() {
    let actors = known_actors();
    let k = known(&actors);
    let good = plain_pdf(&[REPORT_TEXT, REPORT_TEXT]);
    // Every cut of the file, and every byte flipped in places: an answer each time, a
    // reading or an error, and no panic.
    for cut in (0..good.len()).step_by(97) {
        let _ = read_pdf(&good[..cut], &k, &Limits::default());
    }
    for at in (0..good.len()).step_by(53) {
        let mut bad = good.clone();
        bad[at] ^= 0x5a;
        let _ = read_pdf(&bad, &k, &Limits::default());
    }
}

#[test]
fn only_the_first_pages_and_characters_are_read() {
    let actors = known_actors();
    let k = known(&actors);
    let page: &[&str] = &["Telegram channels in Moldova (T0015)."];
    let pdf = plain_pdf(&[page, page, page, page, page]);
    let limits = Limits {
        max_pages: 2,
        ..Limits::default()
    };
    let r = read_pdf(&pdf, &k, &limits).unwrap();
    assert_eq!((r.pages, r.pages_read), (5, 2));
    assert_eq!(
        r.notes,
        vec!["Only the first 2 of 5 pages were read.".to_owned()]
    );
    assert_eq!(
        find(&r.proposals, ProposalKind::Technique, "T0015")
            .unwrap()
            .occurrences,
        2
    );
    let limits = Limits {
        max_text_chars: 50,
        ..Limits::default()
    };
    let r = read_pdf(&pdf, &k, &limits).unwrap();
    assert_eq!(r.text.chars().count(), 50);
    assert!(
        r.notes[0].starts_with("Only the first 50 characters"),
        "{:?}",
        r.notes
    );
    let limits = Limits {
        max_proposals_per_kind: 1,
        ..Limits::default()
    };
    let r = read_pdf(&plain_pdf(&[REPORT_TEXT]), &k, &limits).unwrap();
    assert_eq!(
        r.proposals
            .iter()
            .filter(|p| p.kind == ProposalKind::Country)
            .count(),
        1
    );
}

#[test]
fn sentences_lines_and_quotes() {
    assert_eq!(
        propose::sentences("One. Two! \"Three?\" 4 items. e.g. lower stays.\n\nNew paragraph"),
        vec![
            "One.",
            "Two!",
            "\"Three?\"",
            "4 items. e.g. lower stays.",
            "New paragraph"
        ]
    );
    assert_eq!(
        pdf::join_lines("A disinfor-\nmation campaign,\npro-\nKremlin\n\n  next   para"),
        "A disinformation campaign, pro- Kremlin\n\nnext para"
    );
    // A long sentence is quoted around the match.
    let long = format!("{} T0015 {}", "word ".repeat(200), "more ".repeat(200));
    let actors = known_actors();
    let ps = propose(&long, &known(&actors), 10);
    let s = &find(&ps, ProposalKind::Technique, "T0015")
        .unwrap()
        .sentence;
    assert!(
        s.chars().count() <= propose::MAX_SENTENCE_CHARS,
        "{}",
        s.len()
    );
    assert!(s.starts_with('…') && s.ends_with('…') && s.contains("T0015"));
}

#[test]
fn ordinary_words_file_names_and_code_are_not_proposed() {
    let actors = known_actors();
    let text = "In any medium, threads of a scam were posted. Open data.tar.gz, pkix.asn and \
                Example.Group.id in report.pdf. Posts on Medium and Threads mirrored news.example.ru \
                and example.de, not example.invalid.";
    let ps = propose(text, &known(&actors), 100);
    let values = |kind| -> Vec<&str> {
        ps.iter()
            .filter(|p| p.kind == kind)
            .map(|p| p.value.as_str())
            .collect()
    };
    assert_eq!(values(ProposalKind::Channel), vec!["Medium", "Threads"]);
    assert!(ps
        .iter()
        .filter(|p| p.kind == ProposalKind::Channel)
        .all(|p| p.sentence.starts_with("Posts on Medium")));
    assert_eq!(
        values(ProposalKind::Technique),
        Vec::<&str>::new(),
        "“scam” alone"
    );
    assert_eq!(
        values(ProposalKind::Domain),
        vec!["news.example.ru", "example.de"]
    );
}

#[test]
fn short_country_names_match_only_in_capitals() {
    let actors = known_actors();
    let ps = propose(
        "Pages in the UK and the USA. A uk mirror, and usa in lower case.",
        &known(&actors),
        10,
    );
    let countries: Vec<(&str, &str)> = ps
        .iter()
        .filter(|p| p.kind == ProposalKind::Country)
        .map(|p| (p.value.as_str(), p.sentence.as_str()))
        .collect();
    assert_eq!(
        countries,
        vec![
            ("GB", "Pages in the UK and the USA."),
            ("US", "Pages in the UK and the USA.")
        ]
    );
    assert!(ps.iter().all(|p| p.occurrences == 1));
}
