"""Importing the Core AI packages and torch: quietly, and only when a hook needs them.

coreai-torch 0.4.3 warns on every import that it "has only been validated with
torch<=2.13.0" when torch is 2.13.0+cpu: ``packaging`` orders the local ``+cpu``
build after 2.13.0 (coreai_torch/__init__.py). It is the validated release, so
the warning is silenced here. torchao prints that it cannot load its CUDA
kernels (_C_mxfp8, _C_cutlass_90a) on a CPU-only machine; those are never used.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from edgeops.plugin import quiet
from edgeops_torch_route import torch_sources

NOISY_LOGGERS = ("coreai", "coreai_torch", "coreai_opt", "torchao", "torch", "root")
# Distributions whose versions change what this plugin makes: part of every cache key.
TOOLS = (
    "coreai-core",
    "coreai-torch",
    "coreai-opt",
    "torchao",
    "torch",
    "onnx",
    "onnx2torch",
    "tf2onnx",  # a .tflite source reaches Core AI through its ONNX graph
    "numpy",
)


@functools.cache
def coreai_torch() -> Any:
    with quiet(*NOISY_LOGGERS):
        import coreai_torch as module
    return module


@functools.cache
def coreai_opt() -> Any:
    """``coreai_opt`` with the compressors this backend uses already imported."""
    with quiet(*NOISY_LOGGERS):
        import coreai_opt as module
        import coreai_opt.casting
        import coreai_opt.palettization
        import coreai_opt.pruning
        import coreai_opt.quantization  # noqa: F401
    logging.getLogger("coreai_opt").setLevel(logging.ERROR)
    return module


@functools.cache
def runtime() -> Any:
    """``coreai.runtime``: the in-package runtime off macOS (coreai/runtime/__init__.py)."""
    with quiet(*NOISY_LOGGERS):
        import coreai.runtime as module
    return module


def asset_class() -> Any:
    with quiet(*NOISY_LOGGERS):
        from coreai.authoring.asset import AIModelAsset
    return AIModelAsset


# An SDK's exception text on one line, worded as in the Core ML backend.
short = torch_sources.short_error
