"""The actsparse command line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from actsparse import cli


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "actsparse.cli", *args], capture_output=True,
                          text=True, timeout=300)


def test_help_shows_examples():
    out = _run("--help")
    assert out.returncode == 0
    assert "examples:" in out.stdout and "actsparse demo" in out.stdout
    for command in ("doctor", "demo"):
        sub = _run(command, "--help")
        assert sub.returncode == 0 and "example" in sub.stdout, command


def test_no_command_prints_help_and_fails(capsys):
    assert cli.main([]) == 2
    assert "usage: actsparse" in capsys.readouterr().out


def test_unknown_command_is_rejected():
    out = _run("frobnicate")
    assert out.returncode == 2 and "invalid choice: 'frobnicate'" in out.stderr


def test_an_unknown_option_is_named_by_its_subcommand():
    """Its usage line then shows that subcommand's options, not the top level's."""
    out = _run("bench", "model.tflite", "--runs", "5")
    assert out.returncode == 2
    assert "usage: actsparse bench" in out.stderr and "--num_runs" in out.stderr
    assert "actsparse bench: error: unrecognized arguments: --runs 5" in out.stderr
    top = _run("--bogus")
    assert top.returncode == 2 and "actsparse: error: unrecognized arguments: --bogus" in top.stderr


def test_doctor_json(delegate_path):
    out = _run("doctor", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["delegate_loads"] is True
    assert report["delegate_library"] == str(delegate_path)
    assert report["packages"]["ai-edge-litert"] == "2.3.0"
    assert report["packages"]["torch"].startswith("2.13.0")


def test_doctor_reports_a_missing_library(tmp_path):
    env_out = subprocess.run(
        [sys.executable, "-m", "actsparse.cli", "doctor", "--json"], capture_output=True, text=True,
        env={**__import__("os").environ, "ACTSPARSE_DELEGATE": str(tmp_path / "gone.so")})
    assert env_out.returncode == 1
    report = json.loads(env_out.stdout)
    assert report["delegate_loads"] is False and "gone.so" in report["delegate_error"]


def test_demo_json(tmp_path):
    out = _run("demo", "--json", "--runs", "3", "--num-threads", "2", "--input-size", "64",
               "--out", str(tmp_path))
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["model"] == "resnet18" and report["masked_layers"] == 17
    assert report["claimed_chains"] == 17
    assert report["partitions"] == 1 and report["claimed_nodes"] == report["total_nodes"]
    assert report["outputs_match"] is True and report["relative_error"] <= 1e-4
    assert report["num_threads"] == 2 and report["input_shape"] == [1, 3, 64, 64]
    assert report["dense_ms"] > 0 and report["delegate_ms"] > 0
    assert 1.3 < report["ideal_speedup"] < 1.5
    assert (tmp_path / "model.tflite").stat().st_size > 40_000_000


def test_bench_json(tmp_path):
    import numpy as np

    from actsparse.tflite.builder import GraphBuilder

    rng = np.random.default_rng(0)
    g = GraphBuilder()
    x = g.input("x", (1, 16, 16, 8))
    y = g.masked_conv2d(x, rng.normal(size=(16, 3, 3, 8)), rng.normal(size=16),
                        (rng.random((16, 16)) > 0.3).astype(np.uint8), activation="relu")
    model = tmp_path / "m.tflite"
    model.write_bytes(g.finish([y], annotate=True))
    out = _run("bench", str(model), "--num_runs", "5", "--warmup_runs", "1", "--num_threads", "2", "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    for key in ("dense_ms", "delegate_ms", "speedup", "num_threads"):
        assert key in report
    assert report["num_threads"] == 2 and report["claimed_chains"] == 1
    assert report["dense_ms"] > 0 and report["delegate_ms"] > 0
    assert report["max_relative_error"] <= 1e-5
    assert 0.0 <= report["cpu_busy_fraction"] <= 1.0
    assert report["partitions"] == 1 and report["claimed_nodes"] == report["total_nodes"] == 3
    assert report["load"] is None  # fewer than 8 pairs
    missing = _run("bench", str(tmp_path / "nope.tflite"))
    assert missing.returncode == 1 and "nope.tflite: no such file" in missing.stderr
    profiled = _run("bench", str(model), "--num_runs", "5", "--warmup_runs", "2", "--profile", "--json")
    assert profiled.returncode == 0, profiled.stderr
    report = json.loads(profiled.stdout)
    assert report["claimed_chains"] == 1 and "actsparse profile" not in profiled.stderr
    [row] = report["profile"]
    assert row["name"] == "mconv" and row["output"] == "16x16x16" and abs(row["sparsity"] - 0.3) < 0.1
    assert row["calls"] == 7  # 2 warm-up + 5 timed; the first (output check) run is not counted
    assert 0 < row["best_ms"] <= row["mean_ms"] and row["share"] == 1.0
    assert report["profile"] is not None and json.loads(out.stdout)["profile"] is None
    text = _run("bench", str(model), "--num_runs", "8", "--warmup_runs", "1", "--profile")
    assert text.returncode == 0, text.stderr
    assert "per step, inside the model" in text.stdout and "    mconv" in text.stdout
    assert "the rest of an inference" in text.stdout
    assert "3/3 nodes delegated in 1 partition(s)" in text.stdout
    assert "quartile 4:" in text.stdout and "slowest over fastest quartile" in text.stdout
    chains = _run("bench", str(model), "--num_runs", "3", "--warmup_runs", "1", "--profile", "--claim", "chains")
    assert chains.returncode == 0, chains.stderr
    assert "per chain, inside the model" in chains.stdout and "3/3 nodes delegated" in chains.stdout


def _two_chain_model(rng, shape=(1, 16, 16, 8)) -> bytes:
    import numpy as np

    from actsparse.tflite.builder import GraphBuilder

    g = GraphBuilder()
    x = g.input("x", shape)
    y = g.masked_conv2d(x, rng.normal(size=(16, 3, 3, shape[3])), rng.normal(size=16),
                        (rng.random(shape[1:3]) > 0.3).astype(np.uint8), activation="relu", name="first")
    y = g.masked_conv2d(y, rng.normal(size=(1, 3, 3, 16)), rng.normal(size=16),
                        (rng.random(shape[1:3]) > 0.5).astype(np.uint8), depthwise=True, name="second",
                        pad=(1, 1, 1, 1), padding="valid")
    return g.finish([y], annotate=True)


def test_bench_per_layer_and_reference_json(tmp_path):
    import numpy as np

    from actsparse.tflite.builder import GraphBuilder

    rng = np.random.default_rng(1)
    model = tmp_path / "m.tflite"
    model.write_bytes(_two_chain_model(rng))
    g = GraphBuilder()  # the "same network without masks": plain convs, same input
    x = g.input("x", (1, 16, 16, 8))
    y = g.conv2d(x, rng.normal(size=(16, 3, 3, 8)), rng.normal(size=16), activation="relu")
    y = g.depthwise_conv2d(y, rng.normal(size=(1, 3, 3, 16)), rng.normal(size=16))
    reference = tmp_path / "dense.tflite"
    reference.write_bytes(g.finish([y]))
    out = _run("bench", str(model), "--num_runs", "4", "--warmup_runs", "1", "--per-layer",
               "--reference", str(reference), "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["reference_ms"] > 0 and report["speedup_vs_reference"] > 0
    assert [layer["name"] for layer in report["layers"]] == ["first", "second"]
    for layer in report["layers"]:
        assert layer["delegated"] is True, layer
        assert layer["xnnpack_conv_ms"] > 0 and layer["delegate_ms"] > 0 and layer["efficiency"] > 0
        assert layer["output_shape"] == [1, 16, 16, 16] and layer["kernel"] == [3, 3]
    assert report["layers"][1]["op"] == "DEPTHWISE_CONV_2D"
    assert abs(report["layers"][1]["sparsity"] - 0.5) < 0.15

    text = _run("bench", str(model), "--num_runs", "3", "--warmup_runs", "1", "--per-layer")
    assert text.returncode == 0, text.stderr
    assert "efficiency" in text.stdout and "second" in text.stdout

    other = tmp_path / "other.tflite"
    other.write_bytes(_two_chain_model(rng, (1, 12, 12, 8)))
    bad = _run("bench", str(model), "--num_runs", "2", "--reference", str(other))
    assert bad.returncode == 1 and "inputs differ" in bad.stderr
    gone = _run("bench", str(model), "--reference", str(tmp_path / "gone.tflite"))
    assert gone.returncode == 1 and "gone.tflite: no such file" in gone.stderr


def test_python_dash_m_actsparse_is_the_cli():
    done = subprocess.run([sys.executable, "-m", "actsparse", "--help"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "usage: actsparse" in done.stdout and "convert" in done.stdout


def test_zero_threads_is_refused_naming_the_option(tmp_path):
    import pytest

    import actsparse

    with pytest.raises(ValueError, match="num_threads must be an integer >= 1"):
        actsparse.Interpreter(tmp_path / "absent.tflite", num_threads=0)
    for command in (["bench", str(tmp_path / "m.tflite"), "--num_threads", "0"], ["demo", "--num-threads", "0"]):
        done = subprocess.run([sys.executable, "-m", "actsparse", *command], capture_output=True, text=True)
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert "--num" in done.stderr and "0 threads: give 1 or more" in done.stderr, done.stderr


def test_bad_outputs_and_corrupt_files_are_named_before_any_work(tmp_path):
    """One line naming the problem, exit 1, no traceback: an existing folder as
    the converter's output (checked before converting), a file where inspect's
    --png folder should go, a corrupt .tflite given to bench."""
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    corrupt = tmp_path / "corrupt.tflite"
    corrupt.write_bytes(b"not a model")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    cases = [
        ([sys.executable, str(repo / "converter" / "convert.py"), str(tmp_path / "absent.pt"), str(tmp_path)],
         f"{tmp_path} is a folder; give the .tflite file to write"),
        ([sys.executable, str(repo / "converter" / "convert.py"), str(tmp_path / "absent.pt"),
          str(blocker / "out.tflite")], f"{blocker} is a file"),
        ([sys.executable, "-m", "actsparse", "inspect", str(corrupt), "--png", str(blocker)],
         f"--png {blocker}: a file of that name exists"),
        ([sys.executable, "-m", "actsparse", "bench", str(corrupt)], f"error: {corrupt}: not a .tflite"),
    ]
    for command, message in cases:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert done.returncode == 1, (command, done.stderr)
        assert message in done.stderr and "Traceback" not in done.stderr, (command, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_converter_and_inspect_print_a_chains_ops_alike(tmp_path):
    """The same chain, the same `pad/conv/mul/add` text (absent ops as `-`) in
    the converter's table and in `actsparse inspect`'s."""
    from pathlib import Path

    import torch
    import torch.nn as nn

    from actsparse.torch import attach_masks

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1)).eval()
    attach_masks(model, torch.zeros(1, 3, 16, 16), 0.3)
    torch.save(model, tmp_path / "m.pt")
    convert = Path(__file__).resolve().parent.parent / "converter" / "convert.py"
    converted = subprocess.run([sys.executable, str(convert), str(tmp_path / "m.pt"), str(tmp_path / "m.tflite")],
                               capture_output=True, text=True, timeout=300)
    assert converted.returncode == 0, converted.stderr
    inspected = _run("inspect", str(tmp_path / "m.tflite"))
    assert inspected.returncode == 0, inspected.stderr

    def ops_by_layer(text: str) -> dict[str, str]:
        rows = [line.split() for line in text.splitlines() if line.startswith("  ") and "/" in line]
        return {row[0]: row[1] for row in rows if row[0] in ("0", "2")}

    from_converter, from_inspect = ops_by_layer(converted.stdout), ops_by_layer(inspected.stdout)
    assert set(from_converter) == {"0", "2"} and from_converter == from_inspect, (converted.stdout, inspected.stdout)
    assert all(text.count("/") == 3 and "-1" not in text for text in from_inspect.values())


def test_convert_dense_writes_the_plain_network(tmp_path):
    """convert.py --dense: the dense baseline of a masked model (masks dropped)
    and of a model without masks (with --input-shape): no mask metadata,
    outputs those of the network without masks; without --dense a model
    without masks is refused with a message that points to it."""
    from pathlib import Path

    import numpy as np
    import torch
    import torch.nn as nn

    from actsparse.format import METADATA_NAME
    from actsparse.tflite.model_file import read_metadata
    from actsparse.torch import attach_masks
    from conftest import relative_error, run_interpreter

    convert = Path(__file__).resolve().parent.parent / "converter" / "convert.py"
    torch.manual_seed(0)
    plain = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 3, padding=1)).eval()
    torch.save(plain, tmp_path / "plain.pt")
    masked = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 3, padding=1)).eval()
    masked.load_state_dict(plain.state_dict())
    attach_masks(masked, torch.zeros(1, 3, 12, 12), 0.5)
    torch.save(masked, tmp_path / "masked.pt")
    x = np.random.default_rng(1).standard_normal((1, 3, 12, 12)).astype(np.float32)
    expected = plain(torch.from_numpy(x)).detach().numpy()

    refused = subprocess.run([sys.executable, str(convert), str(tmp_path / "plain.pt"), str(tmp_path / "p.tflite")],
                             capture_output=True, text=True, timeout=300)
    assert refused.returncode == 1 and "convert with --dense" in refused.stderr, refused.stderr
    for source, extra in (("masked.pt", []), ("plain.pt", ["--input-shape", "1,3,12,12"])):
        out = tmp_path / f"dense-{source}.tflite"
        done = subprocess.run([sys.executable, str(convert), str(tmp_path / source), str(out), "--dense", *extra],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert "the plain network (--dense)" in done.stdout
        assert read_metadata(out, METADATA_NAME) is None
        _, got = run_interpreter(out, x)
        assert relative_error(got, expected) <= 1e-4, source


_DATA_DEPENDENT_MODEL = '''
import torch
import torch.nn as nn


class BranchOnValues(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x):
        y = self.conv(x)
        if y.sum() > 0:  # data-dependent control flow: torch.export cannot trace it
            return y * 2
        return y
'''


def test_a_model_torch_export_cannot_trace_gets_one_line_first(tmp_path):
    """torch printed the traced graph (dozens of lines) before the error; now
    the error comes first, in one line that says what to change, and the dump
    only with --verbose."""
    import importlib.util
    from pathlib import Path

    import torch

    from actsparse.torch import attach_masks

    source = tmp_path / "branch_model.py"
    source.write_text(_DATA_DEPENDENT_MODEL)
    spec = importlib.util.spec_from_file_location("branch_model", source)
    module = importlib.util.module_from_spec(spec)
    sys.modules["branch_model"] = module
    try:
        spec.loader.exec_module(module)
        model = module.BranchOnValues().eval()
        attach_masks(model, torch.zeros(1, 3, 8, 8), 0.3)
        torch.save(model, tmp_path / "m.pt")
    finally:
        del sys.modules["branch_model"]
    convert = Path(__file__).resolve().parent.parent / "converter" / "convert.py"
    command = [sys.executable, str(convert), str(tmp_path / "m.pt"), str(tmp_path / "m.tflite"), "--import", str(source)]
    quiet = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert quiet.returncode == 1
    errors = [line for line in quiet.stderr.splitlines() if not line.startswith("[")]
    assert errors[0].startswith("error: torch.export failed for input shape (1, 3, 8, 8)"), quiet.stderr
    assert "data-dependent control flow" in errors[0] and "def forward" not in quiet.stderr, quiet.stderr
    assert errors[1:] == ["(--verbose shows what torch printed)"], quiet.stderr
    verbose = subprocess.run(command + ["--verbose"], capture_output=True, text=True, timeout=300)
    assert verbose.returncode == 1 and "def forward" in verbose.stderr, verbose.stderr
