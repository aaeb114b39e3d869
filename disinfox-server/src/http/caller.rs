//! Who calls, from where: the caller of an API request (its API key, checked against the store
//! and the rate limit), and the client's address worked out once per request.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;

use crate::auth::{hash_api_key, key_from_basic, key_from_header, Caller, Scope};
use crate::client::{client_addr, repeated_authorization, ClientAddr};
use crate::error::ApiError;
use crate::state::AppState;

/// The caller of a request with an API key: refuses a request with more than one
/// `Authorization` header (400), a malformed or unknown key (401), and a user over the rate
/// limit (429, counted per user across all their keys).
pub async fn authenticate(parts: &Parts, state: &AppState) -> Result<Caller, ApiError> {
    let address = parts
        .extensions
        .get::<ClientAddr>()
        .copied()
        .unwrap_or(ClientAddr::UNKNOWN);
    if repeated_authorization(&parts.headers) {
        tracing::warn!(target: "audit", kind = "auth-refused", %address, reason = "repeated Authorization header");
        return Err(ApiError::BadRequest(
            "more than one Authorization header: send exactly one".into(),
        ));
    }
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return Err(ApiError::Unauthorized(
            "authentication required: send Authorization: Bearer <API key>".into(),
        ));
    };
    let key = presented_key(value)
        .ok_or_else(|| ApiError::Unauthorized("malformed Authorization header".into()))?;
    let Some((info, user)) = state.store.api_key_by_hash(&hash_api_key(&key)).await? else {
        tracing::info!(target: "audit", kind = "auth-refused", %address, reason = "invalid or revoked API key");
        return Err(ApiError::Unauthorized("invalid or revoked API key".into()));
    };
    state.rate_limiter.check(user.id).await?;
    if let Err(e) = state
        .store
        .touch_api_key(info.id, info.last_used_at.as_deref())
        .await
    {
        tracing::warn!(error = ?e, "could not record API key use");
    }
    let scope = if info.scope == "write" {
        Scope::Write
    } else {
        Scope::Read
    };
    Ok(Caller {
        user,
        key_id: Some(info.id),
        scope,
        address,
    })
}

/// The API key an `Authorization` header carries (Bearer, Basic or raw), if well formed.
pub fn presented_key(value: &header::HeaderValue) -> Option<String> {
    let value = value.to_str().ok();
    value
        .and_then(key_from_basic)
        .or_else(|| value.and_then(key_from_header).map(str::to_owned))
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(c) = parts.extensions.get::<Caller>() {
            return Ok(c.clone());
        }
        let caller = authenticate(parts, state).await?;
        parts.extensions.insert(caller.clone());
        Ok(caller)
    }
}

/// The layer that works out the client's address once per request and puts it in the
/// request's extensions, for the throttles, the audit log and the handlers.
pub async fn client_addr_layer(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let addr = match req.extensions().get::<ConnectInfo<SocketAddr>>() {
        Some(ConnectInfo(peer)) => {
            client_addr(peer.ip(), req.headers(), &state.settings.trusted_proxies)
        }
        None => ClientAddr::UNKNOWN,
    };
    req.extensions_mut().insert(addr);
    next.run(req).await
}

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<ClientAddr>()
            .copied()
            .unwrap_or(ClientAddr::UNKNOWN))
    }
}
