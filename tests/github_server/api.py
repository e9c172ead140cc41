"""The REST operations, one handler per operationId of GitHub's description."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import shutil
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .git import Signature, now
from .state import Asset, Comment, Issue, Label, Pull, Release, Repo, World, role_at_least

if TYPE_CHECKING:
    from .contract import Operation
    from .server import GitHubServer

JSON = dict[str, Any]


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        errors: list[JSON] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {message}")
        self.status = status
        self.message = message
        self.errors = errors
        self.headers = headers or {}


def not_found(message: str = "Not Found") -> ApiError:
    return ApiError(404, message)


def validation_failed(*errors: JSON, message: str = "Validation Failed") -> ApiError:
    return ApiError(422, message, list(errors))


@dataclass
class Upload:
    """A request body that was streamed to disk."""

    path: Path
    size: int
    sha256: str


@dataclass
class Reply:
    status: int
    body: Any = None  # JSON-serialisable, or None for no body
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Ctx:
    server: GitHubServer
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes
    op: Operation
    login: str | None
    upload: Upload | None = None

    @property
    def world(self) -> Any:
        return self.server.world

    @property
    def render(self) -> Any:
        return self.server.render

    def param(self, name: str) -> str:
        return self.op.path_params[name]

    def int_param(self, name: str) -> int:
        value = self.op.path_params[name]
        if not value.isdigit():
            raise not_found()
        return int(value)

    def q(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def json(self) -> Any:
        if not self.body:
            return {}
        try:
            return json.loads(self.body)
        except ValueError:
            raise ApiError(400, "Problems parsing JSON") from None

    def obj(self) -> JSON:
        data = self.json()
        if not isinstance(data, dict):
            raise ApiError(400, "Problems parsing JSON")
        return data

    def require_login(self) -> str:
        if self.login is None:
            raise ApiError(401, "Requires authentication")
        return self.login

    def repo(self, role: str = "read", hide: bool = True) -> Repo:
        """The repository of the path, when the caller has `role` on it.

        Without even read access GitHub answers 404 (it does not tell a private repository
        exists). Lacking a stronger role: 401 when anonymous, else 404 when `hide`
        (contents, refs, releases) or 403 (issues, pulls)."""
        repo = self.world.repo(self.param("owner"), self.param("repo"))
        if repo is None:
            raise not_found()
        have = self.world.role(repo, self.login)
        if have == "none":
            raise not_found()
        if not role_at_least(have, role):
            if self.login is None:
                raise ApiError(401, "Requires authentication")
            if hide:
                raise not_found()
            if role == "admin":
                raise ApiError(403, "Must have admin rights to Repository.")
            raise ApiError(
                403, f"Must have {'push' if role == 'write' else role} access to repository"
            )
        return repo


def page(ctx: Ctx, items: list[Any]) -> Reply:
    """One page of a list, with GitHub's `Link` header."""
    try:
        per_page = max(1, min(100, int(ctx.q("per_page", "30") or 30)))
        number = max(1, int(ctx.q("page", "1") or 1))
    except ValueError:
        per_page, number = 30, 1
    last = max(1, -(-len(items) // per_page))
    chunk = items[(number - 1) * per_page : number * per_page]
    headers = {}
    if last > 1:
        base = f"{ctx.server.web_url}{ctx.path}"
        query = {k: v[-1] for k, v in ctx.query.items() if k not in ("page", "per_page")}

        def url(n: int) -> str:
            return f"{base}?{urllib.parse.urlencode({**query, 'per_page': per_page, 'page': n})}"

        links = []
        if number < last:
            links += [f'<{url(number + 1)}>; rel="next"', f'<{url(last)}>; rel="last"']
        if number > 1:
            links += [f'<{url(number - 1)}>; rel="prev"', f'<{url(1)}>; rel="first"']
        if links:
            headers["Link"] = ", ".join(links)
    return Reply(200, chunk, headers)


def _signature(ctx: Ctx, given: Any) -> Signature:
    if isinstance(given, dict) and given.get("name") and given.get("email"):
        return Signature(str(given["name"]), str(given["email"]), now())
    user = ctx.world.user(ctx.login) if ctx.login else None
    if user is None:
        return Signature("GitHub", "noreply@github.com", now())
    email = user.email or f"{user.id}+{user.login}@users.noreply.github.com"
    return Signature(user.name or user.login, email, now())


def resolve(world: World, repo: Repo, ref: str | None) -> str | None:
    """A commit SHA for a branch, tag, full ref or (abbreviated) SHA."""
    git = world.git
    if ref is None:
        return repo.refs.get(f"refs/heads/{repo.default_branch}")
    for candidate in (ref, f"refs/heads/{ref}", f"refs/tags/{ref}", f"refs/{ref}"):
        if candidate.startswith("refs/") and candidate in repo.refs:
            return repo.refs[candidate]
    if re.fullmatch(r"[0-9a-f]{7,40}", ref):
        reachable: set[str] = set()
        for sha in repo.refs.values():
            reachable.update(git.ancestors(sha))
        matches = [c for c in reachable if c.startswith(ref)]
        if len(matches) == 1:
            return matches[0]
    return None


# -- users ---------------------------------------------------------------------------------


def get_authenticated(ctx: Ctx) -> Reply:
    login = ctx.require_login()
    return Reply(200, ctx.render.private_user(ctx.world.user(login)))


def get_by_username(ctx: Ctx) -> Reply:
    user = ctx.world.user(ctx.param("username"))
    if user is None:
        raise not_found()
    return Reply(200, ctx.render.public_user(user))


def rate_limit(ctx: Ctx) -> Reply:
    core = ctx.server.rate_limit_state(ctx.login)
    resources = {name: dict(core) for name in ("core", "search", "graphql", "code_search")}
    return Reply(200, {"resources": resources, "rate": core})


# -- repositories --------------------------------------------------------------------------


def get_repo(ctx: Ctx) -> Reply:
    repo = ctx.repo()
    return Reply(200, ctx.render.repository(repo, ctx.login, full=True))


def create_fork(ctx: Ctx) -> Reply:
    login = ctx.require_login()
    repo = ctx.repo()
    body = ctx.obj()
    owner = body.get("organization") or login
    if ctx.world.user(owner) is None:
        raise validation_failed({"resource": "Fork", "code": "invalid", "field": "organization"})
    owner = ctx.world.user(owner).login
    if owner.lower() == repo.owner.lower():
        raise validation_failed(
            {
                "resource": "Repository",
                "code": "custom",
                "message": "You cannot fork your own repository.",
            }
        )
    for fork in ctx.world.forks_of(repo):
        if fork.owner.lower() == owner.lower():
            return Reply(202, ctx.render.repository(fork, ctx.login, full=True))
    name = body.get("name") or repo.name
    base, n = name, 0
    while ctx.world.repo(owner, name) is not None:
        n += 1
        name = f"{base}-{n}"
    fork = ctx.server.create_repo(
        f"{owner}/{name}", description=repo.description, default_branch=repo.default_branch
    )
    refs = dict(repo.refs)
    if body.get("default_branch_only"):
        refs = {r: s for r, s in refs.items() if r == f"refs/heads/{repo.default_branch}"}
    fork.refs = refs
    fork.parent = repo.full_name
    return Reply(202, ctx.render.repository(fork, ctx.login, full=True))


def collaborator_permission(ctx: Ctx) -> Reply:
    repo = ctx.repo()
    user = ctx.world.user(ctx.param("username"))
    if user is None or user.type != "User":
        raise not_found()
    role = ctx.world.role(repo, user.login)
    legacy = {"maintain": "write", "triage": "read"}.get(role, role)
    collaborator = ctx.render.simple_user(user)
    collaborator["permissions"] = {
        "admin": role_at_least(role, "admin"),
        "maintain": role_at_least(role, "maintain"),
        "push": role_at_least(role, "write"),
        "triage": role_at_least(role, "triage"),
        "pull": role_at_least(role, "read"),
    }
    collaborator["role_name"] = role
    return Reply(200, {"permission": legacy, "role_name": role, "user": collaborator})


def list_teams(ctx: Ctx) -> Reply:
    repo = ctx.repo()
    teams = [
        ctx.render.team(t, t.repos[repo.key])
        for t in ctx.world.teams.values()
        if t.org.lower() == repo.owner.lower() and repo.key in t.repos
    ]
    return page(ctx, teams)


def team_membership(ctx: Ctx) -> Reply:
    login = ctx.require_login()
    if login.lower() in ctx.world.team_blind:
        raise not_found()  # GitHub hides what the token may not read
    team = ctx.world.teams.get((ctx.param("org").lower(), ctx.param("team_slug").lower()))
    if team is None:
        raise not_found()
    members = {k.lower(): v for k, v in team.members.items()}
    role = members.get(ctx.param("username").lower())
    if role is None:
        raise not_found()
    url = f"{ctx.server.api_url}/organizations/{ctx.world.user(team.org).id}/team/{team.id}"
    return Reply(
        200,
        {"url": f"{url}/memberships/{ctx.param('username')}", "role": role, "state": "active"},
    )


# -- git refs, commits, branches -----------------------------------------------------------


def _full_ref(ref: str) -> str:
    return ref if ref.startswith("refs/") else f"refs/{ref}"


def get_ref(ctx: Ctx) -> Reply:
    repo = ctx.repo()
    ref = _full_ref(ctx.param("ref"))
    if ref not in repo.refs:
        raise not_found()
    return Reply(200, ctx.render.git_ref(repo, ref, repo.refs[ref]))


def matching_refs(ctx: Ctx) -> Reply:
    repo = ctx.repo()
    prefix = _full_ref(ctx.param("ref"))
    refs = [
        ctx.render.git_ref(repo, r, s) for r, s in sorted(repo.refs.items()) if r.startswith(prefix)
    ]
    return Reply(200, refs)


def create_ref(ctx: Ctx) -> Reply:
    ctx.require_login()
    repo = ctx.repo("write")
    body = ctx.obj()
    ref, sha = body.get("ref"), body.get("sha")
    if not isinstance(ref, str) or not ref.startswith("refs/") or ref.count("/") < 2:
        raise ApiError(422, f"{ref} is not a valid ref name.")
    if sha not in ctx.world.git.commits:
        raise ApiError(422, "Object does not exist")
    if ref in repo.refs:
        raise ApiError(422, "Reference already exists")
    repo.refs[ref] = sha
    repo.pushed_at = now()
    data = ctx.render.git_ref(repo, ref, sha)
    return Reply(201, data, {"Location": data["url"]})


def update_ref(ctx: Ctx) -> Reply:
    ctx.require_login()
    repo = ctx.repo("write")
    ref = _full_ref(ctx.param("ref"))
    body = ctx.obj()
    sha = body.get("sha")
    if ref not in repo.refs:
        raise ApiError(422, "Reference does not exist")
    if sha not in ctx.world.git.commits:
        raise ApiError(422, "Object does not exist")
    if not body.get("force") and not ctx.world.git.is_ancestor(repo.refs[ref], sha):
        raise ApiError(422, "Update is not a fast forward")
    repo.refs[ref] = sha
    repo.pushed_at = now()
    return Reply(200, ctx.render.git_ref(repo, ref, sha))


def delete_ref(ctx: Ctx) -> Reply:
    ctx.require_login()
    repo = ctx.repo("write")
    ref = _full_ref(ctx.param("ref"))
    if ref not in repo.refs:
        raise ApiError(422, "Reference does not exist")
    del repo.refs[ref]
    return Reply(204)


def get_commit(ctx: Ctx) -> Reply:
    repo = ctx.repo()
    sha = resolve(ctx.world, repo, ctx.param("ref"))
    if sha is None:
        raise ApiError(422, f"No commit found for SHA: {ctx.param('ref')}")
    return Reply(200, ctx.render.commit(repo, ctx.world.git.commits[sha]))


def download_tarball(ctx: Ctx) -> Reply:
    """302 to the repository's tar archive at the ref, as GitHub answers: the archive is
    served elsewhere (codeload.github.com there, `server.archive_url` here), the ref is
    resolved when it is downloaded, and a private repository's link carries a token."""
    repo = ctx.repo()
    ref = urllib.parse.unquote(ctx.param("ref"))
    if resolve(ctx.world, repo, ref) is None:
        raise not_found()
    return Reply(302, None, {"Location": ctx.server.archive_url(repo, ref)})


def compare(ctx: Ctx) -> Reply:
    """BASE...HEAD: the commits HEAD has that BASE has not, and the files changed since
    their merge base (what a pull request shows). A side is a branch, tag or SHA of this
    repository, or a commit anywhere in its network (forks share objects here)."""
    repo = ctx.repo()
    git = ctx.world.git
    base_name, sep, head_name = ctx.param("basehead").partition("...")
    if not sep:
        raise not_found()

    def side(name: str) -> str:
        sha = resolve(ctx.world, repo, name)
        if sha is None and re.fullmatch(r"[0-9a-f]{40}", name) and name in git.commits:
            sha = name
        if sha is None:
            raise not_found()
        return sha

    base, head = side(base_name), side(head_name)
    of_base, of_head = set(git.ancestors(base)), git.ancestors(head)
    ahead = [c for c in reversed(of_head) if c not in of_base]
    behind = [c for c in of_base if c not in set(of_head)]
    merge_base = git.merge_base(head, base) or base
    if head == base:
        status = "identical"
    elif not behind:
        status = "ahead"
    elif not ahead:
        status = "behind"
    else:
        status = "diverged"
    r = f"{ctx.render.api}/repos/{repo.full_name}"
    web = f"{ctx.render.web}/{repo.full_name}"
    body = {
        "url": f"{r}/compare/{base_name}...{head_name}",
        "html_url": f"{web}/compare/{base_name}...{head_name}",
        "permalink_url": f"{web}/compare/{base}...{head}",
        "diff_url": f"{web}/compare/{base_name}...{head_name}.diff",
        "patch_url": f"{web}/compare/{base_name}...{head_name}.patch",
        "base_commit": ctx.render.commit(repo, git.commits[base], with_files=False),
        "merge_base_commit": ctx.render.commit(repo, git.commits[merge_base], with_files=False),
        "status": status,
        "ahead_by": len(ahead),
        "behind_by": len(behind),
        "total_commits": len(ahead),
        "commits": [ctx.render.commit(repo, git.commits[c], with_files=False) for c in ahead],
        "files": ctx.render.diff_entries(repo, merge_base, head),
    }
    return Reply(200, body)


def get_branch(ctx: Ctx) -> Reply:
    repo = ctx.repo()
    name = ctx.param("branch")
    sha = repo.refs.get(f"refs/heads/{name}")
    if sha is None:
        raise not_found("Branch not found")
    return Reply(200, ctx.render.branch(repo, name, sha))


# -- contents ------------------------------------------------------------------------------


def get_content(ctx: Ctx) -> Reply:
    repo = ctx.repo()
    path = ctx.param("path").strip("/")
    ref = ctx.q("ref")
    sha = resolve(ctx.world, repo, ref)
    if sha is None:
        raise not_found(
            f"No commit found for the ref {ref}" if ref else "This repository is empty."
        )
    ref_name = ref or repo.default_branch
    git = ctx.world.git
    files = git.files(sha)
    if path in files:
        data = git.blobs[files[path]]
        return Reply(200, ctx.render.content_file(repo, path, data, ref_name))
    prefix = f"{path}/" if path else ""
    children: dict[str, tuple[str, str, int]] = {}
    for name, blob in files.items():
        if not name.startswith(prefix):
            continue
        head, sep, _ = name[len(prefix) :].partition("/")
        if sep:
            if head not in children:
                sub = git.subtree_sha(sha, prefix + head)
                children[head] = ("dir", sub, 0)
        else:
            children[head] = ("file", blob, len(git.blobs[blob]))
    if not children:
        raise not_found()
    listing = [
        ctx.render.content_entry(repo, prefix + name, entry_sha, size, ref_name, kind)
        for name, (kind, entry_sha, size) in sorted(children.items())
    ]
    return Reply(200, listing)


def put_content(ctx: Ctx) -> Reply:
    ctx.require_login()
    repo = ctx.repo("write")
    path = ctx.param("path").strip("/")
    body = ctx.obj()
    for name in ("message", "content"):
        if not isinstance(body.get(name), str):
            raise validation_failed(
                {"resource": "Commit", "code": "missing_field", "field": name},
                message=f'Invalid request.\n\n"{name}" wasn\'t supplied.',
            )
    try:
        data = base64.b64decode(body["content"], validate=False)
    except (binascii.Error, ValueError):
        raise ApiError(422, "content is not valid Base64") from None
    branch = body.get("branch") or repo.default_branch
    git = ctx.world.git
    tip = repo.refs.get(f"refs/heads/{branch}")
    if tip is None and repo.refs:
        raise not_found(f"Branch {branch} not found")
    files = dict(git.files(tip)) if tip else {}
    existing = files.get(path)
    if existing is not None:
        given = body.get("sha")
        if not given:
            raise ApiError(422, 'Invalid request.\n\n"sha" wasn\'t supplied.')
        if given != existing:
            raise ApiError(409, f"{path} does not match {given}")
    author = _signature(ctx, body.get("author") or body.get("committer"))
    committer = _signature(ctx, body.get("committer"))
    files[path] = git.put_blob(data)
    sha = git.put_commit(files, [tip] if tip else [], body["message"], author, committer)
    repo.refs[f"refs/heads/{branch}"] = sha
    repo.pushed_at = now()
    commit = ctx.render.commit(repo, git.commits[sha], with_files=False)
    entry = ctx.render.content_entry(repo, path, files[path], len(data), branch, "file")
    git_commit = {
        "sha": sha,
        "node_id": commit["node_id"],
        "url": commit["commit"]["url"],
        "html_url": commit["html_url"],
        "author": commit["commit"]["author"],
        "committer": commit["commit"]["committer"],
        "message": commit["commit"]["message"],
        "tree": commit["commit"]["tree"],
        "parents": commit["parents"],
        "verification": commit["commit"]["verification"],
    }
    return Reply(201 if existing is None else 200, {"content": entry, "commit": git_commit})


# -- releases ------------------------------------------------------------------------------


def _release(ctx: Ctx, repo: Repo, release_id: int) -> Release:
    release = repo.releases.get(release_id)
    if release is None or (
        release.draft and not role_at_least(ctx.world.role(repo, ctx.login), "write")
    ):
        raise not_found()
    return release


def create_release(ctx: Ctx) -> Reply:
    login = ctx.require_login()
    repo = ctx.repo("write")
    body = ctx.obj()
    tag = body.get("tag_name")
    if not isinstance(tag, str) or not tag:
        raise validation_failed(
            {"resource": "Release", "code": "missing_field", "field": "tag_name"}
        )
    if any(r.tag_name == tag for r in repo.releases.values()):
        raise validation_failed(
            {"resource": "Release", "code": "already_exists", "field": "tag_name"}
        )
    target = body.get("target_commitish") or repo.default_branch
    sha = repo.refs.get(f"refs/tags/{tag}") or resolve(ctx.world, repo, target)
    if sha is None:
        raise validation_failed(
            {"resource": "Release", "code": "invalid", "field": "target_commitish"}
        )
    draft = bool(body.get("draft"))
    if not draft and f"refs/tags/{tag}" not in repo.refs:
        repo.refs[f"refs/tags/{tag}"] = sha
    release = Release(
        id=ctx.world.new_id(),
        tag_name=tag,
        target_commitish=target,
        name=body.get("name"),
        body=body.get("body"),
        draft=draft,
        prerelease=bool(body.get("prerelease")),
        author=login,
    )
    if not draft:
        release.published_at = release.created_at
    repo.releases[release.id] = release
    data = ctx.render.release(repo, release)
    return Reply(201, data, {"Location": data["url"]})


def list_releases(ctx: Ctx) -> Reply:
    repo = ctx.repo()
    can_write = role_at_least(ctx.world.role(repo, ctx.login), "write")
    releases = sorted(repo.releases.values(), key=lambda r: r.id, reverse=True)
    return page(ctx, [ctx.render.release(repo, r) for r in releases if can_write or not r.draft])


def release_by_tag(ctx: Ctx) -> Reply:
    repo = ctx.repo()
    tag = ctx.param("tag")
    for release in repo.releases.values():
        if release.tag_name == tag and not release.draft:
            return Reply(200, ctx.render.release(repo, release))
    raise not_found()


def get_release(ctx: Ctx) -> Reply:
    repo = ctx.repo()
    return Reply(200, ctx.render.release(repo, _release(ctx, repo, ctx.int_param("release_id"))))


def list_assets(ctx: Ctx) -> Reply:
    repo = ctx.repo()
    release = _release(ctx, repo, ctx.int_param("release_id"))
    return page(ctx, [ctx.render.asset(repo, release, a) for a in release.assets.values()])


def asset_name(name: str) -> str:
    """GitHub renames asset filenames that have special characters, non-alphanumeric
    characters, and leading or trailing periods."""
    cleaned = re.sub(r"[^A-Za-z0-9._+-]", ".", name)
    cleaned = re.sub(r"\.{2,}", ".", cleaned).strip(".")
    return cleaned or "default"


def upload_asset(ctx: Ctx) -> Reply:
    login = ctx.require_login()
    repo = ctx.repo("write")
    release = _release(ctx, repo, ctx.int_param("release_id"))
    upload = ctx.upload
    raw_name = ctx.q("name")
    if not raw_name:
        raise validation_failed(
            {"resource": "ReleaseAsset", "code": "missing_field", "field": "name"}
        )
    name = asset_name(raw_name)
    if any(a.name == name for a in release.assets.values()):
        raise validation_failed(
            {"resource": "ReleaseAsset", "code": "already_exists", "field": "name"}
        )
    asset_id = ctx.world.new_id()
    stored = ctx.server.storage / "assets" / str(asset_id)
    stored.parent.mkdir(parents=True, exist_ok=True)
    if upload is not None:
        shutil.move(upload.path, stored)
        ctx.upload = None
        size, digest = upload.size, upload.sha256
    else:
        stored.write_bytes(ctx.body)
        size, digest = len(ctx.body), hashlib.sha256(ctx.body).hexdigest()
    asset = Asset(
        id=asset_id,
        release_id=release.id,
        name=name,
        label=ctx.q("label") or None,
        content_type=ctx.headers.get("content-type") or "application/octet-stream",
        size=size,
        sha256=digest,
        uploader=login,
        path=stored,
    )
    release.assets[asset.id] = asset
    return Reply(201, ctx.render.asset(repo, release, asset))


def _asset(ctx: Ctx, repo: Repo) -> tuple[Release, Asset]:
    asset_id = ctx.int_param("asset_id")
    for release in repo.releases.values():
        if asset_id in release.assets:
            _release(ctx, repo, release.id)
            return release, release.assets[asset_id]
    raise not_found()


def get_asset(ctx: Ctx) -> Reply:
    repo = ctx.repo()
    release, asset = _asset(ctx, repo)
    if "application/octet-stream" in ctx.headers.get("accept", ""):
        return Reply(302, None, {"Location": ctx.server.storage_url(asset)})
    return Reply(200, ctx.render.asset(repo, release, asset))


def delete_asset(ctx: Ctx) -> Reply:
    ctx.require_login()
    repo = ctx.repo("write")
    release, asset = _asset(ctx, repo)
    del release.assets[asset.id]
    if asset.path is not None:
        asset.path.unlink(missing_ok=True)
    return Reply(204)


# -- pull requests -------------------------------------------------------------------------


def _issue(ctx: Ctx, repo: Repo, number: int, pull: bool = False) -> Issue:
    issue = repo.issues.get(number)
    if issue is None or (pull and issue.pull is None):
        raise not_found()
    return issue


def refresh(ctx: Ctx, repo: Repo, issue: Issue) -> None:
    """Keep an open pull request's head and base SHAs at their branches' tips."""
    pull = issue.pull
    if pull is None or issue.state != "open":
        return
    head_repo = ctx.world.repos.get(pull.head_repo.lower())
    if head_repo is not None and f"refs/heads/{pull.head_ref}" in head_repo.refs:
        pull.head_sha = head_repo.refs[f"refs/heads/{pull.head_ref}"]
    pull.base_sha = repo.refs.get(f"refs/heads/{pull.base_ref}", pull.base_sha)


def create_pull(ctx: Ctx) -> Reply:
    login = ctx.require_login()
    repo = ctx.repo()
    body = ctx.obj()
    head, base = body.get("head"), body.get("base")
    if not isinstance(head, str) or not isinstance(base, str):
        raise validation_failed(
            {"resource": "PullRequest", "code": "missing_field", "field": "head"}
        )
    title = body.get("title")
    if not isinstance(title, str) or not title:
        raise validation_failed(
            {"resource": "PullRequest", "code": "missing_field", "field": "title"}
        )
    owner, sep, branch = head.partition(":")
    if not sep:
        owner, branch = repo.owner, head
    head_repo: Repo | None = None
    if body.get("head_repo"):
        head_repo = ctx.world.repos.get(str(body["head_repo"]).lower())
        if head_repo is None and "/" not in str(body["head_repo"]):
            head_repo = ctx.world.repo(owner, str(body["head_repo"]))
    elif owner.lower() == repo.owner.lower():
        head_repo = repo
    else:
        network = {repo.key} | {f.key for f in ctx.world.forks_of(repo)}
        if repo.parent:
            network.add(repo.parent.lower())
        head_repo = next(
            (
                ctx.world.repos[k]
                for k in sorted(network)
                if ctx.world.repos[k].owner.lower() == owner.lower()
            ),
            None,
        )
    head_sha = head_repo.refs.get(f"refs/heads/{branch}") if head_repo else None
    if head_repo is None or head_sha is None:
        raise validation_failed({"resource": "PullRequest", "field": "head", "code": "invalid"})
    base_sha = repo.refs.get(f"refs/heads/{base}")
    if base_sha is None:
        raise validation_failed({"resource": "PullRequest", "field": "base", "code": "invalid"})
    if not role_at_least(ctx.world.role(head_repo, login), "write"):
        raise ApiError(403, "Must have push access to the head repository")
    for other in repo.pulls():
        assert other.pull is not None
        if (
            other.state == "open"
            and other.pull.head_repo.lower() == head_repo.key
            and other.pull.head_ref == branch
            and other.pull.base_ref == base
        ):
            message = f"A pull request already exists for {head_repo.owner}:{branch}."
            raise validation_failed(
                {"resource": "PullRequest", "code": "custom", "message": message}
            )
    if ctx.world.git.is_ancestor(head_sha, base_sha):
        message = f"No commits between {base} and {head}"
        raise validation_failed({"resource": "PullRequest", "code": "custom", "message": message})
    number = repo.next_number
    repo.next_number += 1
    issue = Issue(
        id=ctx.world.new_id(),
        number=number,
        title=title,
        body=body.get("body"),
        user=login,
        pull=Pull(
            id=ctx.world.new_id(),
            head_repo=head_repo.full_name,
            head_ref=branch,
            head_sha=head_sha,
            base_ref=base,
            base_sha=base_sha,
            draft=bool(body.get("draft")),
            maintainer_can_modify=bool(body.get("maintainer_can_modify")),
        ),
    )
    repo.issues[number] = issue
    data = ctx.render.pull(repo, issue, ctx.login, full=True)
    return Reply(201, data, {"Location": data["url"]})


def list_pulls(ctx: Ctx) -> Reply:
    repo = ctx.repo()
    state = ctx.q("state", "open")
    head, base = ctx.q("head"), ctx.q("base")
    out = []
    for issue in repo.pulls():
        pull = issue.pull
        assert pull is not None
        refresh(ctx, repo, issue)
        if state != "all" and issue.state != state:
            continue
        if base is not None and pull.base_ref != base:
            continue
        if head is not None:
            owner, sep, ref = head.partition(":")
            head_owner = pull.head_repo.split("/")[0]
            if head_owner.lower() != owner.lower() or (sep and ref != pull.head_ref):
                continue
        out.append(issue)
    sort = ctx.q("sort", "created")
    direction = ctx.q("direction", "desc" if sort == "created" else "asc")
    key: Callable[[Issue], Any] = {
        "updated": lambda i: (i.updated_at, i.number),
        "popularity": lambda i: (
            sum(1 for c in repo.comments.values() if c.issue_number == i.number),
            i.number,
        ),
        "long-running": lambda i: (i.created_at, i.number),
    }.get(sort or "created", lambda i: (i.created_at, i.number))
    out.sort(key=key, reverse=direction == "desc")
    return page(ctx, [ctx.render.pull(repo, i, ctx.login, full=False) for i in out])


def get_pull(ctx: Ctx) -> Reply:
    repo = ctx.repo()
    issue = _issue(ctx, repo, ctx.int_param("pull_number"), pull=True)
    refresh(ctx, repo, issue)
    return Reply(200, ctx.render.pull(repo, issue, ctx.login, full=True))


def _close(issue: Issue, login: str) -> None:
    issue.state = "closed"
    issue.closed_at = now()
    issue.closed_by = login


def update_pull(ctx: Ctx) -> Reply:
    login = ctx.require_login()
    repo = ctx.repo()
    issue = _issue(ctx, repo, ctx.int_param("pull_number"), pull=True)
    if issue.user.lower() != login.lower():
        ctx.repo("write", hide=False)
    refresh(ctx, repo, issue)
    body = ctx.obj()
    pull = issue.pull
    assert pull is not None
    if "title" in body:
        issue.title = str(body["title"])
    if "body" in body:
        issue.body = body["body"]
    if "maintainer_can_modify" in body:
        pull.maintainer_can_modify = bool(body["maintainer_can_modify"])
    if "base" in body:
        if f"refs/heads/{body['base']}" not in repo.refs:
            raise validation_failed({"resource": "PullRequest", "field": "base", "code": "invalid"})
        pull.base_ref = str(body["base"])
    state = body.get("state")
    if state == "closed" and issue.state == "open":
        _close(issue, login)
    elif state == "open" and issue.state == "closed":
        if pull.merged_at is not None:
            raise validation_failed(
                {
                    "resource": "PullRequest",
                    "code": "custom",
                    "message": "Cannot reopen a merged pull request",
                }
            )
        issue.state, issue.closed_at, issue.closed_by = "open", None, None
    elif state not in (None, "open", "closed"):
        raise validation_failed({"resource": "PullRequest", "field": "state", "code": "invalid"})
    issue.updated_at = now()
    refresh(ctx, repo, issue)
    return Reply(200, ctx.render.pull(repo, issue, ctx.login, full=True))


def merge_pull(ctx: Ctx) -> Reply:
    login = ctx.require_login()
    repo = ctx.repo("write", hide=False)
    issue = _issue(ctx, repo, ctx.int_param("pull_number"), pull=True)
    refresh(ctx, repo, issue)
    pull = issue.pull
    assert pull is not None
    body = ctx.obj()
    if issue.state != "open" or pull.merged_at is not None:
        raise ApiError(405, "Pull Request is not mergeable")
    if body.get("sha") and body["sha"] != pull.head_sha:
        raise ApiError(409, "Head branch was modified. Review and try the merge again.")
    method = body.get("merge_method") or "merge"
    if method not in ("merge", "squash", "rebase"):
        raise validation_failed(
            {"resource": "PullRequest", "field": "merge_method", "code": "invalid"}
        )
    git = ctx.world.git
    base_ref = f"refs/heads/{pull.base_ref}"
    base_tip = repo.refs[base_ref]
    merged = git.three_way(git.merge_base(pull.head_sha, base_tip), base_tip, pull.head_sha)
    if merged is None:
        raise ApiError(405, "Pull Request is not mergeable")
    if method == "merge":
        title = body.get("commit_title") or (
            f"Merge pull request #{issue.number} from {pull.head_repo.split('/')[0]}/{pull.head_ref}"
        )
        message = body.get("commit_message", issue.title)
        parents = [base_tip, pull.head_sha]
    else:
        title = body.get("commit_title") or f"{issue.title} (#{issue.number})"
        message = body.get("commit_message", "")
        parents = [base_tip]
    full_message = f"{title}\n\n{message}" if message else title
    signature = _signature(ctx, None)
    sha = git.put_commit(merged, parents, full_message, signature)
    repo.refs[base_ref] = sha
    repo.pushed_at = now()
    pull.base_sha = base_tip
    pull.merged_at = now()
    pull.merged_by = login
    pull.merge_commit_sha = sha
    _close(issue, login)
    return Reply(200, {"sha": sha, "merged": True, "message": "Pull Request successfully merged"})


def pull_files(ctx: Ctx) -> Reply:
    repo = ctx.repo()
    issue = _issue(ctx, repo, ctx.int_param("pull_number"), pull=True)
    refresh(ctx, repo, issue)
    pull = issue.pull
    assert pull is not None
    git = ctx.world.git
    if pull.merged_at is not None and pull.merge_commit_sha:
        base = git.merge_base(pull.head_sha, pull.base_sha)
    else:
        base = git.merge_base(
            pull.head_sha, repo.refs.get(f"refs/heads/{pull.base_ref}", pull.base_sha)
        )
    return page(ctx, ctx.render.diff_entries(repo, base, pull.head_sha))


# -- issues, labels, comments --------------------------------------------------------------


def get_issue(ctx: Ctx) -> Reply:
    repo = ctx.repo()
    issue = _issue(ctx, repo, ctx.int_param("issue_number"))
    refresh(ctx, repo, issue)
    return Reply(200, ctx.render.issue(repo, issue))


def issue_labels(ctx: Ctx) -> Reply:
    repo = ctx.repo()
    issue = _issue(ctx, repo, ctx.int_param("issue_number"))
    return page(ctx, ctx.render.issue_labels(repo, issue))


def _label(
    ctx: Ctx, repo: Repo, name: str, color: str = "ededed", description: Any = None
) -> Label:
    label = repo.labels.get(name.lower())
    if label is None:
        label = Label(ctx.world.new_id(), name, color, description)
        repo.labels[name.lower()] = label
    return label


def add_labels(ctx: Ctx) -> Reply:
    ctx.require_login()
    repo = ctx.repo("triage", hide=False)
    issue = _issue(ctx, repo, ctx.int_param("issue_number"))
    body = ctx.json()
    names = body.get("labels") if isinstance(body, dict) else body
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, list) or not names:
        raise validation_failed({"resource": "Label", "code": "invalid", "field": "labels"})
    for item in names:
        name = item.get("name") if isinstance(item, dict) else item
        if not isinstance(name, str) or not name:
            raise validation_failed({"resource": "Label", "code": "invalid", "field": "name"})
        label = _label(ctx, repo, name)
        if label.name not in issue.labels:
            issue.labels.append(label.name)
    issue.updated_at = now()
    return Reply(200, ctx.render.issue_labels(repo, issue))


def remove_label(ctx: Ctx) -> Reply:
    ctx.require_login()
    repo = ctx.repo("triage", hide=False)
    issue = _issue(ctx, repo, ctx.int_param("issue_number"))
    name = ctx.param("name").lower()
    for existing in issue.labels:
        if existing.lower() == name:
            issue.labels.remove(existing)
            issue.updated_at = now()
            return Reply(200, ctx.render.issue_labels(repo, issue))
    raise not_found("Label does not exist")


def get_label(ctx: Ctx) -> Reply:
    repo = ctx.repo()
    label = repo.labels.get(ctx.param("name").lower())
    if label is None:
        raise not_found()
    return Reply(200, ctx.render.label(repo, label))


def create_label(ctx: Ctx) -> Reply:
    ctx.require_login()
    repo = ctx.repo("write")
    body = ctx.obj()
    name = body.get("name")
    if not isinstance(name, str) or not name:
        raise validation_failed({"resource": "Label", "code": "missing_field", "field": "name"})
    if name.lower() in repo.labels:
        raise validation_failed({"resource": "Label", "code": "already_exists", "field": "name"})
    color = str(body.get("color") or "ededed").lstrip("#").lower()
    if not re.fullmatch(r"[0-9a-f]{6}", color):
        raise validation_failed({"resource": "Label", "code": "invalid", "field": "color"})
    label = _label(ctx, repo, name, color, body.get("description"))
    data = ctx.render.label(repo, label)
    return Reply(201, data, {"Location": data["url"]})


def list_comments(ctx: Ctx) -> Reply:
    repo = ctx.repo()
    issue = _issue(ctx, repo, ctx.int_param("issue_number"))
    since = ctx.q("since")
    comments = [c for c in repo.comments.values() if c.issue_number == issue.number]
    if since:
        comments = [c for c in comments if (c.updated_at.strftime("%Y-%m-%dT%H:%M:%SZ")) >= since]
    comments.sort(key=lambda c: c.id)
    return page(ctx, [ctx.render.comment(repo, c) for c in comments])


def create_comment(ctx: Ctx) -> Reply:
    login = ctx.require_login()
    repo = ctx.repo()
    issue = _issue(ctx, repo, ctx.int_param("issue_number"))
    body = ctx.obj()
    if not isinstance(body.get("body"), str) or not body["body"]:
        raise validation_failed(
            {"resource": "IssueComment", "code": "missing_field", "field": "body"}
        )
    comment = Comment(ctx.world.new_id(), issue.number, login, body["body"])
    repo.comments[comment.id] = comment
    issue.updated_at = now()
    data = ctx.render.comment(repo, comment)
    return Reply(201, data, {"Location": data["url"]})


def get_comment(ctx: Ctx) -> Reply:
    repo = ctx.repo()
    comment = repo.comments.get(ctx.int_param("comment_id"))
    if comment is None:
        raise not_found()
    return Reply(200, ctx.render.comment(repo, comment))


def update_comment(ctx: Ctx) -> Reply:
    login = ctx.require_login()
    repo = ctx.repo()
    comment = repo.comments.get(ctx.int_param("comment_id"))
    if comment is None:
        raise not_found()
    if comment.user.lower() != login.lower():
        ctx.repo("write", hide=False)
    body = ctx.obj()
    if not isinstance(body.get("body"), str):
        raise validation_failed(
            {"resource": "IssueComment", "code": "missing_field", "field": "body"}
        )
    comment.body = body["body"]
    comment.updated_at = now()
    return Reply(200, ctx.render.comment(repo, comment))


HANDLERS: dict[str, Callable[[Ctx], Reply]] = {
    "users/get-authenticated": get_authenticated,
    "users/get-by-username": get_by_username,
    "rate-limit/get": rate_limit,
    "repos/get": get_repo,
    "repos/create-fork": create_fork,
    "repos/get-collaborator-permission-level": collaborator_permission,
    "repos/list-teams": list_teams,
    "teams/get-membership-for-user-in-org": team_membership,
    "git/get-ref": get_ref,
    "git/list-matching-refs": matching_refs,
    "git/create-ref": create_ref,
    "git/update-ref": update_ref,
    "git/delete-ref": delete_ref,
    "repos/get-commit": get_commit,
    "repos/compare-commits-with-basehead": compare,
    "repos/get-branch": get_branch,
    "repos/get-content": get_content,
    "repos/download-tarball-archive": download_tarball,
    "repos/create-or-update-file-contents": put_content,
    "repos/create-release": create_release,
    "repos/list-releases": list_releases,
    "repos/get-release-by-tag": release_by_tag,
    "repos/get-release": get_release,
    "repos/list-release-assets": list_assets,
    "repos/upload-release-asset": upload_asset,
    "repos/get-release-asset": get_asset,
    "repos/delete-release-asset": delete_asset,
    "pulls/create": create_pull,
    "pulls/list": list_pulls,
    "pulls/get": get_pull,
    "pulls/update": update_pull,
    "pulls/merge": merge_pull,
    "pulls/list-files": pull_files,
    "issues/get": get_issue,
    "issues/list-labels-on-issue": issue_labels,
    "issues/add-labels": add_labels,
    "issues/remove-label": remove_label,
    "issues/get-label": get_label,
    "issues/create-label": create_label,
    "issues/list-comments": list_comments,
    "issues/create-comment": create_comment,
    "issues/get-comment": get_comment,
    "issues/update-comment": update_comment,
}
