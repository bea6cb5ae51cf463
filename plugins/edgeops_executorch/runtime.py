"""Running a ``.pte`` program on this host with ExecuTorch's own runtime.

``executorch.runtime.Runtime`` is the C++ runtime of the wheel (portable kernels
and the XNNPACK backend built in; its backend registry lists what this build can
run). A program with a Core ML partition does not load here: CoreMLBackend is
registered only in the Apple builds of the runtime, so its quality cannot be
measured on Linux and this module says so rather than estimate it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeops.plugin import InputSpec, ModelError, SampleSet, quiet, sample_feeds

from .sdk import NOISY_LOGGERS, short

if TYPE_CHECKING:
    import numpy as np

METHOD = "forward"


def registered_backends() -> set[str]:
    """The delegate backends this host's ExecuTorch runtime can run."""
    with quiet(*NOISY_LOGGERS):
        from executorch.runtime import Runtime

        return set(Runtime.get().backend_registry.registered_backend_names)


def missing_backends(delegates: tuple[str, ...] | list[str]) -> list[str]:
    have = registered_backends()
    return [d for d in delegates if d not in have]


def run_program(
    path: Path, inputs: tuple[InputSpec, ...], samples: SampleSet
) -> list[list[np.ndarray]]:
    """The program's outputs on every sample, in order: ``result[i][k]`` is output k on sample i."""
    import numpy as np
    import torch

    feeds = sample_feeds(samples)
    with quiet(*NOISY_LOGGERS) as log:
        try:
            from executorch.runtime import Runtime

            method = Runtime.get().load_program(Path(path)).load_method(METHOD)
            results = []
            for feed in feeds:
                args = [
                    torch.from_numpy(np.ascontiguousarray(feed[i.name], dtype=i.dtype))
                    for i in inputs
                ]
                outputs = method.execute(args)
                results.append([_as_array(o) for o in outputs])
            return results
        except Exception as exc:
            raise ModelError(
                f"the ExecuTorch runtime cannot run {Path(path).name} ({short(exc)}); {log.tail()}"
            ) from exc


def _as_array(value: Any) -> np.ndarray:
    import numpy as np

    return np.asarray(value.detach().numpy() if hasattr(value, "detach") else value, np.float32)
