"""aarch64 end to end: the aarch64 delegate inside aarch64 ai-edge-litert.

The zoo's networks at 64x64 (ResNet-18 with its 1x1 convs left dense,
MobileNetV2, MobileNetV3-Large and the detector with every conv masked,
s=0.3), the test networks of other structure (ResNeXt, squeeze-excitation,
a U-Net at batch 2, YOLOv4's Mish, style transfer, a MobileViT-like
attention block) and every generated test graph are converted on the host
and run, in one process, by Debian's arm64 CPython under qemu-aarch64
with the aarch64 wheels of ai-edge-litert 2.3.0 (`.aarch64-runtime/`, made
by scripts/setup.sh) and the cross-built delegate (`scripts/build_delegate.sh
--aarch64`), found by `actsparse.Interpreter` as a user's would be. Each runs
without the delegate and with it at 1 and 2 threads. Asserted: the NEON
kernels ran; the delegate claimed on aarch64 exactly what it claims on the
host (the networks: every node, one partition, every chain sparse); the
outputs are within 1e-5 of the output scale of the aarch64 run without the
delegate and of the host's run with it.

`bash scripts/test_aarch64_runtime.sh` runs this file alone and prints the
summary line this module writes to `.aarch64-runtime/last-summary.txt`.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import OUTPUT_TOLERANCE, REPO, relative_error
from graph_cases import CASES, build
from model_runs import run_with_inputs

A64 = REPO / ".aarch64-runtime"
SYSROOT = A64 / "sysroot"
SITE = A64 / "site"
AARCH64_LIBRARY = REPO / "python" / "actsparse" / "_lib" / "aarch64" / "libactsparse_delegate.so"
RUNNER = Path(__file__).resolve().parent / "aarch64_runner.py"
SUMMARY = A64 / "last-summary.txt"

# name -> (factory in actsparse.torch.models or models_for_tests, input shape, masks skip 1x1 convs)
NETWORKS = {
    "resnet18": ("resnet18", (1, 3, 64, 64), True),
    "mobilenet_v2": ("mobilenet_v2", (1, 3, 64, 64), False),
    "mobilenet_v3_large": ("mobilenet_v3_large", (1, 3, 64, 64), False),
    "yolo_detector": ("yolo_detector", (1, 3, 64, 64), False),
    "resnext": ("ResNeXtNet", (1, 3, 64, 64), False),
    "squeeze_excite": ("SqueezeExciteNet", (1, 3, 64, 64), False),
    "unet_batch2": ("UNetLike", (2, 3, 32, 48), False),
    "mish_csp": ("MishCspNet", (1, 3, 64, 64), False),
    "style_transfer": ("StyleTransferNet", (1, 3, 48, 64), False),
    "mobilevit": ("MobileViTLikeNet", (2, 3, 48, 64), False),
    "classic": ("ClassicCnnNet", (2, 3, 48, 64), False),
    "flow_warp": ("FlowWarpNet", (2, 3, 24, 32), False),
}
GRAPHS = {f"graph_{i:02d}_{case.name}": case for i, case in enumerate(CASES)}


def _prerequisites() -> str | None:
    if not (SYSROOT / "usr" / "bin" / "python3.11").is_file() or not (SITE / "ai_edge_litert").is_dir():
        return f"{A64} is missing or incomplete; scripts/setup.sh makes it"
    if not AARCH64_LIBRARY.is_file():
        return f"{AARCH64_LIBRARY} is missing; run: bash scripts/build_delegate.sh --aarch64"
    return None


def _network(factory: str):
    import torch

    from actsparse.torch import models as zoo
    import models_for_tests

    torch.manual_seed(0)
    make = getattr(zoo, factory, None) or getattr(models_for_tests, factory)
    return zoo.randomize_batchnorm(make()).eval()


@pytest.fixture(scope="module")
def aarch64(tmp_path_factory):
    """Every model converted and run on the host, then all of them in one
    aarch64 process under qemu. Returns (host results, aarch64 JSON, folder)."""
    problem = _prerequisites()
    if problem:
        pytest.fail(problem)
    import torch

    from actsparse.converter.convert import convert_file
    from actsparse.torch import attach_masks

    folder = tmp_path_factory.mktemp("aarch64")
    host = {}
    for name, (factory, shape, skip_1x1) in NETWORKS.items():
        model = _network(factory)
        attach_masks(model, torch.zeros(shape), 0.3, skip_1x1=skip_1x1, seed=11)
        torch.save(model, folder / f"{name}.pt")
        convert_file(folder / f"{name}.pt", folder / f"{name}.tflite", verify_samples=1)
        (folder / f"{name}.pt").unlink()
        inputs = [np.random.default_rng(7).standard_normal(shape).astype(np.float32)]
        np.save(folder / f"{name}.in00.npy", inputs[0])
        host[name] = run_with_inputs(folder / f"{name}.tflite", inputs, num_threads=1)
    for name, case in GRAPHS.items():
        model, inputs = build(case)
        (folder / f"{name}.tflite").write_bytes(model)
        for j, x in enumerate(inputs):
            np.save(folder / f"{name}.in{j:02d}.npy", x)
        host[name] = run_with_inputs(folder / f"{name}.tflite", inputs, num_threads=1)

    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(PYTHONPATH=f"{SITE}:{REPO / 'python'}", PYTHONNOUSERSITE="1", PYTHONDONTWRITEBYTECODE="1")
    command = ["qemu-aarch64", "-L", str(SYSROOT), str(SYSROOT / "usr" / "bin" / "python3.11"), str(RUNNER),
               str(folder)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1500)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the aarch64 run did not finish in {exc.timeout} s; its stderr: {(exc.stderr or '')[-2000:]}")
    assert done.returncode == 0, f"the aarch64 run failed ({done.returncode}): {done.stderr[-4000:]}"
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return host, result, folder


def test_runs_in_aarch64_litert_with_the_aarch64_library(aarch64):
    _, result, _ = aarch64
    assert result["machine"] == "aarch64"
    assert Path(result["library"]) == AARCH64_LIBRARY.resolve()
    assert set(result["models"]) == set(NETWORKS) | set(GRAPHS)


def _check(name: str, aarch64) -> list[float]:
    host, result, folder = aarch64
    host_outputs, host_report = host[name]
    arrays = np.load(folder / f"{name}.out.npz")
    plain = [arrays[f"plain.{k}"] for k in range(len(host_outputs))]
    errors = []
    for threads in (1, 2):
        report = result["models"][name][f"t{threads}"]
        assert report["kernel"] == "neon", report
        claims = {key: getattr(host_report, key) for key in
                  ("claimed_nodes", "total_nodes", "partitions", "claimed_chains", "listed_chains")}
        assert {key: report[key] for key in claims} == claims, (threads, report["refusals"])
        got = [arrays[f"t{threads}.{k}"] for k in range(len(host_outputs))]
        for g, p, h in zip(got, plain, host_outputs):
            assert g.shape == p.shape == h.shape
            vs_plain, vs_host = relative_error(g, p), relative_error(g, h)
            assert vs_plain <= OUTPUT_TOLERANCE, (threads, "vs aarch64 without the delegate", vs_plain)
            assert vs_host <= OUTPUT_TOLERANCE, (threads, "vs the host with the delegate", vs_host)
            errors += [vs_plain, vs_host]
    return errors


@pytest.mark.parametrize("name", NETWORKS)
def test_network_runs_whole_and_matches(aarch64, name):
    _check(name, aarch64)
    report = aarch64[1]["models"][name]["t2"]
    assert report["partitions"] == 1 and report["claimed_nodes"] == report["total_nodes"], report["refusals"]
    assert report["claimed_chains"] == report["listed_chains"] > 0


@pytest.mark.parametrize("name", GRAPHS)
def test_graph_claims_and_matches_as_on_the_host(aarch64, name):
    _check(name, aarch64)


def test_write_summary(aarch64):
    """The line scripts/test_aarch64_runtime.sh prints last (after the checks above)."""
    vs_plain, vs_host = [], []
    for name in list(NETWORKS) + list(GRAPHS):
        errors = _check(name, aarch64)
        vs_plain += errors[0::2]
        vs_host += errors[1::2]
    SUMMARY.write_text(
        f"{len(NETWORKS)} networks and {len(GRAPHS)} test graphs in aarch64 ai-edge-litert 2.3.0 under "
        f"qemu-aarch64, delegate at 1 and 2 threads with its NEON kernels, claims as on the host; "
        f"largest error {max(vs_plain):.1e} of the output scale against the run without the delegate, "
        f"{max(vs_host):.1e} against the host's run with it (tolerance {OUTPUT_TOLERANCE:.0e})\n")
