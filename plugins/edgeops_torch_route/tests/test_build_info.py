"""edgeops_torch_route.build_info: the record beside a converted model, and a variant's built on its parent's."""

from __future__ import annotations

import json
import time

from edgeops_torch_route.build_info import BuildInfo


def test_a_variant_record_starts_from_its_parents(tmp_path):
    info = BuildInfo("thing.json")
    base, variant = tmp_path / "base", tmp_path / "variant"
    base.mkdir()
    variant.mkdir()
    info.write(base, {"outputs": ["logits"], "ios": 16})
    assert info.read(base / "model") == {"outputs": ["logits"], "ios": 16}

    def make() -> dict:
        time.sleep(0.05)  # the variant's conversion
        return {"ios": 18, "bits": 4}

    info.write_variant(variant, base / "model", "palettize-4", make)
    record = json.loads((variant / "thing.json").read_text())
    assert record["ios"] == 18 and record["bits"] == 4 and record["recipe"] == "palettize-4"
    assert record["outputs"] == ["logits"] and 0.05 <= record["optimize_s"] < 5


def test_a_model_without_a_record_reads_empty(tmp_path):
    info = BuildInfo("thing.json")
    assert info.read(tmp_path / "model") == {}
    info.write(tmp_path, {"source": "mlpackage"})
    assert info.read(tmp_path / "model") == {"source": "mlpackage"}
