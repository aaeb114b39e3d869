//! The deployment files agree with the code: every connector or server setting that
//! `docker-compose.yml`, `example.env` and `config.yml.sample` name is one the code knows, the
//! required ones are there, and the commands the files run parse.

use std::collections::BTreeSet;

use clap::Parser as _;
use serde_json::Value;

const COMPOSE: &str = include_str!("../../../docker-compose.yml");
const EXAMPLE_ENV: &str = include_str!("../../../example.env");
const DOCKERFILE: &str = include_str!("../../../Dockerfile");
const RABBITMQ_CONF: &str = include_str!("../../../rabbitmq.conf");

fn compose() -> Value {
    serde_norway::from_str(COMPOSE).expect("docker-compose.yml is valid YAML")
}

/// `KEY=VALUE` lines of example.env, with the comment block above each.
fn example_env() -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut comment = String::new();
    for line in EXAMPLE_ENV.lines() {
        let t = line.trim();
        if let Some(c) = t.strip_prefix('#') {
            comment.push_str(c);
            comment.push('\n');
        } else if let Some((k, v)) = t.split_once('=') {
            out.push((k.to_owned(), v.to_owned(), std::mem::take(&mut comment)));
        } else {
            comment.clear();
        }
    }
    out
}

/// The `${VAR}` / `${VAR:-default}` names the compose file uses.
fn compose_variables() -> BTreeSet<String> {
    let mut vars = BTreeSet::new();
    let mut rest = COMPOSE;
    while let Some(at) = rest.find("${") {
        rest = &rest[at + 2..];
        let end = rest.find('}').expect("closed ${");
        let name = rest[..end].split(":-").next().unwrap_or_default();
        vars.insert(name.to_owned());
        rest = &rest[end..];
    }
    vars
}

/// `${VAR}` replaced by example.env's value, with each placeholder secret (`ChangeMe`) made
/// into a valid one (a UUID, long enough for every key).
fn substitute(value: &str) -> String {
    let env = example_env();
    let mut out = value.to_owned();
    for (k, v, _) in &env {
        let v = if v == "ChangeMe" {
            "0c9c1a52-3e4f-4b6a-9d8e-7f1a2b3c4d5e".to_owned()
        } else {
            v.clone()
        };
        out = out.replace(&format!("${{{k}}}"), &v);
    }
    out
}

/// A service's environment as `(name, value)`, from list or map syntax, substituted.
fn service_env(c: &Value, service: &str) -> Vec<(String, String)> {
    let env = &c["services"][service]["environment"];
    let pairs: Vec<(String, String)> = match env {
        Value::Array(items) => items
            .iter()
            .map(|i| {
                let s = i.as_str().expect("environment entries are strings");
                let (k, v) = s.split_once('=').expect("KEY=VALUE");
                (k.to_owned(), v.to_owned())
            })
            .collect(),
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), v)
            })
            .collect(),
        other => panic!("{service}: environment is {other}"),
    };
    pairs
        .into_iter()
        .map(|(k, v)| (k, substitute(&v)))
        .collect()
}

fn string_list(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn compose_holds_the_whole_system_with_health_checks() {
    let c = compose();
    let services = c["services"].as_object().expect("services");
    for s in [
        "redis",
        "minio",
        "rabbitmq",
        "opencti",
        "worker",
        "disinfox-server",
        "disinfox-connector",
    ] {
        assert!(services.contains_key(s), "service {s} is missing");
    }
    assert!(
        services.contains_key("elasticsearch") || services.contains_key("opensearch"),
        "a search engine for OpenCTI"
    );
    for s in ["redis", "minio", "rabbitmq", "opencti", "disinfox-server"] {
        assert!(
            services[s].get("healthcheck").is_some(),
            "{s} has no healthcheck"
        );
    }
    // The connector waits for both peers to be healthy.
    let deps = &services["disinfox-connector"]["depends_on"];
    for peer in ["opencti", "disinfox-server"] {
        assert_eq!(
            deps[peer]["condition"], "service_healthy",
            "disinfox-connector depends_on {peer}"
        );
    }
    // A pinned OpenCTI release for platform and worker.
    let version = example_env()
        .into_iter()
        .find(|(k, ..)| k == "OPENCTI_VERSION")
        .map(|(_, v, _)| v)
        .expect("OPENCTI_VERSION");
    assert!(
        version.split('.').count() == 3 && version.split('.').all(|p| p.parse::<u64>().is_ok()),
        "OPENCTI_VERSION pins a release: {version}"
    );
    for s in ["opencti", "worker"] {
        assert_eq!(
            services[s]["image"].as_str(),
            Some(
                format!(
                    "opencti/{}:${{OPENCTI_VERSION}}",
                    if s == "opencti" { "platform" } else { "worker" }
                )
                .as_str()
            )
        );
    }
    // The server keeps its data in a named volume.
    let volumes = string_list(&services["disinfox-server"]["volumes"]);
    assert!(volumes.iter().any(|v| v.ends_with(":/data")), "{volumes:?}");
}

#[test]
fn example_env_defines_exactly_the_variables_the_compose_file_uses() {
    let defined: BTreeSet<String> = example_env().into_iter().map(|(k, ..)| k).collect();
    let used = compose_variables();
    let missing: Vec<_> = used.difference(&defined).collect();
    let unused: Vec<_> = defined.difference(&used).collect();
    assert!(missing.is_empty(), "example.env lacks {missing:?}");
    assert!(unused.is_empty(), "example.env defines unused {unused:?}");
    for (k, v, comment) in example_env() {
        if v == "ChangeMe" {
            assert!(
                comment.contains("placeholder secret"),
                "{k} is a placeholder secret without the mark"
            );
        }
    }
}

#[test]
fn the_connector_settings_in_compose_are_known_and_complete() {
    let c = compose();
    let env = service_env(&c, "disinfox-connector");
    let known: BTreeSet<&str> = connector::configuration::KEYS
        .iter()
        .map(|(e, ..)| *e)
        .collect();
    for (k, _) in &env {
        assert!(
            known.contains(k.as_str()),
            "docker-compose.yml sets {k}, which the connector does not know"
        );
    }
    for required in [
        "OPENCTI_URL",
        "OPENCTI_TOKEN",
        "CONNECTOR_ID",
        "DISINFOX_URL",
        "DISINFOX_API_KEY",
    ] {
        assert!(
            env.iter().any(|(k, _)| k == required),
            "docker-compose.yml does not set {required}"
        );
    }
    let settings = connector::configuration::Settings::from_parts(None, &env)
        .unwrap_or_else(|e| panic!("the compose settings do not load: {e}"));
    // The connector reaches the server's container port and its bundle endpoint.
    let server = service_env(&c, "disinfox-server");
    let listen = server
        .iter()
        .find(|(k, _)| k == "DISINFOX_LISTEN")
        .map(|(_, v)| v.clone())
        .expect("the server's DISINFOX_LISTEN");
    let port = listen.rsplit(':').next().unwrap_or_default();
    assert_eq!(
        settings.disinfox.url,
        format!("http://disinfox-server:{port}/api/v1/bundle")
    );
    // One secret serves both: the key the server provisions is the one the connector sends.
    let provisioned = server
        .iter()
        .find(|(k, _)| k == "DISINFOX_CONNECTOR_API_KEY")
        .map(|(_, v)| v.clone());
    assert_eq!(
        provisioned.as_deref(),
        Some(settings.disinfox.api_key.expose())
    );
}

#[test]
fn the_server_settings_and_commands_in_compose_are_known() {
    let c = compose();
    let env = service_env(&c, "disinfox-server");
    disinfox_server::configuration::Settings::load_from(None, &env)
        .unwrap_or_else(|e| panic!("the compose settings of the server do not load: {e}"));
    let known: BTreeSet<&str> = disinfox_server::configuration::KEYS
        .iter()
        .map(|(_, e, ..)| *e)
        .collect();
    for (k, _) in &env {
        assert!(
            known.contains(k.as_str()),
            "docker-compose.yml sets {k}, which the server does not know"
        );
    }
    let service = &c["services"]["disinfox-server"];
    let mut command = vec!["disinfox-server".to_owned()];
    command.extend(string_list(&service["command"]));
    disinfox_server::cli::Cli::try_parse_from(&command)
        .unwrap_or_else(|e| panic!("the server's compose command {command:?}: {e}"));
    let health = string_list(&service["healthcheck"]["test"]);
    assert_eq!(health.first().map(String::as_str), Some("CMD"));
    disinfox_server::cli::Cli::try_parse_from(&health[1..])
        .unwrap_or_else(|e| panic!("the server's health check {health:?}: {e}"));
}

#[test]
fn the_dockerfile_builds_both_binaries_into_two_non_root_targets() {
    for needle in [
        " AS server",
        " AS connector",
        "--bin disinfox-server",
        "--bin disinfox-connector",
        "--locked",
        "HEALTHCHECK",
        "VOLUME [\"/data\"]",
        "DISINFOX_DATA_DIR=/data",
    ] {
        assert!(DOCKERFILE.contains(needle), "Dockerfile lacks {needle:?}");
    }
    let users: Vec<&str> = DOCKERFILE
        .lines()
        .filter_map(|l| l.trim().strip_prefix("USER "))
        .collect();
    assert!(!users.is_empty() && users.iter().all(|u| *u != "root" && *u != "0"));
    // The binary the connector image runs is the one this crate builds.
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_disinfox-connector"));
    let name = exe.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    assert!(DOCKERFILE.contains(&format!("ENTRYPOINT [\"{name}\"]")));
    // The HEALTHCHECK command parses.
    let line = DOCKERFILE
        .lines()
        .find(|l| l.contains("CMD [\"disinfox-server\", \"health\"]"))
        .expect("the health check runs disinfox-server health");
    assert!(line.trim_start().starts_with("CMD"));
    disinfox_server::cli::Cli::try_parse_from(["disinfox-server", "health"]).unwrap();
}

/// `key = value` settings of rabbitmq.conf.
fn rabbitmq_conf(key: &str) -> Option<String> {
    RABBITMQ_CONF.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        (!l.trim_start().starts_with('#') && k.trim() == key).then(|| v.trim().to_owned())
    })
}

/// A setting of a service's environment, substituted.
fn env_value(c: &Value, service: &str, key: &str) -> Option<String> {
    service_env(c, service)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

/// What OpenCTI's own deployment of 6.8.10 needs around the platform: the broker's settings
/// mounted and its node name fixed, no replica shards on one Elasticsearch node, and the
/// connector's message limit equal to the broker's.
#[test]
fn the_broker_and_search_engine_are_set_up_as_opencti_deploys_them() {
    let c = compose();
    let rabbit = &c["services"]["rabbitmq"];
    let volumes = string_list(&rabbit["volumes"]);
    assert!(
        volumes
            .iter()
            .any(|v| v.starts_with("./rabbitmq.conf:/etc/rabbitmq/rabbitmq.conf")),
        "rabbitmq.conf is mounted: {volumes:?}"
    );
    assert_eq!(
        rabbit["environment"]["RABBITMQ_NODENAME"].as_str(),
        Some("rabbit01@localhost"),
        "a fixed node name keeps the queues of a recreated container"
    );
    let max = rabbitmq_conf("max_message_size").expect("max_message_size in rabbitmq.conf");
    assert_eq!(max, "536870912");
    assert_eq!(
        rabbitmq_conf("consumer_timeout").as_deref(),
        Some("86400000")
    );
    assert_eq!(
        env_value(&c, "disinfox-connector", "CONNECTOR_MAX_MESSAGE_SIZE").as_deref(),
        Some(max.as_str()),
        "the connector's message limit follows the broker's"
    );
    let es = string_list(&c["services"]["elasticsearch"]["environment"]);
    if es.iter().any(|e| e == "discovery.type=single-node") {
        assert_eq!(
            env_value(&c, "opencti", "ELASTICSEARCH__NUMBER_OF_REPLICAS").as_deref(),
            Some("0"),
            "one Elasticsearch node holds no replica shards (else the cluster stays yellow)"
        );
    }
}

/// Secrets are generated in a form that survives a URL: OpenCTI's health check sends
/// `OPENCTI_HEALTHCHECK_ACCESS_KEY` unencoded in its query string, where base64's `+` and `/`
/// break it and OpenCTI never turns healthy.
#[test]
fn example_env_advises_url_safe_secrets() {
    assert!(
        !EXAMPLE_ENV.contains("| base64"),
        "example.env advises base64 keys"
    );
    assert!(EXAMPLE_ENV.contains("-hex"), "example.env advises hex keys");
    let c = compose();
    let health = string_list(&c["services"]["opencti"]["healthcheck"]["test"]).join(" ");
    assert!(health.contains("${OPENCTI_HEALTHCHECK_ACCESS_KEY}"));
}

/// The server starts empty: `serve --demo` would push synthetic incidents into a real
/// OpenCTI through the connector. The demo is one commented line away.
#[test]
fn the_server_starts_empty_with_the_demo_one_line_away() {
    let c = compose();
    let command = string_list(&c["services"]["disinfox-server"]["command"]);
    assert_eq!(command, ["serve"]);
    assert!(COMPOSE.contains("# command: [\"serve\", \"--demo\"]"));
}

const PROXY_CONF: &str = include_str!("../../../deploy/nginx-replicas.conf");

/// The `replicas` profile: PostgreSQL with a volume and a health check, a second server
/// with exactly the first one's settings and command, and the proxy in front of both, at
/// the one address the servers trust to name clients; example.env's PostgreSQL URL for it
/// loads as the server's database.
#[test]
fn the_replicas_profile_runs_two_servers_on_postgresql_behind_a_proxy() {
    let c = compose();
    let services = &c["services"];
    for s in ["postgres", "disinfox-server-2", "disinfox-proxy"] {
        assert_eq!(
            string_list(&services[s]["profiles"]),
            ["replicas"],
            "{s} is opt-in"
        );
        assert!(
            services[s].get("healthcheck").is_some(),
            "{s} has no healthcheck"
        );
    }
    assert!(services["disinfox-server"].get("profiles").is_none());
    let pg = &services["postgres"];
    assert!(pg["image"]
        .as_str()
        .unwrap_or_default()
        .starts_with("postgres:15"));
    assert!(string_list(&pg["volumes"])
        .iter()
        .any(|v| v.ends_with(":/var/lib/postgresql/data")));
    let (one, two) = (
        service_env(&c, "disinfox-server"),
        service_env(&c, "disinfox-server-2"),
    );
    assert_eq!(one, two, "the replicas have the same settings");
    assert_eq!(
        services["disinfox-server"]["command"],
        services["disinfox-server-2"]["command"]
    );
    // The proxy balances both, on the port they listen on.
    let listen = one
        .iter()
        .find(|(k, _)| k == "DISINFOX_LISTEN")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let port = listen.rsplit(':').next().unwrap_or_default();
    for s in ["disinfox-server", "disinfox-server-2"] {
        assert!(
            PROXY_CONF.contains(&format!("server {s}:{port} ")),
            "the proxy does not name {s}:{port}"
        );
    }
    let mount = string_list(&services["disinfox-proxy"]["volumes"]);
    assert!(mount
        .iter()
        .any(|v| v.starts_with("./deploy/nginx-replicas.conf:")));
    let proxy_ip = services["disinfox-proxy"]["networks"]["proxied"]["ipv4_address"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let trusted = one
        .iter()
        .find(|(k, _)| k == "DISINFOX_TRUSTED_PROXIES")
        .map(|(_, v)| v.clone());
    assert_eq!(
        trusted.as_deref(),
        Some(proxy_ip.as_str()),
        "the servers trust the proxy"
    );
    // example.env's URL for the profile, with the password, is a database URL the server takes.
    let url = EXAMPLE_ENV
        .lines()
        .find_map(|l| {
            l.trim_start_matches(['#', ' '])
                .strip_prefix("DISINFOX_DATABASE_URL=postgres://")
        })
        .expect("example.env shows the PostgreSQL URL of the replicas profile");
    let url = format!(
        "postgres://{}",
        url.replace("<POSTGRES_PASSWORD>", "0123abcd")
    );
    assert!(url.contains("@postgres:5432/disinfox"), "{url}");
    let mut env: Vec<(String, String)> = one
        .into_iter()
        .filter(|(k, _)| k != "DISINFOX_DATABASE_URL")
        .collect();
    env.push(("DISINFOX_DATABASE_URL".into(), url.clone()));
    let settings = disinfox_server::configuration::Settings::load_from(None, &env)
        .unwrap_or_else(|e| panic!("the replicas' settings do not load: {e}"));
    assert_eq!(settings.database_url, url);
}
