"""Which device profile an Android phone is, from its getprop properties.

Only properties that name one phone model are matched: a codename
(ro.product.device and its kin) or a model number (ro.product.model). A SoC
(ro.board.platform) is never enough, since many phones share one: msm8974 is
the Nexus 5's and also other 2014 flagships', kalama every Galaxy S23 model's.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProfileRule:
    profile_id: str
    properties: tuple[str, ...]
    values: tuple[str, ...]
    prefix: bool  # model numbers carry a region or carrier suffix: SM-S911B, SM-S911U1
    source: str


_CODENAME_PROPERTIES = (
    "ro.product.device",
    "ro.build.product",
    "ro.boot.hardware",
    "ro.hardware",
    "ro.product.vendor.device",
)
_MODEL_PROPERTIES = ("ro.product.model", "ro.product.system.model", "ro.product.vendor.model")

RULES: tuple[ProfileRule, ...] = (
    ProfileRule(
        "nexus5", _CODENAME_PROPERTIES, ("hammerhead",), False,
        "ro.boot.hardware and ro.build.product = hammerhead in "
        "tests/data/fixtures/android_getprop_nexus5_flutter-4009.txt",
    ),
    ProfileRule(
        "nexus5", _MODEL_PROPERTIES, ("Nexus 5",), False,
        "the Nexus 5's marketing name; ro.product.model is absent from the fixture's excerpt "
        "[unverified here]",
    ),
    ProfileRule(
        "pixel6", _CODENAME_PROPERTIES, ("oriole",), False,
        "Pixel 6's codename oriole (Pixel 6 Pro is raven, 6a bluejay): toptech.news, "
        "'Analysis: Android 12 hints at what Google is working on beyond the Pixel 6'; "
        "greenbot.com citing 9to5Google",
    ),
    ProfileRule(
        "pixel6", _MODEL_PROPERTIES, ("Pixel 6",), False,
        "the phone's marketing name as ro.product.model [unverified here]",
    ),
    ProfileRule(
        "galaxy-s23", _MODEL_PROPERTIES, ("SM-S911",), True,
        "Galaxy S23 = SM-S911 (S23+ is SM-S916, Ultra SM-S918): SM-S911B/DS in India's BIS "
        "listing (phonearena.com, 2022-11-01), SM-S911B at the FCC (gizchina.com, 2022-11-28)",
    ),
)  # fmt: skip


@dataclass(frozen=True)
class ProfileMatch:
    profile_id: str
    matched_by: str  # "ro.product.device = oriole"
    source: str


def match_profile(props: dict[str, str]) -> ProfileMatch | None:
    """The first rule a property satisfies; None for a phone no profile describes."""
    for rule in RULES:
        for key in rule.properties:
            value = props.get(key, "").strip()
            if not value:
                continue
            hit = (
                any(value.upper().startswith(v.upper()) for v in rule.values)
                if rule.prefix
                else value.lower() in (v.lower() for v in rule.values)
            )
            if hit:
                return ProfileMatch(rule.profile_id, f"{key} = {value}", rule.source)
    return None
