"""The GitHub test server: a stateful fake of GitHub's REST API on 127.0.0.1, laid out as
GitHub Enterprise lays it out:

* REST API      http://127.0.0.1:PORT/api/v3
* uploads       http://127.0.0.1:PORT/api/uploads/repos/{owner}/{repo}/releases/{id}/assets
* downloads     http://127.0.0.1:PORT/{owner}/{repo}/releases/download/{tag}/{name}
                (redirects, as on GitHub, to where the bytes are kept:
                http://127.0.0.1:PORT/api/storage/release-assets/{id}/{name})
* archives      http://127.0.0.1:PORT/_codeload/{owner}/{repo}/legacy.tar.gz/{ref}[?token=]
                (where GET /repos/{owner}/{repo}/tarball/{ref} redirects, as GitHub
                redirects to codeload.github.com: a gzipped tar in `git archive`'s layout)

Routing uses the paths of GitHub's OpenAPI description (contract.py), so a request the
description does not know is both a 404 and a contract violation.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import io
import json
import re
import shutil
import socket
import tarfile
import tempfile
import threading
import time
import traceback
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from . import api
from .api import ApiError, Ctx, Reply, Upload
from .contract import Contract, Operation
from .git import Signature, now
from .render import Renderer
from .state import Repo, Team, User, World

API_PREFIX = "/api/v3"
UPLOADS_PREFIX = "/api/uploads"
STORAGE_PREFIX = "/api/storage/release-assets/"
DOWNLOAD = re.compile(
    r"\A/(?P<owner>[^/]+)/(?P<repo>[^/]+)/releases/download/(?P<tag>.+)/(?P<name>[^/]+)\Z"
)
CODELOAD_PREFIX = "/_codeload/"
CODELOAD = re.compile(
    r"\A/_codeload/(?P<owner>[^/]+)/(?P<repo>[^/]+)/legacy\.tar\.gz/(?P<ref>.+)\Z"
)
CHUNK = 1 << 20
FAULT_KINDS = ("status", "rate_limit", "drop", "drop_after", "starter", "then")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class RequestRecord(NamedTuple):
    method: str
    path: str
    status: int  # 0 when the connection was dropped without an answer
    operation: str | None
    fault: str | None


@dataclass
class Fault:
    """Fires on the next `remaining` requests whose method and path match."""

    method: str
    path: re.Pattern[str]
    kind: str
    remaining: int
    status: int
    retry_after: int
    message: str | None
    primary: bool = False
    fired: int = 0
    skip: int = 0
    then: Callable[[], None] | None = None

    def matches(self, method: str, path: str, operation: str | None) -> bool:
        if self.remaining <= 0 or self.method not in ("*", method):
            return False
        found = bool(self.path.search(path)) or (
            operation is not None and self.path.pattern == operation
        )
        if found and self.skip > 0:
            self.skip -= 1  # let this one through
            return False
        return found


@dataclass
class Corruption:
    """A deliberate lie in the server's answers, to prove the contract check catches it."""

    operation: str
    remove: str | None = None
    set_to: dict[str, Any] = field(default_factory=dict)


class _Dropped(Exception):
    pass


class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, app: GitHubServer) -> None:
        self.app = app
        self.open_sockets: set[socket.socket] = set()
        super().__init__(("127.0.0.1", 0), _Handler)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        self.open_sockets.add(request)
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.open_sockets.discard(request)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # one round trip per request, not a 40 ms delayed ACK
    timeout = 60  # a client that stops sending mid-body does not hold a thread forever
    server: _HTTPServer
    server_version = "GitHub.com"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.app._dispatch(self)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET


class GitHubServer:
    """A stateful fake of GitHub's REST API. Start it, add users, tokens, organisations,
    teams and repositories, then point PyGithub or requests at `api_url`.

    >>> with GitHubServer() as gh:
    ...     token = gh.add_user("alice")
    ...     gh.create_repo("alice/model", {"README.md": b"hi"})
    ...     client = gh.github(token)
    """

    def __init__(
        self,
        contract: Contract | None = None,
        storage: Path | None = None,
        validate: bool = True,
    ) -> None:
        self.contract = contract if contract is not None else default_contract()
        self.validate = validate
        self._tmp = None
        if storage is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="github-server-")
            storage = Path(self._tmp.name)
        self.storage = storage
        self.world = World(storage=storage)
        self.lock = threading.RLock()
        self.requests: list[RequestRecord] = []
        self.calls: Counter[str] = Counter()
        self.violations: list[str] = []
        self.faults: list[Fault] = []
        self.corruptions: dict[str, Corruption] = {}
        #: The tokens of the archive links given out for private repositories.
        self.archive_tokens: dict[str, str] = {}
        self._rate_used: Counter[str] = Counter()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.web_url = ""
        self.render = Renderer(self.world, "http://127.0.0.1")

    # -- life cycle ------------------------------------------------------------------------

    def start(self) -> GitHubServer:
        self._httpd = _HTTPServer(self)
        port = self._httpd.server_address[1]
        self.web_url = f"http://127.0.0.1:{port}"
        self.render = Renderer(self.world, self.web_url)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            for sock in list(self._httpd.open_sockets):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            self._httpd.server_close()
            self._httpd = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> GitHubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def api_url(self) -> str:
        return f"{self.web_url}{API_PREFIX}"

    @property
    def uploads_url(self) -> str:
        return f"{self.web_url}{UPLOADS_PREFIX}"

    def github(self, token: str, retry: Any = None, **kwargs: Any) -> Any:
        """A PyGithub client for this server: the base URL as for GitHub Enterprise, no
        pauses between requests, and `retry` passed on (None: PyGithub's own default)."""
        import github

        return github.Github(
            base_url=self.api_url,
            auth=github.Auth.Token(token),
            retry=retry,
            seconds_between_requests=0,
            seconds_between_writes=0,
            **kwargs,
        )

    # -- state -----------------------------------------------------------------------------

    def add_user(
        self,
        login: str,
        token: str | None = None,
        name: str | None = None,
        email: str | None = None,
    ) -> str:
        """Create a user; returns its token (`token` or a new one)."""
        with self.lock:
            if self.world.user(login) is None:
                self.world.users[login.lower()] = User(
                    self.world.new_id(),
                    login,
                    name or login.title(),
                    email or f"{login}@example.com",
                )
            token = token or f"ghp_{uuid.uuid4().hex}"
            self.world.tokens[token] = self.world.users[login.lower()].login
            return token

    def add_org(self, login: str, members: dict[str, str] | None = None) -> User:
        """An organisation; `members` maps logins to "admin" or "member"."""
        with self.lock:
            org = self.world.user(login)
            if org is None:
                org = User(self.world.new_id(), login, login, None, type="Organization")
                self.world.users[login.lower()] = org
            org.members.update(members or {})
            return org

    def hide_teams_from(self, login: str) -> None:
        """`login`'s token sees no team membership (404), as a workflow's GITHUB_TOKEN."""
        with self.lock:
            self.world.team_blind.add(login.lower())

    def add_team(
        self,
        org: str,
        slug: str,
        members: dict[str, str] | list[str] | None = None,
        repos: dict[str, str] | None = None,
        name: str | None = None,
    ) -> Team:
        """A team of `org`: `members` (login -> "member"/"maintainer", or a list of logins)
        and `repos` (full name -> "pull", "triage", "push", "maintain" or "admin")."""
        with self.lock:
            self.add_org(org)
            if isinstance(members, list):
                members = dict.fromkeys(members, "member")
            team = self.world.teams.get((org.lower(), slug.lower()))
            if team is None:
                team = Team(self.world.new_id(), org, slug, name or slug, None)
                self.world.teams[(org.lower(), slug.lower())] = team
            team.members.update(members or {})
            team.repos.update({k.lower(): v for k, v in (repos or {}).items()})
            return team

    def create_repo(
        self,
        full_name: str,
        files: dict[str, bytes | str] | None = None,
        default_branch: str = "main",
        private: bool = False,
        description: str | None = None,
        collaborators: dict[str, str] | None = None,
        message: str = "Initial commit",
    ) -> Repo:
        """A repository; with `files`, its default branch holds them in one commit."""
        owner, name = full_name.split("/")
        with self.lock:
            if self.world.user(owner) is None:
                self.add_user(owner)
            owner = self.world.user(owner).login
            repo = Repo(self.world.new_id(), owner, name, description, private, default_branch)
            repo.collaborators.update(collaborators or {})
            self.world.repos[repo.key] = repo
            if files is not None:
                self.commit(repo.full_name, files, message=message, replace=True)
            return repo

    def repo(self, full_name: str) -> Repo:
        repo = self.world.repos.get(full_name.lower())
        if repo is None:
            raise KeyError(full_name)
        return repo

    def add_collaborator(self, full_name: str, login: str, role: str = "write") -> None:
        """`role`: read, triage, write, maintain or admin."""
        with self.lock:
            self.repo(full_name).collaborators[login] = role

    def fork(self, full_name: str, owner: str) -> Repo:
        """Fork as GitHub does (all branches and tags), without an HTTP request."""
        with self.lock:
            parent = self.repo(full_name)
            fork = self.create_repo(f"{owner}/{parent.name}", default_branch=parent.default_branch)
            fork.parent = parent.full_name
            fork.refs = dict(parent.refs)
            return fork

    def commit(
        self,
        full_name: str,
        files: dict[str, bytes | str | None],
        branch: str | None = None,
        message: str = "Update",
        author: str | None = None,
        replace: bool = False,
    ) -> str:
        """Commit to a branch (a push): `files` maps paths to new content, None deletes.
        With `replace`, the commit holds exactly `files`. Returns the commit SHA."""
        with self.lock:
            repo = self.repo(full_name)
            branch = branch or repo.default_branch
            git = self.world.git
            tip = repo.refs.get(f"refs/heads/{branch}")
            tree = {} if replace or tip is None else dict(git.files(tip))
            for path, data in files.items():
                if data is None:
                    tree.pop(path, None)
                else:
                    tree[path] = git.put_blob(data.encode() if isinstance(data, str) else data)
            user = self.world.user(author or repo.owner)
            who = Signature(user.name or user.login, user.email or "", now()) if user else None
            who = who or Signature("GitHub", "noreply@github.com", now())
            sha = git.put_commit(tree, [tip] if tip else [], message, who)
            repo.refs[f"refs/heads/{branch}"] = sha
            repo.pushed_at = now()
            return sha

    def read_file(self, full_name: str, path: str, ref: str | None = None) -> bytes | None:
        """A file's bytes at a branch, tag or SHA (default branch when None)."""
        with self.lock:
            repo = self.repo(full_name)
            sha = api.resolve(self.world, repo, ref)
            if sha is None:
                return None
            blob = self.world.git.files(sha).get(path)
            return None if blob is None else self.world.git.blobs[blob]

    def files(self, full_name: str, ref: str | None = None) -> dict[str, bytes]:
        with self.lock:
            repo = self.repo(full_name)
            sha = api.resolve(self.world, repo, ref)
            if sha is None:
                return {}
            git = self.world.git
            return {p: git.blobs[b] for p, b in git.files(sha).items()}

    def archive_url(self, repo: Repo, ref: str) -> str:
        """Where GET .../tarball/{ref} redirects; a private repository's link carries a
        token of its own, as GitHub's does."""
        url = f"{self.web_url}/_codeload/{repo.full_name}/legacy.tar.gz/"
        url += urllib.parse.quote(ref, safe="")
        if repo.private:
            token = uuid.uuid4().hex
            self.archive_tokens[token] = repo.key
            url += f"?token={token}"
        return url

    def archive(self, full_name: str, sha: str) -> bytes:
        """The commit's files as `git archive --prefix=OWNER-REPO-SHA7/` gzips them, the
        way GitHub serves a tarball: a pax global header whose comment is the commit SHA,
        each folder before its contents, modes 0775/0664, the commit's time, owner root."""
        repo = self.repo(full_name)
        git = self.world.git
        commit = git.commits[sha]
        prefix = f"{repo.owner}-{repo.name}-{sha[:7]}/"
        moment = int(commit.committer.date.timestamp())

        def info(name: str, kind: bytes, size: int = 0) -> tarfile.TarInfo:
            entry = tarfile.TarInfo(prefix + name)
            entry.type, entry.size, entry.mtime = kind, size, moment
            entry.mode = 0o775 if kind == tarfile.DIRTYPE else 0o664
            entry.uname = entry.gname = "root"
            return entry

        buffer = io.BytesIO()
        with tarfile.open(
            fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT, pax_headers={"comment": sha}
        ) as tar:
            tar.addfile(info("", tarfile.DIRTYPE))
            made: set[str] = set()
            for path, blob in sorted(git.files(sha).items()):
                parts = path.split("/")
                for depth in range(1, len(parts)):
                    folder = "/".join(parts[:depth]) + "/"
                    if folder not in made:
                        made.add(folder)
                        tar.addfile(info(folder, tarfile.DIRTYPE))
                data = git.blobs[blob]
                tar.addfile(info(path, tarfile.REGTYPE, len(data)), io.BytesIO(data))
        return buffer.getvalue()

    def storage_url(self, asset: Any) -> str:
        return f"{self.web_url}{STORAGE_PREFIX}{asset.id}/{urllib.parse.quote(asset.name)}"

    # -- faults, counters, corruption ------------------------------------------------------

    def inject(
        self,
        method: str,
        path: str,
        kind: str,
        count: int = 1,
        status: int | None = None,
        retry_after: int = 1,
        message: str | None = None,
        primary: bool = False,
        skip: int = 0,
        then: Callable[[], None] | None = None,
    ) -> Fault:
        """Make the next `count` requests whose METHOD matches (or "*") and whose path
        matches the regular expression `path` (searched in the full path, e.g.
        "/api/uploads/.*/assets"; or an operationId such as "repos/create-release") fail:

        * "status": answer `status` (default 502) with a JSON error; nothing happens.
        * "rate_limit": 403 (or `status=429`) with Retry-After: `retry_after`,
          x-ratelimit-remaining 0 and GitHub's secondary-rate-limit message; with
          `primary=True`, the primary limit instead: "API rate limit exceeded ..." and
          x-ratelimit-reset `retry_after` seconds ahead, without Retry-After. Nothing
          happens.
        * "drop": read (part of) the request, then close the connection without answering;
          nothing happens.
        * "drop_after": carry the request out, then close the connection without answering.
        * "starter": (asset uploads) answer 502 and leave an empty asset of that name
          behind, as GitHub documents for an upstream failure ("This may leave an empty
          asset with a state of `starter`"; the description's state enum calls an
          unfinished asset "open", so that is its state here).
        * "then": answer as usual, then call `then()` before the answer is sent: what
          somebody else does on GitHub between two requests (a push, a label).

        `skip` lets that many matching requests through first (e.g. fail the second
        upload, not the first).
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {FAULT_KINDS}")
        if (kind == "then") != (then is not None):
            raise ValueError('`then` goes with kind "then", and only with it')
        default = {"status": 502, "rate_limit": 403, "starter": 502}.get(kind, 0)
        fault = Fault(
            method.upper(),
            re.compile(path),
            kind,
            count,
            status or default,
            retry_after,
            message,
            primary,
            skip=skip,
            then=then,
        )
        with self.lock:
            self.faults.append(fault)
        return fault

    def corrupt(self, operation: str, remove: str | None = None, **set_to: Any) -> None:
        """From now on, drop the top-level field `remove` from (and/or set fields in) the
        JSON answers of `operation`: a lie the contract check must catch."""
        with self.lock:
            self.corruptions[operation] = Corruption(operation, remove, set_to)

    @property
    def writes(self) -> int:
        """API requests that ask for a change (POST, PUT, PATCH, DELETE)."""
        with self.lock:
            return sum(1 for r in self.requests if r.operation and r.method in WRITE_METHODS)

    @property
    def api_calls(self) -> int:
        """REST API requests received (downloads of asset bytes are not API calls)."""
        with self.lock:
            return sum(1 for r in self.requests if r.path.startswith((API_PREFIX, UPLOADS_PREFIX)))

    def reset_counters(self) -> None:
        with self.lock:
            self.requests.clear()
            self.calls.clear()

    def rate_limit_state(self, login: str | None) -> dict[str, int]:
        limit = 5000 if login else 60
        used = self._rate_used[login or ""] % limit  # the window resets; never runs out
        return {
            "limit": limit,
            "remaining": limit - used,
            "reset": int(time.time()) + 3600,
            "used": used,
        }

    # -- HTTP ------------------------------------------------------------------------------

    def _dispatch(self, h: _Handler) -> None:
        try:
            parsed = urllib.parse.urlsplit(h.path)
            path = parsed.path
            if path.startswith((API_PREFIX + "/", UPLOADS_PREFIX + "/")) or path in (
                API_PREFIX,
                UPLOADS_PREFIX,
            ):
                self._api(h, path, parsed.query)
            elif path.startswith(STORAGE_PREFIX):
                self._storage(h, path)
            elif path.startswith(CODELOAD_PREFIX):
                self._codeload(h, path, parsed.query)
            elif DOWNLOAD.match(path):
                self._download(h, path)
            else:
                self._drain(h)
                self._log(h.command, path, 404, None, None)
                self._send(h, 404, b"Not Found", {"Content-Type": "text/plain"})
        except (_Dropped, OSError):  # the connection was dropped, by us or the client
            h.close_connection = True
        except Exception:
            h.close_connection = True
            with self.lock:
                self.violations.append(
                    f"{h.command} {h.path}: the test server failed:\n{traceback.format_exc()}"
                )
            with contextlib.suppress(OSError):
                self._send(h, 500, b"", {"Connection": "close"})

    def _log(self, method: str, path: str, status: int, op: str | None, fault: str | None) -> None:
        with self.lock:
            self.requests.append(RequestRecord(method, path, status, op, fault))
            if op is not None:
                self.calls[op] += 1

    def _take_fault(self, method: str, path: str, op: str | None) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.matches(method, path, op):
                    fault.remaining -= 1
                    fault.fired += 1
                    return fault
        return None

    # request bodies

    def _body_length(self, h: _Handler) -> int | None:
        if h.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return None
        return int(h.headers.get("Content-Length") or 0)

    def _iter_body(self, h: _Handler, limit: int | None = None) -> Iterator[bytes]:
        """The request body in chunks (Content-Length or chunked), at most `limit` bytes."""
        length = self._body_length(h)
        taken = 0
        if length is not None:
            remaining = length if limit is None else min(length, limit)
            while remaining > 0:
                chunk = h.rfile.read(min(CHUNK, remaining))
                if not chunk:
                    raise _Dropped("client went away")
                remaining -= len(chunk)
                yield chunk
            return
        while True:
            size = int(h.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while h.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return
            while size > 0:
                chunk = h.rfile.read(min(CHUNK, size))
                if not chunk:
                    raise _Dropped("client went away")
                size -= len(chunk)
                taken += len(chunk)
                yield chunk
                if limit is not None and taken >= limit:
                    return
            h.rfile.readline()

    def _drain(self, h: _Handler) -> None:
        for _ in self._iter_body(h):
            pass

    def _read_body(self, h: _Handler) -> bytes:
        return b"".join(self._iter_body(h))

    def _spool(self, h: _Handler) -> Upload:
        """Stream an upload to a file under the storage dir, hashing it on the way."""
        spool = self.storage / "incoming"
        spool.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=spool)
        digest = hashlib.sha256()
        size = 0
        try:
            with open(fd, "wb") as f:
                for chunk in self._iter_body(h):
                    f.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise
        return Upload(Path(name), size, digest.hexdigest())

    def _drop(self, h: _Handler, partial: bool) -> None:
        """Close the connection without an answer (after reading half of any body)."""
        if partial:
            length = self._body_length(h) or 0
            for _ in self._iter_body(h, limit=length // 2):
                pass
        with contextlib.suppress(OSError):
            h.connection.shutdown(socket.SHUT_RDWR)
        raise _Dropped

    # responses

    def _send(
        self, h: _Handler, status: int, body: bytes, headers: dict[str, str] | None = None
    ) -> None:
        h.send_response(status)
        merged = {"Content-Length": str(len(body)), **(headers or {})}
        for key, value in merged.items():
            h.send_header(key, value)
        h.end_headers()
        if h.command != "HEAD" and body:
            h.wfile.write(body)

    def _api_headers(self, login: str | None) -> dict[str, str]:
        with self.lock:
            self._rate_used[login or ""] += 1
            rate = self.rate_limit_state(login)
        return {
            "X-GitHub-Api-Version-Selected": "2022-11-28",
            "X-GitHub-Media-Type": "github.v3; format=json",
            "X-GitHub-Request-Id": uuid.uuid4().hex[:20].upper(),
            "X-RateLimit-Limit": str(rate["limit"]),
            "X-RateLimit-Remaining": str(rate["remaining"]),
            "X-RateLimit-Reset": str(rate["reset"]),
            "X-RateLimit-Used": str(rate["used"]),
            "X-RateLimit-Resource": "core",
        }

    def _error_body(self, op: Operation | None, error: ApiError) -> dict[str, Any]:
        body: dict[str, Any] = {"message": error.message}
        if error.errors is not None:
            body["errors"] = error.errors
        body["documentation_url"] = self._docs(op)
        body["status"] = str(error.status)
        return body

    def _docs(self, op: Operation | None) -> str:
        if op is not None:
            node = self.contract._node(op.pointer)
            url = node.get("externalDocs", {}).get("url")
            if url:
                return str(url)
        return "https://docs.github.com/rest"

    def _api(self, h: _Handler, path: str, query: str) -> None:
        method = h.command
        op, problem = self.contract.match(method, path)
        op_id = op.operation_id if op else None
        fault = self._take_fault(method, path, op_id)
        fault_kind = fault.kind if fault else None
        headers = {k.lower(): v for k, v in h.headers.items()}

        if fault is not None and fault.kind == "drop":
            self._log(method, path, 0, op_id, "drop")
            self._drop(h, partial=True)

        upload: Upload | None = None
        body = b""
        is_upload = op_id == "repos/upload-release-asset"
        has_body = (self._body_length(h) or 0) > 0 or self._body_length(h) is None
        if is_upload and (fault is None or fault.kind == "drop_after"):
            upload = self._spool(h)  # large bodies go to disk, never to memory
        elif is_upload:
            self._drain(h)
        else:
            body = self._read_body(h)
        try:
            if self.validate:
                if op is None:
                    self._violation(method, path, None, [f"request: {problem}"])
                else:
                    _, problems = self.contract.check_request(
                        method,
                        path,
                        query,
                        headers,
                        body or None,
                        body_streamed=is_upload and has_body,
                    )
                    self._violation(method, path, op_id, problems)
            reply, login = self._handle(h, op, method, path, query, headers, body, upload, fault)
        finally:
            if upload is not None and upload.path.exists():
                upload.path.unlink()

        if fault is not None and fault.then is not None:
            fault.then()
        if fault_kind == "drop_after":
            self._log(method, path, 0, op_id, fault_kind)
            with contextlib.suppress(OSError):
                h.connection.shutdown(socket.SHUT_RDWR)
            raise _Dropped

        out_headers = self._api_headers(login)
        out_headers.update(reply.headers)
        if reply.body is None:
            payload = b""
        else:
            data = reply.body
            corruption = self.corruptions.get(op_id or "")
            if corruption is not None and 200 <= reply.status < 300:
                data = _corrupt(data, corruption)
            payload = json.dumps(data).encode()
            out_headers["Content-Type"] = "application/json; charset=utf-8"
        if self.validate and op is not None:
            problems = self.contract.check_response(op, reply.status, out_headers, payload)
            self._violation(method, path, op_id, problems, status=reply.status)
        self._log(method, path, reply.status, op_id, fault_kind)
        self._send(h, reply.status, payload, out_headers)

    def _handle(
        self,
        h: _Handler,
        op: Operation | None,
        method: str,
        path: str,
        query: str,
        headers: dict[str, str],
        body: bytes,
        upload: Upload | None,
        fault: Fault | None,
    ) -> tuple[Reply, str | None]:
        login: str | None = None
        try:
            if op is None:
                raise ApiError(404, "Not Found")
            if fault is not None and fault.kind in ("status", "starter"):
                if fault.kind == "starter":
                    self._starter_asset(op, query, headers)
                raise ApiError(fault.status, fault.message or _reason(fault.status))
            if fault is not None and fault.kind == "rate_limit":
                limited = {
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": str(int(time.time()) + fault.retry_after),
                }
                if fault.primary:
                    who = self.world.tokens.get(headers.get("authorization", " ").split(" ")[-1])
                    user = self.world.user(who) if who else None
                    message = fault.message or (
                        f"API rate limit exceeded for user ID {user.id if user else 0}. If you "
                        "reach out to GitHub Support for help, please include the request ID."
                    )
                else:
                    limited["Retry-After"] = str(fault.retry_after)
                    message = fault.message or (
                        "You have exceeded a secondary rate limit. Please wait a few minutes "
                        "before you try again. If you reach out to GitHub Support for help, "
                        "please include the request ID."
                    )
                raise ApiError(fault.status, message, headers=limited)
            auth = headers.get("authorization", "")
            if auth:
                scheme, _, token = auth.partition(" ")
                login = self.world.tokens.get(token.strip())
                if scheme.lower() not in ("token", "bearer") or login is None:
                    raise ApiError(401, "Bad credentials")
            handler = api.HANDLERS.get(op.operation_id)
            if handler is None:
                raise ApiError(404, "Not Found")
            ctx = Ctx(
                self,
                method,
                path,
                urllib.parse.parse_qs(query, keep_blank_values=True),
                headers,
                body,
                op,
                login,
                upload,
            )
            with self.lock:
                return handler(ctx), login
        except ApiError as error:
            reply_headers = dict(error.headers)
            return Reply(error.status, self._error_body(op, error), reply_headers), login
        except Exception:
            # a bug of the test server itself: answer as GitHub does, and fail the test
            self._violation(
                method,
                path,
                op.operation_id if op else None,
                ["the test server failed:\n" + traceback.format_exc()],
            )
            return Reply(500, self._error_body(op, ApiError(500, "Server Error"))), login

    def _starter_asset(self, op: Operation, query: str, headers: dict[str, str]) -> None:
        from .state import Asset

        params = urllib.parse.parse_qs(query)
        with self.lock:
            repo = self.world.repo(op.path_params["owner"], op.path_params["repo"])
            release_id = op.path_params.get("release_id", "")
            if repo is None or not release_id.isdigit():
                return
            release = repo.releases.get(int(release_id))
            name = api.asset_name(params.get("name", [""])[-1])
            if release is None or any(a.name == name for a in release.assets.values()):
                return
            login = self.world.tokens.get(headers.get("authorization", " ").split(" ", 1)[1])
            asset = Asset(
                self.world.new_id(),
                release.id,
                name,
                None,
                headers.get("content-type") or "application/octet-stream",
                0,
                None,
                login or repo.owner,
                None,
                state="open",
            )
            release.assets[asset.id] = asset

    def _violation(
        self, method: str, path: str, op: str | None, problems: list[str], status: int | None = None
    ) -> None:
        if not problems:
            return
        where = f"{method} {path} ({op or 'no operation'})"
        if status is not None:
            where += f" → {status}"
        with self.lock:
            for problem in problems:
                self.violations.append(f"{where}: {problem}")

    # downloads

    def _find_asset(self, asset_id: int) -> tuple[Repo, Any] | None:
        for repo in self.world.repos.values():
            for release in repo.releases.values():
                if asset_id in release.assets:
                    return repo, release.assets[asset_id]
        return None

    def _download(self, h: _Handler, path: str) -> None:
        self._drain(h)
        m = DOWNLOAD.match(path)
        assert m is not None
        tag = urllib.parse.unquote(m["tag"])
        name = urllib.parse.unquote(m["name"])
        location = None
        with self.lock:
            repo = self.world.repo(m["owner"], m["repo"])
            if repo is not None and not repo.private:
                for release in repo.releases.values():
                    if release.tag_name == tag and not release.draft:
                        for asset in release.assets.values():
                            if asset.name == name and asset.state == "uploaded":
                                location = self.storage_url(asset)
        if location is None:
            self._log(h.command, path, 404, None, None)
            self._send(h, 404, b"Not Found", {"Content-Type": "text/plain"})
            return
        self._log(h.command, path, 302, None, None)
        self._send(h, 302, b"", {"Location": location})

    def _storage(self, h: _Handler, path: str) -> None:
        self._drain(h)
        ident = path[len(STORAGE_PREFIX) :].split("/", 1)[0]
        with self.lock:
            found = self._find_asset(int(ident)) if ident.isdigit() else None
            if found is not None and found[1].path is not None:
                found[1].download_count += 1
        if self._faulted(h, path):
            return
        if found is None or found[1].path is None:
            self._log(h.command, path, 404, None, None)
            self._send(h, 404, b"Not Found", {"Content-Type": "text/plain"})
            return
        asset = found[1]
        self._log(h.command, path, 200, None, None)
        with open(asset.path, "rb") as f:
            size = f.seek(0, 2)
            f.seek(0)
            h.send_response(200)
            h.send_header("Content-Type", "application/octet-stream")
            h.send_header("Content-Length", str(size))
            h.send_header("Content-Disposition", f"attachment; filename={asset.name}")
            h.send_header("ETag", f'"{asset.sha256}"')
            h.end_headers()
            if h.command != "HEAD":
                shutil.copyfileobj(f, h.wfile, CHUNK)

    def _faulted(self, h: _Handler, path: str) -> bool:
        """Whether an injected fault answered this download (or dropped it)."""
        fault = self._take_fault(h.command, path, None)
        if fault is None:
            return False
        if fault.kind in ("drop", "drop_after"):
            self._log(h.command, path, 0, None, fault.kind)
            self._drop(h, partial=False)
        self._log(h.command, path, fault.status, None, fault.kind)
        self._send(h, fault.status, b"", {})
        return True

    def _codeload(self, h: _Handler, path: str, query: str) -> None:
        """A repository's archive at a ref (resolved now, as codeload does); a private
        repository's only with the token of a link the API gave out."""
        self._drain(h)
        m = CODELOAD.match(path)
        token = (urllib.parse.parse_qs(query).get("token") or [""])[-1]
        body = None
        with self.lock:
            repo = self.world.repo(m["owner"], m["repo"]) if m else None
            if (
                m
                and repo is not None
                and (not repo.private or self.archive_tokens.get(token) == repo.key)
            ):
                sha = api.resolve(self.world, repo, urllib.parse.unquote(m["ref"]))
                body = None if sha is None else self.archive(repo.full_name, sha)
        if self._faulted(h, path):
            return
        if body is None:
            self._log(h.command, path, 404, None, None)
            self._send(h, 404, b"Not Found", {"Content-Type": "text/plain"})
            return
        self._log(h.command, path, 200, None, None)
        name = f"{m['owner']}-{m['repo']}.tar.gz" if m else "archive.tar.gz"
        headers = {"Content-Type": "application/x-gzip"}
        headers["Content-Disposition"] = f"attachment; filename={name}"
        self._send(h, 200, body, headers)


def _reason(status: int) -> str:
    import http

    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _corrupt(data: Any, corruption: Corruption) -> Any:
    items = data if isinstance(data, list) else [data]
    for item in items:
        if isinstance(item, dict):
            if corruption.remove:
                item.pop(corruption.remove, None)
            item.update(corruption.set_to)
    return data


_DEFAULT: Contract | None = None
_DEFAULT_LOCK = threading.Lock()


def default_contract() -> Contract:
    """The contract, loaded once per process."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = Contract()
        return _DEFAULT
