//! Every GraphQL document the connector sends to OpenCTI, and the variables of each.
//!
//! The documents follow pycti's (`docs/opencti-connector-protocol.md`) and are
//! validated in tests against OpenCTI's schema (`opencti_standin::SCHEMA_SUBSET`, the stand-in
//! crate's `data/opencti-schema-subset.graphql`).
//! Registration sends only the input fields the platform's version accepts: a server that
//! predates a field rejects the whole mutation.

use serde_json::{json, Map, Value};

/// `about { version }`: health check and platform version.
pub const HEALTH_CHECK: &str = "query HealthCheck { about { version } }";

/// Registration (6.x and 7.x selection; the 7.x-only `s3` is never selected).
pub const REGISTER: &str = "mutation RegisterConnector($input: RegisterConnectorInput) {
  registerConnector(input: $input) {
    id connector_state connector_user_id
    config { connection { host vhost use_ssl port user pass }
      listen listen_routing listen_exchange push push_routing push_exchange }
  }
}";

/// Ping with the state and connector info.
pub const PING: &str = "mutation PingConnector($id: ID!, $state: String, $connectorInfo: ConnectorInfoInput) {
  pingConnector(id: $id, state: $state, connectorInfo: $connectorInfo) {
    id connector_state
    connector_info { run_and_terminate buffering queue_threshold queue_messages_size next_run_datetime last_run_datetime }
  }
}";

/// The connector's queue size (back-pressure).
pub const GET_CONNECTOR: &str = "query GetConnector($id: String!) {
  connector(id: $id) { id name active connector_state connector_queue_details { messages_number messages_size } updated_at }
}";

/// Opens a work.
pub const WORK_ADD: &str = "mutation WorkAdd($connectorId: String!, $friendlyName: String) {
  workAdd(connectorId: $connectorId, friendlyName: $friendlyName) { id }
}";

/// Opens a multipart work (7.x only: it completes only after `toProcessed`, however fast the
/// workers report).
pub const WORK_ADD_MULTIPART: &str =
    "mutation WorkAddMultipart($connectorId: String!, $friendlyName: String, $isMultiPartWork: Boolean) {
  workAdd(connectorId: $connectorId, friendlyName: $friendlyName, isMultiPartWork: $isMultiPartWork) { id }
}";

/// Reports one expectation of a work, with an error: how a skipped object shows in the work.
pub const WORK_REPORT_EXPECTATION: &str =
    "mutation WorkReportExpectation($id: ID!, $error: WorkErrorInput) {
  workEdit(id: $id) { reportExpectation(error: $error) }
}";

/// Adds expectations to a work (before publishing that many messages).
pub const WORK_ADD_EXPECTATIONS: &str =
    "mutation WorkAddExpectations($id: ID!, $expectations: Int) {
  workEdit(id: $id) { addExpectations(expectations: $expectations) }
}";

/// Closes a work, in error or not.
pub const WORK_TO_PROCESSED: &str =
    "mutation WorkToProcessed($id: ID!, $message: String, $inError: Boolean) {
  workEdit(id: $id) { toProcessed(message: $message, inError: $inError) }
}";

/// Keeps a long work from looking stale.
pub const WORK_PING: &str = "mutation WorkPing($id: ID!) { workEdit(id: $id) { ping } }";

/// Pushes a bundle over the API.
pub const STIX_BUNDLE_PUSH: &str =
    "mutation StixBundlePush($connectorId: String!, $bundle: String!, $work_id: String) {
  stixBundlePush(connectorId: $connectorId, bundle: $bundle, work_id: $work_id)
}";

/// Every document, named, for tests and the OpenCTI stand-in.
pub const ALL: &[(&str, &str)] = &[
    ("HealthCheck", HEALTH_CHECK),
    ("RegisterConnector", REGISTER),
    ("PingConnector", PING),
    ("GetConnector", GET_CONNECTOR),
    ("WorkAdd", WORK_ADD),
    ("WorkAddMultipart", WORK_ADD_MULTIPART),
    ("WorkReportExpectation", WORK_REPORT_EXPECTATION),
    ("WorkAddExpectations", WORK_ADD_EXPECTATIONS),
    ("WorkToProcessed", WORK_TO_PROCESSED),
    ("WorkPing", WORK_PING),
    ("StixBundlePush", STIX_BUNDLE_PUSH),
];

/// A platform version as `(major, minor, patch)`; 7.x date-based versions compare higher than
/// every 6.x one. Parts that are not numbers count as 0.
pub fn version_tuple(v: &str) -> (u64, u64, u64) {
    let mut p = v.trim().split('.').map(|x| x.parse::<u64>().unwrap_or(0));
    (
        p.next().unwrap_or(0),
        p.next().unwrap_or(0),
        p.next().unwrap_or(0),
    )
}

/// The registration input for a platform version: only the fields that version accepts
/// (pycti's release history, `docs/opencti-connector-protocol.md#registration`), null-valued
/// optional fields left out.
pub fn register_input(platform_version: &str, id: &str, name: &str, scope: &[String]) -> Value {
    let v = version_tuple(platform_version);
    let mut m = Map::new();
    m.insert("id".into(), json!(id));
    m.insert("name".into(), json!(name));
    m.insert("type".into(), json!("EXTERNAL_IMPORT"));
    if v >= (2, 1, 11) {
        m.insert("scope".into(), json!(scope));
    }
    if v >= (4, 0, 0) {
        m.insert("auto".into(), json!(false));
    }
    if v >= (4, 5, 0) {
        m.insert("only_contextual".into(), json!(false));
    }
    if v >= (5, 11, 0) {
        m.insert("playbook_compatible".into(), json!(false));
    }
    if v >= (6, 8, 9) {
        m.insert("auto_update".into(), json!(false));
        m.insert("enrichment_resolution".into(), json!("none"));
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_fields_follow_the_platform_version() {
        let keys = |v: &str| -> Vec<String> {
            let i = register_input(v, "x", "DISINFOX", &["disinfox".into()]);
            i.as_object()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default()
        };
        assert!(!keys("5.10.0").contains(&"playbook_compatible".to_string()));
        assert!(keys("5.12.0").contains(&"playbook_compatible".to_string()));
        assert!(!keys("6.8.8").contains(&"auto_update".to_string()));
        assert!(keys("6.8.10").contains(&"auto_update".to_string()));
        assert!(keys("7.261026.0").contains(&"enrichment_resolution".to_string()));
    }
}
