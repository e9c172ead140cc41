"""A registry as large as MedPerf's on the GitHub test server: N mlcubes, N approved
associations, and a few open requests, for the call-count tests and bench/registry_calls.py.

The files go into the server's state in one commit (a push, no API call); the requests
are pull requests from forks, opened through the API like `submit` and `associate` do.
"""

from __future__ import annotations

from typing import Any

import yaml

REG = "mlcommons/registry"
BENCH = "breast-cancer"
HEX64 = "ab" * 32
PENDING = "committee/pending"
#: The users: the committee (carol), and the owners of the generated cubes.
OWNERS = ("alice", "bob")


def mlcube_doc(
    mlcube_id: str, owner: str, tag: str = "v1.0.0", web: str = "https://github.com"
) -> dict[str, Any]:
    return {
        "id": mlcube_id,
        "name": f"Model {mlcube_id}",
        "owner": owner,
        "role": "model",
        "state": "OPERATION",
        "source": {
            "repository": f"{owner}/{mlcube_id}",
            "ref": f"refs/tags/{tag}",
            "commit": "c" * 40,
        },
        "assets": {
            "mlcube": {
                "url": f"{web}/{owner}/{mlcube_id}/releases/download/{tag}/mlcube.yaml",
                "sha256": HEX64,
            }
        },
        "image": {"reference": f"ghcr.io/{owner}/{mlcube_id}@sha256:{HEX64}"},
    }


def association_doc(mlcube_id: str, owner: str, status: str = "APPROVED") -> dict[str, Any]:
    doc: dict[str, Any] = {
        "benchmark": BENCH,
        "mlcube": mlcube_id,
        "status": status,
        "initiated_by": owner,
        "created_at": "2026-01-01T00:00:00Z",
    }
    if status == "APPROVED":
        doc.update(approved_by="carol", approved_at="2026-01-01T01:00:00Z")
    doc["result"] = {"passed": True, "metrics": {"auc": 0.98}}
    doc["summary"] = summary(mlcube_id)
    return doc


def summary(mlcube_id: str) -> dict[str, Any]:
    """An execution summary as `associate` records it (one task shown)."""

    def cube(ident: str) -> dict[str, Any]:
        image = {"image": f"local/{ident}:1.0", "image_id": f"sha256:{HEX64}", "digest": None}
        return {"id": ident, "name": ident, **image}

    return {
        "schema_version": 1,
        "tool": {"name": "medperf-action", "version": "0.1.0"},
        "benchmark": {"id": BENCH, "registry": REG},
        "started_at": "2026-01-01T00:00:00Z",
        "finished_at": "2026-01-01T00:00:09Z",
        "duration_s": 9.0,
        "passed": True,
        "dataset": {"source": "https://example.org/demo.tar.gz", "sha256": HEX64},
        "cubes": {
            "data_preparator": cube("prep"),
            "candidate": cube(mlcube_id),
            "reference_model": cube("ref"),
            "evaluator": cube("metrics"),
        },
        "tasks": [
            {
                "role": "candidate",
                "cube": mlcube_id,
                "task": "infer",
                "exit_code": 0,
                "duration_s": 1.0,
                "cached": False,
                "cache_key": HEX64,
                "inputs": {"data_path": HEX64},
            }
        ],
        "metrics": {"candidate": {"auc": 0.98}, "reference": {"auc": 0.97}},
    }


def benchmark_doc() -> dict[str, Any]:
    return {
        "id": BENCH,
        "name": "Breast cancer demo benchmark",
        "description": "A demo benchmark.",
        "owner": "carol",
        "approval_status": "APPROVED",
        "state": "OPERATION",
        "data_preparator": "prep",
        "reference_model": "ref",
        "evaluator": "metrics",
        "demo_dataset": {"url": "https://example.org/demo.tar.gz", "sha256": HEX64},
        "metrics": ["auc"],
    }


def cube_id(i: int) -> str:
    return f"cube-{i:04d}"


def registry_files(n: int) -> dict[str, bytes | str]:
    """registry.yaml, one benchmark and its three cubes, `n` model mlcubes and an approved
    association for each."""
    files: dict[str, bytes | str] = {
        "registry.yaml": (
            "name: A large registry\n"
            "committee: {users: [carol]}\n"
            f"labels: {{pending: {PENDING}, rejected: committee/rejected}}\n"
        ),
        f"benchmarks/{BENCH}.yaml": yaml.safe_dump(benchmark_doc(), sort_keys=False),
    }
    for role, ident in (("data-preparator", "prep"), ("model", "ref"), ("metrics", "metrics")):
        doc = mlcube_doc(ident, "carol")
        doc["role"] = role
        files[f"mlcubes/{ident}.yaml"] = yaml.safe_dump(doc, sort_keys=False)
    for i in range(n):
        owner = OWNERS[i % len(OWNERS)]
        files[f"mlcubes/{cube_id(i)}.yaml"] = yaml.safe_dump(mlcube_doc(cube_id(i), owner))
        files[f"associations/{BENCH}/{cube_id(i)}.yaml"] = yaml.safe_dump(
            association_doc(cube_id(i), owner)
        )
    return files


def open_request(
    gh: Any, client: Any, reg: str, login: str, branch: str, files: dict[str, str], body: str
) -> int:
    """A pull request to `reg` from `login`'s fork adding `files`; its number."""
    fork = f"{login}/{reg.split('/')[1]}"
    try:
        gh.repo(fork)
    except KeyError:
        gh.fork(reg, login)
    gh.repo(fork).refs[f"refs/heads/{branch}"] = gh.repo(reg).refs["refs/heads/main"]
    gh.commit(fork, files, branch=branch, author=login)
    pull = client.get_repo(reg).create_pull(
        base="main", head=f"{login}:{branch}", title="request", body=body
    )
    return int(pull.number)


def build(gh: Any, n: int, requests: int = 2, reg: str = REG) -> dict[str, Any]:
    """The registry `reg` with `n` entries, and `requests` open submissions plus as many
    open association requests (labelled pending). Returns the users' tokens and the PR
    numbers."""
    tokens = {u: gh.add_user(u) for u in ("carol", *OWNERS)}
    clients = {u: gh.github(t) for u, t in tokens.items()}
    gh.add_org("mlcommons", {"carol": "member"})
    gh.create_repo(reg, registry_files(n))
    gh.add_team("mlcommons", "committee", ["carol"], {reg: "push"})
    registry = clients["carol"].get_repo(reg)
    registry.create_label(PENDING, "ededed")
    submissions, associations = [], []
    for k in range(requests):
        owner = OWNERS[k % len(OWNERS)]
        new = f"new-{k:02d}"
        body = f"Submission.\n<!-- medperf-action:submission mlcube={new} -->\n"
        # its asset on the test server: nothing leaves 127.0.0.1
        text = yaml.safe_dump(mlcube_doc(new, owner, web=gh.web_url))
        submissions.append(
            open_request(
                gh,
                clients[owner],
                reg,
                owner,
                f"medperf/submit/{new}",
                {f"mlcubes/{new}.yaml": text},
                body,
            )
        )
        # a new request for a registered cube of this owner (its approval is older)
        target = cube_id(k) if k < n else new
        body = f"Request.\n<!-- medperf-action:association benchmark={BENCH} mlcube={target} -->\n"
        text = yaml.safe_dump(association_doc(target, OWNERS[k % len(OWNERS)], "PENDING"))
        number = open_request(
            gh,
            clients[owner],
            reg,
            owner,
            f"medperf/associate/{BENCH}/{target}/2",
            {f"associations/{BENCH}/{target}.yaml": text},
            body,
        )
        registry.get_issue(number).add_to_labels(PENDING)
        associations.append(number)
    return {"tokens": tokens, "submissions": submissions, "associations": associations}
