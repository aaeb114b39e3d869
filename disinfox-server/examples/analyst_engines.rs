//! Renders the analyst engines' outputs from the demo data (seed 42, 240 incidents) into a
//! folder, and prints their sizes and the time each report takes (median of several runs):
//! the figures `bench/analyst.sh` prints.
//!
//!   cargo run --release -p disinfox-server --example analyst_engines -- OUT_DIR [RUNS]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use disinfox_server::graph::{self, GraphActor, GraphInput, GraphRelated, NodeKind};
use disinfox_server::maps;
use disinfox_server::report::{
    by_tactic, IncidentReport, ReportIncident, ReportMeta, ReportRelated, SetReport,
};
use stix_model::disarm::{Catalogue, DisarmVersion};
use stix_model::markings::Tlp;
use stix_model::CountryCode;

fn median<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        last = Some(f());
        times.push(t.elapsed());
    }
    times.sort();
    (times[times.len() / 2], last.expect("at least one run"))
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let out = std::path::PathBuf::from(args.next().unwrap_or_else(|| "bench/out/analyst".into()));
    let runs: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(5);
    std::fs::create_dir_all(&out)?;
    let base = "https://disinfox.example.org";
    let descriptions = stix_model::sample::incidents(42, 240);
    let incidents: Vec<ReportIncident> = descriptions
        .iter()
        .enumerate()
        .map(|(i, d)| ReportIncident {
            id: format!("incident--demo-{i}"),
            url: Some(format!("{base}/incidents/incident--demo-{i}")),
            ..ReportIncident::from_description(d)
        })
        .collect();
    let meta = ReportMeta {
        tlp: Tlp::Amber,
        organisation: "DISINFOX demo organisation".into(),
        date: "2025-06-01".into(),
        disarm: DisarmVersion::V1_7,
    };

    // Maps.
    let mut targets: BTreeMap<CountryCode, u64> = BTreeMap::new();
    for i in &incidents {
        for c in &i.target_countries {
            *targets.entry(*c).or_default() += 1;
        }
    }
    let href = |c: CountryCode| format!("/incidents?target_country={c}");
    let choropleth = maps::choropleth(&targets, "Target countries").svg(&href);
    std::fs::write(out.join("choropleth.svg"), &choropleth)?;
    let one = &incidents[0];
    let small = maps::incident(&one.target_countries, one.country_of_origin)
        .map(|p| p.svg(&href))
        .unwrap_or_default();
    std::fs::write(out.join("incident-map.svg"), &small)?;
    let (png, _) = maps::choropleth(&targets, "Target countries").png(1600);
    std::fs::write(out.join("choropleth.png"), &png)?;

    // The graph of the first incident, with three others as related.
    let related: Vec<GraphRelated> = incidents[1..4]
        .iter()
        .map(|r| GraphRelated {
            id: r.id.clone(),
            name: r.name.clone(),
            reason: "shares a technique".into(),
        })
        .collect();
    let input = GraphInput {
        id: one.id.clone(),
        name: one.name.clone(),
        tactics: by_tactic(&one.techniques, Catalogue::builtin(DisarmVersion::V1_7)),
        actors: one
            .actors
            .iter()
            .map(|a| GraphActor {
                name: a.name.clone(),
                uncertain: a.uncertain,
            })
            .collect(),
        targets: one.target_countries.clone(),
        origin: one.country_of_origin,
        channels: one.channels.clone(),
        related,
    };
    let graph_svg = graph::svg(&input, &|k, key| {
        Some(match k {
            NodeKind::Incident | NodeKind::Related => format!("/incidents/{key}"),
            NodeKind::Technique => format!("/techniques/{key}"),
            NodeKind::Actor => format!("/incidents?actor={key}"),
            NodeKind::Country => format!("/incidents?target_country={key}"),
            NodeKind::Channel => format!("/incidents?channel={key}"),
        })
    });
    std::fs::write(out.join("graph.svg"), &graph_svg)?;
    println!(
        "choropleth SVG (240 demo incidents): {} bytes",
        choropleth.len()
    );
    println!("incident map SVG (demo incident 1): {} bytes", small.len());
    println!(
        "incident graph SVG (demo incident 1): {} bytes",
        graph_svg.len()
    );

    // Reports.
    let report = IncidentReport {
        meta: meta.clone(),
        incident: one.clone(),
        related: incidents[1..4]
            .iter()
            .map(|r| ReportRelated {
                name: r.name.clone(),
                url: r.url.clone(),
                reason: "shares a technique".into(),
            })
            .collect(),
    };
    let set = SetReport {
        meta,
        title: "All demo incidents".into(),
        filters: Vec::new(),
        incidents,
    };
    let (t, pdf) = median(runs, || report.pdf());
    let pdf = pdf?;
    println!(
        "incident report PDF: {:?} median of {runs}, {} bytes",
        t,
        pdf.len()
    );
    std::fs::write(out.join("incident.pdf"), &pdf)?;
    let (t, docx) = median(runs, || report.docx());
    let docx = docx?;
    println!(
        "incident report DOCX: {:?} median of {runs}, {} bytes",
        t,
        docx.len()
    );
    std::fs::write(out.join("incident.docx"), &docx)?;
    let (t, pdf) = median(runs, || set.pdf());
    let pdf = pdf?;
    println!(
        "240-incident report PDF: {:?} median of {runs}, {} bytes",
        t,
        pdf.len()
    );
    std::fs::write(out.join("set.pdf"), &pdf)?;
    let (t, docx) = median(runs, || set.docx());
    let docx = docx?;
    println!(
        "240-incident report DOCX: {:?} median of {runs}, {} bytes",
        t,
        docx.len()
    );
    std::fs::write(out.join("set.docx"), &docx)?;
    Ok(())
}
