"""Energy in joules, where the machine tells: NVML on NVIDIA GPUs, RAPL on the CPU.

Never a guess: a counter that cannot be read gives `None` ("n/a" in tables), never an estimate
from a TDP. Both are cumulative counters read around the training steps (validation, which the trainers
run between epochs, is paused out of the window):
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
import time
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


def _bare_uuid(uuid: str) -> str:
    return uuid.lower().removeprefix("gpu-")


def visible_devices(value: str | None) -> list[str] | None:
    """CUDA_VISIBLE_DEVICES as CUDA reads it: None when unset (every GPU), else its entries up
    to the first invalid one (CUDA ignores the rest): indices, GPU-<uuid> (or a unique prefix
    of one), MIG-<uuid>."""
    if value is None:
        return None
    out = []
    for entry in (e.strip() for e in value.split(",")):
        if not (entry.isdigit() or entry.lower().startswith(("gpu-", "mig-"))):
            break
        out.append(entry)
    return out


def nvml_index(
    index: int | None,
    uuid: str | None,
    gpus: list[tuple[str, str]],
    visible: str | None = None,
    order: str | None = None,
) -> tuple[int | None, str]:
    """The NVML index of the run's GPU, or (None, why not).

    `index` is the framework's (it counts visible GPUs only, in CUDA's order); `uuid` the
    framework's UUID of it, when it tells (torch does; JAX and TensorFlow do not); `gpus` is
    NVML's (uuid, name) per GPU, in NVML's order, which is PCI bus order and ignores
    CUDA_VISIBLE_DEVICES (`visible`) and CUDA_DEVICE_ORDER (`order`). A UUID decides when
    there is one; an index is mapped through CUDA_VISIBLE_DEVICES, whose entries may be
    UUIDs, and through CUDA's order: PCI_BUS_ID is NVML's; FASTEST_FIRST (CUDA's default)
    puts the fastest GPU first, which is NVML's order only when every GPU is the same model
    (ties keep bus order), and otherwise the GPU is not guessed."""
    uuids = [_bare_uuid(u) for u, _ in gpus]

    def by_uuid(u: str) -> tuple[int | None, str]:
        if u.lower().startswith("mig-"):
            return None, f"{u} is a MIG instance: NVML gives no energy for one"
        hits = [i for i, known in enumerate(uuids) if known.startswith(_bare_uuid(u))]
        if len(hits) == 1:
            return hits[0], ""
        return None, f"NVML knows no single GPU with UUID {u}"

    if uuid:
        return by_uuid(uuid)
    index = index or 0
    entries = visible_devices(visible)
    if entries is not None:
        if index >= len(entries):
            return None, f"cuda:{index} is not in CUDA_VISIBLE_DEVICES={visible}"
        entry = entries[index]
        if not entry.isdigit():
            return by_uuid(entry)
        index = int(entry)
    if index >= len(gpus):
        return None, f"NVML sees {len(gpus)} GPU(s), not CUDA's device {index}"
    if (order or "FASTEST_FIRST") != "PCI_BUS_ID" and len({n for _, n in gpus}) > 1:
        return None, (
            "the GPUs differ and CUDA_DEVICE_ORDER is FASTEST_FIRST, so CUDA's index is not "
            "NVML's: set CUDA_DEVICE_ORDER=PCI_BUS_ID"
        )
    return index, ""


def _nvml_handle(index: int | None, uuid: str | None):
    """An NVML handle for the run's GPU (see `nvml_index`), or None when NVML is missing or
    the GPU cannot be told apart."""
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception:  # noqa: BLE001 - no driver: no reading
        return None
    if uuid and not uuid.lower().startswith("mig-"):
        try:  # the framework's own UUID (torch's): NVML finds it directly
            return pynvml.nvmlDeviceGetHandleByUUID(
                uuid if uuid.startswith("GPU-") else f"GPU-{uuid}"
            )
        except Exception:  # noqa: BLE001 - a UUID NVML does not know: no reading
            return None
    try:
        gpus = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            gpus.append((_text(pynvml.nvmlDeviceGetUUID(h)), _text(pynvml.nvmlDeviceGetName(h))))
        found, _ = nvml_index(
            index,
            uuid,
            gpus,
            os.environ.get("CUDA_VISIBLE_DEVICES"),
            os.environ.get("CUDA_DEVICE_ORDER"),
        )
        return None if found is None else pynvml.nvmlDeviceGetHandleByIndex(found)
    except Exception:  # noqa: BLE001 - no driver, or no such GPU for NVML: no reading
        return None


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _nvml_mj(handle) -> int | None:
    try:
        import pynvml

        return int(pynvml.nvmlDeviceGetTotalEnergyConsumption(handle))
    except Exception:  # noqa: BLE001 - unsupported GPU (before Volta) or driver
        return None


SHORT_WINDOW_S = 1.0  # NVML's energy counter updates coarsely: shorter windows read low or 0


@dataclass
class EnergyMeter:
    """`start()` before the training loop, `stop()` after; joules per source, or None.

    `phase("validate")` pauses the window and `phase("train")` resumes it: the trainers call
    it at the synchronised clock reads around validation, so the energy is that of training."""

    gpu_index: int | None = None  # the run's GPU, None for a CPU run
    gpu_uuid: str | None = None
    rapl_root: Path = POWERCAP
    _rapl: list[tuple[Path, int, int]] = field(default_factory=list)
    _nvml: object = None
    _nvml_start: int | None = None
    _rapl_uj: int = 0  # energy of the windows closed so far
    _nvml_mj: int = 0
    _window_s: float = 0.0
    _since: float | None = None  # perf_counter of the open window's start; None: paused
    _broken: set[str] = field(default_factory=set)  # sources that failed a read
    _read_any: bool = False  # stop() read a counter: only then is a short window worth a note

    def start(self) -> EnergyMeter:
        if self.gpu_index is not None or self.gpu_uuid:
            self._nvml = _nvml_handle(self.gpu_index, self.gpu_uuid)
        self._open()
        return self

    def _open(self) -> None:
        self._rapl = []
        for zone in rapl_zones(self.rapl_root):
            try:
                energy, wrap = _read_uj(zone)
            except (OSError, ValueError):
                continue
            self._rapl.append((zone, energy, wrap))
        self._nvml_start = _nvml_mj(self._nvml) if self._nvml is not None else None
        self._since = time.perf_counter()

    def _close(self) -> None:
        if self._since is None:
            return
        self._window_s += time.perf_counter() - self._since
        self._since = None
        try:
            for zone, before, wrap in self._rapl:
                after, _ = _read_uj(zone)
                self._rapl_uj += rapl_delta_uj(before, after, wrap)
        except (OSError, ValueError):
            self._broken.add("rapl")
        if self._nvml is not None and self._nvml_start is not None:
            end = _nvml_mj(self._nvml)
            if end is None:
                self._broken.add("nvml")
            else:
                self._nvml_mj += end - self._nvml_start

    def phase(self, name: str) -> None:
        """`train`: the window runs; anything else (`validate`): it pauses."""
        if name == "train" and self._since is None:
            self._open()
        elif name != "train":
            self._close()

    def stop(self) -> dict[str, float | str | None]:
        self._close()
        cpu_j = self._rapl_uj / 1e6 if self._rapl and "rapl" not in self._broken else None
        gpu_j = None
        if self._nvml is not None and self._nvml_start is not None and "nvml" not in self._broken:
            gpu_j = self._nvml_mj / 1e3
        sources = [name for name, v in (("rapl", cpu_j), ("nvml", gpu_j)) if v is not None]
        self._read_any = bool(sources)
        return {
            "cpu_energy_j": cpu_j,
            "gpu_energy_j": gpu_j,
            "energy_source": "+".join(sources) or None,
        }

    def notes(self) -> dict[str, float | str]:
        """The window's length and, when it is under a second, why its joules are doubtful
        (stored in the run's options)."""
        out: dict[str, float | str] = {"energy_window_s": round(self._window_s, 4)}
        if self._read_any and self._window_s < SHORT_WINDOW_S:
            out["energy_note"] = (
                f"the energy window is {self._window_s:.2g} s, under {SHORT_WINDOW_S:g} s: "
                "the counters update coarsely and may read low or 0; train longer"
            )
        return out
