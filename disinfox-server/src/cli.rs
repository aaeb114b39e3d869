//! The command line: `serve`, `user add`, `apikey create|list|revoke`, `import`, `export`,
//! `backup`, `db copy`, `demo`, `health`.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::auth::{KeyMaterial, Scope};
use crate::configuration::Settings;
use crate::error::ApiError;
use crate::ops::{self, By};
use crate::startup::Application;
use crate::state::AppState;

/// DISINFOX server: disinformation incidents as STIX 2.1.
#[derive(Debug, Parser)]
#[command(name = "disinfox-server", version, about)]
pub struct Cli {
    /// Settings file (TOML); DISINFOX_* environment variables override it.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Runs the server.
    Serve {
        /// On an empty database: load the demo incidents, create an admin and print a login
        /// and a read API key.
        #[arg(long)]
        demo: bool,
    },
    /// Manages users.
    User {
        /// What to do.
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manages API keys.
    Apikey {
        /// What to do.
        #[command(subcommand)]
        command: ApikeyCommand,
    },
    /// Imports a STIX bundle (.json) or a DISINFOX bulk CSV file (.csv).
    Import {
        /// The file.
        file: PathBuf,
        /// Record the changes as made by this user.
        #[arg(long)]
        user: Option<String>,
    },
    /// Writes a STIX bundle of every incident.
    Export {
        /// Output file (default: standard output).
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Writes a consistent copy of the database to FILE, safe while the server runs (SQLite
    /// online copy: VACUUM INTO); `serve` starts from such a copy.
    Backup {
        /// The copy to write.
        file: PathBuf,
        /// Replace FILE if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Database operations.
    Db {
        /// What to do.
        #[command(subcommand)]
        command: DbCommand,
    },
    /// Loads the demo incidents into an empty database and prints demo accounts.
    Demo,
    /// Checks that the server answers `GET /health` (exit 0) or not (exit 1): the container
    /// health check.
    Health {
        /// The server's base URL (default: the configured listen address).
        #[arg(long)]
        url: Option<String>,
    },
}

/// `db` subcommands.
#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Copies everything of a SQLite database into an empty PostgreSQL database, ids and
    /// change-log and TAXII positions kept, so connectors and TAXII clients continue where they
    /// were (stop the server first). Refuses a target that holds data.
    Copy {
        /// The SQLite database (sqlite://FILE).
        #[arg(long, value_name = "URL")]
        from: String,
        /// The PostgreSQL database (postgres://USER:PASSWORD@HOST:PORT/NAME), created and empty.
        #[arg(long, value_name = "URL")]
        to: String,
    },
}

/// `user` subcommands.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Adds a user. The password is read from standard input when it is not a terminal,
    /// else generated and printed once.
    Add {
        /// E-mail address (the login).
        #[arg(long)]
        email: String,
        /// admin, analyst or reader.
        #[arg(long)]
        role: String,
    },
}

/// `apikey` subcommands.
#[derive(Debug, Subcommand)]
pub enum ApikeyCommand {
    /// Creates a key and prints only the key.
    Create {
        /// The owner's e-mail.
        #[arg(long)]
        user: String,
        /// read or write.
        #[arg(long, default_value = "read")]
        scope: String,
        /// A name to recognise the key.
        #[arg(long, default_value = "")]
        name: String,
    },
    /// Lists keys (never the keys themselves).
    List {
        /// Only this user's keys.
        #[arg(long)]
        user: Option<String>,
    },
    /// Revokes a key by id.
    Revoke {
        /// The key id (from `apikey list`).
        id: i64,
    },
}

/// Runs the command line; exit code 2 for configuration and usage errors, 1 for failures.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    crate::telemetry::init(settings.log_format, &settings.log_level);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli.command, settings)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `GET <base>/health` over plain HTTP/1.1 with a 5-second limit; `Ok` on a 200.
async fn health(base: &str) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = base
        .strip_prefix("http://")
        .context("only http:// URLs can be checked")?;
    let host = rest.split('/').next().unwrap_or(rest);
    let check = async {
        let mut stream = tokio::net::TcpStream::connect(host)
            .await
            .with_context(|| format!("connecting to {host}"))?;
        stream
            .write_all(
                format!("GET /health HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .await?;
        let mut head = vec![0u8; 64];
        let n = stream.read(&mut head).await?;
        let line = String::from_utf8_lossy(&head[..n]);
        let status = line.split_whitespace().nth(1).unwrap_or("");
        anyhow::ensure!(status == "200", "GET /health answered {status:?}");
        Ok(())
    };
    tokio::time::timeout(std::time::Duration::from_secs(5), check)
        .await
        .context("no answer within 5 s")?
}

async fn state_only(settings: Settings) -> anyhow::Result<AppState> {
    let store = crate::bundle::open_store(&settings).await?;
    AppState::new(store, settings)
}

fn usage(msg: impl std::fmt::Display) -> anyhow::Result<ExitCode> {
    eprintln!("error: {msg}");
    Ok(ExitCode::from(2))
}

/// Who the commands act as, in the audit log.
const OPERATOR: By<'static> = By::Operator("command line");

/// An operation's refusal (a bad value, a conflict, a rule) as a usage error (exit 2) naming
/// what was wrong; a failure of the server (exit 1) otherwise.
fn refused(e: ApiError) -> anyhow::Result<ExitCode> {
    match e {
        ApiError::Internal(e) => Err(e),
        ApiError::Invalid { fields, .. } if !fields.is_empty() => usage(
            fields
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join("; "),
        ),
        other => usage(other),
    }
}

async fn run(command: Command, settings: Settings) -> anyhow::Result<ExitCode> {
    match command {
        Command::Health { url } => {
            let target = match url {
                Some(u) => u,
                None => {
                    let mut addr = settings.listen;
                    if addr.ip().is_unspecified() {
                        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
                    }
                    format!("http://{addr}")
                }
            };
            match health(&target).await {
                Ok(()) => {
                    println!("ok");
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("unhealthy: {e}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::Serve { demo } => {
            let app = Application::build(settings).await?;
            let url = format!("http://{}:{}", app.state().settings.listen.ip(), app.port());
            if demo {
                demo_accounts(app.state(), &url).await?;
            } else {
                println!("DISINFOX server listening on {url}");
            }
            tracing::info!(%url, "listening");
            app.run_until_stopped(crate::startup::shutdown_signal())
                .await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Backup { file, force } => {
            if crate::db::is_postgres_url(&settings.database_url) {
                return usage(crate::db::backup::pg_dump_advice(
                    &settings.database_url,
                    &file,
                ));
            }
            match crate::db::backup::backup(&settings.database_url, &file, force).await {
                Ok(b) => {
                    eprintln!(
                        "backed up {} to {}: {} incidents, change log at {}, {} bytes",
                        settings.database_url,
                        file.display(),
                        b.incidents,
                        b.last_change,
                        b.bytes
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) if file.exists() && !force => usage(format!("{e:#}")),
                Err(e) => Err(e),
            }
        }
        Command::Db {
            command: DbCommand::Copy { from, to },
        } => {
            let report = crate::db::copy::copy(&from, &to).await?;
            for (table, rows) in &report.tables {
                println!("{table:<24} {rows:>10}");
            }
            eprintln!(
                "copied {} rows from {from} to PostgreSQL; start the server with DISINFOX_DATABASE_URL set to the target",
                report.total()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo => {
            let state = state_only(settings).await?;
            let url = state.settings.public_url.clone();
            demo_accounts(&state, &url).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::User {
            command: UserCommand::Add { email, role },
        } => {
            let state = state_only(settings).await?;
            let stdin = std::io::stdin();
            let password = if stdin.is_terminal() {
                None
            } else {
                let mut line = String::new();
                stdin
                    .lock()
                    .read_line(&mut line)
                    .context("reading the password from standard input")?;
                Some(line.trim_end_matches(['\n', '\r']).to_owned()).filter(|p| !p.is_empty())
            };
            match ops::add_user(&state, OPERATOR, &email, &role, password).await {
                Ok((u, generated)) => {
                    eprintln!(
                        "created user {} ({}) with id {}",
                        u.email,
                        u.role.as_str(),
                        u.id
                    );
                    if let Some(password) = generated {
                        println!("{password}");
                        eprintln!("(generated password, shown once)");
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => refused(e),
            }
        }
        Command::Apikey { command } => {
            let state = state_only(settings).await?;
            match command {
                ApikeyCommand::Create { user, scope, name } => {
                    let Some((u, _)) = state.store.user_by_email(&user).await? else {
                        return usage(format!("--user: no user {user}"));
                    };
                    let Some(scope) = Scope::parse(&scope) else {
                        return usage(format!("--scope: {scope:?} is not read or write"));
                    };
                    let key = KeyMaterial::generate()?;
                    let max = Some(state.settings.max_keys_per_user);
                    match ops::issue_key(&state.store, OPERATOR, &u, &name, scope, &key, max).await
                    {
                        Ok(_) => {
                            println!("{}", key.secret);
                            Ok(ExitCode::SUCCESS)
                        }
                        Err(e) => refused(e),
                    }
                }
                ApikeyCommand::List { user } => {
                    let uid = match user {
                        Some(e) => match state.store.user_by_email(&e).await? {
                            Some((u, _)) => Some(u.id),
                            None => return usage(format!("--user: no user {e}")),
                        },
                        None => None,
                    };
                    let users = state.store.users().await?;
                    println!(
                        "{:>4}  {:<28} {:<6} {:<14} {:<24} {:<24} revoked",
                        "id", "user", "scope", "prefix", "created", "last used"
                    );
                    for k in state.store.api_keys(uid).await? {
                        let email = users
                            .iter()
                            .find(|u| u.id == k.user_id)
                            .map_or("?", |u| u.email.as_str());
                        println!(
                            "{:>4}  {:<28} {:<6} {:<14} {:<24} {:<24} {}",
                            k.id,
                            email,
                            k.scope,
                            k.prefix,
                            k.created_at,
                            k.last_used_at.as_deref().unwrap_or("-"),
                            k.revoked_at.as_deref().unwrap_or("-")
                        );
                    }
                    Ok(ExitCode::SUCCESS)
                }
                ApikeyCommand::Revoke { id } => {
                    match ops::keys::revoke(&state.store, OPERATOR, id, None).await {
                        Ok(()) => {
                            eprintln!("revoked key {id}");
                            Ok(ExitCode::SUCCESS)
                        }
                        Err(e) => refused(e),
                    }
                }
            }
        }
        Command::Import { file, user } => {
            let state = state_only(settings).await?;
            let uid = match user {
                Some(e) => match state.store.user_by_email(&e).await? {
                    Some((u, _)) => Some(u.id),
                    None => return usage(format!("--user: no user {e}")),
                },
                None => None,
            };
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let format = crate::import::Format::of_file(&file.to_string_lossy(), &bytes);
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} incidents {elapsed}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            if bytes.len() < 256 * 1024 || !std::io::stderr().is_terminal() {
                bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
            }
            tracing::info!(target: "audit", event = "import.started", file = %file.display(), format = format.as_str(), user = ?uid, "command-line import");
            let report =
                crate::import::run_inline(&state, format, bytes, uid, &mut |done, total| {
                    bar.set_length(total as u64);
                    bar.set_position(done as u64);
                })
                .await;
            bar.finish_and_clear();
            let report = report.map_err(|e| anyhow::anyhow!("{e}"))?;
            for r in &report.rejected {
                eprintln!(
                    "rejected {}{}: {}",
                    r.r#ref,
                    r.name
                        .as_deref()
                        .map(|n| format!(" ({n})"))
                        .unwrap_or_default(),
                    r.errors.join("; ")
                );
            }
            for w in &report.warnings {
                eprintln!("warning: {w}");
            }
            println!(
                "created {}, updated {}, unchanged {}, rejected {}",
                report.created.len(),
                report.updated.len(),
                report.unchanged,
                report.rejected.len()
            );
            tracing::info!(
                target: "audit",
                event = "import.finished",
                file = %file.display(),
                user = ?uid,
                created = report.created.len(),
                updated = report.updated.len(),
                unchanged = report.unchanged,
                rejected = report.rejected.len(),
                "command-line import"
            );
            Ok(if report.rejected.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Export { output } => {
            let state = state_only(settings).await?;
            let mut out: Box<dyn Write> = match &output {
                Some(p) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(p)
                        .with_context(|| format!("creating {}", p.display()))?,
                )),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            let opts = crate::bundle::options(&state.settings, false)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let n = crate::bundle::export::write_all(&state.store, opts, &mut out).await?;
            out.flush()?;
            eprintln!("exported {n} incidents");
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn demo_accounts(state: &AppState, url: &str) -> anyhow::Result<()> {
    let added = crate::demo::seed(state, crate::demo::DEMO_INCIDENTS).await?;
    let accounts = crate::demo::accounts(state).await?;
    let (live, _) = state.store.incident_counts().await?;
    let secret = &accounts.read_key;
    println!("DISINFOX demo: {live} incidents ({added} added now)");
    println!("  URL:          {url}");
    println!("  admin login:  {}", accounts.admin_login);
    println!("  read API key: {secret}");
    println!(
        "  try:          curl -H 'Authorization: Bearer {secret}' '{url}/api/v1/bundle?limit=5'"
    );
    Ok(())
}
