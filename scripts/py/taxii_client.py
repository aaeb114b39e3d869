"""Reads the server's TAXII 2.1 collection with taxii2-client and compares it with the bundle
endpoint: the same objects in the same versions, each once.

Usage: taxii_client.py BASE_URL API_KEY OUT_BUNDLE.json
Discovers the server (HTTP Basic, the key as password), lists the collections, pages through
every object and the manifest, fetches one object by id and its versions, then writes the
objects as a bundle (for stix2-validator) to OUT_BUNDLE.json.
"""
import json
import sys
import uuid

import requests
from taxii2client.v21 import Server, as_pages

base, key, out = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3]
PER_PAGE = 500


def version(o):
    return o.get("modified") or o["created"]


server = Server(f"{base}/taxii2/", user="taxii", password=key)
assert server.title, "discovery has a title"
assert len(server.api_roots) == 1, server.api_roots
root = server.api_roots[0]
assert "application/taxii+json;version=2.1" in root.versions, root.versions
collections = root.collections
assert len(collections) == 1, [c.id for c in collections]
col = collections[0]
assert col.can_read and not col.can_write
print(f"api root {root.url}, collection {col.id} ({col.title})")

objects = []
pages = 0
for envelope in as_pages(col.get_objects, per_request=PER_PAGE):
    objects.extend(envelope.get("objects", []))
    pages += 1
assert pages > 1, f"{len(objects)} objects in {pages} page: paging not exercised"
seen = [(o["id"], version(o)) for o in objects]
assert len(set(seen)) == len(seen), "an object version came twice"

manifest = []
for envelope in as_pages(col.get_manifest, per_request=PER_PAGE):
    manifest.extend(envelope.get("objects", []))
assert [(m["id"], m["version"]) for m in manifest] == seen, "manifest differs from the objects"
assert all(m["media_type"] == "application/stix+json;version=2.1" for m in manifest)

incident = next(o for o in objects if o["type"] == "incident")
one = col.get_object(incident["id"])
assert one["objects"] == [incident], one
versions = col.object_versions(incident["id"])
assert versions["versions"] == [version(incident)], versions
rel = next(o for o in objects if o["type"] == "relationship")
assert col.get_object(rel["id"])["objects"] == [rel]
only = col.get_objects(type="attack-pattern")
assert only.get("objects") and all(o["type"] == "attack-pattern" for o in only["objects"])

r = requests.get(
    f"{base}/api/v1/bundle",
    params={"limit": 1000},
    headers={"Authorization": f"Bearer {key}"},
    timeout=60,
)
r.raise_for_status()
assert r.headers.get("x-disinfox-more") == "false", "the demo fits one bundle page"
bundle = r.json()["objects"]
expected = {(o["id"], version(o)) for o in bundle}
missing = expected - set(seen)
extra = set(seen) - expected
assert not missing and not extra, f"missing {sorted(missing)[:5]}, extra {sorted(extra)[:5]}"
by_id = {o["id"]: o for o in bundle}
differs = [o["id"] for o in objects if by_id[o["id"]] != o]
assert not differs, f"objects differ from the bundle's: {differs[:5]}"

with open(out, "w", encoding="utf-8") as f:
    json.dump({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects}, f)
print(
    f"{len(objects)} objects in {pages} pages, manifest of {len(manifest)}, "
    f"same objects and versions as the bundle endpoint ({len(bundle)} objects)"
)
