"""The example segmenter (examples/segmenter) with one deliberately sensitive layer.

The head's last layer is a 1x1 convolution from 16 channels to the mask logit.
Here one of its input channels is made dead (the depthwise filter before it is
zeroed and its BatchNorm shift is negative, so ReLU6 gives exactly 0) and that
channel's weight in the last convolution is set to 1000. In float nothing
changes: the weight multiplies zeros. In int8 that convolution has one output
channel, so per-channel weight quantization is per-tensor: its scale becomes
1000 / 127 and every real weight (|w| < 4) rounds to 0, so the mask is lost.
Dead channels carrying untrained weights are common in ReLU nets; this makes one
extreme. Keeping that single convolution in float repairs it.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from torch import nn

SEGMENTER = Path(__file__).resolve().parent.parent / "examples" / "segmenter" / "segmenter.py"
DEAD_CHANNEL = 0
OUTLIER_WEIGHT = 1000.0


def _segmenter() -> ModuleType:
    name = "_edgeops_test_sensitive_segmenter_base"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, SEGMENTER)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def build() -> nn.Module:
    import torch

    net = _segmenter().build()
    depthwise, norm = net.head[0][0], net.head[0][1]
    with torch.no_grad():
        depthwise.weight[DEAD_CHANNEL] = 0.0
        norm.running_mean[DEAD_CHANNEL] = 0.0
        norm.bias[DEAD_CHANNEL] = -1.0
        net.head[1].weight[0, DEAD_CHANNEL] = OUTLIER_WEIGHT
    return net.eval()


def samples(count: int = 16) -> list:
    return _segmenter().samples(count)
