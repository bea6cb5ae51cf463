"""How much arithmetic a conv net does, and its largest layer: what predictions start from.

Convolutions and linear layers hold nearly all the multiply-accumulates of the
conv nets edgeops ships; a prediction needs an order of magnitude, not an exact
count. The largest layer's input plus output elements are what must be resident
at once when a runtime frees each activation after its last use.
"""

from __future__ import annotations

import math
from typing import Any

from edgeops.plugin import InputSpec, quiet

from .convert import example_args
from .sdk import NOISY_LOGGERS


def count_work(net: Any, inputs: tuple[InputSpec, ...]) -> tuple[int, int]:
    """(multiply-accumulates, largest layer's input + output elements) from one forward pass."""
    import torch

    macs = 0
    largest = sum(math.prod(i.shape) for i in inputs)

    def conv(module: Any, args: Any, output: Any) -> None:
        nonlocal macs
        macs += math.prod(module.kernel_size) * module.in_channels // module.groups * output.numel()

    def linear(module: Any, args: Any, output: Any) -> None:
        nonlocal macs
        macs += module.in_features * output.numel()

    def tensors(module: Any, args: Any, output: Any) -> None:
        nonlocal largest
        flat = [*args, *(output if isinstance(output, (tuple, list)) else (output,))]
        largest = max(largest, sum(t.numel() for t in flat if isinstance(t, torch.Tensor)))

    handles = []
    for module in net.modules():
        if isinstance(module, torch.nn.modules.conv._ConvNd):
            handles.append(module.register_forward_hook(conv))
        elif isinstance(module, torch.nn.Linear):
            handles.append(module.register_forward_hook(linear))
        if not any(True for _ in module.children()):
            handles.append(module.register_forward_hook(tensors))
    try:
        with torch.no_grad(), quiet(*NOISY_LOGGERS):
            net(*example_args(inputs))
    finally:
        for handle in handles:
            handle.remove()
    return macs, largest


def weight_elements(net: Any) -> int:
    """Elements of the conv and linear weights: what the compressors compress."""
    import torch

    return sum(
        m.weight.numel()
        for m in net.modules()
        if isinstance(m, (torch.nn.modules.conv._ConvNd, torch.nn.Linear))
    )
