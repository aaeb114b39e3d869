"""The stand-in refuses what OpenCTI 6.8.10 refuses, and the fact checker notices what is missing.

Run before the conformance check (scripts/opencti-conformance): a stand-in that accepted
everything would make the check pass vacuously. Exit status 0 when every case behaves.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import facts  # noqa: E402
import standin as st  # noqa: E402

CHANNEL = "mutation C($input: ChannelAddInput!) { channelAdd(input: $input) { id entity_type } }"
INCIDENT = "mutation I($input: IncidentAddInput!) { incidentAdd(input: $input) { id standard_id } }"
LOCATION = "mutation L($input: LocationAddInput!) { locationAdd(input: $input) { id entity_type } }"
REL = ("mutation R($input: StixCoreRelationshipAddInput!) "
       "{ stixCoreRelationshipAdd(input: $input) { id entity_type } }")
INC_ID = "incident--c1817dc0-80ae-547f-83c0-920b0c6a25b8"
CH_ID = "channel--4f2c7a8e-9d53-5c1d-8a6a-3f6a0c0e2b11"


def main() -> int:
    s = st.StandIn(geography=HERE.parents[1] / "stix-model" / "data" / "opencti-geography.tsv")
    failures = []

    def expect(what: str, body: dict, ok: bool, needle: str = "") -> dict:
        status, answer = s.handle(body)
        accepted = status == 200 and not answer.get("errors")
        text = str(answer.get("errors"))
        if accepted != ok or (needle and needle not in text):
            failures.append(f"{what}: status {status}, {text[:200]}")
        return answer

    expect("unknown field", {"query": "{ aboutt { version } }"}, False, "GRAPHQL_VALIDATION_FAILED")
    expect("channel named X (minLength 2)", {"query": CHANNEL, "variables": {"input": {"name": "X"}}}, False, "at least 2")
    expect("blank channel name (not-blank)", {"query": CHANNEL, "variables": {"input": {"name": "   "}}}, False, "blank")
    expect("channel X (Twitter)", {"query": CHANNEL, "variables": {"input": {"name": "X (Twitter)", "stix_id": CH_ID}}}, True)
    expect("bad DateTime", {"query": INCIDENT, "variables": {"input": {"name": "An incident", "created": "2022-01"}}}, False, "DateTime")
    expect("stix id of an unknown type", {"query": INCIDENT, "variables": {"input": {"name": "An incident", "stix_id": "x-thing--c1817dc0-80ae-547f-83c0-920b0c6a25b8"}}}, False, "stix id")
    expect("score over 100 (max)", {"query": "mutation O($input: OrganizationAddInput!) { organizationAdd(input: $input) { id } }",
                                     "variables": {"input": {"name": "An org", "x_opencti_score": 101}}}, False, "no greater")
    expect("missing marking", {"query": INCIDENT, "variables": {"input": {"name": "An incident", "objectMarking": ["marking-definition--00000000-0000-4000-8000-000000000000"]}}}, False, "MISSING_REFERENCE_ERROR")
    expect("incident", {"query": INCIDENT, "variables": {"input": {"name": "An incident", "stix_id": INC_ID, "objectMarking": [st.TLP["TLP:CLEAR"]]}}}, True)
    expect("two mutations of one field", {"query": "mutation { a: labelAdd(input: {value: \"a\"}) { id } b: labelAdd(input: {value: \"b\"}) { id } }"}, False, "Aliases")
    answer = expect("country by OpenCTI's name", {"query": LOCATION, "variables": {"input": {"name": "czechia", "type": "Country"}}}, True)
    czechia = s.store.by_name("Country", "Czechia")
    if czechia is None or answer["data"]["locationAdd"]["id"] != czechia["id"]:
        failures.append("a country sent under OpenCTI's name is not the platform's own")
    expect("country under another name", {"query": LOCATION, "variables": {"input": {"name": "Czech Republic", "type": "Country"}}}, True)
    expect("Incident uses Channel", {"query": REL, "variables": {"input": {"fromId": INC_ID, "toId": CH_ID, "relationship_type": "uses"}}}, True)
    expect("Incident uses Country (refused by the rules)", {"query": REL, "variables": {"input": {"fromId": INC_ID, "toId": czechia["id"] if czechia else "", "relationship_type": "uses"}}}, False, "not allowed")
    expect("Incident targets Country", {"query": REL, "variables": {"input": {"fromId": INC_ID, "toId": czechia["id"] if czechia else "", "relationship_type": "targets"}}}, True)

    c = facts.Checker(s.store, s.rules.types)
    c.check_live({"id": INC_ID, "name": "An incident", "created": "2024-01-01T00:00:00.000Z", "target_countries": ["CZ"],
                  "channels": ["Telegram"], "first_seen": "2022-01"}, "1.7")
    c.check_platform()
    for kind in ("channel", "first seen precision", "incident type", "no second country or region"):
        if not any(f": {kind}: " in p for p in c.problems):
            failures.append(f"the fact checker did not notice a missing {kind}")
    if any(": target country: " in p for p in c.problems):
        failures.append("the fact checker missed a target country that is there")

    for f in failures:
        print(f"selftest: FAIL {f}")
    print(f"selftest: {len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
