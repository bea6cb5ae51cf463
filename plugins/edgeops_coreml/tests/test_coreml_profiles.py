"""Apple chip and iPhone profiles: every fact present and sourced, and the A11 rule."""

from __future__ import annotations

import pytest

from edgeops.devices.profiles import load_profiles
from edgeops_coreml.chips import (
    COMPUTE_UNITS,
    UNIT_REQUIRES,
    chip_of,
    load_chips,
    newest_ios,
    usable_compute_units,
)

CHIPS = ["A11", "A12", "A13", "A14", "A15", "A16", "A17 Pro", "A18", "A18 Pro", "A19", "A19 Pro"]
CHIPS += ["M1", "M2", "M3", "M4", "M5"]
IPHONES = {
    "iphone8": "A11",
    "iphonex": "A11",
    "iphonexs": "A12",
    "iphonexr": "A12",
    "iphonese2": "A13",
    "iphone11": "A13",
    "iphone12": "A14",
    "iphone13": "A15",
    "iphone14": "A15",
    "iphone14pro": "A16",
    "iphone15": "A16",
    "iphone15pro": "A17 Pro",
    "iphone16": "A18",
}
# device_facts.md §3: crash points (a) and os_proc_available_memory() readings (b).
MEASURED_LIMIT_MB = {"iphone8": 1364, "iphonex": 1392, "iphonexs": 2040, "iphonexr": 1792}
MEASURED_LIMIT_MB |= {"iphone11": 2068, "iphone12": 3072, "iphone15pro": 3072}


@pytest.fixture(scope="module")
def profiles():
    return load_profiles()


def test_every_chip_has_sourced_neural_engine_facts():
    chips = load_chips()
    assert sorted(chips) == sorted(CHIPS)
    for chip in chips.values():
        assert {"ane_cores", "ane_available_to_coreml", "w8a8_accelerated"} <= set(chip.sources)
        if chip.max_ios is not None:
            assert "max_ios" in chip.sources
    # device_facts.md §1: A11's Neural Engine is closed to Core ML; A12 and later open.
    assert [c for c in chips.values() if not c.ane_available_to_coreml] == [chips["A11"]]
    # W8A8 is accelerated on A17 Pro and M4 (and the A18 family after them) only.
    assert {c.id for c in chips.values() if c.w8a8_accelerated} == {
        "A17 Pro",
        "A18",
        "A18 Pro",
        "A19",
        "A19 Pro",
        "M4",
        "M5",
    }


@pytest.mark.parametrize("profile_id", sorted(IPHONES))
def test_every_iphone_has_ram_and_a_sourced_app_memory_limit(profiles, profile_id):
    p = profiles[profile_id]
    # Core ML first; ExecuTorch (its Core ML partitions) may run there too.
    assert p.platform == "ios" and p.formats[0] == "coreml" and "coreai" not in p.formats
    assert p.chip == IPHONES[profile_id] and chip_of(p) is not None
    assert p.ram_mb and p.app_memory_limit_mb
    assert {"chip", "ram_mb", "app_memory_limit_mb", "compute_units"} <= set(p.sources)
    # The jetsam limit is well below RAM: device_facts.md §3 shows "RAM - 1 GB" is wrong
    # (iPhone 15 Pro: ~3 GB of 8 GB).
    assert p.app_memory_limit_mb <= 0.75 * p.ram_mb
    assert set(p.compute_units) <= set(COMPUTE_UNITS)
    limit_source = p.sources["app_memory_limit_mb"]
    assert "device_facts.md" in limit_source
    assert "estimate, not measured" in limit_source or profile_id in MEASURED_LIMIT_MB


def test_measured_jetsam_values_are_the_measured_ones(profiles):
    for profile_id, limit_mb in MEASURED_LIMIT_MB.items():
        assert profiles[profile_id].app_memory_limit_mb == limit_mb
        assert "estimate" not in profiles[profile_id].sources["app_memory_limit_mb"]


def test_a11_profiles_offer_no_compute_unit_that_needs_the_neural_engine(profiles):
    apple = [p for p in profiles.values() if chip_of(p) is not None]
    assert len(apple) >= len(IPHONES) + 4
    for p in apple:
        needs_ane = [cu for cu in p.compute_units if "ane" in UNIT_REQUIRES[cu]]
        chip = chip_of(p)
        assert chip is not None
        if chip.ane_available_to_coreml:
            assert set(p.compute_units) == set(COMPUTE_UNITS), p.id
        else:
            assert p.tier == "no-ane" and needs_ane == [], p.id
        assert usable_compute_units(p) == p.compute_units


def test_a11_filter_holds_even_for_a_profile_file_that_lists_the_neural_engine(profiles):
    wrong = profiles["iphonex"].model_copy(update={"compute_units": COMPUTE_UNITS})
    assert usable_compute_units(wrong) == ("cpu_only", "cpu_and_gpu")


def test_newest_ios_follows_the_chip(profiles):
    assert newest_ios(profiles["iphonex"]) == 16  # iOS 17 dropped A11
    assert newest_ios(profiles["iphonexr"]) == 18  # iOS 26 dropped A12
    assert newest_ios(profiles["iphone12"]) == 18  # capped at edgeops' newest target
    assert newest_ios(profiles["mac-m1"]) == 18
