"""`default` and `tuned` train the same model in every installed framework: the same parameter
count, and test accuracy within TOLERANCE of each other on scikit-learn's digits (torch's
per-epoch losses are equal too: tests/frameworks/test_torch.py; Keras': test_keras.py). The
third run, `tuned` with no `threads`, has its thread count chosen by the warm-up's sweep where
the framework can change it (frameworks/threads.py): it trains the same model too.

Each framework runs in a process of its own, with the runner's environment (Keras fixes its
backend at import), and trains both tunings there, one after the other.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from dlbench.frameworks import REGISTRY, missing_packages
from dlbench.frameworks.threads import usable_cores
from tests.conftest import script_json

# Three epochs of a-mlp on ~1,400 digits reach about 95%; the tunings see the same batches, and
# differ only where XLA rounds otherwise: seven test images in 360 is well above that noise.
TOLERANCE = 0.02
MARKER = "TUNING-PROBE "
FRAMEWORKS = [name for name in REGISTRY if not missing_packages(name)]

PROBE = r"""
import json, sys
import numpy as np
from dlbench.data import load_dataset, normalize
from dlbench.frameworks import adapter
from dlbench.frameworks.base import PreparedData
from dlbench.spec import make_run

framework = sys.argv[1]
backend = adapter(framework)
ds = load_dataset("digits")
x, xt = normalize(ds.x_train, "scale"), normalize(ds.x_test, "scale")
data = PreparedData(x, ds.y_train, x[:0], ds.y_train[:0], xt, ds.y_test, ds.num_classes,
                    ds.class_names)
out = {}
for name, tuning, threads in (("default", "default", 1), ("tuned", "tuned", 1),
                              ("swept", "tuned", None)):
    run = make_run({"model": "a-mlp", "dataset": "digits", "framework": framework,
                    "epochs": 3, "threads": threads, "tuning": tuning, "seed": 3})
    trainer = backend.Trainer(run, data, "cpu")
    trainer.warm_up()
    losses = []
    trainer.fit(lambda r: losses.append(r.train_loss) or True)
    if hasattr(trainer, "net"):
        params = sum(p.numel() for p in trainer.net.parameters() if p.requires_grad)
    else:
        params = trainer.built.trainable_params
    acc = trainer.evaluate(data.x_test, data.y_test).acc
    out[name] = {"params": int(params), "acc": acc, "losses": losses,
                   "options": {k: str(v) for k, v in trainer.options.items()}}
print("TUNING-PROBE " + json.dumps(out))
"""


def _probe(framework: str) -> dict:
    return script_json(PROBE, framework, framework=framework, threads=1, marker=MARKER)


@pytest.fixture(scope="module")
def probes() -> dict[str, dict]:
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(FRAMEWORKS, pool.map(_probe, FRAMEWORKS), strict=True))


@pytest.mark.slow
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_default_and_tuned_train_the_same_model(probes, framework):
    default, tuned = probes[framework]["default"], probes[framework]["tuned"]
    assert default["options"]["tuning"] == "default" and tuned["options"]["tuning"] == "tuned"
    assert default["params"] == tuned["params"] == 118_282 - 784 * 128 + 64 * 128
    assert default["acc"] > 0.9, default
    assert abs(default["acc"] - tuned["acc"]) <= TOLERANCE, (default["acc"], tuned["acc"])
    assert default["losses"][-1] < default["losses"][0]


@pytest.mark.slow
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_threads_chosen_by_the_sweep_train_the_same_model(probes, framework):
    """The sweep's steps are undone by warm-up's restore, and the count it keeps changes only
    how sums are split between threads: torch's losses stay within 1e-5 of eager float32."""
    default, swept = probes[framework]["default"], probes[framework]["swept"]
    how = swept["options"]["threads_chosen_by"]
    can_sweep = framework in ("torch", "keras-torch") and usable_cores() > 1
    assert how == "sweep" if can_sweep else how.startswith("fixed: "), how
    assert swept["params"] == default["params"]
    assert abs(default["acc"] - swept["acc"]) <= TOLERANCE, (default["acc"], swept["acc"])
    if framework == "torch":
        assert swept["losses"] == pytest.approx(default["losses"], rel=1e-5)
