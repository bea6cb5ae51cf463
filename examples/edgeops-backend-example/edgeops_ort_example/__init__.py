"""A whole edgeops backend in one class: ONNX Runtime's ORT format (``.ort``).

ORT format is the flatbuffer ONNX Runtime's mobile builds load (a smaller binary,
no protobuf). It is made from the run's ONNX conversion, so the ONNX backend must
be installed too (``conversion_inputs``).

What it shows (docs/backends.md): the class attributes, the ``BuildContext`` every
build call gets, one ``RecipeBook``, host quality with the core's comparison, and a
probe runner of its own, so a device with Python measures ``.ort`` files with the
probe's arguments and JSON. Its profile ``ort-host`` is this machine running ORT.
"""

from __future__ import annotations

from pathlib import Path

from edgeops.hookspecs import hookimpl
from edgeops.plugin import (
    Artifact,
    Backend,
    BuildContext,
    ComputeUnit,
    ModelSpec,
    ProbeRunner,
    Quality,
    Recipe,
    RecipeBook,
    Variant,
    compare_with_reference,
    copy_file,
    sample_feeds,
    variant_from,
)

FORMAT = "ort"
PLAIN = Recipe(
    name="fp32", format=FORMAT, description="the ONNX graph in ORT format, basic fusions"
)
EXTENDED = Recipe(
    name="extended",
    format=FORMAT,
    description="ORT format with ONNX Runtime's extended fusions applied before saving",
)


class OrtBackend(Backend):
    format = FORMAT
    tools = ("onnxruntime",)
    runtime = "onnxruntime"

    def conversion_inputs(self, spec: ModelSpec) -> list[str]:
        return ["onnx"]

    def convert(self, context: BuildContext, workdir: Path) -> Artifact | None:
        onnx = context.artifact("onnx")
        if onnx is None or onnx.path is None:
            return None  # no ONNX conversion in this run: another backend may make .ort
        out = workdir / "model.ort"
        _save_ort(onnx.path, out, extended=False)
        return onnx.model_copy(
            update={"id": "", "format": FORMAT, "path": out, "sha256": None, "size_bytes": None}
        )

    def recipes(self) -> RecipeBook:
        return RecipeBook(recipes=(PLAIN, EXTENDED))

    def optimize(
        self, artifact: Artifact, recipe: Recipe, context: BuildContext, workdir: Path
    ) -> Variant:
        assert artifact.path is not None
        out = workdir / f"{recipe.name}.ort"
        if recipe.name == EXTENDED.name:
            # From the run's ONNX graph, which the context holds: an .ort file is
            # not re-optimized by ONNX Runtime.
            onnx = context.artifact("onnx")
            if onnx is None or onnx.path is None:
                raise RuntimeError("the ONNX conversion is missing from this run")
            _save_ort(onnx.path, out, extended=True)
        else:
            copy_file(artifact.path, out)
        return variant_from(artifact, recipe, out)

    def evaluate(
        self, variant: Variant, context: BuildContext, outputs_dir: Path
    ) -> Quality | None:
        assert variant.path is not None and context.samples and context.reference
        import onnxruntime as ort

        session = ort.InferenceSession(str(variant.path), providers=["CPUExecutionProvider"])
        names = {i.name for i in session.get_inputs()}
        outputs = [
            list(session.run(None, {k: v for k, v in feed.items() if k in names}))
            for feed in sample_feeds(context.samples)
        ]
        return compare_with_reference(context.spec, context.reference, outputs, keep=outputs_dir)

    def compute_units(self) -> list[ComputeUnit]:
        return [ComputeUnit(name="cpu")]

    def probe_runner(self) -> ProbeRunner:
        return ProbeRunner(
            path=Path(__file__).with_name("ort_runner.py"), suffix=".ort", compute_units=("cpu",)
        )

    @hookimpl
    def edgeops_profile_dirs(self) -> list[Path]:
        """A plain hook beside the backend's methods: the ``ort-host`` profile."""
        return [Path(__file__).with_name("profiles")]


def _save_ort(source: Path, out: Path, extended: bool) -> None:
    import onnxruntime as ort

    ort.set_default_logger_severity(3)
    options = ort.SessionOptions()
    options.graph_optimization_level = (
        ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        if extended
        else ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    )
    options.optimized_model_filepath = str(out)
    options.add_session_config_entry("session.save_model_format", "ORT")
    ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])


# For EDGEOPS_PLUGINS=edgeops_ort_example (a module name, before the package is installed).
BACKEND = OrtBackend
