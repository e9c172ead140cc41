"""Metrics MLCube of the medperf-action breast-cancer (WDBC) example benchmark.

Task ``evaluate`` (called as MLCube calls it, ``mlcube.py evaluate --predictions=DIR
--labels=DIR --output_path=FILE [--parameters_file=FILE]``) matches
``predictions/predictions.csv`` (``case_id,probability``: probability of malignancy) with
``labels/labels.csv`` (``case_id,label``; 1 = malignant) by case id and writes to
``output_path`` a flat YAML mapping with

* ``auc``: area under the ROC curve (Mann-Whitney U statistic, ties counted half);
* ``accuracy``, ``sensitivity``, ``specificity``, ``f1``: a case is predicted malignant when
  its probability is ``>= threshold`` (from parameters.yaml, default 0.5).

Every labelled case needs exactly one prediction, and every prediction a label.
Standard-library Python only.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

PREDICTIONS_FILE = "predictions.csv"
LABELS_FILE = "labels.csv"
DEFAULT_PARAMETERS: dict[str, object] = {"threshold": 0.5}


class InputError(Exception):
    """Bad input: reported on stderr, exit status 1."""


def fail(message: str) -> NoReturn:
    raise InputError(message)


# --- parameters.yaml: a flat ``key: value`` mapping -------------------------------------


def parse_scalar(text: str) -> object:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("null", "~", ""):
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def strip_comment(line: str) -> str:
    quote = ""
    for i, char in enumerate(line):
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i]
    return line


def load_parameters(path: str | None) -> dict[str, object]:
    params = dict(DEFAULT_PARAMETERS)
    if path is None:
        return params
    file = Path(path)
    if not file.is_file():
        fail(f"parameters file not found: {path}")
    for number, raw in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
        line = strip_comment(raw).rstrip()
        if not line.strip() or line.strip() == "---":
            continue
        key, sep, value = line.partition(":")
        if not sep or line[0] in " \t" or not key.strip():
            fail(f"{path}:{number}: expected a flat 'key: value' line, got {raw!r}")
        params[key.strip()] = parse_scalar(value.strip())
    return params


def threshold_parameter(params: dict[str, object]) -> float:
    value = params.get("threshold")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        fail(f"parameter 'threshold' must be a number in [0, 1], got {value!r}")
    return float(value)


# --- YAML output ------------------------------------------------------------------------


def yaml_float(value: float) -> str:
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    text = repr(value)
    if "e" in text and "." not in text:  # YAML 1.1 floats need a dot: 1e-05 -> 1.0e-05
        mantissa, _, exponent = text.partition("e")
        text = f"{mantissa}.0e{exponent}"
    return text


def write_yaml(path: str, mapping: dict[str, float]) -> None:
    file = Path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{key}: {yaml_float(value)}\n" for key, value in mapping.items()]
    file.write_text("".join(lines), encoding="utf-8")


# --- inputs -----------------------------------------------------------------------------


def resolve_input(path: str, file_name: str) -> Path:
    """A directory parameter holds ``file_name``; a file parameter is the file itself."""
    given = Path(path)
    if given.is_dir():
        given = given / file_name
    if not given.is_file():
        fail(f"input file not found: {given}")
    return given


def read_pairs(file: Path, value_column: str) -> dict[str, str]:
    """``case_id -> value`` from a two-column CSV with a header."""
    values: dict[str, str] = {}
    try:
        with file.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = [name.strip() for name in next(reader, [])]
            if len(header) != 2 or header[1] != value_column:
                fail(f"{file}: the header must be 'case_id,{value_column}', got {header}")
            for row in reader:
                if not row:
                    continue
                where = f"{file}:{reader.line_num}"
                if len(row) != 2:
                    fail(f"{where}: expected 2 fields, found {len(row)}")
                case_id = row[0].strip()
                if not case_id:
                    fail(f"{where}: missing case id")
                if case_id in values:
                    fail(f"{where}: duplicate case id {case_id!r}")
                values[case_id] = row[1].strip()
    except UnicodeDecodeError as exc:
        fail(f"{file}: not UTF-8 text ({exc.reason})")
    except csv.Error as exc:
        fail(f"{file}: malformed CSV ({exc})")
    if not values:
        fail(f"{file}: no cases")
    return values


def read_labels(file: Path) -> dict[str, int]:
    labels: dict[str, int] = {}
    for case_id, text in read_pairs(file, "label").items():
        if text not in ("0", "1"):
            fail(f"{file}: case {case_id!r}: the label must be 0 or 1, got {text!r}")
        labels[case_id] = int(text)
    return labels


def read_predictions(file: Path) -> dict[str, float]:
    predictions: dict[str, float] = {}
    for case_id, text in read_pairs(file, "probability").items():
        try:
            value = float(text)
        except ValueError:
            fail(f"{file}: case {case_id!r}: not a number: {text!r}")
        if not 0.0 <= value <= 1.0:  # also rejects NaN
            fail(f"{file}: case {case_id!r}: the probability must be in [0, 1], got {text!r}")
        predictions[case_id] = value
    return predictions


# --- metrics ----------------------------------------------------------------------------


def roc_auc(labels: list[int], scores: list[float]) -> float:
    """Mann-Whitney U / (n_pos * n_neg), from average ranks (ties count half)."""
    order = sorted(range(len(scores)), key=scores.__getitem__)
    ranks = [0.0] * len(scores)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and scores[order[end + 1]] == scores[order[start]]:
            end += 1
        average = (start + end) / 2 + 1  # ranks are 1-based
        for i in range(start, end + 1):
            ranks[order[i]] = average
        start = end + 1
    n_pos = sum(labels)
    n_neg = len(labels) - n_pos
    rank_sum = sum(rank for rank, label in zip(ranks, labels, strict=True) if label == 1)
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def compute_metrics(labels: list[int], scores: list[float], threshold: float) -> dict[str, float]:
    tp = fp = tn = fn = 0
    for label, score in zip(labels, scores, strict=True):
        predicted = 1 if score >= threshold else 0
        if predicted and label:
            tp += 1
        elif predicted:
            fp += 1
        elif label:
            fn += 1
        else:
            tn += 1
    f1_denominator = 2 * tp + fp + fn
    return {
        "auc": roc_auc(labels, scores),
        "accuracy": (tp + tn) / len(labels),
        "sensitivity": tp / (tp + fn),
        "specificity": tn / (tn + fp),
        "f1": 2 * tp / f1_denominator if f1_denominator else 0.0,
    }


def evaluate(args: argparse.Namespace) -> None:
    threshold = threshold_parameter(load_parameters(args.parameters_file))
    labels_file = resolve_input(args.labels, LABELS_FILE)
    predictions_file = resolve_input(args.predictions, PREDICTIONS_FILE)
    labels = read_labels(labels_file)
    predictions = read_predictions(predictions_file)

    missing = [case_id for case_id in labels if case_id not in predictions]
    if missing:
        fail(f"{predictions_file}: no prediction for {len(missing)} case(s), e.g. {missing[:3]}")
    unknown = [case_id for case_id in predictions if case_id not in labels]
    if unknown:
        fail(
            f"{predictions_file}: {len(unknown)} prediction(s) without a label, e.g. {unknown[:3]}"
        )
    case_ids = sorted(labels)
    y = [labels[case_id] for case_id in case_ids]
    if sum(y) in (0, len(y)):
        fail(f"{labels_file}: both classes (0 and 1) are needed to compute the metrics")
    metrics = compute_metrics(y, [predictions[case_id] for case_id in case_ids], threshold)
    write_yaml(args.output_path, metrics)
    print(", ".join(f"{name}={value:.4f}" for name, value in metrics.items()))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    tasks = parser.add_subparsers(dest="task", required=True, metavar="TASK")
    task = tasks.add_parser("evaluate", help="compute the metrics of the predictions")
    task.add_argument("--predictions", required=True, help="directory holding predictions.csv")
    task.add_argument("--labels", required=True, help="directory holding labels.csv")
    task.add_argument("--parameters_file", help="parameters.yaml")
    task.add_argument("--output_path", required=True, help="results YAML file to write")
    task.set_defaults(run=evaluate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except (InputError, OSError) as exc:
        print(f"{args.task}: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
