"""Sources → Core AI ``.aimodel``: PyTorch factories, and ONNX through onnx2torch.

The route (coreai_torch/converter.py, ``TorchConverter.add_pytorch_module``): the
module is exported with ``torch.export`` and decomposed with coreai-torch's own
table, then ``to_coreai()`` gives an optimized ``AIProgram`` and ``save_asset``
writes the ``.aimodel`` folder (main.mlirb, main.hash, metadata.json). ONNX takes
the route the Core ML backend takes (edgeops_torch_route/torch_sources.py): onnx2torch after
converting the graph to opset 17 (conversion-notes.md), then the same export.

Compression happens on the torch side (coreai-opt) before conversion, so every
variant is rebuilt from the source: the spec is kept beside the base asset
(``coreai.json``), as the Core ML backend keeps its own.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from edgeops.plugin import InputSpec, ModelError, ModelSpec, quiet
from edgeops_torch_route import torch_sources
from edgeops_torch_route.build_info import BuildInfo

from .sdk import NOISY_LOGGERS, coreai_opt, coreai_torch, short

ASSET_NAME = "model.aimodel"
# What the base conversion was made from, beside it: recipes rebuild from its spec.
BUILD_INFO = BuildInfo("coreai.json")


# --------------------------------------------------------------------------- torch side


def load_module(spec: ModelSpec) -> tuple[Any, tuple[InputSpec, ...]]:
    """A fresh fp32 torch module of the source, in eval mode, and its inputs.

    Fresh on every call: coreai-opt's compressors change the module they are given.
    """
    return torch_sources.torch_source(spec, "Core AI", torch_sources.exportable_onnx_module)


@functools.lru_cache(maxsize=2)
def _factory_state(spec: ModelSpec) -> tuple[Any, tuple[InputSpec, ...]]:
    return load_module(spec)


def fresh_module(spec: ModelSpec) -> tuple[Any, tuple[InputSpec, ...]]:
    """A deep copy of the source module, loaded once per process (a factory may train)."""
    import copy

    net, inputs = _factory_state(spec)
    return copy.deepcopy(net), inputs


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
