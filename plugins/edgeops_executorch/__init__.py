"""ExecuTorch backend: ``.pte`` programs lowered from ``torch.export`` with the portable
kernels, XNNPACK (fp32, int8) or Core ML partitions; host quality from ExecuTorch's own
runtime, measurement by the probe (``probe_runner.py``) and, on Android, by
``executor_runner`` over adb.

ExecuTorch is PyTorch's on-device runtime. One ``.pte`` file holds the program and
the delegate partitions it was lowered with, so a variant is a delegate × precision
pair (recipes.py) and runs on one compute unit.
"""

from __future__ import annotations

from pathlib import Path

from edgeops.hookspecs import hookimpl
from edgeops.plugin import (
    Artifact,
    BuildInfo,
    ComputeUnit,
    DeviceProfile,
    Measurement,
    MeasureSettings,
    ModelSpec,
    Quality,
    Recipe,
    RecipeFamily,
    ReferenceOutputs,
    SampleSet,
    Session,
    Variant,
    compare_with_reference,
    sample_feeds,
    torch_sources,
    variant_from,
)

from . import recipes
from .sdk import TOOLS

EDGEOPS_TOOLS = TOOLS
FORMAT = recipes.FORMAT
# What a program was lowered with, beside it: the delegates an app must link.
BUILD_INFO = BuildInfo("executorch.json")


@hookimpl
def edgeops_compute_units() -> list[ComputeUnit]:
    """CPU units as TFLite's delegates name them on Android and Linux, Core ML's on Apple
    OSes; declared identically to those backends', so this one works without them."""
    return [
        ComputeUnit(name="cpu"),
        ComputeUnit(name="xnnpack"),
        ComputeUnit(name="cpu_only"),
        ComputeUnit(name="all", requires=("ane",), rarity=2),
    ]


@hookimpl
def edgeops_conversion_inputs(spec: ModelSpec, target: str) -> list[str]:
    return torch_sources.formats_needed_first(spec) if target == FORMAT else []


@hookimpl
def edgeops_convert(
    spec: ModelSpec, target: str, workdir: Path, artifacts: list[Artifact]
) -> Artifact | None:
    """A factory or an ONNX graph, exported with ``torch.export``: every recipe lowers it."""
    if target != FORMAT:
        return None
    source = torch_sources.convertible_spec(spec, artifacts)
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


@hookimpl
def edgeops_recipes(artifact: Artifact, profiles: list[DeviceProfile]) -> list[Recipe]:
    if artifact.format != FORMAT:
        return []
    return recipes.propose(profiles)


@hookimpl
def edgeops_recipe_catalog() -> list[str]:
    return [f"{FORMAT}:{step.recipe_name}" for step in recipes.CATALOGUE]


@hookimpl
def edgeops_recipe_families() -> list[RecipeFamily]:
    """``[[sweep]] family = "executorch:lower"`` with ``delegate`` × ``precision`` lists;
    pairs ExecuTorch does not lower are dropped with the reason."""
    return [RecipeFamily(name="lower", format=FORMAT, steps=recipes.STEPS)]


@hookimpl
def edgeops_optimize(
    artifact: Artifact, recipe: Recipe, workdir: Path, samples: SampleSet
) -> Variant | None:
    if recipe.format != FORMAT or artifact.path is None:
        return None
    from . import convert

    step = recipes.lower_step(recipe)
    out = workdir / convert.PROGRAM_NAME
    parent = artifact.path
    calibration = (
        convert.calibration_args(sample_feeds(samples), artifact.inputs)
        if step.precision == "int8"
        else []
    )
    facts: dict[str, object] = {}

    def make() -> dict[str, object]:
        facts.update(convert.lower(parent, step, out, calibration))
        return facts

    BUILD_INFO.write_variant(workdir, parent, recipe.name, make)
    return variant_from(artifact, recipe, out, delegates=tuple(facts["delegates"]))  # type: ignore[arg-type]


@hookimpl
def edgeops_evaluate(
    variant: Variant,
    reference: ReferenceOutputs,
    samples: SampleSet,
    spec: ModelSpec,
    outputs_dir: Path,
) -> Quality | None:
    """Quality from ExecuTorch's runtime on this host; None for a program whose delegates
    this host's runtime lacks (Core ML off Apple OSes), so no estimate stands in for it."""
    if variant.format != FORMAT or variant.path is None:
        return None
    from . import runtime

    if runtime.missing_backends(variant.delegates):
        return None
    outputs = runtime.run_program(variant.path, variant.inputs, samples)
    return compare_with_reference(spec, reference, outputs, keep=outputs_dir)


@hookimpl
def edgeops_variant_unfit(variant: Variant, profile: DeviceProfile) -> str | None:
    if variant.format != FORMAT or variant.recipe is None:
        return None
    step = recipes.lower_step(variant.recipe)
    if not recipes.runs_on(step, profile):
        return (
            f"a Core ML partition needs Core ML (iOS or macOS); {profile.id} runs "
            f"{profile.platform}: use an xnnpack or portable recipe there"
        )
    return None


@hookimpl
def edgeops_measure(
    session: Session, variant: Variant, compute_unit: str, settings: MeasureSettings
) -> Measurement | None:
    """An Android phone (no Python there): one ``executor_runner`` round (android.py), on the
    program's own compute unit only."""
    if variant.format != FORMAT or variant.path is None or variant.recipe is None:
        return None
    if session.python is not None or session.device.transport != "adb":
        return None
    if compute_unit != recipes.compute_unit(recipes.lower_step(variant.recipe), "android"):
        return None
    from . import android

    return android.measure_on_phone(session, variant, compute_unit, settings)
