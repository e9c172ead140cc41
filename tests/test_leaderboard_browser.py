"""The leaderboard's page in a real browser: Debian's chromium, headless, loads the site
from a server on 127.0.0.1 and the test checks what a person would see.

* The chart is drawn: its bars are laid out in the rendered page, one per model, their
  heights in proportion to the weighted means; in the screenshot the chart's region holds
  the bars' colour where the bars are (not a blank area).
* The table has one row per model, in order, with the right numbers (computed here
  independently, in exact fractions).
* Every link resolves: relative files exist and every #anchor names an element.

A harness page on the same origin holds the site's page in an iframe and measures it
with the browser's own layout (getBoundingClientRect); the page itself runs no script
(its Content-Security-Policy allows none). The screenshot is kept at
test-output/leaderboard.png (git-ignored). Chromium may reach 127.0.0.1 only: every other
host name resolves to nothing.
"""

from __future__ import annotations

import functools
import html
import json
import re
import shutil
import struct
import subprocess
import threading
import zlib
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import numpy as np
import pytest
from leaderboard_world import DATASETS, MODELS, RESULTS, build_registry
from test_leaderboard import expected_mean

from medperf_action.usecases.leaderboard import leaderboard
from medperf_action.usecases.leaderboard.chart import PLOT_H

REPO = Path(__file__).resolve().parents[1]
SHOT = REPO / "test-output" / "leaderboard.png"
WIDTH, HEIGHT = 1200, 1400
BAR_RGB = (0x3B, 0x6E, 0xA5)

HARNESS = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>harness</title>
<style>html,body{margin:0}iframe{border:0;display:block;width:%(w)dpx;height:%(h)dpx}</style>
</head><body><iframe id="page" src="site/%(page)s"></iframe><pre id="out">pending</pre>
<script>
document.getElementById("page").addEventListener("load", () => {
  const doc = document.getElementById("page").contentDocument;
  const box = (e) => { const b = e.getBoundingClientRect(); return [b.x, b.y, b.width, b.height]; };
  const chart = doc.querySelector("svg.chart");
  const out = {
    chart: chart ? box(chart) : null,
    bars: [...doc.querySelectorAll("svg.chart rect.bar")].map((b) => ({
      model: b.getAttribute("data-model"), value: b.getAttribute("data-value"), box: box(b),
      fill: getComputedStyle(b).fill })),
    markers: [...doc.querySelectorAll("svg.chart circle.marker")].map(box),
    rows: [...doc.querySelectorAll("#results tbody tr")].map((tr) => ({
      model: tr.getAttribute("data-model"),
      cells: [...tr.children].map((c) => c.textContent.trim()),
      visible: tr.getBoundingClientRect().height > 0 })),
    heads: [...doc.querySelectorAll("#results thead th")].map((c) => c.textContent.trim()),
    links: [...doc.querySelectorAll("a[href]")].map((a) => a.getAttribute("href")),
    ids: [...doc.querySelectorAll("[id]")].map((e) => e.id),
    scripts: doc.querySelectorAll("script").length,
    chartAboveTable: chart && doc.querySelector("#results")
      ? chart.getBoundingClientRect().bottom <= doc.querySelector("#results").getBoundingClientRect().top
      : false,
  };
  document.getElementById("out").textContent = JSON.stringify(out);
});
</script></body></html>
"""


@functools.cache
def chromium() -> str:
    """scripts/setup-chromium.sh installs Debian's chromium and tidy when either is
    missing (never a skip)."""
    if shutil.which("chromium") is None or shutil.which("tidy") is None:
        proc = subprocess.run(
            ["bash", "scripts/setup-chromium.sh"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=1800,
            stdin=subprocess.DEVNULL,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
    found = shutil.which("chromium")
    assert found, "scripts/setup-chromium.sh did not install chromium"
    return found


def browse(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Headless chromium as root, reaching 127.0.0.1 only."""
    cmd = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        f"--user-data-dir={profile}",
        f"--window-size={WIDTH},{HEIGHT}",
        *args,
    ]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The built site under http://127.0.0.1:PORT/site/, with the harness next to it."""
    root = tmp_path_factory.mktemp("browser")
    registry = build_registry(root / "registry")
    leaderboard(registry, root / "web" / "leaderboard", root / "web" / "site")
    web = root / "web"
    for page in ("bc-one.html", "index.html"):
        text = HARNESS % {"w": WIDTH, "h": HEIGHT, "page": page}
        (web / f"harness-{page}").write_text(text)
    handler = functools.partial(_Quiet, directory=str(web))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", web
    finally:
        server.shutdown()
        server.server_close()


def measure(base: str, page: str, profile: Path) -> dict[str, Any]:
    dom = browse(profile, "--virtual-time-budget=10000", "--dump-dom", f"{base}/harness-{page}")
    found = re.search(r'<pre id="out">(.*?)</pre>', dom.stdout, re.S)
    assert found and found.group(1) != "pending", dom.stdout[-2000:]
    data: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    return data


# ---------------------------------------------------------------------------------------
# A PNG reader (zlib and numpy; no imaging library)


def read_png(path: Path) -> np.ndarray:
    """The image as an (height, width, 3) array of RGB bytes (8-bit RGB or RGBA PNGs)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, head = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            head = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert head is not None
    width, height, depth, ctype, _, _, interlace = head
    assert depth == 8 and ctype in (2, 6) and interlace == 0, head
    bpp = 3 if ctype == 2 else 4
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(height, 1 + width * bpp)
    out = np.zeros((height, width * bpp), dtype=np.uint8)
    prev = np.zeros(width * bpp, dtype=np.int64)
    for y in range(height):
        kind, line = raw[y, 0], raw[y, 1:].astype(np.int64)
        if kind == 0:
            cur = line
        elif kind == 1:
            cur = np.cumsum(line.reshape(width, bpp), axis=0).reshape(-1) % 256
        elif kind == 2:
            cur = (line + prev) % 256
        else:
            cur = _unfilter_slow(int(kind), line.tolist(), prev.tolist(), bpp)
        out[y] = cur
        prev = np.asarray(cur, dtype=np.int64)
    return out.reshape(height, width, bpp)[:, :, :3]


def _unfilter_slow(kind: int, line: list[int], prev: list[int], bpp: int) -> np.ndarray:
    cur = [0] * len(line)
    for i, x in enumerate(line):
        a = cur[i - bpp] if i >= bpp else 0
        b, c = prev[i], prev[i - bpp] if i >= bpp else 0
        if kind == 3:
            cur[i] = (x + (a + b) // 2) % 256
        else:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            cur[i] = (x + pred) % 256
    return np.asarray(cur, dtype=np.int64)


# ---------------------------------------------------------------------------------------
# The tests


def test_the_chart_is_drawn_and_the_table_shows_each_model(served, tmp_path: Path) -> None:
    base, web = served
    seen = measure(base, "bc-one.html", tmp_path / "profile")
    assert seen["scripts"] == 0
    # the chart: first, and one bar per model, laid out with the sizes of their values
    assert seen["chartAboveTable"] is True
    bars = seen["bars"]
    assert [b["model"] for b in bars] == ["model-centroid", "model-lr", "model-evil"]
    heights = [b["box"][3] for b in bars]
    assert min(heights) > 50 and all(b["box"][2] > 20 for b in bars)
    means = [float(expected_mean("bc-one", b["model"], "auc") or 0) for b in bars]
    # a 0-based axis up to 1 over PLOT_H pixels: each bar is PLOT_H x its mean, on one baseline
    for h, m in zip(heights, means, strict=True):
        assert abs(h - PLOT_H * m) < 1.5, (heights, means)
    assert len({round(b["box"][1] + b["box"][3], 1) for b in bars}) == 1
    assert [b["value"] for b in bars] == [f"{m:.4f}" for m in means]
    assert len(seen["markers"]) == 3 * 2
    assert all(b["fill"] == "rgb(59, 110, 165)" for b in bars)
    # the table: a row per model, in the chart's order, with the right numbers
    rows = seen["rows"]
    assert [r["model"] for r in rows] == [b["model"] for b in bars]
    assert all(r["visible"] for r in rows)
    for row in rows:
        want = [MODELS[row["model"]].replace("\u0000", "").replace("\u0007", "")]
        for metric in ("auc", "accuracy"):
            for dataset in sorted(DATASETS):
                value = RESULTS[("bc-one", row["model"], dataset)].get(metric)
                want.append(f"{value:.4f}" if isinstance(value, float) else str(value))
            mean = expected_mean("bc-one", row["model"], metric)
            want.append(f"{float(mean):.4f}" if mean is not None else "—")
        got = [re.sub(r"\s+", " ", c) for c in row["cells"]]
        assert got == [re.sub(r"\s+", " ", w).strip() for w in want]
    assert "auc: mean (weighted by cases)" in seen["heads"]
    assert_links_resolve(seen, web / "site")


def test_the_index_lists_both_benchmarks_and_its_links_resolve(served, tmp_path: Path) -> None:
    base, web = served
    seen = measure(base, "index.html", tmp_path / "profile")
    assert sorted(set(seen["links"]) - {"index.html"}) == ["bc-one.html", "bc-two.html"]
    assert_links_resolve(seen, web / "site")


def assert_links_resolve(seen: dict[str, Any], site: Path) -> None:
    ids = set(seen["ids"])
    assert seen["links"]
    for href in seen["links"]:
        parts = urlsplit(href)
        if parts.scheme:
            # the only links out: GitHub (an mlcube's source); never fetched by the test
            assert parts.scheme == "https" and parts.netloc == "github.com", href
            continue
        assert not parts.netloc and not href.startswith("/"), f"not relative: {href}"
        if parts.path:
            target = site / unquote(parts.path)
            assert target.is_file(), href
            if parts.fragment:
                assert f'id="{parts.fragment}"' in target.read_text(), href
        elif parts.fragment:
            assert parts.fragment in ids, href


def test_the_screenshot_shows_the_bars(served, tmp_path: Path) -> None:
    base, _ = served
    seen = measure(base, "bc-one.html", tmp_path / "profile")
    SHOT.parent.mkdir(exist_ok=True)
    SHOT.unlink(missing_ok=True)
    browse(tmp_path / "profile2", f"--screenshot={SHOT}", f"{base}/site/bc-one.html")
    image = read_png(SHOT)
    assert image.shape[:2] == (HEIGHT, WIDTH)
    x, y, w, h = (round(v) for v in seen["chart"])
    chart = image[y : y + h, x : x + w]
    assert chart.size and (chart != 255).any(axis=2).mean() > 0.05, "the chart area is blank"
    is_bar = np.abs(image.astype(int) - BAR_RGB).sum(axis=2) <= 6
    bar_area = sum(b["box"][2] * b["box"][3] for b in seen["bars"])
    in_chart = int(is_bar[y : y + h, x : x + w].sum())
    assert in_chart > 0.8 * bar_area, (in_chart, bar_area)
    for bar in seen["bars"]:
        bx, by, bw, bh = bar["box"]
        # the bar's lower half (below any label or marker) is the bar's colour
        patch = is_bar[
            round(by + bh * 0.55) : round(by + bh * 0.85), round(bx + 3) : round(bx + bw - 3)
        ]
        assert patch.mean() > 0.9, (bar["model"], patch.mean())
    # and outside the bars, at the same height, it is not
    gap_x = round(seen["bars"][0]["box"][0] - 8)
    assert not is_bar[round(seen["bars"][0]["box"][1] + 10), gap_x]


#: HTML Tidy 5.6 knows SVG's elements but not all its attributes: these are SVG's own
#: (presentation attributes, an id on <title> for aria-labelledby), nothing else is allowed.
TIDY_SVG = re.compile(r'Warning: <(svg|title)> proprietary attribute "(font-family|font-size|id)"')


def test_every_page_is_valid_html(served) -> None:
    """HTML Tidy (Debian's tidy, an HTML5 checker): no error, and no warning but the
    SVG attributes it does not know."""
    chromium()  # the set-up installs tidy with it
    _, web = served
    pages = sorted((web / "site").glob("*.html"))
    assert len(pages) == 3
    for page in pages:
        proc = subprocess.run(
            ["tidy", "-q", "-e", "--show-warnings", "yes", str(page)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode in (0, 1), proc.stderr  # 2: errors
        problems = [line for line in proc.stderr.splitlines() if line and not TIDY_SVG.search(line)]
        assert problems == [], (page.name, problems)
