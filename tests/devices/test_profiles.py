import json
import tomllib

import jsonschema
import pytest

from edgeops.devices.profiles import builtin_profile_dir, load_profiles, resolve_profiles
from edgeops.errors import UsageError
from edgeops.models import DeviceProfile

from paths import REPO

PROFILE_DIR = REPO / "device_profiles"


def test_schema_file_is_generated_from_the_model():
    on_disk = json.loads((PROFILE_DIR / "schema.json").read_text())
    assert on_disk == DeviceProfile.model_json_schema(), "regenerate device_profiles/schema.json"


@pytest.mark.parametrize("file", sorted(PROFILE_DIR.glob("*.toml")), ids=lambda p: p.stem)
def test_every_profile_file_validates_and_names_sources(file):
    data = tomllib.loads(file.read_text())
    jsonschema.validate(data, DeviceProfile.model_json_schema())
    assert data["sources"], f"{file.name} must say where its facts came from"


def test_host_profile_is_detected_at_run_time():
    host = load_profiles()["host"]
    assert (
        host.detect and host.cpu_cores and host.ram_mb and host.app_memory_limit_mb == host.ram_mb
    )
    assert builtin_profile_dir().resolve() == PROFILE_DIR.resolve()


def test_plugins_add_profile_folders(tmp_path, register_plugin, edgeops_pm):
    from edgeops import hookimpl

    (tmp_path / "board.toml").write_text(
        'id = "board"\nname = "Board"\nplatform = "linux"\nformats = ["onnx"]\n[sources]\nram_mb = "test"\n'
    )

    class Boards:
        @hookimpl
        def edgeops_profile_dirs(self):
            return [tmp_path]

    register_plugin(Boards())
    assert resolve_profiles(["board"], edgeops_pm)[0].name == "Board"
    (tmp_path / "again.toml").write_text((tmp_path / "board.toml").read_text())
    with pytest.raises(UsageError, match="defined twice"):
        load_profiles(edgeops_pm)
