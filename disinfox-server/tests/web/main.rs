//! End-to-end tests of the web pages in real headless Chromium, driven over WebDriver
//! (chromedriver, from the Debian packages `chromium` and `chromium-driver`, which
//! `scripts/test` installs). Each test has its own server, database, chromedriver and browser
//! profile. A browser that cannot be started fails the test: nothing is skipped.
#![allow(clippy::unwrap_used, unreachable_pub, dead_code)]

#[path = "../api/support.rs"]
mod support;

mod analyst;
mod browser;
mod flows;
mod intake;
mod pages;
#[path = "../../src/intake/sample_pdfs.rs"]
mod sample_pdfs;
mod screenshots;
mod watchlist;
