//! Starting chromedriver and headless Chromium, and small helpers over fantoccini.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::support::TempDir;

/// The password of the test users of `support::spawn_app`.
pub const PASSWORD: &str = "long enough password";

/// A browser session with its own chromedriver process and profile directory.
pub struct Browser {
    pub c: Client,
    pub base: String,
    driver: Child,
    ended: bool,
    _profile: TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn program(env: &str, default: &str) -> String {
    std::env::var(env).unwrap_or_else(|_| default.to_owned())
}

/// Starts chromedriver on a free port; `None` when it exits before listening.
fn start_driver(driver_path: &str) -> Option<(Child, u16)> {
    let port = free_port();
    let mut driver = Command::new(driver_path)
        .arg(format!("--port={port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start {driver_path}: {e}. Install Debian's chromium and chromium-driver \
                 (bash scripts/test does), or set CHROMEDRIVER and CHROMIUM"
            )
        });
    // chromedriver prints one line when it listens; then its output is drained.
    let stdout = driver.stdout.take().expect("chromedriver stdout is piped");
    let mut lines = BufReader::new(stdout).lines();
    loop {
        match lines.next() {
            Some(Ok(l)) if l.contains("started successfully") => break,
            Some(Ok(_)) => continue,
            _ => {
                let _ = driver.kill();
                let _ = driver.wait();
                return None;
            }
        }
    }
    std::thread::spawn(move || for _ in lines {});
    Some((driver, port))
}

impl Browser {
    /// Starts chromedriver on a free port and a headless Chromium session for `base`.
    pub async fn start(base: &str) -> Self {
        let driver_path = program("CHROMEDRIVER", "/usr/bin/chromedriver");
        let chromium = program("CHROMIUM", "/usr/bin/chromium");
        // A port freed for chromedriver may be taken by someone else first: try a few.
        let (driver, port) = (0..3)
            .find_map(|_| start_driver(&driver_path))
            .unwrap_or_else(|| panic!("{driver_path} did not start listening (3 tries)"));
        let profile = TempDir::new();
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
                    "--disable-dev-shm-usage", "--window-size=1280,900", "--hide-scrollbars",
                    "--force-color-profile=srgb", "--lang=en-GB",
                    format!("--user-data-dir={}", profile.0.display()),
                ],
            },
        });
        let caps = match caps {
            serde_json::Value::Object(m) => m,
            _ => unreachable!(),
        };
        let c = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .unwrap_or_else(|e| {
                panic!("cannot start a headless Chromium ({chromium}) session: {e}")
            });
        Self {
            c,
            base: base.to_owned(),
            driver,
            ended: false,
            _profile: profile,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn goto(&self, path: &str) {
        self.c.goto(&self.url(path)).await.unwrap();
    }

    /// The path and query of the current page.
    pub async fn path(&self) -> String {
        let u = self.c.current_url().await.unwrap();
        match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_owned(),
        }
    }

    pub async fn text(&self, css: &str) -> String {
        self.c
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .text()
            .await
            .unwrap()
    }

    pub async fn exists(&self, css: &str) -> bool {
        !self.c.find_all(Locator::Css(css)).await.unwrap().is_empty()
    }

    pub async fn value(&self, css: &str) -> String {
        self.c
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .prop("value")
            .await
            .unwrap()
            .unwrap_or_default()
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let e = self
            .c
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"));
        e.clear().await.unwrap();
        e.send_keys(text).await.unwrap();
    }

    pub async fn click(&self, css: &str) {
        self.c
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Clicks (a link or a submit button) and waits until the next page has loaded, even one
    /// at the same address (a form sent back with errors).
    pub async fn click_and_wait(&self, css: &str) {
        self.c
            .execute("window.__dfx_old_page = true;", vec![])
            .await
            .unwrap();
        self.click(css).await;
        self.wait_new_page(css).await;
    }

    /// Waits (at most 30 s, in 50 ms steps) until the page marked by `click_and_wait` is gone
    /// and the new one has loaded.
    async fn wait_new_page(&self, what: &str) {
        for _ in 0..600 {
            let done = self
                .c
                .execute(
                    "return !window.__dfx_old_page && document.readyState === 'complete';",
                    vec![],
                )
                .await
                .map(|v| v.as_bool() == Some(true))
                .unwrap_or(false);
            if done {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("no new page after {what}");
    }

    /// Submits the form of the element in JavaScript (after changing the form in the page).
    pub async fn submit_form_of(&self, css: &str) {
        self.c
            .execute(
                "window.__dfx_old_page = true; document.querySelector(arguments[0]).form.requestSubmit();",
                vec![json!(css)],
            )
            .await
            .unwrap();
        self.wait_new_page(css).await;
    }

    /// The main text of the page.
    pub async fn main_text(&self) -> String {
        self.text("main").await
    }

    pub async fn sign_in(&self, email: &str) {
        self.goto("/login").await;
        self.fill("input[name=email]", email).await;
        self.fill("input[name=password]", PASSWORD).await;
        self.click_and_wait("form[action='/login'] button[type=submit]")
            .await;
        assert_eq!(self.path().await, "/dashboard", "signed in as {email}");
    }

    /// Saves a screenshot of the whole page (the window grown to the page's height) as
    /// `target/screenshots/<name>.png`; `width` sets the window width (a phone: 390).
    pub async fn screenshot(&self, name: &str, width: u32) -> PathBuf {
        self.screenshot_at_most(name, width, 6000).await
    }

    /// Like [`Self::screenshot`], at most `max_height` pixels high (the top of the page).
    pub async fn screenshot_at_most(&self, name: &str, width: u32, max_height: u32) -> PathBuf {
        self.c.set_window_size(width, 900).await.unwrap();
        let h = self
            .c
            .execute("return document.documentElement.scrollHeight", vec![])
            .await
            .unwrap()
            .as_u64()
            .unwrap_or(900)
            .clamp(600, 6000) as u32
            + 40;
        let h = h.min(max_height);
        self.c.set_window_size(width, h).await.unwrap();
        self.c
            .execute("window.scrollTo(0, 0);", vec![])
            .await
            .unwrap();
        let png = self.c.screenshot().await.unwrap();
        self.c.set_window_size(1280, 900).await.unwrap();
        save_png(name, &png)
    }

    /// Saves a screenshot of one element (scrolled into view) as
    /// `target/screenshots/<name>.png`.
    pub async fn screenshot_of(&self, css: &str, name: &str) -> PathBuf {
        let png = self
            .c
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .screenshot()
            .await
            .unwrap();
        save_png(name, &png)
    }

    /// Ends the session (Chromium quits) and chromedriver.
    pub async fn close(mut self) {
        let _ = self.c.clone().close().await;
        self.end_driver();
    }

    fn end_driver(&mut self) {
        if !self.ended {
            self.ended = true;
            let _ = self.driver.kill();
            let _ = self.driver.wait();
        }
    }
}

/// Saves a screenshot as `target/screenshots/<name>.png`.
fn save_png(name: &str, png: &[u8]) -> PathBuf {
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    let dir = screenshot_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, png).unwrap();
    path
}

/// `target/screenshots` of the build (CARGO_TARGET_DIR when set).
pub fn screenshot_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
        .join("screenshots")
}

impl Drop for Browser {
    /// After a failed test: ends the session first, so that Chromium does not outlive
    /// chromedriver (the browser tests run on a multi-threaded runtime, where this may block).
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        if let Ok(h) = tokio::runtime::Handle::try_current() {
            if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread {
                let c = self.c.clone();
                tokio::task::block_in_place(|| {
                    let _ = h.block_on(c.close());
                });
            }
        }
        self.end_driver();
    }
}
