#!/usr/bin/env python3
"""Structured pruning, then activation sparsity: prune -> fine-tune ->
attach and train masks -> convert -> bench, for several pruning budgets,
against pruning alone at the same budgets.

Per budget (fraction of the unpruned network's MACs):
1. the dense network, trained once on the data, is pruned to the budget
   (actsparse.torch.prune: whole channels, torch-pruning's DepGraph) and
   fine-tuned;
2. "pruned": its accuracy as it is; "pruned + AS": masks trained on it with
   the reference schedule (SparsityController), then its accuracy;
3. latency: the same architectures at --latency-size (default 224x224)
   converted with the converter (masks at that size at the same sparsity,
   random, for "pruned + AS"), each run with the delegate and timed in one
   process against the *unpruned* dense network on XNNPACK (actsparse.bench).

Accuracy comes from the offline digits data at 32x32 (the only data that
ships here); latency from the real input size. Writes --out/pruning.md,
pruning.json and pruning.png (accuracy against speedup, one line per method).

examples:
  # a few minutes: two budgets, short training
  python examples/prune_sparsify.py --budgets 1.0,0.5 --epochs 4 --out runs/prune
  # the table in benchmarks/results
  python examples/prune_sparsify.py --out benchmarks/results
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "python"))

MODELS = ("resnet18", "mobilenet_v2")


def _floats(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
    if not values or not all(0 < v <= 1 for v in values):
        raise argparse.ArgumentTypeError(f"budgets are fractions of the MACs in (0, 1], got {text!r}")
    return values


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=MODELS, default="resnet18")
    p.add_argument("--budgets", type=_floats, default=[1.0, 0.75, 0.5, 0.35],
                   help="MAC budgets, fractions of the unpruned network (default 1.0,0.75,0.5,0.35)")
    p.add_argument("--sparsity", type=float, default=0.3, help="activation sparsity of 'pruned + AS' (default 0.3)")
    p.add_argument("--epochs", type=int, default=12, help="dense training; fine-tuning and mask training take "
                                                          "half as many each (default 12)")
    p.add_argument("--latency-size", type=int, default=224, help="input side for the latency (default 224)")
    p.add_argument("--threads", type=int, default=1, help="threads of the timed runs (default 1)")
    p.add_argument("--runs", type=int, default=30, help="interleaved timed runs per latency figure (default 30)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    if not 0 < args.sparsity < 1:
        p.error(f"--sparsity must be in (0, 1), got {args.sparsity}")
    if args.epochs < 2:
        p.error("--epochs must be at least 2")
    return args


def train(model, splits, epochs: int, *, seed: int, sparsity: float = 0.0, quiet: bool = True) -> None:
    """Adam with linear decay, label smoothing, random shifts; masks on the
    reference schedule when ``sparsity`` > 0 (frozen at the end)."""
    import torch
    import torch.nn.functional as F
    from torch.utils.data import DataLoader
    from tqdm import tqdm

    from actsparse.torch.training import SparsityController

    generator = torch.Generator().manual_seed(seed)
    loader = DataLoader(splits.train, 64, shuffle=True, drop_last=True, generator=generator)
    total = len(loader) * epochs
    controller = None
    if sparsity > 0:
        controller = SparsityController(model, torch.zeros(1, *splits.train[0][0].shape), sparsity,
                                        total_steps=total, criterion="lnorm", seed=seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0 - step / max(total, 1))
    step = 0
    for epoch in range(epochs):
        model.train()
        for x, y in tqdm(loader, desc=f"epoch {epoch + 1}/{epochs}", leave=False, disable=quiet):
            if controller is not None:
                controller.before_step(step)
            dy, dx = (int(v) for v in torch.randint(-2, 3, (2,), generator=generator))
            loss = F.cross_entropy(model(torch.roll(x, (dy, dx), (2, 3))), y, label_smoothing=0.1)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            optimizer.step()
            schedule.step()
            if controller is not None:
                controller.after_step(step, loss)
            step += 1
    if controller is not None and not controller.frozen:
        controller.before_step(controller.schedule.end_step)
    model.eval()


def accuracy(model, splits) -> float:
    import torch

    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in torch.utils.data.DataLoader(splits.test, 256):
            correct += int((model(x).argmax(1) == y).sum())
            total += len(y)
    return 100.0 * correct / max(total, 1)


def convert_at(model, size: int, sparsity: float, seed: int, path: Path) -> Path:
    """``model``'s architecture and weights converted at ``size`` x ``size``
    with random masks of ``sparsity`` (0: all ones, a dense file)."""
    import torch

    from actsparse.converter.convert import convert_file
    from actsparse.torch import attach_masks

    latency_model = copy.deepcopy(model).eval()
    attach_masks(latency_model, torch.zeros(1, 3, size, size), sparsity, seed=seed)
    pt = path.with_suffix(".pt")
    torch.save(latency_model, pt)
    convert_file(pt, path, verify_samples=1)
    return path


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4))
    for method, marker in (("pruned", "o"), ("pruned + AS", "s")):
        points = sorted((r["speedup"], r["top1"], r["budget"]) for r in rows if r["method"] == method)
        axes.plot([p[0] for p in points], [p[1] for p in points], marker=marker, label=method)
        for speed, top1, budget in points:
            axes.annotate(f"{budget:.0%}", (speed, top1), textcoords="offset points", xytext=(4, 4), fontsize=8)
    axes.set_xlabel("speedup vs the unpruned dense network on XNNPACK")
    axes.set_ylabel("top-1 (%)")
    axes.set_title("pruning alone vs pruning + activation sparsity (labels: MAC budget)", fontsize=9)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    import torch
    from tqdm import tqdm

    from actsparse.bench import run_bench
    from actsparse.torch import models
    from actsparse.torch.data import load_dataset
    from actsparse.torch.prune import prune_to_macs

    started = time.time()
    torch.manual_seed(args.seed)
    splits = load_dataset("digits", 32, args.seed)
    dense = getattr(models, args.model)(num_classes=splits.num_classes)
    train(dense, splits, args.epochs, seed=args.seed, quiet=args.quiet)
    example = torch.zeros(1, 3, 32, 32)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        reference = convert_at(dense, args.latency_size, 0.0, args.seed, Path(tmp) / "reference.tflite")
        for budget in tqdm(args.budgets, desc="budgets", unit="budget", disable=args.quiet):
            pruned = copy.deepcopy(dense)
            report = prune_to_macs(pruned, example, budget) if budget < 1 else None
            if report is not None:
                train(pruned, splits, args.epochs // 2, seed=args.seed, quiet=True)
            sparse = copy.deepcopy(pruned)
            train(sparse, splits, args.epochs // 2, seed=args.seed, sparsity=args.sparsity, quiet=True)
            for method, model, sparsity in (("pruned", pruned, 0.0), ("pruned + AS", sparse, args.sparsity)):
                tfl = convert_at(pruned, args.latency_size, sparsity, args.seed,
                                 Path(tmp) / f"{budget}-{sparsity}.tflite")
                bench = run_bench(tfl, num_threads=args.threads, num_runs=args.runs, reference=reference)
                rows.append({"budget": budget, "method": method, "sparsity": sparsity,
                             "mac_fraction": report.mac_fraction if report else 1.0,
                             "channel_ratio": report.channel_ratio if report else 0.0,
                             "top1": accuracy(model, splits), "speedup": bench.speedup_vs_reference,
                             "delegate_ms": bench.delegate_ms, "reference_ms": bench.reference_ms,
                             "claimed": f"{bench.claimed_nodes}/{bench.total_nodes}"})
    minutes = (time.time() - started) / 60
    args.out.mkdir(parents=True, exist_ok=True)
    result = {"model": args.model, "budgets": args.budgets, "sparsity": args.sparsity, "epochs": args.epochs,
              "latency_size": args.latency_size, "threads": args.threads, "minutes": round(minutes, 1), "rows": rows}
    (args.out / "pruning.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(rows, args.out / "pruning.png")
    (args.out / "pruning.md").write_text(markdown(rows, args, minutes))
    if not args.quiet:
        print((args.out / "pruning.md").read_text())
    return result


def markdown(rows: list[dict], args: argparse.Namespace, minutes: float) -> str:
    lines = ["# Structured pruning alone vs pruning + activation sparsity", "",
             f"Generated by `examples/prune_sparsify.py --model {args.model} --budgets "
             f"{','.join(str(b) for b in args.budgets)} --sparsity {args.sparsity} --epochs {args.epochs} "
             f"--threads {args.threads}` on {time.strftime('%Y-%m-%d')} in {minutes:.1f} min.", "",
             f"`{args.model}` trained on the offline digits data (32x32) for {args.epochs} epochs, pruned to each MAC "
             "budget (whole channels, torch-pruning DepGraph, group L2 magnitude, one ratio for every layer) and "
             f"fine-tuned for {args.epochs // 2} epochs; 'pruned + AS' then trains masks at sparsity "
             f"{args.sparsity} for {args.epochs // 2} more epochs (reference schedule). Top-1 on the held-out digits. "
             f"Latency: the same architectures at {args.latency_size}x{args.latency_size}, converted, run with the "
             f"delegate, {args.threads} thread(s), interleaved in one process against the *unpruned* dense network "
             f"on XNNPACK ({args.runs} runs, medians). The extra training of 'pruned + AS' is its price in this "
             "comparison; the digits are an easy task, so accuracy differences are small.", "",
             "| MAC budget | MACs kept | method | top-1 (%) | speedup vs unpruned dense | delegate ms | dense ms | nodes |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['budget']:.0%} | {r['mac_fraction']:.1%} | {r['method']} | {r['top1']:.2f} | "
                     f"{r['speedup']:.2f}x | {r['delegate_ms']:.1f} | {r['reference_ms']:.1f} | {r['claimed']} |")
    lines += ["", "![accuracy vs speedup](pruning.png)", ""]
    by = {(r["budget"], r["method"]): r for r in rows}
    verdicts = []
    for budget in args.budgets:
        sparse = by.get((budget, "pruned + AS"))
        # Pruning alone at a tighter budget that is at least as fast as this one with AS.
        rivals = [r for r in rows if r["method"] == "pruned" and r["speedup"] >= (sparse or {}).get("speedup", 1e9)]
        if sparse and rivals:
            best = max(rivals, key=lambda r: r["top1"])
            verdicts.append(f"- {budget:.0%} + AS ({sparse['speedup']:.2f}x, {sparse['top1']:.2f}%) against pruning "
                            f"alone at {best['budget']:.0%} ({best['speedup']:.2f}x, {best['top1']:.2f}%): "
                            f"{'better' if sparse['top1'] > best['top1'] else 'not better'} accuracy at equal or "
                            "lower speed of the rival.")
    lines += ["The paper's claim: pruning + activation sparsity gives a better latency-accuracy trade-off than "
              "pruning alone. Here, each 'pruned + AS' point against the most accurate pruned-only point that is at "
              "least as fast:", ""] + (verdicts or ["- no pruned-only point is as fast as any 'pruned + AS' point."])
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    from actsparse.torch.masks import MaskError

    try:
        main()
    except (MaskError, ValueError) as exc:
        raise SystemExit(f"error: {exc}") from None
