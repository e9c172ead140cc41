"""What each event calls for, the action's inputs as a command line, `plan`, and the docs.

Unit tests without Docker or GitHub; the real payloads come from @octokit/webhooks-examples.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import webhook_events
import yaml
from click.testing import CliRunner

from medperf_action.cli import main
from medperf_action.domain.validation import validate_path
from medperf_action.errors import UsageError
from medperf_action.usecases.dispatch import Step, action_argv, batches, plan_for_event

ROOT = Path(__file__).resolve().parents[1]
CONFIG = "mlcube: mlcube\nid: my-model\nname: Mine\nregistry: org/registry\nbenchmarks: [b1, b2]\nassociate: true\n"


@pytest.fixture
def model_repo(tmp_path: Path) -> Path:
    (tmp_path / ".medperf.yml").write_text(CONFIG)
    return tmp_path


def event_file(tmp_path: Path, payload: dict) -> str:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(payload))
    return str(path)


def commands(plan) -> list[list[str]]:
    return [step.argv for step in plan.steps]


def test_branch_push_validates_then_tests_each_benchmark(model_repo: Path) -> None:
    payload = webhook_events.load("push", ref="refs/heads/main")
    plan = plan_for_event("push", event_file(model_repo, payload), model_repo)
    assert plan.kind == "model"
    assert [argv[0] for argv in commands(plan)] == ["validate", "test", "test"]
    assert commands(plan)[1][commands(plan)[1].index("--benchmark") + 1] == "b1"
    assert "--mlcube-id" in commands(plan)[1]


def test_tag_push_also_packages_publishes_submits_and_associates(model_repo: Path) -> None:
    payload = webhook_events.load("push", ref="refs/tags/v2.0.0")
    plan = plan_for_event("push", event_file(model_repo, payload), model_repo)
    names = [argv[0] for argv in commands(plan)]
    assert names == [
        "validate",
        "test",
        "test",
        "package",
        "publish",
        "submit",
        "associate",
        "associate",
    ]
    package, publish = commands(plan)[3:5]
    assert publish[publish.index("--tag") + 1] == "v2.0.0"
    # By default the image goes with the release, as an archive the entry pins by hash.
    assert "--image-archive" in package and "--push-image" not in publish


def test_a_release_pushes_the_image_where_medperf_yml_says(model_repo: Path) -> None:
    config = model_repo / ".medperf.yml"
    doc = yaml.safe_load(config.read_text())
    config.write_text(yaml.safe_dump(dict(doc, image={"push": "ghcr.io/alice/centroid"})))
    payload = webhook_events.load("push", ref="refs/tags/v2.0.0")
    plan = plan_for_event("push", event_file(model_repo, payload), model_repo)
    package, publish = commands(plan)[3:5]
    assert package[-1] == "--build-image" and "--image-archive" not in package
    assert publish[publish.index("--push-image") + 1] == "ghcr.io/alice/centroid:v2.0.0"
    # A git tag Docker cannot use is said before anything is published.
    payload = webhook_events.load("push", ref="refs/tags/release/2.0")
    with pytest.raises(UsageError, match="cannot tag an image"):
        plan_for_event("push", event_file(model_repo, payload), model_repo)
    # And a repository with a tag in it is not a repository.
    config.write_text(yaml.safe_dump(dict(doc, image={"push": "ghcr.io/alice/centroid:1"})))
    with pytest.raises(UsageError, match="invalid"):
        plan_for_event("push", event_file(model_repo, payload), model_repo)


def test_pull_request_validates_and_tests(model_repo: Path) -> None:
    payload = webhook_events.load("pull_request", "opened", number=7)
    plan = plan_for_event("pull_request", event_file(model_repo, payload), model_repo)
    assert [argv[0] for argv in commands(plan)] == ["validate", "test", "test"]


def test_workflow_dispatch_runs_the_command_in_the_inputs(model_repo: Path) -> None:
    payload = webhook_events.load("workflow_dispatch")
    payload["inputs"] = {"command": "validate", "args": "mlcube --role model"}
    plan = plan_for_event("workflow_dispatch", event_file(model_repo, payload), model_repo)
    assert commands(plan) == [["validate", "mlcube", "--role", "model"]]
    payload["inputs"] = {"command": "rm -rf /", "args": ""}
    with pytest.raises(UsageError, match="use one of"):
        plan_for_event("workflow_dispatch", event_file(model_repo, payload), model_repo)


def test_registry_events(tmp_path: Path) -> None:
    (tmp_path / "registry.yaml").write_text("name: r\ncommittee: {users: [a]}\n")
    pr = webhook_events.load("pull_request", "opened", number=12)
    assert commands(plan_for_event("pull_request", event_file(tmp_path, pr), tmp_path)) == [
        ["registry", "verify", "--pr", "12"]
    ]
    run = webhook_events.load("workflow_run", "completed")
    path = event_file(tmp_path, run)
    assert commands(plan_for_event("workflow_run", path, tmp_path)) == [
        ["registry", "report", "--event", path, "--report", "verify-report"]
    ]
    labeled = webhook_events.load("pull_request", "labeled", number=3)
    path = event_file(tmp_path, labeled)
    assert commands(plan_for_event("pull_request_target", path, tmp_path)) == [
        ["registry", "on-label", "--event", path]
    ]
    with pytest.raises(UsageError, match="does not act on 'issues'"):
        plan_for_event("issues", path, tmp_path)


def test_unknown_repository_and_bad_event(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot tell what this repository is"):
        plan_for_event("push", None, tmp_path)
    (tmp_path / ".medperf.yml").write_text(CONFIG)
    (tmp_path / "event.json").write_text("not json")
    with pytest.raises(UsageError, match="not a readable JSON event"):
        plan_for_event("push", str(tmp_path / "event.json"), tmp_path)


def test_action_inputs_become_a_command_line_without_a_shell() -> None:
    inputs = {
        "command": "test",
        "mlcube": "cube",
        "benchmark": "b1",
        "registry": "o/r",
        "tag": "v1",
    }
    assert action_argv(inputs) == [
        "test",
        "--model",
        "cube",
        "--benchmark",
        "b1",
        "--registry",
        "o/r",
    ]
    assert action_argv({"command": "publish", "tag": "v1"}) == [
        "publish",
        "--assets",
        "mlcube/assets",
        "--tag",
        "v1",
    ]
    assert action_argv({}) == ["run"]
    # An input that looks like a shell command stays one argument.
    assert (
        action_argv({"command": "validate", "mlcube": "$(touch /tmp/x); rm -rf ~"})[1]
        == "$(touch /tmp/x); rm -rf ~"
    )
    with pytest.raises(UsageError):
        action_argv({"command": "sh"})


def test_batches_put_consecutive_tests_side_by_side() -> None:
    steps = [
        Step("v", ["validate"]),
        Step("1", ["test"]),
        Step("2", ["test"]),
        Step("3", ["test"]),
        Step("p", ["package"]),
    ]
    assert [[s.title for s in b] for b in batches(steps, 2)] == [["v"], ["1", "2"], ["3"], ["p"]]
    assert [[s.title for s in b] for b in batches(steps, 1)] == [["v"], ["1"], ["2"], ["3"], ["p"]]


def test_plan_prints_a_matrix_from_medperf_yml(
    model_repo: Path, monkeypatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(model_repo)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["plan"], env={"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(out)}
    )
    assert result.exit_code == 0, result.output
    matrix = json.loads(result.stdout)
    assert matrix == {
        "include": [
            {"benchmark": b, "mlcube": "my-model", "registry": "org/registry"} for b in ("b1", "b2")
        ]
    }
    assert out.read_text().startswith("matrix={")


def test_run_dry_run_and_a_failing_step(model_repo: Path, monkeypatch) -> None:
    monkeypatch.chdir(model_repo)
    result = CliRunner().invoke(main, ["run", "--event-name", "pull_request", "--dry-run"])
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0] == "medperf-action validate ."
    result = CliRunner().invoke(main, ["run", "--event-name", "pull_request"])
    assert result.exit_code == 1  # no mlcube/ here: validate's finding stops the rest
    assert "mlcube: no MLCube at this path" in result.output
    assert "step 'validate .medperf.yml and the MLCube' failed" in result.stderr


# ---------------------------------------------------------------------------------------
# Documentation that must not drift


def test_reference_is_up_to_date() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_reference.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


def test_example_model_repo_config_is_valid() -> None:
    report = validate_path(ROOT / "examples" / "model-repo" / ".medperf.yml")
    assert report.errors == []


def test_action_takes_the_mlcube_id_and_registry_from_medperf_yml() -> None:
    config = {"mlcube": "cube", "id": "my-model", "registry": "org/registry"}
    assert action_argv({"command": "test", "benchmark": "b1"}, config) == [
        "test",
        "--model",
        "cube",
        "--mlcube-id",
        "my-model",
        "--benchmark",
        "b1",
        "--registry",
        "org/registry",
    ]
    assert action_argv({"command": "validate"}, config) == [
        "validate",
        ".",
    ]  # the root: .medperf.yml and its MLCube
    assert action_argv({"command": "validate", "mlcube": "other"}, config) == [
        "validate",
        "other",
    ]
    # The listings and the registry's commands take their subcommand from args.
    assert action_argv({"command": "benchmark", "args": "ls --registry o/r"}) == [
        "benchmark",
        "ls",
        "--registry",
        "o/r",
    ]


def test_a_release_job_can_leave_the_tests_out(model_repo: Path) -> None:
    payload = webhook_events.load("push", ref="refs/tags/v3.0.0")
    plan = plan_for_event("push", event_file(model_repo, payload), model_repo, skip_tests=True)
    assert [argv[0] for argv in commands(plan)] == [
        "package",
        "publish",
        "submit",
        "associate",
        "associate",
    ]


def test_action_inputs_arrive_as_one_json_value() -> None:
    from medperf_action.usecases.dispatch import action_inputs

    inputs = action_inputs('{"command": "validate", "mlcube": "cube", "Token": null}')
    assert inputs == {"command": "validate", "mlcube": "cube", "token": ""}
    assert action_argv(inputs) == ["validate", "cube"]
    for bad in ("not json", "[1, 2]"):
        with pytest.raises(UsageError, match="MPA_INPUTS"):
            action_inputs(bad)


def test_steps_side_by_side_run_on_worker_threads() -> None:
    """`run --pairs N` runs a batch on worker threads, which have no click context of
    their own: each step still runs, and its own exit code comes back."""
    from medperf_action.cli.run import run_batch

    batch = [
        Step("valid", ["validate", str(ROOT / "examples" / "model"), "--format", "json"]),
        Step("missing", ["validate", str(ROOT / "examples" / "no-such-cube")]),
    ]
    assert run_batch(main, batch, 2) == [0, 2]
    assert run_batch(main, batch[:1], 1) == [0]


def test_the_actions_config_input_reaches_validate_and_test() -> None:
    """The role validate applies comes from the action's configuration too."""
    inputs = {"command": "validate", "config": "settings/medperf.yml"}
    assert action_argv(inputs) == ["validate", ".", "--config", "settings/medperf.yml"]
    argv = action_argv({"command": "test", "config": "settings/medperf.yml"})
    assert argv[argv.index("--config") + 1] == "settings/medperf.yml"


def test_a_tag_push_signs_keyless_when_the_settings_say_so(model_repo: Path) -> None:
    payload = webhook_events.load("push", ref="refs/tags/v2.0.0")
    package = commands(plan_for_event("push", event_file(model_repo, payload), model_repo))[3]
    assert package[0] == "package" and "--sign" not in package
    (model_repo / ".medperf.yml").write_text(CONFIG + "sign: true\n")
    package = commands(plan_for_event("push", event_file(model_repo, payload), model_repo))[3]
    assert "--sign" in package and "--key" not in package  # the job's OIDC identity signs


def test_a_tag_push_splits_into_the_release_and_the_association_requests(
    model_repo: Path,
) -> None:
    """Two jobs: the one that signs and attests (with an OIDC token) runs no container."""
    payload = webhook_events.load("push", ref="refs/tags/v2.0.0")
    path = event_file(model_repo, payload)

    def names(only: str | None) -> list[str]:
        plan = plan_for_event("push", path, model_repo, skip_tests=True, only=only)
        return [argv[0] for argv in commands(plan)]

    assert names(None) == ["package", "publish", "submit", "associate", "associate"]
    assert names("release") == ["package", "publish", "submit"]
    assert names("associate") == ["associate", "associate"]
