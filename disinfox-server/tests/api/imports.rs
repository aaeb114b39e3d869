//! Bulk import: the DISINFOX CSV format and STIX bundles, valid and broken.

use serde_json::Value;

use crate::support::{incident, spawn_app, TestApp};

const CSV: &str = "Year,Target Country,Event,Region,Sub-region,Country of Origin,Threat Actor,Event description,T0002_Facilitate State Propaganda,T0049.003_Bots Amplify via Automated Forwarding and Reposting,T0007_Create fake Social Media Profiles,Facebook,Telegram,Cyber Attacks,Attribution Source: Government,Attribution Source: Researchers/Journalists,Source 1,Source 2,
2022,\"Ukraine, France\",Howitzers for profit,Europe ,Eastern Europe,Russia,Russia,\"A \"\"fabricated\"\" video,
over two lines\",1,`1,0,0,1,0,1,0,https://a.org/xhttps://b.org/y,nan,
2022,Ukraine,Howitzers for profit,Europe,,Russia,IRA*,No description,0,0,1,1,0,,0,1,www.c.org,,
,World,Empty year row,,,,,No description,1,0,0,0,0,0,0,0,,,
20x2,Atlantis,Broken row,,,,,x,1,0,0,0,0,0,0,0,,,
";

/// An import as the analyst: the status and the job's report (or the error).
async fn import(app: &TestApp, body: impl Into<reqwest::Body>, ct: &str) -> (u16, Value) {
    let (status, job) = app.import_with(&app.analyst, body, ct).await;
    if status == 202 {
        assert_eq!(job["state"], "succeeded", "{job}");
        (status, job["report"].clone())
    } else {
        (status, job)
    }
}

#[tokio::test]
async fn csv_rows_become_incidents_and_broken_rows_are_reported() {
    let app = spawn_app().await;
    let (status, report) = import(&app, CSV, "text/csv").await;
    assert_eq!(status, 202, "{report}");
    assert_eq!(report["created"].as_array().unwrap().len(), 2, "{report}");
    let rejected = report["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 1, "{report}");
    assert_eq!(
        rejected[0]["ref"], "row 5 (line 6)",
        "spreadsheet row, and the file line"
    );
    assert!(rejected[0]["errors"][0].as_str().unwrap().contains("Year"));
    let warnings = report["warnings"].to_string();
    assert!(
        warnings.contains("T0007"),
        "unknown ids are reported: {warnings}"
    );
    assert!(warnings.contains("World"));
    let (_, list) = app.get("/api/v1/incidents?q=howitzers", &app.reader).await;
    assert_eq!(list["total"], 1, "two rows of one event are one incident");
    let inc = &list["items"][0];
    assert_eq!(inc["actors"], serde_json::json!(["Russia", "IRA*"]));
    assert_eq!(inc["target_countries"], serde_json::json!(["UA", "FR"]));
    assert_eq!(
        inc["techniques"],
        serde_json::json!(["T0002", "T0049.003", "T0007"]),
        "a stray ` is read as 1; T0007 kept"
    );
    assert_eq!(inc["channels"], serde_json::json!(["Telegram", "Facebook"]));
    assert_eq!(inc["first_seen"], "2022");
    assert_eq!(inc["region"], "Europe");
    assert_eq!(inc["country_of_origin"], "RU");
    assert_eq!(
        inc["attribution_sources"],
        serde_json::json!(["government", "researchers"])
    );
    assert_eq!(
        inc["source_urls"],
        serde_json::json!(["https://a.org/x", "https://b.org/y", "https://www.c.org"])
    );
    assert!(inc["description"]
        .as_str()
        .unwrap()
        .contains("\"fabricated\" video,\nover two lines"));
    // Importing the same file again changes nothing.
    let (_, again) = import(&app, CSV, "text/csv").await;
    assert_eq!(again["created"].as_array().unwrap().len(), 0);
    assert_eq!(again["unchanged"], 2);
    let (_, stats) = app.get("/api/v1/stats", &app.reader).await;
    assert_eq!(stats["incidents"], 2);
    // Not the format at all.
    let (status, v) = import(&app, "a,b\n1,2\n", "text/csv").await;
    assert_eq!(status, 400, "{v}");
    let (status, _) = import(&app, "x", "application/xml").await;
    assert_eq!(status, 415);
}

#[tokio::test]
async fn stix_bundles_round_trip_between_servers_and_bad_objects_are_rejected() {
    let a = spawn_app().await;
    for i in 0..3 {
        a.create(&incident(&format!("Shared {i}"))).await;
    }
    let r = a
        .client
        .get(a.url("/api/v1/export"))
        .bearer_auth(&a.reader)
        .send()
        .await
        .unwrap();
    let exported = r.text().await.unwrap();
    let b = spawn_app().await;
    let (_, report) = import(&b, exported.clone(), "application/json").await;
    assert_eq!(report["created"].as_array().unwrap().len(), 3, "{report}");
    assert_eq!(report["rejected"].as_array().unwrap().len(), 0, "{report}");
    let (_, la) = a
        .get("/api/v1/incidents?sort=name&order=asc", &a.reader)
        .await;
    let (_, lb) = b
        .get("/api/v1/incidents?sort=name&order=asc", &b.reader)
        .await;
    for (x, y) in la["items"]
        .as_array()
        .unwrap()
        .iter()
        .zip(lb["items"].as_array().unwrap())
    {
        for k in [
            "id",
            "name",
            "techniques",
            "actors",
            "target_countries",
            "country_of_origin",
            "channels",
            "source_urls",
            "first_seen",
            "created",
            "modified",
        ] {
            assert_eq!(x[k], y[k], "{k}");
        }
    }
    // Importing it again: unchanged.
    let (_, report) = import(&b, exported, "application/json").await;
    assert_eq!(report["unchanged"], 3, "{report}");
    // A broken incident is rejected with its violations; nothing partial is stored.
    let broken = r#"{"type":"bundle","id":"bundle--4a6e3b68-6d5c-4b5d-9d8a-1b2c3d4e5f60","objects":[{"type":"incident","spec_version":"2.1","id":"incident--c1817dc0-80ae-547f-83c0-920b0c6a25b8","created":"2024-05-01T00:00:00Z","modified":"2024-05-01T00:00:00.000Z","name":"Broken"}]}"#;
    let (_, report) = import(&b, broken, "application/json").await;
    assert_eq!(
        report["rejected"][0]["ref"], "incident--c1817dc0-80ae-547f-83c0-920b0c6a25b8",
        "{report}"
    );
    assert!(report["rejected"][0]["errors"][0]
        .as_str()
        .unwrap()
        .contains("millisecond"));
    assert_eq!(
        b.get(
            "/api/v1/incidents/incident--c1817dc0-80ae-547f-83c0-920b0c6a25b8",
            &b.reader
        )
        .await
        .0,
        404
    );
    let (status, _) = import(&b, "[1,2]", "application/json").await;
    assert_eq!(status, 400);
}

/// The STIX objects of one incident made on another server (the incident first).
async fn incident_objects(name: &str) -> Vec<Value> {
    let a = spawn_app().await;
    let mut body = incident(name);
    body["techniques"] = serde_json::json!([]);
    body["actors"] = serde_json::json!([]);
    body["target_countries"] = serde_json::json!([]);
    body["country_of_origin"] = Value::Null;
    let id = a.create(&body).await["id"].as_str().unwrap().to_owned();
    let (status, b) = a
        .get(&format!("/api/v1/incidents/{id}/bundle"), &a.reader)
        .await;
    assert_eq!(status, 200);
    let mut objects = b["objects"].as_array().unwrap().clone();
    objects.sort_by_key(|o| o["type"] != "incident");
    objects
}

fn bundle_of(ty: &str, objects: &[Value]) -> String {
    serde_json::json!({"type": ty, "id": "bundle--4a6e3b68-6d5c-4b5d-9d8a-1b2c3d4e5f60", "objects": objects}).to_string()
}

/// Every id of a report, with its category: each must appear once.
fn categories(report: &Value) -> Vec<(String, &'static str)> {
    let mut out = Vec::new();
    for (k, cat) in [("created", "created"), ("updated", "updated")] {
        for id in report[k].as_array().unwrap() {
            out.push((id.as_str().unwrap().to_owned(), cat));
        }
    }
    for r in report["rejected"].as_array().unwrap() {
        out.push((r["ref"].as_str().unwrap().to_owned(), "rejected"));
    }
    out
}

#[tokio::test]
async fn a_bundle_that_is_not_one_is_refused_whole_and_duplicates_are_reported_once() {
    let objects = incident_objects("Twice told").await;
    let inc = objects[0].clone();
    let id = inc["id"].as_str().unwrap().to_owned();
    let app = spawn_app().await;
    let (status, job) = app
        .import_with(
            &app.analyst,
            bundle_of("not-bundle", &objects),
            "application/json",
        )
        .await;
    assert_eq!(status, 202, "{job}");
    assert_eq!(job["state"], "failed", "{job}");
    let m = job["error"].as_str().unwrap();
    assert!(m.contains("type") && m.contains("nothing"), "{m}");
    assert_eq!(job["report"]["rejected"][0]["ref"], "file", "{job}");
    assert_eq!(job["counts"]["created"], 0);
    assert_eq!(
        app.get(&format!("/api/v1/incidents/{id}"), &app.reader)
            .await
            .0,
        404,
        "a refused bundle creates nothing"
    );

    // The same incident twice with the same modified time: rejected, once, not created.
    let mut twice = objects.clone();
    twice.push(inc.clone());
    let (status, report) = import(&app, bundle_of("bundle", &twice), "application/json").await;
    assert_eq!(status, 202, "{report}");
    assert_eq!(
        categories(&report),
        vec![(id.clone(), "rejected")],
        "{report}"
    );
    assert_eq!(report["unchanged"], 0);
    assert_eq!(
        app.get(&format!("/api/v1/incidents/{id}"), &app.reader)
            .await
            .0,
        404
    );

    // Two versions: the latest is imported, once.
    let mut newer = inc.clone();
    newer["modified"] = serde_json::json!("2099-01-01T00:00:00.000Z");
    newer["description"] = serde_json::json!("The later version");
    let mut two = objects.clone();
    two.insert(0, newer);
    let (status, report) = import(&app, bundle_of("bundle", &two), "application/json").await;
    assert_eq!(status, 202, "{report}");
    assert_eq!(
        categories(&report),
        vec![(id.clone(), "created")],
        "{report}"
    );
    assert_eq!(report["unchanged"], 0);
    let (_, got) = app
        .get(&format!("/api/v1/incidents/{id}"), &app.reader)
        .await;
    assert_eq!(got["description"], "The later version");

    // A copy that does not parse: the id is rejected and no copy of it is applied.
    let other = incident_objects("Half broken").await;
    let other_id = other[0]["id"].as_str().unwrap().to_owned();
    let mut broken = other[0].clone();
    broken["created"] = serde_json::json!("2024-05-01T00:00:00Z");
    let mut mixed = other.clone();
    mixed.push(broken);
    let (_, report) = import(&app, bundle_of("bundle", &mixed), "application/json").await;
    assert_eq!(
        categories(&report),
        vec![(other_id.clone(), "rejected")],
        "{report}"
    );
    assert_eq!(
        app.get(&format!("/api/v1/incidents/{other_id}"), &app.reader)
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn csv_rows_that_are_not_utf8_have_extra_cells_or_an_open_quote_are_rejected_by_line() {
    let app = spawn_app().await;
    let mut csv: Vec<u8> = b"Year,Target Country,Event,Threat Actor,Event description,T0002_Facilitate State Propaganda\n\
2023,Poland,Good one,Russia,Fine,1\n\
2023,Poland,Caf"
        .to_vec();
    csv.push(0xE9); // Latin-1, not UTF-8
    csv.extend_from_slice(
        b" rumour,Russia,d,1\n\
2023,Poland,Extra,Russia,A description, with a comma,1\n\
2023,Poland,Broken quote,Russia,\"Opens here and never closes,1\n\
2023,Poland,Swallowed,Russia,Gone,1\n",
    );
    let (status, report) = import(&app, csv, "text/csv").await;
    assert_eq!(status, 202);
    let created = report["created"].as_array().unwrap();
    assert_eq!(created.len(), 1, "only the good row: {report}");
    let rejected: Vec<(String, String)> = report["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["ref"].as_str().unwrap().to_owned(),
                r["errors"].to_string(),
            )
        })
        .collect();
    assert_eq!(rejected.len(), 3, "{report}");
    assert_eq!(rejected[0].0, "row 3");
    assert!(
        rejected[0]
            .1
            .contains("row 3: column \\\"Event\\\" is not UTF-8"),
        "{}",
        rejected[0].1
    );
    assert_eq!(rejected[1].0, "row 4");
    assert!(
        rejected[1]
            .1
            .contains("row 4: 7 cells where the header has 6"),
        "{}",
        rejected[1].1
    );
    assert_eq!(rejected[2].0, "row 5");
    assert!(
        rejected[2]
            .1
            .contains("opened on line 5 is not closed where it should be: it runs to line 6"),
        "{}",
        rejected[2].1
    );
    let (_, list) = app.get("/api/v1/incidents", &app.reader).await;
    assert_eq!(list["total"], 1, "nothing of a rejected row is stored");
    assert!(
        !list.to_string().contains('\u{fffd}'),
        "no replacement character"
    );
}
