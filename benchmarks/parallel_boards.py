"""Parallel efficiency across boards, and SSH overhead per measurement.

Two loopback "boards" (real sshd servers on 127.0.0.1), each pinned to its own
core with taskset, measure the same 8 variants: one board after the other,
then both at once. Efficiency = sequential wall time / (2 × parallel wall
time); target ≥ 0.8. SSH overhead = (one board's wall time − the local
device's) per measurement; target ≤ 1 s.

    python3 benchmarks/parallel_boards.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from edgeops.devices.leases import LeaseBook  # noqa: E402
from edgeops.devices.profiles import resolve_profiles  # noqa: E402
from edgeops.models import MeasureSettings, Results  # noqa: E402
from edgeops.pipeline import Pipeline, Workspace  # noqa: E402
from edgeops.plugin_manager import make_plugin_manager  # noqa: E402
from edgeops_ssh.testing_sshd import Sshd  # noqa: E402

from factories import onnx_variants  # noqa: E402
from factories import spec as make_spec  # noqa: E402

SETTINGS = MeasureSettings(
    rounds=2, warmup_runs=2, min_runs=5, min_duration_s=0.4, max_runs=200, threads=1
)


def timed_measure(pipeline: Pipeline, results: Results, devices: list) -> float:
    started = time.perf_counter()
    measured = pipeline.measure(results, devices, SETTINGS)
    elapsed = time.perf_counter() - started
    bad = [m for m in measured.measurements if m.status != "ok"]
    assert not bad, bad[0].error
    return elapsed


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="edgeops-parallel-"))
    os.environ["EDGEOPS_DISABLE_PLUGINS"] = "tflite,coreml,executorch"
    boards = [Sshd(work / name) for name in ("a", "b")]
    known = work / "known_hosts"
    try:
        for board in boards:
            board.start()
        known.write_text("".join(b.known_hosts_line() for b in boards))
        os.environ["EDGEOPS_KNOWN_HOSTS"] = str(known)
        pm = make_plugin_manager()
        pipeline = Pipeline(pm, Workspace(work / ".edgeops"), LeaseBook(work / "leases.sqlite"))
        rpi5, orin, host = resolve_profiles(["rpi5", "jetson-orin-nano", "host"], pm)
        a = boards[0].device("a", cpus="0").model_copy(update={"profile_id": "rpi5"})
        b = boards[1].device("b", cpus="1").model_copy(update={"profile_id": "jetson-orin-nano"})
        local = next(d for found in pm.hook.edgeops_discover_devices(inventory=None) for d in found)
        base = Results(
            edgeops_version="bench", run_id="bench", spec=make_spec(), variants=tuple(onnx_variants(work)),
            settings=SETTINGS,
        )  # fmt: skip
        host_cpu = host.model_copy(update={"compute_units": ("cpu",)})
        timed_measure(
            pipeline, base.model_copy(update={"profiles": (rpi5,)}), [a]
        )  # push files, warm caches
        timed_measure(pipeline, base.model_copy(update={"profiles": (orin,)}), [b])
        t_a = timed_measure(pipeline, base.model_copy(update={"profiles": (rpi5,)}), [a])
        t_b = timed_measure(pipeline, base.model_copy(update={"profiles": (orin,)}), [b])
        t_both = timed_measure(pipeline, base.model_copy(update={"profiles": (rpi5, orin)}), [a, b])
        local_pinned = local.model_copy(update={"labels": {"cpus": "0"}})
        t_local = timed_measure(
            pipeline, base.model_copy(update={"profiles": (host_cpu,)}), [local_pinned]
        )
    finally:
        for board in boards:
            board.kill()
    measurements = len(base.variants) * SETTINGS.rounds
    efficiency = (t_a + t_b) / (2 * t_both)
    print(
        f"8 variants x {SETTINGS.rounds} rounds per board: board a {t_a:.2f} s, board b {t_b:.2f} s, "
        f"both at once {t_both:.2f} s"
    )
    print(
        f"parallel efficiency: {efficiency:.3f} -> {'PASS' if efficiency >= 0.8 else 'FAIL'} (target >= 0.8)"
    )
    overhead = (t_a - t_local) / measurements
    print(
        f"local device {t_local:.2f} s; SSH overhead {overhead:.3f} s per measurement "
        f"-> {'PASS' if overhead <= 1.0 else 'FAIL'} (target <= 1 s)"
    )


if __name__ == "__main__":
    main()
