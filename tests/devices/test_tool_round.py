"""One round of a device's own tool (edgeops.plugin.tool_round), on this machine's real
local session with a shell script as the tool: the steps the adb and ExecuTorch phone
backends share. Their own tests run the same rounds against Debian's real adbd."""

from __future__ import annotations

from edgeops.plugin import Artifact, Measurement, MeasureSettings, tool_round

FAST = MeasureSettings(timeout_s=20)


def _round(edgeops_pm, device, tmp_path, settings=FAST, script=None):
    model = tmp_path / "model.bin"
    model.write_bytes(b"a model the tool never reads")
    variant = Artifact(id="v1", format="onnx", path=model)
    labels = {"my_tool": str(script)} if script is not None else {}
    device = device.model_copy(update={"labels": {**device.labels, **labels}})
    session = edgeops_pm.hook.edgeops_connect(device=device)
    try:
        return tool_round(session, variant, "cpu", settings, "my_tool", "a test tool",
                          lambda tool, remote_model: [tool, "--model", remote_model])  # fmt: skip
    finally:
        session.close()


def _script(tmp_path, body):
    script = tmp_path / "tools" / "my_tool"
    script.parent.mkdir()
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o644)  # as a downloaded binary often is: the round makes it executable
    return script


def test_a_round_runs_the_tool_s_command_on_the_pushed_model(edgeops_pm, local_device, tmp_path):
    script = _script(tmp_path, 'echo "ran $1 $2"; exit 3')
    ran = _round(edgeops_pm, local_device, tmp_path, script=script)
    assert not isinstance(ran, Measurement)
    assert ran.argv == [ran.tool_path, "--model", str((tmp_path / "model.bin").resolve())]
    assert ran.result.stdout.strip() == f"ran --model {ran.argv[2]}"
    assert ran.result.exit_code == 3  # what the exit means is the backend's to read


def test_a_device_without_the_tool_is_an_error_measurement_naming_the_label(
    edgeops_pm, local_device, tmp_path
):
    ended = _round(edgeops_pm, local_device, tmp_path)
    assert isinstance(ended, Measurement)
    assert (ended.variant_id, ended.device_id, ended.compute_unit) == ("v1", local_device.id, "cpu")
    assert ended.status == "error"
    assert "measured with a test tool: set its label my_tool in devices.toml" in ended.error


def test_a_tool_over_the_time_limit_is_a_timeout_measurement(edgeops_pm, local_device, tmp_path):
    script = _script(tmp_path, "sleep 30")
    settings = MeasureSettings(timeout_s=0.5)
    ended = _round(edgeops_pm, local_device, tmp_path, settings=settings, script=script)
    assert isinstance(ended, Measurement)
    assert (ended.status, ended.error) == ("timeout", "my_tool ran over 0.5 s")
