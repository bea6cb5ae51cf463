"""What `edgeops devices` shows for adb devices: profile matching and describe() on a real adbd."""

from __future__ import annotations

import os
from importlib import metadata

from edgeops.devices.profiles import load_profiles
from edgeops_adb.getprop import parse_getprop
from edgeops_adb.meminfo import parse_proc_meminfo, total_ram_mb
from edgeops_adb.profile_match import RULES, match_profile
from edgeops_adb.session import AdbSession, open_adb

from adb_testing import FIXTURES, device_for, fixture_text, tools_without

NEXUS5 = "android_getprop_nexus5_flutter-4009.txt"


def test_the_nexus_5_fixture_matches_by_its_codename():
    match = match_profile(parse_getprop(fixture_text(NEXUS5)))
    assert match is not None and match.profile_id == "nexus5"
    assert match.matched_by == "ro.build.product = hammerhead"


def test_codenames_and_model_numbers_match_their_profiles():
    assert match_profile({"ro.product.device": "oriole"}).profile_id == "pixel6"
    assert match_profile({"ro.product.model": "Pixel 6"}).profile_id == "pixel6"
    for model in ("SM-S911B", "SM-S911U1", "sm-s9110"):
        assert match_profile({"ro.product.model": model}).profile_id == "galaxy-s23"


def test_near_misses_do_not_match():
    assert match_profile({"ro.product.device": "raven"}) is None  # Pixel 6 Pro: 12 GB, not 8
    assert match_profile({"ro.product.model": "SM-S916B"}) is None  # Galaxy S23+
    assert match_profile({"ro.board.platform": "msm8974"}) is None  # a SoC many phones share
    assert match_profile({"ro.product.model": "Pixel 6a"}) is None
    assert match_profile({}) is None


def test_every_rule_names_a_profile_that_exists_and_its_source():
    profiles = load_profiles()
    for rule in RULES:
        assert rule.profile_id in profiles and profiles[rule.profile_id].platform == "android"
        assert len(rule.source) > 20


def host_ram_mb() -> int:
    with open("/proc/meminfo") as f:
        return total_ram_mb(parse_proc_meminfo(f.read()))


def test_a_linux_board_without_getprop_is_described_from_proc(adb_device):
    """This adbd runs on Linux: no getprop, so the Android fields are None, not an error."""
    session = AdbSession(adb_device, open_adb(adb_device))
    try:
        facts = session.describe()
    finally:
        session.close()
    assert facts["os"].startswith("Linux ")
    assert facts["cores"] == len(os.sched_getaffinity(0))
    assert facts["ram_mb"] == host_ram_mb()
    assert facts["cpu"]  # /proc/cpuinfo's model name
    assert (facts["model"], facts["soc"], facts["sdk"], facts["matched_profile"]) == (
        None, None, None, None
    )  # fmt: skip
    assert facts["runtimes"]["ai-edge-litert"] == metadata.version("ai-edge-litert")


def test_a_phone_is_described_from_getprop(start_adbd, tmp_path):
    """A STAND-IN getprop (a script printing the real Nexus 5 fixture) on the adbd's PATH."""
    tools = tmp_path / "bin"
    tools.mkdir()
    getprop = tools / "getprop"
    getprop.write_text(f"#!/bin/sh\ncat {FIXTURES / NEXUS5}\n")
    getprop.chmod(0o755)
    daemon = start_adbd(path=tools_without({"getprop"}, tools))
    device = device_for(daemon, tmp_path, python="", benchmark_model="/data/local/tmp/bm")
    session = AdbSession(device, open_adb(device))
    try:
        facts = session.describe()
    finally:
        session.close()
    assert facts["os"] == "Android 5.1"  # from the fingerprint; the excerpt has no SDK line
    assert (facts["soc"], facts["cpu"], facts["sdk"]) == ("msm8974", "msm8974", None)
    assert facts["matched_profile"] == "nexus5"
    assert facts["matched_by"] == "ro.build.product = hammerhead"
    assert facts["runtimes"] == {"benchmark_model": "/data/local/tmp/bm"}
    assert facts["ram_mb"] == host_ram_mb()  # /proc/meminfo is this host's here
