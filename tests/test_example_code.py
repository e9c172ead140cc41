"""The example benchmark's cube code, run directly on the host (no Docker).

The whole chain prepare -> sanity_check -> statistics -> infer (both models) -> evaluate runs
on the demo tarball, as MLCube would call each task, and the evaluator's metrics are checked
against scikit-learn on the same predictions and labels.
"""

from __future__ import annotations

import csv
import hashlib
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import sklearn.metrics as sklearn_metrics
import yaml

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
DEMO = EXAMPLES / "demo" / "breast-cancer-demo.tar.gz"
MODELS = {"breast-cancer-lr": "reference_model", "breast-cancer-centroid": "model"}
METRICS = ("auc", "accuracy", "sensitivity", "specificity", "f1")


def run(cube: str, task: str, **params: Path | str) -> subprocess.CompletedProcess[str]:
    script = EXAMPLES / cube / "project" / "mlcube.py"
    args = [f"--{name}={value}" for name, value in params.items()]
    return subprocess.run(
        [sys.executable, str(script), task, *args], capture_output=True, text=True, check=False
    )


def run_ok(cube: str, task: str, **params: Path | str) -> None:
    result = run(cube, task, **params)
    assert result.returncode == 0, f"{cube} {task} failed:\n{result.stderr}"


def parameters(cube: str) -> Path:
    return EXAMPLES / cube / "mlcube" / "workspace" / "parameters.yaml"


def weights(cube: str) -> Path:
    return EXAMPLES / cube / "mlcube" / "workspace" / "additional_files" / "weights.json"


def read_csv(path: Path) -> list[list[str]]:
    with path.open(newline="") as handle:
        return list(csv.reader(handle))


def extract_demo(target: Path) -> Path:
    with tarfile.open(DEMO) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(target, filter="data")
        else:
            tar.extractall(target)
    return target


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("chain")
    demo = extract_demo(work / "demo")
    paths = yaml.safe_load((demo / "paths.yaml").read_text())
    assert paths == {"data_path": "data", "labels_path": "labels"}
    prep = "data_preparator"
    run_ok(
        prep,
        "prepare",
        data_path=demo / paths["data_path"],
        labels_path=demo / paths["labels_path"],
        parameters_file=parameters(prep),
        output_path=work / "data",
        output_labels_path=work / "labels",
    )
    common = {"data_path": work / "data", "labels_path": work / "labels"}
    run_ok(prep, "sanity_check", **common, parameters_file=parameters(prep))
    run_ok(
        prep,
        "statistics",
        **common,
        parameters_file=parameters(prep),
        output_path=work / "statistics.yaml",
    )
    for model_id, cube in MODELS.items():
        run_ok(
            cube,
            "infer",
            data_path=work / "data",
            parameters_file=parameters(cube),
            weights=weights(cube),
            output_path=work / model_id,
        )
        run_ok(
            "evaluator",
            "evaluate",
            predictions=work / model_id,
            labels=work / "labels",
            parameters_file=parameters("evaluator"),
            output_path=work / f"{model_id}.yaml",
        )
    return work


def load_predictions(chain: Path, model_id: str) -> dict[str, float]:
    rows = read_csv(chain / model_id / "predictions.csv")
    assert rows[0] == ["case_id", "probability"]
    return {case_id: float(value) for case_id, value in rows[1:]}


def load_labels(chain: Path) -> dict[str, int]:
    rows = read_csv(chain / "labels" / "labels.csv")
    assert rows[0] == ["case_id", "label"]
    return {case_id: int(value) for case_id, value in rows[1:]}


def sklearn_reference(labels: list[int], scores: list[float], threshold: float) -> dict:
    predicted = [1 if score >= threshold else 0 for score in scores]
    tn, fp, _fn, _tp = sklearn_metrics.confusion_matrix(labels, predicted, labels=[0, 1]).ravel()
    return {
        "auc": sklearn_metrics.roc_auc_score(labels, scores),
        "accuracy": sklearn_metrics.accuracy_score(labels, predicted),
        "sensitivity": sklearn_metrics.recall_score(labels, predicted),
        "specificity": tn / (tn + fp),
        "f1": sklearn_metrics.f1_score(labels, predicted),
    }


def test_prepare_writes_canonical_data(chain: Path) -> None:
    data = read_csv(chain / "data" / "data.csv")
    labels = read_csv(chain / "labels" / "labels.csv")
    assert len(data[0]) == 31 and data[0][0] == "case_id"
    case_ids = [row[0] for row in data[1:]]
    assert len(case_ids) == 100 and case_ids == sorted(case_ids)
    assert [row[0] for row in labels[1:]] == case_ids


def test_statistics(chain: Path) -> None:
    stats = yaml.safe_load((chain / "statistics.yaml").read_text())
    assert stats == {
        "num_cases": 100,
        "num_features": 30,
        "num_positive": 37,
        "num_negative": 63,
        "positive_fraction": 0.37,
    }


@pytest.mark.parametrize("model_id", list(MODELS))
def test_metrics_match_sklearn(chain: Path, model_id: str) -> None:
    results = yaml.safe_load((chain / f"{model_id}.yaml").read_text())
    assert list(results) == list(METRICS)
    assert all(isinstance(value, float) for value in results.values())
    labels = load_labels(chain)
    predictions = load_predictions(chain, model_id)
    assert set(predictions) == set(labels)
    assert all(0.0 <= p <= 1.0 for p in predictions.values())
    case_ids = sorted(labels)
    expected = sklearn_reference(
        [labels[c] for c in case_ids], [predictions[c] for c in case_ids], 0.5
    )
    for name in METRICS:
        assert results[name] == pytest.approx(expected[name], abs=1e-9), name


def test_expected_metrics_file_matches(chain: Path) -> None:
    expected = yaml.safe_load((EXAMPLES / "demo" / "expected-metrics.yaml").read_text())
    for model_id in MODELS:
        assert yaml.safe_load((chain / f"{model_id}.yaml").read_text()) == expected[model_id]


def test_models_differ_and_reference_is_decent(chain: Path) -> None:
    reference = load_predictions(chain, "breast-cancer-lr")
    candidate = load_predictions(chain, "breast-cancer-centroid")
    assert reference != candidate
    assert sum(abs(reference[c] - candidate[c]) > 0.05 for c in reference) > 10
    results = yaml.safe_load((chain / "breast-cancer-lr.yaml").read_text())
    assert results["auc"] > 0.9


def test_auc_counts_ties_half(tmp_path: Path) -> None:
    labels = [1, 0, 1, 1, 0, 0, 1, 0, 0, 1, 0, 0]
    scores = [0.9, 0.9, 0.5, 0.5, 0.5, 0.1, 0.7, 0.3, 0.3, 0.5, 0.0, 1.0]
    (tmp_path / "labels").mkdir()
    (tmp_path / "predictions").mkdir()
    ids = [f"c{i:02d}" for i in range(len(labels))]
    (tmp_path / "labels" / "labels.csv").write_text(
        "case_id,label\n" + "".join(f"{c},{y}\n" for c, y in zip(ids, labels, strict=True))
    )
    # predictions in another order than the labels: cases are matched by id
    (tmp_path / "predictions" / "predictions.csv").write_text(
        "case_id,probability\n"
        + "".join(f"{c},{p}\n" for c, p in reversed(list(zip(ids, scores, strict=True))))
    )
    (tmp_path / "params.yaml").write_text("threshold: 0.5  # inclusive\n")
    run_ok(
        "evaluator",
        "evaluate",
        predictions=tmp_path / "predictions",
        labels=tmp_path / "labels",
        parameters_file=tmp_path / "params.yaml",
        output_path=tmp_path / "out" / "results.yaml",
    )
    results = yaml.safe_load((tmp_path / "out" / "results.yaml").read_text())
    expected = sklearn_reference(labels, scores, 0.5)
    for name in METRICS:
        assert results[name] == pytest.approx(expected[name], abs=1e-9), name


def test_evaluate_rejects_a_missing_case(chain: Path, tmp_path: Path) -> None:
    rows = read_csv(chain / "breast-cancer-lr" / "predictions.csv")
    (tmp_path / "predictions").mkdir()
    (tmp_path / "predictions" / "predictions.csv").write_text(
        "".join(",".join(row) + "\n" for row in rows[:-1])
    )
    result = run(
        "evaluator",
        "evaluate",
        predictions=tmp_path / "predictions",
        labels=chain / "labels",
        parameters_file=parameters("evaluator"),
        output_path=tmp_path / "results.yaml",
    )
    assert result.returncode != 0
    assert "no prediction for 1 case(s)" in result.stderr
    assert not (tmp_path / "results.yaml").exists()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (3, "abc", "column 'mean_perimeter': not a number: 'abc'"),
        (3, " ", "column 'mean_perimeter': missing value"),
        (3, "nan", "column 'mean_perimeter': not a finite number"),
        (31, "1.0", "expected 31 fields, found 32"),
    ],
    ids=["non-numeric", "missing", "nan", "extra-column"],
)
def test_prepare_rejects_corrupt_features(
    tmp_path: Path, field: int, value: str, message: str
) -> None:
    demo = extract_demo(tmp_path / "demo")
    features = demo / "data" / "features.csv"
    lines = features.read_text().splitlines()
    fields = lines[5].split(",")
    fields[field : field + 1] = [value]
    lines[5] = ",".join(fields)
    features.write_text("\n".join(lines) + "\n")
    result = run(
        "data_preparator",
        "prepare",
        data_path=demo / "data",
        labels_path=demo / "labels",
        parameters_file=parameters("data_preparator"),
        output_path=tmp_path / "data",
        output_labels_path=tmp_path / "labels",
    )
    assert result.returncode != 0
    assert "prepare: error:" in result.stderr
    assert message in result.stderr
    assert "features.csv:6" in result.stderr  # points at the bad line


def test_sanity_check_rejects_bad_labels(chain: Path, tmp_path: Path) -> None:
    labels = (chain / "labels" / "labels.csv").read_text().replace(",1\n", ",2\n", 1)
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "labels.csv").write_text(labels)
    result = run(
        "data_preparator",
        "sanity_check",
        data_path=chain / "data",
        labels_path=tmp_path / "labels",
        parameters_file=parameters("data_preparator"),
    )
    assert result.returncode != 0
    assert "the label must be 0 or 1" in result.stderr


def test_demo_tarball_is_deterministic() -> None:
    with tarfile.open(DEMO) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == [
        "data",
        "data/features.csv",
        "labels",
        "labels/labels.csv",
        "paths.yaml",
    ]
    for member in members:
        assert (member.mtime, member.uid, member.gid, member.uname, member.gname) == (
            0,
            0,
            0,
            "",
            "",
        )
        assert member.mode == (0o755 if member.isdir() else 0o644)
    assert DEMO.read_bytes()[4:8] == b"\0\0\0\0"  # gzip header mtime
    benchmark = yaml.safe_load((EXAMPLES / "registry/benchmarks/breast-cancer.yaml").read_text())
    assert benchmark["demo_dataset"]["sha256"] == hashlib.sha256(DEMO.read_bytes()).hexdigest()
    assert (EXAMPLES / "registry" / benchmark["demo_dataset"]["path"]).resolve() == DEMO


def test_build_example_check() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_example.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def _rows(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))[1:]


def test_the_two_sites_private_datasets_are_disjoint_and_not_the_demos(tmp_path: Path) -> None:
    for out in (tmp_path / "one", tmp_path / "two"):
        subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "build_example.py"), "--sites", str(out)],
            check=True,
            capture_output=True,
        )
    with tarfile.open(DEMO) as tar:
        member = tar.extractfile("data/features.csv")
        assert member is not None
        demo = {tuple(line.split(",")[1:]) for line in member.read().decode().splitlines()[1:]}
    seen_cases: set[tuple[str, ...]] = set()
    for site, prefix, size in (("site-a", "SA-", 150), ("site-b", "SB-", 200)):
        features = _rows(tmp_path / "one" / site / "data" / "features.csv")
        labels = _rows(tmp_path / "one" / site / "labels" / "labels.csv")
        assert len(features) == size and [r[0] for r in labels] == [r[0] for r in features]
        assert all(r[0].startswith(prefix) for r in features)  # the site's own pseudonyms
        assert {r[1] for r in labels} == {"0", "1"}  # both classes at each site
        cases = {tuple(r[1:]) for r in features}
        assert not cases & demo and not cases & seen_cases  # disjoint splits, no demo case
        seen_cases |= cases
        for name in ("data/features.csv", "labels/labels.csv"):  # reproduced bit for bit
            one, two = tmp_path / "one" / site / name, tmp_path / "two" / site / name
            assert one.read_bytes() == two.read_bytes()
