import ast
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgeops.devices import probe
from edgeops.devices.probe_push import probe_archive, probe_files, write_probe_archive

from factories import tiny_onnx

PROBE = Path(probe.__file__)


def test_probe_imports_only_the_standard_library_at_module_level():
    siblings = {f.stem for f in probe_files()}
    assert PROBE in probe_files() and len(siblings) > 1
    for file in probe_files():
        top_level = set()
        for node in _module_level(ast.parse(file.read_text()).body):
            if isinstance(node, ast.Import):
                top_level |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                top_level.add(node.module.split(".")[0])
        # edgeops: the probe imported as edgeops.devices.probe, never on a device.
        allowed = set(sys.stdlib_module_names) | siblings | {"__future__", "edgeops"}
        assert top_level <= allowed, file.name


def _module_level(body: list[ast.stmt]):
    """Statements run at import: into if/try blocks, not into functions and classes (their
    imports come after the memory baseline)."""
    for node in body:
        yield node
        if isinstance(node, ast.If | ast.Try):
            for block in (node.body, node.orelse, getattr(node, "finalbody", [])):
                yield from _module_level(block)


def test_the_pushed_archive_runs_alone_and_is_the_same_bytes_each_build(tmp_path):
    """What a device gets: one file, named by its content as a session's push names it,
    in a folder with nothing else, run with -I; rebuilt, it is the same bytes, so a
    content-addressed push skips it."""
    first = write_probe_archive(tmp_path / "a.pyz", probe_files())
    again = write_probe_archive(tmp_path / "b.pyz", probe_files())
    assert first.read_bytes() == again.read_bytes()
    assert probe_archive().read_bytes() == first.read_bytes()
    alone = tmp_path / "cache" / f"{hashlib.sha256(first.read_bytes()).hexdigest()}-probe.pyz"
    alone.parent.mkdir()
    alone.write_bytes(first.read_bytes())
    model = tiny_onnx(tmp_path / "m.onnx")
    out = subprocess.run(
        [sys.executable, "-I", str(alone), "--model", str(model), "--compute-unit", "cpu",
         "--min-runs", "3", "--min-duration-s", "0", "--warmup", "1", "--paced-fps", ""],
        capture_output=True, text=True, check=True, cwd=tmp_path / "cache",
    )  # fmt: skip
    doc = json.loads(out.stdout.strip().splitlines()[-1])
    assert doc["status"] == "ok" and len(doc["samples_ms"]) >= 3
    unknown = subprocess.run(
        [sys.executable, "-I", str(alone), "--model", str(model), "--compute-unit", "ane"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert json.loads(unknown.stdout.strip().splitlines()[-1])["status"] == "unsupported"


def run_probe(*args: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-I", str(PROBE), *args], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_probe_measures_an_onnx_model(tmp_path):
    model = tiny_onnx(tmp_path / "m.onnx")
    doc = run_probe(
        "--model", str(model), "--min-runs", "7", "--min-duration-s", "0", "--warmup", "1"
    )
    assert doc["status"] == "ok"
    assert len(doc["samples_ms"]) == 7 and all(s > 0 for s in doc["samples_ms"])
    assert doc["load_ms"] > 0 and doc["first_ms"] > 0
    mem = doc["peak_mem"]
    assert mem["definition"].startswith("VmHWM")
    # The probe (python + numpy + onnxruntime) holds tens of MB; the tiny model adds little.
    assert 10 < mem["baseline_mb"] < mem["raw_mb"] < 1000
    assert abs(mem["over_baseline_mb"] - (mem["raw_mb"] - mem["baseline_mb"])) < 0.02
    assert doc["environment"]["runtime"] == "onnxruntime"


def test_probe_runs_until_the_minimum_duration(tmp_path):
    """The promise is on the loop's wall time, not on the sum of the samples.

    Issue 28 saw samples summing to 110 ms in a 300 ms loop at load 1.2. Measured
    here (tiny net at 128 px, 0.54 ms p50, load 13): the loop's own code between
    the timed calls (two clock reads, an append, a comparison) cost 0.3 ms over
    117 iterations, 2.6 us each; the sum of samples and the loop's wall time
    agreed to 0.1%. The rest of such a gap is time the process is not running
    between calls (descheduled on a busy machine, or its runtime's spinning
    threads taking the core), which the samples by design leave out. So the test
    asserts what the probe promises: the loop ran min_duration_s of wall time,
    by its own clock, and took at least min_runs samples.
    """
    model = tiny_onnx(tmp_path / "m.onnx", size=128)
    doc = run_probe(
        "--model",
        str(model),
        "--min-runs",
        "2",
        "--min-duration-s",
        "0.3",
        "--warmup",
        "0",
        "--max-runs",
        "1000000",  # a quiet host reaches the default cap before 0.3 s
    )
    assert len(doc["samples_ms"]) >= 2
    assert doc["cpu"]["wall_s"] >= 0.3
    # Each sample lies inside the loop: their sum cannot pass its wall time.
    assert sum(doc["samples_ms"]) <= doc["cpu"]["wall_s"] * 1000 + 1


def test_probe_reports_load_failure_of_a_corrupt_model(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    doc = run_probe("--model", str(bad))
    assert doc["status"] == "load_failed" and doc["error"]


def test_probe_refuses_an_unknown_compute_unit(tmp_path):
    doc = run_probe("--model", str(tiny_onnx(tmp_path / "m.onnx")), "--compute-unit", "ane")
    assert doc["status"] == "unsupported"


def test_vmhwm_is_not_inherited_from_a_big_parent(tmp_path):
    """ru_maxrss carries over across fork+exec; VmHWM must not (conversion-notes.md)."""
    code = (
        "import subprocess, sys, json\n"
        "ballast = bytearray(400 * 1024 * 1024)\n"
        "for i in range(0, len(ballast), 4096): ballast[i] = 1\n"
        f"out = subprocess.run([sys.executable, '-I', {str(PROBE)!r}, '--model', sys.argv[1],"
        " '--min-runs', '2', '--min-duration-s', '0'], capture_output=True, text=True).stdout\n"
        "print(out)\n"
    )
    model = tiny_onnx(tmp_path / "m.onnx")
    out = subprocess.run(
        [sys.executable, "-c", code, str(model)], capture_output=True, text=True, check=True
    )
    doc = json.loads(out.stdout.strip().splitlines()[-1])
    assert doc["peak_mem"]["raw_mb"] < 300


def test_probe_reports_cpu_share_throughput_and_cold_then_warm_load(tmp_path):
    model = tiny_onnx(tmp_path / "m.onnx", size=64)
    doc = run_probe(
        "--model", str(model), "--min-runs", "20", "--min-duration-s", "0.3", "--warmup", "1",
        "--threads", "1", "--paced-fps", "", "--max-runs", "100000",
    )  # fmt: skip
    assert doc["status"] == "ok" and doc["paced"] == []
    cpu = doc["cpu"]
    assert cpu["wall_s"] >= 0.3 and cpu["cpu_s"] > 0
    assert cpu["percent_of_one_core"] == pytest.approx(100 * cpu["cpu_s"] / cpu["wall_s"], abs=0.01)
    assert cpu["percent_of_all_cores"] == pytest.approx(
        cpu["percent_of_one_core"] / cpu["cores"], abs=0.01
    )
    assert cpu["cores"] == len(os.sched_getaffinity(0))
    # One thread cannot keep more than one core busy (a little slack for the runtime's own threads).
    assert cpu["percent_of_one_core"] < 115
    assert doc["throughput_fps"] == pytest.approx(len(doc["samples_ms"]) / cpu["wall_s"], rel=1e-3)
    assert doc["cold_load"].startswith("file cache dropped (posix_fadvise DONTNEED, 1 file(s))")
    assert doc["load_ms"] > 0 and doc["warm_load_ms"] > 0


def test_paced_runs_hold_a_camera_rate_a_fast_model_can_keep(tmp_path):
    model = tiny_onnx(tmp_path / "m.onnx", size=16)
    doc = run_probe(
        "--model", str(model), "--min-runs", "3", "--min-duration-s", "0", "--warmup", "1",
        # One thread: onnxruntime's pool spins between runs, which is its choice, not pacing's.
        "--threads", "1", "--paced-fps", "20", "--paced-duration-s", "1.0",
    )  # fmt: skip
    (paced,) = doc["paced"]
    assert paced["target_fps"] == 20 and paced["duration_s"] >= 1.0
    # A frame every 50 ms for 1 s: 20 frames, none dropped, for a model that takes well under 1 ms.
    assert 18 <= paced["frames"] <= 21 and paced["dropped_frames"] == 0
    assert paced["achieved_fps"] == pytest.approx(20, rel=0.1)
    assert len(paced["samples_ms"]) == paced["frames"]
    # The probe sleeps between frames, so it uses far less CPU than a busy loop would.
    assert paced["cpu"]["percent_of_one_core"] < 50


def test_paced_runs_drop_frames_a_slow_model_cannot_keep(tmp_path):
    model = tiny_onnx(tmp_path / "m.onnx", size=256)
    doc = run_probe(
        "--model", str(model), "--min-runs", "3", "--min-duration-s", "0", "--warmup", "1",
        "--threads", "1", "--paced-fps", "1000", "--paced-duration-s", "0.5",
    )  # fmt: skip
    (paced,) = doc["paced"]
    # 23.6 M MACs (360 per pixel, 256 x 256) take far longer than the 1 ms a frame is due in.
    assert paced["over_budget_frames"] == paced["frames"] > 0
    assert paced["dropped_frames"] > 0 and paced["achieved_fps"] < 1000
    # Every frame is either run or dropped: none is lost in between.
    due = paced["frames"] + paced["dropped_frames"]
    assert due == pytest.approx(1000 * paced["duration_s"], abs=paced["samples_ms"][-1] + 2)


def test_this_machine_is_measured_on_one_thread_unless_asked(local_device):
    from edgeops.devices.probe_measure import probe_argv
    from edgeops.errors import UsageError
    from edgeops.models import MeasureSettings
    from edgeops_local import LocalSession

    def threads(settings, device=local_device):
        argv = probe_argv(LocalSession(device), "/m.onnx", "cpu", settings)
        return argv[argv.index("--threads") + 1] if "--threads" in argv else None

    assert threads(MeasureSettings()) == "1"
    assert threads(MeasureSettings(threads=2)) == "2"
    unlabelled = local_device.model_copy(update={"labels": {}})
    assert threads(MeasureSettings(), unlabelled) is None  # the runtime's own choice
    bad = local_device.model_copy(update={"labels": {"threads": "many"}})
    with pytest.raises(UsageError, match="threads = 'many' is not a positive whole number"):
        threads(MeasureSettings(), bad)
    assert LocalSession(local_device).python is not None
