//! The web pages: server-rendered HTML (askama templates compiled into the binary), with the
//! stylesheet, script and icon served from the binary too, so the pages work on a network
//! with no way out.
//!
//! Every page is in [`pages`], a table parallel to the API's route table: the router is built
//! from it, and its access level is enforced by a guard layered on each route (sign-in,
//! role, and the CSRF token of every state-changing request), so a page cannot forget a
//! check. The handlers call the same operations as the JSON API ([`crate::ops`]).
//!
//! Browser sessions live in SQLite (the cookie holds a random id, the table its SHA-256);
//! cookies are HttpOnly and SameSite, and Secure when the public URL is https.

mod account;
mod assets;
mod audit;
mod chart;
mod developers;
mod form;
mod incidents;
mod profile;
mod session;
mod theme;
mod users;
mod views;

use std::collections::BTreeSet;
use std::sync::LazyLock;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post, MethodRouter};

use crate::http::Access;
use crate::state::AppState;

pub use session::{SESSION_COOKIE, SESSION_HOURS};

/// A page route.
pub struct PageSpec {
    /// HTTP method.
    pub method: &'static str,
    /// Path, with `{id}`-style placeholders.
    pub path: &'static str,
    /// Who may open it: anyone, any signed-in user, analysts, administrators.
    pub access: Access,
    /// One line.
    pub summary: &'static str,
    handler: fn() -> MethodRouter<AppState>,
}

impl PageSpec {
    /// The route's handler, behind the guard of its access level.
    pub fn guarded(&self, state: &AppState) -> MethodRouter<AppState> {
        let guard = session::PageGuard {
            state: state.clone(),
            access: self.access,
            method: Method::from_bytes(self.method.as_bytes()).unwrap_or(Method::GET),
        };
        (self.handler)()
            .layer(middleware::from_fn_with_state(
                state.settings.body_limit_bytes,
                crate::http::declared_length,
            ))
            .layer(middleware::from_fn_with_state(guard, session::guard))
    }
}

macro_rules! page {
    ($m:literal $p:literal $a:ident $s:literal, $h:expr) => {
        PageSpec {
            method: $m,
            path: $p,
            access: Access::$a,
            summary: $s,
            handler: || $h,
        }
    };
}

/// Every page of the server. Not part of the OpenAPI document.
pub fn pages() -> Vec<PageSpec> {
    vec![
        page!("GET" "/" Public "What this instance is; sign in", get(account::landing)),
        page!("GET" "/assets/{file}" Public "Stylesheet, script and icon", get(assets::serve)),
        page!("GET" "/developers" Public "For developers: API keys, the API, the bundle endpoint, the live stream, TAXII 2.1, with examples; every API route", get(developers::page)),
        page!("GET" "/login" Public "The sign-in form", get(account::login_form)),
        page!("POST" "/login" Public "Signs in", post(account::login)),
        page!("GET" "/register" Public "The registration form (when the registration setting allows it)", get(account::register_form)),
        page!("POST" "/register" Public "Applies for a reader account", post(account::register)),
        page!("POST" "/logout" Read "Signs out", post(account::logout)),
        page!("POST" "/theme" Public "Sets the colour theme (theme=system|light|dark, a cookie); back to the page (back=)", post(theme::switch)),
        page!("GET" "/dashboard" Browse "Counts, latest incidents, top actors, countries, techniques, channels, incidents over time", get(incidents::dashboard)),
        page!("GET" "/incidents" Browse "Incidents: full-text search, facet filters, sort, pages", get(incidents::list)),
        page!("GET" "/incidents/new" Write "The new-incident form", get(incidents::new_form)),
        page!("POST" "/incidents/new" Write "Creates an incident", post(incidents::create)),
        page!("POST" "/incidents/new/intake" Write "Reads an uploaded report (PDF) and shows the new-incident form again with proposals drawn from it, to keep or drop (nothing is saved)", post(incidents::intake)),
        page!("GET" "/incidents/report.pdf" Read "Downloads the report (PDF) of the incidents matching the list filters (at most 1000; signed-in users only)", get(incidents::set_pdf)),
        page!("GET" "/incidents/report.docx" Read "Downloads the report (DOCX) of the incidents matching the list filters (at most 1000; signed-in users only)", get(incidents::set_docx)),
        page!("GET" "/incidents/{id}" Browse "An incident: every field, techniques by tactic, related incidents, STIX bundle", get(incidents::detail)),
        page!("GET" "/incidents/{id}/bundle" Browse "Downloads the incident's STIX 2.1 bundle", get(incidents::bundle_download)),
        page!("GET" "/incidents/{id}/navigator" Browse "Downloads the incident's DISARM Navigator layer", get(incidents::layer_download)),
        page!("GET" "/incidents/{id}/report.pdf" Read "Downloads the incident's report as PDF (signed-in users only)", get(incidents::incident_pdf)),
        page!("GET" "/incidents/{id}/report.docx" Read "Downloads the incident's report as DOCX (signed-in users only)", get(incidents::incident_docx)),
        page!("GET" "/incidents/{id}/edit" Write "The edit form of an incident", get(incidents::edit_form)),
        page!("POST" "/incidents/{id}/edit" Write "Saves a new version of an incident", post(incidents::update)),
        page!("POST" "/incidents/{id}/delete" Write "Deletes an incident (published revoked)", post(incidents::delete)),
        page!("GET" "/import" Write "The bulk import form", get(incidents::import_form)),
        page!("POST" "/import" Write "Starts an import job for a STIX bundle or a DISINFOX CSV file; leads to its page", post(incidents::import)),
        page!("GET" "/import/template.csv" Write "Downloads a CSV template of the bulk format: the header the importer reads and one example row", get(incidents::csv_template)),
        page!("GET" "/import/jobs/{id}" Write "An import job: a progress bar while it runs (the page reloads itself), then the report", get(incidents::import_job)),
        page!("POST" "/incidents/{id}/watch" Read "Stars (watch=1) or unstars an incident for the signed-in user; back to the page it was pressed on", post(incidents::watch)),
        page!("GET" "/watchlist" Read "The signed-in user's watchlist: what changed since they last looked (viewing marks it seen)", get(incidents::watchlist)),
        page!("GET" "/my" Read "The incidents the signed-in user created or edited", get(incidents::my_work)),
        page!("GET" "/matrix" Browse "The DISARM matrix shaded by incident counts (all or filtered)", get(incidents::matrix)),
        page!("GET" "/map" Browse "World map of incidents per target country (or country of origin, view=origin), following the list filters", get(incidents::map)),
        page!("GET" "/matrix/navigator" Browse "Downloads the DISARM Navigator heatmap layer of the matrix's incidents", get(incidents::heatmap_download)),
        page!("GET" "/techniques" Browse "Every DISARM technique with its tactic and incident count; q= finds by id or name", get(incidents::techniques)),
        page!("GET" "/techniques/{id}" Browse "A DISARM technique: tactic, parent and sub-techniques, its incidents (paged), the techniques used with it most", get(incidents::technique)),
        page!("GET" "/actors" Browse "Actors with incident counts", get(incidents::actors)),
        page!("GET" "/actors/{name}" Browse "An actor and its incidents", get(incidents::actor)),
        page!("GET" "/profile" Read "The signed-in user: API keys, password", get(profile::profile)),
        page!("POST" "/profile/keys" Read "Creates an API key (shown once)", post(profile::create_key)),
        page!("POST" "/profile/keys/{id}/revoke" Read "Revokes an API key", post(profile::revoke_key)),
        page!("POST" "/profile/password" Read "Changes the password", post(profile::change_password)),
        page!("GET" "/admin/users" Admin "Users and roles", get(users::users)),
        page!("POST" "/admin/users" Admin "Creates a user", post(users::create_user)),
        page!("POST" "/admin/users/{id}" Admin "Changes a user's role or disables it", post(users::update_user)),
        page!("POST" "/admin/users/{id}/approve" Admin "Approves a pending registration", post(users::approve_user)),
        page!("POST" "/admin/users/{id}/reject" Admin "Rejects a pending registration (the application is deleted)", post(users::reject_user)),
        page!("GET" "/admin/audit" Admin "The audit log: sign-ins, registrations, roles, keys, deletions; filters and pages", get(audit::page)),
    ]
}

/// First path segments of the pages (`""` for `/`).
static PAGE_SEGMENTS: LazyLock<BTreeSet<&'static str>> = LazyLock::new(|| {
    pages()
        .iter()
        .map(|p| first_segment(p.path))
        .filter(|s| !s.is_empty())
        .collect()
});

pub(crate) fn first_segment(path: &str) -> &str {
    path.trim_start_matches('/').split('/').next().unwrap_or("")
}

/// Whether a request path belongs to the pages (HTML answers) rather than the API (JSON).
pub fn is_page_path(path: &str) -> bool {
    path == "/" || PAGE_SEGMENTS.contains(first_segment(path))
}

/// The outer layer of the pages: security headers on every page answer, and an HTML error
/// page for every error answer that is not one already (extractor rejections, 404, 405,
/// 413, errors of the handlers). API paths pass through untouched.
pub async fn html_pages(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if !is_page_path(req.uri().path()) {
        return next.run(req).await;
    }
    let res = next.run(req).await;
    let mut res = views::error_page_for(&state, res).await;
    let h = res.headers_mut();
    for (k, v) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
    ] {
        h.insert(k, HeaderValue::from_static(v));
    }
    // Pages show what the user may see, and forms carry tokens: no cache keeps them (the
    // stylesheet, script and icon are cached).
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_paths_and_api_paths_are_told_apart() {
        for p in [
            "/",
            "/login",
            "/incidents",
            "/incidents/x/edit",
            "/assets/style.css",
        ] {
            assert!(is_page_path(p), "{p}");
        }
        for p in ["/api/v1/incidents", "/health", "/check-auth", "/nowhere"] {
            assert!(!is_page_path(p), "{p}");
        }
    }
}
