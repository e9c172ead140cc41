"""A registry with released results, for the leaderboard's tests: 2 benchmarks, 3 models on
the first and 2 on the second, 2 datasets each (one dataset shared). Model and dataset
names are hostile on purpose: Markdown table breaks, links, HTML and SVG injection.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

SHA = "ab" * 32
IMAGE = "sha256:" + "cd" * 32

#: A model name that tries every injection the renderers must defuse.
HOSTILE = (
    'Evil | cell </svg><script>alert("x")</script> [link](https://evil.example) '
    "<img src=x onerror=alert(1)> & @team #1 *bold* `code` \u0000\u0007\nnext line"
)
HOSTILE_DATASET = "Site B </title><desc>fake</desc> | <b>bold</b> & co"

BENCHMARKS: dict[str, dict[str, Any]] = {
    "bc-one": {"name": "Breast cancer one", "metrics": ["auc", "accuracy"]},
    "bc-two": {"name": "Breast cancer two <i>v2</i>", "metrics": None},
}
#: datasets: id -> (name, num_cases)
DATASETS = {"site-a": ("Site A cohort", 120), "site-b": (HOSTILE_DATASET, 80)}
#: mlcubes: id -> name
MODELS = {
    "model-lr": "Logistic regression",
    "model-centroid": "Nearest centroid",
    "model-evil": HOSTILE,
}
#: results: (benchmark, model, dataset) -> metrics
RESULTS: dict[tuple[str, str, str], dict[str, Any]] = {
    ("bc-one", "model-lr", "site-a"): {"auc": 0.95, "accuracy": 0.9, "note": "ok"},
    ("bc-one", "model-lr", "site-b"): {"auc": 0.85, "accuracy": 0.8, "note": "ok"},
    ("bc-one", "model-centroid", "site-a"): {"auc": 0.90, "accuracy": 0.88},
    ("bc-one", "model-centroid", "site-b"): {"auc": 0.97, "accuracy": 0.91},
    ("bc-one", "model-evil", "site-a"): {"auc": 0.6, "accuracy": "n/a"},
    ("bc-one", "model-evil", "site-b"): {"auc": 0.7, "accuracy": 0.5},
    # weighted by cases the centroid leads on auc (0.708 > 0.692); unweighted it would not
    ("bc-two", "model-lr", "site-a"): {"f1": 0.7, "auc": 0.70},
    ("bc-two", "model-lr", "site-b"): {"f1": 0.5, "auc": 0.68},
    ("bc-two", "model-centroid", "site-a"): {"f1": 0.8, "auc": 0.88},
    ("bc-two", "model-centroid", "site-b"): {"f1": 0.2, "auc": 0.45},
}


def _write(root: Path, rel: str, data: dict[str, Any]) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


def result_doc(bench: str, model: str, dataset: str, metrics: dict[str, Any]) -> dict[str, Any]:
    return {
        "benchmark": bench,
        "model": model,
        "dataset": dataset,
        "submitted_by": f"owner-{dataset}",
        "run_id": "0123456789ab",
        "metrics": metrics,
        "data_sha256": SHA,
        "num_cases": DATASETS[dataset][1],
        "model_cube": {
            "id": model,
            "image_id": IMAGE,
            "pin": {"assets": {"mlcube": "ef" * 32}, "image": {"archive": "12" * 32}},
        },
        "evaluator": {"id": "metrics", "image_id": IMAGE},
        "started_at": "2026-11-30T11:00:00Z",
        "finished_at": "2026-11-30T11:00:04Z",
        "timings": {"infer_s": 1.0, "evaluate_s": 0.5, "total_s": 2.0},
        "tool": {"name": "medperf-action", "version": "0.1.0"},
    }


def build_registry(
    root: Path, results: dict[tuple[str, str, str], dict[str, Any]] = RESULTS
) -> Path:
    """The registry at `root` (made); returns `root`."""
    _write(root, "registry.yaml", {"name": "Leaderboard test registry"})
    for bench, spec in BENCHMARKS.items():
        doc: dict[str, Any] = {
            "id": bench,
            "name": spec["name"],
            "description": "A <b>test</b> benchmark | with a pipe",
            "owner": "committee",
            "approval_status": "APPROVED",
            "data_preparator": "prep",
            "reference_model": "model-lr",
            "evaluator": "metrics",
            "demo_dataset": {"url": "https://example.org/demo.tar.gz", "sha256": SHA},
        }
        if spec["metrics"]:
            doc["metrics"] = spec["metrics"]
        _write(root, f"benchmarks/{bench}.yaml", doc)
    for model, name in MODELS.items():
        entry: dict[str, Any] = {"id": model, "name": name, "owner": "bob", "role": "model"}
        entry["source"] = {
            "repository": f"bob/{model}",
            "ref": "refs/tags/v1.0.0",
            "commit": "9" * 40,
        }
        entry["path"] = "../model/mlcube"
        _write(root, f"mlcubes/{model}.yaml", entry)
    for dataset, (name, cases) in DATASETS.items():
        _write(
            root,
            f"datasets/{dataset}.yaml",
            {
                "id": dataset,
                "name": name,
                "location": "Hospital <A>, Berlin",
                "owner": f"owner-{dataset}",
                "data_preparator": "prep",
                "prepared": {"data_sha256": SHA, "labels_sha256": SHA, "num_cases": cases},
                "statistics": {"num_cases": cases},
                "created_at": "2026-11-30T09:00:00Z",
            },
        )
    for (bench, model, dataset), metrics in results.items():
        _write(
            root,
            f"results/{bench}/{model}/{dataset}.yaml",
            result_doc(bench, model, dataset, metrics),
        )
    return root
