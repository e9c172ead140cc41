"""The GitHub client: PyGithub against `GITHUB_API_URL`, with retries and clear errors.

GitHub Enterprise and the test server are reached the same way, by base URL. The token
comes from `--token` or `GITHUB_TOKEN` and is never printed. Every PyGithub call goes
through `call` (or `errors`), which turns PyGithub's and the transport's exceptions into
`GitHubError` with the HTTP status and GitHub's error codes, so that no other module
needs PyGithub's exception types.

PyGithub costs about 210 ms to import (bench/startup.py): it is imported at the first
`connect`, never with this module, so that commands that do not reach GitHub never pay
for it.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from medperf_action.errors import GitHubError
from medperf_action.settings import debug, github_token

if TYPE_CHECKING:  # the PyGithub types the use cases hold, named here for them
    from github import Github
    from github.GitRelease import GitRelease
    from github.IssueComment import IssueComment
    from github.PullRequest import PullRequest
    from github.Repository import Repository

__all__ = ["GitRelease", "Github", "IssueComment", "PullRequest", "Repository"]

DEFAULT_API_URL = "https://api.github.com"
#: The identity of `GITHUB_TOKEN`, which cannot read GET /user itself.
ACTIONS_BOT = "github-actions[bot]"
#: The login a GitHub App's token acts as, for the registry's workflows.
BOT_LOGIN_ENV = "MEDPERF_ACTION_BOT_LOGIN"
#: Methods that may be sent twice: a retried one cannot do a thing twice.
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE"})
#: Rate-limit answers, after which GitHub documents it did not act on the request.
RATE_LIMITED = frozenset({403, 429})
T = TypeVar("T")


def api_url() -> str:
    return os.environ.get("GITHUB_API_URL") or DEFAULT_API_URL


def _retry(fast: bool) -> Any:
    """GitHub's retry policy, made safe for writes.

    * A rate limit (403/429, Retry-After honoured) is retried for every method, POST too:
      GitHub documents that it did not act on a rate-limited request.
    * A 5xx is retried for the idempotent methods only (GET, HEAD, PUT, PATCH, DELETE).
      GitHub may answer 502/504 after it acted, so a POST that got one is not sent again
      (that could post a second comment or open a second PR): the error surfaces, and
      re-running the command finishes the job (every write here first checks what is
      already there).
    * A connection lost after the request was sent is, likewise, retried only for the
      idempotent methods.
    """
    from github import GithubRetry

    class _Retry(GithubRetry):
        def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
            if method.upper() not in IDEMPOTENT and status_code not in RATE_LIMITED:
                return False
            # urllib3 checks the method against allowed_methods; the answer's status
            # alone decides here, so that a rate-limited POST is retried.
            return bool(super().is_retry("GET", status_code, has_retry_after))

    return _Retry(
        total=5,
        backoff_factor=0.01 if fast else 1.0,
        secondary_rate_wait=1 if fast else 60,
        status_forcelist=[429, *range(500, 600)],  # GithubRetry adds 403 itself
        allowed_methods=IDEMPOTENT,
    )


def connect(
    token: str | None = None, *, base_url: str | None = None, anonymous: bool = False
) -> Github:
    """A PyGithub client with retries on 5xx and rate limits (honouring Retry-After).

    With `anonymous` and no token (neither `token` nor `GITHUB_TOKEN`), the client is
    unauthenticated: enough to read public repositories, at GitHub's lower rate limit.
    `MEDPERF_ACTION_GITHUB_PAUSES=0` turns off PyGithub's pauses between requests and
    shortens the back-off (the tests' own server needs no politeness).
    """
    from github import Auth, Github

    _quiet_library_log()
    fast = os.environ.get("MEDPERF_ACTION_GITHUB_PAUSES") == "0"
    pauses: dict[str, Any] = (
        {"seconds_between_requests": None, "seconds_between_writes": None} if fast else {}
    )
    have_token = bool(token or os.environ.get("GITHUB_TOKEN"))
    return Github(
        auth=Auth.Token(github_token(token)) if have_token or not anonymous else None,
        base_url=(base_url or api_url()).rstrip("/"),
        retry=_retry(fast),
        lazy=True,
        timeout=60,
        **pauses,
    )


def _quiet_library_log() -> None:
    """PyGithub logs each refused request ("Request POST ... failed with 403: Forbidden")
    to stderr through a handler of its own. The user reads what failed from our errors
    and notes, in plain words; the library's log shows only with MEDPERF_ACTION_DEBUG=1."""
    if debug():
        return
    logger = logging.getLogger("github")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    logger.addHandler(logging.NullHandler())
    logger.propagate = False


def whoami(client: Github | Repository, *, actions_fallback: bool = False) -> str:
    """The login the token of `client` (a client, or a repository read with it) acts as,
    from GET /user.

    With `actions_fallback` (the registry's workflows): $MEDPERF_ACTION_BOT_LOGIN when set
    (a GitHub App's token), and github-actions[bot] when GitHub will not say (401/403/404:
    GITHUB_TOKEN cannot read GET /user). Without it, any failure is a GitHubError.
    """
    from github import GithubException

    if actions_fallback:
        configured = os.environ.get(BOT_LOGIN_ENV)
        if configured:
            return configured

    requester = client.requester

    def ask() -> str:
        try:
            _, data = requester.requestJsonAndCheck("GET", "/user")
            return str(data["login"])
        except GithubException as exc:
            if actions_fallback and exc.status in (401, 403, 404):
                return ACTIONS_BOT
            raise

    return call("find the token's user (GET /user)", ask)


def describe(exc: BaseException) -> str:
    """A one-line reason for a PyGithub or connection error, without secrets."""
    from github import GithubException

    if isinstance(exc, GithubException):
        data = exc.data if isinstance(exc.data, dict) else {}
        message = data.get("message") or str(exc)
        errors = data.get("errors") or []
        codes = ", ".join(
            f"{e.get('field', '')} {e.get('code', '')}".strip()
            for e in errors
            if isinstance(e, dict)
        )
        return f"HTTP {exc.status}: {message}" + (f" ({codes})" if codes else "")
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    cause = re.search(r"\(Caused by (\w+)\('?(.*?)'?\)\)", text)
    if "Max retries exceeded" in text and cause:
        return f"gave up after retries: {cause.group(2) or cause.group(1)}"
    return f"{type(exc).__name__}: {text}"


def _codes(exc: Any) -> tuple[str, ...]:
    data = exc.data if isinstance(getattr(exc, "data", None), dict) else {}
    found = data.get("errors") or []
    return tuple(str(e.get("code")) for e in found if isinstance(e, dict) and e.get("code"))


def is_status(exc: BaseException, status: int, code: str | None = None) -> bool:
    """Whether `exc` (a GitHubError) is GitHub's answer `status` (and carries error `code`)."""
    if not isinstance(exc, GitHubError) or exc.status != status:
        return False
    return code is None or code in exc.codes


@contextmanager
def errors(action: str) -> Iterator[None]:
    """Turn PyGithub's and requests' exceptions into GitHubError naming the action."""
    import requests
    from github import GithubException

    try:
        yield
    except GithubException as exc:
        raise GitHubError(f"{action}: {describe(exc)}", exc.status, _codes(exc)) from None
    except requests.RequestException as exc:
        raise GitHubError(f"{action}: {describe(exc)}") from None


def call(action: str, fn: Callable[[], T]) -> T:
    """`fn()`, with its failures as a GitHubError that names `action`."""
    with errors(action):
        return fn()
