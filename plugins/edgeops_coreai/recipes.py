"""The Core AI sweep: coreai-opt's compressions, typed, for profiles that run Core AI.

Core AI runs from iOS 27 and macOS 27 (the asset's summary says so itself:
``_compatibility_version`` 27.0 for every asset coreai-core 1.0.0b3 writes), so a
recipe is proposed only for profiles whose ``formats`` list ``coreai``; the
profile files decide that from their OS (device_profiles/*.toml, ``os_major``).
"""

from __future__ import annotations

from dataclasses import dataclass

from edgeops.plugin import DeviceProfile, Recipe, RecipeFamily, StepConfig

from .steps import W8A8, Float16, Palettize, Prune, Quantize

FORMAT = "coreai"
OWNER = "coreai"
# One look-up table per 16 output channels: coreai-opt's w4/w6 presets
# (KMeansPalettizerConfig.presets, coreai_opt/palettization/config/_presets).
GROUP_SIZE = 16
# int4 per block of 32 input channels: coreai-opt's w4_per_block preset default.
BLOCK_SIZE = 32
# What every asset coreai-core 1.0.0b3 writes needs (its summary's _compatibility_version).
DEPLOYMENT_TARGET = "iOS27"
FP16 = Float16()


@dataclass(frozen=True)
class Candidate:
    name: str
    steps: tuple[StepConfig, ...]
    what: str


def catalogue() -> tuple[Candidate, ...]:
    """Every recipe; each compression also computes in fp16, as Core ML's recipes do by
    default, because the Neural Engine computes in fp16 only (predict.py)."""
    per_tensor = [
        Candidate(
            f"palettize-kmeans-{bits}",
            (Palettize(nbits=bits), FP16),
            f"{bits}-bit k-means palettization, one table per tensor",
        )
        for bits in (8, 6, 4)
    ]
    grouped = [
        Candidate(
            f"palettize-kmeans-{bits}-g{GROUP_SIZE}",
            (
                Palettize(nbits=bits, granularity="per_grouped_channel", group_size=GROUP_SIZE),
                FP16,
            ),
            f"{bits}-bit k-means palettization, one table per {GROUP_SIZE} output channels "
            "(coreai-opt's preset)",
        )
        for bits in (6, 4)
    ]
    return (
        Candidate("fp32", (), "fp32 weights and compute, the quality reference on device"),
        Candidate("fp16", (FP16,), "fp16 weights, inputs and compute"),
        *per_tensor,
        *grouped,
        Candidate(
            "int8-linear",
            (Quantize(dtype="int8"), FP16),
            "int8 weights, symmetric, one scale per output channel",
        ),
        Candidate(
            f"int4-block{BLOCK_SIZE}",
            (Quantize(dtype="int4", granularity="per_block", block_size=BLOCK_SIZE), FP16),
            f"int4 weights, symmetric, one scale per block of {BLOCK_SIZE} input channels",
        ),
        Candidate("prune-50", (Prune(target_sparsity=0.5), FP16), "50% magnitude pruning"),
        Candidate("prune-75", (Prune(target_sparsity=0.75), FP16), "75% magnitude pruning"),
        Candidate(
            "prune-50-palettize-kmeans-4",
            (Prune(target_sparsity=0.5), Palettize(nbits=4), FP16),
            "50% pruning, then a 4-bit k-means table of the kept weights (joint)",
        ),
    )


def propose(profiles: list[DeviceProfile]) -> list[Recipe]:
    targets = [p.id for p in profiles if FORMAT in p.formats]
    if not targets:
        return []
    return [
        Recipe.of(
            name=c.name,
            format=FORMAT,
            owner=OWNER,
            steps=c.steps,
            deployment_target=DEPLOYMENT_TARGET,
            compute_precision="float16"
            if any(isinstance(s, Float16) for s in c.steps)
            else "float32",
            description=f"{c.what}; iOS/macOS 27+; for {', '.join(targets)}",
        )
        for c in catalogue()
    ]


# [[sweep]] tables: int8/int4 weights computing in fp16, as the catalogue's int8-linear;
# with keep_float (int8 only), the modules left in float are coreai-opt's per-module config.
QUANTIZE_FAMILY = RecipeFamily(
    name="quantize",
    format=FORMAT,
    steps=(Quantize, Float16),
    fixed={"deployment_target": DEPLOYMENT_TARGET, "compute_precision": "float16"},
    description="coreai-opt weight quantization, fp16 compute; keep_float keeps modules in float",
    owner=OWNER,
)

# int8 weights and activations (the Neural Engine's W8A8), fp16 elsewhere; a sweep family
# only, not proposed: its graph-mode prepare and calibration cost every run seconds to
# minutes. keep_float keeps ops of the exported graph in float, a torch.cat included.
W8A8_FAMILY = RecipeFamily(
    name="w8a8",
    format=FORMAT,
    steps=(W8A8, Float16),
    fixed={"deployment_target": DEPLOYMENT_TARGET, "compute_precision": "float16"},
    description="coreai-opt int8 weights and activations calibrated on the samples, fp16 "
    "compute; keep_float keeps ops of the exported graph in float",
    owner=OWNER,
)
