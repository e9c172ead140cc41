"""A published MedPerf world on the GitHub test server, shared by the GitOps tests.

* `medperf/registry`: registry.yaml (committee: carol and the team medperf/committee),
  the benchmark, and the published mlcube entries (asset URLs + SHA-256, and the image by
  digest in the session's OCI registry on 127.0.0.1, as a real registry holds them:
  `path:` entries only work in a local checkout, and a verified entry is pinned).
* `medperf/benchmark-cubes`: releases with the benchmark's cubes and its demo dataset.
* `<owner>/wdbc-centroid`: the model owner's repository, its MLCube published at the tag
  `v1.0.0`; `World.model_assets` holds those assets with release.json, as
  `medperf-action publish` leaves them.

Users: carol (committee, owns the benchmark), dave (committee through the team), alice
(model owner), mallory (triage access, not on the committee), registry-bot (the registry
workflows' identity), reader (read-only).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest
import webhook_events
import yaml
from click.testing import CliRunner

from medperf_action.adapters.docker.client import engine
from medperf_action.adapters.docker.images import ensure_image
from medperf_action.adapters.files.hashing import sha256_file
from medperf_action.cli import main
from medperf_action.domain.registry.layout import association_path
from medperf_action.domain.registry.pins import cube_ids, pin_of
from medperf_action.domain.validation import validate_path
from medperf_action.usecases.packaging import package_cube
from medperf_action.usecases.publishing import outputs_json, publish, push_image, write_record

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
REG = "medperf/registry"
BENCH = "breast-cancer"
MODEL = "breast-cancer-centroid"
#: The tag each stage pushes its cubes' images under (the entries name them by digest).
PUSH_TAG = "stage"
CUBES = {
    "breast-cancer-prep": ("data_preparator", "data-preparator"),
    "breast-cancer-lr": ("reference_model", "model"),
    "breast-cancer-metrics": ("evaluator", "metrics"),
    MODEL: ("model", "model"),
}


@dataclass
class Stage:
    root: Path
    packaged: dict[str, Path]
    demo: Path
    summary: dict
    #: Each cube's image, pushed to the session's OCI registry: NAME@sha256:...
    references: dict[str, str]


def staged(root: Path, oci: str, honest_run: bool = True) -> Iterator[Stage]:
    """A module's stage (`make_stage`); afterwards, the names its pushes gave the images
    in the engine are removed (the images stay)."""
    stage = make_stage(root, oci, honest_run)
    try:
        yield stage
    finally:
        client = engine()
        for pinned in stage.references.values():
            for name in (pinned, pinned.split("@")[0] + ":" + PUSH_TAG):
                with contextlib.suppress(docker.errors.ImageNotFound):
                    client.images.remove(name)


def cached_stage(root: Path, oci: str, honest_run: bool = True) -> Iterator[Stage]:
    """`staged`, with the module's own step cache (`root/cache`) while it lasts."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MEDPERF_ACTION_CACHE", str(root / "cache"))
        yield from staged(root, oci, honest_run)


def make_stage(root: Path, oci: str, honest_run: bool = True) -> Stage:
    """The four example cubes built, packaged, and their images pushed to the session's
    OCI registry (a published entry names its image by digest), and the demo dataset;
    with `honest_run`, the requester's own run (the example registry, local paths) gives
    an association request its summary and metrics."""
    from medperf_action.usecases.compat_test.engine import run_workflow
    from medperf_action.usecases.compat_test.options import Options

    summary: dict = {}
    if honest_run:
        outcome = run_workflow(
            Options(
                model_id=MODEL,
                registry=EXAMPLES / "registry",
                benchmark=BENCH,
                echo=None,
                log=lambda _l: None,
            )
        )
        summary = outcome.summary
    else:
        for folder, _role in CUBES.values():
            cube = validate_path(EXAMPLES / folder).cube
            ensure_image(cube.image, cube.build_context, cube.build_file, log=lambda _l: None)
    # Packaged after the build, so each manifest.json records its image's ID.
    packaged = {
        cube_id: package_cube(
            validate_path(EXAMPLES / folder), root / cube_id, log=lambda _l: None
        ).directory
        for cube_id, (folder, _role) in CUBES.items()
    }
    # This session's own repository names, so no other run's pushes are touched.
    session = os.environ["MEDPERF_ACTION_SESSION"]
    references = {
        cube_id: push_image(folder, f"{oci}/{session}/{cube_id}:{PUSH_TAG}", log=lambda _l: None)
        for cube_id, folder in packaged.items()
    }
    demo = root / "demo"
    demo.mkdir()
    shutil.copy(EXAMPLES / "demo" / "breast-cancer-demo.tar.gz", demo)
    (demo / "checksums.sha256").write_text(
        f"{sha256_file(demo / 'breast-cancer-demo.tar.gz')}  breast-cancer-demo.tar.gz\n"
    )
    return Stage(root, packaged, demo, summary, references)


@dataclass
class World:
    gh: object
    tokens: dict[str, str]
    owner: str
    tmp: Path
    stage: Stage
    model_assets: Path

    @property
    def honest(self) -> dict:
        return self.stage.summary["metrics"]["candidate"]


def _entry(cube_id: str, owner: str, role: str, published: list, reference: str) -> dict:
    by_name = {p.name: p for p in published}
    assets = {
        key: {"url": by_name[name].url, "sha256": by_name[name].sha256}
        for key, name in (
            ("mlcube", "mlcube.yaml"),
            ("parameters", "parameters.yaml"),
            ("additional_files", "additional_files.tar.gz"),
        )
        if name in by_name
    }
    return {
        "id": cube_id,
        "name": cube_id,
        "owner": owner,
        "role": role,
        "state": "OPERATION",
        "assets": assets,
        "image": {"reference": reference},
    }


def build_world(
    gh, monkeypatch, stage: Stage, tmp: Path, owner="alice", policy="never", submitted=True
) -> World:
    """The registry; with `submitted`, the model's entry is on its default branch already."""
    monkeypatch.setenv("GITHUB_API_URL", gh.api_url)
    monkeypatch.setenv("MEDPERF_ACTION_GITHUB_PAUSES", "0")
    # The test server is plain http on 127.0.0.1: the registry's re-run may reach it so.
    monkeypatch.setenv("MEDPERF_ACTION_INSECURE_HOSTS", "127.0.0.1")
    for name in ("GITHUB_ACTIONS", "GITHUB_TOKEN", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("MEDPERF_ACTION_BOT_LOGIN", raising=False)
    logins = ("carol", "alice", "mallory", "dave", "registry-bot", "reader")
    tokens = {login: gh.add_user(login) for login in logins}
    gh.add_org("medperf", {"carol": "admin"})
    gh.add_team("medperf", "committee", ["dave"], {REG: "triage"})
    gh.create_repo("medperf/benchmark-cubes", {"README.md": b"cubes\n"})
    gh.add_collaborator("medperf/benchmark-cubes", "carol", "admin")
    gh.create_repo(f"{owner}/wdbc-centroid", {"README.md": b"model\n"})

    def release(repo: str, tag: str, folder: Path, by: str, image: str | None = None) -> list:
        # As `publish --push-image` leaves it: release.json records the pushed digest.
        url, published = publish(repo, tag, folder, token=tokens[by])
        write_record(folder, outputs_json(url, published, image, repository=repo, tag=tag))
        return published

    model_assets = tmp / "model-assets"
    shutil.copytree(stage.packaged[MODEL], model_assets)
    files: dict[str, str] = {}
    for cube_id, (_folder, role) in CUBES.items():
        cube_owner, repo, assets = (
            (owner, f"{owner}/wdbc-centroid", model_assets)
            if cube_id == MODEL
            else ("carol", "medperf/benchmark-cubes", tmp / cube_id)
        )
        if assets != model_assets:
            shutil.copytree(stage.packaged[cube_id], assets)
        tag = "v1.0.0" if cube_id == MODEL else cube_id
        reference = stage.references[cube_id]
        published = release(repo, tag, assets, cube_owner, reference)
        if cube_id == MODEL and not submitted:
            continue
        files[f"mlcubes/{cube_id}.yaml"] = yaml.safe_dump(
            _entry(cube_id, cube_owner, role, published, reference), sort_keys=False
        )
    shutil.copytree(stage.demo, tmp / "demo")
    demo = release("medperf/benchmark-cubes", "demo-v1", tmp / "demo", "carol")[0]
    files["registry.yaml"] = yaml.safe_dump(
        {
            "name": "Test registry",
            "committee": {"users": ["carol"], "teams": ["medperf/committee"]},
            "approval_policy": {"mode": policy},
            "metric_tolerance": {"absolute": 1e-6},
        },
        sort_keys=False,
    )
    files[f"benchmarks/{BENCH}.yaml"] = yaml.safe_dump(
        {
            "id": BENCH,
            "name": "Breast cancer (WDBC) demo benchmark",
            "description": "The example benchmark, published.",
            "owner": "carol",
            "approval_status": "APPROVED",
            "data_preparator": "breast-cancer-prep",
            "reference_model": "breast-cancer-lr",
            "evaluator": "breast-cancer-metrics",
            "demo_dataset": {"url": demo.url, "sha256": demo.sha256},
        },
        sort_keys=False,
    )
    gh.create_repo(REG, files)
    gh.add_collaborator(REG, "carol", "admin")
    gh.add_collaborator(REG, "registry-bot", "write")
    gh.add_collaborator(REG, "mallory", "triage")  # may label, but is not on the committee
    gh.fork(REG, owner)
    return World(gh, tokens, owner, tmp, stage, model_assets)


def add_label(w: World, number: int, name: str, by: str) -> None:
    w.gh.github(w.tokens[by]).get_repo(REG).get_issue(number).add_to_labels(name)


def invoke(args: list[str], token: str, env: dict | None = None) -> tuple[int, str, str]:
    env = {"GITHUB_TOKEN": token, **(env or {})}
    result = CliRunner().invoke(main, ["registry", *args], env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def verify(w: World, number: int, env: dict | None = None) -> tuple[int, str, str, dict]:
    out = w.tmp / f"verify-{number}"
    code, stdout, stderr = invoke(
        ["verify", "--pr", str(number), "--registry", REG, "--report", str(out)],
        w.tokens["reader"],  # read access is all verify needs
        env,
    )
    doc = json.loads((out / "report.json").read_text()) if (out / "report.json").exists() else {}
    return code, stdout, stderr, doc


def report(
    w: World, number: int, *extra: str, folder: Path | None = None, env: dict | None = None
) -> tuple[int, str, str]:
    folder = folder or w.tmp / f"verify-{number}"
    args = ["report", "--report", str(folder), "--registry", REG, *extra]
    if "--event" not in extra:
        args += ["--pr", str(number)]
    return invoke(args, w.tokens["registry-bot"], env)


def on_label(w: World, number: int, label: str, sender: str) -> tuple[int, str, str]:
    issue = w.gh.repo(REG).issues[number]
    event = webhook_events.load(
        "pull_request",
        "labeled",
        repository=REG,
        default_branch="main",
        number=number,
        sender=sender,
        label=label,
        author=issue.user,
        head_repo=issue.pull.head_repo,
        head_ref=issue.pull.head_ref,
        head_sha=issue.pull.head_sha,
    )
    path = w.tmp / f"event-{number}-{label.replace('/', '-')}-{sender}.json"
    path.write_text(json.dumps(event))
    return invoke(["on-label", "--event", str(path)], w.tokens["registry-bot"])


def labels(w: World, number: int) -> set[str]:
    return set(w.gh.repo(REG).issues[number].labels)


def comments(w: World, number: int) -> list[str]:
    return [c.body for c in w.gh.repo(REG).comments.values() if c.issue_number == number]


def main_file(w: World) -> dict | None:
    data = w.gh.read_file(REG, association_path(BENCH, MODEL), ref="main")
    return None if data is None else yaml.safe_load(data)


def default_pins(w: World, mlcube_id: str = MODEL) -> dict:
    """The pins of the cubes a re-run of `mlcube_id` on the benchmark uses, as the
    registry's default branch holds them now."""
    bench = yaml.safe_load(w.gh.read_file(REG, f"benchmarks/{BENCH}.yaml"))
    return {
        cube: pin_of(yaml.safe_load(w.gh.read_file(REG, f"mlcubes/{cube}.yaml")))
        for cube in cube_ids(bench, mlcube_id)
    }
