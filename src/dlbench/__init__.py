"""dlbench: the same network, the same data, every framework and device, measured honestly."""

__version__ = "0.1.0"
