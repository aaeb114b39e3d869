//! `DISINFOX_*` (`config.yml` section `disinfox`): the server's bundle endpoint, its key, and
//! how pages are fetched, and whether the connector polls or follows the live stream.

use std::time::Duration;

use super::{err, url, ConfigError, Secret, Source};

/// How the connector learns of changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A run per period (`CONNECTOR_DURATION_PERIOD`).
    Poll,
    /// Follow the server's live stream; catch up through the bundle endpoint.
    Stream,
}

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
    /// Poll or stream.
    pub mode: Mode,
    /// The live stream (`…/stream` next to the bundle endpoint `…/bundle`), in stream mode.
    pub stream_url: Option<String>,
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
        let bundle_url = url(
            "DISINFOX_URL",
            s.required("DISINFOX_URL", "http://disinfox:8080/api/v1/bundle")?,
        )?;
        let mode = match s.string("DISINFOX_MODE").trim() {
            "poll" => Mode::Poll,
            "stream" => Mode::Stream,
            other => {
                return Err(err(
                    "DISINFOX_MODE",
                    format!("{other:?} is not poll or stream"),
                ))
            }
        };
        let stream_url = match mode {
            Mode::Poll => None,
            Mode::Stream => Some(
                bundle_url
                    .trim_end_matches('/')
                    .strip_suffix("/bundle")
                    .map(|base| format!("{base}/stream"))
                    .ok_or_else(|| {
                        err(
                            "DISINFOX_URL",
                            format!("{bundle_url:?} does not end with /bundle; in stream mode the live stream is found next to the bundle endpoint, e.g. http://disinfox:8080/api/v1/bundle"),
                        )
                    })?,
            ),
        };
        Ok(Self {
            url: bundle_url,
            mode,
            stream_url,
            api_key: Secret::new(s.required(
                "DISINFOX_API_KEY",
                "a read key from disinfox-server apikey create",
            )?),
            page_size,
            timeout: Duration::from_secs(timeout),
        })
    }
}
