#!/usr/bin/env python3
"""Derive stix-model/data/countries.tsv (ISO 3166-1 alpha-2 codes and English names).

Run with the `pycountry` package installed (PyPI):

    python3 -m venv /tmp/pc && /tmp/pc/bin/pip install pycountry
    /tmp/pc/bin/python scripts/derive_countries.py > stix-model/data/countries.tsv

Columns: alpha-2 code, display name (pycountry's common name when it has one, else its
name), official name (may be empty). Country codes and names are facts from ISO 3166-1.
"""
import sys

import pycountry


def main() -> None:
    out = sys.stdout
    out.write(f"# ISO 3166-1 alpha-2 codes and English names, derived with pycountry {pycountry.__version__ if hasattr(pycountry, '__version__') else ''}\n")
    out.write("# code\tname\tofficial_name\n")
    for c in sorted(pycountry.countries, key=lambda c: c.alpha_2):
        name = getattr(c, "common_name", None) or c.name
        official = getattr(c, "official_name", "") or ""
        if official == name:
            official = ""
        out.write(f"{c.alpha_2}\t{name}\t{official}\n")


if __name__ == "__main__":
    main()
