"""A tiny conv net as a PyTorch factory, converted once per session with real coremltools."""

from __future__ import annotations

import textwrap

import pytest

from edgeops.models import InputSpec, ModelSpec, QualitySpec

# One 64->128 3x3 convolution holds 73,728 weights: past fp16's 65,504, where
# coremltools' own magnitude pruner under-prunes (conversion-notes.md).
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
    import edgeops_coreml

    workdir = tmp_path_factory.mktemp("tiny-coreml")
    artifact = edgeops_coreml.edgeops_convert(
        spec=tiny_spec, target="coreml", workdir=workdir, artifacts=[]
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
def make_variant(tiny_artifact, tiny_samples, tmp_path_factory):
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
            made[name] = edgeops_coreml.edgeops_optimize(
                artifact=tiny_artifact, recipe=recipes[name], workdir=workdir, samples=tiny_samples
            )
        return made[name]

    return make
