"""The JSON Schemas in `schemas/`, and schema errors turned into findings with positions.

jsonschema (with referencing) costs about 80 ms to import, more than the rest of a cached
`validate`: it is imported at the first schema check, and a document that passed a schema
before is remembered by its hash (`known_valid`), so a re-run never loads it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medperf_action.domain.yamldoc import Document, KeyPath, Mark
from medperf_action.settings import cache_dir
from medperf_action.text import show_value

if TYPE_CHECKING:
    import jsonschema
    from jsonschema.exceptions import ValidationError
    from referencing import Registry

#: kind -> schema file name
SCHEMA_FILES = {
    "mlcube": "mlcube.schema.json",
    "container-config": "container_config.schema.json",
    "parameters": "parameters.schema.json",
    "registry": "registry.schema.json",
    "benchmark": "benchmark.schema.json",
    "mlcube-entry": "mlcube-entry.schema.json",
    "association": "association.schema.json",
    "summary": "summary.schema.json",
    "model-repo": "model-repo.schema.json",
    "dataset": "dataset.schema.json",
    "dataset-association": "dataset-association.schema.json",
    "result": "result.schema.json",
    "site-repo": "site-repo.schema.json",
}


def schema_dir() -> Path:
    """`schemas/` in a checkout (editable install), or the copy packed into the wheel."""
    package = Path(__file__).resolve().parents[1]
    for candidate in (package / "_schemas", package.parent / "schemas"):
        if (candidate / "mlcube.schema.json").is_file():
            return candidate
    raise FileNotFoundError("the JSON schemas are missing from this installation")


@functools.cache
def _registry() -> tuple[Registry, dict[str, dict[str, Any]]]:
    from referencing import Registry, Resource

    schemas: dict[str, dict[str, Any]] = {}
    resources = []
    for path in sorted(schema_dir().glob("*.schema.json")):
        schema = json.loads(path.read_text(encoding="utf-8"))
        schemas[path.name] = schema
        resources.append((schema["$id"], Resource.from_contents(schema)))
    return Registry().with_resources(resources), schemas


def load_schema(kind: str) -> dict[str, Any]:
    return _registry()[1][SCHEMA_FILES[kind]]


@functools.cache
def validator(kind: str) -> jsonschema.protocols.Validator:
    import jsonschema

    registry, _ = _registry()
    schema = load_schema(kind)
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, registry=registry, format_checker=cls.FORMAT_CHECKER)


def _describe(schema: Any) -> str | None:
    if isinstance(schema, dict):
        return schema.get("description") or schema.get("title")
    return None


def _extra_keys(error: ValidationError) -> list[str]:
    instance, schema = error.instance, error.schema
    if not isinstance(instance, dict) or not isinstance(schema, dict):
        return []
    known = set(schema.get("properties", {}))
    patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
    return [
        str(k) for k in instance if k not in known and not any(p.search(str(k)) for p in patterns)
    ]


def _deepest(error: ValidationError) -> ValidationError:
    """For anyOf/oneOf, the branch error that got furthest into the value, if any."""
    if not error.context:
        return error
    best = max(error.context, key=lambda e: (len(e.absolute_path), e.validator != "type"))
    if len(best.absolute_path) > len(error.absolute_path):
        return _deepest(best)
    return error


SchemaProblem = tuple[KeyPath, Mark, str, str | None, str | None]


_SIGNS = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}


def _explain(error: ValidationError) -> tuple[str, str | None]:
    """(message, what was expected) for one schema error, in a model owner's words."""
    kw, value = error.validator, error.instance
    if kw == "type":
        wanted = error.validator_value
        wanted = " or ".join(wanted) if isinstance(wanted, list) else wanted
        return "wrong type", f"type {wanted}".replace("object", "mapping").replace("array", "list")
    if kw in _SIGNS:
        return "out of range", f"a number {_SIGNS[str(kw)]} {error.validator_value}"
    if kw == "enum":
        choices = error.validator_value if isinstance(error.validator_value, list) else []
        return "value not allowed", "one of " + ", ".join(json.dumps(v) for v in choices)
    if kw == "const":
        return "value not allowed", json.dumps(error.validator_value)
    if kw == "pattern":
        return "malformed value", _describe(error.schema) or f"to match {error.validator_value}"
    if kw in ("anyOf", "oneOf"):
        message = "value not accepted"
        if kw == "oneOf" and isinstance(value, dict) and not error.context:
            message = "more than one alternative matches"
        return message, _describe(error.schema) or error.message
    return error.message, _describe(error.schema)


def _problems_of(error: ValidationError, doc: Document) -> list[SchemaProblem]:
    path: KeyPath = tuple(error.absolute_path)
    kw = error.validator
    if kw in ("additionalProperties", "unevaluatedProperties"):
        schema = error.schema if isinstance(error.schema, dict) else {}
        allowed = ", ".join(sorted(schema.get("properties", {}))) or "none"
        return [
            (
                (*path, key),
                doc.mark((*path, key), key=True),
                f"unknown key {key!r}",
                None,
                f"one of: {allowed}",
            )
            for key in _extra_keys(error)
        ]
    if kw == "required":
        missing = re.findall(r"^'([^']+)' is a required property", error.message)
        name = missing[0] if missing else error.message
        return [(path, doc.mark(path), f"missing required key {name!r}", None, None)]
    if kw == "type" and not path and error.instance is None:
        return [(path, doc.mark(path), "the file is empty", None, "a mapping")]
    message, expected = _explain(error)
    return [(path, doc.mark(path), message, show_value(error.instance), expected)]


def schema_problems(kind: str, doc: Document) -> Iterator[SchemaProblem]:
    """(path, mark, message, value, expected) for every schema violation, in file order."""
    problems: list[SchemaProblem] = []
    for raw in validator(kind).iter_errors(doc.data):
        problems += _problems_of(_deepest(raw), doc)
    problems.sort(key=lambda p: (p[1].line, p[1].col))
    yield from problems


@functools.cache
def _schemas_digest() -> str:
    """Changes whenever any schema file does, so a memo never outlives its schema."""
    digest = hashlib.sha256()
    for path in sorted(schema_dir().glob("*.schema.json")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _memo_path(kind: str, text: str) -> Path:
    key = f"{_schemas_digest()}\0{kind}\0{text}"
    return cache_dir() / "schema-ok" / hashlib.sha256(key.encode()).hexdigest()


def known_valid(kind: str, text: str) -> bool:
    """Whether this exact document already passed this schema (skips loading jsonschema)."""
    return _memo_path(kind, text).is_file()


def remember_valid(kind: str, text: str) -> None:
    path = _memo_path(kind, text)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    except OSError:
        pass  # a read-only cache only costs speed


def plain_errors(schema_file: str, doc: Any, limit: int = 10) -> list[str]:
    """A JSON document (not YAML: no positions) checked against `schemas/<schema_file>`:
    one line per problem, at most `limit`."""
    import jsonschema

    registry, schemas = _registry()
    schema = schemas[schema_file]
    cls = jsonschema.validators.validator_for(schema)
    errors = sorted(
        cls(schema, registry=registry).iter_errors(doc),
        key=lambda e: list(map(str, e.absolute_path)),
    )
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in errors[:limit]
    ]
