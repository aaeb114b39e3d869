//! Maps as SVG, to be inlined in a page under the strict Content-Security-Policy: no
//! script, no `style` attribute or element (colours are presentation attributes and classes
//! a stylesheet may override), no external reference.

use std::fmt::Write;

use stix_model::CountryCode;

use super::{Geometry, Item, Plan, Rgb};
use crate::xml::{escape, escape_into, num};

fn hex(c: Rgb) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

/// Appends a ring as path data in output units (`v / f`, rounded), relative moves with the
/// separators SVG allows left out; rings that vanish at this scale are skipped.
fn ring_path(out: &mut String, ring: &[[i32; 2]], f: i32, origin: [i32; 2]) {
    let q = |v: i32, o: i32| (v - o).div_euclid(f) + i32::from((v - o).rem_euclid(f) * 2 >= f);
    let mut pts: Vec<[i32; 2]> = Vec::with_capacity(ring.len());
    for p in ring {
        let r = [q(p[0], origin[0]), q(p[1], origin[1])];
        if pts.last() != Some(&r) {
            pts.push(r);
        }
    }
    while pts.len() > 1 && pts.first() == pts.last() {
        pts.pop();
    }
    if pts.len() < 3 {
        return;
    }
    let _ = write!(out, "M{} {}", pts[0][0], pts[0][1]);
    out.push('l');
    let mut first = true;
    for w in pts.windows(2) {
        for d in [w[1][0] - w[0][0], w[1][1] - w[0][1]] {
            if !first && d >= 0 {
                out.push(' ');
            }
            first = false;
            let _ = write!(out, "{d}");
        }
    }
    out.push('z');
}

impl Plan {
    /// The map as an SVG element. Every country of a choropleth, and every country the
    /// incident concerns on an incident map, is an `<a>` to `href(code)` whose first child
    /// is a `<title>` with its name and count or role (the link's accessible name and
    /// tooltip); every other drawn country has its `<title>` too. The first child of the
    /// `<svg>` is a `<title>` with [`Plan::summary`], and a legend names the colours.
    pub fn svg(&self, href: &dyn Fn(CountryCode) -> String) -> String {
        // Output units: tenths of a map unit when zoomed in, map units for the world.
        let f: i32 = if self.view.w > 5000.0 { 10 } else { 1 };
        let ff = f64::from(f);
        let origin = [
            (self.view.x / ff).floor() as i32 * f,
            (self.view.y / ff).floor() as i32 * f,
        ];
        let (vw, vh) = (self.view.w / ff, self.view.h / ff);
        let (vx, vy) = (
            (self.view.x - f64::from(origin[0])) / ff,
            (self.view.y - f64::from(origin[1])) / ff,
        );
        let mut out = String::with_capacity(64 * 1024);
        out.push_str("<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"map\" viewBox=\"");
        for (i, v) in [vx, vy, vw, vh].into_iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            num(&mut out, v);
        }
        out.push_str("\"><title>");
        escape_into(&mut out, &self.summary);
        let _ = write!(
            out,
            "</title><g class=\"map-land\" stroke=\"{}\" stroke-linejoin=\"round\" \
             fill-rule=\"evenodd\" stroke-width=\"",
            hex(super::BORDER)
        );
        num(&mut out, vw * 0.0006);
        out.push_str("\">");
        let dot = (vw / 220.0).max(1.0);
        // Runs of countries with the same class share one group carrying the fill.
        let mut i = 0;
        while i < self.items.len() {
            let class = self.items[i].class;
            let fill = self.items[i].fill;
            let _ = write!(out, "<g class=\"{class}\" fill=\"{}\">", hex(fill));
            while i < self.items.len() && self.items[i].class == class {
                self.item(&mut out, &self.items[i], f, origin, dot, href);
                i += 1;
            }
            out.push_str("</g>");
        }
        out.push_str("</g>");
        self.legend_svg(&mut out, vx, vy, vw, vh, href);
        out.push_str("</svg>");
        out
    }

    fn item(
        &self,
        out: &mut String,
        it: &Item,
        f: i32,
        origin: [i32; 2],
        dot: f64,
        href: &dyn Fn(CountryCode) -> String,
    ) {
        // A linked country: the `<title>` is the link's first child, so it names the link
        // (SVG Accessibility API Mappings: a `title` child gives the accessible name) and
        // is the tooltip of the shape inside. Otherwise the shape carries it.
        if it.linked {
            let _ = write!(out, "<a href=\"{}\"><title>", escape(&href(it.shape.code)));
            escape_into(out, &it.label);
            out.push_str("</title>");
        }
        let (tag, open) = match &it.shape.geometry {
            Geometry::Rings(rings) => {
                let mut d = String::new();
                for r in rings {
                    ring_path(&mut d, r, f, origin);
                }
                if d.is_empty() {
                    // Too small to see at this scale: a dot instead.
                    let b = it.shape.bbox();
                    (
                        "circle",
                        circle([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2], f, origin, dot),
                    )
                } else {
                    ("path", format!("<path d=\"{d}\""))
                }
            }
            Geometry::Point(p) => ("circle", circle(*p, f, origin, dot)),
        };
        out.push_str(&open);
        if it.linked {
            out.push_str("/></a>");
        } else {
            out.push_str("><title>");
            escape_into(out, &it.label);
            let _ = write!(out, "</title></{tag}>");
        }
    }

    fn legend_svg(
        &self,
        out: &mut String,
        vx: f64,
        vy: f64,
        vw: f64,
        vh: f64,
        href: &dyn Fn(CountryCode) -> String,
    ) {
        let fs = vw * 0.014;
        let line = fs * 1.5;
        let rows = self.legend.len() + usize::from(!self.unmapped.is_empty());
        // The world map's legend sits over the South Pacific, bottom left; a zoomed map's
        // in the top left corner, on a pale panel.
        let x = vx + vw * 0.015;
        let y = if self.view.w > 5000.0 {
            vy + vh - line * rows as f64 - fs
        } else {
            vy + fs * 0.6
        };
        out.push_str("<g class=\"map-legend\" font-size=\"");
        num(out, fs);
        out.push_str("\">");
        if self.view.w <= 5000.0 {
            let widest = self
                .legend
                .iter()
                .map(|l| l.2.chars().count())
                .max()
                .unwrap_or(0);
            out.push_str("<rect class=\"map-panel\" fill=\"#ffffff\" fill-opacity=\"0.85\" x=\"");
            num(out, x - fs * 0.4);
            out.push_str("\" y=\"");
            num(out, y - fs * 0.3);
            out.push_str("\" width=\"");
            num(out, fs * (2.2 + 0.62 * widest as f64));
            out.push_str("\" height=\"");
            num(out, line * self.legend.len() as f64 + fs * 0.2);
            out.push_str("\"/>");
        }
        for (k, (rgb, class, label)) in self.legend.iter().enumerate() {
            let top = y + line * k as f64;
            let _ = write!(out, "<rect class=\"{class}\" fill=\"{}\" x=\"", hex(*rgb));
            num(out, x);
            out.push_str("\" y=\"");
            num(out, top);
            out.push_str("\" width=\"");
            num(out, fs);
            out.push_str("\" height=\"");
            num(out, fs);
            out.push_str("\" stroke=\"#8a94a3\" stroke-width=\"0.5\"/><text x=\"");
            num(out, x + fs * 1.5);
            out.push_str("\" y=\"");
            num(out, top + fs * 0.85);
            out.push_str("\">");
            escape_into(out, label);
            out.push_str("</text>");
        }
        if !self.unmapped.is_empty() {
            out.push_str("<text x=\"");
            num(out, x);
            out.push_str("\" y=\"");
            num(out, y + line * self.legend.len() as f64 + fs * 0.85);
            out.push_str("\">Not on the map: ");
            for (k, (code, label)) in self.unmapped.iter().enumerate() {
                if k > 0 {
                    out.push_str(", ");
                }
                let _ = write!(out, "<a href=\"{}\">", escape(&href(*code)));
                out.push_str("<tspan>");
                escape_into(out, label);
                out.push_str("</tspan></a>");
            }
            out.push_str("</text>");
        }
        out.push_str("</g>");
    }
}

fn circle(p: [i32; 2], f: i32, origin: [i32; 2], r: f64) -> String {
    let ff = f64::from(f);
    let mut out = String::from("<circle cx=\"");
    num(&mut out, f64::from(p[0] - origin[0]) / ff);
    out.push_str("\" cy=\"");
    num(&mut out, f64::from(p[1] - origin[1]) / ff);
    out.push_str("\" r=\"");
    num(&mut out, r);
    out.push('"');
    out
}
