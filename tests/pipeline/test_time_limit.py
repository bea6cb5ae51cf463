"""A factory that loops forever is stopped, named, and the run fails with one line."""

from factories import run_cli

LOOPING_FACTORY = """
import torch


def build():
    while True:  # a factory stuck in its own loop, before it returns a model
        pass
"""


def test_a_factory_that_never_returns_is_stopped_by_the_bound(tmp_path):
    (tmp_path / "net.py").write_text(LOOPING_FACTORY)
    (tmp_path / "edgeops.toml").write_text(
        '[model]\nsource = "net.py:build"\n\n[[model.inputs]]\nname = "x"\nshape = [1, 3, 8, 8]\n'
    )
    result = run_cli(
        "ship", str(tmp_path), "--profile", "host", "--task-timeout-s", "3",
        cwd=tmp_path, env={"EDGEOPS_DISABLE_PLUGINS": "tflite,coreml,coreai,executorch"}, timeout_s=300,
    )  # fmt: skip
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert "converting to onnx took longer than 3 s" in last and "--task-timeout-s" in last
    assert "Traceback" not in result.stderr
