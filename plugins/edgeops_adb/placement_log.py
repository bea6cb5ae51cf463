"""Where a TFLite graph ran, read from the delegate lines a run prints.

benchmark_model (and any TFLite app at verbose log level) reports each delegate's
share of the graph in one of these shapes, all seen in real logs
(tests/data/fixtures/README.md names each source):

- ``Replacing 29 out of 31 node(s) with delegate (TfLiteXNNPackDelegate) node,
  yielding 4 partitions for the whole graph.`` (2.x; older builds omit "out of M");
- ``TfLiteHexagonDelegate delegate: 136 nodes delegated out of 139 nodes with 2
  partitions.`` (the Hexagon delegate's own summary);
- ``First 0 operations will run on the GPU, and the remaining 65 on the CPU.`` and
  ``63 operations will run on the GPU, and the remaining 1 operations will run on
  the CPU.`` (the GPU delegate's own summary);
- ``... the model graph will not be executed by the delegate`` (nothing delegated).

A logcat prefix (``05-30 15:16:44.857 3380 3380 I tflite  : ``) or an ``INFO:`` /
``VERBOSE:`` prefix is allowed before any of them.
"""

from __future__ import annotations

import re

from edgeops import Placement, UnitShare

# The delegate each benchmark_model compute unit applies, as its log names it.
DELEGATES = {
    "xnnpack": "TfLiteXNNPackDelegate",
    "gpu": "TfLiteGpuDelegateV2",
    "nnapi": "TfLiteNnapiDelegate",
    "hexagon": "TfLiteHexagonDelegate",
}
SOURCE = "TFLite delegate log lines"

_REPLACING = re.compile(
    r"Replacing (?P<n>\d+)(?: out of (?P<m>\d+))? node\(s\) with delegate \((?P<name>[^)]+)\) node,"
    r" yielding (?P<k>\d+) partitions?"
)
_SUMMARY = re.compile(
    r"(?P<name>TfLite\w+Delegate) delegate: (?P<n>\d+) nodes delegated out of (?P<m>\d+) nodes"
    r" with (?P<k>\d+) partitions?"
)
_GPU_OLD = re.compile(
    r"First (?P<n>\d+) operations will run on the GPU, and the remaining (?P<rest>\d+) on the CPU"
)
_GPU_NEW = re.compile(
    r"(?P<n>\d+) operations will run on the GPU, and the remaining (?P<rest>\d+) operations"
    r" will run on the CPU"
)
_NOT_EXECUTED = re.compile(r"the model graph will not be executed by the delegate")


def parse_placement(log: str, compute_unit: str) -> Placement | None:
    """The placement ``log`` reports for a run on ``compute_unit``, or None when it has no
    delegate line (a plain CPU run, or a build that logs none: nothing is assumed)."""
    accelerator = DELEGATES.get(compute_unit)
    if accelerator is None:
        return None
    delegated: int | None = None
    partitions: int | None = None
    total: int | None = None
    # A delegate's own summary counts the partitions it made; the generic line that
    # follows it may count differently (5 against 2 for Hexagon), so the summary wins.
    summarised = any(m["name"] == accelerator for m in _SUMMARY.finditer(log))
    # Only the asked-for delegate's lines count: a tool may run a second interpreter
    # (inference_diff's XNNPACK reference) whose lines describe another graph.
    for line in log.splitlines():
        if (match := _SUMMARY.search(line)) and match["name"] == accelerator:
            delegated, partitions, total = int(match["n"]), int(match["k"]), int(match["m"])
        elif (match := _REPLACING.search(line)) and match["name"] == accelerator:
            if not summarised:
                delegated, partitions = int(match["n"]), int(match["k"])
                total = int(match["m"]) if match["m"] is not None else total
        elif compute_unit == "gpu" and (match := _GPU_OLD.search(line) or _GPU_NEW.search(line)):
            delegated, total = int(match["n"]), int(match["n"]) + int(match["rest"])
        elif _NOT_EXECUTED.search(line):
            delegated = 0
    if delegated is None:
        return None
    units = [UnitShare(unit=accelerator, nodes=delegated)]
    if total is not None:
        units.append(UnitShare(unit="CPU", nodes=max(total - delegated, 0)))
    return Placement(
        units=tuple(units),
        graph_nodes=total,
        accelerator=accelerator,
        partitions=partitions,
        source=SOURCE,
        where="device",
    )
