//! The export of many incidents as one bundle, written a chunk of incidents at a time so that
//! memory stays bounded whatever the number of incidents. Serves the streamed
//! `GET /api/v1/export` and the `export` command ([`write_all`]).

use std::collections::BTreeSet;
use std::io::Write;

use anyhow::Context;
use stix_model::incident::BuildOptions;

use crate::db::{IncidentFilter, Sort, Store};

/// Incidents read and built per chunk.
const CHUNK: i64 = 500;

/// The state of one export.
pub struct Exporter {
    store: Store,
    filter: IncidentFilter,
    opts: BuildOptions,
    /// Shared objects already written (identities, markings, techniques, actors, countries).
    seen: BTreeSet<String>,
    started: bool,
    wrote_object: bool,
    done: bool,
    incidents: usize,
}

impl Exporter {
    /// An export of the live incidents matching `filter`, in change order.
    pub fn new(store: Store, mut filter: IncidentFilter, opts: BuildOptions) -> Self {
        filter.after_seq = Some(0);
        Self {
            store,
            filter,
            opts,
            seen: BTreeSet::new(),
            started: false,
            wrote_object: false,
            done: false,
            incidents: 0,
        }
    }

    /// How many incidents were written so far.
    pub fn incidents(&self) -> usize {
        self.incidents
    }

    /// The next piece of the bundle's JSON text; `None` once the bundle is complete. After an
    /// error the export is over (the text written so far is not a whole bundle).
    pub async fn next_chunk(&mut self) -> anyhow::Result<Option<Vec<u8>>> {
        if self.done {
            return Ok(None);
        }
        let chunk = self.build_chunk().await;
        if chunk.is_err() {
            self.done = true;
        }
        chunk.map(Some)
    }

    async fn build_chunk(&mut self) -> anyhow::Result<Vec<u8>> {
        let mut out = Vec::new();
        if !self.started {
            self.started = true;
            out.extend_from_slice(
                format!(
                    "{{\"type\":\"bundle\",\"id\":\"bundle--{}\",\"objects\":[",
                    uuid::Uuid::new_v4()
                )
                .as_bytes(),
            );
        }
        let (rows, _) = self
            .store
            .list_incidents(&self.filter, Sort::Modified, false, 0, CHUNK)
            .await
            .context("export: reading incidents")?;
        if let Some(last) = rows.last() {
            self.filter.after_seq = Some(last.change_seq);
        }
        let b =
            super::builder(self.opts.clone(), &rows).map_err(|e| anyhow::anyhow!("export: {e}"))?;
        for o in b.into_objects() {
            // Incidents and relationships are unique to their incident; shared objects are
            // written once.
            let unique = o.id().starts_with("incident--") || o.id().starts_with("relationship--");
            if !unique && !self.seen.insert(o.id().to_owned()) {
                continue;
            }
            if self.wrote_object {
                out.push(b',');
            }
            self.wrote_object = true;
            serde_json::to_writer(&mut out, &o).context("export: serializing")?;
        }
        self.incidents += rows.len();
        if (rows.len() as i64) < CHUNK {
            out.extend_from_slice(b"]}");
            self.done = true;
        }
        Ok(out)
    }
}

/// Writes every live incident as one bundle, a chunk at a time (the `export` command); returns
/// how many incidents were written.
pub async fn write_all(
    store: &Store,
    opts: BuildOptions,
    out: &mut dyn Write,
) -> anyhow::Result<usize> {
    let mut exporter = Exporter::new(store.clone(), IncidentFilter::default(), opts);
    while let Some(chunk) = exporter.next_chunk().await? {
        out.write_all(&chunk)?;
    }
    out.write_all(b"\n")?;
    Ok(exporter.incidents())
}
