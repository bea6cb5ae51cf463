"""The measurement probe's runner for ExecuTorch ``.pte`` programs.

The probe pushes this file beside itself and loads its ``Runner`` for ``.pte``
models (``edgeops.plugin.ProbeRunner``), so it imports only the standard library
at module level: the runtime, torch and numpy are imported in ``Runner.__init__``,
before the probe reads its empty-runtime memory baseline.

A program's delegates are fixed when it is lowered, so it runs on one compute
unit: the portable kernels on ``cpu``, an XNNPACK partition on ``xnnpack`` (both
``cpu_only`` on Apple OSes, in Core ML's unit names), a Core ML partition on
``all``. Asked for another unit, the runner says it does not drive it, and the
probe reports the pair unsupported instead of timing the same program twice.
"""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path
from typing import Any

# Backend ids as ExecuTorch's runtime registers them, and the unit each runs on
# off and on Apple OSes. Listed in the program's delegate table by these names.
BACKEND_UNITS = {
    "CoreMLBackend": ("all", "all"),
    "XnnpackBackend": ("xnnpack", "cpu_only"),
}
PORTABLE_UNITS = ("cpu", "cpu_only")


def delegates_in(program: bytes) -> list[str]:
    """The runtime backends a ``.pte`` calls: their ids are strings in its delegate table."""
    return [name for name in BACKEND_UNITS if name.encode() in program]


def unit_of(delegates: list[str], apple: bool) -> str:
    for name, units in BACKEND_UNITS.items():
        if name in delegates:
            return units[apple]
    return PORTABLE_UNITS[apple]


class Runner:
    name = "executorch"
    compute_units = {"cpu": None, "xnnpack": None, "cpu_only": None, "all": None}

    def __init__(self, threads: int | None) -> None:
        import numpy
        import torch
        from executorch.runtime import Runtime

        self.np: Any = numpy
        self.torch: Any = torch
        self.runtime: Any = Runtime.get()
        self.version = metadata.version("executorch")
        if threads:
            # XNNPACK's thread pool (the portable kernels are single-threaded).
            from executorch.extension.pybindings import portable_lib

            portable_lib._unsafe_reset_threadpool(threads)

    def load(self, model: str, compute_unit: str) -> None:
        delegates = delegates_in(Path(model).read_bytes())
        unit = unit_of(delegates, sys.platform == "darwin")
        if compute_unit != unit:
            raise NotImplementedError(
                f"this program's partitions ({', '.join(delegates) or 'portable kernels'}) "
                f"run on {unit}, not {compute_unit}"
            )
        missing = [d for d in delegates if not self.runtime.backend_registry.is_available(d)]
        if missing:
            raise NotImplementedError(
                f"this ExecuTorch runtime has no {', '.join(missing)} "
                f"(it has {', '.join(self.runtime.backend_registry.registered_backend_names)})"
            )
        self.method = self.runtime.load_program(model).load_method("forward")

    def make_feed(self, inputs: dict[str, object] | None) -> dict[str, object]:
        meta = self.method.metadata
        given = list(inputs.values()) if inputs else []
        rng = self.np.random.default_rng(0)
        feed = {}
        for k in range(meta.num_inputs()):
            tensor = meta.input_tensor_meta(k)
            shape = tuple(tensor.sizes())
            if k < len(given) and tuple(self.np.shape(given[k])) == shape:
                array = self.np.ascontiguousarray(given[k], dtype="float32")
            else:
                array = rng.random(shape, dtype="float32")
            feed[str(k)] = self.torch.from_numpy(array)
        return feed

    def run(self, feed: dict[str, object]) -> None:
        self.method.execute(list(feed.values()))

    def release(self) -> None:
        del self.method
