//! The demo dataset: deterministic synthetic incidents (no third-party data), and the accounts
//! to try them with.

use stix_model::Timestamp;

use crate::model::{IncidentInput, TechniquePolicy};
use crate::state::AppState;

/// How many incidents `serve --demo` and `demo` create.
pub const DEMO_INCIDENTS: usize = 240;

/// The sample incidents as API inputs (seed 42).
pub fn inputs(n: usize, seed: u64) -> Vec<(IncidentInput, Timestamp)> {
    stix_model::sample::incidents(seed, n)
        .into_iter()
        .map(|d| {
            let created = d.created.unwrap_or_else(Timestamp::now);
            let input = IncidentInput {
                name: d.name,
                description: d.description.unwrap_or_default(),
                first_seen: d.first_seen.map(|x| x.to_string()),
                last_seen: d.last_seen.map(|x| x.to_string()),
                techniques: d.techniques,
                actors: d
                    .actors
                    .iter()
                    .map(|a| {
                        if a.uncertain {
                            format!("{}*", a.name)
                        } else {
                            a.name.clone()
                        }
                    })
                    .collect(),
                target_countries: d.target_countries.iter().map(ToString::to_string).collect(),
                country_of_origin: d.country_of_origin.map(|c| c.to_string()),
                region: d.region,
                sub_region: d.sub_region,
                channels: d.channels,
                attribution_sources: d
                    .attribution_sources
                    .iter()
                    .map(|s| s.as_str().to_owned())
                    .collect(),
                attribution_confidence: d.attribution_confidence.map(|c| i64::from(c.get())),
                source_urls: d.source_urls,
                cyber_attack: d.cyber_attack,
                labels: d.labels,
                confidence: d.confidence.map(|c| i64::from(c.get())),
            };
            (input, created)
        })
        .collect()
}

/// Loads the demo incidents unless the database has incidents already; returns how many
/// were added.
pub async fn seed(state: &AppState, n: usize) -> anyhow::Result<usize> {
    let (live, revoked) = state.store.incident_counts().await?;
    if live + revoked > 0 {
        return Ok(0);
    }
    let mut added = 0;
    for (input, created) in inputs(n, 42) {
        let incident = input
            .validate(
                state.settings.disarm_version,
                TechniquePolicy::Keep,
                &mut Vec::new(),
            )
            .map_err(|e| anyhow::anyhow!("demo incident invalid: {e:?}"))?;
        let id = stix_model::opencti::incident(&incident.input.name, &created.to_string())?;
        state
            .store
            .save_incident(&id, &incident, created, None, None)
            .await?;
        added += 1;
    }
    Ok(added)
}
