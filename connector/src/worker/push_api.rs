//! The API path: a page in one `stixBundlePush`, or its split packed into bundles under the
//! message limit.

use stix_model::split::TextSplit;

use super::push::Delivery;
use super::{Connector, RunError, RunReport};
use crate::opencti::BundlePush;

impl Connector {
    /// The most bytes of bundle one `stixBundlePush` carries: ¾ of the message limit (OpenCTI
    /// sends a pushed bundle to its workers as one base64 message), less room for the envelope.
    pub(super) fn push_limit(&self) -> usize {
        (self.settings.connector.max_message_size / 4 * 3).saturating_sub(64 * 1024)
    }

    /// Sends a bundle built whole; returns how many objects it holds.
    pub(super) async fn push_whole(&self, push: BundlePush) -> Result<u64, RunError> {
        let n = push.objects() as u64;
        if n == 0 {
            return Ok(0);
        }
        tokio::select! {
            r = self.opencti.push(push) => r?,
            () = self.stop.cancelled() => return Err(RunError::Stopped),
        }
        self.metrics.bundles_sent.inc();
        Ok(n)
    }

    /// The objects of the split, packed into bundles of at most ¾ of the message limit
    /// (OpenCTI sends a pushed bundle to its workers as one base64 message), in dependency
    /// order.
    pub(super) async fn push_api(
        &self,
        work: &str,
        split: TextSplit,
        report: &mut RunReport,
        delivery: &mut Delivery,
    ) -> Result<u64, RunError> {
        let limit = self.push_limit();
        let mut remaining: usize = split.objects.iter().map(|(_, t)| t.len() + 1).sum();
        let id = self.registration.id.as_str();
        let mut pushed = 0u64;
        let mut push = BundlePush::new(id, Some(work), remaining.min(limit));
        let mut objects = split.objects.into_iter();
        loop {
            let text = match objects.next() {
                Some((_, text)) if text.len() > limit => {
                    remaining -= text.len() + 1;
                    self.too_large(work, &text, text.len(), report, delivery)
                        .await?;
                    continue;
                }
                Some((_, text)) => Some(text),
                None => None,
            };
            let full = match &text {
                Some(t) => push.objects() > 0 && push.bundle_len() + t.len() + 1 > limit,
                None => push.objects() > 0,
            };
            if full {
                let n = push.objects() as u64;
                let next = BundlePush::new(id, Some(work), remaining.min(limit));
                tokio::select! {
                    r = self.opencti.push(std::mem::replace(&mut push, next)) => r?,
                    () = self.stop.cancelled() => return Err(RunError::Stopped),
                }
                self.metrics.bundles_sent.inc();
                pushed += n;
            }
            let Some(t) = text else { break };
            remaining -= t.len() + 1;
            push.object(&t);
        }
        Ok(pushed)
    }
}
