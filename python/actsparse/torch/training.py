"""Sparse training: the reference implementation's schedule, criteria and
mask freezing, driven from any training loop (METHOD.md, "Training
procedure of the reference implementation").

Use::

    controller = SparsityController(model, torch.zeros(1, 3, 224, 224), target=0.2,
                                    total_steps=len(loader) * epochs)
    for step, (x, y) in enumerate(batches):
        controller.before_step(step)          # puts this step's masks on the convs
        loss = criterion(model(x), y)
        loss.backward(); optimizer.step(); optimizer.zero_grad()
        controller.after_step(step, loss)     # scores the masks; freezes at end_step

(``controller.step(step, loss)`` after the optimizer step is the one-call form:
it is ``after_step(step, loss)`` then ``before_step(step + 1)``.)

Phases, by global step (``begin``/``end`` from ``begin_step``/``end_step``):

- ``step < begin``: dense (every mask all ones);
- ``begin <= step < end``: ramping; every ``frequency`` steps new masks are
  drawn at the scheduled sparsity (polynomial decay from ``initial`` to the
  layer's target), and the loss of each step is scored against the masks it
  used; the step with the lowest loss is remembered;
- ``step >= end``: frozen; at ``end`` the masks are rebuilt at the target
  sparsity from the best step's draw, and stay fixed (fine-tuning).

Masks are a pure function of ``(seed, step)``: every DDP rank draws the same
ones without communication, and a resumed run draws what the original would
have. Under ``torch.distributed`` the loss is averaged over ranks before it is
scored, so all ranks remember the same best step.

Layouts are PyTorch's: activations NCHW, masks ``[H_out, W_out]``, 1 = keep.
"""

from __future__ import annotations

import fnmatch
import math
from dataclasses import asdict, dataclass
from typing import Iterable, Mapping

import numpy as np
import torch
import torch.nn as nn

from actsparse.torch.masks import (
    MaskError,
    MaskedConv2d,
    conv_output_sizes,
    eligible_convs,
    lnorm_masks,
    random_mask,
    set_mask,
)

CRITERIA = ("random", "lnorm")
_STATE_VERSION = 1


@dataclass(frozen=True)
class PolynomialSchedule:
    """Sparsity over global steps: ``s(t) = final + (initial - final) * (1 - p)^power``
    with ``p = (t - begin) / (end - begin)`` clipped to [0, 1]; updates happen
    at ``begin + k * frequency`` for ``k >= 0`` while ``t < end``."""

    begin_step: int
    end_step: int
    initial: float = 0.0
    final: float = 0.2
    power: float = 2.0
    frequency: int = 1

    def __post_init__(self) -> None:
        if self.begin_step < 0 or self.end_step < self.begin_step:
            raise ValueError(f"need 0 <= begin_step <= end_step, got begin {self.begin_step}, "
                             f"end {self.end_step}")
        if self.frequency < 1:
            raise ValueError(f"frequency must be >= 1, got {self.frequency}")
        for name in ("initial", "final"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0 or math.isnan(value):
                raise ValueError(f"{name} sparsity {value} is outside [0, 1]")
        if self.power <= 0:
            raise ValueError(f"power must be > 0, got {self.power}")

    def fraction(self, step: int) -> float:
        """Progress ``(1 - p)^power`` weight of ``initial``: 1 at begin, 0 at end."""
        if self.end_step == self.begin_step:
            return 0.0
        p = min(max((step - self.begin_step) / (self.end_step - self.begin_step), 0.0), 1.0)
        return (1.0 - p) ** self.power

    def sparsity(self, step: int, final: float | None = None) -> float:
        """The scheduled sparsity at ``step`` (towards ``final``, default the schedule's)."""
        target = self.final if final is None else final
        return target + (self.initial - target) * self.fraction(step)

    def is_update_step(self, step: int) -> bool:
        """Whether ``step`` draws new masks (inside [begin, end), on the frequency grid)."""
        return self.begin_step <= step < self.end_step and (step - self.begin_step) % self.frequency == 0


@dataclass
class ControllerState:
    """What :meth:`SparsityController.state_dict` saves (masks live in the model's own state_dict)."""

    version: int
    seed: int
    criterion: str
    layers: list[str]
    last_step: int            # last step prepared by before_step (-1: none)
    draw_step: int            # the step whose draw the current masks come from (-1: dense)
    best_step: int            # ramping step with the lowest loss so far (-1: none)
    best_loss: float
    frozen: bool


def _step_generator_seed(seed: int, step: int) -> int:
    # A fixed mixing of (seed, step) so draws are independent across steps and
    # identical on every rank and after a resume.
    return (seed * 1_000_003 + step * 7_919 + 12_345) % (2**63 - 1)


class SparsityController:
    """Trains activation masks on a model's convs (see the module docstring).

    Args:
        model: the model (before DDP wrapping, or ``ddp.module``); its selected
            convs become :class:`MaskedConv2d` in place (same parameters and
            state_dict keys; forward code unchanged). Masks already on them
            are replaced (the run starts dense).
        example_input: one NCHW input at training resolution (batch 1 is enough);
            fixes each layer's mask size and the converter's default input shape.
        target: final sparsity of every selected layer, in [0, 1].
        total_steps: the run's length in optimizer steps; needed when
            ``begin_step``/``end_step`` are fractions.
        begin_step, end_step: ints (steps) or floats in [0, 1] (fractions of
            ``total_steps``). Defaults: 10% and 50%.
        frequency: steps between mask updates while ramping.
        initial, power: the polynomial schedule's start value and exponent.
        criterion: ``"lnorm"`` (one score map at input resolution per draw,
            average-pooled to each layer) or ``"random"`` (per layer).
        layer_sparsity: per-layer targets overriding ``target`` (module paths).
        skip_1x1: leave 1x1 convs dense. skip: fnmatch patterns of module paths
            to leave dense. skip_first / skip_last: leave the first / last
            selected conv (in forward order) dense.
        seed: makes every draw reproducible.
        distributed: average the loss over ``torch.distributed`` ranks before
            scoring; ``None`` = when a process group is initialised.
    """

    def __init__(self, model: nn.Module, example_input: torch.Tensor, target: float = 0.2, *,
                 total_steps: int | None = None, begin_step: int | float = 0.1,
                 end_step: int | float = 0.5, frequency: int = 1, initial: float = 0.0,
                 power: float = 2.0, criterion: str = "lnorm",
                 layer_sparsity: Mapping[str, float] | None = None, skip_1x1: bool = False,
                 skip: Iterable[str] = (), skip_first: bool = False, skip_last: bool = False,
                 seed: int = 0, distributed: bool | None = None) -> None:
        if criterion not in CRITERIA:
            raise MaskError(f"criterion must be one of {CRITERIA}, got {criterion!r}")
        if example_input.ndim != 4:
            raise MaskError(f"example_input must be NCHW (4-D), got shape {tuple(example_input.shape)}")
        self.model = model
        self.criterion = criterion
        self.seed = int(seed)
        self.distributed = distributed
        self.input_shape = (1,) + tuple(int(d) for d in example_input.shape[1:])
        begin = self._as_step(begin_step, total_steps, "begin_step")
        end = self._as_step(end_step, total_steps, "end_step")
        try:
            self.schedule = PolynomialSchedule(begin, end, initial, float(target), power, frequency)
        except ValueError as exc:
            raise MaskError(f"sparsity schedule: {exc}") from None

        was_training = model.training
        model.eval()  # the shape-finding forward passes must not touch BatchNorm statistics
        try:
            example = example_input[:1].to(self._device())
            names = self._select(model, skip_1x1, list(skip), skip_first, skip_last, example)
            # A head shared by pyramid levels: a fixed mask fits one of its sizes only.
            sizes = conv_output_sizes(model, example, names, leave_shared_dense=True)
            names = [n for n in names if n in sizes]
        finally:
            model.train(was_training)
        overrides = dict(layer_sparsity or {})
        unknown = sorted(set(overrides) - set(names))
        if unknown:
            raise MaskError(f"layer_sparsity names convs that are not selected: {unknown} "
                            f"(selected: {names})")
        self.targets = {n: float(overrides.get(n, target)) for n in names}
        for name, value in self.targets.items():
            if not 0.0 <= value <= 1.0 or math.isnan(value):
                raise MaskError(f"{name}: target sparsity {value} is outside [0, 1]")
        self.sizes = sizes
        for name in names:
            conv = model.get_submodule(name)
            if not isinstance(conv, MaskedConv2d):
                set_mask(model, name, np.ones(self.sizes[name], np.float32), self.input_shape)
        self.layers = names
        self._state = ControllerState(_STATE_VERSION, self.seed, criterion, names, -1, -1, -1,
                                      math.inf, False)
        self._apply_dense()

    # -- public API -----------------------------------------------------------

    def before_step(self, step: int) -> None:
        """Put the masks of global ``step`` on the model (call before its forward)."""
        st = self._state
        s = self.schedule
        if step >= s.end_step:
            if not st.frozen:
                self._freeze()
        elif step < s.begin_step:
            if st.draw_step != -1:
                self._apply_dense()
        else:
            # The draw in force at `step`: the last update step at or before it.
            draw = s.begin_step + ((step - s.begin_step) // s.frequency) * s.frequency
            if draw != st.draw_step:
                self._apply_draw(draw)
        st.last_step = step

    def after_step(self, step: int, loss: float | torch.Tensor) -> None:
        """Score the masks ``step`` used with its training ``loss``; freeze at ``end_step``."""
        s, st = self.schedule, self._state
        if s.begin_step <= step < s.end_step and st.draw_step >= 0:
            value = self._global_loss(loss)
            if value < st.best_loss:
                st.best_loss, st.best_step = value, st.draw_step

    def step(self, step: int, loss: float | torch.Tensor) -> None:
        """One call after the optimizer step: ``after_step(step, loss)``, ``before_step(step + 1)``.
        Call :meth:`before_step` once before the first step (``start``)."""
        self.after_step(step, loss)
        self.before_step(step + 1)

    def start(self, step: int = 0) -> None:
        """Prepare the first step of a run (or of a resumed run): ``before_step(step)``."""
        self.before_step(step)

    @property
    def frozen(self) -> bool:
        return self._state.frozen

    @property
    def best_step(self) -> int:
        """The ramping step whose draw scored the lowest loss (-1 before any)."""
        return self._state.best_step

    def current_sparsity(self) -> dict[str, float]:
        """The masked fraction of each selected conv now."""
        return {n: self.model.get_submodule(n).sparsity for n in self.layers}

    def masks(self) -> dict[str, np.ndarray]:
        """The current masks, ``uint8 [H_out, W_out]`` per module path."""
        return {n: self.model.get_submodule(n).activation_mask.detach().cpu().numpy().astype(np.uint8)
                for n in self.layers}

    def state_dict(self) -> dict:
        """The controller's progress; save it with the model's and optimizer's state."""
        return asdict(self._state)

    def load_state_dict(self, state: Mapping) -> None:
        """Restore progress saved by :meth:`state_dict` and the masks it implies."""
        if state.get("version") != _STATE_VERSION:
            raise MaskError(f"controller state version {state.get('version')!r} is not {_STATE_VERSION}")
        if list(state["layers"]) != self.layers:
            raise MaskError(f"controller state is for layers {list(state['layers'])}, this model "
                            f"has {self.layers}")
        if state["seed"] != self.seed or state["criterion"] != self.criterion:
            raise MaskError("controller state has a different seed or criterion than this controller")
        self._state = ControllerState(**dict(state))
        frozen, draw = self._state.frozen, self._state.draw_step
        if frozen:
            self._state.frozen = False
            self._freeze()
        elif draw >= 0:
            self._apply_draw(draw)
        else:
            self._apply_dense()

    # -- internals ------------------------------------------------------------

    @staticmethod
    def _as_step(value: int | float, total: int | None, name: str) -> int:
        """An int is a step; a float is a fraction of ``total`` steps."""
        if isinstance(value, float):
            if not 0.0 <= value <= 1.0:
                raise MaskError(f"{name} as a fraction of the run must be in [0, 1], got {value}")
            if total is None:
                raise MaskError(f"{name}={value} is a fraction of the run: pass total_steps")
            return int(round(value * total))
        if int(value) < 0:
            raise MaskError(f"{name} must be >= 0, got {value}")
        return int(value)

    @staticmethod
    def _select(model: nn.Module, skip_1x1: bool, patterns: list[str], skip_first: bool,
                skip_last: bool, example_input: torch.Tensor) -> list[str]:
        candidates = eligible_convs(model, skip_1x1=skip_1x1)
        if skip_first or skip_last:
            # First/last in forward order, which module order need not follow.
            order: list[str] = []
            hooks = [model.get_submodule(n).register_forward_pre_hook(
                lambda m, i, n=n: order.append(n) if n not in order else None) for n in candidates]
            try:
                with torch.no_grad():
                    model(example_input)
            finally:
                for h in hooks:
                    h.remove()
            drop = set()
            if skip_first and order:
                drop.add(order[0])
            if skip_last and order:
                drop.add(order[-1])
            candidates = [n for n in candidates if n not in drop]
        names = [n for n in candidates if not any(fnmatch.fnmatchcase(n, p) for p in patterns)]
        if not names:
            raise MaskError("no conv left to mask after the skip rules "
                            f"(skip_1x1={skip_1x1}, skip={patterns}, first={skip_first}, last={skip_last})")
        return names

    def _device(self) -> torch.device:
        try:
            return next(self.model.parameters()).device
        except StopIteration:
            return torch.device("cpu")

    def _set(self, masks: Mapping[str, np.ndarray]) -> None:
        with torch.no_grad():
            for name, mask in masks.items():
                buffer = self.model.get_submodule(name).activation_mask
                buffer.copy_(torch.as_tensor(mask, dtype=buffer.dtype))

    def _apply_dense(self) -> None:
        self._set({n: np.ones(self.sizes[n], np.float32) for n in self.layers})
        self._state.draw_step = -1

    def _draw(self, step: int, sparsities: Mapping[str, float]) -> dict[str, np.ndarray]:
        seed = _step_generator_seed(self.seed, step)
        if self.criterion == "lnorm":
            generator = torch.Generator().manual_seed(seed)
            score_map = torch.rand(self.input_shape[2:], generator=generator)
            return lnorm_masks(score_map, {n: self.sizes[n] for n in self.layers}, sparsities)
        generator = np.random.default_rng(seed)
        return {n: random_mask(*self.sizes[n], sparsities[n], generator) for n in self.layers}

    def _apply_draw(self, step: int) -> None:
        """The masks of the draw at ramping ``step``, at that step's scheduled sparsity."""
        sparsities = {n: self.schedule.sparsity(step, t) for n, t in self.targets.items()}
        self._set(self._draw(step, sparsities))
        self._state.draw_step = step

    def _freeze(self) -> None:
        st = self._state
        best = st.best_step if st.best_step >= 0 else self.schedule.end_step
        self._set(self._draw(best, self.targets))
        st.draw_step = best
        st.frozen = True

    def _global_loss(self, loss: float | torch.Tensor) -> float:
        value = float(loss.detach().float().mean().item() if isinstance(loss, torch.Tensor) else loss)
        distributed = self.distributed
        if distributed is None:
            distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
        if distributed:
            t = torch.tensor([value], dtype=torch.float64)
            if torch.distributed.get_backend() == "nccl":
                t = t.cuda()
            torch.distributed.all_reduce(t)
            value = float(t.item()) / torch.distributed.get_world_size()
        return value
