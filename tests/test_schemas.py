"""The JSON Schemas in schemas/: well-formed, and they accept the real corpus.

The corpus (tests/corpus, see SOURCES.md there) holds unmodified manifests from MedPerf's
and MLCube's repositories, so every one of them must be accepted. The registry formats are
our own (docs/registry-format.md); they are checked with positive and negative examples.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from corpus_tools import PLACEHOLDER, render_cookiecutter
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_DIR = ROOT / "schemas"
CORPUS = Path(__file__).resolve().parent / "corpus"
ID_PREFIX = "https://medperf-action.github.io/schemas/"

SCHEMA_FILES = sorted(p.name for p in SCHEMA_DIR.glob("*.json"))
EXPECTED_SCHEMAS = {
    "association.schema.json",
    "benchmark.schema.json",
    "container_config.schema.json",
    "dataset-association.schema.json",
    "dataset.schema.json",
    "mlcube-entry.schema.json",
    "mlcube.schema.json",
    "model-repo.schema.json",
    "parameters.schema.json",
    "pins.schema.json",
    "registry.schema.json",
    "result-predicate.schema.json",
    "result.schema.json",
    "site-repo.schema.json",
    "summary.schema.json",
    "verify-report.schema.json",
}


def load_schema(name: str) -> dict[str, Any]:
    return json.loads((SCHEMA_DIR / name).read_text(encoding="utf-8"))


SCHEMAS = {name: load_schema(name) for name in SCHEMA_FILES}
REGISTRY: Registry = Registry().with_resources(
    (schema["$id"], Resource.from_contents(schema)) for schema in SCHEMAS.values()
)


def validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(
        SCHEMAS[name],
        registry=REGISTRY,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def errors(name: str, instance: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in validator(name).iter_errors(instance)
    ]


# --------------------------------------------------------------------------- the schemas


def test_all_expected_schemas_exist() -> None:
    assert set(SCHEMA_FILES) == EXPECTED_SCHEMAS


@pytest.mark.parametrize("name", SCHEMA_FILES)
def test_schema_is_well_formed(name: str) -> None:
    schema = SCHEMAS[name]
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == ID_PREFIX + name
    assert schema["title"].strip()
    assert schema["description"].strip()


def test_schema_ids_are_unique() -> None:
    ids = [schema["$id"] for schema in SCHEMAS.values()]
    assert len(ids) == len(set(ids))


# Subschemas that only constrain other keywords' results; they need no documentation.
CONDITIONS = {"if", "then", "else", "anyOf", "allOf", "not"}


def _properties(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, sub in node.get("properties", {}).items():
            yield f"{path}/properties/{key}", sub
        for key, sub in node.items():
            if key not in CONDITIONS:
                yield from _properties(sub, f"{path}/{key}")
    elif isinstance(node, list):
        for index, sub in enumerate(node):
            yield from _properties(sub, f"{path}/{index}")


@pytest.mark.parametrize("name", SCHEMA_FILES)
def test_every_property_has_title_and_description(name: str) -> None:
    undocumented = [
        path
        for path, prop in _properties(SCHEMAS[name])
        if not (isinstance(prop, dict) and prop.get("title") and prop.get("description"))
    ]
    assert not undocumented


# ------------------------------------------------------------------------------ corpus


def load_corpus_yaml(path: Path) -> Any:
    return yaml.safe_load(render_cookiecutter(path.read_text(encoding="utf-8")))


def corpus_files(pattern: str) -> list[Path]:
    return sorted(CORPUS.glob(pattern))


MLCUBE_FILES = corpus_files("mlcube/*/mlcube.yaml")
CONTAINER_CONFIG_FILES = corpus_files("container_config/*/container_config.yaml")
PARAMETERS_FILES = corpus_files("*/*/workspace/parameters.yaml")


def corpus_id(path: Path) -> str:
    return path.relative_to(CORPUS).as_posix()


def test_corpus_is_complete() -> None:
    # ROLES.md counts 40 MLCube manifests and 16 container configs.
    assert (CORPUS / "SOURCES.md").is_file()
    assert (CORPUS / "ROLES.md").is_file()
    assert len(MLCUBE_FILES) == 40
    assert len(CONTAINER_CONFIG_FILES) == 16
    assert len(PARAMETERS_FILES) == 36


def test_templates_are_rendered_with_an_integer_accelerator_count() -> None:
    templates = [p for p in MLCUBE_FILES if PLACEHOLDER.search(p.read_text(encoding="utf-8"))]
    assert len(templates) == 4
    for path in templates:
        assert load_corpus_yaml(path)["platform"]["accelerator_count"] == 0


@pytest.mark.parametrize("path", MLCUBE_FILES, ids=corpus_id)
def test_corpus_mlcube_is_accepted(path: Path) -> None:
    assert errors("mlcube.schema.json", load_corpus_yaml(path)) == []


@pytest.mark.parametrize("path", CONTAINER_CONFIG_FILES, ids=corpus_id)
def test_corpus_container_config_is_accepted(path: Path) -> None:
    assert errors("container_config.schema.json", load_corpus_yaml(path)) == []


@pytest.mark.parametrize("path", PARAMETERS_FILES, ids=corpus_id)
def test_corpus_parameters_is_accepted(path: Path) -> None:
    assert errors("parameters.schema.json", load_corpus_yaml(path)) == []


# ------------------------------------------------------------- examples and mutations

DELETE = object()
HEX64 = "0123456789abcdef" * 4
HEX40 = "0123456789abcdef0123456789abcdef01234567"


def changed(base: Any, changes: dict[str, Any]) -> Any:
    """A deep copy of `base` with `changes` applied; keys are '/'-separated paths."""
    result = copy.deepcopy(base)
    for path, value in changes.items():
        *parents, last = path.split("/")
        node: Any = result
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if value is DELETE:
            del node[last]
        elif isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return result


MLCUBE = {
    "name": "Example model",
    "description": "An example",
    "authors": [{"name": "Alice", "email": "alice@example.org", "org": "Example"}],
    "platform": {"accelerator_count": 0},
    "docker": {
        "image": "example/model:0.1.0",
        "build_context": "../project",
        "build_file": "Dockerfile",
    },
    "tasks": {
        "infer": {
            "parameters": {
                "inputs": {
                    "data_path": "data/",
                    "parameters_file": "parameters.yaml",
                    "weights": {"type": "file", "default": "additional_files/w.pt"},
                },
                "outputs": {"output_path": {"type": "directory", "default": "predictions"}},
            }
        }
    },
}

CONTAINER_CONFIG = {
    "container_type": "DockerImage",
    "image": "example/model:0.1.0",
    "tasks": {
        "infer": {
            "input_volumes": {
                "data_path": {"mount_path": "/mlcommons/volumes/data", "type": "directory"},
            },
            "output_volumes": {
                "output_path": {
                    "mount_path": "/mlcommons/volumes/predictions",
                    "type": "directory",
                },
            },
            "run_args": {"command": ["python3", "/project/infer.py"], "shm_size": "1g"},
        }
    },
}

SIGNATURES = {
    "required": True,
    "identities": [
        {
            "name": "alice",
            "public_key": "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n"
            "-----END PUBLIC KEY-----\n",
        },
        {
            "identity": "https://github.com/a/b/.github/workflows/r.yml@refs/tags/v1",
            "issuer": "https://token.actions.githubusercontent.com",
            "repository": "https://github.com/a/b",
        },
    ],
}

REGISTRY_EXAMPLE = {
    "name": "Example breast-cancer registry",
    "committee": {"users": ["alice"], "teams": ["my-org/benchmark-committee"]},
    "labels": {
        "pending": "medperf/pending",
        "approved": "medperf/approved",
        "rejected": "medperf/rejected",
        "verified": "medperf/verified",
        "verification_failed": "medperf/verification-failed",
    },
    "approval_policy": {"mode": "never", "allowlist": []},
    "metric_tolerance": {"absolute": 1.0e-6, "relative": 0.0},
}

BENCHMARK = {
    "id": "breast-cancer",
    "name": "Breast cancer (WDBC) demo benchmark",
    "description": "...",
    "owner": "alice",
    "approval_status": "APPROVED",
    "state": "OPERATION",
    "data_preparator": "breast-cancer-prep",
    "reference_model": "breast-cancer-lr",
    "evaluator": "breast-cancer-metrics",
    "demo_dataset": {"url": "https://example.org/demo.tar.gz", "sha256": HEX64},
    "metrics": ["auc", "accuracy"],
}

MLCUBE_ENTRY = {
    "id": "breast-cancer-lr",
    "name": "Logistic regression",
    "owner": "alice",
    "role": "model",
    "state": "OPERATION",
    "description": "...",
    "source": {"repository": "alice/wdbc-lr", "ref": "refs/tags/v1.0.0", "commit": HEX40},
    "assets": {
        "mlcube": {"url": "https://example.org/mlcube.yaml", "sha256": HEX64},
        "parameters": {"url": "https://example.org/parameters.yaml", "sha256": HEX64},
        "additional_files": {"url": "https://example.org/add.tar.gz", "sha256": HEX64},
    },
    "image": {"reference": f"ghcr.io/alice/wdbc-lr@sha256:{HEX64}"},
}

MLCUBE_ENTRY_LOCAL = {
    "id": "breast-cancer-lr",
    "name": "Logistic regression",
    "owner": "alice",
    "role": "model",
    "image": {"name": "local/tag:1.0"},
    "path": "../model/mlcube",
}


def _cube(cube_id: str) -> dict[str, Any]:
    return {
        "id": cube_id,
        "name": cube_id,
        "image": f"local/{cube_id}:1.0",
        "image_id": f"sha256:{HEX64}",
        "digest": None,
    }


SUMMARY = {
    "schema_version": 1,
    "tool": {"name": "medperf-action", "version": "0.1.0"},
    "benchmark": {"id": "breast-cancer", "registry": "examples/registry"},
    "started_at": "2026-11-29T04:00:00Z",
    "finished_at": "2026-11-29T04:00:09Z",
    "duration_s": 9.1,
    "passed": True,
    "dataset": {"source": "https://example.org/demo.tar.gz", "sha256": HEX64},
    "cubes": {
        "data_preparator": _cube("breast-cancer-prep"),
        "candidate": _cube("breast-cancer-centroid"),
        "reference_model": _cube("breast-cancer-lr"),
        "evaluator": _cube("breast-cancer-metrics"),
    },
    "tasks": [
        {
            "role": "candidate",
            "cube": "breast-cancer-centroid",
            "task": "infer",
            "exit_code": 0,
            "duration_s": 1.2,
            "cached": False,
            "cache_key": HEX64,
            "inputs": {"data_path": HEX64},
        }
    ],
    "metrics": {"candidate": {"auc": 0.98}, "reference": {"auc": 0.97}},
}

ASSOCIATION = {
    "benchmark": "breast-cancer",
    "mlcube": "breast-cancer-centroid",
    "status": "APPROVED",
    "initiated_by": "bob",
    "created_at": "2026-11-29T04:00:00Z",
    "approved_by": "alice",
    "approved_at": "2026-11-29T05:00:00Z",
    "result": {"passed": True, "metrics": {"auc": 0.98, "accuracy": 0.95}},
    "summary": SUMMARY,
}

MODEL_REPO = {
    "mlcube": "mlcube",
    "id": "breast-cancer-centroid",
    "name": "Nearest-centroid classifier",
    "role": "model",
    "registry": "my-org/medperf-registry",
    "benchmarks": ["breast-cancer"],
    "associate": True,
}

# (schema, case, base document, changes): the instance is `changed(base, changes)`.
Case = tuple[str, str, Any, dict[str, Any]]
CUBE_INFER = "tasks/infer/parameters"
CC_INFER = "tasks/infer"

VALID: list[Case] = [
    ("mlcube", "example", MLCUBE, {}),
    (
        "mlcube",
        "singularity-extension-section-runner-flag",
        MLCUBE,
        {
            "singularity": {"image": "model.sif", "build_file": "docker://example/model:0.1.0"},
            "gcp": {"zone": "x"},
            "docker/--memory": "8g",
        },
    ),
    ("mlcube", "outputs-only", MLCUBE, {f"{CUBE_INFER}/inputs": DELETE}),
    ("container_config", "example", CONTAINER_CONFIG, {}),
    (
        "container_config",
        "gpus-environment-command-string",
        CONTAINER_CONFIG,
        {
            f"{CC_INFER}/run_args/gpus": "all",
            f"{CC_INFER}/run_args/environment": {"A": "1", "B": 2},
            f"{CC_INFER}/run_args/command": "python3 /project/infer.py",
        },
    ),
    (
        "container_config",
        "archive-url",
        CONTAINER_CONFIG,
        {"container_type": "DockerArchive", "image": "https://example.org/image.tar"},
    ),
    (
        "container_config",
        "gpus-devices",
        CONTAINER_CONFIG,
        {f"{CC_INFER}/run_args/gpus": "device=0,1"},
    ),
    ("parameters", "mapping", {"threshold": 0.5}, {}),
    ("parameters", "empty-mapping", {}, {}),
    ("parameters", "empty-file", None, {}),
    ("registry", "docs-example", REGISTRY_EXAMPLE, {}),
    ("registry", "minimal", {"name": "r", "committee": {"users": ["alice"]}}, {}),
    ("registry", "teams-only", {"name": "r", "committee": {"teams": ["o/t"]}}, {}),
    ("registry", "signatures", REGISTRY_EXAMPLE, {"signatures": SIGNATURES}),
    ("benchmark", "docs-example", BENCHMARK, {}),
    (
        "benchmark",
        "demo-dataset-path",
        BENCHMARK,
        {
            "demo_dataset": {"path": "data/demo.tar.gz", "sha256": HEX64},
            "state": DELETE,
            "metrics": DELETE,
        },
    ),
    ("mlcube-entry", "docs-example-assets", MLCUBE_ENTRY, {}),
    ("mlcube-entry", "docs-example-path", MLCUBE_ENTRY_LOCAL, {}),
    (
        "mlcube-entry",
        "image-archive",
        MLCUBE_ENTRY,
        {"image": {"archive": {"url": "https://example.org/image.tar.gz", "sha256": HEX64}}},
    ),
    (
        "mlcube-entry",
        "minimal-assets",
        MLCUBE_ENTRY,
        {"state": DELETE, "description": DELETE, "source": DELETE, "image": DELETE},
    ),
    ("summary", "docs-example", SUMMARY, {}),
    (
        "summary",
        "failed-run",
        SUMMARY,
        {
            "passed": False,
            "tasks/0/exit_code": None,
            "metrics": {"candidate": None, "reference": {"auc": 0.97}},
            "cubes/candidate/image_id": None,
            "cubes/candidate/id": None,
        },
    ),
    ("association", "docs-example", ASSOCIATION, {}),
    (
        "association",
        "pending",
        ASSOCIATION,
        {"status": "PENDING", "approved_by": DELETE, "approved_at": DELETE},
    ),
    ("model-repo", "docs-example", MODEL_REPO, {}),
    (
        "model-repo",
        "defaults-left-out",
        MODEL_REPO,
        {"mlcube": DELETE, "role": DELETE, "associate": False, "benchmarks": []},
    ),
]

INVALID: list[Case] = [
    # mlcube.yaml
    ("mlcube", "no-docker", MLCUBE, {"docker": DELETE}),
    ("mlcube", "docker-without-image", MLCUBE, {"docker/image": DELETE}),
    ("mlcube", "no-tasks", MLCUBE, {"tasks": DELETE}),
    ("mlcube", "empty-tasks", MLCUBE, {"tasks": {}}),
    ("mlcube", "task-without-parameters", MLCUBE, {CUBE_INFER: DELETE}),
    ("mlcube", "typo-in-task", MLCUBE, {"tasks/infer/entrypiont": "x"}),
    ("mlcube", "typo-in-parameters", MLCUBE, {f"{CUBE_INFER}/input": {"data_path": "data/"}}),
    ("mlcube", "typo-in-docker", MLCUBE, {"docker/build_contxt": "../p"}),
    (
        "mlcube",
        "output-file-as-plain-path",
        MLCUBE,
        {f"{CUBE_INFER}/outputs/output_path": "r.yaml"},
    ),
    (
        "mlcube",
        "parameter-without-default",
        MLCUBE,
        {f"{CUBE_INFER}/inputs/weights/default": DELETE},
    ),
    ("mlcube", "parameter-bad-type", MLCUBE, {f"{CUBE_INFER}/inputs/weights/type": "str"}),
    ("mlcube", "parameter-null", MLCUBE, {f"{CUBE_INFER}/inputs/weights": None}),
    ("mlcube", "parameter-name-with-space", MLCUBE, {f"{CUBE_INFER}/inputs/my weights": "w.pt"}),
    ("mlcube", "inputs-null", MLCUBE, {f"{CUBE_INFER}/inputs": None}),
    ("mlcube", "negative-accelerator-count", MLCUBE, {"platform/accelerator_count": -1}),
    ("mlcube", "string-accelerator-count", MLCUBE, {"platform/accelerator_count": "1"}),
    ("mlcube", "bad-build-strategy", MLCUBE, {"docker/build_strategy": "sometimes"}),
    ("mlcube", "author-without-name", MLCUBE, {"authors/0/name": DELETE}),
    ("mlcube", "container-type-key", MLCUBE, {"container_type": "DockerImage"}),
    ("mlcube", "list", [MLCUBE], {}),
    # container_config.yaml
    ("container_config", "no-container-type", CONTAINER_CONFIG, {"container_type": DELETE}),
    ("container_config", "unknown-container-type", CONTAINER_CONFIG, {"container_type": "Podman"}),
    ("container_config", "no-image", CONTAINER_CONFIG, {"image": DELETE}),
    ("container_config", "no-tasks", CONTAINER_CONFIG, {"tasks": DELETE}),
    ("container_config", "url-as-docker-image", CONTAINER_CONFIG, {"image": "https://x.org/i.tar"}),
    (
        "container_config",
        "relative-mount-path",
        CONTAINER_CONFIG,
        {f"{CC_INFER}/input_volumes/data_path/mount_path": "data"},
    ),
    (
        "container_config",
        "mount-on-tmp",
        CONTAINER_CONFIG,
        {f"{CC_INFER}/input_volumes/data_path/mount_path": "/tmp"},
    ),
    (
        "container_config",
        "volume-type-dir",
        CONTAINER_CONFIG,
        {f"{CC_INFER}/input_volumes/data_path/type": "dir"},
    ),
    (
        "container_config",
        "volume-without-type",
        CONTAINER_CONFIG,
        {f"{CC_INFER}/input_volumes/data_path/type": DELETE},
    ),
    ("container_config", "volumes-null", CONTAINER_CONFIG, {f"{CC_INFER}/input_volumes": None}),
    (
        "container_config",
        "run-arg-network",
        CONTAINER_CONFIG,
        {f"{CC_INFER}/run_args/network": "x"},
    ),
    ("container_config", "bad-gpus", CONTAINER_CONFIG, {f"{CC_INFER}/run_args/gpus": "some"}),
    (
        "container_config",
        "numeric-shm-size",
        CONTAINER_CONFIG,
        {f"{CC_INFER}/run_args/shm_size": 12},
    ),
    ("container_config", "typo-in-task", CONTAINER_CONFIG, {f"{CC_INFER}/input_volume": {}}),
    # parameters.yaml
    ("parameters", "list", [1, 2], {}),
    ("parameters", "scalar", "threshold: 0.5", {}),
    ("parameters", "number", 3, {}),
    # registry.yaml
    ("registry", "no-committee", REGISTRY_EXAMPLE, {"committee": DELETE}),
    ("registry", "empty-committee", REGISTRY_EXAMPLE, {"committee": {}}),
    ("registry", "committee-empty-lists", REGISTRY_EXAMPLE, {"committee": {"users": []}}),
    ("registry", "bad-login", REGISTRY_EXAMPLE, {"committee/users": ["@alice"]}),
    ("registry", "team-without-org", REGISTRY_EXAMPLE, {"committee/teams": ["committee"]}),
    ("registry", "unknown-key", REGISTRY_EXAMPLE, {"comittee": {}}),
    ("registry", "unknown-label", REGISTRY_EXAMPLE, {"labels/verifed": "x"}),
    ("registry", "bad-mode", REGISTRY_EXAMPLE, {"approval_policy/mode": "always"}),
    ("registry", "negative-tolerance", REGISTRY_EXAMPLE, {"metric_tolerance/absolute": -1}),
    (
        "registry",
        "signatures-required-without-identities",
        REGISTRY_EXAMPLE,
        {"signatures": {"required": True}},
    ),
    (
        "registry",
        "signature-key-not-pem",
        REGISTRY_EXAMPLE,
        {"signatures": {"identities": [{"public_key": "ssh-ed25519 AAAA alice"}]}},
    ),
    (
        "registry",
        "sigstore-identity-without-issuer",
        REGISTRY_EXAMPLE,
        {"signatures": {"identities": [{"identity": "https://github.com/a/b"}]}},
    ),
    # benchmarks/<id>.yaml
    ("benchmark", "id-upper-case", BENCHMARK, {"id": "Breast-Cancer"}),
    ("benchmark", "id-leading-dash", BENCHMARK, {"id": "-breast"}),
    ("benchmark", "id-too-long", BENCHMARK, {"id": "a" * 65}),
    ("benchmark", "missing-evaluator", BENCHMARK, {"evaluator": DELETE}),
    ("benchmark", "bad-sha256", BENCHMARK, {"demo_dataset/sha256": HEX64.upper()}),
    ("benchmark", "short-sha256", BENCHMARK, {"demo_dataset/sha256": HEX64[:-1]}),
    ("benchmark", "demo-url-and-path", BENCHMARK, {"demo_dataset/path": "demo.tar.gz"}),
    ("benchmark", "demo-neither-url-nor-path", BENCHMARK, {"demo_dataset/url": DELETE}),
    ("benchmark", "demo-without-sha256", BENCHMARK, {"demo_dataset/sha256": DELETE}),
    (
        "benchmark",
        "demo-absolute-path",
        BENCHMARK,
        {"demo_dataset": {"path": "/data/demo.tar.gz", "sha256": HEX64}},
    ),
    ("benchmark", "bad-status", BENCHMARK, {"approval_status": "OK"}),
    ("benchmark", "unknown-key", BENCHMARK, {"reference": "x"}),
    # mlcubes/<id>.yaml
    ("mlcube-entry", "both-path-and-assets", MLCUBE_ENTRY, {"path": "../model/mlcube"}),
    ("mlcube-entry", "neither-path-nor-assets", MLCUBE_ENTRY, {"assets": DELETE}),
    ("mlcube-entry", "bad-id", MLCUBE_ENTRY, {"id": "breast_cancer_lr"}),
    ("mlcube-entry", "missing-owner", MLCUBE_ENTRY, {"owner": DELETE}),
    ("mlcube-entry", "bad-role", MLCUBE_ENTRY, {"role": "evaluator"}),
    ("mlcube-entry", "bad-asset-sha256", MLCUBE_ENTRY, {"assets/mlcube/sha256": "sha256:" + HEX64}),
    ("mlcube-entry", "asset-without-sha256", MLCUBE_ENTRY, {"assets/parameters/sha256": DELETE}),
    ("mlcube-entry", "assets-without-mlcube", MLCUBE_ENTRY, {"assets/mlcube": DELETE}),
    ("mlcube-entry", "short-commit", MLCUBE_ENTRY, {"source/commit": HEX40[:7]}),
    ("mlcube-entry", "image-reference-by-tag", MLCUBE_ENTRY, {"image/reference": "ghcr.io/a/b:1"}),
    ("mlcube-entry", "two-image-forms", MLCUBE_ENTRY, {"image/name": "local/tag:1.0"}),
    ("mlcube-entry", "empty-image", MLCUBE_ENTRY, {"image": {}}),
    ("mlcube-entry", "unknown-key", MLCUBE_ENTRY, {"sha256": HEX64}),
    ("mlcube-entry", "bad-repository", MLCUBE_ENTRY, {"source/repository": "wdbc-lr"}),
    # execution summary
    ("summary", "wrong-version", SUMMARY, {"schema_version": 2}),
    ("summary", "missing-cubes", SUMMARY, {"cubes": DELETE}),
    ("summary", "unknown-key", SUMMARY, {"notes": "x"}),
    ("summary", "bad-date", SUMMARY, {"started_at": "yesterday"}),
    ("summary", "bad-cache-key", SUMMARY, {"tasks/0/cache_key": "abc"}),
    ("summary", "bad-image-id", SUMMARY, {"cubes/candidate/image_id": HEX64}),
    ("summary", "bad-role", SUMMARY, {"tasks/0/role": "model"}),
    # associations/<benchmark>/<mlcube>.yaml
    ("association", "approved-without-approver", ASSOCIATION, {"approved_by": DELETE}),
    ("association", "pending-with-approver", ASSOCIATION, {"status": "PENDING"}),
    ("association", "bad-status", ASSOCIATION, {"status": "approved"}),
    ("association", "missing-summary", ASSOCIATION, {"summary": DELETE}),
    ("association", "bad-summary", ASSOCIATION, {"summary/dataset/sha256": "x"}),
    (
        "association",
        "unquoted-yaml-date",
        ASSOCIATION,
        {"created_at": yaml.safe_load("2026-11-29T04:00:00Z")},
    ),
    ("association", "bad-benchmark-id", ASSOCIATION, {"benchmark": "Breast Cancer"}),
    ("association", "unknown-key", ASSOCIATION, {"approved": True}),
    # .medperf.yml
    ("model-repo", "missing-id", MODEL_REPO, {"id": DELETE}),
    ("model-repo", "bad-role", MODEL_REPO, {"role": "evaluator"}),
    ("model-repo", "associate-without-benchmarks", MODEL_REPO, {"benchmarks": []}),
    ("model-repo", "bad-benchmark-id", MODEL_REPO, {"benchmarks": ["Breast Cancer"]}),
    ("model-repo", "unknown-key", MODEL_REPO, {"benchmark": "x"}),
]


def _params(cases: list[Case]) -> list[Any]:
    return [
        pytest.param(f"{schema}.schema.json", changed(base, changes), id=f"{schema}:{case}")
        for schema, case, base, changes in cases
    ]


@pytest.mark.parametrize(("name", "instance"), _params(VALID))
def test_valid_example_is_accepted(name: str, instance: Any) -> None:
    assert errors(name, instance) == []


@pytest.mark.parametrize(("name", "instance"), _params(INVALID))
def test_invalid_example_is_rejected(name: str, instance: Any) -> None:
    assert errors(name, instance)


def test_example_case_ids_are_unique() -> None:
    ids = [(schema, case) for schema, case, _, _ in VALID + INVALID]
    assert len(ids) == len(set(ids))
