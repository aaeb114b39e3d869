#!/usr/bin/env python3
"""Derive stix-model/data/opencti-geography.tsv: the names OpenCTI gives countries and regions.

OpenCTI finds a location again by its name (or an alias) and type, so a country sent under
another spelling ("Czech Republic" for the platform's "Czechia") becomes a second country. This
keeps only what the project needs from OpenCTI's geography dataset: for each country its ISO
3166-1 alpha-2 code, OpenCTI's name and OpenCTI's aliases; for each region its name.

Source: `data/geography.json` of OpenCTI-Platform/datasets (Apache-2.0), the file the platform's
OpenCTI Datasets connector loads. Run with the file's path:

    python3 scripts/derive_opencti_geography.py geography.json COMMIT > stix-model/data/opencti-geography.tsv

Columns: kind (Country or Region), alpha-2 code (countries), name, aliases separated by `|`.
"""
import json
import sys


def main() -> None:
    path, commit = sys.argv[1], sys.argv[2]
    objects = json.load(open(path, encoding="utf-8"))["objects"]
    rows = []
    for o in objects:
        if o.get("type") != "location":
            continue
        kind = o.get("x_opencti_location_type")
        aliases = o.get("x_opencti_aliases") or []
        if kind == "Country":
            codes = [a for a in aliases if len(a) == 2 and a.isalpha() and a.isupper()]
            if len(codes) != 1:
                sys.exit(f"{o['name']}: expected one alpha-2 alias, found {codes}")
            rows.append(("Country", codes[0], o["name"], "|".join(aliases)))
        elif kind == "Region":
            rows.append(("Region", "", o["name"], "|".join(aliases)))
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    out = sys.stdout
    out.write("# Country and region names of OpenCTI's geography dataset (OpenCTI-Platform/datasets,\n")
    out.write(f"# data/geography.json at commit {commit}; Apache-2.0, Copyright Filigran SAS).\n")
    out.write("# Derived by scripts/derive_opencti_geography.py. Columns: kind, alpha-2, name, aliases (|).\n")
    for r in rows:
        out.write("\t".join(r) + "\n")


if __name__ == "__main__":
    main()
