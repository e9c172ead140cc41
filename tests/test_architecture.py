"""The house rules that the folder tree alone cannot keep (docs/architecture.md).

import-linter keeps the layers (scripts/test.sh); these keep the rest: one error contract,
one CLI output module, the action's outputs, imports at module top, small functions.
"""

from __future__ import annotations

import ast
import importlib
import io
import pkgutil
import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
import yaml

import medperf_action
from medperf_action import errors
from medperf_action.adapters import ci
from medperf_action.cli import COMMANDS, main
from medperf_action.cli.errors import handled

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "medperf_action"
#: Third-party packages that cost tens of milliseconds to import: imported at first use,
#: inside the adapter (or the schema module) that needs them, never at start-up.
HEAVY = {
    "docker",
    "github",
    "requests",
    "urllib3",
    "jsonschema",
    "referencing",
    "model_signing",
    "cryptography",  # the signing adapter checks a key's type with it
    "in_toto_attestation",
    "google",
}
TERMINAL = {("sys", "stdout"), ("sys", "stderr"), ("click", "echo")}


def sources() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        yield str(path.relative_to(PACKAGE)), ast.parse(path.read_text(encoding="utf-8"))


def all_modules() -> list[str]:
    names = ["medperf_action"]
    for info in pkgutil.walk_packages(medperf_action.__path__, "medperf_action."):
        if info.name != "medperf_action.__main__":  # importing it runs the CLI
            names.append(info.name)
    return names


# --------------------------------------------------------------------------- errors


def test_every_error_is_one_of_the_contracts() -> None:
    """Every exception class of the package is in errors.py, or a private one deriving from
    an error of errors.py (or from KeyboardInterrupt: an interrupt)."""
    for name in all_modules():
        importlib.import_module(name)
    defined: list[type[BaseException]] = []
    pending: list[type[BaseException]] = [BaseException]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.__module__.startswith("medperf_action"):
            defined.append(cls)
    assert defined, "no exception classes found: the scan is broken"
    for cls in defined:
        if cls.__module__ == "medperf_action.errors":
            assert issubclass(cls, errors.MedperfError), cls
            continue
        assert cls.__name__.startswith("_"), f"{cls.__module__}.{cls.__name__}: in errors.py"
        assert issubclass(cls, errors.MedperfError | KeyboardInterrupt), cls


def _instance(cls: type[errors.MedperfError]) -> errors.MedperfError:
    if cls is errors.TaskFailed:
        return errors.TaskFailed("cube", "infer", 9, False, ["last line"])
    if cls is errors.HashMismatch:
        return errors.HashMismatch("file", "a" * 64, "b" * 64)
    return cls("what went wrong")


@pytest.fixture
def outside_actions(monkeypatch):
    """These tests read what a terminal shows; under GitHub Actions it is an annotation."""
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)


@pytest.mark.parametrize("cls", errors.all_errors(), ids=lambda c: c.__name__)
def test_the_handler_exits_with_each_errors_code(cls, capsys, outside_actions) -> None:
    with pytest.raises(SystemExit) as info, handled():
        raise _instance(cls)
    assert info.value.code == cls.exit_code
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err


def test_the_codes_tell_a_broken_model_from_a_missing_docker() -> None:
    codes = {
        errors.InvalidInput: 1,
        errors.UsageError: 2,
        errors.TaskFailed: 3,
        errors.ImageBuildFailed: 3,
        errors.DockerError: 4,
        errors.GitHubError: 4,
        errors.DownloadError: 4,
        errors.RequestRefused: 5,
        errors.DecisionRefused: 5,
    }
    assert {cls: cls.exit_code for cls in codes} == codes
    # the task's own exit code never shadows the process's
    assert errors.TaskFailed("c", "t", 9, False, []).exit_code == 3


def test_an_interrupt_is_130_and_a_bug_is_70_with_its_traceback(capsys, outside_actions) -> None:
    with pytest.raises(SystemExit) as info, handled():
        raise KeyboardInterrupt
    assert info.value.code == 130
    assert "interrupted" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info, handled():
        raise ZeroDivisionError("the bug")
    assert info.value.code == 70
    err = capsys.readouterr().err
    assert "Traceback" in err and "ZeroDivisionError: the bug" in err and "a bug" in err


def test_under_actions_an_error_is_an_annotation(capsys, monkeypatch) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    with pytest.raises(SystemExit), handled():
        raise errors.DockerError("cannot reach the Docker Engine\nstart one")
    shown = capsys.readouterr()
    assert shown.out == ""  # stdout keeps only results (a JSON listing, a matrix)
    assert shown.err == "::error title=medperf-action::cannot reach the Docker Engine%0Astart one\n"


def test_the_exit_codes_are_documented_in_the_readme_and_the_reference() -> None:
    rows = [line for line in (errors.__doc__ or "").splitlines() if re.match(r"\| \d+ \|", line)]
    assert [int(r.split("|")[1]) for r in rows] == [0, 1, 2, 3, 4, 5, 70, 130]
    used = {cls.exit_code for cls in errors.all_errors()}
    assert used <= {int(r.split("|")[1]) for r in rows}
    for doc in ("README.md", "docs/reference.md"):
        text = (ROOT / doc).read_text(encoding="utf-8")
        missing = [row for row in rows if row not in text]
        assert not missing, f"{doc} lacks {missing}"


# --------------------------------------------------------------------------- output


def test_action_outputs_are_exactly_the_outputs_the_cli_sets() -> None:
    action = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    declared = {
        name: " ".join(spec["description"].split()) for name, spec in action["outputs"].items()
    }
    assert declared == ci.OUTPUTS
    for name in declared:
        assert action["outputs"][name]["value"] == f"${{{{ steps.run.outputs.{name} }}}}"
    set_by_code: set[str] = set()
    for _, tree in sources():
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            called = node.func.attr if isinstance(node.func, ast.Attribute) else None
            first = node.args[0]
            if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
                continue
            if called in ("set_output", "set_json_output"):
                set_by_code.add(first.value)
            elif isinstance(node.func, ast.Name) and node.func.id == "_emit":
                set_by_code.add(f"{first.value}-json")  # the listings' outputs
    assert set_by_code == set(ci.OUTPUTS)


def test_an_undeclared_output_is_a_bug(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "out"))
    with pytest.raises(ValueError, match="not declared"):
        ci.set_output("made-up", "1")
    ci.set_output("valid", "true")
    assert (tmp_path / "out").read_text() == "valid=true\n"


def test_only_the_cli_and_the_ci_module_write_to_the_terminal() -> None:
    allowed = ("cli/", "adapters/ci.py")
    offenders = []
    for name, tree in sources():
        if name.startswith(allowed):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                if node.func.id == "print":
                    offenders.append(f"{name}:{node.lineno} print()")
            elif (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and (node.value.id, node.attr) in TERMINAL
            ):
                offenders.append(f"{name}:{node.lineno} {node.value.id}.{node.attr}")
    assert offenders == []


def test_the_progress_meter_draws_a_bar_on_a_terminal_and_lines_in_a_log() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Terminal()
    meter = ci.TerminalProgress(tty)
    meter("demo", 512, 1024, False)
    meter("demo", 1024, 1024, True)
    assert tty.getvalue().endswith("\rdemo: [" + "#" * 30 + "] 1.0 KiB / 1.0 KiB (100%)\x1b[K\n")
    log = io.StringIO()
    quiet = ci.TerminalProgress(log)
    quiet("demo", 1, None, False)
    quiet("demo", 2, None, True)
    assert log.getvalue() == ""  # too quick to need a line, and none at the end either


# --------------------------------------------------------------------------- imports, size


def test_own_imports_are_at_module_top_and_heavy_ones_in_adapters() -> None:
    """The dependency graph is visible at the top of each module; only the heavy SDKs
    are imported at first use, and only where they are adapted."""
    misplaced = []
    for name, tree in sources():
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(func):
                if isinstance(node, ast.ImportFrom):
                    modules = [node.module or ""]
                elif isinstance(node, ast.Import):
                    modules = [a.name for a in node.names]
                else:
                    continue
                for module in modules:
                    top = module.split(".")[0]
                    heavy_here = name.startswith("adapters/") or name == "domain/schemas.py"
                    if top not in HEAVY or not heavy_here:
                        misplaced.append(f"{name}:{node.lineno} import {module}")
    assert misplaced == []


def test_functions_and_modules_stay_small() -> None:
    long_functions, long_modules = [], []
    for name, tree in sources():
        last = max((getattr(n, "end_lineno", 0) or 0) for n in ast.walk(tree))
        if last > 500:
            long_modules.append(f"{name}: {last} lines")
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > 60:
                    long_functions.append(f"{name}:{node.lineno} {node.name}: {length} lines")
    assert long_functions == [] and long_modules == []


# --------------------------------------------------------------------------- the command line


def test_the_command_table_is_what_help_shows() -> None:
    ctx = click.Context(main)
    assert sorted(COMMANDS) == main.list_commands(ctx)
    for name, (_, text) in COMMANDS.items():
        command = main.get_command(ctx, name)
        assert command is not None, name
        assert command.hidden == (text is None), name
        if text is not None:
            assert (command.help or "").splitlines()[0] == text, name
    assert main.get_command(ctx, "nothing") is None


def test_help_loads_no_command_module() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from medperf_action.cli import main\n"
        "try: main(['--help'])\n"
        "except SystemExit: pass\n"
        "loaded = [m for m in sys.modules if m.startswith('medperf_action.') and "
        "m.split('.')[1] in ('usecases', 'domain') or "
        "m in ('docker', 'github', 'requests', 'model_signing', 'sigstore')]\n"
        "print(loaded, file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stderr.strip() == "[]", done.stderr


def test_the_architecture_page_names_every_module() -> None:
    """docs/architecture.md matches the tree: each package and module is named there."""
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.name in ("__init__.py", "__main__.py"):
            named = f"{rel.parent.name}/"
        else:
            named = path.stem if len(rel.parts) > 1 else rel.name
        if named not in ("./",) and named not in page:
            missing.append(str(rel))
    assert missing == []


def test_the_readme_lists_every_output_of_the_action() -> None:
    from medperf_action.adapters.ci import OUTPUTS

    readme = (ROOT / "README.md").read_text()
    listed = readme[readme.index("Outputs: ") : readme.index("exactly the outputs")]
    assert re.findall(r"`([a-z0-9-]+)`", listed) == list(OUTPUTS)
