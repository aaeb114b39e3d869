//! The developer page: how to read this server from a program (API keys, the API, the bundle
//! endpoint with its paging, the live stream, TAXII 2.1), with examples made for this server's
//! address, and every API and TAXII route listed from the route table itself (so the list
//! cannot drift from the code).

use askama::Template;
use axum::extract::State;

use super::session::Ctx;
use super::views::{render, Layout, PageResult};
use crate::http::Access;
use crate::routes::{routes, Protocol};
use crate::state::AppState;
use crate::taxii::{COLLECTION_ALIAS, COLLECTION_ID, MEDIA_TAXII};

/// A route as the page lists it.
struct RouteRow {
    method: &'static str,
    path: &'static str,
    who: &'static str,
    summary: &'static str,
    params: String,
    taxii: bool,
}

fn who(a: Access) -> &'static str {
    match a {
        Access::Public => "anyone",
        Access::Read | Access::Browse => "any key",
        Access::Write => "write key",
        Access::Account => "write key",
        Access::Admin => "administrator",
    }
}

#[derive(Template)]
#[template(path = "developers.html")]
struct DevelopersPage {
    l: Layout,
    /// The server's public URL (the script puts the page's own origin in its place).
    base: String,
    collection: &'static str,
    alias: &'static str,
    taxii_media: &'static str,
    routes: Vec<RouteRow>,
}

pub(crate) async fn page(State(state): State<AppState>, ctx: Ctx) -> PageResult {
    let routes = routes()
        .iter()
        .map(|r| RouteRow {
            method: r.method,
            path: r.path,
            who: who(r.access),
            summary: r.summary,
            params: r
                .query
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", "),
            taxii: r.protocol == Protocol::Taxii,
        })
        .collect();
    render(&DevelopersPage {
        l: Layout::new(&state, Some(&ctx), "For developers", "developers"),
        base: state.settings.public_url.clone(),
        collection: COLLECTION_ID,
        alias: COLLECTION_ALIAS,
        taxii_media: MEDIA_TAXII,
        routes,
    })
}
