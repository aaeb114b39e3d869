//! The command line's `user add`, `apikey create` and `apikey revoke` go through the same
//! operations as the API and the pages: the same checks (e-mail, role, password, a reader's
//! scope, the cap of live keys per user) and the same audit log.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use disinfox_server::db::audit::AuditFilter;
use disinfox_server::db::Store;

use crate::support::{Binary, TestDb};

/// Runs the binary on `db` with `args`, `stdin` as its standard input.
fn run(db: &str, args: &[&str], stdin: &str, extra: &[(&str, &str)]) -> Output {
    let mut c: Command = Binary::command(db);
    for (k, v) in extra {
        c.env(k, v);
    }
    let mut child = c
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test]
async fn user_add_and_apikey_create_apply_the_rules_of_the_api() {
    let test_db = TestDb::new("cli.db").await;
    let db = test_db.url.clone();
    let pw = "long enough password\n";
    let ok = run(
        &db,
        &[
            "user",
            "add",
            "--email",
            "r@example.org",
            "--role",
            "reader",
        ],
        pw,
        &[],
    );
    assert!(ok.status.success(), "{}", stderr(&ok));
    for (args, stdin, want) in [
        (
            vec![
                "user",
                "add",
                "--email",
                "not-an-address",
                "--role",
                "reader",
            ],
            pw,
            "email is not an e-mail address",
        ),
        (
            vec!["user", "add", "--email", "x@example.org", "--role", "boss"],
            pw,
            "role must be admin, analyst or reader",
        ),
        (
            vec![
                "user",
                "add",
                "--email",
                "x@example.org",
                "--role",
                "reader",
            ],
            "short\n",
            "password must be at least 12 characters",
        ),
        (
            vec![
                "user",
                "add",
                "--email",
                "r@example.org",
                "--role",
                "reader",
            ],
            pw,
            "exists already",
        ),
        (
            vec![
                "apikey",
                "create",
                "--user",
                "r@example.org",
                "--scope",
                "write",
            ],
            "",
            "readers can only create read keys",
        ),
        (
            vec![
                "apikey",
                "create",
                "--user",
                "r@example.org",
                "--scope",
                "admin",
            ],
            "",
            "is not read or write",
        ),
    ] {
        let o = run(&db, &args, stdin, &[]);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{args:?}: {}", stderr(&o));
    }
    // The cap of live keys per user holds on the command line too.
    let cap = [("DISINFOX_MAX_KEYS_PER_USER", "2")];
    let create = ["apikey", "create", "--user", "r@example.org", "--name", "k"];
    let mut keys = Vec::new();
    for _ in 0..2 {
        let o = run(&db, &create, "", &cap);
        assert!(o.status.success(), "{}", stderr(&o));
        let key = String::from_utf8(o.stdout).unwrap().trim().to_owned();
        assert!(key.starts_with("dfx_") && key.len() == 47, "{key}");
        keys.push(key);
    }
    let over = run(&db, &create, "", &cap);
    assert_eq!(over.status.code(), Some(2));
    assert!(stderr(&over).contains("r@example.org holds 2 live API keys, the most allowed"));
    let revoke = run(&db, &["apikey", "revoke", "1"], "", &[]);
    assert!(revoke.status.success(), "{}", stderr(&revoke));
    assert!(
        run(&db, &create, "", &cap).status.success(),
        "a place was freed"
    );
    assert_eq!(
        run(&db, &["apikey", "revoke", "1"], "", &[]).status.code(),
        Some(2)
    );

    // Every change is in the audit log, by the operator, and the keys are stored with the
    // one prefix length.
    let store = Store::connect(&db).await.unwrap();
    let (entries, _) = store
        .audit_entries(&AuditFilter::default(), 0, 100)
        .await
        .unwrap();
    let kinds: Vec<(&str, &str)> = entries
        .iter()
        .rev()
        .map(|e| (e.kind.as_str(), e.actor.as_str()))
        .collect();
    let op = "operator (command line)";
    assert_eq!(
        kinds,
        [
            ("user-created", op),
            ("key-created", op),
            ("key-created", op),
            ("key-revoked", op),
            ("key-created", op),
        ]
    );
    let stored = store.api_keys(None).await.unwrap();
    assert_eq!(stored.len(), 3);
    for (k, secret) in stored.iter().zip(&keys) {
        assert_eq!(k.prefix, secret[..disinfox_server::auth::SHOWN_PREFIX]);
    }
    store.close().await;
}

/// `backup` copies SQLite files; on a PostgreSQL URL it writes nothing and tells the operator
/// the `pg_dump` command to use instead (without the password), exit code 2. So does `db copy`
/// with its URLs the wrong way round.
#[tokio::test]
async fn backup_on_postgresql_points_to_pg_dump() {
    let dir = crate::support::TempDir::new();
    let file = dir.0.join("b.dump");
    let url = "postgres://disinfox:s3cret-pw@db.invalid:5432/disinfox";
    let o = run(url, &["backup", file.to_str().unwrap()], "", &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "pg_dump --format=custom --file={} 'postgres://disinfox:***@db.invalid:5432/disinfox'",
            file.display()
        )),
        "{err}"
    );
    assert!(err.contains("pg_restore"), "{err}");
    assert!(!err.contains("s3cret-pw"), "{err}");
    assert!(!file.exists());

    let sqlite = format!("sqlite://{}", dir.0.join("a.db").display());
    let o = run(
        &sqlite,
        &["db", "copy", "--from", url, "--to", &sqlite],
        "",
        &[],
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("--from must be a SQLite database"),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("s3cret-pw"), "{}", stderr(&o));
    let o = run(
        &sqlite,
        &["db", "copy", "--from", &sqlite, "--to", &sqlite],
        "",
        &[],
    );
    assert!(
        stderr(&o).contains("--to must be a PostgreSQL database"),
        "{}",
        stderr(&o)
    );
    assert!(!dir.0.join("a.db").exists(), "nothing created");
}
