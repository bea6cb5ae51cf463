"""A conversion in the edgeops process runs under a memory bound, as a worker does
(issue 28, item 12): past it, that format fails with the figure and the run goes on."""

import json
import os

import pytest

from edgeops.errors import StageError
from edgeops.pipeline.memory_limit import memory_limit
from edgeops.pipeline.workers import _rss_mb

from factories import run_cli, tiny_onnx


def test_an_allocation_past_the_bound_is_interrupted_with_the_figure_and_the_flag():
    bound_mb = _rss_mb(os.getpid()) + 300
    hog = []
    with pytest.raises(StageError) as raised, memory_limit(bound_mb, "converting to x"):
        for _ in range(400):  # 6.4 GB at most: far past the bound
            hog.append(bytearray(16 * 2**20))
            hog[-1][::4096] = b"x" * len(hog[-1][::4096])
    del hog
    assert "converting to x went over its memory bound" in str(raised.value)
    assert "--worker-memory-mb" in str(raised.value)


def test_work_within_the_bound_is_left_alone():
    with memory_limit(_rss_mb(os.getpid()) + 500, "converting to x"):
        data = bytearray(50 * 2**20)
        data[::4096] = b"x" * len(data[::4096])
    assert len(data) == 50 * 2**20


# A converter that allocates without bound, as onnx2tf did at 4K: TFLite is its format here.
BALLOON_CONVERTER = """
from edgeops import hookimpl


@hookimpl
def edgeops_convert(spec, target, workdir):
    if target != "tflite":
        return None
    hog = []
    while True:
        hog.append(bytearray(64 * 2**20))
        hog[-1][::4096] = b"x" * len(hog[-1][::4096])
"""


@pytest.mark.slow
def test_a_conversion_past_its_bound_fails_that_format_and_the_ship_goes_on(tmp_path):
    (tmp_path / "balloon_converter.py").write_text(BALLOON_CONVERTER)
    model = tiny_onnx(tmp_path / "m.onnx")
    env = {
        "PYTHONPATH": str(tmp_path),
        "EDGEOPS_PLUGINS": "balloon_converter",
        "EDGEOPS_DISABLE_PLUGINS": "tflite,coreml,coreai,executorch",
    }
    result = run_cli(
        "ship", str(model), "--profile", "host", "--rounds", "1", "--min-runs", "3",
        "--min-duration-s", "0", "--json", "--worker-memory-mb", "1500",
        cwd=tmp_path, env=env, timeout_s=600,
    )  # fmt: skip
    summary = json.loads(result.stdout)
    results = json.loads((tmp_path / summary["bundle"] / "results.json").read_text())
    artifacts = {a["format"]: a for a in results["artifacts"]}
    assert "went over its memory bound of 1500 MB" in artifacts["tflite"]["error"]
    assert artifacts["onnx"]["status"] == "ok"
    assert any(m["status"] == "ok" for m in summary["measurements"])
