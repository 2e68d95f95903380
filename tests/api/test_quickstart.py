"""examples/quickstart.ipynb, executed as a student would run it: nbclient on a real ipykernel,
the real runs (a-mlp in torch and keras-jax on 1,000 Fashion-MNIST images), then its outputs
checked: the results table, the DataFrame, the comparison, a figure, the report."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import has_module, needs_fashion, needs_torch

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "quickstart.ipynb"

pytestmark = [
    pytest.mark.slow,
    needs_fashion,
    needs_torch,
    pytest.mark.skipif(
        not all(has_module(m) for m in ("nbclient", "ipykernel", "pandas", "keras", "jax")),
        reason="needs nbclient, ipykernel, pandas and keras-jax (dlbench[all,test])",
    ),
]


def _data(cell, mime: str) -> str:
    return "".join(
        "".join(o.get("data", {}).get(mime, "")) for o in cell.get("outputs", []) if "data" in o
    )


def _text(cell) -> str:
    return "".join(
        "".join(o.get("text", "")) for o in cell.get("outputs", []) if o["output_type"] == "stream"
    )


def test_quickstart_notebook_runs_and_shows_table_comparison_figure(tmp_path):
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), (
        "commit the notebook without outputs"
    )
    client = NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    nbformat.write(nb, tmp_path / "quickstart.executed.ipynb")  # to look at when it fails
    code = [c for c in nb.cells if c.cell_type == "code"]
    errors = [o for c in code for o in c.get("outputs", []) if o["output_type"] == "error"]
    assert not errors, errors

    run_cell = next(c for c in code if "dlbench.run(" in c.source)
    table = _data(run_cell, "text/html")
    assert '<div class="dlbench-results">' in table and "<table>" in table
    for text in ("a-mlp", "torch", "keras-jax", "finished", "steady epoch s", "test acc"):
        assert text in table, text
    assert "ran" in table and "faster than" in table  # the verdict line
    assert "a-mlp / fashion-mnist / cpu" in _data(run_cell, "text/plain")

    frame = _data(next(c for c in code if "to_pandas()" in c.source), "text/html")
    assert "steady_epoch_s" in frame and frame.count("<tr>") >= 3  # header and two runs

    compared = _data(next(c for c in code if ".compare(" in c.source), "text/html")
    assert "compare by framework" in compared and "keras-jax" in compared
    assert "speedup vs baseline" in compared and "torch (baseline)" in compared

    figure = next(c for c in code if "plot_learning_curves" in c.source)
    png = _data(figure, "image/png")
    assert len(png) > 10_000, figure.get("outputs")

    report = next(c for c in code if ".report(" in c.source)
    assert (tmp_path / "quickstart-report.html").exists()
    assert "report: quickstart-report.html" in _text(report)
    assert (tmp_path / "quickstart.sqlite").exists()
    assert _data(code[-1], "text/plain") == "2"
