"""Where the test suite's time goes: per xdist group, per worker, per file, and the critical path.

Reads the JUnit XML a run writes (``.ci/run`` passes ``--junitxml``; locally
``python3 -m pytest -n 3 --dist loadgroup --junitxml=run.xml``):

    python3 benchmarks/ci_time.py run.xml [--top 25] [--workers 4]

A test's time in JUnit is its setup, call and teardown: a session fixture's cost
lands on the first test that asked for it. The root ``conftest.py`` records each
test's ``xdist_group`` and the worker that ran it as JUnit properties; for an XML
written before it did, the group is derived from the path (a plugin's tests are
one group) and the worker is unknown.

Under ``--dist loadgroup`` a group runs on one worker, one test after another,
while ungrouped tests spread over every worker. So the run can end no sooner than
its longest group (the critical path), nor sooner than the sum of all test times
over the workers. The larger of the two bounds the wall time; when the longest
group comes near the per-worker share, more workers cannot help until it is split.
"""

from __future__ import annotations

import argparse
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

UNGROUPED = "(none)"


@dataclass(frozen=True)
class Case:
    file: str
    name: str
    time_s: float
    group: str
    worker: str


def _file_of(classname: str) -> str:
    """``plugins.edgeops_adb.tests.test_x`` (or ``...test_x.TestClass``) as a path."""
    parts = classname.split(".")
    while parts and not parts[-1].startswith("test_"):
        parts.pop()
    return "/".join(parts) + ".py" if parts else classname


def _group_from_path(file: str) -> str:
    """The group root conftest.py gives a plugin's tests, for XMLs without properties."""
    parts = file.split("/")
    if len(parts) > 2 and parts[0] == "plugins" and "tests" in parts:
        return parts[1]
    return UNGROUPED


def read_cases(path: Path) -> tuple[list[Case], float | None]:
    """Every test case of the report, and the run's wall time as pytest recorded it."""
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    cases = []
    wall_s = None
    for suite in suites:
        if suite.get("time"):
            wall_s = max(wall_s or 0.0, float(suite.get("time", "0")))
        for case in suite.iter("testcase"):
            props = {p.get("name"): p.get("value") for p in case.iter("property")}
            file = _file_of(case.get("classname", ""))
            cases.append(
                Case(
                    file=file,
                    name=case.get("name", ""),
                    time_s=float(case.get("time") or 0.0),
                    group=props.get("xdist_group") or _group_from_path(file),
                    worker=props.get("xdist_worker") or "?",
                )
            )
    return cases, wall_s


def totals(cases: list[Case], key: str) -> list[tuple[str, float, int]]:
    """(key value, seconds, tests), largest first."""
    seconds: dict[str, float] = defaultdict(float)
    count: dict[str, int] = defaultdict(int)
    for case in cases:
        value = getattr(case, key)
        seconds[value] += case.time_s
        count[value] += 1
    return sorted(((k, seconds[k], count[k]) for k in seconds), key=lambda r: -r[1])


def bounds(cases: list[Case], workers: int) -> tuple[float, float, str]:
    """The two lower bounds of the wall time: longest group, and total work per worker."""
    groups = [g for g in totals(cases, "group") if g[0] != UNGROUPED]
    longest_name, longest_s = (groups[0][0], groups[0][1]) if groups else ("-", 0.0)
    # A single ungrouped test is a unit of its own: it can be longer than any group.
    single = max((c for c in cases if c.group == UNGROUPED), key=lambda c: c.time_s, default=None)
    if single is not None and single.time_s > longest_s:
        longest_name, longest_s = f"{single.file}::{single.name}", single.time_s
    share_s = sum(c.time_s for c in cases) / max(1, workers)
    return longest_s, share_s, longest_name


def _table(title: str, rows: list[tuple[str, float, int]], top: int) -> list[str]:
    lines = [f"\n{title}", f"{'seconds':>9} {'tests':>6}  name"]
    lines += [f"{s:9.1f} {n:6d}  {k}" for k, s, n in rows[:top]]
    if len(rows) > top:
        rest = rows[top:]
        lines.append(
            f"{sum(r[1] for r in rest):9.1f} {sum(r[2] for r in rest):6d}  ({len(rest)} more)"
        )
    return lines


def render(cases: list[Case], wall_s: float | None, workers: int | None, top: int) -> str:
    seen_workers = sorted({c.worker for c in cases if c.worker != "?"})
    n = workers or len(seen_workers) or 3
    total_s = sum(c.time_s for c in cases)
    longest_s, share_s, longest_name = bounds(cases, n)
    lines = [
        f"{len(cases)} tests, {total_s:.0f} s of test time"
        + (f", {wall_s:.0f} s wall" if wall_s is not None else ""),
        f"critical path (longest group or single test): {longest_s:.0f} s  {longest_name}",
        f"total / {n} workers: {share_s:.0f} s"
        + ("  <- the critical path bounds the run: split that group"
           if longest_s > share_s else "  (the work, not one group, bounds the run)"),
    ]  # fmt: skip
    if seen_workers:
        lines += _table("per worker (busy time)", totals(cases, "worker"), top)
    lines += _table("per xdist group", totals(cases, "group"), top)
    lines += _table("per file", totals(cases, "file"), top)
    slowest = sorted(cases, key=lambda c: -c.time_s)[:top]
    lines += [f"\nslowest {len(slowest)} tests", f"{'seconds':>9}  group  test"]
    lines += [f"{c.time_s:9.1f}  {c.group}  {c.file}::{c.name}" for c in slowest]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("junit_xml", type=Path, help="the JUnit XML of a pytest run")
    parser.add_argument("--top", type=int, default=25, help="rows per table (default 25)")
    parser.add_argument(
        "--workers", type=int, default=None,
        help="xdist workers to bound the wall time for (default: those in the report, else 3)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if not args.junit_xml.is_file():
        print(
            f"ci_time: {args.junit_xml} is not a file; pass the XML of --junitxml", file=sys.stderr
        )
        return 2
    try:
        cases, wall_s = read_cases(args.junit_xml)
    except ET.ParseError as exc:
        print(f"ci_time: {args.junit_xml} is not JUnit XML ({exc})", file=sys.stderr)
        return 2
    print(render(cases, wall_s, args.workers, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
