"""GitHub's JSON objects, complete: every field the OpenAPI description requires, with
plausible values, and URLs that point back at the test server."""

from __future__ import annotations

import base64
import difflib
import urllib.parse
from typing import Any

from .git import Commit, iso
from .state import ROLES, Asset, Comment, Issue, Label, Release, Repo, Team, User, World

DOCS = "https://docs.github.com/rest"


def node_id(kind: str, ident: int | str) -> str:
    return base64.b64encode(f"0:{kind}{ident}".encode()).decode().rstrip("=")


def quote(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def quote_path(value: str) -> str:
    return urllib.parse.quote(value, safe="/")


class Renderer:
    def __init__(self, world: World, web: str) -> None:
        self.world = world
        self.web = web  # http://127.0.0.1:PORT
        self.api = f"{web}/api/v3"
        self.uploads = f"{web}/api/uploads"

    # -- users -----------------------------------------------------------------------------

    def simple_user(self, user: User | str | None) -> dict[str, Any] | None:
        if user is None:
            return None
        if isinstance(user, str):
            found = self.world.user(user)
            if found is None:
                return None
            user = found
        u = f"{self.api}/users/{user.login}"
        return {
            "login": user.login,
            "id": user.id,
            "node_id": node_id("User" if user.type == "User" else "Organization", user.id),
            "avatar_url": f"{self.web}/avatars/u/{user.id}?v=4",
            "gravatar_id": "",
            "url": u,
            "html_url": f"{self.web}/{user.login}",
            "followers_url": f"{u}/followers",
            "following_url": f"{u}/following{{/other_user}}",
            "gists_url": f"{u}/gists{{/gist_id}}",
            "starred_url": f"{u}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{u}/subscriptions",
            "organizations_url": f"{u}/orgs",
            "repos_url": f"{u}/repos",
            "events_url": f"{u}/events{{/privacy}}",
            "received_events_url": f"{u}/received_events",
            "type": user.type,
            "user_view_type": "public",
            "site_admin": False,
        }

    def public_user(self, user: User) -> dict[str, Any]:
        owned = [r for r in self.world.repos.values() if r.owner.lower() == user.login.lower()]
        data = self.simple_user(user) or {}
        data.update(
            {
                "name": user.name,
                "company": None,
                "blog": "",
                "location": None,
                "email": user.email,
                "hireable": None,
                "bio": None,
                "twitter_username": None,
                "public_repos": sum(1 for r in owned if not r.private),
                "public_gists": 0,
                "followers": 0,
                "following": 0,
                "created_at": iso(user.created_at),
                "updated_at": iso(user.created_at),
            }
        )
        return data

    def private_user(self, user: User) -> dict[str, Any]:
        owned = [r for r in self.world.repos.values() if r.owner.lower() == user.login.lower()]
        data = self.public_user(user)
        data.update(
            {
                "user_view_type": "private",
                "notification_email": user.email,
                "private_gists": 0,
                "total_private_repos": sum(1 for r in owned if r.private),
                "owned_private_repos": sum(1 for r in owned if r.private),
                "disk_usage": 0,
                "collaborators": 0,
                "two_factor_authentication": True,
                "plan": {
                    "collaborators": 0,
                    "name": "pro",
                    "space": 976562499,
                    "private_repos": 9999,
                },
            }
        )
        return data

    # -- repositories ----------------------------------------------------------------------

    def repository(self, repo: Repo, viewer: str | None = None, full: bool = False) -> dict:
        r = f"{self.api}/repos/{repo.full_name}"
        html = f"{self.web}/{repo.full_name}"
        open_issues = sum(1 for i in repo.issues.values() if i.state == "open")
        forks = len(self.world.forks_of(repo))
        role = self.world.role(repo, viewer)
        data: dict[str, Any] = {
            "id": repo.id,
            "node_id": node_id("Repository", repo.id),
            "name": repo.name,
            "full_name": repo.full_name,
            "owner": self.simple_user(repo.owner),
            "private": repo.private,
            "html_url": html,
            "description": repo.description,
            "fork": repo.parent is not None,
            "url": r,
            "archive_url": f"{r}/{{archive_format}}{{/ref}}",
            "assignees_url": f"{r}/assignees{{/user}}",
            "blobs_url": f"{r}/git/blobs{{/sha}}",
            "branches_url": f"{r}/branches{{/branch}}",
            "collaborators_url": f"{r}/collaborators{{/collaborator}}",
            "comments_url": f"{r}/comments{{/number}}",
            "commits_url": f"{r}/commits{{/sha}}",
            "compare_url": f"{r}/compare/{{base}}...{{head}}",
            "contents_url": f"{r}/contents/{{+path}}",
            "contributors_url": f"{r}/contributors",
            "deployments_url": f"{r}/deployments",
            "downloads_url": f"{r}/downloads",
            "events_url": f"{r}/events",
            "forks_url": f"{r}/forks",
            "git_commits_url": f"{r}/git/commits{{/sha}}",
            "git_refs_url": f"{r}/git/refs{{/sha}}",
            "git_tags_url": f"{r}/git/tags{{/sha}}",
            "git_url": f"git://{self.web.split('://', 1)[1]}/{repo.full_name}.git",
            "issue_comment_url": f"{r}/issues/comments{{/number}}",
            "issue_events_url": f"{r}/issues/events{{/number}}",
            "issues_url": f"{r}/issues{{/number}}",
            "keys_url": f"{r}/keys{{/key_id}}",
            "labels_url": f"{r}/labels{{/name}}",
            "languages_url": f"{r}/languages",
            "merges_url": f"{r}/merges",
            "milestones_url": f"{r}/milestones{{/number}}",
            "notifications_url": f"{r}/notifications{{?since,all,participating}}",
            "pulls_url": f"{r}/pulls{{/number}}",
            "releases_url": f"{r}/releases{{/id}}",
            "ssh_url": f"git@{self.web.split('://', 1)[1].split(':')[0]}:{repo.full_name}.git",
            "stargazers_url": f"{r}/stargazers",
            "statuses_url": f"{r}/statuses/{{sha}}",
            "subscribers_url": f"{r}/subscribers",
            "subscription_url": f"{r}/subscription",
            "tags_url": f"{r}/tags",
            "teams_url": f"{r}/teams",
            "trees_url": f"{r}/git/trees{{/sha}}",
            "clone_url": f"{html}.git",
            "mirror_url": None,
            "hooks_url": f"{r}/hooks",
            "svn_url": html,
            "homepage": None,
            "language": "Python",
            "forks_count": forks,
            "forks": forks,
            "stargazers_count": 0,
            "watchers_count": 0,
            "watchers": 0,
            "size": 1,
            "default_branch": repo.default_branch,
            "open_issues_count": open_issues,
            "open_issues": open_issues,
            "is_template": False,
            "topics": [],
            "has_issues": True,
            "has_projects": True,
            "has_wiki": True,
            "has_pages": False,
            "has_downloads": True,
            "has_discussions": False,
            "archived": False,
            "disabled": False,
            "visibility": "private" if repo.private else "public",
            "pushed_at": iso(repo.pushed_at),
            "created_at": iso(repo.created_at),
            "updated_at": iso(repo.updated_at),
            "allow_forking": True,
            "web_commit_signoff_required": False,
            "license": None,
        }
        if viewer is not None:
            data["permissions"] = {
                "admin": ROLES.index(role) >= ROLES.index("admin"),
                "maintain": ROLES.index(role) >= ROLES.index("maintain"),
                "push": ROLES.index(role) >= ROLES.index("write"),
                "triage": ROLES.index(role) >= ROLES.index("triage"),
                "pull": ROLES.index(role) >= ROLES.index("read"),
            }
        if full:
            owner = self.world.user(repo.owner)
            data["network_count"] = forks
            data["subscribers_count"] = 0
            data["temp_clone_token"] = None
            data["allow_merge_commit"] = True
            data["allow_squash_merge"] = True
            data["allow_rebase_merge"] = True
            data["allow_auto_merge"] = False
            data["delete_branch_on_merge"] = False
            if owner is not None and owner.type == "Organization":
                data["organization"] = self.simple_user(owner)
            if repo.parent:
                parent = self.world.repos[repo.parent.lower()]
                root = parent
                while root.parent:
                    root = self.world.repos[root.parent.lower()]
                data["parent"] = self.repository(parent, viewer)
                data["source"] = self.repository(root, viewer)
        return data

    # -- git -------------------------------------------------------------------------------

    def git_ref(self, repo: Repo, ref: str, sha: str) -> dict[str, Any]:
        r = f"{self.api}/repos/{repo.full_name}"
        return {
            "ref": ref,
            "node_id": node_id("Ref", f"{repo.id}:{ref}"),
            "url": f"{r}/git/{quote_path(ref)}",
            "object": {"type": "commit", "sha": sha, "url": f"{r}/git/commits/{sha}"},
        }

    def git_user(self, login: str | None) -> dict[str, Any]:
        """The `author`/`committer` object of a commit: a user when the e-mail is one's."""
        if login is None:
            return {}
        return self.simple_user(login) or {}

    def _login_of(self, email: str) -> str | None:
        for user in self.world.users.values():
            if email in (user.email, f"{user.id}+{user.login}@users.noreply.github.com"):
                return user.login
        return None

    def commit(self, repo: Repo, commit: Commit, with_files: bool = True) -> dict[str, Any]:
        r = f"{self.api}/repos/{repo.full_name}"
        html = f"{self.web}/{repo.full_name}"
        data: dict[str, Any] = {
            "url": f"{r}/commits/{commit.sha}",
            "sha": commit.sha,
            "node_id": node_id("Commit", commit.sha),
            "html_url": f"{html}/commit/{commit.sha}",
            "comments_url": f"{r}/commits/{commit.sha}/comments",
            "commit": {
                "url": f"{r}/git/commits/{commit.sha}",
                "author": commit.author.as_json(),
                "committer": commit.committer.as_json(),
                "message": commit.message,
                "comment_count": 0,
                "tree": {"sha": commit.tree, "url": f"{r}/git/trees/{commit.tree}"},
                "verification": {
                    "verified": False,
                    "reason": "unsigned",
                    "signature": None,
                    "payload": None,
                    "verified_at": None,
                },
            },
            "author": self.git_user(self._login_of(commit.author.email)),
            "committer": self.git_user(self._login_of(commit.committer.email)),
            "parents": [
                {"sha": p, "url": f"{r}/commits/{p}", "html_url": f"{html}/commit/{p}"}
                for p in commit.parents
            ],
        }
        if with_files:
            first = commit.parents[0] if commit.parents else None
            files = self.diff_entries(repo, first, commit.sha)
            additions = sum(f["additions"] for f in files)
            deletions = sum(f["deletions"] for f in files)
            data["stats"] = {
                "additions": additions,
                "deletions": deletions,
                "total": additions + deletions,
            }
            data["files"] = files
        return data

    def diff_entries(self, repo: Repo, old: str | None, new: str) -> list[dict[str, Any]]:
        git = self.world.git
        old_files = git.files(old) if old else {}
        out = []
        for path, status, sha in git.diff(old, new):
            before = git.blobs[old_files[path]] if path in old_files else b""
            after = git.blobs[sha] if sha else b""
            a_lines = before.decode("utf-8", "replace").splitlines()
            b_lines = after.decode("utf-8", "replace").splitlines()
            patch_lines = list(difflib.unified_diff(a_lines, b_lines, lineterm="", n=3))[2:]
            additions = sum(1 for x in patch_lines if x.startswith("+"))
            deletions = sum(1 for x in patch_lines if x.startswith("-"))
            blob = sha or old_files[path]
            r = f"{self.api}/repos/{repo.full_name}"
            ref = new
            out.append(
                {
                    "sha": blob,
                    "filename": path,
                    "status": status,
                    "additions": additions,
                    "deletions": deletions,
                    "changes": additions + deletions,
                    "blob_url": f"{self.web}/{repo.full_name}/blob/{ref}/{quote_path(path)}",
                    "raw_url": f"{self.web}/{repo.full_name}/raw/{ref}/{quote_path(path)}",
                    "contents_url": f"{r}/contents/{quote_path(path)}?ref={ref}",
                    "patch": "\n".join(patch_lines),
                }
            )
        return out

    def branch(self, repo: Repo, name: str, sha: str) -> dict[str, Any]:
        r = f"{self.api}/repos/{repo.full_name}"
        return {
            "name": name,
            "commit": self.commit(repo, self.world.git.commits[sha], with_files=False),
            "_links": {
                "html": f"{self.web}/{repo.full_name}/tree/{quote_path(name)}",
                "self": f"{r}/branches/{quote_path(name)}",
            },
            "protected": False,
            "protection": {
                "enabled": False,
                "required_status_checks": {
                    "enforcement_level": "off",
                    "contexts": [],
                    "checks": [],
                },
            },
            "protection_url": f"{r}/branches/{quote_path(name)}/protection",
        }

    # -- contents --------------------------------------------------------------------------

    def content_links(self, repo: Repo, path: str, sha: str, ref: str, kind: str) -> dict:
        r = f"{self.api}/repos/{repo.full_name}"
        url = f"{r}/contents/{quote_path(path)}?ref={quote(ref)}"
        git_url = f"{r}/git/{'blobs' if kind == 'file' else 'trees'}/{sha}"
        html_url = f"{self.web}/{repo.full_name}/{'blob' if kind == 'file' else 'tree'}/{ref}/{quote_path(path)}"
        return {
            "url": url,
            "git_url": git_url,
            "html_url": html_url,
            "_links": {"self": url, "git": git_url, "html": html_url},
        }

    def content_entry(
        self, repo: Repo, path: str, sha: str, size: int, ref: str, kind: str
    ) -> dict:
        download = None
        if kind == "file":
            download = f"{self.web}/{repo.full_name}/raw/{ref}/{quote_path(path)}"
        return {
            "type": kind,
            "size": size,
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "sha": sha,
            "download_url": download,
            **self.content_links(repo, path, sha, ref, kind),
        }

    def content_file(self, repo: Repo, path: str, data: bytes, ref: str) -> dict[str, Any]:
        from .git import blob_sha

        encoded = base64.encodebytes(data).decode()
        entry = self.content_entry(repo, path, blob_sha(data), len(data), ref, "file")
        entry.update({"content": encoded, "encoding": "base64"})
        return entry

    # -- releases --------------------------------------------------------------------------

    def asset(self, repo: Repo, release: Release, asset: Asset) -> dict[str, Any]:
        tag = release.tag_name if not release.draft else f"untagged-{release.id}"
        return {
            "url": f"{self.api}/repos/{repo.full_name}/releases/assets/{asset.id}",
            "browser_download_url": (
                f"{self.web}/{repo.full_name}/releases/download/{quote(tag)}/{quote(asset.name)}"
            ),
            "id": asset.id,
            "node_id": node_id("ReleaseAsset", asset.id),
            "name": asset.name,
            "label": asset.label,
            "state": asset.state,
            "content_type": asset.content_type,
            "size": asset.size,
            "digest": f"sha256:{asset.sha256}" if asset.sha256 else None,
            "download_count": asset.download_count,
            "created_at": iso(asset.created_at),
            "updated_at": iso(asset.updated_at),
            "uploader": self.simple_user(asset.uploader),
        }

    def release(self, repo: Repo, release: Release) -> dict[str, Any]:
        r = f"{self.api}/repos/{repo.full_name}"
        tag = release.tag_name if not release.draft else f"untagged-{release.id}"
        return {
            "url": f"{r}/releases/{release.id}",
            "html_url": f"{self.web}/{repo.full_name}/releases/tag/{quote(tag)}",
            "assets_url": f"{r}/releases/{release.id}/assets",
            "upload_url": (
                f"{self.uploads}/repos/{repo.full_name}/releases/{release.id}/assets{{?name,label}}"
            ),
            "tarball_url": f"{r}/tarball/{quote(release.tag_name)}",
            "zipball_url": f"{r}/zipball/{quote(release.tag_name)}",
            "id": release.id,
            "node_id": node_id("Release", release.id),
            "tag_name": release.tag_name,
            "target_commitish": release.target_commitish,
            "name": release.name,
            "body": release.body,
            "draft": release.draft,
            "prerelease": release.prerelease,
            "immutable": False,
            "created_at": iso(release.created_at),
            "published_at": iso(release.published_at),
            "updated_at": iso(release.published_at or release.created_at),
            "author": self.simple_user(release.author),
            "assets": [self.asset(repo, release, a) for a in release.assets.values()],
        }

    # -- issues, labels, comments ----------------------------------------------------------

    def label(self, repo: Repo, label: Label) -> dict[str, Any]:
        return {
            "id": label.id,
            "node_id": node_id("Label", label.id),
            "url": f"{self.api}/repos/{repo.full_name}/labels/{quote(label.name)}",
            "name": label.name,
            "description": label.description,
            "color": label.color,
            "default": label.default,
        }

    def issue_labels(self, repo: Repo, issue: Issue) -> list[dict[str, Any]]:
        return [self.label(repo, repo.labels[name.lower()]) for name in issue.labels]

    def author_association(self, repo: Repo, login: str) -> str:
        if repo.owner.lower() == login.lower():
            return "OWNER"
        if self.world.role(repo, login) in ("write", "maintain", "admin"):
            return "COLLABORATOR"
        return "CONTRIBUTOR" if any(i.user == login for i in repo.issues.values()) else "NONE"

    def issue(self, repo: Repo, issue: Issue) -> dict[str, Any]:
        r = f"{self.api}/repos/{repo.full_name}"
        u = f"{r}/issues/{issue.number}"
        kind = "pull" if issue.pull else "issues"
        data: dict[str, Any] = {
            "id": issue.id,
            "node_id": node_id("Issue", issue.id),
            "url": u,
            "repository_url": r,
            "labels_url": f"{u}/labels{{/name}}",
            "comments_url": f"{u}/comments",
            "events_url": f"{u}/events",
            "html_url": f"{self.web}/{repo.full_name}/{kind}/{issue.number}",
            "number": issue.number,
            "state": issue.state,
            "title": issue.title,
            "body": issue.body,
            "user": self.simple_user(issue.user),
            "labels": self.issue_labels(repo, issue),
            "assignee": None,
            "assignees": [],
            "milestone": None,
            "locked": False,
            "active_lock_reason": None,
            "comments": sum(1 for c in repo.comments.values() if c.issue_number == issue.number),
            "closed_at": iso(issue.closed_at),
            "created_at": iso(issue.created_at),
            "updated_at": iso(issue.updated_at),
            "closed_by": self.simple_user(issue.closed_by),
            "author_association": self.author_association(repo, issue.user),
            "timeline_url": f"{u}/timeline",
        }
        if issue.state == "closed":
            data["state_reason"] = "completed"
        if issue.pull is not None:
            p = f"{r}/pulls/{issue.number}"
            html = f"{self.web}/{repo.full_name}/pull/{issue.number}"
            data["pull_request"] = {
                "url": p,
                "html_url": html,
                "diff_url": f"{html}.diff",
                "patch_url": f"{html}.patch",
                "merged_at": iso(issue.pull.merged_at),
            }
            data["draft"] = issue.pull.draft
        return data

    def comment(self, repo: Repo, comment: Comment) -> dict[str, Any]:
        r = f"{self.api}/repos/{repo.full_name}"
        issue = repo.issues[comment.issue_number]
        kind = "pull" if issue.pull else "issues"
        return {
            "id": comment.id,
            "node_id": node_id("IssueComment", comment.id),
            "url": f"{r}/issues/comments/{comment.id}",
            "html_url": (
                f"{self.web}/{repo.full_name}/{kind}/{comment.issue_number}#issuecomment-{comment.id}"
            ),
            "body": comment.body,
            "user": self.simple_user(comment.user),
            "created_at": iso(comment.created_at),
            "updated_at": iso(comment.updated_at),
            "issue_url": f"{r}/issues/{comment.issue_number}",
            "author_association": self.author_association(repo, comment.user),
        }

    # -- pull requests ---------------------------------------------------------------------

    def _pr_side(self, repo: Repo, ref: str, sha: str, viewer: str | None) -> dict[str, Any]:
        return {
            "label": f"{repo.owner}:{ref}",
            "ref": ref,
            "sha": sha,
            "user": self.simple_user(repo.owner),
            "repo": self.repository(repo, viewer),
        }

    def pull(self, repo: Repo, issue: Issue, viewer: str | None, full: bool) -> dict[str, Any]:
        pull = issue.pull
        assert pull is not None
        r = f"{self.api}/repos/{repo.full_name}"
        u = f"{r}/pulls/{issue.number}"
        html = f"{self.web}/{repo.full_name}/pull/{issue.number}"
        head_repo = self.world.repos.get(pull.head_repo.lower())
        issue_url = f"{r}/issues/{issue.number}"
        data: dict[str, Any] = {
            "url": u,
            "id": pull.id,
            "node_id": node_id("PullRequest", pull.id),
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "issue_url": issue_url,
            "commits_url": f"{u}/commits",
            "review_comments_url": f"{u}/comments",
            "review_comment_url": f"{r}/pulls/comments{{/number}}",
            "comments_url": f"{issue_url}/comments",
            "statuses_url": f"{r}/statuses/{pull.head_sha}",
            "number": issue.number,
            "state": issue.state,
            "locked": False,
            "title": issue.title,
            "user": self.simple_user(issue.user),
            "body": issue.body,
            "labels": self.issue_labels(repo, issue),
            "milestone": None,
            "created_at": iso(issue.created_at),
            "updated_at": iso(issue.updated_at),
            "closed_at": iso(issue.closed_at),
            "merged_at": iso(pull.merged_at),
            "merge_commit_sha": pull.merge_commit_sha,
            "assignee": None,
            "assignees": [],
            "requested_reviewers": [],
            "requested_teams": [],
            "head": (
                self._pr_side(head_repo, pull.head_ref, pull.head_sha, viewer)
                if head_repo is not None
                else {
                    "label": f"unknown:{pull.head_ref}",
                    "ref": pull.head_ref,
                    "sha": pull.head_sha,
                    "user": self.simple_user(issue.user),
                    "repo": None,
                }
            ),
            "base": self._pr_side(repo, pull.base_ref, pull.base_sha, viewer),
            "_links": {
                "self": {"href": u},
                "html": {"href": html},
                "issue": {"href": issue_url},
                "comments": {"href": f"{issue_url}/comments"},
                "review_comments": {"href": f"{u}/comments"},
                "review_comment": {"href": f"{r}/pulls/comments{{/number}}"},
                "commits": {"href": f"{u}/commits"},
                "statuses": {"href": f"{r}/statuses/{pull.head_sha}"},
            },
            "author_association": self.author_association(repo, issue.user),
            "auto_merge": None,
            "draft": pull.draft,
        }
        if not full:
            # pull-request-simple's labels have a non-nullable description
            for label in data["labels"]:
                label["description"] = label["description"] or ""
        if full:
            git = self.world.git
            base_tip = repo.refs.get(f"refs/heads/{pull.base_ref}", pull.base_sha)
            merge_base = git.merge_base(pull.head_sha, base_tip)
            files = self.diff_entries(repo, merge_base, pull.head_sha)
            mergeable: bool | None = None
            state = "unknown"
            if pull.merged_at is None and issue.state == "open":
                mergeable = git.three_way(merge_base, base_tip, pull.head_sha) is not None
                state = "clean" if mergeable else "dirty"
            elif pull.merged_at is not None:
                state = "unknown"
            commits = 0
            if merge_base is not None:
                commits = len(set(git.ancestors(pull.head_sha)) - set(git.ancestors(merge_base)))
            data.update(
                {
                    "merged": pull.merged_at is not None,
                    "mergeable": mergeable,
                    "rebaseable": mergeable,
                    "mergeable_state": state,
                    "merged_by": self.simple_user(pull.merged_by),
                    "comments": sum(
                        1 for c in repo.comments.values() if c.issue_number == issue.number
                    ),
                    "review_comments": 0,
                    "maintainer_can_modify": pull.maintainer_can_modify,
                    "commits": commits,
                    "additions": sum(f["additions"] for f in files),
                    "deletions": sum(f["deletions"] for f in files),
                    "changed_files": len(files),
                }
            )
        return data

    # -- organisations ---------------------------------------------------------------------

    def team(self, team: Team, permission: str | None = None) -> dict[str, Any]:
        o = f"{self.api}/orgs/{team.org}"
        org = self.world.user(team.org)
        data: dict[str, Any] = {
            "id": team.id,
            "node_id": node_id("Team", team.id),
            "url": f"{self.api}/organizations/{org.id if org else 0}/team/{team.id}",
            "html_url": f"{self.web}/orgs/{team.org}/teams/{team.slug}",
            "name": team.name,
            "slug": team.slug,
            "description": team.description,
            "privacy": "closed",
            "notification_setting": "notifications_enabled",
            "permission": permission or "pull",
            "members_url": f"{o}/teams/{team.slug}/members{{/member}}",
            "repositories_url": f"{o}/teams/{team.slug}/repos",
            "type": "organization",
            "parent": None,
        }
        if org is not None:
            data["organization_id"] = org.id
        if permission is not None:
            role = {"pull": "read", "push": "write"}.get(permission, permission)
            data["permissions"] = {
                "pull": True,
                "triage": ROLES.index(role) >= ROLES.index("triage"),
                "push": ROLES.index(role) >= ROLES.index("write"),
                "maintain": ROLES.index(role) >= ROLES.index("maintain"),
                "admin": role == "admin",
            }
        return data
