"""``actsparse inspect``: masked layers of an annotated .tflite and their cost."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

_EXAMPLE = """\
examples:
  actsparse inspect resnet18.tflite
  actsparse inspect resnet18.tflite --json
  actsparse inspect resnet18.tflite --png masks/     # one PNG per mask + overview.png
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("inspect", help="list the masked layers of an annotated .tflite",
                       description="Read the 'actsparse.masks' metadata of a .tflite, check it "
                       "against the graph, and report per masked layer its operators, shape, "
                       "sparsity and MACs saved, plus the whole model's ideal speedup "
                       "T / (T - saved) from MAC counts (conv and fully-connected ops).",
                       epilog=_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", type=Path, help="annotated .tflite")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--png", type=Path, metavar="DIR",
                   help="write one PNG per mask (white = kept) and overview.png to DIR")
    p.set_defaults(run=run)


def _safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "layer"


def run(args: argparse.Namespace) -> int:
    from actsparse.format import CHAIN_OPS_TITLE, chain_ops_text
    from actsparse.inspect import InspectError, inspect_model
    from actsparse.png import mask_grid, mask_image, write_gray_png

    if args.png and args.png.exists() and not args.png.is_dir():
        print(f"error: --png {args.png}: a file of that name exists; --png takes a folder for the PNGs",
              file=sys.stderr)
        return 1
    try:
        report = inspect_model(args.model)
    except InspectError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.png:
        args.png.mkdir(parents=True, exist_ok=True)
        for i, layer in enumerate(report.layers):
            write_gray_png(args.png / f"{i:03d}_{_safe_name(layer.layer.name)}.png", mask_image(layer.layer.mask))
        if report.layers:
            write_gray_png(args.png / "overview.png", mask_grid([r.layer.mask for r in report.layers]))
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
        return 0
    print(f"{report.path}: {len(report.layers)} masked layer(s)")
    print(f"  {'layer':<28} {CHAIN_OPS_TITLE:<24} {'output HxWxC':<14} {'kernel':<7} "
          f"{'sparsity':>8} {'MMACs':>9} {'saved':>9}")
    for r in report.layers:
        l = r.layer
        ops = chain_ops_text(l.pad_op, l.conv_op, l.mul_op, l.add_op)
        shape = f"{l.height}x{l.width}x{r.output_shape[-1]}"
        print(f"  {l.name[:28]:<28} {ops:<24} {shape:<14} {r.kernel[0]}x{r.kernel[1]:<5} "
              f"{l.sparsity:8.3f} {r.macs / 1e6:9.2f} {r.macs_saved / 1e6:9.2f}")
    print(f"total MACs {report.total_macs / 1e6:.1f} M, saved {report.macs_saved / 1e6:.1f} M; "
          f"ideal speedup {report.ideal_speedup:.3f}x")
    if args.png:
        print(f"masks written to {args.png}/")
    return 0
