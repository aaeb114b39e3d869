//! The optional RabbitMQ side: the topology OpenCTI asserts for each connector
//! (`docs/opencti-connector-protocol.md#registration`), and a worker consuming the push queues
//! (`#amqp-messages`) that records and imports each message.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use futures_util::StreamExt as _;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
    ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
    QueuePurgeOptions,
};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ConnectionProperties, ExchangeKind};
use serde_json::Value;
use tokio::task::JoinHandle;

use super::model::{AmqpMessageRecord, Platform, Via};
use super::Shared;

/// Messages a consumer holds unacknowledged at once.
const PREFETCH: u16 = 64;

/// A broker connection, the channel used for topology, and one consumer per push queue.
pub(crate) struct Broker {
    conn: Connection,
    topology: tokio::sync::Mutex<Option<Channel>>,
    consumers: Mutex<BTreeMap<String, JoinHandle<()>>>,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker").finish_non_exhaustive()
    }
}

fn platform(shared: &Shared) -> Platform {
    shared.with(|m| m.platform.clone())
}

impl Broker {
    /// Connects (the stand-in does not start without its broker).
    pub(crate) async fn connect(url: &str) -> Result<Self, lapin::Error> {
        let conn = Connection::connect(url, ConnectionProperties::default()).await?;
        Ok(Self {
            conn,
            topology: tokio::sync::Mutex::new(None),
            consumers: Mutex::new(BTreeMap::new()),
        })
    }

    /// The topology channel, reopened when the broker closed it (a failed declaration closes
    /// the channel). The caller holds the lock so that declarations do not interleave.
    async fn topology_channel(&self, slot: &mut Option<Channel>) -> Result<Channel, lapin::Error> {
        if let Some(ch) = slot.as_ref().filter(|c| c.status().connected()) {
            return Ok(ch.clone());
        }
        let ch = self.conn.create_channel().await?;
        *slot = Some(ch.clone());
        Ok(ch)
    }

    /// Two durable direct exchanges, the connector's listen and push queues bound to them
    /// (as OpenCTI does on every registration and ping); then makes sure the push queue is
    /// being consumed.
    pub(crate) async fn assert_topology(
        &self,
        shared: &Arc<Shared>,
        id: &str,
    ) -> Result<(), lapin::Error> {
        let p = platform(shared);
        let durable = QueueDeclareOptions {
            durable: true,
            ..QueueDeclareOptions::default()
        };
        let bindings = [
            (
                p.listen_queue(id),
                p.connector_exchange(),
                p.listen_routing(id),
            ),
            (p.push_queue(id), p.worker_exchange(), p.push_routing(id)),
        ];
        {
            let mut slot = self.topology.lock().await;
            let ch = self.topology_channel(&mut slot).await?;
            for exchange in [p.connector_exchange(), p.worker_exchange()] {
                ch.exchange_declare(
                    exchange.as_str().into(),
                    ExchangeKind::Direct,
                    ExchangeDeclareOptions {
                        durable: true,
                        ..ExchangeDeclareOptions::default()
                    },
                    FieldTable::default(),
                )
                .await?;
            }
            for (queue, exchange, routing) in &bindings {
                ch.queue_declare(queue.as_str().into(), durable, FieldTable::default())
                    .await?;
                ch.queue_bind(
                    queue.as_str().into(),
                    exchange.as_str().into(),
                    routing.as_str().into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await?;
            }
        }
        self.ensure_consumer(shared, id, &p.push_queue(id)).await
    }

    async fn ensure_consumer(
        &self,
        shared: &Arc<Shared>,
        connector_id: &str,
        queue: &str,
    ) -> Result<(), lapin::Error> {
        let running = self
            .consumers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(queue)
            .is_some_and(|h| !h.is_finished());
        if running {
            return Ok(());
        }
        let ch = self.conn.create_channel().await?;
        ch.basic_qos(PREFETCH, BasicQosOptions::default()).await?;
        let consumer = ch
            .basic_consume(
                queue.into(),
                format!("opencti-standin-{queue}").as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        let (shared2, cid, q) = (shared.clone(), connector_id.to_owned(), queue.to_owned());
        let task = tokio::spawn(async move {
            let _channel = ch;
            let mut consumer = consumer;
            while let Some(Ok(d)) = consumer.next().await {
                let accepted = handle_delivery(&shared2, &cid, &q, &d);
                // Like the worker: a bad message is dropped (nack without requeue).
                let _ = if accepted {
                    d.ack(BasicAckOptions::default()).await
                } else {
                    d.nack(BasicNackOptions {
                        requeue: false,
                        multiple: false,
                    })
                    .await
                };
            }
        });
        self.consumers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(queue.to_owned(), task);
        Ok(())
    }

    /// Purges the connector's push and listen queues (state reset,
    /// `docs/opencti-connector-protocol.md#ping-and-state`).
    pub(crate) async fn purge(&self, shared: &Arc<Shared>, id: &str) -> Result<(), lapin::Error> {
        let p = platform(shared);
        let mut slot = self.topology.lock().await;
        for q in [p.push_queue(id), p.listen_queue(id)] {
            let ch = self.topology_channel(&mut slot).await?;
            // A queue that does not exist (never asserted) has nothing to purge.
            let exists = ch
                .queue_declare(
                    q.as_str().into(),
                    QueueDeclareOptions {
                        passive: true,
                        ..QueueDeclareOptions::default()
                    },
                    FieldTable::default(),
                )
                .await;
            if exists.is_ok() {
                ch.queue_purge(q.as_str().into(), QueuePurgeOptions::default())
                    .await?;
            }
        }
        Ok(())
    }

    /// Deletes the connector's queues (connector deleted).
    pub(crate) async fn delete_queues(
        &self,
        shared: &Arc<Shared>,
        id: &str,
    ) -> Result<(), lapin::Error> {
        let p = platform(shared);
        if let Some(h) = self
            .consumers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&p.push_queue(id))
        {
            h.abort();
        }
        let mut slot = self.topology.lock().await;
        let ch = self.topology_channel(&mut slot).await?;
        for q in [p.push_queue(id), p.listen_queue(id)] {
            ch.queue_delete(q.as_str().into(), QueueDeleteOptions::default())
                .await?;
        }
        Ok(())
    }

    /// Stops the consumers and closes the connection.
    pub(crate) async fn close(&self) {
        let tasks: Vec<JoinHandle<()>> =
            std::mem::take(&mut *self.consumers.lock().unwrap_or_else(|e| e.into_inner()))
                .into_values()
                .collect();
        for t in tasks {
            t.abort();
        }
        let _ = self.conn.close(200, "OK".into()).await;
    }
}

/// The envelope keys pycti always sends (`docs/opencti-connector-protocol.md#amqp-messages`),
/// checked so that a connector that drifts from the contract is caught here.
const REQUIRED: &[&str] = &[
    "bundle_type",
    "applicant_id",
    "action_sequence",
    "entities_types",
    "content",
    "update",
];

struct Envelope {
    bundle: Value,
    work_id: Option<String>,
    update: bool,
    no_split: bool,
}

/// Validates an envelope and decodes its content.
fn decode(env: &Value, user_id: &str) -> Result<Envelope, String> {
    let Value::Object(m) = env else {
        return Err("the message is not a JSON object".into());
    };
    if let Some(k) = REQUIRED.iter().find(|k| !m.contains_key(**k)) {
        return Err(format!("missing key {k:?}"));
    }
    if m.get("bundle_type").and_then(Value::as_str) != Some("QUEUE_BUNDLE") {
        return Err("bundle_type is not \"QUEUE_BUNDLE\"".into());
    }
    match m.get("applicant_id") {
        Some(Value::Null) => {}
        Some(Value::String(a)) if a == user_id => {}
        Some(Value::String(a)) => return Err(format!("unknown applicant_id {a:?}")),
        _ => return Err("applicant_id is neither a string nor null".into()),
    }
    if m.get("action_sequence")
        .and_then(Value::as_u64)
        .is_none_or(|n| n == 0)
    {
        return Err("action_sequence is not a positive integer".into());
    }
    if !m.get("entities_types").is_some_and(Value::is_array) {
        return Err("entities_types is not a list".into());
    }
    let Some(update) = m.get("update").and_then(Value::as_bool) else {
        return Err("update is not a boolean".into());
    };
    let work_id = match m.get("work_id") {
        None => None,
        Some(Value::String(w)) => Some(w.clone()),
        Some(_) => return Err("work_id is not a string".into()),
    };
    let no_split = m.get("no_split").and_then(Value::as_bool).unwrap_or(false);
    let Some(content) = m.get("content").and_then(Value::as_str) else {
        return Err("content is not a string".into());
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(content)
        .map_err(|e| format!("content is not base64: {e}"))?;
    let bundle: Value =
        serde_json::from_slice(&bytes).map_err(|e| format!("content is not JSON: {e}"))?;
    if bundle.get("type").and_then(Value::as_str) != Some("bundle")
        || !bundle.get("objects").is_some_and(Value::is_array)
    {
        return Err("content is not a STIX bundle with objects".into());
    }
    Ok(Envelope {
        bundle,
        work_id,
        update,
        no_split,
    })
}

/// Records one delivery and imports it; whether it was accepted.
fn handle_delivery(shared: &Shared, connector_id: &str, queue: &str, d: &Delivery) -> bool {
    let envelope: Option<Value> = serde_json::from_slice(&d.data).ok();
    shared.with(|m| {
        let decoded = match &envelope {
            Some(env) => decode(env, &m.platform.user_id),
            None => Err("the message is not JSON".into()),
        };
        let mut rec = AmqpMessageRecord {
            seq: m.amqp_messages.len() as u64 + 1,
            queue: queue.to_owned(),
            exchange: d.exchange.to_string(),
            routing_key: d.routing_key.to_string(),
            delivery_mode: *d.properties.delivery_mode(),
            content_encoding: d
                .properties
                .content_encoding()
                .as_ref()
                .map(|s| s.to_string()),
            envelope,
            bundle: None,
            rejected: None,
        };
        let accepted = match decoded {
            Ok(e) => {
                rec.bundle = Some(e.bundle.clone());
                m.worker_import(
                    Via::Amqp,
                    Some(connector_id),
                    e.work_id.as_deref(),
                    e.bundle,
                    e.update,
                    e.no_split,
                );
                true
            }
            Err(reason) => {
                rec.rejected = Some(reason);
                false
            }
        };
        if !m.platform.keep_payloads {
            rec.envelope = None;
            rec.bundle = None;
        }
        m.amqp_messages.push(rec);
        accepted
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn env(content: &str) -> Value {
        json!({"bundle_type": "QUEUE_BUNDLE", "applicant_id": "u", "action_sequence": 1,
               "entities_types": [], "content": content, "update": false, "draft_id": null,
               "work_id": "w"})
    }

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn a_pycti_envelope_decodes() {
        let e = decode(&env(&b64(r#"{"type":"bundle","objects":[]}"#)), "u").unwrap();
        assert_eq!(e.work_id.as_deref(), Some("w"));
        assert!(!e.update);
    }

    #[test]
    fn bad_envelopes_are_refused_with_the_reason() {
        let good = b64(r#"{"type":"bundle","objects":[]}"#);
        let mut missing = env(&good);
        missing.as_object_mut().unwrap().remove("action_sequence");
        let cases = [
            (env("%%%"), "base64"),
            (env(&b64("not json")), "not JSON"),
            (env(&b64(r#"{"type":"x"}"#)), "STIX bundle"),
            (missing, "action_sequence"),
            (json!([1]), "JSON object"),
        ];
        for (e, why) in cases {
            let err = decode(&e, "u").err().unwrap();
            assert!(err.contains(why), "{err}");
        }
        assert!(decode(&env(&good), "someone-else").is_err());
    }
}
