//! Reports as PDF and DOCX, written in Rust with no office suite or browser: one incident
//! ([`IncidentReport`]) or a filtered set of incidents ([`SetReport`]).
//!
//! Every page carries the TLP 2.0 label in its header and footer, right-aligned, in capitals,
//! 12 pt, in the label's colour on black (FIRST's TLP 2.0 standard; `docs/reports.md` gives
//! the colours and the source). The title page names the author organisation and the date.
//! Text is set in DejaVu Sans, embedded (subset) in each PDF, so Cyrillic, Greek and most
//! Latin-script text prints as written.
//!
//! Both formats come from one plan of the document (the `content` module): headings, paragraphs,
//! tables, lists and maps, so a PDF and a DOCX of the same report say the same thing.
//! Inputs are plain data the pages fill from the store; the output is deterministic (the
//! date is an input, never the clock).

mod content;
mod docx;
mod font;
mod pdf;
mod zip;

use stix_model::disarm::{Catalogue, DisarmVersion};
use stix_model::incident::IncidentDescription;
use stix_model::markings::Tlp;
use stix_model::CountryCode;

/// The TLP 2.0 colours of a label, as FIRST's standard gives them in RGB: the text colour;
/// the background is always black.
pub fn tlp_colour(tlp: Tlp) -> (u8, u8, u8) {
    match tlp {
        Tlp::Red => (0xff, 0x2b, 0x2b),
        Tlp::Amber | Tlp::AmberStrict => (0xff, 0xc0, 0x00),
        Tlp::Green => (0x33, 0xff, 0x00),
        _ => (0xff, 0xff, 0xff),
    }
}

/// What a label lets recipients do, in short (after FIRST's TLP 2.0 definitions).
pub fn tlp_meaning(tlp: Tlp) -> &'static str {
    match tlp {
        Tlp::Red => "For the eyes and ears of individual recipients only, no further disclosure.",
        Tlp::AmberStrict => {
            "Limited disclosure: recipients may share it only within their own organisation, on a need-to-know basis."
        }
        Tlp::Amber => {
            "Limited disclosure: recipients may share it within their organisation and with its clients, on a need-to-know basis."
        }
        Tlp::Green => {
            "Limited disclosure: recipients may share it within their community, not through publicly accessible channels."
        }
        _ => "Disclosure is not limited: recipients may share it without restriction, subject to copyright.",
    }
}

/// What every report states about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportMeta {
    /// The TLP marking of the whole report.
    pub tlp: Tlp,
    /// The author organisation.
    pub organisation: String,
    /// The report's date, as it should print (`2025-06-01`).
    pub date: String,
    /// The DISARM version that names the techniques.
    pub disarm: DisarmVersion,
}

/// An actor an incident is attributed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportActor {
    /// Its name.
    pub name: String,
    /// Whether the attribution is uncertain.
    pub uncertain: bool,
}

/// An incident, every field a report prints.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportIncident {
    /// Its STIX id.
    pub id: String,
    /// Its page (absolute URL), linked from the report.
    pub url: Option<String>,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// First seen (`YYYY`, `YYYY-MM` or `YYYY-MM-DD`).
    pub first_seen: Option<String>,
    /// Last seen.
    pub last_seen: Option<String>,
    /// Created (a timestamp or a date, as it should print).
    pub created: Option<String>,
    /// Last modified.
    pub modified: Option<String>,
    /// Whether it was withdrawn.
    pub revoked: bool,
    /// Attributed actors.
    pub actors: Vec<ReportActor>,
    /// Target countries.
    pub target_countries: Vec<CountryCode>,
    /// Country of origin.
    pub country_of_origin: Option<CountryCode>,
    /// Region as recorded.
    pub region: Option<String>,
    /// Sub-region as recorded.
    pub sub_region: Option<String>,
    /// Channels and platforms.
    pub channels: Vec<String>,
    /// Who made the attribution.
    pub attribution_sources: Vec<String>,
    /// Confidence in the attribution, 0–100.
    pub attribution_confidence: Option<i64>,
    /// Analyst confidence, 0–100.
    pub confidence: Option<i64>,
    /// Whether the operation included cyber attacks.
    pub cyber_attack: Option<bool>,
    /// Labels.
    pub labels: Vec<String>,
    /// Source URLs.
    pub source_urls: Vec<String>,
    /// DISARM technique ids.
    pub techniques: Vec<String>,
}

impl ReportIncident {
    /// The report's view of an incident description (what the store and the sample data
    /// give); `url` is left empty.
    pub fn from_description(d: &IncidentDescription) -> Self {
        Self {
            id: d.id.as_ref().map(ToString::to_string).unwrap_or_default(),
            url: None,
            name: d.name.clone(),
            description: d.description.clone().unwrap_or_default(),
            first_seen: d.first_seen.map(|p| p.to_string()),
            last_seen: d.last_seen.map(|p| p.to_string()),
            created: d.created.map(|t| t.to_string()),
            modified: d.modified.map(|t| t.to_string()),
            revoked: d.revoked,
            actors: d
                .actors
                .iter()
                .map(|a| ReportActor {
                    name: a.name.clone(),
                    uncertain: a.uncertain,
                })
                .collect(),
            target_countries: d.target_countries.clone(),
            country_of_origin: d.country_of_origin,
            region: d.region.clone(),
            sub_region: d.sub_region.clone(),
            channels: d.channels.clone(),
            attribution_sources: d
                .attribution_sources
                .iter()
                .map(|a| a.as_str().to_owned())
                .collect(),
            attribution_confidence: d.attribution_confidence.map(|c| i64::from(c.get())),
            confidence: d.confidence.map(|c| i64::from(c.get())),
            cyber_attack: d.cyber_attack,
            labels: d.labels.clone(),
            source_urls: d.source_urls.clone(),
            techniques: d.techniques.clone(),
        }
    }

    /// The date it sorts and prints by: first seen, else the date it was created.
    pub fn date(&self) -> String {
        self.first_seen
            .clone()
            .or_else(|| self.created.as_ref().map(|c| c.chars().take(10).collect()))
            .unwrap_or_default()
    }
}

/// An incident related to the reported one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRelated {
    /// Its name.
    pub name: String,
    /// Its page.
    pub url: Option<String>,
    /// Why it is related.
    pub reason: String,
}

/// A report on one incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentReport {
    /// Marking, author, date.
    pub meta: ReportMeta,
    /// The incident.
    pub incident: ReportIncident,
    /// Incidents related to it, best first.
    pub related: Vec<ReportRelated>,
}

/// A report on a filtered set of incidents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetReport {
    /// Marking, author, date.
    pub meta: ReportMeta,
    /// The title (`Incidents targeting Ukraine, 2024`).
    pub title: String,
    /// The filters that chose the set, as `(name, value)` in words; empty for every incident.
    pub filters: Vec<(String, String)>,
    /// The incidents.
    pub incidents: Vec<ReportIncident>,
}

/// At most this many incidents are listed one by one in a set report; the counts, the map
/// and the techniques always cover the whole set.
pub const MAX_LISTED: usize = 1000;

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// The embedded font could not be read or subset.
    #[error("the report font could not be embedded: {0}")]
    Font(String),
}

impl IncidentReport {
    /// The report as a PDF file.
    pub fn pdf(&self) -> Result<Vec<u8>, ReportError> {
        pdf::write(&content::incident(self))
    }

    /// The report as a DOCX file.
    pub fn docx(&self) -> Result<Vec<u8>, ReportError> {
        Ok(docx::write(&content::incident(self)))
    }
}

impl SetReport {
    /// The report as a PDF file.
    pub fn pdf(&self) -> Result<Vec<u8>, ReportError> {
        pdf::write(&content::set(self))
    }

    /// The report as a DOCX file.
    pub fn docx(&self) -> Result<Vec<u8>, ReportError> {
        Ok(docx::write(&content::set(self)))
    }
}

/// A DISARM technique as reports and the graph name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TechniqueEntry {
    /// `T0086.001`.
    pub id: String,
    /// Its name (empty when the DISARM version does not have it).
    pub name: String,
    /// Its DISARM page.
    pub url: Option<String>,
}

/// Techniques under one tactic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TacticGroup {
    /// `TA06`, or empty for techniques the DISARM version does not have.
    pub tactic_id: String,
    /// `Develop Content`.
    pub tactic: String,
    /// The tactic's DISARM page.
    pub url: Option<String>,
    /// Its techniques, in the order given.
    pub techniques: Vec<TechniqueEntry>,
}

/// Groups technique ids by tactic, tactics in DISARM matrix order; ids the catalogue does not
/// have come last, under a group with an empty `tactic_id`.
pub fn by_tactic(ids: &[String], catalogue: &Catalogue) -> Vec<TacticGroup> {
    let mut groups: Vec<TacticGroup> = catalogue
        .tactics()
        .iter()
        .map(|t| TacticGroup {
            tactic_id: t.id.to_string(),
            tactic: t.name.clone(),
            url: t.url.clone(),
            techniques: Vec::new(),
        })
        .collect();
    let mut unknown = TacticGroup {
        tactic_id: String::new(),
        tactic: format!("Not in DISARM {}", catalogue.version_label()),
        url: None,
        techniques: Vec::new(),
    };
    for id in ids {
        match catalogue.technique(id) {
            Some(t) => {
                let i = catalogue
                    .tactics()
                    .iter()
                    .position(|x| x.shortname == t.tactic);
                let entry = TechniqueEntry {
                    id: t.id.to_string(),
                    name: t.name.clone(),
                    url: t.url.clone(),
                };
                match i.and_then(|i| groups.get_mut(i)) {
                    Some(g) => g.techniques.push(entry),
                    None => unknown.techniques.push(entry),
                }
            }
            None => unknown.techniques.push(TechniqueEntry {
                id: id.clone(),
                name: String::new(),
                url: None,
            }),
        }
    }
    groups.push(unknown);
    groups.retain(|g| !g.techniques.is_empty());
    groups
}

#[cfg(test)]
mod tests;
