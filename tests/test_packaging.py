"""`medperf-action package`: deterministic, streaming, atomic assets (real tar, gzip, Docker)."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tracemalloc
import uuid
import zlib
from pathlib import Path
from typing import Any

import docker
import pytest
from click.testing import CliRunner

from medperf_action.adapters.files import atomic
from medperf_action.adapters.files import targz as pkg
from medperf_action.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "model"
MiB = 1 << 20


def run_cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    try:
        runner = CliRunner(mix_stderr=False)  # type: ignore[call-arg]  # click < 8.2
    except TypeError:
        runner = CliRunner()  # click >= 8.2 keeps stderr apart on its own
    result = runner.invoke(
        main, list(args), env={"GITHUB_ACTIONS": "", "GITHUB_OUTPUT": "", **(env or {})}
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        result.output,
        result.exception,
    )
    return result.exit_code, result.stdout, result.stderr


def example_copy(tmp_path: Path, name: str = "cube") -> Path:
    """A copy of the example model (mlcube/ and project/); returns its mlcube folder."""
    dest = tmp_path / name
    shutil.copytree(EXAMPLE, dest, symlinks=True, ignore=shutil.ignore_patterns("assets"))
    return dest / "mlcube"


def rand(size: int, seed: int) -> bytes:
    """Incompressible, reproducible bytes (SHA-256 in counter mode)."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(b"%d:%d" % (seed, counter)).digest()
        counter += 1
    return bytes(out[:size])


TEXT = b"".join(
    b"line %06d: the quick brown fox jumps over the lazy dog\n" % i for i in range(40000)
)
LONG_NAME = "d/" + "long-directory-name-" * 6 + "/" + "f" * 120 + ".txt"


def populate_mixed(af: Path) -> dict[str, bytes]:
    """A compressible text, random bytes, an empty file, nested and empty folders, an
    executable, an internal symlink, a long name and a non-ASCII name."""
    files = {
        "notes/readme.txt": TEXT,
        "weights.bin": rand(3 * MiB + 12345, 1),
        "empty.dat": b"",
        "nested/a/b/c/deep.json": b'{"deep": true}\n',
        "bin/run.sh": b"#!/bin/sh\necho hi\n",
        LONG_NAME: b"long\n",
        "données/é.txt": "accentué\n".encode(),
    }
    for rel, data in files.items():
        path = af / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (af / "bin" / "run.sh").chmod(0o700)
    (af / "empty-dir").mkdir()
    (af / "nested" / "link.txt").symlink_to("../notes/readme.txt")
    return files


def mixed_cube(tmp_path: Path, name: str = "cube") -> Path:
    mlcube = example_copy(tmp_path, name)
    populate_mixed(mlcube / "workspace" / "additional_files")
    return mlcube


def tree(root: Path) -> dict[str, tuple[str, object]]:
    """Relative path -> (kind, content / link target / exec bit)."""
    out: dict[str, tuple[str, object]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                out[rel] = ("link", os.readlink(path))
            elif path.is_dir():
                out[rel] = ("dir", None)
            else:
                out[rel] = ("file", (path.read_bytes(), os.access(path, os.X_OK)))
    return out


def read_all(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


# ---------------------------------------------------------------------------------------


def test_example_model_packages_cleanly(tmp_path: Path) -> None:
    mlcube = example_copy(tmp_path)
    code, out, err = run_cli("package", str(mlcube))
    assert code == 0, err
    assets = mlcube / "assets"
    names = sorted(p.name for p in assets.iterdir())
    assert names == [
        "additional_files.tar.gz",
        "checksums.sha256",
        "manifest.json",
        "mlcube.yaml",
        "parameters.yaml",
    ]
    assert (assets / "mlcube.yaml").read_bytes() == (mlcube / "mlcube.yaml").read_bytes()
    assert (assets / "parameters.yaml").read_bytes() == (
        mlcube / "workspace" / "parameters.yaml"
    ).read_bytes()
    check = subprocess.run(
        ["sha256sum", "-c", "checksums.sha256"], cwd=assets, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    lines = (assets / "checksums.sha256").read_text().splitlines()
    assert [line.split("  ")[1] for line in lines] == sorted(
        n for n in names if n != "checksums.sha256"
    )

    manifest = json.loads((assets / "manifest.json").read_text())
    assert manifest["tool"] == "medperf-action"
    assert manifest["mlcube"]["role"] == "model"
    assert manifest["mlcube"]["role_inferred"] is True
    assert manifest["mlcube"]["name"].startswith("Breast cancer")
    assert manifest["image"]["ref"] == "medperf-action-example/model:0.1.0"
    by_name = {f["name"]: f for f in manifest["files"]}
    assert set(by_name) == {"additional_files.tar.gz", "mlcube.yaml", "parameters.yaml"}
    for name, entry in by_name.items():
        data = (assets / name).read_bytes()
        assert entry["size"] == len(data)
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
    with tarfile.open(assets / "additional_files.tar.gz") as tf:
        assert tf.getnames() == ["weights.json"]
    # The printed table names every file with its size and full SHA-256.
    assert str(assets) in out
    for name, entry in by_name.items():
        assert name in out and entry["sha256"] in out


def test_packaging_twice_is_byte_identical(tmp_path: Path) -> None:
    first = mixed_cube(tmp_path, "one")
    assert run_cli("package", str(first))[0] == 0
    before = read_all(first / "assets")
    # Again, into the same folder (replaced whole) ...
    assert run_cli("package", str(first))[0] == 0
    assert read_all(first / "assets") == before
    # ... and from a second copy with other mtimes, permissions and umask: same bytes.
    second = mixed_cube(tmp_path, "two")
    af = second / "workspace" / "additional_files"
    for path in af.rglob("*"):
        if not path.is_symlink():
            os.utime(path, (1_234_567_890, 1_234_567_890))
    (af / "weights.bin").chmod(0o600)
    (af / "bin" / "run.sh").chmod(0o744)
    old = os.umask(0o077)
    try:
        assert run_cli("package", str(second), "--output", str(tmp_path / "out"))[0] == 0
    finally:
        os.umask(old)
    assert read_all(tmp_path / "out") == before


def test_tarball_entries_and_metadata_are_normalised(tmp_path: Path) -> None:
    mlcube = mixed_cube(tmp_path)
    assert run_cli("package", str(mlcube))[0] == 0
    archive = mlcube / "assets" / "additional_files.tar.gz"
    raw = archive.read_bytes()
    # gzip header: deflate, no flags (so no file name), mtime 0, OS "unknown".
    assert raw[:4] == b"\x1f\x8b\x08\x00" and raw[4:8] == b"\0\0\0\0" and raw[9] == 255
    with tarfile.open(archive) as tf:
        members = tf.getmembers()
        assert tf.pax_headers == {}
    names = [m.name for m in members]
    assert names == [
        "bin",
        "bin/run.sh",
        "d",
        os.path.dirname(LONG_NAME),
        LONG_NAME,
        "données",
        "données/é.txt",
        "empty-dir",
        "empty.dat",
        "nested",
        "nested/a",
        "nested/a/b",
        "nested/a/b/c",
        "nested/a/b/c/deep.json",
        "nested/link.txt",
        "notes",
        "notes/readme.txt",
        "weights.bin",
        "weights.json",
    ]
    assert not any(n.startswith(("/", "./", "additional_files")) for n in names)
    for m in members:
        assert (m.mtime, m.uid, m.gid, m.uname, m.gname) == (0, 0, 0, "", "")
        assert m.pax_headers == {}
        if m.isdir():
            assert m.mode == 0o755
        elif m.issym():
            assert m.mode == 0o777 and m.linkname == "../notes/readme.txt"
        else:
            assert m.isfile()
            assert m.mode == (0o755 if m.name == "bin/run.sh" else 0o644), m.name
    # GNU format, not pax: the long name travels in a ././@LongLink entry.
    assert b"././@LongLink" in gzip.decompress(raw)
    assert b"PaxHeader" not in gzip.decompress(raw)
    assert len(gzip.decompress(raw)) % tarfile.RECORDSIZE == 0


def test_round_trip_with_tar_gzip_and_tarfile(tmp_path: Path) -> None:
    mlcube = mixed_cube(tmp_path)
    af = mlcube / "workspace" / "additional_files"
    assert run_cli("package", str(mlcube))[0] == 0
    archive = mlcube / "assets" / "additional_files.tar.gz"
    subprocess.run(["gzip", "-t", str(archive)], check=True)
    listing = subprocess.run(
        ["tar", "tzvf", str(archive)], check=True, capture_output=True, text=True
    ).stdout
    assert "weights.bin" in listing and "nested/link.txt -> ../notes/readme.txt" in listing

    by_tar = tmp_path / "by-tar"
    by_tar.mkdir()
    subprocess.run(["tar", "xzf", str(archive), "-C", str(by_tar)], check=True)
    assert tree(by_tar) == tree(af)

    by_tarfile = tmp_path / "by-tarfile"
    with tarfile.open(archive) as tf:
        if sys.version_info >= (3, 12) or hasattr(tarfile, "data_filter"):
            tf.extractall(by_tarfile, filter="data")  # what MedPerf does on new Pythons
        else:  # pragma: no cover - Python without extraction filters
            tf.extractall(by_tarfile)
    assert tree(by_tarfile) == tree(af)


def test_mixed_content_compresses_the_text_and_stores_the_weights(tmp_path: Path) -> None:
    src = tmp_path / "af"
    files = populate_mixed(src)
    stats = pkg.write_additional_files(src, tmp_path / "out.tar.gz")
    raw = sum(len(d) for d in files.values())
    random_part = len(files["weights.bin"])
    # Weights stored (all but a tail too short to be worth probing), text deflated: the
    # archive is smaller than the data, by about the text's saving.
    assert stats.stored_bytes >= random_part - pkg.PROBE_SLICES * pkg.PROBE_SLICE_SIZE
    assert stats.deflated_bytes >= len(TEXT)
    assert stats.size < raw
    assert stats.size < random_part + len(TEXT) // 4
    assert stats.sha256 == hashlib.sha256((tmp_path / "out.tar.gz").read_bytes()).hexdigest()
    with tarfile.open(tmp_path / "out.tar.gz") as tf:
        for rel, data in files.items():
            member = tf.extractfile(rel)
            assert member is not None and member.read() == data


def test_gzip_writer_mode_switches_decode_everywhere() -> None:
    pieces: list[tuple[bytes, bool | None]] = [
        (TEXT[:5000], True),
        (rand(200_000, 2), False),  # more than one stored block
        (b"", False),
        (TEXT[:70_000], True),
        (b"x" * 10, None),  # continues deflating
        (rand(70_000, 3), False),
        (b"tail", None),  # continues storing; the stream ends in stored mode
    ]
    for cut in range(len(pieces) + 1):
        sink = io.BytesIO()
        with pkg.HashingWriter(sink) as out:
            gz = pkg.GzipWriter(out, 6)
            for data, mode in pieces[:cut]:
                gz.write(data, mode)
            gz.close()
        blob = sink.getvalue()
        expected = b"".join(d for d, _ in pieces[:cut])
        assert out.size == len(blob)
        assert out.hexdigest() == hashlib.sha256(blob).hexdigest()
        assert gzip.decompress(blob) == expected
        assert zlib.decompress(blob, 31) == expected
        done = subprocess.run(["gzip", "-dc"], input=blob, capture_output=True, check=True)
        assert done.stdout == expected


def test_regions_do_not_depend_on_how_the_stream_is_cut(tmp_path: Path) -> None:
    data = rand(2 * MiB + 777, 4) + TEXT
    whole = pkg.gzip_regions([data], tmp_path / "a.gz")
    ragged = pkg.gzip_regions(
        (data[i : i + 123_457] for i in range(0, len(data), 123_457)), tmp_path / "b.gz"
    )
    assert whole == ragged
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()
    assert gzip.decompress((tmp_path / "a.gz").read_bytes()) == data


def test_invalid_mlcube_writes_nothing_and_keeps_previous_assets(tmp_path: Path) -> None:
    mlcube = example_copy(tmp_path)
    assert run_cli("package", str(mlcube))[0] == 0
    before = read_all(mlcube / "assets")
    manifest = mlcube / "mlcube.yaml"
    manifest.write_text(manifest.read_text().replace("weights: additional_files/", "weights: ../"))
    code, _, err = run_cli("package", str(mlcube))
    assert code == 1
    assert "[outside-workspace]" in err
    assert "nothing was written" in err
    assert read_all(mlcube / "assets") == before
    assert sorted(p.name for p in mlcube.iterdir()) == ["assets", "mlcube.yaml", "workspace"]
    # A fresh cube that is invalid: no folder at all.
    other = example_copy(tmp_path, "other")
    (other / "mlcube.yaml").write_text("name: x\ntasks: [1, 2]\n")
    assert run_cli("package", str(other))[0] == 1
    assert not (other / "assets").exists()


def test_failure_part_way_leaves_previous_assets(tmp_path: Path) -> None:
    mlcube = example_copy(tmp_path)
    assert run_cli("package", str(mlcube))[0] == 0
    before = read_all(mlcube / "assets")
    af = mlcube / "workspace" / "additional_files"
    (af / "big.bin").write_bytes(rand(2 * MiB, 5))
    (af / "zz-escape").symlink_to("../../../outside.txt")  # met after big.bin was written
    code, _, err = run_cli("package", str(mlcube))
    assert code == 1
    assert "points outside its folder" in err and "zz-escape" in err
    assert read_all(mlcube / "assets") == before
    assert sorted(p.name for p in mlcube.iterdir()) == ["assets", "mlcube.yaml", "workspace"]


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("../../mlcube.yaml", "points outside its folder"),
        ("sub/../../x", "points outside its folder"),
        ("/etc/passwd", "an absolute target"),
        ("missing.txt", "points to nothing"),
        ("..", "points outside its folder"),
    ],
)
def test_bad_symlinks_are_rejected(tmp_path: Path, target: str, message: str) -> None:
    mlcube = example_copy(tmp_path)
    (mlcube / "workspace" / "additional_files" / "link").symlink_to(target)
    code, _, err = run_cli("package", str(mlcube))
    assert code == 1
    assert message in err
    assert not (mlcube / "assets").exists()


def test_absolute_symlink_is_rejected_even_when_it_points_inside(tmp_path: Path) -> None:
    mlcube = example_copy(tmp_path)
    af = mlcube / "workspace" / "additional_files"
    (af / "abs").symlink_to(af / "weights.json")  # would point elsewhere once extracted
    code, _, err = run_cli("package", str(mlcube))
    assert code == 1 and "an absolute target" in err


def test_internal_symlinks_to_folders_are_kept_as_links(tmp_path: Path) -> None:
    src = tmp_path / "af"
    (src / "real").mkdir(parents=True)
    (src / "real" / "x.txt").write_text("x")
    (src / "alias").symlink_to("real")
    (src / "self").symlink_to(".")
    pkg.write_additional_files(src, tmp_path / "out.tar.gz")
    with tarfile.open(tmp_path / "out.tar.gz") as tf:
        kinds = {m.name: (m.type, m.linkname) for m in tf.getmembers()}
    assert kinds == {
        "alias": (tarfile.SYMTYPE, "real"),
        "real": (tarfile.DIRTYPE, ""),
        "real/x.txt": (tarfile.REGTYPE, ""),
        "self": (tarfile.SYMTYPE, "."),
    }


def test_a_foreign_output_folder_is_left_alone(tmp_path: Path) -> None:
    mlcube = example_copy(tmp_path)
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("keep me")
    code, _, err = run_cli("package", str(mlcube), "--output", str(foreign))
    assert code == 1 and "not an assets folder written by medperf-action" in err
    assert sorted(p.name for p in foreign.iterdir()) == ["precious.txt"]
    # Inside additional_files: refused too.
    inside = mlcube / "workspace" / "additional_files" / "assets"
    code, _, err = run_cli("package", str(mlcube), "--output", str(inside))
    assert code == 1 and "would package themselves" in err
    assert not inside.exists()


def test_no_additional_files_folder_means_no_tarball(tmp_path: Path) -> None:
    mlcube = example_copy(tmp_path)
    manifest = mlcube / "mlcube.yaml"
    manifest.write_text(
        manifest.read_text().replace(" weights: additional_files/weights.json,", "")
    )
    shutil.rmtree(mlcube / "workspace" / "additional_files")
    code, _, err = run_cli("package", str(mlcube))
    assert code == 0, err
    assert "additional_files.tar.gz not written" in err
    assets = mlcube / "assets"
    assert not (assets / "additional_files.tar.gz").exists()
    manifest_data = json.loads((assets / "manifest.json").read_text())
    assert manifest_data["additional_files"] is None
    subprocess.run(
        ["sha256sum", "-c", "checksums.sha256"], cwd=assets, check=True, capture_output=True
    )


def test_replacing_without_an_atomic_exchange(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(atomic, "_exchange", lambda a, b: False)
    mlcube = example_copy(tmp_path)
    assert run_cli("package", str(mlcube))[0] == 0
    (mlcube / "workspace" / "parameters.yaml").write_text("changed: 1\n")
    assert run_cli("package", str(mlcube))[0] == 0
    assert (mlcube / "assets" / "parameters.yaml").read_text() == "changed: 1\n"
    assert sorted(p.name for p in mlcube.iterdir()) == ["assets", "mlcube.yaml", "workspace"]


def test_github_outputs(tmp_path: Path) -> None:
    mlcube = example_copy(tmp_path)
    output = tmp_path / "gh-output"
    summary = tmp_path / "gh-summary"
    output.touch()
    code, _, err = run_cli(
        "package",
        str(mlcube),
        env={
            "GITHUB_ACTIONS": "true",
            "GITHUB_OUTPUT": str(output),
            "GITHUB_STEP_SUMMARY": str(summary),
        },
    )
    assert code == 0, err
    values = dict(line.split("=", 1) for line in output.read_text().splitlines())
    assert values["assets-dir"] == str(mlcube / "assets")
    assert json.loads(values["assets-json"]) == json.loads(
        (mlcube / "assets" / "manifest.json").read_text()
    )
    assert "additional_files.tar.gz" in summary.read_text()
    assert "::notice file=" in err  # validation findings as annotations


def test_memory_stays_small_on_a_large_file(tmp_path: Path) -> None:
    src = tmp_path / "af"
    src.mkdir()
    block = os.urandom(MiB)
    with open(src / "weights.bin", "wb") as f:
        for i in range(200):
            f.write(block[i:] + block[:i])  # 200 MiB, incompressible
    (src / "config.txt").write_bytes(TEXT)
    tracemalloc.start()
    try:
        stats = pkg.write_additional_files(src, tmp_path / "out.tar.gz")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert stats.content_bytes == 200 * MiB + len(TEXT)
    assert peak < 6 * MiB, f"peak {peak / MiB:.1f} MiB"
    with tarfile.open(tmp_path / "out.tar.gz") as tf:
        assert [m.size for m in tf.getmembers()] == [len(TEXT), 200 * MiB]


@pytest.mark.docker
def test_image_archive_loads_back_to_the_same_image(tmp_path: Path, docker_client: object) -> None:
    mlcube = example_copy(tmp_path)
    code, _, err = run_cli("package", str(mlcube), "--image-archive")
    assert code == 0, err
    assets = mlcube / "assets"
    manifest = json.loads((assets / "manifest.json").read_text())
    image = manifest["image"]
    assert image["archive"] == "image.tar.gz" and image["id"].startswith("sha256:")
    assert "image.tar.gz" in {f["name"] for f in manifest["files"]}
    subprocess.run(
        ["sha256sum", "-c", "checksums.sha256"], cwd=assets, check=True, capture_output=True
    )
    with open(assets / "image.tar.gz", "rb") as f:
        loaded = docker_client.images.load(f)  # type: ignore[attr-defined]
    assert [i.id for i in loaded] == [image["id"]]
    assert "medperf-action-example/model:0.1.0" in loaded[0].tags


@pytest.mark.docker
def test_build_image_records_the_id_without_an_archive(tmp_path: Path, docker_client: Any) -> None:
    """What `publish --push-image` needs on a fresh runner: the image built, its ID in
    manifest.json, and no archive in the release. (The cube's image gets a name of this
    test's own, which no engine holds yet, so only --build-image can record an ID.)"""
    mlcube = example_copy(tmp_path)
    name = f"medperf-action-test/build-{uuid.uuid4().hex[:12]}:1"
    manifest_file = mlcube / "mlcube.yaml"
    text = manifest_file.read_text()
    manifest_file.write_text(text.replace("medperf-action-example/model:0.1.0", name))
    try:
        code, _, err = run_cli("package", str(mlcube))
        assert code == 0, err
        recorded = json.loads((mlcube / "assets" / "manifest.json").read_text())["image"]
        assert recorded["id"] is None  # not built here: nothing to record
        code, _, err = run_cli("package", str(mlcube), "--build-image")
        assert code == 0, err
        recorded = json.loads((mlcube / "assets" / "manifest.json").read_text())
        assert recorded["image"]["id"] == docker_client.images.get(name).id
        assert recorded["image"]["archive"] is None
        assert "image.tar.gz" not in {f["name"] for f in recorded["files"]}
    finally:
        with contextlib.suppress(docker.errors.ImageNotFound):
            docker_client.images.remove(name)


def test_image_archive_and_build_image_are_one_or_the_other(tmp_path: Path) -> None:
    mlcube = example_copy(tmp_path)
    code, _, err = run_cli("package", str(mlcube), "--image-archive", "--build-image")
    assert code == 2 and "give one of the two" in err
    assert not (mlcube / "assets").exists()
