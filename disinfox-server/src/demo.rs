//! The demo dataset: deterministic synthetic incidents (no third-party data), and the accounts
//! to try them with.

use stix_model::Timestamp;

use crate::auth::{KeyMaterial, Scope};
use crate::model::{IncidentInput, TechniquePolicy};
use crate::ops::{self, By};
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

/// The administrator of the demo.
pub const DEMO_ADMIN: &str = "admin@disinfox.local";
/// The reader whose key the demo prints.
pub const DEMO_READER: &str = "reader@disinfox.local";

/// What the demo prints to sign in with.
#[derive(Debug)]
pub struct DemoAccounts {
    /// `e-mail / password` of the administrator (the password only when created now).
    pub admin_login: String,
    /// A new read API key of the reader.
    pub read_key: String,
}

/// The demo accounts: the administrator and the reader (created through the same operation as
/// `user add` when missing) and a new read key of the reader (issued like every key; the demo
/// is the operator's, so the reader's key cap does not apply).
pub async fn accounts(state: &AppState) -> anyhow::Result<DemoAccounts> {
    let by = By::Operator("demo");
    let failed = |e: crate::error::ApiError| anyhow::anyhow!("{e}");
    let admin_login = match state.store.user_by_email(DEMO_ADMIN).await? {
        Some(_) => format!("{DEMO_ADMIN} (existing account: use its password)"),
        None => {
            let (_, password) = ops::add_user(state, by, DEMO_ADMIN, "admin", None)
                .await
                .map_err(failed)?;
            format!("{DEMO_ADMIN} / {}", password.unwrap_or_default())
        }
    };
    let reader = match state.store.user_by_email(DEMO_READER).await? {
        Some((u, _)) => u,
        None => {
            ops::add_user(state, by, DEMO_READER, "reader", None)
                .await
                .map_err(failed)?
                .0
        }
    };
    let key = KeyMaterial::generate()?;
    ops::issue_key(&state.store, by, &reader, "demo", Scope::Read, &key, None)
        .await
        .map_err(failed)?;
    Ok(DemoAccounts {
        admin_login,
        read_key: key.secret,
    })
}
