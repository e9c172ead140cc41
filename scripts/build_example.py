"""Build the generated files of the example breast-cancer (WDBC) benchmark, deterministically.

Generated (all under ``examples/``, committed, reproduced bit for bit by every run):

* ``demo/breast-cancer-demo.tar.gz``: the demo dataset in MedPerf's demo format
  (``paths.yaml``, ``data/features.csv``, ``labels/labels.csv``), 100 cases drawn by a fixed
  stratified split from scikit-learn's copy of WDBC;
* ``reference_model/.../weights.json`` (logistic regression) and ``model/.../weights.json``
  (nearest centroid), both fitted on the other 469 cases;
* ``demo/expected-metrics.yaml``: both models' metrics on the demo set, from running the
  cubes' own code (``project/mlcube.py``) on the host;
* ``registry/registry.yaml``, ``registry/benchmarks/breast-cancer.yaml`` and
  ``registry/mlcubes/*.yaml``: the local example registry.

Label convention: 1 = malignant (the positive class), 0 = benign, i.e.
``label = 1 - sklearn_target`` (scikit-learn codes malignant as 0).

Not in examples/, and written only on request (``--sites DIR``): two data owners' *private*
datasets, ``DIR/site-a`` and ``DIR/site-b``, each ``data/features.csv`` and
``labels/labels.csv`` in the raw form the data preparator reads. They are disjoint
stratified splits of the training cases (never a demo case), under each site's own
pseudonymous case ids, as hospitals would hold them; the tests run the data owners' flow on
them and check that none of it leaves the site.

Usage: ``python scripts/build_example.py`` (write into examples/), ``--check`` (rebuild in
a temporary directory and exit 1 if anything differs from what is in examples/), or
``--sites DIR``.
scikit-learn is used only here; the cubes are standard-library Python.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import random
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import yaml
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import NearestCentroid

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

SEED = 20241129
DEMO_SIZE = 100
ID_COLUMN = "case_id"
LABEL_COLUMN = "label"

DEMO_TARBALL = "demo/breast-cancer-demo.tar.gz"
EXPECTED_METRICS = "demo/expected-metrics.yaml"
LR_WEIGHTS = "reference_model/mlcube/workspace/additional_files/weights.json"
CENTROID_WEIGHTS = "model/mlcube/workspace/additional_files/weights.json"
REGISTRY = "registry"

BENCHMARK_ID = "breast-cancer"
COMMITTEE = "benchmark-committee"
MODEL_OWNER = "model-owner"
METRICS = ("auc", "accuracy", "sensitivity", "specificity", "f1")

# mlcube id -> (example directory, role, owner, name, description)
MLCUBES: dict[str, tuple[str, str, str, str, str]] = {
    "breast-cancer-prep": (
        "data_preparator",
        "data-preparator",
        COMMITTEE,
        "Breast cancer (WDBC) data preparator",
        "Checks the raw features.csv / labels.csv and writes them in canonical form.",
    ),
    "breast-cancer-lr": (
        "reference_model",
        "model",
        COMMITTEE,
        "Logistic regression",
        "The benchmark's reference model, a logistic regression on standardised features.",
    ),
    "breast-cancer-metrics": (
        "evaluator",
        "metrics",
        COMMITTEE,
        "Classification metrics",
        "AUC, accuracy, sensitivity, specificity and F1 of the probability of malignancy.",
    ),
    "breast-cancer-centroid": (
        "model",
        "model",
        MODEL_OWNER,
        "Nearest-centroid classifier",
        "A model owner's candidate, a nearest-centroid classifier on standardised features.",
    ),
}


# --- data -------------------------------------------------------------------------------


def load_data() -> tuple[list[str], list[str], np.ndarray, np.ndarray]:
    """Case ids, feature names, features and labels (1 = malignant) of all 569 cases."""
    bunch = load_breast_cancer()
    features = np.asarray(bunch.data, dtype=np.float64)
    labels = 1 - np.asarray(bunch.target, dtype=np.int64)  # sklearn: 0 = malignant
    names = [str(name).replace(" ", "_") for name in bunch.feature_names]
    case_ids = [f"wdbc-{index:03d}" for index in range(len(labels))]
    return case_ids, names, features, labels


def demo_split(labels: np.ndarray) -> tuple[list[int], list[int]]:
    """Fixed stratified split: (demo indices, training indices), both sorted."""
    rng = random.Random(SEED)
    demo: list[int] = []
    for label in (0, 1):
        members = [int(i) for i in np.flatnonzero(labels == label)]
        rng.shuffle(members)
        demo += members[: round(DEMO_SIZE * len(members) / len(labels))]
    demo.sort()
    chosen = set(demo)
    train = [i for i in range(len(labels)) if i not in chosen]
    return demo, train


#: The two example sites: name -> (id prefix, number of cases), from the training cases.
SITES = {"site-a": ("SA", 150), "site-b": ("SB", 200)}


def site_splits(labels: np.ndarray, train: list[int]) -> dict[str, list[int]]:
    """Disjoint stratified draws of the training cases, one per site, each sorted."""
    rng = random.Random(SEED + 1)
    pools = [[i for i in train if labels[i] == label] for label in (0, 1)]
    shares = [len(pool) / len(train) for pool in pools]
    for pool in pools:
        rng.shuffle(pool)
    splits: dict[str, list[int]] = {}
    for site, (_, size) in SITES.items():
        chosen: list[int] = []
        for pool, share in zip(pools, shares, strict=True):
            take = round(size * share)
            chosen += pool[:take]
            del pool[:take]
        splits[site] = sorted(chosen)
    return splits


def write_sites(out: Path) -> dict[str, list[str]]:
    """Write each site's raw dataset under ``out/<site>``; each site's case ids."""
    _, names, features, labels = load_data()
    _, train = demo_split(labels)
    ids: dict[str, list[str]] = {}
    for site, members in site_splits(labels, train).items():
        prefix = SITES[site][0]
        rng = random.Random(f"{SEED}-{site}")
        # A hospital's own pseudonyms: nothing of the public data's numbering.
        site_ids = [f"{prefix}-{rng.getrandbits(40):010X}" for _ in members]
        ids[site] = site_ids
        rows = [
            [site_ids[k], *(repr(float(v)) for v in features[i])] for k, i in enumerate(members)
        ]
        label_rows = [[site_ids[k], str(int(labels[i]))] for k, i in enumerate(members)]
        for folder, name, text in (
            ("data", "features.csv", csv_text([ID_COLUMN, *names], rows)),
            ("labels", "labels.csv", csv_text([ID_COLUMN, LABEL_COLUMN], label_rows)),
        ):
            (out / site / folder).mkdir(parents=True, exist_ok=True)
            (out / site / folder / name).write_text(text, encoding="utf-8")
    return ids


def round_sig(value: float, digits: int) -> float:
    return float(f"{value:.{digits}g}")


def rounded(values: np.ndarray, digits: int) -> list[float]:
    return [round_sig(float(value), digits) for value in values]


def fit_models(
    names: list[str], features: np.ndarray, labels: np.ndarray, train: list[int]
) -> tuple[dict[str, object], dict[str, object]]:
    """Weights of the logistic regression and of the nearest-centroid classifier.

    Both are fitted on the ``train`` cases and standardise with the (rounded) mean and
    population standard deviation of those cases; the models are fitted on features
    standardised with exactly those rounded values, so training and inference use the same
    transform. Values are rounded so that tiny floating-point differences between machines
    do not change the bytes. The rounded weights are checked against scikit-learn on all
    cases.
    """
    mean = rounded(features[train].mean(axis=0), 10)
    scale = rounded(features[train].std(axis=0), 10)
    standardised = (features - np.array(mean)) / np.array(scale)

    lr = LogisticRegression(C=1.0, tol=1e-10, max_iter=10_000)
    lr.fit(standardised[train], labels[train])
    common = {"id_column": ID_COLUMN, "positive_class": "malignant", "feature_names": names}
    coef = rounded(lr.coef_[0], 6)
    intercept = round_sig(float(lr.intercept_[0]), 6)
    lr_weights: dict[str, object] = {
        "model": "logistic_regression",
        **common,
        "mean": mean,
        "scale": scale,
        "coef": coef,
        "intercept": intercept,
    }
    probability = 1 / (1 + np.exp(-(standardised @ np.array(coef) + intercept)))
    error = float(np.max(np.abs(probability - lr.predict_proba(standardised)[:, 1])))
    if error > 1e-4:
        raise SystemExit(f"rounded logistic-regression weights are off by {error}")

    centroid = NearestCentroid().fit(standardised[train], labels[train])
    classes = [int(c) for c in centroid.classes_]
    malignant = rounded(centroid.centroids_[classes.index(1)], 10)
    benign = rounded(centroid.centroids_[classes.index(0)], 10)
    centroid_weights: dict[str, object] = {
        "model": "nearest_centroid",
        **common,
        "mean": mean,
        "scale": scale,
        "centroids": {"malignant": malignant, "benign": benign},
    }
    d_malignant = np.linalg.norm(standardised - np.array(malignant), axis=1)
    d_benign = np.linalg.norm(standardised - np.array(benign), axis=1)
    if not np.array_equal(
        (d_benign / (d_benign + d_malignant) >= 0.5).astype(int), centroid.predict(standardised)
    ):
        raise SystemExit("rounded centroids disagree with scikit-learn's NearestCentroid")
    return lr_weights, centroid_weights


# --- files ------------------------------------------------------------------------------


def csv_text(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    return "".join(",".join(row) + "\n" for row in [list(header), *rows])


def deterministic_tar_gz(files: dict[str, bytes]) -> bytes:
    """A .tar.gz of ``files`` (path -> content) and their parent directories, the same bytes
    every run: sorted entries, mtime 0, owner 0:0 with empty names, modes 0644/0755."""
    entries: dict[str, bytes | None] = {}
    for path, content in files.items():
        parts = path.split("/")
        for depth in range(1, len(parts)):
            entries.setdefault("/".join(parts[:depth]), None)
        entries[path] = content
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for path in sorted(entries):
            content = entries[path]
            info = tarfile.TarInfo(path)
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if content is None:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            else:
                info.mode = 0o644
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    compressed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=compressed, compresslevel=9, mtime=0) as gz:
        gz.write(buffer.getvalue())
    return compressed.getvalue()


def demo_tarball(
    case_ids: list[str], names: list[str], features: np.ndarray, labels: np.ndarray
) -> bytes:
    feature_rows = [
        [case_ids[i], *(repr(float(value)) for value in features[i])] for i in range(len(case_ids))
    ]
    label_rows = [[case_ids[i], str(int(labels[i]))] for i in range(len(case_ids))]
    return deterministic_tar_gz(
        {
            "paths.yaml": b"data_path: data\nlabels_path: labels\n",
            "data/features.csv": csv_text([ID_COLUMN, *names], feature_rows).encode(),
            "labels/labels.csv": csv_text([ID_COLUMN, LABEL_COLUMN], label_rows).encode(),
        }
    )


def weights_json(weights: dict[str, object]) -> bytes:
    return (json.dumps(weights, indent=2) + "\n").encode()


HEADER = "# Generated by scripts/build_example.py; do not edit by hand.\n"


def registry_files(demo_sha256: str) -> dict[str, bytes]:
    files = {
        "registry.yaml": f"""{HEADER}name: Example breast-cancer registry
committee:
  users: [{COMMITTEE}]
labels:
  pending: medperf/pending
  approved: medperf/approved
  rejected: medperf/rejected
  verified: medperf/verified
  verification_failed: medperf/verification-failed
approval_policy:
  mode: never
  allowlist: []
metric_tolerance:
  absolute: 1.0e-6
  relative: 0.0
""",
        f"benchmarks/{BENCHMARK_ID}.yaml": f"""{HEADER}id: {BENCHMARK_ID}
name: Breast cancer (WDBC) demo benchmark
description: >-
  Malignant (1) vs benign (0) breast masses from 30 features of fine-needle aspirate
  images (Wisconsin Diagnostic Breast Cancer data, as shipped with scikit-learn).
owner: {COMMITTEE}
approval_status: APPROVED
state: OPERATION
data_preparator: breast-cancer-prep
reference_model: breast-cancer-lr
evaluator: breast-cancer-metrics
demo_dataset:
  path: ../{DEMO_TARBALL}
  sha256: {demo_sha256}
metrics: [{", ".join(METRICS)}]
""",
    }
    for cube_id, (directory, role, owner, name, description) in MLCUBES.items():
        files[f"mlcubes/{cube_id}.yaml"] = f"""{HEADER}id: {cube_id}
name: {name}
owner: {owner}
role: {role}
state: OPERATION
description: {description}
path: ../{directory}/mlcube
"""
    return {f"{REGISTRY}/{path}": text.encode() for path, text in files.items()}


# --- running the cubes' code on the host ------------------------------------------------


def run_cube(directory: str, *args: str) -> None:
    script = EXAMPLES / directory / "project" / "mlcube.py"
    result = subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"{directory} {args[0]} failed:\n{result.stderr}")


def expected_metrics(out: Path) -> bytes:
    """Run prepare -> infer (both models) -> evaluate on the demo tarball built in ``out``."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with tarfile.open(out / DEMO_TARBALL) as tar:
            if hasattr(tarfile, "data_filter"):
                tar.extractall(work / "demo", filter="data")
            else:  # Python < 3.10.12 / 3.11.4; our own, trusted tarball
                tar.extractall(work / "demo")
        params = {
            directory: EXAMPLES / directory / "mlcube/workspace/parameters.yaml"
            for directory, *_ in MLCUBES.values()
        }
        run_cube(
            "data_preparator",
            "prepare",
            f"--data_path={work / 'demo/data'}",
            f"--labels_path={work / 'demo/labels'}",
            f"--parameters_file={params['data_preparator']}",
            f"--output_path={work / 'data'}",
            f"--output_labels_path={work / 'labels'}",
        )
        lines = [HEADER.rstrip("\n"), "# Metrics of the example models on the demo dataset."]
        for cube_id, directory, weights in (
            ("breast-cancer-lr", "reference_model", LR_WEIGHTS),
            ("breast-cancer-centroid", "model", CENTROID_WEIGHTS),
        ):
            run_cube(
                directory,
                "infer",
                f"--data_path={work / 'data'}",
                f"--parameters_file={params[directory]}",
                f"--weights={out / weights}",
                f"--output_path={work / cube_id}",
            )
            run_cube(
                "evaluator",
                "evaluate",
                f"--predictions={work / cube_id}",
                f"--labels={work / 'labels'}",
                f"--parameters_file={params['evaluator']}",
                f"--output_path={work / (cube_id + '.yaml')}",
            )
            results = yaml.safe_load((work / f"{cube_id}.yaml").read_text())
            lines.append(f"{cube_id}:")
            lines += [f"  {name}: {results[name]!r}" for name in METRICS]
    return ("\n".join(lines) + "\n").encode()


# --- build and check --------------------------------------------------------------------


def build(out: Path) -> list[str]:
    """Write every generated file under ``out`` (laid out like examples/); their paths."""
    case_ids, names, features, labels = load_data()
    demo, train = demo_split(labels)
    lr_weights, centroid_weights = fit_models(names, features, labels, train)
    tarball = demo_tarball([case_ids[i] for i in demo], names, features[demo], labels[demo])
    files = {
        DEMO_TARBALL: tarball,
        LR_WEIGHTS: weights_json(lr_weights),
        CENTROID_WEIGHTS: weights_json(centroid_weights),
        **registry_files(hashlib.sha256(tarball).hexdigest()),
    }
    for path, content in files.items():
        if path.endswith(".yaml"):
            yaml.safe_load(content)  # every generated YAML file must load
        target = out / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    (out / EXPECTED_METRICS).write_bytes(expected_metrics(out))
    return sorted([*files, EXPECTED_METRICS])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="rebuild in a temporary directory; exit 1 if anything differs from examples/",
    )
    parser.add_argument(
        "--sites",
        type=Path,
        metavar="DIR",
        help="write the two example sites' private datasets under DIR (nothing else)",
    )
    args = parser.parse_args(argv)
    if args.sites is not None:
        for site, ids in write_sites(args.sites).items():
            print(f"wrote {args.sites / site}: {len(ids)} cases")
        return 0
    if not args.check:
        for path in build(EXAMPLES):
            print(f"wrote examples/{path}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        differing = [
            path
            for path in build(out)
            if not (EXAMPLES / path).is_file()
            or (EXAMPLES / path).read_bytes() != (out / path).read_bytes()
        ]
    for path in differing:
        print(f"differs from a fresh build: examples/{path}", file=sys.stderr)
    if differing:
        print("run: python scripts/build_example.py", file=sys.stderr)
        return 1
    print("examples/ is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
