"""Runs a composite action's `action.yml` the way the GitHub Actions runner does.

    result = run_action(
        REPO,  # the folder holding action.yml (github.action_path)
        event_name="push",
        event=webhook_events.load("push", repository="alice/model", ref="refs/heads/main"),
        workspace=checkout,  # the job's working directory (GITHUB_WORKSPACE)
        runner_temp=tmp / "temp",
        inputs={"registry-token": token},
        token=token,  # github.token
        api_url=gh.api_url,
        env={"MEDPERF_ACTION_CACHE": "..."},  # more job environment
    )
    result.conclusion, result.outputs["valid"], result.summary, result.errors

What it does, as the runner does (actions/runner, src/Runner.Worker):

* **File commands.** Each step gets fresh, empty `GITHUB_OUTPUT`, `GITHUB_ENV`,
  `GITHUB_PATH`, `GITHUB_STEP_SUMMARY` and `GITHUB_STATE` files under
  `$RUNNER_TEMP/_runner_file_commands/`. After the step, `GITHUB_OUTPUT` (`name=value` and
  the `name<<DELIM … DELIM` heredoc form) becomes `steps.<id>.outputs`, `GITHUB_ENV` (same
  forms) is added to the environment of the later steps, `GITHUB_PATH` lines are put in
  front of their `PATH` (the last line first), and the step's summary is appended to the
  job summary (1 MiB per step at most).
* **The job's environment.** `GITHUB_ACTIONS=true`, `CI=true`, `GITHUB_ACTION_PATH`,
  `GITHUB_EVENT_NAME`, `GITHUB_EVENT_PATH` (the payload written to
  `$RUNNER_TEMP/_github_workflow/event.json`), `GITHUB_REPOSITORY`, `GITHUB_SHA`,
  `GITHUB_REF` (+ `_NAME`, `_TYPE`, `GITHUB_HEAD_REF`/`GITHUB_BASE_REF` for a pull
  request), `GITHUB_WORKSPACE` (the working directory), `GITHUB_API_URL`, `RUNNER_TEMP`,
  `RUNNER_OS`, … on top of a few variables of this process (PATH without any virtual
  environment's bin, HOME, locale, Docker, proxies, pip's settings) and `env`.
  `GITHUB_REF`/`GITHUB_SHA` come from the payload as GitHub derives them.
* **Expressions** (`${{ }}`), only those our files use: `inputs.<name>` (declared inputs
  only; the given ones are checked against the declared ones, and an undeclared one is an
  error, where the runner only warns), `github.action_path`, `github.token`,
  `steps.<id>.outputs.<name>` (a step that ran before; an output it did not set is
  ''), `toJSON(inputs)` (every input, as GitHub renders it), and string literals. Names are case-insensitive, as in GitHub. They are
  evaluated in `with:`, `env:`, step names, input defaults and the action's
  `outputs.<name>.value` (after the steps). Anything else is an `ActionError`, so a new
  expression is noticed.
* **Template injection**: a `${{` in a `run:` body is an `ActionError`. The runner would
  substitute it into the script text; our rule is that inputs reach scripts only through
  the environment.
* **`shell: bash`** runs `bash --noprofile --norc -eo pipefail {0}` (the script in a
  file), in the workspace (or the step's `working-directory`), with the step's `env:` over
  the job's environment. Other shells are an `ActionError`.
* **`uses:`** only `actions/setup-python@<40-hex SHA>`, replaced by the local interpreter:
  a tool-cache folder under `$RUNNER_TEMP/_tool` whose `bin/python` (and `python3`,
  `python3.X`) links to `python` (default: this process's base interpreter), put first
  in `PATH` with `pythonLocation` & co. set and the outputs `python-version`,
  `python-path`, `cache-hit`, through the same file commands. `with: python-version` must
  name a version that interpreter satisfies (`3.11`, `3.11.7`, `3.11.x`, `3.x`, `3`).
  Any other `uses:` is an `ActionError`.
* **Workflow commands** on stdout or stderr (after leading spaces, as the runner parses
  them): `::error`/`::warning`/`::notice` become `Annotation`s (properties `file`, `line`,
  `endLine`, `col`, `endColumn`, `title`; data and properties unescaped by GitHub's rules:
  `%0D`, `%0A`, then `%3A`, `%2C` in properties, then `%25`), `::group::`/`::endgroup::`
  fold the log into `groups` (flat, as in GitHub's log: a group opened inside another
  replaces it; `notes` says so), `::add-mask::` is recorded, `::debug::` too,
  `::stop-commands::TOKEN` … `::TOKEN::` suspends parsing. The commands GitHub disabled
  (`set-env`, `add-path`) fail the step as the runner does; the deprecated `set-output`
  and `save-state` fail it too (use the files).
* A failing step fails the action: the later steps are skipped (no `if:` is supported:
  an `ActionError`). The action's outputs are evaluated all the same.

Not emulated: masking of secrets in the log (kept raw, so a test can check that a token
never appears), step timeouts other than `timeout`, problem matchers, `if:`,
`continue-on-error`, nested actions.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SUMMARY_LIMIT = 1024 * 1024  # GitHub: "$GITHUB_STEP_SUMMARY supports content up to 1024k"
SETUP_PYTHON = re.compile(r"^actions/setup-python@([0-9a-f]{40})$")
STEP_KEYS = {"name", "id", "uses", "with", "run", "shell", "env", "working-directory"}
#: Variables of this process a job sees (a hosted runner has its own; these make the
#: machine usable: Docker, proxies, certificates, pip's configuration, locale).
PASSED_THROUGH = re.compile(
    r"^(HOME|USER|LANG|LC_[A-Z]+|TZ|TMPDIR|TERM|SHELL|DOCKER_[A-Z_]+|SSL_CERT_(FILE|DIR)"
    r"|REQUESTS_CA_BUNDLE|CURL_CA_BUNDLE|PIP_[A-Z_]+|(HTTPS?|NO|ALL)_PROXY|(https?|no|all)_proxy)$"
)


class ActionError(Exception):
    """The action uses something this runner does not support, or breaks a rule."""


@dataclass(frozen=True)
class Annotation:
    level: str  # error | warning | notice
    message: str
    file: str | None = None
    line: int | None = None
    end_line: int | None = None
    col: int | None = None
    end_column: int | None = None
    title: str | None = None
    step: str = ""

    def __str__(self) -> str:
        where = f" {self.file}:{self.line}" if self.file else ""
        return f"[{self.level}{where}] {self.message}"


@dataclass(frozen=True)
class LogLine:
    step: str
    stream: str  # stdout | stderr | runner
    text: str
    group: str | None  # the ::group:: it is folded under


@dataclass
class StepResult:
    id: str
    name: str
    outcome: str  # success | failure | skipped
    exit_code: int | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    summary: str = ""
    env_added: dict[str, str] = field(default_factory=dict)
    path_added: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class ActionResult:
    conclusion: str  # success | failure
    outputs: dict[str, str]
    steps: list[StepResult]
    annotations: list[Annotation]
    summary: str  # the job summary: every step's, in order
    log: list[LogLine]
    masks: list[str]
    debug: list[str]
    notes: list[str]  # what GitHub would show oddly (a group inside a group, …)
    groups: list[str]  # the titles of the log groups, in the order they were opened
    seconds: float

    def step(self, key: str) -> StepResult:
        for step in self.steps:
            if key in (step.id, step.name):
                return step
        raise KeyError(key)

    @property
    def errors(self) -> list[Annotation]:
        return [a for a in self.annotations if a.level == "error"]

    @property
    def warnings(self) -> list[Annotation]:
        return [a for a in self.annotations if a.level == "warning"]

    def group_text(self, title: str) -> str:
        return "\n".join(line.text for line in self.log if line.group == title)

    @property
    def log_text(self) -> str:
        return "\n".join(line.text for line in self.log)

    def report(self, tail: int = 80) -> str:
        """A readable account for an assertion message."""
        steps = ", ".join(f"{s.name or s.id}: {s.outcome}" for s in self.steps)
        lines = [f"conclusion {self.conclusion} ({steps})"]
        lines += [str(a) for a in self.annotations]
        lines += [f"{x.step} | {x.text}" for x in self.log[-tail:]]
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# Expressions


_EXPR = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)
_NAME = r"[A-Za-z_][A-Za-z0-9_-]*"
_PATH = re.compile(rf"^{_NAME}(\.{_NAME})*$")
_LITERAL = re.compile(r"^'((?:[^']|'')*)'$", re.DOTALL)


@dataclass
class Context:
    """What `${{ }}` expressions may read."""

    inputs: dict[str, str] | None  # lower-case name -> value; None: not available here
    github: dict[str, str]
    steps: dict[str, dict[str, str]]  # lower-case id -> outputs (lower-case names)
    where: str


def _evaluate(expression: str, ctx: Context) -> str:
    text = expression.strip()
    literal = _LITERAL.match(text)
    if literal:
        return literal.group(1).replace("''", "'")
    if re.fullmatch(r"tojson\(\s*inputs\s*\)", text.lower()):
        if ctx.inputs is None:
            raise ActionError(f"{ctx.where}: inputs are not available in ${{{{ {text} }}}}")
        return json.dumps(ctx.inputs, indent=2)
    if not _PATH.match(text):
        raise ActionError(f"{ctx.where}: unsupported expression ${{{{ {text} }}}}")
    parts = text.lower().split(".")
    if parts[0] == "inputs" and len(parts) == 2:
        if ctx.inputs is None:
            raise ActionError(f"{ctx.where}: inputs are not available in ${{{{ {text} }}}}")
        if parts[1] not in ctx.inputs:
            raise ActionError(f"{ctx.where}: ${{{{ {text} }}}} names an undeclared input")
        return ctx.inputs[parts[1]]
    if parts[0] == "github" and len(parts) == 2 and parts[1] in ctx.github:
        return ctx.github[parts[1]]
    if parts[0] == "steps" and len(parts) == 4 and parts[2] == "outputs":
        if parts[1] not in ctx.steps:
            raise ActionError(f"{ctx.where}: ${{{{ {text} }}}}: no step {parts[1]!r} ran before")
        return ctx.steps[parts[1]].get(parts[3], "")
    raise ActionError(f"{ctx.where}: unsupported expression ${{{{ {text} }}}}")


def _string(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def evaluate_template(value: Any, ctx: Context) -> str:
    """A `with:`/`env:`/output value with its `${{ }}` expressions evaluated, as a string."""
    if not isinstance(value, str):
        return _string(value)
    if "${{" in value and not _EXPR.search(value):
        raise ActionError(f"{ctx.where}: an unterminated expression in {value!r}")
    return _EXPR.sub(lambda m: _evaluate(m.group(1), ctx), value)


# ---------------------------------------------------------------------------------------
# File commands (the runner's parser: FileCommandManager.cs)


def parse_file_command(text: str, what: str) -> dict[str, str]:
    """`name=value` lines and `name<<DELIMITER` … `DELIMITER` heredocs, in order."""
    out: dict[str, str] = {}
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if line == "":
            continue
        eq, heredoc = line.find("="), line.find("<<")
        if eq >= 0 and (heredoc < 0 or eq < heredoc):
            name, value = line.split("=", 1)
            if not name:
                raise ActionError(f"{what}: invalid line {line!r}: the name must not be empty")
            out[name] = value
        elif heredoc >= 0:
            name, delimiter = line.split("<<", 1)
            if not name or not delimiter:
                raise ActionError(
                    f"{what}: invalid line {line!r}: the name and the delimiter must not be empty"
                )
            value_lines = []
            while True:
                if i >= len(lines) or (i == len(lines) - 1 and lines[i] == ""):
                    raise ActionError(f"{what}: matching delimiter not found {delimiter!r}")
                if lines[i] == delimiter:
                    i += 1
                    break
                value_lines.append(lines[i])
                i += 1
            out[name] = "\n".join(value_lines)
        else:
            raise ActionError(f"{what}: invalid line {line!r}")
    return out


# ---------------------------------------------------------------------------------------
# Workflow commands (the runner's parser: ActionCommand.TryParseV2)

COMMANDS = {
    "error",
    "warning",
    "notice",
    "debug",
    "group",
    "endgroup",
    "add-mask",
    "echo",
    "stop-commands",
    "add-matcher",
    "remove-matcher",
    "set-output",
    "save-state",
    "set-env",
    "add-path",
}


def _unescape(text: str, prop: bool) -> str:
    pairs = [("%0D", "\r"), ("%0A", "\n")]
    if prop:
        pairs += [("%3A", ":"), ("%2C", ",")]
    pairs.append(("%25", "%"))
    for escaped, plain in pairs:
        text = text.replace(escaped, plain)
    return text


def parse_command(line: str) -> tuple[str, dict[str, str], str] | None:
    """(command, properties, data) of a workflow command line, or None."""
    message = line.lstrip()
    if not message.startswith("::"):
        return None
    end = message.find("::", 2)
    if end < 0:
        return None
    info = message[2:end]
    space = info.find(" ")
    name = info if space < 0 else info[:space]
    if name not in COMMANDS:
        return None
    props: dict[str, str] = {}
    if space > 0:
        for item in info[space + 1 :].strip().split(","):
            if not item:
                continue
            pair = [p for p in item.split("=", 1) if p]
            if len(pair) == 2:
                props[pair[0]] = _unescape(pair[1], prop=True)
    return name, props, _unescape(message[end + 2 :], prop=False)


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


class _Output:
    """Collects one step's output lines and acts on their workflow commands."""

    def __init__(self, step: str, echo: bool) -> None:
        self.step = step
        self.echo = echo
        self.lock = threading.Lock()
        self.log: list[LogLine] = []
        self.annotations: list[Annotation] = []
        self.masks: list[str] = []
        self.debug: list[str] = []
        self.problems: list[str] = []
        self.notes: list[str] = []
        self.opened: list[str] = []  # group titles, in order
        self.group: str | None = None
        self.stopped: str | None = None  # the token of ::stop-commands::

    def line(self, stream: str, text: str) -> None:
        with self.lock:
            self._line(stream, text)

    def _line(self, stream: str, text: str) -> None:
        if self.echo:
            print(f"[{self.step}] {text}", flush=True)
        if self.stopped is not None:
            if text.strip() == f"::{self.stopped}::":
                self.stopped = None
                return
            self.log.append(LogLine(self.step, stream, text, self.group))
            return
        parsed = parse_command(text)
        if parsed is None:
            self.log.append(LogLine(self.step, stream, text, self.group))
            return
        name, props, data = parsed
        if name in ("error", "warning", "notice"):
            self.annotations.append(
                Annotation(
                    name,
                    data,
                    file=props.get("file"),
                    line=_int(props.get("line")),
                    end_line=_int(props.get("endLine")),
                    col=_int(props.get("col")),
                    end_column=_int(props.get("endColumn")),
                    title=props.get("title"),
                    step=self.step,
                )
            )
            self.log.append(LogLine(self.step, stream, f"{name.capitalize()}: {data}", self.group))
        elif name == "group":
            self.opened.append(data)
            if self.group is not None:  # GitHub's log does not nest: this one replaces it
                self.notes.append(f"group {data!r} opened inside group {self.group!r}")
            self.group = data
        elif name == "endgroup":
            if self.group is None:
                self.notes.append("an endgroup with no group open")
            self.group = None
        elif name == "add-mask":
            self.masks.append(data)
        elif name == "debug":
            self.debug.append(data)
        elif name == "stop-commands":
            self.stopped = data
        elif name in ("set-env", "add-path"):
            self.problems.append(f"the `{name}` command is disabled (use the files)")
        elif name in ("set-output", "save-state"):
            self.problems.append(f"the `{name}` command is deprecated (use the files)")


def _pump(pipe: Any, stream: str, sink: _Output) -> None:
    for raw in iter(pipe.readline, b""):
        sink.line(stream, raw.decode("utf-8", "replace").rstrip("\r\n"))
    pipe.close()


# ---------------------------------------------------------------------------------------
# The job


def _base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if PASSED_THROUGH.match(k)}
    entries = []
    for entry in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep):
        # No virtual environment leaks in: the action installs and finds its own.
        if entry and not (Path(entry).parent / "pyvenv.cfg").exists():
            entries.append(entry)
    env["PATH"] = os.pathsep.join(entries)
    return env


def _refs(event_name: str, event: dict[str, Any]) -> tuple[str, str, str, str]:
    """GITHUB_REF, GITHUB_SHA, GITHUB_HEAD_REF, GITHUB_BASE_REF as GitHub sets them."""
    if event_name in ("pull_request", "pull_request_target"):
        pr = event["pull_request"]
        if event_name == "pull_request":
            # GitHub: the merge ref and its test-merge commit; the head stands in for it.
            ref = f"refs/pull/{pr['number']}/merge"
            return ref, pr["head"]["sha"], pr["head"]["ref"], pr["base"]["ref"]
        base = event["repository"]["default_branch"]
        return f"refs/heads/{base}", pr["base"]["sha"], pr["head"]["ref"], pr["base"]["ref"]
    if event_name == "push":
        return event["ref"], event["after"], "", ""
    if event_name == "workflow_run":
        run = event["workflow_run"]
        return f"refs/heads/{event['repository']['default_branch']}", run["head_sha"], "", ""
    return str(event.get("ref") or ""), "", "", ""


def _check_python(spec: str, version: tuple[int, int, int]) -> None:
    parts = spec.strip().split(".")
    if not spec.strip() or not all(p.isdigit() or p in ("x", "*") for p in parts):
        raise ActionError(
            f"setup-python: python-version {spec!r} is not emulated "
            "(use MAJOR, MAJOR.MINOR, MAJOR.MINOR.PATCH or a trailing .x)"
        )
    for want, have in zip(parts, version, strict=False):
        if want in ("x", "*"):
            break
        if int(want) != have:
            raise ActionError(
                f"setup-python: python-version {spec!r} asked for, but the local interpreter "
                f"is {'.'.join(map(str, version))}"
            )


def _interpreter_version(python: str) -> tuple[int, int, int]:
    out = subprocess.run(
        [python, "-c", "import sys; print(*sys.version_info[:3])"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.split()
    return int(out[0]), int(out[1]), int(out[2])


def base_interpreter() -> str:
    """This process's interpreter outside any virtual environment."""
    return os.path.realpath(getattr(sys, "_base_executable", sys.executable))


@dataclass
class _Files:
    output: Path
    env: Path
    path: Path
    summary: Path
    state: Path

    @classmethod
    def fresh(cls, folder: Path) -> _Files:
        suffix = uuid.uuid4()
        files = cls(*(folder / f"{p}{suffix}" for p in _PREFIXES))
        for f in (files.output, files.env, files.path, files.summary, files.state):
            f.write_bytes(b"")
        return files

    def as_env(self) -> dict[str, str]:
        return {
            "GITHUB_OUTPUT": str(self.output),
            "GITHUB_ENV": str(self.env),
            "GITHUB_PATH": str(self.path),
            "GITHUB_STEP_SUMMARY": str(self.summary),
            "GITHUB_STATE": str(self.state),
        }


_PREFIXES = ("set_output_", "set_env_", "add_path_", "step_summary_", "save_state_")


class _Job:
    def __init__(
        self,
        action_dir: Path,
        runner_temp: Path,
        workspace: Path,
        base_env: dict[str, str],
        github: dict[str, str],
        python: str,
        echo: bool,
        timeout: float,
    ) -> None:
        self.action_dir = action_dir
        self.runner_temp = runner_temp
        self.workspace = workspace
        self.global_env = dict(base_env)  # the job env, then GITHUB_ENV additions
        self.prepend_path: list[str] = []  # as the runner keeps it: the last added first
        self.github = github
        self.python = python
        self.echo = echo
        self.timeout = timeout
        self.commands_dir = runner_temp / "_runner_file_commands"
        self.commands_dir.mkdir(parents=True, exist_ok=True)
        self.steps_outputs: dict[str, dict[str, str]] = {}
        self.log: list[LogLine] = []
        self.annotations: list[Annotation] = []
        self.summary: list[str] = []
        self.masks: list[str] = []
        self.debug: list[str] = []
        self.notes: list[str] = []
        self.groups: list[str] = []

    def env_for(self, step_env: dict[str, str], files: _Files) -> dict[str, str]:
        env = dict(self.global_env)
        env.update(step_env)
        env.update(files.as_env())
        env["PATH"] = os.pathsep.join([*reversed(self.prepend_path), self.global_env["PATH"]])
        return env

    def finish_step(self, result: StepResult, files: _Files, sink: _Output | None) -> None:
        """Process the step's files and output, as the runner does after each step."""
        if sink is not None:
            self.log += sink.log
            self.annotations += sink.annotations
            self.masks += sink.masks
            self.debug += sink.debug
            self.notes += [f"{result.name}: {note}" for note in sink.notes]
            self.groups += sink.opened
            for problem in sink.problems:
                self.log.append(LogLine(result.name, "runner", f"Error: {problem}", None))
                result.outcome = "failure"
        result.outputs = parse_file_command(files.output.read_text("utf-8"), "GITHUB_OUTPUT")
        result.env_added = parse_file_command(files.env.read_text("utf-8"), "GITHUB_ENV")
        self.global_env.update(result.env_added)
        for line in files.path.read_text("utf-8").splitlines():
            if line:
                if line in self.prepend_path:
                    self.prepend_path.remove(line)
                self.prepend_path.append(line)
                result.path_added.append(line)
        size = files.summary.stat().st_size
        if size > SUMMARY_LIMIT:
            raise ActionError(
                f"step {result.name!r}: $GITHUB_STEP_SUMMARY supports content up to "
                f"{SUMMARY_LIMIT // 1024}k, got {size // 1024}k"
            )
        result.summary = files.summary.read_text("utf-8")
        if result.summary:
            self.summary.append(result.summary)
        self.steps_outputs[result.id.lower()] = {k.lower(): v for k, v in result.outputs.items()}

    def run_script(
        self, result: StepResult, script: str, env: dict[str, str], cwd: Path
    ) -> _Output:
        path = self.runner_temp / f"{uuid.uuid4()}.sh"
        path.write_text(script, encoding="utf-8")
        bash = shutil.which("bash", path=env["PATH"])
        if bash is None:
            raise ActionError("bash is not on PATH")
        sink = _Output(result.name, self.echo)
        sink.line("runner", f"Run {script.splitlines()[0] if script.strip() else ''}")
        proc = subprocess.Popen(
            [bash, "--noprofile", "--norc", "-eo", "pipefail", str(path)],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        pumps = [
            threading.Thread(target=_pump, args=(proc.stdout, "stdout", sink), daemon=True),
            threading.Thread(target=_pump, args=(proc.stderr, "stderr", sink), daemon=True),
        ]
        for pump in pumps:
            pump.start()
        try:
            code = proc.wait(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            code = proc.wait()
            sink.line("runner", f"Error: the step timed out after {self.timeout:.0f} s")
        for pump in pumps:
            pump.join()
        result.exit_code = code
        if code != 0:
            sink.line("runner", f"Error: Process completed with exit code {code}.")
        result.outcome = "success" if code == 0 else "failure"
        return sink

    def setup_python(self, result: StepResult, with_: dict[str, str], files: _Files) -> None:
        unknown = set(with_) - {"python-version"}
        if unknown:
            raise ActionError(f"setup-python: with {sorted(unknown)} is not emulated")
        version = _interpreter_version(self.python)
        _check_python(with_.get("python-version", ""), version)
        text = ".".join(map(str, version))
        location = self.runner_temp / "_tool" / "Python" / text / "x64"
        bin_dir = location / "bin"
        bin_dir.mkdir(parents=True, exist_ok=True)
        for name in ("python", "python3", f"python{version[0]}.{version[1]}"):
            link = bin_dir / name
            if not link.exists():
                link.symlink_to(self.python)
        lib = Path(self.python).resolve().parents[1] / "lib"
        env_lines = {
            "pythonLocation": str(location),
            "PKG_CONFIG_PATH": str(location / "lib" / "pkgconfig"),
            "Python_ROOT_DIR": str(location),
            "Python2_ROOT_DIR": str(location),
            "Python3_ROOT_DIR": str(location),
            "LD_LIBRARY_PATH": str(lib),
        }
        files.env.write_text("".join(f"{k}={v}\n" for k, v in env_lines.items()))
        files.path.write_text(f"{location}\n{bin_dir}\n")
        files.output.write_text(
            f"python-version={text}\npython-path={bin_dir / 'python'}\ncache-hit=false\n"
        )
        result.exit_code = 0
        result.outcome = "success"


def _load_action(action_dir: Path) -> dict[str, Any]:
    for name in ("action.yml", "action.yaml"):
        if (action_dir / name).is_file():
            data = yaml.safe_load((action_dir / name).read_text(encoding="utf-8"))
            break
    else:
        raise ActionError(f"{action_dir}: no action.yml")
    runs = data.get("runs") or {}
    if runs.get("using") != "composite":
        raise ActionError(f"runs.using is {runs.get('using')!r}: only composite is supported")
    return data


def check_action(action_dir: Path) -> dict[str, Any]:
    """The action's definition, with our rules checked (no expression in a run body, …)."""
    data = _load_action(action_dir)
    ids: set[str] = set()
    for index, step in enumerate(data["runs"].get("steps") or []):
        where = f"runs.steps[{index}]"
        unknown = set(step) - STEP_KEYS
        if unknown:
            raise ActionError(f"{where}: {sorted(unknown)} not supported by this runner")
        if ("run" in step) == ("uses" in step):
            raise ActionError(f"{where}: a step has either run or uses")
        if "run" in step:
            if "${{" in str(step["run"]):
                raise ActionError(
                    f"{where} ({step.get('name', '')}): an expression in a run body "
                    "(template injection): pass the value through env instead"
                )
            if step.get("shell") != "bash":
                raise ActionError(f"{where}: shell {step.get('shell')!r} (only bash is emulated)")
        elif not SETUP_PYTHON.match(str(step["uses"])):
            raise ActionError(
                f"{where}: uses {step['uses']!r}: only actions/setup-python pinned by a "
                "40-hex commit SHA is emulated"
            )
        if "id" in step:
            if str(step["id"]).lower() in ids:
                raise ActionError(f"{where}: the id {step['id']!r} is used twice")
            ids.add(str(step["id"]).lower())
    return data


def run_action(
    action_dir: Path,
    *,
    event_name: str,
    event: dict[str, Any],
    workspace: Path,
    runner_temp: Path,
    inputs: dict[str, Any] | None = None,
    token: str = "",
    api_url: str = "https://api.github.com",
    repository: str | None = None,
    ref: str | None = None,
    sha: str | None = None,
    env: dict[str, str] | None = None,
    python: str | None = None,
    stop_after: str | None = None,
    echo: bool = False,
    timeout: float = 1800.0,
) -> ActionResult:
    """Run the composite action in `action_dir` for one event; see the module's doc.

    `stop_after` (a step's id or name) ends the run after that step (to prepare a
    RUNNER_TEMP once). An `ActionError` means the action broke a rule or needs something
    this runner does not emulate: a test failure, never a skip.
    """
    import json

    started = time.monotonic()
    action_dir = action_dir.resolve()
    workspace = workspace.resolve()
    runner_temp.mkdir(parents=True, exist_ok=True)
    runner_temp = runner_temp.resolve()
    data = check_action(action_dir)

    declared = {str(k).lower(): v or {} for k, v in (data.get("inputs") or {}).items()}
    given = {str(k).lower(): v for k, v in (inputs or {}).items()}
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise ActionError(
            f"Unexpected input(s) {', '.join(map(repr, unknown))}, valid inputs are "
            f"{sorted(declared)}"
        )

    event_file = runner_temp / "_github_workflow" / "event.json"
    event_file.parent.mkdir(parents=True, exist_ok=True)
    event_file.write_text(json.dumps(event), encoding="utf-8")
    d_ref, d_sha, head_ref, base_ref = _refs(event_name, event)
    ref = d_ref if ref is None else ref
    sha = d_sha if sha is None else sha
    if not ref or not sha:
        raise ActionError(
            f"a {event_name} payload does not give GITHUB_REF and GITHUB_SHA: pass ref= and sha="
        )
    repository = repository or event["repository"]["full_name"]
    server = (
        api_url.removesuffix("/api/v3") if api_url.endswith("/api/v3") else "https://github.com"
    )
    github = {
        "action_path": str(action_dir),
        "token": token,
    }
    job_env = _base_env()
    job_env.update(
        {
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_ACTION": "__run",
            "GITHUB_ACTION_PATH": str(action_dir),
            "GITHUB_ACTION_REPOSITORY": "",
            "GITHUB_ACTION_REF": "",
            "GITHUB_ACTOR": str((event.get("sender") or {}).get("login", "")),
            "GITHUB_API_URL": api_url,
            "GITHUB_BASE_REF": base_ref,
            "GITHUB_EVENT_NAME": event_name,
            "GITHUB_EVENT_PATH": str(event_file),
            "GITHUB_GRAPHQL_URL": api_url.removesuffix("/v3") + "/graphql",
            "GITHUB_HEAD_REF": head_ref,
            "GITHUB_JOB": "medperf",
            "GITHUB_REF": ref,
            "GITHUB_REF_NAME": ref.split("/", 2)[-1] if ref.startswith("refs/") else ref,
            "GITHUB_REF_TYPE": "tag" if ref.startswith("refs/tags/") else "branch",
            "GITHUB_REPOSITORY": repository,
            "GITHUB_REPOSITORY_OWNER": repository.split("/")[0],
            "GITHUB_RETENTION_DAYS": "90",
            "GITHUB_RUN_ATTEMPT": "1",
            "GITHUB_RUN_ID": "1000001",
            "GITHUB_RUN_NUMBER": "1",
            "GITHUB_SERVER_URL": server,
            "GITHUB_SHA": sha,
            "GITHUB_WORKFLOW": "medperf",
            "GITHUB_WORKSPACE": str(workspace),
            "RUNNER_ARCH": "X64",
            "RUNNER_NAME": "actions-runner (tests)",
            "RUNNER_OS": "Linux",
            "RUNNER_TEMP": str(runner_temp),
            "RUNNER_TOOL_CACHE": str(runner_temp / "_tool"),
        }
    )
    job_env.update(env or {})
    job = _Job(
        action_dir,
        runner_temp,
        workspace,
        job_env,
        github,
        python or base_interpreter(),
        echo,
        timeout,
    )

    # Inputs: the given ones, else the defaults (which may use github.*).
    resolved: dict[str, str] = {}
    for name, spec in declared.items():
        ctx = Context(None, github, {}, f"inputs.{name}.default")
        if name in given:  # the workflow evaluated `with:` already: literal values
            resolved[name] = _string(given[name])
        else:
            resolved[name] = evaluate_template(spec.get("default", ""), ctx)

    results: list[StepResult] = []
    failed = stopped = False
    for index, step in enumerate(data["runs"]["steps"]):
        step_id = str(step.get("id") or f"__{index}")
        ctx = Context(resolved, github, job.steps_outputs, f"runs.steps[{index}]")
        name = evaluate_template(step.get("name") or step.get("uses") or "Run", ctx)
        result = StepResult(step_id, name, "skipped")
        results.append(result)
        if failed or stopped:
            job.steps_outputs[step_id.lower()] = {}  # a skipped step's outputs are empty
            continue
        begun = time.monotonic()
        step_env = {str(k): evaluate_template(v, ctx) for k, v in (step.get("env") or {}).items()}
        files = _Files.fresh(job.commands_dir)
        sink: _Output | None = None
        if "uses" in step:
            with_ = {str(k): evaluate_template(v, ctx) for k, v in (step.get("with") or {}).items()}
            job.setup_python(result, with_, files)
        else:
            cwd = workspace
            if step.get("working-directory"):
                cwd = workspace / evaluate_template(step["working-directory"], ctx)
            sink = job.run_script(result, str(step["run"]), job.env_for(step_env, files), cwd)
        job.finish_step(result, files, sink)
        result.seconds = time.monotonic() - begun
        failed = result.outcome == "failure"
        stopped = stop_after is not None and stop_after in (step_id, name)

    ctx = Context(resolved, github, job.steps_outputs, "outputs")
    outputs = {
        str(name): evaluate_template((spec or {}).get("value", ""), ctx)
        for name, spec in (data.get("outputs") or {}).items()
    }
    return ActionResult(
        conclusion="failure" if failed else "success",
        outputs=outputs,
        steps=results,
        annotations=job.annotations,
        summary="".join(job.summary),
        log=job.log,
        masks=job.masks,
        debug=job.debug,
        notes=job.notes,
        groups=job.groups,
        seconds=time.monotonic() - started,
    )
