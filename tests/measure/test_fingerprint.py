"""The fingerprint: the CUDA wheels and plugins, the environment that steers GPUs, and NVML's
state of each GPU (from a fake NVML module: no GPU here)."""

from __future__ import annotations

import sys
import types

import pytest

from dlbench.measure import fingerprint
from dlbench.measure.fingerprint import LIBRARIES, nvml_gpus, run_context, run_environment

UUID_A = "GPU-aaaaaaaa-0000-0000-0000-000000000000"
UUID_B = "GPU-bbbbbbbb-0000-0000-0000-000000000000"


def test_libraries_name_the_gpu_packages():
    for name in ("jax-cuda12-plugin", "jax-cuda13-plugin", "jax-cuda12-pjrt", "triton"):
        assert name in LIBRARIES
    versions = fingerprint.library_versions()
    assert versions["numpy"]  # installed here
    assert all(isinstance(v, str) for v in versions.values())


def test_cuda_wheels_found_by_prefix_with_their_versions(tmp_path, monkeypatch):
    # Installed as pip installs them: a .dist-info folder named with underscores.
    for name, version in (("nvidia_cublas_cu12", "12.8.4.1"), ("jax_cuda12_plugin", "0.7.1")):
        info = tmp_path / f"{name}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {name.replace('_', '-')}\nVersion: {version}\n"
        )
    monkeypatch.syspath_prepend(str(tmp_path))
    versions = fingerprint.library_versions()
    assert versions["nvidia-cublas-cu12"] == "12.8.4.1"
    assert versions["jax-cuda12-plugin"] == "0.7.1"


def test_environment_recorded():
    env = {
        "CUDA_VISIBLE_DEVICES": UUID_B,
        "XLA_FLAGS": "--xla_gpu_autotune_level=0",
        "XLA_PYTHON_CLIENT_PREALLOCATE": "false",
        "XLA_PYTHON_CLIENT_MEM_FRACTION": ".5",
        "HOME": "/root",
    }
    assert run_environment(env) == {k: v for k, v in env.items() if k != "HOME"}


@pytest.fixture
def fake_nvml(monkeypatch):
    """Two GPUs of one model, as NVML would tell them."""

    class NotSupported(Exception):
        pass

    def unsupported(*_):
        raise NotSupported

    handles = {0: ("h", 0), 1: ("h", 1)}
    fake = types.SimpleNamespace(
        NVML_CLOCK_SM=1,
        NVML_CLOCK_MEM=2,
        nvmlInit=lambda: None,
        nvmlDeviceGetCount=lambda: 2,
        nvmlDeviceGetHandleByIndex=lambda i: handles[i],
        nvmlDeviceGetName=lambda h: b"NVIDIA H200",
        nvmlDeviceGetUUID=lambda h: (UUID_A, UUID_B)[h[1]],
        nvmlDeviceGetPciInfo=lambda h: types.SimpleNamespace(busId=f"0000:0{h[1]}:00.0"),
        nvmlDeviceGetMemoryInfo=lambda h: types.SimpleNamespace(total=141 * 2**30),
        nvmlDeviceGetEnforcedPowerLimit=lambda h: 700_000,
        nvmlDeviceGetClockInfo=lambda h, c: 1980 if c == 1 else 2619,
        nvmlDeviceGetMaxClockInfo=lambda h, c: 1980 if c == 1 else 3201,
        nvmlDeviceGetMigMode=lambda h: (0, 0),
        nvmlDeviceGetEccMode=unsupported,  # a query the GPU refuses: None, not a failure
        nvmlDeviceGetPersistenceMode=lambda h: 1,
        nvmlSystemGetDriverVersion=lambda: "575.51.03",
        nvmlSystemGetCudaDriverVersion_v2=lambda: 12090,
    )
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    return fake


def test_nvml_state_per_gpu(fake_nvml):
    gpus = nvml_gpus()
    assert [g["uuid"] for g in gpus] == [UUID_A, UUID_B]
    g = gpus[1]
    assert g["name"] == "NVIDIA H200" and g["power_limit_w"] == 700.0
    assert g["sm_clock_max_mhz"] == 1980 and g["mem_clock_max_mhz"] == 3201
    assert g["mig_mode"] == 0 and g["ecc_mode"] is None and g["pci_bus_id"] == "0000:01:00.0"
    assert fingerprint.nvidia_cuda_driver() == "12.9"


def test_run_context_finds_the_gpu_a_keras_run_used(fake_nvml, monkeypatch):
    """Keras on JAX gives no UUID: CUDA_VISIBLE_DEVICES=<uuid of GPU 1> makes its cuda:0 NVML's
    GPU 1, whose UUID is then recorded (and read by the energy meter)."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", UUID_B)
    out = run_context({"device": "cuda:0", "keras_backend": "jax"})
    assert out["gpu_uuid"] == UUID_B and out["nvml"]["index"] == 1
    assert out["environment"]["CUDA_VISIBLE_DEVICES"] == UUID_B
    assert out["nvidia_driver"] == "575.51.03" and out["nvidia_cuda_driver"] == "12.9"
    cpu = run_context({"device": "cpu"})
    assert set(cpu) == {"environment"}
