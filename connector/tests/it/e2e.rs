//! End to end: a seeded disinfox-server → the connector → the OpenCTI stand-in (which validates
//! every GraphQL request against OpenCTI's schema). Every incident must arrive, by id, and none
//! more than once beyond the page in flight when something failed.

use std::collections::BTreeMap;
use std::time::Duration;

use connector::configuration::Settings;
use connector::retry::RetryPolicy;
use connector::worker::Tuning;
use opencti_standin::{Fault, StandIn, StandInHandle, StandInOptions, WorkStatus};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::support::Server;

pub fn fast() -> Tuning {
    Tuning {
        retry: RetryPolicy {
            attempts: 3,
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(100),
        },
        opencti_timeout: Duration::from_secs(10),
        amqp_timeout: Duration::from_secs(10),
        ping_interval: Duration::from_millis(100),
        health_max_delay: Duration::from_millis(100),
        work_ping_interval: Duration::from_millis(500),
        stream_heartbeat: Duration::from_secs(1),
        stream_linger: Duration::from_millis(100),
        stream_max_wait: Duration::from_secs(1),
    }
}

pub const CONNECTOR_ID: &str = "7b3f1c2a-5d4e-4f6a-8b9c-0d1e2f3a4b5c";

pub fn env_for(
    server: &Server,
    standin: &StandInHandle,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = vec![
        ("OPENCTI_URL".into(), standin.url()),
        ("OPENCTI_TOKEN".into(), standin.token().to_owned()),
        ("CONNECTOR_ID".into(), CONNECTOR_ID.into()),
        ("DISINFOX_URL".into(), server.url()),
        ("DISINFOX_API_KEY".into(), server.key.clone()),
        ("DISINFOX_PAGE_SIZE".into(), "25".into()),
        ("CONNECTOR_RUN_AND_TERMINATE".into(), "true".into()),
    ];
    for (k, v) in extra {
        env.retain(|(a, _)| a != k);
        env.push(((*k).into(), (*v).into()));
    }
    env
}

pub fn settings(server: &Server, standin: &StandInHandle, extra: &[(&str, &str)]) -> Settings {
    Settings::from_parts(None, &env_for(server, standin, extra)).unwrap()
}

async fn standin(version: &str) -> StandInHandle {
    StandIn::start(StandInOptions {
        version: version.into(),
        ..StandInOptions::default()
    })
    .await
    .unwrap()
}

/// Incident ids received by the stand-in, with their receipt counts.
pub fn incidents_received(s: &StandInHandle) -> BTreeMap<String, u64> {
    s.object_counts()
        .into_iter()
        .filter(|(id, _)| id.starts_with("incident--"))
        .collect()
}

async fn run_once(settings: Settings) -> Result<(), connector::worker::StartError> {
    connector::run_with(settings, fast(), CancellationToken::new()).await
}

/// The connector as a daemon (not run-and-terminate) with `extra` settings: its stop token
/// and its task.
pub fn spawn_daemon(
    server: &Server,
    standin: &StandInHandle,
    extra: &[(&str, &str)],
) -> (
    CancellationToken,
    tokio::task::JoinHandle<Result<(), connector::worker::StartError>>,
) {
    let mut all = vec![("CONNECTOR_RUN_AND_TERMINATE", "false")];
    all.extend_from_slice(extra);
    let stop = CancellationToken::new();
    let daemon = tokio::spawn(connector::run_with(
        settings(server, standin, &all),
        fast(),
        stop.clone(),
    ));
    (stop, daemon)
}

/// The state the stand-in stores for the connector, parsed.
pub fn remote_state(s: &StandInHandle) -> Option<serde_json::Map<String, Value>> {
    connector::state::parse(s.connector(CONNECTOR_ID)?.state.as_deref())
}

fn assert_no_rejected_requests(s: &StandInHandle) {
    let rejected = s.rejected_requests();
    assert!(
        rejected.is_empty(),
        "the stand-in refused documents: {:?}",
        rejected
            .iter()
            .map(|r| (r.operation.clone(), r.query.clone()))
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn api_path_delivers_every_incident_once_and_later_runs_only_new_ones() {
    let mut server = Server::start(120).await;
    let octi = standin("6.8.10").await;
    run_once(settings(&server, &octi, &[])).await.unwrap();

    let expected = server.incident_ids().await;
    let got = incidents_received(&octi);
    assert_eq!(got.keys().cloned().collect::<Vec<_>>(), expected);
    assert!(got.values().all(|c| *c == 1), "duplicates: {got:?}");
    let works = octi.works_of(CONNECTOR_ID);
    assert_eq!(works.len(), 1, "one work per run");
    let w = &works[0];
    assert!(w.name.starts_with("DISINFOX run @ "), "{}", w.name);
    assert_eq!(w.status, WorkStatus::Complete);
    assert!(!w.in_error, "{:?}", w.errors);
    assert_eq!(w.to_processed_calls, 1);
    assert!(
        w.messages
            .iter()
            .any(|m| m.message.contains("120 incidents")),
        "{:?}",
        w.messages
    );
    let state = remote_state(&octi).expect("state saved in OpenCTI");
    for k in ["cursor", "last_fetch", "last_run"] {
        assert!(state.contains_key(k), "{k} missing in {state:?}");
    }
    // The techniques carry the 6.x ids and OpenCTI's kill chain.
    let ap = octi
        .objects()
        .into_iter()
        .find(|o| o.object_type.as_deref() == Some("attack-pattern"))
        .expect("techniques arrive");
    assert!(ap.object.get("x_mitre_id").is_some(), "{}", ap.object);
    let mitre = ap.object["x_mitre_id"].as_str().unwrap();
    let name = ap.object["name"].as_str().unwrap();
    assert_eq!(
        ap.id,
        stix_model::opencti::attack_pattern(
            name,
            Some(mitre),
            stix_model::opencti::OpenCtiIdRules::V6
        )
        .unwrap()
        .to_string()
    );

    // Nothing new: no empty work.
    run_once(settings(&server, &octi, &[])).await.unwrap();
    assert_eq!(
        octi.works_of(CONNECTOR_ID).len(),
        1,
        "no work when nothing is new"
    );

    // New incidents: exactly those.
    let new = server.add(10).await;
    run_once(settings(&server, &octi, &[])).await.unwrap();
    let got = incidents_received(&octi);
    assert_eq!(got.len(), expected.len() + new.len());
    assert!(got.values().all(|c| *c == 1), "duplicates: {got:?}");
    assert_eq!(octi.works_of(CONNECTOR_ID).len(), 2);
    assert_no_rejected_requests(&octi);
    let reg = octi.connector(CONNECTOR_ID).unwrap();
    assert_eq!(reg.registrations, 3);
    assert_eq!(reg.connector_type, "EXTERNAL_IMPORT");
}

#[tokio::test]
async fn a_7x_platform_gets_multipart_works_its_id_rules_and_its_registration_fields() {
    let server = Server::start(30).await;
    let octi = standin("7.260807.0").await;
    run_once(settings(&server, &octi, &[])).await.unwrap();
    assert_eq!(
        incidents_received(&octi).len(),
        server.incident_ids().await.len()
    );
    let w = &octi.works_of(CONNECTOR_ID)[0];
    assert!(w.multipart, "7.x works are multipart");
    assert_eq!(w.status, WorkStatus::Complete);
    let reg = octi.connector(CONNECTOR_ID).unwrap();
    assert!(reg.input.get("auto_update").is_some(), "{}", reg.input);
    let ap = octi
        .objects()
        .into_iter()
        .find(|o| o.object_type.as_deref() == Some("attack-pattern"))
        .unwrap();
    let id = stix_model::opencti::attack_pattern(
        ap.object["name"].as_str().unwrap(),
        ap.object["x_mitre_id"].as_str(),
        stix_model::opencti::OpenCtiIdRules::V7,
    )
    .unwrap();
    assert_eq!(ap.id, id.to_string());
    assert_no_rejected_requests(&octi);
}

#[tokio::test]
async fn opencti_failing_for_a_while_fails_the_run_cleanly_and_the_next_run_catches_up() {
    let server = Server::start(100).await;
    let octi = standin("6.8.10").await;
    // The second page's push fails on every attempt, after OpenCTI imported it (the answer is
    // lost): the worst case for duplicates.
    octi.add_fault(
        Fault::status(500)
            .on("StixBundlePush")
            .skip(1)
            .times(3)
            .after_execution(),
    );
    let r = run_once(settings(&server, &octi, &[])).await;
    assert!(
        r.is_err(),
        "run-and-terminate exits non-zero on a failed run"
    );
    let works = octi.works_of(CONNECTOR_ID);
    assert_eq!(works.len(), 1);
    assert!(works[0].in_error, "the work is closed in error");
    assert!(
        works[0].errors.iter().any(|e| e.message.contains("500")),
        "{:?}",
        works[0].errors
    );
    // The state holds the first page only.
    let after_fail = remote_state(&octi).expect("first page committed");
    assert!(after_fail.contains_key("cursor"));

    octi.clear_faults();
    run_once(settings(&server, &octi, &[])).await.unwrap();
    let got = incidents_received(&octi);
    assert_eq!(got.len(), server.incident_ids().await.len());
    // Only the page in flight came more than once (each lost answer made it come again);
    // every other incident came exactly once.
    let again: Vec<_> = got.iter().filter(|(_, c)| **c > 1).collect();
    assert!(
        !again.is_empty(),
        "the lost answers made the page come again"
    );
    assert!(
        again.len() <= 25,
        "only one page came again: {}",
        again.len()
    );
    assert!(got.values().all(|c| *c <= 1 + 3 + 1), "{got:?}");
    assert_no_rejected_requests(&octi);
}

/// docs/opencti-connector-protocol.md#faults, end to end: three answers in a row that are
/// transient — an HTTP 500 whose body is a GraphQL `errors` document (the status decides), or
/// OpenCTI's `LOCK_ERROR` in an HTTP 200 (the name decides) — are retried inside the run (the
/// tests' tuning allows three attempts, so this run still fails, cleanly), and the next run
/// delivers everything. Treated as rejected documents, each failure would have ended a run of
/// its own, and the second run would have failed too.
#[tokio::test]
async fn three_transient_failures_in_a_row_are_retried_and_the_next_run_delivers_everything() {
    for (status, code) in [(500, "INTERNAL_SERVER_ERROR"), (200, "LOCK_ERROR")] {
        let server = Server::start(40).await;
        let octi = standin("6.8.10").await;
        octi.add_fault(
            Fault::graphql_error_with_status(status, "injected", code)
                .on("StixBundlePush")
                .times(3),
        );
        let first = run_once(settings(&server, &octi, &[])).await;
        let fault = &octi.faults()[0];
        assert_eq!(
            fault.fired, 3,
            "HTTP {status} {code}: retried within the run"
        );
        assert!(
            first.is_err(),
            "HTTP {status} {code}: three attempts, three failures"
        );
        assert!(
            remote_state(&octi).is_none_or(|s| !s.contains_key("cursor")),
            "nothing was accepted, so the position did not move"
        );
        run_once(settings(&server, &octi, &[]))
            .await
            .unwrap_or_else(|e| panic!("HTTP {status} {code}: the next run: {e}"));
        let got = incidents_received(&octi);
        assert_eq!(
            got.keys().cloned().collect::<Vec<_>>(),
            server.incident_ids().await,
            "HTTP {status} {code}"
        );
        assert!(got.values().all(|c| *c == 1), "{got:?}");
        assert_no_rejected_requests(&octi);
    }
}

#[tokio::test]
async fn the_server_down_fails_the_run_in_a_work_and_loses_nothing() {
    let mut server = Server::start(40).await;
    let octi = standin("6.8.10").await;
    server.stop().await;
    let r = run_once(settings(&server, &octi, &[])).await;
    assert!(r.is_err());
    let works = octi.works_of(CONNECTOR_ID);
    assert_eq!(works.len(), 1, "a failed run is visible in OpenCTI");
    assert!(works[0].in_error);
    assert!(
        works[0]
            .errors
            .iter()
            .any(|e| e.message.contains("DISINFOX server is unavailable")),
        "{:?}",
        works[0].errors
    );
    assert!(remote_state(&octi).is_none_or(|s| !s.contains_key("cursor")));
    server.restart().await;
    run_once(settings(&server, &octi, &[])).await.unwrap();
    let got = incidents_received(&octi);
    assert_eq!(got.len(), server.incident_ids().await.len());
    assert!(got.values().all(|c| *c == 1));
}

#[tokio::test]
async fn a_reset_in_opencti_makes_the_next_run_start_from_the_beginning() {
    let server = Server::start(50).await;
    let octi = standin("6.8.10").await;
    let (stop, daemon) = spawn_daemon(&server, &octi, &[("CONNECTOR_DURATION_PERIOD", "PT1S")]);
    let n = server.incident_ids().await.len();
    assert!(
        octi.wait_until(Duration::from_secs(30), |s| incidents_received(s).len()
            == n
            && remote_state(s).is_some_and(|st| st.contains_key("last_run")))
            .await,
        "first run"
    );
    octi.reset_state(CONNECTOR_ID).await.unwrap();
    assert!(
        octi.wait_until(Duration::from_secs(30), |s| incidents_received(s)
            .values()
            .all(|c| *c == 2))
            .await,
        "after the reset every incident comes again: {:?}",
        incidents_received(&octi)
    );
    stop.cancel();
    daemon.await.unwrap().unwrap();
    // The state was rebuilt from the beginning, and the pings kept the connector active.
    let st = remote_state(&octi).unwrap();
    assert!(st.contains_key("cursor"));
    assert!(octi.connector(CONNECTOR_ID).unwrap().active());
    assert!(
        octi.works_of(CONNECTOR_ID).iter().all(|w| !w.in_error),
        "{:?}",
        octi.works_of(CONNECTOR_ID)
    );
    assert_no_rejected_requests(&octi);
}

#[tokio::test]
async fn incidents_written_during_a_run_are_picked_up() {
    let mut server = Server::start(60).await;
    let octi = standin("6.8.10").await;
    octi.add_fault(Fault::delay(Duration::from_millis(150)).on("StixBundlePush"));
    let (stop, daemon) = spawn_daemon(
        &server,
        &octi,
        &[
            ("CONNECTOR_DURATION_PERIOD", "PT1S"),
            ("DISINFOX_PAGE_SIZE", "10"),
        ],
    );
    assert!(
        octi.wait_until(Duration::from_secs(30), |s| !s.pushes().is_empty())
            .await
    );
    let added = server.add(15).await;
    let n = server.incident_ids().await.len();
    assert!(
        octi.wait_until(Duration::from_secs(60), |s| incidents_received(s).len()
            == n)
            .await,
        "{} of {n}",
        incidents_received(&octi).len()
    );
    stop.cancel();
    daemon.await.unwrap().unwrap();
    let got = incidents_received(&octi);
    for id in &added {
        assert_eq!(got.get(id), Some(&1), "{id}");
    }
    assert!(got.values().all(|c| *c == 1));
}

#[tokio::test]
async fn a_queue_over_the_threshold_skips_the_run() {
    let server = Server::start(10).await;
    let octi = standin("6.8.10").await;
    // Register first so the stand-in knows the connector, then report a full queue.
    run_once(settings(&server, &octi, &[("DISINFOX_PAGE_SIZE", "1000")]))
        .await
        .unwrap();
    let before = incidents_received(&octi);
    octi.set_queue_size(CONNECTOR_ID, 10_000.0, 600_000_000.0);
    let mut s = server;
    s.add(5).await;
    run_once(settings(&s, &octi, &[])).await.unwrap();
    assert_eq!(incidents_received(&octi), before, "no run while buffering");
    let info = octi.connector(CONNECTOR_ID).unwrap().info.unwrap();
    assert_eq!(info["buffering"], Value::Bool(true), "{info}");
    assert!(info["queue_messages_size"].as_f64().unwrap() >= 600.0);
    octi.set_queue_size(CONNECTOR_ID, 0.0, 0.0);
    run_once(settings(&s, &octi, &[])).await.unwrap();
    assert_eq!(incidents_received(&octi).len(), before.len() + 5);
}

#[tokio::test]
async fn metrics_count_what_the_run_did() {
    let server = Server::start(20).await;
    let octi = standin("6.8.10").await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let port_s = port.to_string();
    let (stop, daemon) = spawn_daemon(
        &server,
        &octi,
        &[
            ("CONNECTOR_EXPOSE_METRICS", "true"),
            ("CONNECTOR_METRICS_PORT", &port_s),
        ],
    );
    // Poll the endpoint until the first run has finished.
    let url = format!("http://127.0.0.1:{port}/metrics");
    let mut text = String::new();
    for _ in 0..300 {
        if let Ok(r) = reqwest::get(&url).await {
            text = r.text().await.unwrap_or_default();
            if text.contains("\nlast_successful_run_timestamp_seconds ")
                && !text.contains("\nlast_successful_run_timestamp_seconds 0.0")
            {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.cancel();
    daemon.await.unwrap().unwrap();
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} missing in\n{text}"))
            .parse()
            .unwrap()
    };
    assert_eq!(value("runs_total"), 1.0);
    assert!(value("objects_fetched_total") > 20.0);
    assert_eq!(value("objects_pushed_total"), value("records_sent_total"));
    assert!(value("bundles_sent_total") >= 1.0);
    assert!(value("pages_total") >= 1.0);
    assert!(value("ping_api_total") >= 1.0);
    assert!(value("last_successful_run_timestamp_seconds") > 1.0e9);
    assert!(text.contains("state{state=\"idle\"} 1.0"), "{text}");
}

/// The server moves from SQLite to PostgreSQL (`disinfox-server db copy`) between two runs:
/// the connector continues from the cursor it stored in OpenCTI, on the same URL, and delivers
/// exactly the incidents it had not delivered, none twice, none missed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_db_copy_to_postgres_the_connector_continues_from_its_cursor() {
    let Some(target) = crate::support::PostgresDb::create(
        "after_db_copy_to_postgres_the_connector_continues_from_its_cursor",
    )
    .await
    else {
        return;
    };
    let mut server = Server::start(60).await;
    let octi = standin("6.8.10").await;
    run_once(settings(&server, &octi, &[])).await.unwrap();
    assert_eq!(incidents_received(&octi).len(), 60);
    let cursor = remote_state(&octi).unwrap()["cursor"].clone();
    // Written after the run, before the move: the next run owes them.
    let owed = server.add(15).await;

    let report = server.move_to_postgres(&target.url).await;
    let copied: BTreeMap<&str, u64> = report.tables.iter().cloned().collect();
    assert_eq!(copied["incidents"], 75, "{report:?}");
    assert_eq!(copied["api_keys"], 1, "the connector's key: {report:?}");
    assert!(server.store.is_postgres());
    assert_eq!(server.incident_ids().await.len(), 75);

    run_once(settings(&server, &octi, &[])).await.unwrap();
    let got = incidents_received(&octi);
    assert_eq!(got.len(), 75, "nothing missed");
    assert!(got.values().all(|c| *c == 1), "nothing sent twice: {got:?}");
    assert!(owed.iter().all(|id| got.contains_key(id)));
    assert_ne!(
        remote_state(&octi).unwrap()["cursor"],
        cursor,
        "the cursor moved on"
    );
    // Written on PostgreSQL: exactly those next.
    let new = server.add(5).await;
    run_once(settings(&server, &octi, &[])).await.unwrap();
    let got = incidents_received(&octi);
    assert_eq!(got.len(), 80);
    assert!(got.values().all(|c| *c == 1), "{got:?}");
    assert!(new.iter().all(|id| got.contains_key(id)));
    assert_no_rejected_requests(&octi);
}
