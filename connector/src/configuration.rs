//! Settings with OpenCTI's names and precedence: an environment variable (if set at all), else
//! `config.yml` at `section.key`, else the default. Every bad value stops start-up with one line
//! naming the key and the expected form.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::duration::parse_period;

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

/// How bundles reach OpenCTI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueProtocol {
    /// The `stixBundlePush` mutation.
    Api,
    /// RabbitMQ, as pycti's default.
    Amqp,
}

/// The connector's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// OpenCTI URL without a trailing slash.
    pub opencti_url: String,
    /// OpenCTI token.
    pub opencti_token: Secret,
    /// How OpenCTI's TLS certificate is checked.
    pub ssl_verify: TlsVerify,
    /// Extra headers sent to OpenCTI.
    pub custom_headers: Vec<(String, String)>,
    /// JSON logs.
    pub json_logging: bool,
    /// Connector id.
    pub connector_id: uuid::Uuid,
    /// Name.
    pub name: String,
    /// Scope.
    pub scope: Vec<String>,
    /// Log level.
    pub log_level: String,
    /// Period between runs; zero means run once.
    pub period: Duration,
    /// Queue protocol.
    pub queue_protocol: QueueProtocol,
    /// Queue threshold in MB.
    pub queue_threshold: f64,
    /// Run once and exit.
    pub run_and_terminate: bool,
    /// Serve metrics.
    pub expose_metrics: bool,
    /// Metrics port.
    pub metrics_port: u16,
    /// Metric name prefix (`namespace_subsystem_`, or empty).
    pub metrics_prefix: String,
    /// Largest message to OpenCTI, in bytes.
    pub max_message_size: usize,
    /// RabbitMQ overrides.
    pub mq: MqOverrides,
    /// Bundle endpoint.
    pub disinfox_url: String,
    /// Server API key.
    pub disinfox_api_key: Secret,
    /// Page size.
    pub page_size: u32,
    /// Request timeout.
    pub timeout: Duration,
}

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

/// How a TLS certificate is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsVerify {
    /// Against the system's roots.
    Yes,
    /// Not at all.
    No,
    /// Against the CA bundle in this PEM file.
    CaFile(std::path::PathBuf),
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

struct Source<'a> {
    env: &'a [(String, String)],
    yaml: Value,
}

impl Source<'_> {
    /// The raw value of a setting, if set (environment first, then config.yml).
    fn raw(&self, env: &str) -> Option<String> {
        if let Some((_, v)) = self.env.iter().find(|(k, _)| k == env) {
            return Some(v.clone());
        }
        let path = KEYS.iter().find(|(e, ..)| *e == env).map(|(_, p, ..)| *p)?;
        let (section, key) = path.split_once('.')?;
        match self.yaml.get(section)?.get(key)? {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
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

/// `name:value;name2:value2` (pycti's `OPENCTI_CUSTOM_HEADERS`): split on `;`, then on the
/// first `:`, both sides trimmed, empty pairs skipped. A pair without `:` is an error here
/// (pycti ignores it with a warning).
fn custom_headers(v: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let mut out = Vec::new();
    for pair in v.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, val) = pair.split_once(':').ok_or_else(|| {
            err(
                "OPENCTI_CUSTOM_HEADERS",
                format!("{pair:?} is not name:value"),
            )
        })?;
        let (k, val) = (k.trim(), val.trim());
        if k.is_empty()
            || !k
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
        {
            return Err(err(
                "OPENCTI_CUSTOM_HEADERS",
                format!("{k:?} is not a header name"),
            ));
        }
        out.push((k.to_owned(), val.to_owned()));
    }
    Ok(out)
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
        let yaml: Value = match yaml {
            Some(t) if !t.trim().is_empty() => serde_norway::from_str(t)
                .map_err(|e| err("config.yml", format!("is not valid YAML: {e}")))?,
            _ => Value::Null,
        };
        if let Value::Object(sections) = &yaml {
            for (section, keys) in sections {
                let Value::Object(keys) = keys else {
                    return Err(err(
                        "config.yml",
                        format!("{section}: expected a mapping of settings"),
                    ));
                };
                for k in keys.keys() {
                    let path = format!("{section}.{k}");
                    if !KEYS.iter().any(|(_, p, ..)| *p == path) {
                        return Err(err(
                            "config.yml",
                            format!("{path} is not a setting of this connector"),
                        ));
                    }
                }
            }
        }
        let s = Source { env, yaml };
        let token = s.required("OPENCTI_TOKEN", "a UUID token from OpenCTI")?;
        if token == "ChangeMe" {
            return Err(err("OPENCTI_TOKEN", "is still the placeholder ChangeMe"));
        }
        let id_text = s.required("CONNECTOR_ID", "a UUIDv4 such as 2b7a8c3e-…")?;
        let connector_id = uuid::Uuid::parse_str(id_text.trim())
            .map_err(|_| err("CONNECTOR_ID", format!("{id_text:?} is not a UUID")))?;
        let name = s.string("CONNECTOR_NAME");
        if name.trim().chars().count() < 2 {
            return Err(err("CONNECTOR_NAME", "must be at least 2 characters"));
        }
        let period_text = s.string("CONNECTOR_DURATION_PERIOD");
        let period = parse_period(&period_text).map_err(|m| err("CONNECTOR_DURATION_PERIOD", m))?;
        let queue_protocol = match s.string("CONNECTOR_QUEUE_PROTOCOL").as_str() {
            "api" => QueueProtocol::Api,
            "amqp" => QueueProtocol::Amqp,
            other => {
                return Err(err(
                    "CONNECTOR_QUEUE_PROTOCOL",
                    format!("{other:?} is not api or amqp"),
                ))
            }
        };
        let log_level = s.string("CONNECTOR_LOG_LEVEL").to_lowercase();
        if !matches!(
            log_level.as_str(),
            "debug" | "info" | "warn" | "warning" | "error"
        ) {
            return Err(err(
                "CONNECTOR_LOG_LEVEL",
                format!("{log_level:?} is not debug, info, warn or error"),
            ));
        }
        let queue_threshold: f64 =
            s.number("CONNECTOR_QUEUE_THRESHOLD", "a number of MB, e.g. 500")?;
        if !(queue_threshold.is_finite() && queue_threshold > 0.0) {
            return Err(err(
                "CONNECTOR_QUEUE_THRESHOLD",
                "must be a positive number of MB",
            ));
        }
        let page_size: u32 = s.number("DISINFOX_PAGE_SIZE", "a whole number from 1 to 1000")?;
        if !(1..=1000).contains(&page_size) {
            return Err(err(
                "DISINFOX_PAGE_SIZE",
                format!("{page_size} is not from 1 to 1000"),
            ));
        }
        let timeout: u64 = s.number(
            "DISINFOX_TIMEOUT_SECS",
            "a whole number of seconds, e.g. 60",
        )?;
        if timeout == 0 {
            return Err(err("DISINFOX_TIMEOUT_SECS", "must be at least 1"));
        }
        if s.string("CONNECTOR_TYPE") != "EXTERNAL_IMPORT" {
            return Err(err(
                "CONNECTOR_TYPE",
                format!(
                    "{:?} is not EXTERNAL_IMPORT, the only type of this connector",
                    s.string("CONNECTOR_TYPE")
                ),
            ));
        }
        let max_message_size: usize = s.number(
            "CONNECTOR_MAX_MESSAGE_SIZE",
            "a number of bytes, e.g. 16777216",
        )?;
        if max_message_size < 65_536 {
            return Err(err(
                "CONNECTOR_MAX_MESSAGE_SIZE",
                format!("{max_message_size} is below the smallest useful size, 65536 bytes"),
            ));
        }
        for metric in ["CONNECTOR_METRICS_NAMESPACE", "CONNECTOR_METRICS_SUBSYSTEM"] {
            let p = s.string(metric);
            if !p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(err(
                    metric,
                    format!("{p:?} is not a metric name part (letters, digits, _)"),
                ));
            }
        }
        let mq_port = match s.string("MQ_PORT") {
            p if p.is_empty() => None,
            p => Some(
                p.trim()
                    .parse()
                    .map_err(|_| err("MQ_PORT", format!("{p:?} is not a port number")))?,
            ),
        };
        let opt = |e: &str| Some(s.string(e)).filter(|v| !v.is_empty());
        Ok(Self {
            opencti_url: url(
                "OPENCTI_URL",
                s.required("OPENCTI_URL", "http://opencti:8080")?,
            )?,
            opencti_token: Secret(token),
            ssl_verify: match s.string("OPENCTI_SSL_VERIFY").as_str() {
                "true" | "True" | "yes" => TlsVerify::Yes,
                "false" | "False" | "no" => TlsVerify::No,
                path if path.contains('/') || path.ends_with(".pem") || path.ends_with(".crt") => {
                    TlsVerify::CaFile(path.into())
                }
                other => {
                    return Err(err(
                        "OPENCTI_SSL_VERIFY",
                        format!("{other:?} is not true, false or the path of a CA bundle"),
                    ))
                }
            },
            custom_headers: custom_headers(&s.string("OPENCTI_CUSTOM_HEADERS"))?,
            json_logging: s.boolean("OPENCTI_JSON_LOGGING")?,
            connector_id,
            name,
            scope: s
                .string("CONNECTOR_SCOPE")
                .split(',')
                .map(str::to_owned)
                .filter(|x| !x.is_empty())
                .collect(),
            log_level,
            run_and_terminate: s.boolean("CONNECTOR_RUN_AND_TERMINATE")? || period.is_zero(),
            period,
            queue_protocol,
            queue_threshold,
            expose_metrics: s.boolean("CONNECTOR_EXPOSE_METRICS")?,
            metrics_port: s.number("CONNECTOR_METRICS_PORT", "a port number, e.g. 9095")?,
            metrics_prefix: [
                s.string("CONNECTOR_METRICS_NAMESPACE"),
                s.string("CONNECTOR_METRICS_SUBSYSTEM"),
            ]
            .iter()
            .filter(|p| !p.is_empty())
            .map(|p| format!("{p}_"))
            .collect(),
            max_message_size,
            mq: MqOverrides {
                host: opt("MQ_HOST"),
                port: mq_port,
                vhost: opt("MQ_VHOST"),
                use_ssl: s.opt_boolean("MQ_USE_SSL")?,
                user: opt("MQ_USER"),
                pass: opt("MQ_PASS").map(Secret),
                ssl_ca: opt("MQ_USE_SSL_CA").map(std::path::PathBuf::from),
            },
            disinfox_url: url(
                "DISINFOX_URL",
                s.required("DISINFOX_URL", "http://disinfox:8080/api/v1/bundle")?,
            )?,
            disinfox_api_key: Secret(s.required(
                "DISINFOX_API_KEY",
                "a read key from disinfox-server apikey create",
            )?),
            page_size,
            timeout: Duration::from_secs(timeout),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = [
            ("OPENCTI_URL", "http://opencti:8080/"),
            ("OPENCTI_TOKEN", "f1f2f3"),
            ("CONNECTOR_ID", "2b7a8c3e-1f5d-4c8a-9b2e-3d4f5a6b7c8d"),
            ("DISINFOX_URL", "http://disinfox:8080/api/v1/bundle"),
            ("DISINFOX_API_KEY", "dfx_secret"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        for (k, val) in extra {
            v.retain(|(a, _)| a != k);
            v.push((k.to_string(), val.to_string()));
        }
        v
    }

    #[test]
    fn defaults_precedence_and_secrets() {
        let s = Settings::from_parts(
            Some("connector:\n  name: From YAML\n  duration_period: PT5M\n"),
            &env(&[("CONNECTOR_DURATION_PERIOD", "PT10M")]),
        )
        .unwrap();
        assert_eq!(s.name, "From YAML");
        assert_eq!(s.period.as_secs(), 600, "the environment wins");
        assert_eq!(s.opencti_url, "http://opencti:8080");
        assert_eq!(s.queue_protocol, QueueProtocol::Api);
        assert!(!s.run_and_terminate);
        let printed = format!("{s:?}");
        assert!(
            !printed.contains("f1f2f3") && !printed.contains("dfx_secret"),
            "{printed}"
        );
        let once =
            Settings::from_parts(None, &env(&[("CONNECTOR_DURATION_PERIOD", "PT0S")])).unwrap();
        assert!(once.run_and_terminate);
        let more = Settings::from_parts(
            None,
            &env(&[
                ("OPENCTI_SSL_VERIFY", "/etc/ssl/ca.pem"),
                ("OPENCTI_CUSTOM_HEADERS", " X-Tenant : a ;; X-B:b:c "),
                ("CONNECTOR_METRICS_NAMESPACE", "octi"),
            ]),
        )
        .unwrap();
        assert_eq!(more.ssl_verify, TlsVerify::CaFile("/etc/ssl/ca.pem".into()));
        assert_eq!(
            more.custom_headers,
            vec![
                ("X-Tenant".to_owned(), "a".to_owned()),
                ("X-B".to_owned(), "b:c".to_owned())
            ]
        );
        assert_eq!(more.metrics_prefix, "octi_");
        assert_eq!(s.ssl_verify, TlsVerify::Yes);
    }

    #[test]
    fn bad_values_name_the_key_and_the_form() {
        for (k, v, want) in [
            (
                "CONNECTOR_DURATION_PERIOD",
                "PT5m",
                "CONNECTOR_DURATION_PERIOD: \"PT5m\" is not an ISO 8601 duration, e.g. PT1H",
            ),
            (
                "CONNECTOR_RUN_AND_TERMINATE",
                "FALSE",
                "CONNECTOR_RUN_AND_TERMINATE: \"FALSE\" is not a boolean",
            ),
            (
                "CONNECTOR_QUEUE_PROTOCOL",
                "kafka",
                "CONNECTOR_QUEUE_PROTOCOL: \"kafka\" is not api or amqp",
            ),
            ("CONNECTOR_ID", "42", "CONNECTOR_ID: \"42\" is not a UUID"),
            (
                "OPENCTI_TOKEN",
                "ChangeMe",
                "OPENCTI_TOKEN: is still the placeholder",
            ),
            ("OPENCTI_TOKEN", "", "OPENCTI_TOKEN: is required"),
            (
                "OPENCTI_URL",
                "opencti:8080",
                "OPENCTI_URL: \"opencti:8080\" is not an http(s) URL",
            ),
            (
                "CONNECTOR_METRICS_PORT",
                "99999",
                "CONNECTOR_METRICS_PORT: \"99999\" is not a port number",
            ),
            (
                "DISINFOX_PAGE_SIZE",
                "0",
                "DISINFOX_PAGE_SIZE: 0 is not from 1 to 1000",
            ),
            ("MQ_PORT", "x", "MQ_PORT"),
            (
                "OPENCTI_SSL_VERIFY",
                "maybe",
                "OPENCTI_SSL_VERIFY: \"maybe\" is not true, false or the path",
            ),
            (
                "OPENCTI_CUSTOM_HEADERS",
                "X-A:1;broken",
                "OPENCTI_CUSTOM_HEADERS: \"broken\" is not name:value",
            ),
            (
                "CONNECTOR_TYPE",
                "STREAM",
                "CONNECTOR_TYPE: \"STREAM\" is not EXTERNAL_IMPORT",
            ),
            (
                "CONNECTOR_MAX_MESSAGE_SIZE",
                "10",
                "CONNECTOR_MAX_MESSAGE_SIZE: 10 is below",
            ),
            (
                "CONNECTOR_METRICS_NAMESPACE",
                "a-b",
                "CONNECTOR_METRICS_NAMESPACE: \"a-b\" is not a metric name part",
            ),
        ] {
            let e = Settings::from_parts(None, &env(&[(k, v)]))
                .unwrap_err()
                .to_string();
            assert!(e.starts_with(want), "{k}={v}: {e}");
            assert!(!e.contains('\n'), "one line");
        }
        let e = Settings::from_parts(Some("connector:\n  nmae: x\n"), &env(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("connector.nmae is not a setting"), "{e}");
    }

    #[test]
    fn the_readme_documents_every_setting_and_no_other() {
        let readme = include_str!("../../README.md");
        for (env, path, default, _) in KEYS {
            let d = if default.is_empty() {
                String::new()
            } else {
                format!("`{default}`")
            };
            let row = format!("| `{env}` | `{path}` | {d} |");
            assert!(readme.contains(&row), "README.md lacks the row {row}");
        }
        // Rows whose second cell is a config.yml path: `section.key`.
        let rows = readme
            .lines()
            .filter_map(|l| l.strip_prefix("| `")?.split('|').nth(1))
            .filter_map(|cell| cell.trim().trim_matches('`').split_once('.'))
            .filter(|(section, _)| ["opencti", "connector", "mq", "disinfox"].contains(section))
            .count();
        assert_eq!(
            rows,
            KEYS.len(),
            "README.md documents a connector setting the code does not know"
        );
    }

    #[test]
    fn the_sample_config_names_every_setting_with_its_default() {
        let sample = include_str!("../../config.yml.sample");
        let yaml: Value = serde_norway::from_str(sample).unwrap();
        for (env, path, default, _) in KEYS {
            let (section, key) = path.split_once('.').unwrap();
            let v = yaml.get(section).and_then(|s| s.get(key));
            assert!(v.is_some(), "config.yml.sample lacks {path} ({env})");
            let text = match v.unwrap() {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            if !default.is_empty() {
                assert_eq!(text, *default, "{path}: the sample shows the default");
            }
        }
        // Only the required values are missing: with them, the sample loads.
        Settings::from_parts(Some(sample), &env(&[])).unwrap();
    }
}
