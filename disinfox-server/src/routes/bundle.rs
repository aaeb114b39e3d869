//! STIX bundles: the incremental bundle endpoint, one incident's bundle, and the streamed export.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use stix_model::incident::{BuildOptions, BundleBuilder};
use stix_model::{Bundle, Timestamp};

use super::api::{load, ListQuery, Params, PathParams};
use crate::auth::Caller;
use crate::configuration::MAX_BUNDLE_PAGE;
use crate::db::{micros_text, StoredIncident};
use crate::error::{ApiError, ApiResult};
use crate::startup::AppState;

/// The high-water mark to send as `newer_than` next time (a server time).
pub const HIGH_WATER_MARK: &str = "x-disinfox-high-water-mark";
/// The cursor of the next page (or of the next call when there is no next page).
pub const NEXT_CURSOR: &str = "x-disinfox-next-cursor";
/// `true` when another page is ready now.
pub const MORE: &str = "x-disinfox-more";

fn flavor_opencti(flavor: Option<&str>) -> ApiResult<bool> {
    match flavor.unwrap_or("standard") {
        "standard" => Ok(false),
        "opencti" => Ok(true),
        other => Err(ApiError::BadRequest(format!(
            "flavor: {other:?} is not standard or opencti"
        ))),
    }
}

/// The builder options of this server.
pub(crate) fn options(state: &AppState, opencti: bool) -> ApiResult<BuildOptions> {
    let mut o = BuildOptions::with_author(&state.settings.organization)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("organization name: {e}")))?;
    o.tlp = state.settings.tlp;
    o.disarm = state.settings.disarm_version;
    o.id_rules = state.settings.opencti_id_rules;
    o.opencti = opencti;
    Ok(o)
}

/// A builder with the incidents added.
pub(crate) fn builder_with(
    state: &AppState,
    incidents: &[StoredIncident],
    opencti: bool,
) -> ApiResult<BundleBuilder> {
    builder_from(options(state, opencti)?, incidents)
}

/// A builder with these options and the incidents added.
pub(crate) fn builder_from(
    options: BuildOptions,
    incidents: &[StoredIncident],
) -> ApiResult<BundleBuilder> {
    let mut b = BundleBuilder::new(options);
    for s in incidents {
        let d = s
            .incident
            .to_description(&s.id, s.created, s.modified, s.revoked);
        b.add_incident(&d).map_err(|e| {
            ApiError::Internal(anyhow::anyhow!("building the bundle of {}: {e}", s.id))
        })?;
    }
    Ok(b)
}

fn bundle_response(bundle: &Bundle, headers: Vec<(HeaderName, String)>) -> ApiResult<Response> {
    let body = bundle.to_vec().map_err(|e| ApiError::Internal(e.into()))?;
    let mut r = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response();
    for (k, v) in headers {
        if let Ok(v) = HeaderValue::from_str(&v) {
            r.headers_mut().insert(k, v);
        }
    }
    Ok(r)
}

#[derive(Debug, Deserialize)]
pub(crate) struct FlavorQuery {
    flavor: Option<String>,
}

pub(crate) async fn incident_bundle(
    State(state): State<AppState>,
    _caller: Caller,
    PathParams(id): PathParams<String>,
    Params(q): Params<FlavorQuery>,
) -> ApiResult<Response> {
    let opencti = flavor_opencti(q.flavor.as_deref())?;
    incident_bundle_download(&state, &id, opencti).await
}

/// One incident's bundle as a JSON file download (the API's and the incident page's).
pub(crate) async fn incident_bundle_download(
    state: &AppState,
    id: &str,
    opencti: bool,
) -> ApiResult<Response> {
    let s = load(state, id).await?;
    let b = builder_with(state, std::slice::from_ref(&s), opencti)?.build();
    let mut r = bundle_response(&b, Vec::new())?;
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{}.json\"", s.id)) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(r)
}

/// Parses `newer_than` as the existing DISINFOX connector sends it too: RFC 3339, microseconds,
/// a doubled trailing `Z`, an explicit `+00:00`, or no zone at all (read as UTC).
pub fn parse_newer_than(s: &str) -> Option<Timestamp> {
    let t = s.trim();
    let t = t
        .strip_suffix("ZZ")
        .map(|x| format!("{x}Z"))
        .unwrap_or_else(|| t.to_owned());
    let t = if let Some(x) = t.strip_suffix("+00:00") {
        format!("{x}Z")
    } else if !t.ends_with('Z') {
        format!("{t}Z")
    } else {
        t
    };
    // A space instead of T is a common client slip.
    Timestamp::parse(&t.replacen(' ', "T", 1)).ok()
}

#[derive(Debug, Deserialize)]
pub(crate) struct ChangesQuery {
    newer_than: Option<String>,
    cursor: Option<String>,
    limit: Option<String>,
    flavor: Option<String>,
    opencti_ids: Option<String>,
}

/// `opencti_ids=6|7`: the OpenCTI release whose deterministic-id rules the bundle follows
/// (the connector asks for its platform's); the server's setting when absent.
fn id_rules(state: &AppState, v: Option<&str>) -> ApiResult<stix_model::opencti::OpenCtiIdRules> {
    match v {
        None | Some("") => Ok(state.settings.opencti_id_rules),
        Some(v) => v
            .parse()
            .map_err(|_| ApiError::BadRequest(format!("opencti_ids: {v:?} is not 6 or 7"))),
    }
}

pub(crate) async fn changes_bundle(
    State(state): State<AppState>,
    _caller: Caller,
    Params(q): Params<ChangesQuery>,
) -> ApiResult<Response> {
    let opencti = flavor_opencti(q.flavor.as_deref())?;
    let rules = id_rules(&state, q.opencti_ids.as_deref())?;
    let limit = match q.limit.as_deref() {
        None | Some("") => state.settings.bundle_page_limit,
        Some(l) => match l.parse::<u32>() {
            Ok(n) if (1..=MAX_BUNDLE_PAGE).contains(&n) => n,
            _ => {
                return Err(ApiError::BadRequest(format!(
                    "limit: {l:?} is not a number from 1 to {MAX_BUNDLE_PAGE}"
                )))
            }
        },
    };
    let (after_seq, mark) = match (q.cursor.as_deref(), q.newer_than.as_deref()) {
        (Some(c), _) if !c.is_empty() => {
            let seq: i64 = c.parse().ok().filter(|n| *n >= 0).ok_or_else(|| {
                ApiError::BadRequest(format!("cursor: {c:?} is not a cursor this server gave"))
            })?;
            let newest = state.store.last_change_seq().await?;
            if seq > newest {
                return Err(ApiError::BadRequest(format!(
                    "cursor: {seq} is beyond the newest change ({newest}); this server never gave it \
                     (after a restore from a backup, start again from newer_than)"
                )));
            }
            let mark = state
                .store
                .change_time(seq)
                .await?
                .unwrap_or_else(|| micros_text(&Timestamp::from_unix_nanos(0, 0, 6)));
            (seq, mark)
        }
        (_, Some(n)) if !n.is_empty() => {
            let t = parse_newer_than(n).ok_or_else(|| {
                ApiError::BadRequest(format!("newer_than: {n:?} is not an RFC 3339 UTC time such as 2024-05-01T00:00:00.000000Z"))
            })?;
            let at = micros_text(&t);
            (state.store.seq_at(&at).await?, at)
        }
        _ => (0, micros_text(&Timestamp::from_unix_nanos(0, 0, 6))),
    };
    let mut rows = state
        .store
        .changes_after(after_seq, i64::from(limit) + 1)
        .await?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let (next_seq, next_mark) = match rows.last() {
        Some(last) => (last.change_seq, last.changed_at.clone()),
        None => (after_seq, mark),
    };
    let bundle = if rows.is_empty() {
        Bundle::new(Vec::new())
    } else {
        let mut o = options(&state, opencti)?;
        o.id_rules = rules;
        builder_from(o, &rows)?.build()
    };
    let mut headers = vec![
        (HeaderName::from_static(HIGH_WATER_MARK), next_mark),
        (HeaderName::from_static(NEXT_CURSOR), next_seq.to_string()),
        (HeaderName::from_static(MORE), more.to_string()),
        (
            HeaderName::from_static("x-disinfox-incidents"),
            rows.len().to_string(),
        ),
    ];
    if more {
        let flavor = if opencti { "&flavor=opencti" } else { "" };
        let ids = match q.opencti_ids.as_deref() {
            Some(v) if !v.is_empty() => format!("&opencti_ids={v}"),
            _ => String::new(),
        };
        headers.push((
            header::LINK,
            format!("</api/v1/bundle?cursor={next_seq}&limit={limit}{flavor}{ids}>; rel=\"next\""),
        ));
    }
    bundle_response(&bundle, headers)
}

/// The export: a bundle of every live incident matching the filters, written as it is read, a
/// chunk of incidents at a time, so memory stays bounded whatever the number of incidents.
pub(crate) async fn export(
    State(state): State<AppState>,
    _caller: Caller,
    Params(q): Params<ListQuery>,
) -> ApiResult<Response> {
    let filter = q.filter()?;
    let opts = options(&state, false)?;
    let exporter = crate::export::Exporter::new(state, filter, opts);
    let stream = futures_util::stream::unfold(exporter, |mut e| async move {
        match e.next_chunk().await {
            Ok(Some(bytes)) => Some((Ok::<Bytes, std::io::Error>(Bytes::from(bytes)), e)),
            Ok(None) => None,
            Err(err) => {
                tracing::error!(error = ?err, "export failed; the response is cut short");
                Some((Err(std::io::Error::other("export failed")), e))
            }
        }
    });
    let mut r = Response::new(Body::from_stream(stream));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"disinfox-export.json\""),
    );
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::parse_newer_than;

    #[test]
    fn newer_than_forms_of_the_existing_connector() {
        for (input, want) in [
            ("2024-10-30T01:35:21.128381Z", "2024-10-30T01:35:21.128381Z"),
            (
                "2024-10-30T01:35:21.128381ZZ",
                "2024-10-30T01:35:21.128381Z",
            ),
            ("1970-01-01T00:00:00.000000Z", "1970-01-01T00:00:00.000000Z"),
            ("2024-10-30T01:35:21+00:00", "2024-10-30T01:35:21Z"),
            ("2024-10-30T01:35:21.5", "2024-10-30T01:35:21.5Z"),
        ] {
            assert_eq!(
                parse_newer_than(input).map(|t| t.to_string()).as_deref(),
                Some(want),
                "{input}"
            );
        }
        for bad in [
            "yesterday",
            "2024-13-01T00:00:00Z",
            "",
            "2024-10-30T01:35:21+02:00",
        ] {
            assert!(parse_newer_than(bad).is_none(), "{bad}");
        }
    }
}
