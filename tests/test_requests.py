"""`submit` and `associate` against the GitHub test server, with real containers."""

from __future__ import annotations

import json
import logging
import shutil

import pytest
import yaml
from click.testing import CliRunner
from registry_world import EXAMPLES, MODEL, REG, build_world, staged

from medperf_action.cli import main
from medperf_action.domain.registry.layout import association_marker, submission_marker
from medperf_action.domain.schemas import validator

pytestmark = pytest.mark.docker


MODEL_ID, REGISTRY = MODEL, REG


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory, docker_client, oci_registry: str):
    yield from staged(tmp_path_factory.mktemp("gitops"), oci_registry, honest_run=False)


@pytest.fixture
def world(github_server, monkeypatch, stage, tmp_path_factory, tmp_path):
    monkeypatch.setenv("MEDPERF_ACTION_CACHE", str(tmp_path_factory.getbasetemp() / "gitops-cache"))
    return build_world(github_server, monkeypatch, stage, tmp_path, submitted=False)


def cli(token: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), env={"MEDPERF_REGISTRY_TOKEN": token})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def submit(world, login: str = "alice", mlcube_id: str = MODEL_ID) -> tuple[int, str, str]:
    return cli(
        world.tokens[login],
        "submit",
        "--registry",
        REGISTRY,
        "--mlcube-id",
        mlcube_id,
        "--name",
        "Nearest centroid",
        "--assets",
        str(world.model_assets),
    )


def associate(world, *extra: str, login: str = "alice") -> tuple[int, str, str]:
    return cli(
        world.tokens[login],
        "associate",
        "--registry",
        REGISTRY,
        "--benchmark",
        "breast-cancer",
        "--mlcube-id",
        MODEL_ID,
        "--yes",
        "--quiet",
        *extra,
    )


def pulls(gh, marker: str) -> list:
    return [p for p in gh.repo(REGISTRY).pulls() if marker in (p.body or "")]


def merge_submission(gh, world) -> None:
    """The committee accepts the submission: its file lands on the default branch."""
    files = gh.files("alice/registry", ref=f"medperf/submit/{MODEL_ID}")
    gh.commit(REGISTRY, {f"mlcubes/{MODEL_ID}.yaml": files[f"mlcubes/{MODEL_ID}.yaml"]})


def test_submit_opens_one_pr_from_the_fork_and_rerun_updates_it(github_server, world) -> None:
    gh = github_server
    code, out, err = submit(world)
    assert code == 0, err
    assert out.startswith("opened: ")
    found = pulls(gh, submission_marker(MODEL_ID))
    assert len(found) == 1
    entry = yaml.safe_load(
        gh.files("alice/registry", ref=f"medperf/submit/{MODEL_ID}")[f"mlcubes/{MODEL_ID}.yaml"]
    )
    assert entry["owner"] == "alice" and entry["role"] == "model"
    assert entry["source"]["repository"] == "alice/wdbc-centroid"
    assert entry["source"]["ref"] == "refs/tags/v1.0.0" and len(entry["source"]["commit"]) == 40
    assert set(entry["assets"]) == {"mlcube", "parameters", "additional_files"}
    assert entry["image"] == {"reference": world.stage.references[MODEL_ID]}  # as pushed
    assert list(validator("mlcube-entry").iter_errors(entry)) == []

    gh.reset_counters()
    code, out, err = submit(world)
    assert code == 0, err
    assert out.startswith("unchanged: ")
    assert gh.writes == 1  # the fork request (GitHub answers it with the existing fork)
    assert len(pulls(gh, submission_marker(MODEL_ID))) == 1


def test_submit_refuses_an_image_known_only_by_its_tag(github_server, world) -> None:
    """release.json without the pushed digest, and no archive: the registry could not
    verify the entry, so nothing is opened (not even the fork)."""
    record = world.model_assets / "release.json"
    doc = json.loads(record.read_text())
    assert doc.pop("image").startswith(f"{world.stage.references[MODEL_ID].split('@')[0]}@")
    record.write_text(json.dumps(doc))
    github_server.reset_counters()
    code, _, err = submit(world)
    assert code == 5 and "is not pinned" in err and "--image-archive" in err, err
    assert github_server.writes == 0 and pulls(github_server, submission_marker(MODEL_ID)) == []


def test_submit_refuses_an_id_held_by_another_owner(github_server, world) -> None:
    code, _, err = submit(world)
    assert code == 0, err
    merge_submission(github_server, world)
    code, _, err = cli(
        world.tokens["mallory"],
        "submit",
        "--registry",
        REGISTRY,
        "--mlcube-id",
        MODEL_ID,
        "--name",
        "x",
        "--assets",
        str(world.model_assets),
    )
    assert code == 5  # refused by a registry rule
    assert "belongs to alice" in err


def test_submit_after_a_lost_answer_finishes_without_a_second_pr(github_server, world) -> None:
    github_server.inject("POST", r"/repos/medperf/registry/pulls$", "drop_after", count=1)
    code, _, err = submit(world)
    assert code == 4 and "Traceback" not in err
    code, _, err = submit(world)
    assert code == 0, err
    assert len(pulls(github_server, submission_marker(MODEL_ID))) == 1


def squat(gh, world, login: str = "mallory") -> int:
    """Somebody who does not own the mlcube opens a PR carrying the pair's marker."""
    gh.fork(REGISTRY, login)
    branch = f"medperf/associate/breast-cancer/{MODEL_ID}"
    with gh.lock:
        gh.repo(f"{login}/registry").refs[f"refs/heads/{branch}"] = gh.repo(REGISTRY).refs[
            "refs/heads/main"
        ]
    path = f"associations/breast-cancer/{MODEL_ID}.yaml"
    gh.commit(f"{login}/registry", {path: "status: PENDING\n"}, branch=branch, author=login)
    pull = (
        gh.github(world.tokens[login])
        .get_repo(REGISTRY)
        .create_pull(
            base="main",
            head=f"{login}:{branch}",
            title="mine",
            body=association_marker("breast-cancer", MODEL_ID),
        )
    )
    return pull.number


def test_associate_request_refusals_and_request_after_rejection(
    github_server, world, caplog: pytest.LogCaptureFixture, tmp_path
) -> None:
    gh = github_server
    code, _, err = associate(world)
    assert code == 5 and "not in the registry yet: submit it first" in err
    submit(world)
    # submitted, not merged: the message names the PR the owner waits for
    (submission,) = pulls(gh, submission_marker(MODEL_ID))
    code, _, err = associate(world)
    assert code == 5  # the registry's rule: only a merged mlcube associates
    assert f"waiting for the committee to merge #{submission.number}" in err
    merge_submission(gh, world)
    caplog.set_level(logging.DEBUG)  # whatever a library logs, as a user's logging would
    # A PR by somebody else carrying the pair's marker (labelled pending, as the registry's
    # workflow labels every association request) does not block the owner.
    squatter = squat(gh, world)
    gh.github(world.tokens["carol"]).get_repo(REGISTRY).get_issue(squatter).add_to_labels(
        "medperf/pending"
    )

    code, out, err = associate(world)
    assert code == 0, err
    assert "association requested:" in out and "auc" in out
    marker = association_marker("breast-cancer", MODEL_ID)
    (pr,) = [p for p in pulls(gh, marker) if p.number != squatter]
    # alice may not label in the registry (no triage access); its workflow labels it,
    # and she reads that in plain words, not as a library's HTTP log line.
    assert pr.labels == []
    assert "the registry's workflow labels the request" in err
    assert not [r for r in caplog.records if "failed with 403" in r.getMessage()]
    assert "403" not in err and "Forbidden" not in err
    # Running it again with nothing new: the same results, the same request, unchanged.
    code, out, err = associate(world)
    assert code == 0, err
    last = out.strip().splitlines()[-1]
    assert last.startswith("unchanged: http") and last.endswith(f"/pull/{pr.number}")
    # With something new (a model whose centroids are swapped scores otherwise), the open
    # request is not passed off as unchanged: refused, naming it.
    changed = tmp_path / "changed-model"
    shutil.copytree(EXAMPLES / "model", changed)
    weights = changed / "mlcube" / "workspace" / "additional_files" / "weights.json"
    doc = json.loads(weights.read_text())
    doc["centroids"] = {
        "malignant": doc["centroids"]["benign"],
        "benign": doc["centroids"]["malignant"],
    }
    weights.write_text(json.dumps(doc))
    code, out, err = associate(world, "--model", str(changed))
    assert code == 5 and f"PR #{pr.number}" in err and "other metrics" in err, err
    assert "unchanged" not in out
    assert len([p for p in pulls(gh, marker) if p.number != squatter]) == 1
    record = yaml.safe_load(
        gh.files("alice/registry", ref="medperf/associate/breast-cancer/breast-cancer-centroid")[
            "associations/breast-cancer/breast-cancer-centroid.yaml"
        ]
    )
    assert record["status"] == "PENDING" and record["initiated_by"] == "alice"
    assert record["result"]["passed"] is True
    assert record["result"]["metrics"]["auc"] == pytest.approx(0.9746889746889746)
    assert list(validator("association").iter_errors(record)) == []
    assert "| auc |" in pr.body

    # Once the registry labelled it pending, a re-run still opens nothing new.
    gh.github(world.tokens["carol"]).get_repo(REGISTRY).get_issue(pr.number).add_to_labels(
        "medperf/pending"
    )
    code, out, err = associate(world)
    assert code == 0 and out.strip().endswith(f"/pull/{pr.number}") and "unchanged" in out
    # Nobody but the mlcube's owner requests its associations.
    code, _, err = associate(world, login="mallory")
    assert code == 5 and "only its owner" in err

    # alice withdraws it (closed without the rejected label): that counts as no request,
    # so a new one is allowed, on a fresh branch.
    pr.state = "closed"
    code, out, err = associate(world)
    assert code == 0, err
    ours = [p for p in pulls(gh, marker) if p.number != squatter]
    assert len(ours) == 2
    assert "medperf/associate/breast-cancer/breast-cancer-centroid/2" in {
        p.pull.head_ref for p in ours
    }


def test_association_state_counts_only_the_owners_requests(github_server, world) -> None:
    """The pair's state as `associate` sees it, without running anything."""
    from medperf_action.usecases.registries import open_registry
    from medperf_action.usecases.requests import association_state

    gh = github_server
    submit(world)
    merge_submission(gh, world)
    reg = open_registry(REGISTRY, world.tokens["alice"])
    squatter = squat(gh, world)
    state = association_state(reg, "breast-cancer", MODEL_ID)
    assert (state.status, state.open, state.requests) == ("NONE", None, [])

    # alice's own request, not labelled yet: pending all the same
    path = f"associations/breast-cancer/{MODEL_ID}.yaml"
    branch = f"medperf/associate/breast-cancer/{MODEL_ID}"
    with gh.lock:
        gh.repo("alice/registry").refs[f"refs/heads/{branch}"] = gh.repo(REGISTRY).refs[
            "refs/heads/main"
        ]
    gh.commit("alice/registry", {path: "status: PENDING\n"}, branch=branch, author="alice")
    registry = gh.github(world.tokens["alice"]).get_repo(REGISTRY)
    mine = registry.create_pull(
        base="main",
        head=f"alice:{branch}",
        title="request",
        body=association_marker("breast-cancer", MODEL_ID),
    ).number
    state = association_state(reg, "breast-cancer", MODEL_ID)
    assert state.status == "PENDING" and state.open is not None and state.open.number == mine
    assert not state.allows_new_request
    # withdrawn: as if there were none (the next branch is a fresh one all the same)
    gh.repo(REGISTRY).issues[mine].state = "closed"
    state = association_state(reg, "breast-cancer", MODEL_ID)
    assert state.status == "NONE" and state.allows_new_request
    assert state.next_attempt("breast-cancer", MODEL_ID) == 2
    # rejected: the committee's label on the closed request
    gh.github(world.tokens["carol"]).get_repo(REGISTRY).get_issue(mine).add_to_labels(
        "medperf/rejected"
    )
    state = association_state(reg, "breast-cancer", MODEL_ID)
    assert state.status == "REJECTED" and state.allows_new_request
    assert squatter not in {r.number for r in state.requests}


def test_bad_release_records_are_clear_errors(tmp_path) -> None:
    from medperf_action.adapters.github.contents import RepoFiles
    from medperf_action.domain.registry.reader import Registry
    from medperf_action.errors import InvalidInput, UsageError
    from medperf_action.usecases.requests import Submission, build_entry
    from medperf_action.usecases.requests import submit as submit_entry

    sub = Submission(MODEL_ID, "Nearest centroid", "model")
    fake = Registry(RepoFiles(repo=None, ref="main"))  # type: ignore[arg-type]
    (tmp_path / "release.json").write_text('{"assets": {')
    with pytest.raises(InvalidInput, match=r"release\.json: not valid JSON .*publish"):
        submit_entry(fake, sub, tmp_path)
    (tmp_path / "release.json").write_text('{"assets": {}}')
    (tmp_path / "manifest.json").write_text("not json")
    with pytest.raises(InvalidInput, match=r"manifest\.json: not valid JSON .*package"):
        submit_entry(fake, sub, tmp_path)

    url = "https://example.org/mlcube.yaml"
    with pytest.raises(UsageError, match=r"the asset mlcube\.yaml has no sha256"):
        build_entry(sub, "alice", {"assets": {"mlcube.yaml": {"url": url}}}, {}, None)
    with pytest.raises(UsageError, match=r"the asset parameters\.yaml has no url or sha256"):
        build_entry(
            sub,
            "alice",
            {"assets": {"mlcube.yaml": {"url": url, "sha256": "ab" * 32}, "parameters.yaml": 1}},
            {},
            None,
        )
    with pytest.raises(UsageError, match="`assets` is not an object"):
        build_entry(sub, "alice", {"assets": ["mlcube.yaml"]}, {}, None)


def test_associate_after_a_lost_answer_finishes_without_a_second_pr(github_server, world) -> None:
    gh = github_server
    submit(world)
    merge_submission(gh, world)
    gh.inject("POST", r"/repos/medperf/registry/pulls$", "drop_after", count=1)
    code, _, err = associate(world)
    assert code == 4 and "Traceback" not in err
    code, out, err = associate(world)
    assert code == 0, err
    (pr,) = pulls(gh, association_marker("breast-cancer", MODEL_ID))
    assert f"/pull/{pr.number}" in out
