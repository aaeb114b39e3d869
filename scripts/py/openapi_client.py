"""A Python client generated from the server's OpenAPI document works against the server.

Usage: openapi_client.py BASE_URL READ_KEY WRITE_KEY WORKDIR

1. Reads /api/v1/openapi.json and generates a client with openapi-python-client.
2. With the generated client: lists incidents, reads one incident's STIX bundle, creates an
   incident and reads it back.
3. Every answer's JSON is also checked against the document's schema for it, closed: an
   object schema that lists properties gets additionalProperties false unless it says
   otherwise, so a field the server sends and the document does not describe fails too.
4. Self-test of step 3: the same answers fail against a wrongly typed copy of the schemas.

Exits non-zero with the reason on the first failure.
"""

import copy
import importlib
import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import jsonschema

PACKAGE = "disinfox_client"


def fetch_document(base):
    with urllib.request.urlopen(f"{base}/api/v1/openapi.json", timeout=30) as r:
        return json.load(r)


def generate(doc, work):
    spec = work / "openapi.json"
    spec.write_text(json.dumps(doc))
    config = work / "config.json"
    # No formatter run after generating (ruff is not needed to use the client); a CSV upload is
    # sent as bytes (the tool has no text/csv body type).
    config.write_text(json.dumps({
        "package_name_override": PACKAGE,
        "project_name_override": PACKAGE,
        "post_hooks": [],
        "content_type_overrides": {"text/csv": "application/octet-stream"},
    }))
    out = work / PACKAGE
    tool = Path(sys.executable).with_name("openapi-python-client")
    subprocess.run(
        [str(tool), "generate", "--path", str(spec), "--output-path", str(out),
         "--config", str(config), "--meta", "none", "--overwrite", "--fail-on-warning"],
        check=True,
    )
    sys.path.insert(0, str(out.parent))
    # With --meta none the package is written at the output path itself.
    return importlib.import_module(out.name)


def closed(schema):
    """The schema with additionalProperties false on every object that lists properties."""
    if isinstance(schema, dict):
        schema = {k: closed(v) for k, v in schema.items()}
        if "properties" in schema and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [closed(v) for v in schema]
    return schema


def check(doc, path, method, status, body):
    """Validates `body` against the document's schema of that answer."""
    op = doc["paths"][path][method]
    schema = op["responses"][str(status)]["content"]["application/json"]["schema"]
    root = {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema,
            "components": closed(doc["components"])}
    jsonschema.Draft202012Validator(root).validate(body)


def main():
    base, read_key, write_key, work = sys.argv[1:5]
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    doc = fetch_document(base)
    assert doc["openapi"].startswith("3.1"), doc["openapi"]
    jsonschema.Draft202012Validator.check_schema({"$defs": doc["components"]["schemas"]})
    client_pkg = generate(doc, work)
    api = importlib.import_module(f"{client_pkg.__name__}.api.default")
    models = importlib.import_module(f"{client_pkg.__name__}.models")
    Client = client_pkg.AuthenticatedClient
    reader = Client(base_url=base, token=read_key)
    writer = Client(base_url=base, token=write_key)
    seen = []

    # List incidents.
    list_incidents = importlib.import_module(f"{api.__name__}.list_incidents")
    r = list_incidents.sync_detailed(client=reader, per_page="5")
    assert r.status_code == 200, (r.status_code, r.content[:300])
    page = r.parsed
    assert isinstance(page, models.IncidentPage), type(page)
    assert page.total > 0 and len(page.items) == min(5, page.total), (page.total, len(page.items))
    assert all(isinstance(i, models.IncidentView) for i in page.items)
    seen.append(("/api/v1/incidents", "get", 200, json.loads(r.content)))
    print(f"listed {len(page.items)} of {page.total} incidents")

    # Read one incident's bundle.
    first = page.items[0]
    incident_bundle = importlib.import_module(f"{api.__name__}.incident_bundle")
    r = incident_bundle.sync_detailed(client=reader, id=first.id)
    assert r.status_code == 200, (r.status_code, r.content[:300])
    bundle = r.parsed
    assert isinstance(bundle, models.StixBundle), type(bundle)
    ids = [o.id for o in bundle.objects]
    assert first.id in ids, (first.id, ids[:5])
    seen.append(("/api/v1/incidents/{id}/bundle", "get", 200, json.loads(r.content)))
    print(f"read the bundle of {first.id}: {len(ids)} objects")

    # Create an incident, and read it back.
    create_incident = importlib.import_module(f"{api.__name__}.create_incident")
    body = models.IncidentInput(
        name="Generated client test incident",
        description="Created by the Python client generated from the OpenAPI document.",
        first_seen="2025-03",
        techniques=["T0002"],
        actors=["Test actor"],
        target_countries=["FR"],
        channels=["Telegram"],
        source_urls=["https://example.org/report"],
        confidence=60,
    )
    r = create_incident.sync_detailed(client=writer, body=body)
    assert r.status_code == 201, (r.status_code, r.content[:500])
    created = r.parsed
    assert isinstance(created, models.IncidentView), type(created)
    assert created.name == body.name and created.techniques == ["T0002"], created
    seen.append(("/api/v1/incidents", "post", 201, json.loads(r.content)))
    get_incident = importlib.import_module(f"{api.__name__}.get_incident")
    r = get_incident.sync_detailed(client=reader, id=created.id)
    assert r.status_code == 200 and r.parsed.id == created.id, (r.status_code, r.content[:300])
    assert r.parsed.target_countries == ["FR"], r.parsed.target_countries
    seen.append(("/api/v1/incidents/{id}", "get", 200, json.loads(r.content)))
    print(f"created {created.id} and read it back")

    # Refused without the write scope: the error shape is the documented one.
    r = create_incident.sync_detailed(client=reader, body=body)
    assert r.status_code == 403, (r.status_code, r.content[:300])
    error_schema = doc["components"]["responses"]["Error"]["content"]["application/json"]["schema"]
    jsonschema.Draft202012Validator(
        {**error_schema, "components": closed(doc["components"])}).validate(json.loads(r.content))

    for path, method, status, answer in seen:
        check(doc, path, method, status, answer)
    print(f"{len(seen)} answers match their schemas (closed)")

    # Self-test: a wrong schema is caught.
    wrong = copy.deepcopy(doc)
    wrong["components"]["schemas"]["IncidentPage"]["properties"]["total"] = {"type": "string"}
    del wrong["components"]["schemas"]["IncidentView"]["properties"]["technique_details"]
    for schema_doc, path, method, status, answer in [
        (wrong, *seen[0]),
        (wrong, *seen[3]),
    ]:
        try:
            check(schema_doc, path, method, status, answer)
        except jsonschema.ValidationError:
            continue
        raise AssertionError(f"a wrong schema of {method} {path} was not caught")
    print("wrong schemas are caught")


if __name__ == "__main__":
    main()
