"""A data owner's repository: what each event runs, `plan`'s runner labels, site.yml.

Unit tests without Docker or GitHub; the payloads come from @octokit/webhooks-examples.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import webhook_events
import yaml
from click.testing import CliRunner

from medperf_action.cli import main
from medperf_action.errors import UsageError
from medperf_action.usecases.dispatch import plan_for_event

ROOT = Path(__file__).resolve().parents[1]
SITE = {
    "registry": "org/registry",
    "dataset": {"id": "site-a", "name": "Site A"},
    "benchmarks": ["b1", "b2"],
    "runner": ["self-hosted", "medperf-site-a"],
}


@pytest.fixture
def site_repo(tmp_path: Path) -> Path:
    (tmp_path / ".medperf-site.yml").write_text(yaml.safe_dump(SITE))
    return tmp_path


def dispatched(repo: Path, **inputs: str) -> list[list[str]]:
    payload = webhook_events.load("workflow_dispatch")
    payload["inputs"] = inputs
    path = repo / "event.json"
    path.write_text(json.dumps(payload))
    plan = plan_for_event("workflow_dispatch", str(path), repo)
    assert plan.kind == "site"
    return [step.argv for step in plan.steps]


def test_each_dispatched_command_runs_its_site_command(site_repo: Path) -> None:
    assert dispatched(site_repo, command="prepare") == [["dataset", "prepare", "--benchmark", "b1"]]
    assert dispatched(site_repo, command="register") == [["dataset", "register"]]
    assert dispatched(site_repo, command="associate") == [
        ["dataset", "associate", "--benchmark", "b1"],
        ["dataset", "associate", "--benchmark", "b2"],
    ]
    assert dispatched(site_repo, command="run") == [["benchmark", "run"]]
    assert dispatched(site_repo, command="submit", **{"run-id": "0123456789ab"}) == [
        ["result", "submit", "0123456789ab"]
    ]


def test_the_release_needs_the_id_of_one_reviewed_run(site_repo: Path) -> None:
    for bad in ("", "all", "0123456789ab --all", "../../etc"):
        with pytest.raises(UsageError, match="run-id"):
            dispatched(site_repo, command="submit", **{"run-id": bad})
    # Nor may a dispatch smuggle in a model owner's or a committee's command.
    for command in ("test", "registry", "submit-all", ""):
        with pytest.raises(UsageError, match="use one of prepare, register"):
            dispatched(site_repo, command=command)


def test_a_schedule_runs_each_benchmark_and_nothing_runs_on_other_events(
    site_repo: Path,
) -> None:
    plan = plan_for_event("schedule", None, site_repo)
    assert [s.argv for s in plan.steps] == [["benchmark", "run"]]
    for event in ("push", "pull_request", "pull_request_target"):
        with pytest.raises(UsageError, match="does not act on"):
            plan_for_event(event, None, site_repo)


def test_a_site_config_must_name_a_self_hosted_runner(site_repo: Path) -> None:
    (site_repo / ".medperf-site.yml").write_text(
        yaml.safe_dump(dict(SITE, runner=["ubuntu-latest"]))
    )
    with pytest.raises(UsageError, match="invalid"):
        plan_for_event("schedule", None, site_repo)


def test_plan_gives_the_runner_labels_in_a_site_repository(
    site_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(site_repo)
    output = site_repo / "output"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    result = CliRunner().invoke(main, ["plan"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"runs-on": SITE["runner"]}
    assert json.loads(output.read_text().split("=", 1)[1]) == SITE["runner"]


def _workflow(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def test_site_workflow_keeps_data_jobs_on_the_sites_runner_and_uploads_nothing() -> None:
    flow = _workflow(ROOT / ".github" / "workflows" / "site.yml")
    plan, site = flow["jobs"]["plan"], flow["jobs"]["site"]
    # The GitHub-hosted plan job reads .medperf-site.yml alone and runs nothing else.
    assert plan["runs-on"] == "ubuntu-latest"
    assert plan["steps"][0]["with"]["sparse-checkout"].split() == [
        ".medperf-site.yml",
        ".medperf-site.yaml",
    ]
    assert [s["with"]["command"] for s in plan["steps"] if "command" in s.get("with", {})] == [
        "plan"
    ]
    assert site["runs-on"] == "${{ fromJSON(needs.plan.outputs.runs-on) }}"
    text = (ROOT / ".github" / "workflows" / "site.yml").read_text()
    assert "upload-artifact" not in text and "MEDPERF_DATA_PATH" not in yaml.safe_dump(site)
    assert site["permissions"] == {"contents": "read"}


def test_example_site_repository_is_valid_and_calls_site_yml() -> None:
    repo = ROOT / "examples" / "site-repo"
    plan = plan_for_event("schedule", None, repo)
    assert plan.kind == "site" and plan.steps
    caller = _workflow(repo / ".github" / "workflows" / "medperf-site.yml")
    job = caller["jobs"]["medperf"]
    assert job["uses"].split("@")[0].endswith("/.github/workflows/site.yml")
    options = caller[True]["workflow_dispatch"]["inputs"]["command"]["options"]
    assert options == ["prepare", "register", "associate", "run", "submit"]
