"""PyTorch model file -> annotated .tflite: load, fold, convert, annotate, verify."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from actsparse.converter import ConversionError
from actsparse.fd_capture import capture_fd2_outcome

Progress = Callable[[str], None]


@dataclass
class ConversionReport:
    model: str
    output: str
    input_shape: list[int]           # as given to the converted model (NCHW, or NHWC with nhwc=True)
    layout: str                      # "NCHW" or "NHWC"
    layers: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unannotated: list[str] = field(default_factory=list)
    verified: bool = False
    max_abs_error: float | None = None
    relative_error: float | None = None  # the worst output's, relative to that output's scale
    outputs: list[dict] = field(default_factory=list)  # per output: name, shape, errors, scale
    tolerance: float | None = None
    seconds: float = 0.0
    # With resample_masks: per masked conv, name, old_size / new_size (H, W) and old / new sparsity.
    resampled: list[dict] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)


def _quiet_litert() -> None:
    os.environ.setdefault("LITERT_TORCH_SHOW_PROGRESS", "n")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for name in ("torchao", "litert_torch", "jax", "absl", "torch.utils._pytree"):
        logging.getLogger(name).setLevel(logging.ERROR)


@dataclass
class OutputCheck:
    """How one output of the .tflite compares with PyTorch's."""

    name: str                 # the .tflite signature's output name (output_0, ... or the dict key)
    shape: list[int]          # PyTorch's shape (NCHW for 4-D outputs)
    max_abs_error: float
    scale: float              # max abs value of PyTorch's output
    elements: int = 0         # compared, over all samples
    far_elements: int = 0     # of those, off by more than the tolerance times the scale


def flatten_outputs(result) -> tuple[list[str], list]:
    """A model's outputs (a tensor, or tuples / lists / dicts of them) in
    torch.export's order, each with the name litert-torch gives it in the
    .tflite signature: the key of a flat dict, else ``output_<i>``."""
    import torch.utils._pytree as pytree

    leaves, _ = pytree.tree_flatten(result)
    if isinstance(result, dict) and len(leaves) == len(result):
        return [str(k) for k in result], leaves
    return [f"output_{i}" for i in range(len(leaves))], leaves


def _channel_last(module):
    """``module`` taking an NHWC input and giving its 4-D outputs as NHWC
    (litert-torch's own wrapper takes a tensor or a flat tuple of outputs
    only): the outputs flattened as :func:`flatten_outputs` does, a flat
    dict kept a dict."""
    import torch

    class ChannelLast(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: torch.Tensor):
            result = self.inner(x.permute(0, 3, 1, 2))
            names, leaves = flatten_outputs(result)
            leaves = [t.permute(0, 2, 3, 1) if t.ndim == 4 else t for t in leaves]
            if isinstance(result, torch.Tensor):
                return leaves[0]
            if isinstance(result, dict) and names == [str(k) for k in result]:
                return dict(zip(names, leaves))
            return tuple(leaves)

    return ChannelLast(module)  # set_inference_mode, not eval(): an exported GraphModule refuses train()


def verify(module, tflite_bytes: bytes, input_shape: Sequence[int], *, nhwc: bool,
           samples: int = 3, seed: int = 0, tolerance: float = 1e-4) -> list[OutputCheck]:
    """Each output of the .tflite (ai_edge_litert, default kernels) against
    ``module``'s on ``samples`` standard-normal inputs: max abs error, the
    reference's max abs value (the scale the error is relative to) and how
    many elements are off by more than ``tolerance`` times it, matched by
    the .tflite signature's output names."""
    import torch
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=tflite_bytes)
    signatures = interpreter.get_signature_list()
    if len(signatures) != 1:
        raise ConversionError(f"verification: the .tflite has {len(signatures)} signatures, expected one")
    key, signature = next(iter(signatures.items()))
    if len(signature["inputs"]) != 1:
        raise ConversionError(f"verification: the .tflite takes {len(signature['inputs'])} inputs; "
                              "the converter handles models of one input")
    runner = interpreter.get_signature_runner(key)
    rng = np.random.default_rng(seed)
    checks: dict[str, OutputCheck] = {}
    differences: dict[str, list[np.ndarray]] = {}
    for _ in range(samples):
        x = rng.standard_normal(tuple(input_shape)).astype(np.float32)
        with torch.no_grad():
            names, expected = flatten_outputs(module(torch.from_numpy(x)))
        if sorted(names) != sorted(signature["outputs"]):
            raise ConversionError(f"verification: the .tflite's outputs {sorted(signature['outputs'])} do not "
                                  f"match PyTorch's {len(names)} output(s) {names}")
        got_all = runner(**{signature["inputs"][0]: x.transpose(0, 2, 3, 1).copy() if nhwc else x})
        for name, reference in zip(names, expected):
            reference = reference.numpy()
            got = got_all[name]
            if got.shape != reference.shape and got.ndim == 4 and nhwc:
                got = got.transpose(0, 3, 1, 2)
            if got.shape != reference.shape:
                raise ConversionError(f"verification: .tflite output {name} is {got.shape}, "
                                      f"PyTorch gives {reference.shape}")
            check = checks.setdefault(name, OutputCheck(name, list(reference.shape), 0.0, 0.0))
            difference = np.abs(got.astype(np.float64) - reference)
            differences.setdefault(name, []).append(difference.ravel())
            check.max_abs_error = max(check.max_abs_error, float(np.max(difference)))
            check.scale = max(check.scale, float(np.max(np.abs(reference))))
    for name, check in checks.items():
        every = np.concatenate(differences[name])
        check.elements = int(every.size)
        check.far_elements = int(np.count_nonzero(every > tolerance * max(check.scale, 1e-12)))
    return list(checks.values())


def _resample(module, input_shape: tuple[int, ...], model_path: Path) -> list:
    from actsparse.converter.fold import does_not_run
    from actsparse.torch.masks import MaskError
    from actsparse.torch.resample import resample_masks

    try:
        return resample_masks(module, input_shape)
    except MaskError as exc:
        raise ConversionError(f"{model_path}: cannot resample the masks for input shape {input_shape}: {exc}") \
            from None
    except Exception as exc:
        raise does_not_run(input_shape, exc) from None


def convert_file(model_path: str | Path, output_path: str | Path, *,
                 input_shape: Sequence[int] | None = None, nhwc: bool = False,
                 imports: Sequence[str] = (), verify_samples: int = 3,
                 tolerance: float = 1e-4, strict: bool = False,
                 progress: Progress | None = None, dense: bool = False,
                 resample_masks: bool = False) -> ConversionReport:
    """Convert a saved PyTorch model with activation masks to an annotated .tflite.

    Args:
        model_path: ``torch.save(model)`` pickle or ``.pt2`` ExportedProgram.
        output_path: the .tflite to write.
        input_shape: NCHW input shape; default: the one recorded with the masks.
        nhwc: give the .tflite a channel-last (NHWC) input (and 4-D outputs).
        imports: modules or .py files that define the model's classes.
        verify_samples: random inputs to compare on; 0 skips verification.
        tolerance: max abs error allowed, relative to the reference output's max abs value.
        strict: fail when a masked conv's chain cannot be found in the .tflite.
        progress: called with one line per stage.
        dense: write the plain network instead: every mask counted as all
            ones (kept pixels everywhere), no ``actsparse.masks`` metadata; the
            model may have no masks at all (then give ``input_shape``). The
            dense baseline that speedups are measured against.
        resample_masks: the masks were trained for another input size:
            resample each to its conv's output size at ``input_shape``
            (nearest, sparsity kept per layer; :mod:`actsparse.torch.resample`),
            an approximation of training them at that size. Listed per layer
            in the report's ``resampled``.

    Raises:
        ConversionError: with a message naming the file, layer or shape at fault.
    """
    started = time.perf_counter()
    say = progress or (lambda _line: None)
    model_path, output_path = Path(model_path), Path(output_path)
    if resample_masks and input_shape is None:
        raise ConversionError("--resample-masks needs the new size: pass --input-shape N,C,H,W")
    _quiet_litert()

    say(f"[1/5] loading {model_path}")
    import torch

    from actsparse.tflite import model_file
    from actsparse.converter.annotate import annotate
    from actsparse.converter.fold import (check_masks_fit, fold_masked_convs, mask_buffers,
                                          recorded_input_shapes, set_inference_mode)
    from actsparse.converter.load import import_user_modules, load_model
    from actsparse.format import METADATA_NAME, encode
    from actsparse.tflite.graph import SubgraphView

    import_user_modules(imports)
    module, program_shape = load_model(model_path)
    set_inference_mode(module)
    masks = mask_buffers(module)
    if dense:
        with torch.no_grad():
            for mask in masks.values():
                mask.fill_(1.0)
    elif not masks:
        raise ConversionError(f"{model_path}: the model has no activation masks (no MaskedConv2d): "
                              "nothing to annotate. Attach masks with actsparse.torch.attach_masks "
                              "or import_bin_mask before saving; for the plain network (a dense "
                              "baseline) convert with --dense")
    recorded = set(recorded_input_shapes(module).values())
    if input_shape is None:
        if len(recorded) > 1:
            raise ConversionError(f"{model_path}: the masks were made for different input shapes "
                                  f"{sorted(recorded)}; pass --input-shape N,C,H,W")
        input_shape = next(iter(recorded), None) or program_shape
        if input_shape is None:
            raise ConversionError(f"{model_path}: no input shape is recorded with the masks; "
                                  "pass --input-shape N,C,H,W")
    input_shape = tuple(int(d) for d in input_shape)
    if len(input_shape) != 4 or min(input_shape) <= 0:
        raise ConversionError(f"input shape must be 4 positive sizes N,C,H,W, got {input_shape}")
    if program_shape is not None and tuple(program_shape) != input_shape:
        raise ConversionError(f"{model_path}: the ExportedProgram was exported for input shape "
                              f"{tuple(program_shape)} and is fixed to it; cannot convert it for "
                              f"{input_shape}. Re-export with that shape, or convert a torch.save pickle")
    resampled = []
    if (resample_masks or dense) and masks and program_shape is None:
        # --dense: every mask is all ones, at another input size it needs only the new shape.
        rows = _resample(module, input_shape, model_path)
        if not dense:
            resampled = rows
    check_masks_fit(module, input_shape, misfit_hint=(
        ". To convert for this size anyway, add --resample-masks: each mask resampled to its conv's new "
        "output size (an approximation of training the masks at that size)" if program_shape is None else ""))

    sample = torch.zeros(input_shape)
    say(f"[2/5] folding BatchNorm into {len(masks)} masked conv(s)")
    folded_module, folded = fold_masked_convs(module, sample)

    say("[3/5] converting with litert-torch (a few seconds per million parameters)")
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        # litert-torch and its dependencies warn about their own internals.
        warnings.simplefilter("ignore")
        to_convert = folded_module
        convert_sample = sample
        if nhwc:
            to_convert = _channel_last(folded_module)
            convert_sample = sample.permute(0, 2, 3, 1).contiguous()
        set_inference_mode(to_convert)
        tmp = output_path.with_suffix(output_path.suffix + ".tmp")

        def convert_and_export() -> None:
            import litert_torch

            litert_torch.convert(to_convert, (convert_sample,)).export(str(tmp))

        # TensorFlow's native logging (absl, oneDNN notices), from the import
        # on, writes to fd 2 whatever TF_CPP_MIN_LOG_LEVEL says: shown only
        # when the conversion fails (with --verbose).
        _, failure, printed = capture_fd2_outcome(convert_and_export)
        if failure is not None:
            error = ConversionError(f"litert-torch could not convert the model: {type(failure).__name__}: "
                                    f"{str(failure).splitlines()[0] if str(failure) else ''}")
            error.details = printed
            raise error from None
    converted = tmp.read_bytes()
    tmp.unlink()

    if dense:
        # Every mask all ones: no chain to list, a plain .tflite.
        say("[4/5] no annotation (--dense)")
        layers, notes, unannotated = [], [], []
        annotated = converted
    else:
        say("[4/5] annotating masked chains")
        annotation = annotate(SubgraphView(model_file.load_model(converted), 0), folded)
        if annotation.unannotated and strict:
            raise ConversionError("no CONV->MUL(mask) chain found in the .tflite for: "
                                  + ", ".join(annotation.unannotated))
        layers, notes, unannotated = annotation.layers, annotation.notes, annotation.unannotated
        annotated = model_file.with_metadata(converted, METADATA_NAME, encode(layers))

    report = ConversionReport(
        model=str(model_path), output=str(output_path),
        input_shape=list(input_shape if not nhwc else (input_shape[0], input_shape[2], input_shape[3], input_shape[1])),
        layout="NHWC" if nhwc else "NCHW",
        layers=[{"name": l.name, "conv_op": l.conv_op, "mul_op": l.mul_op, "add_op": l.add_op,
                 "pad_op": l.pad_op, "mask_tensor": l.mask_tensor, "height": l.height,
                 "width": l.width, "sparsity": round(l.sparsity, 6)} for l in layers],
        notes=notes, unannotated=unannotated, tolerance=tolerance,
        resampled=[{"name": r.name, "old_size": list(r.old_size), "new_size": list(r.new_size),
                    "old_sparsity": round(r.old_sparsity, 6), "new_sparsity": round(r.new_sparsity, 6)}
                   for r in resampled])

    if verify_samples > 0:
        say(f"[5/5] verifying against PyTorch on {verify_samples} random input(s)")
        # The runtime announces its XNNPACK delegate on fd 2 ("INFO: Created ..."): not for the user.
        checks, failure, printed = capture_fd2_outcome(
            lambda: verify(module, annotated, input_shape, nhwc=nhwc, samples=verify_samples, tolerance=tolerance))
        if failure is not None:
            if isinstance(failure, ConversionError) and not failure.details:
                failure.details = printed
            raise failure
        # Each output against its own scale: a detector's box and class outputs differ by orders.
        relative = [c.max_abs_error / max(c.scale, 1e-12) for c in checks]
        worst = int(np.argmax(relative))
        report.outputs = [asdict(c) | {"relative_error": r} for c, r in zip(checks, relative)]
        report.max_abs_error = max(c.max_abs_error for c in checks)
        report.relative_error = relative[worst]
        report.verified = report.relative_error <= tolerance
        if not report.verified:
            bad = checks[worst]
            where = f"output {bad.name} {tuple(bad.shape)}: " if len(checks) > 1 else ""
            share = bad.far_elements / max(bad.elements, 1)
            # A few elements far off, the rest exact: an output that steps with its input
            # (nearest sampling, argmax, rounding), where the two engines' last-ulp
            # differences put a value on the other side of a step.
            hint = (" Only a few elements differ: if the model steps with its input (nearest sampling, argmax, "
                    "rounding), a value on a step's edge can land on either side in the two engines; check the "
                    "model, then pass --tolerance or --no-verify." if share < 0.01 else "")
            raise ConversionError(f"verification failed: {where}max abs error {bad.max_abs_error:.3g} is "
                                  f"{report.relative_error:.3g} of the output scale {bad.scale:.3g} "
                                  f"(tolerance {tolerance:g}) in {bad.far_elements} of {bad.elements} elements "
                                  f"({100 * share:.3g}%); {output_path} was not written.{hint}")
    else:
        say("[5/5] verification skipped (--no-verify)")
    output_path.parent.mkdir(parents=True, exist_ok=True)
    output_path.write_bytes(annotated)
    report.seconds = round(time.perf_counter() - started, 2)
    return report
