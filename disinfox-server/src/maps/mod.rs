//! Maps drawn by the server from country shapes shipped in the repository: a world
//! choropleth of incident counts per country, and a small map of one incident's target and
//! origin countries. No script, no request to anyone: the shapes are
//! `disinfox-server/data/world-110m.tsv`, derived by `scripts/derive_world.py` from Natural
//! Earth (public domain; `docs/maps.md` says how and why).
//!
//! A map is first planned ([`Plan`]: the part of the world to show, each country's colour,
//! its label and whether it links), then drawn: as SVG for the pages ([`Plan::svg`]), as PNG
//! for DOCX reports ([`Plan::png`]), and as PDF paths by [`crate::report`].

mod raster;
mod svg;
mod world;

use std::collections::BTreeMap;

use stix_model::CountryCode;

pub use world::{world, Geometry, Shape, World};

/// An RGB colour.
pub type Rgb = (u8, u8, u8);

/// The choropleth's colours: index 0 for countries without incidents, then five classes
/// from few to many (the light theme's heat-map colours of `assets/style.css`). The SVG
/// carries them as `fill` attributes and as classes `map-c0` … `map-c5`, so a stylesheet can
/// restyle them (the dark theme) while the SVG stays readable on its own.
pub const PALETTE: [Rgb; 6] = [
    (0xe4, 0xe7, 0xeb),
    (0xdb, 0xe8, 0xf6),
    (0xb4, 0xd0, 0xee),
    (0x7f, 0xb0, 0xe0),
    (0x3f, 0x86, 0xcc),
    (0x1b, 0x5c, 0x9e),
];
/// An incident map's target countries (class `map-target`).
pub const TARGET: Rgb = (0x23, 0x64, 0xaa);
/// An incident map's country of origin (class `map-origin`).
pub const ORIGIN: Rgb = (0xd9, 0x6c, 0x06);
/// A country that is both (class `map-both`).
pub const BOTH: Rgb = (0x7a, 0x3e, 0x9d);
/// Countries drawn only for context (class `map-c0`).
pub const CONTEXT: Rgb = PALETTE[0];
/// Borders between countries.
pub const BORDER: Rgb = (0xff, 0xff, 0xff);

/// Classes of counts for a choropleth: up to five, their lower bounds growing geometrically
/// from 1 to the largest count, so that one country with many incidents does not wash out
/// the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scale {
    /// The lower bound of each class, ascending; class `i + 1` starts at `lower[i]`.
    lower: Vec<u64>,
    max: u64,
}

impl Scale {
    /// The classes for counts up to `max`.
    pub fn new(max: u64) -> Self {
        let mut lower: Vec<u64> = Vec::new();
        if max <= 5 {
            lower.extend(1..=max);
        } else {
            for i in 0..5 {
                let b = (max as f64).powf(f64::from(i) / 5.0).ceil() as u64;
                let b = lower.last().map_or(b, |&l| b.max(l + 1));
                if b <= max {
                    lower.push(b);
                }
            }
        }
        Self { lower, max }
    }

    /// The class of a count: 0 for none, else 1 to 5 (an index into [`PALETTE`]).
    pub fn class(&self, n: u64) -> usize {
        if n == 0 {
            return 0;
        }
        let i = self.lower.iter().take_while(|&&l| l <= n).count().max(1);
        // With fewer than five classes, spread them over the palette's darker end.
        i + (5 - self.lower.len().max(1))
    }

    /// The legend: each class's colour index and its range in words (`4–7`).
    pub fn legend(&self) -> Vec<(usize, String)> {
        self.lower
            .iter()
            .enumerate()
            .map(|(i, &from)| {
                let to = self.lower.get(i + 1).map_or(self.max, |n| n - 1);
                let label = if to > from {
                    format!("{from}–{to}")
                } else {
                    from.to_string()
                };
                (self.class(from), label)
            })
            .collect()
    }
}

/// A rectangle of the map, in the data's units (tenths of a map unit; the world is 10000
/// wide).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct View {
    /// Left.
    pub x: f64,
    /// Top.
    pub y: f64,
    /// Width.
    pub w: f64,
    /// Height.
    pub h: f64,
}

impl View {
    fn intersects(&self, b: &[i32; 4]) -> bool {
        f64::from(b[2]) >= self.x
            && f64::from(b[0]) <= self.x + self.w
            && f64::from(b[3]) >= self.y
            && f64::from(b[1]) <= self.y + self.h
    }
}

/// One country as a map draws it.
#[derive(Debug, Clone)]
pub struct Item {
    /// The country's shape.
    pub shape: &'static Shape,
    /// Its fill.
    pub fill: Rgb,
    /// Its class (for a stylesheet): `map-c0` … `map-c5`, `map-target`, `map-origin`,
    /// `map-both`.
    pub class: &'static str,
    /// Its label: the name, with its count or role (`France: 12 incidents`).
    pub label: String,
    /// Whether it links to its incidents: every country of a choropleth (a count of 0 still
    /// leads to the filtered list, which says so), the incident's own countries on an
    /// incident map (its neighbours are drawn for context only).
    pub linked: bool,
}

/// A map ready to draw.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The part of the world shown.
    pub view: View,
    /// The countries, in drawing order (context first).
    pub items: Vec<Item>,
    /// The legend: colour, class and words.
    pub legend: Vec<(Rgb, &'static str, String)>,
    /// Counted countries the data has no shape or point for, with their labels.
    pub unmapped: Vec<(CountryCode, String)>,
    /// The accessible summary (`Target countries: 240 incidents in 24 countries`).
    pub summary: String,
}

const CLASSES: [&str; 6] = ["map-c0", "map-c1", "map-c2", "map-c3", "map-c4", "map-c5"];

fn incidents(n: u64) -> String {
    match n {
        0 => "no incidents".to_owned(),
        1 => "1 incident".to_owned(),
        n => format!("{n} incidents"),
    }
}

/// Plans a world choropleth of `counts` (incidents per country; zero counts are allowed
/// and drawn as countries without incidents). `title` opens the accessible summary.
pub fn choropleth(counts: &BTreeMap<CountryCode, u64>, title: &str) -> Plan {
    let w = world();
    let max = counts.values().copied().max().unwrap_or(0);
    let scale = Scale::new(max);
    let mut items: Vec<Item> = w
        .shapes()
        .iter()
        .filter_map(|shape| {
            let n = counts.get(&shape.code).copied().unwrap_or(0);
            // Countries shown as points appear only when they have incidents.
            if n == 0 && matches!(shape.geometry, Geometry::Point(_)) {
                return None;
            }
            let class = scale.class(n);
            Some(Item {
                shape,
                fill: PALETTE[class],
                class: CLASSES[class],
                label: format!("{}: {}", shape.code.name(), incidents(n)),
                linked: true,
            })
        })
        .collect();
    // Points over shapes, and otherwise the order of the data (code order).
    items.sort_by_key(|i| matches!(i.shape.geometry, Geometry::Point(_)));
    let unmapped = counts
        .iter()
        .filter(|(c, n)| **n > 0 && w.shape(**c).is_none())
        .map(|(c, n)| (*c, format!("{}: {}", c.name(), incidents(*n))))
        .collect();
    let total_countries = counts.values().filter(|n| **n > 0).count();
    let legend = std::iter::once((PALETTE[0], CLASSES[0], "0".to_owned()))
        .chain(
            scale
                .legend()
                .into_iter()
                .map(|(c, label)| (PALETTE[c], CLASSES[c], label)),
        )
        .collect();
    Plan {
        view: View {
            x: 0.0,
            y: 0.0,
            w: f64::from(w.width()),
            h: f64::from(w.height()),
        },
        items,
        legend,
        unmapped,
        summary: format!(
            "{title}: incidents per country; {total_countries} {} with incidents",
            if total_countries == 1 {
                "country"
            } else {
                "countries"
            }
        ),
    }
}

/// Plans a small map of one incident: its target countries and its country of origin,
/// zoomed to them (with their neighbours for context). `None` when it has neither, or when
/// none of them is on the map.
pub fn incident(targets: &[CountryCode], origin: Option<CountryCode>) -> Option<Plan> {
    let w = world();
    let role = |c: CountryCode| -> Option<(Rgb, &'static str, &'static str)> {
        match (targets.contains(&c), origin == Some(c)) {
            (true, true) => Some((BOTH, "map-both", "target and origin")),
            (true, false) => Some((TARGET, "map-target", "target")),
            (false, true) => Some((ORIGIN, "map-origin", "origin")),
            (false, false) => None,
        }
    };
    let marked: Vec<&'static Shape> = targets
        .iter()
        .copied()
        .chain(origin)
        .filter_map(|c| w.shape(c))
        .collect();
    let first = marked.first()?;
    let mut b = first.main_bbox();
    for s in &marked[1..] {
        let m = s.main_bbox();
        b = [
            b[0].min(m[0]),
            b[1].min(m[1]),
            b[2].max(m[2]),
            b[3].max(m[3]),
        ];
    }
    let view = fit(b, w.width(), w.height());
    let mut items: Vec<Item> = Vec::new();
    for shape in w.shapes() {
        match role(shape.code) {
            Some((fill, class, what)) => items.push(Item {
                shape,
                fill,
                class,
                label: format!("{} ({what})", shape.code.name()),
                linked: true,
            }),
            None if matches!(shape.geometry, Geometry::Rings(_))
                && view.intersects(&shape.bbox()) =>
            {
                items.push(Item {
                    shape,
                    fill: CONTEXT,
                    class: CLASSES[0],
                    label: shape.code.name().to_owned(),
                    linked: false,
                })
            }
            None => {}
        }
    }
    // Marked countries last, so their borders and points lie on top.
    items.sort_by_key(|i| (i.linked, matches!(i.shape.geometry, Geometry::Point(_))));
    let mut legend = Vec::new();
    if !targets.is_empty() {
        legend.push((TARGET, "map-target", "Target".to_owned()));
    }
    if origin.is_some() {
        legend.push((ORIGIN, "map-origin", "Origin".to_owned()));
    }
    if origin.is_some_and(|o| targets.contains(&o)) {
        legend.push((BOTH, "map-both", "Both".to_owned()));
    }
    let names = |cs: &mut dyn Iterator<Item = CountryCode>| {
        cs.map(|c| c.name().to_owned())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut summary = format!(
        "Target countries: {}",
        if targets.is_empty() {
            "none recorded".to_owned()
        } else {
            names(&mut targets.iter().copied())
        }
    );
    if let Some(o) = origin {
        summary.push_str(&format!("; country of origin: {}", o.name()));
    }
    let unmapped = targets
        .iter()
        .copied()
        .chain(origin)
        .filter(|c| w.shape(*c).is_none())
        .map(|c| (c, c.name().to_owned()))
        .collect();
    Some(Plan {
        view,
        items,
        legend,
        unmapped,
        summary,
    })
}

/// The view around a box: padded, at least an eighth of the world wide, 2:1, inside the
/// world; the whole world when the box covers most of it.
fn fit(b: [i32; 4], world_w: i32, world_h: i32) -> View {
    let (ww, wh) = (f64::from(world_w), f64::from(world_h));
    let whole = View {
        x: 0.0,
        y: 0.0,
        w: ww,
        h: wh,
    };
    let (bw, bh) = (f64::from(b[2] - b[0]), f64::from(b[3] - b[1]));
    if bw > ww * 0.6 {
        return whole;
    }
    let mut w = (bw * 1.4).max(bh * 1.4 * 2.0).max(ww / 8.0);
    let mut h = w / 2.0;
    if h > wh {
        h = wh;
        w = h * 2.0;
    }
    let cx = f64::from(b[0] + b[2]) / 2.0;
    let cy = f64::from(b[1] + b[3]) / 2.0;
    View {
        x: (cx - w / 2.0).clamp(0.0, (ww - w).max(0.0)),
        y: (cy - h / 2.0).clamp(0.0, (wh - h).max(0.0)),
        w,
        h,
    }
}

#[cfg(test)]
pub(crate) mod tests;
