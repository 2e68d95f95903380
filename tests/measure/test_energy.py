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
