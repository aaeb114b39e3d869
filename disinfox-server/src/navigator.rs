//! DISARM Navigator layers: which DISARM techniques incidents use, as a layer file (ATT&CK
//! Navigator layer format 4.5, `domain` `DISARM` as DISARM's Navigator registers it) that
//! colours the DISARM matrix by score.
//!
//! The layer is built from a DISARM [`Catalogue`] and a map from technique id to a count:
//!
//! - one incident: [`incident_counts`] (score 1 per technique it uses), then [`layer`];
//! - any set of incidents, or all of them: [`crate::db::Store::technique_counts`] under an
//!   [`IncidentFilter`] (score = number of matching incidents using
//!   the technique), then [`layer`]; [`filtered_layer`] does both.
//!
//! Following the heatmap recipe of docs/disarm.md §6: one entry per
//! technique with a count (each technique has exactly one tactic in DISARM, named by its short
//! name), the count and DISARM version in `comment` and `metadata`, a gradient from 0 to the
//! largest count (at least 1), `showSubtechniques` on parents whose sub-techniques are scored
//! (with an unscored entry for a parent that is not used itself), links to the DISARM page and
//! back to the server. Ids absent from the catalogue (an incident coded against another DISARM
//! version) are left out, so that every `techniqueID` of a layer is one the Navigator knows;
//! their number is reported in the layer's metadata.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};
use stix_model::disarm::Catalogue;

use crate::configuration::Settings;
use crate::db::{IncidentFilter, Store, StoredIncident};
use crate::model::Incident;

/// The layer format version written.
pub const LAYER_VERSION: &str = "4.5";
/// The Navigator version declared (the first that reads layer format 4.5).
pub const NAVIGATOR_VERSION: &str = "4.9.0";
/// The `domain` of DISARM layers.
pub const DOMAIN: &str = "DISARM";
/// The gradient of scores, from 0 (white) to the largest count.
pub const GRADIENT: [&str; 2] = ["#ffffff", "#ff6666"];
/// The platforms DISARM techniques carry (the Navigator hides techniques of other platforms).
pub const PLATFORMS: [&str; 3] = ["Windows", "Linux", "Mac"];

/// What a layer is called and where its techniques link to.
#[derive(Debug, Clone, Default)]
pub struct LayerOptions {
    /// The layer's name (required by the format; an empty name becomes "DISINFOX").
    pub name: String,
    /// The layer's description.
    pub description: String,
    /// A link from each technique back to the server: a URL in which `{technique}` is
    /// replaced by the DISARM id, e.g.
    /// `https://disinfox.example/incidents?technique={technique}`. `None`: no link.
    pub technique_link: Option<String>,
    /// The label of that link (default "DISINFOX incidents").
    pub link_label: String,
    /// Extra `{name, value}` pairs for the layer's metadata (e.g. the filters applied).
    pub metadata: Vec<(String, String)>,
}

/// The counts of one incident: 1 for each technique it uses.
pub fn incident_counts(incident: &Incident) -> BTreeMap<String, i64> {
    incident
        .input
        .techniques
        .iter()
        .map(|t| (t.clone(), 1))
        .collect()
}

/// A layer (a JSON value ready to serialize) scoring each technique of `catalogue` by its
/// count in `counts` (keys are DISARM ids such as `T0049.003`; zero and negative counts are
/// left out, and so are ids the catalogue lacks).
pub fn layer(catalogue: &Catalogue, counts: &BTreeMap<String, i64>, opts: &LayerOptions) -> Value {
    let version = catalogue.version_label();
    let scored: BTreeMap<&str, i64> = catalogue
        .techniques()
        .filter_map(|t| {
            counts
                .get(t.id.as_str())
                .copied()
                .filter(|n| *n > 0)
                .map(|n| (t.id.as_str(), n))
        })
        .collect();
    let unknown = counts
        .iter()
        .filter(|(id, n)| **n > 0 && catalogue.technique(id).is_none())
        .count();
    let parents_of_scored: BTreeSet<&str> = catalogue
        .techniques()
        .filter(|t| scored.contains_key(t.id.as_str()))
        .filter_map(|t| t.parent.as_ref().map(|p| p.as_str()))
        .collect();
    let label = if opts.link_label.is_empty() {
        "DISINFOX incidents"
    } else {
        opts.link_label.as_str()
    };
    let mut techniques = Vec::new();
    for t in catalogue.techniques() {
        let id = t.id.as_str();
        let score = scored.get(id).copied();
        let parent_of_scored = parents_of_scored.contains(id);
        if score.is_none() && !parent_of_scored {
            continue;
        }
        let mut e = json!({
            "techniqueID": id,
            "tactic": t.tactic,
            "enabled": true,
            "showSubtechniques": parent_of_scored,
        });
        if let Some(n) = score {
            let what = if n == 1 { "incident" } else { "incidents" };
            e["score"] = json!(n);
            e["comment"] = json!(format!("{n} {what} (DISARM {version})"));
            e["metadata"] = json!([
                {"name": "incidents", "value": n.to_string()},
                {"name": "DISARM version", "value": version},
            ]);
            let mut links = Vec::new();
            if let Some(url) = &t.url {
                links.push(json!({"label": format!("DISARM {id}"), "url": url}));
            }
            if let Some(template) = &opts.technique_link {
                links.push(json!({"label": label, "url": template.replace("{technique}", id)}));
            }
            if !links.is_empty() {
                e["links"] = json!(links);
            }
        }
        techniques.push(e);
    }
    let max = scored.values().copied().max().unwrap_or(0).max(1);
    let mut metadata = vec![
        json!({"name": "DISARM version", "value": version}),
        json!({"name": "generated by", "value": format!("DISINFOX {}", env!("CARGO_PKG_VERSION"))}),
    ];
    if unknown > 0 {
        metadata.push(json!({
            "name": "techniques not in this DISARM version",
            "value": unknown.to_string(),
        }));
    }
    metadata.extend(
        opts.metadata
            .iter()
            .map(|(k, v)| json!({"name": k, "value": v})),
    );
    let name = if opts.name.trim().is_empty() {
        "DISINFOX"
    } else {
        opts.name.trim()
    };
    json!({
        "name": name,
        "description": opts.description,
        "domain": DOMAIN,
        "versions": {"layer": LAYER_VERSION, "navigator": NAVIGATOR_VERSION},
        "filters": {"platforms": PLATFORMS},
        "sorting": 0,
        "layout": {"layout": "side", "showID": true, "showName": true},
        "hideDisabled": false,
        "techniques": techniques,
        "gradient": {"colors": GRADIENT, "minValue": 0, "maxValue": max},
        "legendItems": [],
        "metadata": metadata,
        "showTacticRowBackground": false,
        "selectTechniquesAcrossTactics": true,
        "selectSubtechniquesWithParent": false,
    })
}

/// The heatmap layer of the live incidents matching `filter` (every live incident for the
/// default filter): each technique scored by the number of those incidents that use it. The
/// description says how many incidents matched; `opts.description`, when given, comes first.
pub async fn filtered_layer(
    store: &Store,
    catalogue: &Catalogue,
    filter: &IncidentFilter,
    mut opts: LayerOptions,
) -> anyhow::Result<Value> {
    let (counts, incidents) = store.technique_counts(filter).await?;
    let what = if incidents == 1 {
        "incident"
    } else {
        "incidents"
    };
    let summary = format!(
        "DISARM techniques of {incidents} {what}; a technique's score is the number of those incidents that use it."
    );
    opts.description = if opts.description.is_empty() {
        summary
    } else {
        format!("{} {summary}", opts.description)
    };
    opts.metadata
        .push(("incidents".to_owned(), incidents.to_string()));
    Ok(layer(catalogue, &counts, &opts))
}

/// The link from a layer's techniques back to the server: the incident list (web page)
/// filtered on the technique.
fn technique_link(settings: &Settings) -> String {
    format!(
        "{}/incidents?technique={{technique}}",
        settings.public_url.trim_end_matches('/')
    )
}

/// The layer of one incident (the API route and the incident page), named after it.
pub fn of_incident(settings: &Settings, s: &StoredIncident) -> Value {
    let catalogue = Catalogue::builtin(settings.disarm_version);
    let mut description = format!("DISARM techniques of the incident {}", s.id);
    if let Some(d) = &s.incident.input.first_seen {
        description.push_str(&format!(", first seen {d}"));
    }
    if s.revoked {
        description.push_str(" (deleted)");
    }
    description.push('.');
    let opts = LayerOptions {
        name: s.incident.input.name.clone(),
        description,
        technique_link: Some(technique_link(settings)),
        metadata: vec![("incident".to_owned(), s.id.to_string())],
        ..LayerOptions::default()
    };
    layer(catalogue, &incident_counts(&s.incident), &opts)
}

/// The filters applied, as `name=value` pairs (for the layer's name and metadata).
fn filter_terms(f: &IncidentFilter) -> Vec<(String, String)> {
    let terms: BTreeMap<&str, &Option<String>> = BTreeMap::from([
        ("q", &f.q),
        ("country", &f.country),
        ("origin", &f.origin),
        ("actor", &f.actor),
        ("technique", &f.technique),
        ("tactic", &f.tactic),
        ("channel", &f.channel),
        ("from", &f.from),
        ("to", &f.to),
    ]);
    terms
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (k.to_owned(), v.clone())))
        .collect()
}

/// The heatmap layer of the incidents matching `filter` (the API route and the matrix page),
/// named after the filters.
pub async fn of_filter(
    store: &Store,
    settings: &Settings,
    filter: &IncidentFilter,
) -> anyhow::Result<Value> {
    let terms = filter_terms(filter);
    let name = if terms.is_empty() {
        "DISINFOX: all incidents".to_owned()
    } else {
        format!(
            "DISINFOX: {}",
            terms
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let opts = LayerOptions {
        name,
        technique_link: Some(technique_link(settings)),
        metadata: terms
            .into_iter()
            .map(|(k, v)| (format!("filter {k}"), v))
            .collect(),
        ..LayerOptions::default()
    };
    let catalogue = Catalogue::builtin(settings.disarm_version);
    filtered_layer(store, catalogue, filter, opts).await
}

/// What is wrong with a layer for the DISARM Navigator, checked against `catalogue`: the
/// required fields of format 4.5 (`name`, `domain` `DISARM`, `versions.layer` "4.5",
/// `versions.navigator` at least 4.9.0), every technique entry's `techniqueID` being a
/// technique of the catalogue under its own `tactic`, numeric scores, and a gradient of at
/// least two colours with `maxValue > minValue`. Empty when the layer is fine.
pub fn check_layer(layer: &Value, catalogue: &Catalogue) -> Vec<String> {
    let mut errors = Vec::new();
    let mut fail = |m: String| errors.push(m);
    if layer["name"].as_str().is_none_or(str::is_empty) {
        fail("name: a non-empty string is required".into());
    }
    if layer["domain"] != DOMAIN {
        fail(format!("domain: {} is not {DOMAIN:?}", layer["domain"]));
    }
    if layer["versions"]["layer"] != LAYER_VERSION {
        fail(format!(
            "versions.layer: {} is not {LAYER_VERSION:?}",
            layer["versions"]["layer"]
        ));
    }
    let navigator: Option<Vec<u32>> = layer["versions"]["navigator"]
        .as_str()
        .and_then(|v| v.split('.').map(|p| p.parse().ok()).collect());
    if navigator.is_none_or(|v| v < vec![4, 9, 0]) {
        fail(format!(
            "versions.navigator: {} is not a version from 4.9.0",
            layer["versions"]["navigator"]
        ));
    }
    match layer["techniques"].as_array() {
        None => fail("techniques: a list is required".into()),
        Some(list) => {
            for (i, t) in list.iter().enumerate() {
                let id = t["techniqueID"].as_str().unwrap_or_default();
                match catalogue.technique(id) {
                    None => fail(format!(
                        "techniques[{i}].techniqueID: {} is not a technique of DISARM {}",
                        t["techniqueID"],
                        catalogue.version_label()
                    )),
                    Some(x) if x.id.as_str() != id => fail(format!(
                        "techniques[{i}].techniqueID: {id:?} is not written as {}",
                        x.id.as_str()
                    )),
                    Some(x) if t["tactic"] != x.tactic.as_str() => fail(format!(
                        "techniques[{i}].tactic: {} is not {:?}, the tactic of {id}",
                        t["tactic"], x.tactic
                    )),
                    Some(_) => {}
                }
                if !t["score"].is_null() && !t["score"].is_number() {
                    fail(format!("techniques[{i}].score: not a number"));
                }
            }
        }
    }
    let g = &layer["gradient"];
    let colours = g["colors"].as_array().map_or(0, |c| {
        c.iter()
            .filter(|c| {
                c.as_str().is_some_and(|s| {
                    s.len() == 7
                        && s.starts_with('#')
                        && s[1..].chars().all(|c| c.is_ascii_hexdigit())
                })
            })
            .count()
    });
    if colours < 2 {
        fail("gradient.colors: at least two hex colours are required".into());
    }
    match (g["minValue"].as_f64(), g["maxValue"].as_f64()) {
        (Some(lo), Some(hi)) if hi > lo => {}
        _ => fail("gradient: maxValue must be greater than minValue".into()),
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use stix_model::disarm::DisarmVersion;

    fn counts(pairs: &[(&str, i64)]) -> BTreeMap<String, i64> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
    }

    #[test]
    fn a_heatmap_layer_follows_the_recipe() {
        let c = Catalogue::builtin(DisarmVersion::V1_7);
        let opts = LayerOptions {
            name: "heat".into(),
            technique_link: Some("https://x.example/i?technique={technique}".into()),
            ..LayerOptions::default()
        };
        let l = layer(
            c,
            &counts(&[("T0049.003", 3), ("T0002", 1), ("T9999", 4), ("T0015", 0)]),
            &opts,
        );
        assert_eq!(check_layer(&l, c), Vec::<String>::new(), "{l:#}");
        let t = l["techniques"].as_array().unwrap();
        let ids: Vec<&str> = t
            .iter()
            .map(|e| e["techniqueID"].as_str().unwrap())
            .collect();
        // T0049 is there, unscored, to show its scored sub-technique.
        assert_eq!(ids, ["T0002", "T0049", "T0049.003"]);
        assert_eq!(t[0]["score"], 1);
        assert_eq!(t[0]["tactic"], "plan-objectives");
        assert!(t[1]["score"].is_null());
        assert_eq!(t[1]["showSubtechniques"], true);
        assert_eq!(t[2]["score"], 3);
        assert_eq!(t[2]["tactic"], "maximise-exposure");
        assert_eq!(t[2]["comment"], "3 incidents (DISARM 1.7)");
        assert_eq!(
            t[2]["links"][1]["url"],
            "https://x.example/i?technique=T0049.003"
        );
        assert_eq!(l["gradient"]["minValue"], 0);
        assert_eq!(l["gradient"]["maxValue"], 3, "the largest count");
        assert!(l["metadata"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == "techniques not in this DISARM version" && m["value"] == "1"));
    }

    #[test]
    fn an_empty_layer_is_still_valid() {
        let c = Catalogue::builtin(DisarmVersion::V1_6);
        let l = layer(c, &BTreeMap::new(), &LayerOptions::default());
        assert_eq!(check_layer(&l, c), Vec::<String>::new());
        assert_eq!(l["name"], "DISINFOX");
        assert_eq!(
            l["gradient"]["maxValue"], 1,
            "maxValue stays above minValue"
        );
        assert_eq!(l["techniques"], json!([]));
    }

    #[test]
    fn the_checker_finds_what_is_wrong() {
        let c = Catalogue::builtin(DisarmVersion::V1_7);
        let mut l = layer(c, &counts(&[("T0002", 2)]), &LayerOptions::default());
        l["domain"] = json!("enterprise-attack");
        l["versions"]["navigator"] = json!("4.8.2");
        l["techniques"][0]["tactic"] = json!("plan-strategy");
        l["techniques"]
            .as_array_mut()
            .unwrap()
            .push(json!({"techniqueID": "T1059", "score": "x"}));
        l["gradient"]["maxValue"] = json!(0);
        let errors = check_layer(&l, c);
        assert_eq!(errors.len(), 6, "{errors:#?}");
        // T0023 was removed in DISARM 1.7.
        let old = layer(
            Catalogue::builtin(DisarmVersion::V1_6),
            &counts(&[("T0023", 1)]),
            &LayerOptions::default(),
        );
        assert_eq!(check_layer(&old, c).len(), 1);
    }
}
