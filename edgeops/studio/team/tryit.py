""" "Try it": run chosen variants on one uploaded image, in a bounded worker process.

The web process never loads a model: it starts ``python -m edgeops.studio.team.tryit``
with the image and the variants' file-store paths on stdin, under an address-space
limit (:data:`TRY_MEMORY_MB`, ``RLIMIT_AS``) and a CPU limit, and kills its whole
process group after :data:`TRY_TIMEOUT_S`. The worker answers one JSON object:
per variant, its median time over :data:`TRY_RUNS` runs (after one warm-up), the
output's shape and an image of it (a mask, an image, or the top classes).

ONNX runs on onnxruntime and TFLite on ai-edge-litert; other formats (Core AI,
ExecuTorch) are listed as not runnable here.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

TRY_TIMEOUT_S = 60.0
TRY_MEMORY_MB = 4096
TRY_RUNS = 5
RUNNABLE = ("onnx", "tflite")


def run_bounded(request: dict[str, Any], timeout_s: float = TRY_TIMEOUT_S) -> dict[str, Any]:
    """The worker's answer, or ``{"error": ...}`` when it was killed, timed out or crashed."""
    memory = int(request.get("memory_mb", TRY_MEMORY_MB)) * 1024**2

    def limits() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        cpu = int(timeout_s) + 5
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))

    proc = subprocess.Popen(
        [sys.executable, "-m", "edgeops.studio.team.tryit"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=limits,  # noqa: PLW1509 (no threads are started between fork and exec)
        start_new_session=True,
        env={**os.environ, "OMP_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    try:
        out, err = proc.communicate(json.dumps(request).encode(), timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return {"error": f"the worker ran past {timeout_s:.0f} s and was stopped"}
    if proc.returncode != 0:
        tail = err.decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
        why = (
            f"killed by signal {-proc.returncode}"
            if proc.returncode < 0
            else f"exit {proc.returncode}"
        )
        return {"error": f"the worker failed ({why}): {tail[0][:300]}"}
    try:
        answer: dict[str, Any] = json.loads(out)
    except ValueError:
        return {"error": "the worker's answer was not JSON"}
    return answer


def _run_one(variant: dict[str, Any], rgb: Any, value_range: tuple[float, float]) -> dict[str, Any]:
    import numpy as np

    from edgeops.studio.team.fit import fit_image

    fmt = variant["format"]
    out: dict[str, Any] = {"variant_id": variant["variant_id"], "name": variant["name"]}
    out["format"] = fmt
    if fmt == "onnx":
        import onnxruntime as ort

        ort.set_default_logger_severity(3)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        session = ort.InferenceSession(variant["path"], options, providers=["CPUExecutionProvider"])
        first = session.get_inputs()[0]
        kinds = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(uint8)": "uint8"}
        shape = tuple(d if isinstance(d, int) else 1 for d in first.shape)
        feed = {first.name: fit_image(rgb, shape, kinds.get(first.type, "float32"), value_range)}

        def run() -> Any:
            return session.run(None, feed)[0]

    elif fmt == "tflite":
        from ai_edge_litert.interpreter import Interpreter

        from edgeops.quiet import quiet

        with quiet():
            interpreter = Interpreter(model_path=variant["path"], num_threads=1)
            interpreter.allocate_tensors()
        detail = interpreter.get_input_details()[0]
        array = fit_image(rgb, tuple(detail["shape"]), str(np.dtype(detail["dtype"])), value_range)
        output = interpreter.get_output_details()[0]

        def run() -> Any:
            interpreter.set_tensor(detail["index"], array)
            interpreter.invoke()
            return interpreter.get_tensor(output["index"])

    else:
        out["error"] = f"{fmt} variants do not run on this server"
        return out
    result = run()  # warm-up
    times_ms = []
    for _ in range(TRY_RUNS):
        start = time.perf_counter()
        result = run()
        times_ms.append((time.perf_counter() - start) * 1000)
    out["median_ms"] = float(np.median(times_ms))
    out["times_ms"] = times_ms
    out["shape"] = list(np.shape(result))
    out.update(_picture(np.asarray(result), value_range))
    return out


def _picture(result: Any, value_range: tuple[float, float]) -> dict[str, Any]:
    from edgeops.report.gallery import as_image, mask_image, top_labels
    from edgeops.report.png import png_bytes

    if result.ndim >= 3 and result.size > 64:
        image = mask_image(result) if result.shape[1] > 3 or result.shape[-1] > 3 else None
        image = image if image is not None else as_image(result, value_range)
        if image is not None:
            return {"png": base64.b64encode(png_bytes(image)).decode()}
    return {"top": [(t.label, t.score) for t in top_labels(result)]}


def main() -> None:
    request = json.loads(sys.stdin.buffer.read())
    import io

    import numpy as np
    from PIL import Image

    with Image.open(io.BytesIO(base64.b64decode(request["image"]))) as image:
        rgb = np.asarray(image.convert("RGB"))
    value_range = tuple(request.get("value_range", (0.0, 1.0)))
    answers = []
    for variant in request["variants"]:
        try:
            answers.append(_run_one(variant, rgb, value_range))
        except Exception as exc:  # one variant's failure is recorded; the others go on
            answers.append(
                {**variant, "path": None, "error": f"{type(exc).__name__}: {str(exc)[:300]}"}
            )
    sys.stdout.write(json.dumps({"variants": answers}))


if __name__ == "__main__":
    main()
