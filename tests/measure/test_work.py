"""Training FLOPs from the spec agree with torch.utils.flop_counter, preset by preset."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from dlbench.frameworks import torch as tb  # noqa: E402
from dlbench.measure.work import (  # noqa: E402
    achieved_flops_per_s,
    forward_flops_per_sample,
    train_flops_per_sample,
)
from dlbench.spec import PRESETS, mlp, summarize  # noqa: E402

BATCH = 3


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_train_flops_match_flop_counter(name):
    """One forward and backward pass in train mode: FLOPs counted by torch equal ours."""
    preset = PRESETS[name]
    summary = summarize(preset.spec, preset.input_shape)
    net, _ = tb.build_module(preset.spec, preset.input_shape)
    net.train()
    counter = FlopCounterMode(display=False)
    with counter:
        net(torch.randn(BATCH, *preset.input_shape)).sum().backward()
    assert counter.get_total_flops() == BATCH * train_flops_per_sample(summary)


def test_first_layer_gets_no_input_gradient():
    """An MLP's first layer holds most of its work: 3 x forward would overstate it."""
    summary = summarize(mlp([128, 128]), (1, 28, 28))
    first = 784 * 128
    assert train_flops_per_sample(summary) == 2 * (3 * summary.macs - first)
    assert train_flops_per_sample(summary) < 3 * forward_flops_per_sample(summary)


def test_achieved_flops():
    assert achieved_flops_per_s(2e9, 0.5) == 4e9
    assert achieved_flops_per_s(2e9, None) is None
    assert achieved_flops_per_s(None, 1.0) is None
