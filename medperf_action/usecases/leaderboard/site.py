"""The leaderboard as a static site for GitHub Pages: index.html, and per benchmark a page
with the chart first, then the table, then each model's and dataset's entry with its
hashes and links.

No script, no font or style from elsewhere: a Content-Security-Policy meta tag allows only
the page's own stylesheet (by its hash) and images from the site. Links within the site are
relative; the only absolute ones go to GitHub (an mlcube's source, a result's file when the
registry is on GitHub). Every text from the registry goes through `esc`.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any

from medperf_action.domain.leaderboard import Board, DatasetColumn, Row, show_number
from medperf_action.domain.registry.layout import result_path
from medperf_action.usecases.leaderboard.chart import esc, render_chart
from medperf_action.usecases.leaderboard.markdown import MEAN

CSS = """
body{font-family:"DejaVu Sans",sans-serif;margin:0;color:#1a1a1a;background:#fff}
nav,main,footer{max-width:72rem;margin:0 auto;padding:0.5rem 1rem}
figure{margin:0 0 1rem 0;overflow-x:auto}
table{border-collapse:collapse;margin:0.5rem 0 1.5rem 0}
th,td{border:1px solid #c8c8c8;padding:0.3rem 0.55rem;text-align:right}
th[scope=row],thead th:first-child{text-align:left}
caption{text-align:left;padding:0.3rem 0;color:#444}
td.mean{font-weight:bold;background:#f2f6fb}
code{font-size:0.85em;word-break:break-all}
dl{display:grid;grid-template-columns:max-content 1fr;gap:0.2rem 1rem}
dt{color:#555}dd{margin:0}
section.entry{border-top:1px solid #ddd;padding-top:0.3rem}
footer{color:#555;font-size:0.85em}
""".strip()


@dataclass(frozen=True)
class Origin:
    """Where the registry was read from, for the stamp and the links."""

    description: str  # "org/registry@<sha>" or "a local registry"
    commit: str | None  # the registry's commit, when read from GitHub
    repo_url: str | None  # the registry's web page (html_url), when on GitHub
    web: str = "https://github.com"  # the GitHub web host, for mlcube sources


def csp() -> str:
    digest = base64.b64encode(hashlib.sha256(CSS.encode()).digest()).decode()
    return (
        f"default-src 'none'; style-src 'sha256-{digest}'; img-src 'self'; "
        "base-uri 'none'; form-action 'none'"
    )


def page(title: str, body: list[str], stamp: str) -> str:
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{csp()}">',
            '<meta name="referrer" content="no-referrer">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{esc(title)}</title>",
            f"<style>{CSS}</style>",
            "</head>",
            "<body>",
            '<nav><a href="index.html">All benchmarks</a></nav>',
            "<main>",
            *body,
            "</main>",
            f"<footer><p>{esc(stamp)}</p></footer>",
            "</body>",
            "</html>",
            "",
        ]
    )


def _link(url: str, text: str) -> str:
    return f'<a href="{esc(url)}">{text}</a>'


def _table(board: Board) -> list[str]:
    cols = len(board.metrics) * (len(board.datasets) + 1) + 1
    out = [
        '<table id="results">',
        f"<caption>Each metric on each dataset (n: its number of cases) and its mean over "
        f"the datasets weighted by their number of cases (“{MEAN}”).</caption>",
        "<thead><tr>",
        '<th scope="col">Model</th>',
    ]
    for metric in board.metrics:
        out += [
            f'<th scope="col">{esc(metric)}: <a href="#dataset-{d.id}">{esc(d.id)}</a> '
            f"(n={d.num_cases})</th>"
            for d in board.datasets
        ]
        out.append(f'<th scope="col">{esc(metric)}: {MEAN}</th>')
    out.append("</tr></thead>")
    out.append("<tbody>")
    for row in board.rows:
        cells = [f'<th scope="row"><a href="#model-{row.model}">{esc(row.name)}</a></th>']
        for metric in board.metrics:
            for d in board.datasets:
                value = show_number(row.values.get((metric, d.id)))
                cells.append(
                    f'<td data-metric="{esc(metric)}" data-dataset="{d.id}">{esc(value)}</td>'
                )
            mean = show_number(row.means.get(metric))
            cells.append(f'<td class="mean" data-metric="{esc(metric)}">{mean}</td>')
        out.append(f'<tr data-model="{row.model}">{"".join(cells)}</tr>')
    if not board.rows:
        out.append(f'<tr><td colspan="{cols}">No results yet.</td></tr>')
    return [*out, "</tbody>", "</table>"]


def _pin_items(pin: Any, prefix: str = "") -> list[str]:
    """A pin's leaves as `<dt>path</dt><dd><code>value</code></dd>`, in key order."""
    if isinstance(pin, dict):
        return [i for k in sorted(pin) for i in _pin_items(pin[k], f"{prefix}{k} ")]
    return [f"<dt>{esc(prefix.strip())}</dt><dd><code>{esc(pin)}</code></dd>"]


def _model(board: Board, row: Row, origin: Origin) -> list[str]:
    entry = row.entry or {}
    items = [f"<dt>id</dt><dd><code>{row.model}</code></dd>"]
    if entry.get("owner"):
        items.append(f"<dt>owner</dt><dd>{esc(entry['owner'])}</dd>")
    source = entry.get("source")
    if isinstance(source, dict):
        repo = f"{origin.web}/{source['repository']}"
        items.append(f"<dt>source</dt><dd>{_link(repo, esc(source['repository']))} ")
        items[-1] += f"{esc(source['ref'])} at "
        items[-1] += _link(f"{repo}/commit/{source['commit']}", f"<code>{source['commit']}</code>")
        items[-1] += "</dd>"
    if entry.get("description"):
        items.append(f"<dt>description</dt><dd>{esc(entry['description'])}</dd>")
    if row.entry is None:
        items.append("<dt>entry</dt><dd>not in mlcubes/ (shown by its id)</dd>")
    for run in row.runs:
        items.append(f"<dt>image id</dt><dd><code>{esc(run['image_id'])}</code></dd>")
        items += _pin_items(run.get("pin") or {}, "pin ")
    for d in board.datasets:
        if (row.model, d.id) not in board.results:
            continue
        rel = result_path(board.benchmark, row.model, d.id)
        shown = f"<code>{rel}</code>"
        if origin.repo_url and origin.commit:
            shown = _link(f"{origin.repo_url}/blob/{origin.commit}/{rel}", shown)
        items.append(f"<dt>result</dt><dd>{shown}</dd>")
    return [
        f'<section class="entry" id="model-{row.model}">',
        f"<h3>{esc(row.name)}</h3>",
        f"<dl>{''.join(items)}</dl>",
        "</section>",
    ]


def _dataset(d: DatasetColumn) -> list[str]:
    entry = d.entry or {}
    items = [f"<dt>id</dt><dd><code>{d.id}</code></dd>"]
    for key in ("owner", "location", "description", "state", "data_preparator"):
        if entry.get(key):
            items.append(f"<dt>{key.replace('_', ' ')}</dt><dd>{esc(entry[key])}</dd>")
    items.append(f"<dt>cases</dt><dd>{d.num_cases}</dd>")
    prepared = entry.get("prepared") or {}
    for key in ("data_sha256", "labels_sha256"):
        if prepared.get(key):
            items.append(f"<dt>{key}</dt><dd><code>{esc(prepared[key])}</code></dd>")
    if d.entry is None:
        items.append("<dt>entry</dt><dd>not in datasets/ (cases as its results say)</dd>")
    return [
        f'<section class="entry" id="dataset-{d.id}">',
        f"<h3>{esc(d.name)}</h3>",
        f"<dl>{''.join(items)}</dl>",
        "</section>",
    ]


def board_page(board: Board, origin: Origin, stamp: str) -> str:
    body = [f"<h1>{esc(board.name)}</h1>", f"<p>Benchmark <code>{board.benchmark}</code>."]
    if board.description:
        body[-1] += f" {esc(board.description)}"
    body[-1] += "</p>"
    body += ['<figure id="chart">', render_chart(board).rstrip("\n")]
    body.append(f'<figcaption><a href="{board.benchmark}.svg">The chart as SVG</a>.</figcaption>')
    body += ["</figure>", '<h2 id="table">Results</h2>', *_table(board)]
    body.append('<h2 id="models">Models</h2>')
    for row in board.rows:
        body += _model(board, row, origin)
    body.append('<h2 id="datasets">Datasets</h2>')
    for d in board.datasets:
        body += _dataset(d)
    return page(f"{board.name}: leaderboard", body, stamp)


def index_page(boards: list[Board], stamp: str) -> str:
    body = ["<h1>Leaderboards</h1>"]
    if boards:
        body.append("<ul>")
        body += [
            f'<li><a href="{b.benchmark}.html">{esc(b.name)}</a> (<code>{b.benchmark}</code>):'
            f" {len(b.rows)} models, {len(b.datasets)} datasets</li>"
            for b in boards
        ]
        body.append("</ul>")
    else:
        body.append("<p>No benchmarks yet.</p>")
    return page("Leaderboards", body, stamp)


def render_site(boards: list[Board], origin: Origin, stamp: str) -> dict[str, str]:
    """{file name: text}: index.html, and BENCHMARK.html and BENCHMARK.svg per board."""
    files = {"index.html": index_page(boards, stamp)}
    for board in boards:
        files[f"{board.benchmark}.html"] = board_page(board, origin, stamp)
        files[f"{board.benchmark}.svg"] = render_chart(board)
    return files
