"""The GitHub test server, driven the way the project drives GitHub: through PyGithub and
plain requests. Every request and response here is checked against GitHub's OpenAPI
description by the `github_server` fixture."""

from __future__ import annotations

import hashlib
import importlib.util
import subprocess
import time
from pathlib import Path

import github
import pytest
import requests
from github import GithubException, GithubRetry
from github_server import GitHubServer
from github_server.git import ObjectStore, Signature, blob_sha, now

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def world(github_server: GitHubServer):
    """alice owns alice/model; the org mlcommons owns the registry; carol is on the
    committee team; bob is an outsider."""
    gh = github_server
    tokens = {login: gh.add_user(login) for login in ("alice", "bob", "carol")}
    gh.create_repo(
        "alice/model",
        {"README.md": b"# model\n", "mlcube/mlcube.yaml": b"name: model\n"},
        description="A model",
    )
    gh.add_org("mlcommons", {"alice": "admin"})
    gh.create_repo(
        "mlcommons/registry",
        {"registry.yaml": b"committee: [carol]\n", "mlcubes/ref.yaml": b"id: ref\n"},
    )
    gh.add_team("mlcommons", "committee", ["carol"], {"mlcommons/registry": "push"})
    return tokens


def client(gh: GitHubServer, token: str, **kwargs) -> github.Github:
    return gh.github(token, **kwargs)


# -- users and authentication -------------------------------------------------------------


def test_users_and_credentials(github_server, world):
    gh = github_server
    alice = client(gh, world["alice"])
    me = alice.get_user()
    assert me.login == "alice"
    assert me.email == "alice@example.com"
    assert alice.get_user("bob").login == "bob"
    assert alice.get_user("mlcommons").type == "Organization"
    assert alice.get_rate_limit().resources.core.limit == 5000

    with pytest.raises(github.BadCredentialsException) as bad:
        _ = client(gh, "not-a-token").get_user().login
    assert bad.value.status == 401
    assert bad.value.data["message"] == "Bad credentials"
    assert bad.value.data["documentation_url"].startswith("https://docs.github.com/")

    anonymous = requests.get(f"{gh.api_url}/user", timeout=10)
    assert anonymous.status_code == 401
    assert anonymous.json()["message"] == "Requires authentication"
    # public repositories can be read without a token, as on GitHub
    assert requests.get(f"{gh.api_url}/repos/alice/model", timeout=10).json()["private"] is False

    with pytest.raises(github.UnknownObjectException):
        alice.get_user("nobody")


# -- repositories, forks, permissions, teams ----------------------------------------------


def test_repository_fork_and_permissions(github_server, world):
    gh = github_server
    bob = client(gh, world["bob"])
    registry = bob.get_repo("mlcommons/registry")
    assert registry.default_branch == "main"
    assert registry.organization.login == "mlcommons"
    assert registry.permissions.push is False

    fork = registry.create_fork()
    assert fork.full_name == "bob/registry"
    assert fork.fork and fork.parent.full_name == "mlcommons/registry"
    assert gh.files("bob/registry") == gh.files("mlcommons/registry")
    assert registry.create_fork().full_name == "bob/registry"  # a second fork is the same one

    assert registry.get_collaborator_permission("carol") == "write"  # through the team
    assert registry.get_collaborator_permission("alice") == "admin"  # org admin
    assert registry.get_collaborator_permission("bob") == "read"
    gh.add_collaborator("alice/model", "bob", "triage")
    raw = bob.requester.requestJsonAndCheck(
        "GET", "/repos/alice/model/collaborators/bob/permission"
    )[1]
    assert (raw["permission"], raw["role_name"]) == ("read", "triage")

    assert [t.slug for t in registry.get_teams()] == ["committee"]
    path = "/orgs/mlcommons/teams/committee/memberships/{}"
    assert bob.requester.requestJsonAndCheck("GET", path.format("carol"))[1]["state"] == "active"
    with pytest.raises(github.UnknownObjectException):
        bob.requester.requestJsonAndCheck("GET", path.format("bob"))

    with pytest.raises(github.UnknownObjectException):
        bob.get_repo("alice/nothing")


# -- git data ------------------------------------------------------------------------------


def test_git_refs_commits_branches(github_server, world):
    gh = github_server
    repo = client(gh, world["alice"]).get_repo("alice/model")
    main = repo.get_git_ref("heads/main")
    sha = main.object.sha
    assert sha == gh.repo("alice/model").refs["refs/heads/main"]

    ref = repo.create_git_ref("refs/heads/feature/x", sha)
    assert ref.ref == "refs/heads/feature/x"
    with pytest.raises(GithubException) as exists:
        repo.create_git_ref("refs/heads/feature/x", sha)
    assert exists.value.status == 422
    assert exists.value.data["message"] == "Reference already exists"
    assert [r.ref for r in repo.get_git_matching_refs("heads/feature")] == ["refs/heads/feature/x"]

    new = gh.commit("alice/model", {"new.txt": b"new\n"}, branch="feature/x", message="more")
    with pytest.raises(GithubException) as not_ff:
        ref.edit(sha)  # back to the parent: not a fast-forward
    assert not_ff.value.status == 422
    ref.edit(sha, force=True)
    assert repo.get_git_ref("heads/feature/x").object.sha == sha
    ref.edit(new)

    commit = repo.get_commit("feature/x")
    assert commit.sha == new
    assert commit.parents[0].sha == sha
    assert [(f.filename, f.status) for f in commit.files] == [("new.txt", "added")]
    assert repo.get_branch("feature/x").commit.sha == new

    ref.delete()
    with pytest.raises(github.UnknownObjectException):
        repo.get_git_ref("heads/feature/x")
    with pytest.raises(github.UnknownObjectException):
        repo.get_branch("feature/x")


def test_object_ids_are_gits(tmp_path):
    """Blob, tree and commit SHAs are the ones git computes for the same content."""
    files = {"a.txt": b"a\n", "dir/b.txt": b"b\n", "dir/sub/c.txt": b"c\n", "dir.txt": b"d\n"}
    store = ObjectStore()
    when = now()
    who = Signature("Alice", "alice@example.com", when)
    sha = store.put_commit({p: store.put_blob(d) for p, d in files.items()}, [], "init\n", who)
    for path, data in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(data)

    def git(*args: str, env: dict | None = None) -> str:
        return subprocess.run(
            ["git", "-C", str(tmp_path), *args],
            check=True,
            capture_output=True,
            text=True,
            env=env,
        ).stdout.strip()

    git("init", "-q")
    git("add", ".")
    tree = git("write-tree")
    assert store.commits[sha].tree == tree
    assert blob_sha(b"a\n") == git("hash-object", "a.txt")
    date = f"{int(when.timestamp())} +0000"
    env = {
        "GIT_AUTHOR_NAME": "Alice",
        "GIT_AUTHOR_EMAIL": "alice@example.com",
        "GIT_AUTHOR_DATE": date,
        "GIT_COMMITTER_NAME": "Alice",
        "GIT_COMMITTER_EMAIL": "alice@example.com",
        "GIT_COMMITTER_DATE": date,
        "PATH": "/usr/bin:/bin",
    }
    commit = subprocess.run(
        ["git", "-C", str(tmp_path), "commit-tree", tree],
        input="init\n",
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout.strip()
    assert sha == commit


# -- contents ------------------------------------------------------------------------------


def test_contents(github_server, world):
    gh = github_server
    repo = client(gh, world["alice"]).get_repo("alice/model")
    readme = repo.get_contents("README.md")
    assert readme.decoded_content == b"# model\n"
    assert readme.sha == hashlib.sha1(b"blob 8\0# model\n").hexdigest()
    assert sorted((c.path, c.type) for c in repo.get_contents("")) == [
        ("README.md", "file"),
        ("mlcube", "dir"),
    ]
    assert [c.path for c in repo.get_contents("mlcube")] == ["mlcube/mlcube.yaml"]

    created = repo.create_file("mlcubes/m.yaml", "add m", b"id: m\n")
    assert created["content"].sha == blob_sha(b"id: m\n")
    assert gh.read_file("alice/model", "mlcubes/m.yaml") == b"id: m\n"
    assert (
        repo.get_contents("mlcubes/m.yaml", ref=created["commit"].sha).decoded_content == b"id: m\n"
    )

    with pytest.raises(GithubException) as no_sha:
        repo.create_file("mlcubes/m.yaml", "again", b"id: m2\n")
    assert no_sha.value.status == 422
    with pytest.raises(GithubException) as stale:
        repo.update_file("mlcubes/m.yaml", "stale", b"id: m2\n", sha=blob_sha(b"other"))
    assert stale.value.status == 409
    updated = repo.update_file("mlcubes/m.yaml", "update", b"id: m2\n", sha=created["content"].sha)
    assert updated["commit"].parents[0].sha == created["commit"].sha

    repo.create_git_ref("refs/heads/other", updated["commit"].sha)
    repo.create_file("x.txt", "on a branch", b"x", branch="other")
    assert gh.read_file("alice/model", "x.txt") is None
    assert gh.read_file("alice/model", "x.txt", ref="other") == b"x"

    with pytest.raises(github.UnknownObjectException):
        repo.get_contents("missing.txt")
    outsider = client(gh, world["bob"]).get_repo("alice/model")
    with pytest.raises(github.UnknownObjectException):  # no push access: GitHub says 404
        outsider.create_file("evil.txt", "no", b"no")
    assert gh.read_file("alice/model", "evil.txt") is None


# -- releases and assets -------------------------------------------------------------------


def test_releases_and_assets(github_server, world, tmp_path):
    gh = github_server
    repo = client(gh, world["alice"]).get_repo("alice/model")
    release = repo.create_git_release("v1.0", "v1.0", "first")
    assert release.upload_url == (
        f"{gh.uploads_url}/repos/alice/model/releases/{release.id}/assets{{?name,label}}"
    )
    assert gh.repo("alice/model").refs["refs/tags/v1.0"] == repo.get_branch("main").commit.sha
    with pytest.raises(GithubException) as twice:
        repo.create_git_release("v1.0", "again", "")
    assert twice.value.status == 422
    assert twice.value.data["errors"] == [
        {"resource": "Release", "code": "already_exists", "field": "tag_name"}
    ]
    assert repo.get_release("v1.0").id == release.id
    assert repo.get_release(release.id).tag_name == "v1.0"
    with pytest.raises(github.UnknownObjectException):
        repo.get_release("v9")

    weights = tmp_path / "weights.bin"
    data = hashlib.sha256(b"seed").digest() * 200_000  # 6.4 MB, streamed from disk
    weights.write_bytes(data)
    asset = release.upload_asset(str(weights), content_type="application/octet-stream")
    assert (asset.name, asset.size, asset.state) == ("weights.bin", len(data), "uploaded")
    assert asset.digest == "sha256:" + hashlib.sha256(data).hexdigest()
    assert (
        asset.browser_download_url == f"{gh.web_url}/alice/model/releases/download/v1.0/weights.bin"
    )
    with pytest.raises(GithubException) as duplicate:
        release.upload_asset(str(weights))
    assert duplicate.value.status == 422
    assert duplicate.value.data["errors"][0]["code"] == "already_exists"

    small = tmp_path / "mlcube.yaml"
    small.write_bytes(b"name: model\n")
    release.upload_asset(str(small), label="manifest")
    assert sorted(a.name for a in repo.get_release("v1.0").get_assets()) == [
        "mlcube.yaml",
        "weights.bin",
    ]

    # downloads stream through browser_download_url (302 to storage, like GitHub)
    digest = hashlib.sha256()
    with requests.get(asset.browser_download_url, stream=True, timeout=10) as response:
        response.raise_for_status()
        assert response.history and response.history[0].status_code == 302
        for chunk in response.iter_content(1 << 16):
            digest.update(chunk)
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest()
    # and through the assets API with Accept: application/octet-stream (PyGithub)
    copy = tmp_path / "copy.bin"
    repo.get_release_asset(asset.id).download_asset(str(copy), chunk_size=1 << 16)
    assert copy.read_bytes() == data
    assert repo.get_release_asset(asset.id).download_count == 2

    assert repo.get_release_asset(asset.id).delete_asset()
    with pytest.raises(github.UnknownObjectException):
        repo.get_release_asset(asset.id)
    assert requests.get(asset.browser_download_url, timeout=10).status_code == 404
    assert not list((Path(gh.storage) / "incoming").iterdir())

    outsider = client(gh, world["bob"]).get_repo("alice/model")
    with pytest.raises(github.UnknownObjectException):
        outsider.create_git_release("v2", "v2", "")


def test_pagination(github_server, world):
    gh = github_server
    repo = client(gh, world["alice"], per_page=2).get_repo("alice/model")
    for n in range(5):
        repo.create_git_release(f"v{n}", f"v{n}", "")
    assert [r.tag_name for r in repo.get_releases()] == ["v4", "v3", "v2", "v1", "v0"]
    page = requests.get(
        f"{gh.api_url}/repos/alice/model/releases?per_page=2",
        headers={"Authorization": f"token {world['alice']}"},
        timeout=10,
    )
    assert len(page.json()) == 2
    assert page.links["next"]["url"].endswith("/repos/alice/model/releases?per_page=2&page=2")
    assert page.links["last"]["url"].endswith("page=3")


# -- pull requests, labels, comments -------------------------------------------------------


def _submission(
    gh: GitHubServer, world: dict, branch: str = "submit-m"
) -> github.PullRequest.PullRequest:
    bob = client(gh, world["bob"])
    fork = bob.get_repo("mlcommons/registry").create_fork()
    fork.create_git_ref(f"refs/heads/{branch}", fork.get_branch("main").commit.sha)
    fork.create_file("mlcubes/m.yaml", "submit m", b"id: m\n", branch=branch)
    return bob.get_repo("mlcommons/registry").create_pull(
        base="main", head=f"bob:{branch}", title="Submit m", body="please"
    )


def test_pull_request_lifecycle(github_server, world):
    gh = github_server
    pr = _submission(gh, world)
    assert (pr.number, pr.state, pr.head.label, pr.head.repo.full_name) == (
        1,
        "open",
        "bob:submit-m",
        "bob/registry",
    )
    assert pr.mergeable is True
    assert [(f.filename, f.status, f.sha) for f in pr.get_files()] == [
        ("mlcubes/m.yaml", "added", blob_sha(b"id: m\n"))
    ]
    registry_by_bob = client(gh, world["bob"]).get_repo("mlcommons/registry")
    with pytest.raises(GithubException) as again:
        registry_by_bob.create_pull(base="main", head="bob:submit-m", title="again")
    assert again.value.status == 422
    assert "already exists" in again.value.data["errors"][0]["message"]

    alice = client(gh, world["alice"])
    registry = alice.get_repo("mlcommons/registry")
    found = registry.get_pulls(state="open", head="bob:submit-m", base="main")
    assert [p.number for p in found] == [1]
    assert list(registry.get_pulls(state="closed")) == []

    # labels: added (and created) by a maintainer, PyGithub's bare-array body
    pull = registry.get_pull(1)
    pull.add_to_labels("pending", "needs-review")
    assert [label.name for label in pull.get_labels()] == ["pending", "needs-review"]
    assert registry.get_label("pending").color == "ededed"
    pull.remove_from_labels("needs-review")
    assert [label.name for label in pull.as_issue().labels] == ["pending"]
    with pytest.raises(GithubException) as outsider_label:
        registry_by_bob.get_pull(1).add_to_labels("approved")
    assert outsider_label.value.status == 403

    # comments
    comment = pull.create_issue_comment("verified: 0.97")
    comment.edit("verified: 0.98")
    assert [c.body for c in pull.get_issue_comments()] == ["verified: 0.98"]
    with pytest.raises(GithubException):
        registry_by_bob.get_pull(1).get_issue_comment(comment.id).edit("tampered")

    # the author may edit their own pull request
    registry_by_bob.get_pull(1).edit(title="Submit mlcube m")
    assert registry.get_pull(1).title == "Submit mlcube m"

    with pytest.raises(GithubException) as forbidden:
        registry_by_bob.get_pull(1).merge()
    assert forbidden.value.status == 403
    with pytest.raises(GithubException) as moved:
        pull.merge(sha="0" * 40)
    assert moved.value.status == 409
    result = pull.merge(merge_method="merge")
    assert result.merged
    assert gh.read_file("mlcommons/registry", "mlcubes/m.yaml") == b"id: m\n"
    merged = registry.get_pull(1)
    assert (merged.state, merged.merged, merged.merge_commit_sha) == ("closed", True, result.sha)
    assert registry.get_commit(result.sha).parents[1].sha == merged.head.sha
    with pytest.raises(GithubException) as twice:
        pull.merge()
    assert twice.value.status == 405
    assert [p.number for p in registry.get_pulls(state="closed")] == [1]


def test_pull_request_close_conflict_and_no_commits(github_server, world):
    gh = github_server
    pr = _submission(gh, world)
    registry = client(gh, world["alice"]).get_repo("mlcommons/registry")
    gh.commit("mlcommons/registry", {"mlcubes/m.yaml": b"id: other\n"})  # conflicts
    pull = registry.get_pull(pr.number)
    assert pull.mergeable is False
    with pytest.raises(GithubException) as conflict:
        pull.merge()
    assert conflict.value.status == 405

    pull.edit(state="closed")
    assert registry.get_pull(pr.number).state == "closed"
    assert registry.get_pull(pr.number).merged is False

    gh.repo("mlcommons/registry")  # a branch with nothing new cannot be proposed
    registry.create_git_ref("refs/heads/same", registry.get_branch("main").commit.sha)
    with pytest.raises(GithubException) as nothing:
        registry.create_pull(base="main", head="same", title="nothing")
    assert nothing.value.status == 422
    assert nothing.value.data["errors"][0]["message"].startswith("No commits between")


def test_labels_of_the_repository(github_server, world):
    gh = github_server
    registry = client(gh, world["alice"]).get_repo("mlcommons/registry")
    label = registry.create_label("medperf/approved", "0e8a16", "approved by the committee")
    assert registry.get_label("medperf/approved").id == label.id
    with pytest.raises(GithubException) as twice:
        registry.create_label("medperf/approved", "0e8a16")
    assert twice.value.data["errors"] == [
        {"resource": "Label", "code": "already_exists", "field": "name"}
    ]
    with pytest.raises(github.UnknownObjectException):
        registry.get_label("nope")


def test_label_names_with_a_slash_must_be_encoded(github_server, world):
    """PyGithub's remove_from_labels leaves "/" unencoded: that path is no operation of
    GitHub's description. Encoded (quote(name, safe="")), it works."""
    gh = github_server
    _submission(gh, world)
    alice = client(gh, world["alice"])
    pull = alice.get_repo("mlcommons/registry").get_pull(1)
    pull.add_to_labels("medperf/pending")
    with pytest.raises(github.UnknownObjectException):
        pull.remove_from_labels("medperf/pending")
    assert gh.violations and "no operation" in gh.violations[0]
    gh.violations.clear()
    alice.requester.requestJsonAndCheck(
        "DELETE", "/repos/mlcommons/registry/issues/1/labels/medperf%2Fpending"
    )
    assert pull.as_issue().labels == []


# -- faults --------------------------------------------------------------------------------


def test_server_error_once_then_retry_succeeds(github_server, world):
    gh = github_server
    retry = GithubRetry(total=3, backoff_factor=0.01)
    repo = client(gh, world["alice"], retry=retry).get_repo("alice/model")
    gh.inject("POST", r"/releases$", "status", status=502)
    assert repo.create_git_release("v1", "v1", "").tag_name == "v1"
    statuses = [(r.status, r.fault) for r in gh.requests if r.operation == "repos/create-release"]
    assert statuses == [(502, "status"), (201, None)]
    assert len(gh.repo("alice/model").releases) == 1


def test_rate_limit_honours_retry_after(github_server, world):
    gh = github_server
    repo = client(gh, world["alice"], retry=GithubRetry(total=3)).get_repo("alice/model")
    gh.inject("GET", "repos/get-release-by-tag", "rate_limit", retry_after=1)
    repo.create_git_release("v1", "v1", "")
    start = time.monotonic()
    assert repo.get_release("v1").tag_name == "v1"
    assert time.monotonic() - start >= 1.0
    limited = [r for r in gh.requests if r.fault == "rate_limit"]
    assert [r.status for r in limited] == [403]

    gh.inject("GET", "repos/get-release-by-tag", "rate_limit", primary=True, retry_after=0)
    assert repo.get_release("v1").tag_name == "v1"  # waits for x-ratelimit-reset (+1 s)
    primary = [r for r in gh.requests if r.fault == "rate_limit"][-1]
    assert primary.status == 403

    gh.inject("GET", r"/rate_limit$", "rate_limit", status=429, retry_after=7)
    response = requests.get(f"{gh.api_url}/rate_limit", timeout=10)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.headers["x-ratelimit-remaining"] == "0"


def test_dropped_connection_changes_nothing(github_server, world):
    gh = github_server
    repo = client(gh, world["alice"]).get_repo("alice/model")
    gh.inject("POST", r"/releases$", "drop")
    with pytest.raises(requests.exceptions.ConnectionError):
        repo.create_git_release("v1", "v1", "")
    assert gh.repo("alice/model").releases == {}
    assert repo.create_git_release("v1", "v1", "").tag_name == "v1"


def test_dropped_after_the_write(github_server, world):
    """The nastiest case: the write happened, the answer was lost."""
    gh = github_server
    repo = client(gh, world["alice"]).get_repo("alice/model")
    gh.inject("POST", r"/releases$", "drop_after")
    with pytest.raises(requests.exceptions.ConnectionError):
        repo.create_git_release("v1", "v1", "")
    assert [r.tag_name for r in gh.repo("alice/model").releases.values()] == ["v1"]
    with pytest.raises(GithubException) as exists:
        repo.create_git_release("v1", "v1", "")
    assert exists.value.status == 422


def test_interrupted_uploads(github_server, world, tmp_path):
    gh = github_server
    repo = client(gh, world["alice"]).get_repo("alice/model")
    release = repo.create_git_release("v1", "v1", "")
    blob = tmp_path / "big.bin"
    blob.write_bytes(b"\1" * (4 << 20))

    gh.inject("POST", r"^/api/uploads/", "drop")  # closes half-way through the body
    with pytest.raises(requests.exceptions.ConnectionError):
        release.upload_asset(str(blob))
    assert repo.get_release("v1").assets == []

    gh.inject("POST", r"^/api/uploads/", "starter")  # GitHub's documented 502 leftover
    with pytest.raises(GithubException) as bad_gateway:
        release.upload_asset(str(blob))
    assert bad_gateway.value.status == 502
    [starter] = repo.get_release("v1").assets
    assert (starter.name, starter.state, starter.size) == ("big.bin", "open", 0)
    with pytest.raises(GithubException) as blocked:
        release.upload_asset(str(blob))
    assert blocked.value.data["errors"][0]["code"] == "already_exists"
    starter.delete_asset()
    assert release.upload_asset(str(blob)).size == 4 << 20


def test_counters(github_server, world):
    gh = github_server
    repo = client(gh, world["alice"]).get_repo("alice/model")
    gh.reset_counters()
    repo.create_git_release("v1", "v1", "")
    repo.get_release("v1")
    assert gh.api_calls == 2
    assert gh.writes == 1
    assert gh.calls == {"repos/create-release": 1, "repos/get-release-by-tag": 1}
    assert [(r.method, r.status) for r in gh.requests] == [("POST", 201), ("GET", 200)]


# -- the contract --------------------------------------------------------------------------


def test_contract_catches_a_wrong_response(github_server, world):
    gh = github_server
    gh.corrupt("repos/get", remove="full_name")
    client(gh, world["alice"]).get_repo("alice/model")
    assert gh.violations == [
        "GET /api/v3/repos/alice/model (repos/get) → 200: "
        "response 200 body: $: 'full_name' is a required property"
    ]
    gh.violations.clear()


def test_contract_catches_wrong_requests(github_server, world):
    gh = github_server
    auth = {"Authorization": f"token {world['alice']}"}
    requests.get(f"{gh.api_url}/repos/alice/model/pulls?state=merged", headers=auth, timeout=10)
    requests.get(f"{gh.api_url}/repos/alice/model/pulls?colour=red", headers=auth, timeout=10)
    requests.post(
        f"{gh.api_url}/repos/alice/model/releases", json={"name": "x"}, headers=auth, timeout=10
    )
    answer = requests.get(f"{gh.api_url}/repos/alice/model/wiki", headers=auth, timeout=10)
    assert answer.status_code == 404
    problems = "\n".join(gh.violations)
    assert "query parameter 'state'" in problems and "'merged' is not one of" in problems
    assert "query parameter 'colour' is not in the description" in problems
    assert "'tag_name' is a required property" in problems
    assert "GET /api/v3/repos/alice/model/wiki (no operation): request: no operation" in problems
    gh.violations.clear()


def test_committed_subset_is_what_the_pinned_package_gives():
    spec = importlib.util.spec_from_file_location(
        "extract_openapi", ROOT / "scripts" / "extract_openapi.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--check"]) == 0
