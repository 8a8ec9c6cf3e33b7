"""actsparse.torch: masks on convs, attach_masks, persistence, bin_mask.h."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn

from actsparse.torch import (MaskedConv2d, MaskError, attach_masks, eligible_convs,
                             import_bin_mask, masked_convs, read_bin_mask, write_bin_mask)
from actsparse.torch.models import (mobilenet_v2, mobilenet_v3_large, randomize_batchnorm, resnet18,
                                    resnet34)
from models_for_tests import DepthwiseNet, GroupedNet, ResidualNet, SharedHeadNet


def _zeros(mask: torch.Tensor) -> int:
    return int((mask == 0).sum())


@pytest.mark.parametrize("sparsity", [0.0, 0.1, 0.25, 1 / 3, 0.5, 0.99, 1.0])
def test_exact_zero_counts(sparsity):
    model = ResidualNet()
    masks = attach_masks(model, torch.zeros(1, 3, 30, 22), sparsity)
    assert set(masks) == {"stem", "conv1", "conv2", "down", "dilated", "head"}
    for name, module in masks.items():
        h, w = module.activation_mask.shape
        assert _zeros(module.activation_mask) == round(sparsity * h * w), name


def test_output_is_conv_times_mask():
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 4, 3, padding=1)
    model = nn.Sequential(conv)
    x = torch.randn(2, 3, 9, 7)
    reference = conv(x)
    attach_masks(model, x, 0.4, seed=3)
    masked = model[0]
    assert isinstance(masked, MaskedConv2d)
    assert masked.weight is conv.weight  # parameters are shared, not copied
    torch.testing.assert_close(model(x), reference * masked.activation_mask)
    assert masked.example_input_shape.tolist() == [2, 3, 9, 7]


def test_skip_rules_and_eligibility():
    model = DepthwiseNet()
    assert eligible_convs(model) == ["pw0", "dw1", "dw2", "pw3", "pw4"]
    assert eligible_convs(model, skip_1x1=True) == ["dw1", "dw2"]
    assert eligible_convs(GroupedNet()) == ["conv"]  # grouped (ResNeXt, RegNet) convs too

    class Custom(nn.Conv2d):  # a subclass may compute something else: never masked
        pass

    assert eligible_convs(nn.Sequential(Custom(3, 3, 3))) == []
    with pytest.raises(MaskError, match="Custom \\(a Conv2d subclass with its own forward\\)"):
        attach_masks(nn.Sequential(Custom(3, 3, 3)), torch.zeros(1, 3, 8, 8), 0.5, layers=["0"])


def test_convs_shared_across_sizes_stay_dense():
    """A conv run at two output sizes (a head shared by pyramid levels) cannot
    take a fixed mask: left dense with a warning, an error when asked for by
    name, and the rest of the model converts."""
    from actsparse.torch import SparsityController

    model = SharedHeadNet().eval()
    x = torch.zeros(1, 3, 16, 12)
    with pytest.warns(UserWarning, match="left dense, they run at several output sizes .*: head"):
        masked = attach_masks(model, x, 0.3, seed=1)
    assert sorted(masked) == ["down", "stem"]
    with pytest.raises(MaskError, match=r"head: 16x12, 8x6"):
        attach_masks(SharedHeadNet(), x, 0.3, layers=["head"])
    with pytest.warns(UserWarning, match="several output sizes .*: head"):
        controller = SparsityController(SharedHeadNet(), x, 0.3, total_steps=10)
    assert sorted(controller.layers) == ["down", "stem"]


def test_per_layer_sparsity_and_errors():
    model = ResidualNet()
    masks = attach_masks(model, torch.zeros(1, 3, 16, 16), {"stem": 0.5, "head": 0.25})
    assert set(masks) == {"stem", "head"}
    assert masks["stem"].sparsity == 0.5 and masks["head"].sparsity == 0.25
    with pytest.raises(MaskError, match="nope: no such module"):
        attach_masks(ResidualNet(), torch.zeros(1, 3, 16, 16), {"nope": 0.5})
    with pytest.raises(MaskError, match="outside"):
        attach_masks(ResidualNet(), torch.zeros(1, 3, 16, 16), 1.5)
    with pytest.raises(MaskError, match="NCHW"):
        attach_masks(ResidualNet(), torch.zeros(3, 16, 16), 0.5)
    with pytest.raises(MaskError, match="criterion"):
        attach_masks(ResidualNet(), torch.zeros(1, 3, 16, 16), 0.5, criterion="magic")


def test_deterministic_given_seed():
    def masks(seed, criterion):
        model = ResidualNet()
        attach_masks(model, torch.zeros(1, 3, 32, 32), 0.3, seed=seed, criterion=criterion)
        return {n: m.activation_mask.clone() for n, m in masked_convs(model).items()}

    for criterion in ("random", "lnorm"):
        a, b, c = masks(1, criterion), masks(1, criterion), masks(2, criterion)
        assert all(torch.equal(a[n], b[n]) for n in a)
        assert any(not torch.equal(a[n], c[n]) for n in a)


def test_lnorm_masks_are_spatially_consistent():
    """Layers of equal size and sparsity get the same mask; coarser layers
    drop pixels whose pooled scores are lowest."""
    model = DepthwiseNet()
    x = torch.zeros(1, 3, 32, 32)
    masks = attach_masks(model, x, 0.3, criterion="lnorm", seed=5)
    assert torch.equal(masks["pw0"].activation_mask, masks["dw1"].activation_mask)
    assert torch.equal(masks["dw2"].activation_mask, masks["pw3"].activation_mask)
    assert masks["dw2"].activation_mask.shape == (16, 16)
    score = torch.rand((32, 32), generator=torch.Generator().manual_seed(5))
    pooled = torch.nn.functional.avg_pool2d(score[None, None], 2)[0, 0]
    dropped = pooled[masks["dw2"].activation_mask == 0]
    kept = pooled[masks["dw2"].activation_mask == 1]
    assert dropped.max() <= kept.min()


def test_state_dict_round_trip():
    model = randomize_batchnorm(ResidualNet())
    attach_masks(model, torch.zeros(1, 3, 20, 20), 0.3, seed=4)
    state = model.state_dict()
    assert "conv1.activation_mask" in state and "conv1.weight" in state
    fresh = ResidualNet()
    attach_masks(fresh, torch.zeros(1, 3, 20, 20), 0.9, seed=99)  # different masks
    fresh.load_state_dict(state)
    for name, module in masked_convs(model).items():
        assert torch.equal(module.activation_mask, masked_convs(fresh)[name].activation_mask)
    x = torch.randn(1, 3, 20, 20)
    torch.testing.assert_close(fresh.eval()(x), model.eval()(x))


def test_torch_save_round_trip(tmp_path):
    model = DepthwiseNet().eval()
    attach_masks(model, torch.zeros(1, 3, 16, 16), 0.2)
    torch.save(model, tmp_path / "m.pt")
    loaded = torch.load(tmp_path / "m.pt", weights_only=False)
    x = torch.randn(1, 3, 16, 16)
    torch.testing.assert_close(loaded(x), model(x))
    assert set(masked_convs(loaded)) == set(masked_convs(model))


def test_wrong_input_size_is_a_clear_error():
    model = ResidualNet()
    attach_masks(model, torch.zeros(1, 3, 32, 32), 0.3)
    with pytest.raises(MaskError, match=r"conv output is \(8, 8\).*mask is \(16, 16\)"):
        model(torch.zeros(1, 3, 16, 16))


def test_reference_models_have_expected_masked_layers():
    r = resnet18()
    names = eligible_convs(r, skip_1x1=True)
    assert len(names) == 17 and names[0] == "conv1" and "layer1.0.conv1" in names
    assert len(eligible_convs(r)) == 20
    m = mobilenet_v2()
    assert len(eligible_convs(m)) == 52
    assert len(eligible_convs(m, skip_1x1=True)) == 18


def test_resnet34_and_mobilenet_v3_large_have_their_published_layouts():
    # Parameter counts of the published networks at 1000 classes (torchvision's too).
    r = resnet34()
    assert sum(p.numel() for p in r.parameters()) == 21_797_672
    assert len(eligible_convs(r, skip_1x1=True)) == 33        # stem + 16 blocks x 2
    assert len(eligible_convs(r)) == 36                        # + 3 downsampling 1x1
    m = mobilenet_v3_large()
    assert sum(p.numel() for p in m.parameters()) == 5_483_032
    names = eligible_convs(m, skip_1x1=True)
    assert len(names) == 16 and names[:2] == ["features.0.0", "features.1.block.0.0"]  # stem + 15 depthwise
    assert len(eligible_convs(m)) == 62  # + 14 expand, 15 project, 8 x 2 squeeze-excitation, the last 1x1
    kernels = {m.get_submodule(n).kernel_size for n in names}
    assert kernels == {(3, 3), (5, 5)}
    for model in (r, m):
        assert model.eval()(torch.zeros(1, 3, 64, 64)).shape == (1, 1000)


def test_bin_mask_round_trip_and_import(tmp_path):
    source = ResidualNet()
    x = torch.zeros(1, 3, 24, 24)
    attach_masks(source, x, 0.3, seed=8)
    arrays = {n: m.activation_mask.numpy() for n, m in masked_convs(source).items()}
    header = tmp_path / "bin_mask.h"
    write_bin_mask(arrays, header)
    text = header.read_text()
    assert "const uint8_t CONV1[6][6] = {{" in text
    parsed = read_bin_mask(header)
    assert set(parsed) == {"STEM", "CONV1", "CONV2", "DOWN", "DILATED", "HEAD"}
    target = ResidualNet()
    imported = import_bin_mask(target, header, x)
    assert set(imported) == set(arrays)
    for name, mask in arrays.items():
        np.testing.assert_array_equal(imported[name].activation_mask.numpy(), mask)


def test_bin_mask_errors_name_the_problem(tmp_path):
    x = torch.zeros(1, 3, 24, 24)
    bad_name = tmp_path / "a.h"
    bad_name.write_text("const uint8_t LAYER9_CONV[2][2] = {{1,0},{0,1}};")
    with pytest.raises(MaskError, match=r"LAYER9_CONV"):
        import_bin_mask(ResidualNet(), bad_name, x)
    bad_shape = tmp_path / "b.h"
    bad_shape.write_text("const uint8_t CONV1[5][6] = {" + ",".join(["{1,1,1,1,1,0}"] * 5) + "};")
    with pytest.raises(MaskError, match=r"CONV1 is 5x6 but conv1 outputs 6x6"):
        import_bin_mask(ResidualNet(), bad_shape, x)
    wrong_count = tmp_path / "c.h"
    wrong_count.write_text("const uint8_t CONV1[2][2] = {{1,0},{0}};")
    with pytest.raises(MaskError, match=r"declared \[2\]\[2\] but holds 3 values"):
        read_bin_mask(wrong_count)
    not_binary = tmp_path / "d.h"
    not_binary.write_text("const uint8_t CONV1[1][2] = {{1,2}};")
    with pytest.raises(MaskError, match="other than 0 and 1"):
        read_bin_mask(not_binary)
    empty = tmp_path / "e.h"
    empty.write_text("// nothing here\n")
    with pytest.raises(MaskError, match="no `const uint8_t"):
        read_bin_mask(empty)
    with pytest.raises(MaskError, match="cannot read"):
        read_bin_mask(tmp_path / "missing.h")


def test_a_model_without_convs_gets_a_warning_not_silence():
    import warnings

    import torch
    import torch.nn as nn

    from actsparse.torch import attach_masks

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert attach_masks(nn.Sequential(nn.Flatten(), nn.Linear(48, 4)), torch.zeros(1, 3, 4, 4), 0.3) == {}
        only_1x1 = nn.Sequential(nn.Conv2d(3, 4, 1))
        assert attach_masks(only_1x1, torch.zeros(1, 3, 4, 4), 0.3, skip_1x1=True) == {}
    messages = [str(w.message) for w in caught]
    assert any("Sequential has no conv that can be masked (nn.Conv2d)" in m for m in messages), messages
    assert any("other than 1x1" in m for m in messages), messages
