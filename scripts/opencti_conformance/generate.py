"""Creates, through the DISINFOX API, incidents that exercise every field of an incident.

    python generate.py --server URL --key WRITE_KEY

Every channel of the catalogue (the DISINFOX CSV's channel columns, read from
disinfox-server/src/import/csv.rs so that a new channel is covered at once), every attribution source,
first/last seen at year, month and day precision, certain and uncertain actors, target countries
whose OpenCTI names differ from the ISO short names, Kosovo (which OpenCTI's geography lacks),
regions and sub-regions OpenCTI knows and free-text ones it does not, confidence from 0 to 100,
cyber attacks yes/no/unknown, labels, several sources, an edited incident, deleted incidents, and
an incident imported as STIX with a technique id DISINFOX's DISARM version lacks (the API refuses
those; imports keep them).
"""

from __future__ import annotations

import argparse
import json
import re
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def catalogue_channels() -> list[str]:
    src = (ROOT / "disinfox-server" / "src" / "import" / "csv.rs").read_text()
    block = re.search(r"pub const CHANNELS: &\[&str\] = &\[(.*?)\];", src, re.S)
    if block is None:
        raise SystemExit("generate.py: CHANNELS not found in disinfox-server/src/import/csv.rs")
    return re.findall(r'"([^"]+)"', block.group(1))


COUNTRIES = ["UA", "CZ", "IR", "US", "GB", "MD", "TR", "VN", "KP", "KR", "SY", "VE", "BO", "TZ",
             "LA", "PS", "CI", "CD", "FR", "DE", "PL", "TW", "ML", "BR", "XK", "MK", "RU"]
ORIGINS = ["RU", "CN", "IR", "BY", "KP", None]
REGIONS = [("Europe", "Eastern Europe"), ("Africa", "Sub-Saharan Africa"), ("Asia", "South-eastern Asia"),
           ("Americas", "Latin America and the Caribbean"), ("Middle East", None),
           ("Eastern Europe and Caucasus", "Sahel"), (None, "Western Europe"), (None, None)]
ACTORS = [["Russia"], ["Russia*", "Storm-1516"], ["China*"], ["Doppelganger network", "Ghostwriter*"],
          ["Internet Research Agency"], [], ["Iran", "Spamouflage*", "Unknown"]]
SOURCES = ["government", "platform", "company", "researchers"]
TECHNIQUES = [["T0002"], ["T0049.003", "T0081.004"], ["T0085", "T0086.002", "T0097.202"], []]
DATES = [("2022", "2023"), ("2022-01", "2022-06"), ("2023-03-15", "2023-03-20"), ("2024", None),
         ("2021-11", None), (None, None), ("2020-02-29", "2021")]


def incidents() -> list[dict]:
    channels = catalogue_channels()
    out = []
    n = max(len(channels), 40)
    for i in range(n):
        first, last = DATES[i % len(DATES)]
        region, sub = REGIONS[i % len(REGIONS)]
        inc = {
            "name": f"Generated incident {i + 1}: every field",
            "description": f"Generated for the OpenCTI conformance check, incident {i + 1}.\nSecond line.",
            "techniques": TECHNIQUES[i % len(TECHNIQUES)],
            "actors": ACTORS[i % len(ACTORS)],
            "target_countries": [COUNTRIES[i % len(COUNTRIES)], COUNTRIES[(i * 7 + 3) % len(COUNTRIES)]],
            "channels": [channels[i % len(channels)], channels[(i * 5 + 1) % len(channels)]],
            "attribution_sources": SOURCES[: 1 + i % len(SOURCES)] if i % 5 else [],
            "source_urls": [f"https://example.org/generated/{i + 1}", f"https://example.net/report?id={i + 1}&p=2"],
            "labels": ["generated"] + (["election", "health"] if i % 3 == 0 else []),
        }
        if first:
            inc["first_seen"] = first
        if last:
            inc["last_seen"] = last
        if region:
            inc["region"] = region
        if sub:
            inc["sub_region"] = sub
        if ORIGINS[i % len(ORIGINS)]:
            inc["country_of_origin"] = ORIGINS[i % len(ORIGINS)]
        if i % 4 != 3:
            inc["confidence"] = [0, 15, 50, 85, 100][i % 5]
        if i % 6 != 5:
            inc["attribution_confidence"] = [100, 0, 35, 75, 90][i % 5]
        if i % 3 != 2:
            inc["cyber_attack"] = i % 2 == 0
        out.append(inc)
    return out


EXTENSION = "extension-definition--8bdf3e85-a4fe-4b92-ab80-2abcc16b779d"


def imported_with_unknown_technique(server: str, key: str, template_id: str) -> None:
    """Imports a copy of an incident's own STIX bundle, renamed, with `T0007` (an id of an older
    DISARM numbering) among its techniques."""
    bundle = call(server, key, "GET", f"/api/v1/incidents/{template_id}/bundle")
    objects = [o for o in bundle["objects"] if o["type"] != "relationship"]
    for o in objects:
        if o["type"] == "incident":
            o["id"] = f"incident--{uuid.uuid4()}"
            o["name"] = "Imported incident with a technique DISARM 1.7 lacks"
            o["extensions"][EXTENSION]["unknown_techniques"] = ["T0007"]
    job = call(server, key, "POST", "/api/v1/import", {**bundle, "objects": objects})
    # Imports run as jobs (202 + the job's URL): follow it until it is over.
    deadline = time.monotonic() + 60
    while job.get("state") not in ("succeeded", "failed"):
        if time.monotonic() > deadline:
            raise SystemExit(f"generate.py: the STIX import job did not finish in 60 s: {job}")
        time.sleep(0.2)
        job = call(server, key, "GET", job["url"])
    report = job.get("report") or {}
    if job["state"] != "succeeded" or len(report.get("created", [])) != 1:
        raise SystemExit(f"generate.py: the STIX import created nothing: {job}")


def call(server: str, key: str, method: str, path: str, body: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{server}{path}", data=data, method=method, headers={
        "Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        raw = r.read()
        return json.loads(raw) if raw else None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--key", required=True)
    a = ap.parse_args()
    ids = [call(a.server, a.key, "POST", "/api/v1/incidents", inc)["id"] for inc in incidents()]
    # An edited incident (a new version under the same id) and three deleted ones.
    edited = incidents()[1] | {"description": "Edited: a new version of the same incident.", "last_seen": "2022-07"}
    call(a.server, a.key, "PUT", f"/api/v1/incidents/{ids[1]}", edited)
    for i in ids[-3:]:
        call(a.server, a.key, "DELETE", f"/api/v1/incidents/{i}")
    imported_with_unknown_technique(a.server, a.key, ids[2])
    print(f"generated {len(ids) + 1} incidents (1 edited, 3 deleted, 1 imported as STIX)")


if __name__ == "__main__":
    main()
