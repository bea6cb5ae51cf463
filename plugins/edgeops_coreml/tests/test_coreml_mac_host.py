"""The Mac-host flow against a real sshd, up to the macOS boundary.

The "Mac" here is a Linux sshd (edgeops_ssh.testing_sshd). What runs for real:
SSH login with host-key checking, the .mlpackage pushed as a zip and unpacked
there, the probe and benchmark commands built and run, devicectl's JSON read
through the same script, and coremltools' own result dataclasses turned into
Measurements. What cannot run here: Core ML itself, devicectl and xcodebuild;
their places are taken by a stand-in ``xcrun`` and by stubs of coremltools'
device functions that return real ``MLModelBenchmarker.Measurement`` objects.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

from edgeops.devices import probe_measure as probing
from edgeops.devices.profiles import load_profiles
from edgeops.files import sha256_tree
from edgeops.models import MeasureSettings
from edgeops_coreml import benchmark_results, devicectl, mac_host
from edgeops_coreml.model_identifiers import PROFILE_BY_IDENTIFIER
from edgeops_ssh.session import SshSession
from edgeops_ssh.testing_sshd import make_sshd, ssh_known_hosts, sshd

__all__ = ["make_sshd", "ssh_known_hosts", "sshd"]

# Shaped as observed `xcrun devicectl list devices --json-output` documents (see devicectl.py).
DEVICECTL_JSON = {
    "info": {"outcome": "success"},
    "result": {
        "devices": [
            {
                "identifier": "11111111-AAAA-4000-8000-000000000001",
                "connectionProperties": {"tunnelState": "connected", "transportType": "wired"},
                "deviceProperties": {"name": "Lab iPhone X", "osVersionNumber": "16.7.10"},
                "hardwareProperties": {
                    "deviceType": "iPhone",
                    "productType": "iPhone10,3",
                    "udid": "00008000-000A",
                },
            },
            {
                "identifier": "22222222-BBBB-4000-8000-000000000002",
                "connectionProperties": {"tunnelState": "connected"},
                "deviceProperties": {"name": "Lab iPhone 12", "osVersionNumber": "18.5"},
                "hardwareProperties": {
                    "deviceType": "iPhone",
                    "productType": "iPhone13,2",
                    "udid": "00008101-000B",
                },
            },
            {
                "identifier": "33333333-CCCC-4000-8000-000000000003",
                "connectionProperties": {"tunnelState": "unavailable"},
                "deviceProperties": {"name": "Drawer iPhone 17 Pro"},
                "hardwareProperties": {
                    "deviceType": "iPhone",
                    "productType": "iPhone18,1",
                    "udid": "00008150-000C",
                },
            },
            {
                "identifier": "44444444-DDDD-4000-8000-000000000004",
                "connectionProperties": {"tunnelState": "connected"},
                "deviceProperties": {"name": "Desk iPad"},
                "hardwareProperties": {"deviceType": "iPad", "udid": "00008027-000D"},
            },
        ]
    },
}

# Replaces coremltools' device functions only; the result objects are coremltools' own.
BENCH_STUB = textwrap.dedent(
    """
    import sys

    sys.modules["tensorflow"] = None  # coremltools imports it when present: seconds, unused here
    import coremltools  # noqa: F401
    from coremltools.models.ml_program.experimental import perf_utils, remote_device

    PHONE = remote_device.Device(
        name="Lab iPhone 12", type=remote_device.DeviceType.IPHONE,
        identifier="22222222-BBBB-4000-8000-000000000002", udid="00008101-000B",
        os_version="18.5", os_build_number="22F76", developer_mode_state="enabled",
        state=remote_device.DeviceState.CONNECTED, session=None,
    )
    Measurement = perf_utils.MLModelBenchmarker.Measurement


    async def prepare(self, credentials=None, working_directory=None, clean=False):
        return self


    async def load(self, iterations=1):
        return Measurement.from_samples(samples=[812.5] * iterations)


    async def predict(self, inputs=None, iterations=1, warmup=False):
        if iterations == 1 and not warmup:
            return Measurement.from_samples(samples=[9.75])
        return Measurement.from_samples(samples=[3.0 + 0.01 * k for k in range(iterations)])


    remote_device.Device.get_connected_devices = staticmethod(lambda device_type: [PHONE])
    remote_device.Device.prepare_for_model_debugging = prepare
    perf_utils.MLModelBenchmarker.benchmark_load = load
    perf_utils.MLModelBenchmarker.benchmark_predict = predict
    """
)


@pytest.fixture
def stand_ins(tmp_path):
    """A stand-in xcrun, and a python that loads the coremltools stubs for the benchmark script."""
    fixture = tmp_path / "devicectl.json"
    fixture.write_text(json.dumps(DEVICECTL_JSON))
    xcrun = tmp_path / "xcrun"
    # `xcrun devicectl list devices --json-output FILE`: FILE is the 5th argument.
    xcrun.write_text(f'#!/bin/sh\n[ "$1 $2 $3 $4" = "devicectl list devices --json-output" ] '
                     f'|| exit 64\ncp {fixture} "$5"\n')  # fmt: skip
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    (stubs / "edgeops_bench_stub.py").write_text(BENCH_STUB)
    # The stubs load only for the benchmark script, as `python -c "import stub; runpy..."`.
    python = tmp_path / "mac-python"
    python.write_text(
        "#!/bin/sh\n"
        'case "$1" in *iphone_benchmark.py)\n'
        f'  script="$1"; shift\n'
        f"  PYTHONPATH={stubs} exec {sys.executable} -c "
        '"import sys, runpy, edgeops_bench_stub; sys.argv = sys.argv[1:]; '
        'runpy.run_path(sys.argv[0], run_name=\'__main__\')" "$script" "$@";;\n'
        "esac\n"
        f'exec {sys.executable} "$@"\n'
    )
    for f in (xcrun, python):
        f.chmod(0o755)
    return {"xcrun": str(xcrun), "python": str(python)}


@pytest.fixture
def mac(sshd, ssh_known_hosts, stand_ins):
    device = sshd.device("mac", python=stand_ins["python"], xcrun=stand_ins["xcrun"])
    device = device.model_copy(update={"transport": "mac-host", "profile_id": "mac-m1"})
    session = SshSession(device)
    yield session
    session.close()


def test_a_package_folder_is_pushed_as_a_zip_and_unpacked_identically(mac, tiny_artifact):
    package = Path(tiny_artifact.path)
    remote = mac.push(package)
    # The "Mac" is this machine, so its copy can be compared byte for byte.
    assert remote.endswith(f"{sha256_tree(package)}-model.mlpackage")
    assert sha256_tree(Path(remote)) == sha256_tree(package)
    assert mac.push(package) == remote
    assert not [p for p in Path(remote).parent.iterdir() if ".part-" in p.name]


def test_the_mac_probe_runs_up_to_the_macos_boundary(mac, tiny_artifact):
    variant = tiny_artifact.model_copy(update={"id": "v1"})
    m = probing.edgeops_measure(
        session=mac, variant=variant, compute_unit="cpu_and_ne", settings=MeasureSettings()
    )
    assert m is not None and m.status == "unsupported"
    assert "macOS only" in (m.error or "")
    assert m.environment["runtime"] == "coremltools"


def test_iphones_the_mac_reports_are_listed_with_their_profiles(mac):
    phones = {p.name: p for p in mac_host.iphones(mac)}
    assert set(phones) == {"Lab iPhone X", "Lab iPhone 12", "Drawer iPhone 17 Pro"}
    assert phones["Lab iPhone X"].profile_id == "iphonex"
    assert phones["Lab iPhone 12"].profile_id == "iphone12"
    assert phones["Drawer iPhone 17 Pro"].profile_id is None
    assert not phones["Drawer iPhone 17 Pro"].connected
    devices = mac_host.tethered_devices(mac.device, mac)
    assert [(d.name, d.profile_id) for d in devices] == [
        ("Lab iPhone X", "iphonex"),
        ("Lab iPhone 12", "iphone12"),
    ]
    assert devices[1].labels["iphone"] == "22222222-BBBB-4000-8000-000000000002"
    assert devices[1].transport == "mac-host" and devices[1].address == mac.device.address


def test_a_tethered_iphone_is_benchmarked_with_coremltools_results(mac, tiny_artifact):
    import edgeops_coreml

    phone = mac_host.tethered_devices(mac.device, mac)[1]
    session = SshSession(phone)
    try:
        variant = tiny_artifact.model_copy(update={"id": "v1"})
        settings = MeasureSettings(min_runs=7)
        argv = mac_host.benchmark_argv(session, session.push(Path(variant.path)), "all", 7)
        assert argv[argv.index("--device") + 1] == "22222222-BBBB-4000-8000-000000000002"
        assert argv[argv.index("--compute-unit") + 1] == "all"
        m = edgeops_coreml.CoreMLBackend().measure(
            session=session, variant=variant, compute_unit="cpu_and_ne", settings=settings
        )
    finally:
        session.close()
    assert m is not None and m.status == "ok", m.error if m else None
    assert m.method == "measured" and m.profile_id == "iphone12"
    assert m.load_ms == 812.5 and m.first_ms == 9.75
    assert len(m.samples_ms) == 7 and m.p50_ms == pytest.approx(3.03)
    assert m.environment["device"]["os_version"] == "18.5"
    assert m.environment["coremltools_statistics"]["median"] == pytest.approx(3.03)
    assert m.peak_mem is None


def test_benchmark_failures_become_measurements_not_exceptions():
    base = {"variant_id": "v", "device_id": "d", "profile_id": "iphone12", "compute_unit": "all"}
    m = benchmark_results.measurement_from_benchmark('{"status": "oom", "error": "x"}\n', base)
    assert m.status == "oom"
    m = benchmark_results.measurement_from_benchmark("Setting up...\n", base)
    assert m.status == "error"
    m = benchmark_results.measurement_from_benchmark('{"status": "ok", "load": {}}', base)
    assert m.status == "error" and "load.samples" in (m.error or "")


def test_devicectl_documents_without_devices_are_an_error():
    from edgeops.errors import DeviceError

    with pytest.raises(DeviceError, match="result.devices"):
        devicectl.parse_devices({"info": {"outcome": "failed"}})


def test_every_identifier_maps_to_a_known_iphone_profile():
    profiles = load_profiles()
    for identifier, profile_id in PROFILE_BY_IDENTIFIER.items():
        assert profile_id in profiles, identifier
        assert profiles[profile_id].platform == "ios"


def test_a_mac_hosts_outputs_are_asked_of_core_ml_up_to_the_macos_boundary(
    mac, tiny_artifact, tiny_torch_spec, tiny_torch_samples, tiny_torch_reference
):
    """The Mac host's device outputs: the package pushed, the probe run with --outputs and
    Core ML's runner; here Core ML's predict is where it stops (this "Mac" is Linux)."""
    from edgeops.backend import BuildContext
    from edgeops.devices.device_quality import score_on_device
    from edgeops.errors import DeviceError
    from edgeops_coreml import CoreMLBackend

    context = BuildContext(
        spec=tiny_torch_spec, samples=tiny_torch_samples, reference=tiny_torch_reference
    )
    variant = tiny_artifact.model_copy(update={"id": "v1"})
    with pytest.raises(DeviceError, match="did not return outputs: .*macOS only"):
        score_on_device(
            CoreMLBackend(), mac, variant, "cpu_and_ne", context, tiny_torch_spec.quality
        )
    iphone = mac.device.model_copy(update={"labels": {**mac.device.labels, "iphone": "x"}})
    mac.device = iphone  # a tethered iPhone: its benchmarker returns no outputs
    assert CoreMLBackend().evaluate_on_device(mac, variant, "m", context, "all") is None
