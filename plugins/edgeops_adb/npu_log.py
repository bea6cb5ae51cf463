"""What a LiteRT run with ``--use_npu=true`` says about the NPU, beside its timings.

The timings are the CompiledModel ``BENCHMARK RESULTS`` block that ``benchmark_log``
already reads; an NPU run prints the same block. What only an NPU run can get wrong is
read here, from LiteRT's own start-up lines (real examples in tests/data/fixtures,
litert_npu_*): the NPU accelerator not registering (no vendor libraries next to the
tool), the vendor dispatch library it loaded, and XNNPACK taking the graph, which means
the model ran on the CPU while NPU was asked for (LiteRT#7891: a silent fallback).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .tool_lines import clean_lines

_NOT_REGISTERED = re.compile(r"NPU accelerator could not be loaded and registered: (\w+)")
_REGISTERED = re.compile(r"NPU accelerator registered")
_DISPATCH = re.compile(r"Loading shared library: (\S*libLiteRtDispatch_\w+\.so)")
_XNNPACK = re.compile(
    r"Replacing (\d+) out of (\d+) node\(s\) with delegate \(TfLiteXNNPackDelegate\)"
)
_NO_DISPATCH = "No usable Dispatch runtime found"


@dataclass(frozen=True)
class NpuRun:
    registered: bool
    not_registered_status: str | None = None
    dispatch_library: str | None = None
    cpu_nodes: int | None = None  # nodes XNNPACK took, of ``total_nodes``
    total_nodes: int | None = None
    no_dispatch_runtime: bool = False

    def failure(self) -> str | None:
        """One line saying why the run did not use the NPU, or None."""
        if self.not_registered_status is not None:
            return (
                f"the NPU accelerator did not register ({self.not_registered_status}): push the "
                "vendor's runtime libraries and libLiteRtDispatch next to benchmark_model"
            )
        if self.no_dispatch_runtime:
            return "LiteRT found no usable dispatch runtime for the NPU (libLiteRtDispatch_<vendor>.so)"
        if self.cpu_nodes:
            return (
                f"XNNPACK ran {self.cpu_nodes} of {self.total_nodes} nodes: the model ran on the "
                "CPU, not the NPU"
            )
        return None


def parse_npu_log(text: str) -> NpuRun:
    lines = clean_lines(text)
    status = next((m.group(1) for line in lines if (m := _NOT_REGISTERED.search(line))), None)
    fallback = next((m for line in lines if (m := _XNNPACK.search(line))), None)
    return NpuRun(
        registered=status is None and any(_REGISTERED.search(line) for line in lines),
        not_registered_status=status,
        dispatch_library=next(
            (m.group(1) for line in lines if (m := _DISPATCH.search(line))), None
        ),
        cpu_nodes=int(fallback.group(1)) if fallback else None,
        total_nodes=int(fallback.group(2)) if fallback else None,
        no_dispatch_runtime=any(_NO_DISPATCH in line for line in lines),
    )
