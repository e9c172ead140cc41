"""Result statements: the in-toto Statement (v1) a `test --output` and a `registry verify`
write, checked with the in-toto-attestation package's own parser and validator, its
predicate against schemas/result-predicate.schema.json, and every subject's digest
recomputed here from the files and images themselves. On the GitHub test server: the
verify run's statement is recorded by the approval and shown by `association ls`.
"""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
from pathlib import Path

import pytest
import webhook_events
import yaml
from click.testing import CliRunner
from google.protobuf import json_format
from in_toto_attestation.v1 import statement_pb2
from in_toto_attestation.v1.statement import Statement
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
    main_file,
    on_label,
    report,
    verify,
)
from test_schemas import errors as schema_errors

from medperf_action import __version__
from medperf_action.adapters.files.attestation import statement_problems
from medperf_action.adapters.files.hashing import sha256_file, sha256_tree
from medperf_action.cli import main
from medperf_action.domain.registry.layout import association_path
from medperf_action.usecases.provenance import PREDICATE_TYPE, STATEMENT_FILE

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
SERVER = "https://github.com"
#: A published cube's asset names and the files `package` makes of them.
ASSET_FILES = {
    "mlcube": "mlcube.yaml",
    "parameters": "parameters.yaml",
    "additional_files": "additional_files.tar.gz",
}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def checked(path: Path) -> tuple[dict, dict[str, str]]:
    """The statement at `path`, parsed and validated by in-toto-attestation itself, its
    predicate by its schema; returns it and its subjects (name -> SHA-256)."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    parsed = json_format.ParseDict(doc, statement_pb2.Statement())  # unknown fields refused
    Statement.copy_from_pb(parsed).validate()
    assert doc["_type"] == "https://in-toto.io/Statement/v1"
    assert doc["predicateType"] == PREDICATE_TYPE
    assert schema_errors("result-predicate.schema.json", doc["predicate"]) == []
    subjects = {s["name"]: s["digest"]["sha256"] for s in doc["subject"]}
    assert len(subjects) == len(doc["subject"])  # each subject once
    assert all(set(s["digest"]) == {"sha256"} for s in doc["subject"])
    return doc, subjects


def cli(args: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, args, env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


# --------------------------------------------------------------------------- the adapter


def test_the_package_refuses_what_is_not_a_statement() -> None:
    good = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "a", "digest": {"sha256": "ab" * 32}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {"x": 1},
    }
    assert statement_problems(good) == []
    no_digest = copy.deepcopy(good)
    no_digest["subject"] = [{"name": "a"}]
    other_type = dict(good, _type="https://in-toto.io/Statement/v0.1")
    unknown = dict(good, extra=True)
    sha1_only = copy.deepcopy(good)
    sha1_only["subject"][0]["digest"] = {"sha1": "ab" * 20}
    assert "digest" in statement_problems(no_digest)[0]
    assert "type" in statement_problems(other_type)[0]
    assert "extra" in statement_problems(unknown)[0]
    assert "SHA-256" in statement_problems(sha1_only)[0]
    assert statement_problems([good]) == ["not a JSON object"]


# --------------------------------------------------------------------------- test --output


@pytest.mark.docker
def test_a_test_run_states_its_result_and_a_failed_run_none(
    docker_client, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("MEDPERF_ACTION_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "out"
    run = ["test", "--registry", str(EXAMPLES / "registry"), "--benchmark", BENCH]
    run += ["--model", str(EXAMPLES / "model"), "--output", str(out), "--quiet"]
    actions = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_REPOSITORY": "alice/wdbc-centroid",
        "GITHUB_RUN_ID": "77",
        "GITHUB_SERVER_URL": SERVER,
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
    }
    code, stdout, stderr = cli(run, actions)
    assert code == 0, stdout + stderr
    doc, subjects = checked(out / STATEMENT_FILE)
    summary = json.loads((out / "summary.json").read_text())

    # The subjects, recomputed: summary.json, each local cube's files, each image's ID.
    assert subjects["summary.json"] == sha256_file(out / "summary.json")
    expected = {"summary.json": sha256_file(out / "summary.json")}
    for role, cube in summary["cubes"].items():
        label = cube["id"] or cube["name"]
        folder = {
            "data_preparator": "data_preparator",
            "candidate": "model",
            "reference_model": "reference_model",
            "evaluator": "evaluator",
        }[role]
        manifest = EXAMPLES / folder / "mlcube" / "mlcube.yaml"
        params = EXAMPLES / folder / "mlcube" / "workspace" / "parameters.yaml"
        expected[f"mlcubes/{label}/mlcube.yaml"] = sha256_file(manifest)
        if params.is_file():
            expected[f"mlcubes/{label}/parameters.yaml"] = sha256_file(params)
        weights = EXAMPLES / folder / "mlcube" / "workspace" / "additional_files"
        if weights.is_dir():  # the weights behind the metrics, as a tree's digest
            expected[f"mlcubes/{label}/additional_files"] = sha256_tree(weights)
        # The image that ran, by its ID (the SHA-256 of its config), as the engine holds
        # it (its tag may have moved on since: other runs build the examples too).
        image_id = docker_client.images.get(cube["image_id"]).id
        assert image_id == cube["image_id"]
        expected[f"mlcubes/{label}/image"] = image_id.removeprefix("sha256:")
        if cube["digest"]:  # the engine knows a registry digest of it (a push gives one)
            expected[f"mlcubes/{label}/image-digest"] = cube["digest"].split("@sha256:")[1]
    assert subjects == expected

    pred = doc["predicate"]
    assert pred["producer"] == "test" and pred["verification"] is None
    assert pred["metrics"] == summary["metrics"] and pred["metrics"]["reference"]
    assert pred["benchmark"] == summary["benchmark"]
    assert pred["dataset"] == summary["dataset"]
    assert pred["candidate"] == {"id": None, "name": summary["cubes"]["candidate"]["name"]}
    assert pred["tool"] == {"name": "medperf-action", "version": __version__}
    assert pred["run_url"] == f"{SERVER}/alice/wdbc-centroid/actions/runs/77"
    assert (pred["started_at"], pred["finished_at"]) == (
        summary["started_at"],
        summary["finished_at"],
    )

    # Outside GitHub Actions there is no run to name.
    code, _, stderr = cli(run)
    assert code == 0, stderr
    assert checked(out / STATEMENT_FILE)[0]["predicate"]["run_url"] is None

    # A run that produces no metrics states no result: the earlier statement goes.
    bad_data = [*run, "--demo-dataset", str(EXAMPLES / "demo" / "breast-cancer-demo.tar.gz")]
    code, _, stderr = cli([*bad_data, "--demo-dataset-sha256", "0" * 64])
    assert code != 0
    assert not (out / STATEMENT_FILE).exists()
    assert json.loads((out / "summary.json").read_text())["passed"] is False


# --------------------------------------------------------------------------- registry verify


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory, docker_client, oci_registry: str):
    yield from cached_stage(tmp_path_factory.mktemp("provenance"), oci_registry)


@pytest.fixture
def world(github_server, monkeypatch, stage: Stage, tmp_path: Path) -> World:
    return build_world(github_server, monkeypatch, stage, tmp_path)


def _open_request(w: World) -> int:
    gh, branch = w.gh, f"medperf/associate/{BENCH}/{MODEL}"
    doc = {
        "benchmark": BENCH,
        "mlcube": MODEL,
        "status": "PENDING",
        "initiated_by": w.owner,
        "created_at": "2026-11-29T04:00:00Z",
        "result": {"passed": True, "metrics": w.honest},
        "summary": w.stage.summary,
    }
    fork = f"{w.owner}/registry"
    with gh.lock:
        gh.repo(fork).refs[f"refs/heads/{branch}"] = gh.repo(REG).refs["refs/heads/main"]
    files = {association_path(BENCH, MODEL): yaml.safe_dump(doc, sort_keys=False)}
    gh.commit(fork, files, branch=branch, author=w.owner, message="request")
    marker = f"<!-- medperf-action:association benchmark={BENCH} mlcube={MODEL} -->"
    pull = (
        gh.github(w.tokens[w.owner])
        .get_repo(REG)
        .create_pull(base="main", head=f"{w.owner}:{branch}", title=branch, body=marker)
    )
    add_label(w, pull.number, "medperf/pending", "registry-bot")
    return pull.number


def _run_event(w: World, number: int, url: str) -> Path:
    issue = w.gh.repo(REG).issues[number]
    event = webhook_events.load(
        "workflow_run",
        "completed",
        repository=REG,
        number=number,
        head_sha=issue.pull.head_sha,
        conclusion="success",
        event="pull_request",
        **{"workflow_run.html_url": url},
    )
    path = w.tmp / f"run-{len(list(w.tmp.glob('run-*')))}.json"
    path.write_text(json.dumps(event))
    return path


@pytest.mark.docker
def test_verify_states_the_rerun_and_the_approval_points_to_it(world: World, docker_client) -> None:
    w, gh = world, world.gh
    number = _open_request(w)
    head = gh.repo(REG).issues[number].pull.head_sha
    actions = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_REPOSITORY": REG,
        "GITHUB_RUN_ID": "4242",
        "GITHUB_SERVER_URL": SERVER,
    }
    code, stdout, stderr, report_doc = verify(w, number, actions)
    assert code == 0, stdout + stderr
    folder = w.tmp / f"verify-{number}"
    doc, subjects = checked(folder / STATEMENT_FILE)
    stated = sha256((folder / STATEMENT_FILE).read_bytes())
    assert stated in stderr  # the command names it

    # The association file, by its SHA-256 at the PR's head (read back from the server).
    path = association_path(BENCH, MODEL)
    at_head = gh.read_file(f"{w.owner}/registry", path, ref=head)
    assert at_head is not None
    assert subjects[path] == sha256(at_head)
    # Every published asset and image of the four cubes, recomputed from the files the
    # releases hold and the images in the engine.
    expected = {path: sha256(at_head)}
    for cube_id in default_pins(w):
        for asset, name in ASSET_FILES.items():
            if (w.stage.packaged[cube_id] / name).is_file():
                expected[f"mlcubes/{cube_id}/{asset}"] = sha256_file(
                    w.stage.packaged[cube_id] / name
                )
        reference = w.stage.references[cube_id]
        expected[f"mlcubes/{cube_id}/image-digest"] = reference.split("@sha256:")[1]
        image_id = docker_client.images.get(reference).id
        expected[f"mlcubes/{cube_id}/image"] = image_id.removeprefix("sha256:")
    assert subjects == expected
    assert {n.rsplit("/", 1)[1] for n in subjects if n.startswith(f"mlcubes/{MODEL}/")} == {
        "mlcube",
        "parameters",
        "additional_files",
        "image",
        "image-digest",
    }

    pred = doc["predicate"]
    run_url = f"{SERVER}/{REG}/actions/runs/4242"
    assert pred["producer"] == "registry-verify" and pred["run_url"] == run_url
    assert pred["verification"] == {
        "registry": REG,
        "pr": number,
        "head_sha": head,
        "association": path,
        "passed": True,
        "comparison": report_doc["metrics"],
    }
    assert pred["candidate"]["id"] == MODEL and pred["candidate"]["name"]
    assert pred["metrics"]["candidate"]["auc"] == pytest.approx(w.honest["auc"])
    assert pred["dataset"]["sha256"] == sha256_file(w.stage.demo / "breast-cancer-demo.tar.gz")

    # A statement about another request is not recorded (the verdict stands).
    forged = w.tmp / "forged"
    shutil.copytree(folder, forged)
    other = copy.deepcopy(doc)
    other["predicate"]["verification"]["pr"] = number + 1
    (forged / STATEMENT_FILE).write_text(json.dumps(other))
    outputs = w.tmp / "github-output"
    actions = {"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(outputs)}
    code, stdout, stderr = report(
        w, number, "--event", str(_run_event(w, number, run_url)), folder=forged, env=actions
    )
    assert code == 0, stdout + stderr
    [comment] = comments(w, number)
    assert "statement=" not in comment and "No result statement is recorded" in comment
    # ... nor given to the workflow to attest
    assert "statement-sha256=\n" in outputs.read_text()
    # A run of another repository is not the registry's.
    elsewhere = "https://github.com/mallory/registry/actions/runs/1"
    code, _, _ = report(w, number, "--event", str(_run_event(w, number, elsewhere)))
    assert code == 0 and "statement=" not in comments(w, number)[0]

    # The registry's report binds the statement to the verification ...
    outputs.unlink()
    event = str(_run_event(w, number, run_url))
    code, stdout, stderr = report(w, number, "--event", event, env=actions)
    assert code == 0, stdout + stderr
    [comment] = comments(w, number)
    assert f"statement={stated} run={run_url} -->" in comment.split("\n")[1]
    # the digest the workflow attests is the one recorded, of the file checked
    assert f"statement-sha256={stated}\n" in outputs.read_text()
    # ... and the approval records where it is.
    add_label(w, number, "medperf/approved", "carol")
    code, stdout, stderr = on_label(w, number, "medperf/approved", "carol")
    assert code == 0 and stdout.startswith("approved:"), stdout + stderr
    approved = main_file(w)
    assert approved is not None
    pointer = {"statement_sha256": stated, "run_url": run_url}
    assert approved["verified"]["attestation"] == pointer

    code, out, err = cli(
        ["association", "ls", "--registry", REG, "--format", "json"],
        {"GITHUB_TOKEN": w.tokens["reader"]},
    )
    assert code == 0, err
    [row] = [a for a in json.loads(out)["associations"] if a["mlcube"] == MODEL]
    assert row["status"] == "APPROVED"
    assert row["verified"]["attestation"] == pointer
    assert row["verified"]["mlcubes"] == default_pins(w)
