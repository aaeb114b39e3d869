//! The HTTP side: `POST /graphql` (recording, faults, authentication, execution) and the JSON
//! control endpoints under `/standin/`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::exec::{self, Request};
use super::fault::{self, Fault, FaultAction};
use super::model::{RequestOutcome, RequestRecord};
use super::{reset_connector_state, summary, Shared};

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(
            "/graphql",
            post(graphql).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/standin/summary", get(get_summary))
        .route("/standin/requests", get(get_requests))
        .route("/standin/connectors", get(get_connectors))
        .route("/standin/connectors/{id}", get(get_connector))
        .route("/standin/connectors/{id}/reset", post(post_reset))
        .route("/standin/connectors/{id}/queue", put(put_queue))
        .route("/standin/works", get(get_works))
        .route("/standin/works/{id}", get(get_work))
        .route("/standin/objects", get(get_objects))
        .route("/standin/objects/{id}", get(get_object))
        .route("/standin/pushes", get(get_pushes))
        .route("/standin/amqp/messages", get(get_amqp_messages))
        .route(
            "/standin/faults",
            get(get_faults).post(post_fault).delete(delete_faults),
        )
        .with_state(shared)
}

// ---- /graphql -------------------------------------------------------------------------

/// Reads `{query, variables, operationName}`; the Apollo Server message when it is not that.
fn parse_body(body: &[u8]) -> Result<Request, (String, Value, Option<String>, &'static str)> {
    let v: Value = serde_json::from_slice(body).map_err(|_| {
        (
            String::new(),
            Value::Null,
            None,
            "POST body missing, invalid Content-Type, or JSON object has no keys.",
        )
    })?;
    let query = v
        .get("query")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let variables = v.get("variables").cloned().unwrap_or(Value::Null);
    let operation_name = v
        .get("operationName")
        .and_then(Value::as_str)
        .map(str::to_owned);
    if !v.is_object() {
        return Err((
            query,
            variables,
            operation_name,
            "POST body missing, invalid Content-Type, or JSON object has no keys.",
        ));
    }
    if query.is_empty() {
        return Err((
            query,
            variables,
            operation_name,
            "GraphQL operations must contain a non-empty `query` or a `persistedQuery` extension.",
        ));
    }
    let variables = match variables {
        Value::Null => Map::new(),
        Value::Object(m) => m,
        other => {
            return Err((
                query,
                other,
                operation_name,
                "`variables` in a POST body should be provided as an object.",
            ))
        }
    };
    Ok(Request {
        query,
        variables,
        operation_name,
    })
}

fn authenticated(shared: &Shared, headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .is_some_and(|t| t.trim() == shared.token)
}

/// Long strings replaced by their length (payloads not kept).
fn shorten(v: Value) -> Value {
    match v {
        Value::String(s) if s.len() > 4096 => Value::String(format!("<{} bytes>", s.len())),
        Value::Array(a) => Value::Array(a.into_iter().map(shorten).collect()),
        Value::Object(m) => Value::Object(m.into_iter().map(|(k, v)| (k, shorten(v))).collect()),
        other => other,
    }
}

fn record(
    shared: &Shared,
    operation: Option<String>,
    query: &str,
    variables: Value,
    auth: bool,
) -> u64 {
    shared.with(|m| {
        let variables = if m.platform.keep_payloads {
            variables
        } else {
            shorten(variables)
        };
        let seq = m.requests.len() as u64 + 1;
        m.requests.push(RequestRecord {
            seq,
            operation,
            query: query.to_owned(),
            variables,
            authenticated: auth,
            outcome: RequestOutcome::Pending,
            http_status: 0,
            errors: Vec::new(),
        });
        seq
    })
}

fn finish(shared: &Shared, seq: u64, outcome: RequestOutcome, status: u16, errors: Vec<String>) {
    shared.with(|m| {
        if let Some(r) = seq
            .checked_sub(1)
            .and_then(|i| m.requests.get_mut(i as usize))
        {
            r.outcome = outcome;
            r.http_status = status;
            r.errors = errors;
        }
    });
}

/// Records how a request was refused; a plain-text answer with the message.
fn refuse(
    shared: &Shared,
    seq: u64,
    outcome: RequestOutcome,
    status: StatusCode,
    message: String,
) -> Response {
    finish(shared, seq, outcome, status.as_u16(), vec![message.clone()]);
    (status, message).into_response()
}

/// Applies the faults of one phase: waits for the delays, and answers when one says so.
async fn faults(
    shared: &Shared,
    seq: u64,
    operation: Option<&str>,
    after: bool,
) -> Option<Response> {
    let applied = shared.with(|m| fault::apply(&mut m.faults, operation, after));
    if !applied.delay.is_zero() {
        tokio::time::sleep(applied.delay).await;
    }
    let (status, body, what) = match applied.answer? {
        FaultAction::Status(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let text = status.canonical_reason().unwrap_or("Error").to_owned();
            (status, text.clone().into_response(), format!("injected HTTP {code}"))
        }
        FaultAction::GraphqlError {
            message,
            code,
            status,
        } => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
            Json(json!({"errors": [{"message": message, "extensions": {"code": code}}], "data": null}))
                .into_response(),
            message,
        ),
        FaultAction::Delay(_) => return None,
    };
    finish(
        shared,
        seq,
        RequestOutcome::Fault,
        status.as_u16(),
        vec![what],
    );
    Some((status, body).into_response())
}

async fn graphql(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Body) -> Response {
    let auth = authenticated(&shared, &headers);
    let body = match axum::body::to_bytes(body, shared.max_body_bytes).await {
        Ok(b) => b,
        Err(_) => {
            let message = format!(
                "request entity too large (over {} bytes)",
                shared.max_body_bytes
            );
            let seq = record(&shared, None, "", Value::Null, auth);
            let status = StatusCode::PAYLOAD_TOO_LARGE;
            return refuse(&shared, seq, RequestOutcome::BadRequest, status, message);
        }
    };
    let req = match parse_body(&body) {
        Ok(r) => r,
        Err((query, variables, op, message)) => {
            let operation = exec::operation_name(&query, op.as_deref());
            let seq = record(&shared, operation.clone(), &query, variables, auth);
            if let Some(r) = faults(&shared, seq, operation.as_deref(), false).await {
                return r;
            }
            let body =
                json!({"errors": [{"message": message, "extensions": {"code": "BAD_REQUEST"}}]});
            let status = StatusCode::BAD_REQUEST;
            let errors = vec![message.to_owned()];
            finish(&shared, seq, RequestOutcome::BadRequest, 400, errors);
            return (status, Json(body)).into_response();
        }
    };
    let operation = exec::operation_name(&req.query, req.operation_name.as_deref());
    let seq = record(
        &shared,
        operation.clone(),
        &req.query,
        Value::Object(req.variables.clone()),
        auth,
    );
    if let Some(r) = faults(&shared, seq, operation.as_deref(), false).await {
        return r;
    }
    let rt = tokio::runtime::Handle::current();
    let exec_shared = shared.clone();
    let answer = tokio::task::spawn_blocking(move || exec::run(&exec_shared, &rt, req, auth)).await;
    let answer = match answer {
        Ok(a) => a,
        Err(e) => {
            let message = format!("the stand-in failed executing the request: {e}");
            let status = StatusCode::INTERNAL_SERVER_ERROR;
            return refuse(&shared, seq, RequestOutcome::FieldErrors, status, message);
        }
    };
    if let Some(r) = faults(&shared, seq, operation.as_deref(), true).await {
        return r;
    }
    finish(&shared, seq, answer.outcome, 200, answer.errors);
    (
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        answer.body,
    )
        .into_response()
}

// ---- /standin -------------------------------------------------------------------------

fn not_found(what: &str, id: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"error": format!("no {what} {id:?}")})),
    )
        .into_response()
}

fn json_or_404<T: serde::Serialize>(v: Option<T>, what: &str, id: &str) -> Response {
    match v {
        Some(v) => Json(v).into_response(),
        None => not_found(what, id),
    }
}

async fn get_summary(State(s): State<Arc<Shared>>) -> Response {
    Json(s.view(summary)).into_response()
}

async fn get_requests(
    State(s): State<Arc<Shared>>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let op = q.get("operation");
    Json(s.view(|m| {
        m.requests
            .iter()
            .filter(|r| op.is_none() || r.operation.as_ref() == op)
            .cloned()
            .collect::<Vec<_>>()
    }))
    .into_response()
}

async fn get_connectors(State(s): State<Arc<Shared>>) -> Response {
    Json(s.view(|m| m.connectors.values().cloned().collect::<Vec<_>>())).into_response()
}

async fn get_connector(State(s): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    json_or_404(s.view(|m| m.connectors.get(&id).cloned()), "connector", &id)
}

async fn post_reset(State(s): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    match reset_connector_state(&s, &id).await {
        Ok(()) => json_or_404(s.view(|m| m.connectors.get(&id).cloned()), "connector", &id),
        Err(e) if e.message == "No connector found" => not_found("connector", &id),
        Err(e) => (StatusCode::BAD_GATEWAY, Json(json!({"error": e.message}))).into_response(),
    }
}

#[derive(Deserialize)]
struct QueueSize {
    messages_number: f64,
    messages_size: f64,
}

async fn put_queue(State(s): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> Response {
    match serde_json::from_slice::<QueueSize>(&body) {
        Ok(q) => {
            s.with(|m| {
                m.queue_sizes
                    .insert(id.clone(), (q.messages_number, q.messages_size))
            });
            Json(json!({"connector_id": id, "messages_number": q.messages_number, "messages_size": q.messages_size}))
                .into_response()
        }
        Err(e) => bad_json(&e),
    }
}

fn bad_json(e: &serde_json::Error) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": format!("invalid JSON body: {e}")})),
    )
        .into_response()
}

async fn get_works(
    State(s): State<Arc<Shared>>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let connector = q.get("connector");
    let mut works = s.view(|m| {
        m.works
            .values()
            .filter(|w| connector.is_none_or(|c| *c == w.connector_id))
            .cloned()
            .collect::<Vec<_>>()
    });
    works.sort_by_key(|w| w.seq);
    Json(works).into_response()
}

async fn get_work(State(s): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    json_or_404(s.view(|m| m.works.get(&id).cloned()), "work", &id)
}

async fn get_objects(
    State(s): State<Arc<Shared>>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    if q.get("full").is_some_and(|v| v == "true") {
        return Json(s.view(|m| m.objects.values().cloned().collect::<Vec<_>>())).into_response();
    }
    Json(s.view(|m| {
        m.objects
            .values()
            .map(|o| json!({"id": o.id, "object_type": o.object_type, "count": o.count, "received_unix_ms": o.received_unix_ms}))
            .collect::<Vec<_>>()
    }))
    .into_response()
}

async fn get_object(State(s): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    json_or_404(s.view(|m| m.objects.get(&id).cloned()), "object", &id)
}

async fn get_pushes(State(s): State<Arc<Shared>>) -> Response {
    Json(s.view(|m| m.pushes.clone())).into_response()
}

async fn get_amqp_messages(State(s): State<Arc<Shared>>) -> Response {
    Json(s.view(|m| m.amqp_messages.clone())).into_response()
}

async fn get_faults(State(s): State<Arc<Shared>>) -> Response {
    Json(s.view(|m| m.faults_view())).into_response()
}

async fn post_fault(State(s): State<Arc<Shared>>, body: Bytes) -> Response {
    match serde_json::from_slice::<Fault>(&body) {
        Ok(f) => {
            let id = s.with(|m| m.add_fault(f));
            (StatusCode::CREATED, Json(json!({"id": id}))).into_response()
        }
        Err(e) => bad_json(&e),
    }
}

async fn delete_faults(State(s): State<Arc<Shared>>) -> Response {
    s.with(|m| m.faults.clear());
    StatusCode::NO_CONTENT.into_response()
}
