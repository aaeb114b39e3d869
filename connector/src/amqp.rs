//! Pushing bundles over RabbitMQ, as OpenCTI's workers expect them
//! (`docs/opencti-connector-protocol.md#amqp-messages`).
//!
//! One message per object bundle of the split, on the push exchange and routing key OpenCTI
//! returned at registration (never rebuilt from names). Messages are persistent
//! (`delivery_mode` 2), published with `mandatory` set (an unroutable message comes back and
//! counts as a failure instead of vanishing) and with publisher confirms: a message is sent
//! only when the broker acknowledged it. Every encoded message is measured first; one over the
//! size limit is refused here instead of making the broker close the channel.

use std::time::Duration;

use base64::Engine as _;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::tcp::OwnedTLSConfig;
use lapin::uri::{AMQPAuthority, AMQPQueryString, AMQPScheme, AMQPUri, AMQPUserInfo};
use lapin::{BasicProperties, Confirmation, Connection, ConnectionProperties};
use serde_json::{json, Value};

use crate::configuration::MqOverrides;
use crate::opencti::PushConfig;

/// Where messages go: the broker, the exchange and the routing key.
#[derive(Clone)]
pub struct Target {
    uri: AMQPUri,
    tls: Option<String>,
    exchange: String,
    routing_key: String,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password.
        f.debug_struct("Target")
            .field("host", &self.uri.authority.host)
            .field("port", &self.uri.authority.port)
            .field("vhost", &self.uri.vhost)
            .field("user", &self.uri.authority.userinfo.username)
            .field("exchange", &self.exchange)
            .field("routing_key", &self.routing_key)
            .finish()
    }
}

/// What went wrong publishing.
#[derive(Debug, thiserror::Error)]
pub enum AmqpError {
    /// The CA bundle could not be read.
    #[error("MQ_USE_SSL_CA: cannot read {path}: {error}")]
    Ca {
        /// The file.
        path: String,
        /// Why.
        error: String,
    },
    /// Connecting, opening the channel or enabling confirms failed.
    #[error("RabbitMQ at {host}:{port} is unreachable: {error}")]
    Connect {
        /// Host.
        host: String,
        /// Port.
        port: u16,
        /// Why.
        error: String,
    },
    /// Some messages were not confirmed.
    #[error("{failed} of {total} messages were not accepted by RabbitMQ: {reason}")]
    Unconfirmed {
        /// How many failed.
        failed: usize,
        /// How many were published.
        total: usize,
        /// The first reason.
        reason: String,
    },
}

impl Target {
    /// The target from OpenCTI's registration answer with the `MQ_*` overrides applied field
    /// by field (as pycti does).
    pub fn new(push: &PushConfig, o: &MqOverrides) -> Result<Self, AmqpError> {
        let use_ssl = o.use_ssl.unwrap_or(push.use_ssl);
        let tls = match &o.ssl_ca {
            Some(p) => Some(std::fs::read_to_string(p).map_err(|e| AmqpError::Ca {
                path: p.display().to_string(),
                error: e.to_string(),
            })?),
            None => None,
        };
        let query = AMQPQueryString {
            // lapin keeps send and receive buffers of 32 frames each: at RabbitMQ's default
            // 128 KiB frames that is 8 MiB per connection; 16 KiB frames make it 1 MiB, and a
            // larger message simply goes out in more body frames.
            frame_max: Some(FRAME_MAX),
            heartbeat: Some(10),
            connection_timeout: Some(10_000),
            ..AMQPQueryString::default()
        };
        Ok(Self {
            uri: AMQPUri {
                scheme: if use_ssl {
                    AMQPScheme::AMQPS
                } else {
                    AMQPScheme::AMQP
                },
                authority: AMQPAuthority {
                    userinfo: AMQPUserInfo {
                        username: o.user.clone().unwrap_or_else(|| push.user.clone()),
                        password: o.pass.as_ref().unwrap_or(&push.pass).expose().to_owned(),
                    },
                    host: o.host.clone().unwrap_or_else(|| push.host.clone()),
                    port: o.port.unwrap_or(push.port),
                },
                vhost: o.vhost.clone().unwrap_or_else(|| push.vhost.clone()),
                query,
            },
            tls,
            exchange: push.push_exchange.clone(),
            routing_key: push.push_routing.clone(),
        })
    }

    /// Host and port, for messages.
    pub fn describe(&self) -> String {
        format!(
            "{}:{} (exchange {}, routing key {})",
            self.uri.authority.host, self.uri.authority.port, self.exchange, self.routing_key
        )
    }

    async fn connect(&self, timeout: Duration) -> Result<(Connection, lapin::Channel), AmqpError> {
        let fail = |e: String| AmqpError::Connect {
            host: self.uri.authority.host.clone(),
            port: self.uri.authority.port,
            error: e,
        };
        let runtime = lapin::runtime::default_runtime().map_err(|e| fail(e.to_string()))?;
        let tls = OwnedTLSConfig {
            identity: None,
            cert_chain: self.tls.clone(),
        };
        let connect = Connection::connect_uri_with_config(
            self.uri.clone(),
            ConnectionProperties::default(),
            tls,
            runtime,
        );
        let conn = tokio::time::timeout(timeout, connect)
            .await
            .map_err(|_| fail("connection timed out".into()))?
            .map_err(|e| fail(e.to_string()))?;
        let channel = tokio::time::timeout(timeout, conn.create_channel())
            .await
            .map_err(|_| fail("opening a channel timed out".into()))?
            .map_err(|e| fail(e.to_string()))?;
        tokio::time::timeout(
            timeout,
            channel.confirm_select(ConfirmSelectOptions::default()),
        )
        .await
        .map_err(|_| fail("enabling publisher confirms timed out".into()))?
        .map_err(|e| fail(e.to_string()))?;
        Ok((conn, channel))
    }

    /// Publishes `messages` on a new connection and waits for every confirm. Returns the
    /// indices of the messages that were not accepted (nack, returned as unroutable, or no
    /// answer before the connection failed), with the first reason, or an error when the
    /// connection could not be opened at all.
    pub async fn publish(
        &self,
        messages: &[&[u8]],
        timeout: Duration,
    ) -> Result<Vec<(usize, String)>, AmqpError> {
        let (conn, channel) = self.connect(timeout).await?;
        let properties = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_encoding("utf-8".into());
        let mut failed = Vec::new();
        // Confirms are awaited in windows so a large page does not hold every future at once.
        const WINDOW: usize = 2048;
        for (w, window) in messages.chunks(WINDOW).enumerate() {
            let mut pending = Vec::with_capacity(window.len());
            for (i, body) in window.iter().enumerate() {
                let index = w * WINDOW + i;
                let published = tokio::time::timeout(
                    timeout,
                    channel.basic_publish(
                        self.exchange.as_str().into(),
                        self.routing_key.as_str().into(),
                        BasicPublishOptions {
                            mandatory: true,
                            immediate: false,
                        },
                        body,
                        properties.clone(),
                    ),
                )
                .await;
                match published {
                    Ok(Ok(confirm)) => pending.push((index, confirm)),
                    Ok(Err(e)) => failed.push((index, e.to_string())),
                    Err(_) => failed.push((index, "publishing timed out".into())),
                }
            }
            for (index, confirm) in pending {
                match tokio::time::timeout(timeout, confirm).await {
                    Ok(Ok(Confirmation::Ack(None))) => {}
                    Ok(Ok(Confirmation::Ack(Some(returned)))) => failed.push((
                        index,
                        format!(
                            "returned by the broker: {} {}",
                            returned.reply_code, returned.reply_text
                        ),
                    )),
                    Ok(Ok(Confirmation::Nack(_))) => {
                        failed.push((index, "refused by the broker (nack)".into()))
                    }
                    Ok(Ok(Confirmation::NotRequested)) => {
                        failed.push((index, "no publisher confirm".into()))
                    }
                    Ok(Err(e)) => failed.push((index, e.to_string())),
                    Err(_) => failed.push((index, "no confirm before the timeout".into())),
                }
            }
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), conn.close(200, "bye".into())).await;
        Ok(failed)
    }
}

/// The AMQP frame size the connector asks for.
pub const FRAME_MAX: u32 = 16 * 1024;

/// The message body OpenCTI's worker reads for one bundle (JSON text;
/// `docs/opencti-connector-protocol.md#amqp-messages`).
pub fn message_body(
    bundle_json: &[u8],
    sequence: usize,
    applicant_id: Option<&str>,
    work_id: Option<&str>,
    platform_7x: bool,
) -> Vec<u8> {
    let mut m = json!({
        "bundle_type": "QUEUE_BUNDLE",
        "applicant_id": applicant_id,
        "action_sequence": sequence,
        "entities_types": [],
        "content": base64::engine::general_purpose::STANDARD.encode(bundle_json),
        "update": false,
        "draft_id": Value::Null,
    });
    if let Some(w) = work_id {
        m["work_id"] = json!(w);
    }
    if platform_7x {
        m["no_split"] = json!(false);
    }
    m.to_string().into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::configuration::Secret;

    #[test]
    fn envelope_has_the_worker_fields() {
        let body = message_body(b"{\"type\":\"bundle\"}", 3, Some("u1"), Some("w1"), false);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["bundle_type"], "QUEUE_BUNDLE");
        assert_eq!(v["action_sequence"], 3);
        assert_eq!(v["work_id"], "w1");
        assert_eq!(v["update"], false);
        assert!(v.get("no_split").is_none(), "6.x has no no_split");
        let content = base64::engine::general_purpose::STANDARD
            .decode(v["content"].as_str().unwrap())
            .unwrap();
        assert_eq!(content, b"{\"type\":\"bundle\"}");
        let seven: Value =
            serde_json::from_slice(&message_body(b"{}", 1, None, None, true)).unwrap();
        assert!(seven.get("work_id").is_none(), "no work: no key");
        assert_eq!(seven["no_split"], false);
        assert!(seven["applicant_id"].is_null());
    }

    #[test]
    fn overrides_apply_field_by_field_and_the_password_never_prints() {
        let push = PushConfig {
            host: "rabbitmq".into(),
            vhost: "/".into(),
            use_ssl: false,
            port: 5672,
            user: "opencti".into(),
            pass: Secret::new("s3cret"),
            push_exchange: "amqp.worker.exchange".into(),
            push_routing: "push_routing_x".into(),
            push: "push_x".into(),
        };
        let o = MqOverrides {
            host: Some("127.0.0.1".into()),
            port: Some(5673),
            ..MqOverrides::default()
        };
        let t = Target::new(&push, &o).unwrap();
        assert_eq!(t.uri.authority.host, "127.0.0.1");
        assert_eq!(t.uri.authority.port, 5673);
        assert_eq!(t.uri.authority.userinfo.username, "opencti");
        assert_eq!(t.uri.vhost, "/");
        let printed = format!("{t:?}");
        assert!(!printed.contains("s3cret"), "{printed}");
    }
}
