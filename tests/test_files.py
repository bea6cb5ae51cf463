"""User-named files are read only when they are regular, and within bounds checked first (issue 28).

Every case is a real special file (a FIFO from os.mkfifo, a link to /dev/zero),
a real zip bomb built here, or a real model built in code, run through the
real ``edgeops`` command where a user would meet it.
"""

from __future__ import annotations

import os
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from edgeops.errors import ModelError, SamplesError, UsageError
from edgeops.files import open_regular, read_regular, sha256_tree
from edgeops.models import InputSpec
from edgeops.pipeline.samples import MAX_SAMPLES_BYTES, check_sample_bounds, load_arrays

from factories import run_cli, tiny_onnx

ONNX_ONLY = {"EDGEOPS_DISABLE_PLUGINS": "tflite,coreml,executorch"}
QUICK = ("--rounds", "1", "--min-runs", "3", "--min-duration-s", "0")


def specials(folder: Path, name: str) -> dict[str, Path]:
    fifo = folder / f"fifo-{name}"
    os.mkfifo(fifo)
    zero = folder / f"zero-{name}"
    zero.symlink_to("/dev/zero")
    return {"named pipe": fifo, "character device": zero}


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert lines and "Traceback" not in stderr, stderr
    assert lines[-1].startswith("edgeops: error: "), stderr
    return lines[-1]


def test_the_checked_read_refuses_every_special_file(tmp_path: Path) -> None:
    for kind, path in specials(tmp_path, "x").items():
        for read in (
            lambda p: open_regular(p, "model"),
            lambda p: read_regular(p, "model", 1024),
            sha256_tree,
        ):
            with pytest.raises(ModelError, match=kind):
                read(path)
    with pytest.raises(ModelError, match="a folder"):
        open_regular(tmp_path, "model")
    big = tmp_path / "big.json"
    big.write_bytes(b"0" * 2048)
    with pytest.raises(UsageError, match="over the 0 MB bound"):
        read_regular(big, "results", 1024, UsageError)


@pytest.mark.parametrize("suffix", [".onnx", "edgeops.toml"])
def test_ship_refuses_a_special_model_or_config_at_once(tmp_path: Path, suffix: str) -> None:
    for kind, path in specials(tmp_path, suffix).items():
        target = path.with_name(path.name + (suffix if suffix.startswith(".") else ""))
        path.rename(target)
        if suffix == "edgeops.toml":
            folder = tmp_path / kind.replace(" ", "-")
            folder.mkdir()
            target.rename(folder / "edgeops.toml")
            target = folder
        # Before the fix a FIFO hung the run (here: the timeout) and /dev/zero was read
        # without end; now both are refused by what they are, before any work.
        done = run_cli("ship", str(target), *QUICK, cwd=tmp_path, env=ONNX_ONLY, timeout_s=60)
        assert done.returncode == 2, done.stderr
        assert kind in one_line(done.stderr)
        assert not (tmp_path / ".edgeops" / "cache").exists()


def test_a_special_sample_file_is_refused(tmp_path: Path) -> None:
    tiny_onnx(tmp_path / "m.onnx")
    samples = tmp_path / "samples"
    samples.mkdir()
    os.mkfifo(samples / "0.npy")
    (tmp_path / "edgeops.toml").write_text('[model]\nsource = "m.onnx"\nsamples = "samples"\n')
    done = run_cli("ship", ".", *QUICK, cwd=tmp_path, env=ONNX_ONLY, timeout_s=120)
    assert done.returncode != 0 and "named pipe" in one_line(done.stderr)


def zip_bomb(path: Path, declared_bytes: int) -> Path:
    """A real .npz of zeros: a few hundred KB that inflate to ``declared_bytes``."""
    count = declared_bytes // 4
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive,
        archive.open("x/0.npy", "w", force_zip64=True) as member,
    ):
        header = {"descr": "<f4", "fortran_order": False, "shape": (1, count)}
        np.lib.format.write_array_header_1_0(member, header)  # type: ignore[no-untyped-call]
        zeros = bytes(1 << 22)
        for _ in range(count * 4 // len(zeros)):
            member.write(zeros)
    return path


def test_an_npz_bomb_is_refused_from_its_headers(tmp_path: Path) -> None:
    bomb = zip_bomb(tmp_path / "bomb.npz", 256 * 2**20)
    assert bomb.stat().st_size < 2 * 2**20
    started = time.monotonic()
    with pytest.raises(SamplesError, match="would decompress to 256 MB, over the 64 MB bound"):
        load_arrays(bomb, max_bytes=64 * 2**20)
    # Refused from the zip headers: inflating 256 MB takes far longer than reading them.
    assert time.monotonic() - started < 0.5
    assert load_arrays(bomb)["x/0"].shape == (1, 64 * 2**20)


def test_samples_that_could_not_be_held_are_refused_before_work(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="lower model.sample_count"):
        check_sample_bounds((InputSpec(name="x", shape=(1, 2**28)),), 10_000, "m")
    check_sample_bounds((InputSpec(name="x", shape=(1, 3, 224, 224)),), 100, "m")
    assert MAX_SAMPLES_BYTES > 100 * 3 * 224 * 224 * 4
    tiny_onnx(tmp_path / "m.onnx")
    (tmp_path / "edgeops.toml").write_text(
        '[model]\nsource = "m.onnx"\nsample_count = 10000\n'
        '[[model.inputs]]\nname = "x"\nshape = [1, 268435456]\n'
    )
    done = run_cli("ship", ".", *QUICK, cwd=tmp_path, env=ONNX_ONLY, timeout_s=60)
    assert done.returncode == 2 and "GiB bound" in one_line(done.stderr)
    assert not (tmp_path / ".edgeops" / "cache").exists()


def test_a_model_whose_own_input_is_huge_is_refused(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    dims = [1, 30000, 1000000]  # 3e10 elements, as read from the file: no config shape
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "huge",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, dims)],
    )
    onnx.save(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "h.onnx"
    )
    done = run_cli("ship", "h.onnx", *QUICK, cwd=tmp_path, env=ONNX_ONLY, timeout_s=120)
    assert done.returncode == 2, done.stderr
    assert "30,000,000,000 elements" in one_line(done.stderr)


def test_a_samples_generator_that_never_ends_gives_its_first_count(tmp_path: Path) -> None:
    from edgeops.pipeline.samples import build_samples

    from factories import spec

    (tmp_path / "gen.py").write_text(
        "import itertools\nimport numpy as np\n\n"
        "def samples():\n"
        "    for i in itertools.count():\n"
        "        yield np.full((1, 3, 8, 8), i % 7, dtype=np.float32)\n"
    )
    inputs = (InputSpec(name="x", shape=(1, 3, 8, 8)),)
    made = build_samples(
        spec(samples=f"{tmp_path / 'gen.py'}:samples", sample_count=5), inputs, tmp_path
    )
    assert made.count == 5
