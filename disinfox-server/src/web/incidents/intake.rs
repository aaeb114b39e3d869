//! Intake from a PDF on the new-incident form: the upload is read by [`crate::intake`] and
//! the form comes back with a "Proposals" section, each proposal a checkbox named like the
//! form field it fills (`techniques`, `source_urls`, `target_countries`, `actors`,
//! `channels`), so submitting the form saves what the analyst kept and nothing else; nothing
//! is saved by the upload itself. `docs/pdf-intake.md` says what is read and proposed.
//!
//! Bounded: the page needs the writer role and the form's CSRF token (the page guard); the
//! body is bounded by the body limit and the file by [`limits`] before any parsing; the
//! reading runs on the blocking pool, at most [`CONCURRENT_INTAKES`] at a time (one more is
//! answered 503 at once rather than queued).

use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use tokio::sync::Semaphore;

use super::catalogue;
use super::edit::{form_page_with, FormKind};
use super::filters::known_values;
use crate::intake::{self, Confidence, IntakeError, Known, Limits, Proposal, ProposalKind};
use crate::state::AppState;
use crate::web::form::IncidentForm;
use crate::web::session::Ctx;
use crate::web::views::{FieldErrors, PageError, PageResult};

/// PDFs read at the same time, at most.
pub(crate) const CONCURRENT_INTAKES: usize = 2;

static READERS: Semaphore = Semaphore::const_new(CONCURRENT_INTAKES);

/// Room left in the body limit for the form's other fields and the multipart framing.
const FORM_ROOM: usize = 1024 * 1024;

/// The bounds of an intake on this server: the engine's defaults, with the file's size
/// kept below the body limit (less room for the rest of the form, at most a quarter of it)
/// so that a file too large gets the form's message rather than the body limit's page.
pub(crate) fn limits(state: &AppState) -> Limits {
    let body = state.settings.body_limit_bytes;
    let d = Limits::default();
    Limits {
        max_bytes: d.max_bytes.min(body - FORM_ROOM.min(body / 4)),
        ..d
    }
}

/// One proposal as the form shows it.
pub(crate) struct ProposalView {
    /// The form field its checkbox fills.
    pub(super) field: &'static str,
    pub(super) value: String,
    pub(super) label: String,
    pub(super) confidence: &'static str,
    pub(super) checked: bool,
    pub(super) sentence: String,
    pub(super) occurrences: usize,
}

/// The proposals of one kind.
pub(crate) struct ProposalGroup {
    pub(super) title: &'static str,
    pub(super) hint: &'static str,
    pub(super) items: Vec<ProposalView>,
}

/// What a file read gave.
pub(crate) struct IntakeView {
    pub(super) file: String,
    pub(super) pages: u32,
    pub(super) pages_read: u32,
    pub(super) chars: usize,
    pub(super) notes: Vec<String>,
    pub(super) groups: Vec<ProposalGroup>,
    pub(super) count: usize,
}

/// The upload's part of the new-incident form.
pub(crate) struct IntakePanel {
    /// The largest file accepted, in MB (as the engine's messages count them).
    pub(super) limit_mb: String,
    /// Why the file could not be read.
    pub(super) error: Option<String>,
    /// What was proposed.
    pub(super) result: Option<IntakeView>,
}

impl IntakePanel {
    pub(super) fn empty(state: &AppState) -> Self {
        Self {
            limit_mb: intake::mb(limits(state).max_bytes),
            error: None,
            result: None,
        }
    }
}

/// The form field a proposal fills, its heading and a hint; whether it is checked at first.
/// Checked: what names itself exactly (technique ids, URLs) and known actors and channels
/// named as written; unchecked: technique names, countries (target or origin is the
/// analyst's call), domains (a site that spread the content, or one only cited) and
/// anything of low confidence.
fn placement(kind: ProposalKind) -> (&'static str, &'static str, &'static str) {
    match kind {
        ProposalKind::Technique => (
            "techniques",
            "DISARM techniques",
            "Ids found in the text are checked; techniques found by their name are not.",
        ),
        ProposalKind::SourceUrl => (
            "source_urls",
            "Source URLs",
            "Kept URLs are added to the source URLs.",
        ),
        ProposalKind::Domain => (
            "channels",
            "Domains",
            "A kept domain is added to the channels (a website the content was spread on).",
        ),
        ProposalKind::Country => (
            "target_countries",
            "Countries named",
            "A kept country is added to the target countries; the country of origin is yours to enter.",
        ),
        ProposalKind::Actor => ("actors", "Known actors", "Actors already recorded here."),
        ProposalKind::Channel => ("channels", "Channels", "Platforms named as written."),
    }
}

fn checked(p: &Proposal) -> bool {
    match p.kind {
        ProposalKind::Technique | ProposalKind::SourceUrl => p.confidence == Confidence::High,
        ProposalKind::Actor | ProposalKind::Channel => p.confidence >= Confidence::Medium,
        ProposalKind::Country | ProposalKind::Domain => false,
    }
}

fn confidence(c: Confidence) -> &'static str {
    match c {
        Confidence::High => "high",
        Confidence::Medium => "medium",
        Confidence::Low => "low",
    }
}

fn view(file: String, r: intake::Intake) -> IntakeView {
    let mut groups: Vec<(ProposalKind, ProposalGroup)> = Vec::new();
    let count = r.proposals.len();
    for p in r.proposals {
        let (field, title, hint) = placement(p.kind);
        let item = ProposalView {
            field,
            checked: checked(&p),
            confidence: confidence(p.confidence),
            value: p.value,
            label: p.label,
            sentence: p.sentence,
            occurrences: p.occurrences,
        };
        match groups.iter_mut().find(|(k, _)| *k == p.kind) {
            Some((_, g)) => g.items.push(item),
            None => groups.push((
                p.kind,
                ProposalGroup {
                    title,
                    hint,
                    items: vec![item],
                },
            )),
        }
    }
    IntakeView {
        file,
        pages: r.pages,
        pages_read: r.pages_read,
        chars: r.text.chars().count(),
        notes: r.notes,
        groups: groups.into_iter().map(|(_, g)| g).collect(),
        count,
    }
}

fn status_of(e: &IntakeError) -> StatusCode {
    match e {
        IntakeError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

/// The uploaded file's name, its bytes (no more than one byte past `max` are kept: the size
/// decides first) and its size; `None` when the form had no `pdf` field (a browser sends
/// an empty one when no file was chosen).
async fn upload(
    ctx: &Ctx,
    multipart: &mut Multipart,
    max: usize,
) -> Result<Option<(String, Vec<u8>, usize)>, PageError> {
    let unreadable = |e: axum::extract::multipart::MultipartError| {
        PageError::bad_request(format!("The upload could not be read: {e}")).with(ctx)
    };
    while let Some(mut field) = multipart.next_field().await.map_err(unreadable)? {
        if field.name() != Some("pdf") {
            continue;
        }
        let name = field.file_name().unwrap_or("upload.pdf").to_owned();
        let (mut bytes, mut size) = (Vec::new(), 0usize);
        while let Some(chunk) = field.chunk().await.map_err(unreadable)? {
            size += chunk.len();
            if bytes.len() <= max {
                bytes.extend_from_slice(&chunk[..chunk.len().min(max + 1 - bytes.len())]);
            }
        }
        return Ok(Some((name, bytes, size)));
    }
    Ok(None)
}

/// Reads the uploaded PDF and shows the new-incident form with its proposals (or with why
/// it could not be read). Nothing is saved.
pub(crate) async fn intake(
    State(state): State<AppState>,
    ctx: Ctx,
    mut multipart: Multipart,
) -> PageResult {
    let limits = limits(&state);
    let mut panel = IntakePanel::empty(&state);
    let file = upload(&ctx, &mut multipart, limits.max_bytes).await?;
    let show = async |panel: IntakePanel, status: StatusCode| {
        form_page_with(
            &state,
            &ctx,
            FormKind::New,
            IncidentForm::default(),
            FieldErrors::default(),
            Some(panel),
            status,
        )
        .await
    };
    let Some((name, bytes, size)) = file.filter(|(_, _, size)| *size > 0) else {
        panel.error = Some("Choose a PDF to read: no file was uploaded.".into());
        return show(panel, StatusCode::BAD_REQUEST).await;
    };
    if size > limits.max_bytes {
        let e = IntakeError::TooLarge {
            size,
            max: limits.max_bytes,
        };
        panel.error = Some(format!("{name}: {e}"));
        return show(panel, status_of(&e)).await;
    }
    let Ok(_permit) = READERS.try_acquire() else {
        return Err(
            PageError::busy("Other reports are being read; try again in a moment.").with(&ctx),
        );
    };
    let (actors, channels) = known_values(&state).await?;
    let disarm = catalogue(&state);
    let read = tokio::task::spawn_blocking(move || {
        let mut names: Vec<&str> = intake::DEFAULT_CHANNELS.to_vec();
        for c in &channels {
            if !names.iter().any(|n| n.eq_ignore_ascii_case(c)) {
                names.push(c);
            }
        }
        let known = Known {
            catalogue: disarm,
            actors: &actors,
            channels: &names,
        };
        intake::read_pdf(&bytes, &known, &limits)
    })
    .await
    .map_err(PageError::internal)?;
    match read {
        Ok(r) => {
            panel.result = Some(view(name, r));
            show(panel, StatusCode::OK).await
        }
        Err(e) => {
            panel.error = Some(format!("{name}: {e}"));
            show(panel, status_of(&e)).await
        }
    }
}
