"""`medperf-action publish` against the GitHub test server (contract-checked)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from medperf_action.cli import main
from medperf_action.domain.validation import validate_path
from medperf_action.usecases.packaging import package_cube

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "model"


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("packaged") / "assets"
    package_cube(validate_path(EXAMPLE), out, log=lambda _l: None)
    return out


@pytest.fixture
def assets(packaged: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "assets"
    shutil.copytree(packaged, copy)
    return copy


@pytest.fixture
def gh(github_server, monkeypatch):
    token = github_server.add_user("alice")
    github_server.create_repo("alice/wdbc-model", {"README.md": b"# model\n"})
    monkeypatch.setenv("GITHUB_API_URL", github_server.api_url)
    monkeypatch.setenv("GITHUB_TOKEN", token)
    monkeypatch.setenv("MEDPERF_ACTION_GITHUB_PAUSES", "0")
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    return github_server


def publish(assets: Path, *extra: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        main,
        [
            "publish",
            "--tag",
            "v1.0.0",
            "--repo",
            "alice/wdbc-model",
            "--assets",
            str(assets),
            *extra,
        ],
        env=env,
    )
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def sums(assets: Path) -> dict[str, str]:
    out = {
        line.split("  ")[1]: line.split("  ")[0]
        for line in (assets / "checksums.sha256").read_text().splitlines()
    }
    out["checksums.sha256"] = hashlib.sha256((assets / "checksums.sha256").read_bytes()).hexdigest()
    return out


def release_assets(gh) -> dict[str, list]:
    repo = gh.repo("alice/wdbc-model")
    releases = list(repo.releases.values())
    assert len(releases) == 1
    names: dict[str, list] = {}
    for asset in releases[0].assets.values():
        names.setdefault(asset.name, []).append(asset)
    return names


def test_publish_twice_leaves_one_release_with_one_copy_each(
    gh, assets: Path, tmp_path: Path
) -> None:
    out = tmp_path / "github_output"
    code, stdout, stderr = publish(
        assets, env={"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(out)}
    )
    assert code == 0, stderr
    first_calls = gh.api_calls
    expected = sums(assets)
    assert (
        len(expected) == 5
    )  # mlcube.yaml, parameters.yaml, additional_files.tar.gz, manifest.json, checksums.sha256
    assert first_calls <= 8  # get the release (404), create it, upload each asset
    names = release_assets(gh)
    assert sorted(names) == sorted(expected)
    assert all(len(copies) == 1 for copies in names.values())
    assert "release: http://127.0.0.1" in stdout
    for name in expected:  # each asset is listed once, as a result line
        listed = [line for line in (stdout + stderr).splitlines() if name in line]
        assert len(listed) == 1, (stdout, stderr)
    record = json.loads((assets / "release.json").read_text())
    assert {n: a["sha256"] for n, a in record["assets"].items()} == expected
    assert "release-url=" in out.read_text()

    gh.reset_counters()
    code, stdout, stderr = publish(assets)
    assert code == 0, stderr
    assert gh.writes == 0  # the same assets again: nothing to do
    assert gh.api_calls <= 2
    assert stdout.count("unchanged") == 5
    assert all(len(copies) == 1 for copies in release_assets(gh).values())


def test_published_assets_download_with_their_hashes(gh, assets: Path) -> None:
    code, _, stderr = publish(assets)
    assert code == 0, stderr
    record = json.loads((assets / "release.json").read_text())
    for name, asset in record["assets"].items():
        assert asset["url"].startswith(
            gh.api_url.split("/api/")[0] + "/alice/wdbc-model/releases/download/v1.0.0/"
        )
        body = requests.get(asset["url"], timeout=10)
        assert body.status_code == 200
        assert hashlib.sha256(body.content).hexdigest() == asset["sha256"] == sums(assets)[name]


def test_interrupted_publish_completes_on_rerun(gh, assets: Path) -> None:
    # The second upload fails for good (502s, as long as the outage lasts), after the first
    # landed.
    outage = gh.inject("POST", r"/releases/\d+/assets", "status", count=50, status=502, skip=1)
    code, _, stderr = publish(assets)
    assert code == 4  # GitHub failed
    assert "upload" in stderr and "502" in stderr and "Traceback" not in stderr
    partial = release_assets(gh)
    assert 0 < len(partial) < 5

    outage.remaining = 0  # GitHub is back
    code, _, stderr = publish(assets)
    assert code == 0, stderr
    names = release_assets(gh)
    assert sorted(names) == sorted(sums(assets))
    assert all(len(c) == 1 for c in names.values())


def test_a_5xx_on_a_post_is_not_sent_again(gh, assets: Path) -> None:
    """GitHub may answer 502 after it acted: the upload is not retried (a retry could
    duplicate it); the error surfaces, and a re-run finishes the job."""
    gh.inject("POST", r"/releases/\d+/assets", "status", count=1, status=502, skip=1)
    code, _, stderr = publish(assets)
    assert code == 4 and "502" in stderr and "Traceback" not in stderr
    uploads = [r for r in gh.requests if r.operation == "repos/upload-release-asset"]
    assert [r.status for r in uploads] == [201, 502]  # sent once, not retried

    code, _, stderr = publish(assets)
    assert code == 0, stderr
    names = release_assets(gh)
    assert sorted(names) == sorted(sums(assets))
    assert all(len(c) == 1 for c in names.values())


def test_retry_policy_by_method() -> None:
    from medperf_action.adapters.github.client import _retry

    retry = _retry(fast=True)
    for method in ("GET", "HEAD", "PUT", "PATCH", "DELETE"):
        assert retry.is_retry(method, 502) and retry.is_retry(method, 503)
        assert retry.is_retry(method, 429)
    assert not retry.is_retry("POST", 502) and not retry.is_retry("POST", 504)
    assert not retry.is_retry("POST", 503, has_retry_after=True)
    # rate limits: GitHub did not act, so a POST is sent again
    assert retry.is_retry("POST", 429) and retry.is_retry("POST", 403)
    assert not retry.is_retry("GET", 404) and not retry.is_retry("POST", 422)


def test_malformed_manifest_is_a_clear_error(tmp_path: Path) -> None:
    from medperf_action.errors import InvalidInput
    from medperf_action.usecases.publishing import push_image

    (tmp_path / "manifest.json").write_text('{"image": ')
    with pytest.raises(InvalidInput, match=r"manifest\.json: not valid JSON .*package"):
        push_image(tmp_path, "127.0.0.1:1/x:1")
    (tmp_path / "manifest.json").write_text("[1, 2]")
    with pytest.raises(InvalidInput, match=r"manifest\.json: not a JSON object"):
        push_image(tmp_path, "127.0.0.1:1/x:1")


def test_upload_applied_but_connection_lost_then_rerun(gh, assets: Path) -> None:
    # The nastiest case: GitHub stored the asset, the answer never came back.
    gh.inject("POST", r"/releases/\d+/assets", "drop_after", count=1)
    code, _, stderr = publish(assets)
    assert code == 4 and "Traceback" not in stderr
    code, _, stderr = publish(assets)
    assert code == 0, stderr
    assert all(len(c) == 1 for c in release_assets(gh).values())
    assert len(release_assets(gh)) == 5


def test_upload_that_left_a_broken_asset_is_redone(gh, assets: Path) -> None:
    gh.inject("POST", r"/releases/\d+/assets", "starter", count=1)
    publish(assets)
    code, _, stderr = publish(assets)
    assert code == 0, stderr
    assert all(c[0].state == "uploaded" for c in release_assets(gh).values())


def test_transient_errors_and_rate_limits_are_retried(gh, assets: Path) -> None:
    gh.inject("GET", r"/releases/tags/", "status", count=2, status=503)
    gh.inject("POST", r"/releases$", "rate_limit", count=1, retry_after=1)
    code, _, stderr = publish(assets)
    assert code == 0, stderr
    assert len(release_assets(gh)) == 5


def test_same_name_different_bytes_needs_clobber(gh, assets: Path) -> None:
    code, _, stderr = publish(assets)
    assert code == 0, stderr
    # The model owner changes the parameters and packages again.
    (assets / "parameters.yaml").write_text("probability_digits: 6\n")
    lines = (assets / "checksums.sha256").read_text().splitlines()
    new = hashlib.sha256(b"probability_digits: 6\n").hexdigest()
    lines = [
        f"{new}  parameters.yaml" if line.endswith("  parameters.yaml") else line for line in lines
    ]
    (assets / "checksums.sha256").write_text("\n".join(lines) + "\n")

    gh.reset_counters()
    code, _, stderr = publish(assets)
    assert code == 1
    assert "--clobber" in stderr and "parameters.yaml" in stderr and "nothing was changed" in stderr
    assert gh.writes == 0

    code, stdout, stderr = publish(assets, "--clobber")
    assert code == 0, stderr
    assert "replaced" in stdout
    names = release_assets(gh)
    assert all(len(c) == 1 for c in names.values())
    assert names["parameters.yaml"][0].path.read_bytes() == b"probability_digits: 6\n"


def test_bad_token_and_tampered_assets_are_clear_errors(gh, assets: Path, monkeypatch) -> None:
    (assets / "mlcube.yaml").write_text("tampered: true\n")
    code, _, stderr = publish(assets)
    assert code == 1 and "does not match checksums.sha256" in stderr
    shutil.rmtree(assets)
    code, _, stderr = publish(assets.parent / "missing")
    assert code == 2
    monkeypatch.setenv("GITHUB_TOKEN", "not-a-token")
    assets.mkdir()
    (assets / "checksums.sha256").write_text("")
    code, _, stderr = publish(assets)
    assert code == 4 and "401" in stderr and "not-a-token" not in stderr
