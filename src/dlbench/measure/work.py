"""Work: floating-point operations of training, counted from the spec, and FLOP/s.

Method (docs/measuring.md): a dense or conv layer costs `macs` multiply-adds per sample forward
(spec/layers.py counts them; 2 FLOPs each). Backward costs two products of the same size per
layer: the gradient of the weights and the gradient of the layer's input. The first layer with
parameters gets no input gradient (its input is the data, which needs none), and autograd
(and every framework) skips it. So training FLOPs per sample are

    2 * (3 * macs - macs of the first layer with parameters)

exactly what `torch.utils.flop_counter` counts for one training step (a test pins it for
every preset). The common shortcut "3 x forward" overstates MLPs, whose first layer holds most
of the work, by up to a half. Element-wise work (activations, batch-norm, pooling, the
optimizer's update) is left out, as flop counters and MLPerf leave it out.
"""

from __future__ import annotations

from dlbench.spec.layers import ModelSummary


def train_flops_per_sample(summary: ModelSummary) -> int:
    """FLOPs of one forward and backward pass for one sample."""
    skipped = 0
    for layer in summary.layers:
        if layer.params:
            skipped = layer.macs  # first layer with parameters: no input gradient
            break
    return 2 * (3 * summary.macs - skipped)


def forward_flops_per_sample(summary: ModelSummary) -> int:
    return 2 * summary.macs


def achieved_flops_per_s(flops_per_epoch: float | None, epoch_s: float | None) -> float | None:
    if not flops_per_epoch or not epoch_s:
        return None
    return flops_per_epoch / epoch_s
