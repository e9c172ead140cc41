"""`medperf-action registry verify | report | on-label`: the registry's own workflows.

Against the GitHub test server (every request and answer checked against GitHub's OpenAPI
description) and real Docker: the candidate is the example model, packaged and published
as release assets, and the benchmark's three cubes and demo dataset are published the same
way, so the registry holds only URLs and SHA-256s, as a real one does. The event payloads
are GitHub's own examples (@octokit/webhooks-examples, pinned), with only the fields a
scenario needs changed.

Docker runs twice for real: once per module (the requester's honest run, which gives the
request its summary and metrics) and once in the whole-flow scenario, where the registry's
re-run starts from an empty cache; the other scenarios' re-runs hit the step cache.
"""

from __future__ import annotations

import copy
import json
import re
from collections import Counter
from pathlib import Path

import pytest
import webhook_events
import yaml
from registry_world import (
    BENCH,
    MODEL,
    REG,
    Stage,
    World,
    add_label,
    build_world,
    cached_stage,
    comments,
    default_pins,
    labels,
    main_file,
    on_label,
    report,
    verify,
)

from medperf_action.adapters.ci import load_event
from medperf_action.domain.metrics import same
from medperf_action.domain.registry.config import RegistryConfig
from medperf_action.domain.registry.layout import VERIFY_MARKER, association_path
from medperf_action.usecases.registry.artifact import schema_errors
from medperf_action.usecases.registry.checks import summary_problems

pytestmark = pytest.mark.docker

BRANCH = f"medperf/associate/{BENCH}/{MODEL}"
PENDING, APPROVED, REJECTED = "medperf/pending", "medperf/approved", "medperf/rejected"
VERIFIED, FAILED = "medperf/verified", "medperf/verification-failed"
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


# ---------------------------------------------------------------------------------------
# Set-up: once per module (packaging, the honest run), then a fresh server per test


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory, docker_client, oci_registry: str):
    yield from cached_stage(tmp_path_factory.mktemp("registry-ops"), oci_registry)


@pytest.fixture
def world(github_server, monkeypatch, stage: Stage, tmp_path: Path) -> World:
    return build_world(github_server, monkeypatch, stage, tmp_path)


def open_pr(w: World, author: str, branch: str, files: dict[str, str], body: str) -> int:
    gh = w.gh
    fork = f"{author}/registry"
    with gh.lock:
        gh.repo(fork).refs[f"refs/heads/{branch}"] = gh.repo(REG).refs["refs/heads/main"]
    gh.commit(fork, files, branch=branch, author=author, message="request")
    pull = (
        gh.github(w.tokens[author])
        .get_repo(REG)
        .create_pull(base="main", head=f"{author}:{branch}", title=branch, body=body)
    )
    return pull.number


def association(
    w: World, author: str, metrics: dict | None = None, summary: dict | None = None
) -> str:
    doc = {
        "benchmark": BENCH,
        "mlcube": MODEL,
        "status": "PENDING",
        "initiated_by": author,
        "created_at": "2026-11-29T04:00:00Z",
        "result": {"passed": True, "metrics": metrics if metrics is not None else w.honest},
        "summary": summary if summary is not None else w.stage.summary,
    }
    return yaml.safe_dump(doc, sort_keys=False)


def open_request(
    w: World,
    metrics: dict | None = None,
    extra: dict | None = None,
    summary: dict | None = None,
) -> int:
    marker = f"<!-- medperf-action:association benchmark={BENCH} mlcube={MODEL} -->"
    files = {
        association_path(BENCH, MODEL): association(w, w.owner, metrics, summary),
        **(extra or {}),
    }
    number = open_pr(w, w.owner, BRANCH, files, f"Associate {MODEL}.\n\n{marker}")
    add_label(w, number, PENDING, "registry-bot")
    return number


def main_log(w: World) -> list[str]:
    gh = w.gh
    tip = gh.repo(REG).refs["refs/heads/main"]
    return [gh.world.git.commits[sha].message for sha in gh.world.git.ancestors(tip)]


# ---------------------------------------------------------------------------------------
# The whole flow


def test_honest_request_is_verified_reported_and_approved(
    world: World, capsys, monkeypatch, tmp_path: Path
) -> None:
    w, gh = world, world.gh
    number = open_request(w)
    # An empty cache: the registry's re-run really runs every container again.
    monkeypatch.setenv("MEDPERF_ACTION_CACHE", str(tmp_path / "empty-cache"))
    calls: dict[str, Counter] = {}

    gh.reset_counters()
    actions = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "GITHUB_OUTPUT": str(tmp_path / "output"),
    }
    code, stdout, stderr, doc = verify(w, number, actions)
    assert code == 0, stdout + stderr
    assert gh.writes == 0  # a read-only token is enough
    assert "| auc |" in (tmp_path / "summary.md").read_text()
    assert "passed=true" in (tmp_path / "output").read_text()
    assert "::group::medperf-action registry verify" in stdout
    calls["verify"] = Counter(gh.calls)
    assert schema_errors(doc) == []
    assert doc["passed"] and doc["kind"] == "association" and doc["pr"] == number
    assert doc["head_sha"] == gh.repo(REG).issues[number].pull.head_sha
    # What ran, by hash: the candidate and the benchmark's three, as the registry pins them.
    assert doc["pins"] == default_pins(w) and len(doc["pins"]) == 4
    assert doc["pins"][MODEL]["image"] == {"reference": w.stage.references[MODEL]}
    assert [c["name"] for c in doc["checks"]] == [
        "allowed-changes",
        "schema",
        "rules",
        "rerun",
        "metrics",
    ]
    rows = {r["metric"]: r for r in doc["metrics"]}
    assert rows["auc"]["verified"] == pytest.approx(w.honest["auc"]) and rows["auc"]["passed"]
    assert "| auc |" in stdout and "passed ✅" in stdout
    assert (w.tmp / f"verify-{number}" / "report.md").read_text().strip() in stdout

    for run in range(2):  # a second run updates the one comment
        gh.reset_counters()
        code, stdout, stderr = report(w, number)
        assert code == 0, stdout + stderr
        calls[f"report{run or ''}"] = Counter(gh.calls)
    assert "verification passed" in stdout
    assert labels(w, number) == {PENDING, VERIFIED}
    [comment] = comments(w, number)
    assert comment.startswith(VERIFY_MARKER + "\n")
    assert "| auc |" in comment

    add_label(w, number, APPROVED, "carol")
    gh.reset_counters()
    code, stdout, stderr = on_label(w, number, APPROVED, "carol")
    assert code == 0, stdout + stderr
    calls["on-label"] = Counter(gh.calls)
    assert stdout.startswith("approved:")
    issue = gh.repo(REG).issues[number]
    assert issue.state == "closed" and issue.pull.merged_at is not None
    approved = main_file(w)
    assert approved["status"] == "APPROVED" and approved["approved_by"] == "carol"
    assert TIMESTAMP.match(approved["approved_at"])
    # The approval records what was verified: the request, its head, the pins.
    assert approved["verified"] == {
        "pr": number,
        "commit": issue.pull.head_sha,
        "mlcubes": doc["pins"],
    }
    assert labels(w, number) == {VERIFIED, APPROVED}

    gh.reset_counters()  # the same event again: nothing left to do
    code, stdout, _ = on_label(w, number, APPROVED, "carol")
    assert code == 0 and stdout.startswith("done:") and gh.writes == 0
    assert len(comments(w, number)) == 1
    assert sum(m.startswith("Approve the association") for m in main_log(w)) == 1

    with capsys.disabled():
        for name, counter in calls.items():
            print(f"\n[registry {name}] {sum(counter.values())} REST calls: {dict(counter)}")


def test_tampered_auc_fails_verification_and_blocks_approval(world: World) -> None:
    w = world
    number = open_request(w, metrics={**w.honest, "auc": w.honest["auc"] + 0.01})
    code, stdout, _, doc = verify(w, number)
    assert code == 1 and not doc["passed"]
    [row] = [r for r in doc["metrics"] if not r["passed"]]
    assert row["metric"] == "auc" and row["reported"] == pytest.approx(w.honest["auc"] + 0.01)
    assert row["verified"] == pytest.approx(w.honest["auc"])
    metrics = next(c for c in doc["checks"] if c["name"] == "metrics")
    assert "auc: reported" in metrics["detail"] and "the re-run gave" in metrics["detail"]
    assert "failed ❌" in stdout

    code, stdout, _ = report(w, number)
    assert code == 0 and "verification failed" in stdout
    assert labels(w, number) == {PENDING, FAILED}

    add_label(w, number, APPROVED, "carol")  # a committee member tries anyway
    code, stdout, _ = on_label(w, number, APPROVED, "carol")
    assert code == 0 and stdout.startswith("refused:")
    assert labels(w, number) == {PENDING, FAILED}
    assert w.gh.repo(REG).issues[number].state == "open" and main_file(w) is None
    assert any("not reproduced" in c for c in comments(w, number))


def test_inflated_summary_fails_verification_naming_the_fields(world: World) -> None:
    """Honest numbers in `result`, inflated ones in the summary (shown in the PR, committed
    on approval): the summary must say what the request says."""
    w = world
    summary = copy.deepcopy(w.stage.summary)
    summary["metrics"]["candidate"]["auc"] = 0.999
    summary["cubes"]["candidate"]["id"] = "breast-cancer-lr"
    number = open_request(w, summary=summary)
    code, stdout, _, doc = verify(w, number)
    assert code == 1 and not doc["passed"], stdout
    rules = next(c for c in doc["checks"] if c["name"] == "rules")
    assert not rules["passed"]
    assert "summary.metrics.candidate differs from result.metrics (auc)" in rules["detail"]
    assert "summary.cubes.candidate.id is 'breast-cancer-lr'" in rules["detail"]
    # the reported result itself is honest: the re-run reproduces it
    assert next(c for c in doc["checks"] if c["name"] == "metrics")["passed"]

    code, stdout, _ = report(w, number)
    assert code == 0 and "verification failed" in stdout
    assert labels(w, number) == {PENDING, FAILED}


def test_a_stranger_cannot_block_a_pair(world: World) -> None:
    """A PR carrying the pair's marker, opened by somebody who does not own the mlcube, is
    not a request for the pair: the owner's request is verified as if it were not there."""
    w, gh = world, world.gh
    gh.fork(REG, "mallory")
    marker = f"<!-- medperf-action:association benchmark={BENCH} mlcube={MODEL} -->"
    files = {association_path(BENCH, MODEL): association(w, "mallory")}
    squat = open_pr(w, "mallory", BRANCH, files, f"Mine now.\n\n{marker}")
    add_label(w, squat, PENDING, "registry-bot")
    number = open_request(w)
    code, stdout, stderr, doc = verify(w, number)
    assert code == 0 and doc["passed"], stdout + stderr
    rules = next(c for c in doc["checks"] if c["name"] == "rules")
    assert "another request" not in rules["detail"]

    # The squatter's own PR is no request of the owner's either.
    code, _, _, doc = verify(w, squat)
    rules = next(c for c in doc["checks"] if c["name"] == "rules")
    assert code == 1 and f"belongs to {w.owner}; only its owner" in rules["detail"]


def test_summary_problems_name_each_field() -> None:
    entry = {
        "result": {"passed": True, "metrics": {"auc": 0.9, "f1": {"macro": 0.5}}},
        "summary": {
            "passed": False,
            "benchmark": {"id": "other"},
            "cubes": {"candidate": {"id": "m"}},
            "metrics": {"candidate": {"auc": 0.9, "f1": {"macro": 0.6}, "extra": 1}},
        },
    }
    problems = summary_problems(entry, "b", "m")
    assert problems == [
        "summary.metrics.candidate differs from result.metrics (f1.macro, extra): the summary "
        "must report the metrics the request reports",
        "summary.passed is False, but result.passed is True",
        "summary.benchmark.id is 'other', but the request is for the benchmark 'b'",
    ]
    honest = {
        "result": {"passed": True, "metrics": {"auc": float("nan")}},
        "summary": {
            "passed": True,
            "benchmark": {"id": "b"},
            "cubes": {"candidate": {"id": "m"}},
            "metrics": {"candidate": {"auc": float("nan")}},
        },
    }
    assert summary_problems(honest, "b", "m") == []
    # no summary at all (the schema refuses that first): nothing names the request's pair
    assert summary_problems({}, "b", "m") == [
        "summary.cubes.candidate.id is None, but the request is for the mlcube 'm'",
        "summary.benchmark.id is None, but the request is for the benchmark 'b'",
    ]


def test_tolerance_is_absolute_plus_relative() -> None:
    """registry.schema.json: |a - b| <= absolute + relative * |b| (not the larger of the two)."""
    config = RegistryConfig.from_data({"metric_tolerance": {"absolute": 0.01, "relative": 0.1}})
    assert config.within_tolerance(1.105, 1.0)  # 0.105 <= 0.01 + 0.1
    assert not config.within_tolerance(1.115, 1.0)  # 0.115 > 0.11
    assert same(config, 0.895, 1.0) and not same(config, 0.885, 1.0)
    strict = RegistryConfig.from_data({"metric_tolerance": {"absolute": 0.0}})
    assert strict.within_tolerance(0.5, 0.5) and not strict.within_tolerance(0.5, 0.5 + 1e-12)


def test_whoami_for_the_registry_workflows(github_server, monkeypatch) -> None:
    from medperf_action.adapters.github.client import ACTIONS_BOT, connect, whoami
    from medperf_action.errors import GitHubError

    monkeypatch.setenv("GITHUB_API_URL", github_server.api_url)
    monkeypatch.setenv("MEDPERF_ACTION_GITHUB_PAUSES", "0")
    monkeypatch.delenv("MEDPERF_ACTION_BOT_LOGIN", raising=False)
    token = github_server.add_user("registry-bot")
    assert whoami(connect(token)) == "registry-bot"
    assert whoami(connect(token), actions_fallback=True) == "registry-bot"
    # a token GitHub will not say the user of (GITHUB_TOKEN): the Actions bot, or an error
    assert whoami(connect("not-a-token"), actions_fallback=True) == ACTIONS_BOT
    with pytest.raises(GitHubError, match=r"find the token's user .*401"):
        whoami(connect("not-a-token"))
    monkeypatch.setenv("MEDPERF_ACTION_BOT_LOGIN", "my-app[bot]")
    assert whoami(connect(token), actions_fallback=True) == "my-app[bot]"
    assert whoami(connect(token)) == "registry-bot"


def test_shared_helpers_have_one_definition() -> None:
    """One of each helper: every name below is defined once in the whole package."""
    import ast

    names = {
        "flatten",
        "md",
        "md_table",
        "table",
        "now_iso",
        "iso",
        "parse_time",
        "human_size",
        "show_value",
        "one_line",
        "dump_yaml",
        "load_event",
        "load_repo_config",
        "find_config",
        "whoami",
        "raise_errors",
        "cache_dir",
        "github_token",
        "registry_token",
        "sha256_file",
        "read_json_object",
        "replace_directory",
        "identify",
        "check_repo_name",
        "in_actions",
        "annotation",
        "set_output",
        "add_summary",
        "remove_label",
        "add_label",
        "add_labels",
    }
    found: dict[str, list[str]] = {}
    package = Path(__file__).resolve().parents[1] / "medperf_action"
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in names:
                found.setdefault(node.name, []).append(str(path.relative_to(package)))
    assert {n: where for n, where in found.items() if len(where) > 1} == {}
    assert set(found) == names


def test_load_event_is_clear_about_bad_files(tmp_path: Path) -> None:
    from medperf_action.errors import UsageError

    good = tmp_path / "event.json"
    good.write_text('{"action": "labeled"}')
    assert load_event(good) == {"action": "labeled"}
    for name, text, why in [
        ("broken.json", "{", "not a readable JSON event"),
        ("list.json", "[]", "not an event payload"),
    ]:
        (tmp_path / name).write_text(text)
        with pytest.raises(UsageError, match=f"GITHUB_EVENT_PATH .*{name}: {why}"):
            load_event(tmp_path / name, "GITHUB_EVENT_PATH")
    with pytest.raises(UsageError, match=r"--event .*missing\.json: not a readable JSON event"):
        load_event(tmp_path / "missing.json")


def test_faults_part_way_leave_one_comment_one_merge_one_commit(world: World) -> None:
    w, gh = world, world.gh
    number = open_request(w)
    assert verify(w, number)[0] == 0

    # The comment is posted, but the answer is lost: the command fails; a re-run finds it.
    gh.inject("POST", r"/issues/\d+/comments$", "drop_after")
    code, _, stderr = report(w, number)
    assert code == 4 and "Traceback" not in stderr
    assert report(w, number)[0] == 0
    assert len(comments(w, number)) == 1 and VERIFIED in labels(w, number)

    # The merge's answer is lost (the retried merge finds it done), then committing the
    # status fails for good: merged, still PENDING on main.
    add_label(w, number, APPROVED, "carol")
    gh.inject("PUT", r"/pulls/\d+/merge$", "drop_after")
    outage = gh.inject("PUT", r"/contents/", "status", count=50, status=502)
    code, _, stderr = on_label(w, number, APPROVED, "carol")
    assert code == 4 and "502" in stderr
    assert gh.repo(REG).issues[number].pull.merged_at is not None
    assert main_file(w)["status"] == "PENDING"

    # GitHub is back, but the status commit's answer is lost: the re-run still finishes.
    outage.remaining = 0
    gh.inject("PUT", r"/contents/", "drop_after")
    code, stdout, stderr = on_label(w, number, APPROVED, "carol")
    assert code == 0, stdout + stderr
    assert main_file(w)["status"] == "APPROVED"
    log = main_log(w)
    assert sum(m.startswith("Approve the association") for m in log) == 1
    assert sum(m.startswith(f"Associate {MODEL}") for m in log) == 1
    assert len(comments(w, number)) == 1 and PENDING not in labels(w, number)


def test_same_owner_policy_approves_at_report_time(
    github_server, monkeypatch, stage: Stage, tmp_path: Path
) -> None:
    w = build_world(github_server, monkeypatch, stage, tmp_path, owner="carol", policy="same-owner")
    number = open_request(w)
    assert verify(w, number)[0] == 0
    issue = w.gh.repo(REG).issues[number]
    event = webhook_events.load(
        "workflow_run",
        "completed",
        repository=REG,
        number=number,
        head_sha=issue.pull.head_sha,
        conclusion="success",
        event="pull_request",
    )
    path = tmp_path / "workflow_run.json"
    path.write_text(json.dumps(event))
    code, stdout, stderr = report(w, number, "--event", str(path))
    assert code == 0, stdout + stderr
    assert issue.state == "closed" and issue.pull.merged_at is not None
    approved = main_file(w)
    assert approved["status"] == "APPROVED" and approved["approved_by"] == "policy:same-owner"
    assert approved["verified"]["mlcubes"] == default_pins(w, approved["mlcube"])
    assert labels(w, number) == {VERIFIED, APPROVED}
    assert "approval policy (same-owner)" in comments(w, number)[0]


# ---------------------------------------------------------------------------------------
# Labels that may not stand (no container runs)


def test_outsider_self_and_unverified_approvals_are_removed_with_a_reason(
    github_server, monkeypatch, stage: Stage, tmp_path: Path
) -> None:
    w = build_world(github_server, monkeypatch, stage, tmp_path, owner="carol")
    number = open_request(w)  # carol, on the committee, asks for her own model

    cases = [
        ("mallory", "is not on it"),  # may label the repository, but is not on the committee
        ("carol", "never decides"),  # self-approval
        ("dave", "not verified yet"),  # on the committee through medperf/committee
    ]
    for n, (who, why) in enumerate(cases, 1):
        add_label(w, number, APPROVED, who)
        code, stdout, stderr = on_label(w, number, APPROVED, who)
        assert code == 0 and stdout.startswith("refused:"), stdout + stderr
        assert labels(w, number) == {PENDING}
        said = comments(w, number)
        assert len(said) == n and f"@{who}" in said[-1] and why in said[-1]
    assert w.gh.repo(REG).issues[number].state == "open" and main_file(w) is None

    w.gh.reset_counters()  # the event run again (the label is gone): nothing to do
    code, stdout, _ = on_label(w, number, APPROVED, "mallory")
    assert code == 0 and stdout.startswith("ignored:") and w.gh.writes == 0

    code, stdout, _ = on_label(w, number, "bug", "mallory")  # not a decision label
    assert code == 0 and stdout.startswith("ignored:")


def open_second_request(w: World) -> int:
    marker = f"<!-- medperf-action:association benchmark={BENCH} mlcube={MODEL} -->"
    files = {association_path(BENCH, MODEL): association(w, w.owner)}
    return open_pr(w, w.owner, f"{BRANCH}/2", files, f"Again.\n\n{marker}")


def test_rejection_closes_the_request_once_and_a_new_request_may_follow(world: World) -> None:
    w, gh = world, world.gh
    number = open_request(w)
    second = open_second_request(w)  # while the first is pending: refused
    code, _, _, doc = verify(w, second)
    rules = next(c for c in doc["checks"] if c["name"] == "rules")
    assert code == 1 and f"another request for this pair is open: #{number}" in rules["detail"]

    add_label(w, number, REJECTED, "carol")
    code, stdout, stderr = on_label(w, number, REJECTED, "carol")
    assert code == 0 and stdout.startswith("rejected:"), stdout + stderr
    issue = gh.repo(REG).issues[number]
    assert issue.state == "closed" and issue.pull.merged_at is None
    assert labels(w, number) == {REJECTED}  # closed + rejected: the listings' REJECTED
    assert len(comments(w, number)) == 1 and "Rejected by @carol" in comments(w, number)[0]
    assert main_file(w) is None

    gh.reset_counters()
    code, stdout, _ = on_label(w, number, REJECTED, "carol")
    assert code == 0 and stdout.startswith("done:") and gh.writes == 0
    assert len(comments(w, number)) == 1

    code, stdout, stderr, doc = verify(w, second)  # after a rejection, a new request is fine
    assert code == 0 and doc["passed"], stdout + stderr


# ---------------------------------------------------------------------------------------
# What verify refuses, and artifacts report refuses


def test_verify_refuses_a_request_that_touches_a_workflow_and_report_checks_again(
    world: World,
) -> None:
    w = world
    number = open_request(w, extra={".github/workflows/x.yml": "on: push\njobs: {}\n"})
    code, stdout, _, doc = verify(w, number)
    assert code == 1 and not doc["passed"]
    changes = next(c for c in doc["checks"] if c["name"] == "allowed-changes")
    assert not changes["passed"] and ".github/workflows/x.yml" in changes["detail"]
    assert next(c for c in doc["checks"] if c["name"] == "rerun")["detail"].startswith("not run")

    # A forged artifact claims success (a modified workflow could upload anything): the
    # privileged side checks the changed files itself.
    forged = w.tmp / "forged"
    forged.mkdir()
    doc["passed"] = True
    doc["checks"] = [dict(c, passed=True) for c in doc["checks"]]
    (forged / "report.json").write_text(json.dumps(doc))
    code, stdout, _ = report(w, number, folder=forged)
    assert code == 0 and "verification failed" in stdout
    assert labels(w, number) == {PENDING, FAILED}
    assert "Checked again by the registry" in comments(w, number)[0]


def test_verify_checks_submissions_and_committee_changes(world: World) -> None:
    w = world
    entry = yaml.safe_load(w.gh.read_file(REG, f"mlcubes/{MODEL}.yaml"))
    fresh = dict(entry, id="wdbc-centroid-2", name="Centroid, again")
    good = open_pr(
        w,
        "alice",
        "medperf/submit/wdbc-centroid-2",
        {"mlcubes/wdbc-centroid-2.yaml": yaml.safe_dump(fresh)},
        "<!-- medperf-action:submission mlcube=wdbc-centroid-2 -->",
    )
    code, stdout, stderr, doc = verify(w, good)
    assert code == 0, stdout + stderr
    assert doc["kind"] == "submission" and doc["mlcube"] == "wdbc-centroid-2"
    assets = next(c for c in doc["checks"] if c["name"] == "assets")
    assert assets["passed"] and "3 asset(s)" in assets["detail"]

    bad_sha = dict(fresh, id="wdbc-centroid-3")
    bad_sha["assets"] = dict(
        fresh["assets"], parameters=dict(fresh["assets"]["parameters"], sha256="0" * 64)
    )
    tampered = open_pr(
        w,
        "alice",
        "medperf/submit/wdbc-centroid-3",
        {"mlcubes/wdbc-centroid-3.yaml": yaml.safe_dump(bad_sha)},
        "",
    )
    code, _, _, doc = verify(w, tampered)
    assets = next(c for c in doc["checks"] if c["name"] == "assets")
    assert code == 1 and not assets["passed"] and "assets.parameters" in assets["detail"]
    assert "not what its SHA-256 names" in assets["detail"]
    # What the remote page served is not echoed into the registry's comment.
    served = fresh["assets"]["parameters"]["sha256"]
    assert served not in json.dumps(doc) and "0" * 64 not in assets["detail"]

    lr = yaml.safe_load(w.gh.read_file(REG, "mlcubes/breast-cancer-lr.yaml"))
    takeover = open_pr(
        w,
        "alice",
        "medperf/submit/breast-cancer-lr",
        {"mlcubes/breast-cancer-lr.yaml": yaml.safe_dump(dict(lr, owner="alice"))},
        "",
    )
    code, _, _, doc = verify(w, takeover)
    rules = next(c for c in doc["checks"] if c["name"] == "rules")
    assert code == 1 and not rules["passed"] and "held by 'carol'" in rules["detail"]

    committee = open_pr(
        w, "alice", "policy", {"registry.yaml": "name: mine\ncommittee: {users: [alice]}\n"}, ""
    )
    code, stdout, _, doc = verify(w, committee)
    assert code == 1 and doc["kind"] == "other"
    assert "not a request medperf-action verifies" in doc["checks"][0]["detail"]


def _artifact(w: World, number: int, folder: str, **changes) -> Path:
    issue = w.gh.repo(REG).issues[number]
    doc = {
        "schema_version": 1,
        "tool": {"name": "medperf-action", "version": "0.1.0"},
        "registry": REG,
        "pr": number,
        "head_sha": issue.pull.head_sha,
        "author": w.owner,
        "kind": "association",
        "benchmark": BENCH,
        "mlcube": MODEL,
        "checks": [{"name": "metrics", "passed": True, "detail": "reproduced"}],
        "metrics": [{"metric": "auc", "reported": 0.97, "verified": 0.97, "passed": True}],
        "pins": default_pins(w),
        "passed": True,
        **changes,
    }
    path = w.tmp / folder
    path.mkdir()
    (path / "report.json").write_text(json.dumps(doc))
    return path


def test_report_refuses_untrusted_artifacts(world: World) -> None:
    w, gh = world, world.gh
    number = open_request(w)

    bad = _artifact(w, number, "bad-schema", evil="<img src=x>")
    code, _, stderr = report(w, number, folder=bad)
    assert code == 1 and "does not match schemas/verify-report.schema.json" in stderr
    assert labels(w, number) == {PENDING, FAILED}
    assert "<img" not in comments(w, number)[0]

    other = _artifact(w, number, "other-pr", pr=number + 1)
    code, _, stderr = report(w, number, folder=other)
    assert code == 1 and f"about #{number + 1}, not #{number}" in stderr
    assert labels(w, number) == {PENDING, FAILED} and len(comments(w, number)) == 1

    gh.reset_counters()  # a report about an older head: refused, and nothing changes
    stale = _artifact(w, number, "stale", head_sha="0" * 40)
    code, stdout, _ = report(w, number, folder=stale)
    assert code == 0 and "stale" in stdout and gh.writes == 0

    # A fork's PR: GitHub leaves workflow_run.pull_requests empty; the PR is found by head.
    issue = gh.repo(REG).issues[number]
    event = webhook_events.load(
        "workflow_run",
        "completed",
        repository=REG,
        head_repo=issue.pull.head_repo,
        head_branch=issue.pull.head_ref,
        head_sha=issue.pull.head_sha,
        conclusion="success",
        event="pull_request",
    )
    assert event["workflow_run"]["pull_requests"] == []
    path = w.tmp / "fork-run.json"
    path.write_text(json.dumps(event))
    honest = _artifact(w, number, "honest")
    code, stdout, stderr = report(w, number, "--event", str(path), folder=honest)
    assert code == 0 and f"#{number}: verification passed" in stdout, stdout + stderr
    assert labels(w, number) == {PENDING, VERIFIED} and len(comments(w, number)) == 1


def test_webhook_examples_are_the_pinned_package() -> None:
    assert webhook_events.version() == "7.6.1"
    event = webhook_events.load("pull_request", "labeled", number=9, sender="x", label="y")
    assert event["pull_request"]["number"] == 9 and event["label"]["name"] == "y"
    for name, action in [
        ("pull_request", "opened"),
        ("pull_request", "synchronize"),
        ("push", None),
        ("workflow_dispatch", None),
        ("workflow_run", "completed"),
    ]:
        assert webhook_events.load(name, action, repository="o/r")["repository"]["full_name"] == (
            "o/r"
        )


def test_github_failing_on_the_default_branch_is_a_failed_check_in_a_report(
    world: World,
) -> None:
    """verify still writes its report when GitHub fails to give it the registry's default
    branch (its snapshot): a failed check that says why, and nothing else is checked or
    re-run."""
    w, gh = world, world.gh
    number = open_request(w)
    gh.inject("GET", r"/tarball/", "status", count=50, status=502)
    code, _, stderr, doc = verify(w, number)
    assert code == 1 and doc and not doc["passed"], stderr
    checks = {c["name"]: c for c in doc["checks"]}
    assert list(checks) == ["registry"]
    assert "could not be read" in checks["registry"]["detail"]
    assert "502" in checks["registry"]["detail"]


def test_a_metric_without_a_name_is_reported_not_a_crash() -> None:
    """A request may report a metric whose name is empty: the report names it so, and
    stays valid for the privileged reader."""
    from medperf_action.domain.metrics import compare

    rows, passed, _ = compare(RegistryConfig(), {"": 0.5, "auc": 0.9}, {"auc": 0.9})
    assert not passed and [r["metric"] for r in rows] == ["(no name)", "auc"]
    doc = {
        "schema_version": 1,
        "tool": {"name": "medperf-action", "version": "0.1.0"},
        "registry": REG,
        "pr": 1,
        "head_sha": "a" * 40,
        "author": "alice",
        "kind": "association",
        "benchmark": BENCH,
        "mlcube": MODEL,
        "checks": [{"name": "metrics", "passed": False, "detail": "x"}],
        "metrics": rows,
        "passed": False,
        "created_at": "2026-12-01T00:00:00Z",
    }
    assert schema_errors(doc) == []
