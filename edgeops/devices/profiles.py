"""Device profiles: data files in ``device_profiles/`` and in plugins' folders.

A profile with ``detect = true`` (the ``host`` profile) has its facts read from
this machine when it is loaded.
"""

from __future__ import annotations

import difflib
import os
import platform
import tomllib
from importlib import resources
from pathlib import Path

import pluggy
from pydantic import ValidationError

from edgeops.errors import UsageError
from edgeops.files import MAX_CONFIG_BYTES, read_regular
from edgeops.models import DeviceProfile


def builtin_profile_dir() -> Path:
    return Path(str(resources.files("edgeops_profiles")))


def load_profiles(pm: pluggy.PluginManager | None = None) -> dict[str, DeviceProfile]:
    dirs = [builtin_profile_dir()]
    if pm is not None:
        for extra in pm.hook.edgeops_profile_dirs():
            dirs.extend(Path(d) for d in extra)
    profiles: dict[str, DeviceProfile] = {}
    origin: dict[str, Path] = {}
    for folder in dirs:
        for file in sorted(folder.glob("*.toml")):
            profile = read_profile(file)
            if profile.id in profiles:
                raise UsageError(
                    f"profile id {profile.id!r} is defined twice: {origin[profile.id]} and {file}; "
                    "rename one"
                )
            profiles[profile.id] = profile
            origin[profile.id] = file
    return profiles


def read_profile(file: Path) -> DeviceProfile:
    raw = read_regular(file, "device profile", MAX_CONFIG_BYTES, UsageError)
    try:
        data = tomllib.loads(raw.decode())
        profile = DeviceProfile.model_validate(data)
    except (tomllib.TOMLDecodeError, ValidationError, UnicodeDecodeError) as exc:
        first = str(exc).splitlines()
        raise UsageError(
            f"device profile {file} is invalid ({'; '.join(first[:3])}); "
            "see `edgeops schema profile`"
        ) from exc
    return detect_host_facts(profile) if profile.detect else profile


def resolve_profiles(ids: list[str], pm: pluggy.PluginManager | None = None) -> list[DeviceProfile]:
    known = load_profiles(pm)
    chosen = []
    for profile_id in ids:
        if profile_id not in known:
            close = difflib.get_close_matches(profile_id, known, n=3, cutoff=0.5)
            hint = f"did you mean {', '.join(close)}?" if close else "see `edgeops profiles`"
            raise UsageError(f"unknown profile {profile_id!r}; {hint}")
        chosen.append(known[profile_id])
    return chosen


def detect_host_facts(profile: DeviceProfile) -> DeviceProfile:
    ram_mb = _total_ram_mb()
    system = platform.system().lower()
    facts = {
        "platform": "macos" if system == "darwin" else "linux",
        "chip": _cpu_model() or platform.machine(),
        "cpu_cores": _usable_cores(),
        "ram_mb": ram_mb,
        # A desktop process is not killed at a fixed share of RAM as an iOS app is;
        # the whole RAM is its limit and the safety factor keeps headroom.
        "app_memory_limit_mb": ram_mb,
    }
    return profile.model_copy(update={k: v for k, v in facts.items() if v is not None})


def _usable_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _total_ram_mb() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024)
    except (ValueError, OSError, AttributeError):
        return None


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None
