"""The compatibility test: the benchmark's workflow on its demo data, in real containers.

demo dataset (fetched, hash-checked, safely extracted) -> prepare -> sanity_check and
statistics -> infer (candidate and reference model) -> evaluate (both), the independent
steps side by side. Every step is cached under a key made of the hashes of everything it
reads, its image ID and its command, so an unchanged re-run costs almost nothing and a
rebuilt image is never mistaken for the old one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from medperf_action import __version__
from medperf_action.cube import Cube, find_manifest
from medperf_action.errors import MedperfError, UsageError
from medperf_action.invocation import (
    Invocation,
    build_invocation,
    input_mounts,
    output_is_file,
    output_location,
)

#: Bump when the meaning of a cached step changes.
CACHE_VERSION = 1
RUN_LABEL = "org.medperf-action.run"
ROLE_OF = {
    "data_preparator": "data-preparator",
    "candidate": "model",
    "reference_model": "model",
    "evaluator": "metrics",
}


class WorkflowError(MedperfError):
    """The benchmark workflow cannot run (bad benchmark, missing output, ...)."""


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Participant:
    """One cube in the run: its place in the workflow, where it came from, its image."""

    key: str
    id: str | None
    cube: Cube
    image: str = ""
    image_id: str | None = None
    digest: str | None = None
    build: bool = True
    archive: dict[str, str] | None = None  # a published `docker save` (url, sha256)

    @property
    def label(self) -> str:
        """The registry id, else the MLCube's folder name (short, unlike its `name`)."""
        if self.id:
            return self.id
        root = self.cube.root
        return root.parent.name if root.name == "mlcube" else root.name

    def as_summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.cube.name,
            "image": self.image or self.cube.image,
            "image_id": self.image_id,
            "digest": self.digest,
        }


@dataclass
class StepResult:
    outputs: dict[str, Path]
    record: dict[str, Any]
    log: Path


@dataclass
class Options:
    model: Path | None = None
    model_id: str | None = None
    registry: Any = None  # PATH, OWNER/REPO[@REF], or an opened Registry
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
    echo: Callable[[str], None] | None = None
    log: Callable[[str], None] = field(default=lambda line: print(line, file=sys.stderr))


# ---------------------------------------------------------------------------------------
# Resolving the benchmark's cubes


def _load(path: Path, key: str) -> Cube:
    from medperf_action.validate import CubeError, validate_path

    manifest = find_manifest(path)
    if manifest is None:
        raise UsageError(f"{path}: no mlcube.yaml, mlcube/mlcube.yaml or container_config.yaml")
    report = validate_path(manifest, role=ROLE_OF[key])
    if report.errors:
        raise CubeError(
            f"the {key.replace('_', ' ')} at {path} is not a valid "
            f"{ROLE_OF[key]} MLCube:\n" + "\n".join(f.text() for f in report.errors)
        )
    assert report.cube is not None
    return report.cube


def _from_entry(registry: Any, mlcube_id: str, key: str, cache: Path) -> Participant:
    """A registry's mlcube entry: a local `path:`, or published assets fetched by hash."""
    from medperf_action.fetch import fetch, safe_extract

    entry = registry.mlcube(mlcube_id)
    image = entry.get("image") or {}
    if "path" in entry:
        cube = _load(registry.resolve(entry["path"]), key)
        return Participant(key, mlcube_id, cube, image=image.get("name", ""))
    assets = entry["assets"]
    digest = hashlib.sha256(json.dumps(assets, sort_keys=True).encode()).hexdigest()
    root = cache / "cubes" / digest
    # MedPerf's two formats: mlcube.yaml, or a container config (workspace/ beside it).
    is_config = assets["mlcube"]["url"].rsplit("/", 1)[-1] == "container_config.yaml"
    manifest = Path("container_config.yaml") if is_config else Path("mlcube", "mlcube.yaml")
    if not (root / manifest).is_file():
        tmp = cache / "cubes" / f".tmp-{digest}-{uuid.uuid4().hex}"
        workspace = tmp / manifest.parent / "workspace"
        workspace.mkdir(parents=True)
        try:
            got = fetch(assets["mlcube"]["url"], assets["mlcube"]["sha256"], cache=cache)
            shutil.copyfile(got.path, tmp / manifest)
            if "parameters" in assets:
                params = assets["parameters"]
                got = fetch(params["url"], params["sha256"], cache=cache)
                shutil.copyfile(got.path, workspace / "parameters.yaml")
            if "additional_files" in assets:
                extra = assets["additional_files"]
                got = fetch(extra["url"], extra["sha256"], cache=cache)
                safe_extract(got.path, workspace / "additional_files")
            os.replace(tmp, root)
        except OSError:
            if not (root / manifest).is_file():
                raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    cube = _load(root, key)
    reference = image.get("reference")
    return Participant(
        key,
        mlcube_id,
        cube,
        image=reference or image.get("name", ""),
        digest=reference,
        build=False,
        archive=image.get("archive"),
    )


def resolve_participants(
    opts: Options, benchmark: dict[str, Any] | None, registry: Any, cache: Path
) -> dict[str, Participant]:
    overrides = {
        "data_preparator": opts.data_preparator,
        "reference_model": opts.reference_model,
        "evaluator": opts.evaluator,
    }
    if opts.model is not None:
        candidate = Participant("candidate", opts.model_id, _load(opts.model, "candidate"))
    elif opts.model_id is not None and registry is not None:
        candidate = _from_entry(registry, opts.model_id, "candidate", cache)
    else:
        raise UsageError("give the candidate: --model DIR, or its registry id with --registry")
    found: dict[str, Participant] = {"candidate": candidate}
    for key, override in overrides.items():
        if override is not None:
            found[key] = Participant(key, None, _load(override, key))
        elif benchmark is not None:
            found[key] = _from_entry(registry, benchmark[key], key, cache)
        else:
            raise UsageError(f"no benchmark given, so --{key.replace('_', '-')} is needed")
    return {k: found[k] for k in ROLE_OF}


def _dataset(
    opts: Options, benchmark: dict[str, Any] | None, registry: Any
) -> tuple[str, str | None]:
    if opts.demo_dataset:
        return opts.demo_dataset, opts.demo_dataset_sha256
    if benchmark is None:
        raise UsageError("no benchmark given, so --demo-dataset is needed")
    demo = benchmark["demo_dataset"]
    source = demo.get("url") or str(registry.resolve(demo["path"]))
    return source, demo.get("sha256")


def read_paths(root: Path) -> tuple[Path, Path]:
    """`paths.yaml` in an extracted demo dataset: `data_path` and `labels_path`."""
    from medperf_action.validate import _inside
    from medperf_action.yamlload import YamlError, load_file

    candidates = [root / "paths.yaml", *sorted(root.glob("*/paths.yaml"))]
    path_file = next((p for p in candidates if p.is_file()), None)
    if path_file is None:
        raise WorkflowError("the demo dataset has no paths.yaml (MedPerf's demo format)")
    try:
        data = load_file(path_file).data
    except YamlError as exc:
        raise WorkflowError(f"the demo dataset's paths.yaml: {exc.message}") from None
    base = path_file.parent
    out = []
    for name in ("data_path", "labels_path"):
        value = data.get(name) if isinstance(data, dict) else None
        if not isinstance(value, str):
            raise WorkflowError(f"the demo dataset's paths.yaml names no {name}")
        ok, why = _inside(base, value)
        if not ok or not (base / value).exists():
            raise WorkflowError(
                f"the demo dataset's {name} {value!r} is {why if not ok else 'not in the archive'}"
            )
        out.append(base / value)
    return out[0], out[1]


# ---------------------------------------------------------------------------------------
# Steps


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
        "gpus": gpus and cube.accelerator_count > 0,
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


class Runner:
    """Runs (or takes from the cache) one task of one cube at a time, thread-safely."""

    def __init__(self, opts: Options, cache: Path, run_id: str) -> None:
        self.opts = opts
        self.cache = cache
        self.run_id = run_id
        self.records: list[dict[str, Any]] = []
        self.logs: dict[str, Path] = {}
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
            _cleanup_containers(self.run_id)
            with self.lock:
                busy = self.active
            if not busy or time.monotonic() > deadline:
                return
            time.sleep(0.2)

    def run(
        self, who: Participant, task_name: str, given: dict[str, Path], subject: str | None = None
    ) -> StepResult:
        from medperf_action.fetch import sha256_tree

        cube = who.cube
        task = cube.tasks[task_name]
        inputs = self._complete_inputs(cube, task_name, given)
        hashes = {name: sha256_tree(path) for name, path in sorted(inputs.items())}
        # A file input mounts its folder, so the key covers all that the container can read.
        mounted = {
            f"{name} (mounted)": hashes[name] if folder == inputs[name] else sha256_tree(folder)
            for name, folder in input_mounts(cube, task_name, inputs).items()
        }
        key = step_key(who.image_id, cube, task_name, {**hashes, **mounted}, self.opts.gpus)
        log_name = f"{who.key}-{task_name}" + (f"-{subject}" if who.key == "evaluator" else "")
        final = self.cache / "steps" / key
        record: dict[str, Any] = {
            "role": who.key,
            "cube": who.label,
            "task": task_name,
            "exit_code": None,
            "duration_s": 0.0,
            "cached": False,
            "cache_key": key,
            "inputs": hashes,
        }
        if subject:
            record["subject"] = subject
        start = time.perf_counter()
        if not self.opts.no_cache and (final / "step.json").is_file():
            step = json.loads((final / "step.json").read_text())
            record.update(exit_code=step["exit_code"], cached=True)
            record["duration_s"] = round(time.perf_counter() - start, 3)
            self.opts.log(f"[{who.label} {task_name}] cached ({key[:12]})")
            return self._done(record, final, task.outputs, log_name)

        work = (self.scratch if self.opts.no_cache else self.cache / "steps") / (
            f".tmp-{key}-{uuid.uuid4().hex[:8]}"
        )
        outputs = self._prepare_outputs(cube, task_name, work / "outputs")
        invocation = build_invocation(cube, task_name, inputs, outputs)
        try:
            result = self._container(who, task_name, invocation, work / "log.txt")
            record["exit_code"] = result.exit_code
            record["duration_s"] = round(time.perf_counter() - start, 3)
            self._check_outputs(who, task_name, outputs)
            (work / "step.json").write_text(json.dumps({**record, "finished_at": now_iso()}))
        except BaseException as exc:
            record["duration_s"] = round(time.perf_counter() - start, 3)
            record["exit_code"] = getattr(exc, "exit_code", None)
            kept = self._keep_failed_log(log_name, work / "log.txt")
            if kept is not None and hasattr(exc, "log_path"):
                exc.log_path = kept  # the message points at the log that stays
                exc.args = (exc._message(),) if hasattr(exc, "_message") else exc.args
            with self.lock:
                self.records.append(record)
                if kept is not None:
                    self.logs[log_name] = kept
            shutil.rmtree(work, ignore_errors=True)
            raise
        if self.opts.no_cache:
            final = work
        else:
            try:
                os.replace(work, final)
            except OSError:  # a concurrent run stored the same step first
                shutil.rmtree(work, ignore_errors=True)
        return self._done(record, final, task.outputs, log_name)

    def _done(
        self, record: dict[str, Any], folder: Path, params: dict[str, Any], log_name: str
    ) -> StepResult:
        with self.lock:
            self.records.append(record)
            self.logs[log_name] = folder / "log.txt"
        outputs = {n: output_location(p, folder / "outputs") for n, p in params.items()}
        return StepResult(outputs, record, folder / "log.txt")

    def _complete_inputs(
        self, cube: Cube, task_name: str, given: dict[str, Path]
    ) -> dict[str, Path]:
        out: dict[str, Path] = {}
        for name, param in cube.tasks[task_name].inputs.items():
            if name in given:
                out[name] = given[name]
            elif name == "parameters_file":
                out[name] = cube.parameters_file
            elif name == "additional_files" and cube.format == "container-config":
                out[name] = cube.additional_files
            elif cube.format == "mlcube" and param.path:
                out[name] = cube.workspace / param.path
            else:
                raise WorkflowError(
                    f"{cube.name}: the workflow has no value for input {name!r} of {task_name!r}"
                )
            if not out[name].exists():
                raise WorkflowError(
                    f"{cube.name}: input {name!r} of {task_name!r} does not exist: {out[name]}"
                )
        return out

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
        self, who: Participant, task_name: str, invocation: Invocation, log_path: Path
    ) -> Any:
        from medperf_action.docker_runner import Mount, run_container

        assert who.image_id is not None
        with self.lock:
            if self.cancelled.is_set():
                raise WorkflowError(f"{who.label} {task_name}: not started, the run was cancelled")
            self.active += 1
        try:
            return run_container(
                who.image_id,
                invocation.args,
                [Mount(m.host, m.container, m.read_only) for m in invocation.mounts],
                cube=who.label,
                task=task_name,
                timeout_s=self.opts.timeout_s,
                gpus=self.opts.gpus and who.cube.accelerator_count > 0,
                log_path=log_path,
                log_prefix=f"[{who.label} {task_name}] ",
                echo=self.opts.echo,
                env=invocation.env or None,
                extra_labels={RUN_LABEL: self.run_id},
                shm_size=invocation.shm_size,
                entrypoint=invocation.entrypoint,
            )
        finally:
            with self.lock:
                self.active -= 1

    def _check_outputs(self, who: Participant, task_name: str, outputs: dict[str, Path]) -> None:
        for name, where in outputs.items():
            param = who.cube.tasks[task_name].outputs[name]
            if output_is_file(param) and (not where.is_file() or where.stat().st_size == 0):
                raise WorkflowError(
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


def _main_output(cube: Cube, task_name: str, *, file: bool) -> str:
    """The output that matters: `output_path`, else the only file (or folder) output."""
    outputs = cube.tasks[task_name].outputs
    if "output_path" in outputs:
        return "output_path"
    names = [n for n, p in outputs.items() if output_is_file(p) == file]
    if len(names) == 1:
        return names[0]
    raise WorkflowError(f"{cube.name}: cannot tell which output of {task_name!r} to use")


# ---------------------------------------------------------------------------------------
# The whole run


@dataclass
class Outcome:
    summary: dict[str, Any]
    results: dict[str, Path]
    logs: dict[str, Path]
    statistics: Path | None


def _parallel(
    pool: ThreadPoolExecutor, jobs: dict[str, Callable[[], StepResult]]
) -> dict[str, StepResult]:
    futures: dict[str, Future[StepResult]] = {name: pool.submit(fn) for name, fn in jobs.items()}
    done, _ = wait(futures.values(), return_when=FIRST_EXCEPTION)
    failed = [f for f in futures.values() if f in done and f.exception() is not None]
    if failed:
        wait(futures.values())  # let the others finish, so their containers are gone too
        raise failed[0].exception()  # type: ignore[misc]
    return {name: f.result() for name, f in futures.items()}


def _images(parts: dict[str, Participant], opts: Options, pool: ThreadPoolExecutor) -> None:
    """Each distinct image present and current: looked up cheaply, else built or pulled."""
    from medperf_action.docker_runner import ensure_image, get_client, lookup_image

    client_lock = threading.Lock()
    clients: list[Any] = []

    def client() -> Any:
        with client_lock:
            if not clients:
                clients.append(get_client())
            return clients[0]

    def one(p: Participant) -> None:
        context = p.cube.build_context if p.build and p.cube.build_context else None
        if context is not None and not context.is_dir():
            context = None
        build_file = p.cube.build_file if context else None
        p.image = p.image or p.cube.image
        if p.archive is not None:
            p.image_id = _load_archive(p, client(), opts.cache)
            return
        info = None if opts.no_build else lookup_image(p.image, context, build_file)
        if info is None:
            image_id = ensure_image(
                p.image,
                context,
                build_file,
                no_build=opts.no_build,
                client=client(),
                log=lambda line: opts.log(f"[{p.label} build] {line}"),
            )
            info = client().images.get(image_id).attrs
        p.image_id = str(info["Id"])
        if p.digest is None:
            repo_digests = info.get("RepoDigests") or []
            p.digest = repo_digests[0] if repo_digests else None

    # One build per distinct image (the reference model may share the candidate's image),
    # but two different build contexts under one name would run one cube's code for both.
    by_image: dict[str, list[Participant]] = {}
    for p in parts.values():
        by_image.setdefault(p.image or p.cube.image, []).append(p)
    for name, group in by_image.items():
        _check_shared_image(name, group)
    for future in [pool.submit(one, group[0]) for group in by_image.values()]:
        future.result()
    for group in by_image.values():
        for p in group[1:]:
            p.image, p.image_id, p.digest = group[0].image, group[0].image_id, group[0].digest


def _check_shared_image(name: str, group: list[Participant]) -> None:
    from medperf_action.docker_runner import context_hash

    built = {
        p.label: context_hash(p.cube.build_context, p.cube.build_file)
        for p in group
        if p.build and p.cube.build_context is not None and p.cube.build_context.is_dir()
    }
    if len(set(built.values())) > 1 or (built and len(group) > len(built)):
        raise WorkflowError(
            f"{', '.join(p.label for p in group)} all name the image {name!r} but are not the "
            "same build: give each MLCube its own image name"
        )


def archive_tags(path: Path) -> list[str]:
    """The tags a `docker save` archive would set when loaded (its manifest.json)."""
    import tarfile

    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                if member.name.lstrip("./") == "manifest.json" and member.isfile():
                    handle = tar.extractfile(member)
                    manifest = json.loads(handle.read(1 << 20)) if handle else []
                    return [t for entry in manifest for t in entry.get("RepoTags") or []]
    except (tarfile.TarError, OSError, ValueError, AttributeError) as exc:
        raise WorkflowError(f"the image archive cannot be read: {exc}") from None
    raise WorkflowError("the image archive holds no manifest.json (not a `docker save`)")


def _load_archive(p: Participant, client: Any, cache: Path | None) -> str:
    """A published `docker save` archive: fetched, hash-checked, loaded; its image ID.

    The archive may only name the cube's own image: loading it must not re-tag an image
    that another cube (or a base image) uses.
    """
    from medperf_action.fetch import fetch

    assert p.archive is not None
    got = fetch(p.archive["url"], p.archive["sha256"], cache=cache, name=f"{p.label} image")
    foreign = [t for t in archive_tags(got.path) if t != p.cube.image]
    if foreign:
        raise WorkflowError(
            f"{p.label}: the image archive would tag {', '.join(foreign)}; it may only carry "
            f"the cube's own image name {p.cube.image!r}"
        )
    try:
        with open(got.path, "rb") as handle:
            images = client.images.load(handle)
    except Exception as exc:  # docker.errors.* and connection errors
        raise WorkflowError(f"{p.label}: the image archive does not load: {exc}") from None
    if not images:
        raise WorkflowError(f"{p.label}: the image archive holds no image")
    p.digest = None
    return str(images[0].id)


def _metrics(path: Path) -> dict[str, Any]:
    from medperf_action.yamlload import YamlError, load_file

    try:
        data = load_file(path).data
    except YamlError as exc:
        raise WorkflowError(f"the evaluator's results are not YAML: {exc.message}") from None
    if not isinstance(data, dict):
        raise WorkflowError("the evaluator's results are not a mapping of metrics")
    return data


def _cleanup_containers(run_id: str) -> None:
    try:
        from medperf_action.docker_runner import get_client

        client = get_client()
        for c in client.containers.list(all=True, filters={"label": f"{RUN_LABEL}={run_id}"}):
            c.remove(force=True)
    except Exception:
        pass


_ACTIVE_RUNNERS: set[Runner] = set()
_ACTIVE_LOCK = threading.Lock()


def cancel_all() -> None:
    """Stop every run in this process and remove its containers (Ctrl-C, SIGTERM)."""
    with _ACTIVE_LOCK:
        runners = list(_ACTIVE_RUNNERS)
    for runner in runners:
        runner.cancel()


def run_workflow(opts: Options) -> Outcome:
    """Run the compatibility test; with `opts.output`, write what the user gets there,
    also when a task fails (the logs so far and a summary with passed: false)."""
    from medperf_action.fetch import cache_dir, fetch_and_extract
    from medperf_action.registry import Registry, RegistryError, open_registry

    if opts.output is not None and opts.output.exists() and not opts.output.is_dir():
        raise UsageError(f"--output {opts.output}: exists and is not a folder")
    cache = opts.cache or cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    started = now_iso()
    t0 = time.perf_counter()
    if isinstance(opts.registry, Registry) or opts.registry is None:
        registry = opts.registry  # opened already by the caller (associate), or none
    else:
        registry = open_registry(opts.registry, opts.registry_token)
    benchmark = None
    if opts.benchmark:
        if registry is None:
            raise UsageError("--benchmark needs --registry")
        try:
            benchmark = registry.benchmark(opts.benchmark)
        except RegistryError as exc:
            if "not found" not in str(exc):
                raise
            known = ", ".join(registry.benchmark_ids()) or "none"
            raise UsageError(f"--benchmark {opts.benchmark}: no such benchmark ({known})") from None
        if benchmark.get("approval_status") != "APPROVED":
            opts.log(f"note: benchmark {opts.benchmark} is {benchmark.get('approval_status')}")
    if opts.demo_dataset_sha256 and not opts.demo_dataset:
        raise UsageError("--demo-dataset-sha256 needs --demo-dataset")
    parts = resolve_participants(opts, benchmark, registry, cache)
    source, sha = _dataset(opts, benchmark, registry)
    run_id = uuid.uuid4().hex[:12]
    runner = Runner(opts, cache, run_id)
    dataset: dict[str, Any] = {"source": source, "sha256": sha or "0" * 64}

    def summary(passed: bool, metrics: dict[str, Any] | None) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "tool": {"name": "medperf-action", "version": __version__},
            "benchmark": {
                "id": opts.benchmark or "local",
                "registry": registry.description if registry else "(command line)",
            },
            "started_at": started,
            "finished_at": now_iso(),
            "duration_s": round(time.perf_counter() - t0, 3),
            "passed": passed,
            "dataset": dataset,
            "cubes": {k: p.as_summary() for k, p in parts.items()},
            "tasks": sorted(runner.records, key=_task_order),
            "metrics": metrics or {"candidate": None, "reference": None},
        }

    with _ACTIVE_LOCK:
        _ACTIVE_RUNNERS.add(runner)
    try:
        with ThreadPoolExecutor(max_workers=max(1, opts.jobs)) as pool:
            try:
                from medperf_action.fetch import fetch

                fetched = fetch(source, sha, cache=cache, name="demo dataset")
                dataset["sha256"] = fetched.sha256
                if sha is None:
                    opts.log(f"note: the demo dataset has no sha256 given; it is {fetched.sha256}")
                root = fetch_and_extract(str(fetched.path), fetched.sha256, cache=cache)
                data_path, labels_path = read_paths(root)
                _images(parts, opts, pool)
                outcome = _steps(runner, parts, data_path, labels_path, pool)
                outcome.summary = summary(
                    True,
                    {
                        "candidate": _metrics(outcome.results["candidate"]),
                        "reference": _metrics(outcome.results["reference_model"]),
                    },
                )
                outcome.logs = dict(runner.logs)
                if opts.output is not None:
                    from medperf_action.report import write_output

                    write_output(
                        opts.output,
                        outcome.summary,
                        outcome.results,
                        outcome.logs,
                        outcome.statistics,
                    )
                return outcome
            except BaseException:
                runner.cancel()  # before the pool waits for its workers
                if opts.output is not None:
                    from medperf_action.report import write_failure

                    write_failure(opts.output, summary(False, None), dict(runner.logs))
                raise
            finally:
                shutil.rmtree(runner.scratch, ignore_errors=True)
    finally:
        with _ACTIVE_LOCK:
            _ACTIVE_RUNNERS.discard(runner)


def _task_order(record: dict[str, Any]) -> tuple[int, int]:
    tasks = ("prepare", "sanity_check", "statistics", "infer", "evaluate")
    subjects = (None, "candidate", "reference_model")
    task = tasks.index(record["task"]) if record["task"] in tasks else len(tasks)
    return task, subjects.index(record.get("subject"))


def _steps(
    runner: Runner,
    parts: dict[str, Participant],
    data_path: Path,
    labels_path: Path,
    pool: ThreadPoolExecutor,
) -> Outcome:
    prep, cand, ref, ev = (parts[k] for k in ROLE_OF)
    prepared = runner.run(prep, "prepare", {"data_path": data_path, "labels_path": labels_path})
    data = prepared.outputs["output_path"]
    labels = prepared.outputs.get("output_labels_path", data)
    extra = (
        {"metadata_path": prepared.outputs["metadata_path"]}
        if "metadata_path" in prepared.outputs
        else {}
    )
    common = {"data_path": data, "labels_path": labels, **extra}
    stage = _parallel(
        pool,
        {
            "sanity": lambda: runner.run(prep, "sanity_check", common),
            "stats": lambda: runner.run(prep, "statistics", common),
            "candidate": lambda: runner.run(cand, "infer", {"data_path": data}, "candidate"),
            "reference_model": lambda: runner.run(
                ref, "infer", {"data_path": data}, "reference_model"
            ),
        },
    )

    def evaluate(key: str) -> StepResult:
        who = parts[key]
        preds = stage[key].outputs[_main_output(who.cube, "infer", file=False)]
        return runner.run(ev, "evaluate", {"predictions": preds, "labels": labels}, key)

    evaluated = _parallel(
        pool, {k: (lambda k=k: evaluate(k)) for k in ("candidate", "reference_model")}
    )
    metrics_out = _main_output(ev.cube, "evaluate", file=True)
    results = {k: evaluated[k].outputs[metrics_out] for k in evaluated}
    stats_out = stage["stats"].outputs.get("output_path")
    return Outcome({}, results, {}, stats_out)
