"""What ``edgeops devices`` shows for an adb device: read over the session, never assumed.

An Android phone answers ``getprop``; a Linux board running adbd has none, so
its facts come from ``uname``, ``/proc/cpuinfo`` and ``/proc/meminfo`` alone.
"""

from __future__ import annotations

import json
import re
from typing import Any

from edgeops.plugin import Session

from .getprop import android_facts, parse_getprop
from .meminfo import parse_proc_meminfo, total_ram_mb
from .profile_match import match_profile

READ_TIMEOUT_S = 15.0
# Runtimes the probe can use on a board with Python (edgeops.devices.probe.RUNNERS).
PROBE_DISTRIBUTIONS = ("onnxruntime", "ai-edge-litert", "tflite-runtime")
# Run as `python -c _RUNTIME_VERSIONS NAME...`: the names arrive as argv, not pasted into code.
_RUNTIME_VERSIONS = (
    "import json, sys, importlib.metadata as m\n"
    "found = {}\n"
    "for name in sys.argv[1:]:\n"
    "    try:\n"
    "        found[name] = m.version(name)\n"
    "    except m.PackageNotFoundError:\n"
    "        pass\n"
    "print(json.dumps(found))\n"
)
# /proc/cpuinfo names the chip on "Hardware" (older ARM kernels) or "model name" (x86, some ARM).
_CPUINFO_CORE = re.compile(r"^processor\s*:", re.MULTILINE)
_CPUINFO_NAME = re.compile(r"^(?:Hardware|model name|Model)\s*:\s*(.+)$", re.MULTILINE)


def describe_device(session: Session, benchmark_model: str | None = None) -> dict[str, Any]:
    """os, cpu, cores, ram_mb, runtimes, model, soc, sdk, matched_profile (None where unread).

    ``matched_profile`` is a profile id from getprop (profile_match), and
    ``matched_by`` the property that decided it.
    """
    props = _getprop(session)
    facts = android_facts(props) if props else None
    cpuinfo = _read(session, ["cat", "/proc/cpuinfo"])
    meminfo = parse_proc_meminfo(_read(session, ["cat", "/proc/meminfo"]))
    # toybox's nproc, else one "processor" stanza per core in /proc/cpuinfo.
    cores = _read(session, ["nproc"]).strip() or str(len(_CPUINFO_CORE.findall(cpuinfo)))
    match = match_profile(props) if props else None
    os_name: str | None
    if facts is not None:
        release = facts.release or "?"
        os_name = f"Android {release}" + (f" (SDK {facts.sdk})" if facts.sdk else "")
    else:
        os_name = _read(session, ["uname", "-sr"]).strip() or None
    cpu_name = _CPUINFO_NAME.search(cpuinfo)
    return {
        "os": os_name,
        "cpu": (facts.soc if facts and facts.soc else None)
        or (cpu_name.group(1).strip() if cpu_name else None),
        "cores": int(cores) if cores.isdigit() and cores != "0" else None,
        "ram_mb": total_ram_mb(meminfo) if "MemTotal" in meminfo else None,
        "runtimes": _runtimes(session, benchmark_model),
        "model": facts.model if facts else None,
        "soc": facts.soc if facts else None,
        "sdk": facts.sdk if facts else None,
        "matched_profile": match.profile_id if match else None,
        "matched_by": match.matched_by if match else None,
    }


def _getprop(session: Session) -> dict[str, str]:
    # Absent on a Linux board: the shell's "not found" parses to no properties.
    result = session.run(["getprop"], timeout_s=READ_TIMEOUT_S)
    return parse_getprop(result.stdout) if result.exit_code == 0 else {}


def _read(session: Session, argv: list[str]) -> str:
    result = session.run(argv, timeout_s=READ_TIMEOUT_S)
    return result.stdout if result.exit_code == 0 else ""


def _runtimes(session: Session, benchmark_model: str | None) -> dict[str, str]:
    if session.python is None:
        # A phone measures with benchmark_model; its version is only in its own output.
        return {"benchmark_model": benchmark_model} if benchmark_model else {}
    out = _read(session, [*session.python, "-c", _RUNTIME_VERSIONS, *PROBE_DISTRIBUTIONS])
    try:
        found = json.loads(out.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return {}
    return {str(k): str(v) for k, v in found.items()}
