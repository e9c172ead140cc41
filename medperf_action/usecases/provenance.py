"""Result statements: what a run produced, as an in-toto Statement (v1) a committee can check.

`test --output DIR` and `registry verify --report DIR` write `medperf-result.intoto.json`
(`STATEMENT_FILE`) when, and only when, the run produced metrics: a statement states a
result, and a failed run has none (a stale statement in the folder is removed then).

Its subjects, each by SHA-256: the file the result is recorded in (`summary.json` for a
test, the request's association file at the PR's head for a verify), every asset of every
published cube that ran (the SHA-256s its registry entry pins; a local cube's manifest and
parameters), and every image that ran (its image ID, its registry digest, its archive).
Its predicate (`PREDICATE_TYPE`, schemas/result-predicate.schema.json) holds the
benchmark, the metrics, the tool's version, the run's URL, the dataset's SHA-256 and when
it ran. The privileged `registry report` reads the verify run's statement back as
untrusted data (`read_statement`), and an approval records where it is.
"""

from __future__ import annotations

import hashlib
import json
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from medperf_action import __version__
from medperf_action.adapters.files.atomic import write_text
from medperf_action.adapters.files.attestation import Subject, statement, statement_problems
from medperf_action.adapters.files.hashing import sha256_file, sha256_tree
from medperf_action.domain.schemas import plain_errors
from medperf_action.errors import ReportInvalid
from medperf_action.settings import run_url
from medperf_action.text import one_line
from medperf_action.usecases.compat_test.participants import Participant

STATEMENT_FILE = "medperf-result.intoto.json"
PREDICATE_TYPE = "https://medperf-action.github.io/predicates/result/v1"
PREDICATE_SCHEMA = "result-predicate.schema.json"
#: A statement is a few kB; one larger than this is refused unread.
MAX_STATEMENT_BYTES = 1 << 20


def _hex(digest: str | None) -> str | None:
    """The 64 hex of `sha256:HEX` or `NAME@sha256:HEX`; None for anything else."""
    if not digest or "sha256:" not in digest:
        return None
    value = digest.rsplit("sha256:", 1)[1].lower()
    return value if len(value) == 64 else None


def cube_subjects(
    parts: dict[str, Participant], tree_hash: Callable[[Path], str] = sha256_tree
) -> list[Subject]:
    """Each cube's assets and images, by SHA-256: `mlcubes/<cube>/<asset>`, and
    `mlcubes/<cube>/image` (image ID), `image-digest`, `image-archive`."""
    found: dict[str, Subject] = {}
    for role, part in parts.items():
        where = f"mlcubes/{part.label}"
        notes = {"role": role, **({"mlcube": part.id} if part.id else {})}
        named = {f"{where}/{name}": sha for name, sha in part.assets.items()}
        if not part.assets:  # a local folder: what it consists of, hashed here
            params = part.cube.workspace / "parameters.yaml"
            named[f"{where}/{part.cube.manifest.name}"] = sha256_file(part.cube.manifest)
            if params.is_file():
                named[f"{where}/parameters.yaml"] = sha256_file(params)
            weights = part.cube.additional_files
            if weights.is_dir():  # the weights behind the metrics: the tree's digest
                named[f"{where}/additional_files"] = tree_hash(weights)
        images = {
            "image": _hex(part.image_id),
            "image-digest": _hex(part.digest),
            "image-archive": _hex((part.archive or {}).get("sha256")),
        }
        for kind, sha in images.items():
            if sha is not None:
                named[f"{where}/{kind}"] = sha
        for name, sha in named.items():
            kind = name.rsplit("/", 1)[1] if name.rsplit("/", 1)[1].startswith("image") else ""
            extra = {"image": part.image_ref} if kind else {}
            found.setdefault(name, Subject(name, sha, {**notes, **extra}))
    return list(found.values())


def predicate(
    summary: dict[str, Any], producer: str, verification: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The MedPerf result predicate of a run, from its execution summary."""
    candidate = summary["cubes"]["candidate"]
    return {
        "producer": producer,
        "benchmark": summary["benchmark"],
        "candidate": {"id": candidate["id"], "name": candidate["name"]},
        "metrics": summary["metrics"],
        "tool": {"name": "medperf-action", "version": __version__},
        "run_url": run_url(),
        "dataset": summary["dataset"],
        "started_at": summary["started_at"],
        "finished_at": summary["finished_at"],
        "verification": verification,
    }


def result_statement(subjects: list[Subject], pred: dict[str, Any]) -> dict[str, Any]:
    """The statement; its predicate checked against its schema first (a mismatch is a bug)."""
    problems = plain_errors(PREDICATE_SCHEMA, pred)
    assert not problems, problems
    return dict(statement(subjects, PREDICATE_TYPE, pred))


def run_statement(
    summary_file: Path,
    summary: dict[str, Any],
    parts: dict[str, Participant],
    tree_hash: Callable[[Path], str] = sha256_tree,
) -> dict[str, Any]:
    """The statement of a compatibility test whose summary is `summary_file`; `tree_hash`
    is the run's own (a folder the run hashed as an input is not read again)."""
    own = Subject("summary.json", sha256_file(summary_file), {"kind": "summary"})
    subjects = [own, *cube_subjects(parts, tree_hash)]
    return result_statement(subjects, predicate(summary, "test"))


def verify_statement(
    association: tuple[str, str],
    summary: dict[str, Any],
    parts: dict[str, Participant],
    verification: dict[str, Any],
) -> dict[str, Any]:
    """The statement of the registry's re-run of a request: `association` is the request's
    file (its path, and its text at the PR's head, which `verification` names)."""
    path, text = association
    sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
    own = Subject(path, sha, {"kind": "association", "commit": verification["head_sha"]})
    pred = predicate(summary, "registry-verify", verification)
    return result_statement([own, *cube_subjects(parts)], pred)


def keep_statement(folder: Path, doc: dict[str, Any] | None) -> str | None:
    """Write `doc` to `folder` atomically and return its file's SHA-256; with None, remove
    a statement an earlier run left there (this run states no result)."""
    path = folder / STATEMENT_FILE
    if doc is None:
        path.unlink(missing_ok=True)
        return None
    text = json.dumps(doc, indent=2) + "\n"
    write_text(path, text)
    return hashlib.sha256(text.encode()).hexdigest()


def read_statement(folder: Path) -> tuple[dict[str, Any], str]:
    """A statement from an untrusted folder (an artifact) and its file's SHA-256: a
    regular file of at most 1 MiB, an in-toto v1 Statement with a MedPerf result
    predicate. Anything else raises ReportInvalid saying why."""
    path = folder / STATEMENT_FILE
    try:
        info = path.lstat()
    except OSError:
        raise ReportInvalid(f"no result statement ({STATEMENT_FILE})") from None
    if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_STATEMENT_BYTES:
        raise ReportInvalid(f"{STATEMENT_FILE}: not a regular file of at most 1 MiB")
    with path.open("rb") as handle:
        raw = handle.read(MAX_STATEMENT_BYTES + 1)
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ReportInvalid(f"{STATEMENT_FILE}: not valid JSON: {one_line(str(exc))}") from None
    problems = statement_problems(doc)
    if not problems and doc.get("predicateType") != PREDICATE_TYPE:
        problems = [f"its predicateType is not {PREDICATE_TYPE}"]
    problems = problems or plain_errors(PREDICATE_SCHEMA, doc.get("predicate"), 3)
    if problems:
        raise ReportInvalid(f"{STATEMENT_FILE}: " + "; ".join(one_line(p) for p in problems))
    return doc, hashlib.sha256(raw).hexdigest()
