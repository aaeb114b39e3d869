#!/usr/bin/env python3
"""Derive disinfox-server/data/world-110m.tsv: country shapes for the server's SVG maps.

Source: the npm registry's `world-atlas` 2.0.2 package (ISC, Mike Bostock), a TopoJSON
redistribution of Natural Earth 4.1.0 Admin 0 country boundaries (public domain). The
1:110m file gives the shapes; countries absent from it (small islands and city states) get a
point from the 1:50m file so that the map can still show them as dots.

    (cd /tmp && npm pack world-atlas@2.0.2 && tar xzf world-atlas-2.0.2.tgz)
    python3 -m venv /tmp/pc && /tmp/pc/bin/pip install pycountry==26.2.16
    /tmp/pc/bin/python scripts/derive_world.py /tmp/package > disinfox-server/data/world-110m.tsv

What it does, in order (docs/maps.md says why):
1. decodes the TopoJSON arcs (delta-encoded, quantized) into longitude/latitude;
2. projects them with the Equal Earth projection (Šavrič, Patterson and Jenny, 2018), an
   equal-area projection, so that a country's colour covers an area true to its size;
3. simplifies every arc once (Visvalingam–Whyatt on the projected map, keeping both ends),
   so that neighbours keep sharing exactly the same border;
4. assembles each country's rings from its arcs and cuts those that cross the antimeridian
   (Russia's Chukotka, Fiji) into a part on each edge of the map;
5. drops rings too small to see, and writes them in tenths of a map unit, delta-encoded.
Antarctica is left out (no incident targets it; it would take a fifth of the height).
Natural Earth's de facto units without an ISO 3166-1 code are merged into the country ISO
lists them under (N. Cyprus into CY, Somaliland into SO); Kosovo gets XK, the code the rest
of the project uses.

Output: `#` comment lines, one `size` line (`size<TAB>width<TAB>height`, map units), then one
line per country: `CODE<TAB>NAME<TAB>GEOMETRY`, where GEOMETRY is either rings separated by
`|`, each `x y dx dy dx dy …` in tenths of a unit (the first point absolute, the others
relative to the previous one), or `@x y` for a country shown as a point.
"""
import json
import math
import os
import sys

import pycountry

WIDTH = 1000.0  # map units across the whole world
PREC = 10  # stored resolution: tenths of a map unit
# Visvalingam threshold: triangles smaller than this (in map units squared) go.
MIN_TRIANGLE = 1.0
# Rings smaller than this (map units squared) go, unless they are a country's largest.
MIN_RING_AREA = 0.8
MERGE = {"N. Cyprus": "CY", "Somaliland": "SO", "Kosovo": "XK"}
SKIP = {"010"}  # Antarctica

A1, A2, A3, A4 = 1.340264, -0.081106, 0.000893, 0.003796
M = math.sqrt(3) / 2


def equal_earth(lon, lat):
    lam, phi = math.radians(lon), math.radians(lat)
    theta = math.asin(M * math.sin(phi))
    t2 = theta * theta
    t6 = t2 * t2 * t2
    x = lam * math.cos(theta) / (M * (A1 + 3 * A2 * t2 + t6 * (7 * A3 + 9 * A4 * t2)))
    y = theta * (A1 + A2 * t2 + t6 * (A3 + A4 * t2))
    return x, y


X_MAX = equal_earth(180, 0)[0]
SCALE = WIDTH / (2 * X_MAX)


def project(lon, lat):
    x, y = equal_earth(lon, lat)
    return (x + X_MAX) * SCALE, -y * SCALE


def decode_arcs(topo):
    sx, sy = topo["transform"]["scale"]
    tx, ty = topo["transform"]["translate"]
    arcs = []
    for arc in topo["arcs"]:
        x = y = 0
        pts = []
        for dx, dy in arc:
            x += dx
            y += dy
            pts.append((x * sx + tx, y * sy + ty))
        arcs.append(pts)
    return arcs


def tri_area(a, b, c):
    return abs((b[0] - a[0]) * (c[1] - a[1]) - (c[0] - a[0]) * (b[1] - a[1])) / 2


def visvalingam(pts, keep_min):
    """Removes the point of smallest effective area (measured on the projected map) until
    every triangle is at least MIN_TRIANGLE, keeping the ends and at least `keep_min`
    points. Takes and returns longitude/latitude."""
    pts = list(pts)
    xy = [project(lon, lat) for lon, lat in pts]
    while len(pts) > keep_min:
        best, best_i = None, None
        for i in range(1, len(pts) - 1):
            a = tri_area(xy[i - 1], xy[i], xy[i + 1])
            if best is None or a < best:
                best, best_i = a, i
        if best is None or best >= MIN_TRIANGLE:
            break
        del pts[best_i]
        del xy[best_i]
    return pts


def clip(ring, lo, hi):
    """The part of a ring (longitude/latitude) between longitudes lo and hi
    (Sutherland–Hodgman against each side; a concave ring may keep zero-width bridges along
    the cut, which fill nothing)."""
    for inside, cut in ((lambda p: p[0] >= lo, lo), (lambda p: p[0] <= hi, hi)):
        out = []
        for i, b in enumerate(ring):
            a = ring[i - 1]
            if inside(b):
                if not inside(a):
                    out.append(crossing(a, b, cut))
                out.append(b)
            elif inside(a):
                out.append(crossing(a, b, cut))
        ring = out
        if not ring:
            break
    return ring


def crossing(a, b, lon):
    t = (lon - a[0]) / (b[0] - a[0])
    return (lon, a[1] + t * (b[1] - a[1]))


def cut_antimeridian(ring):
    """A ring that crosses the antimeridian (Russia's Chukotka, Fiji) jumps from 180° to
    -180° and back; projected as is, it would stretch across the whole map. It is unwrapped
    (longitudes made continuous) and cut into the parts on each side, each put back within
    -180°…180°."""
    if all(abs(b[0] - a[0]) <= 180 for a, b in zip(ring, ring[1:] + ring[:1])):
        return [ring]
    un = [ring[0]]
    for lon, lat in ring[1:]:
        prev = un[-1][0]
        while lon - prev > 180:
            lon -= 360
        while prev - lon > 180:
            lon += 360
        un.append((lon, lat))
    parts = []
    for shift in (-360, 0, 360):
        part = clip(un, -180 - shift, 180 - shift)
        if len(part) >= 3:
            parts.append([(lon + shift, lat) for lon, lat in part])
    return parts


def ring_area(pts):
    s = 0.0
    for i in range(len(pts)):
        x1, y1 = pts[i]
        x2, y2 = pts[(i + 1) % len(pts)]
        s += x1 * y2 - x2 * y1
    return abs(s) / 2


def ring_from(arc_ids, arcs):
    ring = []
    for i in arc_ids:
        pts = arcs[i] if i >= 0 else list(reversed(arcs[~i]))
        ring.extend(pts if not ring else pts[1:])
    return ring


def polygons(geom):
    if geom["type"] == "Polygon":
        return [geom["arcs"]]
    if geom["type"] == "MultiPolygon":
        return geom["arcs"]
    return []


def quantize(ring):
    out = []
    for x, y in ring:
        q = (round(x * PREC), round(y * PREC))
        if not out or out[-1] != q:
            out.append(q)
    if len(out) > 1 and out[0] == out[-1]:
        out.pop()
    return out


def alpha2(geom):
    name = geom["properties"]["name"]
    if name in MERGE:
        return MERGE[name]
    num = geom.get("id")
    if not num:
        return None
    c = pycountry.countries.get(numeric=num)
    return c.alpha_2 if c else None


def display_name(code):
    if code == "XK":
        return "Kosovo"
    c = pycountry.countries.get(alpha_2=code)
    return getattr(c, "common_name", None) or c.name


def main():
    folder = sys.argv[1]
    topo = json.load(open(os.path.join(folder, "countries-110m.json")))
    # Closed arcs (islands) keep at least a triangle; open ones at least their two ends.
    arcs = [visvalingam(a, 4 if a[0] == a[-1] else 2) for a in decode_arcs(topo)]

    shapes = {}
    for geom in topo["objects"]["countries"]["geometries"]:
        if geom.get("id") in SKIP:
            continue
        code = alpha2(geom)
        if code is None:
            print(f"no ISO code for {geom['properties']['name']}", file=sys.stderr)
            continue
        for poly in polygons(geom):
            for ring_ids in poly:
                for part in cut_antimeridian(ring_from(ring_ids, arcs)):
                    ring = quantize([project(lon, lat) for lon, lat in part])
                    if len(ring) >= 3:
                        shapes.setdefault(code, []).append(ring)

    rows = {}
    for code, rings in shapes.items():
        largest = max(ring_area(r) for r in rings)
        kept = [
            r for r in rings
            if ring_area(r) >= MIN_RING_AREA * PREC * PREC or ring_area(r) == largest
        ]
        enc = []
        for r in kept:
            x0, y0 = r[0]
            parts = [f"{x0} {y0}"]
            for (ax, ay), (bx, by) in zip(r, r[1:]):
                parts.append(f"{bx - ax} {by - ay}")
            enc.append(" ".join(parts))
        rows[code] = "|".join(enc)

    # Countries only the 1:50m file has: one point each, the centre of their largest ring.
    topo50 = json.load(open(os.path.join(folder, "countries-50m.json")))
    arcs50 = decode_arcs(topo50)
    for geom in topo50["objects"]["countries"]["geometries"]:
        code = alpha2(geom)
        if code is None or code in rows or geom.get("id") in SKIP:
            continue
        best = None
        for poly in polygons(geom):
            ring = [project(lon, lat) for lon, lat in ring_from(poly[0], arcs50)]
            a = ring_area(ring)
            if best is None or a > best[0]:
                best = (a, ring)
        if best is None:
            continue
        ring = best[1]
        cx = sum(p[0] for p in ring) / len(ring)
        cy = sum(p[1] for p in ring) / len(ring)
        rows[code] = f"@{round(cx * PREC)} {round(cy * PREC)}"

    ys = []
    for code, geo in rows.items():
        if geo.startswith("@"):
            continue
        for ring in geo.split("|"):
            nums = list(map(int, ring.split()))
            y = nums[1]
            ys.append(y)
            for dy in nums[3::2]:
                y += dy
                ys.append(y)
    top, bottom = min(ys), max(ys)
    out = sys.stdout
    out.write("# Country shapes for the server's maps, derived by scripts/derive_world.py from the\n")
    out.write("# npm package world-atlas 2.0.2 (ISC, Mike Bostock): Natural Earth 4.1.0 Admin 0\n")
    out.write("# countries, 1:110m (points from 1:50m), public domain. Equal Earth projection.\n")
    out.write("# Made with Natural Earth. Free vector and raster map data @ naturalearthdata.com.\n")
    out.write("# Units: tenths of a map unit; y grows downwards; the top is moved to 0.\n")
    out.write(f"size\t{round(WIDTH * PREC)}\t{bottom - top}\n")
    for code in sorted(rows):
        geo = rows[code]
        if geo.startswith("@"):
            x, y = map(int, geo[1:].split())
            geo = f"@{x} {y - top}"
        else:
            rings = []
            for ring in geo.split("|"):
                nums = list(map(int, ring.split()))
                nums[1] -= top
                rings.append(" ".join(map(str, nums)))
            geo = "|".join(rings)
        out.write(f"{code}\t{display_name(code)}\t{geo}\n")


if __name__ == "__main__":
    main()
