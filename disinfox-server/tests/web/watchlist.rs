//! Starring incidents and the watchlist in the browser.

use reqwest::Method;

use crate::browser::Browser;
use crate::support::{incident, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_stars_an_incident_and_the_watchlist_tells_what_changed() {
    let app = spawn_app().await;
    let v = app.create(&incident("Starred in the browser")).await;
    let id = v["id"].as_str().unwrap().to_owned();
    let b = Browser::start(&app.base).await;
    b.sign_in("reader@test.org").await;

    b.goto("/incidents?q=Starred").await;
    let star = format!("form[action='/incidents/{id}/watch'] button");
    assert_eq!(b.text(&star).await, "☆");
    b.click_and_wait(&star).await;
    assert_eq!(b.path().await, "/incidents?q=Starred", "back on the list");
    assert_eq!(b.text(&star).await, "★", "the star is on");

    let (s, _) = app
        .send(
            Method::PUT,
            &format!("/api/v1/incidents/{id}"),
            &app.analyst,
            &incident("Starred, then edited by the analyst"),
        )
        .await;
    assert_eq!(s, 200);

    b.click_and_wait("nav.main a[href='/watchlist']").await;
    let text = b.main_text().await;
    assert!(
        text.contains("Starred, then edited by the analyst")
            && text.contains("edited once since you looked (by analyst@test.org)"),
        "{text}"
    );
    b.goto("/watchlist").await;
    assert!(b.main_text().await.contains("no change since"), "seen");

    // Unstar from the watchlist itself.
    b.click_and_wait(&star).await;
    assert!(b
        .main_text()
        .await
        .contains("No incident on your watchlist"));
    b.close().await;
}
