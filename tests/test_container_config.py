"""MedPerf's container_config, run as MedPerf runs it: end to end, real images, real Docker.

The cubes (tests/cubes/chestxray_like) are laid out as MedPerf's chest X-ray tutorial
cubes, with code of our own (standard library only). Their images are built here under
this session's own tags and removed afterwards.

The reference for "as MedPerf runs it" is `medperf_docker_run` below: the `docker run`
that MedPerf's Docker runner builds from container_config.yaml (read from
cli/medperf/containers/runners/{docker_runner,docker_utils,utils}.py and
cli/medperf/entities/cube.py), given to the Docker SDK argument for argument.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import io
import json
import os
import shlex
import shutil
import tarfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
import yaml
from click.testing import CliRunner
from conftest import SESSION

from medperf_action.adapters.docker.images import archive_layout
from medperf_action.cli import main

pytestmark = pytest.mark.docker

CUBES = Path(__file__).resolve().parent / "cubes" / "chestxray_like"
ROLES = ("data_preparator", "model", "metrics")
#: The image each cube's container_config.yaml names, and this session's tag for it.
NAMES = {
    "data_preparator": "medperf-action-test/cxr-prep:0.0.1",
    "model": "medperf-action-test/cxr-model:0.0.1",
    "metrics": "medperf-action-test/cxr-metrics:0.0.1",
}
TAGS = {role: name.replace(":", f"-{SESSION}:") for role, name in NAMES.items()}
#: Every container this file starts itself carries these (so the suite can clean up).
OWN_LABELS = {"org.medperf-action.managed": "1", "org.medperf-action.session": SESSION}


# ---------------------------------------------------------------------------------------
# Fixtures: the images, the cubes, the demo dataset, a file server on 127.0.0.1


@pytest.fixture(scope="module")
def images(docker_client) -> Iterator[dict[str, str]]:
    """The three cubes' images, built from their Dockerfiles under this session's tags."""
    ids = {}
    for role, tag in TAGS.items():
        image, _ = docker_client.images.build(path=str(CUBES / role), tag=tag, rm=True)
        ids[role] = image.id
    yield ids
    for tag in TAGS.values():
        with contextlib.suppress(docker.errors.ImageNotFound, docker.errors.APIError):
            docker_client.images.remove(tag, force=True)


def cube_copy(tmp_path: Path, role: str, name: str | None = None) -> Path:
    """A copy of one cube, naming this session's image (made once per test)."""
    dest = tmp_path / (name or role)
    if dest.exists():
        return dest
    shutil.copytree(CUBES / role, dest)
    config = dest / "container_config.yaml"
    config.write_text(config.read_text().replace(NAMES[role], TAGS[role]))
    return dest


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo dataset as MedPerf's are: a tarball with paths.yaml naming the folders."""
    root = tmp_path_factory.mktemp("demo")
    cases = {f"case_{i:03d}": ([i * 10 + j for j in range(6)], int(i % 3 == 0)) for i in range(9)}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:

        def add(name: str, text: str) -> None:
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))

        add("paths.yaml", "data_path: raw/images\nlabels_path: raw/labels\n")
        for case, (pixels, label) in cases.items():
            add(f"raw/images/{case}.txt", " ".join(map(str, pixels)) + "\n")
            add(f"raw/labels/{case}.txt", f"{label}\n")
    path = root / "cxr-demo.tar.gz"
    path.write_bytes(buffer.getvalue())
    return path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A folder served over http on 127.0.0.1, and its base URL (as a release host)."""
    root = tmp_path_factory.mktemp("served")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def cli(cache: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        main, list(args), env={"MEDPERF_ACTION_CACHE": str(cache), "GITHUB_ACTIONS": ""}
    )
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def run_test(tmp_path: Path, demo: Path, model: Path, *extra: str, **cubes: Path) -> tuple:
    """`medperf-action test` of `model` against the tutorial-shaped benchmark."""
    out = tmp_path / f"out-{uuid.uuid4().hex[:6]}"
    prep = cubes.get("data_preparator") or cube_copy(tmp_path, "data_preparator", "prep")
    metrics = cubes.get("metrics") or cube_copy(tmp_path, "metrics", "metrics")
    reference = cubes.get("reference") or model
    code, stdout, stderr = cli(
        tmp_path / "cache",
        "test",
        "--model",
        str(model),
        "--reference-model",
        str(reference),
        "--data-preparator",
        str(prep),
        "--evaluator",
        str(metrics),
        "--demo-dataset",
        str(demo),
        "--output",
        str(out),
        "--quiet",
        *extra,
    )
    summary = json.loads((out / "summary.json").read_text()) if code == 0 else None
    return code, stdout, stderr, summary


def step_output(cache: Path, summary: dict, role: str, task: str, subject: str = "") -> Path:
    """Where medperf-action keeps a step's `output_path` (and prepare's labels beside it)."""
    record = next(
        t
        for t in summary["tasks"]
        if t["role"] == role and t["task"] == task and (not subject or t["subject"] == subject)
    )
    return cache / "steps" / record["cache_key"] / "outputs"


def tree_bytes(path: Path) -> dict[str, bytes]:
    if path.is_file():
        return {path.name: path.read_bytes()}
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in path.rglob("*") if p.is_file()}


# ---------------------------------------------------------------------------------------
# MedPerf's own way: the `docker run` its Docker runner builds


def medperf_docker_run(
    client: Any, cube: Path, image: str, task: str, mounts: dict[str, Path], scratch: Path
) -> None:
    """Run `task` of the container_config cube at `cube` as MedPerf's DockerRunner does.

    MedPerf (cli/medperf/entities/cube.py `Cube.run`) adds the mounts `parameters_file`
    (the parameters it holds, written with yaml.safe_dump) and `additional_files` (the
    cube's folder, created when missing), and a fresh host folder at /tmp; its
    `craft_docker_run_command` then builds, in this order: `docker run --name
    medperf-TASK-HEX --rm -u UID:GID`, `--volume HOST:MOUNT:ro` per input (which must
    exist), `--volume HOST:MOUNT:rw` per output (a folder created, or an empty file),
    `--network none`, `--gpus` when asked for (never here), `--shm-size`, `--env K=V`,
    `--entrypoint E` (one executable, not split), then the image and `command` (a string
    split with shlex). The Docker SDK gets the same: volumes in the CLI's own
    HOST:MOUNT:MODE form, the entrypoint as a one-element list (as the CLI sends it), the
    command split; the container is removed afterwards, as `--rm` does. The only
    additions are this session's labels, so that the suite can clean up after itself.
    """
    config = yaml.safe_load((cube / "container_config.yaml").read_text())
    spec = config["tasks"][task]
    run_args = dict(spec.get("run_args") or {})
    assert set(run_args) <= {"shm_size", "gpus", "command", "entrypoint", "environment"}
    params = scratch / f"{task}-parameters.yaml"
    params.write_text(
        yaml.safe_dump(yaml.safe_load((cube / "workspace/parameters.yaml").read_text()))
    )
    additional = cube / "workspace" / "additional_files"
    additional.mkdir(parents=True, exist_ok=True)
    given = {**mounts, "parameters_file": params, "additional_files": additional}
    volumes = []
    for label, volume in (spec.get("input_volumes") or {}).items():
        assert given[label].exists()
        volumes.append(f"{given[label]}:{volume['mount_path']}:ro")
    for label, volume in (spec.get("output_volumes") or {}).items():
        host = given[label]
        if volume["type"] == "directory":
            host.mkdir(parents=True, exist_ok=True)
        else:
            host.parent.mkdir(parents=True, exist_ok=True)
            host.touch()
        volumes.append(f"{host}:{volume['mount_path']}:rw")
    tmp = scratch / f"{task}-tmp"
    tmp.mkdir()
    volumes.append(f"{tmp}:/tmp:rw")
    command = run_args.get("command", [])
    if isinstance(command, str):
        command = shlex.split(command)
    kwargs: dict[str, Any] = {
        "name": f"medperf-{task}-{uuid.uuid4().hex[:16]}",
        "user": f"{os.getuid()}:{os.getgid()}",
        "volumes": volumes,
        "network_mode": "none",
        "environment": [f"{k}={v}" for k, v in (run_args.get("environment") or {}).items()],
        "labels": OWN_LABELS,
    }
    if "shm_size" in run_args:
        kwargs["shm_size"] = run_args["shm_size"]
    if run_args.get("entrypoint") is not None:
        kwargs["entrypoint"] = [str(run_args["entrypoint"])]
    container = client.containers.create(image, command or None, **kwargs)
    try:
        container.start()
        status = container.wait(timeout=300)
        logs = container.logs().decode(errors="replace")
        assert status["StatusCode"] == 0, f"{task} exited {status['StatusCode']}:\n{logs}"
    finally:
        container.remove(force=True)


# ---------------------------------------------------------------------------------------
# The tests


def test_tutorial_shaped_cubes_give_byte_identical_results_to_medperfs_docker_run(
    tmp_path: Path, demo: Path, images: dict[str, str], docker_client
) -> None:
    """The whole workflow under `test`, then each task again as MedPerf's `docker run`;
    every output file is the same, byte for byte.

    The preparator's `prepare` runs as `entrypoint: python3` + `command:
    /project/prepare.py` (the script is not executable, so without the entrypoint it is
    "permission denied"), and the model declares `additional_files` with no such folder
    (Git keeps none): both as MedPerf runs them."""
    prep = cube_copy(tmp_path, "data_preparator", "prep")
    model = cube_copy(tmp_path, "model")
    metrics = cube_copy(tmp_path, "metrics")
    assert not (model / "workspace" / "additional_files").exists()
    assert not os.access(prep / "project" / "prepare.py", os.X_OK)
    code, _, stderr, summary = run_test(
        tmp_path, demo, model, data_preparator=prep, metrics=metrics
    )
    assert code == 0, stderr
    assert not (model / "workspace" / "additional_files").exists()  # nothing written there
    cache = tmp_path / "cache"
    ours = {
        "prepare": tree_bytes(step_output(cache, summary, "data_preparator", "prepare")),
        "statistics": tree_bytes(step_output(cache, summary, "data_preparator", "statistics")),
        "infer": tree_bytes(step_output(cache, summary, "candidate", "infer")),
        "evaluate": tree_bytes(step_output(cache, summary, "evaluator", "evaluate", "candidate")),
    }

    # MedPerf's way, task after task, on the same demo data.
    work = tmp_path / "medperf"
    with tarfile.open(demo) as tar:
        tar.extractall(work / "demo", filter="data")
    paths = yaml.safe_load((work / "demo" / "paths.yaml").read_text())
    raw_data, raw_labels = work / "demo" / paths["data_path"], work / "demo" / paths["labels_path"]
    data, labels = work / "dataset" / "data", work / "dataset" / "labels"
    stats, preds = work / "dataset" / "statistics.yaml", work / "predictions"
    results = work / "results" / "results.yaml"
    scratch = work / "scratch"
    scratch.mkdir(parents=True)
    run = functools.partial(medperf_docker_run, docker_client, scratch=scratch)
    run(prep, TAGS["data_preparator"], "prepare", {
        "data_path": raw_data, "labels_path": raw_labels,
        "output_path": data, "output_labels_path": labels,
    })  # fmt: skip
    run(prep, TAGS["data_preparator"], "sanity_check", {"data_path": data, "labels_path": labels})
    run(prep, TAGS["data_preparator"], "statistics", {
        "data_path": data, "labels_path": labels, "output_path": stats,
    })  # fmt: skip
    run(model, TAGS["model"], "infer", {"data_path": data, "output_path": preds})
    run(metrics, TAGS["metrics"], "evaluate", {
        "predictions": preds, "labels": labels, "output_path": results,
    })  # fmt: skip
    theirs = {
        "prepare": {
            **{f"output_path/{k}": v for k, v in tree_bytes(data).items()},
            **{f"output_labels_path/{k}": v for k, v in tree_bytes(labels).items()},
        },
        "statistics": {f"output_path/{k}": v for k, v in tree_bytes(stats).items()},
        "infer": {f"output_path/{k}": v for k, v in tree_bytes(preds).items()},
        "evaluate": {f"output_path/{k}": v for k, v in tree_bytes(results).items()},
    }
    assert len(theirs["prepare"]) == 18  # 9 cases, 9 labels
    assert json.loads(theirs["infer"]["output_path/predictions.json"])["additional_files"] == []
    assert ours == theirs
    assert summary["metrics"]["candidate"] == yaml.safe_load(results.read_text())


def test_entrypoint_is_given_to_the_container(
    tmp_path: Path, demo: Path, images: dict[str, str]
) -> None:
    """Only `run_args.entrypoint` makes the non-executable script run: the same cube
    without it fails with "permission denied", as it would under MedPerf."""
    prep = cube_copy(tmp_path, "data_preparator", "prep")
    config = prep / "container_config.yaml"
    config.write_text(config.read_text().replace("      entrypoint: python3\n", "", 1))
    code, _, stderr, _ = run_test(
        tmp_path, demo, cube_copy(tmp_path, "model"), data_preparator=prep
    )
    assert code == 3, stderr
    assert "permission denied" in stderr.lower()


def test_gpus_reach_a_container_config_task_only_with_the_gpus_option(
    tmp_path: Path, demo: Path, images: dict[str, str], docker_client
) -> None:
    """A model whose infer asks for `gpus: all`: without --gpus it runs on the CPU; with
    --gpus the engine is asked for GPUs (on an engine without NVIDIA's runtime the
    container cannot start, and the error says why)."""
    model = cube_copy(tmp_path, "model")
    config = model / "container_config.yaml"
    config.write_text(
        config.read_text().replace("  infer:\n", "  infer:\n    run_args:\n      gpus: all\n")
    )
    reference = cube_copy(tmp_path, "model", "reference")
    code, _, stderr, _ = run_test(tmp_path, demo, model, reference=reference)
    assert code == 0, stderr
    code, _, stderr, _ = run_test(tmp_path, demo, model, "--gpus", reference=reference)
    # what the engine was asked for, on any machine: all GPUs for the candidate's infer
    # (its task asks for them), none for a task that does not ask
    without, with_gpus = (
        json.loads(path.read_text())
        for path in sorted(tmp_path.glob("out-*/commands.json"), key=lambda p: p.stat().st_mtime)
    )
    asked = with_gpus["candidate-infer"]["create"].get("device_requests")
    assert asked and asked[0]["count"] == -1 and asked[0]["capabilities"] == [["gpu"]], asked
    assert not without["candidate-infer"]["create"].get("device_requests")
    if "nvidia" in (docker_client.info().get("Runtimes") or {}):
        assert code == 0, stderr
    else:
        assert code == 4, stderr
        assert "GPUs were requested" in stderr and "infer" in stderr


def test_missing_additional_files_is_an_empty_folder_in_validate_package_and_registry(
    tmp_path: Path, demo: Path, images: dict[str, str], served: tuple[Path, str]
) -> None:
    """Valid; packaged as an empty folder is (no tarball: the same assets, byte for byte);
    and run from a registry entry's published assets, it gets an empty folder."""
    model = cube_copy(tmp_path, "model")
    code, stdout, stderr = cli(tmp_path / "cache", "validate", str(model))
    assert code == 0, stdout + stderr
    code, _, stderr = cli(
        tmp_path / "cache", "package", str(model), "--output", str(tmp_path / "a")
    )
    assert code == 0, stderr
    assert "additional_files.tar.gz not written" in stderr
    empty = cube_copy(tmp_path / "other", "model")  # the same name: the same manifest.json
    (empty / "workspace" / "additional_files").mkdir()
    code, _, stderr = cli(
        tmp_path / "cache", "package", str(empty), "--output", str(tmp_path / "b")
    )
    assert code == 0, stderr
    assert (tmp_path / "a" / "checksums.sha256").read_bytes() == (
        tmp_path / "b" / "checksums.sha256"
    ).read_bytes()
    assert not (tmp_path / "a" / "additional_files.tar.gz").exists()

    # A registry entry of the published assets (served on 127.0.0.1), without the tarball.
    root, base = served
    published = root / "cxr-model"
    shutil.copytree(tmp_path / "a", published)
    registry = tmp_path / "registry"
    (registry / "mlcubes").mkdir(parents=True)
    shutil.copyfile(
        CUBES.parents[2] / "examples" / "registry" / "registry.yaml", registry / "registry.yaml"
    )
    files = json.loads((published / "manifest.json").read_text())["files"]
    asset = {
        f["name"]: {"url": f"{base}/cxr-model/{f['name']}", "sha256": f["sha256"]} for f in files
    }
    entry = {
        "id": "cxr-model", "name": "CXR model", "owner": "alice", "role": "model",
        "state": "OPERATION", "image": {"name": TAGS["model"]},
        "assets": {"mlcube": asset["container_config.yaml"], "parameters": asset["parameters.yaml"]},
    }  # fmt: skip
    (registry / "mlcubes" / "cxr-model.yaml").write_text(yaml.safe_dump(entry))
    out = tmp_path / "out-registry"
    code, _, stderr = cli(
        tmp_path / "cache", "test", "--registry", str(registry), "--mlcube-id", "cxr-model",
        "--reference-model", str(model), "--data-preparator", str(cube_copy(tmp_path, "data_preparator", "prep")),
        "--evaluator", str(cube_copy(tmp_path, "metrics")), "--demo-dataset", str(demo),
        "--output", str(out), "--quiet",
    )  # fmt: skip
    assert code == 0, stderr
    summary = json.loads((out / "summary.json").read_text())
    preds = step_output(tmp_path / "cache", summary, "candidate", "infer") / "output_path"
    assert json.loads((preds / "predictions.json").read_text())["additional_files"] == []


def test_a_docker_archive_is_fetched_and_loaded_like_a_published_archive(
    tmp_path: Path,
    demo: Path,
    images: dict[str, str],
    served: tuple[Path, str],
    docker_client,
) -> None:
    """`container_type: DockerArchive` with `image:` the URL of a `docker save`: fetched,
    loaded without its names, run by its image ID; the same predictions as the image.
    `package --image-archive` publishes it with its SHA-256."""
    root, base = served
    archive = root / f"cxr-model-{SESSION}.tar"
    # Saved under a name of its own: a name another cube uses (the reference's) is refused.
    inside = f"medperf-action-test/cxr-model-archived-{SESSION}"
    docker_client.images.get(TAGS["model"]).tag(inside, "0.0.1")
    try:
        with open(archive, "wb") as f:
            for chunk in docker_client.images.get(f"{inside}:0.0.1").save(named=f"{inside}:0.0.1"):
                f.write(chunk)
    finally:
        docker_client.images.remove(f"{inside}:0.0.1")
    assert archive_layout(archive).tags == (f"{inside}:0.0.1",)
    model = cube_copy(tmp_path, "model", "model-archive")
    config = model / "container_config.yaml"
    config.write_text(
        config.read_text()
        .replace("container_type: DockerImage", "container_type: DockerArchive")
        .replace(TAGS["model"], f"{base}/{archive.name}")
    )
    code, stdout, stderr = cli(tmp_path / "cache", "validate", str(model))
    assert code == 0, stdout + stderr
    reference = cube_copy(tmp_path, "model", "reference")
    code, _, stderr, summary = run_test(tmp_path, demo, model, reference=reference)
    assert code == 0, stderr
    assert summary["cubes"]["candidate"]["image_id"] == images["model"]
    cache = tmp_path / "cache"
    assert tree_bytes(step_output(cache, summary, "candidate", "infer")) == tree_bytes(
        step_output(cache, summary, "reference_model", "infer")
    )
    code, _, stderr = cli(
        cache, "package", str(model), "--image-archive", "--output", str(tmp_path / "a")
    )
    assert code == 0, stderr
    assert archive_layout(tmp_path / "a" / "image.tar.gz").image_id == images["model"]
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["image"]["id"] == images["model"]


@pytest.mark.parametrize(
    "kind", ["EncryptedDockerArchive", "SingularityFile", "EncryptedSingularityFile"]
)
def test_container_types_not_supported_yet_are_an_error_at_once(tmp_path: Path, kind: str) -> None:
    """`validate` says so (exit 1); `test` says so before anything is fetched or built."""
    model = tmp_path / "model"
    shutil.copytree(CUBES / "model", model)
    config = model / "container_config.yaml"
    config.write_text(
        config.read_text()
        .replace("container_type: DockerImage", f"container_type: {kind}")
        .replace(NAMES["model"], "https://example.org/model.gpg")
    )
    code, stdout, stderr = cli(tmp_path / "cache", "validate", str(model))
    assert code == 1
    assert f"container_type {kind} is not supported by medperf-action yet" in stdout + stderr
    code, _, stderr = cli(
        tmp_path / "cache", "test", "--model", str(model), "--reference-model", str(model),
        "--data-preparator", str(CUBES / "data_preparator"), "--evaluator", str(CUBES / "metrics"),
        "--demo-dataset", str(tmp_path / "no-such-demo.tar.gz"),
    )  # fmt: skip
    assert code == 1, stderr
    assert f"container_type {kind} is not supported by medperf-action yet" in stderr
    assert "no-such-demo" not in stderr  # it stopped before the dataset
    assert not (tmp_path / "cache" / "steps").exists()
