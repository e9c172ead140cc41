"""A GitHub registry read as one snapshot of its commit: what the listings and `registry
verify` cost in REST calls (counted by the test server, never timed), and a cache that
follows the ref and trusts nothing it holds."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from big_registry import BENCH, REG, build, cube_id, mlcube_doc
from click.testing import CliRunner

from medperf_action.adapters.files.snapshot import (
    MANIFEST,
    SNAPSHOTS,
    git_blob_sha,
    git_tree_sha,
    tree_of_folder,
)
from medperf_action.cli import main


@pytest.fixture
def env(github_server, monkeypatch, tmp_path) -> dict[str, Any]:
    """The environment of a command run against the test server, with its own cache."""
    for name in ("GITHUB_ACTIONS", "GITHUB_TOKEN", "MEDPERF_REGISTRY", "GITHUB_REPOSITORY"):
        monkeypatch.delenv(name, raising=False)
    values = {
        "GITHUB_API_URL": github_server.api_url,
        "MEDPERF_ACTION_GITHUB_PAUSES": "0",
        "MEDPERF_ACTION_INSECURE_HOSTS": "127.0.0.1",
        "MEDPERF_ACTION_CACHE": str(tmp_path / "cache"),
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def run(*args: str, token: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), env={"GITHUB_TOKEN": token})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def snapshots(env: dict[str, Any]) -> list[Path]:
    folder = Path(env["MEDPERF_ACTION_CACHE"]) / SNAPSHOTS
    return sorted(folder.iterdir()) if folder.is_dir() else []


def mlcube_rows(out: str) -> dict[str, str]:
    """`mlcube ls --format json`: id -> owner, of the registered ones."""
    return {c["id"]: c["owner"] for c in json.loads(out)["mlcubes"] if c["status"] != "PENDING"}


# ---------------------------------------------------------------------------------------
# Calls


def costs(gh: Any, reg: str, built: dict[str, Any], tmp: Path) -> dict[str, list[dict]]:
    """Each command's calls by operation, run twice: cold (an empty cache), then warm."""
    pr = str(built["submissions"][0])
    commands = {
        "benchmark ls": ["benchmark", "ls", "--registry", reg],
        "mlcube ls": ["mlcube", "ls", "--registry", reg],
        "association ls": ["association", "ls", "--registry", reg],
        "verify": ["registry", "verify", "--pr", pr, "--registry", reg, "--report", str(tmp)],
    }
    found: dict[str, list[dict]] = {}
    for label, args in commands.items():
        shutil.rmtree(os.environ["MEDPERF_ACTION_CACHE"], ignore_errors=True)  # cold
        found[label] = []
        for _ in ("cold", "warm"):
            gh.reset_counters()
            code, _, err = run(*args, token=built["tokens"]["carol"])
            # verify fails the submission's asset check (its URL answers 404): calls only
            assert code == (1 if label == "verify" else 0), err
            found[label].append(dict(gh.calls))
    return found


def test_calls_do_not_grow_with_the_registry(github_server, env, tmp_path):
    gh = github_server
    small = build(gh, 5, reg="mlcommons/small")
    large = build(gh, 150, reg="mlcommons/large")
    by_size = [
        costs(gh, "mlcommons/small", small, tmp_path / "small"),
        costs(gh, "mlcommons/large", large, tmp_path / "large"),
    ]
    assert by_size[0] == by_size[1]  # 5 or 150 entries: the same calls, one for one
    got = by_size[1]
    snapshot = {"repos/get-commit": 1, "repos/download-tarball-archive": 1}
    files = {"repos/get": 1, "repos/get-commit": 1}  # the default branch and its commit
    assert got["benchmark ls"] == [{**files, **snapshot}, files]
    # the PR listing (one page per 100 PRs), and each open submission's file at its head
    prs = {"pulls/list": 1, "repos/get-content": 2}
    assert got["mlcube ls"] == [{**files, **snapshot, **prs}, {**files, **prs}]
    assert got["association ls"] == [
        {**files, **snapshot, "pulls/list": 1},
        {**files, "pulls/list": 1},
    ]
    # the PR, its changes (a comparison of base and head) and the changed file at its head
    pull = {"pulls/get": 1, "repos/compare-commits-with-basehead": 1, "repos/get-content": 1}
    assert got["verify"] == [{**files, **snapshot, **pull}, {**files, **pull}]
    assert max(sum(c.values()) for runs in got.values() for c in runs) <= 7


def test_the_cache_follows_the_ref(github_server, env):
    gh = github_server
    built = build(gh, 3, requests=0)
    token = built["tokens"]["carol"]
    old = gh.repo(REG).refs["refs/heads/main"]
    code, out, err = run("mlcube", "ls", "--registry", REG, "--format", "json", token=token)
    assert code == 0, err
    assert [s.name for s in snapshots(env)] == [old]
    assert cube_id(3) not in mlcube_rows(out)

    # the branch moves: the new commit is fetched, and listed
    new = gh.commit(
        REG, {f"mlcubes/{cube_id(3)}.yaml": yaml.safe_dump(mlcube_doc(cube_id(3), "bob"))}
    )
    gh.reset_counters()
    code, out, err = run("mlcube", "ls", "--registry", REG, "--format", "json", token=token)
    assert code == 0, err
    assert mlcube_rows(out)[cube_id(3)] == "bob"
    assert gh.calls["repos/download-tarball-archive"] == 1
    assert sorted(s.name for s in snapshots(env)) == sorted([old, new])

    # and it does not move: one call for the files (the ref's commit), none for the tarball
    gh.reset_counters()
    code, out, err = run("benchmark", "ls", "--registry", f"{REG}@main", token=token)
    assert code == 0, err
    assert gh.calls == {"repos/get-commit": 1}

    # a registry pinned at the old commit reads the old snapshot, as it was
    gh.reset_counters()
    pinned = f"{REG}@{old}"
    code, out, err = run("mlcube", "ls", "--registry", pinned, "--format", "json", token=token)
    assert code == 0, err
    assert cube_id(3) not in mlcube_rows(out) and json.loads(out)["registry"] == pinned
    assert "repos/download-tarball-archive" not in gh.calls

    code, _, err = run("benchmark", "ls", "--registry", f"{REG}@no-such-branch", token=token)
    assert code == 2 and "no branch, tag or commit 'no-such-branch'" in err


def _tamper_file(root: Path) -> None:
    path = root / "files" / "mlcubes" / f"{cube_id(0)}.yaml"
    path.write_text(path.read_text().replace("owner: alice", "owner: mallory"))


def _tamper_file_and_tree(root: Path) -> None:
    """A file altered, and tree.json altered to match it: the tree no longer hashes to
    the commit's."""
    _tamper_file(root)
    doc = json.loads((root / MANIFEST).read_text())
    rel = f"mlcubes/{cube_id(0)}.yaml"
    doc["files"][rel][1] = git_blob_sha((root / "files" / rel).read_bytes())
    (root / MANIFEST).write_text(json.dumps(doc))


def _remove_file(root: Path) -> None:
    (root / "files" / "mlcubes" / f"{cube_id(0)}.yaml").unlink()


def _truncate_tree(root: Path) -> None:
    text = (root / MANIFEST).read_text()
    (root / MANIFEST).write_text(text[: len(text) // 2])


def _drop_tree(root: Path) -> None:
    (root / MANIFEST).unlink()


def _add_file(root: Path) -> None:
    """A file the commit does not have is never listed."""
    (root / "files" / "mlcubes" / "intruder.yaml").write_text(
        yaml.safe_dump(mlcube_doc("intruder", "mallory"))
    )


@pytest.mark.parametrize(
    "damage",
    [_tamper_file, _tamper_file_and_tree, _remove_file, _truncate_tree, _drop_tree, _add_file],
)
def test_a_damaged_snapshot_is_not_trusted(github_server, env, damage):
    gh = github_server
    built = build(gh, 3, requests=0)
    token = built["tokens"]["carol"]
    code, out, err = run("mlcube", "ls", "--registry", REG, "--format", "json", token=token)
    assert code == 0, err
    honest = mlcube_rows(out)
    assert honest[cube_id(0)] == "alice"
    (root,) = snapshots(env)
    damage(root)
    gh.reset_counters()
    code, out, err = run("mlcube", "ls", "--registry", REG, "--format", "json", token=token)
    assert code == 0, err
    assert mlcube_rows(out) == honest
    refetched = gh.calls["repos/download-tarball-archive"]
    assert refetched == (0 if damage is _add_file else 1)
    # after a refetch the snapshot is whole again: the next listing downloads nothing
    gh.reset_counters()
    assert run("mlcube", "ls", "--registry", REG, token=token)[0] == 0
    assert "repos/download-tarball-archive" not in gh.calls


def _archive(members: dict[str, bytes], top: str = "mlcommons-registry-0000000/") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name if name.startswith("..") else top + name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_an_archive_that_is_not_the_commit_is_never_used(github_server, env, monkeypatch):
    """An archive whose files are not the commit's tree (an attacker's, or a registry's
    export rules): not used, not kept; the same commit is read file by file instead."""
    gh = github_server
    built = build(gh, 3, requests=0)
    files = {p: b for p, b in gh.files(REG).items()}
    files[f"mlcubes/{cube_id(0)}.yaml"] = yaml.safe_dump(mlcube_doc(cube_id(0), "mallory")).encode()
    monkeypatch.setattr(gh, "archive", lambda full_name, sha: _archive(files))
    code, out, err = run(
        "mlcube", "ls", "--registry", REG, "--format", "json", token=built["tokens"]["carol"]
    )
    assert code == 0, err
    owners = {m["id"]: m["owner"] for m in json.loads(out)["mlcubes"]}
    assert owners[cube_id(0)] != "mallory"  # the commit's file, not the archive's
    assert snapshots(env) == []  # nothing kept, not even a partial folder


def test_an_unsafe_archive_writes_nothing(github_server, env, monkeypatch, tmp_path):
    gh = github_server
    built = build(gh, 3, requests=0)
    monkeypatch.setattr(gh, "archive", lambda full_name, sha: _archive({"../escaped": b"x"}))
    code, _, err = run("benchmark", "ls", "--registry", REG, token=built["tokens"]["carol"])
    assert code == 1 and "contains a '..' component" in err
    assert snapshots(env) == []
    assert not list(Path(env["MEDPERF_ACTION_CACHE"]).rglob("escaped"))


def test_a_failed_download_leaves_nothing(github_server, env):
    gh = github_server
    built = build(gh, 3, requests=0)
    token = built["tokens"]["carol"]
    gh.inject("GET", "/_codeload/", "status", status=404)
    code, _, err = run("benchmark", "ls", "--registry", REG, token=token)
    assert code == 4 and "HTTP 404" in err
    assert snapshots(env) == []
    code, out, err = run("benchmark", "ls", "--registry", REG, token=token)
    assert code == 0 and BENCH in out


def test_a_private_registry_is_read_with_the_links_token(github_server, env):
    gh = github_server
    gh.add_user("carol")
    reader = gh.add_user("reader")
    gh.create_repo("carol/secret", {"registry.yaml": "name: Private\n"}, private=True)
    gh.add_collaborator("carol/secret", "reader", "read")
    code, _, err = run("benchmark", "ls", "--registry", "carol/secret", token=reader)
    assert code == 0, err
    assert gh.calls["repos/download-tarball-archive"] == 1
    # the archive link is no way in without the token GitHub put in it
    url = gh.archive_url(gh.repo("carol/secret"), "main").split("?")[0]
    assert requests.get(url, timeout=10).status_code == 404


# ---------------------------------------------------------------------------------------
# Git's object IDs, as git itself computes them


def test_tree_sha_is_gits(tmp_path):
    folder = tmp_path / "tree"
    (folder / "a" / "b").mkdir(parents=True)
    (folder / "a" / "b" / "c.yaml").write_text("x: 1\n")
    (folder / "a.txt").write_text("sorted before the folder a/ by git's rule\n")
    (folder / "run.sh").write_text("#!/bin/sh\n")
    (folder / "run.sh").chmod(0o755)
    (folder / "link").symlink_to("a.txt")
    (folder / "empty").mkdir()  # not a git object
    files = tree_of_folder(folder)
    assert files["run.sh"][0] == "100755" and files["link"][0] == "120000"
    repo = tmp_path / "repo"
    git = ["git", "-C", str(repo), "-c", "core.fileMode=true", "-c", "core.symlinks=true"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(["cp", "-a", f"{folder}/.", str(repo)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    expected = subprocess.run(
        [*git, "write-tree"], check=True, capture_output=True, text=True
    ).stdout.strip()
    assert git_tree_sha(files) == expected
