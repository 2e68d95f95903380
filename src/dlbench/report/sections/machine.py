"""The machines and libraries the runs used: the fingerprint, once per machine, and per run."""

from __future__ import annotations

import json

from dlbench.report.page import (
    Section,
    Table,
)
from dlbench.store.db import RunRow

_MACHINE_KEYS = ("cpu", "cpu_count", "machine", "os", "python", "hostname", "dlbench", "git_commit")


def machine_section(rows: list[RunRow]) -> Section:
    s = Section("machine", "Machine")
    seen: dict[str, list[int]] = {}
    prints: dict[str, dict] = {}
    for r in rows:
        fp = r["fingerprint"] or {}
        common = {
            k: v for k, v in fp.items() if k not in ("framework_versions", "device", "threads")
        }
        key = json.dumps(common, sort_keys=True, default=str)
        seen.setdefault(key, []).append(r.id)
        prints[key] = common
    if not seen:
        s.note("no fingerprint stored")
        return s
    for key, ids in seen.items():
        fp = prints[key]
        items = [(k, str(fp[k])) for k in _MACHINE_KEYS if fp.get(k) is not None]
        libs = fp.get("libraries") or {}
        if libs:
            items.append(("libraries", ", ".join(f"{k} {v}" for k, v in sorted(libs.items()))))
        items += [
            (k, json.dumps(v, default=str) if isinstance(v, (dict, list)) else str(v))
            for k, v in sorted(fp.items())
            if k not in _MACHINE_KEYS and k != "libraries" and v is not None
        ]
        items.insert(0, ("runs", _id_ranges(ids)))
        s.kv(items)
    per_run = []
    for r in rows:
        fp = r["fingerprint"] or {}
        versions = fp.get("framework_versions") or {}
        device = fp.get("device") or {}
        options = r["options"] or {}
        per_run.append(
            [
                str(r.id),
                str(r["framework"]),
                str(r["device"]),
                str(device.get("name") or options.get("device_name") or ""),
                ", ".join(f"{k} {v}" for k, v in sorted(versions.items())),
                str(fp.get("threads") or options.get("threads") or ""),
                ", ".join(f"{k}={v}" for k, v in sorted(options.items()) if k != "device_name"),
            ]
        )
    s.table(
        Table(
            ["run", "framework", "device", "device name", "versions", "threads", "options"],
            per_run,
            [True, False, False, False, False, True, False],
        )
    )
    return s


def _id_ranges(ids: list[int]) -> str:
    """1,2,3,5 -> "1-3,5"."""
    ids = sorted(set(ids))
    parts: list[str] = []
    start = prev = ids[0]
    for cur in [*ids[1:], None]:
        if cur is not None and cur == prev + 1:
            prev = cur
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if cur is not None:
            start = prev = cur
    return ",".join(parts)
