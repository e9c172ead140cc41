"""What the registry's own comments record, where no label can undo it.

Labels can be set and removed by anyone with triage access; a comment by the registry's
own identity cannot be forged by them. Two records live in such comments:

* the verification, bound to a commit and to the cubes that ran: the sticky comment's
  second line is `<!-- medperf-action:verified head=SHA passed=true|false pins=HASH -->`
  (`binding_line`; `pins`, for an association, is `domain.registry.pins.digest` of the
  pins of the cubes the re-run used, as the default branch still had them when reported;
  `statement=SHA256 run=URL`, when the verify run stated its result, is where that
  statement is: its file's SHA-256, in the artifact of the verify run at URL);
* a rejection: a comment whose first line is `<!-- medperf-action:decision rejected
  by=LOGIN -->`. A rejected request stays rejected, even reopened and relabelled; a new
  request is a new pull request.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from medperf_action.adapters.github.client import IssueComment

#: A GitHub Actions run's page, as a workflow_run event names it (`html_url`).
RUN_URL = re.compile(
    r"^https?://[A-Za-z0-9.:-]+/[A-Za-z0-9-]+/[A-Za-z0-9._-]+/actions/runs/[0-9]+$"
)
BINDING = re.compile(
    r"^<!-- medperf-action:verified head=([0-9a-f]{40}) passed=(true|false)"
    r"(?: pins=([0-9a-f]{64}))?"
    r"(?: statement=([0-9a-f]{64}) run=(https?://[A-Za-z0-9.:/_-]+/actions/runs/[0-9]+))? -->$"
)
REJECTION = re.compile(
    r"^<!-- medperf-action:decision rejected by=([A-Za-z0-9-]+(?:\[bot\])?) -->$"
)


def binding_line(
    head_sha: str,
    passed: bool,
    pins: str | None = None,
    attestation: dict[str, str] | None = None,
) -> str:
    bound = f" pins={pins}" if pins else ""
    if attestation is not None:
        bound += f" statement={attestation['statement_sha256']} run={attestation['run_url']}"
    return f"<!-- medperf-action:verified head={head_sha} passed={str(passed).lower()}{bound} -->"


def attestation_of(match: re.Match[str]) -> dict[str, str] | None:
    """Where the verify run's result statement is, as a binding line records it."""
    if match.group(4) is None:
        return None
    return {"statement_sha256": match.group(4), "run_url": match.group(5)}


def rejection_line(login: str) -> str:
    return f"<!-- medperf-action:decision rejected by={login} -->"


def rejected_by(found: Iterable[IssueComment], me: str) -> str | None:
    """Who rejected the request, by the registry's own record of it; None if nobody did."""
    for comment in found:
        author = comment.user.login if comment.user is not None else ""
        if author.lower() != me.lower():
            continue
        match = REJECTION.match((comment.body or "").split("\n", 1)[0].strip())
        if match:
            return match.group(1)
    return None
