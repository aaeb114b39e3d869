//! Stream mode (`DISINFOX_MODE=stream`): the connector catches up through the bundle endpoint,
//! then follows the live stream and pushes each batch as a run's page; nothing is lost and
//! nothing but the batch in flight is sent twice, across a kill, a restart of the connector,
//! a restart of the server and a server that sends it back to the pages.

use std::time::Duration;

use disinfox_server::streams::StreamLimits;
use opencti_standin::{Fault, StandIn, StandInHandle, StandInOptions};

use crate::e2e::{env_for, incidents_received, remote_state, spawn_daemon, CONNECTOR_ID};
use crate::process::{spawn, stderr_of, wait_exit};
use crate::support::Server;

/// Long enough for anything these tests wait for (a hang fails instead of blocking; not a
/// timing assertion).
const PATIENCE: Duration = Duration::from_secs(120);

const STREAM: (&str, &str) = ("DISINFOX_MODE", "stream");

/// Waits until the stand-in holds every incident of the server, each at least once.
async fn all_arrive(server: &Server, octi: &StandInHandle) {
    let want = server.incident_ids().await;
    let ok = octi
        .wait_until(PATIENCE, |s| {
            let got = incidents_received(s);
            want.iter().all(|id| got.contains_key(id))
        })
        .await;
    assert!(
        ok,
        "every incident arrived: {} of {}",
        incidents_received(octi).len(),
        want.len()
    );
}

/// Waits until the state OpenCTI holds names the server's newest change as the cursor.
async fn committed_up_to_date(server: &Server, octi: &StandInHandle) {
    let newest = server.newest_cursor().await;
    let ok = octi
        .wait_until(PATIENCE, |s| {
            remote_state(s)
                .is_some_and(|m| m.get("cursor").and_then(|c| c.as_str()) == Some(&newest))
        })
        .await;
    assert!(ok, "cursor {newest} committed: {:?}", remote_state(octi));
}

#[tokio::test]
async fn stream_mode_catches_up_then_pushes_each_change_live_and_commits_it() {
    let mut server = Server::start(40).await;
    let octi = StandIn::start(StandInOptions::default()).await.unwrap();
    let (stop, daemon) = spawn_daemon(&server, &octi, &[STREAM]);
    all_arrive(&server, &octi).await;
    committed_up_to_date(&server, &octi).await;
    let works_after_catch_up = octi.works_of(CONNECTOR_ID).len();
    assert_eq!(works_after_catch_up, 1, "the catch-up is one run");
    // Live: each incident written now arrives through the stream, once.
    for _ in 0..3 {
        server.add(2).await;
        all_arrive(&server, &octi).await;
    }
    let revoked = server.incident_ids().await[0].clone();
    server.store.revoke_incident(&revoked, None).await.unwrap();
    let ok = octi
        .wait_until(PATIENCE, |s| {
            s.objects()
                .iter()
                .any(|o| o.id == revoked && o.object["revoked"] == true)
        })
        .await;
    assert!(ok, "the deletion arrived as the revoked incident");
    committed_up_to_date(&server, &octi).await;
    let state = remote_state(&octi).unwrap();
    assert!(
        state.contains_key("last_fetch") && state.contains_key("last_run"),
        "{state:?}"
    );
    let got = incidents_received(&octi);
    assert_eq!(got.len(), 46);
    for (id, n) in &got {
        let want = if *id == revoked { 2 } else { 1 };
        assert_eq!(*n, want, "{id} arrived {n} times");
    }
    // Each live batch was a work of its own, closed like a run's.
    // (A work is closed just after its batch is committed.)
    let closed = octi
        .wait_until(PATIENCE, |s| {
            s.works_of(CONNECTOR_ID)
                .iter()
                .all(|w| w.to_processed_calls == 1)
        })
        .await;
    let works = octi.works_of(CONNECTOR_ID);
    assert!(closed, "{works:?}");
    assert!(works.len() > works_after_catch_up, "{works:?}");
    assert!(works.iter().all(|w| !w.in_error), "{works:?}");
    stop.cancel();
    daemon.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_server_that_says_behind_sends_the_connector_to_the_pages_and_nothing_is_lost() {
    let mut server = Server::start(10).await;
    let octi = StandIn::start(StandInOptions::default()).await.unwrap();
    // Every event is too large for the stream: each one is handed over to the bundle endpoint.
    server.streams.set_limits(StreamLimits {
        max_event_bytes: 200,
        ..StreamLimits::default()
    });
    let (stop, daemon) = spawn_daemon(&server, &octi, &[STREAM]);
    all_arrive(&server, &octi).await;
    for _ in 0..3 {
        server.add(3).await;
        all_arrive(&server, &octi).await;
    }
    committed_up_to_date(&server, &octi).await;
    let got = incidents_received(&octi);
    assert_eq!(got.len(), 19);
    assert!(got.values().all(|n| *n == 1), "{got:?}");
    stop.cancel();
    daemon.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_server_restart_is_followed_by_a_reconnection_and_nothing_is_lost() {
    let mut server = Server::start(10).await;
    let octi = StandIn::start(StandInOptions::default()).await.unwrap();
    let (stop, daemon) = spawn_daemon(&server, &octi, &[STREAM]);
    all_arrive(&server, &octi).await;
    committed_up_to_date(&server, &octi).await;
    // The stop ends the stream (the server does not wait for it forever).
    server.stop().await;
    // Written while the server is down: only the catch-up after the reconnection sees them.
    server.add(5).await;
    server.restart().await;
    all_arrive(&server, &octi).await;
    server.add(5).await;
    all_arrive(&server, &octi).await;
    committed_up_to_date(&server, &octi).await;
    let got = incidents_received(&octi);
    assert_eq!(got.len(), 20);
    assert!(got.values().all(|n| *n == 1), "{got:?}");
    stop.cancel();
    daemon.await.unwrap().unwrap();
}

#[tokio::test]
async fn killed_in_the_middle_of_a_batch_and_restarted_it_loses_nothing() {
    let mut server = Server::start(5).await;
    let octi = StandIn::start(StandInOptions::default()).await.unwrap();
    let env = env_for(
        &server,
        &octi,
        &[
            STREAM,
            ("CONNECTOR_RUN_AND_TERMINATE", "false"),
            ("DISINFOX_PAGE_SIZE", "5"),
            ("OPENCTI_JSON_LOGGING", "false"),
        ],
    );
    let mut child = spawn(&env);
    all_arrive(&server, &octi).await;
    // Slow pushes, so that the kill lands while a batch is in flight.
    octi.add_fault(Fault::delay(Duration::from_millis(400)).on("StixBundlePush"));
    let pushes = octi.pushes().len();
    server.add(30).await;
    assert!(
        octi.wait_until(PATIENCE, |s| s.pushes().len() >= pushes + 2)
            .await,
        "live batches are pushed"
    );
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    let _ = child.wait();
    let n = server.incident_ids().await.len();
    let partial = incidents_received(&octi).len();
    assert!(partial < n, "killed before the end: {partial} of {n}");
    octi.clear_faults();
    let mut again = spawn(&env);
    all_arrive(&server, &octi).await;
    committed_up_to_date(&server, &octi).await;
    // And it goes on following.
    server.add(3).await;
    all_arrive(&server, &octi).await;
    let term = std::process::Command::new("kill")
        .args(["-TERM", &again.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let status = wait_exit(&mut again, PATIENCE).await;
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "{}",
        stderr_of(again)
    );
    let got = incidents_received(&octi);
    assert_eq!(got.len(), n + 3);
    assert!(got.values().all(|c| *c <= 2), "{got:?}");
    let twice = got.values().filter(|c| **c > 1).count();
    assert!(
        twice <= 5,
        "at most the batch in flight came twice: {twice}"
    );
}
