//! DISARM Navigator layers from the API: one incident's, and the heatmap of any filtered set
//! of incidents (all of them without filters). The layers are built by [`crate::navigator`].

use axum::extract::State;
use axum::response::Response;

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::http::download;
use crate::http::extract::{Params, PathParams};
use crate::ops::ListQuery;
use crate::state::AppState;

pub(crate) async fn incident_layer(
    State(state): State<AppState>,
    _caller: Caller,
    PathParams(id): PathParams<String>,
) -> ApiResult<Response> {
    download::incident_layer(&state, &id).await
}

pub(crate) async fn filtered_layer(
    State(state): State<AppState>,
    _caller: Caller,
    Params(q): Params<ListQuery>,
) -> ApiResult<Response> {
    download::filtered_layer(&state, &q.filter()?).await
}
