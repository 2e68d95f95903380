"""Reading the probes' rates: interpolation over the probed shapes, sizes and layer kinds.

The estimate (measure/estimate.py) reads each layer's rate here from the probe records that
runner/calibrate.py stores: FLOP/s of a product or a convolution by shape, bytes/s of a copy by
size, bytes/s of an element-wise layer by kind, layout and channels. Arithmetic on dicts; it
imports nothing of dlbench's but spec/.
"""

from __future__ import annotations

import math
from bisect import bisect_left

from dlbench.spec.cost import Gemm


# -- interpolation ---------------------------------------------------------------------------
def _axis(values: list[int], x: float) -> tuple[int, int, float]:
    """Neighbours of x in sorted `values` (log2 space) and the weight of the upper one;
    outside the range the nearest end (no extrapolation)."""
    if x <= values[0]:
        return 0, 0, 0.0
    if x >= values[-1]:
        n = len(values) - 1
        return n, n, 0.0
    hi = bisect_left(values, x)
    lo = hi - 1
    w = (math.log2(x) - math.log2(values[lo])) / (math.log2(values[hi]) - math.log2(values[lo]))
    return lo, hi, w


BACKWARD = "bwd:"  # the conv-shapes probe's key prefix of a backward rate: "bwd:MxKxN"


def split_conv_rates(by_size: dict[str, float]) -> tuple[dict[str, float], dict[str, float]]:
    """A conv-shapes probe's rates as (forward, backward), both keyed "MxKxN"; the backward
    is empty for a probe from before the backward was timed."""
    forward = {k: v for k, v in by_size.items() if not k.startswith(BACKWARD)}
    backward = {k.removeprefix(BACKWARD): v for k, v in by_size.items() if k.startswith(BACKWARD)}
    return forward, backward


def parse_shape(key: str) -> Gemm:
    m, k, n = (int(v) for v in key.split("x"))
    return m, k, n


def gemm_rate(by_shape: dict[str, float], shape: Gemm) -> float:
    """FLOP/s of an (M, K, N) product, interpolated trilinearly in log(rate) over log2 of each
    size between the probed shapes (a full grid); clamped at the grid's edges."""
    grid = {parse_shape(k): v for k, v in by_shape.items()}
    axes = [sorted({s[i] for s in grid}) for i in range(3)]
    picks = [_axis(axes[i], shape[i]) for i in range(3)]
    total = 0.0
    for corner in range(8):
        weight = 1.0
        at = []
        for i, (lo, hi, w) in enumerate(picks):
            upper = (corner >> i) & 1
            weight *= w if upper else 1.0 - w
            at.append(axes[i][hi if upper else lo])
        if weight:
            total += weight * math.log(grid[tuple(at)])
    return math.exp(total)


def bandwidth(by_size: dict[str, float], nbytes: float) -> float:
    """Bytes/s when `nbytes` are touched: interpolated in log space between the probed sizes
    (small tensors stay in cache and move faster), clamped at the ends."""
    sizes = sorted(int(k) for k in by_size)
    lo, hi, w = _axis(sizes, max(nbytes, 1.0))
    a, b = by_size[str(sizes[lo])], by_size[str(sizes[hi])]
    return math.exp((1 - w) * math.log(a) + w * math.log(b))


VECTOR_FLOATS = 16  # float32 numbers in one AVX-512 register


def probed_channels(probed: set[int], channels: int) -> int:
    """The probed channel count whose kernels a layer of `channels` runs like: one of the same
    kind (a whole number of vector registers, or not; docs/estimating.md, "Element-wise
    layers"), the nearest in log2 of those; 0 (not an image) reads the largest whole one."""
    whole = channels % VECTOR_FLOATS == 0
    same = [c for c in probed if (c % VECTOR_FLOATS == 0) == whole] or list(probed)
    if not channels:
        return max(same)
    return min(same, key=lambda c: abs(math.log2(c) - math.log2(channels)))


def parse_layer_key(key: str) -> tuple[str, str, int, int]:
    """(kind, layout, channels, bytes) of a layers-probe key; a key from before layouts
    ("kind:bytes") is channels-last at 16 channels, as that probe timed."""
    what, nbytes = key.split(":")
    if "/" not in what:
        return what, "nhwc", 16, int(nbytes)
    kind, layout, channels = what.split("/")
    return kind, layout, int(channels), int(nbytes)


def layer_bandwidth(
    by_key: dict[str, float], kind: str, nbytes: float, layout: str = "nhwc", channels: int = 0
) -> float | None:
    """Bytes/s of an element-wise layer of `kind` whose forward and backward passes move
    `nbytes`, in `layout` with `channels`: interpolated between the probed sizes of that kind,
    layout (any, where the layout was not probed) and probed_channels; None: kind not
    probed."""
    rows = [parse_layer_key(k) + (v,) for k, v in by_key.items()]
    rows = [r for r in rows if r[0] == kind]
    rows = [r for r in rows if r[1] == layout] or rows
    if not rows:
        return None
    c = probed_channels({r[2] for r in rows}, channels)
    return bandwidth({str(r[3]): r[4] for r in rows if r[2] == c}, nbytes)
