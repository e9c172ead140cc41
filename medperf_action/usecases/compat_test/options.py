"""What a compatibility test is asked to do, and who it is done for."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medperf_action.adapters.files.download import Progress
from medperf_action.adapters.files.extract import DEFAULT_MAX_TOTAL_BYTES
from medperf_action.domain.registry.reader import Registry
from medperf_action.settings import DEFAULT_MEMORY
from medperf_action.text import Log, silent
from medperf_action.usecases.compat_test.heartbeat import HEARTBEAT_SECONDS


@dataclass(frozen=True)
class UntrustedLimits:
    max_asset_bytes: int
    max_extract_bytes: int


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
    memory: str = DEFAULT_MEMORY  # each task container's limit
    #: Set by the registry's re-run of untrusted cubes: downloads only over https (or to a
    #: host $MEDPERF_ACTION_INSECURE_HOSTS names), and at most this much each, and
    #: extraction at most this much per archive. None: as for a model owner's own test.
    untrusted: UntrustedLimits | None = None
    #: A data owner's run on private data: a failed task's message names its log file and
    #: never quotes it (a container's output may hold the data); nothing is echoed.
    private: bool = False

    def fetch_limits(self, declared: int | None = None) -> dict[str, Any]:
        """`fetch`'s keywords for a download: none for a trusted run; for the registry's
        re-run, https only and at most the declared size (else the registry's limit)."""
        if self.untrusted is None:
            return {}
        return {"secure": True, "max_bytes": declared or self.untrusted.max_asset_bytes}

    @property
    def max_extract_bytes(self) -> int:
        """The most an archive may extract to: the registry's limit for its re-run."""
        if self.untrusted is None:
            return DEFAULT_MAX_TOTAL_BYTES
        return self.untrusted.max_extract_bytes

    echo: Log | None = None  # the containers' own log lines
    log: Log = silent  # the tool's progress lines
    progress: Progress | None = None  # downloads
    #: A task that shows nothing this long gets a "still running" line (0: never).
    heartbeat_s: float = HEARTBEAT_SECONDS
