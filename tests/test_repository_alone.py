"""The repository stands alone: nothing it runs or cites reaches beside the checkout."""

from paths import REPO

SCANNED = ("edgeops", "plugins", "tests", "benchmarks", "device_profiles", "examples")
SUFFIXES = {".py", ".toml", ".sh", ".md", ".yml", ".json", ".csv"}


def test_no_file_points_beside_the_checkout():
    offending = []
    for top in SCANNED:
        for path in (REPO / top).rglob("*"):
            if path.suffix not in SUFFIXES or "data" in path.relative_to(REPO).parts[:2]:
                continue
            text = path.read_text(errors="replace")
            for needle in ("../shared", "/work/shared", "shared_dir("):
                if needle in text and path.name != "test_repository_alone.py":
                    offending.append(f"{path.relative_to(REPO)}: {needle}")
    assert not offending, "\n".join(offending)
