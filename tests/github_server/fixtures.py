"""pytest plugin: the GitHub test server, with the contract check.

Register it in tests/conftest.py with ``pytest_plugins = ["github_server.fixtures"]``.

* ``github_contract`` (session): GitHub's OpenAPI description (the extracted subset).
* ``github_server``: a started GitHubServer. At teardown, every contract violation its
  traffic caused fails the test, one line per problem naming the request and operation.

At the end of the session the operations exercised are written to
.cache/openapi/coverage.json and summarised in the terminal report.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from . import server as _server
from .contract import Contract
from .server import GitHubServer, default_contract

COVERAGE = Path(__file__).resolve().parents[2] / ".cache" / "openapi" / "coverage.json"


@pytest.fixture(scope="session")
def github_contract() -> Contract:
    return default_contract()


@pytest.fixture
def github_server(github_contract: Contract) -> Iterator[GitHubServer]:
    server = GitHubServer(contract=github_contract)
    with server:
        yield server
    if server.violations:
        lines = "\n".join(f"  {v}" for v in server.violations)
        pytest.fail(
            f"the GitHub test server saw {len(server.violations)} violation(s) of "
            f"{github_contract.source}'s description:\n{lines}",
            pytrace=False,
        )


def _coverage() -> dict[str, Any] | None:
    contract = _server._DEFAULT
    if contract is None or not contract.coverage.requests:
        return None
    data = contract.coverage.as_dict(contract.operation_ids)
    data["spec"] = contract.source
    return data


def pytest_sessionfinish(session: pytest.Session) -> None:
    data = _coverage()
    if data is not None:
        COVERAGE.parent.mkdir(parents=True, exist_ok=True)
        COVERAGE.write_text(json.dumps(data, indent=1) + "\n")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    data = _coverage()
    if data is None:
        return
    terminalreporter.write_sep("-", "GitHub REST contract")
    terminalreporter.write_line(
        f"{data['exercised']}/{data['operations']} operations of {data['spec']} exercised "
        f"(details: {COVERAGE.relative_to(COVERAGE.parents[2])})"
    )
    if data["not_exercised"]:
        terminalreporter.write_line("not exercised: " + ", ".join(data["not_exercised"]))
