"""The Python API on stored runs (the report tests' fixed rows, no training): load, tables,
comparisons, figures, Jupyter display, and errors raised as the CLI's messages."""

from __future__ import annotations

import subprocess
import sys

import pytest

import dlbench
from dlbench.errors import UserError
from tests.conftest import has_module
from tests.report.helpers import XSS, make_db

needs_pandas = pytest.mark.skipif(not has_module("pandas"), reason="pandas is not installed")


def test_import_dlbench_is_light():
    code = (
        "import sys, dlbench\n"
        "assert callable(dlbench.run) and callable(dlbench.load)\n"
        "heavy = [m for m in ('torch', 'tensorflow', 'jax', 'keras', 'pandas', 'mlflow',"
        " 'matplotlib', 'numpy', 'dlbench.runner.execute') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr


def test_help_imports_no_pandas_or_mlflow():
    code = (
        "import sys\n"
        "from dlbench.cli import main\n"
        "try:\n    main(['export', '--help'])\nexcept SystemExit as e:\n    assert e.code == 0\n"
        "print('HEAVY', [m for m in ('pandas', 'mlflow') if m in sys.modules])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert "HEAVY []" in out.stdout and "--mlflow" in out.stdout, out.stdout + out.stderr


@pytest.fixture(scope="module")
def synthetic_db(tmp_path_factory):
    return make_db(tmp_path_factory.mktemp("api") / "golden.sqlite")


@pytest.fixture(scope="module")
def results(synthetic_db):
    return dlbench.load(synthetic_db)


@needs_pandas
def test_load_and_tables(results, synthetic_db):
    from dlbench.report.columns import COLUMNS

    assert len(results) == 8 and results.ids == list(range(1, 9)) and not results.all_ok
    frame = results.to_pandas()
    assert list(frame.index) == results.ids
    assert list(frame.columns) == [c.key for c in COLUMNS if c.key != "id"]
    assert frame.loc[3, "device"] == "cuda:0" and frame.loc[8, "status"] == "failed"
    assert frame.loc[1, "steady_epoch_s"] == pytest.approx(4.0)
    epochs = results.epochs()
    assert len(epochs) == sum(len(r.epochs) for r in results)
    assert set(epochs.columns) >= {"run", "framework", "epoch", "train_loss", "epoch_s"}
    assert list(epochs[epochs.run == 1].epoch) == [1, 2, 3]
    some = dlbench.load(synthetic_db, runs="device=cuda:0")
    assert some.ids == [3, 4]


def test_display_escapes_user_strings(results):
    html = results._repr_html_()
    assert XSS not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<table>" in html and "steady epoch s" in html
    assert "cuda:0 ran 3.82x (3.33-4.40) faster than cpu" in html  # the verdict
    text = repr(results)
    assert "steady" in text and max(len(ln) for ln in text.splitlines()) <= 100
    assert results.verdicts()[-1].startswith("a-mlp / fashion-mnist / torch")


def test_compare_and_figures(results):
    from matplotlib.figure import Figure

    comp = results.compare(by="device")
    html = comp._repr_html_()
    assert "compare by device" in html and "cpu (baseline)" in html and "<script>" not in html
    assert "speedup vs baseline" in repr(comp)
    assert isinstance(results.plot_learning_curves(), Figure)
    fig = results.plot_speedups(by="device")
    assert isinstance(fig, Figure) and fig.axes
    assert isinstance(results.plot_confusion(), Figure)


def test_errors_are_the_cli_messages(tmp_path, synthetic_db):
    with pytest.raises(UserError, match=r"^framework='nosuch': unknown framework 'nosuch'"):
        dlbench.run(framework="nosuch", db=tmp_path / "r.sqlite")
    with pytest.raises(UserError, match=r"^epochs=0: Input should be greater than 0$"):
        dlbench.run(model="a-mlp", epochs=0, db=tmp_path / "r.sqlite")
    with pytest.raises(UserError, match="unknown model 'resnet'"):
        dlbench.run(model="resnet", db=tmp_path / "r.sqlite")
    with pytest.raises(UserError, match="no database at"):
        dlbench.load(tmp_path / "none.sqlite")
    with pytest.raises(UserError, match="unknown field 'colour'"):
        dlbench.load(synthetic_db, runs="colour=red")
    assert not (tmp_path / "r.sqlite").exists()
