//! `OPENCTI_*` (`config.yml` section `opencti`): the platform, how to reach it, and the log
//! form.

use super::{err, url, ConfigError, Secret, Source};

/// How to reach OpenCTI.
#[derive(Debug, Clone)]
pub struct OpenCtiSettings {
    /// OpenCTI URL without a trailing slash.
    pub url: String,
    /// OpenCTI token.
    pub token: Secret,
    /// How OpenCTI's TLS certificate is checked.
    pub ssl_verify: TlsVerify,
    /// Extra headers sent to OpenCTI.
    pub custom_headers: Vec<(String, String)>,
    /// JSON logs.
    pub json_logging: bool,
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

impl OpenCtiSettings {
    pub(super) fn read(s: &Source) -> Result<Self, ConfigError> {
        let token = s.required("OPENCTI_TOKEN", "a UUID token from OpenCTI")?;
        if token == "ChangeMe" {
            return Err(err("OPENCTI_TOKEN", "is still the placeholder ChangeMe"));
        }
        Ok(Self {
            url: url(
                "OPENCTI_URL",
                s.required("OPENCTI_URL", "http://opencti:8080")?,
            )?,
            token: Secret::new(token),
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
        })
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
