//! Bundles of many incidents written a chunk of incidents at a time, so that memory stays
//! bounded whatever the number of incidents: the streamed `GET /api/v1/export` and the
//! `export` command ([`write_all`]) over the live incidents matching a filter, and the whole
//! change set the existing DISINFOX connector asks `GET /api/v1/bundle` for in one answer
//! ([`Source::Changes`]).

use std::io::Write;

use anyhow::Context;
use axum::body::{Body, Bytes};
use stix_model::incident::BuildOptions;

use super::Assembler;
use crate::db::stix::StixRow;
use crate::db::{IncidentFilter, Store};

/// Incidents read and built per chunk.
const CHUNK: i64 = 500;

/// Which incidents a streamed bundle holds, in change order.
#[derive(Debug, Clone)]
pub enum Source {
    /// The live incidents matching a filter (the export).
    Live(Box<IncidentFilter>),
    /// Every incident (revoked ones too) changed after this change, up to the last change
    /// committed when the stream reaches the end of the log (the bundle endpoint).
    Changes(i64),
}

/// The state of one streamed bundle.
pub struct Exporter {
    store: Store,
    source: Source,
    /// Writes the objects, each shared object once.
    assembler: Assembler,
    started: bool,
    done: bool,
    incidents: usize,
}

impl Exporter {
    /// An export of the live incidents matching `filter`, in change order.
    pub fn new(store: Store, filter: IncidentFilter, opts: BuildOptions) -> anyhow::Result<Self> {
        Self::of(store, Source::Live(Box::new(filter)), opts)
    }

    /// A streamed bundle of the incidents of `source`.
    pub fn of(store: Store, mut source: Source, opts: BuildOptions) -> anyhow::Result<Self> {
        if let Source::Live(f) = &mut source {
            f.after_seq = Some(0);
        }
        let assembler = Assembler::new(&store, opts)?;
        Ok(Self {
            store,
            source,
            assembler,
            started: false,
            done: false,
            incidents: 0,
        })
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

    /// The next chunk of incidents of the source, in change order.
    async fn read(&mut self) -> anyhow::Result<Vec<StixRow>> {
        let flavor = self.assembler.flavor();
        let rows = match &mut self.source {
            Source::Live(filter) => {
                let rows = self
                    .store
                    .live_incidents_stix(filter, CHUNK, flavor)
                    .await
                    .context("export: reading incidents")?;
                if let Some(last) = rows.last() {
                    filter.after_seq = Some(last.change_seq);
                }
                rows
            }
            Source::Changes(after) => {
                let rows = self
                    .store
                    .changes_after_stix(*after, CHUNK, flavor, false)
                    .await
                    .context("bundle: reading changes")?;
                if let Some(last) = rows.last() {
                    *after = last.change_seq;
                }
                rows
            }
        };
        Ok(rows)
    }

    async fn build_chunk(&mut self) -> anyhow::Result<Vec<u8>> {
        let mut out = Vec::new();
        if !self.started {
            self.started = true;
            Assembler::head(&mut out);
        }
        let rows = self.read().await?;
        self.assembler.add_rows(&mut out, &rows).await?;
        self.incidents += rows.len();
        if (rows.len() as i64) < CHUNK {
            // A bundle without incidents still holds the objects every bundle starts with.
            self.assembler.base_once(&mut out);
            Assembler::tail(&mut out);
            self.done = true;
        }
        Ok(out)
    }

    /// The bundle as a response body, produced as the client reads it: one chunk of incidents
    /// read and written at a time.
    pub fn into_body(self) -> Body {
        let stream = futures_util::stream::unfold(self, |mut e| async move {
            match e.next_chunk().await {
                Ok(Some(bytes)) => Some((Ok::<Bytes, std::io::Error>(Bytes::from(bytes)), e)),
                Ok(None) => None,
                Err(err) => {
                    tracing::error!(error = ?err, "streamed bundle failed; the response is cut short");
                    Some((Err(std::io::Error::other("streamed bundle failed")), e))
                }
            }
        });
        Body::from_stream(stream)
    }
}

/// Writes every live incident as one bundle, a chunk at a time (the `export` command); returns
/// how many incidents were written.
pub async fn write_all(
    store: &Store,
    opts: BuildOptions,
    out: &mut dyn Write,
) -> anyhow::Result<usize> {
    let mut exporter = Exporter::new(store.clone(), IncidentFilter::default(), opts)?;
    while let Some(chunk) = exporter.next_chunk().await? {
        out.write_all(&chunk)?;
    }
    out.write_all(b"\n")?;
    Ok(exporter.incidents())
}
