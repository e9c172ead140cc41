"""`registry leaderboard`: the registry's results as Markdown, SVG charts and a static site.

Reads the registry once (a local checkout, or a GitHub registry as one snapshot of its
commit), builds a board per benchmark (`domain/leaderboard`), renders every file in
memory, then puts each output folder in place in one step (`atomic.replace_directory`):
a failure leaves the previous folder whole. The same registry gives the same bytes: no
time is written, only the registry's commit when it was read from GitHub.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from medperf_action.adapters.files.atomic import replace_directory, umask
from medperf_action.adapters.github.client import connect
from medperf_action.domain.leaderboard import Board, build_board
from medperf_action.domain.registry.layout import SLUG
from medperf_action.domain.registry.reader import Registry
from medperf_action.errors import UsageError
from medperf_action.text import Log, silent
from medperf_action.usecases.leaderboard.chart import render_chart
from medperf_action.usecases.leaderboard.markdown import render_markdown
from medperf_action.usecases.leaderboard.site import Origin, render_site
from medperf_action.usecases.registries import GitHubSnapshot, open_registry

#: The file that marks a folder as this command's own, so it may replace it whole.
MARKER = ".medperf-leaderboard"
_MARKER_TEXT = "Written by `medperf-action registry leaderboard`: replaced as a whole.\n"


@dataclass(frozen=True)
class Written:
    boards: list[Board]
    output: Path
    site: Path | None
    files: dict[str, str]  # the Markdown folder's files


def read_boards(registry: Registry) -> list[Board]:
    """One board per benchmark (benchmarks/ and results/), by benchmark id. A sealed
    result (registry.yaml `results.sealed_to`: for the committee's eyes only) is not on
    the public board."""
    results: dict[str, list[dict[str, Any]]] = {}
    for bench, model, dataset in registry.result_ids():
        found = registry.result(bench, model, dataset)
        if found is not None and "metrics" in found:
            results.setdefault(bench, []).append(found)
    ids = sorted({b for b in registry.benchmark_ids() if SLUG.match(b)} | set(results))
    datasets: dict[str, dict[str, Any] | None] = {}
    mlcubes: dict[str, dict[str, Any] | None] = {}
    boards = []
    for bench in ids:
        own = results.get(bench, [])
        for result in own:
            if result["dataset"] not in datasets:
                datasets[result["dataset"]] = registry.find_dataset(result["dataset"])
            if result["model"] not in mlcubes:
                mlcubes[result["model"]] = registry.find_mlcube(result["model"])
        boards.append(build_board(registry.benchmark(bench), own, datasets, mlcubes))
    return boards


def origin_of(registry: Registry) -> Origin:
    source = registry.source
    if isinstance(source, GitHubSnapshot):
        url = str(source.repo.html_url).rstrip("/")
        shown = f"{source.repo.full_name} at commit {source.commit}"
        if not url.startswith(("https://", "http://")):  # links only to a web page
            return Origin(shown, source.commit, None)
        return Origin(shown, source.commit, url, url.rsplit("/", 2)[0])
    return Origin("a local registry", None, None)


def stamp_of(origin: Origin) -> str:
    return f"Rendered by medperf-action from the results in {origin.description}."


def _claim(dest: Path, option: str) -> None:
    """Refuse a folder this command did not write: it replaces the folder whole."""
    if dest.exists() and not dest.is_dir():
        raise UsageError(f"{option} {dest}: is a file, not a folder")
    if dest.is_dir() and any(dest.iterdir()) and not (dest / MARKER).is_file():
        raise UsageError(
            f"{option} {dest}: the folder holds files this command did not write (no "
            f"{MARKER}); it replaces the folder as a whole, so give an empty or new folder"
        )


def write_folder(files: dict[str, str], dest: Path) -> None:
    """The folder `dest` holding exactly `files` (and the marker), put in place at once."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    new = Path(tempfile.mkdtemp(prefix=f".{dest.name}.new-", dir=dest.parent))
    try:
        os.chmod(new, 0o777 & ~umask())
        for name, text in {**files, MARKER: _MARKER_TEXT}.items():
            (new / name).write_bytes(text.encode("utf-8"))
        replace_directory(new, dest)
    except BaseException:
        shutil.rmtree(new, ignore_errors=True)
        raise


def leaderboard(
    location: str | Path,
    output: Path,
    site: Path | None = None,
    token: str | None = None,
    log: Log = silent,
) -> Written:
    """Render the registry's leaderboard into `output` (Markdown + SVG) and `site`."""
    _claim(output, "--output")
    if site is not None:
        _claim(site, "--site")
        if site.resolve() == output.resolve():
            raise UsageError("--site and --output must be different folders")
    if Path(location).is_dir():
        registry = open_registry(location)
    else:  # a public registry needs no token
        registry = open_registry(location, client=connect(token, anonymous=True), snapshot=True)
    log(f"reading the results of {registry.description}")
    boards = read_boards(registry)
    origin = origin_of(registry)
    stamp = stamp_of(origin)
    files = render_markdown(boards, stamp)
    files.update({f"{b.benchmark}.svg": render_chart(b) for b in boards})
    pages = render_site(boards, origin, stamp) if site is not None else None
    write_folder(files, output)
    log(f"wrote {len(files)} files to {output}")
    if site is not None and pages is not None:
        write_folder(pages, site)
        log(f"wrote the site ({len(pages)} files) to {site}")
    return Written(boards, output, site, files)
