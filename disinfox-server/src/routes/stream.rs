//! `GET /api/v1/stream`: the live stream of the change log as Server-Sent Events; the events are
//! made by [`crate::live`].

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;
use serde::Deserialize;

use crate::auth::{hash_api_key, Caller};
use crate::bundle::changes::{parse_cursor, PageFormat};
use crate::error::{ApiError, ApiResult};
use crate::http::caller::presented_key;
use crate::http::extract::Params;
use crate::live::Follower;
use crate::state::AppState;

/// The shortest and longest heartbeat a client may ask for, in seconds.
pub const HEARTBEAT_SECS: (u64, u64) = (1, 60);

/// The parameters of the stream.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct StreamQuery {
    /// The cursor to start after (`Last-Event-ID` takes precedence).
    cursor: Option<String>,
    /// `standard` or `opencti`.
    flavor: Option<String>,
    /// `6` or `7`.
    opencti_ids: Option<String>,
    /// Seconds between heartbeats.
    heartbeat: Option<String>,
}

pub(crate) async fn stream(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Params(q): Params<StreamQuery>,
) -> ApiResult<Response> {
    // The slot first: a key at its limit costs nothing more.
    let slot = state
        .streams
        .admit(caller.key_id.unwrap_or(-caller.user.id))?;
    let format = PageFormat::parse(&state, q.flavor.as_deref(), q.opencti_ids.as_deref())?;
    let heartbeat = match q.heartbeat.as_deref() {
        None | Some("") => state.streams.limits().heartbeat,
        Some(h) => match h.parse::<u64>() {
            Ok(n) if (HEARTBEAT_SECS.0..=HEARTBEAT_SECS.1).contains(&n) => Duration::from_secs(n),
            _ => {
                return Err(ApiError::BadRequest(format!(
                    "heartbeat: {h:?} is not a number of seconds from {} to {}",
                    HEARTBEAT_SECS.0, HEARTBEAT_SECS.1
                )))
            }
        },
    };
    let resume = match headers.get("last-event-id") {
        Some(v) => Some(
            v.to_str()
                .map_err(|_| ApiError::BadRequest("Last-Event-ID: not a cursor".into()))?
                .trim()
                .to_owned(),
        ),
        None => q.cursor.clone(),
    };
    let after = match resume.as_deref() {
        Some(c) if !c.is_empty() => parse_cursor(&state, c).await?,
        _ => state.store.last_change_seq().await?,
    };
    let key_hash = headers
        .get(header::AUTHORIZATION)
        .and_then(presented_key)
        .map(|k| hash_api_key(&k))
        .unwrap_or_default();
    let follower = Follower::new(state, format, after, heartbeat, key_hash, slot);
    let body = futures_util::stream::unfold(follower, |mut f| async move {
        f.next_chunk().await.map(|b| (Ok::<_, Infallible>(b), f))
    });
    let mut r = Response::new(Body::from_stream(body));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // nginx: pass events on as they come.
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(r)
}
