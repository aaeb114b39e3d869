//! The load of bench/abuse.sh against a running server: hostile clients, and what a real
//! user sees meanwhile (the figures of issue 12's H1 and H2).
//!
//! ```text
//! cargo run --release -p disinfox-server --example abuse -- BASE_URL SERVER_PID ADMIN_EMAIL ADMIN_PASSWORD WRITE_KEY
//! ```
//!
//! The server must trust 127.0.0.1 as a reverse proxy (`DISINFOX_TRUSTED_PROXIES=127.0.0.1`),
//! so that requests can say which client they come from in `X-Forwarded-For`:
//!
//! 1. sign-in flood from one address: 128 clients in parallel send bad sign-ins with random
//!    e-mails from one attacker address for 20 s, while a real user who has signed in before
//!    signs in again from their address every 100 ms, and a newcomer from a new address every
//!    500 ms; then 10 s of quiet;
//! 2. the same flood from a new random address per request (a botnet: no per-address limit
//!    applies, only the hashing cap);
//! 3. a body with 100,000 actors (1.3 MB) sent to `POST /api/v1/incidents` twice in
//!    parallel, while `/health` is asked every 20 ms.
//!
//! It prints the server's peak RSS during each flood (sampled every 20 ms from /proc), the
//! time its RSS takes to come back under 60 MB, the p50/p99/max of the real sign-ins, the
//! answers the flood got, the time to refuse the big body and the `/health` latency.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};

const FLOOD_CLIENTS: usize = 128;
const FLOOD_SECS: u64 = 20;
const QUIET_SECS: u64 = 10;

fn rss_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// The CSRF cookie and token of the sign-in form (a pre-session token can be used again).
async fn login_token(client: &reqwest::Client, base: &str) -> anyhow::Result<(String, String)> {
    let r = client.get(format!("{base}/login")).send().await?;
    let cookie = r
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("dfx_csrf="))
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no CSRF cookie"))?;
    let html = r.text().await?;
    let at = html
        .find("name=\"csrf\" value=\"")
        .ok_or_else(|| anyhow::anyhow!("no CSRF token"))?
        + 19;
    let end = html[at..]
        .find('"')
        .ok_or_else(|| anyhow::anyhow!("no CSRF token"))?;
    Ok((cookie, html[at..at + end].to_owned()))
}

async fn sign_in(
    client: &reqwest::Client,
    base: &str,
    token: &(String, String),
    from: &str,
    email: &str,
    password: &str,
) -> u16 {
    client
        .post(format!("{base}/login"))
        .header(COOKIE, &token.0)
        .header("x-forwarded-for", from)
        .form(&[
            ("csrf", token.1.as_str()),
            ("email", email),
            ("password", password),
        ])
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// A user signing in with the right password every `every_ms` until `stop`, the n-th time from
/// the address `from(n)`: the times taken and how many were not signed in.
fn spawn_user(
    client: &reqwest::Client,
    base: &str,
    token: &(String, String),
    stop: &Arc<AtomicBool>,
    (email, password): (&str, &str),
    every_ms: u64,
    from: impl Fn(u32) -> String + Send + 'static,
) -> tokio::task::JoinHandle<(Vec<f64>, usize)> {
    let (client, base, token, stop) = (
        client.clone(),
        base.to_owned(),
        token.clone(),
        Arc::clone(stop),
    );
    let (email, password) = (email.to_owned(), password.to_owned());
    tokio::spawn(async move {
        let mut times = Vec::new();
        let mut refused = 0;
        let mut n = 0;
        tokio::time::sleep(Duration::from_millis(500)).await;
        while !stop.load(Ordering::Relaxed) {
            n += 1;
            let t = Instant::now();
            let s = sign_in(&client, &base, &token, &from(n), &email, &password).await;
            times.push(t.elapsed().as_secs_f64());
            if s != 303 {
                refused += 1;
            }
            tokio::time::sleep(Duration::from_millis(every_ms)).await;
        }
        (times, refused)
    })
}

struct Flood {
    peak_rss: u64,
    hwm: u64,
    statuses: std::collections::BTreeMap<u16, u64>,
    real: Vec<f64>,
    real_refused: usize,
    newcomers: Vec<f64>,
    newcomers_refused: usize,
    back_under_60: Option<f64>,
    rss_after_quiet: u64,
}

async fn flood(
    client: &reqwest::Client,
    base: &str,
    pid: u32,
    admin: (&str, &str),
    one_address: bool,
) -> anyhow::Result<Flood> {
    let token = login_token(client, base).await?;
    // The real user has signed in before, from their address.
    let s = sign_in(client, base, &token, "192.0.2.1", admin.0, admin.1).await;
    anyhow::ensure!(s == 303, "the real user cannot sign in: {s}");
    let stop = Arc::new(AtomicBool::new(false));
    let counter = Arc::new(AtomicU64::new(0));
    let mut flooders = Vec::new();
    for i in 0..FLOOD_CLIENTS {
        let (client, base, token, stop, counter) = (
            client.clone(),
            base.to_owned(),
            token.clone(),
            Arc::clone(&stop),
            Arc::clone(&counter),
        );
        flooders.push(tokio::spawn(async move {
            let mut statuses = std::collections::BTreeMap::<u16, u64>::new();
            while !stop.load(Ordering::Relaxed) {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let from = if one_address {
                    "203.0.113.7".to_owned()
                } else {
                    format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255)
                };
                let email = format!("{}@random-{i}.example", uuid::Uuid::new_v4());
                let s = sign_in(&client, &base, &token, &from, &email, "not the password").await;
                *statuses.entry(s).or_default() += 1;
            }
            statuses
        }));
    }
    // The real user, from their address, every 100 ms; newcomers from a new address every
    // 500 ms.
    let real = spawn_user(client, base, &token, &stop, admin, 100, |_| {
        "192.0.2.1".into()
    });
    let round = if one_address { 16 } else { 17 };
    let newcomers = spawn_user(client, base, &token, &stop, admin, 500, move |n| {
        format!("172.{round}.{}.{}", n / 256, n % 256)
    });
    let start = Instant::now();
    let mut peak = 0;
    while start.elapsed() < Duration::from_secs(FLOOD_SECS) {
        peak = peak.max(rss_kib(pid, "VmRSS:"));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut statuses = std::collections::BTreeMap::new();
    for f in flooders {
        for (k, v) in f.await? {
            *statuses.entry(k).or_insert(0) += v;
        }
    }
    let (mut real, real_refused) = real.await?;
    real.sort_by(f64::total_cmp);
    let (mut newcomers, newcomers_refused) = newcomers.await?;
    newcomers.sort_by(f64::total_cmp);
    let hwm = rss_kib(pid, "VmHWM:");
    let quiet = Instant::now();
    let mut back = None;
    while quiet.elapsed() < Duration::from_secs(QUIET_SECS) {
        let rss = rss_kib(pid, "VmRSS:");
        peak = peak.max(rss);
        if back.is_none() && rss < 60 * 1024 {
            back = Some(quiet.elapsed().as_secs_f64());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(Flood {
        peak_rss: peak,
        hwm,
        statuses,
        real,
        real_refused,
        newcomers,
        newcomers_refused,
        back_under_60: back,
        rss_after_quiet: rss_kib(pid, "VmRSS:"),
    })
}

fn report(what: &str, f: &Flood) {
    println!("== {what}: {FLOOD_CLIENTS} clients, {FLOOD_SECS} s");
    let answers: Vec<String> = f
        .statuses
        .iter()
        .map(|(s, n)| format!("{n} x {s}"))
        .collect();
    println!("  flood answers:             {}", answers.join(", "));
    println!(
        "  peak RSS during the flood: {:.1} MB (target < 150; VmHWM {:.1} MB)",
        mib(f.peak_rss),
        mib(f.hwm)
    );
    match f.back_under_60 {
        Some(s) => println!(
            "  back under 60 MB:          after {s:.2} s (target < 10 s); {:.1} MB after {QUIET_SECS} s",
            mib(f.rss_after_quiet)
        ),
        None => println!(
            "  back under 60 MB:          not within {QUIET_SECS} s ({:.1} MB)",
            mib(f.rss_after_quiet)
        ),
    }
    for (who, times, refused) in [
        ("real sign-in meanwhile:  ", &f.real, f.real_refused),
        (
            "newcomers' sign-ins:     ",
            &f.newcomers,
            f.newcomers_refused,
        ),
    ] {
        println!(
            "  {who}  p50 {:.0} ms, p99 {:.0} ms (target < 1000), max {:.0} ms; {} of {} not signed in",
            percentile(times, 0.5) * 1000.0,
            percentile(times, 0.99) * 1000.0,
            times.last().copied().unwrap_or(f64::NAN) * 1000.0,
            refused,
            times.len()
        );
    }
}

async fn big_body(client: &reqwest::Client, base: &str, key: &str) -> anyhow::Result<()> {
    let actors: Vec<String> = (0..100_000).map(|i| format!("actor {i}")).collect();
    let body = serde_json::to_vec(&serde_json::json!({
        "name": "Many actors",
        "techniques": ["T0002"],
        "actors": actors,
    }))?;
    println!(
        "== a body with 100,000 actors ({:.1} MB), two in parallel, /health every 20 ms",
        body.len() as f64 / 1e6
    );
    let stop = Arc::new(AtomicBool::new(false));
    let health = {
        let (client, base, stop) = (client.clone(), base.to_owned(), Arc::clone(&stop));
        tokio::spawn(async move {
            let mut times = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let _ = client.get(format!("{base}/health")).send().await;
                times.push(t.elapsed().as_secs_f64());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            times
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let send = |client: reqwest::Client, body: Vec<u8>| {
        let (base, key) = (base.to_owned(), key.to_owned());
        tokio::spawn(async move {
            let t = Instant::now();
            let r = client
                .post(format!("{base}/api/v1/incidents"))
                .bearer_auth(key)
                .header(CONTENT_TYPE, "application/json")
                .body(body)
                .send()
                .await;
            let status = r.map(|r| r.status().as_u16()).unwrap_or(0);
            (status, t.elapsed().as_secs_f64())
        })
    };
    let a = send(client.clone(), body.clone());
    let b = send(client.clone(), body);
    let (a, b) = (a.await?, b.await?);
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    let mut times = health.await?;
    times.sort_by(f64::total_cmp);
    println!(
        "  refused with:              {} in {:.0} ms and {} in {:.0} ms (target < 50 ms)",
        a.0,
        a.1 * 1000.0,
        b.0,
        b.1 * 1000.0
    );
    println!(
        "  /health meanwhile:         p50 {:.1} ms, max {:.1} ms (target < 100 ms), {} requests",
        percentile(&times, 0.5) * 1000.0,
        times.last().copied().unwrap_or(f64::NAN) * 1000.0,
        times.len()
    );
    Ok(())
}

async fn run(args: &[String]) -> anyhow::Result<()> {
    let [base, pid, email, password, key] = args else {
        anyhow::bail!("usage: abuse BASE_URL SERVER_PID ADMIN_EMAIL ADMIN_PASSWORD WRITE_KEY");
    };
    let pid: u32 = pid.parse()?;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()?;
    println!("server RSS at start: {:.1} MB", mib(rss_kib(pid, "VmRSS:")));
    let f = flood(&client, base, pid, (email, password), true).await?;
    report("bad sign-ins with random e-mails from one address", &f);
    let f = flood(&client, base, pid, (email, password), false).await?;
    report(
        "bad sign-ins with random e-mails, each from a new address",
        &f,
    );
    big_body(&client, base, key).await
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
