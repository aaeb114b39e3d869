//! Pages about incidents, one file per page: [`dashboard`], [`list`], [`detail`] (with the
//! downloads of an incident), [`edit`] (new and edit forms, create, save, delete), [`intake`] (proposals from a PDF on
//! the new-incident form), [`import`],
//! [`matrix`], [`map`], [`actors`], [`reports`] (PDF and DOCX downloads), [`techniques`] (every DISARM technique, and one), [`watchlist`] (and the star), [`mine`] (my work); what they share (the filter form, URLs that keep the filters, bars of
//! counts) is in [`filters`].

mod actors;
mod dashboard;
mod detail;
mod edit;
mod filters;
mod import;
mod intake;
mod list;
mod map;
mod matrix;
mod mine;
mod reports;
mod techniques;
mod watchlist;

pub(crate) use actors::{actor, actors};
pub(crate) use dashboard::dashboard;
pub(crate) use detail::{bundle_download, detail, layer_download, DoneQuery};
pub(crate) use edit::{create, delete, edit_form, new_form, update};
pub(crate) use import::{csv_template, import, import_form, import_job};
pub(crate) use intake::intake;
pub(crate) use list::list;
pub(crate) use map::map;
pub(crate) use matrix::{heatmap_download, matrix};
pub(crate) use mine::page as my_work;
pub(crate) use reports::{incident_docx, incident_pdf, set_docx, set_pdf};
pub(crate) use techniques::{technique, techniques};
pub(crate) use watchlist::{page as watchlist, watch};

use stix_model::disarm::Catalogue;

use crate::state::AppState;

pub(super) fn catalogue(state: &AppState) -> &'static Catalogue {
    Catalogue::builtin(state.settings.disarm_version)
}

/// A path segment, percent-encoded (spaces as `%20`, not `+`).
pub(crate) fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
