"""The sweep at scale: examples/sweep180 shipped cold, re-run, and against an exhaustive run.

- P2: `edgeops ship examples/sweep180` (at least 180 variants converted, optimized,
  host-scored, and measured on the host where that applies) in at most 10 minutes
  on this machine; an unchanged re-run with --reuse-measurements in at most 5 s.
- P5: the same sweep measured exhaustively (--no-prune, every variant for the full
  rounds) picks the same primary per profile as the default cheap-first run, for
  at most 25% of its device time (the probes' own wall time).
- The orchestrator's own peak memory (VmHWM of the `edgeops` process; its worker
  processes are not counted) is reported.

    python3 benchmarks/sweep.py [--jobs N]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "sweep180"
PROFILES = ["--profile", "host", "--profile", "iphone15pro", "--profile", "iphonese2"]


def _peak_mb(pid: int, peak: list[float], done: threading.Event) -> None:
    while not done.is_set():
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak[0] = max(peak[0], int(line.split()[1]) / 1024)
        except OSError:
            return
        time.sleep(0.2)


def ship(work: Path, *extra: str) -> tuple[float, float, dict]:
    """Wall seconds, the orchestrator's peak MB, and the --json summary of one ship."""
    argv = [sys.executable, "-m", "edgeops", "ship", str(EXAMPLE), *PROFILES, "--json", *extra]
    started = time.perf_counter()
    process = subprocess.Popen(
        argv, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    peak, done = [0.0], threading.Event()
    watcher = threading.Thread(target=_peak_mb, args=(process.pid, peak, done), daemon=True)
    watcher.start()
    out, err = process.communicate()
    done.set()
    wall_s = time.perf_counter() - started
    if process.returncode != 0:
        sys.exit(f"ship failed ({process.returncode}): {err.strip().splitlines()[-1:]}")
    return wall_s, peak[0], json.loads(out)


def device_s(summary: dict) -> float:
    return sum(m["environment"].get("probe_wall_s", 0.0) for m in summary["measurements"])


def primaries(summary: dict) -> dict[str, str | None]:
    return {
        p["profile_id"]: (p["choices"][0]["variant_name"] if p["choices"] else None)
        for p in summary["plans"]
    }


def tied_with_exhaustive(default: Path, exhaustive: Path) -> dict[str, bool]:
    """Per profile: the cheap-first primary is the exhaustive one, or tied with it.

    Tied as the selector decides it (edgeops.selection): on the exhaustive run's
    own measurements, the cheap-first primary is not shown to be over the
    equivalence margin slower than the exhaustive primary, and its quality is
    within the quality margin.
    """
    import edgeops
    from edgeops.selection import tied

    cheap, full = edgeops.load_results(default), edgeops.load_results(exhaustive)
    assert full.policy is not None

    def pair(profile_id: str, choice: Any) -> tuple[Any, Any] | None:
        m = next(
            (
                m
                for m in full.measurements
                if m.profile_id == profile_id
                and (m.variant_id, m.compute_unit) == (choice.variant_id, choice.compute_unit)
                and m.status == "ok"
            ),
            None,
        )
        v = next((v for v in full.variants if v.id == choice.variant_id), None)
        return None if m is None or v is None else (v, m)

    out: dict[str, bool] = {}
    for plan in full.plans:
        mine = next(p for p in cheap.plans if p.profile_id == plan.profile_id)
        if not plan.choices or not mine.choices:
            out[plan.profile_id] = not plan.choices and not mine.choices
            continue
        a, b = pair(plan.profile_id, mine.choices[0]), pair(plan.profile_id, plan.choices[0])
        out[plan.profile_id] = (
            a is not None and b is not None and (a == b or tied(a, b, full.policy))
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", default=None, help="worker processes (default: every core)")
    args = parser.parse_args()
    jobs = ["--jobs", args.jobs] if args.jobs else []
    work = Path(tempfile.mkdtemp(prefix="edgeops-sweep-"))

    cold_s, peak_mb, summary = ship(work, *jobs, "--out", str(work / "default"))
    variants = summary["variants"]
    ok = sum(v["status"] == "ok" for v in variants)
    pruned = sum(bool(v.get("pruned")) for v in variants)
    print(
        f"variants: {len(variants)} made ({ok} ok, {len(variants) - ok} failed, {pruned} ruled out on the host)"
    )
    print(
        f"P2 cold ship: {cold_s:.0f} s -> {'PASS' if cold_s <= 600 and len(variants) >= 180 else 'FAIL'}"
        " (target <= 600 s, >= 180 variants)"
    )
    print(f"orchestrator peak memory: {peak_mb:.0f} MB")

    rerun_s, _, _ = ship(work, *jobs, "--reuse-measurements", "--out", str(work / "rerun"))
    print(
        f"P2 unchanged re-run: {rerun_s:.1f} s -> {'PASS' if rerun_s <= 5 else 'FAIL'} (target <= 5 s)"
    )

    _, _, exhaustive = ship(work, *jobs, "--no-prune", "--out", str(work / "exhaustive"))
    share = device_s(summary) / max(device_s(exhaustive), 1e-9)
    tied = tied_with_exhaustive(work / "default", work / "exhaustive")
    same = all(tied.values())
    print(
        f"P5 device time, cheap-first / exhaustive: {device_s(summary):.0f} s / {device_s(exhaustive):.0f} s = {share:.0%}"
    )
    print(f"P5 primaries cheap-first: {primaries(summary)}")
    print(f"P5 primaries exhaustive:  {primaries(exhaustive)}")
    print(f"P5 same primary, or tied with it by the decisions rule: {tied}")
    print(
        f"P5 -> {'PASS' if same and share <= 0.25 else 'FAIL'} "
        "(target: the same primary per profile, <= 25% of the device time)"
    )


if __name__ == "__main__":
    main()
