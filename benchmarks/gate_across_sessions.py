"""A real A/A across sessions: does `edgeops gate` fail identical builds shipped apart?

Ships examples/segmenter on the `host` profile ``--sessions`` times (default 6),
``--gap-s`` seconds apart, with a CPU-burning process beside the ship in every
other session (changing background load). Then gates every ordered pair of
sessions (i as baseline, j as current) in both modes:

- **paired**: ``edgeops gate --remeasure``: both primaries measured again now, on
  this machine, interleaved round by round (a CPU burner runs beside every
  other gate as well, so the load changes between gates too);
- **across**: ``edgeops gate`` on the stored rounds of the two sessions (the
  between-session spread in the model, as the gate's verdict names it).

Every session's build is the same model and the same recipe, so a fail is a
false fail. One caveat, on purpose: two ships of one model make byte-identical
files, and the paired mode measures a byte-identical pair once and passes it
as itself (by design). To test the paired statistics rather than that
shortcut, each session's primary file gets a session-specific ONNX
``doc_string`` (metadata only; the graph and weights are untouched), and its
sha256 and size are written into that bundle's results and manifest: the files
differ by bytes and run the same computation.

    python benchmarks/gate_across_sessions.py [--sessions 6] [--gap-s 60] [--rounds 10]
        [--pairs 30] [--out DIR] [--tiny]

``--tiny`` ships a small ONNX net made in code instead of the example (a reduced
run, for a machine too busy to convert the example six times in time).

Prints a Markdown table of fail / pass / inconclusive counts per mode, and
writes every gate's JSON under DIR (default: a new temporary folder).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "segmenter"
# ONNX only, two recipes: the A/A is about the gate, not the sweep, and the machine is shared.
RECIPES = 'recipes = ["fp32", "int8-dynamic"]\n'
ENV = {"EDGEOPS_DISABLE_PLUGINS": "tflite,coreml,executorch"}


def burner() -> subprocess.Popen[bytes]:
    """A process keeping one core busy: the background load of a busy device."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def edgeops(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edgeops", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=3600,
    )


TINY_CONFIG = f"""[model]
name = "tiny"
version = "1.0.0"
source = "m.onnx"
{RECIPES}"""


def project(out: Path, tiny: bool = False) -> Path:
    if tiny:
        # A reduced run for a busy machine: a small ONNX net made in code, not the example.
        from edgeops.testing import write_tiny_onnx

        root = out / "tiny"
        root.mkdir(parents=True, exist_ok=True)
        write_tiny_onnx(root / "m.onnx", size=64)
        (root / "edgeops.toml").write_text(TINY_CONFIG)
        return root
    root = out / "segmenter"
    if not root.exists():
        root.mkdir(parents=True)
        for name in ("segmenter.py", "synthetic.py"):
            (root / name).write_text((EXAMPLE / name).read_text())
        config = (EXAMPLE / "edgeops.toml").read_text()
        config = config.replace('task = "segmentation"\n', f'task = "segmentation"\n{RECIPES}')
        (root / "edgeops.toml").write_text(config)
    return root


def restamp(bundle: Path, session: int) -> None:
    """Make the session's primary file its own bytes with the same graph (see the doc)."""
    import onnx

    results = json.loads((bundle / "results.json").read_text())
    manifest = json.loads((bundle / "manifest.json").read_text())
    primary = results["plans"][0]["choices"][0]["variant_id"]
    entry = manifest["variants"][primary]
    path = bundle / entry["file"]
    model = onnx.load(str(path))
    model.doc_string = f"edgeops A/A session {session}"
    data = model.SerializeToString()
    path.write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    entry.update(sha256=sha, size_bytes=len(data))
    for variant in results["variants"]:
        if variant["id"] == primary:
            variant.update(sha256=sha, size_bytes=len(data))
    (bundle / "results.json").write_text(json.dumps(results, indent=2))
    (bundle / "manifest.json").write_text(json.dumps(manifest, indent=2))


def latency(report: dict[str, object]) -> tuple[str, str, str]:
    for profile in report["profiles"]:  # type: ignore[attr-defined]
        for check in profile["checks"]:
            if check["name"] == "latency":
                lat = check.get("latency") or {}
                return check["verdict"], lat.get("mode", ""), check["detail"]
    return "missing", "", ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=6)
    parser.add_argument("--gap-s", type=float, default=60.0, help="seconds between sessions")
    parser.add_argument("--rounds", type=int, default=10, help="rounds per ship and per gate")
    parser.add_argument(
        "--pairs", type=int, default=30, help="ordered pairs gated (at most n(n-1))"
    )
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--tiny", action="store_true", help="a small ONNX net instead of examples/segmenter"
    )
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="edgeops-aa-"))
    out.mkdir(parents=True, exist_ok=True)
    env = {**ENV, "EDGEOPS_HOME": str(out / "ws"), "EDGEOPS_LEASES": str(out / "leases.sqlite")}
    root = project(out, args.tiny)
    fast = ("--rounds", str(args.rounds), "--min-duration-s", "0.5", "--json")
    bundles = []
    began = time.time()
    for s in range(args.sessions):
        loaded = s % 2 == 1
        burn = burner() if loaded else None
        try:
            bundle = out / f"session-{s}"
            done = edgeops(
                "ship", str(root), *fast, "--out", str(bundle), "--force", cwd=out, env=env
            )
        finally:
            if burn is not None:
                burn.kill()
                burn.wait()
        if done.returncode != 0:
            sys.stderr.write(done.stderr[-2000:])
            return 1
        restamp(bundle, s)
        bundles.append(bundle)
        print(
            f"session {s} at {time.time() - began:5.0f} s ({'CPU burner' if loaded else 'no burner'})",
            file=sys.stderr,
        )
        if s + 1 < args.sessions:
            time.sleep(args.gap_s)
    pairs = list(itertools.permutations(range(args.sessions), 2))[: args.pairs]
    counts = {mode: {"fail": 0, "pass": 0, "inconclusive": 0} for mode in ("paired", "across")}
    modes_seen: dict[str, set[str]] = {"paired": set(), "across": set()}
    rows = []
    for n, (i, j) in enumerate(pairs):
        base, cur = bundles[i], bundles[j]
        across = edgeops(
            "gate", "--baseline", str(base), "--current", str(cur), "--json", cwd=out, env=env
        )
        burn = burner() if n % 2 else None
        try:
            paired = edgeops(
                "gate", "--baseline", str(base), "--current", str(cur), "--remeasure",
                "--rounds", str(args.rounds), "--json", cwd=out, env=env,
            )  # fmt: skip
        finally:
            if burn is not None:
                burn.kill()
                burn.wait()
        for mode, done in (("across", across), ("paired", paired)):
            if done.returncode not in (0, 1, 3):
                sys.stderr.write(done.stderr[-2000:])
                return 1
            verdict, named, detail = latency(json.loads(done.stdout))
            (out / f"gate-{mode}-{i}-{j}.json").write_text(done.stdout)
            counts[mode][verdict] = counts[mode].get(verdict, 0) + 1
            modes_seen[mode].add(named)
            rows.append((i, j, mode, verdict, named, detail))
        print(f"pair {i}->{j}: across {rows[-2][3]}, paired {rows[-1][3]}", file=sys.stderr)
    print(f"\n{len(pairs)} ordered pairs of {args.sessions} sessions, {args.rounds} rounds each; "
          f"{time.time() - began:.0f} s in all; files in {out}\n")  # fmt: skip
    print("| mode | fail | pass | inconclusive | verdicts named |")
    print("|---|---|---|---|---|")
    for mode in ("paired", "across"):
        c = counts[mode]
        named = "; ".join(sorted(m for m in modes_seen[mode] if m)) or "-"
        print(f"| {mode} | {c['fail']} | {c['pass']} | {c['inconclusive']} | {named} |")
    (out / "rows.json").write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
