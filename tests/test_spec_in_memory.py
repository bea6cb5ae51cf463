"""A walk of the spec through ``ship`` never writes it to disk to read it back (issue 22).

The Apple backends once saved the spec beside their cached base model (``coreml.json``)
and read it back to convert a variant again, because ``edgeops_optimize`` did not get
it. It now reaches every build call in its ``BuildContext``. The walk below ships to
an iOS 27 iPhone with the recipes that rebuild from the source (Core ML's fp32 and
int4 at another precision and iOS than the base, and every Core AI variant), in this
process, watching every spec a backend builds from JSON and every file the cache keeps.
"""

from __future__ import annotations

import textwrap
import traceback
from pathlib import Path

import pytest

import edgeops
from edgeops.models import ModelSpec
from edgeops.testing import TINY_TORCH_NET

from factories import spec as make_spec
from paths import REPO

CONFIG = textwrap.dedent(
    """
    [model]
    name = "tiny"
    version = "1.0.0"
    source = "tiny_net.py:build"
    task = "segmentation"
    sample_count = 4
    recipes = ["coreai:fp32", "coreml:fp32", "coreml:int4-block32"]

    [[model.inputs]]
    name = "image"
    shape = [1, 3, 16, 16]

    [model.quality]
    metric = "snr_db"
    floor = 20.0
    """
)


def watch_spec_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every ModelSpec a backend or its helpers (``plugins/``, the build records among
    them) validate from data, by the frame that asked; the config's own loading is not
    a backend's."""
    calls: list[str] = []
    backends = (str(REPO / "plugins"),)
    for name in ("model_validate", "model_validate_json"):
        original = getattr(ModelSpec, name)

        def watched(cls, *args, _original=original, **kwargs):  # noqa: ANN001
            frames = [f for f in traceback.extract_stack()[:-1] if f.filename.startswith(backends)]
            if frames:
                calls.append(f"{frames[-1].filename}:{frames[-1].lineno}")
            return _original(*args, **kwargs)

        monkeypatch.setattr(ModelSpec, name, classmethod(watched))
    return calls


def files_holding(root: Path, needle: str) -> list[Path]:
    """Files under ``root`` whose bytes hold ``needle``."""
    return sorted(p for p in root.rglob("*") if p.is_file() and needle.encode() in p.read_bytes())


def test_the_watch_sees_a_spec_written_beside_an_artifact_and_read_back(tmp_path, monkeypatch):
    # What the Apple backends did: the spec saved as JSON beside the artifact, then read.
    spec = make_spec(source="/abs/m.onnx", source_sha256="f00d" * 16)
    calls = watch_spec_reads(monkeypatch)
    entry = tmp_path / "cache" / "artifacts" / "k"
    entry.mkdir(parents=True)
    (entry / "coreml.json").write_text(spec.model_dump_json())
    namespace = {"ModelSpec": ModelSpec, "entry": entry}
    code = compile(
        "ModelSpec.model_validate_json((entry / 'coreml.json').read_text())",
        str(REPO / "plugins" / "edgeops_coreml" / "__init__.py"),
        "eval",
    )
    assert eval(code, namespace) == spec  # noqa: S307 (a frame that looks like a backend's)
    assert calls and calls[0].endswith("__init__.py:1")
    assert files_holding(tmp_path / "cache", spec.source_sha256) == [entry / "coreml.json"]


@pytest.mark.slow
def test_a_ship_to_an_ios27_iphone_keeps_the_spec_in_memory(tmp_path, monkeypatch):
    pytest.importorskip("coremltools")
    pytest.importorskip("coreai")
    model = tmp_path / "tiny"
    model.mkdir()
    (model / "tiny_net.py").write_text(TINY_TORCH_NET)
    (model / "edgeops.toml").write_text(CONFIG)
    monkeypatch.setenv("EDGEOPS_DISABLE_PLUGINS", "tflite,executorch")
    calls = watch_spec_reads(monkeypatch)
    results = edgeops.ship(
        model,
        ["iphone16-ios27"],
        out=tmp_path / "bundle",
        workspace=tmp_path / "home",
        jobs=1,  # in this process, where the watch is
        progress=False,
    )
    made = {v.name: v.status for v in results.variants}
    assert made == {"coreai:fp32": "ok", "coreml:fp32": "ok", "coreml:int4-block32": "ok"}
    assert calls == [], f"a backend read a spec back: {calls}"
    # The spec's fingerprint is in no file the cache keeps (build records, variants, scores).
    assert files_holding(tmp_path / "home" / "cache", results.spec.source_sha256) == []
