"""ExecuTorch backend: ``.pte`` programs lowered from ``torch.export`` with the portable
kernels, XNNPACK (fp32, int8) or Core ML partitions; host quality from ExecuTorch's own
runtime, measurement by the probe (``probe_runner.py``) and, on Android phones, by
``executor_runner`` over adb (``android.py``).

ExecuTorch is PyTorch's on-device runtime. One ``.pte`` file holds the program and
the delegate partitions it was lowered with, so a variant is a delegate x precision
pair (recipes.py) and runs on one compute unit.

Written against the declared plugin API only (``edgeops.plugin.Backend``), as a third
party would write it.
"""

from __future__ import annotations

from pathlib import Path

from edgeops.hookspecs import hookimpl
from edgeops.plugin import (
    Artifact,
    Backend,
    BuildContext,
    ComputeUnit,
    DeviceProfile,
    Measurement,
    MeasureSettings,
    ModelSpec,
    ProbeRunner,
    Quality,
    Recipe,
    RecipeBook,
    RecipeFamily,
    Session,
    Variant,
    compare_with_reference,
    failed_measurement,
    sample_feeds,
    variant_from,
)
from edgeops_torch_route import torch_sources
from edgeops_torch_route.build_info import BuildInfo

from . import recipes
from .sdk import TOOLS

FORMAT = recipes.FORMAT
# An iPhone tethered to a Mac host (the Core ML backend's mac-host transport marks it so).
IPHONE_LABEL = "iphone"
IPHONE_GAP = (
    "ExecuTorch on a tethered iPhone: a .pte runs inside an app linking ExecuTorch's "
    "frameworks (its Apple benchmark app, extension/benchmark/apple, run with xcodebuild "
    "test); edgeops builds no such app, so measure it there or use the Mac's figures"
)
# What a program was lowered with, beside it: the delegates an app must link.
BUILD_INFO = BuildInfo("executorch.json")


class ExecuTorchBackend(Backend):
    format = FORMAT
    tools = TOOLS
    runtime = "executorch"

    # ------------------------------------------------------------------- convert

    def conversion_inputs(self, spec: ModelSpec) -> list[str]:
        return torch_sources.formats_needed_first(spec)

    def convert(self, context: BuildContext, workdir: Path) -> Artifact | None:
        """A factory or an ONNX graph, exported with ``torch.export``: every recipe lowers it."""
        source = torch_sources.convertible_spec(context.spec, list(context.artifacts))
        if source is None:
            return None
        from . import convert

        net, inputs = convert.load_module(source)
        out = workdir / convert.EXPORTED_NAME
        outputs, nodes = convert.export(net, inputs, out)
        macs, _ = torch_sources.count_work(net, inputs)
        BUILD_INFO.write(workdir, {"graph_nodes": nodes, "outputs": outputs})
        return Artifact(
            format=FORMAT,
            path=out,
            inputs=inputs,
            output_names=tuple(f"output_{k}" for k in range(outputs)),
            params=sum(p.numel() for p in net.parameters()),
            macs=macs,
        )

    # ------------------------------------------------------------------- optimize

    def recipes(self) -> RecipeBook:
        """Whole recipes are built per profile (their descriptions name the profiles), so
        the book lists their names; ``lower`` is the delegate x precision family."""
        return RecipeBook(
            names=tuple(step.recipe_name for step in recipes.CATALOGUE),
            families=(RecipeFamily(name="lower", format=FORMAT, steps=recipes.STEPS),),
        )

    def propose(self, artifact: Artifact, profiles: list[DeviceProfile]) -> list[Recipe]:
        return recipes.propose(profiles)

    def optimize(
        self, artifact: Artifact, recipe: Recipe, context: BuildContext, workdir: Path
    ) -> Variant:
        assert artifact.path is not None
        from . import convert

        parent = artifact.path
        step = recipes.lower_step(recipe)
        out = workdir / convert.PROGRAM_NAME
        calibration = (
            convert.calibration_args(sample_feeds(context.samples), artifact.inputs)
            if step.precision == "int8" and context.samples is not None
            else []
        )
        facts: dict[str, object] = {}

        def make() -> dict[str, object]:
            facts.update(convert.lower(parent, step, out, calibration))
            return facts

        BUILD_INFO.write_variant(workdir, parent, recipe.name, make)
        delegates: list[str] = facts["delegates"]  # type: ignore[assignment]
        return variant_from(artifact, recipe, out, delegates=tuple(delegates))

    # ------------------------------------------------------------------- quality

    def evaluate(
        self, variant: Variant, context: BuildContext, outputs_dir: Path
    ) -> Quality | None:
        """Quality from ExecuTorch's runtime on this host; None for a program whose delegates
        this host's runtime lacks (Core ML off Apple OSes): no estimate stands in for it."""
        assert variant.path is not None
        from . import runtime

        if runtime.missing_backends(variant.delegates) or context.samples is None:
            return None
        assert context.reference is not None
        outputs = runtime.run_program(variant.path, variant.inputs, context.samples)
        return compare_with_reference(context.spec, context.reference, outputs, keep=outputs_dir)

    # ------------------------------------------------------------------- devices

    def unfit(self, variant: Variant, profile: DeviceProfile) -> str | None:
        if variant.recipe is None or recipes.runs_on(recipes.lower_step(variant.recipe), profile):
            return None
        return (
            f"a Core ML partition needs Core ML (iOS or macOS); {profile.id} runs "
            f"{profile.platform}: use an xnnpack or portable recipe there"
        )

    def compute_units(self) -> list[ComputeUnit]:
        """CPU units as TFLite's delegates name them on Android and Linux, Core ML's on Apple
        OSes; declared identically to those backends', so this one works without them."""
        return [
            ComputeUnit(name="cpu"),
            ComputeUnit(name="xnnpack"),
            ComputeUnit(name="cpu_only"),
            ComputeUnit(name="all", requires=("ane",), rarity=2),
        ]

    def probe_runner(self) -> ProbeRunner:
        return ProbeRunner(
            path=Path(__file__).with_name("probe_runner.py"),
            suffix=".pte",
            compute_units=("cpu", "xnnpack", "cpu_only", "all"),
        )

    # A hook of its own beside the routed probe measurement (so named apart from it; pluggy
    # calls it as edgeops_measure). It answers first: a program on any unit but its own is
    # unsupported without starting a probe, and an Android phone (no Python) runs
    # executor_runner. Everything else falls through to the probe runner above.
    @hookimpl(specname="edgeops_measure", tryfirst=True)
    def edgeops_measure_own_unit_or_phone(
        self, session: Session, variant: Variant, compute_unit: str, settings: MeasureSettings
    ) -> Measurement | None:
        if variant.format != FORMAT or variant.path is None or variant.recipe is None:
            return None
        step = recipes.lower_step(variant.recipe)
        if compute_unit not in recipes.own_units(step):
            return failed_measurement(
                variant, session.device, compute_unit, "unsupported",
                f"an ExecuTorch {step.recipe_name} program runs on "
                f"{' or '.join(recipes.own_units(step))} only: its delegate is fixed when lowered",
            )  # fmt: skip
        if session.device.transport == "mac-host" and IPHONE_LABEL in session.device.labels:
            return failed_measurement(
                variant, session.device, compute_unit, "unsupported", IPHONE_GAP
            )
        if session.python is None and session.device.transport == "adb":
            from . import android

            return android.measure_on_phone(session, variant, compute_unit, settings)
        return None


# For EDGEOPS_PLUGINS=edgeops_executorch (a module name) and the entry point.
BACKEND = ExecuTorchBackend
