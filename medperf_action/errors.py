"""Every error medperf-action raises, on one screen, each with the exit code it ends in.

A workflow step can tell a broken model (3) from a missing Docker Engine (4) by the exit
code alone. The CLI's one handler (`cli/errors.py`) turns these into one line on stderr
and the exit code; anything else is a bug, shown with its traceback.

| code | meaning |
|---|---|
| 0 | success |
| 1 | invalid input, or a check that failed |
| 2 | usage: a bad option or argument |
| 3 | a cube failed: its image did not build, a task failed or misbehaved |
| 4 | infrastructure: Docker, GitHub, the network |
| 5 | refused by a registry rule |
| 70 | a bug in medperf-action (the traceback is printed) |
| 130 | interrupted (Ctrl-C, or SIGTERM when GitHub cancels a job) |

docs/reference.md lists the same table; a test keeps the two equal.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

EXIT_INVALID = 1
EXIT_USAGE = 2
EXIT_CUBE_FAILED = 3
EXIT_INFRASTRUCTURE = 4
EXIT_REFUSED = 5
EXIT_BUG = 70
EXIT_INTERRUPTED = 130


class MedperfError(Exception):
    """Base of every error the tool raises on purpose; `exit_code` is the process's."""

    exit_code: ClassVar[int] = EXIT_INVALID


# --------------------------------------------------------------------------- the five kinds


class InvalidInput(MedperfError):
    """A file, a manifest or a value that is not what it must be, or a check that failed."""

    exit_code = EXIT_INVALID


class UsageError(MedperfError):
    """A bad command line: a missing or conflicting option, a path that is not there."""

    exit_code = EXIT_USAGE


class CubeFailed(MedperfError):
    """A cube did not do its job: its image did not build, or a task misbehaved."""

    exit_code = EXIT_CUBE_FAILED


class InfrastructureError(MedperfError):
    """Something the tool stands on failed: the Docker Engine, GitHub, the network."""

    exit_code = EXIT_INFRASTRUCTURE


class Refused(MedperfError):
    """The registry's rules do not allow what was asked, now or ever."""

    exit_code = EXIT_REFUSED


# --------------------------------------------------------------------------- invalid input


class YamlError(InvalidInput):
    """A file that cannot be read as YAML, with the 1-based position of the problem."""

    def __init__(
        self,
        message: str,
        line: int | None = None,
        col: int | None = None,
        code: str = "yaml-syntax",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.col = col
        self.code = code


class CubeInvalid(InvalidInput):
    """An MLCube that fails validation; the message lists the findings."""


class RegistryInvalid(InvalidInput):
    """A registry file that is missing or invalid."""


class ArchiveUnsafe(InvalidInput):
    """A tar archive that is corrupt, not a tar archive, or would write outside its folder."""


class HashMismatch(InvalidInput):
    """Content whose SHA-256 is not the one that was asked for."""

    def __init__(self, source: str, expected: str, actual: str) -> None:
        self.source = source
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"SHA-256 mismatch for {source}: expected {expected}, got {actual}. "
            "The file is corrupt or was changed after its checksum was recorded; "
            "nothing was cached."
        )


class DownloadTooLarge(InvalidInput):
    """A download larger than its declared size or the limit set for it; cut off there."""


class InsecureSource(InvalidInput):
    """A source that an untrusted download may not use: not https, nor an allowed host."""


class PackageError(InvalidInput):
    """The assets folder could not be written; nothing was changed."""


class PublishError(InvalidInput):
    """The assets cannot be published as asked; nothing was changed."""


class SigningError(InvalidInput):
    """The assets could not be signed (a bad key, Sigstore refused); nothing was written."""


class SignatureInvalid(InvalidInput):
    """A model signature that is missing, does not match the files, or is by nobody
    accepted."""


class SealingError(InvalidInput):
    """A sealed result that cannot be sealed or opened: not an RSA key of at least 3072
    bits, another recipient's key, or a seal altered or moved from another result."""


class BenchmarkInvalid(InvalidInput):
    """The benchmark cannot be run as it is given (its demo data, its cubes' tasks)."""


class ReportInvalid(InvalidInput):
    """A verification report (the artifact) that cannot be trusted or read."""


# --------------------------------------------------------------------------- a cube failed


class ImageBuildFailed(CubeFailed):
    """A cube's image did not build from its build context."""


class TaskFailed(CubeFailed):
    """A task container exited non-zero or ran past its time limit."""

    def __init__(
        self,
        cube: str,
        task: str,
        exit_code: int | None,
        timed_out: bool,
        log_tail: list[str],
        *,
        timeout_s: float | None = None,
        oom_killed: bool = False,
        log_path: Path | None = None,
        memory: str | None = None,
        limits_enforced: bool = True,
    ) -> None:
        self.cube = cube
        self.task = task
        self.task_exit_code = exit_code
        self.timed_out = timed_out
        self.log_tail = list(log_tail)
        self.timeout_s = timeout_s
        self.oom_killed = oom_killed
        self.log_path = log_path
        self.memory = memory  # the container's memory limit, to name it on exit 137
        self.limits_enforced = limits_enforced  # False: the engine ignores the limit
        self.withheld = False  # on a site: the log is named, never quoted
        super().__init__(self.describe())

    def describe(self) -> str:
        limit = f" of {self.memory}" if self.memory else ""
        if self.timed_out:
            time_limit = f" of {self.timeout_s:g} s" if self.timeout_s is not None else ""
            what = f"ran past its time limit{time_limit} and was stopped"
        elif self.oom_killed:
            what = (
                f"ran out of memory (exit code {self.task_exit_code}): Docker reports it "
                f"killed at its memory limit{limit} (OOMKilled); --memory raises the limit"
            )
        elif self.task_exit_code == 137 and not self.limits_enforced:
            what = (
                "was killed (exit code 137, SIGKILL); the container engine enforces no "
                "memory limit here (a rootless engine without the cgroup controllers), so "
                "not at the sandbox's limit: the host's out-of-memory killer or something "
                "outside the run killed its container"
            )
        elif self.task_exit_code == 137:
            what = (
                "was killed (exit code 137, SIGKILL), and Docker does not report it out of "
                f"memory (OOMKilled is false; its limit{limit} was not hit): something "
                "outside the run killed its container (docker kill or stop, the host's "
                "out-of-memory killer, a runner shutting down)"
            )
        elif self.task_exit_code == 143:
            what = "was terminated (exit code 143, SIGTERM) by something outside the run"
        else:
            what = f"failed with exit code {self.task_exit_code}"
        lines = [f"cube '{self.cube}', task '{self.task}' {what}"]
        if self.withheld:
            # On a data owner's site a container's output may quote the private data: it
            # stays in its log file, on the site's disk, and is never in a message.
            where = f": {self.log_path}" if self.log_path is not None else ""
            lines.append(f"its log stays on this machine, not shown (it may hold the data){where}")
            return "\n".join(lines)
        if self.log_tail:
            lines.append("last lines of its log:")
            lines.extend(f"  | {line}" for line in self.log_tail)
        else:
            lines.append("(it wrote nothing to its log)")
        if self.log_path is not None:
            lines.append(f"full log: {self.log_path}")
        return "\n".join(lines)

    def withhold_log(self, path: Path | None) -> None:
        """On a site: forget the log's tail, and name the file that holds the log."""
        self.withheld = True
        self.log_tail = []
        self.log_path = path or self.log_path
        self.args = (self.describe(),)

    def kept_log(self, path: Path | None, memory: str | None = None) -> None:
        """Point the message at the copy of the log that stays after the run (and name
        the container's memory limit)."""
        self.log_path = path
        self.memory = memory or self.memory
        self.args = (self.describe(),)


class TaskMisbehaved(CubeFailed):
    """A task exited 0 but did not write what it must (an output, valid metrics)."""


class PredictionsRejected(CubeFailed):
    """The metrics cube failed on the candidate's predictions, though it scored the
    reference model's: the candidate's output is what it could not read."""


# --------------------------------------------------------------------------- infrastructure


class DockerError(InfrastructureError):
    """The Docker Engine could not do what was asked (unreachable, image missing, ...)."""


class GitHubError(InfrastructureError):
    """GitHub refused or failed a request; the message says which and why."""

    def __init__(
        self, message: str, status: int | None = None, codes: tuple[str, ...] = ()
    ) -> None:
        super().__init__(message)
        self.status = status
        self.codes = codes


class DownloadError(InfrastructureError):
    """A download failed (connection, HTTP error, a file that cannot be read)."""


class SnapshotMismatch(DownloadError):
    """A repository's archive whose files are not the tree of the commit it was asked for."""


class DiskError(InfrastructureError):
    """A file or folder the tool needs could not be read or written."""


# --------------------------------------------------------------------------- refused


class RequestRefused(Refused):
    """The registry's rules do not allow this request now."""


class DecisionRefused(Refused):
    """A registry step that the rules forbid carrying out (stale head, wrong status)."""


def all_errors() -> list[type[MedperfError]]:
    """Every error class defined here, each kind followed by its errors, by exit code."""
    found: list[type[MedperfError]] = []

    def visit(cls: type[MedperfError]) -> None:
        found.append(cls)
        for sub in sorted(cls.__subclasses__(), key=lambda c: (c.exit_code, c.__name__)):
            visit(sub)

    visit(MedperfError)
    return found
