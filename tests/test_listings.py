"""`benchmark ls`, `mlcube ls` and `association ls`: a local registry, and a registry on the
GitHub test server with submissions and association requests in every state."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from big_registry import mlcube_doc
from click.testing import CliRunner

from medperf_action.cli import main
from medperf_action.cli.listings import association, benchmark, mlcube
from medperf_action.domain.registry.layout import identify
from medperf_action.domain.registry.requests import (
    MERGED,
    OPEN,
    REJECTED,
    WITHDRAWN,
    RequestPull,
    counts_for_pair,
    pair_requests,
    pair_state,
)
from medperf_action.text import parse_time, table

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "registry"
REG = "mlcommons/registry"
HEX64 = "ab" * 32
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def at(hours: int) -> datetime:
    return T0 + timedelta(hours=hours)


def stamp(hours: int) -> str:
    return at(hours).strftime("%Y-%m-%dT%H:%M:%SZ")


def run(group, *args: str, env: dict[str, str | None] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [group.name, "ls", *args], env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def lines(out: str) -> list[list[str]]:
    """A table's rows (its header first, no rule), split on runs of two or more spaces."""
    import re

    rows = [line.strip() for line in out.strip().splitlines()]
    return [re.split(r"\s{2,}", row) for row in rows if row.strip("- ")]


# ---------------------------------------------------------------------------------------
# Registry files


def summary(benchmark_id: str, mlcube_id: str) -> dict[str, Any]:
    def cube(cube_id: str) -> dict[str, Any]:
        return {
            "id": cube_id,
            "name": cube_id,
            "image": f"local/{cube_id}:1.0",
            "image_id": f"sha256:{HEX64}",
            "digest": None,
        }

    return {
        "schema_version": 1,
        "tool": {"name": "medperf-action", "version": "0.1.0"},
        "benchmark": {"id": benchmark_id, "registry": REG},
        "started_at": "2026-01-01T00:00:00Z",
        "finished_at": "2026-01-01T00:00:09Z",
        "duration_s": 9.1,
        "passed": True,
        "dataset": {"source": "https://example.org/demo.tar.gz", "sha256": HEX64},
        "cubes": {
            "data_preparator": cube("breast-cancer-prep"),
            "candidate": cube(mlcube_id),
            "reference_model": cube("breast-cancer-lr"),
            "evaluator": cube("breast-cancer-metrics"),
        },
        "tasks": [
            {
                "role": "candidate",
                "cube": mlcube_id,
                "task": "infer",
                "exit_code": 0,
                "duration_s": 1.2,
                "cached": False,
                "cache_key": HEX64,
                "inputs": {"data_path": HEX64},
            }
        ],
        "metrics": {"candidate": {"auc": 0.98}, "reference": {"auc": 0.97}},
    }


def verified_record(mlcube_id: str) -> dict[str, Any]:
    """What an approval records: the candidate's image by digest (b...b) among the pins."""
    pin = {"assets": {"mlcube": "a" * 64}}
    return {
        "pr": 1,
        "commit": "c" * 40,
        "mlcubes": {
            mlcube_id: {**pin, "image": {"reference": f"ghcr.io/x/{mlcube_id}@sha256:" + "b" * 64}},
            "breast-cancer-metrics": {**pin, "image": {"archive": "d" * 64}},
        },
    }


#: The "Verified image" column of an APPROVED pair made by `association_file`.
SHOWN = "@sha256:" + "b" * 12


def association_file(
    benchmark_id: str,
    mlcube_id: str,
    status: str,
    initiated_by: str,
    created: int,
    approved: int | None = None,
) -> str:
    doc: dict[str, Any] = {
        "benchmark": benchmark_id,
        "mlcube": mlcube_id,
        "status": status,
        "initiated_by": initiated_by,
        "created_at": stamp(created),
    }
    if status == "APPROVED":
        doc["approved_by"] = "carol"
        doc["approved_at"] = stamp(approved if approved is not None else created + 1)
        doc["verified"] = verified_record(mlcube_id)
    doc["result"] = {"passed": True, "metrics": {"auc": 0.98}}
    doc["summary"] = summary(benchmark_id, mlcube_id)
    return yaml.safe_dump(doc, sort_keys=False)


def mlcube_file(mlcube_id: str, owner: str, name: str | None = None, tag: str = "v1.0.0") -> str:
    doc = mlcube_doc(mlcube_id, owner, tag)
    doc["name"] = name or doc["name"]
    return yaml.safe_dump(doc, sort_keys=False)


# ---------------------------------------------------------------------------------------
# Pure parts


def test_identify_by_marker_then_branch():
    marker = "text\n<!-- medperf-action:association benchmark=bc mlcube=m-1 -->\n"
    assert identify(marker, "anything") == ("association", ("bc", "m-1"))
    assert identify("<!-- medperf-action:submission mlcube=cube -->", "x") == (
        "submission",
        ("cube",),
    )
    assert identify(None, "medperf/associate/bc/m-1") == ("association", ("bc", "m-1"))
    assert identify("", "medperf/associate/bc/m-1/3") == ("association", ("bc", "m-1"))
    assert identify("", "medperf/submit/cube") == ("submission", ("cube",))
    # the marker wins over the branch; anything else is not a request
    assert identify(marker, "medperf/submit/cube") == ("association", ("bc", "m-1"))
    assert identify("", "medperf/associate/bc") is None
    assert identify("", "medperf/submit/Bad_Id") is None
    assert identify("<!-- medperf-action:association benchmark=BC mlcube=x -->", "main") is None
    assert identify("fix a typo", "patch-1") is None


def _request(number: int, author: str = "bob", **kw: Any) -> RequestPull:
    fields: dict[str, Any] = dict(
        kind="association",
        ids=("bc", "m"),
        number=number,
        url=f"https://example.org/pull/{number}",
        author=author,
        is_open=False,
        merged=False,
        labels=frozenset(),
        created_at=at(number),
        closed_at=None,
        head_ref="medperf/associate/bc/m" + (f"/{number}" if number > 1 else ""),
    )
    fields.update(kw)
    return RequestPull(**fields)


def test_request_and_pair_states_are_one_rule():
    rejected = "committee/rejected"
    withdrawn = _request(1)
    refused = _request(2, labels=frozenset({"Committee/Rejected"}))
    waiting = _request(3, is_open=True)  # open, not labelled pending yet
    merged = _request(4, merged=True)
    assert [r.state(rejected) for r in (withdrawn, refused, waiting, merged)] == [
        WITHDRAWN,
        REJECTED,
        OPEN,
        MERGED,
    ]
    # a withdrawn request is as if there were none; a rejection allows a new request too
    assert pair_state([withdrawn], rejected).status == "NONE"
    assert pair_state([], rejected).status == "NONE"
    state = pair_state([withdrawn, refused], rejected)
    assert state.status == "REJECTED" and state.allows_new_request
    assert state.next_attempt("bc", "m") == 3
    state = pair_state([refused, waiting], rejected)
    assert state.status == "PENDING" and state.open == waiting and not state.allows_new_request
    assert pair_state([refused, merged], rejected).status == "APPROVED"
    assert pair_state([], rejected, committed=True).status == "APPROVED"

    # only the owner's requests count for a registered mlcube; the convention alone for one
    # that is not registered
    squatter = _request(5, author="mallory", is_open=True)
    assert pair_requests([waiting, squatter], "bc", "m", "Bob") == [waiting]
    assert pair_requests([waiting, squatter], "bc", "m", None) == [waiting, squatter]
    assert pair_requests([waiting], "bc", "other", "bob") == []
    assert counts_for_pair(squatter, "bob") is False and counts_for_pair(squatter, None)


def test_parse_time_and_table():
    assert parse_time("2026-01-01T02:00:00Z") == at(2)
    assert parse_time("2026-01-01t03:00:00.1234567+01:00") == at(2) + timedelta(microseconds=123456)
    assert parse_time("yesterday") is None
    assert parse_time(None) is None
    assert table(["A", "Bee"], [["xx", "y"], ["x", "zzzz"]]) == "A   Bee\n--  ----\nxx  y\nx   zzzz"
    assert table(["n", "v"], [["a", "1"], ["bb", "22"]], "lr") == "n    v\n--  --\na    1\nbb  22"


# ---------------------------------------------------------------------------------------
# A local registry


def test_benchmark_ls_local():
    code, out, err = run(benchmark, "--registry", str(EXAMPLE))
    assert code == 0, err
    assert lines(out) == [
        [
            *("ID", "Name", "Owner", "Approval", "State"),
            *("Data preparator", "Reference model", "Evaluator"),
        ],
        [
            *("breast-cancer", "Breast cancer (WDBC) demo benchmark", "benchmark-committee"),
            *("APPROVED", "OPERATION", "breast-cancer-prep", "breast-cancer-lr"),
            "breast-cancer-metrics",
        ],
    ]
    code, out, _ = run(benchmark, "--registry", str(EXAMPLE), "--format", "json")
    assert code == 0
    assert json.loads(out) == {
        "registry": str(EXAMPLE),
        "benchmarks": [
            {
                "id": "breast-cancer",
                "name": "Breast cancer (WDBC) demo benchmark",
                "owner": "benchmark-committee",
                "approval_status": "APPROVED",
                "state": "OPERATION",
                "data_preparator": "breast-cancer-prep",
                "reference_model": "breast-cancer-lr",
                "evaluator": "breast-cancer-metrics",
            }
        ],
    }


def test_mlcube_ls_local(monkeypatch):
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.setenv("MEDPERF_REGISTRY", str(EXAMPLE))  # the default --registry
    code, out, err = run(mlcube)
    assert code == 0, err
    rows = lines(out)
    assert rows[0] == ["ID", "Name", "Owner", "Role", "State", "Source"]
    assert [r[0] for r in rows[1:]] == [
        "breast-cancer-centroid",
        "breast-cancer-lr",
        "breast-cancer-metrics",
        "breast-cancer-prep",
    ]
    assert rows[1] == [
        "breast-cancer-centroid",
        "Nearest-centroid classifier",
        "model-owner",
        "model",
        "OPERATION",
        "../model/mlcube",
    ]
    code, out, _ = run(mlcube, "--owner", "model-owner", "--format", "json")
    assert code == 0
    assert json.loads(out)["mlcubes"] == [
        {
            "id": "breast-cancer-centroid",
            "name": "Nearest-centroid classifier",
            "owner": "model-owner",
            "role": "model",
            "state": "OPERATION",
            "status": "REGISTERED",
            "source": None,
            "path": "../model/mlcube",
            "pull_request": None,
            "problem": None,
        }
    ]
    # --mine needs to know who "me" is
    code, _, err = run(mlcube, "--mine")
    assert code == 2
    assert "--mine needs to know who you are" in err and "--owner LOGIN" in err
    code, _, err = run(mlcube, "--mine", "--owner", "x", "--token", "t")
    assert code == 2 and "exclude each other" in err


def test_registry_is_needed(monkeypatch):
    for name in ("MEDPERF_REGISTRY", "GITHUB_REPOSITORY", "GITHUB_ACTIONS"):
        monkeypatch.delenv(name, raising=False)
    code, _, err = run(benchmark)
    assert code == 2 and "--registry" in err
    code, _, err = run(benchmark, "--registry", "not a registry")
    assert code == 2 and "not OWNER/REPO" in err


@pytest.fixture
def local_registry(tmp_path: Path) -> Path:
    root = tmp_path / "registry"
    shutil.copytree(EXAMPLE, root)
    files = {
        ("breast-cancer", "cube-a"): association_file(
            "breast-cancer", "cube-a", "APPROVED", "alice", 1, 2
        ),
        ("breast-cancer", "cube-b"): association_file(
            "breast-cancer", "cube-b", "PENDING", "bob", 3
        ),
        ("breast-cancer", "cube-c"): association_file(
            "breast-cancer", "cube-c", "REJECTED", "alice", 4
        ),
        ("other-bench", "cube-a"): association_file(
            "other-bench", "cube-a", "APPROVED", "alice", 5, 6
        ),
    }
    for (b, m), text in files.items():
        (root / "associations" / b).mkdir(parents=True, exist_ok=True)
        (root / "associations" / b / f"{m}.yaml").write_text(text)
    return root


def test_association_ls_local(local_registry: Path):
    reg = ["--registry", str(local_registry)]
    code, out, err = run(association, *reg)
    assert code == 0, err
    assert lines(out) == [
        ["Benchmark", "MLCube", "Status", "Initiated by", "Date", "PR", "URL", "Verified image"],
        ["breast-cancer", "cube-a", "APPROVED", "alice", stamp(2), "-", "-", SHOWN],
        ["breast-cancer", "cube-b", "PENDING", "bob", stamp(3), "-", "-", "-"],
        ["breast-cancer", "cube-c", "REJECTED", "alice", stamp(4), "-", "-", "-"],
        ["other-bench", "cube-a", "APPROVED", "alice", stamp(6), "-", "-", SHOWN],
    ]
    code, out, _ = run(association, *reg, "--format", "json", "--status", "pending")
    assert code == 0
    assert json.loads(out) == {
        "registry": str(local_registry),
        "associations": [
            {
                "benchmark": "breast-cancer",
                "mlcube": "cube-b",
                "status": "PENDING",
                "initiated_by": "bob",
                "date": stamp(3),
                "pull_request": None,
                "verified": None,
                "awaiting_verification": False,
            }
        ],
    }

    def pairs(*args: str) -> list[tuple[str, str]]:
        code, out, err = run(association, *reg, "--format", "json", *args)
        assert code == 0, err
        return [(a["benchmark"], a["mlcube"]) for a in json.loads(out)["associations"]]

    assert pairs("--benchmark", "other-bench") == [("other-bench", "cube-a")]
    assert pairs("--mlcube-id", "cube-a") == [
        ("breast-cancer", "cube-a"),
        ("other-bench", "cube-a"),
    ]
    assert pairs("--initiated-by", "Alice", "--status", "APPROVED") == [
        ("breast-cancer", "cube-a"),
        ("other-bench", "cube-a"),
    ]
    assert pairs("--benchmark", "nothing-here") == []
    code, out, _ = run(association, *reg, "--benchmark", "nothing-here")
    assert code == 0 and out.strip() == f"No associations in {local_registry}."


def test_invalid_local_file_is_an_error_not_a_traceback(local_registry: Path):
    (local_registry / "associations" / "breast-cancer" / "cube-b.yaml").write_text(
        "benchmark: breast-cancer\nmlcube: cube-b\nstatus: MAYBE\n"
    )
    code, _, err = run(association, "--registry", str(local_registry))
    assert code == 1
    assert err.startswith("error: ") and "cube-b.yaml is invalid" in err
    assert "Traceback" not in err


# ---------------------------------------------------------------------------------------
# A registry on GitHub


class Scenario:
    """The GitHub test server with a registry, its users, forks and requests."""

    def __init__(self, gh: Any) -> None:
        self.gh = gh
        self.tokens = {u: gh.add_user(u) for u in ("alice", "bob", "carol", "dave")}
        self.clients = {u: gh.github(t) for u, t in self.tokens.items()}
        gh.add_org("mlcommons", {"carol": "member"})
        files: dict[str, bytes | str] = {
            path.relative_to(EXAMPLE).as_posix(): path.read_bytes()
            for path in EXAMPLE.rglob("*.yaml")
        }
        files["registry.yaml"] = (
            "name: Test registry\n"
            "committee: {users: [carol]}\n"
            "labels: {pending: committee/pending, rejected: committee/rejected}\n"
        )
        other = yaml.safe_load(files["benchmarks/breast-cancer.yaml"])
        other.update(id="other-bench", name="Another benchmark", owner="carol")
        other.update(approval_status="PENDING", state="DEVELOPMENT")
        files["benchmarks/other-bench.yaml"] = yaml.safe_dump(other)
        files["mlcubes/alice-a.yaml"] = mlcube_file("alice-a", "alice", "Alice's model")
        files["mlcubes/bob-b.yaml"] = mlcube_file("bob-b", "bob", "Bob's model")
        gh.create_repo(REG, files)
        gh.add_team("mlcommons", "committee", ["carol"], {REG: "push"})
        self.registry = self.clients["carol"].get_repo(REG)

    # -- requests ----------------------------------------------------------------------

    def open_pull(
        self, login: str, branch: str, files: dict[str, str], body: str, title: str = "request"
    ) -> int:
        fork = f"{login}/registry"
        try:
            self.gh.repo(fork)
        except KeyError:
            self.gh.fork(REG, login)
        main = self.gh.repo(REG).refs["refs/heads/main"]
        self.gh.repo(fork).refs[f"refs/heads/{branch}"] = main
        self.gh.commit(fork, files, branch=branch, author=login)
        pull = (
            self.clients[login]
            .get_repo(REG)
            .create_pull(base="main", head=f"{login}:{branch}", title=title, body=body)
        )
        return pull.number

    def request(self, login: str, b: str, m: str, attempt: int = 1, marker: bool = True) -> int:
        branch = f"medperf/associate/{b}/{m}" + (f"/{attempt}" if attempt > 1 else "")
        body = "Association request.\n"
        if marker:
            body += f"<!-- medperf-action:association benchmark={b} mlcube={m} -->\n"
        content = association_file(b, m, "PENDING", login, 0)
        return self.open_pull(login, branch, {f"associations/{b}/{m}.yaml": content}, body)

    def submit(self, login: str, m: str, content: str) -> int:
        body = f"Submission.\n<!-- medperf-action:submission mlcube={m} -->\n"
        return self.open_pull(login, f"medperf/submit/{m}", {f"mlcubes/{m}.yaml": content}, body)

    def label(self, number: int, name: str) -> None:
        self.registry.get_issue(number).add_to_labels(name)

    def close(self, number: int, hours: int) -> None:
        self.registry.get_pull(number).edit(state="closed")
        self.gh.repo(REG).issues[number].closed_at = at(hours)

    def created(self, number: int, hours: int) -> None:
        self.gh.repo(REG).issues[number].created_at = at(hours)

    def approve(self, number: int, b: str, m: str, login: str, hours: int) -> None:
        """What the registry's workflow does: merge, then commit the APPROVED file."""
        self.registry.get_pull(number).merge()
        text = association_file(b, m, "APPROVED", login, hours - 1, hours)
        self.gh.commit(REG, {f"associations/{b}/{m}.yaml": text}, author="carol")

    # -- the world of the tests --------------------------------------------------------

    def populate(self) -> dict[str, int]:
        """Every state a pair can be in; returns the PR numbers by name."""
        pending, rejected = "committee/pending", "committee/rejected"
        n: dict[str, int] = {}
        # approved: requested, labelled pending, merged, APPROVED committed
        n["a"] = self.request("alice", "breast-cancer", "alice-a")
        self.label(n["a"], pending)
        self.created(n["a"], 1)
        self.approve(n["a"], "breast-cancer", "alice-a", "alice", 10)
        # pending
        n["b"] = self.request("bob", "breast-cancer", "bob-b")
        self.label(n["b"], pending)
        self.created(n["b"], 5)
        # rejected (recognised by its branch alone: no marker)
        n["c"] = self.request("alice", "breast-cancer", "alice-c", marker=False)
        self.label(n["c"], pending)
        self.label(n["c"], rejected)
        self.close(n["c"], 3)
        # rejected, then requested again: the new request is what counts
        n["d1"] = self.request("bob", "breast-cancer", "bob-d")
        self.label(n["d1"], rejected)
        self.close(n["d1"], 2)
        n["d2"] = self.request("bob", "breast-cancer", "bob-d", attempt=2)
        self.label(n["d2"], pending)
        self.created(n["d2"], 4)
        # an old rejection, then a newer approval
        n["e1"] = self.request("alice", "breast-cancer", "alice-e")
        self.label(n["e1"], rejected)
        self.close(n["e1"], 6)
        n["e2"] = self.request("alice", "breast-cancer", "alice-e", attempt=2)
        self.label(n["e2"], pending)
        self.created(n["e2"], 7)
        self.approve(n["e2"], "breast-cancer", "alice-e", "alice", 8)
        # another benchmark, approved with no PR at all (committed by the committee)
        self.gh.commit(
            REG,
            {
                "associations/other-bench/alice-a.yaml": association_file(
                    "other-bench", "alice-a", "APPROVED", "alice", 11, 12
                )
            },
            author="carol",
        )
        # not requests, or not (or no longer) in a state
        # open, but not labelled by this registry yet: awaiting its verification
        n["x1"] = self.request("dave", "breast-cancer", "dave-x")
        self.created(n["x1"], 11)
        self.label(n["x1"], "medperf/pending")  # not this registry's pending label
        n["x2"] = self.request("dave", "breast-cancer", "dave-y")  # withdrawn, no label
        self.close(n["x2"], 9)
        n["x3"] = self.open_pull("dave", "patch-1", {"README.md": "typo\n"}, "Fix a typo")
        # submissions: a new cube, an update of a registered one, an invalid one, a
        # closed one
        n["s1"] = self.submit("alice", "alice-new", mlcube_file("alice-new", "alice", "New one"))
        n["s2"] = self.submit("bob", "bob-b", mlcube_file("bob-b", "bob", "Bob's model", "v2.0.0"))
        n["s3"] = self.submit("dave", "dave-bad", "id: dave-bad\nowner: dave\n")
        n["s4"] = self.submit("alice", "alice-old", mlcube_file("alice-old", "alice"))
        self.close(n["s4"], 9)
        return n


@pytest.fixture
def world(github_server, monkeypatch, tmp_path) -> Scenario:
    monkeypatch.setenv("GITHUB_API_URL", github_server.api_url)
    monkeypatch.setenv("MEDPERF_ACTION_CACHE", str(tmp_path / "cache"))  # the snapshots
    monkeypatch.setenv("MEDPERF_ACTION_GITHUB_PAUSES", "0")
    for name in ("GITHUB_ACTIONS", "GITHUB_TOKEN", "MEDPERF_REGISTRY", "GITHUB_REPOSITORY"):
        monkeypatch.delenv(name, raising=False)
    return Scenario(github_server)


def test_association_ls_github(world: Scenario):
    gh = world.gh
    n = world.populate()
    url = f"{gh.web_url}/{REG}/pull"
    gh.reset_counters()
    code, out, err = run(association, "--registry", REG, env={"GITHUB_TOKEN": world.tokens["dave"]})
    assert code == 0, err
    assert lines(out) == [
        ["Benchmark", "MLCube", "Status", "Initiated by", "Date", "PR", "URL", "Verified image"],
        [
            "breast-cancer",
            "alice-a",
            "APPROVED",
            "alice",
            stamp(10),
            f"#{n['a']}",
            f"{url}/{n['a']}",
            SHOWN,
        ],
        [
            "breast-cancer",
            "alice-c",
            "REJECTED",
            "alice",
            stamp(3),
            f"#{n['c']}",
            f"{url}/{n['c']}",
            "-",
        ],
        [
            "breast-cancer",
            "alice-e",
            "APPROVED",
            "alice",
            stamp(8),
            f"#{n['e2']}",
            f"{url}/{n['e2']}",
            SHOWN,
        ],
        [
            "breast-cancer",
            "bob-b",
            "PENDING",
            "bob",
            stamp(5),
            f"#{n['b']}",
            f"{url}/{n['b']}",
            "-",
        ],
        [
            "breast-cancer",
            "bob-d",
            "PENDING",
            "bob",
            stamp(4),
            f"#{n['d2']}",
            f"{url}/{n['d2']}",
            "-",
        ],
        [
            "breast-cancer",
            "dave-x",
            "PENDING (awaiting verification)",
            "dave",
            stamp(11),
            f"#{n['x1']}",
            f"{url}/{n['x1']}",
            "-",
        ],
        ["other-bench", "alice-a", "APPROVED", "alice", stamp(12), "-", "-", SHOWN],
    ]
    # the files as one snapshot of the commit, one PR listing, nothing per file or per PR
    assert gh.calls == {
        "repos/get": 1,  # the default branch
        "repos/get-commit": 1,  # its commit now
        "repos/download-tarball-archive": 1,  # that commit's files, once
        "pulls/list": 1,
    }
    assert gh.api_calls == 4
    gh.reset_counters()

    code, out, _ = run(association, "--registry", REG, "--format", "json", "--mlcube-id", "bob-d")
    assert code == 0
    # the same commit: its snapshot is read from the cache
    assert gh.calls == {"repos/get": 1, "repos/get-commit": 1, "pulls/list": 1}
    assert json.loads(out) == {
        "registry": f"{REG}@main",
        "associations": [
            {
                "benchmark": "breast-cancer",
                "mlcube": "bob-d",
                "status": "PENDING",
                "initiated_by": "bob",
                "date": stamp(4),
                "pull_request": {"number": n["d2"], "url": f"{url}/{n['d2']}"},
                "verified": None,
                "awaiting_verification": False,
            }
        ],
    }


def test_requests_by_others_than_the_mlcube_owner_do_not_count(world: Scenario):
    """Anybody may open a PR carrying another owner's pair marker (and the registry's
    report labels every association request pending): it is not that pair's request."""
    n = world.populate()
    # dave, who owns neither, "requests" bob's pending pair and alice's approved one, later
    # than their own requests; the registry's workflow labels both pending.
    for mlcube_id, hours in (("bob-b", 20), ("alice-a", 30)):
        number = world.request("dave", "breast-cancer", mlcube_id)
        world.label(number, "committee/pending")
        world.created(number, hours)
    # and a rejected one for bob's other pair, which would be the latest state
    rejected = world.request("dave", "breast-cancer", "bob-d")
    world.label(rejected, "committee/rejected")
    world.close(rejected, 40)
    code, out, err = run(
        association, "--registry", REG, "--format", "json", "--benchmark", "breast-cancer"
    )
    assert code == 0, err
    rows = {a["mlcube"]: a for a in json.loads(out)["associations"]}
    assert (rows["bob-b"]["status"], rows["bob-b"]["initiated_by"]) == ("PENDING", "bob")
    assert rows["bob-b"]["pull_request"]["number"] == n["b"]
    assert (rows["alice-a"]["status"], rows["alice-a"]["initiated_by"]) == ("APPROVED", "alice")
    # bob-d is not registered: no owner to ask, so the convention alone decides (dave's
    # rejection is the latest state of that pair)
    assert (rows["bob-d"]["status"], rows["bob-d"]["initiated_by"]) == ("REJECTED", "dave")


def test_association_ls_github_filters_and_mine(world: Scenario):
    gh = world.gh
    world.populate()

    def pairs(*args: str, token: str | None = None) -> list[tuple[str, str, str]]:
        env = {"GITHUB_TOKEN": world.tokens[token]} if token else None
        code, out, err = run(association, "--registry", REG, "--format", "json", *args, env=env)
        assert code == 0, err
        return [(a["benchmark"], a["mlcube"], a["status"]) for a in json.loads(out)["associations"]]

    gh.reset_counters()
    assert pairs("--status", "pending") == [
        ("breast-cancer", "bob-b", "PENDING"),
        ("breast-cancer", "bob-d", "PENDING"),
        ("breast-cancer", "dave-x", "PENDING"),  # awaiting the registry's verification
    ]
    # every file from one snapshot, whatever the filters read of it
    assert gh.calls["repos/download-tarball-archive"] == 1
    assert "repos/get-content" not in gh.calls
    assert gh.api_calls == 4

    assert pairs("--status", "REJECTED") == [("breast-cancer", "alice-c", "REJECTED")]
    assert pairs("--benchmark", "other-bench") == [("other-bench", "alice-a", "APPROVED")]
    assert pairs("--benchmark", "breast-cancer", "--mlcube-id", "alice-e") == [
        ("breast-cancer", "alice-e", "APPROVED")
    ]

    gh.reset_counters()
    assert pairs("--mine", token="bob") == [
        ("breast-cancer", "bob-b", "PENDING"),
        ("breast-cancer", "bob-d", "PENDING"),
    ]
    assert gh.calls["users/get-authenticated"] == 1
    assert pairs("--mine", "--status", "APPROVED", token="alice") == [
        ("breast-cancer", "alice-a", "APPROVED"),
        ("breast-cancer", "alice-e", "APPROVED"),
        ("other-bench", "alice-a", "APPROVED"),
    ]
    assert pairs("--initiated-by", "carol") == []
    # anonymous reading works; --mine then has no one to be
    code, _, err = run(association, "--registry", REG, "--mine")
    assert code == 2 and "--mine needs to know who you are" in err


def test_mlcube_ls_github(world: Scenario):
    gh = world.gh
    n = world.populate()
    gh.reset_counters()
    code, out, err = run(mlcube, "--registry", REG)  # anonymous
    assert code == 0, err
    assert f"warning: PR #{n['s3']}: " in err and "dave-bad.yaml is invalid" in err
    rows = lines(out)
    assert rows[0] == ["ID", "Name", "Owner", "Role", "State", "Source"]
    assert rows[1:] == [
        ["alice-a", "Alice's model", "alice", "model", "OPERATION", "alice/alice-a@v1.0.0"],
        [
            "alice-new",
            "New one",
            "alice",
            "model",
            f"PENDING (PR #{n['s1']})",
            "alice/alice-new@v1.0.0",
        ],
        ["bob-b", "Bob's model", "bob", "model", "OPERATION", "bob/bob-b@v1.0.0"],
        ["bob-b", "Bob's model", "bob", "model", f"PENDING (PR #{n['s2']})", "bob/bob-b@v2.0.0"],
        [
            "breast-cancer-centroid",
            "Nearest-centroid classifier",
            "model-owner",
            "model",
            "OPERATION",
            "../model/mlcube",
        ],
        [
            "breast-cancer-lr",
            "Logistic regression",
            "benchmark-committee",
            "model",
            "OPERATION",
            "../reference_model/mlcube",
        ],
        [
            "breast-cancer-metrics",
            "Classification metrics",
            "benchmark-committee",
            "metrics",
            "OPERATION",
            "../evaluator/mlcube",
        ],
        [
            "breast-cancer-prep",
            "Breast cancer (WDBC) data preparator",
            "benchmark-committee",
            "data-preparator",
            "OPERATION",
            "../data_preparator/mlcube",
        ],
        ["dave-bad", "-", "dave", "-", f"PENDING (PR #{n['s3']})", "-"],
    ]
    # repo, commit, snapshot, PR listing, and one read per open submission at its head (3)
    assert gh.calls == {
        "repos/get": 1,
        "repos/get-commit": 1,
        "repos/download-tarball-archive": 1,
        "pulls/list": 1,
        "repos/get-content": 3,
    }
    assert gh.api_calls == 7

    gh.reset_counters()
    env = {"GITHUB_TOKEN": world.tokens["alice"]}
    code, out, err = run(mlcube, "--registry", REG, "--mine", "--format", "json", env=env)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["registry"] == f"{REG}@main"
    assert [(c["id"], c["status"]) for c in doc["mlcubes"]] == [
        ("alice-a", "REGISTERED"),
        ("alice-new", "PENDING"),
    ]
    assert doc["mlcubes"][1] == {
        "id": "alice-new",
        "name": "New one",
        "owner": "alice",
        "role": "model",
        "state": "OPERATION",
        "status": "PENDING",
        "source": {
            "repository": "alice/alice-new",
            "ref": "refs/tags/v1.0.0",
            "commit": "c" * 40,
        },
        "path": None,
        "pull_request": {"number": n["s1"], "url": f"{gh.web_url}/{REG}/pull/{n['s1']}"},
        "problem": None,
    }
    assert gh.calls["users/get-authenticated"] == 1
    assert "repos/download-tarball-archive" not in gh.calls  # the commit did not move
    assert gh.api_calls == 7

    code, out, _ = run(mlcube, "--registry", REG, "--owner", "dave", "--format", "json")
    (bad,) = json.loads(out)["mlcubes"]
    assert bad["status"] == "PENDING" and bad["name"] is None
    assert "dave-bad.yaml is invalid" in bad["problem"]


def test_benchmark_ls_github(world: Scenario):
    gh = world.gh
    gh.reset_counters()
    code, out, err = run(benchmark, "--registry", f"{REG}@main", "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["registry"] == f"{REG}@main"
    assert [(b["id"], b["approval_status"], b["state"]) for b in doc["benchmarks"]] == [
        ("breast-cancer", "APPROVED", "OPERATION"),
        ("other-bench", "PENDING", "DEVELOPMENT"),
    ]
    # @main: no need to ask for the default branch
    assert gh.calls == {"repos/get-commit": 1, "repos/download-tarball-archive": 1}
    code, out, _ = run(benchmark, "--registry", REG)
    assert lines(out)[2] == [
        "other-bench",
        "Another benchmark",
        "carol",
        "PENDING",
        "DEVELOPMENT",
        "breast-cancer-prep",
        "breast-cancer-lr",
        "breast-cancer-metrics",
    ]


def test_many_pull_requests_are_paginated(world: Scenario):
    """150 requests (put straight into the server's state): two pages of 100."""
    from github_server.state import Issue, Pull

    gh = world.gh
    world.registry.create_label("committee/pending", "ededed")
    gh.fork(REG, "bob")
    repo, fork = gh.repo(REG), gh.repo("bob/registry")
    main = repo.refs["refs/heads/main"]
    with gh.lock:
        for i in range(150):
            branch = f"medperf/associate/breast-cancer/cube-{i:03d}"
            fork.refs[f"refs/heads/{branch}"] = main
            number = repo.next_number
            repo.next_number += 1
            pull = Pull(gh.world.new_id(), fork.full_name, branch, main, "main", main)
            repo.issues[number] = Issue(
                gh.world.new_id(),
                number,
                "request",
                None,
                "bob",
                labels=["committee/pending"],
                pull=pull,
            )
    gh.reset_counters()
    code, out, err = run(association, "--registry", REG, "--format", "json")
    assert code == 0, err
    found = json.loads(out)["associations"]
    assert len(found) == 150 and {a["status"] for a in found} == {"PENDING"}
    assert found[0]["mlcube"] == "cube-000" and found[-1]["mlcube"] == "cube-149"
    # two pages of PRs; the files, whatever they are, in one snapshot
    assert gh.calls == {
        "repos/get": 1,
        "repos/get-commit": 1,
        "repos/download-tarball-archive": 1,
        "pulls/list": 2,
    }


def test_private_registry_without_token_is_a_clear_error(github_server, monkeypatch):
    monkeypatch.setenv("GITHUB_API_URL", github_server.api_url)
    monkeypatch.setenv("MEDPERF_ACTION_GITHUB_PAUSES", "0")
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    github_server.add_user("carol")
    github_server.create_repo("carol/secret", {"registry.yaml": "name: x\n"}, private=True)
    code, _, err = run(benchmark, "--registry", "carol/secret")
    assert code == 4  # GitHub refused
    assert err.startswith("error: ") and "HTTP 404" in err and "Traceback" not in err


def test_mine_on_a_local_registry_asks_github_who(github_server, monkeypatch):
    monkeypatch.setenv("GITHUB_API_URL", github_server.api_url)
    monkeypatch.setenv("MEDPERF_ACTION_GITHUB_PAUSES", "0")
    token = github_server.add_user("model-owner")
    code, out, err = run(mlcube, "--registry", str(EXAMPLE), "--mine", "--token", token)
    assert code == 0, err
    assert [r[0] for r in lines(out)[1:]] == ["breast-cancer-centroid"]
    assert github_server.calls == {"users/get-authenticated": 1}
