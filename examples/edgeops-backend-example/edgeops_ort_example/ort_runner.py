"""The probe's runner for ``.ort`` files, pushed to the device beside the probe.

Standard library only at module level: the runtime is imported in ``__init__``,
after the probe has read its memory baseline (``edgeops.plugin.ProbeRunner``).
"""

from __future__ import annotations

from typing import Any


class Runner:
    name = "onnxruntime"
    compute_units = {"cpu": ["CPUExecutionProvider"]}

    def __init__(self, threads: int | None) -> None:
        import numpy
        import onnxruntime

        onnxruntime.set_default_logger_severity(3)
        self.np: Any = numpy
        self.ort: Any = onnxruntime
        self.threads = threads
        self.version = onnxruntime.__version__

    def load(self, model: str, compute_unit: str) -> None:
        providers = self.compute_units.get(compute_unit)
        if providers is None:
            raise NotImplementedError(f"the ORT runner has no compute unit {compute_unit!r}")
        options = self.ort.SessionOptions()
        if self.threads:
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
        self.session = self.ort.InferenceSession(model, options, providers=providers)

    def make_feed(self, inputs: dict[str, object] | None) -> dict[str, object]:
        rng = self.np.random.default_rng(0)
        feed: dict[str, object] = {}
        for meta in self.session.get_inputs():
            if inputs and meta.name in inputs:
                feed[meta.name] = inputs[meta.name]
            else:
                shape = [d if isinstance(d, int) and d > 0 else 1 for d in meta.shape]
                feed[meta.name] = rng.random(shape, dtype="float32")
        return feed

    def run(self, feed: dict[str, object]) -> None:
        self.session.run(None, feed)

    def release(self) -> None:
        del self.session
