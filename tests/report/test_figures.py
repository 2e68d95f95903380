"""Figures: non-square confusion matrices, feature-map grids, and text that is not markup."""

from __future__ import annotations

import numpy as np

from dlbench.report import figures
from tests.report.helpers import XSS


def test_non_square_confusion_marks_unknown_rows(tmp_path):
    rows = [str(i) for i in range(10)] + ["x"]
    cm = np.zeros((11, 10), int)
    cm[np.arange(10), np.arange(10)] = 5
    cm[10, 3] = 6
    mapping = [*range(10), None]
    fig = figures.confusion_figure(cm, rows, [str(i) for i in range(10)], "eval", mapping)
    saved = figures.save(fig, tmp_path, "cm")
    svg = saved.svg.read_text()
    assert "x (unknown)" in svg and saved.png.stat().st_size > 1000


def test_svg_text_is_escaped_and_dollars_are_literal(tmp_path):
    names = [XSS, "$x^2$", "a -- b --> c", "_hidden"]
    cm = np.eye(4, dtype=int)
    saved = figures.save(figures.confusion_figure(cm, names, names, XSS), tmp_path, "x")
    svg = saved.svg.read_text()
    assert "<script" not in svg
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in svg
    assert "-->" not in svg.replace(" -->", "")  # no comment closed early by a name
    assert "$x^2$" in svg  # literal, not math


def test_feature_map_grid(tmp_path):
    maps = np.random.default_rng(0).random((3, 20, 28, 28)).astype(np.float32)
    inputs = np.zeros((3, 28, 28, 1), np.uint8)
    fig = figures.feature_map_figure("conv1", maps, inputs, ["1: a", "4: b", "7: c"])
    saved = figures.save(fig, tmp_path, "fm")
    assert saved.png.exists() and saved.svg.exists()
    # one input image per sample plus one image per channel and sample
    assert saved.svg.read_text().count("<image") == 3 + 3 * 20
