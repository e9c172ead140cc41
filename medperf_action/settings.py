"""What medperf-action reads from its environment, in one place.

Every layer may ask here; nothing here imports the rest of the package but `errors`.

| variable | what |
|---|---|
| `MEDPERF_ACTION_CACHE` | the cache folder (default `~/.cache/medperf-action`) |
| `MEDPERF_ACTION_STORE` | a site's dataset store (default `~/.medperf-action/store`) |
| `MEDPERF_DATA_PATH`, `MEDPERF_LABELS_PATH` | a site's raw data and labels (`dataset prepare`) |
| `MEDPERF_REGISTRY` | the registry when `--registry` is not given (before .medperf.yml's) |
| `MEDPERF_REGISTRY_TOKEN` | the token that opens requests in the registry |
| `GITHUB_TOKEN` | the token for everything else on GitHub |
| `GITHUB_REPOSITORY` | this repository, under GitHub Actions |
| `GITHUB_SERVER_URL`, `GITHUB_RUN_ID` | this run's page, which a result statement names |
| `MEDPERF_TEAM_TOKEN` | a token that reads the committee's team memberships, for nothing else |
| `MEDPERF_ACTION_DEBUG` | `1`: show the traceback of every error, not only of bugs |
| `MEDPERF_ACTION_SESSION` | a label on every container started, to clean up only those |
| `DOCKER_HOST` | the container engine, as for Docker; rootless Podman too: docs/podman.md |
| `MEDPERF_ACTION_INSECURE_HOSTS` | hosts the registry's re-run may download from over http |
| `ACTIONS_ID_TOKEN_REQUEST_URL`, `_TOKEN` | the job's OIDC token, for keyless signing |
"""

from __future__ import annotations

import os
from pathlib import Path

from medperf_action.errors import UsageError

#: What an untrusted cube's task may use, when nobody says otherwise: the memory of a task
#: container (a GitHub-hosted runner has 16 GB), and how much of its log is kept.
DEFAULT_MEMORY = "8g"
DEFAULT_LOG_LIMIT = 64 << 20
#: What the registry's re-run may download and extract (registry.yaml `limits` may say
#: otherwise): one asset whose entry declares no size, and one archive's contents.
DEFAULT_MAX_ASSET_BYTES = 4 << 30
DEFAULT_MAX_EXTRACT_BYTES = 2 << 30

CACHE_ENV = "MEDPERF_ACTION_CACHE"
STORE_ENV = "MEDPERF_ACTION_STORE"
DATA_PATH_ENV = "MEDPERF_DATA_PATH"
LABELS_PATH_ENV = "MEDPERF_LABELS_PATH"
DEBUG_ENV = "MEDPERF_ACTION_DEBUG"
SESSION_ENV = "MEDPERF_ACTION_SESSION"


def cache_dir() -> Path:
    """The cache folder: `$MEDPERF_ACTION_CACHE`, else `~/.cache/medperf-action`."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "medperf-action"


def store_dir() -> Path:
    """A site's dataset store: `$MEDPERF_ACTION_STORE`, else `~/.medperf-action/store`.
    It holds private data (prepared data, predictions, the containers' logs): it is
    never uploaded, and never inside a repository's checkout."""
    configured = os.environ.get(STORE_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".medperf-action" / "store"


def data_paths(data: Path | None, labels: Path | None) -> tuple[Path, Path]:
    """A site's raw data and labels: the options, else `$MEDPERF_DATA_PATH` and
    `$MEDPERF_LABELS_PATH` (the runner's environment; never a repository's file)."""
    data = data or _env_path(DATA_PATH_ENV)
    labels = labels or _env_path(LABELS_PATH_ENV)
    missing = [
        f"{option} or ${env}"
        for value, option, env in (
            (data, "--data-path", DATA_PATH_ENV),
            (labels, "--labels-path", LABELS_PATH_ENV),
        )
        if value is None
    ]
    if data is None or labels is None:
        raise UsageError(f"where is the raw data? give {' and '.join(missing)}")
    return data, labels


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value).expanduser() if value else None


def debug() -> bool:
    return os.environ.get(DEBUG_ENV) == "1"


def session() -> str | None:
    """The session every container started here is labelled with, if one is set."""
    return os.environ.get(SESSION_ENV) or None


def insecure_hosts() -> set[str]:
    """Hosts an untrusted download may reach over plain http ($MEDPERF_ACTION_INSECURE_HOSTS,
    comma-separated): a test server on 127.0.0.1, say. Nothing by default."""
    value = os.environ.get("MEDPERF_ACTION_INSECURE_HOSTS", "")
    return {h.strip().lower() for h in value.split(",") if h.strip()}


def in_actions() -> bool:
    """Whether this process runs as a GitHub Actions step."""
    return os.environ.get("GITHUB_ACTIONS") == "true"


def actions_oidc() -> bool:
    """Whether this GitHub Actions job may ask for its OIDC token (the workflow gave the job
    `permissions: id-token: write`), as Sigstore keyless signing needs."""
    return bool(
        os.environ.get("ACTIONS_ID_TOKEN_REQUEST_URL")
        and os.environ.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
    )


def github_token(token: str | None, env: str = "GITHUB_TOKEN") -> str:
    """`--token`, else the environment's; a UsageError when there is neither."""
    value = token or os.environ.get(env)
    if not value:
        raise UsageError(f"no GitHub token: pass --token or set {env}")
    return value


def password_from_env(option: str, variable: str | None) -> bytes | None:
    """A password from the environment variable `variable` that `option` names (None: no
    variable named); a UsageError when it is not set. Never prompted for."""
    if variable is None:
        return None
    value = os.environ.get(variable)
    if value is None:
        raise UsageError(f"{option} {variable}: ${variable} is not set")
    return value.encode()


def team_token() -> str | None:
    """The token that reads the committee's team memberships, when it is not the
    workflow's own (GITHUB_TOKEN cannot read an organisation's teams)."""
    return os.environ.get("MEDPERF_TEAM_TOKEN") or None


def registry_token(token: str | None) -> str | None:
    """The token that opens requests in the registry: --token, $MEDPERF_REGISTRY_TOKEN,
    then $GITHUB_TOKEN (in Actions the workflow's own token cannot fork another repo)."""
    return token or os.environ.get("MEDPERF_REGISTRY_TOKEN") or os.environ.get("GITHUB_TOKEN")


def this_repository(given: str | None = None) -> str | None:
    """`given`, else `$GITHUB_REPOSITORY` (OWNER/REPO of the workflow's repository)."""
    return given or os.environ.get("GITHUB_REPOSITORY") or None


def commit_sha() -> str | None:
    """The commit a GitHub Actions run is for ($GITHUB_SHA)."""
    return os.environ.get("GITHUB_SHA") or None


def run_id() -> str:
    """The GitHub Actions run ($GITHUB_RUN_ID), or `local`."""
    return os.environ.get("GITHUB_RUN_ID", "local")


def run_url() -> str | None:
    """This GitHub Actions run's page ($GITHUB_SERVER_URL/$GITHUB_REPOSITORY/actions/runs/
    $GITHUB_RUN_ID); None outside GitHub Actions."""
    run, repo = os.environ.get("GITHUB_RUN_ID"), os.environ.get("GITHUB_REPOSITORY")
    if not run or not repo or not in_actions():
        return None
    server = os.environ.get("GITHUB_SERVER_URL") or "https://github.com"
    return f"{server.rstrip('/')}/{repo}/actions/runs/{run}"
