"""Helpers of the adb tests: the real fixtures folder, and a real AOSP adbd on a free TCP port."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

from edgeops.models import Device
from edgeops.testing import test_data_dir

FIXTURES = test_data_dir() / "fixtures"
MODELS = FIXTURES.parent / "models" / "tflite"
# A real benchmark_model log (the TFLite benchmark APK, NNAPI) that stand-ins print.
LOGCAT_LOG = "tflite_benchmark_apk_logcat_nnapi_tensorflow-56301.txt"
# Debian's adbd package (bookworm-backports), installed by ./install.sh.
ADBD = Path("/usr/lib/android-sdk/platform-tools/adbd")


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Adbd:
    """One adbd process; ``kill()`` and ``start()`` let a test cut it mid-run."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.env = {**env, "ADBD_PORT": str(self.port)}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [str(ADBD)], env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"adbd did not listen on port {self.port}")

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def device_for(daemon: Adbd, tmp_path: Path, **labels: str) -> Device:
    return Device(
        id="adb-board",
        name="adb board",
        transport="adb",
        profile_id="host",
        address=f"127.0.0.1:{daemon.port}",
        key_path=tmp_path / "keys" / "adbkey",
        # This "device" is this machine: keep its files in the test's folder.
        labels={"remote_dir": str(tmp_path / "remote"), **labels},
    )


def tools_without(names: set[str], folder: Path) -> str:
    """A PATH holding every tool of this machine's PATH except ``names``: a device without them."""
    folder.mkdir(parents=True, exist_ok=True)
    for directory in os.environ["PATH"].split(os.pathsep):
        if not Path(directory).is_dir():
            continue
        for tool in Path(directory).iterdir():
            target = folder / tool.name
            if tool.name not in names and not target.exists() and shutil.which(tool.name):
                target.symlink_to(tool)
    return str(folder)


def stand_in_benchmark_model(
    folder: Path,
    log_name: str | None = None,
    message: str = "",
    exit_code: int = 0,
    sleep_s: float = 0,
) -> Path:
    """A STAND-IN for TFLite's benchmark_model, which cannot run on this machine.

    It is a shell script: it records the argv it received (NUL-separated, in
    ``argv.bin`` beside it) and the cores it may run on (``cpus.txt``), then
    prints the real fixture log ``log_name`` (or ``message``) and exits with
    ``exit_code``. So a
    test exercises the real push, the real command line, the sentinel exit
    code and the parsing; never the real tool's measuring.
    """
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "benchmark_model"
    log = f"cat {FIXTURES / log_name}" if log_name else shlex.join(["echo", message])
    script.write_text(
        "#!/bin/sh\n"
        f'printf \'%s\\0\' "$0" "$@" > {folder}/argv.bin\n'
        f"grep Cpus_allowed_list /proc/self/status | cut -f2 > {folder}/cpus.txt\n"
        f"sleep {sleep_s}\n"
        f"{log}\n"
        f"exit {exit_code}\n"
    )
    return script


def received_argv(folder: Path) -> list[str]:
    return (folder / "argv.bin").read_bytes().decode().split("\0")[:-1]


def stand_in_dumpsys(folder: Path, battery_temps_tenths: list[int], meminfo_log: str) -> Path:
    """A STAND-IN for Android's ``dumpsys``, for adbd on this Linux machine (which has none).

    ``dumpsys battery`` prints a battery report in BatteryService.dumpInternal's
    layout with the next temperature of ``battery_temps_tenths`` (the last one
    repeats): a phone cooling down. ``dumpsys meminfo PKG`` prints the real
    fixture ``meminfo_log``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    temps = folder / "battery_temps"
    temps.write_text("\n".join(str(t) for t in battery_temps_tenths) + "\n")
    script = folder / "dumpsys"
    script.write_text(
        "#!/bin/sh\n"
        'case "$1" in\n'
        "battery)\n"
        f"  t=$(head -n1 {temps})\n"
        f"  [ $(wc -l < {temps}) -gt 1 ] && sed -i 1d {temps}\n"
        '  printf "Current Battery Service state:\\n  AC powered: false\\n  USB powered: true\\n'
        "  Wireless powered: false\\n  Max charging current: 500000\\n  status: 2\\n  health: 2\\n"
        "  present: true\\n  level: 71\\n  scale: 100\\n  voltage: 4113\\n  temperature: %s\\n"
        '  technology: Li-ion\\n" "$t" ;;\n'
        f"meminfo) cat {FIXTURES / meminfo_log} ;;\n"
        '*) echo "Can\'t find service: $1"; exit 1 ;;\n'
        "esac\n"
    )
    script.chmod(0o755)
    return script


# Debian's adb (the host's server and client, bookworm-backports, the same AOSP
# version as adbd), installed by ./install.sh.
ADB = Path("/usr/lib/android-sdk/platform-tools/adb")


class AdbServer:
    """A real ``adb`` server on a free port, its HOME (and so its ~/.android key) in ``home``."""

    def __init__(self, home: Path) -> None:
        home.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.env = {**os.environ, "HOME": str(home)}
        self.env.pop("ANDROID_ADB_SERVER_PORT", None)
        self.adb("start-server")

    def adb(self, *args: str, timeout_s: float = 30) -> str:
        done = subprocess.run(
            [str(ADB), "-P", str(self.port), *args], env=self.env, capture_output=True,
            text=True, timeout=timeout_s, check=True,
        )  # fmt: skip
        return done.stdout + done.stderr

    def connect(self, address: str, state: str = "device", within_s: float = 20) -> None:
        """``adb connect`` and wait until ``adb devices`` shows ``address`` in ``state``.

        adb exits 1 when the device does not answer (``offline``); the listing decides.
        """
        subprocess.run(
            [str(ADB), "-P", str(self.port), "connect", address], env=self.env,
            capture_output=True, timeout=within_s,
        )  # fmt: skip
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            if f"{address}\t{state}" in self.adb("devices"):
                return
            time.sleep(0.1)
        raise RuntimeError(f"adb server never listed {address} as {state}: {self.adb('devices')}")

    def kill(self) -> None:
        self.adb("kill-server")


def silent_listener() -> socket.socket:
    """A TCP port that accepts and never speaks: a phone whose adbd hangs, to the adb server."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    return listener


# Runs in a child process: open a connection the way `ship` does and run one command
# until killed: through AdbSession (its wrapper, timeout and sentinel), or "raw" as
# adb-shell sends it, to see what adbd itself does.
CLIENT = textwrap.dedent(
    """
    import json, shlex, sys
    from pathlib import Path
    from edgeops.models import Device
    from edgeops_adb.session import AdbSession, open_adb

    device = Device.model_validate_json(Path(sys.argv[1]).read_text())
    argv = json.loads(sys.argv[2])
    if sys.argv[3] == "raw":
        open_adb(device).shell(shlex.join(argv), timeout_s=120, read_timeout_s=120)
    else:
        AdbSession(device, open_adb(device)).run(argv, timeout_s=120)
    """
)


def start_client(
    device: Device, argv: list[str], tmp_path: Path, raw: bool = False
) -> subprocess.Popen[bytes]:
    spec = tmp_path / "device.json"
    spec.write_text(device.model_dump_json())
    how = "raw" if raw else "session"
    return subprocess.Popen([sys.executable, "-c", CLIENT, str(spec), json.dumps(argv), how])


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie has ended; only its parent has not read its status yet.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False  # reaped between the two looks


def wait_for(predicate: Callable[[], object], within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


def sigkill_mid_command_leaves_no_command(device: Device, tmp_path: Path) -> None:
    """Start a 60 s command through ``device`` in a client process, SIGKILL the client,
    and assert the command is gone within 15 s."""
    pid_file = tmp_path / "pid"
    client = start_client(
        device, ["sh", "-c", 'echo $$ > "$0"; exec sleep 60', str(pid_file)], tmp_path
    )
    pid: int | None = None
    try:
        assert wait_for(lambda: pid_file.is_file() and pid_file.read_text().strip(), 30)
        pid = int(pid_file.read_text())
        assert alive(pid)  # the "device side" command: here, a process of this machine
        client.send_signal(signal.SIGKILL)
        client.wait()
        killed_at = time.monotonic()
        # Measured 1.0-1.1 s on a quiet machine; the bound leaves a loaded CI machine
        # room, and without the watchdog the command lives its full 60 s.
        assert wait_for(lambda: not alive(pid), 15), "the command outlived its client"
        print(f"device-side command gone {time.monotonic() - killed_at:.2f} s after SIGKILL")
    finally:
        client.kill()
        client.wait()
        if pid is not None and alive(pid):
            os.kill(pid, signal.SIGKILL)  # a failed test leaves no sleeper behind


def ship_json(devices: Path, profile: str, cwd: Path, *options: str) -> dict[str, object]:
    """`edgeops ship` of a small real TFLite model to ``profile`` on ``devices``, its --json summary."""
    done = subprocess.run(
        [
            sys.executable, "-m", "edgeops", "ship",
            str(MODELS / "coral__mobilenet_v1_0.25_128_quant.tflite"), "-p", profile,
            "--devices", str(devices), "--min-runs", "5", "--json", *options,
        ],
        cwd=cwd, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "EDGEOPS_LEASES": str(cwd / "leases.sqlite"),
             "EDGEOPS_DISABLE_PLUGINS": "coreml,executorch"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    summary: dict[str, object] = json.loads(done.stdout)
    return summary


# What the stand-in does to the outputs it writes: nothing, or what a faulty device does.
OUTPUT_FAULTS = ("none", "invert", "oversize", "old_tool")


def stand_in_benchmark_model_with_outputs(folder: Path, fault: str = "none") -> Path:
    """A STAND-IN for LiteRT's benchmark_model that honours its input and output files.

    A Python script (this machine's interpreter, ai-edge-litert's real TFLite
    runtime) that does what benchmark_tflite_model.cc does with these flags: reads each
    ``--input_layer_value_files`` file in the interpreter's input order, refusing one
    whose size is not the tensor's ("The size of F is N bytes. It should be M bytes."),
    runs the model, and writes every output tensor's raw bytes in the graph's output
    order to ``--output_filepath`` (its OutputSaver). Then it prints the real fixture
    log LOGCAT_LOG, as it does alone for a measurement (a run without that flag). ``fault``: ``invert`` writes 255-x (a device
    returning wrong numbers), ``oversize`` appends a MiB, ``old_tool`` ignores the flag
    and logs it as unconsumed, as a build older than it does.
    """
    assert fault in OUTPUT_FAULTS
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "benchmark_model"
    script.write_text(
        f"#!{sys.executable}\n"
        + textwrap.dedent(
            f"""
            import sys
            from pathlib import Path

            import numpy as np
            from ai_edge_litert import interpreter as litert

            Path({str(folder / "argv.bin")!r}).write_bytes(
                b"".join(a.encode() + b"\\0" for a in sys.argv)
            )
            flags = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--"))
            xnnpack = flags.get("use_xnnpack", "true") == "true"
            kind = litert.OpResolverType
            model = litert.Interpreter(
                model_path=flags["graph"],
                experimental_op_resolver_type=(
                    kind.AUTO if xnnpack else kind.BUILTIN_WITHOUT_DEFAULT_DELEGATES
                ),
            )
            model.allocate_tensors()
            if "output_filepath" not in flags:  # a measurement: random inputs, timings only
                print(Path({str(FIXTURES / LOGCAT_LOG)!r}).read_text())
                sys.exit(0)
            files = [item.split(":", 1)[1] for item in flags["input_layer_value_files"].split(",")]
            for detail, name in zip(model.get_input_details(), files):
                data = Path(name).read_bytes()
                want = int(np.prod(detail["shape"])) * np.dtype(detail["dtype"]).itemsize
                if len(data) != want:
                    print(f"ERROR: The size of {{name}} is {{len(data)}} bytes. It should be "
                          f"{{want}} bytes.")
                    sys.exit(1)
                array = np.frombuffer(data, dtype=detail["dtype"]).reshape(detail["shape"])
                model.set_tensor(detail["index"], array)
            model.invoke()
            raw = b"".join(model.get_tensor(d["index"]).tobytes()
                           for d in model.get_output_details())
            fault = {fault!r}
            if fault == "invert":
                raw = bytes(255 - b for b in raw)
            if fault == "oversize":
                raw += bytes(1 << 20)
            if fault == "old_tool":
                print("WARN: Unconsumed cmdline flags: --output_filepath=" + flags["output_filepath"])
            else:
                Path(flags["output_filepath"]).write_bytes(raw)
            print(Path({str(FIXTURES / LOGCAT_LOG)!r}).read_text())
            """
        )
    )
    script.chmod(0o755)
    return script


def server_device(pm: object, serial: str, tmp_path: Path) -> Device:
    """The adb server's device ``serial``, as discovery lists it, its files in ``tmp_path``."""
    from edgeops.devices.discovery import discover_devices

    (device,) = [d for d in discover_devices(pm) if d.address and d.address.endswith(serial)]
    # This "phone" is this machine: keep its files in the test's folder.
    return device.model_copy(update={"labels": {**device.labels, "remote_dir": str(tmp_path)}})
