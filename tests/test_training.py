"""The sparse-training controller (actsparse.torch.training) against METHOD.md:
schedule values, exact mask counts, dense steps, freezing from the best draw,
lnorm consistency, determinism, resume, skip rules and errors."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn as nn

from actsparse.torch import MaskError, masked_convs
from actsparse.torch.masks import lnorm_masks
from actsparse.torch.models import resnet18, small_cnn
from actsparse.torch.training import PolynomialSchedule, SparsityController

EXAMPLE = torch.zeros(1, 3, 32, 32)


def zeros(mask: np.ndarray) -> set[int]:
    return set(np.flatnonzero(np.asarray(mask).ravel() == 0).tolist())


def test_schedule_matches_polynomial_decay_formula():
    s = PolynomialSchedule(begin_step=10, end_step=50, initial=0.05, final=0.3, power=2.0, frequency=3)
    for t in range(0, 70):
        p = min(max((t - 10) / 40, 0.0), 1.0)
        assert s.sparsity(t) == pytest.approx(0.3 + (0.05 - 0.3) * (1 - p) ** 2)
    assert s.sparsity(10) == pytest.approx(0.05) and s.sparsity(50) == pytest.approx(0.3)
    assert [t for t in range(70) if s.is_update_step(t)] == list(range(10, 50, 3))
    assert PolynomialSchedule(5, 5, final=0.2).sparsity(5) == pytest.approx(0.2)
    cubic = PolynomialSchedule(0, 10, final=0.5, power=3.0)
    assert cubic.sparsity(4) == pytest.approx(0.5 - 0.5 * 0.6 ** 3)


@pytest.mark.parametrize("bad", [dict(begin_step=5, end_step=4), dict(begin_step=-1, end_step=4),
                                 dict(begin_step=0, end_step=4, frequency=0),
                                 dict(begin_step=0, end_step=4, final=1.5),
                                 dict(begin_step=0, end_step=4, power=0.0)])
def test_schedule_rejects_bad_values(bad):
    with pytest.raises(ValueError):
        PolynomialSchedule(**bad)


def run_schedule(controller: SparsityController, steps: int, losses=None):
    """Masks in force at every step, driving the controller with the one-call API."""
    history = []
    controller.start(0)
    for step in range(steps):
        history.append(controller.masks())
        controller.step(step, losses[step] if losses is not None else 1.0)
    return history


@pytest.mark.parametrize("criterion", ["lnorm", "random"])
def test_dense_ramp_frozen_phases_and_exact_counts(criterion):
    model = small_cnn()
    c = SparsityController(model, EXAMPLE, 0.3, total_steps=40, begin_step=0.25, end_step=0.75,
                           criterion=criterion, layer_sparsity={"features.4.conv": 0.5}, seed=3)
    assert (c.schedule.begin_step, c.schedule.end_step) == (10, 30)
    history = run_schedule(c, 40)
    for step, masks in enumerate(history):
        for name, mask in masks.items():
            h, w = mask.shape
            target = 0.5 if name == "features.4.conv" else 0.3
            if step < 10:
                expected = 0  # dense before the schedule
            elif step < 30:
                expected = round(c.schedule.sparsity(step, target) * h * w)
            else:
                expected = round(target * h * w)
            assert len(zeros(mask)) == expected, (step, name)
    # Ramping draws change from step to step; frozen masks never do.
    assert any(not np.array_equal(history[s]["features.0.conv"], history[s + 1]["features.0.conv"])
               for s in range(12, 29))
    for step in range(30, 40):
        for name in history[30]:
            np.testing.assert_array_equal(history[step][name], history[30][name])
    assert c.frozen


def test_dense_steps_compute_the_unmasked_model():
    torch.manual_seed(0)
    model = small_cnn().eval()
    reference = copy.deepcopy(model)
    c = SparsityController(model, EXAMPLE, 0.3, total_steps=100)
    x = torch.randn(2, 3, 32, 32)
    c.before_step(5)  # before begin (10): dense
    torch.testing.assert_close(model(x), reference(x), rtol=0, atol=0)
    c.before_step(20)
    assert not torch.equal(model(x), reference(x))


def test_frozen_masks_come_from_the_lowest_loss_draw():
    model = small_cnn()
    c = SparsityController(model, EXAMPLE, 0.4, begin_step=0, end_step=20, criterion="lnorm", seed=1)
    losses = [5.0] * 30
    losses[13] = 0.5   # the best step while ramping
    losses[25] = 0.1   # after the freeze: must not count
    history = run_schedule(c, 30, losses)
    assert c.best_step == 13
    frozen = history[25]
    for name in frozen:
        # lnorm drops the lowest-scoring pixels of one map: at the higher final
        # sparsity, the frozen zeros contain the zeros the best step used.
        assert zeros(history[13][name]) <= zeros(frozen[name]), name
    assert any(not zeros(history[7][n]) <= zeros(frozen[n]) for n in frozen)


def test_lnorm_masks_are_consistent_across_layers():
    score = torch.ones(32, 32)
    score[:16, :16] = 0.0  # the top-left quadrant scores lowest
    sizes = {"full": (32, 32), "half": (16, 16), "quarter": (8, 8)}
    masks = lnorm_masks(score, sizes, {n: 0.25 for n in sizes})
    for name, (h, w) in sizes.items():
        expected = np.ones((h, w), np.float32)
        expected[: h // 2, : w // 2] = 0
        np.testing.assert_array_equal(masks[name], expected, err_msg=name)
    # Through the controller: layers of equal resolution get identical masks.
    model = small_cnn()
    c = SparsityController(model, EXAMPLE, 0.3, begin_step=0, end_step=10, criterion="lnorm")
    c.before_step(6)
    m = c.masks()
    np.testing.assert_array_equal(m["features.2.conv"], m["features.1.conv"])  # both 16x16
    np.testing.assert_array_equal(m["features.4.conv"], m["features.3.conv"])  # both 8x8


def test_deterministic_and_seed_dependent():
    def masks_at(seed: int, step: int):
        c = SparsityController(small_cnn(), EXAMPLE, 0.3, begin_step=0, end_step=10, seed=seed)
        c.before_step(step)
        return c.masks()

    a, b, other = masks_at(7, 4), masks_at(7, 4), masks_at(8, 4)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    assert any(not np.array_equal(a[n], other[n]) for n in a)


def tiny_training(model: nn.Module, controller: SparsityController, optimizer, steps: range,
                  record: list):
    generator = torch.Generator().manual_seed(1234)
    batches = [(torch.randn(4, 3, 32, 32, generator=generator), torch.randint(0, 10, (4,), generator=generator))
               for _ in range(steps.stop)]
    for step in steps:
        controller.before_step(step)
        record.append(controller.masks())
        x, y = batches[step]
        loss = nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        controller.after_step(step, loss)


def test_resume_reproduces_the_uninterrupted_run():
    torch.manual_seed(0)
    start = small_cnn()

    def fresh():
        model = copy.deepcopy(start)
        controller = SparsityController(model, EXAMPLE, 0.3, begin_step=3, end_step=12, seed=5)
        return model, controller, torch.optim.SGD(model.parameters(), lr=0.05)

    model_a, ctrl_a, opt_a = fresh()
    record_a: list = []
    tiny_training(model_a, ctrl_a, opt_a, range(0, 16), record_a)

    model_b, ctrl_b, opt_b = fresh()
    record_b: list = []
    tiny_training(model_b, ctrl_b, opt_b, range(0, 8), record_b)
    saved = copy.deepcopy({"model": model_b.state_dict(), "opt": opt_b.state_dict(),
                           "ctrl": ctrl_b.state_dict()})
    model_c, ctrl_c, opt_c = fresh()
    model_c.load_state_dict(saved["model"])
    opt_c.load_state_dict(saved["opt"])
    ctrl_c.load_state_dict(saved["ctrl"])
    tiny_training(model_c, ctrl_c, opt_c, range(8, 16), record_b)

    assert len(record_a) == len(record_b) == 16
    for step, (ma, mb) in enumerate(zip(record_a, record_b)):
        for name in ma:
            np.testing.assert_array_equal(ma[name], mb[name], err_msg=f"step {step} {name}")
    assert ctrl_a.best_step == ctrl_c.best_step and ctrl_c.frozen
    for (name, pa), pc in zip(model_a.state_dict().items(), model_c.state_dict().values()):
        torch.testing.assert_close(pa, pc, rtol=0, atol=0, msg=name)


def test_skip_rules():
    model = resnet18(10)
    names = SparsityController(model, EXAMPLE, 0.2, begin_step=0, end_step=1).layers
    assert "conv1" in names and "layer2.0.downsample.0" in names
    no1x1 = SparsityController(resnet18(10), EXAMPLE, 0.2, begin_step=0, end_step=1, skip_1x1=True).layers
    assert "layer2.0.downsample.0" not in no1x1 and len(no1x1) == 17
    pattern = SparsityController(resnet18(10), EXAMPLE, 0.2, begin_step=0, end_step=1,
                                 skip=["layer4.*", "conv1"]).layers
    assert not any(n.startswith("layer4.") or n == "conv1" for n in pattern)
    ends = SparsityController(small_cnn(), EXAMPLE, 0.2, begin_step=0, end_step=1,
                              skip_first=True, skip_last=True).layers
    assert ends == ["features.1.conv", "features.2.conv", "features.3.conv"]
    # Skipped convs stay plain nn.Conv2d.
    assert set(masked_convs(model)) == set(names)


def test_errors_name_the_problem():
    with pytest.raises(MaskError, match="criterion"):
        SparsityController(small_cnn(), EXAMPLE, 0.2, begin_step=0, end_step=1, criterion="magnitude")
    with pytest.raises(MaskError, match="total_steps"):
        SparsityController(small_cnn(), EXAMPLE, 0.2, begin_step=0.1, end_step=0.5)
    with pytest.raises(MaskError, match="not selected.*features.9.conv"):
        SparsityController(small_cnn(), EXAMPLE, 0.2, begin_step=0, end_step=1,
                           layer_sparsity={"features.9.conv": 0.1})
    with pytest.raises(MaskError, match="no conv left"):
        SparsityController(small_cnn(), EXAMPLE, 0.2, begin_step=0, end_step=1, skip=["*"])
    with pytest.raises(MaskError, match="outside"):
        SparsityController(small_cnn(), EXAMPLE, 1.5, begin_step=0, end_step=1)
    with pytest.raises(MaskError, match="NCHW"):
        SparsityController(small_cnn(), torch.zeros(3, 32, 32), 0.2, begin_step=0, end_step=1)
    c = SparsityController(small_cnn(), EXAMPLE, 0.2, begin_step=0, end_step=1)
    other = SparsityController(small_cnn(), EXAMPLE, 0.2, begin_step=0, end_step=1, skip_first=True)
    with pytest.raises(MaskError, match="layers"):
        c.load_state_dict(other.state_dict())
    with pytest.raises(MaskError, match="version"):
        c.load_state_dict({**c.state_dict(), "version": 99})


def test_shape_forward_does_not_touch_batchnorm_statistics():
    model = small_cnn().train()
    before = copy.deepcopy(model.state_dict())
    SparsityController(model, torch.randn(1, 3, 32, 32), 0.2, begin_step=0, end_step=1, skip_last=True)
    after = model.state_dict()
    for name, value in before.items():
        torch.testing.assert_close(after[name], value, rtol=0, atol=0, msg=name)
    assert model.training
