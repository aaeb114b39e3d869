//! What analysts and readers do in the browser.

use serde_json::{json, Value};

use crate::browser::Browser;
use crate::support::{incident, spawn_app, TestApp};

async fn setup() -> (TestApp, Browser) {
    let app = spawn_app().await;
    let b = Browser::start(&app.base).await;
    (app, b)
}

/// Checks a technique in the picker: finds it by the search box, then ticks it.
async fn pick_technique(b: &Browser, search: &str, id: &str) {
    b.fill("[data-picker-search]", search).await;
    b.click(&format!("input[name=techniques][value='{id}']"))
        .await;
}

async fn api_list(app: &TestApp, query: &str) -> Value {
    let (status, v) = app
        .get(&format!("/api/v1/incidents?{query}"), &app.reader)
        .await;
    assert_eq!(status, 200, "{v}");
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_analyst_creates_an_incident_and_finds_it_by_search_facet_and_matrix() {
    let (app, b) = setup().await;
    // Another incident, so that search and facets have something to leave out.
    app.create(&json!({"name": "Elections in France", "target_countries": ["FR"], "techniques": ["T0015"]}))
        .await;
    b.sign_in("analyst@test.org").await;
    b.click_and_wait("nav.main a[href='/incidents/new']").await;
    b.fill("#f-name", "Fake howitzer sale on Telegram").await;
    b.fill(
        "#f-description",
        "A fabricated video claimed Ukraine sold howitzers.",
    )
    .await;
    b.fill("#f-first_seen", "2024-05").await;
    pick_technique(&b, "T0002", "T0002").await;
    pick_technique(&b, "bots amplify forwarding", "T0049.003").await;
    assert_eq!(b.text("[data-picker-count]").await, "2 selected");
    b.fill("input[name=actors]", "Russia").await;
    b.fill("input[name=target_countries]", "Ukraine").await;
    b.fill("input[name=channels]", "Telegram").await;
    b.fill("#f-sources", "https://example.org/report").await;
    b.click_and_wait("form.incident-form button[type=submit]")
        .await;

    assert!(
        b.path().await.starts_with("/incidents/incident--"),
        "{}",
        b.path().await
    );
    assert_eq!(b.text("main h1").await, "Fake howitzer sale on Telegram");
    assert!(b.text(".notice").await.contains("created"));
    let groups = b.text("#techniques").await;
    assert!(
        groups.contains("T0002") && groups.contains("T0049.003"),
        "{groups}"
    );
    let tactics: Vec<String> = {
        let mut v = Vec::new();
        for h in
            b.c.find_all(fantoccini::Locator::Css("#techniques h3"))
                .await
                .unwrap()
        {
            v.push(h.text().await.unwrap());
        }
        v
    };
    assert_eq!(
        tactics,
        vec![
            "TA02 Plan Objectives P01 Plan",
            "TA17 Maximise Exposure P03 Execute"
        ],
        "grouped by tactic, in matrix order"
    );
    let facts = b.text(".facts").await;
    assert!(
        facts.contains("Ukraine") && facts.contains("Russia") && facts.contains("Telegram"),
        "{facts}"
    );
    assert!(facts.contains("2024-05"), "{facts}");
    let (_, stored) = app.get("/api/v1/incidents?q=howitzer", &app.reader).await;
    assert_eq!(
        stored["items"][0]["techniques"],
        json!(["T0002", "T0049.003"])
    );
    assert_eq!(stored["items"][0]["target_countries"], json!(["UA"]));

    // Full-text search.
    b.goto("/incidents").await;
    b.fill(".filters input[name=q]", "howitzer").await;
    b.click_and_wait(".searchrow button").await;
    assert_eq!(b.path().await, "/incidents?q=howitzer");
    let rows = b.text("table.incidents tbody").await;
    assert!(rows.contains("Fake howitzer sale"), "{rows}");
    assert!(!rows.contains("Elections in France"), "{rows}");
    assert_eq!(b.text("h1 .count").await, "1");

    // A facet of the side bar: the target country.
    b.goto("/incidents").await;
    assert_eq!(b.text("h1 .count").await, "2");
    b.click_and_wait("aside.facets a[href='/incidents?country=UA']")
        .await;
    assert_eq!(b.path().await, "/incidents?country=UA");
    let rows = b.text("table.incidents tbody").await;
    assert!(
        rows.contains("Fake howitzer sale") && !rows.contains("Elections"),
        "{rows}"
    );
    assert!(
        b.text(".chips").await.contains("Ukraine (UA)"),
        "the active filter is shown"
    );

    // The matrix counts it, and its cell leads back to it.
    b.goto("/matrix").await;
    let cell = b
        .text(".matrix li a[href='/incidents?technique=T0002']")
        .await;
    assert!(cell.ends_with('1'), "{cell}");
    assert!(
        b.exists(".matrix li a[href='/incidents?technique=T0049.003']")
            .await
    );
    b.goto("/matrix?country=FR").await;
    assert!(
        !b.exists(".matrix li a[href*='technique=T0002']").await,
        "filtered out: no link for an empty cell"
    );
    assert!(
        b.exists(".matrix li a[href='/incidents?country=FR&technique=T0015']")
            .await
    );
    b.goto("/matrix").await;
    b.click_and_wait(".matrix li a[href='/incidents?technique=T0002']")
        .await;
    assert!(b
        .text("table.incidents tbody")
        .await
        .contains("Fake howitzer sale"));
    b.close().await;
}

async fn bundle_with(app: &TestApp, key: &str) -> reqwest::Response {
    app.client
        .get(app.url("/api/v1/bundle"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_key_made_on_the_profile_page_reads_the_bundle_endpoint() {
    let (app, b) = setup().await;
    app.create(&incident("Key check")).await;
    b.sign_in("reader@test.org").await;
    b.goto("/profile").await;
    b.fill(
        "form[action='/profile/keys'] input[name=name]",
        "my connector",
    )
    .await;
    b.click_and_wait("form[action='/profile/keys'] button[type=submit]")
        .await;
    let key = b.text("#new-key").await;
    assert!(key.starts_with("dfx_") && key.len() == 47, "{key}");
    let r = bundle_with(&app, &key).await;
    assert_eq!(r.status().as_u16(), 200);
    let bundle: Value = r.json().await.unwrap();
    assert_eq!(bundle["type"], "bundle");
    assert!(bundle.to_string().contains("Key check"));
    // Shown once: a reload lists the key by its prefix only.
    b.goto("/profile").await;
    assert!(!b.exists("#new-key").await);
    let keys = b.text("table.keys").await;
    assert!(
        keys.contains("my connector") && keys.contains(&key[..12]) && !keys.contains(&key),
        "{keys}"
    );
    // Revoked from the page, it stops working.
    b.c.execute("window.confirm = () => true;", vec![])
        .await
        .unwrap();
    b.click_and_wait("table.keys form button.danger").await;
    assert!(b.text(".notice").await.contains("revoked"));
    assert_eq!(bundle_with(&app, &key).await.status().as_u16(), 401);
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_form_shows_the_errors_by_the_fields_and_keeps_what_was_typed() {
    let (app, b) = setup().await;
    b.sign_in("analyst@test.org").await;
    b.goto("/incidents/new").await;
    b.fill("#f-name", "Kept name").await;
    b.fill("#f-description", "Kept <b>description</b>").await;
    b.fill("#f-first_seen", "2024-13").await;
    b.fill("input[name=target_countries]", "Atlantis").await;
    b.fill("#f-sources", "ftp://nowhere.example").await;
    b.fill("#f-conf", "high").await;
    pick_technique(&b, "T0002", "T0002").await;
    b.click_and_wait("form.incident-form button[type=submit]")
        .await;

    assert_eq!(b.path().await, "/incidents/new");
    assert!(b.text("#form-errors").await.contains("4 fields"));
    assert!(b.text("#err-first_seen").await.contains("not a date"));
    assert!(b.text("#err-target_countries").await.contains("Atlantis"));
    assert!(b
        .text("#err-source_urls")
        .await
        .contains("ftp://nowhere.example"));
    assert!(b
        .text("#err-confidence")
        .await
        .contains("not a whole number"));
    assert!(!b.exists("#err-name").await);
    assert_eq!(b.value("#f-name").await, "Kept name");
    assert_eq!(b.value("#f-description").await, "Kept <b>description</b>");
    assert_eq!(b.value("#f-first_seen").await, "2024-13");
    assert_eq!(b.value("input[name=target_countries]").await, "Atlantis");
    assert_eq!(b.value("#f-sources").await, "ftp://nowhere.example");
    assert_eq!(b.value("#f-conf").await, "high");
    let checked =
        b.c.execute(
            "return document.querySelector(\"input[value='T0002']\").checked",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(checked, json!(true), "the picked technique stays picked");
    assert_eq!(api_list(&app, "").await["total"], 0, "nothing was saved");

    // Corrected, it is saved.
    b.fill("#f-first_seen", "2024-12").await;
    b.fill("input[name=target_countries]", "PL").await;
    b.fill("#f-sources", "https://example.org/x").await;
    b.fill("#f-conf", "60").await;
    b.click_and_wait("form.incident-form button[type=submit]")
        .await;
    assert!(b.path().await.starts_with("/incidents/incident--"));
    assert_eq!(api_list(&app, "country=PL").await["total"], 1);
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_text_shows_as_text() {
    let (app, b) = setup().await;
    let name = "<script>alert(1)</script>";
    let mut body = incident(name);
    body["description"] = json!("<img src=x onerror=\"document.title='pwned'\"> and <b>bold</b>");
    body["actors"] = json!(["<i>Actor</i>"]);
    body["channels"] = json!(["<svg onload=alert(3)>"]);
    let created = app.create(&body).await;
    let id = created["id"].as_str().unwrap();
    b.sign_in("reader@test.org").await;
    for (path, shown) in [
        (format!("/incidents/{id}"), name),
        ("/incidents".to_owned(), name),
        ("/dashboard".to_owned(), name),
        ("/actors".to_owned(), "<i>Actor</i>"),
        ("/techniques/T0002".to_owned(), name),
        (
            "/matrix?actor=%3Ci%3EActor%3C%2Fi%3E".to_owned(),
            "Actor: <i>Actor</i>",
        ),
    ] {
        b.goto(&path).await;
        let elements = b
            .c
            .execute(
                "return document.querySelectorAll('main script, main img, main b, main i, main svg:not(.chart):not(.map):not(.graph)').length",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(elements, json!(0), "{path}: no element made from user text");
        assert!(
            b.main_text().await.contains(shown),
            "{path}: {shown} shows as text"
        );
        assert!(!b.c.title().await.unwrap().contains("pwned"), "{path}");
    }
    b.goto(&format!("/incidents/{id}")).await;
    assert_eq!(b.text("main h1").await, name);
    assert!(b.text(".description").await.contains("<img src=x"));
    assert!(b.text(".facts").await.contains("<i>Actor</i>"));
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_without_its_csrf_token_or_with_a_wrong_one_is_refused() {
    let (app, b) = setup().await;
    b.sign_in("analyst@test.org").await;
    for (what, script) in [
        (
            "a wrong token",
            "document.querySelector('form.incident-form input[name=csrf]').value = 'wrong';",
        ),
        (
            "no token",
            "document.querySelector('form.incident-form input[name=csrf]').remove();",
        ),
    ] {
        b.goto("/incidents/new").await;
        b.fill("#f-name", "Forged").await;
        b.c.execute(script, vec![]).await.unwrap();
        b.submit_form_of("#f-name").await;
        assert_eq!(b.text(".error-page .status").await, "403", "{what}");
        assert!(
            b.text(".error-page .message")
                .await
                .contains("security token"),
            "{what}"
        );
    }
    assert_eq!(api_list(&app, "").await["total"], 0, "nothing was created");
    // The sign-out form checks it too.
    b.goto("/dashboard").await;
    b.c.execute(
        "document.querySelector('form[action=\"/logout\"] input[name=csrf]').value = 'x';",
        vec![],
    )
    .await
    .unwrap();
    b.submit_form_of("form[action='/logout'] button").await;
    assert_eq!(b.text(".error-page .status").await, "403");
    b.goto("/dashboard").await;
    assert_eq!(b.path().await, "/dashboard", "still signed in");
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_is_refused_the_analyst_pages() {
    let (app, b) = setup().await;
    let created = app.create(&incident("Read only")).await;
    b.sign_in("reader@test.org").await;
    assert!(!b.exists("nav.main a[href='/incidents/new']").await);
    for path in [
        "/incidents/new".to_owned(),
        "/import".to_owned(),
        format!("/incidents/{}/edit", created["id"].as_str().unwrap()),
        "/admin/users".to_owned(),
    ] {
        b.goto(&path).await;
        assert_eq!(b.text(".error-page .status").await, "403", "{path}");
        assert_eq!(b.text(".error-page h1").await, "Forbidden", "{path}");
        assert!(
            b.text(".error-page .message").await.contains("reader role"),
            "{path}"
        );
        assert!(
            b.text(".me").await.contains("reader@test.org"),
            "{path}: still signed in"
        );
    }
    // Signed out, a page leads to the sign-in form and back.
    b.goto("/dashboard").await;
    b.click_and_wait("form[action='/logout'] button").await;
    assert_eq!(b.path().await, "/?done=signed-out");
    b.goto("/matrix?country=UA").await;
    assert_eq!(b.path().await, "/login?next=%2Fmatrix%3Fcountry%3DUA");
    b.fill("input[name=email]", "reader@test.org").await;
    b.fill("input[name=password]", crate::browser::PASSWORD)
        .await;
    b.click_and_wait("form[action='/login'] button").await;
    assert_eq!(b.path().await, "/matrix?country=UA");
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_waits_for_approval_then_signs_in_and_makes_a_key() {
    use disinfox_server::configuration::Registration;
    let app = crate::support::spawn_with(|s| s.registration = Registration::Approval).await;
    app.create(&incident("Seen after approval")).await;
    let b = Browser::start(&app.base).await;
    let password = "applicant password 1";
    b.goto("/login").await;
    b.click_and_wait("nav.main a[href='/register']").await;
    assert_eq!(b.path().await, "/register");
    b.fill("input[name=email]", "applicant@example.org").await;
    b.fill("input[name=password]", password).await;
    b.fill("input[name=confirm]", password).await;
    b.click_and_wait("form[action='/register'] button[type=submit]")
        .await;
    assert!(
        b.text("#registered").await.contains("pending"),
        "{}",
        b.main_text().await
    );

    // Pending: the right password is not enough yet.
    b.goto("/login").await;
    b.fill("input[name=email]", "applicant@example.org").await;
    b.fill("input[name=password]", password).await;
    b.click_and_wait("form[action='/login'] button[type=submit]")
        .await;
    assert_eq!(b.path().await, "/login");
    assert!(b.text(".alert").await.contains("pending"));

    // An administrator approves it on the users page.
    b.sign_in("admin@test.org").await;
    b.click_and_wait("nav.main a[href='/admin/users']").await;
    assert!(b.text("#pending-count").await.contains("1 registration"));
    b.click_and_wait("button[aria-label='Approve applicant@example.org']")
        .await;
    assert!(b.text(".notice").await.contains("approved"));
    assert!(!b.exists("#pending-count").await);
    b.click_and_wait("form[action='/logout'] button").await;

    // Now the applicant signs in, as a reader, and makes a key that reads the API.
    b.goto("/login").await;
    b.fill("input[name=email]", "applicant@example.org").await;
    b.fill("input[name=password]", password).await;
    b.click_and_wait("form[action='/login'] button[type=submit]")
        .await;
    assert_eq!(b.path().await, "/dashboard");
    assert_eq!(b.text(".me .badge").await, "reader");
    b.goto("/profile").await;
    b.fill("form[action='/profile/keys'] input[name=name]", "mine")
        .await;
    b.click_and_wait("form[action='/profile/keys'] button[type=submit]")
        .await;
    let key = b.text("#new-key").await;
    let (status, v) = app.get("/api/v1/incidents", &key).await;
    assert_eq!(status, 200);
    assert_eq!(v["items"][0]["name"], "Seen after approval");
    b.close().await;
}
