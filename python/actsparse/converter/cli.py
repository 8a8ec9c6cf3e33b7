"""Command line of the converter, shared by ``converter/convert.py`` and ``actsparse convert``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from actsparse.format import CHAIN_OPS_TITLE, chain_ops_text

DESCRIPTION = """\
Convert a sparse-trained PyTorch model to a .tflite whose masked convolutions
are CONV_2D -> MUL(mask) -> ADD(bias, act) (exact on any runtime), annotated
with an 'actsparse.masks' metadata entry for the actsparse delegate.

MODEL is a whole module saved with torch.save(model), or a .pt2 saved with
torch.export.save. WARNING: loading a torch.save pickle executes code from the
file; convert only files you trust.
"""

EXAMPLES = """\
examples:
  python converter/convert.py resnet18_masked.pt resnet18.tflite
  actsparse convert model.pt model.tflite --input-shape 1,3,160,160 --nhwc
  actsparse convert model.pt model.tflite --import my_project.models --json
  actsparse convert model.pt dense.tflite --dense      # the plain network, for bench --reference
  actsparse convert model.pt model_160.tflite --input-shape 1,3,160,160 --resample-masks
                                                       # masks trained at 224 resampled to 160
"""


def _shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(v) for v in text.replace("x", ",").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not N,C,H,W") from None
    if len(shape) != 4 or min(shape) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not 4 positive sizes N,C,H,W")
    return shape


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="torch.save(model) file or .pt2 ExportedProgram")
    parser.add_argument("output", help="the .tflite to write")
    parser.add_argument("--input-shape", type=_shape, metavar="N,C,H,W",
                        help="NCHW input shape (default: the one recorded with the masks)")
    parser.add_argument("--nhwc", action="store_true",
                        help="channel-last (NHWC) model input and 4-D outputs")
    parser.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                        help="module name or .py file defining the model's classes (repeatable)")
    parser.add_argument("--no-verify", action="store_true",
                        help="skip comparing the .tflite with PyTorch on random inputs")
    parser.add_argument("--verify-samples", type=int, default=3, metavar="N",
                        help="random inputs to verify on (default 3)")
    parser.add_argument("--tolerance", type=float, default=1e-4,
                        help="max abs error relative to the output scale (default 1e-4)")
    parser.add_argument("--strict", action="store_true",
                        help="fail if a masked conv's chain is not found in the .tflite")
    parser.add_argument("--dense", action="store_true",
                        help="write the plain network (masks dropped, as if all ones; no mask metadata): the "
                        "dense baseline for `actsparse bench --reference`; a model without masks needs "
                        "--input-shape")
    parser.add_argument("--resample-masks", action="store_true",
                        help="with --input-shape other than the masks were trained for: resample each mask to "
                        "its conv's new output size (nearest; each layer's sparsity kept as closely as the "
                        "new pixel count allows; reported per layer). An approximation of training the "
                        "masks at that size")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    parser.add_argument("--verbose", action="store_true",
                        help="on failure, also show what torch printed (e.g. torch.export's traced graph)")


def output_problem(output: Path) -> str | None:
    """Why ``output`` cannot be written as the converted .tflite, or None."""
    if output.is_dir():
        return f"{output} is a folder; give the .tflite file to write, e.g. {output / 'model.tflite'}"
    for folder in output.parents:  # missing folders are made; a file in the way is not
        if folder.exists() and not folder.is_dir():
            return f"{folder} is a file, so {output} cannot be written"
    return None


def run(args: argparse.Namespace) -> int:
    from actsparse.converter import ConversionError
    from actsparse.converter.convert import convert_file

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    # Before the conversion (tens of seconds), not after it.
    problem = output_problem(Path(args.output))
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    try:
        report = convert_file(args.model, args.output, input_shape=args.input_shape, nhwc=args.nhwc,
                              imports=args.imports,
                              verify_samples=0 if args.no_verify else args.verify_samples,
                              tolerance=args.tolerance, strict=args.strict, progress=progress,
                              dense=args.dense, resample_masks=args.resample_masks)
    except ConversionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if exc.details and args.verbose:
            print(exc.details.rstrip(), file=sys.stderr)
        elif exc.details:
            print("(--verbose shows what torch printed)", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
        return 0
    print(f"wrote {report.output} ({report.layout} input {'x'.join(map(str, report.input_shape))}) "
          f"in {report.seconds:.1f} s")
    if report.resampled:
        print(f"resampled {len(report.resampled)} mask(s) to the new input size (nearest, sparsity kept per "
              "layer; an approximation of training them at this size):")
        print(f"  {'layer':<28} {'mask HxW':<20} sparsity")
        for row in report.resampled:
            sizes = "x".join(map(str, row["old_size"])) + " -> " + "x".join(map(str, row["new_size"]))
            print(f"  {row['name']:<28} {sizes:<20} {row['old_sparsity']:.3f} -> {row['new_sparsity']:.3f}")
    if args.dense:
        print("the plain network (--dense): masks dropped, no 'actsparse.masks' metadata")
    else:
        print(f"annotated {len(report.layers)} masked conv chain(s):")
        print(f"  {'layer':<28} {CHAIN_OPS_TITLE:<24} {'mask HxW':<10} sparsity")
    for layer in report.layers:
        ops = chain_ops_text(layer["pad_op"], layer["conv_op"], layer["mul_op"], layer["add_op"])
        print(f"  {layer['name']:<28} {ops:<24} {str(layer['height']) + 'x' + str(layer['width']):<10} "
              f"{layer['sparsity']:.3f}")
    for note in report.notes:
        print(f"  note: {note}")
    for name in report.unannotated:
        print(f"  warning: {name}: no CONV->MUL(mask) chain found; it runs unaccelerated")
    if report.max_abs_error is not None:
        if len(report.outputs) > 1:
            print(f"verified against PyTorch, {len(report.outputs)} outputs, each against its own scale "
                  f"(tolerance {report.tolerance:g}):")
            for output in report.outputs:
                print(f"  {output['name']:<12} {'x'.join(map(str, output['shape'])):<14} max abs error "
                      f"{output['max_abs_error']:.3g} ({output['relative_error']:.3g} of its scale)")
        else:
            print(f"verified against PyTorch: max abs error {report.max_abs_error:.3g} "
                  f"({report.relative_error:.3g} of output scale; tolerance {report.tolerance:g})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="convert.py", description=DESCRIPTION, epilog=EXAMPLES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))
