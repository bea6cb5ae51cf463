"""The tiny conv net of edgeops.testing (``tiny_torch_spec``), converted once per session
with real coreai-torch, and its variants."""

from __future__ import annotations

import pytest

from edgeops.testing import converted


@pytest.fixture(scope="session")
def tiny_artifact(tiny_torch_spec, tmp_path_factory):
    """``tiny_torch_spec`` (edgeops.testing) converted by this backend, once per session."""
    import edgeops_coreai

    workdir = tmp_path_factory.mktemp("tiny-coreai")
    return converted(edgeops_coreai, tiny_torch_spec, "coreai", workdir, "tiny-base")


@pytest.fixture(scope="session")
def coreai_profiles():
    from edgeops.plugin import load_profiles

    return load_profiles()


@pytest.fixture(scope="session")
def make_variant(tiny_artifact, tiny_torch_spec, tmp_path_factory):
    """Variants of the tiny net by recipe name, each made once per session."""
    import edgeops_coreai
    from edgeops_coreai.recipes import catalogue

    recipes = {c.name: c for c in catalogue()}
    made = {}

    def make(name: str):
        from edgeops.plugin import Recipe

        if name not in made:
            recipe = Recipe.of(
                name=name, format="coreai", owner="coreai", steps=recipes[name].steps
            )
            from edgeops.plugin import BuildContext

            variant = edgeops_coreai.CoreAIBackend().optimize(
                tiny_artifact,
                recipe,
                BuildContext(spec=tiny_torch_spec),
                tmp_path_factory.mktemp(name),
            )
            assert variant is not None and variant.path is not None
            from edgeops.files import sha256_tree, size_bytes

            made[name] = variant.model_copy(
                update={
                    "id": f"tiny-{name}",
                    "sha256": sha256_tree(variant.path),
                    "size_bytes": size_bytes(variant.path),
                }
            )
        return made[name]

    return make
