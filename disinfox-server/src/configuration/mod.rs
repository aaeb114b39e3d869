//! Settings: defaults, then a TOML file (`--config`), then `DISINFOX_*` environment variables.
//!
//! Every key has a default and an environment name (the key upper-cased with a `DISINFOX_`
//! prefix). A bad value stops start-up with a message naming the key and the expected form.
//! The layers are held by the `config` crate (`configuration/source.rs`); the table of keys,
//! [`KEYS`], is in `configuration/keys.rs`.

mod keys;
mod source;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use stix_model::disarm::DisarmVersion;
use stix_model::markings::Tlp;
use stix_model::opencti::OpenCtiIdRules;

pub use keys::KEYS;
use source::{env_name, Source};

/// A secret setting (the connector's API key): never printed, `Debug` included.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The value, for the one place that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

/// The server's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Database URL.
    pub database_url: String,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Public URL.
    pub public_url: String,
    /// Author organization name.
    pub organization: String,
    /// TLP of exports.
    pub tlp: Tlp,
    /// DISARM version.
    pub disarm_version: DisarmVersion,
    /// OpenCTI id rules.
    pub opencti_id_rules: OpenCtiIdRules,
    /// Body limit.
    pub body_limit_bytes: usize,
    /// Request timeout.
    pub request_timeout_secs: u64,
    /// Rate limit per key.
    pub rate_limit_per_minute: u32,
    /// Default page size of the bundle endpoint.
    pub bundle_page_limit: u32,
    /// Unfinished import jobs per user.
    pub import_jobs_per_user: u32,
    /// Unfinished import jobs on the server.
    pub import_jobs_max: u32,
    /// A read key to provision for the connector.
    pub connector_api_key: Option<Secret>,
    /// Reverse proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<crate::client::Cidr>,
    /// Who may create an account.
    pub registration: Registration,
    /// Whether visitors without an account may browse the pages.
    pub public_read: bool,
    /// Live API keys per user.
    pub max_keys_per_user: u32,
    /// Incidents one user's watchlist may hold.
    pub watchlist_max: u32,
    /// Sign-in attempts per minute per client address.
    pub login_attempts_per_minute: u32,
    /// Passwords hashed at once.
    pub password_hash_concurrency: usize,
    /// `text` or `json`.
    pub log_format: LogFormat,
    /// Tracing filter.
    pub log_level: String,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable.
    Text,
    /// JSON lines.
    Json,
}

/// Who may create an account (the `registration` setting).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    /// Only administrators create accounts.
    Closed,
    /// Anyone may apply; an administrator approves before the account can sign in.
    Approval,
    /// Anyone may create a reader account.
    Open,
}

impl Registration {
    /// The setting's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Approval => "approval",
            Self::Open => "open",
        }
    }
}

/// A configuration error naming the key and the expected form.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {message}")]
pub struct ConfigError {
    /// The key (or environment variable).
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

impl Settings {
    /// Loads settings from an optional file and the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load_from(file, &env)
    }

    /// Loads settings from an optional file and the given environment (for tests).
    pub fn load_from(file: Option<&Path>, env: &[(String, String)]) -> Result<Self, ConfigError> {
        let source = Source::new(file, env)?;
        let get = |key: &str| source.get(key);

        let listen = match get("listen") {
            Some((k, v)) => v.parse().map_err(|_| {
                err(
                    &k,
                    format!("{v:?} is not an address and port, e.g. 127.0.0.1:8080"),
                )
            })?,
            None => SocketAddr::from(([127, 0, 0, 1], 8080)),
        };
        let data_dir =
            PathBuf::from(get("data_dir").map_or_else(|| "./data".to_owned(), |(_, v)| v));
        let database_url = match get("database_url") {
            Some((k, v)) => {
                let postgres = v.starts_with("postgres://") || v.starts_with("postgresql://");
                if !v.starts_with("sqlite:") && !postgres {
                    return Err(err(&k, format!("{v:?} is not supported; expected a SQLite URL such as sqlite://data/disinfox.db or a PostgreSQL URL such as postgres://user:password@host/disinfox")));
                }
                v
            }
            None => format!("sqlite://{}", data_dir.join("disinfox.db").display()),
        };
        let public_url = get("public_url").map_or_else(
            || format!("http://{listen}"),
            |(_, v)| v.trim_end_matches('/').to_owned(),
        );
        let organization = match get("organization") {
            Some((k, v)) if v.trim().is_empty() => return Err(err(&k, "must not be empty")),
            Some((_, v)) => v,
            None => "DISINFOX".to_owned(),
        };
        let tlp = match get("tlp") {
            Some((k, v)) => Tlp::parse(&v).map_err(|_| err(&k, format!("{v:?} is not a TLP level; expected clear, green, amber, amber+strict or red")))?,
            None => Tlp::Green,
        };
        let disarm_version = match get("disarm_version") {
            Some((k, v)) => v.parse().map_err(|_| {
                err(
                    &k,
                    format!("{v:?} is not a DISARM version; expected 1.6 or 1.7"),
                )
            })?,
            None => DisarmVersion::V1_7,
        };
        let opencti_id_rules = match get("opencti_id_rules") {
            Some((k, v)) => v.parse().map_err(|_| {
                err(
                    &k,
                    format!("{v:?} is not an OpenCTI version; expected 6 or 7"),
                )
            })?,
            None => OpenCtiIdRules::V7,
        };
        let num = |key: &str, default: u64, min: u64| -> Result<u64, ConfigError> {
            match get(key) {
                Some((k, s)) => match s.trim().parse::<u64>() {
                    Ok(n) if n >= min => Ok(n),
                    _ => Err(err(
                        &k,
                        format!("{s:?} is not a whole number of at least {min}"),
                    )),
                },
                None => Ok(default),
            }
        };
        let body_limit_bytes = num("body_limit_bytes", 10 * 1024 * 1024, 1024)? as usize;
        let request_timeout_secs = num("request_timeout_secs", 30, 1)?;
        let rate_limit_per_minute = u32::try_from(num("rate_limit_per_minute", 600, 0)?)
            .map_err(|_| err("rate_limit_per_minute", "too large"))?;
        let bundle_page_limit = u32::try_from(num("bundle_page_limit", 100, 1)?)
            .map_err(|_| err("bundle_page_limit", "too large"))?
            .min(MAX_BUNDLE_PAGE);
        let import_jobs_per_user = u32::try_from(num("import_jobs_per_user", 2, 1)?)
            .map_err(|_| err("import_jobs_per_user", "too large"))?;
        let import_jobs_max = u32::try_from(num("import_jobs_max", 4, 1)?)
            .map_err(|_| err("import_jobs_max", "too large"))?;
        let connector_api_key = match get("connector_api_key") {
            Some((_, v)) if v.is_empty() => None,
            Some((k, v)) => {
                if v.chars().count() < 32 || v.chars().any(|c| c.is_whitespace() || c.is_control())
                {
                    return Err(err(
                        &k,
                        "must be at least 32 characters without spaces, e.g. from `head -c 32 /dev/urandom | base64`",
                    ));
                }
                Some(Secret::new(v))
            }
            None => None,
        };
        let trusted_proxies = match get("trusted_proxies") {
            Some((k, v)) => crate::client::parse_cidrs(&v).map_err(|e| {
                err(
                    &k,
                    format!("{e}; expected addresses or CIDR ranges such as 10.0.0.0/8, separated by commas"),
                )
            })?,
            None => Vec::new(),
        };
        let registration = match get("registration") {
            Some((_, v)) if v == "closed" => Registration::Closed,
            Some((_, v)) if v == "approval" => Registration::Approval,
            Some((_, v)) if v == "open" => Registration::Open,
            Some((k, v)) => {
                return Err(err(
                    &k,
                    format!("{v:?} is not a registration mode; expected closed, approval or open"),
                ))
            }
            None => Registration::Closed,
        };
        let public_read = match get("public_read") {
            Some((_, v)) if v == "true" => true,
            Some((_, v)) if v == "false" => false,
            Some((k, v)) => return Err(err(&k, format!("{v:?} is not true or false"))),
            None => false,
        };
        let small = |key: &str, default: u64, max: u64| {
            let n = num(key, default, 1)?;
            if n > max {
                let name = if source.set_by_env(key) {
                    env_name(key)
                } else {
                    key.to_owned()
                };
                return Err(err(&name, format!("{n} is too large; at most {max}")));
            }
            Ok(n)
        };
        let max_keys_per_user = small("max_keys_per_user", 10, 10_000)? as u32;
        let watchlist_max = small("watchlist_max", 1000, 100_000)? as u32;
        let login_attempts_per_minute = small("login_attempts_per_minute", 10, 100_000)? as u32;
        let password_hash_concurrency = small("password_hash_concurrency", 2, 64)? as usize;
        let log_format = match get("log_format") {
            Some((_, v)) if v == "text" => LogFormat::Text,
            Some((_, v)) if v == "json" => LogFormat::Json,
            Some((k, v)) => {
                return Err(err(
                    &k,
                    format!("{v:?} is not a log format; expected text or json"),
                ))
            }
            None => LogFormat::Text,
        };
        let log_level = get("log_level").map_or_else(|| "info".to_owned(), |(_, v)| v);
        Ok(Self {
            listen,
            database_url,
            data_dir,
            public_url,
            organization,
            tlp,
            disarm_version,
            opencti_id_rules,
            body_limit_bytes,
            request_timeout_secs,
            rate_limit_per_minute,
            bundle_page_limit,
            import_jobs_per_user,
            import_jobs_max,
            connector_api_key,
            trusted_proxies,
            registration,
            public_read,
            max_keys_per_user,
            watchlist_max,
            login_attempts_per_minute,
            password_hash_concurrency,
            log_format,
            log_level,
        })
    }

    /// Settings for tests: a given database, port 0, no rate limit, sign-in attempts per
    /// address high enough for tests that sign in many times (the tests of the limits set
    /// them).
    pub fn for_tests(database_url: String) -> Self {
        let mut s =
            Self::load_from(None, &[]).unwrap_or_else(|e| unreachable!("defaults are valid: {e}"));
        s.database_url = database_url;
        s.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        s.rate_limit_per_minute = 0;
        s.login_attempts_per_minute = 1000;
        s
    }
}

/// The largest page of the bundle endpoint.
pub const MAX_BUNDLE_PAGE: u32 = 1000;

#[cfg(test)]
mod tests;
