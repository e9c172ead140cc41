"""The JSON Schemas in `schemas/`, and schema errors turned into findings with positions."""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from medperf_action.yamlload import Document, KeyPath, Mark

if TYPE_CHECKING:  # jsonschema is imported only when a document is schema-checked
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
}


def schema_dir() -> Path:
    """`schemas/` in a checkout (editable install), or the copy packed into the wheel."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_schemas", here.parent / "schemas"):
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


def schema_problems(kind: str, doc: Document) -> Iterator[SchemaProblem]:
    """(path, mark, message, value, expected) for every schema violation, in file order."""
    from medperf_action.findings import show_value

    problems: list[SchemaProblem] = []
    for raw in validator(kind).iter_errors(doc.data):
        error = _deepest(raw)
        path: KeyPath = tuple(error.absolute_path)
        value = error.instance
        kw = error.validator
        if kw == "additionalProperties" or kw == "unevaluatedProperties":
            for key in _extra_keys(error):
                child = (*path, key)
                allowed = ", ".join(sorted(error.schema.get("properties", {}))) or "none"
                problems.append(
                    (
                        child,
                        doc.mark(child, key=True),
                        f"unknown key {key!r}",
                        None,
                        f"one of: {allowed}",
                    )
                )
            continue
        if kw == "required":
            missing = re.findall(r"^'([^']+)' is a required property", error.message)
            name = missing[0] if missing else error.message
            problems.append((path, doc.mark(path), f"missing required key {name!r}", None, None))
            continue
        if kw == "type" and not path and value is None:
            problems.append((path, doc.mark(path), "the file is empty", None, "a mapping"))
            continue
        if kw == "type":
            wanted = error.validator_value
            wanted = " or ".join(wanted) if isinstance(wanted, list) else wanted
            expected = f"type {wanted}".replace("object", "mapping").replace("array", "list")
            message = "wrong type"
        elif kw in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            sign = {
                "minimum": ">=",
                "maximum": "<=",
                "exclusiveMinimum": ">",
                "exclusiveMaximum": "<",
            }[kw]
            expected = f"a number {sign} {error.validator_value}"
            message = "out of range"
        elif kw == "enum":
            expected = "one of " + ", ".join(json.dumps(v) for v in error.validator_value)
            message = "value not allowed"
        elif kw == "const":
            expected = json.dumps(error.validator_value)
            message = "value not allowed"
        elif kw == "pattern":
            expected = _describe(error.schema) or f"to match {error.validator_value}"
            message = "malformed value"
        elif kw in ("anyOf", "oneOf"):
            expected = _describe(error.schema) or error.message
            message = "value not accepted"
            if kw == "oneOf" and isinstance(value, dict) and not error.context:
                message = "more than one alternative matches"
        else:
            expected = _describe(error.schema)
            message = error.message
        problems.append((path, doc.mark(path), message, show_value(value), expected))
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
    from medperf_action.fetch import cache_dir

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
