"""The registry: MedPerf's server, as a repository.

```
registry.yaml                          # committee, label names, approval policy
benchmarks/<id>.yaml                   # preparator / reference model / evaluator, demo data
mlcubes/<id>.yaml                      # owner, source, role, assets + sha256, image
associations/<benchmark>/<mlcube>.yaml # status, initiated_by, result, execution summary
```

It is read from a local checkout (`--registry PATH`) or through the GitHub API
(`--registry OWNER/REPO[@REF]`). Every file read is validated against its schema first, so
the rest of the tool works on well-formed data. This module also holds the conventions the
GitOps commands share: branch names, file places, labels, markers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Protocol

from medperf_action.errors import MedperfError, UsageError

if TYPE_CHECKING:
    from github import Github
    from github.Repository import Repository

DEFAULT_LABELS = {
    "pending": "medperf/pending",
    "approved": "medperf/approved",
    "rejected": "medperf/rejected",
    "verified": "medperf/verified",
    "verification_failed": "medperf/verification-failed",
}
STATUSES = ("PENDING", "APPROVED", "REJECTED")
#: An id (benchmark, mlcube): a slug, which is also its file's name.
SLUG_PATTERN = r"[a-z0-9][a-z0-9-]{0,63}"
SLUG = re.compile(rf"^{SLUG_PATTERN}$")
#: The hidden marker of the one comment `registry report` keeps up to date on a PR.
VERIFY_MARKER = "<!-- medperf-action:verification -->"
_REMOTE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9-]*)/([A-Za-z0-9._-]+)(?:@(.+))?$")
_SUBMISSION_MARKER = re.compile(
    rf"<!--\s*medperf-action:submission\s+mlcube=({SLUG_PATTERN})\s*-->"
)
_ASSOCIATION_MARKER = re.compile(
    rf"<!--\s*medperf-action:association\s+benchmark=({SLUG_PATTERN})\s+"
    rf"mlcube=({SLUG_PATTERN})\s*-->"
)
_SUBMIT_BRANCH = re.compile(rf"medperf/submit/({SLUG_PATTERN})")
_ASSOCIATE_BRANCH = re.compile(
    rf"medperf/associate/({SLUG_PATTERN})/({SLUG_PATTERN})(?:/([0-9]+))?"
)


class RegistryError(MedperfError):
    """A registry file that is missing or invalid, or a request the registry's rules refuse."""


# ---------------------------------------------------------------------------------------
# Places and names


def mlcube_path(mlcube_id: str) -> str:
    return f"mlcubes/{mlcube_id}.yaml"


def benchmark_path(benchmark_id: str) -> str:
    return f"benchmarks/{benchmark_id}.yaml"


def association_path(benchmark_id: str, mlcube_id: str) -> str:
    return f"associations/{benchmark_id}/{mlcube_id}.yaml"


def submit_branch(mlcube_id: str) -> str:
    """The deterministic branch of a submission: re-running updates the same PR."""
    return f"medperf/submit/{mlcube_id}"


def associate_branch(benchmark_id: str, mlcube_id: str, attempt: int = 1) -> str:
    """The branch of an association request; a new request after a rejection is attempt 2…"""
    base = f"medperf/associate/{benchmark_id}/{mlcube_id}"
    return base if attempt == 1 else f"{base}/{attempt}"


def submission_marker(mlcube_id: str) -> str:
    """The hidden marker in the body of a submission's PR."""
    return f"<!-- medperf-action:submission mlcube={mlcube_id} -->"


def association_marker(benchmark_id: str, mlcube_id: str) -> str:
    """The hidden marker in the body of an association request's PR."""
    return f"<!-- medperf-action:association benchmark={benchmark_id} mlcube={mlcube_id} -->"


def identify(body: str | None, head_ref: str) -> tuple[str, tuple[str, ...]] | None:
    """What a PR asks for, from its body's marker, else its head branch; None: not a request.

    ("association", (benchmark, mlcube)) or ("submission", (mlcube,)). This says only what
    the PR claims to be: whether an association request counts for its pair (its author
    owns the mlcube) is `registry_github.counts_for_pair`'s question.
    """
    text = body or ""
    if found := _ASSOCIATION_MARKER.search(text):
        return "association", (found.group(1), found.group(2))
    if found := _SUBMISSION_MARKER.search(text):
        return "submission", (found.group(1),)
    if found := _ASSOCIATE_BRANCH.fullmatch(head_ref):
        return "association", (found.group(1), found.group(2))
    if found := _SUBMIT_BRANCH.fullmatch(head_ref):
        return "submission", (found.group(1),)
    return None


def branch_attempt(head_ref: str, benchmark_id: str, mlcube_id: str) -> int | None:
    """The attempt number of `associate_branch(benchmark_id, mlcube_id, n)`, if it is one."""
    found = _ASSOCIATE_BRANCH.fullmatch(head_ref)
    if found is None or (found.group(1), found.group(2)) != (benchmark_id, mlcube_id):
        return None
    return int(found.group(3)) if found.group(3) else 1


def dump_yaml(data: dict[str, Any]) -> str:
    """A registry file's YAML, as every command that writes one writes it."""
    import yaml

    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


@dataclass(frozen=True)
class Change:
    """What a PR's changed file means for the registry."""

    kind: str  # "mlcube" | "association" | "benchmark" | "registry" | "other"
    path: str
    ids: tuple[str, ...] = ()


def classify(path: str) -> Change:
    parts = PurePosixPath(path).parts
    if len(parts) == 2 and parts[0] == "mlcubes" and parts[1].endswith(".yaml"):
        return Change("mlcube", path, (parts[1][:-5],))
    if len(parts) == 3 and parts[0] == "associations" and parts[2].endswith(".yaml"):
        return Change("association", path, (parts[1], parts[2][:-5]))
    if len(parts) == 2 and parts[0] == "benchmarks" and parts[1].endswith(".yaml"):
        return Change("benchmark", path, (parts[1][:-5],))
    if path == "registry.yaml":
        return Change("registry", path)
    return Change("other", path)


# ---------------------------------------------------------------------------------------
# registry.yaml


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

    @classmethod
    def from_data(cls, data: dict[str, Any] | None) -> RegistryConfig:
        data = data or {}
        committee = data.get("committee") or {}
        policy = data.get("approval_policy") or {}
        tolerance = data.get("metric_tolerance") or {}
        return cls(
            name=data.get("name", "registry"),
            users=list(committee.get("users") or []),
            teams=list(committee.get("teams") or []),
            labels={**DEFAULT_LABELS, **(data.get("labels") or {})},
            policy=policy.get("mode", "never"),
            allowlist=list(policy.get("allowlist") or []),
            tolerance_abs=float(tolerance.get("absolute", 1e-6)),
            tolerance_rel=float(tolerance.get("relative", 0.0)),
        )

    def within_tolerance(self, reported: float, verified: float) -> bool:
        """registry.schema.json's rule: |a - b| <= absolute + relative * |b|, where a is the
        reported value and b the registry's re-run."""
        return abs(reported - verified) <= self.tolerance_abs + self.tolerance_rel * abs(verified)


# ---------------------------------------------------------------------------------------
# Where the files come from


class Source(Protocol):
    """Read access to a registry's files (a checkout, or a repository at a ref)."""

    description: str

    def read(self, path: str) -> str | None: ...

    def list_dir(self, path: str) -> list[str]: ...


@dataclass
class LocalSource:
    root: Path

    @property
    def description(self) -> str:
        return str(self.root)

    def read(self, path: str) -> str | None:
        from medperf_action.yamlload import YamlError, read_text

        file = self.root / path
        if not file.is_file():
            return None
        try:
            return read_text(file)
        except YamlError as exc:
            raise RegistryError(f"{file}: {exc.message}") from None

    def list_dir(self, path: str) -> list[str]:
        folder = self.root / path
        return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


@dataclass
class GitHubSource:
    """A registry repository read through the contents API, at one ref.

    Each path is read once per command (a command reads registry.yaml and the entries
    from several places); nothing here writes through it.
    """

    repo: Repository
    ref: str
    _files: dict[str, str | None] = field(default_factory=dict, repr=False)
    _dirs: dict[str, list[str]] = field(default_factory=dict, repr=False)

    @property
    def description(self) -> str:
        return f"{self.repo.full_name}@{self.ref}"

    def read(self, path: str) -> str | None:
        if path not in self._files:
            self._files[path] = self._read(path)
        return self._files[path]

    def list_dir(self, path: str) -> list[str]:
        if path not in self._dirs:
            self._dirs[path] = self._list_dir(path)
        return self._dirs[path]

    def _read(self, path: str) -> str | None:
        from github import GithubException

        from medperf_action.github_api import describe

        try:
            item = self.repo.get_contents(path, ref=self.ref)
        except GithubException as exc:
            if exc.status == 404:
                return None
            raise RegistryError(f"{self.description}: read {path}: {describe(exc)}") from None
        if isinstance(item, list):
            return None
        try:
            return item.decoded_content.decode("utf-8")
        except UnicodeDecodeError:
            raise RegistryError(f"{self.description}: {path} is not UTF-8 text") from None

    def _list_dir(self, path: str) -> list[str]:
        from github import GithubException

        from medperf_action.github_api import describe

        try:
            items = self.repo.get_contents(path, ref=self.ref)
        except GithubException as exc:
            if exc.status == 404:
                return []
            raise RegistryError(f"{self.description}: list {path}: {describe(exc)}") from None
        return sorted(i.name for i in items) if isinstance(items, list) else []


# ---------------------------------------------------------------------------------------
# The registry


@dataclass
class Registry:
    source: Source
    root: Path | None = None  # a local checkout's folder, for `path:` entries

    @property
    def description(self) -> str:
        return self.source.description

    def _read(self, rel: str, kind: str, text: str | None = None) -> dict[str, Any]:
        from medperf_action.validate import validate_file
        from medperf_action.yamlload import load_text

        if text is None:
            text = self.source.read(rel)
        if text is None:
            raise RegistryError(f"{rel}: not found in the registry {self.description}")
        shown = f"{self.description}/{rel}" if self.root is None else str(self.root / rel)
        report = validate_file(Path(rel), kind, text=text, shown_as=shown)
        if report.errors:
            raise RegistryError(
                f"{shown} is invalid:\n" + "\n".join(f.text() for f in report.errors)
            )
        data = load_text(text).data
        assert isinstance(data, dict)
        return data

    def config(self) -> RegistryConfig:
        text = self.source.read("registry.yaml")
        if text is None:
            return RegistryConfig()
        return RegistryConfig.from_data(self._read("registry.yaml", "registry", text))

    def benchmark(self, benchmark_id: str) -> dict[str, Any]:
        return self._read(benchmark_path(benchmark_id), "benchmark")

    def mlcube(self, mlcube_id: str) -> dict[str, Any]:
        return self._read(mlcube_path(mlcube_id), "mlcube-entry")

    def association(self, benchmark_id: str, mlcube_id: str) -> dict[str, Any] | None:
        rel = association_path(benchmark_id, mlcube_id)
        text = self.source.read(rel)
        return None if text is None else self._read(rel, "association", text)

    def find_mlcube(self, mlcube_id: str) -> dict[str, Any] | None:
        """`mlcubes/<id>.yaml` (validated), or None when the mlcube is not registered."""
        rel = mlcube_path(mlcube_id)
        text = self.source.read(rel)
        return None if text is None else self._read(rel, "mlcube-entry", text)

    def has_mlcube(self, mlcube_id: str) -> bool:
        return self.source.read(mlcube_path(mlcube_id)) is not None

    def _ids(self, folder: str) -> list[str]:
        return [n[:-5] for n in self.source.list_dir(folder) if n.endswith(".yaml")]

    def benchmark_ids(self) -> list[str]:
        return self._ids("benchmarks")

    def mlcube_ids(self) -> list[str]:
        return self._ids("mlcubes")

    def association_ids(self) -> list[tuple[str, str]]:
        return [
            (b, m)
            for b in self.source.list_dir("associations")
            for m in self._ids(f"associations/{b}")
        ]

    def resolve(self, rel: str) -> Path:
        """A path written in a registry file, relative to a local registry's root."""
        if self.root is None:
            raise RegistryError(
                f"{self.description}: a `path:` entry only works in a local registry checkout; "
                "a published registry names URLs with SHA-256"
            )
        return (self.root / rel).resolve()


def open_registry(
    location: str | Path, token: str | None = None, *, client: Github | None = None
) -> Registry:
    """`--registry PATH` (a local checkout) or `--registry OWNER/REPO[@REF]` (GitHub).

    An existing local folder wins, so `examples/registry` is a path, not a repository.
    A GitHub registry is read with `client` when given (e.g. an anonymous one), else
    with a client for `token`.
    """
    path = Path(location)
    if path.is_dir():
        if not (path / "benchmarks").is_dir() and not (path / "registry.yaml").is_file():
            raise UsageError(f"--registry {location}: not a registry (no benchmarks/)")
        return Registry(LocalSource(path), root=path)
    match = _REMOTE.match(str(location))
    if match is None:
        raise UsageError(f"--registry {location}: no such folder, and not OWNER/REPO[@REF]")
    from medperf_action.github_api import call, connect

    gh = client or connect(token)
    repo = gh.get_repo(f"{match.group(1)}/{match.group(2)}")
    ref = match.group(3) or call(
        f"read {match.group(1)}/{match.group(2)}", lambda: repo.default_branch
    )
    return Registry(GitHubSource(repo, ref))
