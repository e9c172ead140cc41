"""One step of the workflow: one task of one cube, from the cache or run in the sandbox.

Every step is cached under a key made of the hashes of everything it reads, its image ID
and how the task is called (`step_key`), so an unchanged re-run costs almost nothing and a
rebuilt image is never mistaken for the old one. A step runs into a temporary folder that
takes its cached place only once the task succeeded and wrote its outputs.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medperf_action import shipping
from medperf_action.adapters.docker.replay import replay_argv, replay_kwargs
from medperf_action.adapters.docker.sandbox import Mount, RunResult, SandboxSpec, run_task
from medperf_action.adapters.docker.sandbox import remove_containers as remove_labelled
from medperf_action.adapters.files.hashing import sha256_tree
from medperf_action.domain.cube import Cube, Param
from medperf_action.domain.invocation import (
    Invocation,
    build_invocation,
    input_mounts,
    output_is_file,
    output_location,
    task_gpus,
)
from medperf_action.errors import BenchmarkInvalid, CubeFailed, TaskFailed, TaskMisbehaved
from medperf_action.text import now_iso
from medperf_action.usecases.compat_test.heartbeat import Heartbeat
from medperf_action.usecases.compat_test.options import Options
from medperf_action.usecases.compat_test.participants import SUBJECT_NAMES, Participant

#: Bump when the meaning of a cached step changes.
CACHE_VERSION = 1
RUN_LABEL = "org.medperf-action.run"


@dataclass(frozen=True)
class StepResult:
    outputs: dict[str, Path]
    record: dict[str, Any]
    log: Path


def step_key(
    image_id: str | None,
    cube: Cube,
    task_name: str,
    input_hashes: dict[str, str],
    gpus: bool,
) -> str:
    """The cache key of one step: everything that can change what it writes.

    The image ID (so a rebuilt image is never mistaken for the old one), the content hash
    of every input (data, parameters file, additional files), and how the task is called.
    """
    task = cube.tasks[task_name]
    doc = {
        "v": CACHE_VERSION,
        "image_id": image_id,
        "format": cube.format,
        "task": task_name,
        "entrypoint": task.entrypoint,
        "command": task.command,
        "run_args": task.run_args,
        "inputs": dict(sorted(input_hashes.items())),
        "outputs": {n: [p.type, p.path] for n, p in sorted(task.outputs.items())},
        "gpus": (task_gpus(cube, task_name) if gpus else None) or False,
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def _unsafe_output(where: Path) -> str | None:
    """What in a task's output the host must not read, said; None when all is safe."""
    try:
        mode = os.lstat(where).st_mode
    except FileNotFoundError:
        return None  # missing: the caller's check says so
    if stat.S_ISLNK(mode):
        return f"{where.name} as a symlink (to {os.readlink(where)})"
    problem = shipping.kind_problem(mode)
    if problem is not None:
        return f"{where.name}: {problem}"
    if stat.S_ISDIR(mode):
        for path, why in shipping.problems(where):
            return f"{os.path.relpath(path, where.parent)}: {why}"
    return None


def _made_kind(cube: Cube, param: Param) -> str:
    if not output_is_file(param):
        return "folder"
    return "file" if cube.format == "container-config" else "parent"


def main_output(cube: Cube, task_name: str, *, file: bool) -> str:
    """The output that matters: `output_path`, else the only file (or folder) output."""
    outputs = cube.tasks[task_name].outputs
    if "output_path" in outputs:
        return "output_path"
    names = [n for n, p in outputs.items() if output_is_file(p) == file]
    if len(names) == 1:
        return names[0]
    raise BenchmarkInvalid(f"{cube.name}: cannot tell which output of {task_name!r} to use")


@dataclass(frozen=True)
class _Planned:
    """A step before it runs: its inputs, their hashes, its key and names."""

    who: Participant
    task: str
    inputs: dict[str, Path]
    hashes: dict[str, str]
    key: str
    log_name: str
    subject: str | None

    @property
    def title(self) -> str:
        """How progress lines name the step: `model infer (candidate)`, `evaluator
        evaluate (reference)`."""
        whose = SUBJECT_NAMES.get(self.subject or "")
        return f"{self.who.label} {self.task}" + (f" ({whose})" if whose else "")

    def record(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "role": self.who.key,
            "cube": self.who.label,
            "task": self.task,
            "exit_code": None,
            "duration_s": 0.0,
            "cached": False,
            "cache_key": self.key,
            "inputs": self.hashes,
        }
        if self.subject:
            record["subject"] = self.subject
        return record


class StepRunner:
    """Runs (or takes from the cache) one task of one cube at a time, thread-safely."""

    def __init__(self, opts: Options, cache: Path, run_id: str) -> None:
        self.opts = opts
        self.cache = cache
        self.run_id = run_id
        self.records: list[dict[str, Any]] = []
        self.logs: dict[str, Path] = {}
        #: Each step's container as it ran (`replay_kwargs`, `replay_argv`), by log name.
        self.commands: dict[str, dict[str, Any]] = {}
        self._hashes: dict[Path, str] = {}  # what this run hashed already, by path
        self.lock = threading.Lock()
        self.scratch = cache / "runs" / run_id
        self.cancelled = threading.Event()
        self.active = 0  # containers being run right now

    def cancel(self, wait_s: float = 30.0) -> None:
        """Start no more containers, and remove the running ones until none is left
        (a worker may be starting one right now: it is removed on the next pass)."""
        self.cancelled.set()
        deadline = time.monotonic() + wait_s
        while True:
            remove_labelled(RUN_LABEL, self.run_id, self.opts.log)
            with self.lock:
                busy = self.active
            if not busy or time.monotonic() > deadline:
                return
            time.sleep(0.2)

    def run(
        self, who: Participant, task_name: str, given: dict[str, Path], subject: str | None = None
    ) -> StepResult:
        """The step's outputs: from the cache when its key is there, else from a run."""
        step = self._plan(who, task_name, given, subject)
        final = self.cache / "steps" / step.key
        if not self.opts.no_cache and (final / "step.json").is_file():
            return self._cached(step, final)
        return self._execute(step, final)

    def _plan(
        self, who: Participant, task_name: str, given: dict[str, Path], subject: str | None
    ) -> _Planned:
        cube = who.cube
        inputs = self._complete_inputs(cube, task_name, given)
        hashes = {name: self.tree_hash(path) for name, path in sorted(inputs.items())}
        # A file input mounts its folder, so the key covers all that the container can read.
        mounted = {
            f"{name} (mounted)": hashes[name] if folder == inputs[name] else self.tree_hash(folder)
            for name, folder in input_mounts(cube, task_name, inputs).items()
        }
        key = step_key(who.image_id, cube, task_name, {**hashes, **mounted}, self.opts.gpus)
        log_name = f"{who.key}-{task_name}" + (f"-{subject}" if who.key == "evaluator" else "")
        return _Planned(who, task_name, inputs, hashes, key, log_name, subject)

    def tree_hash(self, path: Path) -> str:
        """`sha256_tree(path)`, once per run: a step's inputs are the outputs of steps
        before it (never written again) or the cubes' own files."""
        found = self._hashes.get(path)
        if found is None:
            found = self._hashes[path] = sha256_tree(path)
        return found

    def _cached(self, step: _Planned, final: Path) -> StepResult:
        start = time.perf_counter()
        stored = json.loads((final / "step.json").read_text())
        record = {**step.record(), "exit_code": stored["exit_code"], "cached": True}
        record["duration_s"] = round(time.perf_counter() - start, 3)
        self.opts.log(f"[{step.title}] cached ({step.key[:12]})")
        if isinstance(stored.get("command"), dict):
            with self.lock:
                self.commands[step.log_name] = {**stored["command"], "cached": True}
        return self._done(step, record, final)

    def _execute(self, step: _Planned, final: Path) -> StepResult:
        cube, record = step.who.cube, step.record()
        base = self.scratch if self.opts.no_cache else self.cache / "steps"
        work = base / f".tmp-{step.key}-{uuid.uuid4().hex[:8]}"
        outputs = self._prepare_outputs(cube, step.task, work / "outputs")
        invocation = build_invocation(cube, step.task, step.inputs, outputs)
        start = time.perf_counter()
        try:
            result = self._container(step, invocation, work, outputs)
            record["exit_code"] = self.commands[step.log_name]["exit_code"] = result.exit_code
            record["duration_s"] = round(time.perf_counter() - start, 3)
            self._check_outputs(step.who, step.task, outputs)
            stored = {**record, "finished_at": now_iso(), "command": self.commands[step.log_name]}
            (work / "step.json").write_text(json.dumps(stored))
        except BaseException as exc:
            record["duration_s"] = round(time.perf_counter() - start, 3)
            self._failed(step, record, work, exc)
            raise
        if self.opts.no_cache:
            final = work
        else:
            try:
                os.replace(work, final)
            except OSError:  # a concurrent run stored the same step first
                shutil.rmtree(work, ignore_errors=True)
        return self._done(step, record, final)

    def _failed(
        self, step: _Planned, record: dict[str, Any], work: Path, exc: BaseException
    ) -> None:
        """Record the failed step and keep its log where the user can read it."""
        if isinstance(exc, TaskFailed):
            record["exit_code"] = exc.task_exit_code
        kept = self._keep_failed_log(step.log_name, work / "log.txt")
        if isinstance(exc, TaskFailed):  # the message points at the log that stays
            exc.task = step.title.removeprefix(f"{step.who.label} ")  # "evaluate (candidate)"
            exc.kept_log(kept or exc.log_path, self.opts.memory)
            if self.opts.private:
                exc.withhold_log(kept)
        with self.lock:
            if step.log_name in self.commands:
                self.commands[step.log_name]["exit_code"] = record["exit_code"]
            self.records.append(record)
            if kept is not None:
                self.logs[step.log_name] = kept
        shutil.rmtree(work, ignore_errors=True)

    def _done(self, step: _Planned, record: dict[str, Any], folder: Path) -> StepResult:
        with self.lock:
            self.records.append(record)
            self.logs[step.log_name] = folder / "log.txt"
        params = step.who.cube.tasks[step.task].outputs
        outputs = {n: output_location(p, folder / "outputs") for n, p in params.items()}
        return StepResult(outputs, record, folder / "log.txt")

    def _complete_inputs(
        self, cube: Cube, task_name: str, given: dict[str, Path]
    ) -> dict[str, Path]:
        out: dict[str, Path] = {}
        for name, param in cube.tasks[task_name].inputs.items():
            out[name] = _input_path(cube, task_name, name, param, given)
            if out[name] == cube.additional_files and not out[name].exists():
                out[name] = self._empty_folder()  # MedPerf creates it empty (Git drops it)
            if not out[name].exists():
                raise BenchmarkInvalid(
                    f"{cube.name}: input {name!r} of {task_name!r} does not exist: {out[name]}"
                )
        return out

    def _empty_folder(self) -> Path:
        folder = self.cache / "empty"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _prepare_outputs(self, cube: Cube, task_name: str, base: Path) -> dict[str, Path]:
        outputs = {}
        for name, param in cube.tasks[task_name].outputs.items():
            where = output_location(param, base)
            if output_is_file(param):
                where.parent.mkdir(parents=True, exist_ok=True)
                if cube.format == "container-config":
                    where.touch()  # a file bind mount needs the file to exist
            else:
                where.mkdir(parents=True, exist_ok=True)
            outputs[name] = where
        return outputs

    def _container(
        self, step: _Planned, invocation: Invocation, work: Path, outputs: dict[str, Path]
    ) -> RunResult:
        who, task_name = step.who, step.task
        assert who.image_id is not None
        with self.lock:
            if self.cancelled.is_set():
                raise CubeFailed(f"{who.label} {task_name}: not started, the run was cancelled")
            self.active += 1
        spec = SandboxSpec(
            image_id=who.image_id,
            args=invocation.args,
            mounts=[Mount(m.host, m.container, m.read_only) for m in invocation.mounts],
            cube=who.label,
            task=task_name,
            entrypoint=invocation.entrypoint,
            env=invocation.env,
            labels={RUN_LABEL: self.run_id},
            gpus=invocation.gpus if self.opts.gpus else None,
            shm_size=invocation.shm_size,
            memory=self.opts.memory,
        )
        self._remember_command(step, spec, work, outputs)
        self.opts.log(f"[{step.title}] running")
        echo = None if self.opts.private else self.opts.echo
        beat = Heartbeat(step.title, self.opts.log, self.opts.heartbeat_s, echo)
        try:
            with beat:
                return run_task(
                    spec,
                    timeout_s=self.opts.timeout_s,
                    log_path=work / "log.txt",
                    log_prefix=f"[{step.title}] ",
                    echo=beat.echo,
                    log=self.opts.log,
                )
        finally:
            with self.lock:
                self.active -= 1

    def _remember_command(
        self, step: _Planned, spec: SandboxSpec, work: Path, outputs: dict[str, Path]
    ) -> None:
        """The container as it is about to run, for --output's commands (to re-run it)."""
        kwargs = replay_kwargs(spec)
        params = step.who.cube.tasks[step.task].outputs
        made = {  # what the run made before the container started: folders, and the
            # folder of a file output (the file itself only for container_config, as
            # `_prepare_outputs` does: a file's bind mount needs it to exist)
            str(where.relative_to(work)): _made_kind(step.who.cube, params[name])
            for name, where in outputs.items()
        }
        argv, comments = replay_argv(kwargs)
        command = {
            "step": step.title,
            "log": f"logs/{step.log_name}.log",
            "image_id": spec.image_id,
            "argv": argv,
            "comments": comments,
            "create": kwargs,
            "outputs_folder": os.path.abspath(work),  # as the mounts name it
            "made": made,
            "exit_code": None,
            "cached": False,
        }
        with self.lock:
            self.commands[step.log_name] = command

    def _check_outputs(self, who: Participant, task_name: str, outputs: dict[str, Path]) -> None:
        """Each output is there, and holds only files, folders and links that stay inside
        it: the host reads outputs (metrics, copies for --output), and a link the
        container made could point at any file of the host."""
        for name, where in outputs.items():
            unsafe = _unsafe_output(where)
            if unsafe is not None:
                raise TaskMisbehaved(
                    f"{who.label}: task {task_name!r} wrote {unsafe}; an output may hold only "
                    "files, folders and links that stay inside it"
                )
            param = who.cube.tasks[task_name].outputs[name]
            if output_is_file(param) and (not where.is_file() or where.stat().st_size == 0):
                raise TaskMisbehaved(
                    f"{who.label}: task {task_name!r} exited 0 but wrote no {name} ({where.name})"
                )

    def _keep_failed_log(self, log_name: str, log: Path) -> Path | None:
        """A failed task's log, kept where the user can read it: --output's logs/, else
        the cache's failed-logs/ (the step's own folder is removed)."""
        if not log.is_file():
            return None
        folder = (
            self.opts.output / "logs"
            if self.opts.output is not None
            else self.cache / "failed-logs" / self.run_id
        )
        folder.mkdir(parents=True, exist_ok=True)
        keep = folder / f"{log_name}.log"
        shutil.copyfile(log, keep)
        return keep


def _input_path(
    cube: Cube, task_name: str, name: str, param: Param, given: dict[str, Path]
) -> Path:
    """Where an input comes from: the workflow, the parameters file, or the workspace."""
    if name in given:
        return given[name]
    if name == "parameters_file":
        return cube.parameters_file
    if name == "additional_files" and cube.format == "container-config":
        return cube.additional_files
    if cube.format == "mlcube" and param.path:
        return cube.workspace / param.path
    raise BenchmarkInvalid(
        f"{cube.name}: the workflow has no value for input {name!r} of {task_name!r}"
    )
