"""The report's "Predicted vs measured" section, from runs that carry their predictions."""

from __future__ import annotations

from dlbench.report.html import build_report
from dlbench.store.db import Store


def _run(store, i: int, framework: str, predicted: float | None, measured: float, stale=()):
    extra = {"prediction": {"epoch_s": predicted, "stale": list(stale)}} if predicted else None
    store.add_run(
        {"run_id": f"r{i}", "model": "a-mlp", "dataset": "digits", "framework": framework,
         "device": "cpu", "tuning": "tuned", "batch_size": 32, "status": "finished",
         "steady_epoch_s": measured, "extra": extra},
        [{"epoch": 1, "epoch_s": measured}],
    )  # fmt: skip


def test_section_scatter_and_errors(tmp_path):
    db = tmp_path / "db.sqlite"
    with Store(db) as store:
        _run(store, 1, "torch", 1.1, 1.0)
        _run(store, 2, "torch", 0.9, 1.0)
        _run(store, 3, "keras-jax", 3.0, 1.5, stale=["probe 4 (bandwidth): another boot"])
        _run(store, 4, "keras-jax", None, 2.0)  # no prediction: left out
    result = build_report(db, tmp_path / "r.html", samples=False)
    html = (tmp_path / "r.html").read_text()
    assert '<section id="predicted">' in html
    assert "3 run(s), median absolute error 10%" in html
    assert "a-mlp / keras-jax / tuned / b32 (2.00x)" in html  # the worst
    assert "another boot or older than a day" in html
    assert any(f.name.endswith("-predicted.svg") for f in result.files)


def test_section_says_how_to_get_predictions(tmp_path):
    db = tmp_path / "db.sqlite"
    with Store(db) as store:
        _run(store, 1, "torch", None, 1.0)
    build_report(db, tmp_path / "r.html", samples=False)
    assert "dlbench probe --calibrate" in (tmp_path / "r.html").read_text()
