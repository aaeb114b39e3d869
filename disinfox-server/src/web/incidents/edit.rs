//! The new-incident and edit forms, and creating, saving and deleting an incident.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;

use super::catalogue;
use super::filters::{all_countries, known_values};
use super::intake::IntakePanel;
use crate::db::StoredIncident;
use crate::error::ApiError;
use crate::http::extract::PathParams;
use crate::ops;
use crate::state::AppState;
use crate::web::form::{self, IncidentForm, PickerTactic};
use crate::web::session::{Ctx, FormData};
use crate::web::views::{
    render_status, see_other, CountryView, FieldErrors, Layout, PageError, PageResult,
};

#[derive(Template)]
#[template(path = "incident_form.html")]
struct FormPage {
    l: Layout,
    heading: String,
    action: String,
    submit: &'static str,
    cancel: String,
    f: IncidentForm,
    errors: FieldErrors,
    picker: Vec<PickerTactic>,
    picked: usize,
    unknown: Vec<String>,
    attribution: Vec<(&'static str, &'static str, bool)>,
    countries: Vec<CountryView>,
    actors: Vec<String>,
    channels: Vec<String>,
    /// The PDF upload (new incidents only): its limit in MB, the proposals of a file read,
    /// or why it could not be read.
    intake: Option<IntakePanel>,
}

pub(super) enum FormKind<'a> {
    New,
    Edit { id: &'a str, name: &'a str },
}

async fn form_page(
    state: &AppState,
    ctx: &Ctx,
    kind: FormKind<'_>,
    f: IncidentForm,
    errors: FieldErrors,
) -> PageResult {
    let intake = matches!(kind, FormKind::New).then(|| IntakePanel::empty(state));
    form_page_with(state, ctx, kind, f, errors, intake, StatusCode::OK).await
}

/// The form, with the PDF upload's panel as given (`status` when the form has no field
/// errors).
pub(super) async fn form_page_with(
    state: &AppState,
    ctx: &Ctx,
    kind: FormKind<'_>,
    f: IncidentForm,
    errors: FieldErrors,
    intake: Option<IntakePanel>,
    status: StatusCode,
) -> PageResult {
    let (picker, unknown) = form::picker(catalogue(state), &f.techniques);
    let picked = f.techniques.len();
    let (actors, channels) = known_values(state).await?;
    let attribution = [
        ("government", "a government"),
        ("platform", "a platform"),
        ("company", "a company"),
        ("researchers", "researchers or journalists"),
    ]
    .into_iter()
    .map(|(v, label)| {
        (
            v,
            label,
            f.attribution_sources
                .iter()
                .any(|s| s.eq_ignore_ascii_case(v)),
        )
    })
    .collect();
    let (title, heading, action, submit, cancel, active) = match kind {
        FormKind::New => (
            "New incident".to_owned(),
            "New incident".to_owned(),
            "/incidents/new".to_owned(),
            "Create the incident",
            "/incidents".to_owned(),
            "new",
        ),
        FormKind::Edit { id, name } => (
            format!("Edit {name}"),
            format!("Edit “{name}”"),
            format!("/incidents/{id}/edit"),
            "Save a new version",
            format!("/incidents/{id}"),
            "incidents",
        ),
    };
    let status = if errors.is_empty() {
        status
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let page = FormPage {
        l: Layout::new(state, Some(ctx), title, active),
        heading,
        action,
        submit,
        cancel,
        f: f.for_display(),
        errors,
        picker,
        picked,
        unknown,
        attribution,
        countries: all_countries(),
        actors,
        channels,
        intake,
    };
    render_status(status, &page)
}

pub(crate) async fn new_form(State(state): State<AppState>, ctx: Ctx) -> PageResult {
    form_page(
        &state,
        &ctx,
        FormKind::New,
        IncidentForm::default(),
        FieldErrors::default(),
    )
    .await
}

/// The form's input, or every error of it (those of the text that is not even a number, and
/// those of the shared validation).
fn form_input(
    state: &AppState,
    f: &IncidentForm,
) -> Result<crate::model::IncidentInput, FieldErrors> {
    let (input, mut errors) = f.to_input();
    if errors.is_empty() {
        return Ok(input);
    }
    if let Err(more) = ops::check_incident(state, input) {
        errors.merge(more);
    }
    Err(errors)
}

pub(crate) async fn create(State(state): State<AppState>, ctx: Ctx, form: FormData) -> PageResult {
    let caller = ctx.caller()?;
    let f = IncidentForm::from_form(&form);
    let input = match form_input(&state, &f) {
        Ok(i) => i,
        Err(errors) => return form_page(&state, &ctx, FormKind::New, f, errors).await,
    };
    match ops::create_incident(&state, &caller, input).await {
        Ok(s) => Ok(see_other(&format!("/incidents/{}?done=created", s.id))),
        Err(ApiError::Invalid { fields, .. }) => {
            form_page(&state, &ctx, FormKind::New, f, fields.into()).await
        }
        Err(e) => Err(PageError::from(e).with(&ctx)),
    }
}

async fn live_incident(state: &AppState, ctx: &Ctx, id: &str) -> Result<StoredIncident, PageError> {
    let s = ops::load_incident(state, id)
        .await
        .map_err(|e| PageError::from(e).with(ctx))?;
    if s.revoked {
        return Err(
            PageError::not_found("This incident was deleted; it cannot be edited.").with(ctx),
        );
    }
    Ok(s)
}

pub(crate) async fn edit_form(
    State(state): State<AppState>,
    ctx: Ctx,
    PathParams(id): PathParams<String>,
) -> PageResult {
    let s = live_incident(&state, &ctx, &id).await?;
    let id = s.id.to_string();
    form_page(
        &state,
        &ctx,
        FormKind::Edit {
            id: &id,
            name: &s.incident.input.name,
        },
        IncidentForm::from_input(&s.incident.input),
        FieldErrors::default(),
    )
    .await
}

pub(crate) async fn update(
    State(state): State<AppState>,
    ctx: Ctx,
    PathParams(id): PathParams<String>,
    form: FormData,
) -> PageResult {
    let caller = ctx.caller()?;
    let s = live_incident(&state, &ctx, &id).await?;
    let id = s.id.to_string();
    let kind = FormKind::Edit {
        id: &id,
        name: &s.incident.input.name,
    };
    let f = IncidentForm::from_form(&form);
    let input = match form_input(&state, &f) {
        Ok(i) => i,
        Err(errors) => return form_page(&state, &ctx, kind, f, errors).await,
    };
    match ops::update_incident(&state, &caller, &id, input).await {
        Ok(_) => Ok(see_other(&format!("/incidents/{id}?done=saved"))),
        Err(ApiError::Invalid { fields, .. }) => {
            form_page(&state, &ctx, kind, f, fields.into()).await
        }
        Err(e) => Err(PageError::from(e).with(&ctx)),
    }
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    ctx: Ctx,
    PathParams(id): PathParams<String>,
    _form: FormData,
) -> PageResult {
    let caller = ctx.caller()?;
    ops::delete_incident(&state, &caller, &id)
        .await
        .map_err(|e| PageError::from(e).with(&ctx))?;
    Ok(see_other("/incidents?done=deleted"))
}
