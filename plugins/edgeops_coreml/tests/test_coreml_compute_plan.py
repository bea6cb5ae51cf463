"""Core ML's compute plan, built to the macOS boundary: the walk and the count run here,
MLComputePlan itself (Core ML) only on a Mac."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from edgeops.placement import fell_back
from edgeops_coreml.compute_plan import (
    NotOnMac,
    compute_plan_placement,
    operations,
    placement_from_devices,
)


@pytest.mark.skipif(sys.platform == "darwin", reason="the boundary is what is tested off a Mac")
def test_off_a_mac_the_compute_plan_stops_at_the_boundary_in_one_line(tmp_path: Path):
    with pytest.raises(NotOnMac, match="MLComputePlan runs on macOS only"):
        compute_plan_placement(tmp_path / "m.mlpackage", "cpu_and_ne")
    with pytest.raises(ValueError, match="no Core ML compute unit 'npu'"):
        compute_plan_placement(tmp_path / "m.mlpackage", "npu")


def test_every_op_is_walked_nested_blocks_included():
    # coremltools' own structure classes, as MLComputePlan returns them (no Core ML needed
    # to build them): a conv, a loop whose body holds an add, then a relu.
    from coremltools.models.compute_plan import (
        MLModelStructureProgramBlock as Block,
    )
    from coremltools.models.compute_plan import (
        MLModelStructureProgramFunction as Function,
    )
    from coremltools.models.compute_plan import (
        MLModelStructureProgramOperation as Operation,
    )

    def op(name: str, blocks=()):
        return Operation(
            inputs={}, operator_name=name, outputs=[], blocks=list(blocks), __proxy__=None
        )

    body = Block(inputs=[], operations=[op("add")], output_names=[])
    main = Block(
        inputs=[], operations=[op("conv"), op("while_loop", [body]), op("relu")], output_names=[]
    )
    names = sorted(o.operator_name for o in operations([Function(inputs=[], block=main)]))
    assert names == ["add", "conv", "relu", "while_loop"]


def test_ops_the_neural_engine_leaves_to_the_cpu_make_it_fall_back():
    devices = ["MLNeuralEngineComputeDevice"] * 5 + ["MLCPUComputeDevice"] * 3 + [
        "MLNeuralEngineComputeDevice"
    ] * 2  # fmt: skip
    placement = placement_from_devices(devices, "NeuralEngine")
    assert {u.unit: u.nodes for u in placement.units} == {"NeuralEngine": 7, "CPU": 3}
    assert placement.partitions == 2 and placement.where == "host"
    assert fell_back(placement, 0.9) == "fell back: 3 of 10 nodes on CPU, 2 partitions"
    assert (
        fell_back(placement_from_devices(["MLNeuralEngineComputeDevice"] * 4, "NeuralEngine"), 0.9)
        is None
    )
