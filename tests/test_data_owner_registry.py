"""The registry's side of the data owners' files (issue 13): `registry verify`, `report`
and `on-label` on PRs that add datasets/ID.yaml, dataset-associations/B/D.yaml and
results/B/M/D.yaml.

Played against the GitHub test server (every request checked against GitHub's OpenAPI
description). No Docker: the registry cannot re-run anything on a site's private data, so
these requests are checked for consistency only, and verify never reaches the engine
(`DOCKER_HOST` points nowhere here). Each attack names the rule that stops it, and asserts
that rule's own words: without the rule, the request passes or fails for another reason,
and the test fails.

The world: the benchmark `breast-cancer` (cubes prep, ref, metrics, all carol's) and two
models with approved associations (cube-0000, alice; cube-0001, bob) from
tests/big_registry.py, plus `unassociated` (alice, no association). Two sites: site-a's
dataset is registered and associated (APPROVED); site-b's is registered only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import registry_world
import webhook_events
import yaml
from actions_runner import ActionResult, run_action
from big_registry import BENCH, HEX64, mlcube_doc, open_request, registry_files
from conftest import LOCAL_PYTHON, REPO, VENV_PREFIX
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from registry_world import REG

from medperf_action.adapters.sealing import private_key, seal, unseal
from medperf_action.domain.registry.layout import (
    dataset_association_marker,
    dataset_association_path,
    dataset_marker,
    dataset_path,
    result_marker,
    result_path,
)
from medperf_action.domain.registry.pins import pin_of
from medperf_action.domain.registry.requests import analyse
from medperf_action.domain.schemas import plain_errors
from medperf_action.errors import SealingError

APPROVED, REJECTED = "medperf/approved", "committee/rejected"
PENDING, VERIFIED, FAILED = "committee/pending", "medperf/verified", "medperf/verification-failed"
DATA_A, DATA_B, LABELS = "1" * 64, "2" * 64, "3" * 64
USERS = ("carol", "alice", "bob", "site-a", "site-b", "registry-bot", "reader")


# ---------------------------------------------------------------------------------------
# The files, as the site's commands write them


def cube_doc(ident: str) -> dict[str, Any]:
    """An mlcube's entry as the registry holds it (`registry_files`)."""
    owners = {"prep": "carol", "ref": "carol", "metrics": "carol", "cube-0001": "bob"}
    return mlcube_doc(ident, owners.get(ident, "alice"))


def ran(ident: str) -> dict[str, Any]:
    """A cube as the site ran it: its id, image ID, and the pin its registry entry gave."""
    return {"id": ident, "image_id": f"sha256:{HEX64}", "pin": pin_of(cube_doc(ident))}


def dataset_doc(d: str, owner: str, data: str = DATA_A, **extra: Any) -> dict[str, Any]:
    doc = {
        "id": d,
        "name": f"Dataset {d}",
        "owner": owner,
        "data_preparator": "prep",
        "prepared": {"data_sha256": data, "labels_sha256": LABELS, "num_cases": 120},
        "statistics": {"num_cases": 120, "positive_fraction": 0.37},
        "created_at": "2026-11-30T09:00:00Z",
    }
    return {**doc, **extra}


def association_doc(d: str, owner: str, status: str = "PENDING", **compat: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "benchmark": BENCH,
        "dataset": d,
        "status": status,
        "initiated_by": owner,
        "created_at": "2026-11-30T09:10:00Z",
    }
    if status == "APPROVED":
        doc.update(approved_by="carol", approved_at="2026-11-30T10:00:00Z")
    doc["compatibility"] = {
        "passed": True,
        "data_sha256": DATA_A if d == "site-a-wdbc" else DATA_B,
        "reference_model": ran("ref"),
        "evaluator": ran("metrics"),
        "metrics": {"auc": 0.97},
        "finished_at": "2026-11-30T09:09:00Z",
        **compat,
    }
    return doc


def result_doc(m: str, d: str = "site-a-wdbc", by: str = "site-a", **extra: Any) -> dict[str, Any]:
    doc = {
        "benchmark": BENCH,
        "model": m,
        "dataset": d,
        "submitted_by": by,
        "run_id": "3f2a9c0d1e4b",
        "metrics": {"auc": 0.95, "accuracy": 0.93},
        "data_sha256": DATA_A,
        "num_cases": 120,
        "model_cube": ran(m),
        "evaluator": ran("metrics"),
        "started_at": "2026-11-30T11:00:00Z",
        "finished_at": "2026-11-30T11:00:04Z",
        "timings": {"infer_s": 1.2, "evaluate_s": 0.4, "total_s": 3.9},
        "tool": {"name": "medperf-action", "version": "0.1.0"},
    }
    return {**doc, **extra}


def dump(doc: dict[str, Any]) -> str:
    return yaml.safe_dump(doc, sort_keys=False)


# ---------------------------------------------------------------------------------------
# The world, and the registry's commands as its workflows run them


class World:
    def __init__(self, gh: Any, tmp: Path) -> None:
        self.gh, self.tmp = gh, tmp
        self.tokens = {u: gh.add_user(u) for u in USERS}
        gh.add_org("medperf", {"carol": "admin"})
        files = registry_files(2)
        files["mlcubes/unassociated.yaml"] = dump(cube_doc("unassociated"))
        files[dataset_path("site-a-wdbc")] = dump(dataset_doc("site-a-wdbc", "site-a"))
        files[dataset_path("site-b-wdbc")] = dump(dataset_doc("site-b-wdbc", "site-b", DATA_B))
        path = dataset_association_path(BENCH, "site-a-wdbc")
        files[path] = dump(association_doc("site-a-wdbc", "site-a", "APPROVED"))
        gh.create_repo(REG, files)
        gh.add_collaborator(REG, "carol", "admin")
        gh.add_collaborator(REG, "registry-bot", "write")
        gh.add_collaborator(REG, "alice", "triage")  # may label, not on the committee
        self.branches = 0

    def pr(self, by: str, files: dict[str, str | None], body: str = "") -> int:
        self.branches += 1
        client = self.gh.github(self.tokens[by])
        branch = f"medperf/data/{self.branches}"
        return open_request(self.gh, client, REG, by, branch, files, body)

    def main(self, path: str) -> dict[str, Any] | None:
        data = self.gh.read_file(REG, path, ref="main")
        return None if data is None else yaml.safe_load(data)

    def labels(self, number: int) -> set[str]:
        return set(self.gh.repo(REG).issues[number].labels)

    def label(self, number: int, name: str, by: str) -> None:
        self.gh.github(self.tokens[by]).get_repo(REG).get_issue(number).add_to_labels(name)


@pytest.fixture
def world(github_server: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> World:
    monkeypatch.setenv("GITHUB_API_URL", github_server.api_url)
    monkeypatch.setenv("MEDPERF_ACTION_GITHUB_PAUSES", "0")
    monkeypatch.setenv("MEDPERF_ACTION_CACHE", str(tmp_path / "cache"))
    # Nothing here may start a container: an engine that is not there says so at once.
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    for name in ("GITHUB_ACTIONS", "GITHUB_TOKEN", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("MEDPERF_ACTION_BOT_LOGIN", raising=False)
    return World(github_server, tmp_path)


def verify(w: World, number: int) -> tuple[int, dict[str, Any]]:
    code, stdout, stderr, doc = registry_world.verify(w, number)
    assert code == (0 if doc["passed"] else 1), stdout + stderr
    return code, doc


def rules(w: World, number: int) -> str:
    """verify's `rules` check of a request that must fail: its detail."""
    code, doc = verify(w, number)
    found = {c["name"]: c for c in doc["checks"]}
    assert code == 1 and not found["rules"]["passed"], doc
    return str(found["rules"]["detail"])


def report(w: World, number: int) -> tuple[int, str]:
    code, stdout, stderr = registry_world.report(w, number)
    return code, stdout + stderr


def on_label(w: World, number: int, label: str, sender: str) -> tuple[int, str]:
    code, stdout, stderr = registry_world.on_label(w, number, label, sender)
    return code, stdout + stderr


def passes(w: World, number: int) -> dict[str, Any]:
    code, doc = verify(w, number)
    assert code == 0 and doc["passed"], doc["checks"]
    return doc


# ---------------------------------------------------------------------------------------
# What a data owner's PR may change


class Changed:
    def __init__(self, path: str, status: str = "added", previous: str | None = None) -> None:
        self.path, self.status, self.previous = path, status, previous


def test_a_data_owners_request_changes_exactly_one_of_their_files() -> None:
    ds, da = dataset_path("d"), dataset_association_path("b", "d")
    res = result_path("b", "m", "d")
    req = analyse([Changed(ds)], "main", "main")
    assert (req.kind, req.dataset, req.allowed) == ("dataset", "d", True)
    assert analyse([Changed(ds, "modified")], "main", "main").allowed
    req = analyse([Changed(da)], "main", "main")
    assert (req.kind, req.benchmark, req.dataset, req.allowed) == (
        "dataset-association",
        "b",
        "d",
        True,
    )
    req = analyse([Changed(res)], "main", "main")
    assert (req.kind, req.ids, req.allowed) == ("result", ("b", "m", "d"), True)
    # two files, .github/, a decided association changed, a released result changed/removed
    both = analyse([Changed(ds), Changed(res)], "main", "main")
    assert "a result changes exactly one file" not in " ".join(both.problems)
    assert not both.allowed and "also changes results/b/m/d.yaml" in both.problems[0]
    hook = analyse([Changed(ds), Changed(".github/workflows/x.yml")], "main", "main")
    assert any("never changes .github/" in p for p in hook.problems)
    assert not analyse([Changed(da, "modified")], "main", "main").allowed
    for status in ("modified", "removed"):
        problems = analyse([Changed(res, status)], "main", "main").problems
        assert problems == [
            f"{res} is {status}; a request added it: a released result is never changed or removed"
        ]


# ---------------------------------------------------------------------------------------
# datasets/ID.yaml


def test_a_site_registers_and_updates_its_own_dataset(world: World) -> None:
    w = world
    new = w.pr(
        "site-b",
        {dataset_path("site-b-2"): dump(dataset_doc("site-b-2", "site-b"))},
        dataset_marker("site-b-2"),
    )
    doc = passes(w, new)
    assert (doc["kind"], doc["dataset"], doc["benchmark"], doc["mlcube"]) == (
        "dataset",
        "site-b-2",
        None,
        None,
    )
    # an update of a dataset with no approved association: its data may still change
    update = dataset_doc("site-b-wdbc", "site-b", "4" * 64, description="More cases.")
    passes(w, w.pr("site-b", {dataset_path("site-b-wdbc"): dump(update)}))
    # an approved one's description may change, not its data
    described = dataset_doc("site-a-wdbc", "site-a", description="Fine-needle aspirates.")
    passes(w, w.pr("site-a", {dataset_path("site-a-wdbc"): dump(described)}))


def test_nobody_registers_a_dataset_in_another_owners_name_or_takes_one_over(
    world: World,
) -> None:
    w = world
    fake = w.pr("bob", {dataset_path("site-c"): dump(dataset_doc("site-c", "site-a"))})
    assert "owner is 'site-a', but the PR was opened by bob" in rules(w, fake)
    # the owner of an id never changes, and only the owner updates it
    taken = w.pr(
        "site-b", {dataset_path("site-a-wdbc"): dump(dataset_doc("site-a-wdbc", "site-b"))}
    )
    assert "the id site-a-wdbc is held by 'site-a' on the default branch" in rules(w, taken)
    given = w.pr("site-a", {dataset_path("site-a-wdbc"): dump(dataset_doc("site-a-wdbc", "bob"))})
    detail = rules(w, given)
    assert "owner is 'bob', but the PR was opened by site-a" in detail
    assert "held by 'site-a'" in detail


def test_a_dataset_names_a_registered_data_preparator(world: World) -> None:
    w = world
    for prep, why in (("nowhere", "is not a registered mlcube"), ("ref", "has role 'model'")):
        doc = dataset_doc("site-b-3", "site-b", data_preparator=prep)
        assert f"data_preparator {prep} {why}" in rules(
            w, w.pr("site-b", {dataset_path("site-b-3"): dump(doc)})
        )


def test_an_approved_datasets_prepared_data_is_frozen(world: World) -> None:
    """site-a's dataset has an APPROVED association: results are compared with its hash,
    so swapping the data under its id would make every result say something else."""
    w = world
    swapped = dataset_doc("site-a-wdbc", "site-a", "5" * 64)
    detail = rules(w, w.pr("site-a", {dataset_path("site-a-wdbc"): dump(swapped)}))
    assert f"dataset site-a-wdbc has an APPROVED association with {BENCH}" in detail
    assert "this update changes prepared: new data is a new dataset id" in detail


def test_a_dataset_file_must_match_its_place(world: World) -> None:
    w = world
    doc = dataset_doc("other-id", "site-b")
    code, report_doc = verify(w, w.pr("site-b", {dataset_path("site-b-4"): dump(doc)}))
    schema = next(c for c in report_doc["checks"] if c["name"] == "schema")
    assert code == 1 and "the id does not match the file's place" in schema["detail"]


# ---------------------------------------------------------------------------------------
# dataset-associations/B/D.yaml


def associate(w: World, by: str, d: str, doc: dict[str, Any]) -> int:
    path = dataset_association_path(BENCH, d)
    return w.pr(by, {path: dump(doc)}, dataset_association_marker(BENCH, d))


def test_an_honest_dataset_association_is_verified_reported_and_approved(world: World) -> None:
    w = world
    number = associate(w, "site-b", "site-b-wdbc", association_doc("site-b-wdbc", "site-b"))
    doc = passes(w, number)
    assert doc["metrics"] == [] and "pins" not in doc  # nothing was re-run
    code, text = report(w, number)
    assert code == 0 and "verification passed" in text, text
    assert {VERIFIED, PENDING} <= w.labels(number)
    comment = next(c.body for c in w.gh.repo(REG).comments.values() if c.issue_number == number)
    assert "cannot re-run it on private data" in comment
    w.label(number, APPROVED, "carol")
    code, text = on_label(w, number, APPROVED, "carol")
    assert code == 0 and text.startswith("approved:"), text
    assert w.gh.repo(REG).issues[number].pull.merged_at is not None
    approved = w.main(dataset_association_path(BENCH, "site-b-wdbc"))
    assert approved is not None and approved["status"] == "APPROVED"
    assert approved["approved_by"] == "carol" and "verified" not in approved
    assert PENDING not in w.labels(number)


def test_the_approval_policy_approves_a_verified_dataset_association(world: World) -> None:
    """`allowlist`: a request opened by a listed login is approved once verified."""
    w = world
    config = yaml.safe_load(w.gh.read_file(REG, "registry.yaml"))
    config["approval_policy"] = {"mode": "allowlist", "allowlist": ["site-b"]}
    w.gh.commit(REG, {"registry.yaml": dump(config)}, author="carol")
    number = associate(w, "site-b", "site-b-wdbc", association_doc("site-b-wdbc", "site-b"))
    passes(w, number)
    code, text = report(w, number)
    assert code == 0 and "merged #" in text, text
    approved = w.main(dataset_association_path(BENCH, "site-b-wdbc"))
    assert approved is not None and approved["status"] == "APPROVED"
    assert approved["approved_by"] == "policy:allowlist"


def test_a_dataset_association_is_decided_only_by_another_committee_member(world: World) -> None:
    w = world
    number = associate(w, "site-b", "site-b-wdbc", association_doc("site-b-wdbc", "site-b"))
    passes(w, number)
    assert report(w, number)[0] == 0
    w.label(number, APPROVED, "alice")  # triage access, not on the committee
    code, text = on_label(w, number, APPROVED, "alice")
    assert text.startswith("refused:") and "alice is not on it" in text, text
    assert APPROVED not in w.labels(number)
    w.label(number, REJECTED, "carol")
    code, text = on_label(w, number, REJECTED, "carol")
    assert code == 0 and text.startswith("rejected:"), text
    assert w.gh.repo(REG).issues[number].state == "closed"
    assert w.main(dataset_association_path(BENCH, "site-b-wdbc")) is None


def test_a_dataset_association_is_the_datasets_owners_for_an_approved_benchmark(
    world: World,
) -> None:
    w = world
    # site-a asks for site-b's dataset
    stolen = associate(w, "site-a", "site-b-wdbc", association_doc("site-b-wdbc", "site-a"))
    assert "dataset site-b-wdbc belongs to site-b; only its owner may act for it" in rules(
        w, stolen
    )
    # a dataset the default branch does not hold
    doc = association_doc("site-c", "site-b")
    assert "dataset site-c is not registered on the default branch" in rules(
        w, associate(w, "site-b", "site-c", doc)
    )
    # a benchmark still PENDING
    bench = yaml.safe_load(w.gh.read_file(REG, f"benchmarks/{BENCH}.yaml"))
    w.gh.commit(REG, {f"benchmarks/{BENCH}.yaml": dump(dict(bench, approval_status="PENDING"))})
    number = associate(w, "site-b", "site-b-wdbc", association_doc("site-b-wdbc", "site-b"))
    assert f"benchmark {BENCH} is PENDING" in rules(w, number)


def test_a_dataset_association_must_be_the_benchmarks_run_on_the_registered_data(
    world: World,
) -> None:
    """The registry cannot re-run on private data; what it can check, it checks: the run
    passed, on the registered data's hash, with the benchmark's own cubes as pinned."""
    w = world
    other_pin = dict(ran("metrics"), pin=pin_of(cube_doc("ref")))
    attacks = {
        "the compatibility run did not pass": {"passed": False},
        "compatibility.data_sha256 is not the dataset's prepared.data_sha256": {
            "data_sha256": DATA_A
        },
        "compatibility.reference_model.id is 'cube-0000', but the benchmark's is 'ref'": {
            "reference_model": ran("cube-0000")
        },
        "compatibility.evaluator.pin is not the registry's pin of mlcube metrics": {
            "evaluator": other_pin
        },
        "compatibility.evaluator records no pin, but the registry pins mlcube metrics": {
            "evaluator": {"id": "metrics", "image_id": f"sha256:{HEX64}"}
        },
    }
    for why, compat in attacks.items():
        number = associate(
            w, "site-b", "site-b-wdbc", association_doc("site-b-wdbc", "site-b", **compat)
        )
        assert why in rules(w, number), why
        w.gh.github(w.tokens["site-b"]).get_repo(REG).get_pull(number).edit(state="closed")
    # a dataset prepared by another preparator than the benchmark's
    w.gh.commit(
        REG,
        {
            dataset_path("site-b-wdbc"): dump(
                dataset_doc("site-b-wdbc", "site-b", DATA_B, data_preparator="ref")
            )
        },
    )
    number = associate(w, "site-b", "site-b-wdbc", association_doc("site-b-wdbc", "site-b"))
    assert (
        f"dataset site-b-wdbc was prepared by ref, but benchmark {BENCH}'s data preparator is prep"
        in rules(w, number)
    )


def test_a_dataset_association_request_is_pending_and_its_own(world: World) -> None:
    w = world
    decided = association_doc("site-b-wdbc", "site-b", "APPROVED")
    number = associate(w, "site-b", "site-b-wdbc", decided)
    assert "status is 'APPROVED'; a request is PENDING" in rules(w, number)
    w.gh.github(w.tokens["site-b"]).get_repo(REG).get_pull(number).edit(state="closed")
    number = associate(w, "site-b", "site-b-wdbc", association_doc("site-b-wdbc", "site-a"))
    assert "initiated_by is 'site-a', but the PR was opened by site-b" in rules(w, number)


def test_a_dataset_association_is_requested_once_at_a_time(world: World) -> None:
    w = world
    first = associate(w, "site-b", "site-b-wdbc", association_doc("site-b-wdbc", "site-b"))
    second = associate(w, "site-b", "site-b-wdbc", association_doc("site-b-wdbc", "site-b"))
    assert f"another request for this pair is open: #{first}" in rules(w, second)
    # an approved pair is never requested again
    again = associate(w, "site-a", "site-a-wdbc", association_doc("site-a-wdbc", "site-a"))
    assert (
        f"the default branch already holds {dataset_association_path(BENCH, 'site-a-wdbc')}"
        in rules(w, again)
    )


def test_a_dataset_changed_after_the_verification_is_not_approved(world: World) -> None:
    """Verified and reported against one state of the default branch, the dataset's data
    then changes (an update merged: it is not frozen before its first approval). The
    approval checks again, and refuses."""
    w = world
    number = associate(w, "site-b", "site-b-wdbc", association_doc("site-b-wdbc", "site-b"))
    passes(w, number)
    assert report(w, number)[0] == 0 and VERIFIED in w.labels(number)
    w.gh.commit(
        REG, {dataset_path("site-b-wdbc"): dump(dataset_doc("site-b-wdbc", "site-b", "6" * 64))}
    )
    w.label(number, APPROVED, "carol")
    code, text = on_label(w, number, APPROVED, "carol")
    assert code == 0 and text.startswith("refused:"), text
    assert (
        "does not pass the registry's checks on the default branch" in text
        and "data_sha256" in text
    )
    assert w.gh.repo(REG).issues[number].pull.merged_at is None


# ---------------------------------------------------------------------------------------
# results/B/M/D.yaml


def submit(w: World, by: str, doc: dict[str, Any]) -> int:
    b, m, d = doc["benchmark"], doc["model"], doc["dataset"]
    return w.pr(by, {result_path(b, m, d): dump(doc)}, result_marker(b, m, d))


def test_an_honest_result_is_verified_and_left_to_the_committee_to_merge(world: World) -> None:
    w = world
    for model in ("cube-0001", "ref"):  # an approved model, and the reference model
        number = submit(w, "site-a", result_doc(model))
        doc = passes(w, number)
        assert (doc["kind"], doc["benchmark"], doc["mlcube"], doc["dataset"]) == (
            "result",
            BENCH,
            model,
            "site-a-wdbc",
        )
    code, text = report(w, number)
    assert code == 0 and VERIFIED in w.labels(number) and PENDING not in w.labels(number), text
    # no label decides it: the committee merges it
    w.label(number, APPROVED, "carol")
    code, text = on_label(w, number, APPROVED, "carol")
    assert text.startswith("refused:") and "a result is merged by a committee member" in text, text


def test_nobody_adds_results_for_another_sites_dataset(world: World) -> None:
    w = world
    doc = result_doc("cube-0000", by="site-b")
    detail = rules(w, submit(w, "site-b", doc))
    assert "dataset site-a-wdbc belongs to site-a; only its owner may act for it" in detail
    # nor in its owner's name
    detail = rules(w, submit(w, "site-b", result_doc("cube-0000")))
    assert "submitted_by is 'site-a', but the PR was opened by site-b" in detail


def test_a_result_needs_approved_associations_of_the_model_and_the_dataset(world: World) -> None:
    w = world
    detail = rules(w, submit(w, "site-a", result_doc("unassociated")))
    assert f"model unassociated has no APPROVED association with benchmark {BENCH}" in detail
    doc = result_doc("cube-0000", "site-b-wdbc", "site-b", data_sha256=DATA_B)
    detail = rules(w, submit(w, "site-b", doc))
    assert f"dataset site-b-wdbc has no APPROVED association with benchmark {BENCH}" in detail


def test_a_result_is_on_the_registered_data_with_the_registrys_cubes(world: World) -> None:
    w = world
    moved = dict(ran("cube-0000"), pin=pin_of(cube_doc("cube-0001")))
    attacks = {
        "data_sha256 is not the dataset's prepared.data_sha256": {"data_sha256": DATA_B},
        "num_cases is not the dataset's prepared.num_cases": {"num_cases": 60},
        "evaluator.id is 'ref', but the benchmark's is 'metrics'": {"evaluator": ran("ref")},
        "model_cube.id is 'cube-0001', but the benchmark's is 'cube-0000'": {
            "model_cube": ran("cube-0001")
        },
        "model_cube.pin is not the registry's pin of mlcube cube-0000": {"model_cube": moved},
    }
    for why, extra in attacks.items():
        assert why in rules(w, submit(w, "site-a", result_doc("cube-0000", **extra))), why


def test_a_released_result_is_never_changed_silently(world: World) -> None:
    """A result merged on the default branch: a PR that modifies or deletes it is refused,
    and so is one that adds it again from a branch made before it was merged."""
    w = world
    path = result_path(BENCH, "cube-0000", "site-a-wdbc")
    stale = w.pr("site-a", {path: dump(result_doc("cube-0000"))})
    w.gh.commit(REG, {path: dump(result_doc("cube-0000"))})  # released
    better = result_doc("cube-0000", metrics={"auc": 0.99, "accuracy": 0.98})
    for files in ({path: dump(better)}, {path: None}):
        code, doc = verify(w, w.pr("site-a", files))
        allowed = next(c for c in doc["checks"] if c["name"] == "allowed-changes")
        assert code == 1 and "a released result is never changed or removed" in allowed["detail"]
    assert f"the default branch already holds {path}: a released result is never changed" in rules(
        w, stale
    )


def test_report_checks_a_data_owners_request_again_itself(world: World) -> None:
    """Nothing is re-run for a data owner's request: its rules are its verification. A
    verify artifact that says "passed" for a result another site sent is not believed:
    the privileged report checks the rules again against the default branch."""
    w = world
    number = submit(w, "site-b", result_doc("cube-0000", by="site-b"))
    code, doc = verify(w, number)
    assert code == 1
    folder = w.tmp / f"verify-{number}"
    forged = dict(doc, passed=True, checks=[dict(c, passed=True) for c in doc["checks"]])
    (folder / "report.json").write_text(json.dumps(forged))
    code, text = report(w, number)
    assert code == 0 and "verification failed" in text, text
    assert FAILED in w.labels(number) and VERIFIED not in w.labels(number)
    comment = next(c.body for c in w.gh.repo(REG).comments.values() if c.issue_number == number)
    assert "Checked again by the registry" in comment and "belongs to site-a" in comment


def test_a_data_owners_request_touching_anything_else_is_refused_again_by_report(
    world: World,
) -> None:
    w = world
    path = result_path(BENCH, "cube-0000", "site-a-wdbc")
    number = w.pr(
        "site-a", {path: dump(result_doc("cube-0000")), ".github/workflows/x.yml": "on: push\n"}
    )
    code, doc = verify(w, number)
    allowed = next(c for c in doc["checks"] if c["name"] == "allowed-changes")
    assert code == 1 and ".github/workflows/x.yml" in allowed["detail"]
    # a forged report that says it passed
    folder = w.tmp / f"verify-{number}"
    forged = dict(doc, passed=True, checks=[dict(c, passed=True) for c in doc["checks"]])
    (folder / "report.json").write_text(json.dumps(forged))
    code, text = report(w, number)
    assert code == 0 and "verification failed" in text and FAILED in w.labels(number), text


# ---------------------------------------------------------------------------------------
# The registry's workflow: its verify and report jobs, through the real action.yml


def test_the_registry_workflow_verifies_and_reports_a_result_without_docker(
    world: World,
    installed: Path,  # conftest: installed once per session
) -> None:
    """The verify job (`pull_request`) and the report job (`workflow_run`) of registry.yml,
    as the real action.yml runs them (`command: run`, `mode: registry`), on a data owner's
    result: no container, no Docker (the engine's socket is not there), and no re-run."""
    w = world
    number = submit(w, "site-a", result_doc("cube-0001"))
    pull = w.gh.repo(REG).issues[number].pull
    workspace = w.tmp / "workspace"  # the job's checkout: medperf-action only
    workspace.mkdir()
    temp = w.tmp / "runner-temp"
    temp.mkdir()
    (venv,) = installed.glob(VENV_PREFIX + "*")
    (temp / venv.name).symlink_to(venv)  # installed once (see `installed`)
    env = {
        "MEDPERF_ACTION_GITHUB_PAUSES": "0",
        "MEDPERF_ACTION_CACHE": str(w.tmp / "cache"),
        "DOCKER_HOST": f"unix://{w.tmp}/no-docker.sock",
    }

    def job(event_name: str, event: dict[str, Any], as_user: str) -> ActionResult:
        """The job's action step; the verify job's artifact is the report job's input
        (both in the workspace's verify-report/)."""
        return run_action(
            REPO,
            event_name=event_name,
            event=event,
            workspace=workspace,
            runner_temp=temp,
            inputs={"command": "run", "mode": "registry", "python-version": LOCAL_PYTHON},
            token=w.tokens[as_user],
            api_url=w.gh.api_url,
            repository=REG,
            env=env,
        )

    opened = {"head_repo": pull.head_repo, "head_ref": pull.head_ref}
    event = webhook_events.load(
        "pull_request", "opened", repository=REG, number=number, head_sha=pull.head_sha, **opened
    )
    verified = job("pull_request", event, "reader")
    assert verified.conclusion == "success", verified.report()
    assert verified.outputs["passed"] == "true"
    assert "Result of model `cube-0001` on dataset `site-a-wdbc`" in verified.summary
    assert not (workspace / "verify-report" / "medperf-result.intoto.json").exists()
    run = {"conclusion": "success", "event": "pull_request"}
    event = webhook_events.load(
        "workflow_run", "completed", repository=REG, number=number, head_sha=pull.head_sha, **run
    )
    reported = job("workflow_run", event, "registry-bot")
    assert reported.conclusion == "success", reported.report()
    assert reported.outputs["statement-sha256"] == ""  # nothing ran: nothing to attest
    assert VERIFIED in w.labels(number) and PENDING not in w.labels(number)


# ---------------------------------------------------------------------------------------
# Results for the committee's eyes only (registry.yaml `results: {sealed_to: KEY}`)


@pytest.fixture(scope="module")
def committee_key() -> tuple[bytes, str]:
    """The committee's RSA key pair: (private PEM, public PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public.decode()


def test_sealed_metrics_open_only_with_the_key_and_in_their_place(
    committee_key: tuple[bytes, str],
) -> None:
    private, public = committee_key
    place = result_path(BENCH, "cube-0000", "site-a-wdbc")
    metrics = {"auc": 0.95, "accuracy": 0.93}
    sealed = seal(metrics, public, place)
    assert validation_errors("result", dict(result_doc("cube-0000"), sealed=sealed)) != []
    clear = {k: v for k, v in result_doc("cube-0000").items() if k != "metrics"}
    assert validation_errors("result", dict(clear, sealed=sealed)) == []
    assert "0.95" not in json.dumps(sealed)
    assert unseal(sealed, private_key(private), place) == metrics
    other = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    elsewhere = result_path(BENCH, "cube-0001", "site-a-wdbc")
    flipped = dict(sealed, ciphertext=sealed["ciphertext"][:-4] + "AAAA")
    for key, where, blob in ((other, place, sealed), (private_key(private), elsewhere, sealed)):
        with pytest.raises(SealingError, match="cannot be opened with this key"):
            unseal(blob, key, where)
    with pytest.raises(SealingError, match="cannot be opened"):
        unseal(flipped, private_key(private), place)
    small = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    small_pem = small.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    with pytest.raises(SealingError, match="at least 3072"):
        seal(metrics, small_pem, place)


def test_a_registry_that_seals_results_refuses_them_in_the_clear(
    world: World, committee_key: tuple[bytes, str]
) -> None:
    """registry.yaml says results are for the committee's eyes only: a result with its
    metrics in the clear is refused (once merged, anybody could read them), and so is one
    sealed to a key that is not the committee's."""
    w = world
    private, public = committee_key
    config = yaml.safe_load(w.gh.read_file(REG, "registry.yaml"))
    w.gh.commit(REG, {"registry.yaml": dump(dict(config, results={"sealed_to": public}))})
    clear = result_doc("cube-0000")
    assert "the metrics may not be committed in the clear" in rules(w, submit(w, "site-a", clear))
    place = result_path(BENCH, "cube-0000", "site-a-wdbc")
    bare = {k: v for k, v in clear.items() if k != "metrics"}
    other = rsa.generate_private_key(public_exponent=65537, key_size=3072).public_key()
    other_pem = other.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    wrong = dict(bare, sealed=seal(clear["metrics"], other_pem, place))
    assert "sealed to another key" in rules(w, submit(w, "site-a", wrong))
    sealed = dict(bare, sealed=seal(clear["metrics"], public, place))
    number = submit(w, "site-a", sealed)
    passes(w, number)
    committed = yaml.safe_load(
        w.gh.files("site-a/registry", ref=w.gh.repo(REG).issues[number].pull.head_ref)[place]
    )
    assert "metrics" not in committed
    assert unseal(committed["sealed"], private_key(private), place) == clear["metrics"]
    # and a registry that seals nothing takes no sealed result (nobody could read it)
    w.gh.commit(REG, {"registry.yaml": dump(config)})
    detail = rules(w, submit(w, "site-a", sealed))
    assert "the metrics are sealed, but registry.yaml seals no results" in detail


def validation_errors(kind: str, doc: dict[str, Any]) -> list[str]:
    return list(plain_errors(f"{kind}.schema.json", doc, 10))
