"""`publish --push-image`: the packaged image pushed to a real OCI registry (Debian's
docker-registry on 127.0.0.1), then pulled back by the digest the registry reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from medperf_action.adapters.docker.images import ensure_image
from medperf_action.domain.validation import validate_path
from medperf_action.errors import PublishError
from medperf_action.usecases.packaging import package_cube
from medperf_action.usecases.publishing import push_image

pytestmark = pytest.mark.docker

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "model"


def test_push_then_pull_by_digest(docker_client, oci_registry: str, tmp_path: Path) -> None:
    cube = validate_path(EXAMPLE).cube
    assert cube is not None
    image_id = ensure_image(cube.image, cube.build_context, cube.build_file).id
    assets = package_cube(
        validate_path(EXAMPLE), tmp_path / "assets", log=lambda _l: None
    ).directory

    ref = f"{oci_registry}/medperf/centroid:0.1.0"
    pinned = push_image(assets, ref, log=lambda _l: None)
    repository, digest = pinned.split("@")
    assert repository == f"{oci_registry}/medperf/centroid"
    assert digest.startswith("sha256:") and len(digest) == 71

    # Forget every local name of the image, then pull it back by digest alone.
    docker_client.images.remove(ref)
    docker_client.images.pull(repository, tag=digest)
    pulled = docker_client.images.get(pinned)
    assert pulled.id == image_id
    assert pinned in pulled.attrs["RepoDigests"]
    docker_client.images.remove(pinned)


def test_push_needs_a_recorded_image(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text('{"image": {"ref": "x/y:1", "id": null}}')
    with pytest.raises(PublishError, match="no image ID"):
        push_image(tmp_path, "127.0.0.1:1/x:1")
