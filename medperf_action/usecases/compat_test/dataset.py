"""The benchmark's demo dataset: fetched, SHA-256-checked, safely extracted, and the two
folders its `paths.yaml` names (MedPerf's demo format)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medperf_action.adapters.files.download import Fetched, fetch
from medperf_action.adapters.files.extract import fetch_and_extract
from medperf_action.domain.registry.reader import Registry
from medperf_action.domain.validation import inside
from medperf_action.domain.yamldoc import load_file
from medperf_action.errors import BenchmarkInvalid, UsageError, YamlError
from medperf_action.usecases.compat_test.options import Options


def dataset_source(
    opts: Options, benchmark: dict[str, Any] | None, registry: Registry | None
) -> tuple[str, str | None]:
    """(URL or path, SHA-256) of the demo dataset: the command line's, else the benchmark's."""
    if opts.demo_dataset:
        return opts.demo_dataset, opts.demo_dataset_sha256
    if benchmark is None or registry is None:
        raise UsageError("no benchmark given, so --demo-dataset is needed")
    demo = benchmark["demo_dataset"]
    source = demo.get("url") or str(registry.resolve(demo["path"]))
    return source, demo.get("sha256")


def fetch_dataset(
    source: str, sha256: str | None, cache: Path, opts: Options
) -> tuple[Fetched, Path, Path]:
    """The archive (hash-checked) and its `data_path` and `labels_path`, extracted."""
    fetched = fetch(
        source,
        sha256,
        cache=cache,
        name="demo dataset",
        progress=opts.progress,
        log=opts.log,
        **opts.fetch_limits(),
    )
    if sha256 is None:
        opts.log(f"note: the demo dataset has no sha256 given; it is {fetched.sha256}")
    root = fetch_and_extract(
        str(fetched.path), fetched.sha256, cache=cache, max_total_bytes=opts.max_extract_bytes
    )
    data_path, labels_path = read_paths(root)
    return fetched, data_path, labels_path


def read_paths(root: Path) -> tuple[Path, Path]:
    """`paths.yaml` in an extracted demo dataset: `data_path` and `labels_path`."""
    candidates = [root / "paths.yaml", *sorted(root.glob("*/paths.yaml"))]
    path_file = next((p for p in candidates if p.is_file()), None)
    if path_file is None:
        raise BenchmarkInvalid("the demo dataset has no paths.yaml (MedPerf's demo format)")
    try:
        data = load_file(path_file).data
    except YamlError as exc:
        raise BenchmarkInvalid(f"the demo dataset's paths.yaml: {exc.message}") from None
    base = path_file.parent
    out = []
    for name in ("data_path", "labels_path"):
        value = data.get(name) if isinstance(data, dict) else None
        if not isinstance(value, str):
            raise BenchmarkInvalid(f"the demo dataset's paths.yaml names no {name}")
        ok, why = inside(base, value)
        if not ok or not (base / value).exists():
            raise BenchmarkInvalid(
                f"the demo dataset's {name} {value!r} is {why if not ok else 'not in the archive'}"
            )
        out.append(base / value)
    return out[0], out[1]
