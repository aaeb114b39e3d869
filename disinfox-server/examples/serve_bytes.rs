//! The anchor of the poll row of bench/server.sh: serves one file's bytes, read once at start,
//! to every GET, with the same HTTP stack as the server (axum on tokio), so that the row
//! compares the server's answer with the cost of sending the same bytes precomputed.
//!
//! ```text
//! cargo run --release -p disinfox-server --example serve_bytes -- FILE 127.0.0.1:PORT
//! ```

use std::process::ExitCode;

use axum::body::Bytes;
use axum::http::header;
use axum::routing::get;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(file), Some(addr)) = (args.first(), args.get(1)) else {
        eprintln!("usage: serve_bytes FILE ADDRESS");
        return ExitCode::from(2);
    };
    match run(file, addr).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(file: &str, addr: &str) -> anyhow::Result<()> {
    let body = Bytes::from(std::fs::read(file)?);
    let app = axum::Router::new().fallback(get(move || {
        let body = body.clone();
        async move { ([(header::CONTENT_TYPE, "application/json")], body) }
    }));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
