//! Maps as PNG pictures, for DOCX reports (word processors show PNG everywhere; SVG only in
//! recent ones). A small even-odd scanline fill with 4×4 samples per pixel, white borders
//! drawn as anti-aliased lines, and a PNG writer (zlib from `flate2`, CRC from `crc32fast`).
//! The legend is not drawn here: the report prints it as text under the picture.

use std::io::Write;

use super::{Geometry, Plan, Rgb};

const S: usize = 4;

struct Canvas {
    w: usize,
    h: usize,
    px: Vec<[f32; 3]>,
}

impl Canvas {
    fn blend(&mut self, x: usize, y: usize, c: Rgb, a: f32) {
        if x < self.w && y < self.h && a > 0.0 {
            let p = &mut self.px[y * self.w + x];
            for (k, v) in [c.0, c.1, c.2].into_iter().enumerate() {
                p[k] = p[k] * (1.0 - a) + f32::from(v) * a;
            }
        }
    }

    /// Fills rings (pixel coordinates) with the even-odd rule.
    fn fill(&mut self, rings: &[Vec<(f32, f32)>], c: Rgb) {
        let (mut y0, mut y1, mut x0, mut x1) = (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
        for p in rings.iter().flatten() {
            y0 = y0.min(p.1);
            y1 = y1.max(p.1);
            x0 = x0.min(p.0);
            x1 = x1.max(p.0);
        }
        if y0 > y1 {
            return;
        }
        let row0 = (y0.floor().max(0.0)) as usize;
        let row1 = (y1.ceil().max(0.0) as usize).min(self.h);
        let col0 = (x0.floor().max(0.0)) as usize;
        let col1 = (x1.ceil().max(0.0) as usize).min(self.w);
        if row0 >= row1 || col0 >= col1 {
            return;
        }
        let span_w = col1 - col0;
        let mut cover = vec![0u8; span_w];
        let mut xs: Vec<f32> = Vec::new();
        for row in row0..row1 {
            cover.iter_mut().for_each(|c| *c = 0);
            for k in 0..S {
                let sy = row as f32 + (k as f32 + 0.5) / S as f32;
                xs.clear();
                for ring in rings {
                    for i in 0..ring.len() {
                        let a = ring[i];
                        let b = ring[(i + 1) % ring.len()];
                        if (a.1 <= sy) != (b.1 <= sy) {
                            xs.push(a.0 + (sy - a.1) / (b.1 - a.1) * (b.0 - a.0));
                        }
                    }
                }
                xs.sort_by(f32::total_cmp);
                for pair in xs.chunks_exact(2) {
                    // Sample columns j (at x = (j + 0.5) / S) inside [pair[0], pair[1]).
                    let from = ((pair[0] * S as f32 - 0.5).ceil().max(0.0)) as usize;
                    let to = ((pair[1] * S as f32 - 0.5).ceil().max(0.0)) as usize;
                    for j in from.max(col0 * S)..to.min(col1 * S) {
                        cover[j / S - col0] += 1;
                    }
                }
            }
            for (i, n) in cover.iter().enumerate() {
                self.blend(col0 + i, row, c, f32::from(*n) / (S * S) as f32);
            }
        }
    }

    /// An anti-aliased line one pixel wide (Xiaolin Wu's algorithm).
    fn line(&mut self, a: (f32, f32), b: (f32, f32), c: Rgb) {
        let (w, h) = (self.w as f32 + 1.0, self.h as f32 + 1.0);
        if (a.0 < -1.0 && b.0 < -1.0)
            || (a.1 < -1.0 && b.1 < -1.0)
            || (a.0 > w && b.0 > w)
            || (a.1 > h && b.1 > h)
        {
            return;
        }
        let steep = (b.1 - a.1).abs() > (b.0 - a.0).abs();
        let (mut a, mut b) = if steep {
            ((a.1, a.0), (b.1, b.0))
        } else {
            (a, b)
        };
        if a.0 > b.0 {
            std::mem::swap(&mut a, &mut b);
        }
        let dx = b.0 - a.0;
        let grad = if dx == 0.0 { 1.0 } else { (b.1 - a.1) / dx };
        let (start, end) = (a.0.round() as i64, b.0.round() as i64);
        for x in start..=end {
            let y = a.1 + grad * (x as f32 - a.0);
            let yf = y.floor();
            let frac = y - yf;
            for (yy, cov) in [(yf as i64, 1.0 - frac), (yf as i64 + 1, frac)] {
                let (px, py) = if steep { (yy, x) } else { (x, yy) };
                if px >= 0 && py >= 0 {
                    self.blend(px as usize, py as usize, c, cov);
                }
            }
        }
    }

    fn disc(&mut self, c: (f32, f32), r: f32, col: Rgb) {
        let (x0, x1) = (
            (c.0 - r - 1.0).max(0.0) as usize,
            (c.0 + r + 1.0).max(0.0) as usize,
        );
        let (y0, y1) = (
            (c.1 - r - 1.0).max(0.0) as usize,
            (c.1 + r + 1.0).max(0.0) as usize,
        );
        for y in y0..=y1.min(self.h.saturating_sub(1)) {
            for x in x0..=x1.min(self.w.saturating_sub(1)) {
                let mut n = 0;
                for k in 0..S * S {
                    let sx = x as f32 + ((k % S) as f32 + 0.5) / S as f32 - c.0;
                    let sy = y as f32 + ((k / S) as f32 + 0.5) / S as f32 - c.1;
                    n += usize::from(sx * sx + sy * sy <= r * r);
                }
                self.blend(x, y, col, n as f32 / (S * S) as f32);
            }
        }
    }
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32fast::hash(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// An RGB picture as PNG bytes.
pub(crate) fn encode_png(w: usize, h: usize, rgb: &[u8]) -> Vec<u8> {
    let mut raw = Vec::with_capacity((w * 3 + 1) * h);
    for row in rgb.chunks_exact(w * 3).take(h) {
        raw.push(0);
        raw.extend_from_slice(row);
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let _ = z.write_all(&raw);
    let idat = z.finish().unwrap_or_default();
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&(w as u32).to_be_bytes());
    ihdr.extend_from_slice(&(h as u32).to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &idat);
    chunk(&mut out, b"IEND", &[]);
    out
}

impl Plan {
    /// The map as a PNG picture `width` pixels wide (clamped to 100–2400), on white, and its
    /// height in pixels.
    pub fn png(&self, width: u32) -> (Vec<u8>, u32) {
        let w = width.clamp(100, 2400) as usize;
        let scale = w as f64 / self.view.w;
        let h = ((self.view.h * scale).round() as usize).max(1);
        let mut cv = Canvas {
            w,
            h,
            px: vec![[255.0; 3]; w * h],
        };
        let to_px = |p: &[i32; 2]| {
            (
                ((f64::from(p[0]) - self.view.x) * scale) as f32,
                ((f64::from(p[1]) - self.view.y) * scale) as f32,
            )
        };
        let dot = (w as f32 / 300.0).max(2.0);
        for it in &self.items {
            match &it.shape.geometry {
                Geometry::Rings(rings) => {
                    let px: Vec<Vec<(f32, f32)>> = rings
                        .iter()
                        .map(|r| r.iter().map(to_px).collect())
                        .collect();
                    cv.fill(&px, it.fill);
                    for r in &px {
                        for i in 0..r.len() {
                            cv.line(r[i], r[(i + 1) % r.len()], super::BORDER);
                        }
                    }
                }
                Geometry::Point(p) => {
                    cv.disc(to_px(p), dot + 1.0, super::BORDER);
                    cv.disc(to_px(p), dot, it.fill);
                }
            }
        }
        let rgb: Vec<u8> = cv
            .px
            .iter()
            .flat_map(|p| p.map(|v| v.round().clamp(0.0, 255.0) as u8))
            .collect();
        (encode_png(w, h, &rgb), h as u32)
    }
}
