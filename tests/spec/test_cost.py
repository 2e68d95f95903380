"""Per-layer FLOPs and bytes of one training step, against counts worked out by hand."""

from __future__ import annotations

import pytest

from dlbench.measure.work import train_flops_per_sample
from dlbench.spec.cost import layer_costs, optimizer_bytes
from dlbench.spec.layers import Conv2d, Dense, Flatten, MaxPool, ModelSpec
from dlbench.spec.presets import PRESETS


def test_dense_layer_by_hand():
    # batch 32, 784 -> 100 dense, no activation, the first layer with parameters
    (flat, dense) = layer_costs(ModelSpec(layers=(Flatten(), Dense(units=100))), (1, 28, 28), 32)
    assert flat.forward_bytes == flat.backward_bytes == 0
    assert dense.forward_gemms == ((32, 784, 100),)
    assert dense.forward_flops == 2 * 32 * 784 * 100 == 5_017_600
    # backward: the weights' gradient only (the input is the data, which needs none)
    assert dense.backward_gemms == ((784, 32, 100),)
    assert dense.backward_flops == 5_017_600
    weights = 784 * 100 + 100
    # forward reads the input (32 x 784) and the weights and writes the output (32 x 100)
    assert dense.forward_bytes == 4 * (32 * 784 + weights + 32 * 100) == 427_152
    # backward reads dY, X and W, writes dW
    assert dense.backward_bytes == 4 * (32 * 100 + 32 * 784 + 2 * weights) == 741_152


def test_second_dense_layer_has_an_input_gradient_and_its_activation():
    spec = ModelSpec(layers=(Flatten(), Dense(units=10), Dense(units=5, activation="relu")))
    second = layer_costs(spec, (1, 2, 2), 8)[2]
    assert second.backward_gemms == ((10, 8, 5), (8, 5, 10))
    assert second.forward_flops == 2 * 8 * 10 * 5 + 8 * 5  # the product and one per relu output
    assert second.backward_flops == 2 * 2 * 8 * 10 * 5 + 8 * 5
    weights = 10 * 5 + 5
    relu = 8 * 5
    assert second.forward_bytes == 4 * (8 * 10 + weights + 8 * 5 + 2 * relu)
    assert second.backward_bytes == 4 * (8 * 5 + 8 * 10 + 2 * weights + 8 * 10 + 3 * relu)
    assert second.ops == 2


def test_conv_layer_by_hand():
    # batch 4, 3x8x8 input, 16 filters 3x3, padding 1: output 16x8x8; im2col (4*64, 27, 16)
    (conv,) = layer_costs(ModelSpec(layers=(Conv2d(filters=16, padding=1),)), (3, 8, 8), 4)
    assert conv.forward_gemms == ((256, 27, 16),)
    assert conv.forward_flops == 2 * 256 * 27 * 16 == 221_184
    weights = 27 * 16 + 16
    assert conv.forward_bytes == 4 * (4 * 3 * 64 + weights + 4 * 16 * 64) == 21_248
    assert conv.backward_bytes == 4 * (4 * 16 * 64 + 4 * 3 * 64 + 2 * weights) == 23_040


def test_pool_layer_by_hand():
    # batch 2, 4x6x6 input, 2x2 max pool: output 4x3x3
    (pool,) = layer_costs(ModelSpec(layers=(MaxPool(size=2),)), (4, 6, 6), 2)
    assert pool.forward_flops == 2 * 4 * 9 * 4  # one comparison per window element
    assert pool.forward_bytes == 4 * (2 * 4 * 36 + 2 * 4 * 9) == 1_440
    assert pool.backward_bytes == 1_440  # reads dY (the output's size), writes dX (the input's)
    assert pool.forward_gemms == pool.backward_gemms == ()


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_flops_agree_with_measure_work(name):
    preset = PRESETS[name]
    costs = layer_costs(preset.spec, preset.input_shape, 16)
    products = sum(2 * m * k * n for c in costs for m, k, n in c.forward_gemms + c.backward_gemms)
    assert products == 16 * train_flops_per_sample(preset.spec.summary(preset.input_shape))


def test_optimizer_bytes():
    assert optimizer_bytes(1000, "adam") == 7 * 4 * 1000
    assert optimizer_bytes(1000, "sgd") == 3 * 4 * 1000
    assert optimizer_bytes(1000, "sgd", momentum=0.9) == 5 * 4 * 1000
