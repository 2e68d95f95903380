"""The HTML report from the synthetic database: sections, figures, self-containment, escaping."""

from __future__ import annotations

import base64
import re

import pytest

from dlbench.errors import UserError
from dlbench.report.html import build_report

SECTIONS = ("summary", "speedups", "frameworks", "time-to-accuracy", "curves", "confusion",
            "budget", "crossover", "samples", "featuremaps", "machine")  # fmt: skip


@pytest.fixture(scope="module")
def report(synthetic_db, tmp_path_factory):
    out = tmp_path_factory.mktemp("html") / "report.html"
    result = build_report(synthetic_db, out)
    return result, out.read_text()


def test_every_section_and_figure(report):
    result, html = report
    for sid in SECTIONS:
        assert f'<section id="{sid}">' in html
    imgs = re.findall(r'<img src="([^"]+)"', html)
    assert len(imgs) == len(result.files) // 2 >= 15
    for uri in imgs:
        assert uri.startswith("data:image/svg+xml;base64,")
        svg = base64.b64decode(uri.split(",", 1)[1])
        assert b"<svg" in svg[:600]
    for f in result.files:
        assert f.exists() and f.stat().st_size > 500
    stems = {f.stem for f in result.files}
    assert {f.with_suffix(".png").name for f in result.files} >= {f"{s}.png" for s in stems}
    assert "3.82x" in html  # the CPU/GPU speedup of the medians: 4.2 / 1.1
    assert "Test CPU 3000" in html  # the fingerprint


def test_self_contained(report):
    _, html = report
    assert "://" not in html  # no URL at all: every figure is a data: URI
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    for attr in re.findall(r'(?:src|href)="([^"]*)"', html):
        assert attr.startswith(("data:", "#", "./")), attr
    assert "@media print" in html and 'name="viewport"' in html


def test_user_strings_are_escaped(report):
    result, html = report
    assert "<script" not in html.lower()
    assert "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "run 8 failed: RuntimeError: &lt;script&gt;" in html
    # In the SVG figures, class names are escaped by matplotlib (text kept in comments).
    svg = next(f for f in result.files if f.name.endswith("confusion-run-7.svg")).read_text()
    assert "<script" not in svg and "<img" not in svg
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in svg
    assert "&lt;img src=x onerror=alert(2)&gt;" in svg


def test_runs_filter_and_empty(synthetic_db, tmp_path):
    result = build_report(synthetic_db, tmp_path / "r.html", runs="model=b-cnn-*", samples=False)
    html = (tmp_path / "r.html").read_text()
    assert result.runs == 1 and "b-cnn-20k" in html and "a-deep-mlp" not in html
    with pytest.raises(UserError, match="no runs matching"):
        build_report(synthetic_db, tmp_path / "r.html", runs="model=nope")


def test_figures_folder_is_cleared_but_never_someone_elses(synthetic_db, tmp_path):
    build_report(synthetic_db, tmp_path / "a.html", runs="1-4", samples=False)
    first = set((tmp_path / "a_files").iterdir())
    build_report(synthetic_db, tmp_path / "a.html", runs="6", samples=False)
    second = {p.name for p in (tmp_path / "a_files").iterdir()}
    assert not any("speedup" in n for n in second) and len(second) < len(first)
    (tmp_path / "b_files").mkdir()
    (tmp_path / "b_files" / "mine.txt").write_text("keep")
    with pytest.raises(UserError, match="not made by"):
        build_report(synthetic_db, tmp_path / "b.html", samples=False)
    assert (tmp_path / "b_files" / "mine.txt").exists()


def test_notes_say_why_sections_are_empty(report):
    result, html = report
    assert "no finished run kept its weights" in html  # sample grid: no model to load
    assert any("Feature maps" in n for n in result.notes)
