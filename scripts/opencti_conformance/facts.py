"""Every DISINFOX fact, looked for in what reached the OpenCTI stand-in.

The expected facts come from the DISINFOX API (`GET /api/v1/incidents`: what analysts recorded),
not from the bundle, so a fact the bundle builder dropped is caught too. Each fact is looked for
in its home of the README's fidelity table ("What OpenCTI shows"); docs/opencti-import.md says
why each home was chosen.
"""

from __future__ import annotations

import datetime
from collections import Counter

UNCERTAIN = "Uncertain attribution (marked with * in DISINFOX)"
ATTRIBUTION_LABEL = "attribution-source:"
INCIDENT_TYPE = "disinformation"
NOTE_ABSTRACT = "DISINFOX record"


def date_start(s: str) -> str:
    parts = [int(p) for p in s.split("-")] + [1, 1]
    return datetime.date(parts[0], parts[1], parts[2]).strftime("%Y-%m-%dT00:00:00.000Z")


def precision(s: str) -> str:
    return {1: "year", 2: "month", 3: "day"}[len(s.split("-"))]


def same_instant(a: str | None, b: str) -> bool:
    if a is None:
        return False
    p = lambda t: datetime.datetime.fromisoformat(t.replace("Z", "+00:00"))  # noqa: E731
    return p(a) == p(b)


class Checker:
    def __init__(self, store, rules_types: set[str]):
        self.store = store
        self.problems: list[str] = []
        self.counts: Counter = Counter()
        self.missing: Counter = Counter()
        self.rels_from: dict[str, list[dict]] = {}
        for e in store.entities.values():
            if e["entity_type"] in rules_types and "fromId" in e:
                self.rels_from.setdefault(e["fromId"], []).append(e)
        self.notes_about: dict[str, list[dict]] = {}
        for n in store.of_type("Note"):
            for o in n.get("objects") or []:
                self.notes_about.setdefault(o, []).append(n)

    def fact(self, kind: str, ok: bool, where: str, detail: str) -> None:
        self.counts[kind] += 1
        if not ok:
            self.missing[kind] += 1
            self.problems.append(f"{where}: {kind}: {detail}")

    def related(self, inc: dict, rel: str, entity_types: tuple[str, ...]) -> list[tuple[dict, dict]]:
        out = []
        for r in self.rels_from.get(inc["id"], []):
            if r["entity_type"] == rel:
                target = self.store.entities.get(r["toId"])
                if target is not None and target["entity_type"] in entity_types:
                    out.append((r, target))
        return out

    def platform_has(self, code: str) -> bool:
        e = self.store.by_name("Country", code)
        return e is not None and bool(e.get("seeded"))

    def names(self, e: dict) -> set[str]:
        return {n.strip().lower() for n in [e.get("name"), *(e.get("x_opencti_aliases") or e.get("aliases") or [])] if n}

    def note_lines(self, inc: dict) -> list[str]:
        lines = []
        for n in self.notes_about.get(inc["id"], []):
            if n.get("attribute_abstract") == NOTE_ABSTRACT or n.get("abstract") == NOTE_ABSTRACT:
                lines.extend(n.get("content", "").splitlines())
        return lines

    def check_live(self, item: dict, disarm_version: str | None) -> None:
        sid = item["id"]
        inc = self.store.get(sid)
        self.fact("incident imported", inc is not None and inc["entity_type"] == "Incident", sid, "no Incident with this STIX id")
        if inc is None:
            return
        w = f"{sid} ({item['name'][:40]})"
        self.fact("name", inc.get("name") == item["name"], w, f"{inc.get('name')!r}")
        if item.get("description"):
            self.fact("description", inc.get("description") == item["description"], w, "differs")
        self.fact("created", same_instant(inc.get("created"), item["created"]), w, f"{inc.get('created')}")
        self.fact("incident type", inc.get("incident_type") == INCIDENT_TYPE, w, f"{inc.get('incident_type')!r}")
        if item.get("confidence") is not None:
            self.fact("confidence", inc.get("confidence") == item["confidence"], w, f"{inc.get('confidence')}")
        self.fact("not revoked", not inc.get("revoked"), w, "revoked")
        marks = [self.store.entities[m] for m in inc.get("objectMarking") or []]
        self.fact("TLP marking", any(m.get("definition_type") == "TLP" and m.get("seeded") for m in marks), w,
                  f"{[m.get('definition') for m in marks]}")
        author = self.store.entities.get(inc.get("createdBy") or "")
        self.fact("author organization", author is not None and author["entity_type"] == "Organization", w, "no author")
        labels = {self.store.entities[x].get("value") for x in inc.get("objectLabel") or []}
        for lab in item.get("labels") or []:
            self.fact("label", lab in labels, w, f"{lab!r} not in {sorted(labels)}")
        refs = {self.store.entities[x].get("url") for x in inc.get("externalReferences") or []}
        for u in item.get("source_urls") or []:
            self.fact("source URL", u in refs, w, f"{u} not an external reference")
        notes = self.note_lines(inc)

        def in_note(kind: str, line: str) -> None:
            self.fact(kind, line in notes, w, f"note has no line {line!r}")

        for key, label in (("first_seen", "First seen"), ("last_seen", "Last seen")):
            v = item.get(key)
            if v:
                self.fact(f"{label.lower()} date", same_instant(inc.get(key), date_start(v)), w, f"{inc.get(key)} for {v}")
                in_note(f"{label.lower()} precision", f"- {label}: {v} ({precision(v)} precision)")
        unknown = [t["id"] for t in item.get("technique_details") or [] if t.get("unknown")]
        for t in item.get("techniques") or []:
            hits = [a for _, a in self.related(inc, "uses", ("Attack-Pattern",)) if a.get("x_mitre_id") == t]
            self.fact("DISARM technique", bool(hits), w, f"no uses -> Attack-Pattern {t}")
            if hits and t not in unknown:
                phases = [self.store.entities[k].get("kill_chain_name") for a in hits for k in a.get("killChainPhases") or []]
                self.fact("DISARM tactic (kill chain phase)", "disarm" in phases, w, f"{t}: {phases}")
        uncertain = []
        for a in item.get("actors") or []:
            name = a.rstrip("*").strip()
            unsure = a.strip().endswith("*")
            hits = [(r, t) for r, t in self.related(inc, "attributed-to", ("Threat-Actor-Group", "Threat-Actor-Individual"))
                    if name.lower() in self.names(t)]
            self.fact("attributed actor", bool(hits), w, f"no attributed-to -> {name}")
            want = item.get("attribution_confidence")
            if unsure:
                uncertain.append(name)
                want = 50 if want is None else want
                self.fact("uncertain attribution", any(r.get("description") == UNCERTAIN for r, _ in hits), w, name)
            if want is not None:
                self.fact("attribution confidence", any(r.get("confidence") == want for r, _ in hits), w,
                          f"{[r.get('confidence') for r, _ in hits]} for {want}")
        if uncertain:
            in_note("uncertain attribution", f"- Uncertain attribution: {', '.join(uncertain)}")
        if item.get("attribution_confidence") is not None:
            in_note("attribution confidence", f"- Attribution confidence: {item['attribution_confidence']}")
        for rel, kind, codes in (("targets", "target country", item.get("target_countries") or []),
                                 ("originates-from", "country of origin", [item.get("country_of_origin")])):
            for code in filter(None, codes):
                hits = [c for _, c in self.related(inc, rel, ("Country",)) if code.lower() in self.names(c)]
                # The platform's own country; a new one only where OpenCTI's geography has none (Kosovo).
                ok = any(c.get("seeded") or not self.platform_has(code) for c in hits)
                self.fact(kind, ok, w, f"{code}: {[c.get('name') for c in hits]} (not the platform's own country)")
        for key, label in (("region", "Region"), ("sub_region", "Sub-region")):
            v = item.get(key)
            if not v:
                continue
            in_note(key.replace("_", "-"), f"- {label}: {v}")
            platform = self.store.by_name("Region", v)
            if platform is not None:
                hits = [r for _, r in self.related(inc, "targets", ("Region",)) if r["id"] == platform["id"]]
                self.fact(f"{key.replace('_', '-')} as OpenCTI region", bool(hits), w, f"no targets -> Region {v}")
        for ch in item.get("channels") or []:
            hits = [c for _, c in self.related(inc, "uses", ("Channel",)) if ch.strip().lower() in self.names(c)]
            self.fact("channel", bool(hits), w, f"no uses -> Channel named or aliased {ch!r}")
        kinds = item.get("attribution_sources") or []
        if kinds:
            in_note("attribution sources", f"- Attribution sources: {', '.join(kinds)}")
            for k in kinds:
                self.fact("attribution source label", f"{ATTRIBUTION_LABEL}{k}" in labels, w, k)
        if item.get("cyber_attack") is not None:
            in_note("cyber attacks", f"- Cyber attacks: {'yes' if item['cyber_attack'] else 'no'}")
        if disarm_version:
            in_note("DISARM version", f"- DISARM version: {disarm_version}")
        if unknown:
            in_note("techniques DISARM lacks", f"- Techniques not in this DISARM version: {', '.join(unknown)}")

    def check_revoked(self, sid: str) -> None:
        inc = self.store.get(sid)
        self.fact("deleted incident revoked", inc is not None and inc.get("revoked") is True, sid,
                  "not imported" if inc is None else f"revoked={inc.get('revoked')!r}")

    def check_platform(self) -> None:
        # Only countries OpenCTI's geography lacks (Kosovo) may be created.
        created = [e for e in self.store.of_type("Country", "Region") if not e.get("seeded")
                   and not (e["entity_type"] == "Country" and e.get("name") == "Kosovo")]
        self.fact("no second country or region", not created, "platform",
                  f"created {[e.get('name') for e in created]}")
        vocab = [v for v in self.store.of_type("Vocabulary")
                 if v.get("name") == INCIDENT_TYPE and v.get("category_key") == "incident_type_ov"]
        self.fact("incident type in vocabulary", len(vocab) == 1, "platform", f"{len(vocab)} entries")
