"""How many weights a conv net's compressors work on: what the storage checks start from.

The arithmetic and the largest layer come from ``torch_sources.count_work``, which
the Core ML backend shares.
"""

from __future__ import annotations

from typing import Any


def weight_elements(net: Any) -> int:
    """Elements of the conv and linear weights: what the compressors compress."""
    import torch

    return sum(
        m.weight.numel()
        for m in net.modules()
        if isinstance(m, (torch.nn.modules.conv._ConvNd, torch.nn.Linear))
    )
