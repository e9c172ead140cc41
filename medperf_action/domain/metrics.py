"""Metrics as an evaluator writes them (a nested mapping), and how two sets are compared.

One flattening for every table and every comparison: nested keys become dotted names;
an empty mapping is a value of its own (`{}`), never silently dropped; metrics that are
not a mapping at all are one value named `value`; none at all is no metric.
"""

from __future__ import annotations

import json
import math
from typing import Any

from medperf_action.domain.registry.config import RegistryConfig
from medperf_action.text import shorten

#: A verification report shows at most this many metrics, each value this long.
MAX_ROWS = 500
MAX_VALUE = 200


def flatten(metrics: Any, prefix: str = "") -> dict[str, Any]:
    """Nested metrics as {dotted.name: value}."""
    if metrics is None and not prefix:
        return {}
    if not isinstance(metrics, dict):
        return {prefix or "value": metrics}
    out: dict[str, Any] = {}
    for key, value in metrics.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            out.update(flatten(value, name))
        else:
            out[name] = value
    return out


def number(value: Any) -> float | None:
    """A metric's value as a float, if it is a number (booleans are not)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def same(config: RegistryConfig, reported: Any, verified: Any) -> bool:
    """Whether a reported value is reproduced by the verified one, within the registry's
    tolerance; NaN matches NaN, infinities match only themselves, other values exactly."""
    a, b = number(reported), number(verified)
    if a is not None and b is not None:
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        if math.isinf(a) or math.isinf(b):
            return a == b
        return config.within_tolerance(a, b)
    return bool(reported == verified) and a is None and b is None


def exactly(a: Any, b: Any) -> bool:
    """Equal values, NaN equal to NaN (the same run, written twice)."""
    x, y = number(a), number(b)
    if x is not None and y is not None:
        return x == y or (math.isnan(x) and math.isnan(y))
    return bool(a == b) and x is None and y is None


def differences(a: Any, b: Any, name: str = "") -> list[str]:
    """The dotted names where two nested values differ (a key on one side only, too)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for key in [*a, *(k for k in b if k not in a)]:
            inner = f"{name}.{key}" if name else str(key)
            out += differences(a[key], b[key], inner) if key in a and key in b else [inner]
        return out
    return [] if exactly(a, b) else [name or "(the whole value)"]


def json_value(value: Any) -> Any:
    """A metric value as a report holds it: finite numbers, booleans, short strings."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value if math.isfinite(value) else str(value)
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return shorten(text, MAX_VALUE)


def compare(
    config: RegistryConfig, reported: Any, verified: Any
) -> tuple[list[dict[str, Any]], bool, str]:
    """One row per reported metric, whether all were reproduced, and why (or why not)."""
    got, want = flatten(reported), flatten(verified)
    if len(got) > MAX_ROWS:
        return [], False, f"the request reports {len(got)} metrics; at most {MAX_ROWS}"
    rows = []
    failed = []
    for name, value in got.items():
        present = name in want
        ok = present and same(config, value, want[name])
        rows.append(
            {
                "metric": (name or "(no name)")[:MAX_VALUE],
                "reported": json_value(value),
                "verified": json_value(want.get(name)),
                "passed": ok,
            }
        )
        if not present:
            failed.append(f"{name}: reported {value!r}, but the re-run did not produce it")
        elif not ok:
            failed.append(f"{name}: reported {value!r}, the re-run gave {want[name]!r}")
    tolerance = f"tolerance: absolute {config.tolerance_abs:g}, relative {config.tolerance_rel:g}"
    if not got:
        return rows, False, "the request reports no metrics to reproduce"
    extra = [n for n in want if n not in got]
    note = f"; the re-run also gave {', '.join(extra)} (not reported)" if extra else ""
    if failed:
        return (
            rows,
            False,
            f"reported metrics the re-run does not reproduce ({tolerance}): "
            + "; ".join(failed)
            + note,
        )
    return rows, True, f"all {len(got)} reported metric(s) reproduced ({tolerance}){note}"
