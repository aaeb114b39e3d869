//! STIX 2.1 bundles: each incident with its techniques, actors, locations and channels read
//! from its relationships and from the DISINFOX extension; every object checked by
//! `stix-model`, each problem reported with the object's id.

use std::collections::BTreeMap;

use stix_model::disarm::{DisarmVersion, TechniqueId};
use stix_model::extension::DisinformationIncident;
use stix_model::{Bundle, CountryCode, StixObject};

use super::{field_errors, ImportReport, Plan, Rejected};
use crate::db::jobs::{Change, Planned};
use crate::error::{ApiError, ApiResult};
use crate::model::{is_url, IncidentInput, TechniquePolicy};

fn disarm_id(o: &StixObject) -> Option<String> {
    let StixObject::AttackPattern(ap) = o else {
        return None;
    };
    if let Some(x) = ap.custom.get("x_mitre_id").and_then(|v| v.as_str()) {
        return TechniqueId::parse(x).ok().map(|t| t.to_string());
    }
    ap.common
        .external_references
        .iter()
        .filter(|r| {
            r.source_name.starts_with("mitre-") || r.source_name.eq_ignore_ascii_case("DISARM")
        })
        .find_map(|r| {
            r.external_id
                .as_deref()
                .and_then(|x| TechniqueId::parse(x).ok())
        })
        .map(|t| t.to_string())
}

fn name_of(o: &StixObject) -> Option<String> {
    match o {
        StixObject::ThreatActor(t) => Some(t.name.clone()),
        StixObject::IntrusionSet(t) => Some(t.name.clone()),
        StixObject::Campaign(t) => Some(t.name.clone()),
        StixObject::Identity(t) => Some(t.name.clone()),
        StixObject::Channel(t) => Some(t.name.clone()),
        _ => None,
    }
}

fn country_of(o: &StixObject) -> Option<String> {
    let StixObject::Location(l) = o else {
        return None;
    };
    l.country
        .as_deref()
        .and_then(CountryCode::lookup)
        .or_else(|| l.name.as_deref().and_then(CountryCode::lookup))
        .map(|c| c.to_string())
}

/// Reads a bundle: its objects, and a report that rejects each object that does not parse
/// (once, with every violation). A bundle whose own properties are wrong (`type`, `id`,
/// `objects`) is refused whole: nothing of it is imported.
fn read_bundle(bytes: &[u8]) -> ApiResult<(Vec<StixObject>, ImportReport)> {
    let mut objects = Vec::new();
    let mut bad: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let head = Bundle::stream(bytes, |o| {
        match o {
            Ok(o) => objects.push(o),
            Err(violations) => {
                for v in violations {
                    bad.entry(v.object_id.clone().unwrap_or_else(|| "object".into()))
                        .or_default()
                        .push(v.to_string());
                }
            }
        }
        Ok(())
    });
    match head {
        Ok(_) => {}
        Err(stix_model::Error::Invalid(v)) => {
            return Err(ApiError::Invalid {
                message: format!(
                    "the bundle was refused, nothing of it was imported: {}",
                    v.iter()
                        .map(|x| format!(
                            "{}{}",
                            if x.path.is_empty() {
                                String::new()
                            } else {
                                format!("{}: ", x.path)
                            },
                            x.message
                        ))
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
                fields: BTreeMap::new(),
            })
        }
        Err(e) => return Err(ApiError::BadRequest(format!("not a STIX bundle: {e}"))),
    }
    let mut report = ImportReport::default();
    for (r, errors) in bad {
        report.rejected.push(Rejected {
            r#ref: r,
            name: None,
            errors,
        });
    }
    Ok((objects, report))
}

/// Plans the incidents of a STIX 2.1 bundle (with their techniques, actors, locations and
/// channels read from the relationships and from the DISINFOX extension).
pub(super) fn plan(bytes: &[u8], disarm: DisarmVersion) -> ApiResult<Plan> {
    let (objects, mut report) = read_bundle(bytes)?;
    let mut items = Vec::new();
    let by_id: BTreeMap<&str, &StixObject> = objects.iter().map(|o| (o.id(), o)).collect();
    let mut rels: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
    for o in &objects {
        if let StixObject::Relationship(r) = o {
            rels.entry(r.source_ref.as_str())
                .or_default()
                .push((r.relationship_type.as_str(), r.target_ref.as_str()));
        }
    }
    // Each incident id is imported (or rejected) once: an id given more than once is
    // rejected when two copies share a `modified` time (which one is meant cannot be told),
    // else its latest version is imported; an id reported rejected is never applied.
    let rejected_ids: std::collections::BTreeSet<String> =
        report.rejected.iter().map(|r| r.r#ref.clone()).collect();
    let mut copies: BTreeMap<&str, Vec<&stix_model::Incident>> = BTreeMap::new();
    for o in &objects {
        if let StixObject::Incident(inc) = o {
            copies.entry(inc.common.id.as_str()).or_default().push(inc);
        }
    }
    let mut chosen: BTreeMap<&str, &stix_model::Incident> = BTreeMap::new();
    for (id, mut v) in copies {
        if rejected_ids.contains(id) {
            continue;
        }
        v.sort_by_key(|i| i.common.modified);
        let latest = v[v.len() - 1];
        if v.len() > 1 {
            let times: std::collections::BTreeSet<_> =
                v.iter().map(|i| i.common.modified).collect();
            if times.len() < v.len() {
                report.rejected.push(Rejected {
                    r#ref: id.to_owned(),
                    name: Some(latest.name.clone()),
                    errors: vec![format!(
                        "the bundle holds this incident {} times, some with the same modified time: which one to import cannot be told",
                        v.len()
                    )],
                });
                continue;
            }
            report.warnings.push(format!(
                "{id}: the bundle holds {} versions; the latest (modified {}) is imported",
                v.len(),
                latest.common.modified
            ));
        }
        chosen.insert(id, latest);
    }
    // In the bundle's order.
    let chosen: Vec<&stix_model::Incident> = objects
        .iter()
        .filter_map(|o| chosen.remove(o.id()))
        .collect();
    for inc in chosen {
        let id = inc.common.id.clone();
        if inc.common.revoked == Some(true) {
            items.push(Planned {
                r#ref: id.to_string(),
                name: Some(inc.name.clone()),
                change: Change::Revoke(id),
                warnings: Vec::new(),
            });
            continue;
        }
        let mut item_warnings = Vec::new();
        let mut input = IncidentInput {
            name: inc.name.clone(),
            description: inc.description.clone().unwrap_or_default(),
            labels: inc.common.labels.clone(),
            confidence: inc.common.confidence.map(|c| i64::from(c.get())),
            ..IncidentInput::default()
        };
        for r in &inc.common.external_references {
            if let Some(u) = r.url.as_deref().filter(|u| is_url(u)) {
                input.source_urls.push(u.to_owned());
            }
        }
        if let Some(Ok(ext)) = DisinformationIncident::from_extensions(&inc.common.extensions) {
            input.first_seen = ext.first_seen.map(|d| d.to_string());
            input.last_seen = ext.last_seen.map(|d| d.to_string());
            input.region = ext.region.clone();
            input.sub_region = ext.sub_region.clone();
            input.channels = ext.channels.clone();
            input.attribution_sources = ext
                .attribution
                .source_kinds
                .iter()
                .map(|s| s.as_str().to_owned())
                .collect();
            input.attribution_confidence = ext.attribution.confidence.map(|c| i64::from(c.get()));
            input.cyber_attack = ext.cyber_attack;
            input.target_countries = ext
                .target_countries
                .iter()
                .map(ToString::to_string)
                .collect();
            input.country_of_origin = ext.country_of_origin.map(|c| c.to_string());
            input
                .techniques
                .extend(ext.unknown_techniques.iter().cloned());
            for u in &ext.attribution.uncertain_actors {
                input.actors.push(format!("{u}*"));
            }
        }
        // What the lists hold already (lower-case): one set, so many relationships cost
        // n log n, not their square.
        let mut seen: std::collections::BTreeSet<(&str, String)> = input
            .techniques
            .iter()
            .map(|t| ("technique", t.to_ascii_lowercase()))
            .chain(input.actors.iter().map(|a| {
                (
                    "actor",
                    a.trim_end_matches('*').trim_end().to_ascii_lowercase(),
                )
            }))
            .chain(
                input
                    .target_countries
                    .iter()
                    .map(|c| ("target", c.to_ascii_lowercase())),
            )
            .chain(
                input
                    .channels
                    .iter()
                    .map(|c| ("channel", c.to_ascii_lowercase())),
            )
            .collect();
        for (ty, target) in rels.get(id.as_str()).into_iter().flatten() {
            let Some(t) = by_id.get(target) else {
                item_warnings.push(format!("{ty} {target} is not in the bundle; left out"));
                continue;
            };
            // A channel: `uses` in bundles for OpenCTI (`related-to` before). Its name or an
            // alias (the name as recorded, docs/opencti-import.md) may already be listed.
            if let (StixObject::Channel(ch), "uses" | "related-to") = (t, *ty) {
                let known = std::iter::once(&ch.name)
                    .chain(&ch.aliases)
                    .any(|n| seen.contains(&("channel", n.to_ascii_lowercase())));
                if !known && seen.insert(("channel", ch.name.to_ascii_lowercase())) {
                    input.channels.push(ch.name.clone());
                }
                continue;
            }
            match *ty {
                "uses" => match disarm_id(t) {
                    Some(x) => {
                        if seen.insert(("technique", x.to_ascii_lowercase())) {
                            input.techniques.push(x);
                        }
                    }
                    None => item_warnings.push(format!(
                        "uses {target}, which is not a DISARM technique; left out"
                    )),
                },
                "attributed-to" => {
                    if let Some(n) = name_of(t) {
                        if seen.insert(("actor", n.to_ascii_lowercase())) {
                            input.actors.push(n);
                        }
                    }
                }
                "targets" => {
                    if let Some(c) = country_of(t) {
                        if seen.insert(("target", c.to_ascii_lowercase())) {
                            input.target_countries.push(c);
                        }
                    }
                }
                "originates-from" => {
                    input.country_of_origin = country_of(t).or(input.country_of_origin)
                }
                _ => {}
            }
        }
        let change = match input.validate(disarm, TechniquePolicy::Keep, &mut item_warnings) {
            Err(fields) => Change::Reject(field_errors(fields)),
            Ok(incident) => Change::Save {
                id: id.clone(),
                by_name: false,
                incident: Box::new(incident),
                created: inc.common.created,
                modified: Some(inc.common.modified),
            },
        };
        items.push(Planned {
            r#ref: id.to_string(),
            name: Some(inc.name.clone()),
            change,
            warnings: item_warnings,
        });
    }
    if objects
        .iter()
        .all(|o| !matches!(o, StixObject::Incident(_)))
        && report.rejected.is_empty()
    {
        report.warnings.push("the bundle holds no incident".into());
    }
    // Objects that did not parse, and incident ids rejected as a whole, come first.
    let mut all: Vec<Planned> = report
        .rejected
        .into_iter()
        .map(|r| Planned {
            r#ref: r.r#ref,
            name: r.name,
            change: Change::Reject(r.errors),
            warnings: Vec::new(),
        })
        .collect();
    all.extend(items);
    Ok(Plan {
        items: all,
        warnings: report.warnings,
    })
}
