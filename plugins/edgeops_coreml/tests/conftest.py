"""The tiny conv net of edgeops.testing (``tiny_torch_spec``), converted once per session
with real coremltools, and its variants."""

from __future__ import annotations

import pytest

from edgeops.testing import converted


@pytest.fixture(scope="session")
def tiny_artifact(tiny_torch_spec, tmp_path_factory):
    """``tiny_torch_spec`` (edgeops.testing) converted by this backend, once per session."""
    import edgeops_coreml

    workdir = tmp_path_factory.mktemp("tiny-coreml")
    return converted(edgeops_coreml, tiny_torch_spec, "coreml", workdir, "tiny-base")


@pytest.fixture(scope="session")
def make_variant(tiny_artifact, tiny_torch_samples, tiny_torch_spec, tmp_path_factory):
    """Variants of the tiny net by recipe name, each made once per session."""
    import edgeops_coreml
    from edgeops.devices.profiles import load_profiles
    from edgeops_coreml.recipes import propose

    profiles = load_profiles()
    recipes = {r.name: r for r in propose([profiles["iphone15pro"], profiles["iphonex"]])}
    made = {}

    def make(name: str):
        if name not in made:
            workdir = tmp_path_factory.mktemp(name)
            from edgeops.plugin import BuildContext

            context = BuildContext(spec=tiny_torch_spec, samples=tiny_torch_samples)
            made[name] = edgeops_coreml.CoreMLBackend().optimize(
                tiny_artifact, recipes[name], context, workdir
            )
        return made[name]

    return make
