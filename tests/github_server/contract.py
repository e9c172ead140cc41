"""The contract: every request the GitHub test server receives and every response it sends
is checked against GitHub's official OpenAPI description.

The description is the subset of the pinned npm package @octokit/openapi that
scripts/extract_openapi.py writes to openapi/api.github.com.subset.json. Schemas are checked
with openapi-schema-validator (OpenAPI 3.0 semantics: `nullable`, `readOnly`/`writeOnly`,
formats) on top of jsonschema; routing, parameters, media types and status codes are
checked here. A request or response that the description does not allow is a *violation*;
the server collects them and the pytest fixture fails the test that caused them.

Where GitHub's description says less than GitHub does, this module allows more, and each
allowance is listed below with the part of GitHub's documentation that grants it:

* GENERIC_ERROR_STATUSES: any operation may answer 401 (bad credentials), 403 (forbidden,
  rate limits), 404, 429 and 5xx ("Troubleshooting the REST API", "Rate limits for the
  REST API"); such a body must still be a `basic-error`. So must the body of an error
  status the description lists without content (GitHub sends a JSON message with every
  error).
* ANY_CONTENT_TYPE: an asset upload's Content-Type is the asset's media type ("Use the
  required Content-Type header to provide the media type of the asset").
* BODY_ALTERNATIVES: "Add labels to an issue" also takes a bare array of label names ("You
  can also pass an array of labels directly"), which PyGithub sends.
* `oneOf` is satisfied by an instance that matches one or more of its alternatives: the
  description uses it for alternatives that overlap (a 409 of "Create or update file
  contents" is a `basic-error` or a `repository-rule-violation-error`, and any GitHub
  error message is both).
* A `discriminator` is used when the instance is an object whose discriminating property
  has a mapped value; otherwise the `oneOf`/`anyOf` is checked as plain JSON Schema. (The
  description puts a directory listing, which is an array, behind a discriminator on
  `type`; OpenAPI 3.0 calls a discriminator a hint.)
"""

from __future__ import annotations

import json
import re
import threading
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from jsonschema.exceptions import ValidationError, best_match
from jsonschema.validators import extend
from openapi_schema_validator import OAS30ReadValidator, OAS30WriteValidator, oas30_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

SUBSET = Path(__file__).resolve().parent / "openapi" / "api.github.com.subset.json"
SPEC_URI = "urn:github-openapi-subset"

# Where each of the description's servers lives on the test server (GitHub Enterprise's
# layout: the REST API under /api/v3, uploads under /api/uploads).
SERVER_PREFIXES = {
    "https://api.github.com": "/api/v3",
    "https://uploads.github.com": "/api/uploads",
}
# Path parameters whose values may hold "/" (file paths, ref, branch and tag names).
MULTI_SEGMENT_PARAMETERS = frozenset({"path", "ref", "branch", "tag"})
GENERIC_ERROR_STATUSES = frozenset({401, 403, 404, 429, 500, 502, 503, 504})
ANY_CONTENT_TYPE = frozenset({"repos/upload-release-asset"})
BODY_ALTERNATIVES: dict[str, Callable[[Any], Any]] = {
    "issues/add-labels": lambda body: {"labels": body} if isinstance(body, list) else body,
}
MAX_ERRORS = 5
BASIC_ERROR = "/components/schemas/basic-error"


def _discriminated(schema: Mapping[str, Any], instance: Any) -> str | None:
    discriminator = schema.get("discriminator")
    if not discriminator or not isinstance(instance, dict):
        return None
    value = instance.get(discriminator["propertyName"])
    mapping = discriminator.get("mapping", {})
    return mapping.get(value) if isinstance(value, str) else None


def _one_of(validator: Any, one_of: list[Any], instance: Any, schema: Mapping[str, Any]) -> Any:
    ref = _discriminated(schema, instance)
    if ref is not None:
        yield from validator.descend(instance, {"$ref": ref})
        return
    errors: list[ValidationError] = []
    matched = []
    for index, subschema in enumerate(one_of):
        found = list(validator.descend(instance, subschema, schema_path=index))
        if found:
            errors.extend(found)
        else:
            matched.append(index)
    if not matched:
        yield ValidationError("is not valid under any of the given schemas", context=errors)


def _any_of(validator: Any, any_of: list[Any], instance: Any, schema: Mapping[str, Any]) -> Any:
    ref = _discriminated(schema, instance)
    if ref is not None:
        yield from validator.descend(instance, {"$ref": ref})
        return
    errors: list[ValidationError] = []
    for index, subschema in enumerate(any_of):
        found = list(validator.descend(instance, subschema, schema_path=index))
        if not found:
            return
        errors.extend(found)
    yield ValidationError("is not valid under any of the given schemas", context=errors)


_HINTS = {"oneOf": _one_of, "anyOf": _any_of}
ReadValidator = extend(OAS30ReadValidator, validators=_HINTS)
WriteValidator = extend(OAS30WriteValidator, validators=_HINTS)


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


@dataclass(frozen=True)
class Route:
    template: str
    prefix: str
    regex: re.Pattern[str]
    literal_chars: int
    methods: frozenset[str]


@dataclass
class Operation:
    """The operation a request was matched to (or None when it matched nothing)."""

    operation_id: str
    method: str
    template: str
    path_params: dict[str, str]
    pointer: str  # JSON pointer of the operation object in the description


@dataclass
class Coverage:
    requests: Counter[str] = field(default_factory=Counter)
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)

    def as_dict(self, all_operations: Iterable[str]) -> dict[str, Any]:
        operations = sorted(all_operations)
        per_op: dict[str, Any] = {}
        for op in operations:
            per_op[op] = {
                "requests": self.requests.get(op, 0),
                "statuses": {
                    str(status): n for (o, status), n in sorted(self.statuses.items()) if o == op
                },
            }
        exercised = [op for op in operations if self.requests.get(op)]
        return {
            "exercised": len(exercised),
            "operations": len(operations),
            "not_exercised": [op for op in operations if not self.requests.get(op)],
            "per_operation": per_op,
        }


class Contract:
    """GitHub's REST description (the extracted subset), ready to check traffic against."""

    def __init__(self, spec_path: Path = SUBSET) -> None:
        self.spec: dict[str, Any] = json.loads(spec_path.read_text())
        resource = Resource.from_contents(self.spec, default_specification=DRAFT4)
        self._registry: Registry = Registry().with_resource(SPEC_URI, resource)
        self._validators: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()
        self.routes = self._compile_routes()
        self.coverage = Coverage()

    @property
    def source(self) -> str:
        return str(self.spec.get("x-extracted-from", {}).get("package", "?"))

    @cached_property
    def operation_ids(self) -> dict[str, tuple[str, str]]:
        """operationId -> (METHOD, path template)."""
        ids = {}
        for template, item in self.spec["paths"].items():
            for method, op in item.items():
                if method != "parameters":
                    ids[op["operationId"]] = (method.upper(), template)
        return ids

    # -- routing ---------------------------------------------------------------------------

    def _compile_routes(self) -> list[Route]:
        default = [s["url"] for s in self.spec["servers"]]
        routes = []
        for template, item in self.spec["paths"].items():
            by_prefix: dict[str, set[str]] = {}
            for method, op in item.items():
                if method == "parameters":
                    continue
                for server in op.get("servers") or [{"url": u} for u in default]:
                    by_prefix.setdefault(SERVER_PREFIXES[server["url"]], set()).add(method)
            pattern, literal = "", 0
            for piece in re.split(r"(\{[^}]+\})", template):
                if piece.startswith("{"):
                    name = piece[1:-1]
                    if name == "path":
                        pattern += f"(?P<{name}>.*)"
                    elif name in MULTI_SEGMENT_PARAMETERS:
                        pattern += f"(?P<{name}>.+)"
                    else:
                        pattern += f"(?P<{name}>[^/]+)"
                else:
                    pattern += re.escape(piece)
                    literal += len(piece)
            for prefix, methods in by_prefix.items():
                regex = re.compile(re.escape(prefix) + pattern + r"/?\Z")
                routes.append(Route(template, prefix, regex, literal, frozenset(methods)))
        return routes

    def match(self, method: str, raw_path: str) -> tuple[Operation | None, str | None]:
        """The operation for METHOD and a raw (still percent-encoded) path, or a problem."""
        found = []
        for route in self.routes:
            m = route.regex.match(raw_path)
            if m:
                found.append((route.literal_chars, -len(m.groupdict()), route, m))
        if not found:
            return None, "no operation of GitHub's description matches this path"
        found.sort(key=lambda x: (x[0], x[1]), reverse=True)
        for _, _, route, m in found:
            if method.lower() in route.methods:
                item = self.spec["paths"][route.template]
                op = item[method.lower()]
                params = {k: urllib.parse.unquote(v) for k, v in m.groupdict().items()}
                pointer = f"/paths/{_escape(route.template)}/{method.lower()}"
                return Operation(op["operationId"], method, route.template, params, pointer), None
        allowed = sorted({m.upper() for *_, r, _ in found for m in r.methods})
        return None, f"{method} is not an operation of this path (the description has {allowed})"

    # -- helpers ---------------------------------------------------------------------------

    def _node(self, pointer: str) -> Any:
        node: Any = self.spec
        for token in pointer.lstrip("/").split("/"):
            token = token.replace("~1", "/").replace("~0", "~")
            node = node[int(token)] if isinstance(node, list) else node[token]
        return node

    def _deref(self, pointer: str) -> tuple[str, Any]:
        node = self._node(pointer)
        while isinstance(node, dict) and "$ref" in node:
            pointer = node["$ref"].removeprefix("#")
            node = self._node(pointer)
        return pointer, node

    def _validator(self, pointer: str, kind: str) -> Any:
        key = (pointer, kind)
        with self._lock:
            validator = self._validators.get(key)
            if validator is None:
                cls = ReadValidator if kind == "read" else WriteValidator
                validator = cls(
                    {"$ref": f"{SPEC_URI}#{pointer}"},
                    registry=self._registry,
                    format_checker=oas30_format_checker,
                )
                self._validators[key] = validator
        return validator

    def _schema_errors(self, pointer: str, instance: Any, kind: str, where: str) -> list[str]:
        validator = self._validator(pointer, kind)
        with self._lock:  # jsonschema's referencing caches are not meant for threads
            errors = list(validator.iter_errors(instance))
        problems = []
        for error in sorted(errors, key=lambda e: list(e.absolute_path))[:MAX_ERRORS]:
            problems.append(f"{where}: {_describe(error)}")
        if len(errors) > MAX_ERRORS:
            problems.append(f"{where}: … and {len(errors) - MAX_ERRORS} more")
        return problems

    def _parameters(self, op: Operation) -> list[tuple[str, dict[str, Any]]]:
        item_ptr = f"/paths/{_escape(op.template)}"
        out: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
        for base in (item_ptr, op.pointer):
            node = self._node(base)
            for i, _ in enumerate(node.get("parameters", [])):
                pointer, param = self._deref(f"{base}/parameters/{i}")
                out[(param["in"], param["name"])] = (pointer, param)
        return list(out.values())

    # -- requests --------------------------------------------------------------------------

    def check_request(
        self,
        method: str,
        raw_path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes | None,
        body_streamed: bool = False,
    ) -> tuple[Operation | None, list[str]]:
        """Match and check one request. `body` is None when the request has none; when
        `body_streamed` is true the body went to disk unseen (an upload)."""
        op, problem = self.match(method, raw_path)
        if op is None:
            return None, [f"request: {problem}"]
        with self._lock:
            self.coverage.requests[op.operation_id] += 1
        problems: list[str] = []
        params = self._parameters(op)
        query_values = urllib.parse.parse_qs(query, keep_blank_values=True)
        known_query = set()
        for pointer, param in params:
            name, where = param["name"], param["in"]
            schema_ptr = f"{pointer}/schema"
            if where == "path":
                value = op.path_params.get(name)
                if value is None:
                    problems.append(f"request: path parameter {name!r} missing")
                    continue
                problems += self._check_param(schema_ptr, param, value, f"path parameter {name!r}")
            elif where == "query":
                known_query.add(name)
                values = query_values.get(name)
                if values is None:
                    if param.get("required"):
                        problems.append(f"request: required query parameter {name!r} missing")
                    continue
                schema = self._deref(schema_ptr)[1]
                if schema.get("type") != "array" and len(values) > 1:
                    problems.append(f"request: query parameter {name!r} given {len(values)} times")
                problems += self._check_param(
                    schema_ptr, param, values[-1], f"query parameter {name!r}"
                )
            elif (
                where == "header"
                and param.get("required")
                and name.lower() not in {k.lower() for k in headers}
            ):
                problems.append(f"request: required header {name!r} missing")
        for name in query_values:
            if name not in known_query:
                problems.append(f"request: query parameter {name!r} is not in the description")
        problems += self._check_request_body(op, headers, body, body_streamed)
        return op, problems

    def _check_param(
        self, schema_ptr: str, param: dict[str, Any], raw: str, where: str
    ) -> list[str]:
        schema_ptr, schema = self._deref(schema_ptr)
        kind = schema.get("type")
        value: Any = raw
        if kind == "integer":
            if not re.fullmatch(r"-?\d+", raw):
                return [f"request: {where} {raw!r} is not an integer"]
            value = int(raw)
        elif kind == "number":
            try:
                value = float(raw)
            except ValueError:
                return [f"request: {where} {raw!r} is not a number"]
        elif kind == "boolean":
            if raw not in ("true", "false"):
                return [f"request: {where} {raw!r} is not true or false"]
            value = raw == "true"
        elif kind == "array":
            value = raw.split(",") if raw else []
        return [f"request: {p}" for p in self._schema_errors(schema_ptr, value, "write", where)]

    def _check_request_body(
        self,
        op: Operation,
        headers: Mapping[str, str],
        body: bytes | None,
        body_streamed: bool,
    ) -> list[str]:
        node = self._node(op.pointer)
        has_body = body_streamed or bool(body)
        if "requestBody" not in node:
            return ["request: a body was sent, the operation takes none"] if has_body else []
        rb_ptr, request_body = self._deref(f"{op.pointer}/requestBody")
        if not has_body:
            return ["request: the required body is missing"] if request_body.get("required") else []
        content = request_body.get("content", {})
        ctype = media_type(_header(headers, "content-type"))
        if op.operation_id in ANY_CONTENT_TYPE:
            chosen = next(iter(content))
        elif ctype in content:
            chosen = ctype
        else:
            return [f"request: Content-Type {ctype or 'none'!r} is not one of {sorted(content)}"]
        if body_streamed or not chosen.endswith("json"):
            return []
        try:
            instance = json.loads(body or b"")
        except ValueError as e:
            return [f"request: body is not JSON: {e}"]
        alternative = BODY_ALTERNATIVES.get(op.operation_id)
        if alternative is not None:
            instance = alternative(instance)
        pointer = f"{rb_ptr}/content/{_escape(chosen)}/schema"
        return [f"request: {p}" for p in self._schema_errors(pointer, instance, "write", "body")]

    # -- responses -------------------------------------------------------------------------

    def check_response(
        self,
        op: Operation,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
    ) -> list[str]:
        with self._lock:
            self.coverage.statuses[(op.operation_id, status)] += 1
        responses = self._node(op.pointer)["responses"]
        if str(status) in responses:
            r_ptr, response = self._deref(f"{op.pointer}/responses/{status}")
        elif "default" in responses:
            r_ptr, response = self._deref(f"{op.pointer}/responses/default")
        elif status in GENERIC_ERROR_STATUSES:
            return self._check_json(BASIC_ERROR, headers, body, f"{status} (undocumented error)")
        else:
            return [
                f"response: status {status} is not one the description allows {sorted(responses)}"
            ]
        problems = []
        for name, header in response.get("headers", {}).items():
            if "$ref" in header:
                header = self._node(header["$ref"].removeprefix("#"))
            if header.get("required") and _header(headers, name) is None:
                problems.append(f"response {status}: required header {name!r} missing")
        content = response.get("content")
        if not content:
            if body and status >= 400:
                where = f"{status} (body undocumented)"
                return problems + self._check_json(BASIC_ERROR, headers, body, where)
            if body:
                problems.append(f"response {status}: a body was sent, the description has none")
            return problems
        ctype = media_type(_header(headers, "content-type"))
        if ctype not in content:
            problems.append(
                f"response {status}: Content-Type {ctype or 'none'!r} is not one of {sorted(content)}"
            )
            return problems
        pointer = f"{r_ptr}/content/{_escape(ctype)}/schema"
        return problems + self._check_json(pointer, headers, body, str(status))

    def _check_json(
        self, pointer: str, headers: Mapping[str, str], body: bytes, where: str
    ) -> list[str]:
        if media_type(_header(headers, "content-type")) != "application/json":
            return [f"response {where}: Content-Type is not application/json"]
        try:
            instance = json.loads(body)
        except ValueError as e:
            return [f"response {where}: body is not JSON: {e}"]
        return [
            f"response {p}" for p in self._schema_errors(pointer, instance, "read", f"{where} body")
        ]


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return None


def _path(error: ValidationError) -> str:
    out = "$"
    for part in error.absolute_path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _describe(error: ValidationError) -> str:
    if error.validator in ("oneOf", "anyOf") and error.context:
        inner = best_match(error.context)
        return f"{_path(error)} {error.message}; the closest: {_describe(inner)}"
    return f"{_path(error)}: {_short(error.message)}"


def _short(text: str, limit: int = 240) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
