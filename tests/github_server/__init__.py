"""A stateful fake of GitHub's REST API for the tests, checked against GitHub's OpenAPI
description (see server.py for the layout and contract.py for the check)."""

from __future__ import annotations

from .contract import Contract
from .server import Fault, GitHubServer, RequestRecord, default_contract

__all__ = ["Contract", "Fault", "GitHubServer", "RequestRecord", "default_contract"]
