"""The repository stands alone: nothing it runs or cites reaches beside the checkout."""

from paths import REPO

SCANNED = ("edgeops", "plugins", "tests", "benchmarks", "device_profiles", "examples")
SUFFIXES = {".py", ".toml", ".sh", ".md", ".yml", ".json", ".csv"}
# The folder beside the checkout that holds reference material, named in pieces so
# this file does not point there itself (and needs no exemption from its own scan).
BESIDE = "sha" + "red"
NEEDLES = (f"../{BESIDE}", f"/work/{BESIDE}", f"{BESIDE}_dir(")


def test_no_file_points_beside_the_checkout():
    offending = []
    for top in SCANNED:
        for path in (REPO / top).rglob("*"):
            if path.suffix not in SUFFIXES or "data" in path.relative_to(REPO).parts[:2]:
                continue
            text = path.read_text(errors="replace")
            for needle in NEEDLES:
                if needle in text:
                    offending.append(f"{path.relative_to(REPO)}: {needle}")
    assert not offending, "\n".join(offending)
