//! `DISINFOX_*` (`config.yml` section `disinfox`): the server's bundle endpoint, its key, and
//! how pages are fetched.

use std::time::Duration;

use super::{err, url, ConfigError, Secret, Source};

/// The DISINFOX server.
#[derive(Debug, Clone)]
pub struct DisinfoxSettings {
    /// Bundle endpoint.
    pub url: String,
    /// Server API key.
    pub api_key: Secret,
    /// Incidents per page.
    pub page_size: u32,
    /// Time limit of one request.
    pub timeout: Duration,
}

impl DisinfoxSettings {
    pub(super) fn read(s: &Source) -> Result<Self, ConfigError> {
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
        Ok(Self {
            url: url(
                "DISINFOX_URL",
                s.required("DISINFOX_URL", "http://disinfox:8080/api/v1/bundle")?,
            )?,
            api_key: Secret::new(s.required(
                "DISINFOX_API_KEY",
                "a read key from disinfox-server apikey create",
            )?),
            page_size,
            timeout: Duration::from_secs(timeout),
        })
    }
}
