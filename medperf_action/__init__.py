"""medperf-action: GitOps for federated medical-AI benchmarks (MedPerf MLCubes)."""

from __future__ import annotations

__version__ = "0.1.0"
