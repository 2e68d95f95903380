"""Machines as a dimension: which stored fingerprints are the same kind of machine.

Two nodes are the same kind of machine when their hardware is the same (CPU model and cores,
GPU count and model, architecture), whatever their hostnames: a cluster of identical nodes is
one machine to compare, and a laptop and a Colab GPU are two. The key and the label are read
from a stored fingerprint, so runs merged from other databases group the same way.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

# What makes two machines the same kind, from a fingerprint (measure/fingerprint.py plus the
# node details a Ray run adds under "node").
_HARDWARE_KEYS = ("cpu", "cpu_count", "physical_cores", "machine")


def hardware(fp: dict[str, Any] | None) -> dict[str, Any]:
    fp = fp or {}
    node = fp.get("node") or {}
    out = {k: fp.get(k) for k in _HARDWARE_KEYS}
    out["gpus"] = node.get("gpus") or 0
    out["accelerator"] = node.get("accelerator")
    return out


def machine_key(fp: dict[str, Any] | None) -> str:
    """A short stable id of the fingerprint's hardware."""
    text = json.dumps(hardware(fp), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def machine_label(fp: dict[str, Any] | None) -> str:
    """What a person reads: "Intel Xeon ... (2 cores)", with the GPUs when there are any."""
    hw = hardware(fp)
    if not any(hw.get(k) for k in _HARDWARE_KEYS):
        return "unknown machine"
    cores = hw.get("physical_cores") or hw.get("cpu_count")
    label = f"{hw.get('cpu') or hw.get('machine') or 'cpu'}" + (
        f" ({cores} cores)" if cores else ""
    )
    if hw["gpus"]:
        label += f" + {hw['gpus']}x {hw['accelerator'] or 'GPU'}"
    return f"{label} [{machine_key(fp)}]"


def match_label(labels: list[str], text: str) -> str:
    """The one label that is `text`, ends in its key `[text]`, or contains it; else `text`
    as given (the caller says no run has it)."""
    unique = sorted(set(labels))
    for test in (
        lambda lab: lab == text,
        lambda lab: lab.endswith(f"[{text}]"),
        lambda lab: text.lower() in lab.lower(),
    ):
        found = [lab for lab in unique if test(lab)]
        if len(found) == 1:
            return found[0]
    return text
