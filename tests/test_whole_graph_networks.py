"""claim=graph on converted networks of structures the benchmark table does
not use -- grouped bottlenecks (ResNeXt), squeeze-excitation with SiLU,
hard-swish, leaky ReLU, tanh, average pooling and softmax (EfficientNet),
and an encoder-decoder with max pools, nearest upsampling and concatenation
(U-Net, batch 2), YOLOv4's Mish in a CSP stage with an ELU head (EXP,
LOG, comparisons and SELECT, fused), and a style-transfer net (reflection
padding, instance norm, 4x4 / 2 transposed convs), a MobileViT-like
transformer block at batch 2 (LayerNorm, attention by BATCH_MATMUL and
softmax, an L2 norm by SQRT), and a net of older idioms (replicate and
circular padding, a local response norm, an LP pool, torch.flip, a
non-dividing adaptive pool) -- each masked at s=0.3, converted with the converter and
run in ai-edge-litert: the delegate runs every node as ONE partition, every
listed chain sparse, within 1e-5 of the output scale of the builtin kernels
and of XNNPACK, at 1 and 2 threads, and at 4 as phones run it (a plan made
for 4 threads, its arena centred for them; run here on 2 cores)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import actsparse
from actsparse.converter.convert import convert_file
from actsparse.torch import attach_masks
from actsparse.torch.models import randomize_batchnorm
from conftest import OUTPUT_TOLERANCE, relative_error, run_interpreter
from models_for_tests import (ClassicCnnNet, ExcludingPadAvgPoolNet, FlowWarpNet, MishCspNet, MobileViTLikeNet,
                              ResNeXtNet, SqueezeExciteNet, StyleTransferNet, UNetLike)

NETWORKS = {
    "resnext": (ResNeXtNet, (1, 3, 64, 64)),
    "squeeze_excite": (SqueezeExciteNet, (1, 3, 64, 64)),
    "unet_batch2": (UNetLike, (2, 3, 32, 48)),
    "mish_csp": (MishCspNet, (1, 3, 64, 64)),
    "style_transfer": (StyleTransferNet, (1, 3, 48, 64)),
    "mobilevit": (MobileViTLikeNet, (2, 3, 48, 64)),
    "classic": (ClassicCnnNet, (2, 3, 48, 64)),
    "flow_warp": (FlowWarpNet, (2, 3, 24, 32)),
}


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    out = {}
    directory = tmp_path_factory.mktemp("networks")
    for name, (cls, shape) in NETWORKS.items():
        torch.manual_seed(0)
        model = randomize_batchnorm(cls()).eval()
        attach_masks(model, torch.zeros(shape), 0.3, seed=5)
        torch.save(model, directory / f"{name}.pt")
        report = convert_file(directory / f"{name}.pt", directory / f"{name}.tflite", verify_samples=1)
        assert report.verified and report.layers, name
        if name == "resnext":  # its grouped 3x3 convs are masked chains too
            assert {"blocks.0.3", "blocks.1.3"} <= {layer["name"] for layer in report.layers}
        out[name] = (directory / f"{name}.tflite", shape, len(report.layers))
    return out


@pytest.mark.parametrize("name", NETWORKS)
def test_network_runs_whole_in_the_delegate(converted, name):
    path, shape, chains = converted[name]
    x = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
    _, builtin = run_interpreter(path, x, xnnpack=False)
    _, xnnpack = run_interpreter(path, x)
    for threads in (1, 2, 4):
        report = actsparse.Interpreter(path, num_threads=threads).delegate_report
        assert report.partitions == 1, report.log
        assert report.claimed_nodes == report.total_nodes and not report.refusals, report.refusals
        assert report.claimed_chains == report.listed_chains == chains
        _, got = run_interpreter(path, x, num_threads=threads,
                                 delegates=[actsparse.load_delegate(num_threads=threads)])
        assert relative_error(got, builtin) <= OUTPUT_TOLERANCE
        assert relative_error(got, xnnpack) <= OUTPUT_TOLERANCE



def test_a_model_of_several_subgraphs_is_delegated_in_its_main_graph_only_and_runs_whole(tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    torch.manual_seed(0)
    model = ExcludingPadAvgPoolNet().eval()
    attach_masks(model, torch.zeros(1, 3, 16, 16), 0.3, seed=5)
    torch.save(model, tmp_path / "avgpool.pt")
    path = tmp_path / "avgpool.tflite"
    convert_file(tmp_path / "avgpool.pt", path, verify_samples=1)
    main_ops = [op["op_name"] for op in Interpreter(model_path=str(path))._get_ops_details()]
    assert "STABLEHLO_REDUCE_WINDOW" in main_ops, main_ops
    x = np.random.default_rng(3).standard_normal((1, 3, 16, 16)).astype(np.float32)
    _, builtin = run_interpreter(path, x, xnnpack=False)
    _, xnnpack = run_interpreter(path, x)
    for threads in (1, 2):
        report = actsparse.Interpreter(path, num_threads=threads).delegate_report
        # The runtime applies the delegate to the two reduction bodies after the
        # main graph; they stay with the runtime and the report stays the main
        # graph's. The reductions themselves (window sums, their ADD bodies read
        # through AcquireSubgraphContext) run in the one partition.
        assert report.total_nodes == len(main_ops), report.log
        assert "subgraph 1 left to the runtime" in report.log and "subgraph 2 left to the runtime" in report.log
        assert report.partitions == 1 and report.claimed_nodes == report.total_nodes, report.refusals
        _, got = run_interpreter(path, x, num_threads=threads,
                                 delegates=[actsparse.load_delegate(num_threads=threads)])
        assert relative_error(got, builtin) <= OUTPUT_TOLERANCE
        assert relative_error(got, xnnpack) <= OUTPUT_TOLERANCE


def test_mish_and_elu_as_litert_torch_writes_them_fuse(converted):
    """Each Mish (EXP, ADD, LOG, GREATER, SELECT, TANH, MUL) and the ELU (EXP, SUB,
    GREATER_EQUAL, SELECT) become one op; the Mish ones then join their convs."""
    path = converted["mish_csp"][0]
    log = actsparse.Interpreter(path, log_level="debug").delegate_report.log
    fused = [line for line in log.splitlines() if "fused " in line]
    assert sum("(Mish)" in line for line in fused) == 7, fused
    assert sum("(ELU)" in line for line in fused) == 1, fused
    # (a masked conv is named by its layer, as the chain is listed)
    assert sum("+Mish into " in line and "(activation)" in line for line in fused) == 7, fused
