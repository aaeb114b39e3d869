//! The DISARM technique pages: the searchable list with incident counts, and one technique's
//! page with its tactic, sub-techniques, incidents and the techniques used with it.

use serde_json::json;

use crate::support::spawn_app;

use super::*;

#[tokio::test]
async fn the_technique_list_counts_incidents_and_finds_by_id_or_name() {
    let app = spawn_app().await;
    for (name, techniques) in [
        ("Memes one", json!(["T0086.001", "T0002"])),
        ("Memes two", json!(["T0086.001", "T0002", "T0049.003"])),
        ("Memes three", json!(["T0086.001"])),
    ] {
        app.create(&json!({"name": name, "techniques": techniques}))
            .await;
    }
    let s = sign_in(&app, "reader@test.org").await;
    let r = s.get("/techniques").await;
    assert_eq!(r.status().as_u16(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("<a href=\"/techniques/T0086.001\"><span class=\"tid\">T0086.001</span> Develop Memes</a>"), "{html}");
    assert!(
        html.contains("<a href=\"/incidents?technique=T0086.001\" title=\"List the incidents that use T0086.001\">3</a>"),
        "the count links to the filtered list"
    );
    assert!(
        html.contains("href=\"/techniques/T0073\""),
        "unused techniques are listed too"
    );
    // By id, any case.
    let html = s.get("/techniques?q=t0086.00").await.text().await.unwrap();
    assert!(html.contains("/techniques/T0086.001\"") && !html.contains("/techniques/T0002\""));
    // By name.
    let html = s.get("/techniques?q=memes").await.text().await.unwrap();
    assert!(html.contains("/techniques/T0086.001\""));
    assert!(!html.contains("/techniques/T0049.003\""));
    // Nothing.
    let html = s
        .get("/techniques?q=no+such+technique")
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("No technique of DISARM"), "{html}");
}

#[tokio::test]
async fn a_technique_page_shows_its_incidents_sub_techniques_and_co_occurring_techniques() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for (name, techniques) in [
        ("Memes one", json!(["T0086.001", "T0002"])),
        ("Memes two", json!(["T0086.001", "T0002", "T0049.003"])),
        ("Not memes", json!(["T0002", "T0049.003"])),
    ] {
        let c = app
            .create(&json!({"name": name, "techniques": techniques}))
            .await;
        ids.push(c["id"].as_str().unwrap().to_owned());
    }
    // A deleted incident counts nowhere.
    let gone = app
        .create(&json!({"name": "Deleted memes", "techniques": ["T0086.001", "T0057"]}))
        .await;
    let r = app
        .send(
            reqwest::Method::DELETE,
            &format!("/api/v1/incidents/{}", gone["id"].as_str().unwrap()),
            &app.analyst,
            &json!({}),
        )
        .await;
    assert_eq!(r.0, 204);
    let s = sign_in(&app, "reader@test.org").await;
    let r = s.get("/techniques/T0086.001").await;
    assert_eq!(r.status().as_u16(), 200);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("Memes are one of the most important single artefact types"),
        "DISARM's description, shortened"
    );
    assert!(
        html.contains("Develop Memes") && html.contains("2 incidents"),
        "{html}"
    );
    // Its incidents, linked; not the others.
    assert!(html.contains(&format!("href=\"/incidents/{}\"", ids[0])));
    assert!(html.contains(&format!("href=\"/incidents/{}\"", ids[1])));
    assert!(!html.contains(&format!("href=\"/incidents/{}\"", ids[2])));
    assert!(!html.contains("Deleted memes"));
    // Its parent and its tactic.
    assert!(html.contains("Sub-technique of</dt><dd><a href=\"/techniques/T0086\">"));
    assert!(html.contains("/incidents?tactic=develop-content"));
    // Co-occurring: T0002 in both, T0049.003 in one, T0057 only with a deleted incident.
    let co = &html[html.find("id=\"co-occurring\"").unwrap()..];
    let co = &co[..co.find("</section>").unwrap()];
    let t0002 = co
        .find("href=\"/techniques/T0002\"")
        .expect("T0002 co-occurs");
    let t0049 = co
        .find("href=\"/techniques/T0049.003\"")
        .expect("T0049.003 co-occurs");
    assert!(t0002 < t0049, "most frequent first");
    assert!(
        co[t0002..t0049].contains("<td class=\"num\">2</td>"),
        "{co}"
    );
    assert!(co[t0049..].contains("<td class=\"num\">1</td>"), "{co}");
    assert!(!co.contains("T0057"));
    // A parent lists its sub-techniques.
    let html = s.get("/techniques/T0086").await.text().await.unwrap();
    assert!(html.contains("href=\"/techniques/T0086.001\""));
    assert!(html.contains("href=\"/techniques/T0086.004\""));
    // The incident page and the matrix link to technique pages.
    let html = s
        .get(&format!("/incidents/{}", ids[0]))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains(
        "<a href=\"/techniques/T0086.001\" title=\"The technique's page\">Develop Memes</a>"
    ));
    let html = s.get("/matrix").await.text().await.unwrap();
    assert!(
        html.contains("href=\"/techniques/T0073\""),
        "an unused cell leads to its page"
    );
}

#[tokio::test]
async fn an_unknown_technique_is_a_404_page() {
    let app = spawn_app().await;
    let s = sign_in(&app, "reader@test.org").await;
    for path in [
        "/techniques/T9999",
        "/techniques/nonsense",
        "/techniques/%3Cb%3E",
    ] {
        let r = s.get(path).await;
        assert_eq!(r.status().as_u16(), 404, "{path}");
        assert!(is_html(&r));
        let html = r.text().await.unwrap();
        assert!(html.contains("has no technique"), "{path}: {html}");
        assert!(!html.contains("<b>"), "{path}");
    }
}
