#!/usr/bin/env python3
"""Derive the DISARM catalogue that stix-model embeds from a DISARM STIX 2.1 bundle.

    python3 scripts/derive_disarm.py "$DISINFOX_DISARM_DIR/DISARM-1.7.json" 1.7 > stix-model/data/disarm-1.7.tsv
    python3 scripts/derive_disarm.py "$DISINFOX_DISARM_DIR/DISARM-1.6.json" 1.6 > stix-model/data/disarm-1.6.tsv

With --summaries, the short descriptions the server's technique pages show instead:

    python3 scripts/derive_disarm.py "$DISINFOX_DISARM_DIR/DISARM-1.7.json" 1.7 --summaries > disinfox-server/data/disarm-1.7-summaries.tsv
    python3 scripts/derive_disarm.py "$DISINFOX_DISARM_DIR/DISARM-1.6.json" 1.6 --summaries > disinfox-server/data/disarm-1.6-summaries.tsv

A summary is the first paragraph of a technique's description, cut after the last whole sentence
that fits in SUMMARY_MAX characters (or at a word, with an ellipsis, when the first sentence is
longer).

Only ids, names, tactics, phases, the matrix column order and page URLs are taken (no
descriptions). Techniques and tactics are keyed on DISARM ids (T0002, TA01), never on DISARM's
STIX ids, which change between versions. The data stays CC BY-SA 4.0 (DISARM Foundation).
Phases are not in the STIX data: the table below is from the DISARM framework pages
("Belongs to phase"), as docs/disarm.md §4 records them.
"""
import json
import sys

PHASES = {
    "TA01": "P01", "TA02": "P01", "TA13": "P01",
    "TA14": "P02", "TA06": "P02", "TA15": "P02", "TA16": "P02", "TA05": "P02", "TA07": "P02",
    "TA08": "P03", "TA09": "P03", "TA17": "P03", "TA18": "P03", "TA10": "P03", "TA11": "P03",
    "TA12": "P04",
}


def ext_ref(obj, sources):
    for r in obj.get("external_references", []):
        if r.get("source_name") in sources and r.get("external_id"):
            return r
    return None


def clean(s):
    return " ".join(str(s).split())


SUMMARY_MAX = 300


def summary(description):
    """The first paragraph of a description, at most SUMMARY_MAX characters, cut at a sentence."""
    first = next((p for p in str(description).split("\n") if p.strip()), "")
    text = clean(first)
    if len(text) <= SUMMARY_MAX:
        return text
    head = text[:SUMMARY_MAX]
    end = max(head.rfind(". "), head.rfind("? "), head.rfind("! "))
    if end > 0:
        return head[: end + 1]
    return head[: head.rfind(" ")].rstrip(",;:") + "…"


def summaries(objs, version, generated, matrix_name):
    out = sys.stdout
    out.write(
        "# Short descriptions of DISARM techniques, derived by scripts/derive_disarm.py --summaries from the\n"
        f"# DISARM Foundation's STIX 2.1 bundle for DISARM {version} (matrix \"{matrix_name}\", generated {generated}).\n"
        "# DISARM is by the DISARM Foundation (https://www.disarm.foundation/), licensed under CC BY-SA 4.0\n"
        "# (https://creativecommons.org/licenses/by-sa/4.0/). This file is an adaptation: the first paragraph of\n"
        f"# each technique's description, shortened to at most {SUMMARY_MAX} characters at a sentence; it is\n"
        "# licensed under CC BY-SA 4.0 too.\n"
    )
    rows = []
    for o in objs:
        if o["type"] != "attack-pattern":
            continue
        r = ext_ref(o, {"mitre-attack", "DISARM"})
        text = summary(o.get("description", ""))
        if r and text:
            rows.append((r["external_id"], text))
    for tid, text in sorted(rows):
        out.write(f"summary\t{tid}\t{text}\n")


def main():
    path, version = sys.argv[1], sys.argv[2]
    bundle = json.load(open(path, encoding="utf-8"))
    objs = bundle["objects"]
    by_id = {o["id"]: o for o in objs}
    matrix = next(o for o in objs if o["type"] == "x-mitre-matrix")
    generated = matrix.get("modified", matrix.get("created", ""))[:10]
    if "--summaries" in sys.argv[3:]:
        summaries(objs, version, generated, matrix["name"])
        return
    out = sys.stdout
    out.write(
        "# DISARM framework catalogue, derived by scripts/derive_disarm.py from the DISARM Foundation's\n"
        f"# STIX 2.1 bundle for DISARM {version} (matrix \"{matrix['name']}\", generated {generated}).\n"
        "# DISARM is by the DISARM Foundation (https://www.disarm.foundation/), licensed under CC BY-SA 4.0\n"
        "# (https://creativecommons.org/licenses/by-sa/4.0/). This file is an adaptation: an extract of ids,\n"
        "# names, tactics, phases and page URLs, without descriptions; it is licensed under CC BY-SA 4.0 too.\n"
    )
    out.write(f"version\t{version}\t{generated}\n")
    for ref in matrix["tactic_refs"]:
        t = by_id[ref]
        r = ext_ref(t, {"DISARM", "mitre-attack"})
        tid = r["external_id"]
        out.write(f"tactic\t{tid}\t{t['x_mitre_shortname']}\t{clean(t['name'])}\t{PHASES.get(tid, '')}\t{r.get('url', '')}\n")
    rows = []
    for o in objs:
        if o["type"] != "attack-pattern":
            continue
        r = ext_ref(o, {"mitre-attack", "DISARM"})
        if not r:
            continue
        phases = [p["phase_name"] for p in o.get("kill_chain_phases", [])]
        rows.append((r["external_id"], clean(o["name"]), phases[0] if phases else "", r.get("url", "")))
    for tid, name, tactic, url in sorted(rows):
        out.write(f"technique\t{tid}\t{name}\t{tactic}\t{url}\n")


if __name__ == "__main__":
    main()
