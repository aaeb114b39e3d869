//! Incidents as analysts write them, their validation, and their STIX form.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use stix_model::disarm::{Catalogue, DisarmVersion, TechniqueId};
use stix_model::extension::{AttributionSource, PartialDate};
use stix_model::incident::{ActorDescription, IncidentDescription};
use stix_model::{Confidence, CountryCode, Identifier, Timestamp};

/// An incident as a client sends it (create or replace). Unknown fields are refused.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentInput {
    /// Name (required).
    #[serde(default)]
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// First seen: `YYYY`, `YYYY-MM` or `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<String>,
    /// Last seen, same forms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<String>,
    /// DISARM technique ids (`T0002`, `T0049.003`).
    #[serde(default)]
    pub techniques: Vec<String>,
    /// Attributed actors; a trailing `*` marks an uncertain attribution.
    #[serde(default)]
    pub actors: Vec<String>,
    /// Target countries: ISO 3166-1 alpha-2 codes or English names.
    #[serde(default)]
    pub target_countries: Vec<String>,
    /// Country of origin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_of_origin: Option<String>,
    /// Region as recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Sub-region as recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_region: Option<String>,
    /// Channels and platforms.
    #[serde(default)]
    pub channels: Vec<String>,
    /// Who made the attribution: government, platform, company, researchers.
    #[serde(default)]
    pub attribution_sources: Vec<String>,
    /// Confidence in the attribution, 0–100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribution_confidence: Option<i64>,
    /// Source URLs.
    #[serde(default)]
    pub source_urls: Vec<String>,
    /// Whether the operation included cyber attacks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cyber_attack: Option<bool>,
    /// Labels.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Analyst confidence, 0–100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<i64>,
}

/// A validated incident, in canonical form (codes upper-case, ids normalised, lists
/// de-duplicated in order). Only [`IncidentInput::validate`] makes one (and the store, reading
/// back what it stored): its content is read through `input` and never changed in place, so an
/// `Incident` is always one that passed validation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Incident {
    /// The canonical input (what is stored and returned), read-only.
    #[serde(flatten)]
    pub input: Canonical,
}

/// The content of an [`Incident`]: an [`IncidentInput`] that passed validation. It reads as
/// one (`Deref`); nothing outside this module makes or changes one.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Canonical(IncidentInput);

impl std::ops::Deref for Canonical {
    type Target = IncidentInput;

    fn deref(&self) -> &IncidentInput {
        &self.0
    }
}

/// How strictly to treat DISARM ids absent from the configured version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TechniquePolicy {
    /// Refuse ids in neither built-in DISARM version (the API and the web form).
    Strict,
    /// Keep well-formed ids that no version has, and report them (bulk import).
    Keep,
}

const MAX_TEXT: usize = 20_000;
const MAX_NAME: usize = 500;
const MAX_LIST: usize = 200;

/// The list without later repeats (ASCII case ignored), in order: one pass with a set, so
/// the cost grows as n log n with the list, not with its square.
fn dedupe(v: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::BTreeSet::new();
    v.into_iter()
        .filter(|s| seen.insert(s.to_ascii_lowercase()))
        .collect()
}

fn has_control(s: &str) -> bool {
    s.chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
}

/// Whether a source looks like a URL we can link to.
pub fn is_url(s: &str) -> bool {
    (s.starts_with("https://") || s.starts_with("http://"))
        && s.len() > 8
        && !s.chars().any(char::is_whitespace)
}

impl IncidentInput {
    /// Checks and normalises the input; on failure, an error per field. `warnings` receives
    /// what was accepted but is worth telling (unknown technique ids under `Keep`).
    pub fn validate(
        mut self,
        disarm: DisarmVersion,
        policy: TechniquePolicy,
        warnings: &mut Vec<String>,
    ) -> Result<Incident, BTreeMap<String, String>> {
        // Sizes first, before any per-item work: an oversized list is refused at once, with
        // nothing else checked.
        let mut errors = BTreeMap::new();
        for (key, len) in [
            ("techniques", self.techniques.len()),
            ("actors", self.actors.len()),
            ("target_countries", self.target_countries.len()),
            ("channels", self.channels.len()),
            ("source_urls", self.source_urls.len()),
            ("labels", self.labels.len()),
            ("attribution_sources", self.attribution_sources.len()),
        ] {
            if len > MAX_LIST {
                errors.insert(
                    key.to_owned(),
                    format!("at most {MAX_LIST} entries (this list has {len})"),
                );
            }
        }
        if self.name.trim().len() > MAX_NAME * 4 {
            errors.insert(
                "name".into(),
                format!("must be at most {MAX_NAME} characters"),
            );
        }
        if self.description.trim().len() > MAX_TEXT * 4 {
            errors.insert(
                "description".into(),
                format!("must be at most {MAX_TEXT} characters"),
            );
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut fail = |k: &str, m: String| {
            errors.entry(k.to_owned()).or_insert(m);
        };
        self.name = self.name.trim().to_owned();
        if self.name.is_empty() {
            fail("name", "is required".into());
        } else if self.name.chars().count() > MAX_NAME {
            fail("name", format!("must be at most {MAX_NAME} characters"));
        } else if has_control(&self.name) || self.name.contains(['\n', '\r']) {
            fail("name", "must be one line without control characters".into());
        }
        self.description = self.description.trim().to_owned();
        if self.description.chars().count() > MAX_TEXT {
            fail(
                "description",
                format!("must be at most {MAX_TEXT} characters"),
            );
        } else if has_control(&self.description) {
            fail("description", "must not contain control characters".into());
        }
        let mut dates = [None, None];
        for (i, (key, v)) in [
            ("first_seen", &mut self.first_seen),
            ("last_seen", &mut self.last_seen),
        ]
        .into_iter()
        .enumerate()
        {
            if let Some(s) = v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                match PartialDate::parse(s) {
                    Ok(d) => {
                        dates[i] = Some(d);
                        *v = Some(d.to_string());
                    }
                    Err(_) => fail(
                        key,
                        format!("{s:?} is not a date; expected YYYY, YYYY-MM or YYYY-MM-DD"),
                    ),
                }
            } else {
                *v = None;
            }
        }
        if let [Some(a), Some(b)] = dates {
            if b.start() < a.start() {
                fail("last_seen", "must not be earlier than first_seen".into());
            }
        }
        let primary = Catalogue::builtin(disarm);
        let mut techniques = Vec::new();
        let mut bad = Vec::new();
        for t in &self.techniques {
            let t = t.trim();
            // Accept "T0002: Name" and "T0002_Name" as upstream forms send them.
            let id_part = t.split([':', '_', ' ']).next().unwrap_or(t);
            match TechniqueId::parse(id_part) {
                Ok(id) => {
                    let known = primary.technique(id.as_str()).is_some()
                        || Catalogue::builtin(DisarmVersion::V1_6)
                            .technique(id.as_str())
                            .is_some()
                        || Catalogue::builtin(DisarmVersion::V1_7)
                            .technique(id.as_str())
                            .is_some();
                    if !known {
                        match policy {
                            TechniquePolicy::Strict => bad.push(id.to_string()),
                            TechniquePolicy::Keep => warnings
                                .push(format!("technique {id} is not in DISARM 1.6 or 1.7; kept")),
                        }
                    }
                    techniques.push(id.to_string());
                }
                Err(_) => bad.push(t.to_owned()),
            }
        }
        if !bad.is_empty() {
            fail(
                "techniques",
                format!("unknown DISARM technique ids: {}", bad.join(", ")),
            );
        }
        self.techniques = dedupe(techniques);

        let mut actors = Vec::new();
        for a in &self.actors {
            let a = a.trim();
            if a.is_empty() || a == "*" {
                continue;
            }
            if has_control(a) || a.chars().count() > MAX_NAME {
                fail("actors", format!("{a:?} is not a valid actor name"));
            }
            actors.push(a.to_owned());
        }
        self.actors = dedupe(actors);

        let mut countries = Vec::new();
        for c in &self.target_countries {
            let c = c.trim();
            if c.is_empty() {
                continue;
            }
            match CountryCode::lookup(c) {
                Some(code) => countries.push(code.to_string()),
                None => fail("target_countries", format!("{c:?} is not a country; use an ISO 3166-1 code such as UA, or an English name")),
            }
        }
        self.target_countries = dedupe(countries);
        if let Some(c) = self
            .country_of_origin
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
        {
            match CountryCode::lookup(c) {
                Some(code) => self.country_of_origin = Some(code.to_string()),
                None => fail("country_of_origin", format!("{c:?} is not a country; use an ISO 3166-1 code such as RU, or an English name")),
            }
        } else {
            self.country_of_origin = None;
        }
        for (key, v) in [
            ("region", &mut self.region),
            ("sub_region", &mut self.sub_region),
        ] {
            *v = v
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned);
            if matches!(v.as_deref(), Some(s) if has_control(s) || s.len() > MAX_NAME) {
                fail(key, "is not valid text".into());
            }
        }
        self.channels = dedupe(
            self.channels
                .iter()
                .map(|c| c.trim().to_owned())
                .filter(|c| !c.is_empty())
                .collect(),
        );
        if self
            .channels
            .iter()
            .any(|c| has_control(c) || c.len() > MAX_NAME)
        {
            fail("channels", "channel names must be short text".into());
        }
        let mut sources = Vec::new();
        for s in &self.attribution_sources {
            match parse_attribution_source(s) {
                Some(a) => sources.push(a.as_str().to_owned()),
                None => fail(
                    "attribution_sources",
                    format!("{s:?} is not one of government, platform, company, researchers"),
                ),
            }
        }
        self.attribution_sources = dedupe(sources);
        for (key, v) in [
            ("attribution_confidence", self.attribution_confidence),
            ("confidence", self.confidence),
        ] {
            if let Some(n) = v {
                if Confidence::new(n).is_err() {
                    fail(key, format!("{n} is not between 0 and 100"));
                }
            }
        }
        let mut urls = Vec::new();
        for u in &self.source_urls {
            let u = u.trim();
            if u.is_empty() {
                continue;
            }
            if is_url(u) {
                urls.push(u.to_owned());
            } else {
                fail("source_urls", format!("{u:?} is not an http(s) URL"));
            }
        }
        self.source_urls = dedupe(urls);
        self.labels = dedupe(
            self.labels
                .iter()
                .map(|l| l.trim().to_owned())
                .filter(|l| !l.is_empty())
                .collect(),
        );
        if errors.is_empty() {
            Ok(Incident {
                input: Canonical(self),
            })
        } else {
            Err(errors)
        }
    }
}

/// Parses an attribution source name as the API and the CSV spell it.
pub fn parse_attribution_source(s: &str) -> Option<AttributionSource> {
    match s.trim().to_ascii_lowercase().as_str() {
        "government" => Some(AttributionSource::Government),
        "platform" => Some(AttributionSource::Platform),
        "company" => Some(AttributionSource::Company),
        "researchers" | "researchers/journalists" | "journalists" => {
            Some(AttributionSource::Researchers)
        }
        _ => None,
    }
}

impl Incident {
    /// An incident the store wrote after validating it, read back (never input from outside:
    /// it is not checked again).
    pub(crate) fn from_stored(input: IncidentInput) -> Self {
        Self {
            input: Canonical(input),
        }
    }

    /// The content, to edit it into a new input (which is validated again to be saved).
    pub fn to_input(&self) -> IncidentInput {
        self.input.0.clone()
    }

    /// The description the STIX builder takes, for an incident with the given id and times.
    pub fn to_description(
        &self,
        id: &Identifier,
        created: Timestamp,
        modified: Timestamp,
        revoked: bool,
    ) -> IncidentDescription {
        let i = &self.input;
        let mut d = IncidentDescription::new(i.name.clone());
        d.id = Some(id.clone());
        d.description = Some(i.description.clone()).filter(|s| !s.is_empty());
        d.created = Some(created);
        d.modified = Some(modified);
        d.first_seen = i
            .first_seen
            .as_deref()
            .and_then(|s| PartialDate::parse(s).ok());
        d.last_seen = i
            .last_seen
            .as_deref()
            .and_then(|s| PartialDate::parse(s).ok());
        d.techniques = i.techniques.clone();
        d.actors = i
            .actors
            .iter()
            .map(|a| ActorDescription::new(a.clone()))
            .collect();
        d.target_countries = i
            .target_countries
            .iter()
            .filter_map(|c| CountryCode::parse(c).ok())
            .collect();
        d.country_of_origin = i
            .country_of_origin
            .as_deref()
            .and_then(|c| CountryCode::parse(c).ok());
        d.region = i.region.clone();
        d.sub_region = i.sub_region.clone();
        d.channels = i.channels.clone();
        d.attribution_sources = i
            .attribution_sources
            .iter()
            .filter_map(|s| parse_attribution_source(s))
            .collect();
        d.attribution_confidence = i
            .attribution_confidence
            .and_then(|n| Confidence::new(n).ok());
        d.source_urls = i.source_urls.clone();
        d.cyber_attack = i.cyber_attack;
        d.labels = i.labels.clone();
        d.confidence = i.confidence.and_then(|n| Confidence::new(n).ok());
        d.revoked = revoked;
        d
    }

    /// The start date used for date filters and the timeline: first seen, else `created`.
    pub fn date_key(&self, created: &Timestamp) -> String {
        match self
            .input
            .first_seen
            .as_deref()
            .and_then(|s| PartialDate::parse(s).ok())
        {
            Some(d) => {
                let (y, m, dd) = d.start().date();
                format!("{y:04}-{m:02}-{dd:02}")
            }
            None => {
                let (y, m, d) = created.date();
                format!("{y:04}-{m:02}-{d:02}")
            }
        }
    }

    /// The actor names without the `*` uncertainty mark.
    pub fn actor_names(&self) -> Vec<String> {
        self.input
            .actors
            .iter()
            .map(|a| a.trim().trim_end_matches('*').trim_end().to_owned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(i: IncidentInput) -> Result<Incident, BTreeMap<String, String>> {
        i.validate(
            DisarmVersion::V1_7,
            TechniquePolicy::Strict,
            &mut Vec::new(),
        )
    }

    #[test]
    fn normalises() {
        let i = valid(IncidentInput {
            name: "  X  ".into(),
            techniques: vec![
                "t0002".into(),
                "T0002: Facilitate State Propaganda".into(),
                "T0049.003".into(),
            ],
            target_countries: vec!["Ukraine".into(), "ua".into(), "UK".into()],
            actors: vec!["Russia".into(), "russia".into(), "IRA*".into()],
            first_seen: Some("2022".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(i.input.name, "X");
        assert_eq!(i.input.techniques, vec!["T0002", "T0049.003"]);
        assert_eq!(i.input.target_countries, vec!["UA", "GB"]);
        assert_eq!(i.input.actors, vec!["Russia", "IRA*"]);
        assert_eq!(i.actor_names(), vec!["Russia", "IRA"]);
    }

    #[test]
    fn reports_every_bad_field() {
        let e = valid(IncidentInput {
            name: " ".into(),
            techniques: vec!["T9999".into(), "bogus".into()],
            target_countries: vec!["Atlantis".into()],
            first_seen: Some("2022-13".into()),
            last_seen: Some("yesterday".into()),
            confidence: Some(101),
            source_urls: vec!["ftp://x".into()],
            attribution_sources: vec!["aliens".into()],
            ..Default::default()
        })
        .unwrap_err();
        for k in [
            "name",
            "techniques",
            "target_countries",
            "first_seen",
            "last_seen",
            "confidence",
            "source_urls",
            "attribution_sources",
        ] {
            assert!(e.contains_key(k), "{k} in {e:?}");
        }
        let mut w = Vec::new();
        let ok = IncidentInput {
            name: "x".into(),
            techniques: vec!["T9999".into()],
            ..Default::default()
        }
        .validate(DisarmVersion::V1_7, TechniquePolicy::Keep, &mut w)
        .unwrap();
        assert_eq!(ok.input.techniques, vec!["T9999"]);
        assert_eq!(w.len(), 1);
    }
}
