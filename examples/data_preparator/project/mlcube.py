"""Data preparator MLCube of the medperf-action breast-cancer (WDBC) example benchmark.

Tasks (called as MLCube calls them, ``mlcube.py TASK --name=value ...``):

* ``prepare``: checks the raw ``features.csv`` (``case_id`` + 30 numeric features) and
  ``labels.csv`` (``case_id,label``; 1 = malignant, 0 = benign) and writes them in canonical
  form, sorted by case id, as ``output_path/data.csv`` and ``output_labels_path/labels.csv``.
* ``sanity_check``: verifies prepared data; exits 1 with a message if it is not usable.
* ``statistics``: writes a flat YAML mapping of summary statistics to ``output_path``.

Standard-library Python only; no scaling is done here (each model carries its own).
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

DATA_FILE = "data.csv"
LABELS_FILE = "labels.csv"
RAW_FEATURES_FILE = "features.csv"
RAW_LABELS_FILE = "labels.csv"
DEFAULT_PARAMETERS: dict[str, object] = {
    "id_column": "case_id",
    "label_column": "label",
    "num_features": 30,
}


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


def text_parameter(params: dict[str, object], name: str) -> str:
    value = params.get(name)
    if not isinstance(value, str) or not value:
        fail(f"parameter {name!r} must be a non-empty string, got {value!r}")
    return value


def int_parameter(params: dict[str, object], name: str) -> int:
    value = params.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        fail(f"parameter {name!r} must be a positive integer, got {value!r}")
    return value


# --- YAML output ------------------------------------------------------------------------


def yaml_scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        text = repr(value)
        if "e" in text and "." not in text:  # YAML 1.1 floats need a dot: 1e-05 -> 1.0e-05
            mantissa, _, exponent = text.partition("e")
            text = f"{mantissa}.0e{exponent}"
        return text
    text = str(value)
    return "'" + text.replace("'", "''") + "'"


def write_yaml(path: str, mapping: dict[str, object]) -> None:
    file = Path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{key}: {yaml_scalar(value)}\n" for key, value in mapping.items()]
    file.write_text("".join(lines), encoding="utf-8")


# --- CSV input --------------------------------------------------------------------------


def resolve_input(path: str, file_name: str) -> Path:
    """A directory parameter holds ``file_name``; a file parameter is the file itself."""
    given = Path(path)
    if given.is_dir():
        given = given / file_name
    if not given.is_file():
        fail(f"input file not found: {given}")
    return given


def read_csv(file: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    try:
        with file.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                fail(f"{file}: the file is empty")
            rows = [(reader.line_num, row) for row in reader if row]
    except UnicodeDecodeError as exc:
        fail(f"{file}: not UTF-8 text ({exc.reason})")
    except csv.Error as exc:
        fail(f"{file}: malformed CSV ({exc})")
    return [name.strip() for name in header], rows


def parse_number(text: str, where: str) -> float:
    text = text.strip()
    if not text:
        fail(f"{where}: missing value")
    try:
        value = float(text)
    except ValueError:
        fail(f"{where}: not a number: {text!r}")
    if not math.isfinite(value):
        fail(f"{where}: not a finite number: {text!r}")
    return value


@dataclass
class Dataset:
    feature_names: list[str]
    case_ids: list[str]
    features: dict[str, list[float]]
    labels: dict[str, int]
    labels_order: list[str]


def load_dataset(features_file: Path, labels_file: Path, params: dict[str, object]) -> Dataset:
    id_column = text_parameter(params, "id_column")
    label_column = text_parameter(params, "label_column")
    num_features = int_parameter(params, "num_features")

    header, rows = read_csv(features_file)
    if not header or header[0] != id_column:
        fail(f"{features_file}: the first column must be {id_column!r}, got {header[:1]}")
    feature_names = header[1:]
    if len(feature_names) != num_features:
        fail(
            f"{features_file}: expected {num_features} feature columns after {id_column!r}, "
            f"found {len(feature_names)}"
        )
    seen_names: set[str] = set()
    for name in feature_names:
        if not name:
            fail(f"{features_file}: empty column name in the header")
        if name in seen_names or name == id_column:
            fail(f"{features_file}: duplicate column {name!r} in the header")
        seen_names.add(name)

    case_ids: list[str] = []
    features: dict[str, list[float]] = {}
    for line, row in rows:
        if len(row) != len(header):
            fail(f"{features_file}:{line}: expected {len(header)} fields, found {len(row)}")
        case_id = row[0].strip()
        if not case_id:
            fail(f"{features_file}:{line}: missing {id_column}")
        if case_id in features:
            fail(f"{features_file}:{line}: duplicate {id_column} {case_id!r}")
        features[case_id] = [
            parse_number(text, f"{features_file}:{line}: column {name!r}")
            for name, text in zip(feature_names, row[1:], strict=True)
        ]
        case_ids.append(case_id)
    if not case_ids:
        fail(f"{features_file}: no cases")

    label_header, label_rows = read_csv(labels_file)
    if label_header != [id_column, label_column]:
        fail(f"{labels_file}: the header must be '{id_column},{label_column}', got {label_header}")
    labels: dict[str, int] = {}
    labels_order: list[str] = []
    for line, row in label_rows:
        if len(row) != 2:
            fail(f"{labels_file}:{line}: expected 2 fields, found {len(row)}")
        case_id, text = row[0].strip(), row[1].strip()
        if not case_id:
            fail(f"{labels_file}:{line}: missing {id_column}")
        if case_id in labels:
            fail(f"{labels_file}:{line}: duplicate {id_column} {case_id!r}")
        if text not in ("0", "1"):
            fail(f"{labels_file}:{line}: the label must be 0 or 1, got {text!r}")
        labels[case_id] = int(text)
        labels_order.append(case_id)

    unlabelled = [case_id for case_id in case_ids if case_id not in labels]
    if unlabelled:
        fail(f"{labels_file}: no label for {len(unlabelled)} case(s), e.g. {unlabelled[:3]}")
    unknown = [case_id for case_id in labels_order if case_id not in features]
    if unknown:
        fail(f"{labels_file}: labels for {len(unknown)} unknown case(s), e.g. {unknown[:3]}")
    return Dataset(feature_names, case_ids, features, labels, labels_order)


# --- tasks ------------------------------------------------------------------------------


def prepare(args: argparse.Namespace) -> None:
    params = load_parameters(args.parameters_file)
    features_file = resolve_input(args.data_path, RAW_FEATURES_FILE)
    labels_file = resolve_input(args.labels_path, RAW_LABELS_FILE)
    dataset = load_dataset(features_file, labels_file, params)
    id_column = text_parameter(params, "id_column")
    label_column = text_parameter(params, "label_column")

    ordered = sorted(dataset.case_ids)
    output = Path(args.output_path)
    output.mkdir(parents=True, exist_ok=True)
    with (output / DATA_FILE).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow([id_column, *dataset.feature_names])
        for case_id in ordered:
            writer.writerow([case_id, *(repr(value) for value in dataset.features[case_id])])
    output_labels = Path(args.output_labels_path)
    output_labels.mkdir(parents=True, exist_ok=True)
    with (output_labels / LABELS_FILE).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow([id_column, label_column])
        for case_id in ordered:
            writer.writerow([case_id, dataset.labels[case_id]])
    print(f"prepared {len(ordered)} cases with {len(dataset.feature_names)} features")


def sanity_check(args: argparse.Namespace) -> None:
    params = load_parameters(args.parameters_file)
    data_file = resolve_input(args.data_path, DATA_FILE)
    labels_file = resolve_input(args.labels_path, LABELS_FILE)
    dataset = load_dataset(data_file, labels_file, params)
    if dataset.case_ids != sorted(dataset.case_ids):
        fail(f"{data_file}: cases are not sorted by case id (was this written by prepare?)")
    if dataset.labels_order != dataset.case_ids:
        fail(f"{labels_file}: cases are not in the same order as in {data_file}")
    print(f"sanity check passed: {len(dataset.case_ids)} cases")


def statistics(args: argparse.Namespace) -> None:
    params = load_parameters(args.parameters_file)
    data_file = resolve_input(args.data_path, DATA_FILE)
    labels_file = resolve_input(args.labels_path, LABELS_FILE)
    dataset = load_dataset(data_file, labels_file, params)
    num_cases = len(dataset.case_ids)
    num_positive = sum(dataset.labels.values())
    write_yaml(
        args.output_path,
        {
            "num_cases": num_cases,
            "num_features": len(dataset.feature_names),
            "num_positive": num_positive,
            "num_negative": num_cases - num_positive,
            "positive_fraction": num_positive / num_cases,
        },
    )
    print(f"statistics written to {args.output_path}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    tasks = parser.add_subparsers(dest="task", required=True, metavar="TASK")

    task = tasks.add_parser("prepare", help="check and canonicalise the raw data")
    task.add_argument("--data_path", required=True, help="directory holding features.csv")
    task.add_argument("--labels_path", required=True, help="directory holding labels.csv")
    task.add_argument("--parameters_file", help="parameters.yaml")
    task.add_argument("--output_path", required=True, help="directory for data.csv")
    task.add_argument("--output_labels_path", required=True, help="directory for labels.csv")
    task.set_defaults(run=prepare)

    task = tasks.add_parser("sanity_check", help="verify prepared data")
    task.add_argument("--data_path", required=True, help="directory holding data.csv")
    task.add_argument("--labels_path", required=True, help="directory holding labels.csv")
    task.add_argument("--parameters_file", help="parameters.yaml")
    task.set_defaults(run=sanity_check)

    task = tasks.add_parser("statistics", help="summary statistics of prepared data")
    task.add_argument("--data_path", required=True, help="directory holding data.csv")
    task.add_argument("--labels_path", required=True, help="directory holding labels.csv")
    task.add_argument("--parameters_file", help="parameters.yaml")
    task.add_argument("--output_path", required=True, help="statistics YAML file to write")
    task.set_defaults(run=statistics)
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
