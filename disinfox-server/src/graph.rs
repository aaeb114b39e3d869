//! An incident's STIX objects and relationships drawn as an SVG graph by the server, to read
//! without script: the incident in the middle; on its left what it is attributed to,
//! originates from, targets and spreads through (actors, country of origin, target
//! countries, channels); on its right the DISARM techniques it uses, grouped by tactic in
//! matrix order, and the incidents related to it. Each group is headed by its STIX
//! relationship, every node is an `<a>` to the URL the caller gives and has a `<title>`,
//! and a legend names the kinds. The layout is fixed columns and bands, so the same input
//! always gives the same picture.
//!
//! Safe inline under the strict Content-Security-Policy: no script, no `style`, no external
//! reference; colours are presentation attributes with classes (`graph-incident`,
//! `graph-technique`, …) a stylesheet may override.

use std::fmt::Write;

use stix_model::CountryCode;

use crate::report::TacticGroup;
use crate::xml::{escape, escape_into};

/// What a node stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NodeKind {
    /// The incident itself (key: its id).
    Incident,
    /// A DISARM technique (key: its id, `T0086.001`).
    Technique,
    /// A threat actor or intrusion set (key: its name).
    Actor,
    /// A country, target or origin (key: its ISO code).
    Country,
    /// A channel or platform (key: its name).
    Channel,
    /// A related incident (key: its id).
    Related,
}

impl NodeKind {
    fn class(self) -> &'static str {
        match self {
            Self::Incident => "graph-incident",
            Self::Technique => "graph-technique",
            Self::Actor => "graph-actor",
            Self::Country => "graph-country",
            Self::Channel => "graph-channel",
            Self::Related => "graph-related",
        }
    }

    /// Fill and stroke.
    fn colours(self) -> (&'static str, &'static str) {
        match self {
            Self::Incident => ("#1d3557", "#1d3557"),
            Self::Technique => ("#e3edf8", "#2364aa"),
            Self::Actor => ("#fde8e6", "#b42318"),
            Self::Country => ("#e6f4ec", "#1b7a43"),
            Self::Channel => ("#f1e9f8", "#7a3e9d"),
            Self::Related => ("#eef0f3", "#5d6775"),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Incident => "Incident",
            Self::Technique => "DISARM technique",
            Self::Actor => "Actor",
            Self::Country => "Country",
            Self::Channel => "Channel",
            Self::Related => "Related incident",
        }
    }
}

/// An actor the incident is attributed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphActor {
    /// Its name.
    pub name: String,
    /// Whether the attribution is uncertain.
    pub uncertain: bool,
}

/// An incident related to this one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphRelated {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Why it is related, in words (`shares 2 techniques and 1 actor`).
    pub reason: String,
}

/// What the graph shows: one incident and the objects it relates to, in the order given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GraphInput {
    /// The incident's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its techniques by tactic ([`crate::report::by_tactic`]).
    pub tactics: Vec<TacticGroup>,
    /// Actors it is attributed to.
    pub actors: Vec<GraphActor>,
    /// Target countries.
    pub targets: Vec<CountryCode>,
    /// Country of origin.
    pub origin: Option<CountryCode>,
    /// Channels.
    pub channels: Vec<String>,
    /// Related incidents.
    pub related: Vec<GraphRelated>,
}

const WIDTH: f64 = 960.0;
const NODE_W: f64 = 290.0;
const NODE_H: f64 = 24.0;
const GAP: f64 = 6.0;
const HEADER: f64 = 22.0;
const GROUP_GAP: f64 = 12.0;
const LEFT_X: f64 = 10.0;
const RIGHT_X: f64 = WIDTH - 10.0 - NODE_W;
const MID_W: f64 = 230.0;
const MID_X: f64 = (WIDTH - MID_W) / 2.0;
const TOP: f64 = 10.0;
const FONT: f64 = 12.0;
/// Characters that fit a node at the font size (0.6 em on average, 8 px of padding each side).
const NODE_CHARS: usize = ((NODE_W - 16.0) / (FONT * 0.6)) as usize;

/// One node to draw.
struct Node {
    kind: NodeKind,
    key: String,
    label: String,
    title: String,
    y: f64,
    dashed: bool,
}

enum Row {
    Header(String, f64),
    Node(Node),
}

/// Lays out a column of groups `(header, nodes)` from the top; returns the rows and the
/// height used.
fn column(groups: Vec<(String, Vec<Node>)>) -> (Vec<Row>, f64) {
    let mut y = TOP;
    let mut rows = Vec::new();
    for (header, nodes) in groups.into_iter().filter(|g| !g.1.is_empty()) {
        rows.push(Row::Header(header, y + 15.0));
        y += HEADER;
        for mut n in nodes {
            n.y = y;
            y += NODE_H + GAP;
            rows.push(Row::Node(n));
        }
        y += GROUP_GAP;
    }
    (rows, y)
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.truncate(t.trim_end().len());
        t.push('…');
        t
    }
}

/// Splits a name into at most `lines` lines of at most `width` characters, at spaces where
/// it can; the last line ends with `…` when the name does not fit.
fn wrap(s: &str, width: usize, lines: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    for word in s.split_whitespace() {
        let needed = cur.chars().count() + usize::from(!cur.is_empty()) + word.chars().count();
        if needed > width && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(word);
        while cur.chars().count() > width {
            let head: String = cur.chars().take(width).collect();
            cur = cur.chars().skip(width).collect();
            out.push(head);
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    if out.len() > lines {
        out.truncate(lines);
        if let Some(last) = out.last_mut() {
            // Whole words before the ellipsis where they fit, else a cut word.
            while last.chars().count() + 2 > width {
                match last.rfind(' ') {
                    Some(i) => last.truncate(i),
                    None => break,
                }
            }
            *last = truncate(&format!("{last} …"), width);
        }
    }
    out
}

fn node(kind: NodeKind, key: &str, label: &str, rel: &str) -> Node {
    Node {
        kind,
        key: key.to_owned(),
        label: truncate(label, NODE_CHARS),
        title: format!("{}: {label} ({rel})", kind.name()),
        y: 0.0,
        dashed: false,
    }
}

/// The graph as an SVG element. `href(kind, key)` gives each node's link (`None`: no link).
pub fn svg(input: &GraphInput, href: &dyn Fn(NodeKind, &str) -> Option<String>) -> String {
    let mut left = Vec::new();
    left.push((
        "attributed-to · actors".to_owned(),
        input
            .actors
            .iter()
            .map(|a| {
                let mut n = node(
                    NodeKind::Actor,
                    &a.name,
                    &if a.uncertain {
                        format!("{} (uncertain)", a.name)
                    } else {
                        a.name.clone()
                    },
                    "attributed-to",
                );
                n.dashed = a.uncertain;
                n
            })
            .collect::<Vec<_>>(),
    ));
    left.push((
        "originates-from · country".to_owned(),
        input
            .origin
            .iter()
            .map(|c| node(NodeKind::Country, c.as_str(), c.name(), "originates-from"))
            .collect(),
    ));
    left.push((
        "targets · countries".to_owned(),
        input
            .targets
            .iter()
            .map(|c| node(NodeKind::Country, c.as_str(), c.name(), "targets"))
            .collect(),
    ));
    left.push((
        "uses · channels".to_owned(),
        input
            .channels
            .iter()
            .map(|c| node(NodeKind::Channel, c, c, "uses"))
            .collect(),
    ));
    let mut right: Vec<(String, Vec<Node>)> = input
        .tactics
        .iter()
        .map(|g| {
            (
                format!("uses · {} {}", g.tactic_id, g.tactic),
                g.techniques
                    .iter()
                    .map(|t| {
                        node(
                            NodeKind::Technique,
                            &t.id,
                            &format!("{} {}", t.id, t.name),
                            "uses",
                        )
                    })
                    .collect(),
            )
        })
        .collect();
    right.push((
        "related-to · incidents".to_owned(),
        input
            .related
            .iter()
            .map(|r| {
                let mut n = node(NodeKind::Related, &r.id, &r.name, "related-to");
                if !r.reason.is_empty() {
                    n.title = format!("{} — {}", n.title, r.reason);
                }
                n
            })
            .collect(),
    ));
    let (left, lh) = column(left);
    let (right, rh) = column(right);
    let name_lines = wrap(&input.name, ((MID_W - 20.0) / (FONT * 0.6)) as usize, 4);
    let mid_h = 30.0 + 16.0 * name_lines.len() as f64;
    let content_h = lh.max(rh).max(mid_h + 2.0 * TOP);
    let mid_y = ((content_h - mid_h) / 2.0).max(TOP);
    let mut kinds: Vec<NodeKind> = vec![NodeKind::Incident];
    for r in left.iter().chain(&right) {
        if let Row::Node(n) = r {
            if !kinds.contains(&n.kind) {
                kinds.push(n.kind);
            }
        }
    }
    kinds.sort();
    let legend_y = content_h + 8.0;
    let height = legend_y + 24.0;

    let counts = |k: NodeKind| {
        left.iter()
            .chain(&right)
            .filter(|r| matches!(r, Row::Node(n) if n.kind == k))
            .count()
    };
    let mut summary = format!("STIX graph of the incident “{}”:", input.name);
    for (k, one, many) in [
        (NodeKind::Technique, "technique", "techniques"),
        (NodeKind::Actor, "actor", "actors"),
        (NodeKind::Country, "country", "countries"),
        (NodeKind::Channel, "channel", "channels"),
        (NodeKind::Related, "related incident", "related incidents"),
    ] {
        let n = counts(k);
        let _ = write!(summary, " {n} {},", if n == 1 { one } else { many });
    }
    summary.pop();

    let mut out = String::with_capacity(8 * 1024);
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"graph\" viewBox=\"0 0 {WIDTH} {height}\" \
         font-size=\"{FONT}\"><title>"
    );
    escape_into(&mut out, &summary);
    out.push_str("</title>");
    // Edges first, under the nodes.
    out.push_str("<g class=\"graph-edges\" fill=\"none\" stroke=\"#9aa5b4\" stroke-width=\"1.2\">");
    let (mx0, mx1, my) = (MID_X, MID_X + MID_W, mid_y + mid_h / 2.0);
    for (rows, from_x, to_x) in [(&left, mx0, LEFT_X + NODE_W), (&right, mx1, RIGHT_X)] {
        for r in rows.iter() {
            if let Row::Node(n) = r {
                let ny = n.y + NODE_H / 2.0;
                let c = (from_x + to_x) / 2.0;
                let _ = write!(
                    out,
                    "<path d=\"M{from_x} {my}C{c} {my} {c} {ny} {to_x} {ny}\"{}/>",
                    if n.dashed {
                        " stroke-dasharray=\"4 3\""
                    } else {
                        ""
                    }
                );
            }
        }
    }
    out.push_str("</g>");
    // The incident.
    let (fill, stroke) = NodeKind::Incident.colours();
    open_link(&mut out, href(NodeKind::Incident, &input.id));
    out.push_str("<title>");
    escape_into(&mut out, &format!("Incident: {}", input.name));
    let _ = write!(
        out,
        "</title><rect class=\"{}\" x=\"{MID_X}\" y=\"{mid_y}\" width=\"{MID_W}\" height=\"{mid_h}\" \
         rx=\"8\" fill=\"{fill}\" stroke=\"{stroke}\"/>",
        NodeKind::Incident.class()
    );
    let _ = write!(
        out,
        "<text x=\"{}\" y=\"{}\" fill=\"#ffffff\" text-anchor=\"middle\" font-size=\"10\">INCIDENT</text>",
        MID_X + MID_W / 2.0,
        mid_y + 16.0
    );
    for (i, line) in name_lines.iter().enumerate() {
        let _ = write!(
            out,
            "<text x=\"{}\" y=\"{}\" fill=\"#ffffff\" text-anchor=\"middle\" font-weight=\"bold\">",
            MID_X + MID_W / 2.0,
            mid_y + 34.0 + 16.0 * i as f64
        );
        escape_into(&mut out, line);
        out.push_str("</text>");
    }
    close_link(&mut out, href(NodeKind::Incident, &input.id).is_some());
    for (rows, x) in [(&left, LEFT_X), (&right, RIGHT_X)] {
        for r in rows.iter() {
            match r {
                Row::Header(h, y) => {
                    let _ = write!(
                        out,
                        "<text class=\"graph-header\" x=\"{x}\" y=\"{y}\" fill=\"#5d6775\" font-size=\"11\">"
                    );
                    escape_into(&mut out, &truncate(h, 48));
                    out.push_str("</text>");
                }
                Row::Node(n) => draw_node(&mut out, n, x, href),
            }
        }
    }
    // The legend.
    let mut x = LEFT_X;
    out.push_str("<g class=\"graph-legend\" font-size=\"11\">");
    for k in kinds {
        let (fill, stroke) = k.colours();
        let _ = write!(
            out,
            "<rect class=\"{}\" x=\"{x}\" y=\"{legend_y}\" width=\"14\" height=\"14\" rx=\"3\" \
             fill=\"{fill}\" stroke=\"{stroke}\"/><text x=\"{}\" y=\"{}\">{}</text>",
            k.class(),
            x + 19.0,
            legend_y + 11.0,
            k.name()
        );
        x += 24.0 + k.name().len() as f64 * 6.6;
    }
    let _ = write!(
        out,
        "<path d=\"M{x} {y}h24\" stroke=\"#9aa5b4\" stroke-width=\"1.2\" stroke-dasharray=\"4 3\"/>\
         <text x=\"{}\" y=\"{}\">uncertain attribution</text></g></svg>",
        x + 29.0,
        legend_y + 11.0,
        y = legend_y + 7.0
    );
    out
}

fn open_link(out: &mut String, href: Option<String>) {
    if let Some(h) = href {
        let _ = write!(out, "<a href=\"{}\">", escape(&h));
    } else {
        out.push_str("<g>");
    }
}

fn close_link(out: &mut String, linked: bool) {
    out.push_str(if linked { "</a>" } else { "</g>" });
}

fn draw_node(out: &mut String, n: &Node, x: f64, href: &dyn Fn(NodeKind, &str) -> Option<String>) {
    let link = href(n.kind, &n.key);
    let linked = link.is_some();
    open_link(out, link);
    out.push_str("<title>");
    escape_into(out, &n.title);
    let (fill, stroke) = n.kind.colours();
    let _ = write!(
        out,
        "</title><rect class=\"{}\" x=\"{x}\" y=\"{}\" width=\"{NODE_W}\" height=\"{NODE_H}\" rx=\"5\" \
         fill=\"{fill}\" stroke=\"{stroke}\"{}/><text x=\"{}\" y=\"{}\" fill=\"#1c2430\">",
        n.kind.class(),
        n.y,
        if n.dashed {
            " stroke-dasharray=\"4 3\""
        } else {
            ""
        },
        x + 8.0,
        n.y + 16.0
    );
    escape_into(out, &n.label);
    out.push_str("</text>");
    close_link(out, linked);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::maps::tests::assert_well_formed;
    use crate::report::by_tactic;
    use stix_model::disarm::{Catalogue, DisarmVersion};

    fn input() -> GraphInput {
        let cat = Catalogue::builtin(DisarmVersion::V1_7);
        GraphInput {
            id: "incident--1".into(),
            name: "Cloned news site story on <grain> exports in Україна, spread for weeks by a network of inauthentic pages".into(),
            tactics: by_tactic(&["T0086.001".into(), "T0002".into(), "T0049.003".into()], cat),
            actors: vec![
                GraphActor {
                    name: "Storm-1516".into(),
                    uncertain: false,
                },
                GraphActor {
                    name: "Doppelganger network".into(),
                    uncertain: true,
                },
            ],
            targets: vec![CountryCode::parse("UA").unwrap(), CountryCode::parse("FR").unwrap()],
            origin: Some(CountryCode::parse("RU").unwrap()),
            channels: vec!["Telegram".into(), "X".into()],
            related: vec![GraphRelated {
                id: "incident--2".into(),
                name: "Forged letter".into(),
                reason: "shares 1 actor".into(),
            }],
        }
    }

    fn href(k: NodeKind, key: &str) -> Option<String> {
        Some(match k {
            NodeKind::Incident | NodeKind::Related => format!("/incidents/{key}"),
            NodeKind::Technique => format!("/techniques/{key}"),
            NodeKind::Actor => format!("/actors/{key}"),
            NodeKind::Country => format!("/incidents?target_country={key}"),
            NodeKind::Channel => return None,
        })
    }

    #[test]
    fn every_object_is_a_labelled_node_with_its_link() {
        let svg = svg(&input(), &href);
        assert_well_formed(&svg);
        assert!(svg.contains(
            "<title>STIX graph of the incident “Cloned news site story on &lt;grain&gt; exports in Україна, \
             spread for weeks by a network of inauthentic pages”: 3 techniques, 2 actors, 3 countries, \
             2 channels, 1 related incident</title>"
        ));
        for link in [
            "/incidents/incident--1",
            "/incidents/incident--2",
            "/techniques/T0086.001",
            "/techniques/T0002",
            "/techniques/T0049.003",
            "/actors/Storm-1516",
            "/actors/Doppelganger network",
            "/incidents?target_country=UA",
            "/incidents?target_country=FR",
            "/incidents?target_country=RU",
        ] {
            assert!(svg.contains(&format!("<a href=\"{link}\">")), "{link}");
        }
        // Channels have no page here: drawn, titled, not linked.
        assert!(svg.contains("<g><title>Channel: Telegram (uses)</title>"));
        assert!(
            svg.contains("<title>Actor: Doppelganger network (uncertain) (attributed-to)</title>")
        );
        assert!(svg.contains(
            "<title>Related incident: Forged letter (related-to) — shares 1 actor</title>"
        ));
        assert!(svg.contains("<title>Country: Russian Federation (originates-from)</title>"));
        // Techniques are grouped under their tactics, in matrix order.
        let ta = |s: &str| svg.find(s).unwrap_or_else(|| panic!("{s}"));
        assert!(ta("uses · TA02") < ta("T0002 "));
        assert!(ta("T0002 ") < ta("uses · TA06"));
        assert!(ta("uses · TA06") < ta("T0086.001 "));
        // The name is wrapped on the incident node (four lines of at most 29 characters
        // here), whole in its title.
        assert!(svg.contains("font-weight=\"bold\">Cloned news site story on</text>"));
        assert!(svg.contains(">of inauthentic pages</text>"));
        assert_eq!(svg.matches("font-weight=\"bold\">").count(), 4);
        assert!(!svg.contains(" …</text>"));
        // A longer name is cut on the node with an ellipsis, still whole in the title.
        let long = GraphInput {
            name: format!("{} and then much more that does not fit", input().name),
            ..input()
        };
        let cut = super::svg(&long, &href);
        assert!(cut.contains(" …</text>"));
        assert!(cut.contains("<title>Incident: Cloned news site story on &lt;grain&gt;"));
        assert!(cut.contains("much more that does not fit</title>"));
        // A legend of the kinds shown.
        for k in [
            "Incident",
            "DISARM technique",
            "Actor",
            "Country",
            "Channel",
            "Related incident",
        ] {
            assert!(svg.contains(&format!(">{k}</text>")), "{k}");
        }
        for bad in ["style=", "<script", "https://"] {
            assert!(!svg.contains(bad), "{bad}");
        }
        assert_eq!(svg, super::svg(&input(), &href), "deterministic");
    }

    #[test]
    fn an_incident_alone_and_long_labels() {
        let alone = GraphInput {
            id: "incident--9".into(),
            name: "Alone".into(),
            ..Default::default()
        };
        let svg = svg(&alone, &href);
        assert_well_formed(&svg);
        assert!(svg.contains(
            ": 0 techniques, 0 actors, 0 countries, 0 channels, 0 related incidents</title>"
        ));
        assert!(!svg.contains("<path d=\"M3"), "no edges");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(wrap("one two three four", 9, 2), vec!["one two", "three …"]);
        assert_eq!(wrap("abcdefghijkl", 5, 1), vec!["abcd…"]);
        assert_eq!(
            wrap("one two three fourfive", 10, 2),
            vec!["one two", "three …"]
        );
        assert_eq!(wrap("abcdefghij", 4, 5), vec!["abcd", "efgh", "ij"]);
        let mut long = input();
        long.channels =
            vec!["A channel with a very long name that does not fit in its node at all".into()];
        let svg = super::svg(&long, &href);
        assert!(
            svg.contains("A channel with a very long name that…</text>"),
            "{}",
            NODE_CHARS
        );
        assert!(svg.contains("<title>Channel: A channel with a very long name that does not fit in its node at all (uses)</title>"));
    }
}
