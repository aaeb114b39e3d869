"""An OpenCTI 6.8.10 stand-in for pycti: one GraphQL endpoint that checks every request as the
platform does and keeps what was created.

Every request is parsed and validated against the full schema (schema.py), its variables are
coerced (custom scalars checked), `@constraint` is enforced on every input value, and
graphql-no-alias's limits apply. Creations check their references (missing ones give the
platform's MISSING_REFERENCE_ERROR) and stix-core-relationships the platform's rules. Answers are
synthesised from the schema's types and a store of entities: the built-in TLP markings, the
default vocabularies, and the countries and regions of OpenCTI's geography data, plus everything
created. Every request is recorded with its outcome.

What this emulates and what it does not is listed in docs/opencti-import.md.
"""

from __future__ import annotations

import datetime
import json
import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLEnumType,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLUnionType,
    InlineFragmentNode,
    OperationDefinitionNode,
    execute,
    parse,
    validate,
)
from graphql.execution.values import get_argument_values, get_variable_values
from graphql.type.definition import get_named_type

import schema as sch

# The platform's built-in TLP markings (their STIX ids are fixed by the TLP 2.0 standard).
TLP = {
    "TLP:CLEAR": "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    "TLP:GREEN": "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    "TLP:AMBER": "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    "TLP:AMBER+STRICT": "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    "TLP:RED": "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}

# Entity types whose entities the platform finds again by name (or alias) and type.
NAMED = {
    "Country", "Region", "City", "Administrative-Area", "Channel", "Threat-Actor-Group",
    "Threat-Actor-Individual", "Organization", "Individual", "Sector", "System",
    "Intrusion-Set", "Campaign", "Malware", "Tool", "Narrative",
}
# Types that are Stix-Domain-Objects (for parent_types and the generic readers).
SDO_TYPES = NAMED | {"Incident", "Attack-Pattern", "Note", "Report", "Event", "Infrastructure"}
REFERENCE_KEYS = ("createdBy", "objectMarking", "objectLabel", "externalReferences",
                  "killChainPhases", "objects", "fromId", "toId")


def type_name_to_entity_type(name: str) -> str:
    """`ThreatActorGroup` → `Threat-Actor-Group` (OpenCTI's entity type spelling)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name)


def entity_type_to_type_name(entity_type: str) -> str:
    return entity_type.replace("-", "")


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Refused(GraphQLError):
    """A functional refusal of the platform (the error carries OpenCTI's error name)."""

    def __init__(self, name: str, message: str, data: dict | None = None):
        super().__init__(message, extensions={"code": name, "data": data or {}})
        self.error_name = name


def norm(s: Any) -> str:
    return str(s).strip().lower()


class Store:
    """Entities by internal id, found again by any of their ids or, for named types, by name."""

    def __init__(self):
        self.entities: dict[str, dict] = {}
        self.ids: dict[str, str] = {}
        self.names: dict[tuple[str, str], str] = {}

    def add(self, e: dict) -> dict:
        e.setdefault("id", str(uuid.uuid4()))
        e.setdefault("standard_id", f"{e['entity_type'].lower()}--{uuid.uuid4()}")
        e.setdefault("x_opencti_stix_ids", [])
        e.setdefault("created_at", now())
        e.setdefault("updated_at", e["created_at"])
        self.entities[e["id"]] = e
        self.index(e)
        return e

    def index(self, e: dict) -> None:
        for i in [e["id"], e["standard_id"], *(e.get("x_opencti_stix_ids") or [])]:
            self.ids[i] = e["id"]
        if e["entity_type"] in NAMED:
            for n in [e.get("name"), *(e.get("x_opencti_aliases") or e.get("aliases") or [])]:
                if n:
                    self.names.setdefault((e["entity_type"], norm(n)), e["id"])

    def get(self, ref: str) -> dict | None:
        i = self.ids.get(ref)
        return self.entities.get(i) if i else None

    def by_name(self, entity_type: str, name: str) -> dict | None:
        i = self.names.get((entity_type, norm(name)))
        return self.entities.get(i) if i else None

    def of_type(self, *types: str) -> list[dict]:
        return [e for e in self.entities.values() if e["entity_type"] in types]


def seed(store: Store, geography: Path | None, vocabularies: Path) -> None:
    """What a fresh platform holds: TLP markings, default vocabularies, OpenCTI's geography."""
    for definition, stix_id in TLP.items():
        store.add({"entity_type": "Marking-Definition", "standard_id": stix_id,
                   "definition_type": "TLP", "definition": definition,
                   "x_opencti_order": 1, "x_opencti_color": "#ffffff", "seeded": True})
    for c in json.loads(vocabularies.read_text())["categories"]:
        for v in c["default_values"]:
            store.add({"entity_type": "Vocabulary", "name": v, "category": {"key": c["key"]},
                       "category_key": c["key"], "seeded": True})
    if geography is not None:
        for line in geography.read_text().splitlines():
            if line.startswith("#") or not line.strip():
                continue
            kind, _code, name, aliases = (line.split("\t") + ["", ""])[:4]
            store.add({"entity_type": kind, "name": name,
                       "x_opencti_aliases": [a for a in aliases.split("|") if a],
                       "seeded": True})


class StandIn:
    def __init__(self, geography: Path | None = None):
        self.rules = sch.Rules()
        self.schema = sch.load_schema(self.rules)
        self.store = Store()
        seed(self.store, geography, sch.DATA / "vocabulary-categories.json")
        self.categories = json.loads((sch.DATA / "vocabulary-categories.json").read_text())["categories"]
        self.log: list[dict] = []
        self.documents: dict[str, tuple] = {}
        self.expectations: list[dict] = []
        self.lock = threading.Lock()

    # ---------------------------------------------------------------- request handling

    def handle(self, body: dict) -> tuple[int, dict]:
        with self.lock:
            status, answer = self._handle(body)
            self.log.append({
                "operation": body.get("operationName"),
                "query": body.get("query"),
                "variables": body.get("variables"),
                "status": status,
                "errors": answer.get("errors"),
                "fields": getattr(self, "_fields", []),
            })
            return status, answer

    def _handle(self, body: dict) -> tuple[int, dict]:
        self._fields = []
        query, variables = body.get("query"), body.get("variables") or {}
        if not isinstance(query, str):
            return 400, {"errors": [{"message": "no query", "name": "GRAPHQL_PARSE_FAILED"}]}
        if query not in self.documents:
            # pycti sends the same few documents again and again: parse and validate each once.
            try:
                doc = parse(query)
            except GraphQLError as e:
                return 400, {"errors": [{"message": e.message, "name": "GRAPHQL_PARSE_FAILED"}]}
            self.documents[query] = (doc, validate(self.schema, doc))
        doc, errors = self.documents[query]
        if errors:
            return 400, {"errors": [{"message": e.message, "name": "GRAPHQL_VALIDATION_FAILED"} for e in errors]}
        ops = [d for d in doc.definitions if isinstance(d, OperationDefinitionNode)]
        op = ops[0]
        root = self.schema.mutation_type if op.operation.value == "mutation" else self.schema.query_type
        self._fields = [s.name.value for s in op.selection_set.selections if isinstance(s, FieldNode)]
        counts: dict[str, int] = {}
        for f in self._fields:
            counts[f] = counts.get(f, 0) + 1
        limit = 1 if root is self.schema.mutation_type else 2
        too_many = [f for f, n in counts.items() if n > limit]
        if too_many:
            return 400, {"errors": [{"message": f"Aliases limit exceeded for {too_many}", "name": "GRAPHQL_VALIDATION_FAILED"}]}
        coerced = get_variable_values(self.schema, op.variable_definitions or [], variables)
        if isinstance(coerced, list):
            return 400, {"errors": [{"message": e.message, "name": "BAD_USER_INPUT"} for e in coerced]}
        violations = self._constraints(root, op.selection_set, coerced, doc)
        if violations:
            return 400, {"errors": [{"message": v, "name": "BAD_USER_INPUT", "data": {"code": "ERR_GRAPHQL_CONSTRAINT_VALIDATION"}} for v in violations]}
        result = execute(self.schema, doc, variable_values=variables,
                         field_resolver=self._resolve, type_resolver=self._resolve_type)
        out: dict[str, Any] = {"data": result.data}
        if result.errors:
            errs = []
            for e in result.errors:
                orig = e.original_error
                if isinstance(orig, Refused):
                    errs.append({"message": orig.message, "name": orig.error_name,
                                 "data": orig.extensions.get("data", {}), "path": e.path})
                else:
                    errs.append({"message": e.message, "name": "UNKNOWN_ERROR", "path": e.path})
            out["errors"] = errs
        return 200, out

    def _constraints(self, parent, selection_set, variables, doc) -> list[str]:
        """`@constraint` violations in the arguments of every field of the document."""
        out = []
        fragments = {d.name.value: d for d in doc.definitions if getattr(d, "kind", "") == "fragment_definition"}
        for sel in selection_set.selections:
            if isinstance(sel, FieldNode):
                fdef = parent.fields.get(sel.name.value) if hasattr(parent, "fields") else None
                if fdef is None:
                    continue
                args = get_argument_values(fdef, sel, variables)
                for name, a in fdef.args.items():
                    if name in args:
                        out.extend(sch.constraint_errors(a.type, args[name], f"{sel.name.value}.{name}"))
                if sel.selection_set is not None:
                    out.extend(self._constraints(get_named_type(fdef.type), sel.selection_set, variables, doc))
            elif isinstance(sel, InlineFragmentNode):
                t = self.schema.type_map[sel.type_condition.name.value] if sel.type_condition else parent
                out.extend(self._constraints(t, sel.selection_set, variables, doc))
            elif isinstance(sel, FragmentSpreadNode):
                f = fragments[sel.name.value]
                out.extend(self._constraints(self.schema.type_map[f.type_condition.name.value], f.selection_set, variables, doc))
        return out

    # ---------------------------------------------------------------- answers

    def _resolve_type(self, value, info, abstract_type):
        names = [t.name for t in self.schema.get_possible_types(abstract_type)]
        if isinstance(value, dict):
            et = value.get("entity_type", "")
            if et in self.rules.types:
                name = "StixCoreRelationship"
            else:
                name = entity_type_to_type_name(et)
            if name in names:
                return name
        return names[0]

    def _resolve(self, source, info, **args):
        parent = info.parent_type.name
        field = info.field_name
        if parent in ("Query", "Mutation"):
            handler = getattr(self, f"q_{field}", None) if parent == "Query" else getattr(self, f"m_{field}", None)
            if handler is not None:
                return handler(info, **args)
            if parent == "Mutation" and field.endswith("Add") and "input" in args:
                return self.create(info, args["input"])
            if parent == "Mutation" and field.endswith("Edit") and "id" in args:
                e = self.store.get(args["id"])
                if e is None:
                    raise Refused("MISSING_REFERENCE_ERROR", f"Element {args['id']} not found")
                return {"__edit_of": e}
            if parent == "Query" and "id" in args and len(args) == 1:
                return self.store.get(args["id"])
            if parent == "Query" and any(k in args for k in ("filters", "first", "search")):
                return self.connection(self.filter(self._types_of(info), args.get("filters"), args.get("search")))
            return self.synth(info.return_type)
        if isinstance(source, dict) and "__work__" in source:
            if field == "reportExpectation":
                self.expectations.append({"work_id": source["__work__"], "error": args.get("error")})
            return source["__work__"] if get_named_type(info.return_type).name == "ID" else self.synth(info.return_type)
        if isinstance(source, dict) and "__edit_of" in source:
            # A nested edit (relationAdd, fieldPatch, ...): recorded by the request log.
            return self.edit(source["__edit_of"], field, args, info)
        if isinstance(source, dict):
            if field in source:
                v = source[field]
                return self.adapt(v, info.return_type)
            if field == "parent_types":
                return ["Basic-Object", "Stix-Object", "Stix-Core-Object"]
        return self.synth(info.return_type)

    def adapt(self, v, t):
        """A stored value in the shape the schema asks for (ids to entities, lists to connections)."""
        named = get_named_type(t)
        if isinstance(named, (GraphQLObjectType, GraphQLInterfaceType, GraphQLUnionType)):
            if named.name.endswith("Connection") and isinstance(v, list):
                return self.connection([self.store.get(x) if isinstance(x, str) else x for x in v])
            if isinstance(v, list):
                return [self.store.get(x) if isinstance(x, str) else x for x in v if x is not None]
            if isinstance(v, str):
                return self.store.get(v)
        return v

    def synth(self, t, depth: int = 0):
        """A plausible value of type `t` when the store has none: null where allowed."""
        if not isinstance(t, GraphQLNonNull):
            return None
        t = t.of_type
        if isinstance(t, GraphQLList):
            return []
        if isinstance(t, GraphQLScalarType):
            return {"ID": str(uuid.uuid4()), "String": "", "Int": 0, "Float": 0.0,
                    "Boolean": False, "DateTime": now(), "StixId": f"x--{uuid.uuid4()}",
                    "StixRef": str(uuid.uuid4())}.get(t.name, "")
        if isinstance(t, GraphQLEnumType):
            return next(iter(t.values))
        return {}

    def connection(self, items: list) -> dict:
        items = [i for i in items if i is not None]
        return {"edges": [{"node": i, "cursor": str(n)} for n, i in enumerate(items)],
                "pageInfo": {"startCursor": "0", "endCursor": str(max(len(items) - 1, 0)),
                             "hasNextPage": False, "hasPreviousPage": False,
                             "globalCount": len(items)}}

    def _types_of(self, info) -> list[str] | None:
        named = get_named_type(info.return_type)
        if named.name.endswith("Connection"):
            node = get_named_type(named.fields["edges"].type).fields["node"].type
            node = get_named_type(node)
            if isinstance(node, GraphQLObjectType):
                return [type_name_to_entity_type(node.name)]
        return None

    def filter(self, types: list[str] | None, filters: dict | None, search: str | None) -> list[dict]:
        out = []
        for e in self.store.entities.values():
            if types and e["entity_type"] not in types:
                continue
            if filters and not self.matches(e, filters):
                continue
            if search and norm(search) not in norm(e.get("name", "")):
                continue
            out.append(e)
        return out

    def matches(self, e: dict, group: dict) -> bool:
        results = []
        for f in group.get("filters") or []:
            keys = f["key"] if isinstance(f["key"], list) else [f["key"]]
            values = [norm(v) for v in f.get("values") or []]
            hit = False
            for k in keys:
                if k in ("ids", "id"):
                    have = [e["id"], e["standard_id"], *e.get("x_opencti_stix_ids", [])]
                elif k == "entity_type":
                    have = [e["entity_type"]]
                elif k == "category":
                    have = [e.get("category_key")]
                elif k in ("name", "aliases", "x_opencti_aliases"):
                    have = [e.get("name"), *(e.get("x_opencti_aliases") or e.get("aliases") or [])]
                else:
                    v = e.get(k)
                    have = v if isinstance(v, list) else [v]
                if any(h is not None and norm(h) in values for h in have):
                    hit = True
            if f.get("operator") == "not_eq":
                hit = not hit
            results.append(hit)
        for g in group.get("filterGroups") or []:
            results.append(self.matches(e, g))
        if not results:
            return True
        return all(results) if group.get("mode", "and") == "and" else any(results)

    # ---------------------------------------------------------------- creations

    def resolve_ref(self, ref: str, key: str) -> dict:
        e = self.store.get(ref)
        if e is None:
            raise Refused("MISSING_REFERENCE_ERROR", f"Element(s) not found: {key} {ref}",
                          {"key": key, "ids": [ref]})
        return e

    def create(self, info, data: dict) -> dict:
        rtype = get_named_type(info.return_type).name
        if rtype == "StixCoreRelationship":
            return self.create_relationship(data)
        if rtype == "Location":
            entity_type = data.get("type")
        elif rtype == "Identity":
            entity_type = data.get("type")
        else:
            entity_type = type_name_to_entity_type(rtype)
        if not entity_type:
            raise Refused("FUNCTIONAL_ERROR", f"{info.field_name}: no entity type")
        refs = {}
        for key in REFERENCE_KEYS:
            v = data.get(key)
            if v is None:
                continue
            refs[key] = [self.resolve_ref(r, key)["id"] for r in v] if isinstance(v, list) else self.resolve_ref(v, key)["id"]
        stix_id = data.get("stix_id")
        existing = self.store.get(stix_id) if stix_id else None
        if existing is None:
            existing = self.find_existing(entity_type, data)
        fields = {k: v for k, v in data.items() if k not in REFERENCE_KEYS and k not in ("stix_id", "update", "type")}
        extra_ids = fields.pop("x_opencti_stix_ids", None) or []
        if existing is not None:
            # Upsert: stix ids and aliases are accumulated; references are added.
            if existing["entity_type"] != entity_type:
                raise Refused("FUNCTIONAL_ERROR", f"{stix_id} is a {existing['entity_type']}, not a {entity_type}")
            for i in [stix_id, *extra_ids]:
                if i and i not in existing["x_opencti_stix_ids"] and i != existing["standard_id"]:
                    existing["x_opencti_stix_ids"].append(i)
            for k in ("x_opencti_aliases", "aliases"):
                for a in fields.get(k) or []:
                    existing.setdefault(k, [])
                    if a not in existing[k]:
                        existing[k].append(a)
            for k, v in refs.items():
                if isinstance(v, list):
                    have = existing.setdefault(k, [])
                    have.extend(x for x in v if x not in have)
                else:
                    existing.setdefault(k, v)
            for k, v in fields.items():
                if existing.get(k) in (None, "", []):
                    existing[k] = v
            existing.setdefault("upserts", 0)
            existing["upserts"] += 1
            self.store.index(existing)
            return existing
        e = {"entity_type": entity_type, **fields, **refs, "x_opencti_stix_ids": list(extra_ids),
             "parent_types": self.parent_types(entity_type)}
        if stix_id:
            e["standard_id"] = stix_id
        if entity_type == "Vocabulary":
            e["category_key"] = data.get("category")
            e["category"] = {"key": data.get("category")}
        return self.store.add(e)

    def find_existing(self, entity_type: str, data: dict) -> dict | None:
        if entity_type in NAMED:
            for n in [data.get("name"), *(data.get("x_opencti_aliases") or data.get("aliases") or [])]:
                if n:
                    e = self.store.by_name(entity_type, n)
                    if e is not None:
                        return e
            return None
        key = {
            "Label": ("value",),
            "Vocabulary": ("name", "category"),
            "External-Reference": ("url",) if data.get("url") else ("source_name", "external_id"),
            "Kill-Chain-Phase": ("kill_chain_name", "phase_name"),
            "Marking-Definition": ("definition_type", "definition"),
            "Attack-Pattern": ("x_mitre_id",) if data.get("x_mitre_id") else ("name",),
        }.get(entity_type)
        if not key:
            return None
        want = [norm(data.get(k)) for k in key]
        for e in self.store.of_type(entity_type):
            have = [norm(e.get("category_key") if k == "category" else e.get(k)) for k in key]
            if have == want:
                return e
        return None

    def parent_types(self, entity_type: str) -> list[str]:
        base = ["Basic-Object", "Stix-Object", "Stix-Core-Object"]
        if entity_type in SDO_TYPES:
            return base + ["Stix-Domain-Object"]
        if entity_type in self.rules.types:
            return ["Basic-Relationship", "Stix-Relationship", "stix-core-relationship"]
        return ["Basic-Object", "Stix-Meta-Object"]

    def create_relationship(self, data: dict) -> dict:
        rel = data.get("relationship_type")
        src = self.resolve_ref(data["fromId"], "fromId")
        dst = self.resolve_ref(data["toId"], "toId")
        why = self.rules.refusal(src["entity_type"], rel, dst["entity_type"])
        if why:
            raise Refused("FUNCTIONAL_ERROR", why, {"from": src["entity_type"], "to": dst["entity_type"],
                                                   "relationship_type": rel})
        refs = {}
        for key in ("createdBy", "objectMarking", "objectLabel", "externalReferences", "killChainPhases"):
            v = data.get(key)
            if v is not None:
                refs[key] = [self.resolve_ref(r, key)["id"] for r in v] if isinstance(v, list) else self.resolve_ref(v, key)["id"]
        stix_id = data.get("stix_id")
        existing = self.store.get(stix_id) if stix_id else None
        if existing is not None:
            existing["upserts"] = existing.get("upserts", 0) + 1
            return existing
        fields = {k: v for k, v in data.items() if k not in ("fromId", "toId", "stix_id", "update") and k not in refs}
        e = {"entity_type": rel, **fields, **refs, "fromId": src["id"], "toId": dst["id"],
             "from": src, "to": dst, "parent_types": self.parent_types(rel)}
        if stix_id:
            e["standard_id"] = stix_id
        return self.store.add(e)

    def edit(self, entity: dict, field: str, args: dict, info) -> Any:
        if field == "relationAdd":
            inp = args.get("input") or {}
            target = self.resolve_ref(inp.get("toId"), "toId")
            key = inp.get("relationship_type")
            entity.setdefault("edits", []).append((key, target["id"]))
            return {"id": str(uuid.uuid4()), "from": entity, "to": target}
        if field == "fieldPatch":
            for p in args.get("input") or []:
                entity[p["key"]] = p["value"] if len(p.get("value") or []) != 1 else p["value"][0]
            return entity
        return entity

    # ---------------------------------------------------------------- special roots

    def q_about(self, info, **_):
        return {"version": "6.8.10", "dependencies": []}

    def q_vocabularyCategories(self, info, **_):
        return [{"key": c["key"], "description": "", "entity_types": c["entity_types"],
                 "fields": [{"key": f["key"], "required": f["required"], "multiple": f["multiple"]}
                            for f in c["fields"]]} for c in self.categories]

    def q_vocabularies(self, info, **args):
        items = self.filter(["Vocabulary"], args.get("filters"), args.get("search"))
        if args.get("category"):
            items = [v for v in items if v.get("category_key") == args["category"]]
        return self.connection(items)

    def q_markingDefinitions(self, info, **args):
        return self.connection(self.filter(["Marking-Definition"], args.get("filters"), args.get("search")))

    def q_labels(self, info, **args):
        return self.connection(self.filter(["Label"], args.get("filters"), args.get("search")))

    def q_stixCoreObject(self, info, **args):
        return self.store.get(args["id"])

    q_stixDomainObject = q_stixCoreObject
    q_stixObjectOrStixRelationship = q_stixCoreObject

    def m_workEdit(self, info, **args):
        return {"__work__": args["id"]}

    def m_stixCoreObjectEdit(self, info, **args):
        e = self.resolve_ref(args["id"], "id")
        return {"__edit_of": e}

    m_stixDomainObjectEdit = m_stixCoreObjectEdit


def serve(standin: StandIn, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """Serves the stand-in on a free loopback port in a background thread."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as pycti's session expects
        disable_nagle_algorithm = True

        def do_POST(self):  # noqa: N802
            n = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(n)
            try:
                body = json.loads(raw)
            except ValueError:
                status, answer = 400, {"errors": [{"message": "body is not JSON"}]}
            else:
                status, answer = standin.handle(body)
            data = json.dumps(answer, default=str).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *a):
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
