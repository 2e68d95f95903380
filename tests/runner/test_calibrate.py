"""The estimate's probes, measured for real: torch's calibration in its own process, products
by shape and the bandwidth copy."""

from __future__ import annotations

import pytest

from dlbench.measure.estimate import boot_id, stale_reason
from tests.conftest import needs_torch

pytestmark = needs_torch


@pytest.mark.slow  # trains a tiny model in a child process
def test_torch_calibration_record():
    from dlbench.runner.calibrate import calibrate

    r = calibrate("torch", "tuned", "cpu", 1)
    assert (r["kind"], r["framework"], r["tuning"], r["device"]) == (
        "calibration", "torch", "tuned", "cpu"
    )  # fmt: skip
    assert r["boot_id"] == boot_id() and stale_reason(r) is None
    d = r["detail"]
    for key in ("small_step_s", "wide_step_s", "deep_step_s", "long_step_s", "import_s", "start_s"):
        assert d[key] > 0, key
    assert min(d["step_s"], d["sample_s"], d["op_s"], d["per_epoch_s"]) >= 0
    assert d["long_steps"] == 4 * d["small_steps"]


def test_products_by_shape_and_bandwidth():
    from dlbench.frameworks.gemm_shapes import bandwidth, gemm_rates

    rates = gemm_rates("torch", "cpu", [(16, 16, 16), (256, 256, 256)])
    assert set(rates) == {"16x16x16", "256x256x256"} and all(v > 0 for v in rates.values())
    bw = bandwidth("cpu", sizes=(1 << 16, 1 << 22))
    assert set(bw) == {"65536", "4194304"} and all(v > 1e8 for v in bw.values())


def test_element_wise_layers_probe():
    from dlbench.frameworks.gemm_shapes import LAYER_KINDS, layer_bytes, layer_rates

    rates = layer_rates("torch", "cpu", batches=(4, 16), channels=(3, 16))
    assert set(rates) == {
        f"{k}/{layout}/{c}:{layer_bytes(k, b, c)}"
        for k in LAYER_KINDS
        for layout in ("nchw", "nhwc")  # torch times both of its layouts
        for c in (3, 16)
        for b in (4, 16)
    }
    assert all(v > 1e6 for v in rates.values())
    # the bytes spec/cost.py counts: ReLU reads and writes its tensor forward (2 numbers),
    # reads the output's gradient and the input and writes the input's gradient backward (3)
    assert layer_bytes("activation", 4) == 5 * 4 * 16 * 32 * 32 * 4
    assert layer_bytes("activation", 4, channels=3) == 5 * 4 * 3 * 32 * 32 * 4


CONV_PROBE = """
import json, sys
from dlbench.frameworks import gemm_shapes

# two batches, one and 16 input channels (a first layer, whose input takes no gradient), 16x16
gemm_shapes.CONV_BATCH, gemm_shapes.CONV_CHANNELS, gemm_shapes.CONV_FILTERS = (4, 32), (1, 16), (16,)
gemm_shapes.CONV_SIDE = 16
print("CONV " + json.dumps(gemm_shapes.conv_rates(sys.argv[1], "cpu")))
"""


@pytest.mark.slow  # imports the library whole, in a process of its own
@pytest.mark.parametrize("library", ["torch", "jax", "tensorflow"])
def test_convolutions_probe_forward_and_backward(library):
    """Each convolution shape is timed forward and, under "bwd:", backward alone; the
    estimate (runner/estimate.py) splits the two by that prefix."""
    from dlbench.measure.rates import BACKWARD, parse_shape, split_conv_rates
    from dlbench.runner.calibrate import LIBRARY_FRAMEWORK
    from tests.conftest import script_json

    pytest.importorskip(library)
    rates = script_json(
        CONV_PROBE, library, framework=LIBRARY_FRAMEWORK[library], threads=1, marker="CONV "
    )
    forward = sorted(k for k in rates if not k.startswith(BACKWARD))
    assert forward == sorted(["1024x9x16", "1024x144x16", "8192x9x16", "8192x144x16"])
    assert sorted(k.removeprefix(BACKWARD) for k in rates if k.startswith(BACKWARD)) == forward
    fwd, bwd = split_conv_rates(rates)  # as the estimate reads them
    assert sorted(fwd) == sorted(bwd) == forward
    assert all(v > 1e6 for v in rates.values())
    assert all(parse_shape(k) for k in forward)
