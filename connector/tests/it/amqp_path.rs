//! The AMQP path against a real RabbitMQ broker (`DISINFOX_TEST_AMQP_URL`, default the local
//! guest account; `scripts/test` installs and starts Debian's rabbitmq-server). The stand-in
//! asserts OpenCTI's topology, consumes the push queue as OpenCTI's worker and records every
//! message. An unreachable broker fails these tests.

use std::time::Duration;

use base64::Engine as _;
use opencti_standin::{StandIn, StandInHandle, StandInOptions, Via, WorkStatus};
use tokio_util::sync::CancellationToken;

use crate::e2e::{fast, incidents_received, settings, CONNECTOR_ID};
use crate::support::Server;

fn amqp_url() -> String {
    std::env::var("DISINFOX_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

pub async fn standin_with_broker(version: &str) -> StandInHandle {
    StandIn::start(StandInOptions {
        version: version.into(),
        amqp_url: Some(amqp_url()),
        // A queue prefix of its own, so parallel tests do not share queues.
        queue_prefix: format!("t{}", uuid::Uuid::new_v4().simple()),
        ..StandInOptions::default()
    })
    .await
    .unwrap_or_else(|e| panic!("RabbitMQ at {} is needed: {e}", amqp_url()))
}

/// Waits until the stand-in's worker has consumed every message of the work (on 6.x a work
/// may show complete between two pages already, opencti#8224, so count).
pub async fn wait_drained(octi: &StandInHandle, work: &str) {
    assert!(
        octi.wait_until(Duration::from_secs(30), |s| s
            .work(work)
            .is_some_and(
                |w| w.status == WorkStatus::Complete && w.processed >= w.expected
            ))
        .await,
        "{:?}",
        octi.work(work)
    );
}

#[tokio::test]
async fn every_object_travels_as_one_persistent_confirmed_message() {
    let mut server = Server::start(60).await;
    // Larger than one AMQP frame: it goes out in several body frames.
    let big = server.add_big().await;
    let octi = standin_with_broker("6.8.10").await;
    connector::run_with(
        settings(&server, &octi, &[("CONNECTOR_QUEUE_PROTOCOL", "amqp")]),
        fast(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let n = server.incident_ids().await.len();
    let works = octi.works_of(CONNECTOR_ID);
    assert_eq!(works.len(), 1);
    let work = works[0].clone();
    // The worker consumes in the background: wait for it to report every expectation.
    wait_drained(&octi, &work.id).await;
    let got = incidents_received(&octi);
    assert_eq!(got.len(), n);
    assert!(got.values().all(|c| *c == 1), "{got:?}");
    let messages = octi.amqp_messages();
    assert!(!messages.is_empty());
    let w = octi.work(&work.id).unwrap();
    assert_eq!(
        w.expected,
        messages.len() as u64,
        "one expectation per message"
    );
    assert_eq!(w.processed, w.expected);
    assert!(!w.in_error, "{:?}", w.errors);
    for (i, m) in messages.iter().enumerate() {
        assert_eq!(m.rejected, None, "{m:?}");
        assert_eq!(m.delivery_mode, Some(2), "persistent");
        assert_eq!(m.content_encoding.as_deref(), Some("utf-8"));
        assert_eq!(m.queue, octi.push_queue(CONNECTOR_ID));
        let env = m.envelope.as_ref().unwrap();
        assert_eq!(env["bundle_type"], "QUEUE_BUNDLE");
        assert_eq!(env["work_id"], work.id.as_str());
        assert_eq!(env["applicant_id"], octi.user_id().as_str());
        assert!(env.get("no_split").is_none(), "6.x");
        let content = base64::engine::general_purpose::STANDARD
            .decode(env["content"].as_str().unwrap())
            .unwrap();
        let bundle: serde_json::Value = serde_json::from_slice(&content).unwrap();
        assert_eq!(
            bundle["objects"].as_array().unwrap().len(),
            1,
            "one object per message"
        );
        assert!(
            env["action_sequence"].as_u64().is_some_and(|n| n >= 1),
            "{i}"
        );
    }
    // Dependencies first: every incident's message comes after its author identity's.
    let first_of = |ty: &str| {
        messages.iter().position(|m| {
            m.bundle
                .as_ref()
                .and_then(|b| b["objects"][0]["type"].as_str())
                == Some(ty)
        })
    };
    assert!(first_of("identity") < first_of("incident"));
    assert!(first_of("incident") < first_of("relationship"));
    let big = messages
        .iter()
        .find(|m| {
            m.bundle
                .as_ref()
                .is_some_and(|b| b["objects"][0]["id"] == big.as_str())
        })
        .expect("the big incident's message");
    let description = &big.bundle.as_ref().unwrap()["objects"][0]["description"];
    assert_eq!(
        description.as_str().map(|d| d.chars().count()),
        Some(20_000)
    );
    assert!(big.envelope.as_ref().unwrap().to_string().len() > connector::amqp::FRAME_MAX as usize);
    assert!(octi.pushes().iter().all(|p| p.via == Via::Amqp));
    assert!(octi.rejected_requests().is_empty());
}

#[tokio::test]
async fn an_object_over_the_message_limit_is_reported_not_sent() {
    let mut server = Server::start(30).await;
    let big = server.add_big().await;
    let octi = standin_with_broker("7.260807.0").await;
    connector::run_with(
        settings(
            &server,
            &octi,
            &[
                ("CONNECTOR_QUEUE_PROTOCOL", "amqp"),
                ("CONNECTOR_MAX_MESSAGE_SIZE", "65536"),
            ],
        ),
        fast(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let work = octi.works_of(CONNECTOR_ID)[0].clone();
    assert!(work.multipart, "7.x works are multipart");
    wait_drained(&octi, &work.id).await;
    let w = octi.work(&work.id).unwrap();
    assert!(
        w.errors
            .iter()
            .any(|e| e.source.as_deref() == Some(big.as_str()) && e.message.contains("too large")),
        "the skipped object is reported in the work: {:?}",
        w.errors
    );
    let got = incidents_received(&octi);
    assert!(!got.contains_key(&big), "not sent");
    assert_eq!(got.len(), server.incident_ids().await.len() - 1);
    for m in octi.amqp_messages() {
        let env = m.envelope.unwrap();
        assert_eq!(env["no_split"], false, "7.x envelope");
        assert!(env.to_string().len() <= 65_536);
    }
}

#[tokio::test]
async fn an_unreachable_broker_fails_the_run_without_moving_the_position() {
    let server = Server::start(10).await;
    let octi = standin_with_broker("6.8.10").await;
    let r = connector::run_with(
        settings(
            &server,
            &octi,
            &[
                ("CONNECTOR_QUEUE_PROTOCOL", "amqp"),
                // Registration says where the broker is; the override points elsewhere.
                ("MQ_PORT", "1"),
            ],
        ),
        fast(),
        CancellationToken::new(),
    )
    .await;
    assert!(r.is_err());
    let w = &octi.works_of(CONNECTOR_ID)[0];
    assert!(w.in_error);
    assert!(
        w.errors.iter().any(|e| e.message.contains("RabbitMQ")),
        "{:?}",
        w.errors
    );
    assert!(crate::e2e::remote_state(&octi).is_none_or(|s| !s.contains_key("cursor")));
    assert!(incidents_received(&octi).is_empty());
}
