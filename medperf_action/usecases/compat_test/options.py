"""What a compatibility test is asked to do, and who it is done for."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from medperf_action.adapters.files.download import Progress
from medperf_action.domain.registry.reader import Registry
from medperf_action.text import Log, silent


@dataclass(frozen=True)
class Options:
    model: Path | None = None
    model_id: str | None = None
    registry: str | Path | Registry | None = None  # PATH, OWNER/REPO[@REF], or opened
    registry_token: str | None = None
    benchmark: str | None = None
    data_preparator: Path | None = None
    evaluator: Path | None = None
    reference_model: Path | None = None
    demo_dataset: str | None = None
    demo_dataset_sha256: str | None = None
    no_build: bool = False
    no_cache: bool = False
    timeout_s: float = 3600
    gpus: bool = False
    cache: Path | None = None
    output: Path | None = None
    jobs: int = 4
    echo: Log | None = None  # the containers' own log lines
    log: Log = silent  # the tool's progress lines
    progress: Progress | None = None  # downloads
