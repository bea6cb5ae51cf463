"""A recipe belongs to the plugin that proposed it: only that plugin makes it."""

from typing import ClassVar, Literal

import pytest
from pydantic import Field, ValidationError

from edgeops import hookimpl
from edgeops.devices.profiles import resolve_profiles
from edgeops.errors import PluginError
from edgeops.models import MeasureSettings, Recipe
from edgeops.pipeline import Pipeline
from edgeops.pipeline.config import load_spec
from edgeops.plugin import StepConfig, variant_from

from factories import tiny_onnx

FAST = MeasureSettings(rounds=1, min_runs=3, min_duration_s=0.0, warmup_runs=1)


class Shout(StepConfig):
    op: ClassVar[str] = "shout"
    volume_db: Literal[60, 90] = Field(description="how loud")


class Proposer:
    """Proposes onnx:shout and makes it by appending a marker to the file."""

    @hookimpl
    def edgeops_recipes(self, artifact):
        if artifact.format != "onnx":
            return []
        return [Recipe.of(name="shout", format="onnx", steps=[Shout(volume_db=90)])]

    @hookimpl
    def edgeops_optimize(self, artifact, recipe, workdir):
        (step,) = recipe.typed_steps(Shout)
        out = workdir / "shout.onnx"
        out.write_bytes(artifact.path.read_bytes())
        return variant_from(artifact, recipe, out, params=step.volume_db)


class Hijacker:
    """Answers every ONNX recipe with a copy, as the built-in once did."""

    made: ClassVar[list[str]] = []

    @hookimpl(tryfirst=True)
    def edgeops_optimize(self, artifact, recipe, workdir):
        Hijacker.made.append(recipe.id)
        out = workdir / "copy.onnx"
        out.write_bytes(artifact.path.read_bytes())
        return variant_from(artifact, recipe, out)


@pytest.fixture
def pipeline_and_results(tmp_path, edgeops_pm, edgeops_workspace):
    spec, _ = load_spec(tiny_onnx(tmp_path / "m.onnx"))
    pipeline = Pipeline(edgeops_pm, edgeops_workspace)
    host = resolve_profiles(["host"], edgeops_pm)[0].model_copy(update={"formats": ("onnx",)})
    return pipeline, pipeline.convert(spec, [host], FAST)


def test_only_the_owner_makes_its_recipe(pipeline_and_results, register_plugin):
    pipeline, results = pipeline_and_results
    register_plugin(Proposer(), name="proposer")
    register_plugin(Hijacker(), name="hijacker")
    Hijacker.made.clear()
    variants = {v.name: v for v in pipeline.optimize(results).variants}
    shout = variants["onnx:shout"]
    assert shout.status == "ok" and shout.recipe is not None
    assert shout.recipe.owner == "proposer" and shout.params == 90
    assert "onnx:shout" not in Hijacker.made
    # The built-in's own recipes are the built-in's: the hijacker makes none of them either.
    assert Hijacker.made == []
    assert variants["onnx:fp16"].recipe.owner == "onnx"


def test_two_plugins_proposing_one_recipe_id_is_refused(pipeline_and_results, register_plugin):
    pipeline, results = pipeline_and_results
    register_plugin(Proposer(), name="proposer")

    class Twin:
        @hookimpl
        def edgeops_recipes(self, artifact):
            return [Recipe.of(name="shout", format="onnx")]

    register_plugin(Twin(), name="twin")
    with pytest.raises(PluginError, match="both propose onnx:shout"):
        pipeline.optimize(results)


def test_a_typed_step_refuses_a_typo_and_a_bad_value():
    with pytest.raises(ValidationError):
        Shout(volume_dB=90)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        Shout(volume_db=70)  # type: ignore[arg-type]
    recipe = Recipe.of(name="shout", format="onnx", steps=[Shout(volume_db=60)])
    with pytest.raises(ValueError, match="unknown step 'shout'"):
        recipe.typed_steps()


def test_the_cache_key_ignores_prose():
    a = Recipe.of(name="shout", format="onnx", steps=[Shout(volume_db=60)], description="for x")
    b = a.model_copy(update={"description": "for x and y"})
    assert a.cache_identity() == b.cache_identity()
