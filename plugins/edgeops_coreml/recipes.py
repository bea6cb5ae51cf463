"""The Core ML sweep: which recipes can pay off on which Apple profile, and why others cannot.

Every recipe carries its deployment target and compute precision as typed
recipe fields, then compression steps (steps.py, compress.py) or the torch-side
W8A8 step (activations.py). The deployment target of a recipe is the newest iOS that
every profile it is proposed for runs (chips/*.toml ``max_ios``), so a variant
meant for an iPhone X loads on iOS 16.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from edgeops.plugin import DeviceProfile, Recipe, StepConfig

from .chips import chip_of, newest_ios
from .steps import W8A8, LinearQuantize, Palettize, Prune

FORMAT = "coreml"
log = logging.getLogger("edgeops.coreml")

# Minimum iOS of each op family (coremltools 9 _quantization_passes.py): constexpr
# LUT / affine / sparse ops are iOS 16; activation quantize/dequantize iOS 17;
# int4, per-block scales, per-grouped-channel and 3-bit LUTs and joint compression iOS 18.
IOS_BASE = 16
IOS_ACTIVATIONS = 17
IOS_BLOCKWISE = 18
# Group of output channels sharing one LUT: 16 is coremltools' documented default
# and measured 36 dB at 4 bits on the U-Net (conversion-notes.md).
GROUP_SIZE = 16
# int4 per-block 32: 40 dB at 1.65 MB on the U-Net (conversion-notes.md).
BLOCK_SIZE = 32


@dataclass(frozen=True)
class Candidate:
    name: str
    steps: tuple[StepConfig, ...]
    what: str
    min_ios: int = IOS_BASE
    precision: str = "float16"
    needs_w8a8_chip: bool = False


@dataclass
class Proposal:
    """Per recipe name: the profiles it is for and those it was left out for, with why."""

    candidate: Candidate
    profiles: list[DeviceProfile] = field(default_factory=list)
    left_out: dict[str, str] = field(default_factory=dict)


def catalogue() -> tuple[Candidate, ...]:
    pal = [
        Candidate(
            f"palettize-{mode}-{bits}",
            (Palettize(nbits=bits, mode=mode),),
            f"{bits}-bit {mode} palettization, one LUT per tensor",
        )
        for mode in ("kmeans", "uniform")
        for bits in (8, 6, 4, 2)
    ]
    # Per-group LUTs pay off where one LUT per tensor runs out of levels: at 4 bits
    # and below (4 bits: 32 dB per tensor, 36 dB per group, conversion-notes.md).
    # At 8 and 6 bits a tensor's LUT already reaches 48-63 dB, so groups add only size.
    grouped = [
        Candidate(
            f"palettize-kmeans-{bits}-g{GROUP_SIZE}",
            (
                Palettize(
                    nbits=bits,
                    mode="kmeans",
                    granularity="per_grouped_channel",
                    group_size=GROUP_SIZE,
                ),
            ),
            f"{bits}-bit kmeans palettization, one LUT per {GROUP_SIZE} output channels",
            min_ios=IOS_BLOCKWISE,
        )
        for bits in (4, 2)
    ]
    return (
        Candidate("fp16", (), "fp16 weights and compute; the Neural Engine computes in fp16"),
        Candidate(
            "fp32",
            (),
            "fp32 compute: CPU and GPU only (the Neural Engine has no fp32), the quality fallback",
            precision="float32",
        ),
        Candidate(
            "int8-linear",
            (LinearQuantize(dtype="int8"),),
            "int8 weights, symmetric, one scale per output channel",
        ),
        Candidate(
            f"int4-block{BLOCK_SIZE}",
            (LinearQuantize(dtype="int4", granularity="per_block", block_size=BLOCK_SIZE),),
            f"int4 weights, one scale per block of {BLOCK_SIZE} input channels",
            min_ios=IOS_BLOCKWISE,
        ),
        *pal,
        *grouped,
        Candidate("prune-50", (Prune(target_sparsity=0.5),), "50% magnitude pruning"),
        Candidate("prune-75", (Prune(target_sparsity=0.75),), "75% magnitude pruning"),
        Candidate(
            "prune-50-palettize-kmeans-4",
            (Prune(target_sparsity=0.5), Palettize(nbits=4, mode="kmeans")),
            "50% pruning, then 4-bit kmeans LUT of the kept weights (joint)",
            min_ios=IOS_BLOCKWISE,
        ),
        Candidate(
            "prune-50-int8",
            (Prune(target_sparsity=0.5), LinearQuantize(dtype="int8")),
            "50% pruning, then int8 per-channel kept weights (joint)",
            min_ios=IOS_BLOCKWISE,
        ),
        Candidate(
            "w8a8",
            (W8A8(),),
            "int8 weights and activations, calibrated on the samples "
            "(coremltools.optimize.torch LinearQuantizer)",
            min_ios=IOS_ACTIVATIONS,
            needs_w8a8_chip=True,
        ),
    )


def why_not(candidate: Candidate, profile: DeviceProfile) -> str | None:
    """Why ``candidate`` cannot pay off on ``profile``, or None when it can."""
    chip = chip_of(profile)
    ios = newest_ios(profile)
    if chip is None or ios is None:
        return f"no chip facts for {profile.chip!r} (device_profiles/chips/)"
    if ios < candidate.min_ios:
        return f"needs iOS {candidate.min_ios}; {chip.id} devices stop at iOS {chip.max_ios}"
    if candidate.needs_w8a8_chip and not chip.w8a8_accelerated:
        # coremltools docs: int8 activations are accelerated on the Neural Engine of
        # A17 Pro / M4 only; elsewhere they cost quality and buy no speed.
        return f"{chip.id} does not accelerate int8 activations (A17 Pro, M4 and later do)"
    return None


def propose(profiles: list[DeviceProfile]) -> list[Recipe]:
    apple = [p for p in profiles if FORMAT in p.formats]
    proposals = [Proposal(c) for c in catalogue()]
    for proposal in proposals:
        for profile in apple:
            reason = why_not(proposal.candidate, profile)
            if reason is None:
                proposal.profiles.append(profile)
            else:
                proposal.left_out[profile.id] = reason
    recipes = []
    for proposal in proposals:
        c = proposal.candidate
        left = "; ".join(f"left out for {pid}: {why}" for pid, why in proposal.left_out.items())
        if not proposal.profiles:
            if left:
                log.info("coreml:%s not proposed (%s)", c.name, left)
            continue
        ios = max(c.min_ios, min(newest_ios(p) or IOS_BASE for p in proposal.profiles))
        targets = ", ".join(p.id for p in proposal.profiles)
        recipes.append(
            Recipe.of(
                name=c.name,
                format=FORMAT,
                steps=c.steps,
                deployment_target=f"iOS{ios}",
                compute_precision="float32" if c.precision == "float32" else "float16",
                # Prose only: which profiles it is for is not part of the file it makes.
                description=f"{c.what}; iOS {ios}+; for {targets}" + (f"; {left}" if left else ""),
            )
        )
    return recipes


def needed_ios(recipe: Recipe) -> int:
    """The oldest iOS whose Core ML has every op the recipe's steps make (see IOS_* above)."""
    from .steps import W8A8, LinearQuantize, Palettize, Prune

    steps = recipe.typed_steps(Prune, Palettize, LinearQuantize, W8A8)
    ios = IOS_BASE
    for step in steps:
        if isinstance(step, W8A8):
            ios = max(ios, IOS_ACTIVATIONS)
        elif (
            isinstance(step, Palettize)
            # iOS 16's constexpr_lut_to_dense takes tables of 2, 4, 16, 64 or 256
            # entries; 3-bit (8 entries) came with iOS 18's. At iOS 16 coremltools
            # raised "Parameter lut should be a vector of size from one of {2, 4, ...}".
            and (step.granularity == "per_grouped_channel" or step.nbits == 3)
            or isinstance(step, LinearQuantize)
            and (step.dtype == "int4" or step.granularity == "per_block")
        ):
            ios = max(ios, IOS_BLOCKWISE)
    if len(steps) > 1 and isinstance(steps[0], Prune):
        ios = max(ios, IOS_BLOCKWISE)  # joint sparse + LUT/linear ops
    return ios


def convert_params(recipe: Recipe) -> tuple[int, str]:
    """Deployment target (iOS major) and compute precision a recipe asks for.

    A swept recipe that names no target gets the oldest iOS its ops need.
    """
    if recipe.deployment_target is None:
        return needed_ios(recipe), recipe.compute_precision or "float16"
    target = recipe.deployment_target
    if not target.startswith("iOS") or not target[3:].isdigit():
        raise ValueError(f"{recipe.id}: deployment_target {target!r} is not like 'iOS17'")
    return int(target[3:]), recipe.compute_precision or "float16"
