//! The DISINFOX side: pages of the server's bundle endpoint (`GET /api/v1/bundle`).
//!
//! Every request has a timeout. Connection errors, timeouts, 5xx, 429 and 408 answers are
//! retried with exponential back-off and jitter, a bounded number of times; any other 4xx is
//! reported at once (it will not get better by asking again). How an answer is read and checked
//! is in `page.rs`: objects that are not valid STIX are reported and skipped, not fatal; a body
//! that is not a bundle at all is an error.

use std::time::Duration;

use crate::configuration::Secret;
pub use crate::page::Page;
pub use crate::retry::RetryPolicy;
use crate::seen::SeenSet;

/// What went wrong fetching a page.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// 401 or 403: the API key is wrong, revoked or lacks the right.
    #[error("the DISINFOX server refused the API key (HTTP {status}): {message}")]
    Unauthorized {
        /// Status.
        status: u16,
        /// The server's message.
        message: String,
    },
    /// Another 4xx: the request is wrong (e.g. a bad mark); not retried.
    #[error("the DISINFOX server rejected the request (HTTP {status}): {message}")]
    Rejected {
        /// Status.
        status: u16,
        /// The server's message.
        message: String,
    },
    /// 5xx, timeouts or connection errors, still failing after every retry.
    #[error("the DISINFOX server is unavailable after {attempts} attempts: {last}")]
    Unavailable {
        /// Attempts made.
        attempts: u32,
        /// The last error.
        last: String,
    },
    /// The answer is not a STIX bundle.
    #[error("the DISINFOX server's answer is not a STIX bundle: {0}")]
    Malformed(String),
}

/// A client of the bundle endpoint.
#[derive(Debug, Clone)]
pub struct Source {
    client: reqwest::Client,
    url: String,
    key: Secret,
    page_size: u32,
    retry: RetryPolicy,
    extra: Vec<(&'static str, String)>,
}

impl Source {
    /// Adds a query parameter to every request (e.g. `opencti_ids=6`).
    pub fn with_query(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.extra.push((name, value.into()));
        self
    }

    /// The query parameters added to every request.
    pub fn extra_query(&self) -> Vec<(&'static str, String)> {
        self.extra.clone()
    }

    /// A client of `url` (the bundle endpoint) with a per-request `timeout`.
    pub fn new(
        url: &str,
        key: Secret,
        page_size: u32,
        timeout: Duration,
        retry: RetryPolicy,
    ) -> Result<Self, SourceError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("disinfox-connector/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SourceError::Malformed(format!("HTTP client: {e}")))?;
        Ok(Self {
            client,
            url: url.to_owned(),
            key,
            page_size,
            retry,
            extra: Vec::new(),
        })
    }

    /// Fetches the page after `cursor` (or, with no cursor, after `newer_than`, or from the
    /// beginning), every object checked.
    pub async fn fetch(
        &self,
        cursor: Option<&str>,
        newer_than: Option<&str>,
    ) -> Result<Page, SourceError> {
        self.fetch_with(cursor, newer_than, &mut SeenSet::new(0))
            .await
    }

    /// [`Source::fetch`], recognising the objects OpenCTI accepted earlier in the run (`seen`)
    /// by their text: those are not checked again (see [`Page`]).
    pub async fn fetch_with(
        &self,
        cursor: Option<&str>,
        newer_than: Option<&str>,
        seen: &mut SeenSet,
    ) -> Result<Page, SourceError> {
        let mut query: Vec<(&str, String)> = vec![
            ("limit", self.page_size.to_string()),
            ("flavor", "opencti".into()),
        ];
        query.extend(self.extra.iter().map(|(k, v)| (*k, v.clone())));
        match (cursor, newer_than) {
            (Some(c), _) => query.push(("cursor", c.to_owned())),
            (None, Some(t)) => query.push(("newer_than", t.to_owned())),
            (None, None) => {}
        }
        let attempts = self.retry.attempts.max(1);
        let mut last = String::new();
        for attempt in 1..=attempts {
            if attempt > 1 {
                tokio::time::sleep(self.retry.delay(attempt - 1)).await;
            }
            let sent = self
                .client
                .get(&self.url)
                .query(&query)
                .header(
                    reqwest::header::AUTHORIZATION,
                    format!("Bearer {}", self.key.expose()),
                )
                .send()
                .await;
            let response = match sent {
                Ok(r) => r,
                Err(e) => {
                    last = if e.is_timeout() {
                        "request timed out".to_owned()
                    } else {
                        format!("connection error: {e}")
                    };
                    continue;
                }
            };
            let status = response.status().as_u16();
            let header = |n: &str| {
                response
                    .headers()
                    .get(n)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let next_cursor = header("x-disinfox-next-cursor");
            let high_water_mark = header("x-disinfox-high-water-mark");
            let more = header("x-disinfox-more").as_deref() == Some("true");
            let body = match response.bytes().await {
                Ok(b) => b,
                Err(e) => {
                    last = if e.is_timeout() {
                        "reading the answer timed out".to_owned()
                    } else {
                        format!("reading the answer: {e}")
                    };
                    continue;
                }
            };
            let message = || {
                serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
                    .unwrap_or_else(|| {
                        String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned()
                    })
            };
            match status {
                200..=299 => {}
                401 | 403 => {
                    return Err(SourceError::Unauthorized {
                        status,
                        message: message(),
                    })
                }
                500..=599 | 408 | 429 => {
                    last = format!("HTTP {status}: {}", message());
                    continue;
                }
                _ => {
                    return Err(SourceError::Rejected {
                        status,
                        message: message(),
                    })
                }
            }
            let mut page = Page::read(Vec::from(body), seen)?;
            page.next_cursor = next_cursor;
            page.high_water_mark = high_water_mark;
            page.more = more;
            return Ok(page);
        }
        Err(SourceError::Unavailable { attempts, last })
    }
}
