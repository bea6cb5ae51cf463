"""Whether a measurement's graph ran where its compute unit promised.

A delegate that takes 37 of 66 nodes still "loads" and still reports a latency:
the rest ran on the CPU, in 5 partitions with a copy at each border. Such a
variant is not the accelerator's: it keeps no claim on the accelerator's
``requires`` and is reported as having fallen back (``fell_back``).
"""

from __future__ import annotations

from edgeops.models import Placement

# Runtimes' names for the plain CPU: what is not the accelerator.
CPU_NAMES = frozenset({"cpu", "cpuexecutionprovider", "tflite cpu", "builtin"})


def is_cpu(unit: str) -> bool:
    # XNNPACK is TFLite's CPU delegate: a node it runs ran on the CPU.
    return unit.lower() in CPU_NAMES or "xnnpack" in unit.lower()


def fell_back(placement: Placement | None, min_share: float) -> str | None:
    """'fell back: 37 of 66 nodes on CPU, 5 partitions' when under ``min_share`` of the
    work (time where known, nodes otherwise) ran on the accelerator; None otherwise,
    and for a CPU measurement or one with no placement (nothing to judge)."""
    if placement is None or placement.accelerator is None or is_cpu(placement.accelerator):
        return None
    share = placement.share()
    if share is None or share >= min_share:
        return None
    total = placement.graph_nodes
    on_accelerator = sum(u.nodes for u in placement.units if u.unit == placement.accelerator)
    others = [u.unit for u in placement.units if u.unit != placement.accelerator and u.nodes]
    # "on CPU" only where the runtime said so: a node with no provider named is not one.
    where = "on CPU" if all(is_cpu(u) for u in others) else f"not on {placement.accelerator}"
    if total is not None:
        text = f"fell back: {total - on_accelerator} of {total} nodes {where}"
    else:
        text = f"fell back: {on_accelerator} nodes on {placement.accelerator}, the rest {where}"
    if all(u.time_ms is not None for u in placement.units):
        text += f" ({(1.0 - share) * 100.0:.0f}% of the time off {placement.accelerator})"
    if placement.partitions is not None:
        text += f", {placement.partitions} partition{'s' if placement.partitions != 1 else ''}"
    return text
