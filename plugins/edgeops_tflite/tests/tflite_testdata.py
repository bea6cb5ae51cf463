"""Paths and sources shared by the TFLite tests (a uniquely named module: ``conftest`` is not importable)."""

from __future__ import annotations

from edgeops.models import MeasureSettings
from edgeops.testing import test_data_dir

SHARED_MODELS = test_data_dir() / "models"
REAL_TFLITE = sorted((SHARED_MODELS / "tflite").glob("*.tflite"))
INVALID_TFLITE = SHARED_MODELS / "negative" / "coral__invalid_models__model_invoking_error.tflite"
FAST = MeasureSettings(
    rounds=1, warmup_runs=1, min_runs=3, max_runs=20, min_duration_s=0.0, threads=2
)

# Non-square, C != H != W: a layout mistake cannot hide behind equal sizes.
FACTORY_SOURCE = """
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 48, 3, padding=1), nn.BatchNorm2d(48), nn.ReLU6())
        self.mid = nn.Sequential(nn.Conv2d(48, 64, 3, padding=1, stride=2), nn.ReLU())
        self.head = nn.Conv2d(64 + 48, 2, 1)

    def forward(self, x):
        s = self.stem(x)
        m = nn.functional.interpolate(self.mid(s), scale_factor=2.0, mode="nearest")
        return self.head(torch.cat([s, m], 1))


def build():
    torch.manual_seed(0)
    net = Net()
    with torch.no_grad():
        net.stem[1].running_mean.uniform_(-0.1, 0.1)
        net.stem[1].running_var.uniform_(0.5, 1.5)
    return net.eval()
"""

FACTORY_CONFIG = """
[model]
name = "tiny-seg"
source = "net.py:build"
task = "segmentation"
sample_count = 4

[[model.inputs]]
name = "image"
shape = [1, 3, 20, 28]
"""
