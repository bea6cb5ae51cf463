"""Recipes: one point of a format's sweep, built from typed steps a plugin declares."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import Field, model_validator

from edgeops.models.base import Frozen


class StepConfig(Frozen):
    """A typed recipe step, declared by the plugin that owns it (in the manner of Olive's
    pass configs): one described field per parameter, so a typo is an error at once.

    A subclass sets ``op`` and its fields::

        class Palettize(StepConfig):
            op: ClassVar[str] = "palettize"
            nbits: Literal[1, 2, 3, 4, 6, 8] = Field(description="bits per weight index")
    """

    op: ClassVar[str] = ""
    # The fields that change which kernels run (int8-full against int8-dynamic, fp16
    # against int8): pruning compares two variants only when these agree. None (the
    # default) means every field: a plugin that says nothing is never compared across
    # settings it did not describe. A field left out is an amount (bits, sparsity,
    # group size), over which a smaller, better variant dominates.
    kind_fields: ClassVar[tuple[str, ...] | None] = None

    def to_step(self) -> RecipeStep:
        return RecipeStep(
            op=self.op, params=self.model_dump(mode="json"), kind_fields=self.kind_fields
        )


class KeepFloatStep(StepConfig):
    """A quantizing step that can keep some layers in float (mixed precision, issue 25).

    A backend's quantizing step subclasses it and passes ``float_layers`` to its
    tool's own mechanism (ONNX Runtime's ``nodes_to_exclude``, ...). With
    ``keep_float = "auto"`` the pipeline searches for the fewest such layers
    (``edgeops.pipeline.keep_float``) and hands the step explicit ``float_layers``;
    the backend never sees ``"auto"``.
    """

    keep_float: Literal["none", "auto"] = Field(
        "none",
        description="'auto': keep in float the fewest layers that bring the floor metric "
        "within max_drop of the float model's, found by a sensitivity search on the samples",
    )
    max_drop: float = Field(
        0.01,
        gt=0,
        lt=1,
        description="keep_float='auto': largest relative drop of the floor metric from float",
    )
    float_layers: tuple[str, ...] = Field(
        (), description="Layers (names in the converted graph) left in float; the rest quantized"
    )

    @model_validator(mode="after")
    def _auto_or_explicit(self) -> KeepFloatStep:
        if self.keep_float == "auto" and self.float_layers:
            raise ValueError("give float_layers or keep_float = 'auto', not both")
        return self


class RecipeStep(Frozen):
    """A step as stored in results.json: its op and the validated fields of its StepConfig."""

    op: str
    params: dict[str, Any] = {}
    kind_fields: tuple[str, ...] | None = Field(
        None,
        description="The params that define the step's kind (the kernels it runs); "
        "None: all of them. Pruning compares only variants of one kind.",
    )

    def kind(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        """The op and its kind-defining params: what two steps must share to be compared."""
        names = sorted(self.params) if self.kind_fields is None else self.kind_fields
        return self.op, tuple((n, repr(self.params.get(n))) for n in names)


StepT = TypeVar("StepT", bound=StepConfig)


class Recipe(Frozen):
    """One point of the sweep for one format, proposed by ``edgeops_recipes``.

    Its owner, the plugin that proposed it, alone answers ``edgeops_optimize`` for it.
    """

    name: str = Field(description="Short, unique within a format, e.g. 'int8-static'")
    format: str
    owner: str = Field(
        "", description="Name of the plugin that proposed it; set by the pipeline on collection"
    )
    steps: tuple[RecipeStep, ...] = ()
    deployment_target: str | None = Field(
        None, description="Oldest OS the variant must load on, e.g. 'iOS16'"
    )
    compute_precision: Literal["float32", "float16"] | None = Field(
        None, description="Precision the runtime computes in, where the format fixes it"
    )
    description: str = Field("", description="Prose for people; not part of any cache key")

    @property
    def id(self) -> str:
        """The stable name a config and the reports use: ``format:name``."""
        return f"{self.format}:{self.name}"

    @classmethod
    def of(
        cls,
        *,
        name: str,
        format: str,
        steps: Sequence[StepConfig] = (),
        owner: str = "",
        deployment_target: str | None = None,
        compute_precision: Literal["float32", "float16"] | None = None,
        description: str = "",
    ) -> Recipe:
        """Build a recipe from typed steps (validated now, stored in their wire form)."""
        return cls(
            name=name,
            format=format,
            owner=owner,
            steps=tuple(s.to_step() for s in steps),
            deployment_target=deployment_target,
            compute_precision=compute_precision,
            description=description,
        )

    def typed_steps(self, *classes: type[StepConfig]) -> list[StepConfig]:
        """The steps parsed back into the owner's classes; an unknown op or field raises."""
        by_op = {c.op: c for c in classes}
        out = []
        for step in self.steps:
            if step.op not in by_op:
                known = ", ".join(sorted(by_op)) or "none"
                raise ValueError(f"{self.id}: unknown step {step.op!r} (known: {known})")
            out.append(by_op[step.op].model_validate(step.params))
        return out

    def step_of(self, cls: type[StepT]) -> StepT | None:
        """The first step of type ``cls``, parsed, or None."""
        for step in self.steps:
            if step.op == cls.op:
                return cls.model_validate(step.params)
        return None

    @property
    def keeps_float(self) -> bool:
        """A mixed-precision recipe: a step keeps layers in float, given or searched.

        Such a variant runs float kernels beside int8 ones, so it is a kind of its
        own, never compared with the full-int8 recipe it came from as the same kind.
        """
        return any(
            s.params.get("keep_float") == "auto" or s.params.get("float_layers") for s in self.steps
        )

    def cache_identity(self) -> dict[str, Any]:
        """What makes two recipes the same file: everything but the prose."""
        # kind_fields is a pruning hint, not part of the file: old caches stay valid.
        return self.model_dump(
            mode="json", exclude={"description": True, "steps": {"__all__": {"kind_fields"}}}
        )
