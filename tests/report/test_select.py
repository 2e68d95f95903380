"""--runs: ids, ranges and field=value conditions."""

from __future__ import annotations

import pytest

from dlbench.errors import UserError
from dlbench.report.select import parse_filter, select_runs


def ids(rows):
    return [r.id for r in rows]


def test_parse():
    assert parse_filter("1,4-6") == ({1, 4, 5, 6}, {})
    assert parse_filter("model=a-mlp, device=cpu") == (
        None,
        {"model": ["a-mlp"], "device": ["cpu"]},
    )
    assert parse_filter(None) == (None, {})
    with pytest.raises(UserError, match="backwards"):
        parse_filter("6-4")
    with pytest.raises(UserError, match="neither a run id"):
        parse_filter("a-mlp")


def test_select(synthetic_rows):
    assert ids(select_runs(synthetic_rows, "2-3,7")) == [2, 3, 7]
    assert ids(select_runs(synthetic_rows, "device=cuda:0")) == [3, 4]
    assert ids(select_runs(synthetic_rows, "framework=keras-tf,framework=torch,status=failed")) == [
        8
    ]
    assert ids(select_runs(synthetic_rows, "model=a-*,device=cpu,1-5")) == [1, 2, 5]
    assert ids(select_runs(synthetic_rows, "lr=1e-3,model=b-cnn-20k")) == [6]  # spec fields
    with pytest.raises(UserError, match="unknown field 'colour'"):
        select_runs(synthetic_rows, "colour=red")
