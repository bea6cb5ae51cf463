"""The example app readers (examples/apps/): each picks a variant for its device and free
memory and walks the fallbacks. The Kotlin one is compiled and run here (Debian's kotlin,
install.sh); Debian bookworm packages no Swift toolchain, so the Swift one is not built."""

import shutil
import subprocess
from datetime import UTC, datetime

import pytest

from edgeops.models import Manifest, ManifestChoice, ManifestProfile, ManifestVariant

from paths import REPO

pytestmark = pytest.mark.slow


def manifest() -> Manifest:
    def variant(name: str) -> ManifestVariant:
        return ManifestVariant(
            file=f"variants/{name}", format="tflite", recipe=name, sha256="0" * 64, size_bytes=1
        )

    return Manifest(
        model="seg",
        version="1.0.0",
        created_at=datetime(2026, 12, 1, tzinfo=UTC),
        variants={"a": variant("fp16.tflite"), "b": variant("int8.tflite")},
        profiles={
            "galaxy-s23": ManifestProfile(
                status="supported",
                platform="android",
                match={"ro.product.model": ("SM-S911*",)},
                choices=(
                    ManifestChoice(
                        variant="a",
                        compute_unit="gpu",
                        requires=("gpu",),
                        min_free_memory_mb=400.0,
                        method="measured",
                        runtime="litert",
                    ),
                    ManifestChoice(
                        variant="a",
                        compute_unit="xnnpack",
                        min_free_memory_mb=300.0,
                        method="measured",
                        runtime="litert",
                    ),
                    ManifestChoice(
                        variant="b",
                        compute_unit="cpu",
                        min_free_memory_mb=80.0,
                        method="measured",
                        runtime="litert",
                    ),
                ),
            ),  # fmt: skip
            "pixel6": ManifestProfile(
                status="unsupported", platform="android", match={"ro.product.device": ("oriole",)}
            ),
        },
    )


@pytest.fixture(scope="module")
def kotlin_reader(tmp_path_factory):
    if shutil.which("kotlinc") is None:
        pytest.skip("kotlinc not installed: run ./install.sh (Debian's kotlin package)")
    out = tmp_path_factory.mktemp("kt") / "reader.jar"
    source = REPO / "examples/apps/android/ManifestReader.kt"
    subprocess.run(
        ["kotlinc", str(source), "-include-runtime", "-d", str(out)],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    return out


@pytest.mark.parametrize(
    ("free_mb", "extra", "expected"),
    [
        ("500", ["--has=gpu"], "a variants/fp16.tflite litert gpu"),
        ("500", [], "a variants/fp16.tflite litert xnnpack"),  # no GPU delegate: next choice
        ("350", ["--has=gpu"], "a variants/fp16.tflite litert xnnpack"),  # too little for gpu
        ("100", ["--has=gpu"], "b variants/int8.tflite litert cpu"),
        ("50", ["--has=gpu"], "none"),
    ],
)
def test_kotlin_reader_walks_the_fallbacks(tmp_path, kotlin_reader, free_mb, extra, expected):
    path = tmp_path / "manifest.json"
    # A key added by a later 1.x, at the top and inside a choice: the reader ignores it.
    text = manifest().model_dump_json(indent=2)
    text = text.replace('"model": "seg"', '"added_in_1_9": {"x": [1, 2]}, "model": "seg"', 1)
    path.write_text(text)
    result = subprocess.run(
        ["java", "-jar", str(kotlin_reader), str(path), free_mb, *extra, "ro.product.model=SM-S911B"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


def test_kotlin_reader_finds_no_variant_for_an_unsupported_or_unknown_phone(
    tmp_path, kotlin_reader
):
    path = tmp_path / "manifest.json"
    path.write_text(manifest().model_dump_json())
    for key in ("ro.product.device=oriole", "ro.product.model=Pixel 9"):
        result = subprocess.run(
            ["java", "-jar", str(kotlin_reader), str(path), "4000", "--has=gpu", key],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert result.stdout.strip() == "none", result.stderr
