//! The settings' tests: precedence, secrets, one-line errors, and the README and sample
//! documenting every setting.

use super::*;

fn env(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = [
        ("OPENCTI_URL", "http://opencti:8080/"),
        ("OPENCTI_TOKEN", "f1f2f3"),
        ("CONNECTOR_ID", "2b7a8c3e-1f5d-4c8a-9b2e-3d4f5a6b7c8d"),
        ("DISINFOX_URL", "http://disinfox:8080/api/v1/bundle"),
        ("DISINFOX_API_KEY", "dfx_secret"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    for (k, val) in extra {
        v.retain(|(a, _)| a != k);
        v.push((k.to_string(), val.to_string()));
    }
    v
}

#[test]
fn defaults_precedence_and_secrets() {
    let s = Settings::from_parts(
        Some("connector:\n  name: From YAML\n  duration_period: PT5M\n"),
        &env(&[("CONNECTOR_DURATION_PERIOD", "PT10M")]),
    )
    .unwrap();
    assert_eq!(s.connector.name, "From YAML");
    assert_eq!(s.connector.period.as_secs(), 600, "the environment wins");
    assert_eq!(s.opencti.url, "http://opencti:8080");
    assert_eq!(s.connector.queue_protocol, QueueProtocol::Api);
    assert!(!s.connector.run_and_terminate);
    let printed = format!("{s:?}");
    assert!(
        !printed.contains("f1f2f3") && !printed.contains("dfx_secret"),
        "{printed}"
    );
    let once = Settings::from_parts(None, &env(&[("CONNECTOR_DURATION_PERIOD", "PT0S")])).unwrap();
    assert!(once.connector.run_and_terminate);
    let more = Settings::from_parts(
        None,
        &env(&[
            ("OPENCTI_SSL_VERIFY", "/etc/ssl/ca.pem"),
            ("OPENCTI_CUSTOM_HEADERS", " X-Tenant : a ;; X-B:b:c "),
            ("CONNECTOR_METRICS_NAMESPACE", "octi"),
        ]),
    )
    .unwrap();
    assert_eq!(
        more.opencti.ssl_verify,
        TlsVerify::CaFile("/etc/ssl/ca.pem".into())
    );
    assert_eq!(
        more.opencti.custom_headers,
        vec![
            ("X-Tenant".to_owned(), "a".to_owned()),
            ("X-B".to_owned(), "b:c".to_owned())
        ]
    );
    assert_eq!(more.connector.metrics_prefix, "octi_");
    assert_eq!(s.opencti.ssl_verify, TlsVerify::Yes);
}

#[test]
fn set_at_all_even_empty_means_set_and_empty_means_the_default() {
    let yaml = "connector:\n  name: From YAML\n  scope: a,b\n  log_level:\nmq:\n  port: 5673\n  pass: yaml-mq-secret\n";
    // config.yml fills what the environment leaves unset; a YAML null is unset.
    let s = Settings::from_parts(Some(yaml), &env(&[])).unwrap();
    assert_eq!(s.connector.scope, ["a", "b"]);
    assert_eq!(s.connector.log_level, "info", "null: the default");
    assert_eq!(s.mq.port, Some(5673));
    // An empty environment variable is set: it hides config.yml, and empty means the default.
    let s = Settings::from_parts(
        Some(yaml),
        &env(&[
            ("CONNECTOR_NAME", ""),
            ("MQ_PORT", ""),
            ("MQ_PASS", "env-mq-secret"),
        ]),
    )
    .unwrap();
    assert_eq!(s.connector.name, "DISINFOX");
    assert_eq!(s.mq.port, None);
    assert_eq!(
        s.mq.pass.as_ref().map(Secret::expose),
        Some("env-mq-secret")
    );
    let printed = format!("{s:?}");
    assert!(!printed.contains("mq-secret"), "{printed}");
    // A YAML value that is not a single value, and YAML that does not parse: one line each.
    for (text, want) in [
        (
            "connector:\n  name:\n    first: a\n",
            "config.yml: connector.name: expected a single value",
        ),
        (
            "connector: 5\n",
            "config.yml: connector: expected a mapping",
        ),
        ("connector:\n  name: [a\n", "config.yml: is not valid YAML"),
    ] {
        let e = Settings::from_parts(Some(text), &env(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with(want), "{text:?}: {e}");
        assert!(!e.contains('\n'), "one line: {e}");
    }
}

#[test]
fn bad_values_name_the_key_and_the_form() {
    for (k, v, want) in [
        (
            "CONNECTOR_DURATION_PERIOD",
            "PT5m",
            "CONNECTOR_DURATION_PERIOD: \"PT5m\" is not an ISO 8601 duration, e.g. PT1H",
        ),
        (
            "CONNECTOR_RUN_AND_TERMINATE",
            "FALSE",
            "CONNECTOR_RUN_AND_TERMINATE: \"FALSE\" is not a boolean",
        ),
        (
            "CONNECTOR_QUEUE_PROTOCOL",
            "kafka",
            "CONNECTOR_QUEUE_PROTOCOL: \"kafka\" is not api or amqp",
        ),
        ("CONNECTOR_ID", "42", "CONNECTOR_ID: \"42\" is not a UUID"),
        (
            "OPENCTI_TOKEN",
            "ChangeMe",
            "OPENCTI_TOKEN: is still the placeholder",
        ),
        ("OPENCTI_TOKEN", "", "OPENCTI_TOKEN: is required"),
        (
            "OPENCTI_URL",
            "opencti:8080",
            "OPENCTI_URL: \"opencti:8080\" is not an http(s) URL",
        ),
        (
            "CONNECTOR_METRICS_PORT",
            "99999",
            "CONNECTOR_METRICS_PORT: \"99999\" is not a port number",
        ),
        (
            "DISINFOX_PAGE_SIZE",
            "0",
            "DISINFOX_PAGE_SIZE: 0 is not from 1 to 1000",
        ),
        ("MQ_PORT", "x", "MQ_PORT"),
        (
            "OPENCTI_SSL_VERIFY",
            "maybe",
            "OPENCTI_SSL_VERIFY: \"maybe\" is not true, false or the path",
        ),
        (
            "OPENCTI_CUSTOM_HEADERS",
            "X-A:1;broken",
            "OPENCTI_CUSTOM_HEADERS: \"broken\" is not name:value",
        ),
        (
            "CONNECTOR_TYPE",
            "STREAM",
            "CONNECTOR_TYPE: \"STREAM\" is not EXTERNAL_IMPORT",
        ),
        (
            "CONNECTOR_MAX_MESSAGE_SIZE",
            "10",
            "CONNECTOR_MAX_MESSAGE_SIZE: 10 is below",
        ),
        (
            "CONNECTOR_METRICS_NAMESPACE",
            "a-b",
            "CONNECTOR_METRICS_NAMESPACE: \"a-b\" is not a metric name part",
        ),
    ] {
        let e = Settings::from_parts(None, &env(&[(k, v)]))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with(want), "{k}={v}: {e}");
        assert!(!e.contains('\n'), "one line");
    }
    let e = Settings::from_parts(Some("connector:\n  nmae: x\n"), &env(&[]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("connector.nmae is not a setting"), "{e}");
}

#[test]
fn stream_mode_finds_the_stream_next_to_the_bundle_endpoint() {
    let poll = Settings::from_parts(None, &env(&[])).unwrap();
    assert_eq!(poll.disinfox.mode, Mode::Poll, "poll is the default");
    assert_eq!(poll.disinfox.stream_url, None);
    let s = Settings::from_parts(None, &env(&[("DISINFOX_MODE", "stream")])).unwrap();
    assert_eq!(s.disinfox.mode, Mode::Stream);
    assert_eq!(
        s.disinfox.stream_url.as_deref(),
        Some("http://disinfox:8080/api/v1/stream")
    );
    let e = Settings::from_parts(None, &env(&[("DISINFOX_MODE", "push")]))
        .unwrap_err()
        .to_string();
    assert_eq!(e, "DISINFOX_MODE: \"push\" is not poll or stream");
    let e = Settings::from_parts(
        None,
        &env(&[
            ("DISINFOX_MODE", "stream"),
            ("DISINFOX_URL", "http://disinfox:8080/bundles"),
        ]),
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("DISINFOX_URL: "), "{e}");
}

#[test]
fn the_readme_documents_every_setting_and_no_other() {
    let readme = include_str!("../../../README.md");
    for (env, path, default, _) in KEYS {
        let d = if default.is_empty() {
            String::new()
        } else {
            format!("`{default}`")
        };
        let row = format!("| `{env}` | `{path}` | {d} |");
        assert!(readme.contains(&row), "README.md lacks the row {row}");
    }
    // Rows whose second cell is a config.yml path: `section.key`.
    let rows = readme
        .lines()
        .filter_map(|l| l.strip_prefix("| `")?.split('|').nth(1))
        .filter_map(|cell| cell.trim().trim_matches('`').split_once('.'))
        .filter(|(section, _)| ["opencti", "connector", "mq", "disinfox"].contains(section))
        .count();
    assert_eq!(
        rows,
        KEYS.len(),
        "README.md documents a connector setting the code does not know"
    );
}

#[test]
fn the_sample_config_names_every_setting_with_its_default() {
    let sample = include_str!("../../../config.yml.sample");
    let yaml = config::Config::builder()
        .add_source(config::File::from_str(sample, config::FileFormat::Yaml))
        .build()
        .unwrap();
    for (env, path, default, _) in KEYS {
        let v = yaml.get::<config::Value>(path);
        assert!(v.is_ok(), "config.yml.sample lacks {path} ({env})");
        let v = v.unwrap();
        let text = match v.kind {
            config::ValueKind::Nil => String::new(),
            _ => v.into_string().unwrap(),
        };
        if !default.is_empty() {
            assert_eq!(text, *default, "{path}: the sample shows the default");
        }
    }
    // Only the required values are missing: with them, the sample loads.
    Settings::from_parts(Some(sample), &env(&[])).unwrap();
}
