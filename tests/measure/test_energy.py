"""Energy counters: RAPL read from a powercap tree (here a fake one), wraparound, and n/a."""

from __future__ import annotations

from pathlib import Path

from dlbench.measure.energy import EnergyMeter, rapl_delta_uj, rapl_zones


def _zone(root: Path, name: str, energy: int, wrap: int = 1000) -> Path:
    z = root / name
    z.mkdir(parents=True)
    (z / "energy_uj").write_text(f"{energy}\n")
    (z / "max_energy_range_uj").write_text(f"{wrap}\n")
    return z


def test_wraparound():
    assert rapl_delta_uj(100, 250, 1000) == 150
    assert rapl_delta_uj(900, 50, 1000) == 150  # wrapped once
    assert rapl_delta_uj(900, 50, 0) == 0  # unknown range: no guess


def test_packages_only_and_unreadable_left_out(tmp_path):
    _zone(tmp_path, "intel-rapl:0", 10)
    _zone(tmp_path, "intel-rapl:0:0", 5)  # a part of package 0: not added again
    bad = _zone(tmp_path, "intel-rapl:1", 10)
    (bad / "energy_uj").write_text("not a number")
    assert [z.name for z in rapl_zones(tmp_path)] == ["intel-rapl:0"]


def test_meter_reads_joules(tmp_path):
    zone = _zone(tmp_path, "intel-rapl:0", 999_000_000, wrap=1_000_000_000)
    meter = EnergyMeter(rapl_root=tmp_path).start()
    (zone / "energy_uj").write_text("1000000\n")  # wrapped: 1,000,000 + 1,000,000 uJ
    out = meter.stop()
    assert out["cpu_energy_j"] == 2.0
    assert out["gpu_energy_j"] is None
    assert out["energy_source"] == "rapl"


def test_nothing_readable_is_none(tmp_path):
    out = EnergyMeter(rapl_root=tmp_path / "absent").start().stop()
    assert out == {"cpu_energy_j": None, "gpu_energy_j": None, "energy_source": None}


def test_nvml_counter_from_a_fake_driver(tmp_path, monkeypatch):
    """NVML's total energy (millijoules) before and after; the GPU found by its UUID."""
    import sys
    import types

    readings = iter([5_000, 12_500])
    fake = types.SimpleNamespace(
        nvmlInit=lambda: None,
        nvmlDeviceGetHandleByUUID=lambda uuid: ("handle", uuid),
        nvmlDeviceGetHandleByIndex=lambda i: ("index", i),
        nvmlDeviceGetTotalEnergyConsumption=lambda handle: next(readings),
    )
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    meter = EnergyMeter(gpu_index=0, gpu_uuid="abc", rapl_root=tmp_path).start()
    assert meter._nvml == ("handle", "GPU-abc")
    out = meter.stop()
    assert out == {"cpu_energy_j": None, "gpu_energy_j": 7.5, "energy_source": "nvml"}


# -- which GPU NVML reads: its order is PCI bus order, CUDA's is not always ---------------------
from dlbench.measure.energy import nvml_index, visible_devices  # noqa: E402

A = "GPU-aaaaaaaa-1111-2222-3333-444444444444"
B = "GPU-bbbbbbbb-1111-2222-3333-444444444444"
SAME = [(A, "NVIDIA H100"), (B, "NVIDIA H100")]
MIXED = [(A, "NVIDIA H100"), (B, "NVIDIA T4")]


def test_uuid_decides():
    assert nvml_index(0, B.removeprefix("GPU-"), SAME) == (1, "")  # torch's uuid has no prefix
    assert nvml_index(0, "GPU-cccc", SAME)[0] is None


def test_cuda_visible_devices_uuid_entries():
    # CUDA_VISIBLE_DEVICES=GPU-bbbb...: the framework's cuda:0 is NVML's GPU 1.
    assert nvml_index(0, None, MIXED, visible=B) == (1, "")
    assert nvml_index(0, None, MIXED, visible="GPU-bbbb") == (1, "")  # a unique prefix
    assert nvml_index(1, None, SAME, visible=f"{B},{A}") == (0, "")
    assert nvml_index(0, None, SAME, visible="1") == (1, "")
    assert nvml_index(1, None, SAME, visible="1")[0] is None  # only one visible
    index, why = nvml_index(0, None, SAME, visible="MIG-1234")
    assert index is None and "MIG" in why
    assert visible_devices("0,2,bogus,1") == ["0", "2"]  # CUDA stops at an invalid entry
    assert visible_devices(None) is None and visible_devices("") == []


def test_cuda_device_order():
    assert nvml_index(1, None, MIXED, order="PCI_BUS_ID") == (1, "")
    index, why = nvml_index(1, None, MIXED)  # FASTEST_FIRST and two models: not guessed
    assert index is None and "CUDA_DEVICE_ORDER=PCI_BUS_ID" in why
    assert nvml_index(1, None, SAME) == (1, "")  # one model: ties keep bus order


def test_window_pauses_for_validation_and_short_windows_flagged(tmp_path):
    zone = _zone(tmp_path, "intel-rapl:0", 0, wrap=10**12)
    meter = EnergyMeter(rapl_root=tmp_path).start()
    (zone / "energy_uj").write_text("1000000\n")  # 1 J of training
    meter.phase("validate")
    (zone / "energy_uj").write_text("5000000\n")  # 4 J of validation: not counted
    meter.phase("train")
    (zone / "energy_uj").write_text("6000000\n")  # 1 J more of training
    assert meter.stop()["cpu_energy_j"] == 2.0
    notes = meter.notes()
    assert notes["energy_window_s"] < 1.0 and "under 1 s" in notes["energy_note"]
