"""Core AI's host estimate against a made variant: its cost, its agreement, its ranking.

For one model of ``benchmarks/keep_float.py`` and a Core AI int8 recipe, in a
temporary workspace: converts the model, then times

- one estimate (``CoreAIBackend.estimate``: coreai-opt's prepared, fake-quantized
  module run by torch on the samples, no export), and
- one made variant (``optimize``: quantize, export, convert to ``.aimodel``; then
  ``evaluate``: the Core AI runtime's own run on the samples),

both of the full-int8 recipe, and prints their floor metrics; then estimates every
quantized layer kept alone in float and prints the ranking a ``keep_float = "auto"``
search would screen by (the top 5, and where ``--expect`` ranks).

    python3 benchmarks/coreai_estimate.py --model segmenter --expect head.1
    python3 benchmarks/coreai_estimate.py --model detector --recipe w8a8 --expect cat_1
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from keep_float import config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="segmenter")
    parser.add_argument("--recipe", choices=("quantize", "w8a8"), default="quantize")
    parser.add_argument("--expect", default="", help="the layer the ranking should put first")
    args = parser.parse_args()
    os.environ["EDGEOPS_DISABLE_PLUGINS"] = "coreml,executorch,tflite"
    import edgeops_coreai
    from edgeops.devices.profiles import resolve_profiles
    from edgeops.models import MeasureSettings, Recipe
    from edgeops.pipeline import Pipeline, Workspace
    from edgeops.pipeline.config import load_spec
    from edgeops.pipeline.state import build_context
    from edgeops.plugin_manager import make_plugin_manager
    from edgeops_coreai.steps import W8A8, Float16, Quantize

    print(f"load average before: {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "edgeops.toml").write_text(config(args.model, ["coreai"], recipes="none"))
        pm = make_plugin_manager()
        spec, _ = load_spec(folder / "edgeops.toml")
        host = resolve_profiles(["host"], pm)[0].model_copy(update={"formats": ("coreai",)})
        results = Pipeline(pm, Workspace(folder / ".edgeops")).convert(
            spec, [host], MeasureSettings()
        )
        context = build_context(results)
        artifact = next(a for a in results.artifacts if a.format == "coreai")
        metric = spec.quality.metric
        backend = edgeops_coreai.CoreAIBackend()

        def recipe(float_layers: tuple[str, ...] = ()) -> Recipe:
            step = (
                Quantize(dtype="int8", float_layers=float_layers)
                if args.recipe == "quantize"
                else W8A8(float_layers=float_layers)
            )
            return Recipe.of(
                name=args.recipe, format="coreai", owner="coreai", steps=(step, Float16())
            )

        def estimate(float_layers: tuple[str, ...] = ()) -> float:
            quality = backend.estimate(artifact, recipe(float_layers), context)
            assert quality is not None
            return quality.metrics[metric]

        started = time.perf_counter()
        estimated = estimate()
        estimate_s = time.perf_counter() - started
        started = time.perf_counter()
        made = backend.optimize(artifact, recipe(), context, folder / "made")
        made = made.model_copy(update={"id": "made"})
        scored = backend.evaluate(made, context, folder / "outputs")
        made_s = time.perf_counter() - started
        assert scored is not None
        print(
            f"{args.model} {args.recipe} full int8: estimate {metric} {estimated:.4f} in "
            f"{estimate_s:.1f} s; made and run by Core AI {scored.metrics[metric]:.4f} in "
            f"{made_s:.1f} s"
        )
        layers = [layer.name for layer in made.quantized_layers]
        started = time.perf_counter()
        ranked = sorted(((estimate((name,)), name) for name in layers), reverse=True)
        ranking_s = time.perf_counter() - started
        if not spec.quality.higher_is_better:
            ranked.reverse()
        print(
            f"{len(layers)} layers, each alone in float, estimated in {ranking_s:.0f} s; top 5: "
            + ", ".join(f"{name} {value:.4f}" for value, name in ranked[:5])
        )
        if args.expect:
            names = [name for _, name in ranked]
            where = names.index(args.expect) + 1 if args.expect in names else None
            print(f"{args.expect} ranks {where} of {len(names)}")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
