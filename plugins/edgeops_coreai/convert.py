"""Sources → Core AI ``.aimodel``: PyTorch factories, and ONNX through onnx2torch.

The route (coreai_torch/converter.py, ``TorchConverter.add_pytorch_module``): the
module is exported with ``torch.export`` and decomposed with coreai-torch's own
table, then ``to_coreai()`` gives an optimized ``AIProgram`` and ``save_asset``
writes the ``.aimodel`` folder (main.mlirb, main.hash, metadata.json). ONNX takes
the route the Core ML backend takes (edgeops/torch_sources.py): onnx2torch after
converting the graph to opset 17 (conversion-notes.md), then the same export.

Compression happens on the torch side (coreai-opt) before conversion, so every
variant is rebuilt from the source: the spec is kept beside the base asset
(``coreai.json``), as the Core ML backend keeps its own.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from edgeops.plugin import (
    BuildInfo,
    InputSpec,
    ModelError,
    ModelSpec,
    quiet,
    torch_sources,
)

from .sdk import NOISY_LOGGERS, coreai_opt, coreai_torch, short

ASSET_NAME = "model.aimodel"
# What the base conversion was made from, beside it: recipes rebuild from its spec.
BUILD_INFO = BuildInfo("coreai.json")


# --------------------------------------------------------------------------- torch side


def load_module(spec: ModelSpec) -> tuple[Any, tuple[InputSpec, ...]]:
    """A fresh fp32 torch module of the source, in eval mode, and its inputs.

    Fresh on every call: coreai-opt's compressors change the module they are given.
    """
    return torch_sources.torch_source(spec, "Core AI", _onnx_as_torch)


@functools.lru_cache(maxsize=2)
def _factory_state(spec: ModelSpec) -> tuple[Any, tuple[InputSpec, ...]]:
    return load_module(spec)


def fresh_module(spec: ModelSpec) -> tuple[Any, tuple[InputSpec, ...]]:
    """A deep copy of the source module, loaded once per process (a factory may train)."""
    import copy

    net, inputs = _factory_state(spec)
    return copy.deepcopy(net), inputs


def _onnx_as_torch(path: Path, inputs: tuple[InputSpec, ...]) -> tuple[Any, tuple[InputSpec, ...]]:
    import onnx

    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
    except Exception as exc:
        raise ModelError(f"{path} is not a valid ONNX model ({short(exc)}); re-export it") from exc
    model = _folded(torch_sources.at_onnx2torch_opset(model, path), path)
    net = torch_sources.onnx2torch_module(model, path)
    inputs = inputs or _graph_inputs(model)
    return _static_reshapes(net, inputs).eval(), inputs


def _static_reshapes(net: Any, inputs: tuple[InputSpec, ...]) -> Any:
    """onnx2torch's graph with every Reshape to a constant shape made a static reshape.

    onnx2torch's ``OnnxReshape`` takes its shape as a tensor and tests it with
    ``torch.any(shape == 0)``, a data-dependent branch ``torch.export`` refuses
    (``GuardOnDataDependentSymNode``, ultraface-slim-320) even when the shape is an
    initializer. With the shapes known from one propagation, those become plain
    ``torch.reshape`` calls with a tuple (ONNX's 0 = "copy this input dimension").
    """
    import torch
    from torch.fx.passes.shape_prop import ShapeProp

    if not isinstance(net, torch.fx.GraphModule):
        return net
    with quiet(*NOISY_LOGGERS), torch.no_grad():
        ShapeProp(net).propagate(*torch_sources.example_args(inputs))
    changed = False
    for node in list(net.graph.nodes):
        kind = type(net.get_submodule(node.target)).__name__ if node.op == "call_module" else ""
        if kind == "OnnxSlice" and all(getattr(a, "op", None) == "get_attr" for a in node.args[1:]):
            constants = [_attr(net, a.target).detach().cpu() for a in node.args[1:]]
            net.add_submodule(node.target, _StaticSlice(*constants))
            node.args = (node.args[0],)
            changed = True
            continue
        if kind != "OnnxReshape":
            continue
        source, shape_node = node.args[0], node.args[1]
        if getattr(shape_node, "op", None) != "get_attr" or "tensor_meta" not in source.meta:
            continue
        wanted = [int(d) for d in _attr(net, shape_node.target).tolist()]
        given = source.meta["tensor_meta"].shape
        static = tuple(int(given[i]) if d == 0 else d for i, d in enumerate(wanted))
        with net.graph.inserting_after(node):
            replacement = net.graph.call_function(torch.reshape, (source, static))
        node.replace_all_uses_with(replacement)
        net.graph.erase_node(node)
        changed = True
    if changed:
        net.graph.eliminate_dead_code()
        net.recompile()
    return net


def _StaticSlice(*constants: Any) -> Any:  # noqa: N802 (a module class made on demand)
    """onnx2torch's Slice with its starts, ends, axes and steps fixed at conversion."""
    from onnx2torch.node_converters.slice import _do_slice, _get_slices
    from torch import nn

    starts, ends, axes, steps = (list(constants) + [None, None])[:4]

    class StaticSlice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            # Computed once here, from real tensors: plain Python slices afterwards.
            self.slices = _get_slices(starts.numpy(), ends.numpy(), axes, steps)

        def forward(self, x: Any) -> Any:
            return _do_slice(x, *self.slices)

    return StaticSlice()


def _attr(module: Any, target: str) -> Any:
    for part in target.split("."):
        module = getattr(module, part)
    return module


def _folded(model: Any, path: Path) -> Any:
    """The graph with its shape arithmetic folded into constants (onnxsim).

    Exporters write ``Shape → Gather → Concat → Reshape`` chains; onnx2torch keeps
    them as tensor ops ending in ``.item()``, which ``torch.export`` rejects as a
    data-dependent guard (ultraface-slim-320: ``GuardOnDataDependentSymNode`` on
    ``Eq(u2, 1)``). With fixed input shapes they are constants; onnxsim folds them
    (217 → 113 nodes there, 0.2 s). A graph onnxsim cannot check is used as it is.
    """
    import onnxsim

    try:
        with quiet(*NOISY_LOGGERS):
            simplified, checked = onnxsim.simplify(model)
    except Exception:
        return model
    return simplified if checked else model


def _graph_inputs(model: Any) -> tuple[InputSpec, ...]:
    from onnx import helper

    initializers = {i.name for i in model.graph.initializer}
    out = []
    for value in model.graph.input:
        if value.name in initializers:
            continue
        tensor = value.type.tensor_type
        shape = tuple(d.dim_value if d.dim_value > 0 else 1 for d in tensor.shape.dim)
        dtype = helper.tensor_dtype_to_np_dtype(tensor.elem_type).name
        out.append(InputSpec(name=value.name, shape=shape, dtype=dtype))
    return tuple(out)


def output_count(net: Any, inputs: tuple[InputSpec, ...]) -> int:
    import torch

    with torch.no_grad(), quiet(*NOISY_LOGGERS):
        result = net(*torch_sources.example_args(inputs))
    return len(result) if isinstance(result, (tuple, list)) else 1


# --------------------------------------------------------------------------- Core AI side


# Core AI function argument names must be identifiers.
coreai_name = torch_sources.identifier


def output_names(count: int) -> tuple[str, ...]:
    return tuple(f"output_{k}" for k in range(count))


def to_asset(
    net: Any, inputs: tuple[InputSpec, ...], outputs: tuple[str, ...], out: Path, fp16: bool = False
) -> Any:
    """Export, decompose, convert and save ``net`` as ``out`` (an .aimodel folder)."""
    import torch

    ct = coreai_torch()
    args = torch_sources.example_args(inputs)

    def export(module: Any) -> Any:
        program = torch.export.export(module, args).run_decompositions(ct.get_decomp_table())
        if fp16:
            program = coreai_opt().casting.cast_fp32_to_fp16(program)
        return program

    with quiet(*NOISY_LOGGERS) as log, torch.no_grad():
        try:
            program = (
                ct.TorchConverter()
                .add_pytorch_module(
                    net,
                    export_fn=export,
                    input_names=[coreai_name(i.name) for i in inputs],
                    output_names=list(outputs),
                )
                .to_coreai()
            )
            return program.save_asset(Path(out))
        except Exception as exc:
            raise ModelError(f"Core AI conversion failed ({short(exc)}); {log.tail()}") from exc
