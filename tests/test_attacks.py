"""The registry's promise, tried as an attacker would (issue 10).

A committee trusts a reported metric because the registry's own re-run reproduces it. Each
test here is an attack on that promise, played against the GitHub test server and real
Docker, and shows it refused. Each failed on the code before the rule it tests.
"""

from __future__ import annotations

import copy
import io
import json
import shutil
import tarfile
import urllib.parse
import uuid
from pathlib import Path

import pytest
import yaml
from registry_world import (
    BENCH,
    EXAMPLES,
    MODEL,
    REG,
    Stage,
    World,
    add_label,
    build_world,
    cached_stage,
    comments,
    labels,
    on_label,
    report,
    verify,
)

from medperf_action.adapters.files.hashing import sha256_file
from medperf_action.domain.registry.layout import association_marker, association_path
from medperf_action.domain.validation import validate_path
from medperf_action.usecases.packaging import package_cube
from medperf_action.usecases.publishing import publish

pytestmark = pytest.mark.docker

PENDING, APPROVED, REJECTED = "medperf/pending", "medperf/approved", "medperf/rejected"
VERIFIED, FAILED = "medperf/verified", "medperf/verification-failed"
#: Metrics no honest model of the example reaches.
MADE_UP = {"auc": 0.9999, "accuracy": 0.9999, "sensitivity": 1.0, "specificity": 1.0, "f1": 1.0}
#: The example's own evaluator image, which the benchmark's evaluator entry names.
EVALUATOR_IMAGE = "medperf-action-example/evaluator:0.1.0"
#: Every name the benchmark's cubes (and their base image) stand on.
BENCHMARK_IMAGES = (
    "medperf-action-example/data_preparator:0.1.0",
    "medperf-action-example/reference_model:0.1.0",
    EVALUATOR_IMAGE,
    "python:3.11-slim",
)

# The attacker's image: the example model for `infer`, and an "evaluator" that writes
# whatever metrics the attacker reported.
EVIL = """\
import pathlib, subprocess, sys
args = dict(a[2:].split("=", 1) for a in sys.argv[2:] if a.startswith("--"))
if sys.argv[1] == "evaluate":
    out = pathlib.Path(args["output_path"])
    out.write_text("".join(f"{k}: {v}\\n" for k, v in METRICS.items()))
    sys.exit(0)
sys.exit(subprocess.call(["python3", "/app/mlcube.py", *sys.argv[1:]]))
"""


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory, docker_client, oci_registry: str):
    yield from cached_stage(tmp_path_factory.mktemp("attacks"), oci_registry)


@pytest.fixture
def world(github_server, monkeypatch, stage: Stage, tmp_path: Path) -> World:
    monkeypatch.setenv("MEDPERF_ACTION_CACHE", str(stage.root / "cache"))
    return build_world(github_server, monkeypatch, stage, tmp_path)


@pytest.fixture(scope="module")
def hostile_image(docker_client, tmp_path_factory: pytest.TempPathFactory):
    """The attacker's image, under a tag of this session only (removed at the end)."""
    context = tmp_path_factory.mktemp("hostile-context")
    (context / "evil.py").write_text(f"METRICS = {MADE_UP!r}\n" + EVIL)
    (context / "Dockerfile").write_text(
        "FROM medperf-action-example/model:0.1.0\n"
        "COPY evil.py /app/evil.py\n"
        'ENTRYPOINT ["python3", "/app/evil.py"]\n'
    )
    tag = f"medperf-action-test/hostile-{uuid.uuid4().hex[:12]}:1"
    # rm/forcerm: the SDK (unlike the CLI) keeps a build's intermediate containers.
    image, _ = docker_client.images.build(
        path=str(context), tag=tag, network_mode="none", rm=True, forcerm=True
    )
    yield tag, image.id
    docker_client.images.remove(image.id, force=True)


def crafted_archive(docker_client, image_tag: str, dest: Path, tags: list[str] | None) -> Path:
    """`docker save` of `image_tag`, its names then rewritten to `tags`, as an attacker
    crafts an archive without touching the names of the machine it is made on."""
    raw = b"".join(docker_client.images.get(image_tag).save(named=image_tag))
    # Not compressed: a plain tar is a valid image.tar.gz for every reader here, and quick.
    with tarfile.open(fileobj=io.BytesIO(raw)) as src, tarfile.open(dest, "w") as out:
        for member in src:
            data = src.extractfile(member).read() if member.isfile() else None
            if member.name == "manifest.json":
                manifest = json.loads(data)
                manifest[0]["RepoTags"] = tags
                data = json.dumps(manifest).encode()
            elif member.name == "repositories":
                repo, _, tag = (tags or ["x:y"])[0].rpartition(":")
                data = json.dumps({repo: {tag: "0" * 64}}).encode() if tags else b"{}"
            if data is not None:
                member.size = len(data)
            out.addfile(member, io.BytesIO(data) if data is not None else None)
    return dest


def publish_cube(w: World, cube_id: str, image_name: str, archive: Path) -> None:
    """The attacker's cube, published from their own repository and registered on the
    registry's default branch (as a merged submission is)."""
    source = w.tmp / f"{cube_id}-src"
    shutil.copytree(EXAMPLES / "model", source)
    manifest = source / "mlcube" / "mlcube.yaml"
    manifest.write_text(
        manifest.read_text().replace("medperf-action-example/model:0.1.0", image_name)
    )
    assets = package_cube(validate_path(source), w.tmp / f"{cube_id}-assets").directory
    shutil.copy(archive, assets / "image.tar.gz")
    with open(assets / "checksums.sha256", "a") as sums:
        sums.write(f"{sha256_file(assets / 'image.tar.gz')}  image.tar.gz\n")
    _, published = publish(f"{w.owner}/wdbc-centroid", cube_id, assets, token=w.tokens[w.owner])
    by_name = {p.name: {"url": p.url, "sha256": p.sha256} for p in published}
    entry = {
        "id": cube_id,
        "name": cube_id,
        "owner": w.owner,
        "role": "model",
        "state": "OPERATION",
        "assets": {
            "mlcube": by_name["mlcube.yaml"],
            "parameters": by_name["parameters.yaml"],
            "additional_files": by_name["additional_files.tar.gz"],
        },
        "image": {"archive": by_name["image.tar.gz"]},
    }
    w.gh.commit(REG, {f"mlcubes/{cube_id}.yaml": yaml.safe_dump(entry, sort_keys=False)})


def request(w: World, cube_id: str, metrics: dict, extra: dict | None = None) -> int:
    """An association request for `cube_id` reporting `metrics`, opened by its owner
    (with `extra` files changed in the same commit)."""
    summary = copy.deepcopy(w.stage.summary)
    summary["cubes"]["candidate"]["id"] = cube_id
    summary["metrics"]["candidate"] = metrics
    doc = {
        "benchmark": BENCH,
        "mlcube": cube_id,
        "status": "PENDING",
        "initiated_by": w.owner,
        "created_at": "2026-12-01T00:00:00Z",
        "result": {"passed": True, "metrics": metrics},
        "summary": summary,
    }
    branch = f"medperf/associate/{BENCH}/{cube_id}"
    fork = f"{w.owner}/registry"
    gh = w.gh
    with gh.lock:
        gh.repo(fork).refs[f"refs/heads/{branch}"] = gh.repo(REG).refs["refs/heads/main"]
    files = {association_path(BENCH, cube_id): yaml.safe_dump(doc), **(extra or {})}
    gh.commit(fork, files, branch=branch)
    pull = (
        gh.github(w.tokens[w.owner])
        .get_repo(REG)
        .create_pull(
            base="main",
            head=f"{w.owner}:{branch}",
            title=branch,
            body=association_marker(BENCH, cube_id),
        )
    )
    add_label(w, pull.number, PENDING, "registry-bot")
    return pull.number


def main_file_of(w: World, cube_id: str) -> bytes | None:
    """The pair's association file on the registry's default branch, if any."""
    return w.gh.read_file(REG, association_path(BENCH, cube_id))


def names(docker_client) -> dict[str, str | None]:
    """Where each name the benchmark stands on points, right now."""
    found = {}
    for name in BENCHMARK_IMAGES:
        images = docker_client.images.list(name=name)
        found[name] = images[0].id if images else None
    return found


# ---------------------------------------------------------------------------------------
# 1. A candidate can run in place of a benchmark cube


def test_a_candidate_cannot_run_as_the_evaluator(
    world: World, docker_client, hostile_image
) -> None:
    """The attacker's cube names the evaluator's image (as the registry pins it, by
    digest) and publishes its own image as an archive saved under the evaluator's local
    name; its 'evaluator' writes the metrics it reported. Before, cubes were grouped by
    image name and the first of a group (the candidate) was loaded for all of them: the
    re-run evaluated with the attacker's code, and the made-up metrics were 'reproduced'."""
    w = world
    tag, _ = hostile_image
    before = names(docker_client)
    # The evaluator's image as the registry names it (by digest): the attacker's cube
    # names the same, and its archive carries the evaluator's local name too.
    evaluator = w.stage.references["breast-cancer-metrics"]
    archive = crafted_archive(docker_client, tag, w.tmp / "evil.tar.gz", [EVALUATOR_IMAGE])
    publish_cube(w, "hostile-model", evaluator, archive)
    number = request(w, "hostile-model", MADE_UP)
    code, _, stderr, doc = verify(w, number)
    assert code == 1 and doc and not doc["passed"], stderr
    checks = {c["name"]: c for c in doc["checks"]}
    assert not checks["rerun"]["passed"]
    assert f"all name the image {evaluator!r}" in checks["rerun"]["detail"]
    assert not any(row["passed"] for row in doc["metrics"])  # nothing "reproduced"
    assert names(docker_client) == before  # every name the benchmark uses stays put


def test_a_published_archive_loads_without_moving_any_name(
    world: World, docker_client, hostile_image
) -> None:
    """An archive may only carry its own name, and even that is not set: loading it never
    changes which image any name points to. The candidate runs by its image ID."""
    w = world
    tag, image_id = hostile_image
    own = f"medperf-action-test/archived-{uuid.uuid4().hex[:12]}:1"
    # A tag another image holds (the base image), among the archive's names: refused.
    evil = crafted_archive(docker_client, tag, w.tmp / "evil.tar.gz", [own, "python:3.11-slim"])
    publish_cube(w, "greedy-model", own, evil)
    before = names(docker_client)
    code, _, stderr, doc = verify(w, request(w, "greedy-model", MADE_UP))
    assert code == 1 and not doc["passed"], stderr
    rerun = next(c for c in doc["checks"] if c["name"] == "rerun")
    assert "would tag" in rerun["detail"] and "python:3.11-slim" in rerun["detail"]
    assert names(docker_client) == before
    # Its own name only: it loads, under no name at all, and runs by its ID; the real
    # evaluator scores it, so the made-up metrics are not reproduced.
    plain = crafted_archive(docker_client, tag, w.tmp / "plain.tar.gz", [own])
    publish_cube(w, "plain-model", own, plain)
    code, _, stderr, doc = verify(w, request(w, "plain-model", MADE_UP))
    assert code == 1 and not doc["passed"], stderr
    rerun = next(c for c in doc["checks"] if c["name"] == "rerun")
    assert rerun["passed"], rerun["detail"]  # it ran
    assert {r["metric"] for r in doc["metrics"] if not r["passed"]} == set(MADE_UP)
    assert docker_client.images.list(name=own) == []  # the archive set no name
    assert docker_client.images.get(image_id).id == image_id
    assert names(docker_client) == before


# ---------------------------------------------------------------------------------------
# 2. Published images are pinned, and approved models cannot be swapped


def check(doc: dict, name: str) -> dict:
    return next(c for c in doc["checks"] if c["name"] == name)


def approved_request(w: World) -> int:
    """The owner's honest request for the model, verified, reported and approved."""
    number = request(w, MODEL, w.honest)
    assert verify(w, number)[0] == 0 and report(w, number)[0] == 0
    add_label(w, number, APPROVED, "carol")
    code, stdout, stderr = on_label(w, number, APPROVED, "carol")
    assert code == 0 and stdout.startswith("approved:"), stdout + stderr
    return number


def test_a_submission_that_names_its_image_by_tag_is_refused(world: World) -> None:
    """The entry names its image by a tag the owner can move after the verification.
    Before, verify checked the assets and passed it; now a published entry names its
    image by digest or as an archive with its SHA-256."""
    w = world
    entry = yaml.safe_load(w.gh.read_file(REG, f"mlcubes/{MODEL}.yaml"))
    movable = dict(entry, id="wdbc-movable", image={"name": "alice/wdbc:latest"})
    code, _, stderr, doc = verify(w, submission(w, movable))
    rules = check(doc, "rules")
    assert code == 1 and not rules["passed"], stderr
    assert "does not pin what runs: its image is the name 'alice/wdbc:latest'" in rules["detail"]
    unnamed = {k: v for k, v in entry.items() if k != "image"}
    code, _, _, doc = verify(w, submission(w, dict(unnamed, id="wdbc-unnamed")))
    assert code == 1 and "it names no image" in check(doc, "rules")["detail"]


def test_a_rerun_never_runs_a_cube_the_registry_does_not_pin(world: World) -> None:
    """The model's entry on the default branch names its image by tag (merged before
    this rule, or by hand). Before, the re-run ran whatever the tag pointed at and the
    approval stood for it; now the re-run refuses to start."""
    w = world
    entry = yaml.safe_load(w.gh.read_file(REG, f"mlcubes/{MODEL}.yaml"))
    tagged = dict(entry, image={"name": "medperf-action-example/model:0.1.0"})
    w.gh.commit(REG, {f"mlcubes/{MODEL}.yaml": yaml.safe_dump(tagged)}, author="carol")
    code, _, stderr, doc = verify(w, request(w, MODEL, w.honest))
    rerun = check(doc, "rerun")
    assert code == 1 and not rerun["passed"], stderr
    assert f"mlcube {MODEL} cannot be verified: its image is the name" in rerun["detail"]
    assert "pins" not in doc


def test_an_approved_model_cannot_be_swapped_under_its_id(world: World) -> None:
    """Once approved, the owner submits an update of the model's entry that names another
    image (any image they can publish: here the reference model's). Before, verify passed
    it as "an update", and the approved association then stood for code nobody verified.
    Now an mlcube in operation may change its description, not what runs; the approval
    records what was verified, and the benchmark's own cubes are frozen the same way."""
    w = world
    number = approved_request(w)
    approved = yaml.safe_load(main_file_of(w, MODEL))
    entry = yaml.safe_load(w.gh.read_file(REG, f"mlcubes/{MODEL}.yaml"))
    assert approved["verified"]["pr"] == number
    assert approved["verified"]["mlcubes"][MODEL]["image"] == entry["image"]

    swapped = dict(entry, image={"reference": w.stage.references["breast-cancer-lr"]})
    refused = submission(w, swapped)
    code, _, stderr, doc = verify(w, refused)
    rules = check(doc, "rules")
    assert code == 1 and not rules["passed"], stderr
    assert f"its association with {BENCH} is APPROVED" in rules["detail"]
    assert "this update changes image: publish the new version under a new id" in rules["detail"]

    gh = w.gh.github(w.tokens[w.owner])
    gh.get_repo(REG).get_pull(refused).edit(state="closed")
    reworded = dict(entry, description="The same model, documented.")
    code, stdout, stderr, doc = verify(w, submission(w, reworded))
    assert code == 0 and check(doc, "rules")["passed"], stdout + stderr

    evaluator = yaml.safe_load(w.gh.read_file(REG, "mlcubes/breast-cancer-metrics.yaml"))
    assets = dict(evaluator["assets"], parameters=entry["assets"]["parameters"])
    code, _, _, doc = verify(w, submission(w, dict(evaluator, assets=assets)))
    rules = check(doc, "rules")
    assert code == 1 and f"the APPROVED benchmark {BENCH} runs it" in rules["detail"]
    assert "changes assets.parameters" in rules["detail"]


def test_a_cube_changed_after_its_verification_is_not_approved(world: World) -> None:
    """The model is verified and reported; then its entry on the default branch changes
    (an update merged: the model is not frozen before its first approval). Before, the
    approval went through and recorded nothing of what ran; now the verification is bound
    to the pins of the cubes that ran, and an approval of other cubes is refused."""
    w, gh = world, world.gh
    number = request(w, MODEL, w.honest)
    assert verify(w, number)[0] == 0 and report(w, number)[0] == 0
    assert VERIFIED in labels(w, number)
    entry = yaml.safe_load(gh.read_file(REG, f"mlcubes/{MODEL}.yaml"))
    swapped = dict(entry, image={"reference": w.stage.references["breast-cancer-lr"]})
    gh.commit(REG, {f"mlcubes/{MODEL}.yaml": yaml.safe_dump(swapped)}, author="carol")

    add_label(w, number, APPROVED, "carol")
    code, stdout, stderr = on_label(w, number, APPROVED, "carol")
    assert code == 0 and stdout.startswith("refused:"), stdout + stderr
    assert "not those the verification ran" in stdout
    assert gh.repo(REG).issues[number].pull.merged_at is None
    assert main_file_of(w, MODEL) is None and APPROVED not in labels(w, number)

    # The same report again: the re-run's cubes are not the default branch's now.
    code, stdout, _ = report(w, number)
    assert code == 0 and "verification failed" in stdout
    assert f"{MODEL} (image)" in comments(w, number)[0]
    assert labels(w, number) >= {FAILED}


# ---------------------------------------------------------------------------------------
# 3. Everything decided is bound to one commit


def test_a_branch_moved_between_two_reads_judges_the_commit_that_was_read(world: World) -> None:
    """The attacker's request also puts themselves on the committee (registry.yaml). While
    verify reads the PR (its head: that commit), the attacker pushes a clean commit; once
    the files are listed, they push the first one back. Before, verify listed the clean
    commit's files, passed, and bound its verdict to the first commit, which an approval
    then merges. Now the files are those of the commit that was read, and it is refused."""
    w, gh = world, world.gh
    takeover = (
        gh.read_file(REG, "registry.yaml")
        .decode()
        .replace("users:\n  - carol", "users:\n  - carol\n  - alice")
    )
    assert "alice" in takeover
    number = request(w, MODEL, w.honest, extra={"registry.yaml": takeover})
    pull = gh.repo(REG).issues[number].pull
    fork, branch = gh.repo(pull.head_repo), f"refs/heads/{pull.head_ref}"
    hostile = fork.refs[branch]
    # The clean commit: the same request with registry.yaml as the registry has it.
    original = gh.read_file(REG, "registry.yaml")
    clean = gh.commit(pull.head_repo, {"registry.yaml": original}, branch=pull.head_ref)
    with gh.lock:
        fork.refs[branch] = hostile  # the PR's head is the hostile commit

    def move(sha: str) -> None:
        with gh.lock:
            fork.refs[branch] = sha

    gh.inject("GET", r"/pulls/\d+$", "then", then=lambda: move(clean))
    gh.inject("GET", r"/pulls/\d+/files$|/compare/", "then", then=lambda: move(hostile))
    code, _, stderr, doc = verify(w, number)
    assert code == 1 and doc["head_sha"] == hostile, stderr
    allowed = next(c for c in doc["checks"] if c["name"] == "allowed-changes")
    assert not allowed["passed"] and "registry.yaml" in allowed["detail"]


# ---------------------------------------------------------------------------------------
# 4. A rejection is final


def test_a_rejected_request_reopened_and_relabelled_is_not_approved(world: World) -> None:
    """The author reopens their rejected request, and somebody with triage access takes its
    rejected label off; a committee member then labels it approved. Before, it was merged: labels were
    the only record of the rejection. Now the registry's own comment records it."""
    w, gh = world, world.gh
    number = request(w, MODEL, w.honest)
    assert verify(w, number)[0] == 0 and report(w, number)[0] == 0
    add_label(w, number, REJECTED, "carol")
    assert on_label(w, number, REJECTED, "carol")[0] == 0
    assert gh.repo(REG).issues[number].state == "closed"

    gh.github(w.tokens[w.owner]).get_repo(REG).get_pull(number).edit(state="open")
    issue = gh.github(w.tokens["mallory"]).get_repo(REG).get_issue(number)
    issue.requester.requestJsonAndCheck(  # a label name with "/" is sent percent-encoded
        "DELETE", f"{issue.url}/labels/{urllib.parse.quote(REJECTED, safe='')}"
    )
    assert gh.repo(REG).issues[number].state == "open" and REJECTED not in labels(w, number)

    add_label(w, number, APPROVED, "dave")
    code, stdout, stderr = on_label(w, number, APPROVED, "dave")
    assert code == 0 and stdout.startswith("refused:"), stdout + stderr
    assert "rejected by carol" in stdout
    issue = gh.repo(REG).issues[number]
    assert issue.pull.merged_at is None and APPROVED not in labels(w, number)
    assert main_file_of(w, MODEL) is None


# ---------------------------------------------------------------------------------------
# 6. Committees with teams work, and the label check fails closed


def test_a_team_lookup_that_fails_refuses_the_approval_saying_why(world: World) -> None:
    """GitHub fails while the labeller's team membership is checked. Before, on-label
    stopped with an error and left the approved label standing; now the label goes, with
    a comment that says why, and nothing is merged."""
    w, gh = world, world.gh
    number = request(w, MODEL, w.honest)
    assert verify(w, number)[0] == 0 and report(w, number)[0] == 0
    gh.inject("GET", r"/teams/committee/memberships/", "status", count=50, status=502)
    add_label(w, number, APPROVED, "dave")
    code, stdout, stderr = on_label(w, number, APPROVED, "dave")
    assert code == 0 and stdout.startswith("refused:"), stdout + stderr
    assert "could not be checked" in stdout and "502" in stdout
    assert APPROVED not in labels(w, number)
    assert gh.repo(REG).issues[number].pull.merged_at is None
    assert any("could not be checked" in c for c in comments(w, number))


def test_a_committee_team_is_read_with_the_team_token(world: World, monkeypatch) -> None:
    """The workflow's own token cannot see team memberships (GitHub answers 404): a team
    member's approval is refused, saying how to fix it; with the team token it stands."""
    w, gh = world, world.gh
    gh.hide_teams_from("registry-bot")
    number = request(w, MODEL, w.honest)
    assert verify(w, number)[0] == 0 and report(w, number)[0] == 0
    add_label(w, number, APPROVED, "dave")
    code, stdout, _ = on_label(w, number, APPROVED, "dave")
    assert stdout.startswith("refused:") and "team-token" in stdout
    assert gh.repo(REG).issues[number].pull.merged_at is None
    monkeypatch.setenv("MEDPERF_TEAM_TOKEN", w.tokens["carol"])  # reads the org's teams
    add_label(w, number, APPROVED, "dave")
    code, stdout, stderr = on_label(w, number, APPROVED, "dave")
    assert code == 0 and stdout.startswith("approved:"), stdout + stderr
    assert gh.repo(REG).issues[number].pull.merged_at is not None


# ---------------------------------------------------------------------------------------
# 5. Limits on what an untrusted cube or URL can cost


def submission(w: World, entry: dict) -> int:
    """A submission of `entry` as mlcubes/<id>.yaml, from its owner's fork."""
    cube_id, gh, owner = entry["id"], w.gh, entry["owner"]
    branch, fork = f"medperf/submit/{cube_id}", f"{owner}/registry"
    if fork.lower() not in gh.world.repos:
        gh.fork(REG, owner)
    with gh.lock:
        gh.repo(fork).refs[f"refs/heads/{branch}"] = gh.repo(REG).refs["refs/heads/main"]
    gh.commit(fork, {f"mlcubes/{cube_id}.yaml": yaml.safe_dump(entry)}, branch=branch)
    pull = (
        gh.github(w.tokens[owner])
        .get_repo(REG)
        .create_pull(base="main", head=f"{owner}:{branch}", title=branch, body="")
    )
    return pull.number


def test_verify_downloads_no_more_than_declared_and_only_over_https(
    world: World, monkeypatch
) -> None:
    """An asset that serves more than its entry declares is cut off there; a plain-http URL
    is not fetched at all; and the comment says so in general terms, never echoing what a
    remote page answered."""
    w = world
    entry = yaml.safe_load(w.gh.read_file(REG, f"mlcubes/{MODEL}.yaml"))
    small = dict(entry, id="wdbc-small", name="small")
    small["assets"] = dict(entry["assets"])
    small["assets"]["additional_files"] = dict(entry["assets"]["additional_files"], size=100)
    code, _, stderr, doc = verify(w, submission(w, small))
    assets = next(c for c in doc["checks"] if c["name"] == "assets")
    assert code == 1 and not assets["passed"], stderr
    assert "assets.additional_files: a download is larger than allowed" in assets["detail"]
    assert "cut off" not in assets["detail"] and "bytes" not in assets["detail"]

    monkeypatch.delenv("MEDPERF_ACTION_INSECURE_HOSTS")  # as on GitHub: https only
    plain = dict(entry, id="wdbc-plain", name="plain")
    code, _, _, doc = verify(w, submission(w, plain))
    assets = next(c for c in doc["checks"] if c["name"] == "assets")
    assert code == 1 and "assets.mlcube: a URL is not https" in assets["detail"]
