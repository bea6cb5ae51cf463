"""The typed steps of a Core AI recipe, one per coreai-opt compression (plus fp16).

Each step is a frozen pydantic model with one described field per parameter, so a
recipe read back from results.json or the cache is checked before anything runs.
Steps apply in order to the fp32 torch module before conversion; a ``Palettize``
after a ``Prune`` keeps the pruned zeros (joint compression, coreai-opt's
``sparsity_detection_threshold``).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from edgeops.errors import StageError
from edgeops.models import RecipeStep


class Step(BaseModel):
    # Until the core's StepConfig lands: the same contract (frozen, extra="forbid", op).
    model_config = ConfigDict(frozen=True, extra="forbid")
    op: ClassVar[str]

    def as_recipe_step(self) -> RecipeStep:
        return RecipeStep(op=self.op, params=self.model_dump())


class Palettize(Step):
    op: ClassVar[str] = "palettize"
    nbits: Literal[1, 2, 3, 4, 6, 8] = Field(
        description="Bits per palette index: a look-up table of 2**nbits values (k-means)"
    )
    granularity: Literal["per_tensor", "per_grouped_channel"] = Field(
        "per_tensor", description="One table per weight tensor, or one per group of output channels"
    )
    group_size: int = Field(
        16, ge=1, description="Output channels sharing one table (per_grouped_channel only)"
    )


class Quantize(Step):
    op: ClassVar[str] = "quantize"
    dtype: Literal["int8", "int4"] = Field(description="Weight integer type, symmetric")
    granularity: Literal["per_channel", "per_block"] = Field(
        "per_channel", description="One scale per output channel, or per block of inputs"
    )
    block_size: int = Field(32, ge=1, description="Input channels per scale (per_block only)")


class Prune(Step):
    op: ClassVar[str] = "prune"
    target_sparsity: float = Field(
        gt=0.0,
        lt=1.0,
        description="Share of each weight tensor set to zero, smallest magnitudes first",
    )


class Float16(Step):
    op: ClassVar[str] = "fp16"
    # No parameter: weights, inputs and compute in fp16 (coreai_opt.casting.cast_fp32_to_fp16),
    # keeping fp32 only where an activation would overflow fp16.


STEP_TYPES: tuple[type[Step], ...] = (Palettize, Quantize, Prune, Float16)
_BY_OP = {t.op: t for t in STEP_TYPES}


def typed_steps(steps: tuple[RecipeStep, ...] | list[RecipeStep]) -> list[Step]:
    """The recipe's steps as typed steps; an unknown op or parameter is a StageError."""
    out = []
    for step in steps:
        kind = _BY_OP.get(step.op)
        if kind is None:
            raise StageError(f"unknown Core AI recipe step {step.op!r}; known: {', '.join(_BY_OP)}")
        try:
            out.append(kind.model_validate(dict(step.params)))
        except ValueError as exc:
            raise StageError(
                f"Core AI step {step.op!r}: {' '.join(str(exc).split())[:300]}"
            ) from exc
    return out


def recipe_steps(steps: list[Step]) -> tuple[RecipeStep, ...]:
    return tuple(s.as_recipe_step() for s in steps)


def params_of(step: Step) -> dict[str, Any]:
    return step.model_dump()
