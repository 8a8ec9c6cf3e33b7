"""Masks for another input size: each mask resampled to its conv's new output size.

A mask is trained for one output size; at another input size every masked
conv outputs another H x W. Retraining the masks at the new size is the
method; resampling them is an approximation of it that needs no data: the
kept/masked layout is stretched with nearest-neighbour sampling, then pixels
are flipped until the layer's sparsity is as close to the trained one as the
new pixel count allows (the flipped pixels are those the smooth, antialiased
resampling of the mask is least sure about).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from actsparse.torch.masks import MaskedConv2d, MaskError, conv_output_hw, masked_convs


@dataclass(frozen=True)
class ResampledMask:
    """One masked conv's mask before and after resampling (sizes are the conv's output H x W)."""

    name: str
    old_size: tuple[int, int]
    new_size: tuple[int, int]
    old_sparsity: float   # fraction of masked (zero) pixels
    new_sparsity: float


def resample_mask(mask: np.ndarray, height: int, width: int) -> np.ndarray:
    """``mask`` ([H, W] of 0/1, 1 = keep) resampled to ``[height, width]``.

    Nearest-neighbour (pixel centres aligned), then exactly
    ``round(sparsity * height * width)`` zeros: where nearest gives too many
    or too few, the pixels whose antialiased bilinear resampling is closest
    to the other side are flipped (ties in a fixed pseudo-random order, so no
    corner is favoured). Deterministic.
    """
    source = np.asarray(mask, dtype=np.float32)
    if source.ndim != 2 or source.size == 0:
        raise MaskError(f"a mask must be 2-D [H, W], got shape {source.shape}")
    if height <= 0 or width <= 0:
        raise MaskError(f"cannot resample a mask to {height}x{width}")
    src_h, src_w = source.shape
    rows = np.minimum(((np.arange(height) + 0.5) * src_h / height).astype(np.int64), src_h - 1)
    cols = np.minimum(((np.arange(width) + 0.5) * src_w / width).astype(np.int64), src_w - 1)
    nearest = source[rows][:, cols]
    smooth = F.interpolate(torch.from_numpy(source)[None, None], size=(height, width), mode="bilinear",
                           align_corners=False, antialias=True)[0, 0].numpy()
    zeros = round(float((source == 0).mean()) * height * width)
    tie_break = np.random.default_rng(0).permutation(height * width)
    # Masked first: nearest's zeros, the least-kept-looking first.
    order = np.lexsort((tie_break, smooth.ravel(), nearest.ravel()))
    result = np.ones(height * width, np.float32)
    result[order[:zeros]] = 0.0
    return result.reshape(height, width)


def _new_output_sizes(model: nn.Module, input_shape: Sequence[int]) -> dict[str, tuple[int, int]]:
    """Each masked conv's output (H, W) for ``input_shape`` (NCHW); the masks
    are set to all ones of that size on the way (callers replace them)."""
    sizes: dict[str, tuple[int, int]] = {}
    hooks = []
    for name, conv in masked_convs(model).items():
        def fit(module: MaskedConv2d, inputs, name=name) -> None:
            size = conv_output_hw(module, int(inputs[0].shape[-2]), int(inputs[0].shape[-1]))
            if sizes.setdefault(name, size) != size:
                raise MaskError(f"{name} runs at several output sizes ({sizes[name]} and {size}); "
                                "a fixed mask fits one")
            if tuple(module.activation_mask.shape) != size:
                module.activation_mask = torch.ones(size, device=module.activation_mask.device)
        hooks.append(conv.register_forward_pre_hook(fit))
    try:
        with torch.no_grad():
            model(torch.zeros(tuple(input_shape)))
    finally:
        for handle in hooks:
            handle.remove()
    return sizes


def resample_masks(model: nn.Module, input_shape: Sequence[int]) -> list[ResampledMask]:
    """Resample every mask of ``model`` (in place) to fit ``input_shape`` (NCHW).

    Each :class:`MaskedConv2d` gets its mask resampled with
    :func:`resample_mask` to its output size at the new input, and the new
    input shape recorded. An approximation of training the masks at that
    size: the sparsities are kept (up to rounding), the exact pixels are not
    what training would pick.

    Returns:
        One :class:`ResampledMask` per masked conv, in module order.

    Raises:
        MaskError: a masked conv does not run for ``input_shape``, or runs at
            several output sizes.
    """
    input_shape = tuple(int(d) for d in input_shape)
    convs = masked_convs(model)
    old = {name: conv.activation_mask.detach().cpu().numpy().copy() for name, conv in convs.items()}
    try:
        sizes = _new_output_sizes(model, input_shape)
    except Exception:
        for name, conv in convs.items():  # leave the model as it was
            conv.activation_mask = torch.from_numpy(old[name]).to(conv.weight.device)
        raise
    missing = [name for name in convs if name not in sizes]
    if missing:
        raise MaskError(f"these masked convs did not run for input shape {input_shape}: {', '.join(missing)}")
    report = []
    for name, conv in convs.items():
        new = resample_mask(old[name], *sizes[name])
        conv.activation_mask = torch.from_numpy(new).to(conv.weight.device)
        conv.example_input_shape = torch.tensor(input_shape, dtype=torch.int64)
        report.append(ResampledMask(name, tuple(old[name].shape), sizes[name],
                                    float((old[name] == 0).mean()), float((new == 0).mean())))
    return report
