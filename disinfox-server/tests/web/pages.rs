//! The technique pages, the theme switch and the developer page in the browser.

use fantoccini::Locator;
use serde_json::json;

use crate::browser::Browser;
use crate::support::spawn_app;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_technique_search_leads_to_a_technique_and_its_incidents() {
    let app = spawn_app().await;
    let memes = app
        .create(&json!({"name": "Meme campaign", "techniques": ["T0086.001", "T0002"]}))
        .await;
    let memes = memes["id"].as_str().unwrap().to_owned();
    app.create(&json!({"name": "No memes here", "techniques": ["T0002"]}))
        .await;
    let b = Browser::start(&app.base).await;
    b.sign_in("reader@test.org").await;
    b.click_and_wait("nav.main a[href='/techniques']").await;
    assert_eq!(b.path().await, "/techniques");
    b.fill("form[action='/techniques'] input[name=q]", "memes")
        .await;
    b.click_and_wait("form[action='/techniques'] button[type=submit]")
        .await;
    assert_eq!(b.path().await, "/techniques?q=memes");
    let rows =
        b.c.find_all(Locator::Css("table.techniques-list tbody tr"))
            .await
            .unwrap();
    // Develop Memes and Share Memes, of the 300-odd techniques.
    assert_eq!(rows.len(), 2, "two techniques are called memes");
    b.click_and_wait("a[href='/techniques/T0086.001']").await;
    assert_eq!(b.path().await, "/techniques/T0086.001");
    assert!(b.text("main h1").await.contains("Develop Memes"));
    let text = b.main_text().await;
    assert!(
        text.contains("Meme campaign") && !text.contains("No memes here"),
        "{text}"
    );
    assert!(b.text("#co-occurring").await.contains("T0002"));
    b.click_and_wait(&format!("table.incidents a[href='/incidents/{memes}']"))
        .await;
    assert_eq!(b.path().await, format!("/incidents/{memes}"));
    // And back to the technique from the incident's page.
    b.click_and_wait("#techniques a[href='/techniques/T0086.001']")
        .await;
    assert_eq!(b.path().await, "/techniques/T0086.001");
    b.close().await;
}

async fn background(b: &Browser) -> String {
    b.c.execute(
        "return getComputedStyle(document.body).backgroundColor;",
        vec![],
    )
    .await
    .unwrap()
    .as_str()
    .unwrap()
    .to_owned()
}

async fn choose_theme(b: &Browser, theme: &str) {
    b.c.find(Locator::Css("#theme-choice"))
        .await
        .unwrap()
        .select_by_value(theme)
        .await
        .unwrap();
    b.click_and_wait("#theme-switch button[type=submit]").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_theme_switch_turns_the_pages_dark_until_set_back_to_the_system() {
    let app = spawn_app().await;
    let b = Browser::start(&app.base).await;
    b.sign_in("reader@test.org").await;
    b.goto("/matrix").await;
    // Headless Chromium's system setting is light.
    let light = background(&b).await;
    assert_eq!(light, "rgb(245, 246, 248)");

    choose_theme(&b, "dark").await;
    assert_eq!(b.path().await, "/matrix", "back on the same page");
    assert_eq!(background(&b).await, "rgb(16, 21, 28)");
    let text =
        b.c.execute("return getComputedStyle(document.body).color;", vec![])
            .await
            .unwrap();
    assert_eq!(
        text,
        json!("rgb(228, 232, 238)"),
        "light text on the dark page"
    );
    // It stays dark on other pages and after a reload.
    b.goto("/techniques").await;
    assert_eq!(background(&b).await, "rgb(16, 21, 28)");
    b.c.refresh().await.unwrap();
    assert_eq!(background(&b).await, "rgb(16, 21, 28)");
    assert_eq!(b.value("#theme-choice").await, "dark");

    choose_theme(&b, "system").await;
    assert_eq!(b.path().await, "/techniques");
    assert_eq!(background(&b).await, light);
    let attr =
        b.c.execute(
            "return document.documentElement.getAttribute('data-theme');",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(attr, json!(null));

    // Light, chosen, is light too (and a visitor signed out keeps the choice: it is a cookie).
    choose_theme(&b, "light").await;
    assert_eq!(background(&b).await, light);
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_developer_page_shows_examples_for_this_address() {
    let app = spawn_app().await;
    let b = Browser::start(&app.base).await;
    b.goto("/").await;
    b.click_and_wait("footer a[href='/developers']").await;
    assert_eq!(b.path().await, "/developers");
    // The script puts the address the page was opened at into the examples.
    let bases =
        b.c.execute(
            "return Array.from(document.querySelectorAll('.base-url')).map(e => e.textContent);",
            vec![],
        )
        .await
        .unwrap();
    let bases = bases.as_array().unwrap();
    assert!(bases.len() >= 6);
    assert!(bases.iter().all(|v| v == &json!(app.base)), "{bases:?}");
    assert!(b
        .text("#ex-stream")
        .await
        .contains(&format!("{}/api/v1/stream", app.base)));
    assert!(b.exists("button[data-copy='ex-bundle']").await);
    b.click_and_wait("#openapi-link").await;
    assert_eq!(b.path().await, "/api/v1/openapi.json");
    b.close().await;
}
