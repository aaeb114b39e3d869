//! GraphQL execution against the schema subset: parse and validate the document, coerce the
//! variables, run one resolver per root field, and project the full JSON of each resolved
//! object onto the selection set (apollo-compiler's executor does the projection, aliases,
//! fragments, `__typename` and null propagation).

use std::sync::{Arc, Mutex};

use apollo_compiler::ast;
use apollo_compiler::request::coerce_variable_values;
use apollo_compiler::resolvers::{Execution, FieldError, ObjectValue, ResolveInfo, ResolvedValue};
use apollo_compiler::response::{GraphQLError, JsonMap, JsonValue};
use apollo_compiler::validation::{DiagnosticList, Valid};
#[cfg(test)]
use apollo_compiler::ExecutableDocument;
use apollo_compiler::Schema;
use serde_json::{json, Map, Value};
use tokio::runtime::Handle;

use super::model::{ApiError, RequestOutcome};
use super::Shared;

use crate::SCHEMA_SUBSET as SCHEMA;

/// `RegisterConnectorInput` fields and the first release sending them (pycti is released in
/// lockstep with the platform, `docs/opencti-connector-protocol.md#registration`): an older
/// platform is given a schema without them, so it rejects a registration that sends them, as an old
/// server does.
const INPUT_FIELD_SINCE: &[(&str, (u64, u64, u64))] = &[
    ("scope", (2, 1, 11)),
    ("auto", (4, 0, 0)),
    ("only_contextual", (4, 5, 0)),
    ("playbook_compatible", (5, 11, 0)),
    ("listen_callback_uri", (6, 5, 7)),
    ("auto_update", (6, 8, 9)),
    ("enrichment_resolution", (6, 8, 9)),
];

/// The schema a platform of `version` serves: the subset, without the 7.x-only fields and
/// arguments on 6.x (and older), and without the registration input fields the version
/// predates.
pub(crate) fn schema_for(version: &str) -> Result<Valid<Schema>, String> {
    use apollo_compiler::schema::ExtendedType;
    let v = crate::version_tuple(version);
    let mut schema =
        Schema::parse(SCHEMA, "opencti-schema-subset.graphql").map_err(|e| e.errors.to_string())?;
    fn object<'s>(
        s: &'s mut Schema,
        name: &str,
    ) -> Option<&'s mut apollo_compiler::schema::ObjectType> {
        match s.types.get_mut(name)? {
            ExtendedType::Object(o) => Some(o.make_mut()),
            _ => None,
        }
    }
    if v.0 < 7 {
        if let Some(o) = object(&mut schema, "ConnectorConfig") {
            o.fields.shift_remove("s3");
        }
        if let Some(f) = object(&mut schema, "Mutation").and_then(|o| o.fields.get_mut("workAdd")) {
            f.make_mut()
                .arguments
                .retain(|a| a.name != "isMultiPartWork");
        }
        if let Some(f) = object(&mut schema, "WorkEditMutations")
            .and_then(|o| o.fields.get_mut("reportExpectation"))
        {
            f.make_mut().arguments.retain(|a| a.name != "expectations");
        }
    }
    if let Some(ExtendedType::InputObject(i)) = schema.types.get_mut("RegisterConnectorInput") {
        let i = i.make_mut();
        for (field, since) in INPUT_FIELD_SINCE {
            if v < *since {
                i.fields.shift_remove(*field);
            }
        }
    }
    schema.validate().map_err(|e| e.errors.to_string())
}

/// A request body's parts.
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) query: String,
    pub(crate) variables: Map<String, Value>,
    pub(crate) operation_name: Option<String>,
}

/// What to answer.
#[derive(Debug)]
pub(crate) struct Answer {
    /// The JSON response.
    pub(crate) body: Vec<u8>,
    pub(crate) outcome: RequestOutcome,
    pub(crate) errors: Vec<String>,
}

/// The name of the operation a request runs, for recording and fault matching:
/// `operationName`, else the name of the document's only operation.
pub(crate) fn operation_name(query: &str, requested: Option<&str>) -> Option<String> {
    if let Some(n) = requested {
        return Some(n.to_owned());
    }
    let doc = match ast::Document::parse(query, "request.graphql") {
        Ok(d) => d,
        Err(e) => e.partial,
    };
    let mut ops = doc.definitions.iter().filter_map(|d| match d {
        ast::Definition::OperationDefinition(o) => Some(o),
        _ => None,
    });
    match (ops.next(), ops.next()) {
        (Some(o), None) => o.name.as_ref().map(|n| n.to_string()),
        _ => None,
    }
}

fn request_error(errors: Vec<GraphQLError>, code: &str) -> Answer {
    let messages = errors.iter().map(|e| e.message.clone()).collect();
    let mut body = json!({ "errors": errors });
    if let Some(list) = body.get_mut("errors").and_then(Value::as_array_mut) {
        for e in list {
            e["extensions"] = json!({ "code": code });
        }
    }
    Answer {
        body: body.to_string().into_bytes(),
        outcome: RequestOutcome::Rejected,
        errors: messages,
    }
}

fn diagnostics(list: &DiagnosticList) -> Vec<GraphQLError> {
    let mut out: Vec<GraphQLError> = Vec::new();
    for e in list.iter().map(|d| d.to_json()) {
        if !out.contains(&e) {
            out.push(e);
        }
    }
    out
}

fn to_json(v: Value) -> JsonValue {
    v.into()
}

fn from_json_map(m: &JsonMap) -> Map<String, Value> {
    serde_json::to_value(m)
        .ok()
        .and_then(|v| match v {
            Value::Object(m) => Some(m),
            _ => None,
        })
        .unwrap_or_default()
}

/// Runs one request. Blocking: call it from `spawn_blocking` (broker calls made by resolvers
/// run on `rt`).
pub(crate) fn run(shared: &Arc<Shared>, rt: &Handle, req: Request, authenticated: bool) -> Answer {
    let schema = &shared.schema;
    let ast = match ast::Document::parse(req.query, "request.graphql") {
        Ok(d) => d,
        Err(e) => return request_error(diagnostics(&e.errors), "GRAPHQL_PARSE_FAILED"),
    };
    let doc = match ast.to_executable_validate(schema) {
        Ok(d) => d,
        Err(e) => return request_error(diagnostics(&e.errors), "GRAPHQL_VALIDATION_FAILED"),
    };
    let op = match doc.operations.get(req.operation_name.as_deref()) {
        Ok(op) => op,
        Err(e) => {
            return request_error(
                vec![e.to_graphql_error(&doc.sources)],
                "OPERATION_RESOLUTION_FAILURE",
            )
        }
    };
    let raw: JsonMap = req
        .variables
        .into_iter()
        .map(|(k, v)| (k.into(), to_json(v)))
        .collect();
    let vars = match coerce_variable_values(schema, op, &raw) {
        Ok(v) => v,
        Err(e) => return request_error(vec![e.to_graphql_error(&doc.sources)], "BAD_USER_INPUT"),
    };
    let ctx = Ctx {
        shared: shared.clone(),
        rt: rt.clone(),
        authenticated,
        errors: Mutex::new(Vec::new()),
    };
    let root = Root {
        ctx: &ctx,
        type_name: op.object_type().to_string(),
    };
    let response = Execution::new(schema, &doc)
        .operation(op)
        .coerced_variable_values(&vars)
        .execute_sync(&root);
    let mut response = match response {
        Ok(r) => r,
        Err(e) => return request_error(vec![e.to_graphql_error(&doc.sources)], "BAD_REQUEST"),
    };
    // Field errors carry OpenCTI's message and extensions, kept aside by the resolvers
    // (apollo-compiler prefixes the message).
    let mut kept = ctx.errors.into_inner().unwrap_or_else(|e| e.into_inner());
    for e in &mut response.errors {
        let Some(message) = e.message.strip_prefix(RESOLVER_ERROR_PREFIX) else {
            continue;
        };
        if let Some(i) = kept.iter().position(|(m, _)| m == message) {
            let (m, ext) = kept.remove(i);
            e.message = m;
            if let Value::Object(ext) = ext {
                for (k, v) in ext {
                    e.extensions.insert(k, to_json(v));
                }
            }
        }
    }
    let errors: Vec<String> = response.errors.iter().map(|e| e.message.clone()).collect();
    let outcome = if errors.is_empty() {
        RequestOutcome::Ok
    } else {
        RequestOutcome::FieldErrors
    };
    // Serialized as is: the keys stay in the order of the selection set.
    let body = serde_json::to_vec(&response).unwrap_or_else(|_| b"{}".to_vec());
    Answer {
        body,
        outcome,
        errors,
    }
}

/// What apollo-compiler puts before a resolver's error message.
const RESOLVER_ERROR_PREFIX: &str = "resolver error: ";

/// Request-scoped context of the resolvers.
struct Ctx {
    shared: Arc<Shared>,
    rt: Handle,
    authenticated: bool,
    errors: Mutex<Vec<(String, Value)>>,
}

impl Ctx {
    fn fail(&self, e: ApiError) -> FieldError {
        self.errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((e.message.clone(), e.extensions()));
        FieldError { message: e.message }
    }
}

/// `Query` or `Mutation`.
struct Root<'c> {
    ctx: &'c Ctx,
    type_name: String,
}

/// What a root resolver produced.
enum Out {
    /// A value of the field's type, as full JSON.
    Json(Value),
    /// The `WorkEditMutations` object of a work.
    WorkEdit(String),
}

fn arg_str<'a>(a: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    a.get(k).and_then(Value::as_str)
}

impl ObjectValue for Root<'_> {
    fn type_name(&self) -> &str {
        &self.type_name
    }

    fn resolve_field<'a>(
        &'a self,
        info: &'a ResolveInfo<'a>,
    ) -> Result<ResolvedValue<'a>, FieldError> {
        let ctx = self.ctx;
        // Every root field of the subset carries @auth: without a user, AuthRequired.
        if !ctx.authenticated {
            return Err(ctx.fail(ApiError::auth_required()));
        }
        let args = from_json_map(info.arguments());
        let out = match info.field_name() {
            "about" => about(ctx),
            "connector" => connector(ctx, &args),
            "registerConnector" => register_connector(ctx, &args),
            "pingConnector" => ping_connector(ctx, &args),
            "resetStateConnector" => reset_state_connector(ctx, &args),
            "deleteConnector" => delete_connector(ctx, &args),
            "workAdd" => work_add(ctx, &args),
            "workEdit" => Ok(Out::WorkEdit(
                arg_str(&args, "id").unwrap_or_default().to_owned(),
            )),
            "stixBundlePush" => stix_bundle_push(ctx, &args),
            _ => return Err(self.unknown_field_error(info)),
        };
        match out {
            Ok(Out::Json(v)) => Ok(resolved(info.schema(), &info.field_definition().ty, v)),
            Ok(Out::WorkEdit(id)) => Ok(ResolvedValue::object(WorkEdit { ctx, id })),
            Err(e) => Err(ctx.fail(e)),
        }
    }
}

fn about(ctx: &Ctx) -> Result<Out, ApiError> {
    let version = ctx.shared.with(|m| m.platform.version.clone());
    Ok(Out::Json(json!({ "version": version })))
}

fn connector(ctx: &Ctx, args: &Map<String, Value>) -> Result<Out, ApiError> {
    let id = arg_str(args, "id").unwrap_or_default();
    Ok(Out::Json(
        ctx.shared
            .with(|m| m.connector_json(id))
            .unwrap_or(Value::Null),
    ))
}

/// Re-asserts the connector's queues on the broker, when one is attached
/// (`docs/opencti-connector-protocol.md#registration`).
fn assert_queues(ctx: &Ctx, id: &str) -> Result<(), ApiError> {
    let Some(broker) = &ctx.shared.broker else {
        return Ok(());
    };
    ctx.rt
        .block_on(broker.assert_topology(&ctx.shared, id))
        .map_err(|e| ApiError::unknown(format!("RabbitMQ: {e}")))
}

fn connector_out(ctx: &Ctx, id: &str) -> Result<Out, ApiError> {
    Ok(Out::Json(
        ctx.shared
            .with(|m| m.connector_json(id))
            .unwrap_or(Value::Null),
    ))
}

fn register_connector(ctx: &Ctx, args: &Map<String, Value>) -> Result<Out, ApiError> {
    let Some(Value::Object(input)) = args.get("input") else {
        return Err(ApiError::functional(
            "Missing registration input",
            Value::Null,
        ));
    };
    let id = arg_str(input, "id").unwrap_or_default().to_owned();
    assert_queues(ctx, &id)?;
    let id = ctx.shared.with(|m| m.register(input))?;
    connector_out(ctx, &id)
}

fn ping_connector(ctx: &Ctx, args: &Map<String, Value>) -> Result<Out, ApiError> {
    let id = arg_str(args, "id").unwrap_or_default();
    ctx.shared.with(|m| {
        if m.connectors.contains_key(id) {
            Ok(())
        } else {
            Err(ApiError::functional(
                "No connector found",
                json!({ "id": id }),
            ))
        }
    })?;
    assert_queues(ctx, id)?;
    ctx.shared
        .with(|m| m.ping(id, arg_str(args, "state"), args.get("connectorInfo")))?;
    connector_out(ctx, id)
}

fn reset_state_connector(ctx: &Ctx, args: &Map<String, Value>) -> Result<Out, ApiError> {
    let id = arg_str(args, "id").unwrap_or_default();
    ctx.rt
        .block_on(super::reset_connector_state(&ctx.shared, id))?;
    connector_out(ctx, id)
}

fn delete_connector(ctx: &Ctx, args: &Map<String, Value>) -> Result<Out, ApiError> {
    let id = arg_str(args, "id").unwrap_or_default();
    ctx.shared.with(|m| m.delete_connector(id))?;
    if let Some(broker) = &ctx.shared.broker {
        ctx.rt
            .block_on(broker.delete_queues(&ctx.shared, id))
            .map_err(|e| ApiError::unknown(format!("RabbitMQ: {e}")))?;
    }
    Ok(Out::Json(json!(id)))
}

fn work_add(ctx: &Ctx, args: &Map<String, Value>) -> Result<Out, ApiError> {
    let connector_id = arg_str(args, "connectorId").unwrap_or_default();
    let multipart = args
        .get("isMultiPartWork")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    ctx.shared.with(|m| {
        let id = m.work_add(connector_id, arg_str(args, "friendlyName"), multipart)?;
        Ok(Out::Json(m.work_json(&id).unwrap_or(Value::Null)))
    })
}

fn stix_bundle_push(ctx: &Ctx, args: &Map<String, Value>) -> Result<Out, ApiError> {
    let connector_id = arg_str(args, "connectorId").unwrap_or_default();
    let bundle = arg_str(args, "bundle").unwrap_or_default();
    ctx.shared
        .with(|m| m.stix_bundle_push(connector_id, bundle, arg_str(args, "work_id")))?;
    Ok(Out::Json(json!(true)))
}

/// `workEdit(id) { … }`: each field is an action on the work, answering its id.
struct WorkEdit<'c> {
    ctx: &'c Ctx,
    id: String,
}

impl ObjectValue for WorkEdit<'_> {
    fn type_name(&self) -> &str {
        "WorkEditMutations"
    }

    fn resolve_field<'a>(
        &'a self,
        info: &'a ResolveInfo<'a>,
    ) -> Result<ResolvedValue<'a>, FieldError> {
        let args = from_json_map(info.arguments());
        let id = self.id.as_str();
        let message = arg_str(&args, "message");
        let r = self.ctx.shared.with(|m| match info.field_name() {
            "delete" => m.work_delete(id),
            "ping" => m.work_ping(id),
            "addExpectations" => {
                let n = args.get("expectations").and_then(Value::as_u64);
                m.add_expectations(id, n.unwrap_or(0))
            }
            "reportExpectation" => {
                let n = args.get("expectations").and_then(Value::as_u64);
                m.report_expectation(id, args.get("error"), n.unwrap_or(1))
            }
            "toProcessed" => {
                let in_error = args.get("inError").and_then(Value::as_bool);
                m.work_to_processed(id, message, in_error.unwrap_or(false))
            }
            "toReceived" => m.work_to_received(id, message),
            "addDraftContext" => m.work_ping(id),
            other => Err(ApiError::unknown(format!("unexpected field {other}"))),
        });
        match r {
            Ok(()) => Ok(ResolvedValue::leaf(JsonValue::from(id))),
            Err(e) => Err(self.ctx.fail(e)),
        }
    }
}

/// A resolved object: its full JSON, read field by field as the selection set asks.
struct JsonObject {
    type_name: String,
    fields: Map<String, Value>,
}

impl ObjectValue for JsonObject {
    fn type_name(&self) -> &str {
        &self.type_name
    }

    fn resolve_field<'a>(
        &'a self,
        info: &'a ResolveInfo<'a>,
    ) -> Result<ResolvedValue<'a>, FieldError> {
        let v = self
            .fields
            .get(info.field_name())
            .cloned()
            .unwrap_or(Value::Null);
        Ok(resolved(info.schema(), &info.field_definition().ty, v))
    }
}

/// A JSON value as a value of GraphQL type `ty`.
fn resolved<'a>(schema: &Schema, ty: &ast::Type, v: Value) -> ResolvedValue<'a> {
    match v {
        Value::Null => ResolvedValue::null(),
        Value::Array(items) if ty.is_list() => {
            let item = ty.item_type();
            ResolvedValue::list(
                items
                    .into_iter()
                    .map(|i| resolved(schema, item, i))
                    .collect::<Vec<_>>(),
            )
        }
        Value::Object(fields)
            if !ty.is_list() && schema.get_object(ty.inner_named_type()).is_some() =>
        {
            ResolvedValue::object(JsonObject {
                type_name: ty.inner_named_type().to_string(),
                fields,
            })
        }
        other => ResolvedValue::leaf(to_json(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_6x_schema_lacks_the_7x_fields_and_old_versions_lack_input_fields() {
        let s6 = schema_for("6.8.10").unwrap();
        let s7 = schema_for("7.260807.0").unwrap();
        let ok =
            |s: &Valid<Schema>, q: &str| ExecutableDocument::parse_and_validate(s, q, "q").is_ok();
        let s3 = "query { connector(id: \"x\") { config { s3 { bucket_name } } } }";
        let multi = "mutation { workAdd(connectorId: \"x\", isMultiPartWork: true) { id } }";
        let report = "mutation { workEdit(id: \"w\") { reportExpectation(expectations: 2) } }";
        for q in [s3, multi, report] {
            assert!(!ok(&s6, q), "{q}");
            assert!(ok(&s7, q), "{q}");
        }
        let old = schema_for("6.8.8").unwrap();
        let input = |s: &Valid<Schema>| {
            s.get_input_object("RegisterConnectorInput")
                .unwrap()
                .fields
                .contains_key("auto_update")
        };
        assert!(!input(&old));
        assert!(input(&s6));
    }

    #[test]
    fn operation_names() {
        assert_eq!(
            operation_name("query A { about { version } }", None).as_deref(),
            Some("A")
        );
        assert_eq!(operation_name("query A { x } query B { y }", None), None);
        assert_eq!(
            operation_name("query A { x } query B { y }", Some("B")).as_deref(),
            Some("B")
        );
        assert_eq!(operation_name("{ about { version } }", None), None);
        assert_eq!(
            operation_name("mutation M { broken(", None).as_deref(),
            Some("M")
        );
    }
}
