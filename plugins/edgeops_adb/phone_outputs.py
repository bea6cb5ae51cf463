"""A TFLite variant's outputs on a phone, computed there by LiteRT's ``benchmark_model``.

A phone has no Python, so the probe's ``--outputs`` mode cannot run there. The
runner is the tool already pushed for measuring: LiteRT's benchmark_model reads
each input from a file (``--input_layer_value_files``, the raw bytes of the tensor,
refused unless exactly its size) and writes every output tensor's raw bytes, in
the graph's output order, to ``--output_filepath`` after its runs (its
``OutputSaver`` listener, tflite/tools/benchmark/benchmark_tflite_model.cc). So one
sample is: push its input files, one run of one inference, pull the outputs file.
The file's size is checked on the phone before it is pulled and again after: it
must be exactly the outputs' size the host read from the model.

What the bytes mean (dtypes, shapes, the source's layout) is the TFLite backend's
business; this module moves bytes and runs the command.
"""

from __future__ import annotations

import contextlib
import shlex
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path

from edgeops.plugin import DeviceError

from .benchmark_model import COMPUTE_UNIT_FLAGS
from .phone_measure import BIG_CORES_LABEL, ensure_benchmark_model, tail
from .session import CHECKSUM_TIMEOUT_S, AdbSession

# benchmark_model logs flags it does not know and goes on: a build older than
# --output_filepath (2023) runs, writes nothing, and says so in this line.
_UNCONSUMED = "Unconsumed cmdline flags"


def io_argv(
    binary: str,
    remote_model: str,
    compute_unit: str,
    inputs: Sequence[tuple[tuple[int, ...], str]],
    remote_outputs: str,
) -> list[str]:
    """argv for one inference on the inputs in ``inputs`` ((shape, file on the phone), in the
    graph's input order), its outputs written to ``remote_outputs``."""
    flags = COMPUTE_UNIT_FLAGS.get(compute_unit)
    if flags is None:
        raise DeviceError(
            f"outputs on a phone run on {sorted(COMPUTE_UNIT_FLAGS)}, not {compute_unit!r}"
        )
    # The tool takes the inputs in the interpreter's order whatever they are called;
    # names of our own keep a model's ':' and ',' out of its map-like flags.
    names = [f"in{k}" for k in range(len(inputs))]
    return [
        binary,
        f"--graph={remote_model}",
        # One warm-up and one timed run, no minimum time: the outputs are the last run's.
        "--warmup_runs=1",
        "--warmup_min_secs=0",
        "--num_runs=1",
        "--min_secs=0",
        f"--input_layer={','.join(names)}",
        f"--input_layer_shape={':'.join(','.join(str(d) for d in shape) for shape, _ in inputs)}",
        "--input_layer_value_files="
        + ",".join(f"{name}:{path}" for name, (_, path) in zip(names, inputs, strict=True)),
        f"--output_filepath={remote_outputs}",
        *flags,
    ]


def tensor_outputs(
    session: AdbSession,
    remote_model: str,
    compute_unit: str,
    inputs: Sequence[tuple[tuple[int, ...], bytes]],
    output_bytes: int,
    timeout_s: float,
) -> bytes:
    """The raw bytes of the model's outputs (graph order, concatenated) for one sample
    whose inputs are ``inputs`` ((shape, raw bytes), graph order); DeviceError, with the
    reason, when the phone did not write exactly ``output_bytes`` of them."""
    binary = ensure_benchmark_model(session)
    with tempfile.TemporaryDirectory() as folder:
        remote_inputs = []
        for k, (shape, data) in enumerate(inputs):
            local = Path(folder) / f"input{k}.bin"
            local.write_bytes(data)
            remote_inputs.append((shape, session.push(local)))
        remote_outputs = f"{session.remote_dir}/outputs-{uuid.uuid4().hex[:12]}.bin"
        argv = io_argv(binary, remote_model, compute_unit, remote_inputs, remote_outputs)
        big_cores = session.device.labels.get(BIG_CORES_LABEL)
        if big_cores:
            argv = ["taskset", big_cores, *argv]
        try:
            result = session.run(argv, timeout_s=timeout_s)
            if result.exit_code != 0:
                raise DeviceError(
                    f"benchmark_model exited with {result.exit_code} on the inputs: "
                    f"{tail(result.stdout)} (command: {shlex.join(argv)})"
                )
            local = Path(folder) / "outputs.bin"
            session.pull(
                remote_outputs, local, max_bytes=output_bytes, missing=_why_none(result.stdout)
            )
            data = local.read_bytes()
        finally:
            # A dropped connection cannot clean up; its own error is the one to report.
            with contextlib.suppress(DeviceError, TimeoutError):
                session.run(["rm", "-f", remote_outputs], timeout_s=CHECKSUM_TIMEOUT_S)
    if len(data) != output_bytes:
        raise DeviceError(
            f"benchmark_model wrote {len(data)} bytes of outputs, the model's outputs are "
            f"{output_bytes} bytes"
        )
    return data


def _why_none(log: str) -> str:
    """What to say when the run left no outputs file."""
    if _UNCONSUMED in log and "output_filepath" in log:
        return (
            "this benchmark_model does not know --output_filepath (it predates 2023): "
            "push a current LiteRT benchmark_model to get outputs from the phone"
        )
    return f"benchmark_model wrote no outputs file: {tail(log)}"
