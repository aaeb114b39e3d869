use std::path::PathBuf;
use std::process::ExitCode;

use connector::logging;
use tokio_util::sync::CancellationToken;
use tracing::level_filters::LevelFilter;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut config: Option<PathBuf> = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--config" => match args.next() {
                Some(p) => config = Some(PathBuf::from(p)),
                None => {
                    eprintln!("error: --config needs a file name");
                    return ExitCode::from(2);
                }
            },
            "--version" => {
                println!("disinfox-connector {}", env!("CARGO_PKG_VERSION"));
                return ExitCode::SUCCESS;
            }
            "--help" | "-h" => {
                println!("disinfox-connector [--config FILE]\n\nPulls incidents from a disinfox-server and pushes them into OpenCTI.\nSettings: config.yml (or --config FILE), overridden by environment variables;\nsee config.yml.sample and the README's configuration reference.");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!(
                    "error: unknown argument {other:?}; usage: disinfox-connector [--config FILE]"
                );
                return ExitCode::from(2);
            }
        }
    }
    let settings = match connector::configuration::Settings::load(config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    logging::init(
        logging::parse_level(&settings.connector.log_level).unwrap_or(LevelFilter::INFO),
        settings.opencti.json_logging,
        &settings.connector.name,
    );
    // One thread is plenty for a connector that mostly waits on the network, and it keeps
    // memory low (one allocator arena instead of one per worker thread).
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(async move {
        let stop = CancellationToken::new();
        let signals = stop.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("Stop signal received; finishing the page in flight is not awaited, the work is closed");
            signals.cancel();
        });
        match connector::run(settings, stop).await {
            Ok(()) | Err(connector::worker::StartError::Stopped) => ExitCode::SUCCESS,
            Err(e @ connector::worker::StartError::RunFailed(_)) => {
                tracing::error!(exc_info = %logging::chain(&e), "Run and terminate: the run failed");
                ExitCode::from(1)
            }
            Err(e) => {
                tracing::error!(exc_info = %logging::chain(&e), "The connector cannot start");
                ExitCode::from(1)
            }
        }
    })
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
