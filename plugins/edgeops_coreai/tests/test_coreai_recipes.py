"""The Core AI sweep: typed steps, ownership, and which profiles it is proposed for."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from edgeops.plugin import Recipe, StageError
from edgeops_coreai import recipes
from edgeops_coreai.steps import STEP_TYPES, Palettize, Prune, Quantize


def test_recipes_are_proposed_only_for_profiles_that_run_core_ai(coreai_profiles):
    assert recipes.propose([coreai_profiles["iphone15pro"], coreai_profiles["host"]]) == []
    proposed = recipes.propose([coreai_profiles["iphone17pro-ios27"]])
    names = [r.name for r in proposed]
    assert names == [c.name for c in recipes.catalogue()]
    assert all(r.owner == "coreai" and r.format == "coreai" for r in proposed)
    assert all(r.deployment_target == "iOS27" for r in proposed)
    assert {"palettize-kmeans-4", "palettize-kmeans-4-g16", "int8-linear", "prune-50"} <= set(names)


def test_every_recipe_parses_back_into_its_typed_steps(coreai_profiles):
    for recipe in recipes.propose([coreai_profiles["iphone17pro-ios27"]]):
        steps = recipe.typed_steps(*STEP_TYPES)
        assert [s.to_step() for s in steps] == list(recipe.steps)
        precision = "float16" if any(s.op == "fp16" for s in steps) else "float32"
        assert recipe.compute_precision == precision


def test_joint_recipe_prunes_then_palettizes():
    joint = next(c for c in recipes.catalogue() if c.name == "prune-50-palettize-kmeans-4")
    assert [s.op for s in joint.steps] == ["prune", "palettize", "fp16"]


def test_bad_step_parameters_are_refused_at_once():
    with pytest.raises(ValidationError):
        Palettize(nbits=5)
    with pytest.raises(ValidationError):
        Prune(target_sparsity=1.0)
    with pytest.raises(ValidationError):
        Quantize(dtype="int8", scheme="asymmetric")


def test_an_unknown_step_in_a_stored_recipe_is_a_stage_error(
    tiny_artifact, tiny_torch_spec, tmp_path
):
    import edgeops_coreai
    from edgeops.plugin import BuildContext, RecipeStep

    recipe = Recipe(
        name="odd", format="coreai", owner="coreai", steps=(RecipeStep(op="distill", params={}),)
    )
    with pytest.raises(StageError, match="unknown step 'distill'"):
        edgeops_coreai.CoreAIBackend().optimize(
            tiny_artifact, recipe, BuildContext(spec=tiny_torch_spec), tmp_path
        )


def test_catalogue_lists_every_recipe_id():
    import edgeops_coreai

    assert edgeops_coreai.CoreAIBackend().recipes().catalogue("coreai") == [
        f"coreai:{c.name}" for c in recipes.catalogue()
    ]
