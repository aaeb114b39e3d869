//! Every main page, on the demo dataset, with a screenshot of each in target/screenshots/.

use crate::browser::Browser;
use crate::support::{spawn_app, TempDir};

const CSV: &str = "Year,Target Country,Event,Threat Actor,Event description,T0002_Facilitate State Propaganda,T0049.003_Bots Amplify via Automated Forwarding and Reposting,Telegram,Source 1
2023,\"Ukraine, Poland\",Imported grain scare,Russia,A story about poisoned grain,1,1,1,https://example.org/grain
20x3,Atlantis,Broken row,,x,1,0,0,
";

/// The demo incidents, with their first sightings spread over 2022–2024 (the demo dataset
/// itself puts them all in January 2022), so that the chart over time has something to show.
async fn seed_over_three_years(app: &crate::support::TestApp) {
    let inputs = disinfox_server::demo::inputs(disinfox_server::demo::DEMO_INCIDENTS, 42);
    for (i, (mut input, created)) in inputs.into_iter().enumerate() {
        // More incidents in later months, with some noise.
        let month = ((i * 7919) % 997 % 36).max((i * 36 / 240).saturating_sub(6));
        input.first_seen = Some(format!("{}-{:02}", 2022 + month / 12, month % 12 + 1));
        let incident = input
            .validate(
                stix_model::disarm::DisarmVersion::V1_7,
                disinfox_server::model::TechniquePolicy::Keep,
                &mut Vec::new(),
            )
            .unwrap();
        let id = stix_model::opencti::incident(&incident.input.name, &created.to_string()).unwrap();
        app.state
            .store
            .save_incident(&id, &incident, created, None, None)
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_main_page_renders_full_and_is_saved_as_a_screenshot() {
    let app = spawn_app().await;
    seed_over_three_years(&app).await;
    let b = Browser::start(&app.base).await;

    b.goto("/").await;
    assert!(b.main_text().await.contains("DISINFOX server of DISINFOX"));
    b.screenshot("landing", 1280).await;
    b.goto("/login").await;
    b.screenshot("login", 1280).await;
    b.sign_in("admin@test.org").await;

    assert!(b.text(".stats").await.contains("240"));
    let bars =
        b.c.find_all(fantoccini::Locator::Css("svg.chart rect"))
            .await
            .unwrap();
    assert!(bars.len() > 12, "a bar per month: {}", bars.len());
    assert!(b.text("footer").await.contains("CC BY-SA 4.0"));
    b.screenshot("dashboard", 1280).await;
    b.screenshot_at_most("dashboard-phone", 390, 1400).await;

    b.goto("/map").await;
    let countries =
        b.c.find_all(fantoccini::Locator::Css(
            "svg.map a[href^='/incidents?country=']",
        ))
        .await
        .unwrap();
    assert!(
        countries.len() > 150,
        "every country linked: {}",
        countries.len()
    );
    b.screenshot("map", 1280).await;

    b.goto("/incidents").await;
    assert_eq!(b.text("h1 .count").await, "240");
    assert_eq!(
        b.c.find_all(fantoccini::Locator::Css("table.incidents tbody tr"))
            .await
            .unwrap()
            .len(),
        50
    );
    b.click_and_wait(".pager a[rel=next]").await;
    assert!(b.path().await.ends_with("page=2"));
    b.screenshot("incidents", 1280).await;
    b.goto("/incidents?tactic=maximise-exposure&sort=date&order=asc")
        .await;
    assert!(b.text(".chips").await.contains("Tactic: Maximise Exposure"));
    b.screenshot("incidents-filtered", 1280).await;
    b.screenshot_at_most("incidents-phone", 390, 1400).await;

    b.click_and_wait("table.incidents tbody tr:first-child td:first-child a")
        .await;
    assert!(b.path().await.starts_with("/incidents/incident--"));
    // The incident with the most techniques, for the picture.
    let (all, _) = app
        .state
        .store
        .list_incidents(&Default::default(), Default::default(), true, 0, 1000)
        .await
        .unwrap();
    let rich = all
        .iter()
        .max_by_key(|s| {
            (
                s.incident.input.techniques.len(),
                s.incident.input.target_countries.len(),
            )
        })
        .unwrap();
    b.goto(&format!("/incidents/{}", rich.id)).await;
    assert!(b.text("main").await.contains("Related incidents"));
    assert!(
        b.exists("ol.related li").await,
        "demo incidents are related"
    );
    assert!(b.exists(".tactic-group").await);
    b.click("#bundle details summary").await;
    assert!(b
        .text("#bundle-json")
        .await
        .contains("\"type\": \"bundle\""));
    b.screenshot("incident", 1280).await;
    // The graph of the incident's objects, and the second page of its report (PDF, drawn by
    // pdftoppm from poppler-utils, as the README shows it).
    assert!(b.exists("#graph svg a").await);
    b.screenshot_of("#graph", "graph").await;
    let (status, _, _, pdf) = crate::intake::fetch_link(&b, "#report-pdf").await;
    assert_eq!(status, 200);
    let dir = TempDir::new();
    let file = dir.0.join("report.pdf");
    std::fs::write(&file, pdf).unwrap();
    let page = crate::browser::screenshot_dir().join("report");
    match std::process::Command::new("pdftoppm")
        .args([
            "-png",
            "-f",
            "2",
            "-l",
            "2",
            "-singlefile",
            "-scale-to",
            "900",
        ])
        .arg(&file)
        .arg(&page)
        .status()
    {
        Ok(s) => assert!(s.success(), "pdftoppm failed"),
        Err(e) => {
            assert!(
                std::env::var_os("DISINFOX_PYTHON").is_none_or(|p| p.is_empty()),
                "pdftoppm is missing under scripts/test: {e}"
            );
            eprintln!("SKIPPED the report page's picture: pdftoppm (poppler-utils): {e}");
        }
    }

    // The same report as DOCX: saved beside the screenshots, and drawn as a picture when
    // LibreOffice is installed (only to draw the README's picture: the server writes DOCX
    // itself and the tests read it back with python-docx).
    let (status, _, _, docx) = crate::intake::fetch_link(&b, "#report-docx").await;
    assert_eq!(status, 200);
    assert!(docx.starts_with(b"PK"), "a DOCX is a ZIP package");
    let docx_file = crate::browser::screenshot_dir().join("report.docx");
    std::fs::write(&docx_file, &docx).unwrap();
    let out = dir.0.join("docx");
    match std::process::Command::new("soffice")
        .args(["--headless", "--convert-to", "pdf", "--outdir"])
        .arg(&out)
        .arg(&docx_file)
        .env("HOME", &dir.0)
        .stdout(std::process::Stdio::null())
        .status()
    {
        Ok(s) if s.success() => {
            let drawn = std::process::Command::new("pdftoppm")
                .args(["-png", "-f", "2", "-l", "2", "-singlefile", "-scale-to", "900"])
                .arg(out.join("report.pdf"))
                .arg(crate::browser::screenshot_dir().join("report-docx"))
                .status();
            assert!(drawn.is_ok_and(|s| s.success()), "pdftoppm of the DOCX's PDF");
        }
        _ => eprintln!("note: no picture of the DOCX report (LibreOffice's soffice is not installed; it is only used for the README's picture)"),
    }

    b.goto("/matrix").await;
    let shaded =
        b.c.find_all(fantoccini::Locator::Css(".matrix li.h5"))
            .await
            .unwrap();
    assert!(
        !shaded.is_empty(),
        "the most used techniques are the darkest"
    );
    assert!(b.text(".attribution").await.contains("DISARM Foundation"));
    b.screenshot("matrix-full", 2400).await;
    b.screenshot_at_most("matrix", 2400, 1500).await;

    b.goto("/actors").await;
    b.screenshot("actors", 1280).await;
    b.click_and_wait("table.bars tr:first-child a").await;
    assert!(b.text("h1").await.contains("incidents"));
    b.screenshot("actor", 1280).await;

    b.goto("/incidents/new").await;
    b.fill("[data-picker-search]", "bots").await;
    b.screenshot("incident-new", 1280).await;
    b.fill("#f-name", "Screenshot").await;
    b.fill("#f-first_seen", "last spring").await;
    b.fill("input[name=target_countries]", "Atlantis").await;
    b.click_and_wait("form.incident-form button[type=submit]")
        .await;
    assert!(b.exists("#err-first_seen").await);
    b.screenshot("incident-form-errors", 1280).await;

    // The PDF intake's proposals on the new-incident form.
    crate::intake::upload_sample_report(&b, &dir).await;
    assert!(b.text("#proposals").await.contains("T0086.001"));
    b.screenshot_at_most("intake", 1280, 1500).await;

    let file = dir.0.join("bulk.csv");
    std::fs::write(&file, CSV).unwrap();
    b.goto("/import").await;
    b.c.find(fantoccini::Locator::Css("input[type=file]"))
        .await
        .unwrap()
        .send_keys(&file.display().to_string())
        .await
        .unwrap();
    b.click_and_wait("form[action='/import'] button").await;
    let report = b.text(".report").await;
    assert!(report.contains("Imported grain scare"), "{report}");
    assert!(
        report.contains("row 3") && report.contains("is not a year"),
        "{report}"
    );
    b.screenshot("import-report", 1280).await;

    b.goto("/profile").await;
    b.fill(
        "form[action='/profile/keys'] input[name=name]",
        "OpenCTI connector",
    )
    .await;
    b.click_and_wait("form[action='/profile/keys'] button[type=submit]")
        .await;
    assert!(b.exists("#new-key").await);
    b.screenshot("profile", 1280).await;

    b.goto("/admin/users").await;
    assert!(b.text("table.users").await.contains("reader@test.org"));
    b.screenshot("users", 1280).await;

    b.goto("/techniques").await;
    b.screenshot_at_most("techniques", 1280, 1500).await;
    // The first technique some incident uses.
    let used = b
        .c
        .execute(
            "return document.querySelector('table.techniques-list td.num a').closest('tr').querySelector('td a').getAttribute('href');",
            vec![],
        )
        .await
        .unwrap();
    b.goto(used.as_str().unwrap()).await;
    assert!(
        b.exists("#co-occurring table.bars a").await,
        "demo techniques co-occur"
    );
    b.screenshot("technique", 1280).await;
    b.goto("/developers").await;
    b.screenshot_at_most("developers", 1280, 2400).await;

    // The dark theme, chosen with the switch in the header.
    b.goto("/dashboard").await;
    b.c.find(fantoccini::Locator::Css("#theme-choice"))
        .await
        .unwrap()
        .select_by_value("dark")
        .await
        .unwrap();
    b.click_and_wait("#theme-switch button[type=submit]").await;
    b.screenshot("dashboard-dark", 1280).await;
    b.goto("/incidents").await;
    b.click_and_wait("table.incidents tbody tr:first-child td:first-child a[href^='/incidents/']")
        .await;
    b.screenshot("incident-dark", 1280).await;
    b.goto("/matrix").await;
    b.screenshot_at_most("matrix-dark", 2400, 1500).await;
    b.close().await;
}
