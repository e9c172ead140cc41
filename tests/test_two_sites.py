"""Federated evaluation, end to end: two hospitals run the benchmark on their own data.

Each site's private dataset comes from the example generator (disjoint splits of the
training cases, never the demo's). Every site command runs as the site's workflow runs
it: the real action.yml, on a `workflow_dispatch` of the site's repository (the plan from
.medperf-site.yml), against the GitHub test server and real Docker. The committee
verifies, labels and merges through the registry's own commands. Among the approved
models is one that prints every row of its input to stdout and stderr.

Checked: each released result's metrics equal an independent computation on that site's
data (numpy and scikit-learn, not the benchmark's evaluator); the leaderboard's weighted
mean equals one computed here; and no case id and no feature value of either site's data
is anywhere the test server holds, in any job log or in any job summary.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import webhook_events
import yaml
from actions_runner import ActionResult, run_action
from click.testing import CliRunner
from conftest import LOCAL_PYTHON, REPO, VENV_PREFIX
from privacy import leaks, private_tokens, server_texts
from registry_world import BENCH, EXAMPLES, MODEL, REG, add_label, on_label, report, verify
from sklearn import metrics as skm
from test_site import LEAKY, site_world, stage  # noqa: F401

from medperf_action.cli import main
from medperf_action.domain.registry.layout import (
    dataset_association_marker,
    dataset_association_path,
    dataset_marker,
    result_marker,
    result_path,
)

pytestmark = pytest.mark.docker

REFERENCE = "breast-cancer-lr"
SITES = {"site-a": "site-a-wdbc", "site-b": "site-b-wdbc"}
MODELS = (REFERENCE, MODEL, LEAKY)


# ---------------------------------------------------------------------------------------
# An independent computation of the metrics


def _weights(folder: str) -> dict:
    path = EXAMPLES / folder / "mlcube" / "workspace" / "additional_files" / "weights.json"
    return json.loads(path.read_text())


def _probabilities(model: str, features: np.ndarray) -> np.ndarray:
    """Each model's probability of malignancy, with numpy, from its published weights."""
    if model == LEAKY:
        return np.full(len(features), 0.5)  # the leaky test model's constant guess
    w = _weights("reference_model" if model == REFERENCE else "model")
    z = (features - np.array(w["mean"])) / np.array(w["scale"])
    if model == REFERENCE:
        return 1 / (1 + np.exp(-(z @ np.array(w["coef"]) + w["intercept"])))
    to_m = np.linalg.norm(z - np.array(w["centroids"]["malignant"]), axis=1)
    to_b = np.linalg.norm(z - np.array(w["centroids"]["benign"]), axis=1)
    return to_b / (to_m + to_b)


def independent_metrics(site: Path, model: str) -> dict[str, float]:
    features = np.genfromtxt(site / "data" / "features.csv", delimiter=",", skip_header=1)
    labels = np.genfromtxt(site / "labels" / "labels.csv", delimiter=",", skip_header=1)
    y = labels[:, 1].astype(int)
    score = _probabilities(model, features[:, 1:])
    guess = (score >= 0.5).astype(int)
    return {
        "auc": skm.roc_auc_score(y, score),
        "accuracy": skm.accuracy_score(y, guess),
        "sensitivity": skm.recall_score(y, guess, pos_label=1),
        "specificity": skm.recall_score(y, guess, pos_label=0),
        "f1": skm.f1_score(y, guess),
    }


# ---------------------------------------------------------------------------------------
# A site: its repository, its runner, its private data


class Site:
    def __init__(self, world, login: str, root: Path, data: Path, venvs: Path) -> None:
        self.world, self.login, self.dataset = world, login, SITES[login]
        self.data, self.root = data, root
        self.repo = root / "site-repo"
        (self.repo / ".git").mkdir(parents=True)
        settings = {
            "registry": REG,
            "dataset": {"id": self.dataset, "name": f"{login} cohort", "location": login},
            "benchmarks": [BENCH],
            "runner": ["self-hosted", login],
        }
        (self.repo / ".medperf-site.yml").write_text(yaml.safe_dump(settings))
        self.venvs = venvs  # a RUNNER_TEMP where the action installed itself
        self.results: list[ActionResult] = []

    def dispatch(self, command: str, run_id: str = "") -> ActionResult:
        """One run of the site's workflow job, as site.yml runs it on the site's runner."""
        event = webhook_events.load(
            "workflow_dispatch", repository=f"{self.login}/site-repo", sender=self.login
        )
        event["inputs"] = {"command": command, "run-id": run_id}
        token = self.world.tokens[self.login]
        temp = self.root / f"runner-temp-{len(self.results)}"
        temp.mkdir(parents=True)
        (venv,) = self.venvs.glob(VENV_PREFIX + "*")
        (temp / venv.name).symlink_to(venv)
        result = run_action(
            REPO,
            event_name="workflow_dispatch",
            event=event,
            workspace=self.repo,
            runner_temp=temp,
            inputs={"registry-token": token, "python-version": LOCAL_PYTHON},
            token=token,
            api_url=self.world.gh.api_url,
            ref="refs/heads/main",
            sha="5" * 40,  # the site repository's commit (only .medperf-site.yml is read)
            env={
                # The runner's own environment: where the data is, where the store is.
                "MEDPERF_DATA_PATH": str(self.data / "data"),
                "MEDPERF_LABELS_PATH": str(self.data / "labels"),
                "MEDPERF_ACTION_STORE": str(self.root / "store"),
                "MEDPERF_ACTION_CACHE": str(self.root / "cache"),
                "MEDPERF_ACTION_GITHUB_PAUSES": "0",
            },
        )
        self.results.append(result)
        assert result.conclusion == "success", result.report()
        assert token not in result.log_text + result.summary
        return result


# ---------------------------------------------------------------------------------------
# The committee


def pull_number(world, marker: str) -> int:
    found = [i.number for i in world.gh.repo(REG).pulls() if marker in (i.body or "")]
    assert len(found) == 1, found
    return found[0]


def verified(world, number: int) -> None:
    """The registry's verify and report jobs on the request: it passes."""
    code, _, err, doc = verify(world, number)
    assert code == 0 and doc["passed"] is True, (err, doc)
    code, _, err = report(world, number)
    assert code == 0, err
    assert "medperf/verified" in world.gh.repo(REG).issues[number].labels


def merged_by_committee(world, number: int) -> None:
    pull = world.gh.github(world.tokens["carol"]).get_repo(REG).get_pull(number)
    assert pull.merge(merge_method="squash").merged


def on_main(world, path: str) -> dict:
    data = world.gh.read_file(REG, path, ref="main")
    assert data is not None, path
    return yaml.safe_load(data)


# ---------------------------------------------------------------------------------------


@pytest.fixture
def world(github_server, monkeypatch, stage, tmp_path):  # noqa: F811
    return site_world(github_server, monkeypatch, stage, tmp_path, (LEAKY,), list(SITES))


def test_two_sites_evaluate_the_approved_models_on_private_data(
    world,
    installed: Path,
    tmp_path: Path,
) -> None:
    private = tmp_path / "private"
    subprocess.run(
        [sys.executable, str(REPO / "scripts" / "build_example.py"), "--sites", str(private)],
        check=True,
        capture_output=True,
    )
    sites = [Site(world, login, tmp_path / login, private / login, installed) for login in SITES]

    # Each site prepares its data, registers it and asks to take part; the committee
    # merges the registration and approves the association by label.
    for site in sites:
        prepared = site.dispatch("prepare")
        assert "num_cases" in prepared.summary
        site.dispatch("register")
        number = pull_number(world, dataset_marker(site.dataset))
        verified(world, number)
        merged_by_committee(world, number)
        site.dispatch("associate")
        number = pull_number(world, dataset_association_marker(BENCH, site.dataset))
        verified(world, number)
        add_label(world, number, "medperf/approved", "carol")
        code, out, err = on_label(world, number, "medperf/approved", "carol")
        assert code == 0 and out.startswith("approved:"), out + err
        approved = on_main(world, dataset_association_path(BENCH, site.dataset))
        assert approved["status"] == "APPROVED" and approved["approved_by"] == "carol"

    # Each runs every approved model; nothing is released until the data owner releases
    # each reviewed run by its id; the committee merges the results.
    for site in sites:
        ran = site.dispatch("run")
        runs = {r["model"]: r for r in json.loads(ran.outputs["runs-json"])}
        assert set(runs) == set(MODELS) and {r["status"] for r in runs.values()} == {"passed"}
        released = [i for i in world.gh.repo(REG).pulls() if "medperf-action:result" in i.body]
        assert not [i for i in released if f"dataset={site.dataset}" in i.body]  # not yet
        for model in MODELS:
            assert runs[model]["run_id"] in ran.summary  # the data owner reviews them here
        for model in MODELS:
            site.dispatch("submit", runs[model]["run_id"])
            number = pull_number(world, result_marker(BENCH, model, site.dataset))
            verified(world, number)
            merged_by_committee(world, number)

    # The released metrics are those of an independent computation on each site's data.
    for site in sites:
        for model in MODELS:
            released = on_main(world, result_path(BENCH, model, site.dataset))
            expected = independent_metrics(site.data, model)
            assert released["metrics"] == pytest.approx(expected, rel=1e-9, abs=1e-12), model
            assert released["submitted_by"] == site.login
            assert released["num_cases"] == (150 if site.login == "site-a" else 200)

    # The committee's leaderboard: a row per model, each metric's mean over the two sites
    # weighted by their numbers of cases, as computed here.
    out, pages = tmp_path / "leaderboard", tmp_path / "pages"
    result = CliRunner().invoke(
        main,
        ["registry", "leaderboard", "--registry", REG, "--output", str(out), "--site", str(pages)],
        env={"GITHUB_TOKEN": world.tokens["reader"]},
    )
    assert result.exit_code == 0, result.output
    board = (out / f"{BENCH}.md").read_text()
    rows = [line for line in board.splitlines() if line.startswith("| ")]
    for model in MODELS:
        assert len([r for r in rows if model in r]) == 1, model
    svg = (out / f"{BENCH}.svg").read_text()
    assert svg.count("<rect") >= len(MODELS) and (pages / "index.html").is_file()
    sizes = {site.login: 150 if site.login == "site-a" else 200 for site in sites}
    for model in MODELS:
        auc = sum(
            independent_metrics(site.data, model)["auc"] * sizes[site.login] for site in sites
        ) / sum(sizes.values())
        assert f"{auc:.4f}" in board, (model, auc)

    # Nothing of either site's data left it, though one model printed all of it.
    tokens = set().union(*(private_tokens(site.data) for site in sites))
    assert leaks([("planted", "a row: " + sorted(tokens)[0] + ",x")], tokens)  # it can fail
    store_logs = [
        (str(p), p.read_text()) for site in sites for p in (site.root / "store").rglob("*.log")
    ]
    assert leaks(store_logs, tokens)  # the leaky model did print the data, on the site
    assert leaks(server_texts(world.gh.world), tokens) == []
    for site in sites:
        for result in site.results:
            seen = [("log", result.log_text), ("summary", result.summary)]
            seen += [(f"output {k}", v) for k, v in result.outputs.items()]
            assert leaks(seen, tokens) == []
