"""Device resolution: one GPU under one name, and every pair `all` leaves out named with its
reason (what a framework sees is given as a fake device list: no GPU here)."""

from __future__ import annotations

import pytest

from dlbench.errors import UserError
from dlbench.frameworks.base import DeviceInfo
from dlbench.runner import process
from dlbench.runner.process import Dropped, canonical_device, child_env, pick_devices

TWO_GPUS = (
    DeviceInfo("torch", "cpu", True, "a CPU"),
    DeviceInfo("torch", "cuda:0", True, "GPU A", 80 * 2**30),
    DeviceInfo("torch", "cuda:1", True, "GPU B", 80 * 2**30),
)
NO_GPU = (
    DeviceInfo("keras-tf", "cpu", True, "a CPU"),
    DeviceInfo("keras-tf", "cuda", False, reason="tensorflow 2.20 is a CPU-only build"),
)


def test_cuda_is_cuda_0():
    assert canonical_device("cuda") == "cuda:0"
    assert pick_devices("torch", "cuda", TWO_GPUS) == (["cuda:0"], [])
    assert pick_devices("torch", "cuda:1", TWO_GPUS) == (["cuda:1"], [])
    # `all` and `cuda` now name the GPU alike, so run ids and config keys agree.
    assert pick_devices("torch", "all", TWO_GPUS)[0] == ["cpu", "cuda:0", "cuda:1"]


def test_named_device_unavailable_is_an_error_with_the_reason():
    with pytest.raises(UserError, match="CPU-only build; use --device cpu"):
        pick_devices("keras-tf", "cuda", NO_GPU)
    with pytest.raises(UserError, match="cannot see cuda:2"):
        pick_devices("torch", "cuda:2", TWO_GPUS)


def test_all_lists_what_it_drops():
    use, dropped = pick_devices("keras-tf", "all", NO_GPU)
    assert use == ["cpu"]
    assert dropped == [Dropped("keras-tf", "cuda", "tensorflow 2.20 is a CPU-only build")]
    assert str(dropped[0]) == "keras-tf on cuda: tensorflow 2.20 is a CPU-only build"


def test_framework_all_skips_rather_than_aborts(monkeypatch):
    seen = {"torch": TWO_GPUS, "keras-tf": NO_GPU}
    monkeypatch.setattr(process, "probe_devices", lambda fw: seen[fw])
    monkeypatch.setattr(process, "missing_packages", lambda fw: [])
    pairs, dropped = process.expand_pairs(["torch", "keras-tf"], "cuda", every_framework=True)
    assert pairs == [("torch", "cuda:0")]
    assert [str(d) for d in dropped] == ["keras-tf on cuda: tensorflow 2.20 is a CPU-only build"]
    # Named frameworks: the user asked for that pair, so it stays an error.
    with pytest.raises(UserError, match="keras-tf cannot use cuda"):
        process.expand_pairs(["torch", "keras-tf"], "cuda", every_framework=False)
    # Nothing left at all: one error listing every reason.
    with pytest.raises(UserError, match="nothing to run on cuda: keras-tf on cuda"):
        process.expand_pairs(["keras-tf"], "cuda", every_framework=True)


def test_a_crashing_probe_keeps_the_cpu(monkeypatch):
    process.probe_devices.cache_clear()
    monkeypatch.setattr(process, "run_python", lambda *a, **k: ("", "exited with code 1: boom"))
    try:
        rows = process.probe_devices("torch")
    finally:
        process.probe_devices.cache_clear()
    assert [(d.device, d.available) for d in rows] == [("cpu", True), ("cuda", False)]
    assert rows[1].reason == "the device probe exited with code 1: boom"


def test_jax_environment():
    cpu = child_env("keras-jax", None, "cpu")
    assert cpu["JAX_PLATFORMS"] == "cpu" and cpu["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"
    gpu = child_env("keras-jax", None, "cuda:0")
    assert "JAX_PLATFORMS" not in gpu or gpu["JAX_PLATFORMS"] == process.os.environ.get(
        "JAX_PLATFORMS"
    )
    assert gpu["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"
    assert "XLA_PYTHON_CLIENT_PREALLOCATE" not in child_env("torch", None, "cpu") or (
        process.os.environ.get("XLA_PYTHON_CLIENT_PREALLOCATE")
    )


@pytest.mark.slow
@pytest.mark.skipif(not process.find_spec("jax"), reason="jax is not installed")
def test_jax_cuda_error_is_jaxs_own():
    """Asked for CUDA, a CPU-only JAX says so itself, not 'finds no GPU'."""
    why = process.jax_cuda_error("keras-jax")
    assert why is not None and "cuda" in why.lower()
