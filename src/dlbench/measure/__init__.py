"""Clocks, memory, energy, load, work and the machine's fingerprint. Imports no framework."""

from dlbench.measure.clock import SyncClock
from dlbench.measure.fingerprint import machine_fingerprint
from dlbench.measure.memory import peak_rss_bytes

__all__ = ["SyncClock", "machine_fingerprint", "peak_rss_bytes"]
