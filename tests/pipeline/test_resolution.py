"""Resolution as a sweep axis: `edgeops resolutions` on real ONNX models."""

import json

import numpy as np
import pytest

from edgeops.errors import UsageError
from edgeops.models import InputSpec, Results
from edgeops.pipeline.resolution import PRESETS, parse_resolutions, spatial_axes
from edgeops.pipeline.samples import resized_to
from edgeops.sample_files import resize_nearest

from factories import run_cli, tiny_onnx
from paths import DATA

ONNX_ONLY = {"EDGEOPS_DISABLE_PLUGINS": "tflite,coreml,executorch"}
FAST = ("--rounds", "1", "--min-runs", "5", "--min-duration-s", "0", "--paced-fps", "")


def test_resolutions_are_pairs_or_presets():
    assert parse_resolutions([[720, 1280], "1080p", "4K"]) == (
        (720, 1280),
        (1080, 1920),
        (2160, 3840),
    )
    assert PRESETS["720p"] == (720, 1280)
    for bad, message in ((["8k"], "unknown resolution"), ([[720]], "not \\[height, width\\]"),
                         ([], "must be a list")):  # fmt: skip
        with pytest.raises(UsageError, match=message):
            parse_resolutions(bad)


def test_spatial_axes_from_layout_or_channels():
    assert spatial_axes(InputSpec(name="x", shape=(1, 3, 240, 320))) == (2, 3)
    assert spatial_axes(InputSpec(name="x", shape=(1, 256, 256, 3))) == (1, 2)
    assert spatial_axes(InputSpec(name="x", shape=(1, 8, 8, 8), layout="NHWC")) == (1, 2)


def test_samples_are_resized_by_nearest_neighbour_and_keep_their_values():
    image = np.arange(16, dtype=np.uint8).reshape(1, 1, 4, 4)
    big = resized_to(image, InputSpec(name="x", shape=(1, 1, 8, 8), dtype="uint8"))
    assert big.shape == (1, 1, 8, 8) and set(np.unique(big)) == set(range(16))
    assert (big[0, 0, ::2, ::2] == image[0, 0]).all()
    small = resize_nearest(np.arange(36).reshape(6, 6), (0, 1), (3, 2))
    # Rows 1, 3, 5 and columns 1, 4: the source pixels nearest each target centre.
    assert small.tolist() == [[7, 10], [19, 22], [31, 34]]


@pytest.mark.slow
def test_three_resolutions_give_latency_against_resolution_per_profile(tmp_path):
    model = tiny_onnx(tmp_path / "m.onnx", size=16)
    mnist = DATA / "models/onnx/ortexamples__mnist.onnx"
    for name, source, task in (
        ("conv", model, "image-to-image"),
        ("mnist", mnist, "classification"),
    ):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "edgeops.toml").write_text(
            f'[model]\nsource = "{source}"\ntask = "{task}"\nsample_count = 4\n'
            'recipes = ["fp32", "fp16"]\nresolutions = [[16, 16], [48, 64], [96, 128]]\n'
        )  # fmt: skip
    result = run_cli("resolutions", str(tmp_path / "conv"), *FAST, "--json", cwd=tmp_path,
                     env=ONNX_ONLY, timeout_s=900)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    table = json.loads(result.stdout)
    assert table["resolutions"] == ["16x16", "48x64", "96x128"] and table["not_taken"] == {}
    rows = {(r["profile_id"], r["variant"], r["compute_unit"]): r for r in table["rows"]}
    assert {("host", "onnx:fp32", "cpu"), ("host", "onnx:fp16", "cpu")} <= set(rows)
    for row in rows.values():
        p50 = [c["p50_ms"] for c in row["cells"]]
        assert all(p is not None and p > 0 for p in p50), row
        # 48 times the pixels of the smallest: the largest size must be the slowest.
        assert p50[2] > p50[0]
    # A budget between the sizes' p90s: the answer is the largest size that meets it.
    fp32 = rows[("host", "onnx:fp32", "cpu")]
    p90 = [c["p90_ms"] for c in fp32["cells"]]
    budget = (p90[0] + p90[2]) / 2
    budgeted = run_cli("resolutions", str(tmp_path / "conv"), *FAST, "--json", "--budget-ms",
                       str(budget), cwd=tmp_path, env=ONNX_ONLY, timeout_s=900)  # fmt: skip
    again = json.loads(budgeted.stdout)
    for row in again["rows"]:
        within = [c for c in row["cells"] if c["p90_ms"] is not None and c["p90_ms"] <= budget]
        expected = within[-1]["resolution"] if within else None
        assert row["largest_within_budget"] == expected
    human = run_cli("resolutions", str(tmp_path / "conv"), *FAST, "--budget-ms", str(budget),
                    cwd=tmp_path, env={**ONNX_ONLY, "COLUMNS": "200"}, timeout_s=900)  # fmt: skip
    assert "host: p50 / p90 ms by resolution" in human.stdout
    assert "largest within budget" in human.stdout
    # MNIST flattens to a fixed 256 features: other sizes are refused with the reason.
    refused = run_cli("resolutions", str(tmp_path / "mnist"), *FAST, "--json", cwd=tmp_path,
                      env=ONNX_ONLY, timeout_s=900)  # fmt: skip
    assert refused.returncode == 0, refused.stderr[-2000:]
    not_taken = json.loads(refused.stdout)["not_taken"]
    assert set(not_taken) == {"16x16", "48x64", "96x128"}
    assert all("cannot take input shape" in why for why in not_taken.values())
    # At its own 28 x 28 it runs, and the table says which sizes it cannot take.
    (tmp_path / "mnist" / "edgeops.toml").write_text(
        f'[model]\nsource = "{mnist}"\ntask = "classification"\nsample_count = 4\n'
        'recipes = ["fp32"]\nresolutions = [[28, 28], [48, 64]]\n'
    )
    mixed = run_cli("resolutions", str(tmp_path / "mnist"), *FAST, "--json", cwd=tmp_path,
                    env=ONNX_ONLY, timeout_s=900)  # fmt: skip
    (row,) = json.loads(mixed.stdout)["rows"]
    native, bigger = row["cells"]
    assert native["p50_ms"] > 0 and bigger["error"] == "the model cannot take this size"


def test_folder_samples_are_resized_only_for_a_resolution_run(tmp_path):
    from edgeops.errors import SamplesError
    from edgeops.pipeline.resolution import at_resolution
    from edgeops.pipeline.samples import build_samples
    from edgeops.sample_files import sample_feeds

    from factories import spec as make_spec

    (tmp_path / "samples").mkdir()
    np.save(tmp_path / "samples" / "a.npy", np.ones((1, 3, 16, 16), np.float32))
    native = make_spec(samples=str(tmp_path / "samples"), sample_count=1)
    inputs = (InputSpec(name="x", shape=(1, 3, 32, 48)),)
    with pytest.raises(SamplesError, match="expects"):
        build_samples(native, inputs, tmp_path)
    sized = at_resolution(native, (InputSpec(name="x", shape=(1, 3, 16, 16)),), (32, 48))
    samples = build_samples(sized, sized.inputs, tmp_path)
    (feed,) = sample_feeds(samples)
    assert feed["x"].shape == (1, 3, 32, 48) and (feed["x"] == 1).all()


def test_each_size_runs_under_a_memory_bound_and_is_kept_as_it_finishes(tmp_path):
    """Issue 28, item 12 and the resolutions lines of its smaller list."""
    model = tiny_onnx(tmp_path / "m.onnx", size=16)
    (tmp_path / "edgeops.toml").write_text(
        f'[model]\nsource = "{model}"\ntask = "image-to-image"\nsample_count = 2\n'
        'recipes = ["fp32"]\nresolutions = [[16, 16], [32, 32]]\n'
    )
    # A bound no Python process fits in: each size is stopped, recorded, and the run goes on.
    bounded = run_cli("resolutions", ".", *FAST, "--json", "--memory-mb", "20", cwd=tmp_path,
                      env=ONNX_ONLY, timeout_s=900)  # fmt: skip
    assert bounded.returncode == 0, bounded.stderr[-2000:]
    not_taken = json.loads(bounded.stdout)["not_taken"]
    assert set(not_taken) == {"16x16", "32x32"}
    assert all("past the 20 MB memory bound" in why for why in not_taken.values()), not_taken
    # Unbounded, in a pipe (no COLUMNS), with a profile nothing here converts to.
    piped = run_cli("resolutions", ".", *FAST, "-p", "host", "-p", "pixel6", cwd=tmp_path,
                    env=ONNX_ONLY, timeout_s=900)  # fmt: skip
    assert piped.returncode == 0, piped.stderr[-2000:]
    finished = [line for line in piped.stderr.splitlines() if line.startswith("resolutions: ")]
    assert [line.split(":")[1].strip() for line in finished] == ["16x16", "32x32"]
    assert all("done (peak" in line for line in finished), finished
    assert "onnx:fp32" in piped.stdout and "…" not in piped.stdout
    assert "pixel6: nothing measured: " in piped.stdout and "tflite" in piped.stdout


def test_a_size_estimated_past_the_bound_is_refused_before_it_runs():
    from edgeops.pipeline.size_runs import BASE_MB, SizeRun, estimate_mb

    from factories import spec

    results = Results(edgeops_version="0", run_id="r", spec=spec())
    last = SizeRun((720, 1280), results, None, peak_mb=BASE_MB + 1000)
    # 4K is 9 times the pixels of 720p: what grew with the size grows 9 times.
    assert estimate_mb((2160, 3840), last) == BASE_MB + 9000
    assert estimate_mb((2160, 3840), None) is None
