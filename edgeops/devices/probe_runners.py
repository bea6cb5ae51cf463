"""The probe's runners: one class per model format it runs itself (``RUNNERS``), and the
loader of a backend's own runner file (``--runner``).

Pushed to devices with the probe and imported there as its sibling (``probe_files``
in ``edgeops.devices.probe_push``), so like the probe it imports only the standard
library at module level; each runtime is imported inside its runner.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any


class OnnxRuntimeRunner:
    name = "onnxruntime"
    compute_units = {"cpu": ["CPUExecutionProvider"]}

    def __init__(self, threads: int | None) -> None:
        import numpy
        import onnxruntime

        onnxruntime.set_default_logger_severity(3)
        self.np = numpy
        self.ort = onnxruntime
        self.threads = threads
        self.version = onnxruntime.__version__

    def load(self, model: str, compute_unit: str) -> None:
        options = self.ort.SessionOptions()
        if self.threads:
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
        providers = self.compute_units.get(compute_unit)
        if providers is None:
            raise UnsupportedComputeUnit(f"onnxruntime probe has no compute unit {compute_unit!r}")
        self.session = self.ort.InferenceSession(model, options, providers=providers)

    def make_feed(self, inputs: dict[str, object] | None) -> dict[str, object]:
        feed = {}
        rng = self.np.random.default_rng(0)
        for meta in self.session.get_inputs():
            if inputs and meta.name in inputs:
                feed[meta.name] = inputs[meta.name]
                continue
            shape = [d if isinstance(d, int) and d > 0 else 1 for d in meta.shape]
            dtype = _ORT_DTYPES.get(meta.type, "float32")
            if dtype.startswith(("int", "uint")) or dtype == "bool":
                feed[meta.name] = rng.integers(0, 2, size=shape).astype(dtype)
            else:
                feed[meta.name] = rng.random(shape, dtype="float32").astype(dtype)
        return feed

    def run(self, feed: dict[str, object]) -> None:
        self.session.run(None, feed)

    def outputs(self, feed: dict[str, object]) -> dict[str, object]:
        """One inference's outputs by name, for scoring on the host."""
        names = [o.name for o in self.session.get_outputs()]
        # Samples are float32; a float16 variant takes them in half precision, as an app would.
        wanted = {i.name: _ORT_DTYPES.get(i.type) for i in self.session.get_inputs()}
        cast: dict[str, Any] = {}
        for k, v in feed.items():
            kind = getattr(getattr(v, "dtype", None), "kind", None)
            cast[k] = v.astype(wanted[k]) if wanted.get(k) and kind == "f" else v  # type: ignore[attr-defined]
        return dict(zip(names, self.session.run(None, cast), strict=True))

    def placement(self, model: str, compute_unit: str, feed: dict[str, object]) -> dict | None:
        """Each node's execution provider, from one profiled run in a session of its own:
        profiling slows every run, so the timed session is never the profiled one."""
        import shutil
        import tempfile

        folder = tempfile.mkdtemp(prefix="edgeops-ort-profile-")
        try:
            options = self.ort.SessionOptions()
            options.enable_profiling = True
            options.profile_file_prefix = os.path.join(folder, "profile")
            providers = self.compute_units[compute_unit]
            session = self.ort.InferenceSession(model, options, providers=providers)
            session.run(None, feed)
            with open(session.end_profiling()) as handle:
                events = json.load(handle)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return ort_profile_placement(events, providers[0])

    def release(self) -> None:
        del self.session


_ORT_DTYPES = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(double)": "float64",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(int8)": "int8",
    "tensor(uint8)": "uint8",
    "tensor(bool)": "bool",
}


class TfliteRunner:
    """TFLite through a light interpreter: ai-edge-litert first, then tflite-runtime.

    Never TensorFlow's own: tf.lite.Interpreter holds ~750 MB resident, so the
    memory figure would measure TensorFlow, not the model (conversion-notes.md).
    """

    name = "ai-edge-litert"
    # cpu: the builtin kernels alone; xnnpack: TFLite's default CPU delegate.
    compute_units = {"cpu": False, "xnnpack": True}

    def __init__(self, threads: int | None) -> None:
        import numpy

        try:
            from ai_edge_litert import interpreter as litert
        except ImportError:
            from tflite_runtime import interpreter as litert

            self.name = "tflite-runtime"
        self.np = numpy
        self.litert = litert
        self.threads = threads
        self.version = _distribution_version(self.name) or getattr(litert, "__version__", "?")

    def load(self, model: str, compute_unit: str) -> None:
        xnnpack = self.compute_units.get(compute_unit)
        if xnnpack is None:
            raise UnsupportedComputeUnit(f"TFLite probe has no compute unit {compute_unit!r}")
        resolver = self.litert.OpResolverType
        self.interpreter = self.litert.Interpreter(
            model_path=model,
            num_threads=self.threads,
            experimental_op_resolver_type=(
                resolver.AUTO if xnnpack else resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES
            ),
        )
        self.interpreter.allocate_tensors()
        self.input_details = self.interpreter.get_input_details()

    def make_feed(self, inputs: dict[str, object] | None) -> dict[str, object]:
        feed = {}
        rng = self.np.random.default_rng(0)
        for detail in self.input_details:
            name, dtype, shape = detail["name"], self.np.dtype(detail["dtype"]), detail["shape"]
            if inputs and name in inputs:
                feed[name] = inputs[name]
            elif self.np.issubdtype(dtype, self.np.integer):
                info = self.np.iinfo(dtype)
                feed[name] = rng.integers(
                    max(info.min, -128), min(info.max, 255) + 1, size=shape
                ).astype(dtype)
            else:
                feed[name] = rng.random(shape, dtype="float32").astype(dtype)
        return feed

    def run(self, feed: dict[str, object]) -> None:
        # set_tensor copies the input in, as onnxruntime's run does: both runners time the same work.
        for detail in self.input_details:
            self.interpreter.set_tensor(detail["index"], feed[detail["name"]])
        self.interpreter.invoke()

    def outputs(self, feed: dict[str, object]) -> dict[str, object]:
        self.run(feed)
        return {
            d["name"]: self.interpreter.get_tensor(d["index"])
            for d in self.interpreter.get_output_details()
        }

    def placement(self, model: str, compute_unit: str, feed: dict[str, object]) -> dict | None:
        """Nodes per unit from the loaded graph: the interpreter's Python API prints no
        "Replacing N out of M" line, but it lists the DELEGATE nodes it made."""
        delegate = "TfLiteXNNPackDelegate" if self.compute_units.get(compute_unit) else None
        return tflite_graph_placement(self.interpreter._get_ops_details(), delegate)

    def release(self) -> None:
        del self.interpreter


def tflite_graph_placement(ops: list[dict], delegate: str | None) -> dict | None:
    """Nodes per unit of a TFLite graph after delegation, from the interpreter's op list.

    Delegation appends one DELEGATE node per partition and keeps the nodes it replaced;
    a replaced node is one the DELEGATE node's outputs depend on without passing its
    inputs, so walking back from those outputs to those inputs finds them all.
    """
    partitions = [op for op in ops if op.get("op_name") == "DELEGATE"]
    graph = [op for op in ops if op.get("op_name") != "DELEGATE"]
    if not graph:
        return None
    producer = {int(t): k for k, op in enumerate(graph) for t in op.get("outputs", ()) if t >= 0}
    replaced: set[int] = set()
    for node in partitions:
        boundary = {int(t) for t in node.get("inputs", ())}
        stack = [int(t) for t in node.get("outputs", ())]
        while stack:
            tensor = stack.pop()
            k = producer.get(tensor)
            if tensor in boundary or k is None or k in replaced:
                continue
            replaced.add(k)
            stack.extend(int(t) for t in graph[k].get("inputs", ()) if t >= 0)
    units = [{"unit": "CPU", "nodes": len(graph) - len(replaced)}]
    if delegate is not None:
        units.insert(0, {"unit": delegate, "nodes": len(replaced)})
    return {
        "units": units,
        "graph_nodes": len(graph),
        "accelerator": delegate or "CPU",
        "partitions": len(partitions) if delegate is not None else None,
        "source": "LiteRT interpreter's executed graph (DELEGATE nodes and what they replaced)",
    }


def ort_profile_placement(events: list[dict], provider: str) -> dict | None:
    """Nodes and time per execution provider from an onnxruntime profile's node events.

    A node event without ``args.provider`` (DirectML's fused nodes) counts as
    "unknown": never as the provider that was asked for.
    """
    nodes: dict[str, str] = {}
    time_us: dict[str, float] = {}
    order: list[str] = []
    for event in events:
        name = str(event.get("name", ""))
        if event.get("cat") != "Node" or not name.endswith("_kernel_time"):
            continue
        node = name[: -len("_kernel_time")]
        unit = str((event.get("args") or {}).get("provider") or "unknown")
        if node not in nodes:
            order.append(node)
        nodes[node] = unit
        time_us[unit] = time_us.get(unit, 0.0) + float(event.get("dur", 0))
    if not nodes:
        return None
    counts: dict[str, int] = {}
    for unit in nodes.values():
        counts[unit] = counts.get(unit, 0) + 1
    # A partition: a run of consecutive nodes on the provider asked for, in execution order.
    runs = sum(
        1
        for k, node in enumerate(order)
        if nodes[node] == provider and (k == 0 or nodes[order[k - 1]] != provider)
    )
    return {
        "units": [
            {"unit": unit, "nodes": count, "time_ms": round(time_us[unit] / 1000.0, 4)}
            for unit, count in counts.items()
        ],
        "graph_nodes": len(nodes),
        "accelerator": provider,
        "partitions": runs,
        "source": "onnxruntime session profile (each node's provider)",
    }


def _distribution_version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


class CoreMLRunner:
    """Core ML through coremltools, on macOS only (coremltools cannot predict elsewhere).

    An .mlpackage is a folder; coremltools compiles it at load, so load_ms
    includes compilation, as an app's first load does.
    """

    name = "coremltools"
    compute_units = {
        "cpu_only": "CPU_ONLY",
        "cpu_and_gpu": "CPU_AND_GPU",
        "cpu_and_ne": "CPU_AND_NE",
        "all": "ALL",
    }

    def __init__(self, threads: int | None) -> None:
        self.version: str = "not loaded: not macOS"
        if sys.platform != "darwin":
            return
        import coremltools
        import numpy

        self.np: Any = numpy
        self.ct: Any = coremltools
        self.version = coremltools.__version__

    def load(self, model: str, compute_unit: str) -> None:
        if sys.platform != "darwin":
            raise UnsupportedComputeUnit(
                "Core ML runs models on macOS only; measure .mlpackage variants on a Mac host"
            )
        unit = self.compute_units.get(compute_unit)
        if unit is None:
            raise UnsupportedComputeUnit(f"Core ML has no compute unit {compute_unit!r}")
        self.model: Any = self.ct.models.MLModel(
            model, compute_units=getattr(self.ct.ComputeUnit, unit)
        )
        self.input_description: Any = self.model.get_spec().description.input

    def make_feed(self, inputs: dict[str, object] | None) -> dict[str, object]:
        feed: dict[str, object] = {}
        rng = self.np.random.default_rng(0)
        for feature in self.input_description:
            if inputs and feature.name in inputs:
                feed[feature.name] = inputs[feature.name]
                continue
            array = feature.type.multiArrayType
            # ArrayDataType FLOAT16 = 65552, INT32 = 131104 (Core ML FeatureTypes.proto).
            dtype = {65552: "float16", 131104: "int32"}.get(array.dataType, "float32")
            shape = tuple(int(d) for d in array.shape)
            feed[feature.name] = rng.random(shape, dtype="float32").astype(dtype)
        return feed

    def run(self, feed: dict[str, object]) -> None:
        self.model.predict(feed)

    def outputs(self, feed: dict[str, object]) -> dict[str, object]:
        # predict answers a dict: read it in the package's declared output order.
        got, declared = self.model.predict(feed), self.model.get_spec().description.output
        return {o.name: self.np.asarray(got[o.name]) for o in declared}

    def release(self) -> None:
        del self.model


RUNNERS: dict[str, type[OnnxRuntimeRunner] | type[TfliteRunner] | type[CoreMLRunner]] = {
    ".onnx": OnnxRuntimeRunner,
    ".tflite": TfliteRunner,
    ".mlpackage": CoreMLRunner,
}


class UnsupportedComputeUnit(Exception):
    pass


def load_runner(path: str) -> Any:
    """The ``Runner`` class of a backend's runner file (``edgeops.plugin.ProbeRunner``)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("edgeops_probe_runner", path)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, "Runner", None)
