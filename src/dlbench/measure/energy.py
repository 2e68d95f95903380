"""Energy in joules, where the machine tells: NVML on NVIDIA GPUs, RAPL on the CPU.

Never a guess: a counter that cannot be read gives `None` ("n/a" in tables), never an estimate
from a TDP. Both are cumulative counters read before and after the training loop:
- NVML's `nvmlDeviceGetTotalEnergyConsumption` (millijoules since the driver loaded; Volta and
  newer), through `pynvml` (the `nvidia-ml-py` package) when it is installed;
- RAPL's `energy_uj` under /sys/class/powercap/intel-rapl:N (one per CPU package; the sub-zones
  `intel-rapl:N:M` are parts of it and are not added again). The counter wraps at
  `max_energy_range_uj`, which the difference accounts for. Recent kernels make it readable by
  root only; in a container or VM it is usually absent.
RAPL measures the whole package, other processes included: the noise guard says when that
matters.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

POWERCAP = Path("/sys/class/powercap")


def rapl_zones(root: Path = POWERCAP) -> list[Path]:
    """Top-level RAPL package zones whose counter this process can read."""
    zones = []
    for zone in sorted(root.glob("intel-rapl:*")):
        if zone.name.count(":") != 1:  # intel-rapl:0:0 is a part of intel-rapl:0
            continue
        try:
            int((zone / "energy_uj").read_text())
        except (OSError, ValueError):
            continue
        zones.append(zone)
    return zones


def _read_uj(zone: Path) -> tuple[int, int]:
    energy = int((zone / "energy_uj").read_text())
    try:
        wrap = int((zone / "max_energy_range_uj").read_text())
    except (OSError, ValueError):
        wrap = 0
    return energy, wrap


def rapl_delta_uj(before: int, after: int, wrap: int) -> int:
    """Energy between two readings of a counter that wraps at `wrap` (0: unknown)."""
    if after >= before:
        return after - before
    return after + wrap - before if wrap else 0


def _nvml_handle(index: int | None, uuid: str | None):
    """An NVML handle for the run's GPU (by UUID when known: NVML ignores
    CUDA_VISIBLE_DEVICES), or None when NVML is missing."""
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception:  # noqa: BLE001 - no driver: no reading
        return None
    if uuid:
        try:
            return pynvml.nvmlDeviceGetHandleByUUID(
                uuid if uuid.startswith("GPU-") else f"GPU-{uuid}"
            )
        except Exception:  # noqa: BLE001 - a UUID NVML does not know: try the index
            pass
    visible = [v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")]
    index = index or 0
    if index < len(visible) and visible[index].isdigit():
        index = int(visible[index])  # the framework's index counts visible GPUs only
    try:
        return pynvml.nvmlDeviceGetHandleByIndex(index)
    except Exception:  # noqa: BLE001 - no such GPU for NVML
        return None


def _nvml_mj(handle) -> int | None:
    try:
        import pynvml

        return int(pynvml.nvmlDeviceGetTotalEnergyConsumption(handle))
    except Exception:  # noqa: BLE001 - unsupported GPU (before Volta) or driver
        return None


@dataclass
class EnergyMeter:
    """`start()` before the training loop, `stop()` after; joules per source, or None."""

    gpu_index: int | None = None  # the run's GPU, None for a CPU run
    gpu_uuid: str | None = None
    rapl_root: Path = POWERCAP
    _rapl: list[tuple[Path, int, int]] = field(default_factory=list)
    _nvml: object = None
    _nvml_start: int | None = None

    def start(self) -> EnergyMeter:
        for zone in rapl_zones(self.rapl_root):
            try:
                energy, wrap = _read_uj(zone)
            except (OSError, ValueError):
                continue
            self._rapl.append((zone, energy, wrap))
        if self.gpu_index is not None or self.gpu_uuid:
            self._nvml = _nvml_handle(self.gpu_index, self.gpu_uuid)
            self._nvml_start = _nvml_mj(self._nvml) if self._nvml is not None else None
        return self

    def stop(self) -> dict[str, float | str | None]:
        cpu_j = None
        if self._rapl:
            total = 0
            try:
                for zone, before, wrap in self._rapl:
                    after, _ = _read_uj(zone)
                    total += rapl_delta_uj(before, after, wrap)
                cpu_j = total / 1e6
            except (OSError, ValueError):
                cpu_j = None
        gpu_j = None
        if self._nvml is not None and self._nvml_start is not None:
            end = _nvml_mj(self._nvml)
            gpu_j = (end - self._nvml_start) / 1e3 if end is not None else None
        sources = [name for name, v in (("rapl", cpu_j), ("nvml", gpu_j)) if v is not None]
        return {
            "cpu_energy_j": cpu_j,
            "gpu_energy_j": gpu_j,
            "energy_source": "+".join(sources) or None,
        }
