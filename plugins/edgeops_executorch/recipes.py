"""The ExecuTorch sweep: which delegate a program is lowered to, at which precision.

One ``.pte`` program carries the partitions its delegate took and runs the rest
with ExecuTorch's portable kernels. The recipes are the pairs ExecuTorch 1.5.1
lowers (backends/xnnpack, backends/apple/coreml):

- ``portable``: no delegate, fp32: every op on the portable CPU kernels;
- ``xnnpack``: fp32, or int8 weights and activations from the PT2E XNNPACKQuantizer
  calibrated on the run's samples (static, per-channel weights);
- ``coreml``: Core ML computes in fp16 (the Neural Engine computes in fp16 only), or
  with int8 weights (coremltools' linear weight quantization, per channel).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from edgeops.plugin import DeviceProfile, Recipe, StepConfig

FORMAT = "executorch"
OWNER = "executorch"
Delegate = Literal["portable", "xnnpack", "coreml"]
Precision = Literal["fp32", "fp16", "int8", "int8-weights"]

# The precisions each delegate lowers here; any other pair is refused with this list.
PRECISIONS: dict[str, tuple[str, ...]] = {
    "portable": ("fp32",),
    "xnnpack": ("fp32", "int8"),
    "coreml": ("fp16", "int8-weights"),
}
# The runtime backend an app must link for a delegate's partitions (the names
# executorch.runtime's backend registry and the C++ runtime register them under).
RUNTIME_BACKENDS = {"portable": (), "xnnpack": ("XnnpackBackend",), "coreml": ("CoreMLBackend",)}
# Core ML partitions need Core ML: an Apple OS. The CoreMLBackend of ExecuTorch 1.5.1
# targets iOS 17 / macOS 14 at least (its partitioner's default minimum deployment target).
APPLE_PLATFORMS = ("ios", "macos")
COREML_MIN_OS = "iOS17"


class Lower(StepConfig):
    """``to_edge_transform_and_lower`` with one delegate's partitioner, at one precision."""

    op: ClassVar[str] = "lower"
    delegate: Delegate = Field(description="the partitioner: portable (none), xnnpack, coreml")
    precision: Precision = Field(
        description="fp32; fp16 (Core ML compute); int8 (XNNPACK, weights and activations, "
        "calibrated on the samples); int8-weights (Core ML, weights only)"
    )

    @model_validator(mode="after")
    def _a_pair_executorch_lowers(self) -> Lower:
        allowed = PRECISIONS[self.delegate]
        if self.precision not in allowed:
            raise ValueError(
                f"ExecuTorch's {self.delegate} lowering has no {self.precision} here; "
                f"use {' or '.join(allowed)}"
            )
        return self

    @property
    def recipe_name(self) -> str:
        return f"{self.delegate}-{self.precision}"


STEPS = (Lower,)

CATALOGUE = tuple(Lower(delegate=d, precision=p) for d, ps in PRECISIONS.items() for p in ps)

WHAT = {
    "portable-fp32": "no delegate: ExecuTorch's portable CPU kernels, fp32",
    "xnnpack-fp32": "XNNPACK delegate, fp32",
    "xnnpack-int8": "XNNPACK delegate, int8 weights and activations (PT2E, calibrated on the samples)",
    "coreml-fp16": "Core ML delegate, fp16 compute; Apple OSes only",
    "coreml-int8-weights": "Core ML delegate, int8 weights (per channel), fp16 compute; Apple OSes only",
}


def recipe(step: Lower, profiles: str = "") -> Recipe:
    name = step.recipe_name
    return Recipe.of(
        name=name,
        format=FORMAT,
        owner=OWNER,
        steps=(step,),
        deployment_target=COREML_MIN_OS if step.delegate == "coreml" else None,
        compute_precision="float16"
        if step.delegate == "coreml"
        else ("float32" if step.precision == "fp32" else None),
        description=WHAT.get(name, name) + (f"; for {profiles}" if profiles else ""),
    )


def lower_step(recipe: Recipe) -> Lower:
    """The recipe's one ``Lower`` step; the base conversion (no steps) is portable fp32."""
    steps = recipe.typed_steps(*STEPS)
    if not steps:
        return Lower(delegate="portable", precision="fp32")
    if len(steps) > 1:
        raise ValueError(f"{recipe.id}: an ExecuTorch recipe has one lower step, not {len(steps)}")
    step = steps[0]
    assert isinstance(step, Lower)
    return step


def runs_on(step: Lower, profile: DeviceProfile) -> bool:
    """Core ML partitions need an Apple OS; the CPU delegates run everywhere ExecuTorch does."""
    return step.delegate != "coreml" or profile.platform in APPLE_PLATFORMS


def propose(profiles: list[DeviceProfile]) -> list[Recipe]:
    """Every recipe some target profile that runs ExecuTorch can load."""
    targets = [p for p in profiles if FORMAT in p.formats]
    out = []
    for step in CATALOGUE:
        fits = [p.id for p in targets if runs_on(step, p)]
        if fits:
            out.append(recipe(step, ", ".join(fits)))
    return out


def compute_unit(step: Lower, platform: str) -> str:
    """The compute unit a program of ``step`` runs on, in the profile's own unit names.

    The delegate is fixed when the program is lowered, so each variant has one unit:
    Core ML partitions are lowered for ``ComputeUnit.ALL`` (Core ML's own choice among
    CPU, GPU and Neural Engine); XNNPACK and the portable kernels run on the CPU, named
    as TFLite's delegates are on Android and Linux, and as Core ML's CPU unit on Apple OSes.
    """
    if step.delegate == "coreml":
        return "all"
    if platform in APPLE_PLATFORMS:
        return "cpu_only"
    return "cpu" if step.delegate == "portable" else "xnnpack"


def own_units(step: Lower) -> tuple[str, ...]:
    """The unit names a program of ``step`` may be measured under: Android and Linux
    profiles name the CPU units as TFLite does, Apple profiles as Core ML does."""
    return tuple(dict.fromkeys(compute_unit(step, p) for p in ("linux", "ios")))
