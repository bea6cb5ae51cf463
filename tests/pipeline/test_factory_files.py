"""A factory file behaves as a script does, and its failures name the fix (issue 28, item 21)."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgeops.errors import ModelError, UsageError
from edgeops.pipeline.config import load_spec
from edgeops.pipeline.factories import import_factory


def test_a_factory_imports_the_module_beside_it(tmp_path: Path) -> None:
    folder = tmp_path / "proj"
    folder.mkdir()
    (folder / "h28b_helper_beside.py").write_text("WIDTH = 7\n")
    (folder / "make.py").write_text(
        "import h28b_helper_beside\n\ndef make():\n    return h28b_helper_beside.WIDTH\n"
    )
    assert import_factory(f"{folder / 'make.py'}:make", ModelError, "source")() == 7


def test_a_recursing_factory_is_one_line_naming_the_recursion(tmp_path: Path) -> None:
    (tmp_path / "rec.py").write_text("def make():\n    return make()\n")
    factory = import_factory(f"{tmp_path / 'rec.py'}:make", ModelError, "source")
    with pytest.raises(ModelError, match="recursed without end.*fix the recursion"):
        factory()


def test_nul_in_source_names_the_fix(tmp_path: Path) -> None:
    (tmp_path / "edgeops.toml").write_text('[model]\nsource = "a\\u0000b.onnx"\n')
    with pytest.raises(UsageError, match="control character .* type the path again"):
        load_spec(tmp_path)


def test_an_input_shape_of_another_rank_names_the_rank(tmp_path: Path) -> None:
    from factories import run_cli, tiny_onnx

    tiny_onnx(tmp_path / "m.onnx")
    (tmp_path / "edgeops.toml").write_text(
        '[model]\nsource = "m.onnx"\n[[model.inputs]]\nname = "x"\nshape = [1, 3, 32]\n'
    )
    done = run_cli(
        "convert", ".", cwd=tmp_path, env={"EDGEOPS_DISABLE_PLUGINS": "tflite,coreml,executorch"}
    )
    assert "zip()" not in done.stderr
    assert "give a shape of rank 4" in done.stderr, done.stderr
