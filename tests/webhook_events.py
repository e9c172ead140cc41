"""GitHub's own webhook payload examples, for the events the registry's workflows get.

The payloads come from the npm package @octokit/webhooks-examples at the exact version
pinned (with its integrity) in scripts/fetch-webhook-examples.py; it is fetched with
`npm pack` into .cache/webhooks/ when missing. `load` returns a deep copy of a real
example with only the fields a scenario names changed:

    load("pull_request", "labeled", repository="org/registry", number=3,
         sender="carol", label="medperf/approved", author="alice")
    load("workflow_run", "completed", repository="org/registry", number=3,
         head_sha="...", conclusion="success", event="pull_request")
    load("push", repository="alice/model", **{"ref": "refs/tags/v1.0.0"})

Shortcuts: repository, default_branch, number, sender, label, author, head_repo, head_ref, head_sha,
base_ref, base_sha, state, conclusion, event, head_branch. Any other keyword is a
dotted path into the payload (`**{"pull_request.draft": True}`); the path must exist.
"""

from __future__ import annotations

import copy
import functools
import importlib.util
from pathlib import Path
from typing import Any

_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "fetch-webhook-examples.py"


@functools.cache
def _script() -> Any:
    spec = importlib.util.spec_from_file_location("fetch_webhook_examples", _SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@functools.cache
def definitions() -> dict[str, dict[str, Any]]:
    """event name -> its definition (with `examples`), from the pinned package."""
    return {d["name"]: d for d in _script().definitions()}


def version() -> str:
    return str(_script().VERSION)


def examples(event: str, action: str | None = None) -> list[dict[str, Any]]:
    defs = definitions()
    if event not in defs:
        raise KeyError(f"no webhook event {event!r} in @octokit/webhooks-examples")
    found = [e for e in defs[event]["examples"] if action is None or e.get("action") == action]
    if not found:
        raise KeyError(f"no example of {event} {action}")
    return found


def _set_path(payload: dict[str, Any], dotted: str, value: Any) -> None:
    node: Any = payload
    parts = dotted.split(".")
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    last = parts[-1]
    if isinstance(node, list):
        node[int(last)] = value
    elif last not in node:
        raise KeyError(f"{dotted}: not a field of this example")
    else:
        node[last] = value


def _repo(repo: dict[str, Any] | None, full_name: str) -> None:
    if repo is None:
        return
    owner, name = full_name.split("/")
    previous = repo.get("full_name")
    if previous:  # its URLs name it too
        for key, value in repo.items():
            if (key.endswith("_url") or key == "url") and isinstance(value, str):
                repo[key] = value.replace(f"/{previous}", f"/{full_name}")
    repo["full_name"] = full_name
    repo["name"] = name
    if isinstance(repo.get("owner"), dict):
        repo["owner"]["login"] = owner


def load(event: str, action: str | None = None, /, **overrides: Any) -> dict[str, Any]:
    """A deep copy of the first real example of `event` (with `action`), changed as asked."""
    candidates = examples(event, action)
    wants_pr = event == "workflow_run" and "number" in overrides
    chosen = (
        next((e for e in candidates if e["workflow_run"]["pull_requests"]), None)
        if (wants_pr)
        else None
    )
    payload = copy.deepcopy(chosen or candidates[0])
    pr = payload.get("pull_request")
    run = payload.get("workflow_run")

    for key, value in overrides.items():
        if key == "repository":
            _repo(payload.get("repository"), value)
            if pr is not None:
                _repo(pr["base"]["repo"], value)
            if run is not None:
                _repo(run.get("repository"), value)
        elif key == "number":
            if pr is not None:
                payload["number"] = value
                pr["number"] = value
            elif run is not None:
                run["pull_requests"][0]["number"] = value
            else:
                raise KeyError(f"{event} has no pull request number")
        elif key == "default_branch":
            payload["repository"]["default_branch"] = value
        elif key == "sender":
            payload["sender"]["login"] = value
        elif key == "label":
            payload["label"]["name"] = value
        elif key == "author":
            pr["user"]["login"] = value
        elif key == "head_repo":
            if pr is not None:
                _repo(pr["head"]["repo"], value)
                pr["head"]["label"] = f"{value.split('/')[0]}:{pr['head']['ref']}"
            else:
                _repo(run["head_repository"], value)
        elif key in ("head_ref", "base_ref"):
            side = key.split("_")[0]
            pr[side]["ref"] = value
            if side == "head":
                pr["head"]["label"] = f"{pr['head']['label'].split(':')[0]}:{value}"
        elif key in ("head_sha", "base_sha"):
            side = key.split("_")[0]
            if pr is not None:
                pr[side]["sha"] = value
            else:
                run[key] = value
                if side == "head" and run["pull_requests"]:
                    run["pull_requests"][0]["head"]["sha"] = value
        elif key == "state":
            pr["state"] = value
        elif key in ("conclusion", "event", "head_branch"):
            run[key] = value
        else:
            _set_path(payload, key, value)
    return payload
