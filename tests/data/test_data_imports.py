"""The data layer imports no deep-learning framework, whatever it loads."""

from __future__ import annotations

from tests.conftest import run_script

CODE = """
import sys
from dlbench import data
data.load_dataset("digits", limit_train=10)
data.load_dataset("synthetic:1x8x8:10")
data.normalize(data.load_dataset("synthetic:3x4x4:10").x_train, "l2-rows")
data.dataset_info("fashion-mnist")
data.locate("cifar10")
loaded = [m for m in ("torch", "keras", "tensorflow", "jax") if m in sys.modules]
assert not loaded, loaded
"""


def test_no_framework_is_imported() -> None:
    proc = run_script(CODE, timeout=60)
    assert proc.returncode == 0, proc.stderr
