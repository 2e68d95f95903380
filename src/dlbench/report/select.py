"""Which stored runs a report, an export or a comparison covers (`--runs`).

`--runs` takes run ids and ranges (`1,4-6`), `field=value` conditions (`model=a-mlp,device=cpu`)
or both. Conditions on one field are alternatives (`framework=torch,framework=keras-tf`);
conditions on different fields must all hold; ids, when given, must hold too. A value may use
shell wildcards (`model=b-cnn-*`). Fields are the stored columns (model, dataset, framework,
device, status, ...) and the run spec's keys (lr, normalize, batch_size, ...), looked up as
`compare` does (report/stats.py `spec_field`).
"""

from __future__ import annotations

import re
from collections import defaultdict
from fnmatch import fnmatchcase
from typing import Any

from dlbench.errors import UserError
from dlbench.report.stats import spec_field
from dlbench.store.db import RUN_COLUMNS, RunRow

_RANGE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")


def parse_filter(text: str | None) -> tuple[set[int] | None, dict[str, list[str]]]:
    """(run ids or None, {field: accepted values}) from a --runs string."""
    if not text or not text.strip():
        return None, {}
    ids: set[int] | None = None
    fields: dict[str, list[str]] = defaultdict(list)
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        m = _RANGE.match(part)
        if m:
            lo = int(m.group(1))
            hi = int(m.group(2)) if m.group(2) else lo
            if hi < lo:
                raise UserError(f"--runs: range {part!r} runs backwards; write {hi}-{lo}")
            ids = (ids or set()) | set(range(lo, hi + 1))
            continue
        key, eq, value = part.partition("=")
        if not eq or not key.strip():
            raise UserError(
                f"--runs: {part!r} is neither a run id (4 or 4-6) nor field=value "
                "(e.g. model=a-mlp,device=cpu)"
            )
        fields[key.strip()].append(value.strip())
    return ids, dict(fields)


def _known_fields(rows: list[RunRow]) -> set[str]:
    known = {"id", *RUN_COLUMNS}
    for r in rows:
        known.update(r.spec)
    return known


def _matches(value: Any, pattern: str) -> bool:
    if value is None:
        return pattern.lower() in ("", "none", "null")
    text = str(value)
    if fnmatchcase(text, pattern):
        return True
    try:  # 0.001 and 1e-3 are the same learning rate
        return float(text) == float(pattern)
    except ValueError:
        return False


def select_runs(rows: list[RunRow], text: str | None) -> list[RunRow]:
    """The rows a --runs filter keeps, in their stored order; UserError on an unknown field."""
    ids, fields = parse_filter(text)
    known = _known_fields(rows)
    for key in fields:
        if key not in known:
            raise UserError(
                f"--runs: unknown field {key!r}; use one of "
                f"{', '.join(sorted(k for k in known if not k.endswith('_json')))}"
            )
    out = []
    for r in rows:
        if ids is not None and r.id not in ids:
            continue
        if all(any(_matches(spec_field(r, k), v) for v in vals) for k, vals in fields.items()):
            out.append(r)
    return out
