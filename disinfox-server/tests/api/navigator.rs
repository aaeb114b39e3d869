//! DISARM Navigator layers: one incident's, filtered sets, the heatmap of every incident.

use std::collections::BTreeMap;

use disinfox_server::navigator::check_layer;
use reqwest::Method;
use serde_json::{json, Value};
use stix_model::disarm::{Catalogue, DisarmVersion};

use crate::support::{incident, spawn_app, spawn_with, TestApp};

/// Checks the layer's required fields and that every technique is a DISARM technique of the
/// catalogue under its own tactic; returns the scores.
fn scores(layer: &Value, catalogue: &Catalogue) -> BTreeMap<String, i64> {
    assert_eq!(
        check_layer(layer, catalogue),
        Vec::<String>::new(),
        "{layer:#}"
    );
    assert_eq!(layer["domain"], "DISARM");
    assert_eq!(layer["versions"]["layer"], "4.5");
    assert!(layer["name"].as_str().is_some_and(|n| !n.is_empty()));
    let mut out = BTreeMap::new();
    for t in layer["techniques"].as_array().unwrap() {
        let id = t["techniqueID"].as_str().unwrap();
        let known = catalogue.technique(id).unwrap_or_else(|| {
            panic!(
                "{id} is not a DISARM {} technique",
                catalogue.version_label()
            )
        });
        assert_eq!(t["tactic"], known.tactic.as_str(), "{id}");
        if let Some(n) = t["score"].as_i64() {
            out.insert(id.to_owned(), n);
        }
    }
    let max = out.values().copied().max().unwrap_or(1);
    assert_eq!(
        layer["gradient"]["maxValue"], max,
        "the gradient ends at the largest score"
    );
    assert_eq!(layer["gradient"]["minValue"], 0);
    out
}

async fn layer(app: &TestApp, path: &str) -> Value {
    let r = app
        .client
        .get(app.url(path))
        .bearer_auth(&app.reader)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{path}");
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    assert!(r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    r.json().await.unwrap()
}

fn with(name: &str, techniques: &[&str], country: &str) -> Value {
    let mut v = incident(name);
    v["techniques"] = json!(techniques);
    v["target_countries"] = json!([country]);
    v
}

#[tokio::test]
async fn one_incidents_layer() {
    let app = spawn_app().await;
    let c = Catalogue::builtin(DisarmVersion::V1_7);
    let created = app.create(&incident("Doppelganger")).await;
    let id = created["id"].as_str().unwrap();
    let l = layer(&app, &format!("/api/v1/incidents/{id}/navigator")).await;
    assert_eq!(
        scores(&l, c),
        BTreeMap::from([("T0002".to_owned(), 1), ("T0049.003".to_owned(), 1)])
    );
    assert_eq!(l["name"], "Doppelganger");
    let parent = l["techniques"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["techniqueID"] == "T0049")
        .unwrap();
    assert_eq!(parent["showSubtechniques"], true);
    assert!(parent["score"].is_null(), "the parent is shown, not scored");
    let scored = l["techniques"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["techniqueID"] == "T0002")
        .unwrap();
    assert!(scored["links"].as_array().unwrap().iter().any(|l| l["url"]
        .as_str()
        .unwrap()
        .ends_with("/incidents?technique=T0002")
        && !l["url"].as_str().unwrap().contains("/api/")));

    let (status, body) = app
        .get(
            "/api/v1/incidents/incident--00000000-0000-4000-8000-000000000001/navigator",
            &app.reader,
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["status"], 404);
}

#[tokio::test]
async fn heatmap_of_every_incident_and_of_filtered_sets() {
    let app = spawn_app().await;
    let c = Catalogue::builtin(DisarmVersion::V1_7);
    app.create(&with("A", &["T0002", "T0015"], "UA")).await;
    app.create(&with("B", &["T0002", "T0049.003"], "UA")).await;
    app.create(&with("C", &["T0002"], "FR")).await;
    let gone = app.create(&with("D", &["T0002", "T0016"], "FR")).await;
    let (status, _) = app
        .send(
            Method::DELETE,
            &format!("/api/v1/incidents/{}", gone["id"].as_str().unwrap()),
            &app.analyst,
            &Value::Null,
        )
        .await;
    assert_eq!(status, 204);

    let all = layer(&app, "/api/v1/navigator").await;
    assert_eq!(
        scores(&all, c),
        BTreeMap::from([
            ("T0002".to_owned(), 3),
            ("T0015".to_owned(), 1),
            ("T0049.003".to_owned(), 1),
        ]),
        "deleted incidents do not count"
    );
    let meta = |l: &Value, name: &str| -> Option<String> {
        l["metadata"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .map(|m| m["value"].as_str().unwrap().to_owned())
    };
    assert_eq!(meta(&all, "incidents").as_deref(), Some("3"));
    assert_eq!(meta(&all, "DISARM version").as_deref(), Some("1.7"));

    let ua = layer(&app, "/api/v1/navigator?country=UA").await;
    assert_eq!(
        scores(&ua, c),
        BTreeMap::from([
            ("T0002".to_owned(), 2),
            ("T0015".to_owned(), 1),
            ("T0049.003".to_owned(), 1),
        ])
    );
    assert_eq!(meta(&ua, "filter country").as_deref(), Some("UA"));
    assert!(ua["name"].as_str().unwrap().contains("country=UA"));
    let t = layer(&app, "/api/v1/navigator?technique=T0015&country=Ukraine").await;
    assert_eq!(
        scores(&t, c),
        BTreeMap::from([("T0002".to_owned(), 1), ("T0015".to_owned(), 1)])
    );
    let none = layer(&app, "/api/v1/navigator?q=nothing-matches-this").await;
    assert_eq!(scores(&none, c), BTreeMap::new());
    assert_eq!(meta(&none, "incidents").as_deref(), Some("0"));

    for bad in ["country=Atlantis", "technique=X1", "from=yesterday"] {
        let (status, body) = app
            .get(&format!("/api/v1/navigator?{bad}"), &app.reader)
            .await;
        assert_eq!(status, 400, "{bad}");
        assert_eq!(body["error"]["status"], 400);
    }
}

#[tokio::test]
async fn layers_name_only_techniques_of_the_configured_disarm_version() {
    // T0023 exists in DISARM 1.6 and was removed in 1.7.
    for (version, kept) in [(DisarmVersion::V1_7, false), (DisarmVersion::V1_6, true)] {
        let app = spawn_with(|s| s.disarm_version = version).await;
        let c = Catalogue::builtin(version);
        let created = app
            .create(&with("Old code", &["T0023", "T0002"], "UA"))
            .await;
        let id = created["id"].as_str().unwrap();
        for path in [
            format!("/api/v1/incidents/{id}/navigator"),
            "/api/v1/navigator".to_owned(),
        ] {
            let l = layer(&app, &path).await;
            let s = scores(&l, c);
            assert_eq!(
                s.contains_key("T0023"),
                kept,
                "{path} with DISARM {version:?}"
            );
            assert_eq!(s.get("T0002"), Some(&1));
            let reported = l["metadata"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["name"] == "techniques not in this DISARM version");
            assert_eq!(reported, !kept);
        }
    }
}
