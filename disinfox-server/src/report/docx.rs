//! Reports as DOCX (Office Open XML, ECMA-376): the XML parts written directly, zipped by
//! [`super::zip`]. Styles name DejaVu Sans (word processors fall back to a similar font
//! where it is not installed); maps are PNG pictures with their summary as alt text.

use std::fmt::Write;

use super::content::{Block, Doc, Span, Text};
use super::tlp_colour;
use crate::xml::{escape, escape_into};

const W_NS: &str = "http://schemas.openxmlformats.org/wordprocessingml/2006/main";
const R_NS: &str = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";
const WP_NS: &str = "http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing";
const REL_NS: &str = "http://schemas.openxmlformats.org/package/2006/relationships";
const REL_TYPE: &str = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";
/// A4 text width in twentieths of a point, with 2 cm margins.
const TEXT_TWIPS: u32 = 11906 - 2 * 1134;
const EMU_PER_TWIP: u64 = 635;

struct Writer {
    body: String,
    /// `(id, type, target, external)`.
    rels: Vec<(String, &'static str, String, bool)>,
    media: Vec<(String, Vec<u8>)>,
}

impl Writer {
    fn rel(&mut self, kind: &'static str, target: String, external: bool) -> String {
        let id = format!("rId{}", self.rels.len() + 1);
        self.rels.push((id.clone(), kind, target, external));
        id
    }

    fn runs(&mut self, text: &Text, bold_all: bool) {
        for s in text {
            let run = run_xml(s, bold_all);
            match &s.link {
                Some(url) => {
                    let id = self.rel("hyperlink", url.clone(), true);
                    let _ = write!(self.body, "<w:hyperlink r:id=\"{id}\">{run}</w:hyperlink>");
                }
                None => self.body.push_str(&run),
            }
        }
    }

    fn para(&mut self, style: Option<&str>, text: &Text, bold_all: bool) {
        self.body.push_str("<w:p>");
        if let Some(s) = style {
            let _ = write!(self.body, "<w:pPr><w:pStyle w:val=\"{s}\"/></w:pPr>");
        }
        self.runs(text, bold_all);
        self.body.push_str("</w:p>");
    }

    fn table(&mut self, widths: &[f32], header: Option<&[String]>, rows: &[Vec<Text>], keys: bool) {
        let twips: Vec<u32> = widths
            .iter()
            .map(|w| (w * TEXT_TWIPS as f32).round() as u32)
            .collect();
        self.body.push_str(
            "<w:tbl><w:tblPr><w:tblStyle w:val=\"TableGrid\"/><w:tblW w:w=\"5000\" w:type=\"pct\"/>\
             <w:tblLayout w:type=\"fixed\"/></w:tblPr><w:tblGrid>",
        );
        for t in &twips {
            let _ = write!(self.body, "<w:gridCol w:w=\"{t}\"/>");
        }
        self.body.push_str("</w:tblGrid>");
        if let Some(h) = header {
            self.body.push_str("<w:tr><w:trPr><w:tblHeader/></w:trPr>");
            for (i, cell) in h.iter().enumerate() {
                let _ = write!(
                    self.body,
                    "<w:tc><w:tcPr><w:tcW w:w=\"{}\" w:type=\"dxa\"/>\
                     <w:shd w:val=\"clear\" w:color=\"auto\" w:fill=\"EEF1F5\"/></w:tcPr>",
                    twips.get(i).copied().unwrap_or(1000)
                );
                self.para(None, &vec![Span::plain(cell.clone())], true);
                self.body.push_str("</w:tc>");
            }
            self.body.push_str("</w:tr>");
        }
        for row in rows {
            self.body.push_str("<w:tr><w:trPr><w:cantSplit/></w:trPr>");
            for (i, cell) in row.iter().enumerate() {
                let _ = write!(
                    self.body,
                    "<w:tc><w:tcPr><w:tcW w:w=\"{}\" w:type=\"dxa\"/></w:tcPr>",
                    twips.get(i).copied().unwrap_or(1000)
                );
                self.para(None, cell, keys && i == 0);
                self.body.push_str("</w:tc>");
            }
            self.body.push_str("</w:tr>");
        }
        self.body.push_str("</w:tbl><w:p/>");
    }

    fn picture(&mut self, png: Vec<u8>, w: u32, h: u32, alt: &str) {
        let n = self.media.len() + 1;
        let name = format!("media/map{n}.png");
        let id = self.rel("image", name.clone(), false);
        self.media.push((name, png));
        let cx = u64::from(TEXT_TWIPS) * EMU_PER_TWIP;
        let cy = cx * u64::from(h) / u64::from(w.max(1));
        let alt = escape(alt);
        let _ = write!(
            self.body,
            "<w:p><w:r><w:drawing><wp:inline distT=\"0\" distB=\"0\" distL=\"0\" distR=\"0\">\
             <wp:extent cx=\"{cx}\" cy=\"{cy}\"/><wp:docPr id=\"{n}\" name=\"Map {n}\" descr=\"{alt}\"/>\
             <a:graphic xmlns:a=\"http://schemas.openxmlformats.org/drawingml/2006/main\">\
             <a:graphicData uri=\"http://schemas.openxmlformats.org/drawingml/2006/picture\">\
             <pic:pic xmlns:pic=\"http://schemas.openxmlformats.org/drawingml/2006/picture\">\
             <pic:nvPicPr><pic:cNvPr id=\"{n}\" name=\"map{n}.png\" descr=\"{alt}\"/><pic:cNvPicPr/></pic:nvPicPr>\
             <pic:blipFill><a:blip r:embed=\"{id}\"/><a:stretch><a:fillRect/></a:stretch></pic:blipFill>\
             <pic:spPr><a:xfrm><a:off x=\"0\" y=\"0\"/><a:ext cx=\"{cx}\" cy=\"{cy}\"/></a:xfrm>\
             <a:prstGeom prst=\"rect\"><a:avLst/></a:prstGeom></pic:spPr></pic:pic></a:graphicData>\
             </a:graphic></wp:inline></w:drawing></w:r></w:p>"
        );
    }

    fn block(&mut self, b: &Block) {
        match b {
            Block::Heading(l, t) => {
                let style = if *l == 1 { "Heading1" } else { "Heading2" };
                self.para(Some(style), &vec![Span::plain(t.clone())], false);
            }
            Block::Para(t) => self.para(None, t, false),
            Block::Note(t) => self.para(Some("Note"), &vec![Span::plain(t.clone())], false),
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
                    let mut t = t.clone();
                    t.insert(0, Span::plain("•\u{a0}"));
                    self.para(Some("Bullet"), &t, false);
                }
            }
            Block::Map { plan, legend } => {
                let (png, h) = plan.png(1600);
                self.picture(png, 1600, h, &plan.summary);
                let mut words = legend.clone();
                if !plan.unmapped.is_empty() {
                    let names: Vec<&str> = plan.unmapped.iter().map(|u| u.1.as_str()).collect();
                    let _ = write!(words, " Not on the map: {}.", names.join(", "));
                }
                self.para(Some("Note"), &vec![Span::plain(words)], false);
            }
        }
    }
}

fn run_xml(s: &Span, bold_all: bool) -> String {
    let mut r = String::from("<w:r>");
    let mut props = String::new();
    if s.link.is_some() {
        props.push_str("<w:rStyle w:val=\"Hyperlink\"/>");
    }
    if s.bold || bold_all {
        props.push_str("<w:b/>");
    }
    if s.muted && s.link.is_none() {
        props.push_str("<w:color w:val=\"5D6775\"/>");
    }
    if !props.is_empty() {
        let _ = write!(r, "<w:rPr>{props}</w:rPr>");
    }
    r.push_str("<w:t xml:space=\"preserve\">");
    escape_into(&mut r, &s.text.replace(['\n', '\r', '\t'], " "));
    r.push_str("</w:t></w:r>");
    r
}

/// The header or footer part: `left` text, an optional centred page number, and the TLP
/// label at the right margin (colour on black, bold, 12 pt).
fn margin_part(root: &str, doc: &Doc, left: &str, page_numbers: bool) -> String {
    let (r, g, b) = tlp_colour(doc.tlp);
    let mut x = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\
         <w:{root} xmlns:w=\"{W_NS}\" xmlns:r=\"{R_NS}\"><w:p><w:pPr><w:tabs>\
         <w:tab w:val=\"center\" w:pos=\"{}\"/><w:tab w:val=\"right\" w:pos=\"{TEXT_TWIPS}\"/></w:tabs>\
         </w:pPr><w:r><w:rPr><w:color w:val=\"5D6775\"/><w:sz w:val=\"17\"/></w:rPr>\
         <w:t xml:space=\"preserve\">",
        TEXT_TWIPS / 2
    );
    escape_into(&mut x, left);
    x.push_str("</w:t></w:r><w:r><w:tab/></w:r>");
    if page_numbers {
        let small = "<w:rPr><w:color w:val=\"5D6775\"/><w:sz w:val=\"17\"/></w:rPr>";
        let _ = write!(
            x,
            "<w:r>{small}<w:t xml:space=\"preserve\">Page </w:t></w:r>\
             <w:fldSimple w:instr=\" PAGE \"><w:r>{small}<w:t>1</w:t></w:r></w:fldSimple>\
             <w:r>{small}<w:t xml:space=\"preserve\"> of </w:t></w:r>\
             <w:fldSimple w:instr=\" NUMPAGES \"><w:r>{small}<w:t>1</w:t></w:r></w:fldSimple>"
        );
    }
    let _ = write!(
        x,
        "<w:r><w:tab/></w:r><w:r><w:rPr><w:b/><w:color w:val=\"{r:02X}{g:02X}{b:02X}\"/>\
         <w:sz w:val=\"24\"/><w:shd w:val=\"clear\" w:color=\"auto\" w:fill=\"000000\"/></w:rPr>\
         <w:t xml:space=\"preserve\">\u{a0}{}\u{a0}</w:t></w:r></w:p></w:{root}>",
        doc.tlp.name()
    );
    x
}

const STYLES: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:styles xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">
<w:docDefaults><w:rPrDefault><w:rPr><w:rFonts w:ascii="DejaVu Sans" w:hAnsi="DejaVu Sans" w:cs="DejaVu Sans" w:eastAsia="DejaVu Sans"/><w:color w:val="1C2430"/><w:sz w:val="20"/><w:szCs w:val="20"/><w:lang w:val="en-GB"/></w:rPr></w:rPrDefault>
<w:pPrDefault><w:pPr><w:spacing w:after="80" w:line="276" w:lineRule="auto"/></w:pPr></w:pPrDefault></w:docDefaults>
<w:style w:type="paragraph" w:default="1" w:styleId="Normal"><w:name w:val="Normal"/></w:style>
<w:style w:type="paragraph" w:styleId="Title"><w:name w:val="Title"/><w:basedOn w:val="Normal"/><w:pPr><w:spacing w:after="240"/></w:pPr><w:rPr><w:b/><w:sz w:val="48"/></w:rPr></w:style>
<w:style w:type="paragraph" w:styleId="Kind"><w:name w:val="Report kind"/><w:basedOn w:val="Normal"/><w:pPr><w:spacing w:before="1200"/></w:pPr><w:rPr><w:b/><w:caps/><w:color w:val="5D6775"/><w:sz w:val="22"/></w:rPr></w:style>
<w:style w:type="paragraph" w:styleId="Heading1"><w:name w:val="heading 1"/><w:basedOn w:val="Normal"/><w:next w:val="Normal"/><w:pPr><w:keepNext/><w:spacing w:before="280" w:after="120"/><w:outlineLvl w:val="0"/></w:pPr><w:rPr><w:b/><w:sz w:val="30"/></w:rPr></w:style>
<w:style w:type="paragraph" w:styleId="Heading2"><w:name w:val="heading 2"/><w:basedOn w:val="Normal"/><w:next w:val="Normal"/><w:pPr><w:keepNext/><w:spacing w:before="160" w:after="60"/><w:outlineLvl w:val="1"/></w:pPr><w:rPr><w:b/><w:sz w:val="23"/></w:rPr></w:style>
<w:style w:type="paragraph" w:styleId="Note"><w:name w:val="Note"/><w:basedOn w:val="Normal"/><w:rPr><w:color w:val="5D6775"/><w:sz w:val="18"/></w:rPr></w:style>
<w:style w:type="paragraph" w:styleId="Bullet"><w:name w:val="Bullet"/><w:basedOn w:val="Normal"/><w:pPr><w:spacing w:after="40"/><w:ind w:left="360" w:hanging="240"/></w:pPr></w:style>
<w:style w:type="character" w:styleId="Hyperlink"><w:name w:val="Hyperlink"/><w:rPr><w:color w:val="2364AA"/><w:u w:val="single"/></w:rPr></w:style>
<w:style w:type="table" w:styleId="TableGrid"><w:name w:val="Table Grid"/><w:tblPr><w:tblBorders><w:top w:val="single" w:sz="4" w:space="0" w:color="DDE1E6"/><w:left w:val="single" w:sz="4" w:space="0" w:color="DDE1E6"/><w:bottom w:val="single" w:sz="4" w:space="0" w:color="DDE1E6"/><w:right w:val="single" w:sz="4" w:space="0" w:color="DDE1E6"/><w:insideH w:val="single" w:sz="4" w:space="0" w:color="DDE1E6"/><w:insideV w:val="single" w:sz="4" w:space="0" w:color="DDE1E6"/></w:tblBorders><w:tblCellMar><w:top w:w="60" w:type="dxa"/><w:left w:w="100" w:type="dxa"/><w:bottom w:w="60" w:type="dxa"/><w:right w:w="100" w:type="dxa"/></w:tblCellMar></w:tblPr><w:rPr><w:sz w:val="18"/></w:rPr></w:style>
</w:styles>"#;

/// Sets a planned report as a DOCX file.
pub(super) fn write(doc: &Doc) -> Vec<u8> {
    let mut w = Writer {
        body: String::with_capacity(64 * 1024),
        rels: Vec::new(),
        media: Vec::new(),
    };
    let styles = w.rel("styles", "styles.xml".into(), false);
    let header = w.rel("header", "header1.xml".into(), false);
    let footer = w.rel("footer", "footer1.xml".into(), false);
    let _ = styles;
    // The title page.
    w.para(Some("Kind"), &vec![Span::plain(doc.kind)], false);
    let title = if doc.title.trim().is_empty() {
        "Untitled".to_owned()
    } else {
        doc.title.clone()
    };
    w.para(Some("Title"), &vec![Span::plain(title)], false);
    let rows: Vec<Vec<Text>> = doc
        .facts
        .iter()
        .map(|(k, v)| vec![vec![Span::plain(k.clone())], v.clone()])
        .collect();
    w.table(&[0.25, 0.75], None, &rows, true);
    w.para(
        Some("Note"),
        &vec![Span::plain(
            "Written by DISINFOX from the incidents its analysts recorded. DISARM framework: \
             DISARM Foundation, CC BY-SA 4.0. Map data: Natural Earth, public domain.",
        )],
        false,
    );
    w.body
        .push_str("<w:p><w:r><w:br w:type=\"page\"/></w:r></w:p>");
    for b in &doc.blocks {
        w.block(b);
    }
    let mut document = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\
         <w:document xmlns:w=\"{W_NS}\" xmlns:r=\"{R_NS}\" xmlns:wp=\"{WP_NS}\"><w:body>"
    );
    document.push_str(&w.body);
    let _ = write!(
        document,
        "<w:sectPr><w:headerReference w:type=\"default\" r:id=\"{header}\"/>\
         <w:footerReference w:type=\"default\" r:id=\"{footer}\"/>\
         <w:pgSz w:w=\"11906\" w:h=\"16838\"/><w:pgMar w:top=\"1418\" w:right=\"1134\" \
         w:bottom=\"1418\" w:left=\"1134\" w:header=\"567\" w:footer=\"567\" w:gutter=\"0\"/>\
         </w:sectPr></w:body></w:document>"
    );
    let mut rels = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?><Relationships xmlns=\"{REL_NS}\">"
    );
    for (id, kind, target, external) in &w.rels {
        let _ = write!(
            rels,
            "<Relationship Id=\"{id}\" Type=\"{REL_TYPE}/{kind}\" Target=\"{}\"{}/>",
            escape(target),
            if *external {
                " TargetMode=\"External\""
            } else {
                ""
            }
        );
    }
    rels.push_str("</Relationships>");
    let mut core = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\
         <cp:coreProperties xmlns:cp=\"http://schemas.openxmlformats.org/package/2006/metadata/core-properties\" \
         xmlns:dc=\"http://purl.org/dc/elements/1.1/\" xmlns:dcterms=\"http://purl.org/dc/terms/\" \
         xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><dc:title>",
    );
    escape_into(&mut core, &doc.title);
    core.push_str("</dc:title><dc:creator>");
    escape_into(&mut core, &doc.organisation);
    core.push_str("</dc:creator><dc:subject>");
    escape_into(&mut core, &format!("{} · {}", doc.kind, doc.tlp.name()));
    let _ = write!(
        core,
        "</dc:subject><cp:keywords>{}</cp:keywords>",
        doc.tlp.name()
    );
    let d = doc.date.as_bytes();
    if d.len() == 10
        && d.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        })
    {
        let _ = write!(
            core,
            "<dcterms:created xsi:type=\"dcterms:W3CDTF\">{}T00:00:00Z</dcterms:created>",
            doc.date
        );
    }
    core.push_str("</cp:coreProperties>");

    let content_types = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\
        <Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">\
        <Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/>\
        <Default Extension=\"xml\" ContentType=\"application/xml\"/>\
        <Default Extension=\"png\" ContentType=\"image/png\"/>\
        <Override PartName=\"/word/document.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml\"/>\
        <Override PartName=\"/word/styles.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.wordprocessingml.styles+xml\"/>\
        <Override PartName=\"/word/header1.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.wordprocessingml.header+xml\"/>\
        <Override PartName=\"/word/footer1.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.wordprocessingml.footer+xml\"/>\
        <Override PartName=\"/docProps/core.xml\" ContentType=\"application/vnd.openxmlformats-package.core-properties+xml\"/>\
        </Types>";
    let package_rels = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?><Relationships xmlns=\"{REL_NS}\">\
         <Relationship Id=\"rId1\" Type=\"{REL_TYPE}/officeDocument\" Target=\"word/document.xml\"/>\
         <Relationship Id=\"rId2\" Type=\"http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties\" Target=\"docProps/core.xml\"/>\
         </Relationships>"
    );
    let head = margin_part(
        "hdr",
        doc,
        &format!("{} · {}", doc.organisation, doc.kind),
        false,
    );
    let foot = margin_part("ftr", doc, &format!("{} · {}", doc.title, doc.date), true);
    let mut entries: Vec<(String, Vec<u8>)> = vec![
        (
            "[Content_Types].xml".into(),
            content_types.as_bytes().to_vec(),
        ),
        ("_rels/.rels".into(), package_rels.into_bytes()),
        ("docProps/core.xml".into(), core.into_bytes()),
        ("word/document.xml".into(), document.into_bytes()),
        ("word/_rels/document.xml.rels".into(), rels.into_bytes()),
        ("word/styles.xml".into(), STYLES.as_bytes().to_vec()),
        ("word/header1.xml".into(), head.into_bytes()),
        ("word/footer1.xml".into(), foot.into_bytes()),
    ];
    for (name, data) in w.media {
        entries.push((format!("word/{name}"), data));
    }
    super::zip::zip(&entries)
}
