//! What a report says, before it is set as PDF or DOCX: a title page's facts, then blocks.

use std::collections::BTreeMap;

use stix_model::disarm::Catalogue;
use stix_model::markings::Tlp;
use stix_model::CountryCode;

use super::{by_tactic, tlp_meaning, IncidentReport, ReportIncident, SetReport, MAX_LISTED};
use crate::maps;

/// A run of text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Span {
    pub(crate) text: String,
    pub(crate) link: Option<String>,
    pub(crate) bold: bool,
    pub(crate) muted: bool,
}

impl Span {
    pub(crate) fn plain(s: impl Into<String>) -> Self {
        Self {
            text: s.into(),
            link: None,
            bold: false,
            muted: false,
        }
    }
    fn link(s: impl Into<String>, url: Option<&str>) -> Self {
        Self {
            link: url.map(str::to_owned),
            ..Self::plain(s)
        }
    }
    fn bold(s: impl Into<String>) -> Self {
        Self {
            bold: true,
            ..Self::plain(s)
        }
    }
    fn muted(s: impl Into<String>) -> Self {
        Self {
            muted: true,
            ..Self::plain(s)
        }
    }
}

/// Cell or paragraph content.
pub(crate) type Text = Vec<Span>;

/// A block of a report.
#[derive(Debug, Clone)]
pub(crate) enum Block {
    /// A heading, level 1 or 2.
    Heading(u8, String),
    /// A paragraph.
    Para(Text),
    /// A small muted remark.
    Note(String),
    /// Name–value rows.
    Fields(Vec<(String, Text)>),
    /// A table: column widths (fractions of the text width), header, rows.
    Table {
        widths: Vec<f32>,
        header: Vec<String>,
        rows: Vec<Vec<Text>>,
    },
    /// A bulleted list.
    Bullets(Vec<Text>),
    /// A map, with its legend in words.
    Map { plan: maps::Plan, legend: String },
}

/// A report ready to set.
#[derive(Debug, Clone)]
pub(crate) struct Doc {
    /// `Incident report`, `Incidents report`.
    pub(crate) kind: &'static str,
    pub(crate) title: String,
    pub(crate) tlp: Tlp,
    pub(crate) organisation: String,
    pub(crate) date: String,
    /// The title page's facts.
    pub(crate) facts: Vec<(String, Text)>,
    pub(crate) blocks: Vec<Block>,
}

const NONE: &str = "—";

fn or_none(v: Option<&str>) -> Text {
    vec![Span::plain(v.filter(|s| !s.is_empty()).unwrap_or(NONE))]
}

fn list(v: &[String]) -> Text {
    or_none(Some(&v.join(", ")))
}

fn country(c: CountryCode) -> String {
    format!("{} ({c})", c.name())
}

fn percent(v: Option<i64>) -> Text {
    or_none(v.map(|n| format!("{n} / 100")).as_deref())
}

fn legend_words(plan: &maps::Plan, what: &str) -> String {
    let classes: Vec<String> = plan.legend.iter().map(|l| l.2.clone()).collect();
    format!("{what}: {}.", classes.join(" · "))
}

fn title_facts(kind: &str, tlp: Tlp, organisation: &str, date: &str) -> Vec<(String, Text)> {
    vec![
        ("Report".into(), vec![Span::plain(kind)]),
        (
            "Marking".into(),
            vec![
                Span::bold(tlp.name()),
                Span::plain(" — "),
                Span::plain(tlp_meaning(tlp)),
            ],
        ),
        ("Organisation".into(), or_none(Some(organisation))),
        ("Date".into(), or_none(Some(date))),
    ]
}

fn techniques_blocks(ids: &[String], catalogue: &Catalogue, blocks: &mut Vec<Block>) {
    let groups = by_tactic(ids, catalogue);
    if groups.is_empty() {
        blocks.push(Block::Note("No DISARM technique recorded.".into()));
    }
    for g in groups {
        let head = if g.tactic_id.is_empty() {
            g.tactic.clone()
        } else {
            format!("{} {}", g.tactic_id, g.tactic)
        };
        blocks.push(Block::Heading(2, head));
        blocks.push(Block::Bullets(
            g.techniques
                .iter()
                .map(|t| {
                    let mut text = vec![Span::link(
                        format!("{} {}", t.id, t.name).trim_end().to_owned(),
                        t.url.as_deref(),
                    )];
                    if let Some(u) = &t.url {
                        text.push(Span::muted(" — "));
                        text.push(Span {
                            muted: true,
                            ..Span::link(u.clone(), Some(u))
                        });
                    }
                    text
                })
                .collect(),
        ));
    }
}

/// The plan of an incident report.
pub(crate) fn incident(r: &IncidentReport) -> Doc {
    let i = &r.incident;
    let catalogue = Catalogue::builtin(r.meta.disarm);
    let mut facts = title_facts(
        "Incident report",
        r.meta.tlp,
        &r.meta.organisation,
        &r.meta.date,
    );
    facts.push(("Incident".into(), vec![Span::plain(i.id.clone())]));
    if let Some(u) = &i.url {
        facts.push(("Page".into(), vec![Span::link(u.clone(), Some(u))]));
    }
    facts.push((
        "DISARM".into(),
        vec![Span::plain(format!(
            "version {}",
            catalogue.version_label()
        ))],
    ));
    let actors: Vec<String> = i
        .actors
        .iter()
        .map(|a| {
            if a.uncertain {
                format!("{} (uncertain)", a.name)
            } else {
                a.name.clone()
            }
        })
        .collect();
    let targets: Vec<String> = i.target_countries.iter().map(|c| country(*c)).collect();
    let fields = vec![
        (
            "Name".into(),
            vec![Span::link(i.name.clone(), i.url.as_deref())],
        ),
        ("Identifier".into(), or_none(Some(&i.id))),
        ("First seen".into(), or_none(i.first_seen.as_deref())),
        ("Last seen".into(), or_none(i.last_seen.as_deref())),
        ("Created".into(), or_none(i.created.as_deref())),
        ("Last modified".into(), or_none(i.modified.as_deref())),
        (
            "Status".into(),
            vec![Span::plain(if i.revoked { "Revoked" } else { "Active" })],
        ),
        ("Actors".into(), list(&actors)),
        ("Target countries".into(), list(&targets)),
        (
            "Country of origin".into(),
            or_none(i.country_of_origin.map(country).as_deref()),
        ),
        ("Region".into(), or_none(i.region.as_deref())),
        ("Sub-region".into(), or_none(i.sub_region.as_deref())),
        ("Channels".into(), list(&i.channels)),
        ("Attribution sources".into(), list(&i.attribution_sources)),
        (
            "Attribution confidence".into(),
            percent(i.attribution_confidence),
        ),
        ("Confidence".into(), percent(i.confidence)),
        (
            "Cyber attack".into(),
            or_none(i.cyber_attack.map(|b| if b { "Yes" } else { "No" })),
        ),
        ("Labels".into(), list(&i.labels)),
        (
            "DISARM techniques".into(),
            vec![Span::plain(i.techniques.len().to_string())],
        ),
    ];
    let mut blocks = vec![
        Block::Heading(1, "The incident".into()),
        Block::Fields(fields),
    ];
    blocks.push(Block::Heading(1, "Description".into()));
    let paras: Vec<&str> = i
        .description
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if paras.is_empty() {
        blocks.push(Block::Note("No description recorded.".into()));
    }
    blocks.extend(paras.into_iter().map(|p| Block::Para(vec![Span::plain(p)])));
    if let Some(plan) = maps::incident(&i.target_countries, i.country_of_origin) {
        blocks.push(Block::Heading(1, "Where".into()));
        let legend = legend_words(&plan, "Colours");
        blocks.push(Block::Map { plan, legend });
    }
    blocks.push(Block::Heading(1, "DISARM techniques by tactic".into()));
    techniques_blocks(&i.techniques, catalogue, &mut blocks);
    blocks.push(Block::Heading(1, "Related incidents".into()));
    if r.related.is_empty() {
        blocks.push(Block::Note("No related incident found.".into()));
    } else {
        blocks.push(Block::Table {
            widths: vec![0.55, 0.45],
            header: vec!["Incident".into(), "Why related".into()],
            rows: r
                .related
                .iter()
                .map(|x| {
                    vec![
                        vec![Span::link(x.name.clone(), x.url.as_deref())],
                        vec![Span::plain(x.reason.clone())],
                    ]
                })
                .collect(),
        });
    }
    blocks.push(Block::Heading(1, "Sources".into()));
    if i.source_urls.is_empty() {
        blocks.push(Block::Note("No source recorded.".into()));
    } else {
        blocks.push(Block::Bullets(
            i.source_urls
                .iter()
                .map(|u| vec![Span::link(u.clone(), Some(u))])
                .collect(),
        ));
    }
    Doc {
        kind: "Incident report",
        title: i.name.clone(),
        tlp: r.meta.tlp,
        organisation: r.meta.organisation.clone(),
        date: r.meta.date.clone(),
        facts,
        blocks,
    }
}

/// Counts, most first, then by name.
fn top(counts: BTreeMap<String, u64>, n: usize) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(n);
    v
}

fn count_table(title: &str, what: &str, rows: Vec<(String, u64)>, blocks: &mut Vec<Block>) {
    if rows.is_empty() {
        return;
    }
    blocks.push(Block::Heading(2, title.into()));
    blocks.push(Block::Table {
        widths: vec![0.75, 0.25],
        header: vec![what.into(), "Incidents".into()],
        rows: rows
            .into_iter()
            .map(|(k, n)| vec![vec![Span::plain(k)], vec![Span::plain(n.to_string())]])
            .collect(),
    });
}

/// The plan of a report on a set of incidents.
pub(crate) fn set(r: &SetReport) -> Doc {
    let catalogue = Catalogue::builtin(r.meta.disarm);
    let n = r.incidents.len();
    let mut facts = title_facts(
        "Incidents report",
        r.meta.tlp,
        &r.meta.organisation,
        &r.meta.date,
    );
    facts.push((
        "Selection".into(),
        vec![Span::plain(format!(
            "{n} incident{}",
            if n == 1 { "" } else { "s" }
        ))],
    ));
    facts.push((
        "DISARM".into(),
        vec![Span::plain(format!(
            "version {}",
            catalogue.version_label()
        ))],
    ));

    let mut targets: BTreeMap<CountryCode, u64> = BTreeMap::new();
    let mut origins: BTreeMap<String, u64> = BTreeMap::new();
    let mut actors: BTreeMap<String, u64> = BTreeMap::new();
    let mut channels: BTreeMap<String, u64> = BTreeMap::new();
    let mut techniques: BTreeMap<String, u64> = BTreeMap::new();
    for i in &r.incidents {
        for c in &i.target_countries {
            *targets.entry(*c).or_default() += 1;
        }
        if let Some(c) = i.country_of_origin {
            *origins.entry(country(c)).or_default() += 1;
        }
        for a in &i.actors {
            *actors.entry(a.name.clone()).or_default() += 1;
        }
        for c in &i.channels {
            *channels.entry(c.clone()).or_default() += 1;
        }
        for t in &i.techniques {
            *techniques.entry(t.clone()).or_default() += 1;
        }
    }
    let mut dates: Vec<String> = r
        .incidents
        .iter()
        .map(ReportIncident::date)
        .filter(|d| !d.is_empty())
        .collect();
    dates.sort();

    let mut blocks = vec![Block::Heading(1, "Summary".into())];
    blocks.push(Block::Para(vec![Span::plain(
        match (dates.first(), dates.last()) {
            (Some(a), Some(b)) => format!(
                "{n} incident{}, dated from {a} to {b}.",
                if n == 1 { "" } else { "s" }
            ),
            _ => format!("{n} incident{}.", if n == 1 { "" } else { "s" }),
        },
    )]));
    blocks.push(Block::Heading(2, "Filters".into()));
    if r.filters.is_empty() {
        blocks.push(Block::Note("No filter: every incident is included.".into()));
    } else {
        blocks.push(Block::Fields(
            r.filters
                .iter()
                .map(|(k, v)| (k.clone(), vec![Span::plain(v.clone())]))
                .collect(),
        ));
    }
    blocks.push(Block::Heading(1, "Counts".into()));
    blocks.push(Block::Fields(vec![
        ("Incidents".into(), vec![Span::plain(n.to_string())]),
        (
            "Target countries".into(),
            vec![Span::plain(targets.len().to_string())],
        ),
        (
            "Countries of origin".into(),
            vec![Span::plain(origins.len().to_string())],
        ),
        ("Actors".into(), vec![Span::plain(actors.len().to_string())]),
        (
            "Channels".into(),
            vec![Span::plain(channels.len().to_string())],
        ),
        (
            "DISARM techniques".into(),
            vec![Span::plain(techniques.len().to_string())],
        ),
    ]));
    let target_rows = top(targets.iter().map(|(c, n)| (country(*c), *n)).collect(), 10);
    count_table("Top target countries", "Country", target_rows, &mut blocks);
    count_table(
        "Countries of origin",
        "Country",
        top(origins, 10),
        &mut blocks,
    );
    count_table("Top actors", "Actor", top(actors, 10), &mut blocks);
    count_table("Top channels", "Channel", top(channels, 10), &mut blocks);

    blocks.push(Block::Heading(1, "Map of target countries".into()));
    let plan = maps::choropleth(&targets, "Target countries");
    let legend = legend_words(&plan, "Incidents per country, by colour from light to dark");
    blocks.push(Block::Map { plan, legend });

    blocks.push(Block::Heading(1, "Top techniques by tactic".into()));
    let top_t = top(techniques, 20);
    let ids: Vec<String> = top_t.iter().map(|t| t.0.clone()).collect();
    let groups = by_tactic(&ids, catalogue);
    if groups.is_empty() {
        blocks.push(Block::Note("No DISARM technique recorded.".into()));
    } else {
        let count_of = |id: &str| top_t.iter().find(|t| t.0 == id).map_or(0, |t| t.1);
        let mut rows = Vec::new();
        for g in &groups {
            for (k, t) in g.techniques.iter().enumerate() {
                let tactic = if k > 0 {
                    String::new()
                } else if g.tactic_id.is_empty() {
                    g.tactic.clone()
                } else {
                    format!("{} {}", g.tactic_id, g.tactic)
                };
                rows.push(vec![
                    vec![Span::plain(tactic)],
                    vec![Span::link(
                        format!("{} {}", t.id, t.name).trim_end().to_owned(),
                        t.url.as_deref(),
                    )],
                    vec![Span::plain(count_of(&t.id).to_string())],
                ]);
            }
        }
        blocks.push(Block::Note(format!(
            "The {} techniques found in most incidents, under their tactics in DISARM matrix order.",
            ids.len()
        )));
        blocks.push(Block::Table {
            widths: vec![0.3, 0.55, 0.15],
            header: vec!["Tactic".into(), "Technique".into(), "Incidents".into()],
            rows,
        });
    }

    blocks.push(Block::Heading(1, "Incidents".into()));
    let mut list: Vec<&ReportIncident> = r.incidents.iter().collect();
    list.sort_by(|a, b| a.date().cmp(&b.date()).then_with(|| a.name.cmp(&b.name)));
    if list.is_empty() {
        blocks.push(Block::Note("No incident matches.".into()));
    } else {
        blocks.push(Block::Table {
            widths: vec![0.13, 0.47, 0.2, 0.2],
            header: vec![
                "Date".into(),
                "Incident".into(),
                "Targets".into(),
                "Actors".into(),
            ],
            rows: list
                .iter()
                .take(MAX_LISTED)
                .map(|i| {
                    vec![
                        vec![Span::plain(i.date())],
                        vec![Span::link(i.name.clone(), i.url.as_deref())],
                        vec![Span::plain(
                            i.target_countries
                                .iter()
                                .map(|c| c.name())
                                .collect::<Vec<_>>()
                                .join(", "),
                        )],
                        vec![Span::plain(
                            i.actors
                                .iter()
                                .map(|a| a.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", "),
                        )],
                    ]
                })
                .collect(),
        });
        if list.len() > MAX_LISTED {
            blocks.push(Block::Note(format!(
                "The first {MAX_LISTED} of {} incidents are listed; the counts, map and techniques above cover all of them.",
                list.len()
            )));
        }
    }
    Doc {
        kind: "Incidents report",
        title: r.title.clone(),
        tlp: r.meta.tlp,
        organisation: r.meta.organisation.clone(),
        date: r.meta.date.clone(),
        facts,
        blocks,
    }
}
