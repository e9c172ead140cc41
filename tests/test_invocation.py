"""Unit tests without Docker: how a task becomes arguments and mounts, step cache keys,
and the demo dataset's paths.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from medperf_action.adapters.docker.replay import replay_argv
from medperf_action.adapters.docker.sandbox import device_request
from medperf_action.domain.cube import cube_from_data
from medperf_action.domain.invocation import HostMount, build_invocation, output_location
from medperf_action.errors import BenchmarkInvalid, CubeInvalid, InvalidInput
from medperf_action.usecases.compat_test.dataset import read_paths
from medperf_action.usecases.compat_test.images import Source, source_of
from medperf_action.usecases.compat_test.participants import Participant
from medperf_action.usecases.compat_test.report import commands_script
from medperf_action.usecases.compat_test.steps import step_key

CXR = Path(__file__).resolve().parent / "cubes" / "chestxray_like"

MLCUBE = """
name: m
docker: {image: a/b:1}
tasks:
  infer:
    parameters:
      inputs: {data_path: data/, parameters_file: parameters.yaml, weights: additional_files/w.bin}
      outputs: {output_path: {type: directory, default: predictions}}
  evaluate:
    entrypoint: python3 /app/eval.py --verbose
    parameters:
      inputs: {predictions: predictions/, labels: labels/}
      outputs: {output_path: {type: file, default: results.yaml}}
"""

CONTAINER_CONFIG = """
container_type: DockerImage
image: a/b:1
tasks:
  prepare:
    run_args:
      command: /project/prepare.py --fast
      environment: {SEED: 7}
      shm_size: 2g
    input_volumes:
      data_path: {mount_path: /medperf/data, type: directory}
      parameters_file: {mount_path: /medperf/parameters.yaml, type: file}
    output_volumes:
      output_path: {mount_path: /medperf/out, type: directory}
      report_file: {mount_path: /medperf/report.yaml, type: file}
"""


def cube(tmp_path: Path, text: str, name: str = "mlcube.yaml"):
    manifest = tmp_path / name
    manifest.write_text(text)
    return cube_from_data(manifest, yaml.safe_load(text))


def test_mlcube_convention_task_name_then_one_mount_per_parameter(tmp_path: Path) -> None:
    c = cube(tmp_path, MLCUBE)
    ws = tmp_path / "workspace"
    (ws / "additional_files").mkdir(parents=True)
    (ws / "additional_files" / "w.bin").write_bytes(b"w")
    (ws / "parameters.yaml").write_text("a: 1\n")
    data = tmp_path / "data"
    data.mkdir()
    out = tmp_path / "out" / "output_path"
    inv = build_invocation(
        c,
        "infer",
        {
            "data_path": data,
            "parameters_file": ws / "parameters.yaml",
            "weights": ws / "additional_files" / "w.bin",
        },
        {"output_path": out},
    )
    assert inv.entrypoint is None
    assert inv.args == [
        "infer",
        "--data_path=/mlcube_io0",
        "--parameters_file=/mlcube_io1/parameters.yaml",
        "--weights=/mlcube_io2/w.bin",
        "--output_path=/mlcube_io3",
    ]
    assert inv.mounts == [
        HostMount(data, "/mlcube_io0", True),
        HostMount(ws, "/mlcube_io1", True),
        HostMount(ws / "additional_files", "/mlcube_io2", True),
        HostMount(out, "/mlcube_io3", False),
    ]


def test_mlcube_entrypoint_replaces_the_task_name_and_file_outputs_mount_their_folder(
    tmp_path: Path,
) -> None:
    c = cube(tmp_path, MLCUBE)
    preds, labels = tmp_path / "p", tmp_path / "l"
    preds.mkdir()
    labels.mkdir()
    results = output_location(c.tasks["evaluate"].outputs["output_path"], tmp_path / "step")
    assert results == tmp_path / "step" / "output_path" / "results.yaml"
    inv = build_invocation(
        c, "evaluate", {"predictions": preds, "labels": labels}, {"output_path": results}
    )
    assert inv.entrypoint == ["python3", "/app/eval.py", "--verbose"]
    assert inv.args == [
        "--predictions=/mlcube_io0",
        "--labels=/mlcube_io1",
        "--output_path=/mlcube_io2/results.yaml",
    ]
    assert inv.mounts[2] == HostMount(results.parent, "/mlcube_io2", False)


def test_same_folder_is_mounted_once(tmp_path: Path) -> None:
    c = cube(tmp_path, MLCUBE)
    shared = tmp_path / "shared"
    shared.mkdir()
    inv = build_invocation(
        c,
        "evaluate",
        {"predictions": shared, "labels": shared},
        {"output_path": tmp_path / "o" / "r.yaml"},
    )
    assert inv.args[:2] == ["--predictions=/mlcube_io0", "--labels=/mlcube_io0"]
    assert len(inv.mounts) == 2


def test_container_config_convention_fixed_mounts_no_arguments(tmp_path: Path) -> None:
    c = cube(tmp_path, CONTAINER_CONFIG, "container_config.yaml")
    assert c.format == "container-config"
    data, params = tmp_path / "d", tmp_path / "parameters.yaml"
    out, report = tmp_path / "o", tmp_path / "r" / "report.yaml"
    inv = build_invocation(
        c,
        "prepare",
        {"data_path": data, "parameters_file": params},
        {"output_path": out, "report_file": report},
    )
    assert inv.args == ["/project/prepare.py", "--fast"]  # run_args.command, split
    assert inv.entrypoint is None
    assert inv.env == {"SEED": "7"}
    assert inv.shm_size == "2g"
    assert inv.mounts == [
        HostMount(data, "/medperf/data", True),
        HostMount(params, "/medperf/parameters.yaml", True),
        HostMount(out, "/medperf/out", False),
        HostMount(report, "/medperf/report.yaml", False),
    ]


def test_container_config_entrypoint_and_gpus_as_medperf_passes_them(tmp_path: Path) -> None:
    """MedPerf: `--entrypoint ENTRYPOINT` (one executable, never split), the command after
    the image (a string split as a shell would), `--gpus` from run_args.gpus read as its
    `_normalize_gpu_arg` reads it (0, "0", "" and null: none)."""
    text = CONTAINER_CONFIG.replace(
        "      command: /project/prepare.py --fast\n",
        "      entrypoint: python3\n      command: /project/prepare.py --fast\n      gpus: GPUS\n",
    )
    given = (
        {"data_path": tmp_path, "parameters_file": tmp_path},
        {"output_path": tmp_path, "report_file": tmp_path},
    )
    for value, wanted in [
        ("all", "all"),
        ("2", "2"),
        ("'2'", "2"),
        ("'device=0,1'", "device=0,1"),
        ("0", None),
        ("'0'", None),
        ("''", None),
        ("null", None),
    ]:
        c = cube(tmp_path, text.replace("GPUS", value), "container_config.yaml")
        inv = build_invocation(c, "prepare", *given)
        assert inv.entrypoint == ["python3"]
        assert inv.args == ["/project/prepare.py", "--fast"]
        assert inv.gpus == wanted, value
    # The key follows what --gpus gives: nothing without it, the request with it.
    asks = cube(tmp_path, text.replace("GPUS", "all"), "container_config.yaml")
    none = cube(tmp_path, text.replace("GPUS", "0"), "container_config.yaml")
    assert step_key("x", none, "prepare", {}, True) == step_key("x", none, "prepare", {}, False)
    assert step_key("x", asks, "prepare", {}, True) != step_key("x", asks, "prepare", {}, False)
    # An MLCube asks for all GPUs with platform.accelerator_count above 0.
    gpu_mlcube = cube(tmp_path, MLCUBE + "platform: {accelerator_count: 1}\n")
    inv = build_invocation(
        gpu_mlcube,
        "evaluate",
        {"predictions": tmp_path, "labels": tmp_path},
        {"output_path": tmp_path},
    )
    assert inv.gpus == "all"
    assert cube(tmp_path, MLCUBE).tasks["evaluate"].gpus is None


def test_every_declared_parameter_needs_a_value(tmp_path: Path) -> None:
    c = cube(tmp_path, MLCUBE)
    with pytest.raises(CubeInvalid, match="parameters_file, weights"):
        build_invocation(c, "infer", {"data_path": tmp_path}, {"output_path": tmp_path})
    with pytest.raises(CubeInvalid, match="no task 'train'"):
        build_invocation(c, "train", {}, {})


def test_step_key_changes_with_image_inputs_and_call_but_not_order(tmp_path: Path) -> None:
    c = cube(tmp_path, MLCUBE)
    hashes = {"data_path": "a" * 64, "parameters_file": "b" * 64, "weights": "c" * 64}
    base = step_key("sha256:" + "1" * 64, c, "infer", hashes, False)
    assert base == step_key("sha256:" + "1" * 64, c, "infer", dict(reversed(hashes.items())), False)
    assert base != step_key("sha256:" + "2" * 64, c, "infer", hashes, False)  # rebuilt image
    assert base != step_key(
        "sha256:" + "1" * 64, c, "infer", {**hashes, "parameters_file": "d" * 64}, False
    )
    assert base != step_key(
        "sha256:" + "1" * 64, c, "infer", {**hashes, "data_path": "e" * 64}, False
    )
    other = cube(tmp_path, MLCUBE.replace("python3 /app/eval.py --verbose", "python3 /app/eval.py"))
    key = step_key("x", c, "evaluate", {}, False)
    assert key != step_key("x", other, "evaluate", {}, False)
    # GPUs only matter for a cube that declares accelerators.
    assert step_key("x", c, "infer", hashes, True) == step_key("x", c, "infer", hashes, False)


def test_read_paths(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "labels").mkdir()
    (tmp_path / "paths.yaml").write_text("data_path: data\nlabels_path: labels\n")
    assert read_paths(tmp_path) == (tmp_path / "data", tmp_path / "labels")
    (tmp_path / "paths.yaml").write_text("data_path: ../data\nlabels_path: labels\n")
    with pytest.raises(BenchmarkInvalid, match=r"'\.\.'"):
        read_paths(tmp_path)
    (tmp_path / "paths.yaml").write_text("data_path: missing\nlabels_path: labels\n")
    with pytest.raises(BenchmarkInvalid, match="not in the archive"):
        read_paths(tmp_path)
    (tmp_path / "paths.yaml").unlink()
    with pytest.raises(BenchmarkInvalid, match=r"no paths\.yaml"):
        read_paths(tmp_path)


CONFIG = "ab" * 32


def _docker_save(
    path: Path, tags: list[str], *, manifests: list[list] | None = None, images: int = 1
) -> None:
    """A file shaped like `docker save` (gzipped): its layout is manifest.json.

    `manifests` writes several manifest.json members, one per list, in that order (a
    hostile archive: tools that read the first and a loader that reads the last disagree).
    """
    import io
    import json as _json
    import tarfile

    entry = {"Config": f"{CONFIG}.json", "RepoTags": tags, "Layers": []}
    bodies = manifests or [[entry] * images]
    with tarfile.open(path, "w:gz") as tar:
        for body in bodies:
            data = _json.dumps(body).encode()
            info = tarfile.TarInfo("manifest.json")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_an_archive_layout_is_read_before_loading(tmp_path: Path) -> None:
    from medperf_action.adapters.docker.images import archive_layout

    _docker_save(tmp_path / "ok.tar.gz", ["me/model:1"])
    layout = archive_layout(tmp_path / "ok.tar.gz")
    assert layout.tags == ("me/model:1",) and layout.image_id == f"sha256:{CONFIG}"
    _docker_save(tmp_path / "evil.tar.gz", ["me/model:1", "python:3.11-slim"])
    assert archive_layout(tmp_path / "evil.tar.gz").tags == ("me/model:1", "python:3.11-slim")
    (tmp_path / "junk.tar.gz").write_bytes(b"not a tar")
    with pytest.raises(InvalidInput, match="cannot be read"):
        archive_layout(tmp_path / "junk.tar.gz")


def test_an_ambiguous_archive_is_refused(tmp_path: Path) -> None:
    """The attacker's archive shows one set of tags to a reader of its first manifest.json
    and loads another: two manifest.json members, or one listing two images."""
    from medperf_action.adapters.docker.images import archive_layout

    innocent = [{"Config": f"{CONFIG}.json", "RepoTags": ["me/model:1"], "Layers": []}]
    hostile = [{"Config": f"{CONFIG}.json", "RepoTags": ["python:3.11-slim"], "Layers": []}]
    _docker_save(tmp_path / "two.tar.gz", [], manifests=[innocent, hostile])
    with pytest.raises(InvalidInput, match=r"manifest\.json twice"):
        archive_layout(tmp_path / "two.tar.gz")
    _docker_save(tmp_path / "pair.tar.gz", ["me/model:1"], images=2)
    with pytest.raises(InvalidInput, match="lists 2 images"):
        archive_layout(tmp_path / "pair.tar.gz")


def test_an_archive_that_would_tag_another_image_is_refused(tmp_path: Path) -> None:
    from medperf_action.adapters.files.hashing import sha256_file
    from medperf_action.usecases.compat_test.images import _load_archive
    from medperf_action.usecases.compat_test.options import Options
    from medperf_action.usecases.compat_test.participants import Participant

    c = cube(tmp_path, MLCUBE)
    evil = tmp_path / "evil.tar.gz"
    _docker_save(evil, ["a/b:1", "python:3.11-slim"])
    who = Participant("candidate", "m", c, archive={"url": str(evil), "sha256": sha256_file(evil)})
    opts = Options(cache=tmp_path / "cache")
    with pytest.raises(InvalidInput, match=r"would tag python:3\.11-slim"):
        _load_archive(who, {"candidate": who}, opts)  # refused before Docker is asked
    # Its own name, when another participant uses it, is refused as well.
    _docker_save(evil, ["a/b:1"])
    who = Participant("candidate", "m", c, archive={"url": str(evil), "sha256": sha256_file(evil)})
    other = Participant("evaluator", "e", c, image="a/b:1")
    with pytest.raises(InvalidInput, match=r"would tag a/b:1"):
        _load_archive(who, {"candidate": who, "evaluator": other}, opts)


def test_participants_naming_one_image_must_be_one_image(tmp_path: Path) -> None:
    """A candidate that names the evaluator's image, from another source, is refused before
    anything is loaded or run: it would otherwise run as the evaluator."""
    from medperf_action.usecases.compat_test.images import _check_names, source_of
    from medperf_action.usecases.compat_test.participants import Participant

    c = cube(tmp_path, MLCUBE)
    evaluator = Participant("evaluator", "metrics", c, image="bench/metrics:1", build=False)
    hostile = Participant(
        "candidate", "m", c, image="bench/metrics:1", archive={"url": "x", "sha256": "cd" * 32}
    )
    parts = {"candidate": hostile, "evaluator": evaluator}
    with pytest.raises(BenchmarkInvalid, match="all name the image 'bench/metrics:1'"):
        _check_names(parts, {k: source_of(p) for k, p in parts.items()})
    same = Participant("reference_model", "r", c, image="bench/metrics:1", build=False)
    parts = {"reference_model": same, "evaluator": evaluator}
    _check_names(parts, {k: source_of(p) for k, p in parts.items()})  # one image: fine


def test_the_run_graph_starts_jobs_by_priority_as_their_needs_are_met() -> None:
    """One slot: the order jobs run in is their priority among those ready; a failed job's
    dependants never run, and after a failure only the jobs that tolerate it start."""
    from medperf_action.usecases.compat_test.graph import Job, Workers, run_graph

    ran: list[str] = []

    def job(name: str, *needs: str, fail: bool = False, again: tuple[str, ...] = ()) -> Job:
        def run(done: dict) -> str:
            assert all(n in done for n in needs)  # it sees what it needs
            ran.append(name)
            if fail:
                raise RuntimeError(name)
            return name

        return Job(needs, run, again)

    jobs = {
        "prepare": job("prepare"),
        "infer": job("infer", "prepare"),
        "evaluate": job("evaluate", "infer"),
        "sanity": job("sanity", "prepare"),
    }
    with Workers(1) as workers:
        results, failed = run_graph(workers, jobs)
    assert ran == ["prepare", "infer", "evaluate", "sanity"] and not failed
    assert results == {name: name for name in jobs}

    def graph(failing: str) -> dict[str, Job]:
        blame = ("evaluate candidate",)  # the reference's runs say whose fault that is
        return {
            "prepare": job("prepare"),
            "infer candidate": job("infer candidate", "prepare", fail=failing == "infer"),
            "evaluate candidate": job(
                "evaluate candidate", "infer candidate", fail=failing == "evaluate"
            ),
            "infer reference": job("infer reference", "prepare", again=blame),
            "evaluate reference": job("evaluate reference", "infer reference", again=blame),
            "sanity": job("sanity", "prepare"),
        }

    ran.clear()
    with Workers(1) as workers:
        results, failed = run_graph(workers, graph("evaluate"))
    assert ran == [
        "prepare",
        "infer candidate",
        "evaluate candidate",
        "infer reference",
        "evaluate reference",
    ]
    assert list(failed) == ["evaluate candidate"] and "sanity" not in results
    ran.clear()  # any other failure: nothing more starts
    with Workers(1) as workers:
        results, failed = run_graph(workers, graph("infer"))
    assert ran == ["prepare", "infer candidate"] and list(failed) == ["infer candidate"]


def test_commands_sh_keeps_free_text_in_comments_and_makes_what_the_run_made() -> None:
    """A cube's name is free text: a newline in it must not become a command of the
    script a person runs. A file output of an MLCube gets its folder, not a folder of its
    name (the cube writes the file itself)."""
    command = {
        "step": "x\nid > /tmp/pwned #  infer (candidate)",
        "exit_code": 1,
        "log": "logs/candidate-infer.log\ntouch /tmp/also",
        "comments": ["fine\nrm -rf ~"],
        "made": {"outputs/output_path/results.yaml": "parent", "outputs/data": "folder"},
        "create": {"user": "1000:1000"},
        "outputs_folder": "/cache/steps/.tmp-1",
        "argv": ["docker", "run", "--rm", "sha256:abc"],
    }
    script = commands_script({"evaluator-evaluate-candidate": command})
    lines = script.splitlines()
    assert not [line for line in lines if line.startswith(("id ", "touch /tmp", "rm "))]
    assert "# x id > /tmp/pwned # infer (candidate): exit code 1" in lines
    here = '"$RERUN/evaluator-evaluate-candidate"'
    assert f'mkdir -p "$(dirname {here}/outputs/output_path/results.yaml)"' in lines
    assert f"mkdir -p {here}/outputs/data" in lines
    assert f"mkdir -p {here}/outputs/output_path/results.yaml" not in lines


def test_a_registry_entrys_pin_wins_over_the_published_cubes_own_archive_url(
    tmp_path: Path,
) -> None:
    """The attacker: an entry pins its image by digest (what the registry verifies and an
    approval records), but the published container_config says DockerArchive with a URL
    of the attacker's, who can serve another image there later. The pin is what runs."""
    text = (CXR / "model" / "container_config.yaml").read_text()
    evil = "https://attacker.example/evil.tar"
    text = text.replace("container_type: DockerImage", "container_type: DockerArchive")
    text = text.replace("image: medperf-action-test/cxr-model:0.0.1", f"image: {evil}")
    manifest = tmp_path / "container_config.yaml"
    manifest.write_text(text)
    cube = cube_from_data(manifest, yaml.safe_load(text))
    assert cube.is_archive
    pinned = "ghcr.io/alice/cxr@sha256:" + "a" * 64
    entry = Participant("candidate", "cxr", cube, image=pinned, digest=pinned, build=False)
    assert source_of(entry) == Source("reference", pinned)
    # a local cube (no entry, no pin) runs its own archive, as MedPerf does
    local = Participant("candidate", None, cube)
    assert source_of(local).kind == "archive-at"


@pytest.mark.parametrize("gpus", ["all", "2", "device=0,1"])
def test_the_replayed_docker_run_asks_for_the_gpus_the_run_had(gpus: str) -> None:
    argv, comments = replay_argv({"device_requests": [device_request(gpus)], "image": "sha256:x"})
    assert argv == ["docker", "run", "--rm", "--gpus", gpus, "sha256:x"] and comments == []
