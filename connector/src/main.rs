use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut config: Option<PathBuf> = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--config" => config = args.next().map(PathBuf::from),
            "--version" => {
                println!("disinfox-connector {}", env!("CARGO_PKG_VERSION"));
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
    match connector::configuration::Settings::load(config.as_deref()) {
        Ok(s) => {
            eprintln!(
                "configuration valid: connector {} ({}), period {} s; the run loop is not implemented yet",
                s.name,
                s.connector_id,
                s.period.as_secs()
            );
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}
