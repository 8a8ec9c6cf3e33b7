"""Structured pruning (whole channels) to a MAC budget, on torch-pruning's
dependency graph (DepGraph), for combining with activation sparsity.

Channels are removed in groups that must go together (a conv's output
channels, the BatchNorm after it, the next conv's input channels, the other
branch of a residual add), ranked by the group's L2 weight magnitude, at
one ratio for every prunable layer (ignored layers keep their outputs: the
classifier, a detector's final head convs). The ratio is found by bisection
so that the model's MACs fall to the budget.

A detector's C2f blocks are first rewritten without their split
(:meth:`actsparse.torch.models.yolo.C2f.unsplit`, exact), which DepGraph
cannot follow. Masks stay consistent: an activation mask is per output pixel and shared
by all channels, so removing channels leaves every :class:`MaskedConv2d`'s
mask valid; prune before or after attaching masks. Layouts are PyTorch's
(NCHW).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Iterable

import torch
import torch.nn as nn


@dataclass
class PruneReport:
    macs_before: int
    macs_after: int
    params_before: int
    params_after: int
    channel_ratio: float          # fraction of each prunable layer's channels removed
    layers: dict[str, tuple[int, int]] = field(default_factory=dict)  # conv path: (out channels before, after)

    @property
    def mac_fraction(self) -> float:
        return self.macs_after / max(self.macs_before, 1)


def count_macs(model: nn.Module, example_input: torch.Tensor) -> tuple[int, int]:
    """(multiply-accumulates, parameters) of one forward pass on ``example_input``."""
    import torch_pruning as tp

    macs, params = tp.utils.count_ops_and_params(model, example_input)
    return int(macs), int(params)


def default_ignored(model: nn.Module) -> list[nn.Module]:
    """Layers whose outputs are the model's: every ``nn.Linear`` and, for a
    :class:`~actsparse.torch.models.YoloDetector`, the last conv of each head
    branch (their channels are box bins and classes)."""
    ignored = [m for m in model.modules() if isinstance(m, nn.Linear)]
    head = getattr(model, "head", None)
    for branches in (getattr(head, "box", None), getattr(head, "cls", None)):
        for branch in branches or ():
            ignored.append(branch[-1])
    return ignored


def _prune(model: nn.Module, example_input: torch.Tensor, ratio: float, ignored: list[nn.Module],
           round_to: int | None) -> None:
    import torch_pruning as tp

    pruner = tp.pruner.MetaPruner(model, example_input, importance=tp.importance.GroupMagnitudeImportance(p=2),
                                  pruning_ratio=ratio, ignored_layers=ignored, round_to=round_to)
    pruner.step()


def prune_to_macs(model: nn.Module, example_input: torch.Tensor, mac_fraction: float, *,
                  ignored: Iterable[nn.Module] | None = None, round_to: int | None = None,
                  tolerance: float = 0.01) -> PruneReport:
    """Remove channels of ``model`` (in place) until its MACs on
    ``example_input`` (NCHW) are at most ``mac_fraction`` of what they were.

    ``ignored`` layers keep their output channels (default:
    :func:`default_ignored`); ``round_to`` keeps channel counts multiples of
    it (None: any count, odd ones included). The channel ratio is bisected to
    within ``tolerance`` of the budget (never above it).
    """
    if not 0 < mac_fraction <= 1:
        raise ValueError(f"mac_fraction must be in (0, 1], got {mac_fraction}")
    was_training = model.training
    model.eval()
    for module in model.modules():  # C2f's split: into two convs, which channel pruning can follow
        if hasattr(module, "unsplit"):
            module.unsplit()
    macs_before, params_before = count_macs(model, example_input)
    before = {name: m.out_channels for name, m in model.named_modules() if isinstance(m, nn.Conv2d)}
    ignored_ids = {id(m) for m in (default_ignored(model) if ignored is None else ignored)}
    ratio = 0.0
    if mac_fraction < 1:
        low, high = 0.0, 0.95
        for _ in range(12):
            middle = (low + high) / 2
            trial = copy.deepcopy(model)
            trial_ignored = [m for m, original in zip(trial.modules(), model.modules()) if id(original) in ignored_ids]
            _prune(trial, example_input, middle, trial_ignored, round_to)
            fraction = count_macs(trial, example_input)[0] / macs_before
            if fraction <= mac_fraction:
                high, ratio = middle, middle
                if mac_fraction - fraction <= tolerance:
                    break
            else:
                low = middle
        if ratio == 0.0:
            raise ValueError(f"cannot reach {mac_fraction:.0%} of the MACs by pruning channels "
                             f"(the ignored layers alone cost more)")
        _prune(model, example_input, ratio, [m for m in model.modules() if id(m) in ignored_ids], round_to)
    macs_after, params_after = count_macs(model, example_input)
    after = {name: m.out_channels for name, m in model.named_modules() if isinstance(m, nn.Conv2d)}
    model.train(was_training)
    return PruneReport(macs_before, macs_after, params_before, params_after, round(ratio, 4),
                       {name: (before[name], after[name]) for name in before if name in after})
