"""P7: parallel efficiency on a labgrid farm, and the farm's own overhead per measurement.

A real labgrid coordinator and two exporters on 127.0.0.1; each exporter
publishes one loopback "board" (a real sshd), and each board's place is pinned
to its own core (a ``cpus`` tag, applied with taskset). The same 8 variants are
measured through the farm (one profile, 16 measurements) on place board-a
alone, on board-b alone, then on both at once (reserved by the ``profile``
tag, the work split between them). Serial = the mean of the two single-place
runs; efficiency = serial / (2 × t_both); target ≥ 0.8, i.e. the farm's wall
time is at most half the serial time divided by 0.8. The farm's overhead per measurement is what edgeops
spends reserving, acquiring and releasing places (reserve time summed per
worker, acquire and release around every measurement), divided by the
measurements.

    python3 benchmarks/farm_parallel.py
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "plugins" / "edgeops_labgrid" / "tests"))

from edgeops.devices.leases import LeaseBook  # noqa: E402
from edgeops.devices.profiles import resolve_profiles  # noqa: E402
from edgeops.models import MeasureSettings, Results  # noqa: E402
from edgeops.pipeline import Pipeline, Workspace  # noqa: E402
from edgeops.plugin_manager import make_plugin_manager  # noqa: E402
from edgeops_labgrid import execution  # noqa: E402
from edgeops_labgrid.config import farm_devices, read_farm  # noqa: E402

from factories import onnx_variants  # noqa: E402
from factories import spec as make_spec  # noqa: E402
from farm_testing import start_farm, stop_farm  # noqa: E402

REPETITIONS = 3
SETTINGS = MeasureSettings(
    rounds=2, warmup_runs=2, min_runs=5, min_duration_s=0.4, max_runs=200, threads=1
)


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="edgeops-farm-"))
    os.environ["EDGEOPS_DISABLE_PLUGINS"] = "tflite,coreml,executorch"
    farm = start_farm(work / "farm", with_adb=False)
    try:
        os.environ["EDGEOPS_KNOWN_HOSTS"] = str(farm.known_hosts)
        pm = make_plugin_manager()
        pipeline = Pipeline(pm, Workspace(work / ".edgeops"), LeaseBook(work / "leases.sqlite"))
        (rpi5,) = resolve_profiles(["rpi5"], pm)
        base = Results(
            edgeops_version="bench", run_id="bench", spec=make_spec(), variants=tuple(onnx_variants(work)),
            settings=SETTINGS, profiles=(rpi5,),
        )  # fmt: skip

        def device_for(tags: str) -> list:
            path = farm.devices_toml(work / "farm.toml", "[farm.profiles.rpi5]", f"tags = {tags}")
            config = read_farm(path)
            assert config is not None
            return farm_devices(config, [])

        def timed(devices: list) -> tuple[float, execution.Timings]:
            started = time.perf_counter()
            measured = pipeline.measure(base, devices, SETTINGS)
            elapsed = time.perf_counter() - started
            bad = [m for m in measured.measurements if m.status != "ok"]
            assert not bad, bad[0].error
            return elapsed, execution.RUN_TIMINGS[-1]

        only_a = device_for('{ name = "board-a" }')
        only_b = device_for('{ name = "board-b" }')
        both = device_for('{ profile = "rpi5" }')
        timed(only_a)  # push files, warm caches
        timed(only_b)
        # Alternating repetitions (a b both, both b a, ...): load from other work on the
        # machine falls on serial and parallel runs alike; medians are reported.
        runs: dict[str, list[float]] = {"a": [], "b": [], "both": []}
        overheads = []
        efficiencies: list[float] = []
        for rep in range(REPETITIONS):
            order = ["a", "b", "both"] if rep % 2 == 0 else ["both", "b", "a"]
            for which in order:
                elapsed, timings = timed({"a": only_a, "b": only_b, "both": both}[which])
                runs[which].append(elapsed)
                if which == "both":
                    overheads.append(timings)
            e = (runs["a"][-1] + runs["b"][-1]) / 2 / (2 * runs["both"][-1])
            efficiencies.append(e)
            print(f"repetition {rep + 1}: a {runs['a'][-1]:.2f} s, b {runs['b'][-1]:.2f} s, "
                  f"both {runs['both'][-1]:.2f} s, efficiency {e:.3f}")  # fmt: skip
    finally:
        stop_farm(farm)
    measurements = len(base.variants) * SETTINGS.rounds
    t_a, t_b, t_both = (statistics.median(runs[k]) for k in ("a", "b", "both"))
    timings = overheads[len(overheads) // 2]
    serial = (t_a + t_b) / 2
    # The median of the repetitions' own efficiencies: each pairs runs made close in time.
    efficiency = statistics.median(efficiencies)
    print(
        f"medians of {REPETITIONS}, 8 variants x {SETTINGS.rounds} rounds: board-a alone {t_a:.2f} s, "
        f"board-b alone {t_b:.2f} s, both places at once {t_both:.2f} s"
    )
    print(
        f"parallel efficiency (median of repetitions): {efficiency:.3f} -> {'PASS' if efficiency >= 0.8 else 'FAIL'} "
        f"(target >= 0.8; farm wall {t_both:.2f} s vs bound serial/2/0.8 = {serial / 2 / 0.8:.2f} s)"
    )
    print(
        f"farm overhead per measurement (both places, {timings.measurements} measurements): "
        f"{timings.per_measurement_s() * 1000:.1f} ms = reserve {timings.reserve_s * 1000:.1f} ms "
        f"+ acquire {timings.acquire_s * 1000:.1f} ms + release {timings.release_s * 1000:.1f} ms "
        f"in all (expected {measurements})"
    )


if __name__ == "__main__":
    main()
