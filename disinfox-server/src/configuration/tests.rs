use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn defaults_and_overrides() {
    let s = Settings::load_from(None, &[]).unwrap();
    assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
    assert!(s.database_url.ends_with("disinfox.db"));
    let s = Settings::load_from(
        None,
        &env(&[
            ("DISINFOX_LISTEN", "0.0.0.0:9000"),
            ("DISINFOX_TLP", "amber"),
        ]),
    )
    .unwrap();
    assert_eq!(s.listen.port(), 9000);
    assert_eq!(s.tlp, Tlp::Amber);
    assert_eq!(s.registration, Registration::Closed);
    assert!(!s.public_read && s.trusted_proxies.is_empty());
    assert_eq!((s.max_keys_per_user, s.password_hash_concurrency), (10, 2));
    let dir = std::env::temp_dir().join(format!("dfx-settings-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("s.toml");
    std::fs::write(
        &file,
        "trusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\"]\nregistration = \"approval\"\npublic_read = true\nmax_keys_per_user = 3\n",
    )
    .unwrap();
    let s = Settings::load_from(Some(&file), &[]).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(s.trusted_proxies.len(), 2);
    assert_eq!(s.registration, Registration::Approval);
    assert!(s.public_read);
    assert_eq!(s.max_keys_per_user, 3);
}

#[test]
fn the_readme_documents_every_setting_and_no_other() {
    let readme = include_str!("../../../README.md");
    for (key, env, default, _) in KEYS {
        let default = if default.is_empty() {
            String::new()
        } else {
            format!("`{default}`")
        };
        let row = format!("| `{key}` | `{env}` | {default} |");
        assert!(readme.contains(&row), "README.md lacks the row {row}");
    }
    let documented = readme.matches("` | `DISINFOX_").count();
    assert_eq!(
        documented,
        KEYS.len(),
        "README.md documents a setting the code does not know"
    );
}

#[test]
fn bad_values_name_the_key() {
    for (k, v, want) in [
        (
            "DISINFOX_LISTEN",
            "localhost",
            "DISINFOX_LISTEN: \"localhost\" is not an address",
        ),
        (
            "DISINFOX_TLP",
            "purple",
            "DISINFOX_TLP: \"purple\" is not a TLP level",
        ),
        (
            "DISINFOX_BODY_LIMIT_BYTES",
            "ten",
            "DISINFOX_BODY_LIMIT_BYTES: \"ten\" is not a whole number",
        ),
        ("DISINFOX_LOG_FORMAT", "xml", "DISINFOX_LOG_FORMAT"),
        (
            "DISINFOX_DATABASE_URL",
            "mysql://x",
            "DISINFOX_DATABASE_URL",
        ),
        ("DISINFOX_DISARM_VERSION", "2.0", "DISINFOX_DISARM_VERSION"),
        ("DISINFOX_LISTN", "x", "DISINFOX_LISTN: unknown setting"),
        (
            "DISINFOX_CONNECTOR_API_KEY",
            "short",
            "DISINFOX_CONNECTOR_API_KEY: must be at least 32 characters",
        ),
        (
            "DISINFOX_TRUSTED_PROXIES",
            "10.0.0.1, proxy.local",
            "DISINFOX_TRUSTED_PROXIES: \"proxy.local\" is not an IP address or CIDR range",
        ),
        (
            "DISINFOX_REGISTRATION",
            "yes",
            "DISINFOX_REGISTRATION: \"yes\" is not a registration mode",
        ),
        (
            "DISINFOX_PUBLIC_READ",
            "1",
            "DISINFOX_PUBLIC_READ: \"1\" is not true or false",
        ),
        (
            "DISINFOX_MAX_KEYS_PER_USER",
            "0",
            "DISINFOX_MAX_KEYS_PER_USER: \"0\" is not a whole number of at least 1",
        ),
        (
            "DISINFOX_PASSWORD_HASH_CONCURRENCY",
            "1000",
            "DISINFOX_PASSWORD_HASH_CONCURRENCY: 1000 is too large",
        ),
    ] {
        let e = Settings::load_from(None, &env(&[(k, v)]))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with(want), "{k}={v}: {e}");
    }
}

/// Writes a settings file in a fresh directory; the directory is removed by the caller.
fn settings_file(name: &str, text: &str) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("dfx-settings-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("s.toml");
    std::fs::write(&file, text).unwrap();
    (dir, file)
}

#[test]
fn the_environment_wins_over_the_file_and_errors_name_who_set_the_value() {
    let (dir, file) = settings_file(
        "layers",
        "listen = \"0.0.0.0:7000\"\norganization = \"From the file\"\nmax_keys_per_user = 20000\n",
    );
    let e = Settings::load_from(Some(&file), &[])
        .unwrap_err()
        .to_string();
    assert_eq!(e, "max_keys_per_user: 20000 is too large; at most 10000");
    let s = Settings::load_from(
        Some(&file),
        &env(&[
            ("DISINFOX_LISTEN", "127.0.0.1:7001"),
            ("DISINFOX_MAX_KEYS_PER_USER", "4"),
        ]),
    )
    .unwrap();
    assert_eq!(s.listen.port(), 7001);
    assert_eq!(s.organization, "From the file");
    assert_eq!(s.max_keys_per_user, 4);
    let e = Settings::load_from(
        Some(&file),
        &env(&[("DISINFOX_MAX_KEYS_PER_USER", "20000")]),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("DISINFOX_MAX_KEYS_PER_USER: 20000 is too large"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_file_is_strict() {
    for (text, want) in [
        ("lisen = \"x\"\n", "\"lisen\" is not a setting"),
        ("listen = 8080\n", "listen: expected a string"),
        ("[listen]\nport = 1\n", "listen: expected a string"),
        (
            "max_keys_per_user = [1]\n",
            "max_keys_per_user: expected a single value",
        ),
        (
            "trusted_proxies = [1]\n",
            "trusted_proxies: expected a string or a list of strings",
        ),
        ("listen = \n", "is not a valid settings file"),
    ] {
        let (dir, file) = settings_file("strict", text);
        let e = Settings::load_from(Some(&file), &[])
            .unwrap_err()
            .to_string();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(e.starts_with("--config: "), "{text:?}: {e}");
        assert!(e.contains(want), "{text:?}: {e}");
        assert!(!e.contains('\n'), "{text:?}: one line: {e}");
    }
}

#[test]
fn secrets_do_not_print() {
    let key = "k".repeat(40);
    let s =
        Settings::load_from(None, &env(&[("DISINFOX_CONNECTOR_API_KEY", key.as_str())])).unwrap();
    assert_eq!(
        s.connector_api_key.as_ref().map(Secret::expose),
        Some(key.as_str())
    );
    let shown = format!("{s:?}");
    assert!(!shown.contains(&key), "{shown}");
    assert!(
        shown.contains("connector_api_key: Some(\"***\")"),
        "{shown}"
    );
}
