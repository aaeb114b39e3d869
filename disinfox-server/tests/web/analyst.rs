//! The analyst's pages in the browser: the world map's country links, the incident page's
//! small map and graph links.

use serde_json::json;

use crate::browser::Browser;
use crate::support::{incident, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_map_and_the_graph_render_and_their_links_lead_to_the_filtered_pages() {
    let app = spawn_app().await;
    // Of origin Poland: a compact shape, whose box's centre (where WebDriver clicks) is on it.
    let mut body = incident("Mapped operation");
    body["country_of_origin"] = json!("PL");
    let created = app.create(&body).await;
    let id = created["id"].as_str().unwrap().to_owned();
    app.create(&json!({"name": "Elsewhere", "target_countries": ["BR"]}))
        .await;
    let b = Browser::start(&app.base).await;
    b.sign_in("analyst@test.org").await;

    // The dashboard and the map page draw the world; a country leads to its incidents.
    assert!(
        b.exists("#worldmap svg.map a[href='/incidents?country=UA'] path")
            .await
    );
    b.click_and_wait("nav.main a[href='/map']").await;
    assert!(
        b.exists("svg.map a[href='/incidents?country=FR'] path")
            .await
    );
    assert!(b.exists("svg.map .map-legend").await);
    b.click_and_wait("svg.map a[href='/incidents?country=UA'] path")
        .await;
    assert_eq!(b.path().await, "/incidents?country=UA");
    let text = b.main_text().await;
    assert!(
        text.contains("Mapped operation") && !text.contains("Elsewhere"),
        "{text}"
    );

    // Countries of origin, by the link (no script).
    b.goto("/map").await;
    b.click_and_wait("#view-origin").await;
    assert_eq!(b.path().await, "/map?view=origin");
    b.click_and_wait("svg.map a[href='/incidents?origin=PL'] path")
        .await;
    assert!(b.main_text().await.contains("Mapped operation"));

    // The incident page: its small map and its graph, every node a link.
    b.goto(&format!("/incidents/{id}")).await;
    assert!(
        b.exists("#incident-map svg.map a[href='/incidents?country=UA']")
            .await
    );
    assert!(
        b.exists("#graph svg a[href='/incidents?technique=T0002']")
            .await
    );
    b.click_and_wait("#graph svg a[href='/actors/Russia'] rect")
        .await;
    assert_eq!(b.path().await, "/actors/Russia");
    b.close().await;
}
