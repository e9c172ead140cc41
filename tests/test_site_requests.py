"""A site's commands against what the registry enforces (issue 13), on the GitHub test
server and without Docker: `result submit` seals the metrics when registry.yaml says
`results: {sealed_to: KEY}` (and `registry verify` takes the sealed result, refuses one in
the clear), `result ls --key` opens them, and `dataset associate` asks for a pair only
when the registry's rules allow a new request.

The world is test_data_owner_registry's: site-a's dataset is registered and its
association APPROVED; site-b's is registered only. A site's store is made here as its
commands leave it (a benchmark run's `run.json` and `result.yaml`, a prepared dataset's
`entry.json`): nothing runs a container, and the engine's socket is not there (a command
that gets past the registry's rules to a run fails on it, opening nothing).
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from big_registry import BENCH, mlcube_doc
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from privacy import leaks, server_texts
from registry_world import REG
from test_data_owner_registry import (  # noqa: F401  (world, committee_key: fixtures)
    APPROVED,
    DATA_B,
    PENDING,
    REJECTED,
    World,
    associate,
    association_doc,
    committee_key,
    dataset_doc,
    dump,
    on_label,
    passes,
    report,
    result_doc,
    rules,
    world,
)

from medperf_action.adapters.sealing import private_key, recipient, unseal
from medperf_action.cli import main
from medperf_action.domain.registry.layout import result_marker, result_path
from medperf_action.errors import RequestRefused
from medperf_action.usecases.registries import open_registry
from medperf_action.usecases.site.dataset import request_branch

#: Metric values that appear nowhere else: finding one's text finds the metrics.
METRICS = {"auc": 0.9173528, "accuracy": 0.8642917}
RUN = "5e41a7c0b2d9"


class SiteCli:
    """A site's machine: its store, and the commands as its data owner runs them."""

    def __init__(self, w: World, login: str, monkeypatch: pytest.MonkeyPatch) -> None:
        self.w, self.login = w, login
        self.store = w.tmp / f"store-{login}"
        self.outputs = w.tmp / f"outputs-{login}"
        monkeypatch.chdir(w.tmp)  # no .medperf-site.yml: --registry names the registry

    def __call__(self, *args: str, **env: str) -> tuple[int, str, str]:
        environment = {
            "MEDPERF_REGISTRY_TOKEN": self.w.tokens[self.login],
            "MEDPERF_ACTION_STORE": str(self.store),
            "GITHUB_ACTIONS": "true",
            "GITHUB_OUTPUT": str(self.outputs),
            **env,
        }
        result = CliRunner().invoke(main, [*args, "--registry", REG], env=environment)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception  # a traceback is a failure of its own
        return result.exit_code, result.stdout, result.stderr

    def benchmark_run(self, doc: dict[str, Any]) -> Path:
        """The run `benchmark run` leaves for `doc` (a result file)."""
        folder = self.store / doc["dataset"] / "runs" / doc["run_id"]
        (folder / "logs").mkdir(parents=True)
        (folder / "result.yaml").write_text(dump(doc))
        record = {
            "run_id": doc["run_id"],
            "kind": "benchmark",
            "status": "passed",
            "benchmark": doc["benchmark"],
            "model": doc["model"],
            "started_at": doc["started_at"],
            "metrics": doc["metrics"],
        }
        (folder / "run.json").write_text(json.dumps(record))
        return folder

    def prepared(self, dataset_id: str, data: str) -> None:
        """The dataset as `dataset prepare` leaves it (its entry without an owner)."""
        folder = self.store / dataset_id / "dataset"
        folder.mkdir(parents=True)
        entry = {k: v for k, v in dataset_doc(dataset_id, "x", data).items() if k != "owner"}
        (folder / "entry.json").write_text(json.dumps(entry))
        (folder / "prepare.json").write_text(json.dumps({"benchmark": BENCH, "run_id": RUN}))


def seal_results(w: World, public: str | None) -> None:
    """The committee seals results to `public` (None: no longer)."""
    config = yaml.safe_load(w.gh.read_file(REG, "registry.yaml"))
    config.pop("results", None)
    if public is not None:
        config["results"] = {"sealed_to": public}
    w.gh.commit(REG, {"registry.yaml": dump(config)}, author="carol")


def pull_of(w: World, marker: str) -> Any:
    (found,) = [p for p in w.gh.repo(REG).pulls() if marker in (p.body or "")]
    return found


def proposed_file(w: World, pull: Any, path: str) -> dict[str, Any]:
    """The file a request proposes, at its head."""
    head = f"{pull.user}/registry"
    return dict(yaml.safe_load(w.gh.files(head, ref=pull.pull.head_ref)[path]))


def pem_files(tmp: Path, private: bytes) -> dict[str, Path]:
    """The committee's key as a file, the same encrypted, and another RSA key."""
    key = serialization.load_pem_private_key(private, password=None)
    other = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    files = {
        "key": private,
        "encrypted": key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"correct horse"),
        ),
        "other": other.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    }
    for name, data in files.items():
        (tmp / f"{name}.pem").write_bytes(data)
    return {name: tmp / f"{name}.pem" for name in files}


# ---------------------------------------------------------------------------------------
# Sealed results


def test_a_sealed_result_is_verified_holds_no_metric_and_opens_only_with_the_key(
    world: World,  # noqa: F811
    committee_key: tuple[bytes, str],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w, (private, public) = world, committee_key
    seal_results(w, public)
    site = SiteCli(w, "site-a", monkeypatch)
    run = site.benchmark_run(result_doc("cube-0000", run_id=RUN, metrics=METRICS))
    place = result_path(BENCH, "cube-0000", "site-a-wdbc")

    code, out, err = site("result", "submit", RUN)
    assert code == 0 and out.startswith("opened: "), err
    assert f"sealed to the committee's key ({recipient(public)})" in err
    pull = pull_of(w, result_marker(BENCH, "cube-0000", "site-a-wdbc"))
    passes(w, pull.number)  # registry verify takes it
    proposed = proposed_file(w, pull, place)
    assert "metrics" not in proposed and proposed["sealed"]["recipient"] == recipient(public)
    assert unseal(proposed["sealed"], private_key(private), place) == METRICS
    assert "sealed to the committee's key" in (pull.body or "")
    # the run's own result keeps its metrics, on the site
    assert yaml.safe_load((run / "result.yaml").read_text())["metrics"] == METRICS
    # submitting again proposes the same file: the seal made for the run is kept
    code, out, err = site("result", "submit", RUN)
    assert code == 0 and out.startswith("unchanged: "), err

    # The registry's report comments on it. Then nothing the server holds (files of every
    # commit, PR titles and bodies, comments, labels) has a metric's value, nor the tool's
    # outputs.
    assert report(w, pull.number)[0] == 0
    values = {str(v) for v in METRICS.values()}
    assert leaks(server_texts(w.gh.world), values) == []
    assert leaks([("outputs", site.outputs.read_text())], values) == []

    # The committee merges it; submitting the run again says it is released.
    w.gh.commit(REG, {place: dump(proposed)}, author="carol")
    code, out, err = site("result", "submit", RUN)
    assert code == 0 and out.startswith("released already"), err

    keys = pem_files(w.tmp, private)
    code, out, err = site("result", "ls")
    assert code == 0 and "sealed" in out and leaks([("ls", out)], values) == [], err
    code, out, err = site("result", "ls", "--key", str(keys["key"]))
    assert code == 0 and "0.9173528" in out and "0.8642917" in out, err
    assert "sealed" not in out
    code, out, err = site("result", "ls", "--key", str(keys["key"]), "--format", "json")
    (listed,) = json.loads(out)["results"]
    assert listed["metrics"] == METRICS and listed["sealed_to"] == recipient(public)
    # the step's output holds the results as the registry does: sealed
    held = site.outputs.read_text().split("results-json=")[-1].splitlines()[0]
    assert "sealed" in json.loads(held)[0] and leaks([("output", held)], values) == []


def test_a_wrong_or_locked_key_says_so_without_a_traceback(
    world: World,  # noqa: F811
    committee_key: tuple[bytes, str],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w, (private, public) = world, committee_key
    seal_results(w, public)
    site = SiteCli(w, "site-a", monkeypatch)
    site.benchmark_run(result_doc("cube-0000", run_id=RUN, metrics=METRICS))
    code, _, err = site("result", "submit", RUN)
    assert code == 0, err
    pull = pull_of(w, result_marker(BENCH, "cube-0000", "site-a-wdbc"))
    place = result_path(BENCH, "cube-0000", "site-a-wdbc")
    w.gh.commit(REG, {place: dump(proposed_file(w, pull, place))}, author="carol")
    keys = pem_files(w.tmp, private)

    code, out, err = site("result", "ls", "--key", str(keys["other"]))
    assert code == 1 and "this key opens none of the 1 sealed results" in err, err
    assert recipient(public) in err and "0.9173528" not in out + err
    code, _, err = site("result", "ls", "--key", str(keys["encrypted"]))
    assert code == 1 and "it is encrypted: give its password with --password-env" in err, err
    code, _, err = site("result", "ls", "--key", str(keys["encrypted"]), "--password-env", "PW")
    assert code == 2 and "$PW is not set" in err, err
    code, _, err = site(
        "result", "ls", "--key", str(keys["encrypted"]), "--password-env", "PW", PW="wrong"
    )
    assert code == 1 and "not a usable PEM private key" in err, err
    code, out, err = site(
        "result", "ls", "--key", str(keys["encrypted"]), "--password-env", "PW", PW="correct horse"
    )
    assert code == 0 and "0.9173528" in out, err
    code, _, err = site("result", "ls", "--key", str(w.tmp / "nowhere.pem"))
    assert code == 2 and "nowhere.pem" in err, err
    code, _, err = site("result", "ls", "--password-env", "PW")
    assert code == 2 and "give the key too" in err, err
    # A seal made for the key that does not open (altered, or moved from another
    # result's place) is named, not quoted.
    moved = result_path(BENCH, "cube-0001", "site-a-wdbc")
    doc = dict(proposed_file(w, pull, place), model="cube-0001", model_cube=None)
    doc["model_cube"] = result_doc("cube-0001")["model_cube"]
    w.gh.commit(REG, {moved: dump(doc)}, author="carol")
    code, _, err = site("result", "ls", "--key", str(keys["key"]))
    assert code == 1 and f"{moved}: cannot be opened with this key" in err, err


def test_a_result_proposed_in_the_clear_is_refused_once_results_are_sealed(
    world: World,  # noqa: F811
    committee_key: tuple[bytes, str],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Proposed while the registry sealed nothing, then the committee seals results: verify
    refuses the PR in the clear; the site submits the run again, and the same PR then
    holds it sealed (and verify takes it)."""
    w, (private, public) = world, committee_key
    site = SiteCli(w, "site-a", monkeypatch)
    site.benchmark_run(result_doc("cube-0001", run_id=RUN, metrics=METRICS))
    code, out, err = site("result", "submit", RUN)
    assert code == 0 and out.startswith("opened: "), err
    pull = pull_of(w, result_marker(BENCH, "cube-0001", "site-a-wdbc"))
    assert "0.9173528" in (pull.body or "")  # in the clear: the registry seals nothing
    passes(w, pull.number)

    seal_results(w, public)
    assert "the metrics may not be committed in the clear" in rules(w, pull.number)
    code, out, err = site("result", "submit", RUN)
    assert code == 0 and out.startswith("updated: "), err
    pull = pull_of(w, result_marker(BENCH, "cube-0001", "site-a-wdbc"))
    passes(w, pull.number)
    assert "0.9173528" not in (pull.body or "") + pull.title
    place = result_path(BENCH, "cube-0001", "site-a-wdbc")
    proposed = proposed_file(w, pull, place)
    assert unseal(proposed["sealed"], private_key(private), place) == METRICS

    # and once the registry seals nothing again, a sealed result is refused
    seal_results(w, None)
    assert "the metrics are sealed, but registry.yaml seals no results" in rules(w, pull.number)


# ---------------------------------------------------------------------------------------
# dataset associate: the pair's state, as the registry's rules see it


def _state_of(w: World, login: str, dataset_id: str) -> Any:
    registry = open_registry(REG, w.tokens[login], snapshot=True)
    return SimpleNamespace(registry=registry, dataset_id=dataset_id)


def _assets_here(w: World) -> None:
    """The benchmark's cubes with their assets on the test server (which has none of
    them): a run that starts fails on its first download, reaching for nothing else."""
    files = {}
    for role, ident in (("data-preparator", "prep"), ("model", "ref"), ("metrics", "metrics")):
        doc = dict(mlcube_doc(ident, "carol", web=w.gh.web_url), role=role)
        files[f"mlcubes/{ident}.yaml"] = dump(doc)
    w.gh.commit(REG, files, author="carol")


def _close(w: World, number: int, by: str, label: str | None = None) -> None:
    pull = w.gh.github(w.tokens[by]).get_repo(REG).get_pull(number)
    if label is not None:
        w.label(number, label, "carol")
    pull.edit(state="closed")


def test_dataset_associate_asks_only_when_no_request_is_open_or_approved(
    world: World,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = world
    _assets_here(w)
    site = SiteCli(w, "site-b", monkeypatch)
    site.prepared("site-b-wdbc", DATA_B)
    args = ("dataset", "associate", "--dataset", "site-b-wdbc", "--benchmark", BENCH)

    def reaches_the_run() -> bool:
        """Past the registry's rules, on to the run (which stops at its first download,
        opening nothing)."""
        pulls = len(w.gh.repo(REG).pulls())
        code, _, err = site(*args)
        assert len(w.gh.repo(REG).pulls()) == pulls
        return code == 4 and "cannot download mlcube: HTTP 404" in err

    assert reaches_the_run()  # nothing asked yet
    # A request for the pair opened by somebody else does not count for it.
    other = associate(w, "site-a", "site-b-wdbc", association_doc("site-b-wdbc", "site-a"))
    assert reaches_the_run()

    # Its own open request (not labelled yet: a run cut short) blocks a new one, and is
    # labelled pending now (by a data owner who may label in the registry; for one who
    # may not, the registry's workflow labels it).
    w.gh.add_collaborator(REG, "site-b", "triage")
    first = associate(w, "site-b", "site-b-wdbc", association_doc("site-b-wdbc", "site-b"))
    code, _, err = site(*args)
    assert code == 5 and f"pending association request with {BENCH} (PR #{first}," in err, err
    assert PENDING in w.labels(first)
    with pytest.raises(RequestRefused, match=f"PR #{first}"):
        request_branch(_state_of(w, "site-b", "site-b-wdbc"), BENCH)

    # Rejected: the next request is attempt 2, on a branch of its own.
    _close(w, first, "site-b", REJECTED)
    _close(w, other, "site-a")
    branch = request_branch(_state_of(w, "site-b", "site-b-wdbc"), BENCH)
    assert branch == f"medperf/dataset-associate/{BENCH}/site-b-wdbc/2"
    assert reaches_the_run()  # allowed again
    # Withdrawn (closed without a decision) counts as none; attempts never reuse a branch.
    second = associate(w, "site-b", "site-b-wdbc", association_doc("site-b-wdbc", "site-b"))
    assert site(*args)[0] == 5
    _close(w, second, "site-b")
    branch = request_branch(_state_of(w, "site-b", "site-b-wdbc"), BENCH)
    assert branch == f"medperf/dataset-associate/{BENCH}/site-b-wdbc/3"


def test_dataset_associate_refuses_an_approved_pair_naming_its_request(
    world: World,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = world
    # site-a's association is APPROVED on the default branch
    site_a = SiteCli(w, "site-a", monkeypatch)
    site_a.prepared("site-a-wdbc", dataset_doc("site-a-wdbc", "site-a")["prepared"]["data_sha256"])
    code, _, err = site_a("dataset", "associate", "--dataset", "site-a-wdbc", "--benchmark", BENCH)
    assert code == 5 and f"site-a-wdbc already has an approved association with {BENCH}" in err
    # site-b's request is verified and approved by the committee's label (merged)
    number = associate(w, "site-b", "site-b-wdbc", association_doc("site-b-wdbc", "site-b"))
    passes(w, number)
    assert report(w, number)[0] == 0
    w.label(number, APPROVED, "carol")
    code, text = on_label(w, number, APPROVED, "carol")
    assert code == 0 and text.startswith("approved:"), text
    site_b = SiteCli(w, "site-b", monkeypatch)
    site_b.prepared("site-b-wdbc", DATA_B)
    code, _, err = site_b("dataset", "associate", "--dataset", "site-b-wdbc", "--benchmark", BENCH)
    assert code == 5 and f"approved association with {BENCH} (PR #{number}," in err, err


def test_a_registry_sealing_to_an_unusable_key_releases_nothing(
    world: World,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = world
    small = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    seal_results(
        w,
        small.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode(),
    )
    site = SiteCli(w, "site-a", monkeypatch)
    site.benchmark_run(result_doc("cube-0000", run_id=RUN, metrics=METRICS))
    pulls = len(w.gh.repo(REG).pulls())
    code, out, err = site("result", "submit", RUN)
    assert code == 1 and "seals results (results.sealed_to), but to no usable key" in err, err
    assert "at least 3072" in err and "0.9173528" not in out + err
    assert len(w.gh.repo(REG).pulls()) == pulls
