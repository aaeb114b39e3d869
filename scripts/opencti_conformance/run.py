"""The OpenCTI import conformance check: pycti's worker path against the OpenCTI 6.8.10 stand-in.

    python run.py --server URL --key KEY [--name demo] [--report FILE]

Fetches every page of `GET /api/v1/bundle?flavor=opencti&opencti_ids=6` from a DISINFOX server,
as the connector does, splits each page with pycti's own splitter (as the connector and the
platform do), and hands each one-object bundle to `import_bundle_from_json` exactly as OpenCTI's
worker does (update false, a work id, so every object reports an expectation). Then it checks:
every object imported (an expectation without error), no request refused by the stand-in, no
relationship refused, and every DISINFOX fact found in its documented home (facts.py).

Exit status 0 when everything holds, 1 otherwise; the summary is printed either way.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import facts  # noqa: E402
import standin as st  # noqa: E402

EXTENSION = "extension-definition--8bdf3e85-a4fe-4b92-ab80-2abcc16b779d"


def get(server: str, key: str, path: str):
    req = urllib.request.Request(f"{server}{path}", headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.load(r)


def recorded(server: str, key: str) -> list[dict]:
    """Every live incident as the DISINFOX API returns it (the facts analysts recorded)."""
    items, page = [], 1
    while True:
        body = get(server, key, f"/api/v1/incidents?per_page=200&page={page}")
        items.extend(body["items"])
        if page >= body["pages"]:
            return items
        page += 1


def fetch_pages(server: str, key: str, page: int) -> list[dict]:
    """Every page of the connector's endpoint, following the cursor."""
    pages = []
    url = f"{server}/api/v1/bundle?flavor=opencti&opencti_ids=6&limit={page}"
    while True:
        req = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
        with urllib.request.urlopen(req, timeout=120) as r:
            body = json.load(r)
            more = r.headers.get("X-Disinfox-More") == "true"
            cursor = r.headers.get("X-Disinfox-Next-Cursor")
        pages.append(body)
        if not more:
            return pages
        url = f"{server}/api/v1/bundle?flavor=opencti&opencti_ids=6&limit={page}&cursor={cursor}"


def import_pages(pages: list[dict], url: str) -> tuple[int, list[dict]]:
    """Imports the pages as the worker does; returns (objects sent, incompatible objects)."""
    import pycti.utils.opencti_stix2 as pycti_stix2
    from pycti import OpenCTIApiClient, OpenCTIStix2Splitter

    # pycti waits 1-3 s before retrying a missing reference: the count is what matters here.
    pycti_stix2.time.sleep = lambda _s: None  # type: ignore[attr-defined]
    api = OpenCTIApiClient(url, "standin-token", log_level="error")
    work_id = "work-conformance"
    sent, incompatible = 0, []
    for page in pages:
        if not page.get("objects"):
            continue
        _, skipped, bundles = OpenCTIStix2Splitter().split_bundle_with_expectations(page, False)
        incompatible.extend(skipped)
        for b in bundles:
            api.stix2.import_bundle_from_json(json.dumps(b), False, None, work_id, 0)
            sent += 1
    return sent, incompatible


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--name", default="bundle")
    ap.add_argument("--page", type=int, default=100)
    ap.add_argument("--report", type=Path)
    ap.add_argument("--geography", type=Path)
    ap.add_argument("--save", type=Path, help="write the fetched pages here (page-N.json)")
    a = ap.parse_args()
    logging.disable(logging.WARNING)

    t0 = time.monotonic()
    standin = st.StandIn(geography=a.geography)
    server = st.serve(standin)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    pages = fetch_pages(a.server, a.key, a.page)
    objects = sum(len(p.get("objects", [])) for p in pages)
    if a.save:
        a.save.mkdir(parents=True, exist_ok=True)
        for n, p in enumerate(pages, 1):
            (a.save / f"page-{n}.json").write_text(json.dumps(p))
    sent, incompatible = import_pages(pages, url)
    failed = [e for e in standin.expectations if e["error"]]
    refused = [r for r in standin.log if r["status"] != 200 or r["errors"]]
    refused_rels = [r for r in refused if "stixCoreRelationshipAdd" in r["fields"]
                    and any("not allowed" in (e.get("message") or "") for e in r["errors"] or [])]

    incidents = [o for p in pages for o in p.get("objects", []) if o["type"] == "incident"]
    revoked = {o["id"] for o in incidents if o.get("revoked")}
    versions = {o.get("extensions", {}).get(EXTENSION, {}).get("disarm_version") for o in incidents} - {None}
    checker = facts.Checker(standin.store, standin.rules.types)
    live = recorded(a.server, a.key)
    for item in live:
        checker.check_live(item, next(iter(versions), None))
    for sid in sorted(revoked - {i["id"] for i in live}):
        checker.check_revoked(sid)
    checker.check_platform()
    print(f"{a.name}: {objects} objects in {len(pages)} page(s); {sent} sent to the worker path, "
          f"{len(incompatible)} set aside by the splitter "
          f"({', '.join(sorted({o['type'] for o in incompatible}))})")
    not_imported = len(failed) + len(incompatible)
    print(f"{a.name}: {objects - not_imported} of {objects} objects imported ({len(failed)} failed in the "
          f"worker path, {len(incompatible)} set aside); {len(standin.log)} requests, {len(refused)} refused "
          f"({len(refused_rels)} relationships refused by the rules)")
    print(f"{a.name}: {sum(checker.counts.values())} facts checked over {len(live)} live and {len(revoked)} "
          f"deleted incidents, {len(checker.problems)} missing; {time.monotonic() - t0:.1f} s")
    missing = checker.missing
    for kind, n in sorted(checker.counts.items()):
        print(f"    {n:6d}  {kind}" + (f"  ({missing[kind]} missing)" if missing[kind] else ""))
    for r in refused[:10]:
        print(f"  refused: {r['fields']} {json.dumps(r['errors'])[:300]}")
    for e in failed[:10]:
        print(f"  failed: {json.dumps(e['error'])[:300]}")
    for p in checker.problems[:30]:
        print(f"  missing: {p}")
    if a.report:
        a.report.write_text(json.dumps({"expectations": standin.expectations, "log": standin.log,
                                        "store": list(standin.store.entities.values())}, default=str, indent=1))
    # The extension-definition is the one object OpenCTI's splitter sets aside by design: it
    # describes our extension to STIX consumers and has no OpenCTI counterpart.
    unexpected = [o for o in incompatible if o["type"] != "extension-definition"]
    ok = not failed and not refused and not unexpected and not checker.problems
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
