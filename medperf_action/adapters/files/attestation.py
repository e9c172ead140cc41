"""in-toto Statements (v1), built and checked by the `in-toto-attestation` package.

The package holds the Statement and ResourceDescriptor protobuf definitions and their
`validate()` rules (a statement type, at least one subject, a digest on every subject, a
predicate type and a predicate); this module is the one place that imports it (and
protobuf, which it brings). It costs about 35 ms to import, which `--help` and a `test`
without `--output` need not pay: it is imported at first use.

The JSON written is the protobuf message's JSON (`_type`, `subject`, `predicateType`,
`predicate`), except that the predicate is kept as given: a protobuf `Struct` holds every
number as a double, and a metric or a pull request number should read as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"


@dataclass(frozen=True)
class Subject:
    """One thing a statement is about: a name and its SHA-256 (64 lower-case hex)."""

    name: str
    sha256: str
    annotations: dict[str, str] = field(default_factory=dict)


def statement(subjects: list[Subject], predicate_type: str, predicate: dict[str, Any]) -> Any:
    """The statement as a JSON object, validated by the package's own rules."""
    from google.protobuf import json_format
    from in_toto_attestation.v1.resource_descriptor import ResourceDescriptor
    from in_toto_attestation.v1.statement import Statement

    descriptors = [
        ResourceDescriptor(
            name=s.name, digest={"sha256": s.sha256}, annotations=dict(s.annotations) or None
        ).pb
        for s in subjects
    ]
    built = Statement(descriptors, predicate_type, predicate)
    built.validate()  # a ValueError here is a bug of the caller: it built the subjects
    doc = dict(json_format.MessageToDict(built.pb, preserving_proto_field_name=False))
    doc["predicate"] = predicate
    return doc


def statement_problems(doc: Any) -> list[str]:
    """Why `doc` is not an in-toto v1 Statement, as the package parses and validates one
    (and with a SHA-256 on every subject); [] when it is one."""
    from google.protobuf import json_format
    from in_toto_attestation.v1 import statement_pb2
    from in_toto_attestation.v1.statement import Statement

    if not isinstance(doc, dict):
        return ["not a JSON object"]
    try:
        parsed = json_format.ParseDict(doc, statement_pb2.Statement())
        Statement.copy_from_pb(parsed).validate()
    except (json_format.ParseError, ValueError) as exc:
        return [" ".join(str(exc).split())]
    problems = []
    for i, subject in enumerate(parsed.subject):
        if len(subject.digest.get("sha256", "")) != 64:
            problems.append(f"subject {i} ({subject.name}) has no SHA-256 digest")
    return problems
