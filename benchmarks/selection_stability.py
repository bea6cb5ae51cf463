"""How often identical `ship`s of the example choose the same primary.

Runs `edgeops ship examples/segmenter --profile host --json` N times in one
workspace (the first converts and optimizes; the rest reuse the cache, and
every run measures afresh, as `ship` does by default). For each run it records
the primary, and whether the plan called it a clear choice, a tie or
undecided. Target: the same primary in at least 95% of runs; how often the
kind of decision agrees too is printed beside it.

Runs share one workspace, so from the second on a tie keeps the previous
release's primary (as a team's repeated ships do); `--extra --ignore-previous`
measures each run's choice on its own evidence alone.

    python benchmarks/selection_stability.py [--runs 5] [--extra ARGS]

Before issue 11 three identical ships of one model chose fp32, fp16, fp32
(p50s 0.0336 vs 0.0336 ms).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def ship(work: Path, model: str, extra: list[str]) -> dict[str, object]:
    argv = [sys.executable, "-m", "edgeops", "ship", model]
    argv += ["--profile", "host", "--json", "--out", str(work / "dist"), *extra]
    done = subprocess.run(argv, cwd=work, capture_output=True, text=True)
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-3:]
        raise SystemExit(f"ship failed (exit {done.returncode}): " + " | ".join(tail))
    out: dict[str, object] = json.loads(done.stdout)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--extra", default="", help="more ship flags, e.g. '--rounds 5'")
    parser.add_argument(
        "--model", default=str(REPO / "examples" / "segmenter"), help="what to ship (the example)"
    )
    args = parser.parse_args()
    extra = shlex.split(args.extra)
    print(f"host: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; ship {args.extra}")
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="edgeops-stability-") as tmp:
        for i in range(args.runs):
            started = time.monotonic()
            out = ship(Path(tmp), args.model, extra)
            (plan,) = out["plans"]  # type: ignore[misc]
            primary = plan["choices"][0]
            ps = [(c["variant_name"], c["expected_p50_ms"]) for c in plan["choices"]]
            outcomes.append((primary["variant_name"], plan.get("decision")))
            print(
                f"run {i + 1}: primary {primary['variant_name']} ({plan.get('decision')}) "
                f"in {time.monotonic() - started:.0f} s; chain {ps}; {plan.get('decision_note')}"
            )
    counts = Counter(outcomes)
    (mode, n), *_ = counts.most_common(1)
    (top, same), *_ = Counter(primary for primary, _ in outcomes).most_common(1)
    print(
        f"\nsame primary as the most common ({top}): {same} of {args.runs} = {same / args.runs:.0%}"
        f"\nsame primary and kind of decision ({mode}): {n} of {args.runs} = {n / args.runs:.0%}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
