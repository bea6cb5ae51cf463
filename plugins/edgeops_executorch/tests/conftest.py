"""The tiny conv net of edgeops.testing (``tiny_torch_spec``), exported once per session
with real ``torch.export``, and its ExecuTorch programs, each lowered once per session."""

from __future__ import annotations

import pytest

from edgeops.plugin import BuildContext


@pytest.fixture(scope="session")
def backend():
    from edgeops_executorch import ExecuTorchBackend

    return ExecuTorchBackend()


@pytest.fixture(scope="session")
def tiny_exported(backend, tiny_torch_spec, tmp_path_factory):
    """``tiny_torch_spec`` (edgeops.testing) converted by this backend, once per session."""
    workdir = tmp_path_factory.mktemp("tiny-executorch")
    artifact = backend.convert(BuildContext(spec=tiny_torch_spec), workdir)
    assert artifact is not None
    return artifact.model_copy(update={"id": "tiny-base"})


@pytest.fixture(scope="session")
def make_program(backend, tiny_exported, tiny_torch_spec, tiny_torch_samples, tmp_path_factory):
    """The tiny net's ``.pte`` variants by recipe name, each lowered once per session."""
    from edgeops.plugin import sha256_file
    from edgeops_executorch import recipes

    by_name = {step.recipe_name: step for step in recipes.CATALOGUE}
    made = {}

    def make(name: str):
        if name not in made:
            variant = backend.optimize(
                tiny_exported,
                recipes.recipe(by_name[name]),
                BuildContext(spec=tiny_torch_spec, samples=tiny_torch_samples),
                tmp_path_factory.mktemp(name),
            )
            assert variant is not None and variant.path is not None
            made[name] = variant.model_copy(
                update={
                    "id": f"tiny-{name}",
                    "sha256": sha256_file(variant.path),
                    "size_bytes": variant.path.stat().st_size,
                }
            )
        return made[name]

    return make
