"""Plain text and Markdown for people: tables, escaping, sizes, timestamps.

One renderer of each kind, shared by every command, so two tables or two timestamps never
disagree on their format. Nothing here imports the rest of the package.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

#: A callback that takes one line for the user (the CLI writes it to stderr).
Log = Callable[[str], None]


def silent(line: str) -> None:
    """A Log that drops the line: the default where nobody asked to listen."""


# --------------------------------------------------------------------------- tables


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], align: str = "") -> str:
    """Columns padded to their widest cell, two spaces apart, no trailing blanks.

    `align` gives each column's alignment, `l` or `r` (missing ones are `l`).
    """
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    sides = align.ljust(len(headers), "l")

    def line(cells: Sequence[str]) -> str:
        padded = [
            c.rjust(w) if side == "r" else c.ljust(w)
            for c, w, side in zip(cells, widths, sides, strict=True)
        ]
        return "  ".join(padded).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def md_table(headers: Sequence[str], rows: Sequence[Sequence[str]], align: str = "") -> str:
    """A Markdown table. Cells are written as given: escape untrusted text with `md`."""
    sides = align.ljust(len(headers), "l")
    out = ["| " + " | ".join(headers) + " |"]
    out.append("|" + "".join("---:|" if s == "r" else "---|" for s in sides))
    out.extend("| " + " | ".join(row) + " |" for row in rows)
    return "\n".join(out)


# --------------------------------------------------------------------------- Markdown

_MD_SPECIAL = set("\\`*_[]<>|@&~!#:")


def md(text: Any) -> str:
    """Text shown verbatim in Markdown: no links, mentions, HTML or table breaks.

    Every character Markdown could act on becomes an HTML entity; line breaks become
    `<br>` (so a value stays inside its table cell) and other control characters go.
    """
    out = []
    for ch in str(text):
        if ch == "\n":
            out.append("<br>")
        elif ch in _MD_SPECIAL:
            out.append(f"&#{ord(ch)};")
        elif ch == "\r" or (ord(ch) < 32 and ch != "\t"):
            continue
        else:
            out.append(ch)
    return "".join(out)


def md_code(text: Any) -> str:
    """Text inside an inline code span: entities do not work there, so backticks and
    line breaks are dropped instead."""
    flat = re.sub(r"[`\x00-\x1f\x7f]+", " ", str(text)).strip()
    return f"`{flat}`" if flat else "``"


# --------------------------------------------------------------------------- values


def one_line(text: str, limit: int = 300) -> str:
    """Untrusted text for a log line: no control characters (no injected workflow
    commands on a line of their own), and short."""
    flat = re.sub(r"[\x00-\x1f\x7f]+", " ", text)
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def show_value(value: Any, limit: int = 60) -> str:
    """A short, readable rendering of an offending value (in a finding)."""
    if isinstance(value, dict):
        text = "a mapping"
    elif isinstance(value, list):
        text = f"a list of {len(value)}"
    elif value is None:
        text = "null"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = json.dumps(value)
    else:
        text = f"{value!r} ({type(value).__name__})"
    return shorten(text, limit)


def human_size(size: int) -> str:
    """1023 B, 1.0 KiB, 3.5 MiB, 12.0 GiB."""
    value = float(size)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


# --------------------------------------------------------------------------- time

_TIME = re.compile(
    r"(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", re.IGNORECASE
)


def iso(moment: datetime | None) -> str | None:
    """A moment as the registry files write it: UTC, to the second, with `Z`."""
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_iso() -> str:
    """Now, as `iso` writes it."""
    return iso(datetime.now(timezone.utc)) or ""


def parse_time(text: Any) -> datetime | None:
    """An RFC 3339 timestamp as the registry files hold it (Python 3.10's fromisoformat
    takes neither `Z` nor every fraction length); None when it is not one."""
    found = _TIME.fullmatch(str(text).strip()) if text is not None else None
    if found is None:
        return None
    day, clock, fraction, zone = found.groups()
    moment = datetime.strptime(f"{day}T{clock}", "%Y-%m-%dT%H:%M:%S")
    if fraction:
        moment = moment.replace(microsecond=int(fraction[:6].ljust(6, "0")))
    offset = timedelta()
    if zone.upper() != "Z":
        sign = 1 if zone[0] == "+" else -1
        offset = sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
    return moment.replace(tzinfo=timezone(offset))
