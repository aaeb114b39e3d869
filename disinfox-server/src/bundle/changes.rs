//! The incremental pages of `GET /api/v1/bundle`: the incidents changed after a position of
//! the change log, in change order, as one bundle per page.
//!
//! A position is given as a cursor (a change sequence number this server handed out) or as
//! `newer_than`, a change time: change times strictly increase with the sequence, so "changed
//! after time t" is exactly "changed after the last change at or before t". The page says where
//! the next one starts, both ways: the sequence number and the change time of its last incident.

use serde::Deserialize;
use stix_model::incident::BuildOptions;
use stix_model::opencti::OpenCtiIdRules;
use stix_model::{Bundle, Timestamp};

use super::{builder, options, parse_flavor, parse_newer_than, Assembler};
use crate::configuration::MAX_BUNDLE_PAGE;
use crate::db::stix::{RowObjects, StixRow};
use crate::db::{micros_text, StoredIncident};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The parameters of a request, as the client sends them (checked by [`page`]).
#[derive(Debug, Default, Deserialize)]
pub struct ChangesQuery {
    /// RFC 3339 time: incidents changed after it.
    pub newer_than: Option<String>,
    /// A cursor a previous page gave (takes precedence over `newer_than`).
    pub cursor: Option<String>,
    /// Incidents per page, 1 to [`MAX_BUNDLE_PAGE`].
    pub limit: Option<String>,
    /// `standard` or `opencti`.
    pub flavor: Option<String>,
    /// `6` or `7`: the OpenCTI release whose id rules to follow.
    pub opencti_ids: Option<String>,
}

/// One page of changes.
#[derive(Debug)]
pub struct ChangesPage {
    /// The bundle of the incidents changed, with everything they refer to (JSON text).
    pub body: Vec<u8>,
    /// How many incidents the page holds.
    pub incidents: usize,
    /// The change time of the last incident (the mark given, when the page is empty): the
    /// `newer_than` of the next call.
    pub next_mark: String,
    /// The sequence number of the last incident (the cursor given, when empty).
    pub next_seq: i64,
    /// Whether another page is ready now.
    pub more: bool,
    /// The query of the next page, when there is one (`cursor=…&limit=…` and the flavour and
    /// id rules asked for).
    pub next_query: Option<String>,
}

/// `opencti_ids=6|7`: the OpenCTI release whose deterministic-id rules the bundle follows
/// (the connector asks for its platform's); the server's setting when absent.
fn id_rules(state: &AppState, v: Option<&str>) -> ApiResult<OpenCtiIdRules> {
    match v {
        None | Some("") => Ok(state.settings.opencti_id_rules),
        Some(v) => v
            .parse()
            .map_err(|_| ApiError::BadRequest(format!("opencti_ids: {v:?} is not 6 or 7"))),
    }
}

/// The epoch as a change time (before every change).
fn epoch_mark() -> String {
    micros_text(&Timestamp::from_unix_nanos(0, 0, 6))
}

/// What the bundles of a client are made with: the flavour and the OpenCTI id rules it asked
/// for (the bundle endpoint's and the live stream's `flavor` and `opencti_ids`).
#[derive(Debug, Clone)]
pub struct PageFormat {
    options: BuildOptions,
}

impl PageFormat {
    /// Checks `flavor` and `opencti_ids` (400 when wrong).
    pub fn parse(state: &AppState, flavor: Option<&str>, ids: Option<&str>) -> ApiResult<Self> {
        let options = options_with(state, parse_flavor(flavor)?, id_rules(state, ids)?)?;
        Ok(Self { options })
    }

    /// The bundle of these changed incidents (revoked ones too): each incident with its
    /// relationships and every object they refer to, once.
    pub fn bundle(&self, rows: &[StoredIncident]) -> ApiResult<Bundle> {
        if rows.is_empty() {
            return Ok(Bundle::new(Vec::new()));
        }
        Ok(builder(self.options.clone(), rows)?.build())
    }
}

/// A cursor a client sends: a change sequence number this server gave, so not beyond the
/// newest change (400 otherwise).
pub async fn parse_cursor(state: &AppState, c: &str) -> ApiResult<i64> {
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
    Ok(seq)
}

/// Where a request starts and how much it asks for.
#[derive(Debug)]
pub struct Position {
    /// Whether the client asked for the OpenCTI flavour.
    pub opencti: bool,
    /// The id rules asked for.
    pub rules: OpenCtiIdRules,
    /// Incidents changed after this.
    pub after: After,
    /// That change's time (or the `newer_than` given).
    pub mark: String,
    /// Incidents per page; `None` for every change in one streamed answer (a request in the
    /// shape of the existing DISINFOX connector: `newer_than` without `limit` or `cursor`).
    pub limit: Option<u32>,
}

/// Where a page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum After {
    /// After this change (a cursor's).
    Seq(i64),
    /// After the newest change at or before this time (`newer_than`, in the change log's
    /// format); looked up with the page where the backend can (one round trip fewer).
    Time(String),
}

impl Position {
    /// The position in the change log the page starts after.
    pub async fn after_seq(&self, state: &AppState) -> ApiResult<i64> {
        Ok(match &self.after {
            After::Seq(seq) => *seq,
            After::Time(at) => state.store.seq_at(at).await?,
        })
    }
}

/// Reads and checks the parameters of a request.
pub async fn position(state: &AppState, q: &ChangesQuery) -> ApiResult<Position> {
    let opencti = parse_flavor(q.flavor.as_deref())?;
    let rules = id_rules(state, q.opencti_ids.as_deref())?;
    let given = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.is_empty());
    let limit = match q.limit.as_deref() {
        // The existing DISINFOX connector sends `newer_than` alone, reads one answer and
        // then moves its clock on: it gets every change in one answer (docs/opencti-connector-protocol.md).
        None | Some("") if given(&q.newer_than) && !given(&q.cursor) => None,
        None | Some("") => Some(state.settings.bundle_page_limit),
        Some(l) => match l.parse::<u32>() {
            Ok(n) if (1..=MAX_BUNDLE_PAGE).contains(&n) => Some(n),
            _ => {
                return Err(ApiError::BadRequest(format!(
                    "limit: {l:?} is not a number from 1 to {MAX_BUNDLE_PAGE}"
                )))
            }
        },
    };
    let (after, mark) = match (q.cursor.as_deref(), q.newer_than.as_deref()) {
        (Some(c), _) if !c.is_empty() => {
            let seq = parse_cursor(state, c).await?;
            let mark = state
                .store
                .change_time(seq)
                .await?
                .unwrap_or_else(epoch_mark);
            (After::Seq(seq), mark)
        }
        (_, Some(n)) if !n.is_empty() => {
            let t = parse_newer_than(n).ok_or_else(|| {
                ApiError::BadRequest(format!("newer_than: {n:?} is not an RFC 3339 UTC time such as 2024-05-01T00:00:00.000000Z"))
            })?;
            let at = micros_text(&t);
            (After::Time(at.clone()), at)
        }
        _ => (After::Seq(0), epoch_mark()),
    };
    Ok(Position {
        opencti,
        rules,
        after,
        mark,
        limit,
    })
}

/// The builder options a request asks for.
pub fn options_of(state: &AppState, p: &Position) -> ApiResult<BuildOptions> {
    options_with(state, p.opencti, p.rules)
}

/// The builder options of a flavour and id rules (a page's, a stream's).
fn options_with(state: &AppState, opencti: bool, rules: OpenCtiIdRules) -> ApiResult<BuildOptions> {
    let mut o = options(&state.settings, opencti)?;
    o.id_rules = rules;
    Ok(o)
}

/// The page of changes after the position `q` names.
pub async fn page(state: &AppState, q: &ChangesQuery) -> ApiResult<ChangesPage> {
    let p = position(state, q).await?;
    let limit = p.limit.unwrap_or(state.settings.bundle_page_limit);
    page_at(state, q, &p, limit).await
}

/// About the size of a page's bundle, so that its buffer rarely grows: the stored text of its
/// incidents and room for their shared objects.
fn capacity(rows: &[StixRow]) -> usize {
    rows.iter()
        .map(|r| match &r.objects {
            RowObjects::Stored(o) => o.own.len() + 512 + o.refs.len() * 4,
            RowObjects::Build(_) => 8192,
        })
        .sum::<usize>()
        + 4096
}

/// The page of `limit` changes after the position `p`.
pub async fn page_at(
    state: &AppState,
    q: &ChangesQuery,
    p: &Position,
    limit: u32,
) -> ApiResult<ChangesPage> {
    let (opencti, mark) = (p.opencti, p.mark.clone());
    let opts = options_of(state, p)?;
    let mut assembler = Assembler::new(&state.store, opts)?;
    let n = i64::from(limit) + 1;
    let (after_seq, mut rows) = match (&p.after, assembler.flavor()) {
        (After::Time(at), Some(flavor)) => state.store.changes_at_stix(at, n, flavor, true).await?,
        _ => {
            let after_seq = p.after_seq(state).await?;
            let rows = state
                .store
                .changes_after_stix(after_seq, n, assembler.flavor(), true)
                .await?;
            (after_seq, rows)
        }
    };
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let (next_seq, next_mark) = match rows.last() {
        Some(last) => (last.change_seq, last.changed_at.clone()),
        None => (after_seq, mark),
    };
    let body = if rows.is_empty() {
        Bundle::new(Vec::new())
            .to_vec()
            .map_err(|e| ApiError::Internal(e.into()))?
    } else {
        let mut out = Vec::with_capacity(capacity(&rows));
        Assembler::head(&mut out);
        assembler.add_rows(&mut out, &rows).await?;
        Assembler::tail(&mut out);
        out
    };
    let next_query = more.then(|| {
        let flavor = if opencti { "&flavor=opencti" } else { "" };
        let ids = match q.opencti_ids.as_deref() {
            Some(v) if !v.is_empty() => format!("&opencti_ids={v}"),
            _ => String::new(),
        };
        format!("cursor={next_seq}&limit={limit}{flavor}{ids}")
    });
    Ok(ChangesPage {
        body,
        incidents: rows.len(),
        next_mark,
        next_seq,
        more,
        next_query,
    })
}
