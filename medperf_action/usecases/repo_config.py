"""A model repository's `.medperf.yml`: found once, validated, read by every command."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medperf_action.domain.validation import validate_file
from medperf_action.domain.yamldoc import load_file
from medperf_action.errors import UsageError

NAMES = (".medperf.yml", ".medperf.yaml")


def find_config(root: Path = Path()) -> Path | None:
    """`.medperf.yml` (or `.medperf.yaml`) in `root`, if there is one."""
    for name in NAMES:
        if (root / name).is_file():
            return root / name
    return None


def load_repo_config(path: Path | None = None, root: Path = Path()) -> dict[str, Any]:
    """`path`, else the `.medperf.yml` in `root`, validated; {} when there is none."""
    if path is None:
        path = find_config(root)
        if path is None:
            return {}
    if not path.is_file():
        raise UsageError(f"--config {path}: no such file")
    validate_file(path, "model-repo").raise_errors(UsageError, f"{path} is invalid")
    data = load_file(path).data
    return data if isinstance(data, dict) else {}
