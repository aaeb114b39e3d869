//! The country shapes of `data/world-110m.tsv` (format: `scripts/derive_world.py`).

use std::sync::LazyLock;

use stix_model::CountryCode;

static DATA: &str = include_str!("../../data/world-110m.tsv");

static WORLD: LazyLock<World> = LazyLock::new(|| World::parse(DATA));

/// The world map's countries, projected (Equal Earth) and simplified.
#[derive(Debug)]
pub struct World {
    width: i32,
    height: i32,
    shapes: Vec<Shape>,
}

/// A country's geometry, in tenths of a map unit (the world is 10000 wide; y grows
/// downwards).
#[derive(Debug, Clone, PartialEq)]
pub enum Geometry {
    /// Closed rings (outer rings and holes; drawn with the even-odd rule).
    Rings(Vec<Vec<[i32; 2]>>),
    /// A country too small for the 1:110m data, shown as a dot.
    Point([i32; 2]),
}

/// One country.
#[derive(Debug, Clone)]
pub struct Shape {
    /// Its ISO 3166-1 alpha-2 code.
    pub code: CountryCode,
    /// Its geometry.
    pub geometry: Geometry,
    bbox: [i32; 4],
    main_bbox: [i32; 4],
}

/// The radius, in data units, of the box around a point country.
const POINT_BOX: i32 = 30;

fn bbox<'a>(points: impl Iterator<Item = &'a [i32; 2]>) -> Option<[i32; 4]> {
    points.fold(None, |b, p| {
        Some(match b {
            None => [p[0], p[1], p[0], p[1]],
            Some([a, b, c, d]) => [a.min(p[0]), b.min(p[1]), c.max(p[0]), d.max(p[1])],
        })
    })
}

fn area(ring: &[[i32; 2]]) -> i64 {
    let mut s = 0i64;
    for (i, a) in ring.iter().enumerate() {
        let b = ring[(i + 1) % ring.len()];
        s += i64::from(a[0]) * i64::from(b[1]) - i64::from(b[0]) * i64::from(a[1]);
    }
    s.abs()
}

impl Shape {
    /// The bounding box `[left, top, right, bottom]` of the whole country.
    pub fn bbox(&self) -> [i32; 4] {
        self.bbox
    }

    /// The bounding box of its largest ring (its mainland: France without French Guiana,
    /// Russia without the part east of the antimeridian), what a zoomed map frames.
    pub fn main_bbox(&self) -> [i32; 4] {
        self.main_bbox
    }

    fn new(code: CountryCode, geometry: Geometry) -> Option<Self> {
        let (b, m) = match &geometry {
            Geometry::Point(p) => {
                let b = [
                    p[0] - POINT_BOX,
                    p[1] - POINT_BOX,
                    p[0] + POINT_BOX,
                    p[1] + POINT_BOX,
                ];
                (b, b)
            }
            Geometry::Rings(rings) => {
                let b = bbox(rings.iter().flatten())?;
                let main = rings.iter().max_by_key(|r| area(r))?;
                (b, bbox(main.iter())?)
            }
        };
        Some(Self {
            code,
            geometry,
            bbox: b,
            main_bbox: m,
        })
    }
}

fn numbers(s: &str) -> Option<Vec<i32>> {
    s.split_ascii_whitespace().map(|n| n.parse().ok()).collect()
}

fn parse_geometry(s: &str) -> Option<Geometry> {
    if let Some(p) = s.strip_prefix('@') {
        return match numbers(p)?.as_slice() {
            [x, y] => Some(Geometry::Point([*x, *y])),
            _ => None,
        };
    }
    let mut rings = Vec::new();
    for ring in s.split('|') {
        let n = numbers(ring)?;
        if n.len() < 6 || n.len() % 2 != 0 {
            return None;
        }
        let mut p = [n[0], n[1]];
        let mut pts = vec![p];
        for d in n[2..].chunks_exact(2) {
            p = [p[0] + d[0], p[1] + d[1]];
            pts.push(p);
        }
        rings.push(pts);
    }
    Some(Geometry::Rings(rings))
}

impl World {
    fn parse(data: &str) -> Self {
        let (mut width, mut height) = (10_000, 5_000);
        let mut shapes = Vec::new();
        for line in data
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let mut f = line.split('\t');
            let (Some(a), Some(b), Some(c)) = (f.next(), f.next(), f.next()) else {
                continue;
            };
            if a == "size" {
                width = b.parse().unwrap_or(width);
                height = c.parse().unwrap_or(height);
                continue;
            }
            // Lines that do not parse are left out (the data is ours; a test reads it all).
            if let (Ok(code), Some(g)) = (CountryCode::parse(a), parse_geometry(c)) {
                shapes.extend(Shape::new(code, g));
            }
        }
        shapes.sort_by_key(|s| s.code);
        Self {
            width,
            height,
            shapes,
        }
    }

    /// The width, in data units (10000).
    pub fn width(&self) -> i32 {
        self.width
    }

    /// The height, in data units.
    pub fn height(&self) -> i32 {
        self.height
    }

    /// Every country, in code order.
    pub fn shapes(&self) -> &[Shape] {
        &self.shapes
    }

    /// One country, if the map has it.
    pub fn shape(&self, code: CountryCode) -> Option<&Shape> {
        self.shapes
            .binary_search_by_key(&code, |s| s.code)
            .ok()
            .and_then(|i| self.shapes.get(i))
    }
}

/// The world map (parsed once).
pub fn world() -> &'static World {
    &WORLD
}
