//! The AMQP path: one persistent message per object bundle, expectations added first, every
//! message confirmed by the broker and the unconfirmed ones published again (bounded).

use stix_model::split::TextSplit;

use super::push::Delivery;
use super::{Connector, RunError, RunReport};
use crate::amqp::{self, AmqpError};
use crate::opencti;

impl Connector {
    /// One message per object bundle; expectations added before publishing; every message
    /// confirmed by the broker, the unconfirmed ones published again (bounded).
    pub(super) async fn push_amqp(
        &self,
        work: &str,
        split: TextSplit,
        report: &mut RunReport,
        delivery: &mut Delivery,
    ) -> Result<u64, RunError> {
        let target = self.amqp.as_ref().ok_or(RunError::NoAmqp)?;
        let seven = opencti::major(&self.platform_version) >= 7;
        let mut messages = Vec::with_capacity(split.objects.len());
        for text in split.into_bundles() {
            let body = amqp::message_body(
                text.as_bytes(),
                messages.len() + 1,
                self.registration.connector_user_id.as_deref(),
                Some(work),
                seven,
            );
            if body.len() > self.settings.connector.max_message_size {
                self.too_large(work, &text, body.len(), report, delivery)
                    .await?;
                continue;
            }
            messages.push(body);
        }
        if messages.is_empty() {
            return Ok(0);
        }
        self.opencti.add_expectations(work, messages.len()).await?;
        let mut todo: Vec<usize> = (0..messages.len()).collect();
        let mut attempt = 1;
        loop {
            let batch: Vec<&[u8]> = todo.iter().map(|&i| messages[i].as_slice()).collect();
            let outcome = tokio::select! {
                r = target.publish(&batch, self.tuning.amqp_timeout) => r,
                () = self.stop.cancelled() => return Err(RunError::Stopped),
            };
            let (failed, reason) = match outcome {
                Ok(f) if f.is_empty() => break,
                Ok(f) => {
                    let reason = f[0].1.clone();
                    (
                        f.into_iter().map(|(i, _)| todo[i]).collect::<Vec<_>>(),
                        reason,
                    )
                }
                Err(e) => (todo.clone(), e.to_string()),
            };
            self.metrics
                .bundles_sent
                .add((todo.len() - failed.len()) as u64);
            if attempt >= self.tuning.retry.attempts.max(1) {
                return Err(RunError::Amqp(AmqpError::Unconfirmed {
                    failed: failed.len(),
                    total: messages.len(),
                    reason,
                }));
            }
            tracing::warn!(
                failed = failed.len(),
                attempt,
                reason = %reason,
                "Some messages were not accepted by RabbitMQ; publishing them again"
            );
            if !self.tuning.retry.wait(attempt, &self.stop).await {
                return Err(RunError::Stopped);
            }
            attempt += 1;
            todo = failed;
        }
        self.metrics.bundles_sent.add(todo.len() as u64);
        Ok(messages.len() as u64)
    }
}
