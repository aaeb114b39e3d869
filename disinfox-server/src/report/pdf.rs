//! Reports as PDF (`pdf-writer`), A4, with DejaVu Sans embedded as a subset per document
//! (Type 0 / CIDFontType2 fonts with `Identity-H` and a `ToUnicode` map, so text copies and
//! extracts as written), links as URI annotations, maps as vector paths.

use std::io::Write;

use pdf_writer::types::{ActionType, AnnotationType, CidFontType, FontFlags, SystemInfo};
use pdf_writer::{Content, Date, Filter, Finish, Name, Pdf, Rect, Ref, Str, TextStr};

use super::content::{Block, Doc, Span, Text};
use super::font::Font;
use super::{tlp_colour, ReportError};
use crate::maps::{Geometry, Plan, Rgb};

const PAGE_W: f32 = 595.28;
const PAGE_H: f32 = 841.89;
const MARGIN: f32 = 56.7;
const TOP: f32 = PAGE_H - 78.0;
const BOTTOM: f32 = 64.0;
const TEXT_W: f32 = PAGE_W - 2.0 * MARGIN;
const BODY: f32 = 10.0;
const CELL: f32 = 9.0;
const PAD: f32 = 4.0;

const INK: Rgb = (0x1c, 0x24, 0x30);
const MUTED: Rgb = (0x5d, 0x67, 0x75);
const LINK: Rgb = (0x23, 0x64, 0xaa);
const RULE: Rgb = (0xdd, 0xe1, 0xe6);
const HEAD_BG: Rgb = (0xee, 0xf1, 0xf5);

/// One thing drawn on a page (PDF coordinates: points, from the bottom left).
enum Op {
    Text {
        x: f32,
        y: f32,
        size: f32,
        bold: bool,
        colour: Rgb,
        text: String,
    },
    Rect {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        fill: Rgb,
    },
    Link {
        rect: [f32; 4],
        uri: String,
    },
    Map {
        plan: Plan,
        x: f32,
        top: f32,
        w: f32,
    },
}

/// A styled piece of a line.
struct Piece {
    text: String,
    x: f32,
    w: f32,
    bold: bool,
    muted: bool,
    link: Option<String>,
}

struct Word {
    parts: Vec<(String, usize)>,
    space_before: bool,
}

fn words(spans: &[Span]) -> Vec<Word> {
    let mut out = Vec::new();
    let mut cur: Option<Word> = None;
    let mut space = false;
    for (si, s) in spans.iter().enumerate() {
        for c in s.text.chars() {
            if c.is_whitespace() {
                out.extend(cur.take());
                space = true;
                continue;
            }
            let w = cur.get_or_insert_with(|| Word {
                parts: Vec::new(),
                space_before: std::mem::take(&mut space),
            });
            match w.parts.last_mut() {
                Some((t, i)) if *i == si => t.push(c),
                _ => w.parts.push((c.to_string(), si)),
            }
        }
    }
    out.extend(cur);
    out
}

struct Layout<'a> {
    regular: &'a Font,
    bold: &'a Font,
    pages: Vec<Vec<Op>>,
    y: f32,
}

impl Layout<'_> {
    fn font(&self, bold: bool) -> &Font {
        if bold {
            self.bold
        } else {
            self.regular
        }
    }

    fn new_page(&mut self) {
        self.pages.push(Vec::new());
        self.y = TOP;
    }

    fn push(&mut self, op: Op) {
        if let Some(p) = self.pages.last_mut() {
            p.push(op);
        }
    }

    /// Room for `h` more points on this page, else a new page.
    fn need(&mut self, h: f32) {
        if self.y - h < BOTTOM {
            self.new_page();
        }
    }

    /// Splits text into lines at most `width` wide.
    fn wrap(&self, spans: &[Span], width: f32, size: f32, bold_all: bool) -> Vec<Vec<Piece>> {
        let mut lines: Vec<Vec<Piece>> = vec![Vec::new()];
        let mut x = 0.0f32;
        for word in words(spans) {
            let bold_of = |si: usize| bold_all || spans[si].bold;
            let ww: f32 = word
                .parts
                .iter()
                .map(|(t, si)| self.font(bold_of(*si)).width(t, size))
                .sum();
            let space = self.font(bold_of(word.parts[0].1)).width(" ", size);
            let line_empty = lines.last().is_none_or(Vec::is_empty);
            let gap = if word.space_before && !line_empty {
                space
            } else {
                0.0
            };
            if !line_empty && x + gap + ww > width {
                lines.push(Vec::new());
                x = 0.0;
            }
            let mut first = true;
            for (text, si) in word.parts {
                let s = &spans[si];
                let bold = bold_of(si);
                let font = self.font(bold);
                let mut text = text;
                // A word wider than the line is cut where it must be.
                loop {
                    let mut take = text.chars().count();
                    while take > 1 && x + font.width(&prefix(&text, take), size) > width {
                        take -= 1;
                    }
                    let head = prefix(&text, take);
                    let rest: String = text.chars().skip(take).collect();
                    let w = font.width(&head, size);
                    let line = lines.last_mut().expect("lines is never empty");
                    let spaced = first && word.space_before && !line.is_empty();
                    match line.last_mut() {
                        Some(p) if p.bold == bold && p.muted == s.muted && p.link == s.link => {
                            if spaced {
                                p.text.push(' ');
                                p.w += space;
                                x += space;
                            }
                            p.text.push_str(&head);
                            p.w += w;
                        }
                        _ => {
                            if spaced {
                                x += space;
                            }
                            line.push(Piece {
                                text: head,
                                x,
                                w,
                                bold,
                                muted: s.muted,
                                link: s.link.clone(),
                            });
                        }
                    }
                    x += w;
                    first = false;
                    if rest.is_empty() {
                        break;
                    }
                    lines.push(Vec::new());
                    x = 0.0;
                    text = rest;
                }
            }
        }
        lines
    }

    /// Draws lines at `x` from the current position, `lead` apart.
    fn draw_lines(&mut self, lines: &[Vec<Piece>], x: f32, top: f32, size: f32, lead: f32) {
        for (i, line) in lines.iter().enumerate() {
            let base = top - size * 0.95 - lead * i as f32;
            for p in line {
                let colour = if p.link.is_some() {
                    LINK
                } else if p.muted {
                    MUTED
                } else {
                    INK
                };
                self.push(Op::Text {
                    x: x + p.x,
                    y: base,
                    size,
                    bold: p.bold,
                    colour,
                    text: p.text.clone(),
                });
                if let Some(uri) = &p.link {
                    self.push(Op::Link {
                        rect: [
                            x + p.x,
                            base - size * 0.25,
                            x + p.x + p.w,
                            base + size * 0.9,
                        ],
                        uri: uri.clone(),
                    });
                }
            }
        }
    }

    fn para(&mut self, text: &[Span], size: f32, indent: f32) {
        let lead = size * 1.4;
        let lines = self.wrap(text, TEXT_W - indent, size, false);
        for line in lines.chunks(1) {
            self.need(lead);
            self.draw_lines(line, MARGIN + indent, self.y, size, lead);
            self.y -= lead;
        }
    }

    fn heading(&mut self, level: u8, text: &str) {
        let (size, before, after) = if level == 1 {
            (15.0, 14.0, 6.0)
        } else {
            (11.5, 8.0, 3.0)
        };
        let lines = self.wrap(&[Span::plain(text)], TEXT_W, size, true);
        let h = before + lines.len() as f32 * size * 1.3 + after;
        // Keep a heading with what follows it.
        self.need(h + 3.0 * BODY * 1.4);
        if self.y < TOP {
            self.y -= before;
        }
        self.draw_lines(&lines, MARGIN, self.y, size, size * 1.3);
        self.y -= lines.len() as f32 * size * 1.3 + after;
    }

    fn table(&mut self, widths: &[f32], header: Option<&[String]>, rows: &[Vec<Text>], keys: bool) {
        let lead = CELL * 1.35;
        let col_x: Vec<f32> = widths
            .iter()
            .scan(0.0, |acc, w| {
                let x = *acc;
                *acc += w * TEXT_W;
                Some(x)
            })
            .collect();
        let max_lines = ((TOP - BOTTOM - 4.0 * lead) / lead) as usize;
        let cells = |this: &Self, row: &[Text], bold: bool| -> Vec<Vec<Vec<Piece>>> {
            row.iter()
                .enumerate()
                .map(|(c, t)| {
                    let w = widths.get(c).copied().unwrap_or(0.2) * TEXT_W - 2.0 * PAD;
                    let mut l = this.wrap(t, w, CELL, bold || (keys && c == 0));
                    l.truncate(max_lines);
                    l
                })
                .collect()
        };
        let head = header.map(|h| {
            let row: Vec<Text> = h.iter().map(|s| vec![Span::plain(s.clone())]).collect();
            cells(self, &row, true)
        });
        let height = |c: &[Vec<Vec<Piece>>]| {
            c.iter().map(Vec::len).max().unwrap_or(1).max(1) as f32 * lead + 2.0 * PAD
        };
        let draw_row = |this: &mut Self, c: &[Vec<Vec<Piece>>], fill: Option<Rgb>| {
            let h = height(c);
            if let Some(fill) = fill {
                this.push(Op::Rect {
                    x: MARGIN,
                    y: this.y - h,
                    w: TEXT_W,
                    h,
                    fill,
                });
            }
            for (i, lines) in c.iter().enumerate() {
                this.draw_lines(lines, MARGIN + col_x[i] + PAD, this.y - PAD, CELL, lead);
            }
            this.y -= h;
            this.push(Op::Rect {
                x: MARGIN,
                y: this.y - 0.25,
                w: TEXT_W,
                h: 0.5,
                fill: RULE,
            });
        };
        let mut first = true;
        for row in rows {
            let c = cells(self, row, false);
            let h = height(&c);
            let head_h = head.as_ref().map_or(0.0, |hd| height(hd));
            if first || self.y - h < BOTTOM {
                if self.y - h - if first { head_h } else { 0.0 } < BOTTOM {
                    self.new_page();
                }
                if let Some(hd) = &head {
                    draw_row(self, hd, Some(HEAD_BG));
                }
            }
            first = false;
            draw_row(self, &c, None);
        }
        self.y -= 6.0;
    }

    /// The height a map is drawn with (the width of the text).
    fn map_height(plan: &Plan) -> f32 {
        TEXT_W * (plan.view.h / plan.view.w) as f32
    }

    fn map(&mut self, plan: &Plan, legend: &str) {
        let w = TEXT_W;
        let h = Self::map_height(plan);
        self.need(h + 40.0);
        self.push(Op::Map {
            plan: plan.clone(),
            x: MARGIN,
            top: self.y,
            w,
        });
        self.y -= h + 6.0;
        // The legend: swatches and words.
        let mut x = MARGIN;
        let size = 8.5;
        for (rgb, _, label) in &plan.legend {
            let tw = self.regular.width(label, size);
            if x + 14.0 + tw > MARGIN + TEXT_W {
                x = MARGIN;
                self.y -= size * 1.6;
            }
            self.push(Op::Rect {
                x,
                y: self.y - size,
                w: size,
                h: size,
                fill: *rgb,
            });
            self.push(Op::Text {
                x: x + size + 4.0,
                y: self.y - size * 0.9,
                size,
                bold: false,
                colour: MUTED,
                text: label.clone(),
            });
            x += size + 12.0 + tw;
        }
        self.y -= size * 1.8;
        let mut note = vec![Span {
            muted: true,
            ..Span::plain(legend)
        }];
        if !plan.unmapped.is_empty() {
            let names: Vec<&str> = plan.unmapped.iter().map(|u| u.1.as_str()).collect();
            note.push(Span {
                muted: true,
                ..Span::plain(format!(" Not on the map: {}.", names.join(", ")))
            });
        }
        self.para(&note, 8.5, 0.0);
        self.y -= 4.0;
    }

    fn block(&mut self, b: &Block) {
        match b {
            Block::Heading(l, t) => self.heading(*l, t),
            Block::Para(t) => {
                self.para(t, BODY, 0.0);
                self.y -= 4.0;
            }
            Block::Note(t) => {
                self.para(
                    &[Span {
                        muted: true,
                        ..Span::plain(t.clone())
                    }],
                    9.0,
                    0.0,
                );
                self.y -= 4.0;
            }
            Block::Fields(f) => {
                let rows: Vec<Vec<Text>> = f
                    .iter()
                    .map(|(k, v)| vec![vec![Span::plain(k.clone())], v.clone()])
                    .collect();
                self.table(&[0.3, 0.7], None, &rows, true);
            }
            Block::Table {
                widths,
                header,
                rows,
            } => self.table(widths, Some(header), rows, false),
            Block::Bullets(items) => {
                for t in items {
                    let lines = self.wrap(t, TEXT_W - 14.0, BODY, false);
                    for (i, line) in lines.iter().enumerate() {
                        self.need(BODY * 1.4);
                        if i == 0 {
                            self.push(Op::Text {
                                x: MARGIN + 3.0,
                                y: self.y - BODY * 0.95,
                                size: BODY,
                                bold: false,
                                colour: MUTED,
                                text: "•".into(),
                            });
                        }
                        self.draw_lines(
                            std::slice::from_ref(line),
                            MARGIN + 14.0,
                            self.y,
                            BODY,
                            BODY * 1.4,
                        );
                        self.y -= BODY * 1.4;
                    }
                    self.y -= 2.0;
                }
                self.y -= 4.0;
            }
            Block::Map { plan, legend } => self.map(plan, legend),
        }
    }

    fn title_page(&mut self, doc: &Doc) {
        self.new_page();
        self.y = TOP - 60.0;
        self.push(Op::Text {
            x: MARGIN,
            y: self.y,
            size: 11.0,
            bold: true,
            colour: MUTED,
            text: doc.kind.to_uppercase(),
        });
        self.y -= 16.0;
        let title = if doc.title.trim().is_empty() {
            "Untitled"
        } else {
            doc.title.as_str()
        };
        let mut lines = self.wrap(&[Span::plain(title)], TEXT_W, 24.0, true);
        lines.truncate(8);
        self.draw_lines(&lines, MARGIN, self.y, 24.0, 30.0);
        self.y -= lines.len() as f32 * 30.0 + 16.0;
        self.push(Op::Rect {
            x: MARGIN,
            y: self.y,
            w: TEXT_W,
            h: 1.5,
            fill: LINK,
        });
        self.y -= 14.0;
        let rows: Vec<Vec<Text>> = doc
            .facts
            .iter()
            .map(|(k, v)| vec![vec![Span::plain(k.clone())], v.clone()])
            .collect();
        self.table(&[0.25, 0.75], None, &rows, true);
        self.y = BOTTOM + 60.0;
        self.para(
            &[Span {
                muted: true,
                ..Span::plain(
                    "Written by DISINFOX from the incidents its analysts recorded. DISARM \
                     framework: DISARM Foundation, CC BY-SA 4.0. Map data: Natural Earth, public \
                     domain.",
                )
            }],
            8.5,
            0.0,
        );
        self.new_page();
    }
}

fn prefix(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

fn rgb(c: Rgb) -> [f32; 3] {
    [
        f32::from(c.0) / 255.0,
        f32::from(c.1) / 255.0,
        f32::from(c.2) / 255.0,
    ]
}

fn deflate(data: &[u8]) -> Vec<u8> {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let _ = z.write_all(data);
    z.finish().unwrap_or_default()
}

fn fill(c: &mut Content, colour: Rgb) {
    let [r, g, b] = rgb(colour);
    c.set_fill_rgb(r, g, b);
}

/// Shows `s` with its baseline starting at `(x, y)`.
fn text(
    c: &mut Content,
    fonts: &mut (Font, Font),
    (x, y): (f32, f32),
    size: f32,
    bold: bool,
    colour: Rgb,
    s: &str,
) {
    let (name, font) = if bold {
        (Name(b"F2"), &mut fonts.1)
    } else {
        (Name(b"F1"), &mut fonts.0)
    };
    let bytes = font.encode(s);
    c.begin_text();
    c.set_font(name, size);
    fill(c, colour);
    c.next_line(x, y);
    c.show(Str(&bytes));
    c.end_text();
}

/// The TLP label, right-aligned at `right`, baseline `y`: colour on black, bold, 12 pt.
fn tlp_label(c: &mut Content, fonts: &mut (Font, Font), doc: &Doc, right: f32, y: f32) {
    let label = doc.tlp.name();
    let w = fonts.1.width(label, 12.0);
    c.save_state();
    fill(c, (0, 0, 0));
    c.rect(right - w - 8.0, y - 4.0, w + 8.0, 17.0);
    c.fill_nonzero();
    c.restore_state();
    text(
        c,
        fonts,
        (right - w - 4.0, y),
        12.0,
        true,
        tlp_colour(doc.tlp),
        label,
    );
}

fn draw_map(c: &mut Content, plan: &Plan, x: f32, top: f32, w: f32) {
    let s = w / plan.view.w as f32;
    let h = plan.view.h as f32 * s;
    let px = |p: &[i32; 2]| {
        (
            x + (p[0] as f32 - plan.view.x as f32) * s,
            top - (p[1] as f32 - plan.view.y as f32) * s,
        )
    };
    c.save_state();
    c.rect(x, top - h, w, h);
    c.clip_nonzero();
    c.end_path();
    let [r, g, b] = rgb(crate::maps::BORDER);
    c.set_stroke_rgb(r, g, b);
    c.set_line_width(0.3);
    for it in &plan.items {
        fill(c, it.fill);
        match &it.shape.geometry {
            Geometry::Rings(rings) => {
                for ring in rings {
                    for (i, p) in ring.iter().enumerate() {
                        let (a, b) = px(p);
                        if i == 0 {
                            c.move_to(a, b);
                        } else {
                            c.line_to(a, b);
                        }
                    }
                    c.close_path();
                }
                c.fill_even_odd_and_stroke();
            }
            Geometry::Point(p) => {
                let (a, b) = px(p);
                let r = 2.2;
                let k = r * 0.552;
                c.move_to(a + r, b);
                c.cubic_to(a + r, b + k, a + k, b + r, a, b + r);
                c.cubic_to(a - k, b + r, a - r, b + k, a - r, b);
                c.cubic_to(a - r, b - k, a - k, b - r, a, b - r);
                c.cubic_to(a + k, b - r, a + r, b - k, a + r, b);
                c.close_path();
                c.fill_nonzero_and_stroke();
            }
        }
    }
    c.restore_state();
    // A thin frame.
    c.save_state();
    let [r, g, b] = rgb(RULE);
    c.set_stroke_rgb(r, g, b);
    c.set_line_width(0.5);
    c.rect(x, top - h, w, h);
    c.stroke();
    c.restore_state();
}

fn pdf_date(s: &str) -> Option<Date> {
    let mut p = s.split('-');
    let y: u16 = p.next()?.parse().ok()?;
    let mut d = Date::new(y);
    if let Some(m) = p.next().and_then(|m| m.parse().ok()) {
        d = d.month(m);
        if let Some(day) = p
            .next()
            .and_then(|x| x.get(..2))
            .and_then(|x| x.parse().ok())
        {
            d = d.day(day);
        }
    }
    Some(d)
}

/// Sets a planned report as a PDF file.
pub(super) fn write(doc: &Doc) -> Result<Vec<u8>, ReportError> {
    let mut fonts = Font::pair()?;
    let mut lay = Layout {
        regular: &fonts.0,
        bold: &fonts.1,
        pages: Vec::new(),
        y: TOP,
    };
    lay.title_page(doc);
    for (i, b) in doc.blocks.iter().enumerate() {
        // A heading stays on the page of what follows it: a map is kept whole with it.
        if let (Block::Heading(..), Some(Block::Map { plan, .. })) = (b, doc.blocks.get(i + 1)) {
            lay.need(Layout::map_height(plan) + 70.0);
        }
        lay.block(b);
    }
    let mut pages = lay.pages;
    while pages.len() > 1 && pages.last().is_some_and(Vec::is_empty) {
        pages.pop();
    }
    let total = pages.len();

    let mut pdf = Pdf::new();
    let mut next = 1;
    let mut alloc = || {
        next += 1;
        Ref::new(next - 1)
    };
    let catalog = alloc();
    let tree = alloc();
    let info = alloc();
    let font_refs: Vec<[Ref; 5]> = (0..2)
        .map(|_| [alloc(), alloc(), alloc(), alloc(), alloc()])
        .collect();
    let mut page_refs = Vec::new();
    let header_left = format!("{} · {}", doc.organisation, doc.kind);
    for (n, ops) in pages.iter().enumerate() {
        let page_ref = alloc();
        let content_ref = alloc();
        let mut c = Content::new();
        let mut annots = Vec::new();
        for op in ops {
            match op {
                Op::Text {
                    x,
                    y,
                    size,
                    bold,
                    colour,
                    text: s,
                } => text(&mut c, &mut fonts, (*x, *y), *size, *bold, *colour, s),
                Op::Rect {
                    x,
                    y,
                    w,
                    h,
                    fill: f,
                } => {
                    c.save_state();
                    fill(&mut c, *f);
                    c.rect(*x, *y, *w, *h);
                    c.fill_nonzero();
                    c.restore_state();
                }
                Op::Map { plan, x, top, w } => draw_map(&mut c, plan, *x, *top, *w),
                Op::Link { rect, uri } => annots.push((alloc(), *rect, uri.clone())),
            }
        }
        // Header and footer: who and what on the left, the page in the middle, the TLP
        // label on the right of both.
        let right = PAGE_W - MARGIN;
        let small = 8.5;
        let title_room = TEXT_W * 0.45;
        let mut left = header_left.clone();
        while fonts.0.width(&left, small) > title_room && left.chars().count() > 2 {
            left = format!("{}…", prefix(&left, left.chars().count() - 2));
        }
        text(
            &mut c,
            &mut fonts,
            (MARGIN, PAGE_H - 40.0),
            small,
            false,
            MUTED,
            &left,
        );
        tlp_label(&mut c, &mut fonts, doc, right, PAGE_H - 42.0);
        let mut foot = format!("{} · {}", doc.title, doc.date);
        while fonts.0.width(&foot, small) > title_room && foot.chars().count() > 2 {
            foot = format!("{}…", prefix(&foot, foot.chars().count() - 2));
        }
        text(
            &mut c,
            &mut fonts,
            (MARGIN, 32.0),
            small,
            false,
            MUTED,
            &foot,
        );
        let page_no = format!("Page {} of {total}", n + 1);
        let pw = fonts.0.width(&page_no, small);
        text(
            &mut c,
            &mut fonts,
            ((PAGE_W - pw) / 2.0, 32.0),
            small,
            false,
            MUTED,
            &page_no,
        );
        tlp_label(&mut c, &mut fonts, doc, right, 30.0);

        let data = deflate(&c.finish().into_vec());
        pdf.stream(content_ref, &data).filter(Filter::FlateDecode);
        for (id, r, uri) in &annots {
            let mut a = pdf.annotation(*id);
            a.subtype(AnnotationType::Link)
                .rect(Rect::new(r[0], r[1], r[2], r[3]))
                .border(0.0, 0.0, 0.0, None);
            a.action()
                .action_type(ActionType::Uri)
                .uri(Str(uri.as_bytes()));
        }
        let mut page = pdf.page(page_ref);
        page.media_box(Rect::new(0.0, 0.0, PAGE_W, PAGE_H))
            .parent(tree)
            .contents(content_ref);
        {
            let mut res = page.resources();
            let mut fonts_dict = res.fonts();
            fonts_dict.pair(Name(b"F1"), font_refs[0][0]);
            fonts_dict.pair(Name(b"F2"), font_refs[1][0]);
        }
        if !annots.is_empty() {
            page.annotations(annots.iter().map(|a| a.0));
        }
        page.finish();
        page_refs.push(page_ref);
    }

    for (font, refs) in [&fonts.0, &fonts.1].into_iter().zip(&font_refs) {
        let [type0, cid, desc, file, cmap] = *refs;
        // A subset tag derived from the glyphs used (PDF 32000 §9.6.4), deterministic.
        let mut h: u32 = 2166136261;
        for g in font.used.keys() {
            h = (h ^ u32::from(*g)).wrapping_mul(16777619);
        }
        let tag: String = (0..6)
            .map(|i| char::from(b'A' + ((h >> (i * 5)) % 26) as u8))
            .collect();
        let base = format!("{tag}+{}", font.name);
        let system = SystemInfo {
            registry: Str(b"Adobe"),
            ordering: Str(b"Identity"),
            supplement: 0,
        };
        pdf.type0_font(type0)
            .base_font(Name(base.as_bytes()))
            .encoding_predefined(Name(b"Identity-H"))
            .descendant_font(cid)
            .to_unicode(cmap);
        let mut cf = pdf.cid_font(cid);
        cf.subtype(CidFontType::Type2)
            .base_font(Name(base.as_bytes()))
            .system_info(system)
            .font_descriptor(desc)
            .default_width(0.0)
            .cid_to_gid_map_predefined(Name(b"Identity"));
        {
            let mut w = cf.widths();
            for (gid, (_, adv)) in &font.used {
                w.consecutive(*gid, [*adv]);
            }
        }
        cf.finish();
        let m = font.metrics();
        pdf.font_descriptor(desc)
            .name(Name(base.as_bytes()))
            .flags(FontFlags::NON_SYMBOLIC)
            .bbox(Rect::new(m.bbox[0], m.bbox[1], m.bbox[2], m.bbox[3]))
            .italic_angle(0.0)
            .ascent(m.ascent)
            .descent(m.descent)
            .cap_height(m.cap_height)
            .stem_v(if font.name.ends_with("Bold") {
                140.0
            } else {
                80.0
            })
            .font_file2(file);
        let sub = font.subset()?;
        pdf.stream(file, &deflate(&sub))
            .filter(Filter::FlateDecode)
            .pair(Name(b"Length1"), sub.len() as i32);
        let mut map = pdf_writer::types::UnicodeCmap::new(Name(b"Custom"), system);
        for (gid, (ch, _)) in &font.used {
            map.pair(*gid, *ch);
        }
        let map = map.finish();
        pdf.cmap(cmap, map.as_slice());
    }

    pdf.pages(tree)
        .kids(page_refs.iter().copied())
        .count(page_refs.len() as i32);
    pdf.catalog(catalog).pages(tree);
    let mut i = pdf.document_info(info);
    i.title(TextStr(&doc.title))
        .author(TextStr(&doc.organisation))
        .subject(TextStr(&format!("{} · {}", doc.kind, doc.tlp.name())))
        .creator(TextStr("DISINFOX"));
    if let Some(d) = pdf_date(&doc.date) {
        i.creation_date(d);
    }
    i.finish();
    Ok(pdf.finish())
}
