"""`medperf-action test` end to end: real images, real containers, the example benchmark.

Few and meaningful: the example's metrics checked against scikit-learn, the step cache,
and a misbehaving model (exit code, time limit, network, read-only input).
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
import uuid
from pathlib import Path

import docker
import pytest
import sklearn.metrics as skm
import yaml
from click.testing import CliRunner
from conftest import OURS, SESSION

from medperf_action.adapters.docker.sandbox import LABEL
from medperf_action.cli import main
from medperf_action.domain.schemas import validator

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
MISBEHAVING = Path(__file__).resolve().parent / "cubes" / "misbehaving"
#: The misbehaving cube's image, under a name of this test session's own.
MISBEHAVING_IMAGE = f"medperf-action-test/misbehaving-{SESSION}:0.1.0"
TEST_ARGS = [
    "test",
    "--registry",
    str(EXAMPLES / "registry"),
    "--benchmark",
    "breast-cancer",
    "--quiet",
]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory, docker_client) -> Path:
    """A step cache that holds the example's own run, so that a test changing one thing
    sees every other step cached, whichever tests ran before it (or none)."""
    warm = tmp_path_factory.mktemp("cache")
    code, _, stderr = run_test(warm, "--model", str(EXAMPLES / "model"))
    assert code == 0, stderr
    return warm


def run_test(cache: Path, *args: str) -> tuple[int, str, str]:
    runner = CliRunner()
    result = runner.invoke(
        main,
        [*TEST_ARGS, *args],
        env={"MEDPERF_ACTION_CACHE": str(cache), "GITHUB_ACTIONS": ""},
    )
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def _rows(path: Path) -> dict[str, str]:
    with open(path, newline="") as handle:
        return {row[0]: row[1] for row in list(csv.reader(handle))[1:]}


def _step_output(cache: Path, summary: dict, role: str, task: str, name: str) -> Path:
    record = next(t for t in summary["tasks"] if t["role"] == role and t["task"] == task)
    return cache / "steps" / record["cache_key"] / "outputs" / name


def test_example_metrics_match_scikit_learn_and_rerun_is_cached(
    tmp_path: Path, docker_client
) -> None:
    cache = tmp_path / "cold-cache"  # its own: every step runs the first time
    out = tmp_path / "out"
    code, stdout, stderr = run_test(
        cache,
        "--model",
        str(EXAMPLES / "model"),
        "--mlcube-id",
        "breast-cancer-centroid",
        "--output",
        str(out),
    )
    assert code == 0, stderr
    summary = json.loads((out / "summary.json").read_text())
    assert list(validator("summary").iter_errors(summary)) == []
    assert summary["passed"] is True
    assert all(not t["cached"] and t["exit_code"] == 0 for t in summary["tasks"])
    assert len(summary["tasks"]) == 7
    assert all(c["image_id"].startswith("sha256:") for c in summary["cubes"].values())

    # The metrics, recomputed here with scikit-learn from the same demo labels and the
    # predictions the two models wrote.
    with tarfile.open(EXAMPLES / "demo" / "breast-cancer-demo.tar.gz") as tar:
        tar.extractall(tmp_path / "demo", filter="data")
    labels = {k: int(v) for k, v in _rows(tmp_path / "demo" / "labels" / "labels.csv").items()}
    for subject, key in (("candidate", "candidate"), ("reference_model", "reference")):
        preds_dir = _step_output(cache, summary, subject, "infer", "output_path")
        probs = {k: float(v) for k, v in _rows(preds_dir / "predictions.csv").items()}
        assert probs.keys() == labels.keys()
        ids = sorted(labels)
        y = [labels[i] for i in ids]
        p = [probs[i] for i in ids]
        hard = [int(x >= 0.5) for x in p]
        tn, fp, _fn, _tp = skm.confusion_matrix(y, hard).ravel()
        expected = {
            "auc": skm.roc_auc_score(y, p),
            "accuracy": skm.accuracy_score(y, hard),
            "sensitivity": skm.recall_score(y, hard),
            "specificity": tn / (tn + fp),
            "f1": skm.f1_score(y, hard),
        }
        got = summary["metrics"][key]
        for name, value in expected.items():
            assert got[name] == pytest.approx(value, abs=1e-9), (subject, name)
    assert summary["metrics"]["candidate"] != summary["metrics"]["reference"]

    # What the user sees, and what lands on disk, owned by the caller.
    assert "candidate" in stdout and "reference" in stdout and "auc" in stdout
    for name in ("results.yaml", "reference-results.yaml", "statistics.yaml", "summary.json"):
        assert (out / name).stat().st_uid == os.getuid()
    assert len(list((out / "logs").glob("*.log"))) == 7
    for path in (cache / "steps").rglob("*"):
        assert path.lstat().st_uid == os.getuid(), path

    # A second identical run reuses every step.
    code, _, stderr = run_test(cache, "--model", str(EXAMPLES / "model"), "--output", str(out))
    assert code == 0, stderr
    again = json.loads((out / "summary.json").read_text())
    assert all(t["cached"] for t in again["tasks"])
    assert again["metrics"] == summary["metrics"]


def test_changed_model_reruns_only_what_depends_on_it(
    cache: Path, tmp_path: Path, docker_client
) -> None:
    model = tmp_path / "model"
    shutil.copytree(EXAMPLES / "model", model)
    script = model / "project" / "mlcube.py"
    script.write_text(script.read_text() + "\n# a change that rebuilds the image\n")
    # Its own tag, so that the example's image (and another session's) is left as it was.
    tag = f"medperf-action-test/model-changed-{uuid.uuid4().hex[:12]}"
    manifest = model / "mlcube" / "mlcube.yaml"
    manifest.write_text(manifest.read_text().replace("medperf-action-example/model", tag))
    try:
        code, _, stderr = run_test(cache, "--model", str(model), "--output", str(tmp_path / "out"))
    finally:
        for image in docker_client.images.list(name=tag):
            docker_client.images.remove(image.id, force=True)
    assert code == 0, stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    cached = {(t["role"], t["task"], t.get("subject")): t["cached"] for t in summary["tasks"]}
    assert cached == {
        ("data_preparator", "prepare", None): True,
        ("data_preparator", "sanity_check", None): True,
        ("data_preparator", "statistics", None): True,
        ("candidate", "infer", "candidate"): False,
        ("reference_model", "infer", "reference_model"): True,
        # Same predictions bytes, so the candidate's evaluation is found in the cache.
        ("evaluator", "evaluate", "candidate"): True,
        ("evaluator", "evaluate", "reference_model"): True,
    }


@pytest.fixture(scope="module", autouse=True)
def _misbehaving_image(docker_client):
    """The misbehaving cube's image is built (once) by the tests that use it; afterwards it
    is removed, as no other session uses its name."""
    yield MISBEHAVING_IMAGE
    with contextlib.suppress(docker.errors.ImageNotFound):
        docker_client.images.remove(MISBEHAVING_IMAGE)


def _misbehaving(tmp_path: Path, name: str = "misbehaving", **params: str) -> Path:
    cube = tmp_path / name
    shutil.copytree(MISBEHAVING, cube)
    manifest = cube / "mlcube" / "mlcube.yaml"
    text = manifest.read_text()
    assert "medperf-action-test/misbehaving:0.1.0" in text
    text = text.replace("medperf-action-test/misbehaving:0.1.0", MISBEHAVING_IMAGE)
    # Its manifest's name is the one name it goes by (no registry id): the cube's own.
    manifest.write_text(text.replace("name: Misbehaving model", f"name: {name}", 1))
    text = "".join(f"{k}: {v}\n" for k, v in params.items())
    (cube / "mlcube" / "workspace" / "parameters.yaml").write_text(text)
    return cube


def test_failing_model_is_reported_with_cube_task_and_exit_code(
    cache: Path, tmp_path: Path, docker_client
) -> None:
    code, _, stderr = run_test(
        cache, "--model", str(_misbehaving(tmp_path, mode="exit3")), "--mlcube-id", "bad-model"
    )
    assert code == 3  # a cube failed
    assert "bad-model" in stderr and "infer" in stderr and "exit code 3" in stderr
    assert "giving up on purpose" in stderr  # the last lines of its log
    assert "Traceback" not in stderr
    assert docker_client.containers.list(all=True, filters=OURS) == []


def test_model_past_its_time_limit_is_killed_and_removed(
    cache: Path, tmp_path: Path, docker_client
) -> None:
    cube = _misbehaving(tmp_path, mode="sleep")
    code, _, stderr = run_test(cache, "--model", str(cube), "--timeout", "3")
    assert code == 3
    assert "time limit" in stderr and "infer" in stderr
    assert docker_client.containers.list(all=True, filters=OURS) == []


def test_model_cannot_reach_network_nor_change_its_input(cache: Path, tmp_path: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    try:
        code, _, stderr = run_test(
            cache,
            "--model",
            str(_misbehaving(tmp_path, mode="probe", port=str(port))),
            "--output",
            str(tmp_path / "out"),
        )
    finally:
        listener.close()
    assert code == 0, stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    probe = json.loads(
        (
            _step_output(cache, summary, "candidate", "infer", "output_path") / "probe.json"
        ).read_text()
    )
    assert probe["interfaces"] == ["lo"]
    assert probe["connect"] == "ConnectionRefusedError"
    assert probe["write_input"] == "OSError"  # EROFS
    assert probe["create_in_input"] == "OSError"
    assert probe["uid"] != 0
    # The prepared data the model read is unchanged: its hash still names its cache entry.
    from medperf_action.adapters.files.hashing import sha256_tree

    record = next(t for t in summary["tasks"] if t["role"] == "candidate")
    data = _step_output(cache, summary, "data_preparator", "prepare", "output_path")
    assert sha256_tree(data) == record["inputs"]["data_path"]
    assert "overwritten" not in (data / "data.csv").read_text()


def test_usage_errors_and_actions_outputs_on_failure(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # under Actions, test writes ./medperf-results
    runner = CliRunner()
    result = runner.invoke(
        main, ["test", "--model", str(EXAMPLES / "model")], env={"MEDPERF_ACTION_CACHE": str(cache)}
    )
    assert result.exit_code == 2 and "--data-preparator is needed" in result.stderr
    result = runner.invoke(
        main,
        [
            "test",
            "--model",
            str(EXAMPLES / "model"),
            "--benchmark",
            "nope",
            "--registry",
            str(EXAMPLES / "registry"),
        ],
        env={"MEDPERF_ACTION_CACHE": str(cache)},
    )
    assert result.exit_code == 2 and "no such benchmark (breast-cancer)" in result.stderr
    output, summary = tmp_path / "output", tmp_path / "summary.md"
    _misbehaving(tmp_path, mode="exit3")
    result = runner.invoke(
        main,
        [*TEST_ARGS, "--model", str(tmp_path / "misbehaving")],
        env={
            "MEDPERF_ACTION_CACHE": str(cache),
            "GITHUB_ACTIONS": "true",
            "GITHUB_OUTPUT": str(output),
            "GITHUB_STEP_SUMMARY": str(summary),
        },
    )
    assert result.exit_code == 3
    assert "passed=false" in output.read_text()
    assert "exit code 3" in summary.read_text()


def test_no_cache_runs_everything_and_keeps_nothing(cache: Path, tmp_path: Path) -> None:
    steps_before = set((cache / "steps").iterdir())
    code, _, stderr = run_test(
        cache, "--model", str(EXAMPLES / "model"), "--no-cache", "--output", str(tmp_path / "out")
    )
    assert code == 0, stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert [t["cached"] for t in summary["tasks"]] == [False] * 7
    assert (tmp_path / "out" / "results.yaml").is_file()
    assert set((cache / "steps").iterdir()) == steps_before  # nothing stored
    assert not list((cache / "runs").iterdir())  # and the scratch space is gone


def test_a_failed_task_leaves_its_log_and_a_summary(cache: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, _, stderr = run_test(
        cache, "--model", str(_misbehaving(tmp_path, mode="exit3")), "--output", str(out)
    )
    assert code == 3
    log = out / "logs" / "candidate-infer.log"
    assert f"full log: {log}" in stderr or str(log) in stderr
    assert "giving up on purpose" in log.read_text()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["passed"] is False and summary["metrics"] == {
        "candidate": None,
        "reference": None,
    }
    assert list(validator("summary").iter_errors(summary)) == []
    failed = [t for t in summary["tasks"] if t["exit_code"] == 3]
    assert [(t["role"], t["task"]) for t in failed] == [("candidate", "infer")]
    # Without --output the log stays in the cache, where the message says it is.
    code, _, stderr = run_test(cache, "--model", str(tmp_path / "misbehaving"))
    assert code == 3
    kept = next(line for line in stderr.splitlines() if "failed-logs" in line)
    assert Path(kept.split("full log: ")[-1].strip()).is_file()


def test_two_cubes_may_not_share_an_image_name_with_different_code(
    cache: Path, tmp_path: Path
) -> None:
    model = tmp_path / "model"
    shutil.copytree(EXAMPLES / "model", model)
    manifest = model / "mlcube" / "mlcube.yaml"
    # The candidate claims the reference model's image name, with its own code.
    manifest.write_text(
        manifest.read_text().replace(
            "medperf-action-example/model:", "medperf-action-example/reference_model:"
        )
    )
    code, _, stderr = run_test(cache, "--model", str(model))
    assert code == 1
    assert "all name the image 'medperf-action-example/reference_model:0.1.0'" in stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_cancelling_removes_containers_started_in_worker_threads(
    cache: Path, tmp_path: Path, docker_client, signum
) -> None:
    """GitHub cancels a job with SIGINT, then SIGTERM; infer runs in a worker thread."""
    name = (
        f"sleeper-{int(signum)}"  # its own cube label: no other test's container is mistaken for it
    )
    cube = _misbehaving(tmp_path, name, mode="sleep")
    env = {**os.environ, "MEDPERF_ACTION_CACHE": str(cache), "GITHUB_ACTIONS": ""}
    cmd = [sys.executable, "-m", "medperf_action", *TEST_ARGS, "--model", str(cube)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        wanted = {
            "label": [LABEL, "org.medperf-action.task=infer", f"org.medperf-action.cube={name}"]
        }
        while not docker_client.containers.list(filters=wanted):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.2)
        proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert "containers removed" in stderr and "Traceback" not in stderr
    assert (
        docker_client.containers.list(
            all=True, filters={"label": [LABEL, f"org.medperf-action.cube={name}"]}
        )
        == []
    )


# ---------------------------------------------------------------- whose fault a failure is


def test_predictions_the_evaluator_cannot_read_are_blamed_on_the_candidate(
    cache: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    code, _, stderr = run_test(
        cache, "--model", str(_misbehaving(tmp_path, mode="garbage")), "--output", str(out)
    )
    assert code == 3, stderr
    assert "the metrics cube could not read the candidate's predictions" in stderr
    assert "cube 'breast-cancer-metrics', task 'evaluate (candidate)' failed" in stderr
    assert "breast-cancer-metrics failed on the predictions of misbehaving" in stderr
    assert "though it scored those of the reference model breast-cancer-lr" in stderr
    assert f"full log: {out / 'logs' / 'evaluator-evaluate-candidate.log'}" in stderr
    # Both models' predictions are kept, to compare, and the failed command to re-run.
    assert "not,a number" in (out / "predictions" / "candidate" / "predictions.csv").read_text()
    assert (
        "case_id,probability" in (out / "predictions" / "reference" / "predictions.csv").read_text()
    )
    commands = json.loads((out / "commands.json").read_text())
    failed = commands["evaluator-evaluate-candidate"]
    assert (
        failed["exit_code"] != 0 and failed["step"] == "breast-cancer-metrics evaluate (candidate)"
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["passed"] is False


def test_output_keeps_predictions_and_commands_that_rerun_by_hand(
    cache: Path, tmp_path: Path, docker_client
) -> None:
    out = tmp_path / "out"
    code, _, stderr = run_test(cache, "--model", str(EXAMPLES / "model"), "--output", str(out))
    assert code == 0, stderr
    commands = json.loads((out / "commands.json").read_text())
    assert sorted(commands) == [
        "candidate-infer",
        "data_preparator-prepare",
        "data_preparator-sanity_check",
        "data_preparator-statistics",
        "evaluator-evaluate-candidate",
        "evaluator-evaluate-reference_model",
        "reference_model-infer",
    ]
    summary = json.loads((out / "summary.json").read_text())
    infer = commands["candidate-infer"]
    assert infer["image_id"] == summary["cubes"]["candidate"]["image_id"]
    assert infer["create"]["network_mode"] == "none" and infer["create"]["read_only"] is True
    assert {"--network", "none", "--read-only", "--cap-drop", infer["image_id"]} <= set(
        infer["argv"]
    )
    kept = (out / "predictions" / "candidate" / "predictions.csv").read_text()
    # The candidate's infer, from commands.sh as a person would run it, predicts the same.
    script = (out / "commands.sh").read_text()
    head = script.split("\n\n# ")[0]
    # no registry id: the candidate goes by its manifest's name, here as everywhere
    name = summary["cubes"]["candidate"]["name"]
    assert name == "Breast cancer (WDBC) nearest-centroid classifier"
    assert {t["cube"] for t in summary["tasks"] if t["role"] == "candidate"} == {name}
    block = next(b for b in script.split("\n\n# ")[1:] if b.startswith(f"{name} infer (candidate)"))
    rerun = tmp_path / "rerun"
    result = subprocess.run(
        ["sh", "-c", head + "\n# " + block],
        env={**os.environ, "RERUN": str(rerun)},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert (
        rerun / "candidate-infer" / "outputs" / "output_path" / "predictions.csv"
    ).read_text() == kept
    assert docker_client.containers.list(all=True, filters=OURS) == []


def test_a_silent_task_shows_a_heartbeat(cache: Path, tmp_path: Path) -> None:
    from medperf_action.usecases.compat_test.engine import run_workflow
    from medperf_action.usecases.compat_test.options import Options

    lines: list[str] = []
    opts = Options(
        model=_misbehaving(tmp_path, mode="sleep", seconds="2"),
        registry=str(EXAMPLES / "registry"),
        benchmark="breast-cancer",
        cache=cache,
        log=lines.append,
        heartbeat_s=0.2,
    )
    run_workflow(opts)
    beats = [line for line in lines if line.startswith("still running: ")]
    # a line every 0.2 s while the 2-s task runs, each saying how long it has been
    mine = [
        b
        for b in beats
        if re.fullmatch(r"still running: misbehaving infer \(candidate\), \d+ s", b)
    ]
    assert len(mine) >= 3, beats
    # Only the tasks that ran get them (the data preparator's steps were cached).
    assert not [line for line in beats if "breast-cancer-prep" in line]
    assert "[misbehaving infer (candidate)] running" in lines
    assert "[breast-cancer-metrics evaluate (reference)] cached" in " ".join(lines)


def test_a_failed_test_under_actions_is_an_error_annotation_naming_the_kept_log(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under Actions, `test` keeps its results in medperf-results/BENCHMARK (the folder the
    reusable workflow uploads), and a failure is an ::error naming the log there."""
    cube = _misbehaving(tmp_path, mode="exit3")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        main,
        [*TEST_ARGS, "--model", str(cube)],
        env={"MEDPERF_ACTION_CACHE": str(cache), "GITHUB_ACTIONS": "true"},
    )
    assert result.exit_code == 3
    error = next(line for line in result.stderr.splitlines() if line.startswith("::error"))
    assert "task 'infer (candidate)' failed with exit code 3" in error
    log = Path("medperf-results", "breast-cancer", "logs", "candidate-infer.log")
    assert f"full log: {log}" in error
    assert "giving up on purpose" in (tmp_path / log).read_text()
    assert not any(line.startswith("error: ") for line in result.stderr.splitlines())
    workflow = (REPO / ".github" / "workflows" / "model-repo.yml").read_text()
    assert "path: medperf-results/" in workflow


def test_without_a_benchmark_the_candidate_runs_alone(cache: Path, tmp_path: Path) -> None:
    """As MedPerf's `test run` without a benchmark: the data preparator and the metrics cube
    given by hand, no reference model asked for; the candidate is scored alone."""
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main,
        [
            "test",
            "--model",
            str(EXAMPLES / "model"),
            "--data-preparator",
            str(EXAMPLES / "data_preparator"),
            "--evaluator",
            str(EXAMPLES / "evaluator"),
            "--demo-dataset",
            str(EXAMPLES / "demo" / "breast-cancer-demo.tar.gz"),
            "--quiet",
            "--output",
            str(out),
        ],
        env={"MEDPERF_ACTION_CACHE": str(cache), "GITHUB_ACTIONS": ""},
    )
    assert result.exit_code == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert list(validator("summary").iter_errors(summary)) == []
    assert summary["cubes"]["reference_model"] is None
    assert summary["metrics"]["reference"] is None
    expected = yaml.safe_load((EXAMPLES / "demo" / "expected-metrics.yaml").read_text())
    assert summary["metrics"]["candidate"] == pytest.approx(expected["breast-cancer-centroid"])
    assert [t["task"] for t in summary["tasks"]] == [
        "prepare",
        "sanity_check",
        "statistics",
        "infer",
        "evaluate",
    ]
    assert "(no reference model)" in result.stdout
    assert re.search(r"^metric\s+candidate$", result.stdout, flags=re.M)
    assert not (out / "reference-results.yaml").exists()


def test_an_output_linking_to_a_host_file_is_refused_and_never_copied(
    cache: Path, tmp_path: Path
) -> None:
    """The attacker: a model whose output holds a symlink to a host file (a secret of the
    runner's, here a file of this test's). Inside its container the link leads nowhere;
    on the host, reading or copying the output (for --output, an uploaded artifact)
    would follow it. The task is refused as misbehaving, and nothing of the file is kept."""
    secret = tmp_path / "runner-secret.txt"
    secret.write_text("ghs_not-for-the-model\n")
    model = _misbehaving(tmp_path, mode="link", target=str(secret))
    out = tmp_path / "out"
    code, _, stderr = run_test(cache, "--model", str(model), "--output", str(out))
    assert code == 3, stderr
    assert "leak: a symlink to " in stderr and "stay inside it" in stderr
    kept = [p.read_text(errors="replace") for p in out.rglob("*") if p.is_file()]
    assert not any("ghs_not-for-the-model" in text for text in kept)
