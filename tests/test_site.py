"""A data owner's site, end to end: real Docker, the GitHub test server.

One site prepares its share of the example data, registers the dataset, requests its
association, runs every approved model (among them one that prints the data it is given,
and one that prints it and fails), and releases results. Nothing of the site's data may
reach the tool's stdout or stderr, the step summary, the outputs, or anything the test
server holds (files at every commit, PR titles and bodies, comments, labels).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import shutil
import tarfile
from pathlib import Path

import docker
import pytest
import yaml
from click.testing import CliRunner
from conftest import SESSION
from privacy import server_texts
from registry_world import BENCH, EXAMPLES, MODEL, PUSH_TAG, REG, _entry, build_world, staged
from test_listings import association_file

from medperf_action.adapters.docker.images import ensure_image
from medperf_action.adapters.files.hashing import sha256_tree
from medperf_action.cli import main
from medperf_action.domain.registry.layout import (
    dataset_association_marker,
    dataset_association_path,
    dataset_marker,
    dataset_path,
    result_marker,
    result_path,
)
from medperf_action.domain.schemas import validator
from medperf_action.domain.validation import validate_path
from medperf_action.usecases.packaging import package_cube
from medperf_action.usecases.publishing import outputs_json, publish, push_image, write_record

pytestmark = pytest.mark.docker

MISBEHAVING = Path(__file__).resolve().parent / "cubes" / "misbehaving"
IMAGE = f"medperf-action-test/site-misbehaving-{SESSION}:0.1.0"
DATASET = "site-a-wdbc"
LEAKY, FAILING = "leaky-model", "failing-model"


def _cube(root: Path, name: str, mode: str) -> Path:
    cube = root / name
    shutil.copytree(MISBEHAVING, cube)
    manifest = cube / "mlcube" / "mlcube.yaml"
    manifest.write_text(
        manifest.read_text().replace("medperf-action-test/misbehaving:0.1.0", IMAGE)
    )
    (cube / "mlcube" / "workspace" / "parameters.yaml").write_text(f"mode: {mode}\n")
    return cube


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory, docker_client, oci_registry: str):
    """The example cubes (as registry_world stages them) and two misbehaving models,
    packaged and pushed."""
    root = tmp_path_factory.mktemp("site")
    for staged_stage in staged(root, oci_registry, honest_run=False):
        for cube_id, mode in ((LEAKY, "leak"), (FAILING, "leak-fail")):
            report = validate_path(_cube(root / "cubes", cube_id, mode))
            assert report.cube is not None
            cube = report.cube
            ensure_image(cube.image, cube.build_context, cube.build_file, log=lambda _l: None)
            folder = package_cube(report, root / cube_id, log=lambda _l: None).directory
            staged_stage.packaged[cube_id] = folder
            staged_stage.references[cube_id] = push_image(
                folder, f"{oci_registry}/{SESSION}/{cube_id}:{PUSH_TAG}", log=lambda _l: None
            )
        try:
            yield staged_stage
        finally:
            for cube_id in (LEAKY, FAILING):
                pinned = staged_stage.references[cube_id]
                for name in (pinned, pinned.split("@")[0] + ":" + PUSH_TAG):
                    with contextlib.suppress(docker.errors.ImageNotFound):
                        docker_client.images.remove(name)
            with contextlib.suppress(docker.errors.ImageNotFound):
                docker_client.images.remove(IMAGE)


def site_world(gh, monkeypatch, stage, tmp_path: Path, models: tuple[str, ...], sites=()):
    """The published world (registry_world), with the model and `models` (published as
    alice's) APPROVED for the benchmark, and each site's user with a fork of the registry."""
    w = build_world(gh, monkeypatch, stage, tmp_path)
    files = {association_path_of(MODEL): association_file(BENCH, MODEL, "APPROVED", "alice", 1)}
    for cube_id in models:
        assets = tmp_path / f"{cube_id}-assets"
        shutil.copytree(stage.packaged[cube_id], assets)
        url, published = publish("alice/wdbc-centroid", cube_id, assets, token=w.tokens["alice"])
        write_record(assets, outputs_json(url, published, stage.references[cube_id]))
        entry = _entry(cube_id, "alice", "model", published, stage.references[cube_id])
        files[f"mlcubes/{cube_id}.yaml"] = yaml.safe_dump(entry, sort_keys=False)
        files[association_path_of(cube_id)] = association_file(
            BENCH, cube_id, "APPROVED", "alice", 1
        )
    gh.commit(REG, files)
    for site in sites:
        w.tokens[site] = gh.add_user(site)
        gh.fork(REG, site)
    return w


@pytest.fixture
def world(github_server, monkeypatch, stage, tmp_path_factory, tmp_path):
    monkeypatch.setenv("MEDPERF_ACTION_CACHE", str(tmp_path_factory.getbasetemp() / "site-cache"))
    return site_world(github_server, monkeypatch, stage, tmp_path, (LEAKY, FAILING), ["site-a"])


def association_path_of(mlcube_id: str) -> str:
    return f"associations/{BENCH}/{mlcube_id}.yaml"


def _site_data(root: Path) -> tuple[Path, Path, list[str], list[str]]:
    """The site's raw data: every other case of the demo data. Returns the two folders,
    the case ids, and a piece of each row's feature values (three of them, as written)."""
    with tarfile.open(EXAMPLES / "demo" / "breast-cancer-demo.tar.gz") as tar:
        features = tar.extractfile("data/features.csv").read().decode()  # type: ignore[union-attr]
        labels = tar.extractfile("labels/labels.csv").read().decode()  # type: ignore[union-attr]
    feature_rows = list(csv.reader(io.StringIO(features)))
    label_rows = list(csv.reader(io.StringIO(labels)))
    keep = {row[0] for row in feature_rows[1::2]}
    (root / "raw" / "data").mkdir(parents=True)
    (root / "raw" / "labels").mkdir(parents=True)
    with open(root / "raw" / "data" / "features.csv", "w", newline="") as handle:
        csv.writer(handle).writerows(
            [feature_rows[0]] + [r for r in feature_rows[1:] if r[0] in keep]
        )
    with open(root / "raw" / "labels" / "labels.csv", "w", newline="") as handle:
        csv.writer(handle).writerows([label_rows[0]] + [r for r in label_rows[1:] if r[0] in keep])
    values = [",".join(r[1:4]) for r in feature_rows[1:] if r[0] in keep]
    return root / "raw" / "data", root / "raw" / "labels", sorted(keep), values


class Site:
    """The data owner's runner: a checkout of the site's repository, under Actions."""

    def __init__(self, world, root: Path, monkeypatch) -> None:
        self.world, self.root = world, root
        self.repo = root / "site-repo"
        (self.repo / ".git").mkdir(parents=True)
        (self.repo / ".medperf-site.yml").write_text(
            yaml.safe_dump(
                {
                    "registry": REG,
                    "dataset": {"id": DATASET, "name": "Site A", "location": "Hospital A"},
                    "benchmarks": [BENCH],
                    "runner": ["self-hosted", "site-a"],
                }
            )
        )
        self.data, self.labels, self.case_ids, self.values = _site_data(root)
        self.store = root / "store"
        self.summary = root / "summary.md"
        self.outputs = root / "outputs"
        self.seen: list[str] = []  # everything the commands wrote where people can read it
        monkeypatch.chdir(self.repo)

    def run(self, *args: str) -> tuple[int, str, str]:
        env = {
            "MEDPERF_REGISTRY_TOKEN": self.world.tokens["site-a"],
            "MEDPERF_DATA_PATH": str(self.data),
            "MEDPERF_LABELS_PATH": str(self.labels),
            "MEDPERF_ACTION_STORE": str(self.store),
            "GITHUB_ACTIONS": "true",
            "GITHUB_STEP_SUMMARY": str(self.summary),
            "GITHUB_OUTPUT": str(self.outputs),
        }
        result = CliRunner().invoke(main, list(args), env=env)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        self.seen += [result.stdout, result.stderr]
        return result.exit_code, result.stdout, result.stderr

    def run_folder(self, run_id: str) -> Path:
        return self.store / DATASET / "runs" / run_id

    def leaks(self, texts: list[str]) -> list[str]:
        """The case ids and feature values of the site's data found in `texts`."""
        joined = "\n".join(texts)
        return [s for s in (*self.case_ids, *self.values) if s in joined]


def _pr(gh, marker: str):
    found = [p for p in gh.repo(REG).pulls() if marker in (p.body or "")]
    assert len(found) == 1, [p.title for p in gh.repo(REG).pulls()]
    return found[0]


def _merge(gh, path: str, ref: str, **changes) -> dict:
    """The committee merges the request: its file lands on the default branch."""
    doc = yaml.safe_load(gh.files("site-a/registry", ref=ref)[path])
    doc.update(changes)
    gh.commit(REG, {path: yaml.safe_dump(doc, sort_keys=False)})
    return doc


def test_a_site_prepares_registers_associates_runs_and_releases_without_leaking(
    github_server, world, tmp_path, monkeypatch
) -> None:
    gh, site = github_server, Site(world, tmp_path, monkeypatch)

    code, out, err = site.run("dataset", "prepare")
    assert code == 0, err
    prepared = site.store / DATASET / "dataset"
    entry = json.loads((prepared / "entry.json").read_text())
    assert entry["prepared"]["data_sha256"] == sha256_tree(prepared / "data")
    assert entry["prepared"]["labels_sha256"] == sha256_tree(prepared / "labels")
    assert entry["prepared"]["num_cases"] == len(site.case_ids) == entry["statistics"]["num_cases"]
    assert "num_positive" in out and entry["prepared"]["data_sha256"] in out
    assert "positive_fraction" in site.summary.read_text()

    code, out, err = site.run("dataset", "register")
    assert code == 0 and out.startswith("opened: "), err
    assert _pr(gh, dataset_marker(DATASET)).user == "site-a"
    registered = _merge(gh, dataset_path(DATASET), f"medperf/dataset/{DATASET}")
    assert registered["owner"] == "site-a" and registered["prepared"] == entry["prepared"]
    assert list(validator("dataset").iter_errors(registered)) == []

    code, out, err = site.run("dataset", "associate")
    assert code == 0 and "opened: " in out, err
    assert _pr(gh, dataset_association_marker(BENCH, DATASET)).user == "site-a"
    association = yaml.safe_load(
        gh.files("site-a/registry", ref=f"medperf/dataset-associate/{BENCH}/{DATASET}")[
            dataset_association_path(BENCH, DATASET)
        ]
    )
    assert association["status"] == "PENDING"
    assert association["compatibility"]["data_sha256"] == entry["prepared"]["data_sha256"]
    assert "pin" in association["compatibility"]["reference_model"]  # a published entry
    run_id = site.outputs.read_text().split("run-id=")[-1].split()[0]
    evaluated = yaml.safe_load((site.run_folder(run_id) / "metrics.yaml").read_text())
    assert association["compatibility"]["metrics"] == evaluated
    assert f"reference model breast-cancer-lr on the prepared data (run {run_id})" in (
        site.summary.read_text()
    )

    code, _, err = site.run("benchmark", "run")
    assert (
        code == 5 and "no approved association" in err
    )  # not before the committee approved the dataset
    _merge(
        gh,
        dataset_association_path(BENCH, DATASET),
        f"medperf/dataset-associate/{BENCH}/{DATASET}",
        status="APPROVED",
        approved_by="carol",
        approved_at="2026-12-01T10:00:00Z",
    )

    code, out, err = site.run("benchmark", "run")
    assert code == 3, err  # the failing model failed; the others ran
    runs = json.loads(site.outputs.read_text().split("runs-json=")[-1].splitlines()[0])
    by_model = {r["model"]: r for r in runs}
    assert set(by_model) == {"breast-cancer-lr", MODEL, LEAKY, FAILING}
    assert by_model[FAILING]["status"] == "failed"
    assert all(by_model[m]["status"] == "passed" for m in ("breast-cancer-lr", MODEL, LEAKY))
    failed_log = site.run_folder(by_model[FAILING]["run_id"]) / "logs" / "candidate-infer.log"
    assert str(failed_log) in err  # the message names the log, on the site's disk ...
    assert site.leaks([failed_log.read_text()])  # ... which holds what the model printed
    leaky_log = site.run_folder(by_model[LEAKY]["run_id"]) / "logs" / "candidate-infer.log"
    assert len(site.leaks([leaky_log.read_text()])) == 2 * len(site.case_ids)
    for model in ("breast-cancer-lr", MODEL, LEAKY):
        folder = site.run_folder(by_model[model]["run_id"])
        result = yaml.safe_load((folder / "result.yaml").read_text())
        assert list(validator("result").iter_errors(result)) == []
        assert result["metrics"] == yaml.safe_load((folder / "metrics.yaml").read_text())
        assert result["metrics"] == by_model[model]["metrics"]
        assert result["data_sha256"] == entry["prepared"]["data_sha256"]
        assert result["submitted_by"] == "site-a" and len(result["registry_commit"]) == 40
    assert gh.repo(REG).pulls() and not _results_prs(gh)  # nothing released by a run

    for model in (LEAKY, "breast-cancer-lr"):
        code, out, err = site.run("result", "submit", by_model[model]["run_id"])
        assert code == 0 and out.startswith("opened: "), err
    assert _pr(gh, result_marker(BENCH, LEAKY, DATASET)).user == "site-a"
    released = yaml.safe_load(
        gh.files("site-a/registry", ref=f"medperf/result/{BENCH}/{LEAKY}/{DATASET}")[
            result_path(BENCH, LEAKY, DATASET)
        ]
    )
    assert released["metrics"] == by_model[LEAKY]["metrics"]
    assert released["run_id"] == by_model[LEAKY]["run_id"]
    code, _, err = site.run("result", "submit", by_model[FAILING]["run_id"])
    assert code == 2 and "only a passed" in err

    _merge(
        gh,
        result_path(BENCH, "breast-cancer-lr", DATASET),
        f"medperf/result/{BENCH}/breast-cancer-lr/{DATASET}",
    )
    code, out, err = site.run("result", "submit", by_model["breast-cancer-lr"]["run_id"])
    assert code == 0 and out.startswith("released already"), err
    code, out, err = site.run("result", "ls", "--local", "--format", "json")
    assert code == 0, err
    listed = json.loads(out)
    assert [(r["model"], r["dataset"]) for r in listed["results"]] == [
        ("breast-cancer-lr", DATASET)
    ]
    released_runs = {r["model"] for r in listed["local"] if r["released"]}
    assert released_runs == {"breast-cancer-lr"}  # the leaky one's PR is not merged yet
    code, out, _ = site.run("result", "ls", "--model", MODEL)
    assert code == 0 and "No results" in out

    # The next scheduled run skips what has a result in the registry.
    code, _, err = site.run("benchmark", "run")
    runs = json.loads(site.outputs.read_text().split("runs-json=")[-1].splitlines()[0])
    assert {r["model"] for r in runs} == {MODEL, LEAKY, FAILING}

    # Once approved, the dataset's data is frozen: other data is a new dataset id.
    fewer = tmp_path / "fewer"
    shutil.copytree(site.data.parent, fewer)  # raw/data and raw/labels, one case less
    for name in ("data/features.csv", "labels/labels.csv"):
        kept = (fewer / name).read_text().splitlines(keepends=True)
        (fewer / name).write_text("".join(x for x in kept if site.case_ids[0] not in x))
    paths = ("--data-path", str(fewer / "data"), "--labels-path", str(fewer / "labels"))
    code, _, err = site.run("dataset", "prepare", *paths)
    assert code == 0, err
    code, _, err = site.run("dataset", "register")
    assert code == 5 and "frozen" in err, err

    # Privacy: the site's data is nowhere but in the site's store.
    assert site.leaks(site.seen) == []
    assert site.leaks([site.summary.read_text(), site.outputs.read_text()]) == []
    assert site.leaks([text for _, text in server_texts(gh.world)]) == []


def _results_prs(gh) -> list:
    return [p for p in gh.repo(REG).pulls() if "medperf-action:result" in (p.body or "")]


def test_a_failed_prepare_names_its_log_quotes_nothing_and_keeps_the_dataset(
    docker_client, tmp_path, monkeypatch
) -> None:
    """The preparator refuses a row and says why, quoting it: the message names the log
    on the site's disk instead, and the dataset prepared before stays as it was. Then, on
    a local registry: `benchmark run` over the site's benchmarks skips the one the dataset
    is not approved for."""
    monkeypatch.setenv("MEDPERF_ACTION_CACHE", str(tmp_path / "cache"))
    data, labels, case_ids, _ = _site_data(tmp_path)
    store, summary = tmp_path / "store", tmp_path / "summary.md"
    registry = tmp_path / "examples" / "registry"  # a checkout of its own, to add files to
    shutil.copytree(EXAMPLES, tmp_path / "examples")

    def cli(*args: str) -> tuple[int, str, str]:
        env = {
            "MEDPERF_LABELS_PATH": str(labels),
            "MEDPERF_ACTION_STORE": str(store),
            "GITHUB_ACTIONS": "true",
            "GITHUB_STEP_SUMMARY": str(summary),
        }
        result = CliRunner().invoke(main, [*args, "--registry", str(registry)], env=env)
        return result.exit_code, result.stdout, result.stderr

    def prepare(data_path: Path) -> tuple[int, str, str]:
        args = ("--benchmark", BENCH, "--dataset", "site-b", "--name", "Site B")
        return cli("dataset", "prepare", *args, "--data-path", str(data_path))

    code, _, err = prepare(data)
    assert code == 0, err
    entry = store / "site-b" / "dataset" / "entry.json"
    before = entry.read_text()
    bad = tmp_path / "bad"
    shutil.copytree(data, bad)
    with open(bad / "features.csv", "a") as handle:
        handle.write("wdbc-secret-case," + ",".join(["secret-value-1234"] * 30) + "\n")
    code, out, err = prepare(bad)
    assert code == 3, err
    runs = [json.loads(p.read_text()) for p in store.glob("site-b/runs/*/run.json")]
    failed = [r for r in runs if r["status"] == "failed"]
    assert len(failed) == 1 and failed[0]["kind"] == "prepare"
    log = store / "site-b" / "runs" / failed[0]["run_id"] / "logs" / "data_preparator-prepare.log"
    assert str(log) in err and "not shown" in err
    assert "secret-value-1234" in log.read_text()  # the preparator did quote it, in its log
    for secret in ("wdbc-secret-case", "secret-value-1234", *case_ids):
        assert secret not in out + err + summary.read_text() + failed[0]["error"]
    assert entry.read_text() == before  # the dataset prepared before is untouched
    assert not list((store / "site-b").glob(".tmp-*"))

    # A schedule's run over the site's benchmarks skips one the dataset is not approved
    # for yet, and runs the others.
    entry_doc = json.loads(before)
    registered = {"id": "site-b", "name": "Site B", "owner": "site-b", **entry_doc}
    (registry / "datasets").mkdir()
    (registry / "datasets" / "site-b.yaml").write_text(yaml.safe_dump(registered))
    bench = yaml.safe_load((registry / "benchmarks" / f"{BENCH}.yaml").read_text())
    (registry / "benchmarks" / "other-benchmark.yaml").write_text(
        yaml.safe_dump({**bench, "id": "other-benchmark"})
    )
    approved = {
        "benchmark": BENCH,
        "dataset": "site-b",
        "status": "APPROVED",
        "initiated_by": "site-b",
        "created_at": "2026-12-01T09:00:00Z",
        "approved_by": "carol",
        "approved_at": "2026-12-01T10:00:00Z",
        "compatibility": {
            "passed": True,
            "data_sha256": entry_doc["prepared"]["data_sha256"],
            "reference_model": {"id": "breast-cancer-lr", "image_id": "sha256:" + "0" * 64},
            "evaluator": {"id": "breast-cancer-metrics", "image_id": "sha256:" + "0" * 64},
            "metrics": {"auc": 0.9},
            "finished_at": "2026-12-01T09:00:00Z",
        },
    }
    (registry / "dataset-associations" / BENCH).mkdir(parents=True)
    (registry / "dataset-associations" / BENCH / "site-b.yaml").write_text(yaml.safe_dump(approved))
    config = tmp_path / "site.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "registry": str(registry),
                "dataset": {"id": "site-b", "name": "Site B"},
                "benchmarks": [BENCH, "other-benchmark"],
                "runner": ["self-hosted"],
            }
        )
    )
    code, out, err = cli("benchmark", "run", "--config", str(config))
    assert code == 0, err
    assert "other-benchmark: skipped: site-b has no approved association" in err
    assert "breast-cancer-lr" in out and "passed" in out
    code, _, err = cli(
        "benchmark", "run", "--config", str(config), "--benchmark", "other-benchmark"
    )
    assert code == 5 and "no approved association" in err

    # Prepared data changed in the store since it was prepared (and registered): no
    # result claims the registered hash for data the model did not read.
    prepared = store / "site-b" / "dataset" / "data" / "data.csv"
    rows = prepared.read_text().splitlines(keepends=True)
    prepared.write_text("".join(rows[:-1]))  # one case fewer
    runs_before = len(list(store.glob("site-b/runs/*/result.yaml")))
    code, _, err = cli("benchmark", "run", "--config", str(config), "--benchmark", BENCH, "--all")
    assert code == 1 and "changed since `dataset prepare`" in err, err
    assert len(list(store.glob("site-b/runs/*/result.yaml"))) == runs_before
