"""Reference model MLCube of the medperf-action breast-cancer (WDBC) example benchmark.

A logistic regression on standardised features. Task ``infer`` (called as MLCube calls it,
``mlcube.py infer --data_path=DIR --weights=FILE --output_path=DIR [--parameters_file=FILE]``)
reads ``data_path/data.csv`` (written by the data preparator) and the weights JSON, and
writes ``output_path/predictions.csv`` with the columns ``case_id,probability``: the
probability that the case is malignant.

Standard-library Python only.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

DATA_FILE = "data.csv"
PREDICTIONS_FILE = "predictions.csv"
MODEL_KIND = "logistic_regression"
DEFAULT_PARAMETERS: dict[str, object] = {"probability_digits": 12}
Case = tuple[str, list[float]]  # case id, feature values


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


def digits_parameter(params: dict[str, object]) -> int:
    value = params.get("probability_digits")
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 17:
        fail(f"parameter 'probability_digits' must be an integer in 1..17, got {value!r}")
    return value


# --- inputs -----------------------------------------------------------------------------


def resolve_input(path: str, file_name: str) -> Path:
    """A directory parameter holds ``file_name``; a file parameter is the file itself."""
    given = Path(path)
    if given.is_dir():
        given = given / file_name
    if not given.is_file():
        fail(f"input file not found: {given}")
    return given


def number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def number_list(weights: dict[str, object], key: str, length: int, file: Path) -> list[float]:
    value = weights.get(key)
    if not isinstance(value, list) or len(value) != length or not all(map(number, value)):
        fail(f"{file}: {key!r} must be a list of {length} finite numbers")
    return [float(item) for item in value]


@dataclass
class Weights:
    id_column: str
    feature_names: list[str]
    mean: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float


def load_weights(file: Path) -> Weights:
    try:
        weights = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        fail(f"{file}: not valid JSON ({exc})")
    if not isinstance(weights, dict) or weights.get("model") != MODEL_KIND:
        fail(f'{file}: not {MODEL_KIND} weights (expected "model": "{MODEL_KIND}")')
    names = weights.get("feature_names")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        fail(f"{file}: 'feature_names' must be a non-empty list of strings")
    id_column = weights.get("id_column")
    if not isinstance(id_column, str) or not id_column:
        fail(f"{file}: 'id_column' must be a non-empty string")
    scale = number_list(weights, "scale", len(names), file)
    if any(value <= 0 for value in scale):
        fail(f"{file}: 'scale' must be positive")
    intercept = weights.get("intercept")
    if not number(intercept):
        fail(f"{file}: 'intercept' must be a finite number")
    return Weights(
        id_column=id_column,
        feature_names=names,
        mean=number_list(weights, "mean", len(names), file),
        scale=scale,
        coef=number_list(weights, "coef", len(names), file),
        intercept=float(intercept),  # type: ignore[arg-type]
    )


def read_data(file: Path, id_column: str, feature_names: list[str]) -> list[Case]:
    """Cases of data.csv, their features in the order of ``feature_names``."""
    try:
        with file.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = [name.strip() for name in next(reader, [])]
            if not header or header[0] != id_column:
                fail(f"{file}: the first column must be {id_column!r}")
            missing = [name for name in feature_names if name not in header]
            if missing:
                fail(f"{file}: missing feature column(s) {missing[:3]}")
            columns = [header.index(name) for name in feature_names]
            cases: list[Case] = []
            seen: set[str] = set()
            for row in reader:
                if not row:
                    continue
                where = f"{file}:{reader.line_num}"
                if len(row) != len(header):
                    fail(f"{where}: expected {len(header)} fields, found {len(row)}")
                case_id = row[0].strip()
                if not case_id or case_id in seen:
                    fail(f"{where}: missing or duplicate case id {case_id!r}")
                seen.add(case_id)
                values: list[float] = []
                for column in columns:
                    try:
                        value = float(row[column])
                    except ValueError:
                        fail(f"{where}: not a number: {row[column]!r}")
                    if not math.isfinite(value):
                        fail(f"{where}: not a finite number: {row[column]!r}")
                    values.append(value)
                cases.append((case_id, values))
    except UnicodeDecodeError as exc:
        fail(f"{file}: not UTF-8 text ({exc.reason})")
    except csv.Error as exc:
        fail(f"{file}: malformed CSV ({exc})")
    if not cases:
        fail(f"{file}: no cases")
    return cases


# --- the model --------------------------------------------------------------------------


def sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def predict(weights: Weights, values: list[float]) -> float:
    """Probability that the case is malignant."""
    z = weights.intercept
    for x, mean, scale, coef in zip(values, weights.mean, weights.scale, weights.coef, strict=True):
        z += coef * (x - mean) / scale
    return sigmoid(z)


def infer(args: argparse.Namespace) -> None:
    params = load_parameters(args.parameters_file)
    digits = digits_parameter(params)
    weights = load_weights(Path(args.weights))
    data_file = resolve_input(args.data_path, DATA_FILE)
    cases = read_data(data_file, weights.id_column, weights.feature_names)

    output = Path(args.output_path)
    output.mkdir(parents=True, exist_ok=True)
    with (output / PREDICTIONS_FILE).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["case_id", "probability"])
        for case_id, values in cases:
            writer.writerow([case_id, f"{predict(weights, values):.{digits}g}"])
    print(f"wrote predictions for {len(cases)} cases to {output / PREDICTIONS_FILE}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    tasks = parser.add_subparsers(dest="task", required=True, metavar="TASK")
    task = tasks.add_parser("infer", help="predict the probability of malignancy")
    task.add_argument("--data_path", required=True, help="directory holding data.csv")
    task.add_argument("--parameters_file", help="parameters.yaml")
    task.add_argument("--weights", required=True, help="weights JSON file")
    task.add_argument("--output_path", required=True, help="directory for predictions.csv")
    task.set_defaults(run=infer)
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
