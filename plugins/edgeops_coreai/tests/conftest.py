"""A tiny conv net as a PyTorch factory, converted once per session with real coreai-torch."""

from __future__ import annotations

import textwrap

import pytest

from edgeops.models import InputSpec, ModelSpec, QualitySpec

# Output channels are multiples of 16 except the head's 4, so grouped palettization
# covers the two large convolutions and skips the head, as on the U-Net.
TINY_NET = textwrap.dedent(
    """
    import torch
    from torch import nn

    def build():
        torch.manual_seed(0)
        return nn.Sequential(
            nn.Conv2d(3, 64, 3, padding=1, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(),
            nn.Conv2d(64, 128, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(128, 4, 1),
        ).eval()
    """
)


@pytest.fixture(scope="session")
def tiny_spec(tmp_path_factory: pytest.TempPathFactory) -> ModelSpec:
    folder = tmp_path_factory.mktemp("tiny")
    (folder / "tiny_net.py").write_text(TINY_NET)
    return ModelSpec(
        name="tiny",
        source=f"{folder / 'tiny_net.py'}:build",
        source_sha256="tiny",
        task="segmentation",
        inputs=(InputSpec(name="image", shape=(1, 3, 16, 16)),),
        sample_count=4,
        quality=QualitySpec(metric="snr_db", floor=20.0),
    )


@pytest.fixture(scope="session")
def tiny_artifact(tiny_spec, tmp_path_factory):
    import edgeops_coreai

    workdir = tmp_path_factory.mktemp("tiny-coreai")
    artifact = edgeops_coreai.edgeops_convert(
        spec=tiny_spec, target="coreai", workdir=workdir, artifacts=[]
    )
    assert artifact is not None
    return artifact.model_copy(update={"id": "tiny-base"})


@pytest.fixture(scope="session")
def tiny_samples(tiny_spec, tmp_path_factory):
    from edgeops.pipeline.samples import build_samples

    return build_samples(tiny_spec, tiny_spec.inputs, tmp_path_factory.mktemp("samples"))


@pytest.fixture(scope="session")
def tiny_reference(tiny_spec, tiny_samples, tmp_path_factory):
    import edgeops_onnx

    return edgeops_onnx.edgeops_reference(
        spec=tiny_spec, samples=tiny_samples, workdir=tmp_path_factory.mktemp("reference")
    )


@pytest.fixture(scope="session")
def coreai_profiles():
    from edgeops.plugin import load_profiles

    return load_profiles()


@pytest.fixture(scope="session")
def make_variant(tiny_artifact, tmp_path_factory):
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
            variant = edgeops_coreai.edgeops_optimize(
                artifact=tiny_artifact, recipe=recipe, workdir=tmp_path_factory.mktemp(name)
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
