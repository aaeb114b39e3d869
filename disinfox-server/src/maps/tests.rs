use std::collections::BTreeMap;
use std::io::Read;

use stix_model::CountryCode;

use super::*;

fn cc(s: &str) -> CountryCode {
    CountryCode::parse(s).unwrap()
}

fn href(c: CountryCode) -> String {
    format!("/incidents?target_country={c}&x=<&>")
}

/// Incidents per target country of the 240 demo incidents (seed 42, as `demo` seeds them).
pub(crate) fn demo_counts() -> BTreeMap<CountryCode, u64> {
    let mut counts = BTreeMap::new();
    for d in stix_model::sample::incidents(42, 240) {
        for c in d.target_countries {
            *counts.entry(c).or_insert(0) += 1;
        }
    }
    counts
}

/// Checks that every element opened is closed in order (no XML parser among our
/// dependencies; the browser tests of phase B parse the pages for real).
pub(crate) fn assert_well_formed(xml: &str) {
    let mut stack: Vec<&str> = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find('<') {
        rest = &rest[i + 1..];
        let end = rest.find('>').expect("unclosed tag");
        let tag = &rest[..end];
        rest = &rest[end + 1..];
        if tag.starts_with('?') || tag.starts_with('!') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop(), Some(name), "closing {name}");
        } else if !tag.ends_with('/') {
            stack.push(tag.split([' ', '\n']).next().unwrap());
        }
        assert!(!tag.contains('<'), "< inside a tag: {tag}");
    }
    assert!(stack.is_empty(), "unclosed: {stack:?}");
}

#[test]
fn the_world_data_reads_whole() {
    let w = world();
    assert_eq!(w.width(), 10_000);
    assert!((4000..4600).contains(&w.height()), "{}", w.height());
    let rings = w
        .shapes()
        .iter()
        .filter(|s| matches!(s.geometry, Geometry::Rings(_)))
        .count();
    let points = w.shapes().len() - rings;
    assert!(rings >= 170, "{rings} countries with shapes");
    assert!(points >= 50, "{points} countries as points");
    // Every data line became a shape: none was dropped as unreadable.
    let lines = include_str!("../../data/world-110m.tsv")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("size"))
        .count();
    assert_eq!(w.shapes().len(), lines);
    for code in ["UA", "FR", "RU", "US", "XK", "CY", "SO"] {
        assert!(
            matches!(w.shape(cc(code)).unwrap().geometry, Geometry::Rings(_)),
            "{code}"
        );
    }
    assert!(matches!(
        w.shape(cc("MT")).unwrap().geometry,
        Geometry::Point(_)
    ));
    assert!(w.shape(cc("AQ")).is_none(), "Antarctica is left out");
    for s in w.shapes() {
        // No ring stretches across the map: rings crossing the antimeridian (Russia's
        // Chukotka, Fiji) are cut by the script, not drawn as a band over the oceans.
        if let Geometry::Rings(rings) = &s.geometry {
            for r in rings {
                let (lo, hi) = r.iter().fold((i32::MAX, i32::MIN), |(lo, hi), p| {
                    (lo.min(p[0]), hi.max(p[0]))
                });
                assert!(hi - lo < 4_000, "{:?}: a ring {lo}..{hi}", s.code);
            }
        }
        let b = s.bbox();
        assert!(b[0] >= -40 && b[2] <= 10_040, "{:?} {b:?}", s.code);
        assert!(b[1] >= -40 && b[3] <= w.height() + 40, "{:?} {b:?}", s.code);
    }
    // France's mainland, not French Guiana, is its main box; Kyiv is east of Paris.
    let fr = w.shape(cc("FR")).unwrap();
    assert!(fr.main_bbox()[2] - fr.main_bbox()[0] < fr.bbox()[2] - fr.bbox()[0]);
    assert!(w.shape(cc("UA")).unwrap().main_bbox()[0] > fr.main_bbox()[2]);
}

#[test]
fn the_scale_has_up_to_five_growing_classes() {
    assert!(Scale::new(0).legend().is_empty());
    assert_eq!(Scale::new(0).class(0), 0);
    let s = Scale::new(3);
    assert_eq!(
        s.legend(),
        vec![(3, "1".into()), (4, "2".into()), (5, "3".into())]
    );
    let s = Scale::new(30);
    let labels: Vec<String> = s.legend().into_iter().map(|l| l.1).collect();
    assert_eq!(labels, vec!["1", "2–3", "4–7", "8–15", "16–30"]);
    assert_eq!(s.class(1), 1);
    assert_eq!(s.class(3), 2);
    assert_eq!(s.class(30), 5);
    let mut last = 0;
    for n in 0..=30 {
        assert!(s.class(n) >= last);
        last = s.class(n);
    }
    // Large counts: still five classes, each non-empty.
    let s = Scale::new(1_000_000);
    assert_eq!(s.legend().len(), 5);
    assert_eq!(s.class(1_000_000), 5);
}

#[test]
fn a_choropleth_links_counted_countries_and_labels_every_one() {
    let counts = BTreeMap::from([
        (cc("FR"), 12),
        (cc("UA"), 30),
        (cc("MT"), 2),
        (cc("DE"), 0),
        (cc("AQ"), 1),
    ]);
    let svg = choropleth(&counts, "Target countries").svg(&href);
    assert_well_formed(&svg);
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(svg.contains(
        "<title>Target countries: incidents per country; 4 countries with incidents</title>"
    ));
    assert!(svg.contains(
        "<a href=\"/incidents?target_country=FR&amp;x=&lt;&amp;&gt;\">\
         <title>France: 12 incidents</title><path d=\"M"
    ));
    assert!(svg.contains("<title>Ukraine: 30 incidents</title>"));
    // Malta is a dot, linked; Germany and Brazil have none: drawn, labelled, and linked to
    // their (empty) lists too.
    assert!(svg.contains("target_country=MT"));
    assert!(svg.contains("<title>Malta: 2 incidents</title><circle "));
    assert!(svg
        .contains("target_country=DE&amp;x=&lt;&amp;&gt;\"><title>Germany: no incidents</title>"));
    assert!(svg.contains("<title>Brazil: no incidents</title>"));
    // Antarctica has no shape: named under the legend, and still linked.
    assert!(svg.contains("Not on the map: <a href=\"/incidents?target_country=AQ"));
    // Every country drawn is one link with a label that names it and counts, plus
    // Antarctica's; small countries without incidents (dots) are not drawn.
    let drawn = world()
        .shapes()
        .iter()
        .filter(|s| matches!(s.geometry, Geometry::Rings(_)) || s.code == cc("MT"))
        .count();
    assert_eq!(svg.matches("<a ").count(), drawn + 1);
    let mut labelled = 0;
    for link in svg.split("<a href=\"").skip(1) {
        if let Some((_, rest)) = link.split_once("\"><title>") {
            let label = &rest[..rest.find("</title>").unwrap()];
            assert!(
                label.ends_with(" incidents") || label.ends_with(" incident"),
                "{label}"
            );
            labelled += 1;
        }
    }
    assert_eq!(labelled, drawn);
    assert!(
        !svg.contains("Andorra"),
        "a dot without incidents is left out"
    );
    // Nothing the strict CSP or an offline page would refuse.
    for bad in [
        "style=", "<style", "<script", "http://", "https://", "url(", "xlink",
    ] {
        assert!(
            !svg.replace("http://www.w3.org/2000/svg", "").contains(bad),
            "{bad}"
        );
    }
    // The heaviest country is in the darkest class, with the darkest fill.
    let c5 = svg.find("<g class=\"map-c5\" fill=\"#1b5c9e\">").unwrap();
    assert!(svg[c5..].starts_with(
        "<g class=\"map-c5\" fill=\"#1b5c9e\"><a href=\"/incidents?target_country=UA"
    ));
    // The legend names every class.
    for label in ["16–30", "8–15", ">0<"] {
        assert!(svg.contains(label), "{label}");
    }
}

#[test]
fn the_demo_choropleth_is_small_and_the_same_every_time() {
    let counts = demo_counts();
    let svg = choropleth(&counts, "Target countries").svg(&href);
    assert!(svg.len() < 60_000, "{} bytes", svg.len());
    assert_eq!(svg, choropleth(&counts, "Target countries").svg(&href));
    for (c, n) in &counts {
        assert!(svg.contains(&format!("target_country={c}&")), "{c}");
        let label = format!("\"><title>{}: {n} incident", c.name());
        assert!(svg.contains(&label), "{label}");
    }
    // Every country counted, the worst case for links and titles: still under 60 KB.
    let all: BTreeMap<CountryCode, u64> = CountryCode::all()
        .enumerate()
        .map(|(i, c)| (c, 1 + i as u64))
        .collect();
    let svg =
        choropleth(&all, "Target countries").svg(&|c| format!("/incidents?target_country={c}"));
    assert_well_formed(&svg);
    assert!(svg.len() < 60_000, "{} bytes", svg.len());
}

#[test]
fn an_incident_map_zooms_to_its_countries() {
    assert!(incident(&[], None).is_none());
    let plan = incident(&[cc("UA"), cc("MD")], Some(cc("RU"))).unwrap();
    // Russia's mainland reaches the Pacific: the view is most of the northern world, yet
    // not the whole map.
    let whole = f64::from(world().width());
    assert!(plan.view.w <= whole);
    let plan = incident(&[cc("UA"), cc("MD")], Some(cc("BY"))).unwrap();
    assert!(plan.view.w < whole / 4.0, "{:?}", plan.view);
    assert!((plan.view.w / plan.view.h - 2.0).abs() < 1e-9);
    let svg = plan.svg(&|c| format!("/incidents?target_country={c}"));
    assert_well_formed(&svg);
    assert!(svg
        .contains("<title>Target countries: Ukraine, Moldova; country of origin: Belarus</title>"));
    for (c, what) in [("UA", "target"), ("MD", "target"), ("BY", "origin")] {
        assert!(svg.contains(&format!("target_country={c}")), "{c}");
        assert!(svg.contains(&format!("({what})</title>")), "{what}");
    }
    // Neighbours are drawn for context, labelled and not linked; far countries are not drawn.
    assert!(svg.contains("<title>Poland</title></path>"));
    assert!(!svg.contains("target_country=PL"));
    assert!(!svg.contains("Brazil"));
    assert!(svg.contains(">Target</text>") && svg.contains(">Origin</text>"));
    assert!(svg.len() < 30_000, "{} bytes", svg.len());
    // Both target and origin.
    let svg = incident(&[cc("RU")], Some(cc("RU")))
        .unwrap()
        .svg(&|c| format!("/x/{c}"));
    assert!(svg.contains("Russian Federation (target and origin)"));
    // Far apart: the whole world.
    let plan = incident(&[cc("US")], Some(cc("CN"))).unwrap();
    assert_eq!(plan.view.w, whole);
    // A point country zooms too.
    let plan = incident(&[cc("MT")], None).unwrap();
    assert!(plan.view.w <= whole / 8.0 + 1e-9);
}

fn png_pixels(png: &[u8]) -> (usize, usize, Vec<u8>) {
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
    let mut i = 8;
    let (mut w, mut h, mut idat) = (0, 0, Vec::new());
    while i + 8 <= png.len() {
        let len = u32::from_be_bytes(png[i..i + 4].try_into().unwrap()) as usize;
        let kind = &png[i + 4..i + 8];
        let data = &png[i + 8..i + 8 + len];
        let crc = u32::from_be_bytes(png[i + 8 + len..i + 12 + len].try_into().unwrap());
        assert_eq!(crc, crc32fast::hash(&png[i + 4..i + 8 + len]));
        match kind {
            b"IHDR" => {
                w = u32::from_be_bytes(data[0..4].try_into().unwrap()) as usize;
                h = u32::from_be_bytes(data[4..8].try_into().unwrap()) as usize;
            }
            b"IDAT" => idat.extend_from_slice(data),
            _ => {}
        }
        i += 12 + len;
    }
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(&idat[..])
        .read_to_end(&mut raw)
        .unwrap();
    assert_eq!(raw.len(), (w * 3 + 1) * h);
    let rgb = raw
        .chunks_exact(w * 3 + 1)
        .flat_map(|r| r[1..].to_vec())
        .collect();
    (w, h, rgb)
}

#[test]
fn a_png_map_fills_countries_with_their_colour() {
    let counts = BTreeMap::from([(cc("BR"), 30), (cc("AU"), 1)]);
    let plan = choropleth(&counts, "Targets");
    let (png, height) = plan.png(800);
    let (w, h, rgb) = png_pixels(&png);
    assert_eq!((w, h as u32), (800, height));
    let at = |code: &str| {
        // The centre of the country's main box, in pixels.
        let b = world().shape(cc(code)).unwrap().main_bbox();
        let x = (f64::from(b[0] + b[2]) / 2.0 * 800.0 / plan.view.w) as usize;
        let y = (f64::from(b[1] + b[3]) / 2.0 * 800.0 / plan.view.w) as usize;
        let i = (y * w + x) * 3;
        (rgb[i], rgb[i + 1], rgb[i + 2])
    };
    assert_eq!(at("BR"), PALETTE[5]);
    assert_eq!(at("AU"), PALETTE[1]);
    assert_eq!(at("RU"), PALETTE[0]);
    // The ocean stays white.
    assert_eq!((rgb[0], rgb[1], rgb[2]), (255, 255, 255));
    let (small, _) = incident(&[cc("PL")], None).unwrap().png(400);
    assert!(png_pixels(&small)
        .2
        .chunks(3)
        .any(|p| p == [TARGET.0, TARGET.1, TARGET.2]));
}
