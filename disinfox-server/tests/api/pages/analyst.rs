//! The analyst's pages: the world map (`/map`, the dashboard), the incident's small map and
//! its graph.

use serde_json::json;

use crate::support::{incident, spawn_app};

use super::*;

/// The SVG element of a page that starts with `<svg` and has `class="{class}"`.
fn svg_of<'a>(html: &'a str, marker: &str) -> &'a str {
    let at = html
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} in the page"));
    let start = html[..at].rfind("<svg").expect("an <svg> around it");
    let end = at + html[at..].find("</svg>").expect("the end of the SVG") + 6;
    &html[start..end]
}

#[tokio::test]
async fn the_map_links_every_country_to_its_list_with_counts_and_follows_the_filters() {
    let app = spawn_app().await;
    app.create(&incident("Map one")).await;
    let mut b = incident("Map two");
    b["target_countries"] = json!(["UA"]);
    b["actors"] = json!(["Someone else"]);
    b["country_of_origin"] = json!("BY");
    app.create(&b).await;
    let s = sign_in(&app, "analyst@test.org").await;

    let r = s.get("/map").await;
    assert_eq!(r.status().as_u16(), 200);
    let html = r.text().await.unwrap();
    let svg = svg_of(&html, "class=\"map\"");
    assert!(
        svg.contains("<a href=\"/incidents?country=UA\"><title>Ukraine: 2 incidents</title>"),
        "{}",
        &svg[..svg.len().min(2000)]
    );
    assert!(svg.contains("<a href=\"/incidents?country=FR\"><title>France: 1 incident</title>"));
    // Countries without incidents still link (the list says there are none).
    assert!(svg.contains("<a href=\"/incidents?country=BR\"><title>Brazil: no incidents</title>"));
    assert!(
        html.contains("href=\"/map?view=origin\""),
        "the switch to origins"
    );
    println!("/map: {} bytes", html.len());

    // Filtered: only the incidents of the actor are counted, and the links keep the filter.
    let html = s.get("/map?actor=Russia").await.text().await.unwrap();
    let svg = svg_of(&html, "class=\"map\"");
    assert!(svg.contains(
        "<a href=\"/incidents?actor=Russia&amp;country=UA\"><title>Ukraine: 1 incident</title>"
    ));

    // Countries of origin, following the filters; the links filter the list by origin.
    let html = s.get("/map?view=origin").await.text().await.unwrap();
    let svg = svg_of(&html, "class=\"map\"");
    assert!(
        svg.contains("<a href=\"/incidents?origin=RU\"><title>"),
        "RU linked"
    );
    assert!(svg.contains("<a href=\"/incidents?origin=BY\"><title>Belarus: 1 incident</title>"));
    assert!(svg.contains("<a href=\"/incidents?origin=UA\"><title>Ukraine: no incidents</title>"));
    assert!(
        html.contains("name=\"view\" value=\"origin\""),
        "the form keeps the view"
    );

    // The list follows the origin filter the map links to.
    let list = s.get("/incidents?origin=BY").await.text().await.unwrap();
    assert!(list.contains("Map two") && !list.contains("Map one"));
    let r = s.get("/map?origin=Atlantis").await;
    assert_eq!(r.status().as_u16(), 400);

    // The dashboard shows the world map too.
    let html = s.get("/dashboard").await.text().await.unwrap();
    let svg = svg_of(&html, "class=\"map\"");
    assert!(svg.contains("<a href=\"/incidents?country=UA\"><title>Ukraine: 2 incidents</title>"));
    println!("/dashboard: {} bytes", html.len());
}

#[tokio::test]
async fn the_incident_page_has_a_small_map_and_a_graph_whose_nodes_link() {
    let app = spawn_app().await;
    let created = app.create(&incident("Graph one")).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let mut other = incident("Graph two");
    other["target_countries"] = json!(["UA"]);
    let other = app.create(&other).await;
    let other_id = other["id"].as_str().unwrap();
    let s = sign_in(&app, "analyst@test.org").await;
    let r = s.get(&format!("/incidents/{id}")).await;
    assert_eq!(r.status().as_u16(), 200);
    let html = r.text().await.unwrap();
    println!("incident page: {} bytes", html.len());

    let section = &html[html.find("id=\"incident-map\"").expect("the small map")..];
    let map = svg_of(section, "class=\"map\"");
    assert!(map.contains("<a href=\"/incidents?country=UA\"><title>Ukraine (target)</title>"));
    assert!(map.contains("<a href=\"/incidents?country=FR\"><title>France (target)</title>"));
    assert!(
        map.contains("<a href=\"/incidents?origin=RU\"><title>"),
        "the origin links by origin"
    );

    let section = &html[html.find("id=\"graph\"").expect("the graph")..];
    let graph = svg_of(section, "<a ");
    for href in [
        format!("/incidents/{id}"),
        format!("/incidents/{other_id}"),
        "/incidents?technique=T0002".to_owned(),
        "/incidents?technique=T0049.003".to_owned(),
        "/actors/Russia".to_owned(),
        "/incidents?country=UA".to_owned(),
        "/incidents?origin=RU".to_owned(),
        "/incidents?channel=Telegram".to_owned(),
    ] {
        assert!(
            graph.contains(&format!("<a href=\"{href}\">")),
            "{href} in the graph"
        );
    }
    // Every node is a link.
    let links = graph.matches("<a href=").count();
    assert!(links >= 8, "{links} links");
    // Nothing points outside the server's origin (but the SVG namespace, which is a name).
    for svg in [map, graph] {
        let rest = svg.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
        assert!(
            !rest.contains("http:") && !rest.contains("https:"),
            "{rest}"
        );
    }
}
