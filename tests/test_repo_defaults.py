"""One tool for the model owner: every command reads the same defaults from `.medperf.yml`
(found by walking up to the repository's top), one name per option, and a `validate` that
applies the role the repository gives its MLCube."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import click
import pytest
import yaml
from big_registry import association_doc
from click.testing import CliRunner

from medperf_action.cli import main, options
from medperf_action.errors import UsageError
from medperf_action.usecases.repo_config import RepoDefaults, find_config_above, repo_defaults
from medperf_action.usecases.validating import cube_role

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
#: The variables that would otherwise choose a registry or a token for the commands.
CLEAN = {
    "GITHUB_ACTIONS": "",
    "MEDPERF_REGISTRY": None,
    "GITHUB_TOKEN": None,
    "MEDPERF_REGISTRY_TOKEN": None,
    "GITHUB_REPOSITORY": None,
}


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A model repository as the guide builds it: examples/model-repo's settings, the
    example model as its MLCube, and a copy of the example registry beside it."""
    root = tmp_path / "my-model"
    shutil.copytree(EXAMPLES / "model", root)
    shutil.copy(EXAMPLES / "model-repo" / ".medperf.yml", root / ".medperf.yml")
    for part in ("registry", "data_preparator", "reference_model", "evaluator", "demo"):
        shutil.copytree(EXAMPLES / part, tmp_path / part)  # the registry's paths hold
    shutil.copytree(EXAMPLES / "model", tmp_path / "model")
    # this repository's mlcube has a pending request, and another owner's one is approved
    folder = tmp_path / "registry" / "associations" / "breast-cancer"
    folder.mkdir(parents=True)
    for mlcube_id, owner, status in (
        ("breast-cancer-centroid", "model-owner", "PENDING"),
        ("breast-cancer-lr", "benchmark-committee", "APPROVED"),
    ):
        doc = association_doc(mlcube_id, owner, status)
        (folder / f"{mlcube_id}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    (root / ".git").mkdir()  # the top of the repository
    config = root / ".medperf.yml"
    config.write_text(config.read_text().replace("medperf-action/example-registry", "../registry"))
    for name, value in CLEAN.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    monkeypatch.chdir(root)
    return root


def cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


# ---------------------------------------------------------------------------------------
# Finding the settings, and what they default


def test_the_settings_are_found_from_below_but_not_past_the_repository(repo: Path) -> None:
    assert find_config_above(repo / "mlcube" / "workspace") == repo / ".medperf.yml"
    outside = repo / "vendor" / "other"
    (outside / ".git").mkdir(parents=True)  # a nested repository (a submodule, say)
    assert find_config_above(outside) is None
    defaults = repo_defaults(start=repo / "project")
    assert defaults.mlcube_id == "breast-cancer-centroid"
    assert defaults.role == "model"
    assert defaults.mlcube_dir == Path("mlcube")  # relative to the current folder
    assert defaults.benchmarks == ["breast-cancer"]
    assert repo_defaults(start=outside) == RepoDefaults()


def test_the_registry_option_then_the_environment_then_the_settings(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    defaults = repo_defaults()
    assert defaults.registry(None) == str((repo.parent / "registry").resolve())
    monkeypatch.setenv("MEDPERF_REGISTRY", "org/env-registry")
    assert defaults.registry(None) == "org/env-registry"
    assert defaults.registry("org/given") == "org/given"
    # this repository under Actions only for the listings, and only when nothing else says
    monkeypatch.delenv("MEDPERF_REGISTRY")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_REPOSITORY", "org/the-registry")
    assert RepoDefaults().registry(None, this_repo=True) == "org/the-registry"
    assert RepoDefaults().registry(None) is None
    with pytest.raises(UsageError, match="no registry"):
        RepoDefaults().need_registry(None)


def test_several_benchmarks_need_the_option(repo: Path) -> None:
    config = repo / ".medperf.yml"
    config.write_text(config.read_text().replace("[breast-cancer]", "[breast-cancer, lung]"))
    defaults = repo_defaults()
    assert defaults.benchmark("lung") == "lung"
    with pytest.raises(UsageError, match=r"names 2 benchmarks \(breast-cancer, lung\)"):
        defaults.benchmark(None)


def test_the_listings_need_no_arguments_in_a_model_repository(repo: Path) -> None:
    code, out, _ = cli("benchmark", "ls", "--format", "json")
    assert code == 0
    assert [b["id"] for b in json.loads(out)["benchmarks"]] == ["breast-cancer"]
    # --mine on a local registry: the owner of this repository's mlcube, with no token
    code, out, err = cli("mlcube", "ls", "--mine", "--format", "json")
    assert code == 0, err
    rows = json.loads(out)["mlcubes"]
    assert {r["owner"] for r in rows} == {"model-owner"}
    assert "breast-cancer-centroid" in {r["id"] for r in rows}
    code, out, err = cli("association", "ls", "--mine", "--format", "json")
    assert code == 0, err
    mine = [(a["mlcube"], a["status"]) for a in json.loads(out)["associations"]]
    assert mine == [("breast-cancer-centroid", "PENDING")]


# ---------------------------------------------------------------------------------------
# One vocabulary


def test_renamed_options_still_work_for_one_release(repo: Path) -> None:
    code, out, err = cli(
        "association", "ls", "--mlcube", "breast-cancer-centroid", "--format", "json"
    )
    assert code == 0, err
    assert "note: --mlcube is now --mlcube-id" in err
    new = cli("association", "ls", "--mlcube-id", "breast-cancer-centroid", "--format", "json")
    assert json.loads(out) == json.loads(new[1])
    assert [a["mlcube"] for a in json.loads(out)["associations"]] == ["breast-cancer-centroid"]
    both = ("association", "ls", "--mlcube", "a", "--mlcube-id", "b")
    code, _, err = cli(*both)
    assert code == 2 and "--mlcube is the old name of --mlcube-id" in err
    # the old names are hidden: --help shows one vocabulary
    for command, old in (("test", "--model-id"), ("associate", "--mlcube")):
        code, out, _ = cli(command, "--help")
        assert code == 0 and "--mlcube-id" in out and f"{old} " not in out


@pytest.mark.parametrize("command", [("association", "ls"), ("plan",)])
def test_status_is_the_same_everywhere_in_any_case(repo: Path, command: tuple[str, ...]) -> None:
    registry = str(repo.parent / "registry")
    found = []
    for value in ("approved", "Approved", "APPROVED"):
        code, out, err = cli(*command, "--registry", registry, "--status", value)
        assert code == 0, err
        found.append(out)
    assert found[0] == found[1] == found[2] and "breast-cancer-lr" in found[0]
    assert "breast-cancer-centroid" not in found[0]  # PENDING, filtered out
    code, _, err = cli(*command, "--registry", registry, "--status", "done")
    assert code == 2 and "'pending', 'approved', 'rejected'" in err.lower()


# ---------------------------------------------------------------------------------------
# validate: the role the repository gives, the settings themselves, what package refuses


def misspell(repo: Path) -> None:
    manifest = repo / "mlcube" / "mlcube.yaml"
    manifest.write_text(manifest.read_text().replace("\n  infer:", "\n  infere:"))


def test_a_misspelt_task_is_an_error_in_a_model_repository(repo: Path) -> None:
    misspell(repo)
    assert cube_role(repo / "mlcube", None) == "model"
    assert cube_role(repo / "mlcube", "metrics") == "metrics"
    code, out, _ = cli("validate", "mlcube", "--format", "json")
    assert code == 1
    errors = {(f["code"], f["message"]) for f in json.loads(out) if f["severity"] == "error"}
    assert ("missing-task", "a model needs a task 'infer'") in errors
    assert (
        "unknown-task",
        "task 'infere' is not a task of a model; did you mean 'infer'?",
    ) in errors
    # and package, which reads the same role, writes nothing
    code, _, err = cli("package")
    assert code == 1 and "not a valid MLCube" in err
    assert not (repo / "mlcube" / "assets").exists()


def test_outside_a_repository_the_role_is_inferred_with_a_hint(repo: Path, tmp_path: Path) -> None:
    misspell(repo)
    loose = tmp_path / "loose"
    shutil.copytree(repo / "mlcube", loose / "mlcube")
    shutil.copytree(repo / "project", loose / "project")
    code, out, _ = cli("validate", str(loose), "--format", "json")
    assert code == 0  # no role known: a notice, as MedPerf would not know either
    notices = [f["message"] for f in json.loads(out) if f["severity"] == "notice"]
    assert any("did you mean 'infer'?" in n for n in notices)


def test_validate_at_the_root_checks_the_settings_and_the_mlcube(repo: Path) -> None:
    code, out, _ = cli("validate")
    assert code == 0
    assert out.strip().endswith(
        ".medperf.yml and mlcube/mlcube.yaml: valid (0 error(s), 0 warning(s))"
    )
    config = repo / ".medperf.yml"
    text = config.read_text()
    config.write_text(text.replace("id: breast", "id: Breast") + "associat: true\n")
    code, out, _ = cli("validate", "--format", "json")
    assert code == 1
    found = {(f["key"], f["code"]) for f in json.loads(out)}
    assert found == {("id", "schema"), ("associat", "schema")}
    config.write_text(text.replace("mlcube: mlcube", "mlcube: mlcub"))
    code, out, _ = cli("validate", str(repo), "--format", "json")
    assert code == 1
    assert [(f["key"], f["code"]) for f in json.loads(out)] == [("mlcube", "missing-file")]


def test_validate_reports_what_package_refuses(repo: Path) -> None:
    (repo / "mlcube" / "workspace" / "additional_files" / "passwd").symlink_to("/etc/passwd")
    code, out, _ = cli("validate", "--format", "json")
    assert code == 1
    (finding,) = json.loads(out)
    assert finding["code"] == "additional-files"
    assert finding["file"] == "mlcube/workspace/additional_files/passwd"
    assert "a symlink to /etc/passwd: an absolute target" in finding["message"]
    code, _, err = cli("package")
    assert code == 1 and "an absolute target" in err


# ---------------------------------------------------------------------------------------
# Small things a first-time user meets


def test_no_command_prints_the_help_as_a_result(repo: Path) -> None:
    code, out, err = cli()
    assert (code, err) == (0, "")
    assert out.startswith("Usage: ") and "Commands:" in out


def test_paths_outside_the_folder_are_shown_whole_and_values_without_quotes(
    repo: Path,
) -> None:
    code, _, err = cli("validate", "/nonexistent/mlcube")
    assert code == 2 and "no such file or directory: /nonexistent/mlcube" in err
    config = repo / ".medperf.yml"
    config.write_text(config.read_text().replace("mlcube: mlcube", "mlcube: mlcub"))
    code, out, _ = cli("validate", "--format", "json")
    assert code == 1
    (finding,) = json.loads(out)
    assert finding["value"] == "mlcub"  # the value itself, not '"mlcub"'
    assert finding["file"] == ".medperf.yml"


def test_jobs_means_one_thing_and_pairs_another(repo: Path) -> None:
    """`test --jobs`: containers side by side; `run --pairs`: tests side by side. The old
    `run --jobs` still works for one release, as --pairs."""
    code, out, _ = cli("run", "--help")
    assert "--pairs" in out and "--jobs INTEGER" not in out
    args = ("run", "--event-name", "pull_request", "--dry-run")
    code, out, err = cli(*args, "--jobs", "3")
    assert code == 0 and "note: --jobs is now --pairs" in err
    code, _, err = cli(*args, "--jobs", "3", "--pairs", "2")
    assert code == 2 and "--jobs is the old name of --pairs" in err
    code, _, err = cli(*args, "--jobs", "0")
    assert code == 2


def test_a_broken_settings_file_stops_only_what_needs_it(repo: Path) -> None:
    config = repo / ".medperf.yml"
    config.write_text(config.read_text() + "associat: true\n")
    registry = str(repo.parent / "registry")
    code, out, _ = cli("benchmark", "ls", "--registry", registry)
    assert code == 0 and "breast-cancer" in out  # told where to look: the file is not read
    code, _, err = cli("benchmark", "ls")
    assert code == 2 and ".medperf.yml is invalid" in err and "associat" in err


def test_a_renamed_option_hands_its_value_to_the_new_name() -> None:
    @click.command()
    @click.option("--pairs", type=click.IntRange(min=1), default=1)
    @options.renamed("--jobs", "--pairs", "pairs", type=click.IntRange(min=1))
    def command(pairs: int) -> None:
        click.echo(f"pairs={pairs!r}")

    def run(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(command, list(args))
        if isinstance(result.exception, UsageError):  # the main group makes it exit 2
            return 2, str(result.exception)
        return result.exit_code, result.stdout

    assert run() == (0, "pairs=1\n")
    assert run("--jobs", "3") == (0, "pairs=3\n")  # an int, as --pairs gives it
    assert run("--pairs", "2") == (0, "pairs=2\n")
    assert run("--jobs", "3", "--pairs", "3") == (0, "pairs=3\n")  # the same: no conflict
    assert run("--jobs", "3", "--pairs", "2")[0] == 2


def test_at_the_root_the_settings_errors_do_not_hide_the_mlcubes(repo: Path) -> None:
    config = repo / ".medperf.yml"
    config.write_text(config.read_text() + "associat: true\n")
    misspell(repo)
    code, out, _ = cli("validate", "--format", "json")
    assert code == 1
    found = {(f["file"], f["code"]) for f in json.loads(out) if f["severity"] == "error"}
    assert (".medperf.yml", "schema") in found
    assert ("mlcube/mlcube.yaml", "unknown-task") in found  # with the settings' role
    config.write_text(config.read_text().replace("mlcube: mlcube", "mlcube: /etc"))
    code, out, _ = cli("validate", "--format", "json")
    assert code == 1  # a path the schema refuses is not followed
    assert {f["file"] for f in json.loads(out)} == {".medperf.yml"}
