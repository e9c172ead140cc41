"""What each GitHub event calls for: the action's default command.

In a model repository (it has `.medperf.yml`):

| event | what runs |
|---|---|
| `push` of a branch | `validate`, then `test` against each benchmark `.medperf.yml` names |
| `push` of a tag | as for a branch, then `package`, `publish`, `submit` (and `associate`) |
| `pull_request` | `validate`, then `test` |
| `workflow_dispatch` | the command and arguments given in the event's inputs |

In a registry repository (it has `registry.yaml`):

| event | what runs |
|---|---|
| `pull_request` | `registry verify` |
| `workflow_run` | `registry report` |
| `pull_request_target` (labeled) | `registry on-label` |
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medperf_action.adapters.ci import load_event
from medperf_action.errors import UsageError
from medperf_action.usecases.listings import list_associations, open_view
from medperf_action.usecases.repo_config import find_config, load_repo_config

#: The action's `command` input: what each command takes from the inputs.
ACTION_COMMANDS: dict[str, tuple[str, ...]] = {
    "run": ("--mode", "--pairs"),
    "validate": ("--config",),
    "test": ("--benchmark", "--registry", "--config"),
    "package": (),
    "publish": ("--tag",),
    "submit": ("--registry", "--config"),
    "associate": ("--benchmark", "--registry", "--config"),
    "plan": ("--registry", "--benchmark", "--config"),
    # command groups: their subcommand and options come in `args`
    "benchmark": (),
    "mlcube": (),
    "association": (),
    "registry": (),
    "dataset": (),
    "result": (),
}

#: Commands a `workflow_dispatch` may ask for (anything else is refused).
DISPATCHABLE = frozenset(ACTION_COMMANDS) - {"run"}
#: What Docker accepts as an image tag (a release's git tag, when the image is pushed).
IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


@dataclass
class Step:
    title: str
    argv: list[str]


@dataclass
class Plan:
    kind: str  # "model" | "registry"
    event: str
    steps: list[Step] = field(default_factory=list)


def batches(steps: list[Step], jobs: int) -> list[list[Step]]:
    """Consecutive `test` steps together, up to `jobs` at a time; every other step alone."""
    out: list[list[Step]] = []
    for step in steps:
        last = out[-1] if out else []
        together = jobs > 1 and 0 < len(last) < jobs
        if together and step.argv[0] == "test" and last[0].argv[0] == "test":
            last.append(step)
        else:
            out.append([step])
    return out


def repo_kind(root: Path, mode: str | None = None) -> str:
    if mode:
        if mode not in ("model", "registry"):
            raise UsageError(f"--mode {mode}: use model or registry")
        return mode
    if (root / "registry.yaml").is_file():
        return "registry"
    if find_config(root) is not None:
        return "model"
    raise UsageError(
        "cannot tell what this repository is: a model repository has .medperf.yml, a "
        "registry has registry.yaml (or pass --mode)"
    )


def _load_event(path: str | None) -> dict[str, Any]:
    return load_event(path, "GITHUB_EVENT_PATH") if path else {}


def _model_tests(cfg: dict[str, Any], output_root: Path) -> list[Step]:
    mlcube = str(cfg.get("mlcube", "mlcube"))
    registry = cfg.get("registry")
    steps = [Step("validate .medperf.yml and the MLCube", ["validate", "."])]
    for benchmark in cfg.get("benchmarks") or []:
        argv = [
            "test",
            "--model",
            mlcube,
            "--registry",
            str(registry),
            "--benchmark",
            benchmark,
            "--output",
            str(output_root / benchmark),
            "--quiet",
        ]
        if cfg.get("id"):
            argv += ["--mlcube-id", str(cfg["id"])]
        steps.append(Step(f"test against {benchmark}", argv))
    return steps


def _dispatched(inputs: dict[str, Any]) -> Step:
    """The one command a `workflow_dispatch` asks for in its inputs."""
    command = str(inputs.get("command") or "").strip()
    if command not in DISPATCHABLE:
        raise UsageError(
            f"workflow_dispatch input command={command!r}: use one of "
            f"{', '.join(sorted(DISPATCHABLE))}"
        )
    try:
        args = shlex.split(str(inputs.get("args") or ""))
    except ValueError as exc:
        raise UsageError(f"workflow_dispatch input args: {exc}") from None
    return Step(f"{command} (by hand)", [command, *args])


def _release_steps(cfg: dict[str, Any], tag: str) -> list[Step]:
    """A tag's release: package, publish, submit, and (if asked) associate. The image is
    pinned as .medperf.yml's `image` says: published as an archive (the default), or
    pushed to a repository under the git tag."""
    mlcube = str(cfg.get("mlcube", "mlcube"))
    assets = f"{mlcube}/assets"
    push = (cfg.get("image") or {}).get("push")
    package = ["package", mlcube, "--build-image" if push else "--image-archive"]
    if cfg.get("sign"):  # keyless: the release job's OIDC identity signs (Sigstore)
        package.append("--sign")
    publish = ["publish", "--tag", tag, "--assets", assets]
    if push:
        if not IMAGE_TAG.match(tag):
            raise UsageError(
                f"the git tag {tag!r} cannot tag an image (letters, digits, '_', '.', '-'; "
                "at most 128): choose another tag, or `image: {archive: true}` in .medperf.yml"
            )
        publish += ["--push-image", f"{push}:{tag}"]
    steps = [
        Step("package the assets", package),
        Step(f"publish release {tag}", publish),
        Step("submit to the registry", ["submit", "--assets", assets]),
    ]
    if cfg.get("associate"):
        for benchmark in cfg.get("benchmarks") or []:
            argv = ["associate", "--benchmark", benchmark, "--yes", "--quiet"]
            argv += ["--model", mlcube, "--when-submitted"]
            steps.append(Step(f"request association with {benchmark}", argv))
    return steps


def plan_for_event(
    event_name: str,
    event_path: str | None,
    root: Path,
    *,
    mode: str | None = None,
    output_root: Path = Path("medperf-results"),
    ref: str | None = None,
    skip_tests: bool = False,
    only: str | None = None,
) -> Plan:
    """The commands the event calls for, in order (the first failure stops the rest).

    `skip_tests`: leave out validate and test (a release job whose tests already ran in
    the matrix jobs; `associate` still runs its own test, whose summary it submits).
    `only`: of a tag push's steps, only the release (package, publish, submit) or only
    the association requests: two jobs, so that the one holding an OIDC token (to sign and
    attest) runs no benchmark's containers.
    """
    kind = repo_kind(root, mode)
    event = _load_event(event_path)
    plan = Plan(kind, event_name)
    if event_name == "workflow_dispatch":
        plan.steps.append(_dispatched(event.get("inputs") or {}))
        return plan
    if kind == "registry":
        return _registry_plan(plan, event, event_path)
    cfg = load_repo_config(root=root)
    if event_name not in ("push", "pull_request"):
        raise UsageError(f"a model repository does not act on {event_name!r} events")
    git_ref = str(event.get("ref") or ref or "") if event_name == "push" else ""
    if event_name == "pull_request" or not skip_tests:
        plan.steps += _model_tests(cfg, output_root)
    if git_ref.startswith("refs/tags/"):
        plan.steps += _release_steps(cfg, git_ref.removeprefix("refs/tags/"))
    if only is not None:
        plan.steps = [s for s in plan.steps if s.argv[0] in ONLY[only]]
    return plan


#: `run --only`: the commands each part of a tag push's work is made of.
ONLY = {"release": ("package", "publish", "submit"), "associate": ("associate",)}


def _registry_plan(plan: Plan, event: dict[str, Any], event_path: str | None) -> Plan:
    name = plan.event
    if name == "pull_request":
        number = (event.get("pull_request") or {}).get("number") or event.get("number")
        if not isinstance(number, int):
            raise UsageError("the pull_request event names no pull request number")
        plan.steps.append(Step(f"verify #{number}", ["registry", "verify", "--pr", str(number)]))
    elif name == "workflow_run":
        plan.steps.append(
            Step(
                "report the verification",
                ["registry", "report", "--event", str(event_path), "--report", "verify-report"],
            )
        )
    elif name == "pull_request_target":
        if event.get("action") != "labeled":
            raise UsageError("the registry acts on pull_request_target only when labeled")
        plan.steps.append(
            Step("act on the label", ["registry", "on-label", "--event", str(event_path)])
        )
    else:
        raise UsageError(f"a registry does not act on {name!r} events")
    return plan


# ---------------------------------------------------------------------------------------
# plan: a strategy.matrix of benchmark x model pairs


def matrix_from_config(cfg: dict[str, Any]) -> list[dict[str, str]]:
    if not cfg.get("id") or not cfg.get("benchmarks"):
        raise UsageError(".medperf.yml names no id or no benchmarks")
    return [
        {"benchmark": b, "mlcube": str(cfg["id"]), "registry": str(cfg.get("registry", ""))}
        for b in cfg["benchmarks"]
    ]


def matrix_from_registry(
    location: str,
    benchmark: str | None,
    status: str,
    token: str | None,
) -> list[dict[str, str]]:
    """Pairs from the registry's associations (the latest state of each), by status."""
    view = open_view(location, token)
    rows = list_associations(view, benchmark=benchmark, status=status)
    return [{"benchmark": r.benchmark, "mlcube": r.mlcube, "registry": location} for r in rows]


# ---------------------------------------------------------------------------------------
# The composite action's inputs, as environment variables, to a command line


def action_inputs(text: str) -> dict[str, str]:
    """The action's inputs, from the JSON action.yml passes (`toJSON(inputs)`)."""
    try:
        data = json.loads(text or "{}")
    except ValueError as exc:
        raise UsageError(f"MPA_INPUTS is not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise UsageError("MPA_INPUTS is not a JSON object")
    return {str(k).lower(): "" if v is None else str(v) for k, v in data.items()}


def action_argv(inputs: dict[str, str], config: dict[str, Any] | None = None) -> list[str]:
    """The command line for the action's inputs.

    The inputs reach this function as data (one JSON environment variable), never through
    a shell, so no input can inject a command; `args` is split like a shell would split
    it, no more. `config` is the model repository's .medperf.yml: where the MLCube is, its
    id, the registry, when the inputs do not say.
    """
    config = config or {}

    def given(name: str) -> str:
        return (inputs.get(name) or "").strip()

    command = given("command") or "run"
    if command not in ACTION_COMMANDS:
        raise UsageError(f"input command={command!r}: use one of {', '.join(ACTION_COMMANDS)}")
    try:
        extra = shlex.split(inputs.get("args") or "")
    except ValueError as exc:
        raise UsageError(f"input args: {exc}") from None
    mlcube = given("mlcube") or str(config.get("mlcube") or "mlcube")
    options = {
        "--benchmark": given("benchmark"),
        "--registry": given("registry") or str(config.get("registry") or ""),
        "--tag": given("tag"),
        "--config": given("config"),
        "--mode": given("mode"),
        "--pairs": given("pairs") or given("jobs"),
    }
    argv = [command]
    if command == "validate":
        argv.append(given("mlcube") or ".")  # a repository's root: .medperf.yml too
    elif command == "package":
        argv.append(mlcube)
    elif command == "test":
        argv += ["--model", mlcube]
        if config.get("id") and not {"--mlcube-id", "--model-id"} & set(extra):
            argv += ["--mlcube-id", str(config["id"])]
    elif command == "publish":
        argv += ["--assets", f"{mlcube}/assets"]
    for name in ACTION_COMMANDS[command]:
        if options[name]:
            argv += [name, options[name]]
    if command == "associate":
        argv.append("--yes")
    return argv + extra
