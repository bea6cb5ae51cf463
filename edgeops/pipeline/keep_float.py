"""Accuracy-aware quantization: keep the few layers that break quality in float (issue 25).

A recipe whose quantizing step says ``keep_float = "auto"`` is not made as it
stands. The pipeline makes, through the backend's own ``edgeops_optimize`` and
``edgeops_evaluate`` (both cached like any variant):

1. the full-int8 twin (no layer in float); its backend names the layers it
   quantized (``Variant.quantized_layers``);
2. the sensitivity of each layer: the twin with that one layer kept in float.
   One-at-a-time *kept in float* from the full-int8 model, not one-at-a-time
   quantized from float: it is what NNCF's ``quantize_with_accuracy_control``
   ranks by, and it measures directly what reverting a layer buys in the model
   that will ship, where the other layers' errors are present too;
3. the fewest of the most sensitive layers that bring the floor metric within
   ``max_drop`` (relative to the unquantized model) and above every floor:
   counts 1, 2, 4, ... until one passes, then bisection between the last
   failing count and it. Every count tried is a real variant, scored on the
   host, so the one returned is verified, not predicted.

The backend sees only explicit ``float_layers`` and passes them to its tool
(ONNX Runtime ``nodes_to_exclude``, ...). What it costs: one variant per
quantized layer plus a few, each made and scored on the run's samples.

A cheaper screen for step 2: a backend's ``estimate`` (``Backend.estimate``, the
``edgeops_estimate`` hook) gives the quality a recipe would have without making
its file (Core ML W8A8: the calibrated fake-quantized torch module run on the
samples, no tracing or mlprogram). When it answers for the full-int8 recipe and
for every layer, the sensitivity is ranked by it; else (no estimate, or one layer
without one) by real variants, as above. An estimate that raises for one layer
drops that layer, as a float twin that fails to build does. Only the *ranking* is estimated: the
twin and every count tried in step 3 are still real variants made and scored by
the backend, so the variant returned is verified either way, and a wrong ranking
costs more counts (or ends in the honest "no count passes"), never a predicted
pass. Each ``LayerSensitivity`` says where its value came from (``source``:
"variant" or "estimate"), and the report shows it. Estimates are cached like
any value (artifact, recipe identity, samples, tools).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from edgeops.errors import StageError
from edgeops.models import (
    KeptFloat,
    LayerSensitivity,
    Quality,
    QualitySpec,
    QuantizedLayer,
    Recipe,
    RecipeStep,
    Variant,
)
from edgeops.quality import meets_floors

log = logging.getLogger(__name__)


def auto_step(recipe: Recipe | None) -> int | None:
    """The index of the step that asks for the search, or None."""
    if recipe is None:
        return None
    for index, step in enumerate(recipe.steps):
        if step.params.get("keep_float") == "auto":
            return index
    return None


def with_float_layers(recipe: Recipe, layers: Sequence[str], suffix: str) -> Recipe:
    """``recipe`` with its auto step resolved to these layers in float, named ``name-suffix``."""
    index = auto_step(recipe)
    assert index is not None
    step = recipe.steps[index]
    params = {**step.params, "keep_float": "none", "float_layers": list(layers)}
    steps = list(recipe.steps)
    steps[index] = RecipeStep(op=step.op, params=params)
    return recipe.model_copy(update={"name": f"{recipe.name}-{suffix}", "steps": tuple(steps)})


def relative_drop(value: float, float_value: float, higher_is_better: bool) -> float:
    """How much worse ``value`` is than float, as a share of float's (absolute if float's is 0)."""
    worse = float_value - value if higher_is_better else value - float_value
    return worse / abs(float_value) if float_value else worse


@dataclass(frozen=True)
class _Budget:
    """What a tried variant is held to: its floor metric within ``max_drop`` of float's,
    and every floor met."""

    recipe_id: str
    quality: QualitySpec
    float_value: float
    max_drop: float

    @property
    def sign(self) -> float:
        return 1.0 if self.quality.higher_is_better else -1.0

    def value_of(self, variant: Variant) -> float:
        metric = self.quality.metric
        if variant.status != "ok":
            raise StageError(f"{self.recipe_id}: {variant.name} failed: {variant.error}")
        if variant.quality is None or metric not in variant.quality.metrics:
            raise StageError(f"{self.recipe_id}: {variant.name} has no host {metric!r}")
        return variant.quality.metrics[metric]

    def drop(self, value: float) -> float:
        return relative_drop(value, self.float_value, self.quality.higher_is_better)

    def passes(self, variant: Variant) -> bool:
        within = self.drop(self.value_of(variant)) <= self.max_drop + 1e-12
        return within and meets_floors(variant.quality, self.quality)[0]


def search(
    recipe: Recipe,
    float_quality: Quality,
    quality: QualitySpec,
    made: Callable[[Recipe], Variant],
    estimated: Callable[[Recipe], Quality | None] | None = None,
) -> Variant:
    """The mixed variant of ``recipe``: ``made(r)`` makes and scores one recipe (cached);
    ``estimated(r)``, when given, is the backend's quick estimate of its quality (or None),
    used only to rank the layers.

    Raises StageError when the twin fails, names no layer, or no count of kept
    layers meets the budget; the pipeline records that as the variant's error.
    """
    index = auto_step(recipe)
    assert index is not None
    metric = quality.metric
    if metric not in float_quality.metrics:
        raise StageError(f"{recipe.id}: the float model has no {metric!r} to keep within max_drop")
    budget = _Budget(
        recipe.id,
        quality,
        float_quality.metrics[metric],
        float(recipe.steps[index].params.get("max_drop", 0.01)),
    )
    twin = made(with_float_layers(recipe, (), "float0"))
    quantized_value = budget.value_of(twin)
    layers = twin.quantized_layers
    if not layers:
        raise StageError(
            f"{recipe.id}: the backend named no quantized layers, so none can be kept in float"
        )
    # Scored even when the twin passes: the table shows where the model is fragile.
    screened = _screened(recipe, layers, budget, estimated) if estimated else None
    sensitivity = screened or _sensitivity(recipe, layers, quantized_value, budget, made)
    ranked = [QuantizedLayer(name=s.name, op=s.op) for s in sensitivity]
    tried: dict[int, Variant] = {0: twin}

    def attempt(count: int) -> bool:
        if count not in tried:
            names = [layer.name for layer in ranked[:count]]
            tried[count] = made(with_float_layers(recipe, names, f"float{count}"))
        return budget.passes(tried[count])

    # Every layer in float is the float model, not a mix: the search stops one short.
    count = 0 if budget.passes(twin) else _fewest(len(ranked) - 1, attempt)
    if count is None:
        best = max(tried.values(), key=lambda v: budget.sign * budget.value_of(v))
        assert best.recipe is not None
        raise StageError(
            f"{recipe.id}: no number of layers kept in float brings {metric} within "
            f"{budget.max_drop:.1%} of float ({budget.float_value:.4g}); best "
            f"{budget.value_of(best):.4g} with "
            f"{len(best.recipe.steps[index].params['float_layers'])} of "
            f"{len(layers)}; raise max_drop or lower the floor"
        )
    return _outcome(recipe, budget, tried, ranked[:count], layers, sensitivity)


def _sensitivity(
    recipe: Recipe,
    layers: Sequence[QuantizedLayer],
    quantized_value: float,
    budget: _Budget,
    made: Callable[[Recipe], Variant],
) -> list[LayerSensitivity]:
    """Each layer's float twin scored, most recovering first (among equals, graph order)."""
    metric = budget.quality.metric
    out: list[LayerSensitivity] = []
    for layer in layers:
        one = made(with_float_layers(recipe, (layer.name,), "float1"))
        if one.status != "ok" or one.quality is None or metric not in one.quality.metrics:
            continue  # a layer whose float twin fails is no candidate; the table omits it
        value = one.quality.metrics[metric]
        recovered = budget.sign * (value - quantized_value)
        out.append(LayerSensitivity(name=layer.name, op=layer.op, value=value, recovered=recovered))
    out.sort(key=lambda s: -s.recovered)
    return out


def _screened(
    recipe: Recipe,
    layers: Sequence[QuantizedLayer],
    budget: _Budget,
    estimated: Callable[[Recipe], Quality | None],
) -> list[LayerSensitivity] | None:
    """Each layer ranked by the backend's estimate of its float twin, against the estimate
    of full int8 (so ``recovered`` compares estimates with estimates); None as soon as one
    has no estimate, and the real pass ranks them all."""
    metric = budget.quality.metric

    def value(layer_names: tuple[str, ...], suffix: str) -> float | None:
        quality = estimated(with_float_layers(recipe, layer_names, suffix))
        return None if quality is None else quality.metrics.get(metric)

    try:
        quantized_value = value((), "float0")
    except Exception:
        log.warning("%s: no estimate of full int8; ranking by made variants", recipe.id)
        return None
    if quantized_value is None:
        return None
    out: list[LayerSensitivity] = []
    for layer in layers:
        try:
            one = value((layer.name,), "float1")
        except Exception as exc:
            # As a float twin that fails to build: no candidate, the table omits it.
            log.warning("%s: no estimate with %s in float: %s", recipe.id, layer.name, exc)
            continue
        if one is None:
            return None
        recovered = budget.sign * (one - quantized_value)
        out.append(
            LayerSensitivity(
                name=layer.name, op=layer.op, value=one, recovered=recovered, source="estimate"
            )
        )
    out.sort(key=lambda s: -s.recovered)
    return out


def _outcome(
    recipe: Recipe,
    budget: _Budget,
    tried: dict[int, Variant],
    asked: Sequence[QuantizedLayer],
    layers: Sequence[QuantizedLayer],
    sensitivity: Sequence[LayerSensitivity],
) -> Variant:
    """The chosen variant, as the auto recipe's, with what the search found."""
    chosen = tried[len(asked)]
    value = budget.value_of(chosen)
    # What the file keeps in float: the layers asked for, and any the backend kept with
    # them (TFLite keeps the reshapes after a float layer in float too).
    still_quantized = {layer.name for layer in chosen.quantized_layers}
    with_them = [x for x in layers if x.name not in still_quantized and x not in asked]
    return chosen.model_copy(
        update={
            "recipe": recipe,
            "kept_float": KeptFloat(
                metric=budget.quality.metric,
                max_drop=budget.max_drop,
                float_value=budget.float_value,
                quantized_value=budget.value_of(tried[0]),
                value=value,
                drop=budget.drop(value),
                layers=(*asked, *with_them),
                asked=tuple(layer.name for layer in asked),
                total_layers=len(layers),
                sensitivity=tuple(sensitivity),
                tried=tuple(sorted((k, budget.value_of(v)) for k, v in tried.items())),
            ),
        }
    )


def _fewest(total: int, passes: Callable[[int], bool]) -> int | None:
    """The smallest count in 1..total that passes, assuming more never hurts; None if none does.

    Doubling first (1, 2, 4, ...) finds the few layers the common case needs in a
    few tries; then bisection between the last failing count and the first passing.
    """
    if total < 1:
        return None
    low, high = 0, 1
    while not passes(high):
        if high >= total:
            return None
        low, high = high, min(2 * high, total)
    while high - low > 1:
        middle = (low + high) // 2
        if passes(middle):
            high = middle
        else:
            low = middle
    return high
