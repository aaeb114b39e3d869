//! A page on its way out: OpenCTI's split (objects it does not import are left out and
//! counted), then the API or AMQP path; an object too large for one message is reported in the
//! work and skipped.

use stix_model::split::{split_texts, SplitOptions};

use super::{Connector, RunError, RunReport};
use crate::configuration::QueueProtocol;
use crate::logging::json;

impl Connector {
    /// Pushes the objects of a page; returns how many OpenCTI (or the broker) accepted.
    pub(super) async fn push(
        &self,
        work: &str,
        objects: Vec<String>,
        report: &mut RunReport,
    ) -> Result<u64, RunError> {
        let split = split_texts(None, objects, &SplitOptions::default());
        if !split.dropped.is_empty() {
            report.unsupported += split.dropped.len() as u64;
            self.metrics.objects_skipped.add(split.dropped.len() as u64);
            let mut kinds: std::collections::BTreeMap<String, usize> = Default::default();
            for d in &split.dropped {
                *kinds
                    .entry(d.object_type.clone().unwrap_or_else(|| "?".into()))
                    .or_default() += 1;
            }
            tracing::debug!(types = %json(&kinds), "Objects OpenCTI does not import were left out");
        }
        match self.settings.connector.queue_protocol {
            QueueProtocol::Api => self.push_api(work, split, report).await,
            QueueProtocol::Amqp => self.push_amqp(work, split, report).await,
        }
    }

    /// Reports an object (or its bundle: `text`) too large for one message.
    pub(super) async fn too_large(
        &self,
        work: &str,
        text: &str,
        size: usize,
        report: &mut RunReport,
    ) -> Result<(), RunError> {
        report.too_large += 1;
        self.metrics.objects_skipped.inc();
        let id = object_id(text);
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
