//! `opencti-standin`: the OpenCTI stand-in ([`opencti_standin`]) as a process, for local
//! demos and the benchmark. Prints its URL and token, serves until SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::process::ExitCode;

use opencti_standin::{StandIn, StandInOptions};

const USAGE: &str = "usage: opencti-standin [--listen ADDR] [--token T] [--version V] \
[--amqp-url amqp://user:pass@host:port/vhost] [--queue-prefix P] [--no-payloads] [--max-body-bytes N]
  --listen        address to serve on (default 127.0.0.1:4000)
  --token         the bearer token to accept (default a fixed demo token, printed)
  --version       the platform version about { version } answers (default 6.8.10)
  --amqp-url      a RabbitMQ broker: assert the queues and consume the push queues
  --queue-prefix  OpenCTI's rabbitmq:queue_prefix (default none)
  --no-payloads   do not keep bundles and long variables (objects are kept): for long runs
  --max-body-bytes  the largest request accepted (default 52428800, OpenCTI's 50 MB)";

fn parse(args: impl IntoIterator<Item = String>) -> Result<Option<StandInOptions>, String> {
    let mut o = StandInOptions {
        listen: SocketAddr::from(([127, 0, 0, 1], 4000)),
        ..StandInOptions::default()
    };
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--help" | "-h" => return Ok(None),
            "--no-payloads" => {
                o.keep_payloads = false;
                continue;
            }
            _ => {}
        }
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--listen" => {
                let v = value()?;
                o.listen = v.parse().map_err(|_| {
                    format!("--listen: {v:?} is not an address, e.g. 127.0.0.1:4000")
                })?;
            }
            "--token" => o.token = value()?,
            "--version" => o.version = value()?,
            "--amqp-url" => o.amqp_url = Some(value()?),
            "--queue-prefix" => o.queue_prefix = value()?,
            "--max-body-bytes" => {
                let v = value()?;
                o.max_body_bytes = v.parse().map_err(|_| {
                    format!("--max-body-bytes: {v:?} is not a number of bytes, e.g. 52428800")
                })?;
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if o.token.trim().is_empty() {
        return Err("--token: the token is empty".into());
    }
    Ok(Some(o))
}

#[tokio::main]
async fn main() -> ExitCode {
    let options = match parse(std::env::args().skip(1)) {
        Ok(Some(o)) => o,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("error: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let handle = match StandIn::start(options.clone()).await {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    println!("OpenCTI stand-in {} listening", handle.version());
    println!("OPENCTI_URL={}", handle.url());
    println!("OPENCTI_TOKEN={}", handle.token());
    if let Some(url) = &options.amqp_url {
        println!("broker: {}", redact(url));
    }
    println!("control: {}/standin/summary", handle.url());
    wait_for_signal().await;
    handle.shutdown().await;
    ExitCode::SUCCESS
}

/// The URL without its password.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..s + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flags() {
        let o = parse(args(&[
            "--listen",
            "127.0.0.1:0",
            "--token",
            "t",
            "--version",
            "7.260807.0",
            "--queue-prefix",
            "p",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(o.listen.port(), 0);
        assert_eq!(
            (
                o.token.as_str(),
                o.version.as_str(),
                o.queue_prefix.as_str()
            ),
            ("t", "7.260807.0", "p")
        );
        assert_eq!(parse(args(&[])).unwrap().unwrap().listen.port(), 4000);
        assert!(parse(args(&["--listen", "nowhere"]))
            .unwrap_err()
            .contains("--listen"));
        assert!(parse(args(&["--token"]))
            .unwrap_err()
            .contains("needs a value"));
        assert!(parse(args(&["--bogus"])).is_err());
        assert!(parse(args(&["--help"])).unwrap().is_none());
        assert!(
            !parse(args(&["--no-payloads"]))
                .unwrap()
                .unwrap()
                .keep_payloads
        );
        let limit = |a: &[&str]| parse(args(a)).map(|o| o.unwrap().max_body_bytes);
        assert_eq!(limit(&[]), Ok(50 * 1024 * 1024));
        assert_eq!(limit(&["--max-body-bytes", "268435456"]), Ok(268_435_456));
        assert!(limit(&["--max-body-bytes", "lots"])
            .unwrap_err()
            .contains("--max-body-bytes"));
    }

    #[test]
    fn passwords_are_not_printed() {
        assert_eq!(
            redact("amqp://guest:secret@h:5672/%2f"),
            "amqp://guest:***@h:5672/%2f"
        );
        assert_eq!(redact("amqp://h:5672"), "amqp://h:5672");
    }
}
