//! The layers of settings, held by the `config` crate as the connector's are: the settings file
//! (TOML, `--config`), then the `DISINFOX_*` environment variables of [`KEYS`] over it. The
//! defaults stay in [`super::Settings::load_from`], beside the conversions, since some are
//! made from other settings (`database_url` from `data_dir`, `public_url` from `listen`).
//!
//! Values are read as text and converted by the caller, so that every conversion keeps its own
//! one-line error naming the key as the operator wrote it (the environment variable, or the
//! file's key): `config`'s own conversions accept `1` or `on` as booleans and name neither.

use std::path::Path;

use super::keys::{IGNORED_ENV, KEYS};
use super::{err, ConfigError};

/// Keys whose file value may be a list (read like its comma-separated form).
const LISTS: &[&str] = &["trusted_proxies"];

/// Keys whose file value may be a number or a boolean as well as a string.
const SCALARS: &[&str] = &[
    "opencti_id_rules",
    "body_limit_bytes",
    "request_timeout_secs",
    "rate_limit_per_minute",
    "bundle_page_limit",
    "import_jobs_per_user",
    "import_jobs_max",
    "public_read",
    "max_keys_per_user",
    "watchlist_max",
    "login_attempts_per_minute",
    "password_hash_concurrency",
];

/// The environment name of a key: `DISINFOX_` and the key upper-cased.
pub(super) fn env_name(key: &str) -> String {
    format!("DISINFOX_{}", key.to_ascii_uppercase())
}

/// The settings file and the environment, layered.
pub(super) struct Source {
    layers: config::Config,
    /// The keys the environment sets (`config` does not keep a value's origin through `get`).
    from_env: Vec<&'static str>,
}

/// The environment variables among [`KEYS`], each at its key: the top layer.
#[derive(Debug, Clone)]
struct KnownEnv(config::Map<String, config::Value>);

impl config::Source for KnownEnv {
    fn clone_into_box(&self) -> Box<dyn config::Source + Send + Sync> {
        Box::new(self.clone())
    }

    fn collect(&self) -> Result<config::Map<String, config::Value>, config::ConfigError> {
        Ok(self.0.clone())
    }
}

impl Source {
    /// Layers the file (if any) and the environment. Refuses an unknown `DISINFOX_*` variable,
    /// a file that is not TOML, and a file key that is not a setting or holds a table.
    pub(super) fn new(file: Option<&Path>, env: &[(String, String)]) -> Result<Self, ConfigError> {
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
        let mut builder = config::Config::builder();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| err("--config", format!("cannot read {}: {e}", path.display())))?;
            let source = config::File::from_str(&text, config::FileFormat::Toml);
            let bad = |why: String| {
                err(
                    "--config",
                    format!("{} is not a valid settings file: {why}", path.display()),
                )
            };
            // The file alone first, to check its keys and to blame it for a parse error.
            let alone = config::Config::builder()
                .add_source(source.clone())
                .build()
                .and_then(|c| c.try_deserialize::<config::Map<String, config::Value>>())
                .map_err(|e| bad(one_line(&e)))?;
            for (key, value) in alone {
                check_file_value(&key, &value).map_err(bad)?;
            }
            builder = builder.add_source(source);
        }
        let mut known = config::Map::new();
        let mut from_env = Vec::new();
        for (key, name, _, _) in KEYS {
            if let Some((_, v)) = env.iter().rev().find(|(k, _)| k == name) {
                let origin = (*name).to_owned();
                known.insert(
                    (*key).to_owned(),
                    config::Value::new(Some(&origin), v.as_str()),
                );
                from_env.push(*key);
            }
        }
        let layers = builder
            .add_source(KnownEnv(known))
            .build()
            .map_err(|e| err("--config", one_line(&e)))?;
        Ok(Self { layers, from_env })
    }

    /// A setting's value as text with the name to blame for it (the environment variable, or
    /// the file's key), or `None` when neither sets it. A list is read as its comma-separated
    /// form.
    pub(super) fn get(&self, key: &str) -> Option<(String, String)> {
        let value = self.layers.get::<config::Value>(key).ok()?;
        let name = if self.set_by_env(key) {
            env_name(key)
        } else {
            key.to_owned()
        };
        let text = match value.kind {
            config::ValueKind::Nil => return None,
            config::ValueKind::Array(items) => items
                .into_iter()
                .filter_map(|i| i.into_string().ok())
                .collect::<Vec<_>>()
                .join(","),
            _ => value.into_string().ok()?,
        };
        Some((name, text))
    }

    /// Whether the environment sets `key`.
    pub(super) fn set_by_env(&self, key: &str) -> bool {
        self.from_env.contains(&key)
    }
}

/// A key of the settings file must be a setting, with a single value of its kind (a string, or
/// for some a number or a boolean; a list of strings for [`LISTS`]).
fn check_file_value(key: &str, value: &config::Value) -> Result<(), String> {
    use config::ValueKind as K;
    if !KEYS.iter().any(|(k, ..)| *k == key) {
        return Err(format!(
            "{key:?} is not a setting; see the configuration reference in README.md"
        ));
    }
    let fits = match &value.kind {
        K::String(_) => true,
        K::Boolean(_) | K::I64(_) | K::I128(_) | K::U64(_) | K::U128(_) => SCALARS.contains(&key),
        K::Array(items) => {
            LISTS.contains(&key) && items.iter().all(|i| matches!(i.kind, K::String(_)))
        }
        K::Nil | K::Float(_) | K::Table(_) => false,
    };
    if fits {
        Ok(())
    } else if LISTS.contains(&key) {
        Err(format!("{key}: expected a string or a list of strings"))
    } else if SCALARS.contains(&key) {
        Err(format!("{key}: expected a single value"))
    } else {
        Err(format!("{key}: expected a string"))
    }
}

/// An error's text on one line.
fn one_line(e: &dyn std::error::Error) -> String {
    e.to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}
