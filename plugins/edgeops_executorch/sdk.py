"""Importing ExecuTorch and torch: quietly, and only when a hook needs them.

Importing ``executorch.exir`` pulls torchao, which prints that it cannot load its
CUDA kernels (_C_mxfp8, _C_cutlass_90a) on a CPU-only machine; they are never used.
The runtime's C++ side logs its CPU detection (cpuinfo_utils.cpp) to stderr.
"""

from __future__ import annotations

from edgeops_torch_route import torch_sources

NOISY_LOGGERS = ("executorch", "torchao", "torch", "coremltools", "root")
# Distributions whose versions change what this plugin makes: part of every cache key.
TOOLS = ("executorch", "torch", "torchao", "coremltools", "onnx", "onnx2torch", "numpy")

# An SDK's exception text on one line, worded as in the other torch-sourced backends.
short = torch_sources.short_error
