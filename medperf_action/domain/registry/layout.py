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
_SUBMISSION_MARKER = re.compile(
    rf"<!--\s*medperf-action:submission\s+mlcube=({SLUG_PATTERN})\s*-->"
)
_ASSOCIATION_MARKER = re.compile(
    rf"<!--\s*medperf-action:association\s+benchmark=({SLUG_PATTERN})\s+"
    rf"mlcube=({SLUG_PATTERN})\s*-->"
)
_SUBMIT_BRANCH = re.compile(rf"medperf/submit/({SLUG_PATTERN})")
_ASSOCIATE_BRANCH = re.compile(
    rf"medperf/associate/({SLUG_PATTERN})/({SLUG_PATTERN})(?:/([0-9]+))?"
)
# A data owner's requests: a dataset's registration, its association with a benchmark,
# a released result.
_DATASET_MARKER = re.compile(rf"<!--\s*medperf-action:dataset\s+id=({SLUG_PATTERN})\s*-->")
_DATASET_ASSOCIATION_MARKER = re.compile(
    rf"<!--\s*medperf-action:dataset-association\s+benchmark=({SLUG_PATTERN})\s+"
    rf"dataset=({SLUG_PATTERN})\s*-->"
)
_RESULT_MARKER = re.compile(
    rf"<!--\s*medperf-action:result\s+benchmark=({SLUG_PATTERN})\s+"
    rf"model=({SLUG_PATTERN})\s+dataset=({SLUG_PATTERN})\s*-->"
)
_DATASET_BRANCH = re.compile(rf"medperf/dataset/({SLUG_PATTERN})")
_DATASET_ASSOCIATE_BRANCH = re.compile(
    rf"medperf/dataset-associate/({SLUG_PATTERN})/({SLUG_PATTERN})(?:/([0-9]+))?"
)
_RESULT_BRANCH = re.compile(rf"medperf/result/({SLUG_PATTERN})/({SLUG_PATTERN})/({SLUG_PATTERN})")
#: What a PR's body marker or head branch says it is, tried in this order: (kind, pattern).
_MARKERS = (
    ("association", _ASSOCIATION_MARKER),
    ("submission", _SUBMISSION_MARKER),
    ("dataset-association", _DATASET_ASSOCIATION_MARKER),
    ("dataset", _DATASET_MARKER),
    ("result", _RESULT_MARKER),
)
_BRANCHES = (
    ("association", _ASSOCIATE_BRANCH),
    ("submission", _SUBMIT_BRANCH),
    ("dataset-association", _DATASET_ASSOCIATE_BRANCH),
    ("dataset", _DATASET_BRANCH),
    ("result", _RESULT_BRANCH),
)
#: The kinds of request decided by a committee member's label, and their branches.
_PAIR_BRANCHES = {
    "association": _ASSOCIATE_BRANCH,
    "dataset-association": _DATASET_ASSOCIATE_BRANCH,
}


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


def submit_branch(mlcube_id: str) -> str:
    """The deterministic branch of a submission: re-running updates the same PR."""
    return f"medperf/submit/{mlcube_id}"


def associate_branch(benchmark_id: str, mlcube_id: str, attempt: int = 1) -> str:
    """The branch of an association request; a new request after a rejection is attempt 2…"""
    base = f"medperf/associate/{benchmark_id}/{mlcube_id}"
    return base if attempt == 1 else f"{base}/{attempt}"


def dataset_branch(dataset_id: str) -> str:
    """The deterministic branch of a dataset's registration (or update)."""
    return f"medperf/dataset/{dataset_id}"


def dataset_associate_branch(benchmark_id: str, dataset_id: str, attempt: int = 1) -> str:
    """The branch of a dataset association request; after a rejection, attempt 2…"""
    base = f"medperf/dataset-associate/{benchmark_id}/{dataset_id}"
    return base if attempt == 1 else f"{base}/{attempt}"


def result_branch(benchmark_id: str, model_id: str, dataset_id: str) -> str:
    """The branch of a released result."""
    return f"medperf/result/{benchmark_id}/{model_id}/{dataset_id}"


def dataset_marker(dataset_id: str) -> str:
    return f"<!-- medperf-action:dataset id={dataset_id} -->"


def dataset_association_marker(benchmark_id: str, dataset_id: str) -> str:
    return (
        f"<!-- medperf-action:dataset-association benchmark={benchmark_id} dataset={dataset_id} -->"
    )


def result_marker(benchmark_id: str, model_id: str, dataset_id: str) -> str:
    return (
        f"<!-- medperf-action:result benchmark={benchmark_id} model={model_id} "
        f"dataset={dataset_id} -->"
    )


def submission_marker(mlcube_id: str) -> str:
    """The hidden marker in the body of a submission's PR."""
    return f"<!-- medperf-action:submission mlcube={mlcube_id} -->"


def association_marker(benchmark_id: str, mlcube_id: str) -> str:
    """The hidden marker in the body of an association request's PR."""
    return f"<!-- medperf-action:association benchmark={benchmark_id} mlcube={mlcube_id} -->"


def identify(body: str | None, head_ref: str) -> tuple[str, tuple[str, ...]] | None:
    """What a PR asks for, from its body's marker, else its head branch; None: not a request.

    ("association", (benchmark, mlcube)), ("submission", (mlcube,)), ("dataset",
    (dataset,)), ("dataset-association", (benchmark, dataset)) or ("result", (benchmark,
    model, dataset)). This says only what the PR claims to be: whether a request counts
    for its pair (its author owns the mlcube or dataset) is `requests.counts_for_pair`'s
    question.
    """
    text = body or ""
    for kind, marker in _MARKERS:
        if found := marker.search(text):
            return kind, found.groups()
    for kind, branch in _BRANCHES:
        if found := branch.fullmatch(head_ref):
            ids = found.groups()
            return kind, ids[:2] if kind in _PAIR_BRANCHES else ids
    return None


def branch_attempt(
    head_ref: str, benchmark_id: str, member_id: str, kind: str = "association"
) -> int | None:
    """The attempt number of the pair's request branch (`associate_branch(benchmark_id,
    member_id, n)`, or `dataset_associate_branch` for a dataset association), if it is one."""
    found = _PAIR_BRANCHES[kind].fullmatch(head_ref)
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
