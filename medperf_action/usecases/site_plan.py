"""What a data owner's (site's) repository runs on each event, from `.medperf-site.yml`.

| event | what runs (on the site's self-hosted runner) |
|---|---|
| `workflow_dispatch`, command `prepare` | `dataset prepare` (the first benchmark's preparator) |
| `workflow_dispatch`, command `register` | `dataset register` |
| `workflow_dispatch`, command `associate` | `dataset associate`, once per benchmark |
| `workflow_dispatch`, command `run` | `benchmark run` (each approved benchmark) |
| `workflow_dispatch`, command `submit` | `result submit RUN_ID` (the release) |
| `schedule` | `benchmark run`: the models approved since the last run |

Nothing is released unless the data owner asks: only `submit`, with the id of a run they
reviewed, opens a results PR. The data's path is never in the repository: the commands
read it from the runner's environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from medperf_action.domain.registry.site_files import RUN_ID
from medperf_action.errors import UsageError
from medperf_action.usecases.repo_config import find_config
from medperf_action.usecases.site.config import NAMES, site_defaults

#: The site commands a `workflow_dispatch` may ask for.
SITE_COMMANDS = ("prepare", "register", "associate", "run", "submit")


def find_site_config(root: Path = Path()) -> Path | None:
    """`.medperf-site.yml` (or `.yaml`) in `root`, if there is one."""
    return find_config(root, NAMES)


def load_site_config(path: Path) -> dict[str, Any]:
    """The site's settings, checked against `schemas/site-repo.schema.json`."""
    return site_defaults(path).data


def site_steps(
    cfg: dict[str, Any], event_name: str, inputs: dict[str, Any]
) -> list[tuple[str, list[str]]]:
    """(title, argv) of each command the event calls for in a site repository."""
    benchmarks = [str(b) for b in cfg.get("benchmarks") or []]
    if event_name == "schedule":
        command = "run"
    elif event_name == "workflow_dispatch":
        command = str(inputs.get("command") or "").strip()
    else:
        raise UsageError(
            f"a data owner's repository does not act on {event_name!r} events "
            "(workflow_dispatch and schedule only: nothing runs on a push)"
        )
    if command not in SITE_COMMANDS:
        raise UsageError(
            f"workflow_dispatch input command={command!r}: in a data owner's repository use "
            f"one of {', '.join(SITE_COMMANDS)}"
        )
    if command == "prepare":
        prepare = ["dataset", "prepare", *(["--benchmark", benchmarks[0]] if benchmarks else [])]
        return [("prepare the dataset", prepare)]
    if command == "register":
        return [("register the dataset", ["dataset", "register"])]
    if command == "associate":
        return [
            (f"associate the dataset with {b}", ["dataset", "associate", "--benchmark", b])
            for b in benchmarks
        ]
    if command == "run":  # one the dataset is not approved for yet is skipped, saying so
        return [("run the approved models", ["benchmark", "run"])]
    run_id = str(inputs.get("run-id") or inputs.get("run_id") or "").strip()
    if not RUN_ID.match(run_id):
        raise UsageError(
            f"workflow_dispatch input run-id={run_id!r}: give the 12-hex id of the reviewed "
            "run to release (benchmark run printed it)"
        )
    return [(f"release run {run_id}", ["result", "submit", run_id])]


def runner_labels(cfg: dict[str, Any]) -> list[str]:
    """The site's self-hosted runner labels (`runs-on:`); the schema requires self-hosted."""
    return [str(label) for label in cfg.get("runner") or []]
