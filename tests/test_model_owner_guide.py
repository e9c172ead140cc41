"""docs/model-owners.md, walked as a new model owner walks it: in a model repository made
from the guide's own `.medperf.yml`, each `medperf-action` command of the guide, typed
exactly as the guide shows it (no option the guide does not show), against the GitHub
test server (contract-checked) and real Docker; the committee's and the registry's parts
played between the steps as the guide says they happen. Each step's output is checked.
"""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from registry_world import (
    BENCH,
    MODEL,
    REG,
    add_label,
    build_world,
    labels,
    on_label,
    report,
    staged,
    verify,
)

from medperf_action.cli import main

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "model-owners.md"
#: The guide's placeholders, and what they are on the test server.
PLACES = {"my-org/medperf-registry": REG, "my-user/my-model": "alice/my-model"}
#: The guide's commands, in its order: the test below runs exactly these.
WALK = [
    "validate",
    "benchmark ls",
    "test",
    "package --image-archive",
    "publish --tag v1.0.0 --repo my-user/my-model",
    "submit",
    "mlcube ls --mine",
    "associate",
    "association ls --mine",
]


_EXPECTED = yaml.safe_load((ROOT / "examples" / "demo" / "expected-metrics.yaml").read_text())
#: The metric table's AUC row: the candidate's, then the reference model's.
AUC_ROW = (
    rf"^auc\s+{_EXPECTED[MODEL]['auc']:.4f}\s+{_EXPECTED['breast-cancer-lr']['auc']:.4f}$"
).replace(".", r"\.")


def fenced(kind: str) -> list[str]:
    """The guide's fenced blocks of this kind, in order."""
    text = GUIDE.read_text(encoding="utf-8")
    return re.findall(rf"^```{kind}\n(.*?)^```", text, flags=re.M | re.S)


def guide_commands() -> list[str]:
    return [
        line.removeprefix("medperf-action ").strip()
        for block in fenced("sh")
        for line in block.splitlines()
        if line.startswith("medperf-action ")
    ]


def test_the_guide_shows_the_commands_this_test_walks() -> None:
    assert guide_commands() == WALK


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory, docker_client, oci_registry: str):
    yield from staged(tmp_path_factory.mktemp("guide"), oci_registry, honest_run=False)


def test_a_model_owner_follows_the_guide(github_server, monkeypatch, stage, tmp_path) -> None:
    gh = github_server
    w = build_world(gh, monkeypatch, stage, tmp_path, submitted=False)
    gh.create_repo("alice/my-model", {"README.md": b"my model\n"})
    repo = tmp_path / "my-model"
    shutil.copytree(ROOT / "examples" / "model", repo)
    settings = fenced("yaml")[0]
    for placeholder, real in PLACES.items():
        settings = settings.replace(placeholder, real)
    (repo / ".medperf.yml").write_text(settings)
    assert yaml.safe_load(settings)["id"] == MODEL
    monkeypatch.chdir(repo)
    monkeypatch.setenv("MEDPERF_ACTION_CACHE", str(tmp_path / "cache"))
    steps = iter(WALK)

    def step(expected_code: int = 0) -> tuple[str, str]:
        """The guide's next command, as typed; its stdout and stderr."""
        line = next(steps)
        for placeholder, real in PLACES.items():
            line = line.replace(placeholder, real)
        token = w.tokens["alice"]
        result = CliRunner().invoke(
            main,
            shlex.split(line),
            # $MEDPERF_REGISTRY would win over .medperf.yml: the guide's reader has none
            env={"GITHUB_TOKEN": token, "MEDPERF_REGISTRY_TOKEN": token, "MEDPERF_REGISTRY": None},
        )
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        assert result.exit_code == expected_code, (line, result.stdout, result.stderr)
        return result.stdout, result.stderr

    # 1. validate: the settings and the MLCube, with the role .medperf.yml gives it
    out, _ = step()
    assert out.strip().endswith(
        ".medperf.yml and mlcube/mlcube.yaml: valid (0 error(s), 0 warning(s))"
    )
    # 2. the benchmarks, then the compatibility test on the registry's benchmark
    out, _ = step()
    assert re.search(rf"^{BENCH}\s+Breast cancer", out, flags=re.M)
    out, _ = step()
    assert f"candidate {MODEL} vs reference breast-cancer-lr" in out
    assert re.search(AUC_ROW, out, flags=re.M)
    # the two runs go by the same names in the task table as in the progress lines
    assert re.search(rf"^{MODEL}\s+infer \(candidate\)", out, flags=re.M)
    assert re.search(r"^breast-cancer-lr\s+infer \(reference\)", out, flags=re.M)
    # 3. package and publish
    out, _ = step()
    assets = repo / "mlcube" / "assets"
    assert "assets written to" in out and (assets / "image.tar.gz").is_file()
    out, _ = step()
    assert "release: http://127.0.0.1" in out and "image.tar.gz" in out
    # 4. submit; the submission is listed as pending, with its PR
    out, _ = step()
    assert out.startswith("opened: ")
    submission = int(out.strip().rsplit("/", 1)[1])
    out, _ = step()
    assert re.search(rf"^{MODEL}\s.*PENDING \(PR #{submission}\)", out, flags=re.M)
    # 5. associate before the committee merged the submission: it says what it waits for
    _, err = step(expected_code=5)
    assert f"waiting for the committee to merge #{submission}" in err

    # The registry's workflow checks the submission; a committee member merges it.
    code, _, err, doc = verify(w, submission)
    assert code == 0 and doc["kind"] == "submission", err
    assert report(w, submission)[0] == 0
    assert "medperf/verified" in labels(w, submission)
    gh.github(w.tokens["carol"]).get_repo(REG).get_pull(submission).merge()

    steps = iter(WALK[-2:])  # associate again, now that it is merged
    out, err = step()
    assert re.search(AUC_ROW, out, flags=re.M)
    assert "association requested: " in out
    request = int(out.strip().rsplit("/", 1)[1])
    assert "the registry's workflow labels the request" in err
    assert "403" not in err
    out, _ = step()
    assert re.search(rf"^{BENCH}\s+{MODEL}\s+PENDING \(awaiting verification\)", out, flags=re.M)
    assert f"#{request}" in out

    # The registry's workflow re-runs the test and labels the request.
    code, _, err, doc = verify(w, request)
    assert code == 0 and doc["passed"], err
    assert report(w, request)[0] == 0
    assert labels(w, request) == {"medperf/pending", "medperf/verified"}
    steps = iter(WALK[-1:])
    out, _ = step()
    assert re.search(rf"^{BENCH}\s+{MODEL}\s+PENDING\s+alice", out, flags=re.M)

    # A committee member approves.
    add_label(w, request, "medperf/approved", "carol")
    assert on_label(w, request, "medperf/approved", "carol")[0] == 0
    steps = iter(WALK[-1:])
    out, _ = step()
    assert re.search(rf"^{BENCH}\s+{MODEL}\s+APPROVED\s+alice", out, flags=re.M)
