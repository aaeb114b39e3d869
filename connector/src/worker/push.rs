//! A page on its way out: objects OpenCTI accepted earlier in the run are left out, then the
//! page goes out whole (API path, when it can) or through OpenCTI's split (objects it does not
//! import are left out and counted) to the API or AMQP path; an object too large for one
//! message is reported in the work and skipped.
//!
//! Objects OpenCTI accepted earlier in the run, byte for byte (`seen.rs`), are not sent again.
//! They still count for the split's references: the split removes a reference to an object
//! that is not in what it splits (`cleanup_inconsistent_bundle`), and a relationship without
//! both ends. So when every reference of the new objects points into the page (the page is
//! closed, as the server's pages are), only the new objects are split, without that clean-up:
//! a reference to an object accepted before stays, as it would have with that object in the
//! split, and OpenCTI holds its target. Otherwise (a reference to an invalid object, say) the
//! whole page is split with the clean-up, as if nothing had been accepted before.
//!
//! On the API path OpenCTI's worker splits every bundle it receives
//! (`docs/opencti-connector-protocol.md#stixbundlepush`), and pycti pushes a bundle as it is.
//! So a closed page whose new objects fit one push goes as one bundle, unsplit, with only what
//! the split would leave out taken out first: objects of types OpenCTI does not import, and an
//! object a later one with the same id replaces. A page that needs several pushes is split, so
//! that every push comes after the ones holding what it refers to.

use std::sync::Arc;

use hashbrown::HashSet;
use stix_model::split::{is_supported_id, split_texts, SplitOptions};

use super::{Connector, RunError, RunReport};
use crate::configuration::QueueProtocol;
use crate::logging::json;
use crate::opencti::BundlePush;
use crate::page::{Page, PageObject};

/// What became of a page's objects.
#[derive(Debug, Default)]
pub(super) struct Delivery {
    /// Objects OpenCTI (or the broker) accepted.
    pub(super) pushed: u64,
    /// Ids of the objects not sent as they are: left out or changed by the split, too large.
    pub(super) refused: HashSet<Arc<str>>,
}

impl Connector {
    /// Pushes the objects of a page not accepted before in the run. The answer is let go as
    /// soon as what is sent is made from it.
    pub(super) async fn push(
        &self,
        work: &str,
        page: Page,
        report: &mut RunReport,
    ) -> Result<Delivery, RunError> {
        let mut delivery = Delivery::default();
        let outgoing: Vec<&PageObject> = if page.closed {
            let before = report.known;
            let new = page
                .objects
                .iter()
                .filter(|o| {
                    report.known += u64::from(o.known);
                    !o.known && !o.replaced
                })
                .collect();
            tracing::debug!(
                objects = report.known - before,
                "Objects OpenCTI accepted earlier in the run left out"
            );
            new
        } else {
            page.objects.iter().collect()
        };
        if page.closed && self.settings.connector.queue_protocol == QueueProtocol::Api {
            let size: usize = outgoing.iter().map(|o| page.text(o).len() + 1).sum();
            if size <= self.push_limit() {
                let mut push = BundlePush::new(self.registration.id.as_str(), Some(work), size);
                let mut unsupported = Vec::new();
                for o in outgoing {
                    if is_supported_id(&o.id) {
                        push.object(page.text(o));
                    } else {
                        unsupported.push(o.id.clone());
                    }
                }
                drop(page);
                self.unsupported(&unsupported, report);
                delivery.refused.extend(unsupported);
                delivery.pushed = self.push_whole(push).await?;
                return Ok(delivery);
            }
        }
        let texts = outgoing
            .into_iter()
            .map(|o| {
                // With room for the `nb_deps` the split puts in.
                let text = page.text(o);
                let mut t = String::with_capacity(text.len() + 24);
                t.push_str(text);
                t
            })
            .collect();
        let mut options = SplitOptions::default();
        options.cleanup_inconsistent_bundle = !page.closed;
        drop(page);
        let split = split_texts(None, texts, &options);
        // Neither what the split left out nor what it changed is remembered as accepted: a
        // changed object (a reference removed) must go out whole once its page allows.
        let refused = split
            .dropped
            .iter()
            .filter_map(|d| d.id.as_deref())
            .chain(split.removed_refs.iter().map(|r| r.from.as_str()));
        delivery.refused.extend(refused.map(Arc::from));
        if !split.dropped.is_empty() {
            let mut kinds: std::collections::BTreeMap<String, usize> = Default::default();
            for d in &split.dropped {
                *kinds
                    .entry(d.object_type.clone().unwrap_or_else(|| "?".into()))
                    .or_default() += 1;
            }
            self.count_unsupported(split.dropped.len(), &kinds, report);
        }
        delivery.pushed = match self.settings.connector.queue_protocol {
            QueueProtocol::Api => self.push_api(work, split, report, &mut delivery).await,
            QueueProtocol::Amqp => self.push_amqp(work, split, report, &mut delivery).await,
        }?;
        Ok(delivery)
    }

    /// Counts objects OpenCTI does not import (given by id), left out.
    fn unsupported(&self, ids: &[Arc<str>], report: &mut RunReport) {
        if ids.is_empty() {
            return;
        }
        let mut kinds: std::collections::BTreeMap<String, usize> = Default::default();
        for id in ids {
            let kind = id.split_once("--").map_or("?", |(t, _)| t);
            *kinds.entry(kind.to_owned()).or_default() += 1;
        }
        self.count_unsupported(ids.len(), &kinds, report);
    }

    fn count_unsupported(
        &self,
        n: usize,
        kinds: &std::collections::BTreeMap<String, usize>,
        report: &mut RunReport,
    ) {
        report.unsupported += n as u64;
        self.metrics.objects_skipped.add(n as u64);
        tracing::debug!(types = %json(kinds), "Objects OpenCTI does not import were left out");
    }

    /// Reports an object (or its bundle: `text`) too large for one message.
    pub(super) async fn too_large(
        &self,
        work: &str,
        text: &str,
        size: usize,
        report: &mut RunReport,
        delivery: &mut Delivery,
    ) -> Result<(), RunError> {
        report.too_large += 1;
        self.metrics.objects_skipped.inc();
        let id = object_id(text);
        delivery.refused.insert(Arc::from(id.as_str()));
        let message = format!(
            "object too large for one message ({size} bytes > CONNECTOR_MAX_MESSAGE_SIZE {}), skipped",
            self.settings.connector.max_message_size
        );
        tracing::warn!(object = %id, bytes = size, "Object too large for one message skipped");
        self.opencti.report_error(work, &message, &id).await?;
        Ok(())
    }
}

/// The `id` of an object given as JSON text, or of the object in a one-object bundle.
fn object_id(text: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Object {
        id: Option<String>,
        objects: Option<Vec<Object>>,
    }
    match serde_json::from_str::<Object>(text) {
        Ok(Object {
            objects: Some(mut o),
            ..
        }) if o.len() == 1 => o.pop().and_then(|o| o.id),
        Ok(o) => o.id,
        Err(_) => None,
    }
    .unwrap_or_else(|| "?".into())
}
