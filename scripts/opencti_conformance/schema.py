"""OpenCTI 6.8.10's GraphQL schema and relationship rules, as the platform assembles and checks them.

The facts this follows (how the SDL files are merged, what the custom scalars accept, which
`@constraint` arguments are enforced, how relationships are checked) are written down in
docs/opencti-import.md. The data lives in tests/data/opencti-6.8.10/ (Apache-2.0, see NOTICE there).
"""

from __future__ import annotations

import datetime
import json
import re
import uuid
from pathlib import Path
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    GraphQLSchema,
    build_ast_schema,
    parse,
)
from graphql.language import (
    DocumentNode,
    EnumTypeDefinitionNode,
    InputObjectTypeDefinitionNode,
    InterfaceTypeDefinitionNode,
    ObjectTypeDefinitionNode,
    UnionTypeDefinitionNode,
)

DATA = Path(__file__).resolve().parents[2] / "tests" / "data" / "opencti-6.8.10"

# graphql-rate-limit-directive 2.x declares this directive in code, not in any SDL file.
RATE_LIMIT_SDL = """
directive @rateLimit(limit: Int, duration: Int) on OBJECT | FIELD_DEFINITION
"""


def _merge(definitions: list) -> list:
    """Merges same-named type definitions as @graphql-tools/merge does (fields, enum values,
    union members and interfaces are concatenated; a field declared twice is kept once)."""
    merged: dict[str, Any] = {}
    order: list[str] = []
    out = []
    mergeable = (
        ObjectTypeDefinitionNode,
        InputObjectTypeDefinitionNode,
        InterfaceTypeDefinitionNode,
        EnumTypeDefinitionNode,
        UnionTypeDefinitionNode,
    )
    for d in definitions:
        if not isinstance(d, mergeable):
            out.append(d)
            continue
        name = d.name.value
        if name not in merged:
            merged[name] = d
            order.append(name)
            continue
        base = merged[name]
        if type(base) is not type(d):
            raise ValueError(f"type {name} declared as two kinds")
        if isinstance(d, EnumTypeDefinitionNode):
            seen = {v.name.value for v in base.values}
            base.values = tuple(base.values) + tuple(v for v in d.values if v.name.value not in seen)
        elif isinstance(d, UnionTypeDefinitionNode):
            seen = {t.name.value for t in base.types}
            base.types = tuple(base.types) + tuple(t for t in d.types if t.name.value not in seen)
        else:
            seen = {f.name.value for f in base.fields}
            base.fields = tuple(base.fields) + tuple(f for f in d.fields if f.name.value not in seen)
            if hasattr(d, "interfaces") and d.interfaces:
                have = {i.name.value for i in (base.interfaces or ())}
                base.interfaces = tuple(base.interfaces or ()) + tuple(
                    i for i in d.interfaces if i.name.value not in have
                )
    return out + [merged[n] for n in order]


def _utf16_len(s: str) -> int:
    return len(s.encode("utf-16-le")) // 2


RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)


def _parse_datetime(v: Any) -> str:
    if not isinstance(v, str) or not RFC3339.match(v):
        raise GraphQLError(f"DateTime cannot represent an invalid date-time-string {v!r}.")
    try:
        datetime.datetime.fromisoformat(v.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as e:
        raise GraphQLError(f"DateTime cannot represent an invalid date-time-string {v!r}.") from e
    return v


class Rules:
    """The stix-core-relationship rules (relationship-rules.json)."""

    def __init__(self, path: Path = DATA / "relationship-rules.json"):
        d = json.loads(path.read_text())
        self.always = set(d["always_allowed"])
        self.observables = set(d["observable_types"])
        self.types = set(d["stix_core_relationship_types"])
        self.supported_stix = set(d["supported_stix_types"])
        self.mapping = {k: {e["name"] for e in v} for k, v in d["mapping"].items()}

    def refusal(self, from_type: str, rel: str, to_type: str) -> str | None:
        """Why the platform refuses this relationship, or None when it accepts it."""
        if rel not in self.types:
            return f"relationship type {rel} is not a stix-core-relationship"
        if rel in self.always:
            return None
        keys = [f"{from_type}_{to_type}"]
        if to_type in self.observables:
            keys.append(f"{from_type}_Stix-Cyber-Observable")
        if from_type in self.observables:
            keys.append(f"Stix-Cyber-Observable_{to_type}")
        if any(rel in self.mapping.get(k, ()) for k in keys):
            return None
        return f"The relationship type {rel} is not allowed between {from_type} and {to_type}"


def _stix_id_check(rules: Rules):
    def parse_value(v: Any) -> str:
        if not isinstance(v, str) or "--" not in v:
            raise GraphQLError(f"Provided value {v!r} is not a stix id")
        t, _, u = v.partition("--")
        if t not in rules.supported_stix:
            raise GraphQLError(f"Provided value {v!r} is not a stix id of a supported type")
        try:
            uuid.UUID(u)
        except ValueError as e:
            raise GraphQLError(f"Provided value {v!r} is not a stix id") from e
        return v

    return parse_value


def _stix_ref_check(rules: Rules):
    stix_id = _stix_id_check(rules)

    def parse_value(v: Any) -> str:
        # A StixRef is a stix id or an internal id (a UUID).
        if isinstance(v, str) and "--" not in v:
            try:
                uuid.UUID(v)
                return v
            except ValueError:
                pass
        return stix_id(v)

    return parse_value


def load_schema(rules: Rules) -> GraphQLSchema:
    """The platform's schema: the main SDL, the module SDL files in registration order, merged."""
    files = json.loads((DATA / "schema-files.json").read_text())["files"]
    definitions = []
    for f in files:
        doc = parse((DATA / "graphql" / f).read_text())
        definitions.extend(doc.definitions)
    definitions.extend(parse(RATE_LIMIT_SDL).definitions)
    schema = build_ast_schema(DocumentNode(definitions=tuple(_merge(definitions))))
    checks = {
        "DateTime": _parse_datetime,
        "StixId": _stix_id_check(rules),
        "StixRef": _stix_ref_check(rules),
    }
    for name, check in checks.items():
        t = schema.type_map[name]
        assert isinstance(t, GraphQLScalarType)
        t.parse_value = check  # type: ignore[method-assign]
    return schema


def _constraint_args(field) -> dict | None:
    node = field.ast_node
    if node is None:
        return None
    for d in node.directives or ():
        if d.name.value == "constraint":
            out = {}
            for a in d.arguments:
                v = a.value
                out[a.name.value] = int(v.value) if v.kind == "int_value" else v.value
            return out
    return None


def _check_constraint(path: str, c: dict, v: Any) -> list[str]:
    errors = []
    if isinstance(v, str):
        n = _utf16_len(v)
        if "minLength" in c and n < c["minLength"]:
            errors.append(f"{path}: must be at least {c['minLength']} characters in length ({v!r})")
        if "maxLength" in c and n > c["maxLength"]:
            errors.append(f"{path}: must be no more than {c['maxLength']} characters in length")
        if "pattern" in c and not re.search(c["pattern"], v):
            errors.append(f"{path}: must match {c['pattern']}")
        fmt = c.get("format")
        if fmt == "not-blank" and not v.strip():
            errors.append(f"{path}: must not be blank")
        if fmt == "email" and not re.match(r"^[^@\s]+@[^@\s]+$", v):
            errors.append(f"{path}: must be an email")
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        if "min" in c and v < c["min"]:
            errors.append(f"{path}: must be at least {c['min']}")
        if "max" in c and v > c["max"]:
            errors.append(f"{path}: must be no greater than {c['max']}")
    return errors


def constraint_errors(t, value: Any, path: str) -> list[str]:
    """`@constraint` violations of a coerced input value of type `t` (lists element-wise)."""
    if value is None:
        return []
    if isinstance(t, GraphQLNonNull):
        return constraint_errors(t.of_type, value, path)
    if isinstance(t, GraphQLList):
        out = []
        for i, item in enumerate(value if isinstance(value, list) else [value]):
            out.extend(constraint_errors(t.of_type, item, f"{path}[{i}]"))
        return out
    if isinstance(t, GraphQLInputObjectType):
        out = []
        for name, field in t.fields.items():
            key = field.out_name or name
            if key not in value:
                continue
            v = value[key]
            c = _constraint_args(field)
            if c is not None and v is not None:
                items = v if isinstance(v, list) else [v]
                for item in items:
                    out.extend(_check_constraint(f"{path}.{name}", c, item))
            out.extend(constraint_errors(field.type, v, f"{path}.{name}"))
        return out
    if isinstance(t, (GraphQLScalarType, GraphQLEnumType)):
        return []
    return []
