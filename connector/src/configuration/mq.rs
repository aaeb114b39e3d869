//! `MQ_*` (`config.yml` section `mq`): overrides of the RabbitMQ connection OpenCTI returns at
//! registration, applied field by field (unset: OpenCTI's value).

use super::{err, ConfigError, Secret, Source};

/// `MQ_*` overrides of the RabbitMQ connection OpenCTI returns.
#[derive(Debug, Clone, Default)]
pub struct MqOverrides {
    /// Host.
    pub host: Option<String>,
    /// Port.
    pub port: Option<u16>,
    /// Virtual host.
    pub vhost: Option<String>,
    /// TLS.
    pub use_ssl: Option<bool>,
    /// User.
    pub user: Option<String>,
    /// Password.
    pub pass: Option<Secret>,
    /// CA bundle for TLS.
    pub ssl_ca: Option<std::path::PathBuf>,
}

impl MqOverrides {
    pub(super) fn read(s: &Source) -> Result<Self, ConfigError> {
        let port = match s.optional("MQ_PORT") {
            None => None,
            Some(p) => Some(
                p.trim()
                    .parse()
                    .map_err(|_| err("MQ_PORT", format!("{p:?} is not a port number")))?,
            ),
        };
        Ok(Self {
            host: s.optional("MQ_HOST"),
            port,
            vhost: s.optional("MQ_VHOST"),
            use_ssl: s.opt_boolean("MQ_USE_SSL")?,
            user: s.optional("MQ_USER"),
            pass: s.optional("MQ_PASS").map(Secret::new),
            ssl_ca: s.optional("MQ_USE_SSL_CA").map(std::path::PathBuf::from),
        })
    }
}
