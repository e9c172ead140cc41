"""A published MedPerf world on the GitHub test server, for the GitOps tests.

* `medperf/registry`: registry.yaml (committee: carol), benchmarks/breast-cancer.yaml and
  the benchmark's three cubes as published mlcube entries (asset URLs + SHA-256).
* `medperf/benchmark-cubes`: releases holding those cubes' assets and the demo dataset.
* `alice/wdbc-centroid`: the model owner's repository, its MLCube packaged and published
  at v1.0.0 (assets/release.json, as `medperf-action publish` leaves it).

Users: carol (committee, owns the benchmark), alice (model owner), mallory (outsider).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

from medperf_action.docker_runner import ensure_image
from medperf_action.fetch import sha256_file
from medperf_action.package import package_cube
from medperf_action.publish import outputs_json, publish, write_record
from medperf_action.validate import validate_path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
REGISTRY = "medperf/registry"
CUBES = {
    "breast-cancer-prep": ("data_preparator", "data-preparator"),
    "breast-cancer-lr": ("reference_model", "model"),
    "breast-cancer-metrics": ("evaluator", "metrics"),
}
MODEL_ID = "breast-cancer-centroid"


@dataclass
class World:
    tokens: dict[str, str]
    model_assets: Path


def _publish(gh, monkeypatch, token: str, repo: str, tag: str, assets: Path) -> dict:
    monkeypatch.setenv("GITHUB_TOKEN", token)
    url, published = publish(repo, tag, assets, token=token, log=lambda _l: None)
    record = outputs_json(url, published, repository=repo, tag=tag)
    write_record(assets, record)
    return json.loads(record)


def _entry(mlcube_id: str, name: str, owner: str, role: str, record: dict, image: str) -> dict:
    assets = record["assets"]
    return {
        "id": mlcube_id,
        "name": name,
        "owner": owner,
        "role": role,
        "state": "OPERATION",
        "assets": {
            "mlcube": {k: assets["mlcube.yaml"][k] for k in ("url", "sha256")},
            "parameters": {k: assets["parameters.yaml"][k] for k in ("url", "sha256")},
            **(
                {
                    "additional_files": {
                        k: assets["additional_files.tar.gz"][k] for k in ("url", "sha256")
                    }
                }
                if "additional_files.tar.gz" in assets
                else {}
            ),
        },
        "image": {"name": image},
    }


def build_world(gh, monkeypatch, tmp: Path, docker_client, policy: str = "never") -> World:
    monkeypatch.setenv("GITHUB_API_URL", gh.api_url)
    monkeypatch.setenv("MEDPERF_ACTION_GITHUB_PAUSES", "0")
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.delenv("GITHUB_SHA", raising=False)
    monkeypatch.delenv("MEDPERF_REGISTRY_TOKEN", raising=False)
    tokens = {login: gh.add_user(login) for login in ("carol", "alice", "mallory")}
    gh.add_org("medperf", {"carol": "admin"})
    gh.create_repo("medperf/benchmark-cubes", {"README.md": b"cubes\n"})
    gh.add_collaborator("medperf/benchmark-cubes", "carol", "admin")

    files: dict[str, bytes] = {}
    for mlcube_id, (folder, role) in CUBES.items():
        cube = validate_path(EXAMPLES / folder).cube
        ensure_image(
            cube.image,
            cube.build_context,
            cube.build_file,
            log=lambda _l: None,
            client=docker_client,
        )
        assets = package_cube(
            validate_path(EXAMPLES / folder), tmp / mlcube_id, log=lambda _l: None
        ).directory
        record = _publish(
            gh, monkeypatch, tokens["carol"], "medperf/benchmark-cubes", mlcube_id, assets
        )
        entry = _entry(mlcube_id, mlcube_id, "carol", role, record, cube.image)
        files[f"mlcubes/{mlcube_id}.yaml"] = yaml.safe_dump(entry, sort_keys=False).encode()

    demo = tmp / "demo"
    demo.mkdir()
    shutil.copy(EXAMPLES / "demo" / "breast-cancer-demo.tar.gz", demo)
    (demo / "checksums.sha256").write_text(
        f"{sha256_file(demo / 'breast-cancer-demo.tar.gz')}  breast-cancer-demo.tar.gz\n"
    )
    demo_record = _publish(
        gh, monkeypatch, tokens["carol"], "medperf/benchmark-cubes", "demo-v1", demo
    )
    demo_asset = demo_record["assets"]["breast-cancer-demo.tar.gz"]

    files["registry.yaml"] = yaml.safe_dump(
        {
            "name": "Test registry",
            "committee": {"users": ["carol"]},
            "approval_policy": {"mode": policy},
        }
    ).encode()
    files["benchmarks/breast-cancer.yaml"] = yaml.safe_dump(
        {
            "id": "breast-cancer",
            "name": "Breast cancer (WDBC) demo benchmark",
            "description": "The example benchmark, published.",
            "owner": "carol",
            "approval_status": "APPROVED",
            "data_preparator": "breast-cancer-prep",
            "reference_model": "breast-cancer-lr",
            "evaluator": "breast-cancer-metrics",
            "demo_dataset": {"url": demo_asset["url"], "sha256": demo_asset["sha256"]},
        },
        sort_keys=False,
    ).encode()
    gh.create_repo(REGISTRY, files)
    gh.add_collaborator(REGISTRY, "carol", "admin")

    model = validate_path(EXAMPLES / "model").cube
    ensure_image(
        model.image,
        model.build_context,
        model.build_file,
        log=lambda _l: None,
        client=docker_client,
    )
    gh.create_repo("alice/wdbc-centroid", {"README.md": b"model\n"})
    model_assets = package_cube(
        validate_path(EXAMPLES / "model"), tmp / "model-assets", log=lambda _l: None
    ).directory
    _publish(gh, monkeypatch, tokens["alice"], "alice/wdbc-centroid", "v1.0.0", model_assets)
    monkeypatch.delenv("GITHUB_TOKEN")
    return World(tokens, model_assets)
