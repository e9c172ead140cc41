"""The registry's leaderboard workflow (.github/workflows/leaderboard.yml: the leaderboard
and Pages jobs) and the example registry's caller: least privilege, SHA-pinned official
actions, no loop; the render step and the commit script run for real. actionlint, zizmor
and check-jsonschema lint the same files (tests/test_workflow_lint.py).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import yaml
from click.testing import CliRunner
from leaderboard_world import build_registry

from medperf_action.cli import main
from medperf_action.usecases.dispatch import action_argv
from medperf_action.usecases.leaderboard import leaderboard

REPO = Path(__file__).resolve().parents[1]
PINNED = re.compile(r"^actions/[a-z-]+@[0-9a-f]{40}$")


def jobs() -> dict:
    workflow = yaml.safe_load((REPO / ".github/workflows/leaderboard.yml").read_text())
    assert workflow["permissions"] == {}
    return workflow["jobs"]


LEVEL = {"none": 0, "read": 1, "write": 2}


def test_the_leaderboard_job_may_only_write_contents() -> None:
    job = jobs()["leaderboard"]
    assert job["permissions"] == {"contents": "write"}
    assert "push" in job["if"] and "workflow_dispatch" in job["if"]
    assert "github.event.repository.default_branch" in job["if"]
    steps = job["steps"]
    render = next(s for s in steps if s.get("with", {}).get("command") == "registry")
    args = shlex.split(render["with"]["args"])
    assert args[0] == "leaderboard"
    assert args[args.index("--output") + 1] == "registry/leaderboard"
    commit = next(s for s in steps if "git push" in s.get("run", ""))
    assert "git add -A leaderboard" in commit["run"]  # nothing else is committed
    assert "git diff --cached --quiet" in commit["run"]  # an unchanged board: no commit
    upload = next(s for s in steps if "upload-pages-artifact" in s.get("uses", ""))
    assert PINNED.match(upload["uses"]) and upload["with"]["path"] == "_site"
    for step in steps:
        if "uses" in step and not step["uses"].startswith("./"):
            assert PINNED.match(step["uses"]), step["uses"]


def test_pages_runs_only_githubs_pinned_pages_actions() -> None:
    job = jobs()["pages"]
    assert job["needs"] == "leaderboard"
    assert job["permissions"] == {"pages": "write", "id-token": "write"}
    assert job["environment"]["name"] == "github-pages"
    uses = [s.get("uses", "") for s in job["steps"]]
    assert all(PINNED.match(u) for u in uses) and not any("run" in s for s in job["steps"])
    assert [u.split("@")[0] for u in uses] == ["actions/configure-pages", "actions/deploy-pages"]
    # only these two jobs of the leaderboard hold pages or write contents on a push
    for name, other in jobs().items():
        if name != "pages":
            assert "pages" not in (other.get("permissions") or {}), name


def test_the_example_caller_cannot_trigger_itself() -> None:
    caller = yaml.safe_load(
        (REPO / "examples/registry/.github/workflows/medperf-leaderboard.yml").read_text()
    )
    on = caller[True] if True in caller else caller["on"]  # YAML 1.1 reads `on` as true
    paths = on["push"]["paths"]
    assert "results/**" in paths
    assert not any(p.startswith(("leaderboard", "*", "**")) for p in paths), paths
    assert on["push"]["branches"] == ["main"] and "workflow_dispatch" in on
    (job,) = caller["jobs"].values()
    assert job["uses"].split("@")[0].endswith("/.github/workflows/leaderboard.yml")
    assert job["permissions"] == {"contents": "write", "pages": "write", "id-token": "write"}


def test_the_render_step_runs_as_the_workflow_writes_it(
    github_server, monkeypatch, tmp_path: Path
) -> None:
    """The action's inputs of the leaderboard job's render step, through the action's own
    argv builder, against a registry on the GitHub test server: the Markdown lands in the
    registry's checkout (registry/leaderboard) and the site in _site, stamped with the
    pushed commit."""
    monkeypatch.setenv("GITHUB_API_URL", github_server.api_url)
    monkeypatch.setenv("MEDPERF_ACTION_GITHUB_PAUSES", "0")
    monkeypatch.setenv("MEDPERF_ACTION_CACHE", str(tmp_path / "cache"))
    github_server.add_user("committee")
    source = build_registry(tmp_path / "source")
    files = {str(p.relative_to(source)): p.read_text() for p in sorted(source.rglob("*.yaml"))}
    repo = github_server.create_repo("committee/registry", files)
    sha = repo.refs["refs/heads/main"]
    monkeypatch.setenv("GITHUB_TOKEN", github_server.add_user("github-actions"))
    step = next(
        s for s in jobs()["leaderboard"]["steps"] if s.get("with", {}).get("command") == "registry"
    )
    args = step["with"]["args"]
    args = args.replace("${{ github.repository }}", "committee/registry")
    args = args.replace("${{ github.sha }}", sha)
    assert "${{" not in args
    argv = action_argv({"command": "registry", "args": args})
    monkeypatch.chdir(tmp_path)
    (tmp_path / "registry").mkdir()  # the checkout
    result = CliRunner().invoke(main, argv)
    assert result.exit_code == 0, result.output
    board = tmp_path / "registry" / "leaderboard"
    assert sorted(p.name for p in board.glob("*.md")) == ["README.md", "bc-one.md", "bc-two.md"]
    assert f"committee/registry at commit {sha}." in (board / "README.md").read_text()
    assert (tmp_path / "_site" / "bc-one.html").is_file()


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout.strip()


def test_the_commit_step_commits_only_a_changed_leaderboard(tmp_path: Path) -> None:
    """The job's commit script, run by bash in a clone of a bare repository: the first run
    commits leaderboard/ alone, on top of a push made meanwhile; a second run with nothing
    changed commits nothing."""
    step = next(s for s in jobs()["leaderboard"]["steps"] if "git push" in s.get("run", ""))
    assert step["working-directory"] == "registry"
    env = {**os.environ, **{k: str(v) for k, v in step["env"].items()}}
    env.update(BRANCH="main", GITHUB_SHA="f" * 40, HOME=str(tmp_path))
    env.pop("GIT_DIR", None)
    origin, clone, other = tmp_path / "origin.git", tmp_path / "registry", tmp_path / "other"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    build_registry(clone)
    git(clone, "init", "-q", "-b", "main")
    git(clone, "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A")
    git(clone, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "registry")
    git(clone, "remote", "add", "origin", str(origin))
    git(clone, "push", "-q", "origin", "main")
    # someone pushes a result while the job runs
    git(tmp_path, "clone", "-q", str(origin), str(other))
    (other / "results" / "note.txt").write_text("a later push")
    git(other, "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A")
    git(other, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "later")
    git(other, "push", "-q", "origin", "main")

    leaderboard(clone, clone / "leaderboard")

    def run_step() -> None:
        done = subprocess.run(
            ["bash", "-e", "-c", step["run"]],
            cwd=clone,  # the step's working-directory: the registry's checkout
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr

    run_step()
    log = git(origin, "log", "--format=%s|%an", "main").splitlines()
    assert log == ["Leaderboard for ffffffffffff|github-actions[bot]", "later|t", "registry|t"]
    changed = git(origin, "show", "--name-only", "--format=", "main").splitlines()
    assert changed and all(p.startswith("leaderboard/") for p in changed)
    assert "[skip ci]" in git(origin, "log", "-1", "--format=%B", "main")
    run_step()  # nothing changed: no commit
    assert len(git(origin, "log", "--format=%s", "main").splitlines()) == 3
