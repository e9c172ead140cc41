"""`medperf-action registry leaderboard`: the weighted means, the order of rows and
columns, escaping of what registry files say, deterministic bytes, the output folders,
and links to the results' files when the registry is on GitHub.

The means are checked against an independent computation in exact fractions from the
test registry's own table (tests/leaderboard_world.py), not against the code's formula.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from fractions import Fraction
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from leaderboard_world import DATASETS, HOSTILE, HOSTILE_DATASET, RESULTS, build_registry

from medperf_action.cli import main
from medperf_action.domain.leaderboard import build_board, show_number, weighted_mean
from medperf_action.domain.registry.reader import LocalSource, Registry
from medperf_action.errors import RegistryInvalid, UsageError
from medperf_action.usecases.leaderboard import MARKER, leaderboard, read_boards
from medperf_action.usecases.leaderboard.chart import nice_scale, render_chart

SVG = "{http://www.w3.org/2000/svg}"


def expected_mean(bench: str, model: str, metric: str) -> Fraction | None:
    """sum(value * n) / sum(n) in exact arithmetic, over the numeric values only."""
    pairs = [
        (Fraction(str(m[metric])), DATASETS[d][1])
        for (b, mo, d), m in RESULTS.items()
        if (b, mo) == (bench, model) and isinstance(m.get(metric), float)
    ]
    if not pairs:
        return None
    return sum(v * n for v, n in pairs) / sum(n for _, n in pairs)


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    return build_registry(tmp_path / "registry")


def boards_of(root: Path):
    return {b.benchmark: b for b in read_boards(Registry(LocalSource(root), root=root))}


# ---------------------------------------------------------------------------------------
# The numbers


def test_weighted_means_equal_an_exact_independent_computation(registry: Path) -> None:
    boards = boards_of(registry)
    checked = 0
    for bench, model, _ in RESULTS:
        row = next(r for r in boards[bench].rows if r.model == model)
        for metric in boards[bench].metrics:
            want = expected_mean(bench, model, metric)
            got = row.means[metric]
            if want is None:
                assert got is None
            else:
                assert got is not None and abs(Fraction(got) - want) < Fraction(1, 10**12)
                checked += 1
    assert checked >= 20
    # 0.9 x 120 + 0.97 x 80 over 200, by hand: 0.928; an unweighted mean would be 0.935
    centroid = next(r for r in boards["bc-one"].rows if r.model == "model-centroid")
    assert show_number(centroid.means["auc"]) == "0.9280"


def test_text_booleans_and_non_finite_values_are_shown_but_never_averaged() -> None:
    assert weighted_mean([(0.5, 80), ("n/a", 120)]) == 0.5
    assert weighted_mean([(True, 10), (float("nan"), 5), (float("inf"), 5)]) is None
    assert weighted_mean([]) is None
    assert weighted_mean([(1, 1), (2, 3)]) == 1.75


def test_num_cases_come_from_the_dataset_entry(registry: Path) -> None:
    """A result that says another num_cases does not change the weights: the dataset's
    registered prepared.num_cases is what the mean is weighted by."""
    path = registry / "results/bc-one/model-centroid/site-a.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["num_cases"] = 5
    path.write_text(yaml.safe_dump(doc))
    board = boards_of(registry)["bc-one"]
    assert [d.num_cases for d in board.datasets] == [120, 80]
    row = next(r for r in board.rows if r.model == "model-centroid")
    assert show_number(row.means["auc"]) == "0.9280"


def test_rows_columns_and_metrics_are_ordered(registry: Path) -> None:
    boards = boards_of(registry)
    one, two = boards["bc-one"], boards["bc-two"]
    # the benchmark's `metrics` list chooses and orders (the results' "note" is left out)
    assert one.metrics == ("auc", "accuracy")
    # without one: every metric the results name, by name
    assert two.metrics == ("auc", "f1")
    assert [r.model for r in one.rows] == ["model-centroid", "model-lr", "model-evil"]
    # by the weighted mean (0.708 > 0.692), where the plain mean would put model-lr first
    assert [r.model for r in two.rows] == ["model-centroid", "model-lr"]
    assert [d.id for d in one.datasets] == ["site-a", "site-b"]


def test_ties_go_by_model_id_and_a_model_without_the_first_metric_comes_last() -> None:
    bench = {"id": "b", "name": "B", "metrics": ["auc"]}
    results = [
        {"model": m, "dataset": "d", "num_cases": 3, "metrics": v, "model_cube": {"image_id": "x"}}
        for m, v in [("zed", {"auc": 0.5}), ("amy", {"auc": 0.5}), ("bob", {"f1": 1.0})]
    ]
    board = build_board(bench, results, {}, {})
    assert [r.model for r in board.rows] == ["amy", "zed", "bob"]
    assert board.datasets[0].num_cases == 3  # no dataset entry: the results' own count


# ---------------------------------------------------------------------------------------
# What the files say


def test_markdown_tables_cannot_be_broken_by_names(registry: Path, tmp_path: Path) -> None:
    written = leaderboard(registry, tmp_path / "lb")
    page = written.files["bc-one.md"]
    table = [line for line in page.splitlines() if line.startswith("|")]
    columns = 1 + 2 * 3  # model, then (site-a, site-b, mean) for auc and accuracy
    assert len(table) == 2 + 3
    for line in table:
        assert line.count("|") == columns + 1, line
    for name, text in written.files.items():
        if not name.endswith(".md"):
            continue
        assert "<script" not in text and "<img" not in text and "](https" not in text
        assert "\u0000" not in text and "\u0007" not in text
        assert not re.search(r"<(?!br>)", text), "only <br> may appear as markup"
    assert "| 0.6000 | 0.7000 | **0.6400** | n/a | 0.5000 | **0.5000** |" in page
    assert "mean (weighted by cases)" in table[0]


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.stack: list[str] = []
        self.errors: list[str] = []

    VOID = frozenset({"meta", "link", "br", "img", "input", "hr"})

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def parse_html(text: str) -> _Collect:
    parser = _Collect()
    parser.feed(text)
    parser.close()
    return parser


def test_the_site_escapes_names_and_stays_well_formed(registry: Path, tmp_path: Path) -> None:
    leaderboard(registry, tmp_path / "lb", tmp_path / "site")
    for page in sorted((tmp_path / "site").glob("*.html")):
        text = page.read_text()
        assert text.startswith('<!DOCTYPE html>\n<html lang="en">')
        parsed = parse_html(text)
        assert parsed.errors == [] and parsed.stack == [], (page.name, parsed.errors)
        names = [t for t, _ in parsed.tags]
        assert "script" not in names and "img" not in names and "iframe" not in names
        for tag, attrs in parsed.tags:
            assert not any(a.startswith("on") for a in attrs), (tag, attrs)
        ids = [a["id"] for _, a in parsed.tags if "id" in a]
        assert len(ids) == len(set(ids)), page.name
        csp = [a for t, a in parsed.tags if a.get("http-equiv") == "Content-Security-Policy"]
        assert csp and "default-src 'none'" in str(csp[0]["content"])
        assert "script-src" not in str(csp[0]["content"])
    one = parse_html((tmp_path / "site" / "bc-one.html").read_text())
    shown = "".join(one.text)
    assert HOSTILE.replace("\u0000", "").replace("\u0007", "") in shown
    assert HOSTILE_DATASET in shown
    rows = [a for t, a in one.tags if t == "tr" and "data-model" in a]
    assert [a["data-model"] for a in rows] == ["model-centroid", "model-lr", "model-evil"]


def test_the_svg_is_well_formed_and_its_texts_are_only_text(registry: Path, tmp_path) -> None:
    written = leaderboard(registry, tmp_path / "lb")
    root = ET.fromstring(written.files["bc-one.svg"])
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    assert root.find(f"{SVG}title") is not None and root.find(f"{SVG}desc") is not None
    assert not [e for e in root.iter() if e.tag in (f"{SVG}script", f"{SVG}foreignObject")]
    bars = [e for e in root.iter(f"{SVG}rect") if e.get("class") == "bar"]
    assert [b.get("data-model") for b in bars] == ["model-centroid", "model-lr", "model-evil"]
    assert [b.get("data-value") for b in bars] == ["0.9280", "0.9100", "0.6400"]
    heights = [float(b.get("height")) for b in bars]
    assert heights[0] > heights[1] > heights[2] > 0
    # bar heights are proportional to the values on a 0-based axis
    assert abs(heights[0] / heights[2] - 0.928 / 0.64) < 0.01
    markers = [e for e in root.iter(f"{SVG}circle") if e.get("class") == "marker"]
    assert len(markers) == 6
    evil = bars[2].find(f"{SVG}title")
    assert evil is not None and evil.text is not None and "</svg><script>" in evil.text
    desc = root.find(f"{SVG}desc")
    assert desc is not None and "model-centroid" in (desc.text or "")


# ---------------------------------------------------------------------------------------
# Deterministic, and whole


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_the_same_registry_gives_the_same_bytes(tmp_path: Path) -> None:
    first = build_registry(tmp_path / "a")
    # the same files, written in the opposite order
    second = build_registry(tmp_path / "b", dict(reversed(list(RESULTS.items()))))
    leaderboard(first, tmp_path / "out1", tmp_path / "site1")
    leaderboard(second, tmp_path / "out2", tmp_path / "site2")
    leaderboard(first, tmp_path / "out1", tmp_path / "site1")  # again, over itself
    assert _tree(tmp_path / "out1") == _tree(tmp_path / "out2")
    assert _tree(tmp_path / "site1") == _tree(tmp_path / "site2")
    text = b"".join(_tree(tmp_path / "site1").values())
    assert not re.search(rb"20\d\d-\d\d-\d\d", text), "no date or time in the output"


def test_a_stale_file_goes_and_a_foreign_folder_is_refused(registry: Path, tmp_path) -> None:
    out = tmp_path / "lb"
    leaderboard(registry, out)
    (out / "old-benchmark.md").write_text("stale")
    leaderboard(registry, out)
    assert not (out / "old-benchmark.md").exists() and (out / MARKER).is_file()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(UsageError, match="did not write"):
        leaderboard(registry, mine)
    assert (mine / "notes.txt").read_text() == "keep me"


def test_an_invalid_result_leaves_the_previous_leaderboard(registry: Path, tmp_path) -> None:
    out = tmp_path / "lb"
    leaderboard(registry, out)
    before = _tree(out)
    bad = registry / "results/bc-one/model-lr/site-a.yaml"
    doc = yaml.safe_load(bad.read_text())
    doc["dataset"] = "site-b"  # not what its place says
    bad.write_text(yaml.safe_dump(doc))
    with pytest.raises(RegistryInvalid, match="does not match the file's place"):
        leaderboard(registry, out)
    assert _tree(out) == before


def test_the_command_line(registry: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        [
            "registry",
            "leaderboard",
            "--registry",
            str(registry),
            "--output",
            str(tmp_path / "lb"),
            "--site",
            str(tmp_path / "site"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "[Breast cancer one](bc-one.md)" in result.stdout
    assert sorted(p.name for p in (tmp_path / "site").iterdir()) == [
        MARKER,
        "bc-one.html",
        "bc-one.svg",
        "bc-two.html",
        "bc-two.svg",
        "index.html",
    ]
    same = CliRunner().invoke(
        main,
        [
            "registry",
            "leaderboard",
            "--registry",
            str(registry),
            "--output",
            str(tmp_path / "x"),
            "--site",
            str(tmp_path / "x"),
        ],
    )
    assert same.exit_code == 2 and "different folders" in same.stderr


# ---------------------------------------------------------------------------------------
# A registry on GitHub (the test server)


def test_a_github_registry_links_each_result_file_at_its_commit(
    github_server, monkeypatch, registry: Path, tmp_path: Path
) -> None:
    monkeypatch.setenv("GITHUB_API_URL", github_server.api_url)
    monkeypatch.setenv("MEDPERF_ACTION_GITHUB_PAUSES", "0")
    monkeypatch.setenv("MEDPERF_ACTION_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    github_server.add_user("committee")
    files = {str(p.relative_to(registry)): p.read_text() for p in sorted(registry.rglob("*.yaml"))}
    github_server.create_repo("committee/registry", files)
    written = leaderboard("committee/registry", tmp_path / "lb", tmp_path / "site")
    assert len(written.boards) == 2
    page = (tmp_path / "site" / "bc-one.html").read_text()
    links = re.findall(r'href="([^"]+/blob/([0-9a-f]{40})/results/[^"]+)"', page)
    assert len(links) == 6
    commits = {sha for _, sha in links}
    assert len(commits) == 1
    (sha,) = commits
    assert f"committee/registry at commit {sha}." in written.files["README.md"]
    assert links[0][0].endswith(
        f"/committee/registry/blob/{sha}/results/bc-one/model-centroid/site-a.yaml"
    )


# ---------------------------------------------------------------------------------------
# The chart's edges


def test_the_axis_holds_zero_and_every_value() -> None:
    assert nice_scale(0.6, 0.97) == (0.0, 1.0, 0.2)
    low, high, step = nice_scale(-0.3, 0.5)
    assert (round(low, 9), round(high, 9), round(step, 9)) == (-0.4, 0.6, 0.2)
    assert nice_scale(5.0, 5.0)[:2] == (0.0, 5.0)
    assert nice_scale(0.0, 0.0) == (0.0, 1.0, 0.2)


def test_a_negative_mean_is_a_bar_below_the_zero_line() -> None:
    bench = {"id": "b", "name": "B", "metrics": ["delta"]}
    results = [
        {
            "model": m,
            "dataset": "d",
            "num_cases": 3,
            "metrics": {"delta": v},
            "model_cube": {"image_id": "x"},
        }
        for m, v in [("up", 0.5), ("down", -0.25)]
    ]
    root = ET.fromstring(render_chart(build_board(bench, results, {}, {})))
    bars = {b.get("data-model"): b for b in root.iter(f"{SVG}rect") if b.get("class") == "bar"}
    up, down = bars["up"], bars["down"]
    zero = float(up.get("y")) + float(up.get("height"))
    assert abs(float(down.get("y")) - zero) < 0.01  # it starts at the zero line, going down
    assert abs(float(up.get("height")) / float(down.get("height")) - 2) < 0.01


def test_a_benchmark_without_results_gets_a_page_that_says_so(registry: Path, tmp_path) -> None:
    for path in (registry / "results" / "bc-two").rglob("*.yaml"):
        path.unlink()
    written = leaderboard(registry, tmp_path / "lb", tmp_path / "site")
    assert "No results yet." in written.files["bc-two.md"]
    assert "No numeric results yet." in written.files["bc-two.svg"]
    ET.fromstring(written.files["bc-two.svg"])
    assert "No results yet." in (tmp_path / "site" / "bc-two.html").read_text()
    assert "| 0 | 0 | 0 |" in written.files["README.md"]


def test_a_sealed_result_is_kept_off_the_public_leaderboard(registry: Path) -> None:
    """A result sealed to the committee's key (registry.yaml `results.sealed_to`) holds no
    metrics in the clear: the public board leaves it out, and shows the others."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from medperf_action.adapters.sealing import seal

    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    place = "results/bc-one/model-centroid/site-a.yaml"
    doc = yaml.safe_load((registry / place).read_text())
    doc["sealed"] = seal(doc.pop("metrics"), public.decode(), place)
    (registry / place).write_text(yaml.safe_dump(doc))
    board = boards_of(registry)["bc-one"]
    centroid = next(r for r in board.rows if r.model == "model-centroid")
    assert ("auc", "site-a") not in centroid.values  # only site-b's result is shown
    assert show_number(centroid.means["auc"]) == "0.9700"  # site-b's alone
    assert ("model-centroid", "site-a") not in board.results
