"""A registry that requires model signatures: `registry verify` of submissions on the GitHub
test server. The model is packaged and signed (`package --sign --key`, a key pair made
here), published as release assets, and submitted; verify accepts it, and refuses a
tampered asset whose entry pins the tampered bytes, a signature by another key, and a
missing signature when registry.yaml requires one, each with its reason."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from registry_world import REG, Stage, World, build_world, cached_stage, verify
from test_registry_workflows import open_pr
from test_signing import key_pair

from medperf_action.adapters.files.hashing import sha256_file
from medperf_action.domain.validation import validate_path
from medperf_action.errors import SignatureInvalid
from medperf_action.usecases.compat_test.options import Options
from medperf_action.usecases.compat_test.participants import verify_entry_signature
from medperf_action.usecases.packaging import package_cube
from medperf_action.usecases.publishing import outputs_json, publish, write_record
from medperf_action.usecases.requests import Submission, build_entry
from medperf_action.usecases.signatures import SignWith

pytestmark = pytest.mark.docker

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "model"
SIGNED = "wdbc-signed"


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory, docker_client, oci_registry: str):
    yield from cached_stage(tmp_path_factory.mktemp("signed"), oci_registry, honest_run=False)


def signed_world(
    gh, monkeypatch, stage: Stage, tmp: Path, required: bool = True, archive: bool = False
) -> tuple:
    """The registry of registry_world, requiring signatures by alice's key; alice's model
    packaged, signed, published and its entry built as `submit` builds it."""
    w = build_world(gh, monkeypatch, stage, tmp)
    private, public = key_pair(tmp, "alice")
    config = yaml.safe_load(gh.read_file(REG, "registry.yaml"))
    config["signatures"] = {
        "required": required,
        "identities": [{"name": "alice", "public_key": public.read_text()}],
    }
    gh.commit(REG, {"registry.yaml": yaml.safe_dump(config)}, author="carol", message="sign")
    assets = tmp / "signed-assets"
    cube = tmp / "model"
    shutil.copytree(EXAMPLE, cube, ignore=shutil.ignore_patterns("assets"))
    package_cube(
        validate_path(cube / "mlcube"), assets, image_archive=archive, sign=SignWith(private)
    )
    return w, assets, private


def release_entry(w: World, assets: Path, tag: str, mlcube_id: str) -> dict:
    url, published = publish(f"{w.owner}/wdbc-centroid", tag, assets, token=w.tokens["alice"])
    # the image: its archive when one was published (signed with the rest), else pushed
    archived = (assets / "image.tar.gz").is_file()
    reference = None if archived else w.stage.references["breast-cancer-centroid"]
    record = outputs_json(url, published, reference, repository="x/y", tag=tag)
    write_record(assets, record)
    sub = Submission(mlcube_id=mlcube_id, name="Signed centroid", role="model")
    return build_entry(sub, "alice", yaml.safe_load(record), {}, None)


def submit(w: World, entry: dict) -> dict:
    mlcube_id = entry["id"]
    number = open_pr(
        w,
        "alice",
        f"medperf/submit/{mlcube_id}",
        {f"mlcubes/{mlcube_id}.yaml": yaml.safe_dump(entry)},
        f"<!-- medperf-action:submission mlcube={mlcube_id} -->",
    )
    code, stdout, stderr, doc = verify(w, number)
    checks = {c["name"]: c for c in doc["checks"]}
    return {"code": code, "log": stdout + stderr, **checks}


def test_a_signed_submission_is_verified_and_each_bad_signature_refused(
    github_server, monkeypatch, stage: Stage, tmp_path: Path
) -> None:
    w, assets, _ = signed_world(github_server, monkeypatch, stage, tmp_path, archive=True)
    entry = release_entry(w, assets, "v2.0.0", SIGNED)
    assert "signature" in entry["assets"]  # submit names the published model.sig
    assert "archive" in entry["image"]  # the image is signed with the rest

    # test --verify-signature PUB --mlcube-id ID: the entry's published assets, downloaded
    # by hash, checked before anything runs
    opts = Options(cache=tmp_path / "cache")
    assert verify_entry_signature(entry, tmp_path / "alice.pub", opts).endswith("alice.pub")
    _, someone_else = key_pair(tmp_path, "someone-else")
    with pytest.raises(SignatureInvalid, match="not by any accepted identity"):
        verify_entry_signature(entry, someone_else, opts)

    good = submit(w, entry)
    assert good["code"] == 0, good
    assert good["signature"]["passed"] and "signed by alice" in good["signature"]["detail"]

    # A tampered asset, republished with its own (new) SHA-256 in the entry: the hashes
    # agree, the signature does not.
    (assets / "parameters.yaml").write_text("tampered: true\n")
    names = [line.split("  ")[1] for line in (assets / "checksums.sha256").read_text().splitlines()]
    (assets / "checksums.sha256").write_text(
        "".join(f"{sha256_file(assets / name)}  {name}\n" for name in names)
    )
    tampered = release_entry(w, assets, "v2.0.1", "wdbc-tampered")
    got = submit(w, tampered)
    assert got["code"] == 1 and got["assets"]["passed"], got
    assert not got["signature"]["passed"]
    assert "does not match the files" in got["signature"]["detail"]
    assert "parameters.yaml" in got["signature"]["detail"]


def test_a_foreign_or_missing_signature_is_refused(
    github_server, monkeypatch, stage: Stage, tmp_path: Path
) -> None:
    w, _, _ = signed_world(github_server, monkeypatch, stage, tmp_path)
    mallory_key, _ = key_pair(tmp_path, "mallory")
    foreign_assets = tmp_path / "foreign-assets"
    cube = tmp_path / "model"
    package_cube(validate_path(cube / "mlcube"), foreign_assets, sign=SignWith(mallory_key))
    foreign = submit(w, release_entry(w, foreign_assets, "v3.0.0", "wdbc-foreign"))
    assert foreign["code"] == 1 and foreign["assets"]["passed"], foreign
    assert not foreign["signature"]["passed"]
    assert "not by any accepted identity" in foreign["signature"]["detail"]

    unsigned_assets = tmp_path / "unsigned-assets"
    package_cube(validate_path(cube / "mlcube"), unsigned_assets)
    unsigned = release_entry(w, unsigned_assets, "v4.0.0", "wdbc-unsigned")
    assert "signature" not in unsigned["assets"]
    missing = submit(w, unsigned)
    assert missing["code"] == 1 and missing["assets"]["passed"], missing
    assert not missing["signature"]["passed"]
    assert "requires a model signature" in missing["signature"]["detail"]


def test_a_signature_vouches_only_for_what_it_covers(
    github_server, monkeypatch, stage: Stage, tmp_path: Path
) -> None:
    """The attacks on what a signature covers. (1) Alice's genuine signature, with the
    image pinned by a reference nobody signed: what runs is the image, so refused when
    signatures are required. (2) A signature by alice that declares the weights and the
    parameters left out of what it signs (OpenSSF's CLI allows --ignore-paths): it
    verifies for any weights, so it is refused for not covering the pinned files."""
    w, assets, private = signed_world(github_server, monkeypatch, stage, tmp_path)
    by_reference = submit(w, release_entry(w, assets, "v5.0.0", "wdbc-by-reference"))
    assert by_reference["code"] == 1 and by_reference["assets"]["passed"], by_reference
    assert not by_reference["signature"]["passed"]
    assert "pinned by reference" in by_reference["signature"]["detail"]

    narrow = tmp_path / "narrow-assets"
    cube = tmp_path / "model"
    package_cube(validate_path(cube / "mlcube"), narrow, image_archive=True)
    (narrow / "model.sig").unlink(missing_ok=True)
    subprocess.run(
        [
            str(Path(sys.executable).parent / "model_signing"),
            "sign",
            "key",
            "--private_key",
            str(private),
            "--signature",
            str(narrow / "model.sig"),
            *(
                part
                for name in (
                    "parameters.yaml",
                    "additional_files.tar.gz",
                    "checksums.sha256",
                    "manifest.json",
                )
                for part in ("--ignore-paths", str(narrow / name))
            ),
            str(narrow),
        ],
        check=True,
        capture_output=True,
    )
    with open(narrow / "checksums.sha256", "a") as sums:
        sums.write(f"{sha256_file(narrow / 'model.sig')}  model.sig\n")
    got = submit(w, release_entry(w, narrow, "v6.0.0", "wdbc-narrow"))
    assert got["code"] == 1 and got["assets"]["passed"], got
    assert not got["signature"]["passed"]
    assert "the signature covers" in got["signature"]["detail"]
