//! The incident form: what was typed, kept as typed (so nothing is lost when the server
//! sends the form back with errors), and its conversion to the API's [`IncidentInput`].

use std::collections::BTreeMap;

use stix_model::disarm::Catalogue;

use super::session::FormData;
use super::views::FieldErrors;
use crate::model::IncidentInput;

/// Blank inputs added after the values of a multi-value field.
const SPARE_INPUTS: usize = 2;

/// The fields of the form, as text.
#[derive(Debug, Clone, Default)]
pub(crate) struct IncidentForm {
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) first_seen: String,
    pub(crate) last_seen: String,
    pub(crate) techniques: Vec<String>,
    pub(crate) actors: Vec<String>,
    pub(crate) target_countries: Vec<String>,
    pub(crate) country_of_origin: String,
    pub(crate) region: String,
    pub(crate) sub_region: String,
    pub(crate) channels: Vec<String>,
    pub(crate) attribution_sources: Vec<String>,
    pub(crate) attribution_confidence: String,
    pub(crate) confidence: String,
    pub(crate) source_urls: String,
    pub(crate) cyber_attack: String,
    pub(crate) labels: String,
}

/// The values that are not blank, each once (a value sent twice — a kept proposal of the
/// PDF intake and the same value picked by hand — is one value).
fn non_blank(v: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::BTreeSet::new();
    v.into_iter()
        .filter(|s| !s.trim().is_empty() && seen.insert(s.clone()))
        .collect()
}

fn opt(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

impl IncidentForm {
    /// The submitted form.
    pub(crate) fn from_form(f: &FormData) -> Self {
        Self {
            name: f.get("name").to_owned(),
            description: f.get("description").to_owned(),
            first_seen: f.get("first_seen").to_owned(),
            last_seen: f.get("last_seen").to_owned(),
            techniques: non_blank(f.all("techniques")),
            actors: non_blank(f.all("actors")),
            target_countries: non_blank(f.all("target_countries")),
            country_of_origin: f.get("country_of_origin").to_owned(),
            region: f.get("region").to_owned(),
            sub_region: f.get("sub_region").to_owned(),
            channels: non_blank(f.all("channels")),
            attribution_sources: non_blank(f.all("attribution_sources")),
            attribution_confidence: f.get("attribution_confidence").to_owned(),
            confidence: f.get("confidence").to_owned(),
            // The text area, then any URL kept from the PDF intake's proposals.
            source_urls: non_blank(f.all("source_urls")).join("\n"),
            cyber_attack: f.get("cyber_attack").to_owned(),
            labels: f.get("labels").to_owned(),
        }
    }

    /// The form of a stored incident (to edit it).
    pub(crate) fn from_input(i: &IncidentInput) -> Self {
        let num = |n: Option<i64>| n.map(|n| n.to_string()).unwrap_or_default();
        Self {
            name: i.name.clone(),
            description: i.description.clone(),
            first_seen: i.first_seen.clone().unwrap_or_default(),
            last_seen: i.last_seen.clone().unwrap_or_default(),
            techniques: i.techniques.clone(),
            actors: i.actors.clone(),
            target_countries: i.target_countries.clone(),
            country_of_origin: i.country_of_origin.clone().unwrap_or_default(),
            region: i.region.clone().unwrap_or_default(),
            sub_region: i.sub_region.clone().unwrap_or_default(),
            channels: i.channels.clone(),
            attribution_sources: i.attribution_sources.clone(),
            attribution_confidence: num(i.attribution_confidence),
            confidence: num(i.confidence),
            source_urls: i.source_urls.join("\n"),
            cyber_attack: match i.cyber_attack {
                Some(true) => "yes".into(),
                Some(false) => "no".into(),
                None => String::new(),
            },
            labels: i.labels.join(", "),
        }
    }

    /// The input for the shared validation, and the errors of what cannot even be put into
    /// it (a number that is not one).
    pub(crate) fn to_input(&self) -> (IncidentInput, FieldErrors) {
        let mut errors = BTreeMap::new();
        let mut number = |key: &str, s: &str| -> Option<i64> {
            let t = s.trim();
            if t.is_empty() {
                return None;
            }
            match t.parse::<i64>() {
                Ok(n) => Some(n),
                Err(_) => {
                    errors.insert(key.to_owned(), format!("{t:?} is not a whole number"));
                    None
                }
            }
        };
        let attribution_confidence = number("attribution_confidence", &self.attribution_confidence);
        let confidence = number("confidence", &self.confidence);
        let cyber_attack = match self.cyber_attack.as_str() {
            "yes" => Some(true),
            "no" => Some(false),
            "" => None,
            other => {
                errors.insert(
                    "cyber_attack".into(),
                    format!("{other:?} is not yes, no or unknown"),
                );
                None
            }
        };
        let input = IncidentInput {
            name: self.name.clone(),
            description: self.description.clone(),
            first_seen: opt(&self.first_seen),
            last_seen: opt(&self.last_seen),
            techniques: self.techniques.clone(),
            actors: self.actors.clone(),
            target_countries: self.target_countries.clone(),
            country_of_origin: opt(&self.country_of_origin),
            region: opt(&self.region),
            sub_region: opt(&self.sub_region),
            channels: self.channels.clone(),
            attribution_sources: self.attribution_sources.clone(),
            attribution_confidence,
            source_urls: self
                .source_urls
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect(),
            cyber_attack,
            labels: self
                .labels
                .split(',')
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect(),
            confidence,
        };
        (input, errors.into())
    }

    /// The form for display: each multi-value field gets blank inputs after its values.
    pub(crate) fn for_display(mut self) -> Self {
        for v in [
            &mut self.actors,
            &mut self.target_countries,
            &mut self.channels,
        ] {
            v.extend(std::iter::repeat_n(String::new(), SPARE_INPUTS));
        }
        self
    }
}

/// A technique in the picker.
#[derive(Debug, Clone)]
pub(crate) struct PickerTechnique {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) sub: bool,
    pub(crate) checked: bool,
}

/// A tactic of the picker, with its techniques.
#[derive(Debug, Clone)]
pub(crate) struct PickerTactic {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) open: bool,
    pub(crate) selected: usize,
    pub(crate) techniques: Vec<PickerTechnique>,
}

/// The technique picker: every technique of the catalogue under its tactic, in matrix order,
/// with the selected ones checked; and the selected ids that the catalogue does not have.
pub(crate) fn picker(
    catalogue: &Catalogue,
    selected: &[String],
) -> (Vec<PickerTactic>, Vec<String>) {
    let chosen: Vec<String> = selected.iter().map(|s| s.trim().to_uppercase()).collect();
    let tactics = catalogue
        .tactics()
        .iter()
        .map(|t| {
            let techniques: Vec<PickerTechnique> = catalogue
                .techniques_of_tactic(&t.shortname)
                .map(|x| PickerTechnique {
                    id: x.id.as_str().to_owned(),
                    name: x.name.clone(),
                    sub: x.parent.is_some(),
                    checked: chosen.iter().any(|c| c == x.id.as_str()),
                })
                .collect();
            let selected = techniques.iter().filter(|x| x.checked).count();
            PickerTactic {
                id: t.id.as_str().to_owned(),
                name: t.name.clone(),
                open: selected > 0,
                selected,
                techniques,
            }
        })
        .collect();
    let unknown = chosen
        .iter()
        .filter(|c| catalogue.technique(c).is_none())
        .cloned()
        .collect();
    (tactics, unknown)
}

#[cfg(test)]
mod tests {
    use super::*;
    use stix_model::disarm::DisarmVersion;

    #[test]
    fn typed_values_survive_and_numbers_are_checked() {
        let f = FormData::parse(
            b"name=%3Cb%3Ex&actors=Russia&actors=&techniques=T0002&confidence=high&source_urls=https%3A%2F%2Fa.org%0D%0A%0D%0Aftp%3A%2F%2Fb&labels=a%2C+b&cyber_attack=yes",
        );
        let form = IncidentForm::from_form(&f);
        assert_eq!(form.name, "<b>x");
        assert_eq!(form.actors, vec!["Russia"]);
        let (input, errors) = form.to_input();
        assert_eq!(input.source_urls, vec!["https://a.org", "ftp://b"]);
        assert_eq!(input.labels, vec!["a", "b"]);
        assert_eq!(input.cyber_attack, Some(true));
        assert!(errors.get("confidence").unwrap().contains("\"high\""));
        let shown = form.for_display();
        assert_eq!(shown.actors, vec!["Russia", "", ""]);
        assert_eq!(shown.confidence, "high", "kept as typed");
    }

    #[test]
    fn round_trip_of_a_stored_incident() {
        let i = IncidentInput {
            name: "x".into(),
            confidence: Some(40),
            source_urls: vec!["https://a".into(), "https://b".into()],
            cyber_attack: Some(false),
            ..Default::default()
        };
        let (back, errors) = IncidentForm::from_input(&i).to_input();
        assert!(errors.is_empty());
        assert_eq!(back, i);
    }

    #[test]
    fn the_picker_checks_and_keeps_unknown_ids() {
        let c = Catalogue::builtin(DisarmVersion::V1_7);
        let (tactics, unknown) = picker(c, &["t0002".into(), "T9999".into()]);
        assert_eq!(tactics.len(), c.tactics().len());
        assert_eq!(tactics.iter().map(|t| t.selected).sum::<usize>(), 1);
        assert!(tactics.iter().any(|t| t.open));
        assert_eq!(unknown, vec!["T9999"]);
    }
}
