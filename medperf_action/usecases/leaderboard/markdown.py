"""A board as Markdown: one page per benchmark (its chart, then its table) and an index.

Every text from the registry goes through `text.md` (a name cannot end a table cell,
open a link or an HTML tag) or `text.md_code`; file names are benchmark ids (slugs).
"""

from __future__ import annotations

from medperf_action.domain.leaderboard import Board, show_number
from medperf_action.text import md, md_code, md_table

MEAN = "mean (weighted by cases)"


def header(board: Board) -> list[str]:
    """The table's column headings: Model, then each metric per dataset and its mean."""
    cells = ["Model"]
    for metric in board.metrics:
        cells += [f"{md(metric)}: {md(d.id)} (n={d.num_cases})" for d in board.datasets]
        cells.append(f"{md(metric)}: {MEAN}")
    return cells


def rows(board: Board) -> list[list[str]]:
    out = []
    for row in board.rows:
        cells = [f"{md(row.name)} ({md_code(row.model)})"]
        for metric in board.metrics:
            cells += [md(show_number(row.values.get((metric, d.id)))) for d in board.datasets]
            cells.append(f"**{show_number(row.means.get(metric))}**")
        out.append(cells)
    return out


def explain(board: Board) -> str:
    first = board.first_metric
    order = (
        f"Rows are ordered by the weighted mean of {md_code(first)}, highest first."
        if first
        else ""
    )
    return (
        "Each metric on each site's dataset (n: its number of cases), and the mean over the "
        f"datasets **weighted by their number of cases** (“{MEAN}”): the sum of value x n "
        f"over the datasets with a numeric value, divided by the sum of their n. {order}"
    )


def board_page(board: Board, stamp: str) -> str:
    lines = [f"# {md(board.name)}", "", f"Benchmark {md_code(board.benchmark)}."]
    if board.description:
        lines[-1] += f" {md(board.description)}"
    lines += ["", f"![Chart of {md(board.first_metric or 'no metric')}]({board.benchmark}.svg)"]
    lines += ["", explain(board), ""]
    if board.rows:
        lines.append(md_table(header(board), rows(board), "l" + "r" * (len(header(board)) - 1)))
    else:
        lines.append("No results yet.")
    lines += ["", md(stamp), ""]
    return "\n".join(lines)


def index_page(boards: list[Board], stamp: str) -> str:
    table = md_table(
        ["Benchmark", "Models", "Datasets", "Results", "First metric"],
        [
            [
                f"[{md(b.name)}]({b.benchmark}.md) ({md_code(b.benchmark)})",
                str(len(b.rows)),
                str(len(b.datasets)),
                str(len(b.results)),
                md(b.first_metric or "—"),
            ]
            for b in boards
        ],
        "lrrrl",
    )
    body = table if boards else "No benchmarks yet."
    return "\n".join(["# Leaderboards", "", body, "", md(stamp), ""])


def render_markdown(boards: list[Board], stamp: str) -> dict[str, str]:
    """{file name: text}: README.md (the index) and BENCHMARK.md for each board."""
    files = {"README.md": index_page(boards, stamp)}
    for board in boards:
        files[f"{board.benchmark}.md"] = board_page(board, stamp)
    return files
