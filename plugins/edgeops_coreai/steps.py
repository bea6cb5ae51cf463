"""The typed steps of a Core AI recipe, one per coreai-opt compression (plus fp16).

Each step is a frozen pydantic model with one described field per parameter, so a
recipe read back from results.json or the cache is checked before anything runs.
Steps apply in order to the fp32 torch module before conversion; a ``Palettize``
after a ``Prune`` keeps the pruned zeros (joint compression, coreai-opt's
``sparsity_detection_threshold``).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from edgeops import KeepFloatStep
from edgeops.plugin import StepConfig


class Palettize(StepConfig):
    op: ClassVar[str] = "palettize"
    kind_fields: ClassVar[tuple[str, ...] | None] = ("granularity",)
    nbits: Literal[1, 2, 3, 4, 6, 8] = Field(
        description="Bits per palette index: a look-up table of 2**nbits values (k-means)"
    )
    granularity: Literal["per_tensor", "per_grouped_channel"] = Field(
        "per_tensor", description="One table per weight tensor, or one per group of output channels"
    )
    group_size: int = Field(
        16, ge=1, description="Output channels sharing one table (per_grouped_channel only)"
    )


class Quantize(KeepFloatStep):
    """Symmetric integer weights (coreai-opt ``Quantizer``).

    ``float_layers`` are torch module names (``head.1``), as ``quantized_layers``
    names them; each goes to ``QuantizerConfig.module_name_configs`` as ``{name:
    None}``, coreai-opt's own "leave this module uncompressed".
    """

    op: ClassVar[str] = "quantize"
    kind_fields: ClassVar[tuple[str, ...] | None] = ("dtype", "granularity")
    dtype: Literal["int8", "int4"] = Field(description="Weight integer type, symmetric")
    granularity: Literal["per_channel", "per_block"] = Field(
        "per_channel", description="One scale per output channel, or per block of inputs"
    )
    block_size: int = Field(32, ge=1, description="Input channels per scale (per_block only)")

    @model_validator(mode="after")
    def _float_layers_in_int8(self) -> Quantize:
        # The search is about int8 (what the Neural Engine runs fast); int4 has palettize.
        if (self.keep_float == "auto" or self.float_layers) and self.dtype != "int8":
            raise ValueError("keep_float and float_layers need dtype = 'int8'")
        return self


class W8A8(KeepFloatStep):
    """int8 weights (symmetric, per channel) and int8 activations (symmetric, per tensor),
    calibrated on the run's samples (coreai-opt ``Quantizer`` in graph mode).

    ``float_layers`` are op names of the exported graph (``cat_1``, ``conv2d_3``), as
    ``quantized_layers`` names them; each goes to ``ModuleQuantizerConfig(op_name_config=
    {name: None})``, which leaves that op's inputs, output and weight in float.
    """

    op: ClassVar[str] = "w8a8"
    kind_fields: ClassVar[tuple[str, ...] | None] = ()
    calibration: Literal["samples"] = Field(
        "samples", description="What the activation ranges are calibrated on"
    )


class Prune(StepConfig):
    op: ClassVar[str] = "prune"
    kind_fields: ClassVar[tuple[str, ...] | None] = ()
    target_sparsity: float = Field(
        gt=0.0,
        lt=1.0,
        description="Share of each weight tensor set to zero, smallest magnitudes first",
    )


class Float16(StepConfig):
    op: ClassVar[str] = "fp16"
    # No parameter: weights, inputs and compute in fp16 (coreai_opt.casting.cast_fp32_to_fp16),
    # keeping fp32 only where an activation would overflow fp16.


STEP_TYPES: tuple[type[StepConfig], ...] = (Palettize, Quantize, W8A8, Prune, Float16)
