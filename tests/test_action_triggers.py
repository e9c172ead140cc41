"""The REAL action.yml, driven as GitHub would drive it, for each trigger.

tests/actions_runner.py executes the composite action's steps as the Actions runner does
(file commands, expressions, `bash -eo pipefail`, workflow commands; setup-python
swapped for the local interpreter). The scenarios run it in alice's model repository
(a checkout of the example model with a `.medperf.yml`) against the GitHub test server
(a published world: registry `medperf/registry`, benchmark `breast-cancer`) and real
Docker, with payloads from @octokit/webhooks-examples. Each checks the action's outputs,
the job summary and the annotations.

The action's install step (`pip install` of this repository into a venv under
$RUNNER_TEMP) really runs once per module; every scenario then gets a fresh RUNNER_TEMP
where that venv is linked, so the step's "already installed" path runs. The compatibility
test's steps are cached across scenarios (MEDPERF_ACTION_CACHE in a module folder).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from pathlib import Path

import docker
import pytest
import webhook_events
import yaml
from actions_runner import (
    ActionError,
    ActionResult,
    Context,
    check_action,
    evaluate_template,
    parse_command,
    parse_file_command,
    run_action,
)
from conftest import INSTALL_SECONDS, LOCAL_PYTHON, VENV_PREFIX
from registry_world import BENCH, MODEL, REG, build_world, staged, verify

from medperf_action.domain.registry.layout import submission_marker

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
MODEL_REPO = "alice/wdbc-centroid"
TIMES: dict[str, float] = {}


# ---------------------------------------------------------------------------------------
# The runner itself (no Docker, no server)


def _ctx(**steps: dict[str, str]) -> Context:
    return Context({"command": "run", "registry-token": "t0k"}, {"token": "gh"}, steps, "here")


def test_runner_expressions() -> None:
    ctx = _ctx(run={"valid": "true", "summary-json": "{}"})
    assert evaluate_template("${{ inputs.command }}", ctx) == "run"
    assert evaluate_template("x-${{inputs.REGISTRY-TOKEN}}-y", ctx) == "x-t0k-y"
    assert evaluate_template("${{ github.token }}", ctx) == "gh"
    assert evaluate_template("${{ steps.run.outputs.valid }}", ctx) == "true"
    assert evaluate_template("${{ steps.run.outputs.release-url }}", ctx) == ""
    assert evaluate_template("${{ 'it''s' }}", ctx) == "it's"
    assert evaluate_template(True, ctx) == "true"
    for bad in (
        "${{ inputs.nope }}",
        "${{ steps.later.outputs.x }}",
        "${{ github.event.pull_request.title }}",
        "${{ inputs.command || 'run' }}",
        "${{ secrets.TOKEN }}",
        "${{ inputs.command",
    ):
        with pytest.raises(ActionError):
            evaluate_template(bad, ctx)


def test_runner_file_commands_and_workflow_commands() -> None:
    text = "a=1\n\nb=x=y\nmulti<<EOF\nline 1\n\nline 3\nEOF\nc<<D\nD\n"
    assert parse_file_command(text, "f") == {
        "a": "1",
        "b": "x=y",
        "multi": "line 1\n\nline 3",
        "c": "",
    }
    for bad in ("=v\n", "x<<EOF\nno end\n", "novalue\n", "<<EOF\nEOF\n"):
        with pytest.raises(ActionError):
            parse_file_command(bad, "f")
    assert parse_command(
        "  ::error file=mlcube/mlcube%3Ax.yaml,line=3,title=a%2Cb::bad%0Anews 100%25"
    ) == ("error", {"file": "mlcube/mlcube:x.yaml", "line": "3", "title": "a,b"}, "bad\nnews 100%")
    assert parse_command("::group::Run tests") == ("group", {}, "Run tests")
    assert parse_command("::unknown::x") is None
    assert parse_command("not ::error::x") is None


def test_runner_refuses_expressions_in_run_bodies_and_unknown_uses(tmp_path: Path) -> None:
    def attempt(steps: list, inputs: dict | None = None) -> None:
        action = tmp_path / "action"
        action.mkdir(exist_ok=True)
        doc = {"name": "x", "inputs": {"a": {"default": ""}}, "runs": {"using": "composite"}}
        doc["runs"]["steps"] = steps
        (action / "action.yml").write_text(yaml.safe_dump(doc))
        run_action(
            action,
            event_name="push",
            event=webhook_events.load("push"),
            workspace=tmp_path,
            runner_temp=tmp_path / "temp",
            inputs=inputs,
        )

    with pytest.raises(ActionError, match="template injection"):
        attempt([{"shell": "bash", "run": "echo ${{ inputs.a }}"}])
    with pytest.raises(ActionError, match="only actions/setup-python"):
        attempt([{"uses": "actions/checkout@v4"}])
    with pytest.raises(ActionError, match="pinned"):
        attempt([{"uses": "actions/setup-python@v5"}])
    with pytest.raises(ActionError, match="Unexpected input"):
        attempt([{"shell": "bash", "run": "true"}], {"b": "1"})
    with pytest.raises(ActionError, match="not supported"):
        attempt([{"shell": "bash", "run": "true", "if": "always()"}])


def test_real_action_obeys_the_runner_rules() -> None:
    """action.yml: no expression in a run body, only setup-python (pinned) as `uses:`, and
    every expression one the runner evaluates (checked here without Docker)."""
    data = check_action(ROOT)
    text = (ROOT / "action.yml").read_text()
    expressions = re.findall(r"\$\{\{.*?\}\}", text)
    assert expressions
    ids = {str(s["id"]).lower(): {} for s in data["runs"]["steps"] if "id" in s}
    inputs = {name.lower(): "" for name in data["inputs"]}
    ctx = Context(inputs, {"action_path": str(ROOT), "token": "t"}, ids, "action.yml")
    for expression in expressions:
        evaluate_template(expression, ctx)
    declared = {name.lower() for name in data["inputs"]}
    used = {m.lower() for m in re.findall(r"inputs\.([A-Za-z0-9_-]+)", text)}
    if re.search(r"\$\{\{\s*toJSON\(inputs\)\s*\}\}", text):
        used |= declared  # all of them, in one JSON value
    assert used == declared, used ^ declared  # each input reaches a step, no other is used


def test_runner_contract_between_steps(tmp_path: Path) -> None:
    """GITHUB_OUTPUT/ENV/PATH/STEP_SUMMARY per step, and what the later steps see."""
    action = tmp_path / "action"
    action.mkdir()
    first = (
        'echo "greeting=hello" >> "$GITHUB_OUTPUT"\n'
        'printf "text<<EOF\\nline 1\\nline 2\\nEOF\\n" >> "$GITHUB_OUTPUT"\n'
        'echo "FROM_FIRST=yes" >> "$GITHUB_ENV"\n'
        'mkdir -p "$RUNNER_TEMP/bin" && echo "$RUNNER_TEMP/bin" >> "$GITHUB_PATH"\n'
        'printf "#!/bin/sh\\necho tool ran\\n" > "$RUNNER_TEMP/bin/mytool"\n'
        'chmod +x "$RUNNER_TEMP/bin/mytool"\n'
        'echo "## first" >> "$GITHUB_STEP_SUMMARY"\n'
        'echo "::warning file=a.txt,line=2::careful"\n'
        'echo "::group::inside"; echo folded; echo "::endgroup::"\n'
        'echo "$GITHUB_OUTPUT" > "$RUNNER_TEMP/first-output"\n'
    )
    second = (
        'test "$FROM_FIRST" = yes\n'
        'test "$GREETING" = hello\n'
        'test "$(mytool)" = "tool ran"\n'
        'test "$GITHUB_OUTPUT" != "$(cat "$RUNNER_TEMP/first-output")"\n'
        'test ! -s "$GITHUB_OUTPUT"\n'
        'test "$GITHUB_ACTIONS" = true && test "$CI" = true\n'
        'test "$PWD" = "$GITHUB_WORKSPACE"\n'
        'test -f "$GITHUB_EVENT_PATH" && test "$GITHUB_EVENT_NAME" = push\n'
        'test "$(python -c "import sys; print(sys.prefix == sys.base_prefix)")" = True\n'
        'echo "::error::second%0Afails"\n'
        "false | true\n"  # pipefail: the pipeline's status is false's
    )
    doc = {
        "name": "x",
        "inputs": {"python-version": {"default": LOCAL_PYTHON}},
        "outputs": {
            "greeting": {"value": "${{ steps.first.outputs.greeting }}"},
            "text": {"value": "${{ steps.first.outputs.text }}"},
        },
        "runs": {
            "using": "composite",
            "steps": [
                {
                    "uses": "actions/setup-python@" + "a" * 40,
                    "with": {"python-version": "${{ inputs.python-version }}"},
                },
                {"id": "first", "shell": "bash", "run": first},
                {
                    "id": "second",
                    "shell": "bash",
                    "env": {"GREETING": "${{ steps.first.outputs.greeting }}"},
                    "run": second,
                },
                {"shell": "bash", "run": "echo never"},
            ],
        },
    }
    (action / "action.yml").write_text(yaml.safe_dump(doc))
    workspace = tmp_path / "ws"
    workspace.mkdir()
    result = run_action(
        action,
        event_name="push",
        event=webhook_events.load("push", ref="refs/heads/main"),
        workspace=workspace,
        runner_temp=tmp_path / "temp",
    )
    assert result.outputs == {"greeting": "hello", "text": "line 1\nline 2"}
    assert [s.outcome for s in result.steps] == ["success", "success", "failure", "skipped"]
    assert result.steps[2].exit_code == 1
    assert result.summary == "## first\n"
    assert [(a.level, a.file, a.line, a.message) for a in result.annotations] == [
        ("warning", "a.txt", 2, "careful"),
        ("error", None, None, "second\nfails"),
    ]
    assert result.groups == ["inside"] and result.group_text("inside") == "folded"
    assert result.conclusion == "failure"


# ---------------------------------------------------------------------------------------
# The scenarios: the real action.yml, the GitHub test server, Docker


@pytest.fixture(scope="module", autouse=True)
def timings():
    yield
    for seconds in INSTALL_SECONDS:
        print(f"[action triggers] install (setup-python + pip install, once): {seconds:.1f} s")
    for name, seconds in TIMES.items():
        print(f"[action triggers] {name}: {seconds:.1f} s")


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory, docker_client, oci_registry: str):
    yield from staged(tmp_path_factory.mktemp("triggers"), oci_registry, honest_run=False)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("triggers-cache")


@pytest.fixture
def world(github_server, monkeypatch, stage, tmp_path):
    """The published world; alice's model is not in the registry yet."""
    return build_world(github_server, monkeypatch, stage, tmp_path, submitted=False)


def checkout(
    w, *, associate: bool = False, broken: bool = False, image: dict | None = None
) -> tuple[Path, str]:
    """alice's model repository: the example model and .medperf.yml (with `image`, how a
    release pins the image), pushed to the test server (so GITHUB_SHA is a real commit
    there). Returns the checkout and the commit."""
    root = w.tmp / "checkout"
    shutil.copytree(EXAMPLES / "model", root)
    config = {
        "mlcube": "mlcube",
        "id": MODEL,
        "name": "Nearest centroid",
        "registry": REG,
        "benchmarks": [BENCH],
        "associate": associate,
        **({"image": image} if image else {}),
    }
    (root / ".medperf.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    if broken:
        manifest = root / "mlcube" / "mlcube.yaml"
        text = manifest.read_text()
        assert "  infer:\n" in text
        manifest.write_text(text.replace("  infer:\n", "  infer:\n    entrypoint: 42\n", 1))
    files = {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    sha = w.gh.commit(MODEL_REPO, files, message="A better model", author=w.owner)
    return root, sha


def push_tag(w, tag: str, sha: str) -> dict:
    with w.gh.lock:  # the tag, pushed with its commit
        w.gh.repo(MODEL_REPO).refs[f"refs/tags/{tag}"] = sha
    return webhook_events.load(
        "push", repository=MODEL_REPO, ref=f"refs/tags/{tag}", after=sha, sender="alice"
    )


def act(
    w,
    name: str,
    event_name: str,
    event: dict,
    workspace: Path,
    installed: Path,
    cache: Path,
    inputs: dict | None = None,
    sha: str | None = None,
) -> ActionResult:
    w.gh.reset_counters()
    temp = w.tmp / "runner-temp"
    temp.mkdir()
    (venv,) = installed.glob(VENV_PREFIX + "*")
    (temp / venv.name).symlink_to(venv)  # installed once (see `installed`)
    result = run_action(
        ROOT,
        event_name=event_name,
        event=event,
        workspace=workspace,
        runner_temp=temp,
        # `token` keeps its default, ${{ github.token }}: the workflow's token.
        inputs={
            "registry-token": w.tokens["alice"],
            "python-version": LOCAL_PYTHON,
            **(inputs or {}),
        },
        token=w.tokens["alice"],
        api_url=w.gh.api_url,
        env={"MEDPERF_ACTION_CACHE": str(cache), "MEDPERF_ACTION_GITHUB_PAUSES": "0"},
        sha=sha,
    )
    TIMES[name] = result.seconds
    steps = ", ".join(f"{s.name} {s.outcome} {s.seconds:.1f} s" for s in result.steps)
    print(f"[{name}] {result.seconds:.1f} s, {w.gh.api_calls} REST calls; {steps}")
    for note in result.notes:
        print(f"[{name}] note: {note}")
    assert w.tokens["alice"] not in result.log_text + result.summary  # never printed
    return result


def assert_tested(result: ActionResult) -> dict:
    """validate, then test, ran and passed: their outputs and the summary's table."""
    assert result.conclusion == "success", result.report()
    assert result.errors == [], result.report()
    assert {a.file for a in result.annotations} <= {"mlcube/mlcube.yaml"}
    out = result.outputs
    assert out["valid"] == "true" and out["passed"] == "true"
    summary = json.loads(out["summary-json"])
    assert summary["passed"] is True and summary["benchmark"]["id"] == BENCH
    assert summary["cubes"]["candidate"]["id"] == MODEL
    assert summary["metrics"]["candidate"]["auc"] == pytest.approx(0.9746889746889746)
    assert f"### MedPerf compatibility test: {BENCH} (passed)" in result.summary
    assert "| metric | candidate | reference |" in result.summary
    assert "| auc | 0.9747 | 0.9961 |" in result.summary
    return summary


def titles(result: ActionResult) -> list[str]:
    """The `run` command's own log groups (each command it runs folds under its title)."""
    return [g for g in result.groups if not g.startswith("medperf-action ")]


@pytest.mark.docker
def test_branch_push_validates_and_tests(world, installed, cache) -> None:
    workspace, sha = checkout(world)
    event = webhook_events.load(
        "push", repository=MODEL_REPO, ref="refs/heads/main", after=sha, sender="alice"
    )
    result = act(world, "branch push", "push", event, workspace, installed, cache)
    assert_tested(result)
    assert titles(result) == ["validate .medperf.yml and the MLCube", f"test against {BENCH}"]
    for name in ("release-url", "assets-json", "pr-url", "association-status", "matrix"):
        assert result.outputs[name] == "", name
    assert (workspace / "medperf-results" / BENCH / "summary.json").is_file()
    assert world.gh.writes == 0  # a branch push reads the registry, and writes nothing


@pytest.mark.docker
def test_broken_manifest_on_a_branch_push_is_annotated(world, installed, cache) -> None:
    workspace, sha = checkout(world, broken=True)
    event = webhook_events.load(
        "push", repository=MODEL_REPO, ref="refs/heads/fix", after=sha, sender="alice"
    )
    result = act(world, "branch push, broken manifest", "push", event, workspace, installed, cache)
    assert result.conclusion == "failure"
    assert result.step("run").outcome == "failure" and result.step("run").exit_code == 1
    assert result.errors, result.report()
    assert {a.file for a in result.errors} == {"mlcube/mlcube.yaml"}
    lines = (workspace / "mlcube" / "mlcube.yaml").read_text().splitlines()
    for error in result.errors:
        assert "entrypoint" in lines[error.line - 1], error
        assert error.title.startswith("medperf-action: ")
    assert result.outputs["valid"] == "false"
    assert result.outputs["passed"] == "" and result.outputs["summary-json"] == ""
    assert (
        "error: step 'validate .medperf.yml and the MLCube' failed (exit code 1)" in result.log_text
    )
    assert titles(result) == [
        "validate .medperf.yml and the MLCube"
    ]  # the first failure stops the rest
    assert result.summary == ""


@pytest.mark.docker
def test_tag_push_publishes_and_submits(world, installed, cache) -> None:
    """`associate` stays false here: on a first release the submission is not merged yet
    (see test_first_release_with_associate_requests_nothing_before_the_merge)."""
    gh = world.gh
    workspace, sha = checkout(world)
    event = push_tag(world, "v1.1.0", sha)
    result = act(world, "tag push", "push", event, workspace, installed, cache)
    assert_tested(result)
    assert titles(result) == [
        "validate .medperf.yml and the MLCube",
        f"test against {BENCH}",
        "package the assets",
        "publish release v1.1.0",
        "submit to the registry",
    ]

    # publish: a new release of the packaged assets; their URLs and digests as outputs.
    (release,) = [r for r in gh.repo(MODEL_REPO).releases.values() if r.tag_name == "v1.1.0"]
    assert (
        result.outputs["release-url"]
        == f"{gh.api_url[: -len('/api/v3')]}/{MODEL_REPO}/releases/tag/v1.1.0"
    )
    record = json.loads(result.outputs["assets-json"])
    assert record["tag"] == "v1.1.0" and record["repository"] == MODEL_REPO
    published = {a.name: a.sha256 for a in release.assets.values()}
    names = {"mlcube.yaml", "parameters.yaml", "additional_files.tar.gz", "image.tar.gz"}
    assert names <= set(published)
    assert {k: v["sha256"] for k, v in record["assets"].items()} == published
    assert "### medperf-action package" in result.summary
    assert "| `mlcube.yaml` | " in result.summary

    # submit: a PR in the registry from alice's fork, naming the tag and its commit.
    (pr,) = [p for p in gh.repo(REG).pulls() if submission_marker(MODEL) in (p.body or "")]
    assert result.outputs["pr-url"].endswith(f"/{REG}/pull/{pr.number}")
    assert pr.pull.head_repo == "alice/registry" and pr.user == "alice"
    entry = yaml.safe_load(
        gh.files("alice/registry", ref=pr.pull.head_ref)[f"mlcubes/{MODEL}.yaml"]
    )
    assert entry["source"] == {"repository": MODEL_REPO, "ref": "refs/tags/v1.1.0", "commit": sha}
    assert entry["assets"]["mlcube"]["sha256"] == published["mlcube.yaml"]
    # The image is pinned by default: the release's archive, by its SHA-256.
    assert entry["image"]["archive"]["sha256"] == published["image.tar.gz"]
    assert result.outputs["association-status"] == ""
    assert len(gh.repo(REG).pulls()) == 1


@pytest.mark.docker
def test_first_release_with_associate_requests_nothing_before_the_merge(
    world, installed, cache
) -> None:
    gh = world.gh
    workspace, sha = checkout(world, associate=True)
    event = push_tag(world, "v1.1.0", sha)
    result = act(
        world, "tag push, associate, first release", "push", event, workspace, installed, cache
    )
    assert result.outputs["release-url"] and result.outputs["valid"] == "true"
    assert f"request association with {BENCH}" in titles(result)
    requests = [p for p in gh.repo(REG).pulls() if p.title.startswith("Associate ")]
    assert requests == [], "an association request for an mlcube the registry does not hold"
    assert "merged" in result.log_text  # and the owner is told why
    assert result.outputs["association-status"] == "WAITING-FOR-SUBMISSION"
    (submission,) = [p for p in gh.repo(REG).pulls() if p.title != "" and p not in requests]
    assert any(
        f"waiting for the committee to merge #{submission.number}" in a.message
        for a in result.annotations
    )


@pytest.fixture
def registered_world(github_server, monkeypatch, stage, tmp_path):
    """The published world with alice's model in the registry (its v1.0.0)."""
    return build_world(github_server, monkeypatch, stage, tmp_path, submitted=True)


@pytest.fixture
def pushed_to(oci_registry: str, docker_client):
    """A repository of this session in the session's OCI registry; the names a push gave
    images in the engine are removed afterwards."""
    repository = f"{oci_registry}/{os.environ['MEDPERF_ACTION_SESSION']}/alice-centroid"
    yield repository
    for image in docker_client.images.list(name=repository):
        for name in image.tags + image.attrs.get("RepoDigests", []):
            if name.startswith(repository):
                # Removing the tag may take the digest's name with it.
                with contextlib.suppress(docker.errors.ImageNotFound):
                    docker_client.images.remove(name)


@pytest.mark.docker
def test_next_release_with_associate_submits_and_requests_the_association(
    registered_world, installed, cache, pushed_to: str
) -> None:
    """.medperf.yml pushes the image (to the session's OCI registry on 127.0.0.1) instead
    of publishing it as an archive; the submitted entry names the pushed digest."""
    w, gh = registered_world, registered_world.gh
    repository = pushed_to
    workspace, sha = checkout(w, associate=True, image={"push": repository})
    event = push_tag(w, "v1.1.0", sha)
    result = act(w, "tag push, associate, next release", "push", event, workspace, installed, cache)
    assert_tested(result)
    assert titles(result)[-2:] == ["submit to the registry", f"request association with {BENCH}"]
    (submission,) = [p for p in gh.repo(REG).pulls() if submission_marker(MODEL) in (p.body or "")]
    (request,) = [p for p in gh.repo(REG).pulls() if p.title.startswith("Associate ")]
    # Both commands set pr-url (the last one wins, as in GitHub); each has its own too.
    assert result.outputs["pr-url"].endswith(f"/pull/{request.number}")
    assert result.outputs["association-pr-url"].endswith(f"/pull/{request.number}")
    assert result.outputs["submission-pr-url"].endswith(f"/pull/{submission.number}")
    assert submission.number != request.number
    entry = yaml.safe_load(
        gh.files("alice/registry", ref=submission.pull.head_ref)[f"mlcubes/{MODEL}.yaml"]
    )
    pinned = entry["image"]["reference"]
    assert pinned.startswith(f"{repository}@sha256:") and result.outputs["image-digest"] == pinned
    assert "image.tar.gz" not in {
        a.name for r in gh.repo(MODEL_REPO).releases.values() for a in r.assets.values()
    }
    assert result.outputs["association-status"] == "PENDING"
    record = yaml.safe_load(
        gh.files("alice/registry", ref=request.pull.head_ref)[f"associations/{BENCH}/{MODEL}.yaml"]
    )
    assert record["status"] == "PENDING" and record["initiated_by"] == "alice"
    assert record["result"]["metrics"]["auc"] == pytest.approx(0.9746889746889746)
    # The registry's verify re-runs it and agrees (the mlcube is on its default branch).
    code, _, err, doc = verify(w, request.number)
    assert code == 0 and doc["passed"], err


@pytest.mark.docker
def test_pull_request_validates_and_tests(world, installed, cache) -> None:
    workspace, sha = checkout(world)
    event = webhook_events.load(
        "pull_request",
        "opened",
        repository=MODEL_REPO,
        number=7,
        sender="alice",
        author="alice",
        head_repo=MODEL_REPO,
        head_ref="better-model",
        head_sha=sha,
        base_ref="main",
        default_branch="main",
    )
    result = act(world, "pull request", "pull_request", event, workspace, installed, cache)
    assert_tested(result)
    assert titles(result) == ["validate .medperf.yml and the MLCube", f"test against {BENCH}"]
    assert result.outputs["release-url"] == "" and result.outputs["pr-url"] == ""
    assert world.gh.writes == 0


@pytest.mark.docker
@pytest.mark.parametrize(
    ("event_inputs", "action_inputs", "output"),
    [
        ({"command": "plan"}, {}, "matrix"),
        ({"command": "validate", "args": "mlcube --format github"}, {}, "valid"),
        ({}, {"command": "validate"}, "valid"),  # the action's own input, not the event's
    ],
    ids=["event-plan", "event-validate", "input-validate"],
)
def test_workflow_dispatch_runs_the_command_asked_for(
    world, installed, cache, event_inputs, action_inputs, output
) -> None:
    workspace, sha = checkout(world)
    event = webhook_events.load(
        "workflow_dispatch",
        repository=MODEL_REPO,
        ref="refs/heads/main",
        sender="alice",
        inputs=event_inputs,
    )
    name = f"workflow_dispatch {event_inputs or action_inputs}"
    result = act(
        world, name, "workflow_dispatch", event, workspace, installed, cache, action_inputs, sha
    )
    assert result.conclusion == "success", result.report()
    assert result.errors == []
    others = {"valid", "matrix", "passed", "summary-json", "release-url", "pr-url"} - {output}
    assert {k: result.outputs[k] for k in others} == dict.fromkeys(others, "")
    if output == "matrix":
        assert json.loads(result.outputs["matrix"]) == {
            "include": [{"benchmark": BENCH, "mlcube": MODEL, "registry": REG}]
        }
    else:
        assert result.outputs["valid"] == "true"
        assert all(a.file == "mlcube/mlcube.yaml" for a in result.annotations)
    assert world.gh.writes == 0
