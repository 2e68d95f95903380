"""The report's "Machines compared": the same runs on each kind of machine, side by side.

A machine is a kind of hardware (store/machines.py: CPU model and cores, GPUs), read from
each run's stored fingerprint, so runs from a Ray cluster's nodes and runs merged from other
databases (`dlbench merge`) group alike. Per model, dataset, framework and device, each
machine's time gets its centre and 95% interval over repeats and its speedup against a
baseline machine (report/comparison.py, `compare --by machine`); the fairness rules name every
other setting that differs between the machines' runs. With one kind of machine there is
nothing to compare: the section is left out, or says so for a cluster's runs.
"""

from __future__ import annotations

from dlbench.store.db import RunRow


def _metric(rows: list[RunRow]) -> str:
    """The steady epoch time where there is one (two or more epochs), else the training time."""
    if any(r["steady_epoch_s"] is not None for r in rows if r["status"] == "finished"):
        return "steady_epoch_s"
    return "train_s"


def machines_compared(rows: list[RunRow]) -> list:
    """[the section], or [] when the runs come from one kind of machine."""
    from dlbench.report import comparison
    from dlbench.report.fairness import fairness_warnings
    from dlbench.report.html import Section, Table
    from dlbench.store.machines import machine_label

    finished = [r for r in rows if r["status"] == "finished"]
    machines = sorted({machine_label(r["fingerprint"]) for r in finished})
    nodes = {((r["fingerprint"] or {}).get("node") or {}).get("ray_node_id") for r in finished}
    nodes.discard(None)
    if len(machines) < 2 and not nodes:
        return []
    s = Section("machines", "Machines compared")
    if len(machines) < 2:
        s.note(
            f"all {len(finished)} finished run(s) ran on one kind of machine ({len(nodes)} "
            f"nodes of a Ray cluster: {machines[0] if machines else 'unknown'}): nothing to "
            "compare; add nodes of another kind, or `dlbench merge` another machine's database"
        )
        return [s]
    metric = _metric(finished)
    comp = comparison.compare(finished, "machine", metric=metric)
    groups = [g for g in comp.groups if len(g.entries) >= 2]
    s.p(
        f"{len(machines)} kinds of machine (grouped by hardware: CPU model and cores, GPUs; "
        f"the hostname does not count). Speedup = baseline {metric} / this machine's: above 1, "
        "faster than the baseline (the first machine of each group unless `compare --by "
        "machine --baseline` says otherwise). The 95% interval is over repeats."
    )
    if not groups:
        s.note(
            "no configuration ran on two machines: run the same suite on each "
            "(`--executor ray --nodes all`, or `dlbench merge` another machine's database)"
        )
    else:
        view = comparison.Comparison(comp.by, comp.metric, comp.centre, groups, [], comp.rows)
        head = comparison.headers(view)
        s.table(
            Table(head, comparison.text_rows(view), [i not in (0, 1, 9) for i in range(len(head))])
        )
    for line in comp.notes:
        s.note(line)
    for w in fairness_warnings(finished, "machine") or []:
        s.warn(str(getattr(w, "message", w)))
    s.kv([("machines", "; ".join(machines))])
    return [s]
