//! Settings with OpenCTI's names and precedence: an environment variable (if set at all), else
//! `config.yml` at `section.key`, else the default. Every bad value stops start-up with one line
//! naming the key and the expected form.
//!
//! The layers are held by the `config` crate (defaults, then `config.yml` parsed as YAML, then
//! the environment variables this connector knows); converting each value stays here, so the
//! spellings and the error lines stay pycti's and ours.
//!
//! [`Settings`] has one part per `config.yml` section, each read and checked in its own
//! module: [`opencti`] (`OPENCTI_*`), [`connector`] (`CONNECTOR_*`), [`mq`] (`MQ_*`) and
//! [`disinfox`] (`DISINFOX_*`).

pub mod connector;
pub mod disinfox;
pub mod mq;
pub mod opencti;

use std::fmt;
use std::path::Path;

pub use self::connector::{ConnectorSettings, QueueProtocol};
pub use self::disinfox::{DisinfoxSettings, Mode};
pub use self::mq::MqOverrides;
pub use self::opencti::{OpenCtiSettings, TlsVerify};

/// Every setting: `(environment variable, config.yml path, default, meaning)`. The README's
/// configuration reference and `config.yml.sample` are checked against this table.
pub const KEYS: &[(&str, &str, &str, &str)] = &[
    ("OPENCTI_URL", "opencti.url", "", "OpenCTI URL (required)"),
    (
        "OPENCTI_TOKEN",
        "opencti.token",
        "",
        "OpenCTI API token of the connector's user (required)",
    ),
    (
        "OPENCTI_SSL_VERIFY",
        "opencti.ssl_verify",
        "true",
        "check OpenCTI's TLS certificate: true, false, or the path of a CA bundle (PEM); pycti's default is false, ours is true",
    ),
    (
        "OPENCTI_CUSTOM_HEADERS",
        "opencti.custom_headers",
        "",
        "extra HTTP headers to OpenCTI, name:value;name2:value2",
    ),
    (
        "OPENCTI_JSON_LOGGING",
        "opencti.json_logging",
        "true",
        "log JSON lines in pycti's shape; false: human-readable",
    ),
    (
        "CONNECTOR_ID",
        "connector.id",
        "",
        "connector id, a UUIDv4 (required)",
    ),
    (
        "CONNECTOR_TYPE",
        "connector.type",
        "EXTERNAL_IMPORT",
        "connector type; only EXTERNAL_IMPORT",
    ),
    (
        "CONNECTOR_NAME",
        "connector.name",
        "DISINFOX",
        "name shown in OpenCTI",
    ),
    (
        "CONNECTOR_SCOPE",
        "connector.scope",
        "disinfox",
        "comma-separated scope",
    ),
    (
        "CONNECTOR_LOG_LEVEL",
        "connector.log_level",
        "info",
        "debug, info, warn or error",
    ),
    (
        "CONNECTOR_DURATION_PERIOD",
        "connector.duration_period",
        "PT1H",
        "ISO 8601 period between runs; 0 or PT0S: run once",
    ),
    (
        "CONNECTOR_QUEUE_PROTOCOL",
        "connector.queue_protocol",
        "api",
        "api (stixBundlePush) or amqp (RabbitMQ)",
    ),
    (
        "CONNECTOR_QUEUE_THRESHOLD",
        "connector.queue_threshold",
        "500",
        "skip a run while the connector's queue holds more than this many MB",
    ),
    (
        "CONNECTOR_RUN_AND_TERMINATE",
        "connector.run_and_terminate",
        "false",
        "run once and exit",
    ),
    (
        "CONNECTOR_EXPOSE_METRICS",
        "connector.expose_metrics",
        "false",
        "serve Prometheus metrics",
    ),
    (
        "CONNECTOR_METRICS_PORT",
        "connector.metrics_port",
        "9095",
        "port of the metrics",
    ),
    (
        "CONNECTOR_METRICS_NAMESPACE",
        "connector.metrics_namespace",
        "",
        "prefix of every metric name (namespace_subsystem_name)",
    ),
    (
        "CONNECTOR_METRICS_SUBSYSTEM",
        "connector.metrics_subsystem",
        "",
        "second prefix of every metric name",
    ),
    (
        "CONNECTOR_MAX_MESSAGE_SIZE",
        "connector.max_message_size",
        "16777216",
        "largest message sent to OpenCTI, in bytes (RabbitMQ 4's default limit); larger objects are reported and skipped, API bundles are cut below it",
    ),
    (
        "MQ_HOST",
        "mq.host",
        "",
        "RabbitMQ host (default: from OpenCTI's registration answer)",
    ),
    (
        "MQ_PORT",
        "mq.port",
        "",
        "RabbitMQ port (default: from registration)",
    ),
    (
        "MQ_VHOST",
        "mq.vhost",
        "",
        "RabbitMQ virtual host (default: from registration)",
    ),
    (
        "MQ_USE_SSL",
        "mq.use_ssl",
        "",
        "TLS to RabbitMQ (default: from registration)",
    ),
    (
        "MQ_USER",
        "mq.user",
        "",
        "RabbitMQ user (default: from registration)",
    ),
    (
        "MQ_PASS",
        "mq.pass",
        "",
        "RabbitMQ password (default: from registration)",
    ),
    (
        "MQ_USE_SSL_CA",
        "mq.use_ssl_ca",
        "",
        "CA bundle (PEM file) to check RabbitMQ's certificate (default: the system's)",
    ),
    (
        "DISINFOX_URL",
        "disinfox.url",
        "",
        "the server's bundle endpoint, e.g. http://disinfox:8080/api/v1/bundle (required)",
    ),
    (
        "DISINFOX_API_KEY",
        "disinfox.api_key",
        "",
        "a read API key of the server (required)",
    ),
    (
        "DISINFOX_PAGE_SIZE",
        "disinfox.page_size",
        "500",
        "incidents per page fetched from the server, 1-1000; smaller pages hold less in memory but repeat the objects incidents share more often",
    ),
    (
        "DISINFOX_TIMEOUT_SECS",
        "disinfox.timeout_secs",
        "60",
        "time limit of one HTTP request, in seconds",
    ),
    (
        "DISINFOX_MODE",
        "disinfox.mode",
        "poll",
        "poll: a run per period; stream: follow the server's live stream (/api/v1/stream next to DISINFOX_URL), pushing each batch of changes within a second",
    ),
];

/// A secret that never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

/// The connector's settings, by `config.yml` section.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `OPENCTI_*`: the platform and how to talk to it, and the log form.
    pub opencti: OpenCtiSettings,
    /// `CONNECTOR_*`: who the connector is, its schedule, its limits and its metrics.
    pub connector: ConnectorSettings,
    /// `MQ_*`: overrides of the RabbitMQ connection OpenCTI returns.
    pub mq: MqOverrides,
    /// `DISINFOX_*`: the server's bundle endpoint.
    pub disinfox: DisinfoxSettings,
}

/// A configuration error: one line naming the key and the expected form.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {message}")]
pub struct ConfigError {
    /// The environment name of the key.
    pub key: String,
    /// What is wrong and what is expected.
    pub message: String,
}

fn err(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.to_owned(),
        message: message.into(),
    }
}

/// The layers of settings, held by the `config` crate: the environment (the names in [`KEYS`],
/// set at all) over `config.yml` over the defaults in [`KEYS`]. Values are read as text and
/// converted here, so that every conversion keeps pycti's spellings and its own one-line error
/// (`config`'s own conversions accept `TRUE`, `on` or `1` as booleans, and their errors name
/// the `config.yml` path, not the environment variable).
struct Source {
    layers: config::Config,
}

/// The environment variables among [`KEYS`], each at its `config.yml` path: the top layer.
#[derive(Debug, Clone)]
struct KnownEnv(config::Map<String, config::Value>);

impl KnownEnv {
    fn new(env: &[(String, String)]) -> Self {
        let origin = "the environment".to_owned();
        let mut m = config::Map::new();
        for (name, path, ..) in KEYS {
            // An empty value counts as set (pycti's rule); it then means the default.
            if let Some((_, v)) = env.iter().rev().find(|(k, _)| k == name) {
                m.insert(
                    (*path).to_owned(),
                    config::Value::new(Some(&origin), v.as_str()),
                );
            }
        }
        Self(m)
    }
}

impl config::Source for KnownEnv {
    fn clone_into_box(&self) -> Box<dyn config::Source + Send + Sync> {
        Box::new(self.clone())
    }

    fn collect(&self) -> Result<config::Map<String, config::Value>, config::ConfigError> {
        Ok(self.0.clone())
    }
}

impl Source {
    /// Layers the defaults, the YAML text and the environment, and checks that the YAML names
    /// only known settings, each with a single value.
    fn new(yaml: Option<&str>, env: &[(String, String)]) -> Result<Self, ConfigError> {
        let mut builder = config::Config::builder();
        for (_, path, default, _) in KEYS {
            if !default.is_empty() {
                builder = builder
                    .set_default(*path, *default)
                    .map_err(|e| err(path, e.to_string()))?;
            }
        }
        if let Some(text) = yaml {
            let file = config::File::from_str(text, config::FileFormat::Yaml);
            // The YAML alone first, to check its keys and to blame it for a parse error.
            let alone = config::Config::builder()
                .add_source(file.clone())
                .build()
                .map_err(|e| err("config.yml", format!("is not valid YAML: {}", one_line(&e))))?;
            check_yaml_keys(alone)?;
            builder = builder.add_source(file);
        }
        let layers = builder
            .add_source(KnownEnv::new(env))
            .build()
            .map_err(|e| err("config.yml", one_line(&e)))?;
        Ok(Self { layers })
    }

    /// The raw value of a setting, if set: the environment first, then `config.yml` (a YAML
    /// null is unset), then the default.
    fn raw(&self, env: &str) -> Option<String> {
        let path = KEYS.iter().find(|(e, ..)| *e == env).map(|(_, p, ..)| *p)?;
        let value = self.layers.get::<config::Value>(path).ok()?;
        match value.kind {
            config::ValueKind::Nil => None,
            // Scalars only (checked in `new`), so this is never an error.
            _ => value.into_string().ok(),
        }
    }

    fn string(&self, env: &str) -> String {
        match self.raw(env) {
            Some(v) if !v.is_empty() => v,
            _ => KEYS
                .iter()
                .find(|(e, ..)| *e == env)
                .map(|(_, _, d, _)| (*d).to_owned())
                .unwrap_or_default(),
        }
    }

    fn required(&self, env: &str, example: &str) -> Result<String, ConfigError> {
        let v = self.string(env);
        if v.trim().is_empty() {
            return Err(err(env, format!("is required, e.g. {example}")));
        }
        Ok(v)
    }

    fn boolean(&self, env: &str) -> Result<bool, ConfigError> {
        match self.string(env).as_str() {
            "true" | "True" | "yes" => Ok(true),
            "false" | "False" | "no" => Ok(false),
            other => Err(err(
                env,
                format!("{other:?} is not a boolean; expected true or false"),
            )),
        }
    }

    /// The value, or `None` when it is unset or empty (settings without a default).
    fn optional(&self, env: &str) -> Option<String> {
        Some(self.string(env)).filter(|v| !v.is_empty())
    }

    fn opt_boolean(&self, env: &str) -> Result<Option<bool>, ConfigError> {
        if self.string(env).is_empty() {
            Ok(None)
        } else {
            self.boolean(env).map(Some)
        }
    }

    fn number<T: std::str::FromStr>(&self, env: &str, what: &str) -> Result<T, ConfigError> {
        let v = self.string(env);
        v.trim()
            .parse()
            .map_err(|_| err(env, format!("{v:?} is not {what}")))
    }
}

/// `config.yml`'s sections must be mappings of known settings with single values.
fn check_yaml_keys(yaml: config::Config) -> Result<(), ConfigError> {
    let sections = yaml
        .try_deserialize::<config::Map<String, config::Value>>()
        .map_err(|e| err("config.yml", one_line(&e)))?;
    for (section, keys) in sections {
        let config::ValueKind::Table(keys) = keys.kind else {
            return Err(err(
                "config.yml",
                format!("{section}: expected a mapping of settings"),
            ));
        };
        for (k, v) in keys {
            let path = format!("{section}.{k}");
            if !KEYS.iter().any(|(_, p, ..)| *p == path) {
                return Err(err(
                    "config.yml",
                    format!("{path} is not a setting of this connector"),
                ));
            }
            if matches!(
                v.kind,
                config::ValueKind::Table(_) | config::ValueKind::Array(_)
            ) {
                return Err(err(
                    "config.yml",
                    format!("{path}: expected a single value, not a mapping or a list"),
                ));
            }
        }
    }
    Ok(())
}

/// An error's text on one line.
fn one_line(e: &dyn std::error::Error) -> String {
    e.to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn url(env: &str, v: String) -> Result<String, ConfigError> {
    let t = v.trim().trim_end_matches('/');
    if (t.starts_with("http://") || t.starts_with("https://"))
        && t.len() > 8
        && !t.contains(char::is_whitespace)
    {
        Ok(t.to_owned())
    } else {
        Err(err(env, format!("{v:?} is not an http(s) URL")))
    }
}

impl Settings {
    /// Loads `config` (when it exists; a missing `./config.yml` is fine, a missing `--config`
    /// file is not) and the process environment.
    pub fn load(config: Option<&Path>) -> Result<Self, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        let (path, required) = match config {
            Some(p) => (p.to_path_buf(), true),
            None => (Path::new("config.yml").to_path_buf(), false),
        };
        let yaml = match std::fs::read_to_string(&path) {
            Ok(text) => Some(text),
            Err(_) if !required => None,
            Err(e) => {
                return Err(err(
                    "--config",
                    format!("cannot read {}: {e}", path.display()),
                ))
            }
        };
        Self::from_parts(yaml.as_deref(), &env)
    }

    /// Settings from YAML text and an environment (for tests).
    pub fn from_parts(yaml: Option<&str>, env: &[(String, String)]) -> Result<Self, ConfigError> {
        let s = Source::new(yaml, env)?;
        Ok(Self {
            opencti: OpenCtiSettings::read(&s)?,
            connector: ConnectorSettings::read(&s)?,
            mq: MqOverrides::read(&s)?,
            disinfox: DisinfoxSettings::read(&s)?,
        })
    }
}

#[cfg(test)]
mod tests;
