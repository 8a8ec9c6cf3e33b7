"""Activation masks on convolution outputs.

A masked convolution is a :class:`MaskedConv2d`: an ``nn.Conv2d`` whose output
is multiplied by a binary spatial mask ``[H_out, W_out]`` (1 = keep), shared
by all channels and all images of a batch, *before* whatever follows (usually
BatchNorm). It keeps the conv's module path and state_dict keys, and adds two
buffers, so masks survive ``torch.save(model)`` and state_dict round trips:

- ``activation_mask``: float32 ``[H_out, W_out]`` of 0/1;
- ``example_input_shape``: int64 ``[4]``, the NCHW shape of the *model* input
  the masks were made for (the converter's default input shape).
"""

from __future__ import annotations

import math
import warnings
from typing import Iterable, Mapping

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class MaskError(ValueError):
    """A mask does not fit the layer or model it is meant for."""


class MaskedConv2d(nn.Conv2d):
    """``nn.Conv2d`` followed by a fixed spatial activation mask."""

    activation_mask: torch.Tensor
    example_input_shape: torch.Tensor

    def __init__(self, *args, mask_shape: tuple[int, int] = (1, 1), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.register_buffer("activation_mask", torch.ones(mask_shape))
        self.register_buffer("example_input_shape", torch.zeros(4, dtype=torch.int64))

    @classmethod
    def from_conv(cls, conv: nn.Conv2d, mask: torch.Tensor | np.ndarray,
                  example_input_shape: Iterable[int]) -> "MaskedConv2d":
        """A MaskedConv2d with ``conv``'s configuration, sharing its Parameter objects."""
        if not is_eligible(conv):
            raise MaskError(f"cannot mask a {_describe(conv)}")
        masked = cls(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
                     padding=conv.padding, dilation=conv.dilation, groups=conv.groups,
                     bias=conv.bias is not None, padding_mode=conv.padding_mode,
                     device=conv.weight.device, dtype=conv.weight.dtype)
        masked.weight = conv.weight
        masked.bias = conv.bias
        masked.train(conv.training)
        masked.activation_mask = _as_mask_tensor(mask, conv.weight.device)
        masked.example_input_shape = torch.tensor(list(example_input_shape), dtype=torch.int64)
        return masked

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = super().forward(x)
        if y.shape[-2:] != self.activation_mask.shape:
            raise MaskError(
                f"conv output is {tuple(y.shape[-2:])} (H, W) but its activation mask is "
                f"{tuple(self.activation_mask.shape)}; the input shape differs from the one the "
                f"masks were made for ({tuple(self.example_input_shape.tolist())} NCHW)")
        return y * self.activation_mask

    @property
    def sparsity(self) -> float:
        """Fraction of masked (zero) output pixels."""
        zeros = int((self.activation_mask == 0).sum().item())
        return zeros / self.activation_mask.numel()

    def extra_repr(self) -> str:
        h, w = self.activation_mask.shape
        return f"{super().extra_repr()}, mask={h}x{w}, sparsity={self.sparsity:.3f}"


def _as_mask_tensor(mask: torch.Tensor | np.ndarray, device: torch.device) -> torch.Tensor:
    m = torch.as_tensor(np.asarray(mask) if not isinstance(mask, torch.Tensor) else mask)
    if m.ndim != 2:
        raise MaskError(f"a mask must be 2-D [H_out, W_out], got shape {tuple(m.shape)}")
    values = torch.unique(m)
    if not bool(((values == 0) | (values == 1)).all()):
        raise MaskError(f"a mask must hold only 0 and 1, found {values[:5].tolist()}")
    return m.to(device=device, dtype=torch.float32).clone()


def is_eligible(conv: nn.Module) -> bool:
    """Convs a mask can go on: ``nn.Conv2d`` of any groups (plain, grouped as
    in ResNeXt / RegNet, depthwise).

    Subclasses of Conv2d other than MaskedConv2d are not eligible: their
    forward may differ from a plain convolution.
    """
    return type(conv) is nn.Conv2d or type(conv) is MaskedConv2d


def _describe(module: nn.Module) -> str:
    if isinstance(module, nn.Conv2d):
        return f"{type(module).__name__} (a Conv2d subclass with its own forward)"
    return f"{type(module).__name__} (not an nn.Conv2d)"


def eligible_convs(model: nn.Module, *, skip_1x1: bool = False) -> list[str]:
    """Module paths of the convs :func:`attach_masks` would mask, in module order."""
    names = []
    for name, module in model.named_modules():
        if not is_eligible(module):
            continue
        if skip_1x1 and tuple(module.kernel_size) == (1, 1):
            continue
        names.append(name)
    return names


def _why_not(model: nn.Module, path: str, skip_1x1: bool) -> str:
    try:
        module = model.get_submodule(path)
    except AttributeError:
        return "no such module"
    if is_eligible(module):
        return "a 1x1 conv, skipped by skip_1x1"
    return f"cannot mask a {_describe(module)}"


def masked_convs(model: nn.Module) -> dict[str, MaskedConv2d]:
    """The model's masked convs by module path, in module order."""
    return {name: m for name, m in model.named_modules() if isinstance(m, MaskedConv2d)}


def conv_output_hw(conv: nn.Conv2d, height: int, width: int) -> tuple[int, int]:
    """Output ``(H, W)`` of ``conv`` for an input of ``height`` x ``width``."""
    sizes = []
    for axis, size in enumerate((height, width)):
        if conv.padding == "same":
            sizes.append(size)
            continue
        padding = 0 if conv.padding == "valid" else conv.padding[axis]
        span = conv.dilation[axis] * (conv.kernel_size[axis] - 1) + 1
        sizes.append((size + 2 * padding - span) // conv.stride[axis] + 1)
    return sizes[0], sizes[1]


def conv_output_sizes(model: nn.Module, example_input: torch.Tensor, names: Iterable[str],
                      *, partial: bool = False, leave_shared_dense: bool = False) -> dict[str, tuple[int, int]]:
    """Output ``(H, W)`` of each named conv for ``example_input`` (one forward pass).

    Sizes are recorded as each conv is entered, so with ``partial=True`` a
    forward pass that fails part-way (e.g. a mask that does not fit) still
    returns the sizes of the convs reached, the failing one included.

    A conv that runs at several output sizes (a head shared by the levels of
    a feature pyramid) cannot take a fixed mask: an error, or with
    ``leave_shared_dense`` left out of the result with a warning naming it.
    """
    wanted = set(names)
    all_sizes: dict[str, list[tuple[int, int]]] = {}  # distinct sizes per conv, in call order
    hooks = []
    for name, module in model.named_modules():
        if name in wanted and isinstance(module, nn.Conv2d):
            def hook(conv, inputs, name=name):
                size = conv_output_hw(conv, int(inputs[0].shape[-2]), int(inputs[0].shape[-1]))
                if size not in all_sizes.setdefault(name, []):
                    all_sizes[name].append(size)
            hooks.append(module.register_forward_pre_hook(hook))
    try:
        with torch.no_grad():
            model(example_input)
    except Exception:
        if not partial:
            raise
    finally:
        for handle in hooks:
            handle.remove()
    shared = {n: v for n, v in all_sizes.items() if len(v) > 1}
    if shared and leave_shared_dense:
        warnings.warn("left dense, they run at several output sizes (a fixed mask fits one): "
                      + ", ".join(sorted(shared)), stacklevel=3)
    elif shared and not partial:
        raise MaskError("convs that run at several output sizes cannot take a fixed mask (shared across the "
                        "levels of a feature pyramid?); leave them dense: " + "; ".join(
                            f"{n}: {', '.join(f'{h}x{w}' for h, w in v)}" for n, v in sorted(shared.items())))
    missing = wanted - set(all_sizes)
    if missing and not partial:
        raise MaskError(f"these convs did not run for the example input: {sorted(missing)}")
    return {n: v[-1] for n, v in all_sizes.items() if not (leave_shared_dense and n in shared)}


def _replace_module(model: nn.Module, path: str, new: nn.Module) -> None:
    parent_path, _, attr = path.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    setattr(parent, attr, new)


def set_mask(model: nn.Module, path: str, mask: torch.Tensor | np.ndarray,
             example_input_shape: Iterable[int]) -> MaskedConv2d:
    """Put ``mask`` on the conv at ``path`` (replacing any mask it has)."""
    try:
        conv = model.get_submodule(path)
    except AttributeError:
        raise MaskError(f"the model has no module {path!r}") from None
    if not is_eligible(conv):
        raise MaskError(f"{path}: cannot mask a {_describe(conv)}")
    masked = MaskedConv2d.from_conv(conv, mask, example_input_shape)
    _replace_module(model, path, masked)
    return masked


def random_mask(height: int, width: int, sparsity: float, generator: np.random.Generator) -> np.ndarray:
    """A ``[height, width]`` 0/1 mask with exactly ``round(sparsity*H*W)`` zeros."""
    zeros = round(sparsity * height * width)
    flat = np.ones(height * width, np.float32)
    flat[generator.permutation(height * width)[:zeros]] = 0.0
    return flat.reshape(height, width)


def lnorm_masks(score_map: torch.Tensor, sizes: Mapping[str, tuple[int, int]],
                sparsities: Mapping[str, float]) -> dict[str, np.ndarray]:
    """Masks from one score map at input resolution ``[H_in, W_in]``.

    The map is average-pooled to each layer's output size and each layer drops
    its ``round(s*H*W)`` lowest-scoring pixels, so masks are spatially
    consistent across layers (the reference implementation's ``lnorm``).
    """
    masks = {}
    for name, (h, w) in sizes.items():
        pooled = F.adaptive_avg_pool2d(score_map[None, None].float(), (h, w))[0, 0].flatten()
        zeros = round(sparsities[name] * h * w)
        mask = torch.ones(h * w)
        # Stable sort: ties break by pixel index, so results are deterministic.
        order = torch.sort(pooled, stable=True).indices
        mask[order[:zeros]] = 0.0
        masks[name] = mask.reshape(h, w).numpy()
    return masks


def attach_masks(model: nn.Module, example_input: torch.Tensor,
                 sparsity: float | Mapping[str, float], *, seed: int = 0,
                 skip_1x1: bool = False, criterion: str = "random",
                 layers: Iterable[str] | None = None) -> dict[str, MaskedConv2d]:
    """Attach frozen masks to every eligible conv of ``model`` (in place).

    Args:
        model: any ``nn.Module``; its ``nn.Conv2d`` children (plain, grouped
            or depthwise) become :class:`MaskedConv2d`.
        example_input: an NCHW input; fixes each conv's output size, and is
            recorded as the converter's default input shape.
        sparsity: fraction of output pixels to mask, in [0, 1], for all layers
            or per module path (layers not in the mapping are left alone).
        seed: seeds the mask choice (deterministic for a given model and seed).
        skip_1x1: leave 1x1 convs unmasked (the reference implementation's example).
        criterion: ``"random"`` (independent per layer) or ``"lnorm"`` (one
            random score map at input resolution, pooled to each layer).
        layers: restrict to these module paths.

    Returns:
        The masked convs by module path. Each mask has exactly
        ``round(s * H_out * W_out)`` zeros.
    """
    if example_input.ndim != 4:
        raise MaskError(f"example_input must be NCHW (4-D), got shape {tuple(example_input.shape)}")
    names = eligible_convs(model, skip_1x1=skip_1x1)
    if not names and layers is None:
        warnings.warn(f"attach_masks: {type(model).__name__} has no conv that can be masked "
                      f"(nn.Conv2d{', other than 1x1' if skip_1x1 else ''}): nothing was masked", stacklevel=2)
        return {}
    if layers is not None:
        wanted = list(layers)
        unknown = [n for n in wanted if n not in names]
        if unknown:
            raise MaskError("not eligible convs of this model: " + "; ".join(
                f"{n}: {_why_not(model, n, skip_1x1)}" for n in unknown))
        names = [n for n in names if n in set(wanted)]
    if isinstance(sparsity, Mapping):
        unknown = [n for n in sparsity if n not in names]
        if unknown:
            raise MaskError("sparsity given for modules that are not eligible convs: " + "; ".join(
                f"{n}: {_why_not(model, n, skip_1x1)}" for n in unknown))
        sparsities = {n: float(sparsity[n]) for n in names if n in sparsity}
    else:
        sparsities = {n: float(sparsity) for n in names}
    for name, s in sparsities.items():
        if not 0.0 <= s <= 1.0 or math.isnan(s):
            raise MaskError(f"{name}: sparsity {s} is outside [0, 1]")
    # Not asked for by name, convs shared across sizes stay dense (with a warning).
    sizes = conv_output_sizes(model, example_input, sparsities,
                              leave_shared_dense=layers is None and not isinstance(sparsity, Mapping))
    sparsities = {n: v for n, v in sparsities.items() if n in sizes}
    input_shape = tuple(int(d) for d in example_input.shape)
    if criterion == "random":
        generator = np.random.default_rng(seed)
        masks = {n: random_mask(*sizes[n], sparsities[n], generator) for n in sparsities}
    elif criterion == "lnorm":
        score_map = torch.rand(input_shape[2:], generator=torch.Generator().manual_seed(seed))
        masks = lnorm_masks(score_map, {n: sizes[n] for n in sparsities}, sparsities)
    else:
        raise MaskError(f"criterion must be 'random' or 'lnorm', got {criterion!r}")
    return {name: set_mask(model, name, masks[name], input_shape) for name in sparsities}
