"""A model whose weights are in an external data file beside it ships (issue 28, item 18).

Real ONNX files saved with ``onnx.save(..., save_as_external_data=True)``; the
hostile ones name a location outside the model's folder.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from factories import run_cli, tiny_onnx

ONNX_ONLY = {"EDGEOPS_DISABLE_PLUGINS": "tflite,coreml,executorch"}
QUICK = ("--rounds", "1", "--min-runs", "3", "--min-duration-s", "0")


def with_external_data(folder: Path, location: str = "m.onnx.data") -> Path:
    import onnx

    folder.mkdir(parents=True, exist_ok=True)
    tiny_onnx(folder / "inline.onnx")
    model = onnx.load(str(folder / "inline.onnx"))
    (folder / "inline.onnx").unlink()
    onnx.save(
        model,
        str(folder / "m.onnx"),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=location,
        size_threshold=0,
    )
    return folder / "m.onnx"


def test_a_model_with_external_data_ships_and_its_bundle_stands_alone(tmp_path: Path) -> None:
    import onnxruntime as ort

    model = with_external_data(tmp_path / "src")
    assert (tmp_path / "src" / "m.onnx.data").stat().st_size > 1000
    done = run_cli(
        "ship", str(model), *QUICK, "--out", str(tmp_path / "b"), cwd=tmp_path, env=ONNX_ONLY
    )
    assert done.returncode == 0, done.stderr
    # The bundle's variants run with nothing beside them: the weights came along.
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    alone = tmp_path / "alone"
    alone.mkdir()
    for entry in manifest["variants"].values():
        copy = alone / Path(entry["file"]).name
        shutil.copyfile(tmp_path / "b" / entry["file"], copy)
        session = ort.InferenceSession(str(copy), providers=["CPUExecutionProvider"])
        session.run(None, {"x": np.zeros((1, 3, 32, 32), np.float32)})


@pytest.mark.parametrize("how", ["parent", "link"])
def test_external_data_outside_the_model_folder_is_refused(tmp_path: Path, how: str) -> None:
    src = tmp_path / "src"
    if how == "parent":
        # onnx.save refuses to write such a model; a hand-edited one is the attack.
        import onnx

        model = with_external_data(src)
        proto = onnx.load(str(model), load_external_data=False)
        for tensor in proto.graph.initializer:
            for entry in tensor.external_data:
                if entry.key == "location":
                    entry.value = "../secret.data"
        model.write_bytes(proto.SerializeToString())
        (src / "m.onnx.data").rename(tmp_path / "secret.data")
    else:
        model = with_external_data(src)
        outside = tmp_path / "elsewhere.data"
        (src / "m.onnx.data").rename(outside)
        (src / "m.onnx.data").symlink_to(outside)
    done = run_cli("convert", str(model), cwd=tmp_path, env=ONNX_ONLY)
    assert done.returncode != 0
    assert "outside" in done.stderr and "Traceback" not in done.stderr, done.stderr
