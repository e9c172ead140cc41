"""The whole GitOps flow, each step through its own command, as GitHub would run them:

submit → (verify, report, committee merges) → associate → verify → report → approval label
→ on-label → `association ls` shows APPROVED.

Against the GitHub test server (contract-checked) and real Docker. The REST calls each
command makes are printed (`-s` shows them) and bounded.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
from click.testing import CliRunner
from registry_world import (
    BENCH,
    MODEL,
    REG,
    add_label,
    build_world,
    labels,
    main_file,
    on_label,
    report,
    staged,
    verify,
)

from medperf_action.cli import main

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory, docker_client, oci_registry: str):
    yield from staged(tmp_path_factory.mktemp("whole-flow"), oci_registry, honest_run=False)


def run(token: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        main, list(args), env={"MEDPERF_REGISTRY_TOKEN": token, "GITHUB_TOKEN": token}
    )
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_submit_associate_verify_report_approve_listed(
    github_server, monkeypatch, stage, tmp_path
) -> None:
    gh = github_server
    monkeypatch.setenv("MEDPERF_ACTION_CACHE", str(tmp_path / "cache"))
    w = build_world(gh, monkeypatch, stage, tmp_path, submitted=False)
    calls: dict[str, Counter] = {}

    def step(name: str, fn, *args):
        gh.reset_counters()
        out = fn(*args)
        calls[name] = Counter(gh.calls)
        return out

    # The model owner submits the published MLCube.
    code, out, err = step(
        "submit",
        run,
        w.tokens["alice"],
        "submit",
        "--registry",
        REG,
        "--mlcube-id",
        MODEL,
        "--name",
        "Nearest centroid",
        "--assets",
        str(w.model_assets),
    )
    assert code == 0, err
    submission = int(out.strip().rsplit("/", 1)[1])
    code, _, err, doc = step("verify (submission)", verify, w, submission)
    assert code == 0 and doc["kind"] == "submission", err
    assert step("report (submission)", report, w, submission)[0] == 0
    gh.github(w.tokens["carol"]).get_repo(REG).get_pull(
        submission
    ).merge()  # the committee accepts it

    # The model owner requests the association: the test runs in containers.
    code, out, err = step(
        "associate",
        run,
        w.tokens["alice"],
        "associate",
        "--registry",
        REG,
        "--benchmark",
        BENCH,
        "--mlcube",
        MODEL,
        "--yes",
        "--quiet",
    )
    assert code == 0, err
    request = int(out.strip().rsplit("/", 1)[1])

    # The registry's workflows: verify re-runs the test, report comments and labels.
    code, _, err, doc = step("verify", verify, w, request)
    assert code == 0 and doc["passed"], err
    assert step("report", report, w, request)[0] == 0
    assert labels(w, request) == {"medperf/pending", "medperf/verified"}

    # A committee member approves.
    add_label(w, request, "medperf/approved", "carol")
    code, out, err = step("on-label", on_label, w, request, "medperf/approved", "carol")
    assert code == 0, out + err
    approved = main_file(w)
    assert approved["status"] == "APPROVED" and approved["approved_by"] == "carol"

    code, out, err = step(
        "association ls",
        run,
        w.tokens["alice"],
        "association",
        "ls",
        "--registry",
        REG,
        "--format",
        "json",
    )
    assert code == 0, err
    rows = json.loads(out)["associations"]
    assert [(r["benchmark"], r["mlcube"], r["status"]) for r in rows] == [
        (BENCH, MODEL, "APPROVED")
    ]

    for name, counter in calls.items():
        print(f"[whole flow] {name}: {sum(counter.values())} REST calls {dict(counter)}")
    assert sum(calls["submit"].values()) <= 20
    assert sum(calls["associate"].values()) <= 30
