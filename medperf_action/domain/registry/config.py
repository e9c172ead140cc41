"""registry.yaml: the committee, the label names, the approval policy, the tolerance, and
the limits of the registry's re-run, the signatures it requires, whether results are
sealed to the committee's key."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from medperf_action.settings import (
    DEFAULT_MAX_ASSET_BYTES,
    DEFAULT_MAX_EXTRACT_BYTES,
    DEFAULT_MEMORY,
)

DEFAULT_LABELS = {
    "pending": "medperf/pending",
    "approved": "medperf/approved",
    "rejected": "medperf/rejected",
    "verified": "medperf/verified",
    "verification_failed": "medperf/verification-failed",
}


@dataclass
class RegistryConfig:
    name: str = "registry"
    users: list[str] = field(default_factory=list)
    teams: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_LABELS))
    policy: str = "never"
    allowlist: list[str] = field(default_factory=list)
    tolerance_abs: float = 1e-6
    tolerance_rel: float = 0.0
    memory: str = DEFAULT_MEMORY
    max_asset_bytes: int = DEFAULT_MAX_ASSET_BYTES
    max_extract_bytes: int = DEFAULT_MAX_EXTRACT_BYTES
    #: `signatures`: whether every submitted mlcube must be signed, and by whom (each a
    #: `{public_key}` or a Sigstore `{identity, issuer}`, as the schema says).
    signatures_required: bool = False
    signature_identities: list[dict[str, Any]] = field(default_factory=list)
    #: `results.sealed_to`: the committee's public key (PEM) results are sealed to, if any.
    results_sealed_to: str | None = None

    @classmethod
    def from_data(cls, data: dict[str, Any] | None) -> RegistryConfig:
        data = data or {}
        committee = data.get("committee") or {}
        policy = data.get("approval_policy") or {}
        tolerance = data.get("metric_tolerance") or {}
        limits = data.get("limits") or {}
        signatures = data.get("signatures") or {}
        return cls(
            name=data.get("name", "registry"),
            users=list(committee.get("users") or []),
            teams=list(committee.get("teams") or []),
            labels={**DEFAULT_LABELS, **(data.get("labels") or {})},
            policy=policy.get("mode", "never"),
            allowlist=list(policy.get("allowlist") or []),
            tolerance_abs=float(tolerance.get("absolute", 1e-6)),
            tolerance_rel=float(tolerance.get("relative", 0.0)),
            memory=str(limits.get("memory", DEFAULT_MEMORY)),
            max_asset_bytes=int(limits.get("max_asset_bytes", DEFAULT_MAX_ASSET_BYTES)),
            max_extract_bytes=int(limits.get("max_extract_bytes", DEFAULT_MAX_EXTRACT_BYTES)),
            signatures_required=bool(signatures.get("required", False)),
            signature_identities=[dict(i) for i in signatures.get("identities") or []],
            results_sealed_to=(data.get("results") or {}).get("sealed_to"),
        )

    def within_tolerance(self, reported: float, verified: float) -> bool:
        """registry.schema.json's rule: |a - b| <= absolute + relative * |b|, where a is the
        reported value and b the registry's re-run."""
        return abs(reported - verified) <= self.tolerance_abs + self.tolerance_rel * abs(verified)
