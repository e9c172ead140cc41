"""The registry's layout: MedPerf's server, as a repository.

```
registry.yaml                          # committee, label names, approval policy
benchmarks/<id>.yaml                   # preparator / reference model / evaluator, demo data
mlcubes/<id>.yaml                      # owner, source, role, assets + sha256, image
associations/<benchmark>/<mlcube>.yaml # status, initiated_by, result, execution summary
datasets/<id>.yaml                     # a site's prepared dataset: owner, hashes, statistics
dataset-associations/<benchmark>/<dataset>.yaml  # status, the owner's compatibility run
results/<benchmark>/<model>/<dataset>.yaml       # released metrics, and what ran by hash
```

and the conventions the GitOps commands share: ids, file places, branch names, the hidden
markers in pull requests, and how a registry file is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import yaml

#: An id (benchmark, mlcube): a slug, which is also its file's name.
#: An mlcube entry's published files besides its manifest (`assets.<key>`), under the
#: names `package` gives them, and the image archive (`image.archive`).
ASSET_FILES = {
    "parameters": "parameters.yaml",
    "additional_files": "additional_files.tar.gz",
    "signature": "model.sig",
}
IMAGE_ARCHIVE = "image.tar.gz"

SLUG_PATTERN = r"[a-z0-9][a-z0-9-]{0,63}"
SLUG = re.compile(rf"^{SLUG_PATTERN}$")
#: The hidden marker of the one comment `registry report` keeps up to date on a PR.
VERIFY_MARKER = "<!-- medperf-action:verification -->"
#: `--registry OWNER/REPO[@REF]`
REMOTE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9-]*)/([A-Za-z0-9._-]+)(?:@(.+))?$")
#: OWNER/REPO as GitHub allows it
REPO_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$")
#: A request's PR names what it asks for in a hidden marker in its body,
#: `<!-- medperf-action:KIND NAME=ID ... -->`, and in its head branch, `PREFIX/ID/...`
#: (a pair request's later attempts add `/N`): kind -> (the marker's id names, the prefix).
#: `identify` tries the kinds in this order.
REQUEST_NAMES: dict[str, tuple[tuple[str, ...], str]] = {
    "association": (("benchmark", "mlcube"), "medperf/associate"),
    "submission": (("mlcube",), "medperf/submit"),
    "dataset-association": (("benchmark", "dataset"), "medperf/dataset-associate"),
    "dataset": (("id",), "medperf/dataset"),
    "result": (("benchmark", "model", "dataset"), "medperf/result"),
}
#: The requests a committee member decides by label: their branches carry attempts.
PAIR_KINDS = ("association", "dataset-association")


def _marker_pattern(kind: str) -> re.Pattern[str]:
    ids = r"\s+".join(rf"{name}=({SLUG_PATTERN})" for name in REQUEST_NAMES[kind][0])
    return re.compile(rf"<!--\s*medperf-action:{kind}\s+{ids}\s*-->")


def _branch_pattern(kind: str) -> re.Pattern[str]:
    names, prefix = REQUEST_NAMES[kind]
    attempt = r"(?:/([0-9]+))?" if kind in PAIR_KINDS else ""
    return re.compile(prefix + f"/({SLUG_PATTERN})" * len(names) + attempt)


_MARKERS = {kind: _marker_pattern(kind) for kind in REQUEST_NAMES}
_BRANCHES = {kind: _branch_pattern(kind) for kind in REQUEST_NAMES}


# ---------------------------------------------------------------------------------------
# Places and names


def mlcube_path(mlcube_id: str) -> str:
    return f"mlcubes/{mlcube_id}.yaml"


def benchmark_path(benchmark_id: str) -> str:
    return f"benchmarks/{benchmark_id}.yaml"


def association_path(benchmark_id: str, mlcube_id: str) -> str:
    return f"associations/{benchmark_id}/{mlcube_id}.yaml"


def dataset_path(dataset_id: str) -> str:
    return f"datasets/{dataset_id}.yaml"


def dataset_association_path(benchmark_id: str, dataset_id: str) -> str:
    return f"dataset-associations/{benchmark_id}/{dataset_id}.yaml"


def result_path(benchmark_id: str, model_id: str, dataset_id: str) -> str:
    return f"results/{benchmark_id}/{model_id}/{dataset_id}.yaml"


def marker(kind: str, *ids: str) -> str:
    """The hidden marker in the body of a request's PR (`REQUEST_NAMES`)."""
    names = REQUEST_NAMES[kind][0]
    return (
        f"<!-- medperf-action:{kind} "
        + " ".join(f"{name}={value}" for name, value in zip(names, ids, strict=True))
        + " -->"
    )


def branch(kind: str, *ids: str, attempt: int = 1) -> str:
    """The deterministic branch of a request (re-running updates the same PR); a new pair
    request after a rejection is attempt 2…"""
    names, prefix = REQUEST_NAMES[kind]
    assert len(ids) == len(names) and (attempt == 1 or kind in PAIR_KINDS)
    base = "/".join((prefix, *ids))
    return base if attempt == 1 else f"{base}/{attempt}"


def submit_branch(mlcube_id: str) -> str:
    return branch("submission", mlcube_id)


def associate_branch(benchmark_id: str, mlcube_id: str, attempt: int = 1) -> str:
    return branch("association", benchmark_id, mlcube_id, attempt=attempt)


def dataset_branch(dataset_id: str) -> str:
    return branch("dataset", dataset_id)


def dataset_associate_branch(benchmark_id: str, dataset_id: str, attempt: int = 1) -> str:
    return branch("dataset-association", benchmark_id, dataset_id, attempt=attempt)


def result_branch(benchmark_id: str, model_id: str, dataset_id: str) -> str:
    return branch("result", benchmark_id, model_id, dataset_id)


def submission_marker(mlcube_id: str) -> str:
    return marker("submission", mlcube_id)


def association_marker(benchmark_id: str, mlcube_id: str) -> str:
    return marker("association", benchmark_id, mlcube_id)


def dataset_marker(dataset_id: str) -> str:
    return marker("dataset", dataset_id)


def dataset_association_marker(benchmark_id: str, dataset_id: str) -> str:
    return marker("dataset-association", benchmark_id, dataset_id)


def result_marker(benchmark_id: str, model_id: str, dataset_id: str) -> str:
    return marker("result", benchmark_id, model_id, dataset_id)


def identify(body: str | None, head_ref: str) -> tuple[str, tuple[str, ...]] | None:
    """What a PR asks for, from its body's marker, else its head branch; None: not a request.

    ("association", (benchmark, mlcube)), ("submission", (mlcube,)), ("dataset",
    (dataset,)), ("dataset-association", (benchmark, dataset)) or ("result", (benchmark,
    model, dataset)). This says only what the PR claims to be: whether a request counts
    for its pair (its author owns the mlcube or dataset) is `requests.counts_for_pair`'s
    question.
    """
    text = body or ""
    for kind, pattern in _MARKERS.items():
        if found := pattern.search(text):
            return kind, found.groups()
    for kind, pattern in _BRANCHES.items():
        if found := pattern.fullmatch(head_ref):
            return kind, found.groups()[: len(REQUEST_NAMES[kind][0])]
    return None


def branch_attempt(
    head_ref: str, benchmark_id: str, member_id: str, kind: str = "association"
) -> int | None:
    """The attempt number of the pair's request branch (`associate_branch(benchmark_id,
    member_id, n)`, or `dataset_associate_branch` for a dataset association), if it is one."""
    found = _BRANCHES[kind].fullmatch(head_ref)
    if found is None or (found.group(1), found.group(2)) != (benchmark_id, member_id):
        return None
    return int(found.group(3)) if found.group(3) else 1


def dump_yaml(data: dict[str, Any]) -> str:
    """A registry file's YAML, as every command that writes one writes it."""
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


@dataclass(frozen=True)
class Change:
    """What a PR's changed file means for the registry."""

    #: "mlcube" | "association" | "benchmark" | "registry" | "dataset"
    #: | "dataset-association" | "result" | "other"
    kind: str
    path: str
    ids: tuple[str, ...] = ()


def classify(path: str) -> Change:
    parts = PurePosixPath(path).parts
    if len(parts) == 2 and parts[0] == "mlcubes" and parts[1].endswith(".yaml"):
        return Change("mlcube", path, (parts[1][:-5],))
    if len(parts) == 3 and parts[0] == "associations" and parts[2].endswith(".yaml"):
        return Change("association", path, (parts[1], parts[2][:-5]))
    if len(parts) == 2 and parts[0] == "benchmarks" and parts[1].endswith(".yaml"):
        return Change("benchmark", path, (parts[1][:-5],))
    if len(parts) == 2 and parts[0] == "datasets" and parts[1].endswith(".yaml"):
        return Change("dataset", path, (parts[1][:-5],))
    if len(parts) == 3 and parts[0] == "dataset-associations" and parts[2].endswith(".yaml"):
        return Change("dataset-association", path, (parts[1], parts[2][:-5]))
    if len(parts) == 4 and parts[0] == "results" and parts[3].endswith(".yaml"):
        return Change("result", path, (parts[1], parts[2], parts[3][:-5]))
    if path == "registry.yaml":
        return Change("registry", path)
    return Change("other", path)
