//! Settings: defaults, then a TOML file (`--config`), then `DISINFOX_*` environment variables.
//!
//! Every key has a default and an environment name (the key upper-cased with a `DISINFOX_`
//! prefix). A bad value stops start-up with a message naming the key and the expected form.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use stix_model::disarm::DisarmVersion;
use stix_model::markings::Tlp;
use stix_model::opencti::OpenCtiIdRules;

/// One documented setting: `(key, env var, default, meaning)`. The README's configuration
/// reference and the drift test are built from this table.
pub const KEYS: &[(&str, &str, &str, &str)] = &[
    (
        "listen",
        "DISINFOX_LISTEN",
        "127.0.0.1:8080",
        "address and port to listen on",
    ),
    (
        "database_url",
        "DISINFOX_DATABASE_URL",
        "sqlite://<data_dir>/disinfox.db",
        "database; a SQLite URL (created with its schema on first start)",
    ),
    (
        "data_dir",
        "DISINFOX_DATA_DIR",
        "./data",
        "directory for the default SQLite database",
    ),
    (
        "public_url",
        "DISINFOX_PUBLIC_URL",
        "http://<listen>",
        "URL clients use to reach the server (links, TAXII)",
    ),
    (
        "organization",
        "DISINFOX_ORGANIZATION",
        "DISINFOX",
        "name of the organization that authors the incidents (created_by_ref)",
    ),
    (
        "tlp",
        "DISINFOX_TLP",
        "green",
        "TLP marking of exported objects: clear, green, amber, amber+strict, red",
    ),
    (
        "disarm_version",
        "DISINFOX_DISARM_VERSION",
        "1.7",
        "DISARM version techniques are checked against: 1.6 or 1.7",
    ),
    (
        "opencti_id_rules",
        "DISINFOX_OPENCTI_ID_RULES",
        "7",
        "OpenCTI attack-pattern id rules: 6 or 7",
    ),
    (
        "body_limit_bytes",
        "DISINFOX_BODY_LIMIT_BYTES",
        "10485760",
        "largest accepted request body, in bytes",
    ),
    (
        "request_timeout_secs",
        "DISINFOX_REQUEST_TIMEOUT_SECS",
        "30",
        "time limit of one request, in seconds",
    ),
    (
        "rate_limit_per_minute",
        "DISINFOX_RATE_LIMIT_PER_MINUTE",
        "600",
        "requests per minute per user, across all their API keys; and per address for visitors without an account when public_read is on (0: no limit)",
    ),
    (
        "bundle_page_limit",
        "DISINFOX_BUNDLE_PAGE_LIMIT",
        "100",
        "incidents per page of /api/v1/bundle when the client gives no limit",
    ),
    (
        "import_jobs_per_user",
        "DISINFOX_IMPORT_JOBS_PER_USER",
        "2",
        "import jobs one user may have queued or running at once",
    ),
    (
        "import_jobs_max",
        "DISINFOX_IMPORT_JOBS_MAX",
        "4",
        "import jobs the server runs (or has queued) at once",
    ),
    (
        "connector_api_key",
        "DISINFOX_CONNECTOR_API_KEY",
        "",
        "a read API key to provision at start for the OpenCTI connector (at least 32 characters; empty: none)",
    ),
    (
        "trusted_proxies",
        "DISINFOX_TRUSTED_PROXIES",
        "",
        "reverse proxies (addresses or CIDR ranges, comma-separated) whose X-Forwarded-For names the client; empty: the header is ignored",
    ),
    (
        "registration",
        "DISINFOX_REGISTRATION",
        "closed",
        "who may create an account: closed (administrators only), approval (anyone applies, an administrator approves), open",
    ),
    (
        "public_read",
        "DISINFOX_PUBLIC_READ",
        "false",
        "true: visitors without an account may browse the incident pages, matrix, actors and dashboard (never the API)",
    ),
    (
        "max_keys_per_user",
        "DISINFOX_MAX_KEYS_PER_USER",
        "10",
        "live API keys a user may hold",
    ),
    (
        "login_attempts_per_minute",
        "DISINFOX_LOGIN_ATTEMPTS_PER_MINUTE",
        "10",
        "sign-in attempts per minute per client address (successful ones are not counted)",
    ),
    (
        "password_hash_concurrency",
        "DISINFOX_PASSWORD_HASH_CONCURRENCY",
        "2",
        "passwords hashed at once (argon2id, 19 MiB each); more wait up to 2 s, then get 503",
    ),
    (
        "log_format",
        "DISINFOX_LOG_FORMAT",
        "text",
        "log format: text or json",
    ),
    (
        "log_level",
        "DISINFOX_LOG_LEVEL",
        "info",
        "log level or tracing filter (e.g. info, disinfox_server=debug)",
    ),
];

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
    pub connector_api_key: Option<String>,
    /// Reverse proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<crate::client::Cidr>,
    /// Who may create an account.
    pub registration: Registration,
    /// Whether visitors without an account may browse the pages.
    pub public_read: bool,
    /// Live API keys per user.
    pub max_keys_per_user: u32,
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

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    listen: Option<String>,
    database_url: Option<String>,
    data_dir: Option<String>,
    public_url: Option<String>,
    organization: Option<String>,
    tlp: Option<String>,
    disarm_version: Option<String>,
    opencti_id_rules: Option<toml::Value>,
    body_limit_bytes: Option<toml::Value>,
    request_timeout_secs: Option<toml::Value>,
    rate_limit_per_minute: Option<toml::Value>,
    bundle_page_limit: Option<toml::Value>,
    import_jobs_per_user: Option<toml::Value>,
    import_jobs_max: Option<toml::Value>,
    connector_api_key: Option<String>,
    trusted_proxies: Option<toml::Value>,
    registration: Option<String>,
    public_read: Option<toml::Value>,
    max_keys_per_user: Option<toml::Value>,
    login_attempts_per_minute: Option<toml::Value>,
    password_hash_concurrency: Option<toml::Value>,
    log_format: Option<String>,
    log_level: Option<String>,
}

impl Settings {
    /// Loads settings from an optional file and the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load_from(file, &env)
    }

    /// Loads settings from an optional file and the given environment (for tests).
    pub fn load_from(file: Option<&Path>, env: &[(String, String)]) -> Result<Self, ConfigError> {
        let fs: FileSettings = match file {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| err("--config", format!("cannot read {}: {e}", p.display())))?;
                toml::from_str(&text).map_err(|e| {
                    err(
                        "--config",
                        format!("{} is not a valid settings file: {e}", p.display()),
                    )
                })?
            }
            None => FileSettings::default(),
        };
        for (k, _) in env {
            if k.starts_with("DISINFOX_")
                && !KEYS.iter().any(|(_, e, _, _)| e == k)
                && !IGNORED_ENV.contains(&k.as_str())
            {
                return Err(err(
                    k,
                    "unknown setting; see the configuration reference in README.md",
                ));
            }
        }
        let get = |key: &str, file_value: Option<String>| -> Option<(String, String)> {
            let env_name = format!("DISINFOX_{}", key.to_ascii_uppercase());
            if let Some((_, v)) = env.iter().find(|(k, _)| *k == env_name) {
                return Some((env_name, v.clone()));
            }
            file_value.map(|v| (key.to_owned(), v))
        };
        let tv = |v: Option<toml::Value>| {
            v.map(|v| match v {
                toml::Value::String(s) => s,
                // A list (trusted_proxies) is read like its comma-separated form.
                toml::Value::Array(items) => items
                    .into_iter()
                    .map(|i| match i {
                        toml::Value::String(s) => s,
                        other => other.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(","),
                other => other.to_string(),
            })
        };

        let listen = match get("listen", fs.listen) {
            Some((k, v)) => v.parse().map_err(|_| {
                err(
                    &k,
                    format!("{v:?} is not an address and port, e.g. 127.0.0.1:8080"),
                )
            })?,
            None => SocketAddr::from(([127, 0, 0, 1], 8080)),
        };
        let data_dir = PathBuf::from(
            get("data_dir", fs.data_dir).map_or_else(|| "./data".to_owned(), |(_, v)| v),
        );
        let database_url = match get("database_url", fs.database_url) {
            Some((k, v)) => {
                if !v.starts_with("sqlite:") {
                    return Err(err(&k, format!("{v:?} is not supported; expected a SQLite URL such as sqlite://data/disinfox.db")));
                }
                v
            }
            None => format!("sqlite://{}", data_dir.join("disinfox.db").display()),
        };
        let public_url = get("public_url", fs.public_url).map_or_else(
            || format!("http://{listen}"),
            |(_, v)| v.trim_end_matches('/').to_owned(),
        );
        let organization = match get("organization", fs.organization) {
            Some((k, v)) if v.trim().is_empty() => return Err(err(&k, "must not be empty")),
            Some((_, v)) => v,
            None => "DISINFOX".to_owned(),
        };
        let tlp = match get("tlp", fs.tlp) {
            Some((k, v)) => Tlp::parse(&v).map_err(|_| err(&k, format!("{v:?} is not a TLP level; expected clear, green, amber, amber+strict or red")))?,
            None => Tlp::Green,
        };
        let disarm_version = match get("disarm_version", fs.disarm_version) {
            Some((k, v)) => v.parse().map_err(|_| {
                err(
                    &k,
                    format!("{v:?} is not a DISARM version; expected 1.6 or 1.7"),
                )
            })?,
            None => DisarmVersion::V1_7,
        };
        let opencti_id_rules = match get("opencti_id_rules", tv(fs.opencti_id_rules)) {
            Some((k, v)) => v.parse().map_err(|_| {
                err(
                    &k,
                    format!("{v:?} is not an OpenCTI version; expected 6 or 7"),
                )
            })?,
            None => OpenCtiIdRules::V7,
        };
        let num = |key: &str,
                   v: Option<toml::Value>,
                   default: u64,
                   min: u64|
         -> Result<u64, ConfigError> {
            match get(key, tv(v)) {
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
        let body_limit_bytes = num(
            "body_limit_bytes",
            fs.body_limit_bytes,
            10 * 1024 * 1024,
            1024,
        )? as usize;
        let request_timeout_secs = num("request_timeout_secs", fs.request_timeout_secs, 30, 1)?;
        let rate_limit_per_minute = u32::try_from(num(
            "rate_limit_per_minute",
            fs.rate_limit_per_minute,
            600,
            0,
        )?)
        .map_err(|_| err("rate_limit_per_minute", "too large"))?;
        let bundle_page_limit =
            u32::try_from(num("bundle_page_limit", fs.bundle_page_limit, 100, 1)?)
                .map_err(|_| err("bundle_page_limit", "too large"))?
                .min(MAX_BUNDLE_PAGE);
        let import_jobs_per_user =
            u32::try_from(num("import_jobs_per_user", fs.import_jobs_per_user, 2, 1)?)
                .map_err(|_| err("import_jobs_per_user", "too large"))?;
        let import_jobs_max = u32::try_from(num("import_jobs_max", fs.import_jobs_max, 4, 1)?)
            .map_err(|_| err("import_jobs_max", "too large"))?;
        let connector_api_key = match get("connector_api_key", fs.connector_api_key) {
            Some((_, v)) if v.is_empty() => None,
            Some((k, v)) => {
                if v.chars().count() < 32 || v.chars().any(|c| c.is_whitespace() || c.is_control())
                {
                    return Err(err(
                        &k,
                        "must be at least 32 characters without spaces, e.g. from `head -c 32 /dev/urandom | base64`",
                    ));
                }
                Some(v)
            }
            None => None,
        };
        let trusted_proxies = match get("trusted_proxies", tv(fs.trusted_proxies)) {
            Some((k, v)) => crate::client::parse_cidrs(&v).map_err(|e| {
                err(
                    &k,
                    format!("{e}; expected addresses or CIDR ranges such as 10.0.0.0/8, separated by commas"),
                )
            })?,
            None => Vec::new(),
        };
        let registration = match get("registration", fs.registration) {
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
        let public_read = match get("public_read", tv(fs.public_read)) {
            Some((_, v)) if v == "true" => true,
            Some((_, v)) if v == "false" => false,
            Some((k, v)) => return Err(err(&k, format!("{v:?} is not true or false"))),
            None => false,
        };
        let small = |key: &str, v: Option<toml::Value>, default: u64, max: u64| {
            let n = num(key, v, default, 1)?;
            if n > max {
                let env_name = format!("DISINFOX_{}", key.to_ascii_uppercase());
                let name = if env.iter().any(|(e, _)| *e == env_name) {
                    env_name.as_str()
                } else {
                    key
                };
                return Err(err(name, format!("{n} is too large; at most {max}")));
            }
            Ok(n)
        };
        let max_keys_per_user =
            small("max_keys_per_user", fs.max_keys_per_user, 10, 10_000)? as u32;
        let login_attempts_per_minute = small(
            "login_attempts_per_minute",
            fs.login_attempts_per_minute,
            10,
            100_000,
        )? as u32;
        let password_hash_concurrency = small(
            "password_hash_concurrency",
            fs.password_hash_concurrency,
            2,
            64,
        )? as usize;
        let log_format = match get("log_format", fs.log_format) {
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
        let log_level =
            get("log_level", fs.log_level).map_or_else(|| "info".to_owned(), |(_, v)| v);
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

/// `DISINFOX_*` variables that are not settings of the server (used by other tools).
const IGNORED_ENV: &[&str] = &[
    "DISINFOX_URL",
    "DISINFOX_API_KEY",
    "DISINFOX_PAGE_SIZE",
    "DISINFOX_TIMEOUT_SECS",
    "DISINFOX_TEST_AMQP_URL",
    "DISINFOX_PYTHON",
    "DISINFOX_TEST_LOG",
    // Where the tests find the published DISARM bundles, and whether they must (docs/disarm.md §1).
    "DISINFOX_DISARM_DIR",
    "DISINFOX_REQUIRE_DISARM",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn defaults_and_overrides() {
        let s = Settings::load_from(None, &[]).unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
        assert!(s.database_url.ends_with("disinfox.db"));
        let s = Settings::load_from(
            None,
            &env(&[
                ("DISINFOX_LISTEN", "0.0.0.0:9000"),
                ("DISINFOX_TLP", "amber"),
            ]),
        )
        .unwrap();
        assert_eq!(s.listen.port(), 9000);
        assert_eq!(s.tlp, Tlp::Amber);
        assert_eq!(s.registration, Registration::Closed);
        assert!(!s.public_read && s.trusted_proxies.is_empty());
        assert_eq!((s.max_keys_per_user, s.password_hash_concurrency), (10, 2));
        let dir = std::env::temp_dir().join(format!("dfx-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("s.toml");
        std::fs::write(
            &file,
            "trusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\"]\nregistration = \"approval\"\npublic_read = true\nmax_keys_per_user = 3\n",
        )
        .unwrap();
        let s = Settings::load_from(Some(&file), &[]).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(s.trusted_proxies.len(), 2);
        assert_eq!(s.registration, Registration::Approval);
        assert!(s.public_read);
        assert_eq!(s.max_keys_per_user, 3);
    }

    #[test]
    fn the_readme_documents_every_setting_and_no_other() {
        let readme = include_str!("../../README.md");
        for (key, env, default, _) in KEYS {
            let default = if default.is_empty() {
                String::new()
            } else {
                format!("`{default}`")
            };
            let row = format!("| `{key}` | `{env}` | {default} |");
            assert!(readme.contains(&row), "README.md lacks the row {row}");
        }
        let documented = readme.matches("` | `DISINFOX_").count();
        assert_eq!(
            documented,
            KEYS.len(),
            "README.md documents a setting the code does not know"
        );
    }

    #[test]
    fn bad_values_name_the_key() {
        for (k, v, want) in [
            (
                "DISINFOX_LISTEN",
                "localhost",
                "DISINFOX_LISTEN: \"localhost\" is not an address",
            ),
            (
                "DISINFOX_TLP",
                "purple",
                "DISINFOX_TLP: \"purple\" is not a TLP level",
            ),
            (
                "DISINFOX_BODY_LIMIT_BYTES",
                "ten",
                "DISINFOX_BODY_LIMIT_BYTES: \"ten\" is not a whole number",
            ),
            ("DISINFOX_LOG_FORMAT", "xml", "DISINFOX_LOG_FORMAT"),
            (
                "DISINFOX_DATABASE_URL",
                "mysql://x",
                "DISINFOX_DATABASE_URL",
            ),
            ("DISINFOX_DISARM_VERSION", "2.0", "DISINFOX_DISARM_VERSION"),
            ("DISINFOX_LISTN", "x", "DISINFOX_LISTN: unknown setting"),
            (
                "DISINFOX_CONNECTOR_API_KEY",
                "short",
                "DISINFOX_CONNECTOR_API_KEY: must be at least 32 characters",
            ),
            (
                "DISINFOX_TRUSTED_PROXIES",
                "10.0.0.1, proxy.local",
                "DISINFOX_TRUSTED_PROXIES: \"proxy.local\" is not an IP address or CIDR range",
            ),
            (
                "DISINFOX_REGISTRATION",
                "yes",
                "DISINFOX_REGISTRATION: \"yes\" is not a registration mode",
            ),
            (
                "DISINFOX_PUBLIC_READ",
                "1",
                "DISINFOX_PUBLIC_READ: \"1\" is not true or false",
            ),
            (
                "DISINFOX_MAX_KEYS_PER_USER",
                "0",
                "DISINFOX_MAX_KEYS_PER_USER: \"0\" is not a whole number of at least 1",
            ),
            (
                "DISINFOX_PASSWORD_HASH_CONCURRENCY",
                "1000",
                "DISINFOX_PASSWORD_HASH_CONCURRENCY: 1000 is too large",
            ),
        ] {
            let e = Settings::load_from(None, &env(&[(k, v)]))
                .unwrap_err()
                .to_string();
            assert!(e.starts_with(want), "{k}={v}: {e}");
        }
    }
}
