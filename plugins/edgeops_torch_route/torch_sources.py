"""A model source as a torch module: PyTorch factories, and ONNX through onnx2torch.

The Core ML, Core AI and ExecuTorch backends all convert from torch (coremltools has
no ONNX front end; coreai-torch and ExecuTorch convert ``torch.export`` programs, which
``exportable_onnx_module`` makes ONNX graphs fit for), so all need the same steps
before their converters differ: import the factory or turn the ONNX graph
into a torch module, make example inputs, and count the work one forward pass
does. torch, onnx and onnx2torch are imported inside the functions that use them:
importing this module costs nothing.
"""

from __future__ import annotations

import functools
import math
import re
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgeops.plugin import Artifact, InputSpec, ModelError, ModelSpec, import_factory, quiet

# What torch and onnx2torch log through on import and conversion.
TORCH_LOGGERS = ("torch", "root")
# onnx2torch rejects opset-20 exports from torch's new exporter (Resize-19,
# conversion-notes.md) and old op versions too (Slice-1 in an opset-9 model here),
# so every graph is converted to opset 17 first.
ONNX2TORCH_OPSET = 17

# (path, inputs) -> (module, inputs): a backend's own route from an .onnx file.
OnnxRoute = Callable[[Path, tuple[InputSpec, ...]], tuple[Any, tuple[InputSpec, ...]]]


def torch_source(
    spec: ModelSpec, backend: str, from_onnx: OnnxRoute
) -> tuple[Any, tuple[InputSpec, ...]]:
    """The source as an fp32 torch module in eval mode, and its inputs.

    A factory is imported and called here; an ``.onnx`` source takes the backend's
    ``from_onnx`` route (the backends prepare graphs for their exporters differently).
    Any other source is a ``ModelError`` naming ``backend``.
    """
    if spec.is_factory:
        if not spec.inputs:
            raise ModelError(f"{spec.source} is a PyTorch factory: add [[model.inputs]]")
        return factory_module(spec), spec.inputs
    if spec.source_path.suffix == ".onnx":
        return from_onnx(spec.source_path, spec.inputs)
    raise ModelError(f"the {backend} backend cannot read {spec.source_path.name}")


def factory_module(spec: ModelSpec) -> Any:
    """Import the factory's file and call it: the user's nn.Module, in eval mode; a
    ModelError when it returns anything else. Every backend that runs a factory (ONNX's
    export, LiteRT's, and the torch routes above) makes it here."""
    import torch

    net = import_factory(spec.source, ModelError, "source")()
    if not isinstance(net, torch.nn.Module):
        raise ModelError(f"{spec.source} returned {type(net).__name__}, not a torch.nn.Module")
    return net.eval()


def formats_needed_first(spec: ModelSpec) -> list[str]:
    """``["onnx"]`` for an ``.onnx`` source: the ONNX backend checks the file and reads its
    signature once for every format, and a torch-sourced backend reuses its artifact."""
    return ["onnx"] if spec.source_path.suffix == ".onnx" else []


def convertible_spec(
    spec: ModelSpec, artifacts: list[Artifact], workdir: Path | None = None
) -> ModelSpec | None:
    """The spec a torch-sourced backend converts, or None for a source it cannot read.

    A factory or an ``.onnx`` file gets an absolute source; an ``.onnx`` source with
    no ``[[model.inputs]]`` gets the inputs the ONNX backend read from it (the run's
    ONNX artifact, asked for through ``edgeops_conversion_inputs``) when there is one.
    """
    if not spec.is_factory and spec.source_path.suffix == ".tflite":
        if workdir is not None:
            return tflite_as_onnx(absolute_source(spec), workdir)
        # After conversion (optimize, evaluate): the graph tf2onnx left beside the
        # converted model.
        made = next(
            (
                Path(a.path).parent / TFLITE_ONNX_NAME
                for a in artifacts
                if a.path is not None and (Path(a.path).parent / TFLITE_ONNX_NAME).is_file()
            ),
            None,
        )
        return _onnx_spec(spec, made) if made is not None else None
    if not (spec.is_factory or spec.source_path.suffix == ".onnx"):
        return None
    spec = absolute_source(spec)
    if spec.source_path.suffix == ".onnx" and not spec.inputs:
        onnx_artifact = next((a for a in artifacts if a.format == "onnx"), None)
        if onnx_artifact is not None:
            spec = spec.model_copy(update={"inputs": onnx_artifact.inputs})
    return spec


def absolute_source(spec: ModelSpec) -> ModelSpec:
    """The spec with an absolute source, so a later stage finds it from any folder."""
    head, sep, tail = spec.source.rpartition(":")
    if spec.is_factory:
        return spec.model_copy(update={"source": f"{Path(head).resolve()}{sep}{tail}"})
    return spec.model_copy(update={"source": str(Path(spec.source).resolve())})


# --------------------------------------------------------------------------- TFLite

# tf2onnx's opset for a .tflite: the one onnx2torch reads.
TFLITE_ONNX_OPSET = ONNX2TORCH_OPSET
TFLITE_ONNX_NAME = "source_from_tflite.onnx"
_ONNX_DTYPES = {1: "float32", 10: "float16", 7: "int64", 6: "int32", 3: "int8", 2: "uint8"}


def tflite_as_onnx(spec: ModelSpec, workdir: Path) -> ModelSpec:
    """The spec of the .tflite source converted to ONNX by tf2onnx (into ``workdir``),
    with the graph's inputs: the route a .tflite takes to Core ML and Core AI.

    Inputs keep their layout (NHWC stays NHWC), so the run's samples feed it as they
    feed the .tflite. Only the torch-based backends take this route: the host's ONNX
    variants of a .tflite are not made, the TFLite backend measures it as it is.
    """
    import onnx

    try:
        with quiet("tensorflow", "tf2onnx", "absl"):
            from tf2onnx import convert as tf2onnx_convert
    except ImportError as exc:
        raise ModelError(
            f"{spec.source_path.name} reaches Core ML and Core AI through tf2onnx, which is "
            "not installed: pip install 'edgeops[tflite-onnx]'"
        ) from exc
    out = workdir / TFLITE_ONNX_NAME
    scratch = workdir / f".{TFLITE_ONNX_NAME}.tmp"
    try:
        with quiet("tensorflow", "tf2onnx", "absl"):
            tf2onnx_convert.from_tflite(
                str(spec.source_path), opset=TFLITE_ONNX_OPSET, output_path=str(scratch)
            )
        model = onnx.load(str(scratch))
        onnx.checker.check_model(model)
    except Exception as exc:
        scratch.unlink(missing_ok=True)
        text = " ".join(str(exc).split())[:300]
        raise ModelError(
            f"tf2onnx cannot convert {spec.source_path.name} to ONNX ({type(exc).__name__}: "
            f"{text}), the route to Core ML and Core AI; only the TFLite route is left for it"
        ) from exc
    scratch.replace(out)
    return _onnx_spec(spec, out, model)


def _onnx_spec(spec: ModelSpec, path: Path, model: Any = None) -> ModelSpec:
    """``spec`` with the ONNX graph at ``path`` as its source, and the graph's inputs."""
    import onnx

    model = model if model is not None else onnx.load(str(path), load_external_data=False)
    initializers = {i.name for i in model.graph.initializer}
    inputs = tuple(
        InputSpec(
            name=value.name,
            shape=tuple(
                d.dim_value if d.dim_value > 0 else 1 for d in value.type.tensor_type.shape.dim
            ),
            dtype=_ONNX_DTYPES.get(value.type.tensor_type.elem_type, "float32"),
        )
        for value in model.graph.input
        if value.name not in initializers
    )
    return spec.model_copy(update={"source": str(path.resolve()), "inputs": spec.inputs or inputs})


# --------------------------------------------------------------------------- ONNX


def at_onnx2torch_opset(model: Any, path: Path) -> Any:
    """The ONNX model converted to ``ONNX2TORCH_OPSET`` (itself if it is there already)."""
    from onnx import version_converter

    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset == ONNX2TORCH_OPSET:
        return model
    try:
        return version_converter.convert_version(model, ONNX2TORCH_OPSET)
    except Exception as exc:
        raise ModelError(
            f"{path.name}: cannot convert opset {opset} to {ONNX2TORCH_OPSET} for onnx2torch "
            f"({short_error(exc)}); re-export it with opset {ONNX2TORCH_OPSET}"
        ) from exc


def onnx2torch_module(model: Any, path: Path) -> Any:
    """onnx2torch's torch.fx module of the ONNX model read from ``path``."""
    try:
        with quiet(*TORCH_LOGGERS):
            return onnx2torch().convert(model)
    except Exception as exc:
        raise ModelError(f"onnx2torch cannot convert {path.name} ({short_error(exc)})") from exc


@functools.cache
def onnx2torch() -> Any:
    """``import onnx2torch`` with a torchvision stand-in.

    onnx2torch imports torchvision for a few detection ops only; the torchvision
    wheel here is a CUDA build that fails to import with CPU torch
    (conversion-notes.md), so an empty module lets it load and those ops fail by name.
    """
    if "torchvision" not in sys.modules:
        try:
            import torchvision  # noqa: F401
        except Exception:
            ops = types.ModuleType("torchvision.ops")
            ops.roi_align = _needs_torchvision  # type: ignore[attr-defined]
            stub = types.ModuleType("torchvision")
            stub.ops = ops  # type: ignore[attr-defined]
            sys.modules["torchvision"] = stub
            sys.modules["torchvision.ops"] = ops
    with quiet(*TORCH_LOGGERS):
        import onnx2torch as module
    return module


def _needs_torchvision(*args: object, **kwargs: object) -> None:
    raise NotImplementedError("this ONNX op needs torchvision, which cannot load here")


def exportable_onnx_module(
    path: Path, inputs: tuple[InputSpec, ...]
) -> tuple[Any, tuple[InputSpec, ...]]:
    """An ONNX graph as a torch module ``torch.export`` accepts, and its inputs: the route of
    the backends that convert exported programs (Core AI, ExecuTorch).

    onnx2torch at opset 17, after onnxsim folded the graph's shape arithmetic, with
    constant Reshapes and Slices made static; ``inputs`` default to the graph's own.
    """
    import onnx

    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
    except Exception as exc:
        raise ModelError(
            f"{path} is not a valid ONNX model ({short_error(exc)}); re-export it"
        ) from exc
    model = _folded(at_onnx2torch_opset(model, path), path)
    net = onnx2torch_module(model, path)
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
    with quiet(*TORCH_LOGGERS, "onnxsim"), torch.no_grad():
        ShapeProp(net).propagate(*example_args(inputs))
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
        with quiet(*TORCH_LOGGERS, "onnxsim"):
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


# --------------------------------------------------------------------------- the module


def example_args(inputs: tuple[InputSpec, ...]) -> tuple[Any, ...]:
    """Zero tensors of the inputs' shapes and dtypes: what tracing and exporting run on."""
    import torch

    return tuple(torch.zeros(i.shape, dtype=getattr(torch, i.dtype)) for i in inputs)


def identifier(name: str) -> str:
    """A converter's input names are identifiers; ONNX's ("x.1", "1273") often are not."""
    clean = re.sub(r"\W", "_", name)
    return clean if clean[:1].isalpha() or clean[:1] == "_" else f"input_{clean}"


def count_work(net: Any, inputs: tuple[InputSpec, ...]) -> tuple[int, int]:
    """Multiply-accumulates of convolutions and linear layers, and the largest layer's
    input plus output elements, from one forward pass.

    Convolutions and linear layers hold nearly all the arithmetic of the conv nets
    edgeops ships; a prediction needs an order of magnitude, not an exact count. The
    largest layer's tensors are what must be resident at once when a runtime frees
    each activation after its last use: the activation part of a predicted peak memory.
    """
    import torch

    macs = 0
    largest_elements = sum(math.prod(i.shape) for i in inputs)

    def conv(module: Any, args: Any, output: Any) -> None:
        nonlocal macs
        kernel = math.prod(module.kernel_size) * module.in_channels // module.groups
        macs += kernel * output.numel()

    def linear(module: Any, args: Any, output: Any) -> None:
        nonlocal macs
        macs += module.in_features * output.numel()

    def tensors(module: Any, args: Any, output: Any) -> None:
        nonlocal largest_elements
        flat = [*args, *(output if isinstance(output, (tuple, list)) else (output,))]
        elements = sum(t.numel() for t in flat if isinstance(t, torch.Tensor))
        largest_elements = max(largest_elements, elements)

    handles = []
    for module in net.modules():
        if isinstance(module, torch.nn.modules.conv._ConvNd):
            handles.append(module.register_forward_hook(conv))
        elif isinstance(module, torch.nn.Linear):
            handles.append(module.register_forward_hook(linear))
        if not any(True for _ in module.children()):
            handles.append(module.register_forward_hook(tensors))
    try:
        with torch.no_grad(), quiet(*TORCH_LOGGERS):
            net(*example_args(inputs))
    finally:
        for handle in handles:
            handle.remove()
    return macs, largest_elements


def short_error(exc: BaseException) -> str:
    """An SDK's exception text on one line, cut at 300 characters."""
    text = " ".join(str(exc).split())
    return text[:300] + ("…" if len(text) > 300 else "")
