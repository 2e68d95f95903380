"""Every preset's counts from the spec alone, pinned to the reports' own figures."""

import pytest

from dlbench.errors import UserError
from dlbench.spec import PRESETS, get_preset, summarize
from dlbench.spec.builders import cnn, mlp
from dlbench.spec.layers import Conv2d, Flatten, MaxPool, ModelSpec

# Report B's budget tables: parameters excluding batch-norm, and torchinfo mult-adds per batch
# of 512 as the report prints them (None where the report left the cell empty).
BUDGETS = {
    "b-fcn-50k": (46_580, None),
    "b-fcn-100k": (98_490, "50.43 M"),
    "b-fcn-200k": (199_210, "102.00 M"),
    "b-cnn-10k": (9_192, "208.33 M"),
    "b-cnn-20k": (19_279, None),
    "b-cnn-50k": (49_450, "1.03 G"),
    "b-cnn-100k": (97_395, "2.37 G"),
}


def _torchinfo_style(n: float) -> str:
    return f"{n / 1e9:.2f} G" if n >= 1e9 else f"{n / 1e6:.2f} M"


@pytest.mark.parametrize("name", sorted(BUDGETS))
def test_budget_tables_exact(name):
    params, macs = BUDGETS[name]
    preset = PRESETS[name]
    s = summarize(preset.spec, preset.input_shape)
    assert s.params_excl_bn == params
    # batch-norm adds a scale and a shift per channel or feature, counted in `params`
    assert s.params > s.params_excl_bn
    if macs:
        assert _torchinfo_style(s.macs_torchinfo * 512) == macs


@pytest.mark.parametrize(
    "name, params",
    [
        ("a-mlp", 118_282),
        ("a-deep-mlp", 10_260_490),  # seed-workloads.md: without the two 128-wide layers
        ("a-deep-mlp-128", 9_705_738),  # ... and with them
        ("a-torch-cnn", 28_938),  # report A 4
        ("c-torch-cnn", 28_938),  # report C P1 (batch-norm excluded)
        ("d-mlp", 101_770),
    ],
)
def test_reported_parameter_counts(name, params):
    p = PRESETS[name]
    assert summarize(p.spec, p.input_shape).params_excl_bn == params


def test_every_workload_has_a_preset():
    expected = {
        "a-mlp",
        "a-deep-mlp",
        "a-face-cnn",
        "a-torch-cnn",
        "b-fcn-50k",
        "b-fcn-100k",
        "b-fcn-200k",
        "b-cnn-10k",
        "b-cnn-20k",
        "b-cnn-50k",
        "b-cnn-100k",
        "c-keras-cnn",
        "c-torch-cnn",
        "c-final-cnn",
        "d-mlp",
        "e-ann",
    }
    assert expected <= set(PRESETS)


def test_shapes_inferred():
    s = summarize(PRESETS["a-torch-cnn"].spec, (1, 28, 28))
    shapes = {layer.name: layer.output_shape for layer in s.layers}
    assert shapes["conv1"] == (16, 28, 28)
    assert shapes["pool2"] == (32, 7, 7)
    assert s.output_shape == (10,)
    assert summarize(PRESETS["e-ann"].spec, (3, 32, 32)).layers[1].params == 3072 * 3000 + 3000


def test_kernel_larger_than_input_is_a_clear_error():
    spec = ModelSpec(layers=(Conv2d(filters=4, kernel=9), Flatten()))
    with pytest.raises(UserError, match="kernel 9 is larger than the padded input 8x8"):
        summarize(spec, (1, 8, 8))


def test_too_many_pools():
    spec = ModelSpec(layers=(MaxPool(size=2), MaxPool(size=2), MaxPool(size=2), Flatten()))
    with pytest.raises(UserError, match="pool window 2 is larger than the input 1x1"):
        summarize(spec, (1, 4, 4))


def test_builders_reject_bad_sizes():
    with pytest.raises(UserError, match="positive"):
        mlp([128, -1])
    with pytest.raises(UserError, match="at least two"):
        cnn([1], [10])


def test_channel_mismatch():
    with pytest.raises(UserError, match="expects 1 input channel"):
        summarize(PRESETS["b-cnn-20k"].spec, (3, 32, 32))


def test_unknown_preset_suggests():
    with pytest.raises(UserError, match="did you mean b-cnn-20k"):
        get_preset("b-cnn-20")
