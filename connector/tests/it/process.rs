//! The `disinfox-connector` binary as operators run it: exit codes, signals, a kill in the
//! middle of a run, and what its logs may not contain.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use opencti_standin::{Fault, StandIn, StandInOptions};

use crate::e2e::{env_for, incidents_received, remote_state, CONNECTOR_ID};
use crate::support::Server;

pub fn spawn(env: &[(String, String)]) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_disinfox-connector"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(std::env::temp_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

/// Waits for the child to exit, at most `limit`; its status, or `None` when it still runs.
pub async fn wait_exit(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return Some(s);
        }
        if std::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn stderr_of(child: Child) -> String {
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn a_bad_value_stops_start_up_with_one_line_and_exit_code_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_disinfox-connector"))
        .env_clear()
        .current_dir(std::env::temp_dir())
        .env("OPENCTI_URL", "http://127.0.0.1:1")
        .env("OPENCTI_TOKEN", "t")
        .env("CONNECTOR_ID", CONNECTOR_ID)
        .env("DISINFOX_URL", "http://127.0.0.1:1/api/v1/bundle")
        .env("DISINFOX_API_KEY", "k")
        .env("CONNECTOR_DURATION_PERIOD", "PT5m")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim(),
        "CONNECTOR_DURATION_PERIOD: \"PT5m\" is not an ISO 8601 duration, e.g. PT1H"
    );
}

#[tokio::test]
async fn logs_are_pycti_json_lines_without_secrets() {
    let server = Server::start(15).await;
    let octi = StandIn::start(StandInOptions::default()).await.unwrap();
    let env = env_for(&server, &octi, &[("CONNECTOR_LOG_LEVEL", "debug")]);
    let mut child = spawn(&env);
    let status = wait_exit(&mut child, Duration::from_secs(60)).await;
    assert_eq!(status.and_then(|s| s.code()), Some(0));
    let err = stderr_of(child);
    assert!(!err.contains(octi.token()), "the OpenCTI token leaked");
    assert!(!err.contains(&server.key), "the API key leaked");
    let mut lines = 0;
    for line in err.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        for k in ["timestamp", "level", "name", "message"] {
            assert!(keys.contains(&k), "{line}");
        }
        assert!(["DEBUG", "INFO", "WARNING", "ERROR"].contains(&v["level"].as_str().unwrap()));
        lines += 1;
    }
    assert!(lines >= 3, "{err}");
    assert!(err.contains("Connector registered with ID"), "{err}");
    assert_eq!(
        incidents_received(&octi).len(),
        server.incident_ids().await.len()
    );
}

#[tokio::test]
async fn killed_in_the_middle_of_a_run_and_restarted_it_loses_nothing() {
    let server = Server::start(150).await;
    let octi = StandIn::start(StandInOptions::default()).await.unwrap();
    // Slow pushes, so the kill lands in the middle of the run.
    octi.add_fault(Fault::delay(Duration::from_millis(100)).on("StixBundlePush"));
    let env = env_for(
        &server,
        &octi,
        &[
            ("DISINFOX_PAGE_SIZE", "10"),
            ("OPENCTI_JSON_LOGGING", "false"),
        ],
    );
    let mut child = spawn(&env);
    assert!(
        octi.wait_until(Duration::from_secs(60), |s| s.pushes().len() >= 4)
            .await,
        "the run started"
    );
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    let _ = child.wait();
    let partial = incidents_received(&octi).len();
    let n = server.incident_ids().await.len();
    assert!(
        partial > 0 && partial < n,
        "killed mid-run: {partial} of {n}"
    );
    // The work of the killed run stays open: that is what a kill does. The restart goes on
    // from the last committed page.
    let mut again = spawn(&env);
    let status = wait_exit(&mut again, Duration::from_secs(120)).await;
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "{}",
        stderr_of(again)
    );
    let got = incidents_received(&octi);
    assert_eq!(got.len(), n, "every incident arrived");
    let twice = got.values().filter(|c| **c > 1).count();
    assert!(got.values().all(|c| *c <= 2));
    assert!(
        twice <= 10,
        "at most the page in flight came twice: {twice}"
    );
    assert!(remote_state(&octi).is_some_and(|s| s.contains_key("last_run")));
}

#[tokio::test]
async fn sigterm_stops_within_ten_seconds_closes_the_work_and_keeps_the_position() {
    let server = Server::start(150).await;
    let octi = StandIn::start(StandInOptions::default()).await.unwrap();
    octi.add_fault(Fault::delay(Duration::from_millis(300)).on("StixBundlePush"));
    let env = env_for(
        &server,
        &octi,
        &[
            ("DISINFOX_PAGE_SIZE", "10"),
            ("CONNECTOR_RUN_AND_TERMINATE", "false"),
        ],
    );
    let mut child = spawn(&env);
    assert!(
        octi.wait_until(Duration::from_secs(60), |s| s.pushes().len() >= 2)
            .await
    );
    let pid = child.id().to_string();
    let term = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(term.success());
    let status = wait_exit(&mut child, Duration::from_secs(10)).await;
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "exit 0 within 10 s after SIGTERM"
    );
    let works = octi.works_of(CONNECTOR_ID);
    assert_eq!(works.len(), 1);
    assert_eq!(works[0].to_processed_calls, 1, "the work is closed");
    assert!(
        works[0]
            .messages
            .iter()
            .any(|m| m.message.contains("stopping")),
        "{:?}",
        works[0]
    );
    let received = incidents_received(&octi).len();
    let n = server.incident_ids().await.len();
    assert!(received < n, "stopped before the end");
    // The next start continues; nothing is lost.
    octi.clear_faults();
    let mut again = spawn(&env_for(&server, &octi, &[("DISINFOX_PAGE_SIZE", "10")]));
    assert_eq!(
        wait_exit(&mut again, Duration::from_secs(120))
            .await
            .and_then(|s| s.code()),
        Some(0)
    );
    let got = incidents_received(&octi);
    assert_eq!(got.len(), n);
    assert!(got.values().filter(|c| **c > 1).count() <= 10);
}
