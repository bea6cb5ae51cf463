"""Where Core ML would run each op of an ML program: coremltools' ``MLComputePlan``.

``MLComputePlan`` (coremltools >= 8, macOS 14.4+) asks Core ML for each operation's
preferred compute device (CPU, GPU or Neural Engine) under the compute units a
model is loaded with. It is the closest thing Apple offers to a placement: the
device Core ML *plans* for, read on the Mac host, not a trace of a run on a phone
(Apple's forum: "We can't find any API that reports where a function actually
ran"). It exists only on macOS: on any other system ``compute_plan_placement``
stops at that boundary with a one-line reason. What runs here is the walk over the
program's operations and the count per device.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from edgeops import Placement, UnitShare

# The coremltools compute units each edgeops unit loads with, and the device it promises.
UNITS = {
    "cpu_only": ("CPU_ONLY", "CPU"),
    "cpu_and_gpu": ("CPU_AND_GPU", "GPU"),
    "cpu_and_ne": ("CPU_AND_NE", "NeuralEngine"),
    "all": ("ALL", "NeuralEngine"),
}
# coremltools.models.compute_device's classes, by the device each stands for.
DEVICES = {
    "MLCPUComputeDevice": "CPU",
    "MLGPUComputeDevice": "GPU",
    "MLNeuralEngineComputeDevice": "NeuralEngine",
}
SOURCE = "Core ML compute plan (MLComputePlan: each op's preferred device, as planned)"


class NotOnMac(RuntimeError):
    """MLComputePlan asks Core ML itself, which only macOS has."""


def compute_plan_placement(model_path: Path, compute_unit: str) -> Placement:
    """The planned placement of ``model_path`` (.mlpackage or compiled .mlmodelc) under
    ``compute_unit``; NotOnMac on any system but macOS."""
    if compute_unit not in UNITS:
        raise ValueError(f"no Core ML compute unit {compute_unit!r}; use one of {sorted(UNITS)}")
    if sys.platform != "darwin":
        raise NotOnMac(
            f"MLComputePlan runs on macOS only (this is {sys.platform}): read the placement "
            "of a Core ML variant on the Mac host"
        )
    import coremltools as ct
    from coremltools.models.compute_plan import MLComputePlan

    units, promised = UNITS[compute_unit]
    plan = MLComputePlan.load_from_path(
        path=str(model_path), compute_units=getattr(ct.ComputeUnit, units)
    )
    program = plan.model_structure.program
    if program is None:
        raise ValueError(f"{model_path.name} is not an ML program: MLComputePlan has no ops")
    devices = []
    for op in operations(program.functions.values()):
        usage = plan.get_compute_device_usage_for_mlprogram_operation(op)
        # Constants have no device: they are no work for any unit.
        if usage is not None:
            devices.append(type(usage.preferred_compute_device).__name__)
    return placement_from_devices(devices, promised)


def operations(functions: Iterable[Any]) -> Iterator[Any]:
    """Every operation of the program's functions, nested blocks (loops, conds) included."""
    stack = [f.block for f in functions]
    while stack:
        block = stack.pop()
        for op in block.operations:
            yield op
            stack.extend(op.blocks)


def placement_from_devices(devices: list[str], promised: str) -> Placement:
    """Ops per device from the class names of their preferred devices."""
    counts: dict[str, int] = {}
    for name in devices:
        unit = DEVICES.get(name, name)
        counts[unit] = counts.get(unit, 0) + 1
    return Placement(
        units=tuple(UnitShare(unit=unit, nodes=n) for unit, n in counts.items()),
        graph_nodes=len(devices),
        accelerator=promised,
        partitions=_runs(devices, promised),
        source=SOURCE,
        where="host",
    )


def _runs(devices: list[str], promised: str) -> int:
    names = [DEVICES.get(d, d) for d in devices]
    return sum(1 for k, u in enumerate(names) if u == promised and (k == 0 or names[k - 1] != u))
