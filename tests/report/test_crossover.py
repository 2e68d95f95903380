"""The crossover: one crossing per model family and batch size, never a mixed curve."""

from __future__ import annotations

from dlbench.report.crossover import crossovers, points, table_rows
from tests.report.test_stats import fake_run


def _rows():
    """MLPs win on the GPU from the middle of the sweep on; CNNs at batch 64 never do. Sorted
    into one list by work per step, the CNN points (which lose) would sit among the MLP
    points and move the MLP crossing, or hide it."""
    rows, i = [], 0
    mlp = ((16, 0.1, 0.4), (256, 0.5, 0.6), (1024, 2.0, 0.8), (4096, 9.0, 1.2))
    cnn = ((8, 0.6, 0.9), (32, 3.0, 4.0))
    for family, sweep in (("mlp", mlp), ("cnn", cnn)):
        for width, cpu_t, gpu_t in sweep:
            if family == "mlp":
                model = {"builder": "mlp", "widths": [width], "name": f"mlp-{width}"}
                macs = 784 * width + width * 10
            else:
                model = {
                    "builder": "cnn",
                    "conv_channels": [1, width],
                    "dense_sizes": [10],
                    "name": f"cnn-{width}",
                }
                macs = 40_000 * width  # cnn-32 does more per sample than mlp-1024
            for dev, t in (("cpu", cpu_t), ("cuda:0", gpu_t)):
                for seed, jitter in ((0, 1.0), (1, 1.02), (2, 0.98)):
                    i += 1
                    r = fake_run(i, t * jitter, device=dev, model=model, batch_size=64, seed=seed)
                    r.values["macs"] = macs
                    rows.append(r)
    return rows


def test_one_crossing_per_family_and_batch():
    cs = crossovers(points(_rows()))
    by_line = {(c.kind, c.batch_size): c for c in cs}
    assert set(by_line) == {("mlp", 64), ("cnn", 64)}
    mlp = by_line[("mlp", 64)]
    # Between width 256 (speedup 0.83) and 1024 (2.5): the CNN points are not in between.
    assert 794 * 256 * 64 < mlp.macs_per_step < 794 * 1024 * 64  # MACs per sample x batch
    assert mlp.text.startswith("MLP, batch 64: the GPU beats the CPU from about")
    cnn = by_line[("cnn", 64)]
    assert cnn.macs_per_step is None and "no crossover in range" in cnn.text


def test_each_point_has_its_interval():
    pts = points(_rows())
    assert all(p.runs == 3 and p.lo is not None and p.lo <= p.epoch_s <= p.hi for p in pts)
    header, rows = table_rows(pts)
    assert "[" in rows[0][header.index("cpu s/epoch")]


def test_crossover_suite_has_repeats_and_steps():
    from dlbench.spec.suite import load_suite

    runs = load_suite("crossover").expand()
    assert {r.seed for r in runs} == {0, 1, 2}
    steady_steps = min(-(-r.limit_train // r.batch_size) for r in runs)
    assert steady_steps >= 40 and min(r.epochs for r in runs) >= 3
