//! The report font, DejaVu Sans (regular and bold; `data/fonts/LICENSE`): metrics for
//! setting text, and the glyphs a document used, for embedding a subset.

use std::collections::BTreeMap;

use subsetter::GlyphRemapper;

use super::ReportError;

static REGULAR: &[u8] = include_bytes!("../../data/fonts/DejaVuSans.ttf");
static BOLD: &[u8] = include_bytes!("../../data/fonts/DejaVuSans-Bold.ttf");

/// One face of the font, and what a document used of it.
pub(crate) struct Font {
    pub(crate) data: &'static [u8],
    face: ttf_parser::Face<'static>,
    per_em: f32,
    /// Old glyph id → new glyph id in the subset (the CID written in the PDF).
    pub(crate) remapper: GlyphRemapper,
    /// New glyph id → the text it shows and its advance (thousandths of an em).
    pub(crate) used: BTreeMap<u16, (char, f32)>,
    /// What the PDF calls it (`DejaVuSans`, `DejaVuSans-Bold`).
    pub(crate) name: &'static str,
}

/// Metrics for the PDF font descriptor, in thousandths of an em.
pub(crate) struct Metrics {
    pub(crate) ascent: f32,
    pub(crate) descent: f32,
    pub(crate) cap_height: f32,
    pub(crate) bbox: [f32; 4],
}

impl Font {
    fn load(data: &'static [u8], name: &'static str) -> Result<Self, ReportError> {
        let face = ttf_parser::Face::parse(data, 0)
            .map_err(|e| ReportError::Font(format!("{name}: {e}")))?;
        let per_em = f32::from(face.units_per_em());
        let mut remapper = GlyphRemapper::new();
        // Glyph 0 (.notdef) stays glyph 0.
        remapper.remap(0);
        Ok(Self {
            data,
            face,
            per_em,
            remapper,
            used: BTreeMap::new(),
            name,
        })
    }

    /// The regular and the bold face.
    pub(crate) fn pair() -> Result<(Self, Self), ReportError> {
        Ok((
            Self::load(REGULAR, "DejaVuSans")?,
            Self::load(BOLD, "DejaVuSans-Bold")?,
        ))
    }

    /// The glyph for a character, falling back to `?` for characters the font lacks (the
    /// text then still reads, rather than showing empty boxes).
    fn glyph(&self, c: char) -> (char, u16) {
        let c = if c.is_control() { ' ' } else { c };
        match self.face.glyph_index(c) {
            Some(g) => (c, g.0),
            None => ('?', self.face.glyph_index('?').map_or(0, |g| g.0)),
        }
    }

    fn advance(&self, gid: u16) -> f32 {
        self.face
            .glyph_hor_advance(ttf_parser::GlyphId(gid))
            .map_or(0.0, |a| f32::from(a) * 1000.0 / self.per_em)
    }

    /// The width of `s` at `size` points.
    pub(crate) fn width(&self, s: &str, size: f32) -> f32 {
        s.chars()
            .map(|c| self.advance(self.glyph(c).1))
            .sum::<f32>()
            * size
            / 1000.0
    }

    /// `s` as the PDF shows it: two bytes per glyph, the glyph's id in the subset.
    pub(crate) fn encode(&mut self, s: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(s.len() * 2);
        for c in s.chars() {
            let (shown, gid) = self.glyph(c);
            let new = self.remapper.remap(gid);
            let adv = self.advance(gid);
            self.used.entry(new).or_insert((shown, adv));
            out.extend_from_slice(&new.to_be_bytes());
        }
        out
    }

    pub(crate) fn metrics(&self) -> Metrics {
        let k = 1000.0 / self.per_em;
        let b = self.face.global_bounding_box();
        Metrics {
            ascent: f32::from(self.face.ascender()) * k,
            descent: f32::from(self.face.descender()) * k,
            cap_height: f32::from(self.face.capital_height().unwrap_or(self.face.ascender())) * k,
            bbox: [
                f32::from(b.x_min) * k,
                f32::from(b.y_min) * k,
                f32::from(b.x_max) * k,
                f32::from(b.y_max) * k,
            ],
        }
    }

    /// The subset of the font with the glyphs used.
    pub(crate) fn subset(&self) -> Result<Vec<u8>, ReportError> {
        subsetter::subset(self.data, 0, &self.remapper)
            .map_err(|e| ReportError::Font(format!("{}: {e:?}", self.name)))
    }
}
