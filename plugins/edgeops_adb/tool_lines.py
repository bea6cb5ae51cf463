"""Lines of device-tool output with the wrappers around them removed.

The same tool line reaches us behind different prefixes, depending on the
build and the way it was captured (tests/data/fixtures):

- newer TFLite builds: ``INFO: count=50 ...``;
- LiteRT's CompiledModel benchmark: ``INFO: [benchmark_litert_model.h:94] Model initialization: ...``;
- the benchmark APK read through logcat: ``05-30 15:16:44.858  3380  3380 I tflite  : count=40 ...``;
- tools that echo output (flutter -v, crash reporters): leading spaces.
"""

from __future__ import annotations

import re

_LOGCAT = re.compile(r"^\d\d-\d\d\s+\d\d:\d\d:\d\d\.\d+\s+\d+\s+\d+\s+[VDIWEF]\s+[^:]*?\s*:\s?")
_SEVERITY = re.compile(r"^(?:INFO|WARNING|ERROR|VERBOSE|DEBUG): ")
_SOURCE_LOCATION = re.compile(r"^\[[\w./-]+:\d+\]\s?")


def clean_lines(text: str) -> list[str]:
    """Every line of ``text`` without logcat, severity and source-location prefixes."""
    lines = []
    for raw in text.splitlines():
        line = raw.strip()
        line = _LOGCAT.sub("", line)
        line = _SEVERITY.sub("", line)
        line = _SOURCE_LOCATION.sub("", line)
        lines.append(line.strip())
    return lines
