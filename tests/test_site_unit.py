"""The pure parts of a data owner's commands: the registry files they write, which models
a site runs, `.medperf-site.yml` as defaults, the store, and a withheld log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from medperf_action.cli import main
from medperf_action.domain.registry import layout
from medperf_action.domain.registry.site_files import (
    Ran,
    RunFacts,
    compatibility,
    dataset_association,
    dataset_entry,
    flat_statistics,
    models_to_run,
    new_run_id,
    registered,
    result_record,
)
from medperf_action.domain.schemas import validator
from medperf_action.errors import RegistryInvalid, TaskFailed, TaskMisbehaved, UsageError
from medperf_action.settings import data_paths, store_dir
from medperf_action.usecases.dispatch import action_argv
from medperf_action.usecases.site.config import SiteDefaults, site_defaults
from medperf_action.usecases.site.store import Store

SHA = "a" * 64
IMAGE = "sha256:" + "b" * 64
SITE = {"id": "site-a-wdbc", "name": "Site A", "location": "Hospital A"}
STATS = {"num_cases": 120, "positive_fraction": 0.37}


def _entry(**changes: object) -> dict:
    entry = dataset_entry(
        SITE, "breast-cancer-prep", (SHA, "c" * 64), STATS, "2026-11-30T09:00:00Z", "0.1.0"
    )
    return {**entry, **changes}


def test_the_dataset_entry_holds_hashes_and_statistics_and_is_valid_once_owned() -> None:
    entry = registered(_entry(), "site-a")
    assert list(validator("dataset").iter_errors(entry)) == []
    assert entry["owner"] == "site-a" and list(entry)[:4] == ["id", "name", "location", "owner"]
    assert entry["prepared"] == {"data_sha256": SHA, "labels_sha256": "c" * 64, "num_cases": 120}
    assert entry["statistics"] == STATS
    with pytest.raises(RegistryInvalid):
        registered(_entry(statistics={"note": "x" * 300}), "site-a")  # longer than the schema's 200


def test_statistics_must_be_flat_scalars_with_a_case_count() -> None:
    assert flat_statistics({"num_cases": 3, "mean": 1.5}) == {"num_cases": 3, "mean": 1.5}
    with pytest.raises(TaskMisbehaved, match="flat mapping"):
        flat_statistics({"num_cases": 3, "cases": [{"id": "wdbc-001", "x": 1}]})
    with pytest.raises(TaskMisbehaved, match="not a mapping"):
        flat_statistics(["wdbc-001"])
    with pytest.raises(TaskMisbehaved, match="num_cases"):
        dataset_entry(SITE, "prep", (SHA, SHA), {"mean": 1.0}, "2026-11-30T09:00:00Z", "0.1.0")


def test_the_association_and_the_result_are_valid_registry_files() -> None:
    ref, ev = Ran("breast-cancer-lr", IMAGE, {"assets": {"mlcube": SHA}}), Ran("metrics", IMAGE)
    block = compatibility(SHA, ref, ev, {"auc": 0.9}, "2026-11-30T09:09:00Z")
    record = dataset_association(
        "breast-cancer", "site-a-wdbc", "site-a", block, "2026-11-30T09:10:00Z"
    )
    assert record["status"] == "PENDING" and "approved_by" not in record
    assert record["compatibility"]["reference_model"]["pin"] == {"assets": {"mlcube": SHA}}
    assert "pin" not in record["compatibility"]["evaluator"]  # a local `path:` entry has none
    facts = RunFacts(
        "breast-cancer", "site-a-wdbc", new_run_id(), ref, ev, {"auc": 0.9}, SHA, 120,
        "2026-11-30T09:00:00Z", "2026-11-30T09:01:00Z",
        {"infer_s": 1.0, "evaluate_s": 0.5, "total_s": 2.0}, "0.1.0", "d" * 40,
    )  # fmt: skip
    result = result_record(facts, "site-a")
    assert list(validator("result").iter_errors(result)) == []
    assert result["model"] == "breast-cancer-lr" and result["registry_commit"] == "d" * 40
    with pytest.raises(RegistryInvalid):
        result_record(facts, "not a login!")


def test_a_site_runs_the_approved_models_and_the_reference_once_each() -> None:
    approved = ["model-b", "breast-cancer-lr", "model-a"]
    assert models_to_run(approved, "breast-cancer-lr", set()) == [
        "breast-cancer-lr",
        "model-a",
        "model-b",
    ]
    assert models_to_run(approved, "breast-cancer-lr", {"breast-cancer-lr", "model-a"}) == [
        "model-b"
    ]
    assert models_to_run([], "ref", {"ref"}) == []
    assert models_to_run([], "ref", {"ref"}, everything=True) == ["ref"]


def test_run_ids_and_the_markers_of_the_data_owners_requests() -> None:
    ids = {new_run_id() for _ in range(50)}
    assert len(ids) == 50 and all(len(i) == 12 and int(i, 16) >= 0 for i in ids)
    assert layout.dataset_branch("site-a") == "medperf/dataset/site-a"
    assert layout.result_branch("b", "m", "d") == "medperf/result/b/m/d"
    assert layout.dataset_associate_branch("b", "d", 2) == "medperf/dataset-associate/b/d/2"
    assert "id=site-a" in layout.dataset_marker("site-a")
    marker = layout.result_marker("b", "m", "d")
    assert marker.startswith("<!--") and "model=m dataset=d" in marker


def _site_file(folder: Path, **changes: object) -> Path:
    data = {
        "registry": "medperf/registry",
        "dataset": {"id": "site-a-wdbc", "name": "Site A"},
        "benchmarks": ["breast-cancer"],
        "runner": ["self-hosted", "site-a"],
        **changes,
    }
    (folder / ".medperf-site.yml").write_text(yaml.safe_dump(data))
    return folder / ".medperf-site.yml"


def test_site_defaults_are_found_above_and_an_option_or_the_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MEDPERF_REGISTRY", raising=False)
    _site_file(tmp_path)
    (tmp_path / ".git").mkdir()
    below = tmp_path / "a" / "b"
    below.mkdir(parents=True)
    found = site_defaults(start=below)
    assert found.path == tmp_path / ".medperf-site.yml"
    assert found.registry(None) == "medperf/registry"
    assert found.registry("other/reg") == "other/reg"
    monkeypatch.setenv("MEDPERF_REGISTRY", "env/reg")
    assert found.registry(None) == "env/reg"
    assert found.dataset_id(None) == "site-a-wdbc" and found.dataset_id("x") == "x"
    assert found.site_dataset("site-a-wdbc", None)["name"] == "Site A"
    assert found.benchmark(None) == "breast-cancer"
    # not past the top of the git repository
    (tmp_path / "inner" / ".git").mkdir(parents=True)
    assert site_defaults(start=tmp_path / "inner").path is None


def test_site_defaults_refuse_an_invalid_file_and_ask_to_choose(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MEDPERF_REGISTRY", raising=False)
    path = _site_file(tmp_path, runner=["ubuntu-latest"])  # not self-hosted
    with pytest.raises(UsageError, match="is invalid"):
        site_defaults(path)
    path = _site_file(tmp_path, benchmarks=["one", "two"])
    with pytest.raises(UsageError, match="pass --benchmark"):
        site_defaults(path).benchmark(None)
    assert site_defaults(path).benchmark_list(None) == ["one", "two"]
    with pytest.raises(UsageError, match="no registry"):
        SiteDefaults().registry(None)


def test_the_data_paths_come_from_options_or_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("MEDPERF_DATA_PATH", "MEDPERF_LABELS_PATH"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(UsageError, match=r"--data-path or \$MEDPERF_DATA_PATH and --labels"):
        data_paths(None, None)
    monkeypatch.setenv("MEDPERF_DATA_PATH", "/data/raw")
    monkeypatch.setenv("MEDPERF_LABELS_PATH", "/data/labels")
    assert data_paths(None, None) == (Path("/data/raw"), Path("/data/labels"))
    assert data_paths(Path("x"), None) == (Path("x"), Path("/data/labels"))
    monkeypatch.setenv("MEDPERF_ACTION_STORE", str(tmp_path / "store"))
    assert store_dir() == tmp_path / "store"


def test_a_run_counts_only_once_its_record_is_written(tmp_path: Path) -> None:
    store = Store(tmp_path)
    half = store.new_run("site-a", "0123456789ab")
    assert store.runs() == []
    with pytest.raises(UsageError, match="no run 0123456789ab"):
        store.run_folder("0123456789ab")
    store.finish_run(half, {"run_id": "0123456789ab", "started_at": "t"})
    assert [r["run_id"] for r in store.runs()] == ["0123456789ab"]
    assert store.run_folder("0123456789ab") == half
    assert json.loads((half / "run.json").read_text())["run_id"] == "0123456789ab"
    with pytest.raises(UsageError, match="not a run id"):
        store.run_folder("../etc")
    with pytest.raises(UsageError, match="not prepared on this machine"):
        store.prepared("site-a")


def test_a_withheld_log_is_named_and_never_quoted(tmp_path: Path) -> None:
    failed = TaskFailed("model", "infer", 3, False, ["wdbc-001,19.69,21.25"], log_path=None)
    assert "wdbc-001" in str(failed)  # a model owner's own test shows the tail
    failed.withhold_log(tmp_path / "logs" / "model-infer.log")
    assert "wdbc-001" not in str(failed) and "19.69" not in str(failed)
    assert str(tmp_path / "logs" / "model-infer.log") in str(failed)
    assert "exit code 3" in str(failed) and failed.exit_code == 3


def test_validate_knows_a_site_file(tmp_path: Path) -> None:
    path = _site_file(tmp_path)
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    _site_file(tmp_path, runner=["ubuntu-latest"])
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 1 and "runner" in result.output


def test_the_action_runs_a_sites_commands_with_their_subcommand_in_args() -> None:
    assert action_argv({"command": "dataset", "args": "prepare --benchmark b"}) == [
        "dataset",
        "prepare",
        "--benchmark",
        "b",
    ]
    assert action_argv({"command": "result", "args": "submit 0123456789ab"}) == [
        "result",
        "submit",
        "0123456789ab",
    ]
