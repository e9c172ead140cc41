"""The rules `registry verify` checks of a data owner's request: a dataset's registration
(`datasets/ID.yaml`), its association with a benchmark (`dataset-associations/B/D.yaml`)
and a released result (`results/B/M/D.yaml`).

The registry cannot run anything on a site's private data: a dataset association's
compatibility run and a result are the data owner's own statements. What is checked is
their consistency with the registry's default branch (who owns what, the prepared data's
hashes, the approved associations, the cubes that ran and their pins), never a
re-computation; nothing here starts a container.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from medperf_action.adapters.github.contents import RepoFiles, repository
from medperf_action.adapters.github.pulls import PullState
from medperf_action.adapters.sealing import recipient
from medperf_action.domain.registry.layout import (
    dataset_association_path,
    result_path,
)
from medperf_action.domain.registry.pins import changed, pin_of, unpinned
from medperf_action.domain.registry.reader import Registry
from medperf_action.domain.registry.requests import Request
from medperf_action.errors import GitHubError, InvalidInput, RegistryInvalid, SealingError
from medperf_action.usecases.registries import list_requests
from medperf_action.usecases.registry.checks import (
    Asked,
    Check,
    check_schema,
    others_open,
    pending_problems,
)
from medperf_action.usecases.registry.context import Context

#: What reading the default branch may raise: the check then fails, saying why.
READ_ERRORS = (RegistryInvalid, InvalidInput, GitHubError)

Reader = Callable[[], "dict[str, Any] | None"]


def _same(a: Any, b: Any) -> bool:
    """Two GitHub logins (or ids) are the same, as GitHub compares logins."""
    return str(a or "").lower() == str(b or "").lower()


def _read(what: str, reader: Reader, problems: list[str]) -> dict[str, Any] | None:
    """What `reader` reads from the default branch; a problem saying why when it fails."""
    try:
        return reader()
    except READ_ERRORS as exc:
        problems.append(f"{what}: {exc}")
        return None


def _found(what: str, reader: Reader, problems: list[str], missing: str) -> dict[str, Any] | None:
    """As `_read`, and a problem (`what` `missing`) when the file is not there."""
    before = len(problems)
    found = _read(what, reader, problems)
    if found is None and len(problems) == before:
        problems.append(f"{what} {missing}")
    return found


def _approved_benchmark(base: Registry, b: str, problems: list[str]) -> dict[str, Any] | None:
    bench = _found(f"benchmark {b}", partial(base.benchmark, b), problems, "is not registered")
    if bench is not None and bench.get("approval_status") != "APPROVED":
        problems.append(
            f"benchmark {b} is {bench.get('approval_status')}; datasets take part only in an "
            "APPROVED benchmark"
        )
    return bench


def _ran(base: Registry, field: str, ran: dict[str, Any], expected: str) -> list[str]:
    """What is wrong with one cube the data owner says ran (`field`: its place in the
    file): it must be `expected`, and when the registry pins that cube, with its pin."""
    if ran.get("id") != expected:
        return [f"{field}.id is {ran.get('id')!r}, but the benchmark's is {expected!r}"]
    problems: list[str] = []
    entry = _found(
        f"mlcube {expected}", partial(base.find_mlcube, expected), problems, "is not registered"
    )
    if entry is None or unpinned(entry) is not None:
        return problems  # a local `path:` entry has no pin to compare with
    pin = ran.get("pin")
    if not isinstance(pin, dict):
        return [f"{field} records no pin, but the registry pins mlcube {expected}"]
    differ = changed(pin_of(entry), pin)
    if differ:
        return [
            f"{field}.pin is not the registry's pin of mlcube {expected} (it differs in "
            f"{', '.join(differ)})"
        ]
    return []


def _dataset_of(base: Registry, d: str, author: str, problems: list[str]) -> dict[str, Any] | None:
    """The registered dataset `d`, owned by the PR's author (else a problem)."""
    dataset = _found(
        f"dataset {d}",
        partial(base.find_dataset, d),
        problems,
        "is not registered on the default branch (register it, and have it merged, first)",
    )
    if dataset is not None and not _same(dataset.get("owner"), author):
        problems.append(
            f"dataset {d} belongs to {dataset.get('owner')}; only its owner may act for it, "
            f"and this PR was opened by {author}"
        )
    return dataset


def _verdict(problems: list[str], passed: str) -> Check:
    return Check("rules", not problems, "; ".join(problems) or passed)


# ---------------------------------------------------------------------------------------
# datasets/ID.yaml


def _frozen(base: Registry, d: str, current: dict[str, Any], entry: dict[str, Any]) -> list[str]:
    """Once the dataset has an APPROVED association, what it is may not change."""
    differ = [k for k in ("prepared", "data_preparator") if current.get(k) != entry.get(k)]
    if not differ:
        return []
    problems: list[str] = []
    approved = []
    for b in base.benchmark_ids():
        found = _read(
            f"its association with {b}", partial(base.dataset_association, b, d), problems
        )
        if found is not None and found.get("status") == "APPROVED":
            approved.append(b)
    if approved:
        problems.append(
            f"dataset {d} has an APPROVED association with {', '.join(approved)}, so its "
            f"prepared data is frozen, but this update changes {', '.join(differ)}: new data "
            "is a new dataset id"
        )
    return problems


def check_dataset(asked: Asked) -> Check:
    """A dataset's registration or update, by its owner."""
    base, req, entry, author = asked.base, asked.req, asked.entry, asked.author
    assert req.dataset is not None
    d, problems = req.dataset, []
    owner = str(entry.get("owner", ""))
    if not _same(owner, author):
        problems.append(f"owner is {owner!r}, but the PR was opened by {author}")
    current = _read(
        f"datasets/{d}.yaml on the default branch", partial(base.find_dataset, d), problems
    )
    if current is not None and not _same(current.get("owner"), owner):
        problems.append(
            f"the id {d} is held by {current.get('owner')!r} on the default branch; only its "
            "owner updates a dataset, and the owner never changes"
        )
    elif current is not None:
        problems += _frozen(base, d, current, entry)
    prep = str(entry.get("data_preparator", ""))
    cube = _found(
        f"data_preparator {prep}",
        partial(base.find_mlcube, prep),
        problems,
        "is not a registered mlcube",
    )
    if cube is not None and cube.get("role") != "data-preparator":
        problems.append(
            f"data_preparator {prep} has role {cube.get('role')!r}, not data-preparator"
        )
    what = "an update of" if current is not None else "a new"
    return _verdict(problems, f"{what} dataset owned by {owner}, the PR's author")


# ---------------------------------------------------------------------------------------
# dataset-associations/B/D.yaml


def check_dataset_association(asked: Asked) -> Check:
    """A dataset's association request: consistent with the benchmark and the dataset."""
    base, req, entry, author = asked.base, asked.req, asked.entry, asked.author
    assert req.benchmark is not None and req.dataset is not None
    b, d = req.benchmark, req.dataset
    problems = pending_problems(entry, author)
    compat = entry.get("compatibility") or {}
    if compat.get("passed") is not True:
        problems.append("the compatibility run did not pass (compatibility.passed is not true)")
    bench = _approved_benchmark(base, b, problems)
    dataset = _dataset_of(base, d, author, problems)
    if bench is not None and dataset is not None:
        if dataset.get("data_preparator") != bench.get("data_preparator"):
            problems.append(
                f"dataset {d} was prepared by {dataset.get('data_preparator')}, but benchmark "
                f"{b}'s data preparator is {bench.get('data_preparator')}"
            )
        if compat.get("data_sha256") != (dataset.get("prepared") or {}).get("data_sha256"):
            problems.append(
                "compatibility.data_sha256 is not the dataset's prepared.data_sha256: the run "
                "was not on the registered data"
            )
    if bench is not None:
        for key in ("reference_model", "evaluator"):
            ran = compat.get(key) or {}
            problems += _ran(base, f"compatibility.{key}", ran, str(bench.get(key)))
    if base.source.read(dataset_association_path(b, d)) is not None:
        problems.append(
            f"the default branch already holds {dataset_association_path(b, d)} (a decided "
            "pair is never requested again)"
        )
    problems += others_open(asked, d, str(dataset.get("owner")) if dataset else None)
    passed = (
        f"PENDING request by {author}, the owner of dataset {d}; benchmark {b} is APPROVED; "
        "the run used its preparator, reference model and evaluator on the registered data"
    )
    return _verdict(problems, passed)


# ---------------------------------------------------------------------------------------
# results/B/M/D.yaml


def _model_approved(base: Registry, bench: dict[str, Any], b: str, m: str) -> list[str]:
    if m == bench.get("reference_model"):
        return []
    problems: list[str] = []
    found = _read(f"the association of {m}", partial(base.association, b, m), problems)
    if found is None or found.get("status") != "APPROVED":
        problems.append(
            f"model {m} has no APPROVED association with benchmark {b} on the default "
            "branch (nor is it the benchmark's reference model)"
        )
    return problems


def _sealing(base: Registry, entry: dict[str, Any]) -> list[str]:
    """Sealed exactly when registry.yaml seals results, and to its key. (Only the key's
    holder can open a seal: that it opens is `result ls --key`'s to find.)"""
    sealed_to, sealed = base.config().results_sealed_to, entry.get("sealed")
    if sealed_to is None:
        if sealed is None:
            return []
        return ["the metrics are sealed, but registry.yaml seals no results (results.sealed_to)"]
    if sealed is None:
        return [
            "registry.yaml seals results to the committee's key (results.sealed_to): the "
            "metrics may not be committed in the clear"
        ]
    try:
        wanted = recipient(sealed_to)
    except SealingError as exc:
        return [f"registry.yaml's results.sealed_to: {exc}"]
    if sealed.get("recipient") != wanted:
        return ["sealed.recipient is not registry.yaml's results.sealed_to: sealed to another key"]
    return []


def check_result(asked: Asked) -> Check:
    """A released result: by the dataset's owner, for approved pairs, on the registered
    data, with the benchmark's evaluator; and new (a released result never changes)."""
    base, req, entry, author = asked.base, asked.req, asked.entry, asked.author
    assert req.benchmark is not None and req.mlcube is not None and req.dataset is not None
    b, m, d, problems = req.benchmark, req.mlcube, req.dataset, []
    if not _same(entry.get("submitted_by"), author):
        problems.append(
            f"submitted_by is {entry.get('submitted_by')!r}, but the PR was opened by {author}"
        )
    dataset = _dataset_of(base, d, author, problems)
    association = _read(
        f"the association of {d}", partial(base.dataset_association, b, d), problems
    )
    if association is None or association.get("status") != "APPROVED":
        problems.append(
            f"dataset {d} has no APPROVED association with benchmark {b} on the default branch"
        )
    if dataset is not None:
        prepared = dataset.get("prepared") or {}
        for key in ("data_sha256", "num_cases"):
            if entry.get(key) != prepared.get(key):
                problems.append(f"{key} is not the dataset's prepared.{key}")
    bench = _found(f"benchmark {b}", partial(base.benchmark, b), problems, "is not registered")
    if bench is not None:
        problems += _model_approved(base, bench, b, m)
        problems += _ran(base, "model_cube", entry.get("model_cube") or {}, m)
        problems += _ran(
            base, "evaluator", entry.get("evaluator") or {}, str(bench.get("evaluator"))
        )
    problems += _sealing(base, entry)
    if base.source.read(result_path(b, m, d)) is not None:
        problems.append(
            f"the default branch already holds {result_path(b, m, d)}: a released result is "
            "never changed"
        )
    passed = (
        f"a new result by {author}, the owner of dataset {d}; the dataset and model {m} are "
        f"approved for benchmark {b}; its data hash, cases and cubes are the registry's"
    )
    return _verdict(problems, passed)


#: The rules of each kind of a data owner's request.
DATA_RULES: dict[str, Callable[[Asked], Check]] = {
    "dataset": check_dataset,
    "dataset-association": check_dataset_association,
    "result": check_result,
}


def check_data_request(asked: Asked) -> Check:
    """The rules of a data owner's request of any kind (`DATA_RULES`)."""
    return DATA_RULES[asked.req.kind](asked)


def check_again(ctx: Context, state: PullState, req: Request) -> str | None:
    """Why a data owner's request does not pass its rules against the default branch as it
    is now, or None when it does: checked by the privileged jobs themselves (`report`,
    `on-label`), with the PR's file read at its head through the API, so that neither a
    verify run's artifact nor a change of the default branch since is trusted."""
    if state.head_repo is None:
        return "The PR's head repository is gone: its file cannot be read."
    head = RepoFiles(repository(ctx.gh, state.head_repo), state.head_sha)
    schema, data = check_schema(head, req, state.head_sha)
    entry = data.get(req.path or "")
    if entry is None:
        return f"Its file cannot be read at its head: {schema.detail}"
    listed = partial(list_requests, ctx.repo, ctx.default_branch, "open")
    rules = check_data_request(Asked(ctx.base, req, entry, state.author, state.number, listed))
    if not rules.passed:
        return f"It does not pass the registry's checks on the default branch: {rules.detail}"
    return None
