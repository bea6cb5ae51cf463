"""Reading the log of ExecuTorch's command-line runners: ``executor_runner`` (portable
kernels, or XNNPACK when built with it) and ``qnn_executor_runner``.

Every line the runtime logs is ``<level> <h>:<mm>:<ss.us> executorch:<file>:<line>] <text>``
(ET_LOG; the time is since the process started). What a round needs from it:

- ``Method loaded.``: the time the program and its delegates were ready (the load time);
- ``Model executed successfully N time(s) in T ms.``: N executions took T ms in all
  (executor_runner.cpp since ExecuTorch 0.4; before, ``Model executed successfully.`` after
  one execution, timed here from ``Inputs prepared.``);
- ``N inference took T ms, avg A ms``: qnn_executor_runner's figure;
- ``Execution of method <m> failed with status 0x<hex>``: the run failed.

The runners print totals, not one time per execution, so a round gives its mean.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_LINE = re.compile(r"^([IDWEF]) (\d+):(\d+):(\d+(?:\.\d+)?) executorch:([\w./-]+):\d+\] (.*)$")
_EXECUTED = re.compile(r"Model executed successfully(?: (\d+) time\(s\)(?: in ([\d.]+) ms)?)?\.")
_QNN = re.compile(r"(\d+) inference took ([\d.]+) ms, avg ([\d.]+) ms")
_FAILED = re.compile(r"Execution of method (\S+) failed with status (0x[0-9a-fA-F]+)")


@dataclass(frozen=True)
class RunnerLog:
    """What one run of a runner said: executions, their mean, the load time, or why it failed."""

    executions: int
    mean_ms: float | None
    load_ms: float | None
    error: str | None
    runner: str | None

    @property
    def ok(self) -> bool:
        return self.error is None and self.mean_ms is not None


def parse(text: str) -> RunnerLog:
    """The figures in a runner's output (stdout and stderr together)."""
    times: dict[str, float] = {}
    executions, mean_ms, error, runner = 0, None, None, None
    for raw in text.splitlines():
        line = _LINE.match(raw.strip())
        if not line:
            continue
        _, hours, minutes, seconds, source, message = line.groups()
        runner = runner or source
        at_s = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
        if message.startswith("Method loaded."):
            times["loaded"] = at_s
        elif message.startswith("Inputs prepared."):
            times["prepared"] = at_s
        elif found := _EXECUTED.search(message):
            count, total = found.groups()
            executions = int(count) if count else 1
            if total is not None:
                mean_ms = float(total) / executions
            elif "prepared" in times:
                # The old runner's one execution: from inputs prepared to this line.
                mean_ms = (at_s - times["prepared"]) * 1000.0
        elif found := _QNN.search(message):
            executions, mean_ms = int(found.group(1)), float(found.group(3))
        elif found := _FAILED.search(message):
            error = f"execution of method {found.group(1)} failed with status {found.group(2)}"
    if error is None and mean_ms is None:
        last = next((k for k in ("prepared", "loaded") if k in times), None)
        error = (
            f"the runner stopped after {'inputs prepared' if last == 'prepared' else 'loading'} "
            "without finishing an execution"
            if last
            else "no ExecuTorch runner log in the output"
        )
    load_ms = round(times["loaded"] * 1000.0, 3) if "loaded" in times else None
    return RunnerLog(executions, mean_ms, load_ms, error, runner)
