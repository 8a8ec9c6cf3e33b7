"""ARM speed from a pipeline model (llvm-mca), not a measurement.

The inner loops of our NEON micro-kernels, as the aarch64 build compiled
them (disassembled from the Bazel object file), and of the XNNPACK NEON
kernels that XNNPACK picks for each core (read from an XNNPACK checkout:
its assembly as written, its C kernels compiled with the aarch64 gcc; none
of it is kept) go through llvm-mca for Cortex-A72 (Raspberry Pi 4),
Cortex-A76 and Cortex-A55. Each loop's MACs (4 per 128-bit FMLA) over its
modelled cycles give MACs per cycle; the core's bound is a loop of
independent FMLAs. A network's time is then the sum over its convolutions
of MACs (times the active share of the output pixels, for our masked
convs) over the kernel's MACs per cycle: a model of the compute-bound
inner loops only (no memory, no edges, no other ops, no threads).

    .venv/bin/python benchmarks/arm_model.py --xnnpack XNNPACK_CHECKOUT [--mca llvm-mca-19]

(it builds the aarch64 library with Bazel first, so the object it reads
matches the source)

writes benchmarks/results/arm_model.md (and .json).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# LLVM 19 schedules cortex-a72 and cortex-a76 with its Cortex-A57 model; its
# Neoverse N1 model (a core derived from the A76) stands in for the A76's
# own pipeline, and the A55 has a model of its own.
CORES = ("cortex-a72", "cortex-a76", "neoverse-n1", "cortex-a55")
PAPER = {0.1: 1.11, 0.2: 1.25, 0.3: 1.42}

# XNNPACK's choice per core (src/configs/gemm-config.c, dwconv-config.c):
# (file, kind) of the igemm and the 3x3 depthwise kernel.
XNNPACK_KERNELS = {
    "cortex-a72": {"igemm": "src/f32-igemm/gen/f32-igemm-4x8-minmax-asm-aarch64-neonfma-cortex-a75-prfm.S",
                   "depthwise": "src/f32-dwconv/gen/f32-dwconv-9p8c-minmax-neonfma.c"},
    "cortex-a76": {"igemm": "src/f32-igemm/gen/f32-igemm-6x8-minmax-asm-aarch64-neonfma-cortex-a75-prfm.S",
                   "depthwise": "src/f32-dwconv/gen/f32-dwconv-9p8c-minmax-neonfma.c"},
    "cortex-a55": {"igemm": "src/f32-igemm/f32-igemm-6x8-minmax-asm-aarch64-neonfma-cortex-a55.S",
                   "depthwise": "src/f32-dwconv/f32-dwconv-9p4c-minmax-asm-aarch64-neonfma-cortex-a55.S"},
}
# XNNPACK's configs treat the Neoverse N1 as the A76.
XNNPACK_KERNELS["neoverse-n1"] = XNNPACK_KERNELS["cortex-a76"]
# Ours: (function in neon.o, what one loop iteration computes).
OURS = {"igemm": "IgemmBlock<4ul>", "depthwise": "DepthwiseBlock<4ul>"}

# Enough to compile an XNNPACK C kernel alone (its own headers pull in the
# whole library).
_C_PRELUDE = """#include <arm_neon.h>
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#define XNN_OOB_READS
#define XNN_UNLIKELY(x) (__builtin_expect(!!(x), 0))
#define XNN_UNPREDICTABLE(x) (x)
struct xnn_f32_minmax_params { struct { float min, max; } scalar; };
"""


def read_xnnpack(checkout: Path, rel: str) -> str:
    """A file of an XNNPACK work tree, or of a bare clone (its HEAD)."""
    if (checkout / rel).is_file():
        return (checkout / rel).read_text()
    return run(["git", f"--git-dir={checkout}", "show", f"HEAD:{rel}"])


def xnnpack_commit(checkout: Path) -> str:
    for git_dir in (checkout, checkout / ".git"):
        done = subprocess.run(["git", f"--git-dir={git_dir}", "rev-parse", "HEAD"], capture_output=True, text=True)
        if done.returncode == 0:
            return done.stdout.strip()
    return "unknown"


def run(command: list[str]) -> str:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed: {done.stderr[-2000:]}")
    return done.stdout


def hottest_loop(lines: list[tuple[str, str]], branch_target) -> list[str]:
    """The innermost backward-branch loop with the most FMLAs. `lines` are
    (label or address, instruction); `branch_target(instruction)` gives the
    label a branch goes to, or None. The loop's closing branch is left out."""
    position = {label: i for i, (label, _) in enumerate(lines) if label}
    loops = []
    for i, (_, instruction) in enumerate(lines):
        target = branch_target(instruction)
        if target is not None and target in position and position[target] <= i:
            loops.append((position[target], i))
    innermost = [(a, b) for a, b in loops
                 if not any(a <= c and d <= b and (c, d) != (a, b) for c, d in loops)]

    def fmlas(loop: tuple[int, int]) -> int:
        return sum(ins.lower().startswith("fmla") for _, ins in lines[loop[0]:loop[1]])

    best = max(innermost, key=fmlas, default=None)
    if best is None or fmlas(best) == 0:
        sys.exit("no loop with FMLAs found")
    return [ins.lower() for _, ins in lines[best[0]:best[1]] if ins]


def objdump_loop(objdump: str, obj: Path, function: str) -> list[str]:
    text = run([objdump, "-d", "--no-show-raw-insn", "-C", str(obj)])
    lines, inside = [], False
    for line in text.splitlines():
        header = re.match(r"^[0-9a-f]+ <(.*)>:$", line)
        if header:
            inside = function in header.group(1)
            continue
        match = re.match(r"^\s+([0-9a-f]+):\s+(.*?)\s*(//.*)?$", line)
        if inside and match:
            lines.append((match.group(1), re.sub(r"\s+<.*>$", "", match.group(2)).replace("\t", " ")))

    def target(instruction: str):
        m = re.match(r"^(b\.\w+|b|cbn?z|tbn?z)\s+(?:\S+,\s*)*([0-9a-f]+)$", instruction)
        return m.group(2) if m else None

    return hottest_loop(lines, target)


def assembly_loop(source: str) -> list[str]:
    lines = []
    for raw in source.splitlines():
        line = re.sub(r"(//|#).*$", "", raw).strip()
        label = re.match(r"^(\d+):\s*(.*)$", line)
        if label:
            lines.append((label.group(1), label.group(2)))
        elif line and not line.startswith("."):
            lines.append(("", line))

    def target(instruction: str):
        m = re.match(r"^(?i:b\.\w+|b|cbn?z|tbn?z)\s+(?:\S+,\s*)*(\d+)b$", instruction)
        return m.group(1) if m else None

    return hottest_loop(lines, target)


def c_kernel_loop(gcc: str, objdump: str, source: str, work: Path) -> list[str]:
    body = "\n".join(line for line in source.splitlines() if not line.startswith("#include"))
    c_file, obj = work / "kernel.c", work / "kernel.o"
    c_file.write_text(_C_PRELUDE + body)
    run([gcc, "-O2", "-c", str(c_file), "-o", str(obj)])
    return objdump_loop(objdump, obj, "")


def mca_cycles(mca: str, loop: list[str], cpu: str, work: Path) -> tuple[float, str]:
    """Modelled cycles per iteration of `loop` on `cpu`, and the model's resource prefix."""
    # Branches inside the body keep their uops; their targets (addresses or
    # local labels) become one label after it, which llvm-mca accepts.
    body = [re.sub(r"^((?:b\.\w+|b|cbn?z|tbn?z)\s+(?:\S+,\s*)*)(?:[0-9a-f]+|\d+[fb])$", r"\1.Lskip", ins)
            for ins in loop]
    path = work / "loop.s"
    path.write_text("\n".join(body) + "\n.Lskip:\n")
    out = run([mca, "-mtriple=aarch64", f"-mcpu={cpu}", "-iterations=400", str(path)])
    cycles = int(re.search(r"Total Cycles:\s+(\d+)", out).group(1))
    iterations = int(re.search(r"Iterations:\s+(\d+)", out).group(1))
    resources = re.findall(r"^\[\d+\]\s+-\s+(\S+)", out, re.M)
    return cycles / iterations, (resources[0] if resources else "?")


def fmla_macs(loop: list[str]) -> int:
    """MACs of one iteration: one per f32 lane of each FMLA's destination
    (4 for `v0.4s`, 2 for `v0.2s`)."""
    macs = 0
    for ins in loop:
        match = re.match(r"fmla\s+v\d+\.(\d+)s", ins)
        if match:
            macs += int(match.group(1))
    return macs


def network_layers(model_name: str, variant: str, sparsity: float, work: Path) -> list[dict]:
    """Every conv/FC of the network (224x224) with its MACs, kind and the
    share of its output pixels our delegate computes (1 where unmasked)."""
    import torch

    from actsparse.converter.convert import convert_file
    from actsparse.format import decode
    from actsparse.tflite.model_file import load_model, read_metadata
    from actsparse.tflite.graph import SubgraphView
    from actsparse.inspect import op_macs
    from actsparse.torch import attach_masks
    from actsparse.torch import models as zoo

    torch.manual_seed(0)
    model = zoo.randomize_batchnorm(getattr(zoo, model_name)()).eval()
    attach_masks(model, torch.zeros(1, 3, 224, 224), max(sparsity, 0.0), skip_1x1=variant == "skip1x1", seed=17)
    torch.save(model, work / "m.pt")
    path = work / f"{model_name}-{variant}-{sparsity}.tflite"
    convert_file(work / "m.pt", path, verify_samples=0)
    payload = read_metadata(path, "actsparse.masks")
    active = {layer.conv_op: layer.active_count / layer.mask.size for layer in decode(payload)} if payload else {}
    view = SubgraphView(load_model(path))
    layers = []
    for op in view.ops:
        if op.name in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            layers.append({"op": op.index, "kind": "depthwise" if op.name == "DEPTHWISE_CONV_2D" else "igemm",
                           "macs": op_macs(view, op), "active": active.get(op.index, 1.0)})
    return layers


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--xnnpack", type=Path, required=True,
                        help="an XNNPACK source checkout or bare clone (read only; nothing of it is kept)")
    parser.add_argument("--mca", default=shutil.which("llvm-mca-19") or "/usr/lib/llvm-19/bin/llvm-mca",
                        help="llvm-mca to use (default: LLVM 19's, which models A72, A76 and A55)")
    parser.add_argument("--object", type=Path, help="neon.pic.o of the aarch64 build (default: found under bazel-out)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args()
    objdump, gcc = "aarch64-linux-gnu-objdump", "aarch64-linux-gnu-gcc"
    obj = args.object
    if obj is None:
        # Built here, so the object matches the source (an object left by an
        # earlier experiment's build would be modelled instead).
        run(["bazel", "build", "--config=aarch64", "//delegate:libactsparse_delegate.so"])
        base = Path(run(["bazel", "info", "--config=aarch64", "bazel-bin"]).strip())
        obj = base / "delegate" / "_objs" / "kernels_neon" / "neon.pic.o"  # what the .so links
    if not obj.is_file():
        sys.exit(f"{obj} is missing")
    if not Path(args.mca).exists() and not shutil.which(args.mca):
        sys.exit(f"{args.mca} not found (apt-get install llvm-19)")
    mca_version = next((line.strip() for line in run([args.mca, "--version"]).splitlines() if "version" in line),
                       args.mca)

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        loops = {("ours", kind): objdump_loop(objdump, obj, function) for kind, function in OURS.items()}
        for rel in sorted({rel for files in XNNPACK_KERNELS.values() for rel in files.values()}):
            source = read_xnnpack(args.xnnpack, rel)
            loops[("xnnpack", rel)] = (c_kernel_loop(gcc, objdump, source, work) if rel.endswith(".c")
                                       else assembly_loop(source))
        bound_loop = [f"fmla v{i}.4s, v{24 + i % 4}.4s, v{28 + i % 4}.4s" for i in range(24)]
        kernels = {}
        for core in CORES:
            bound, model = mca_cycles(args.mca, bound_loop, core, work)
            kernels[core] = {"bound_macs_per_cycle": 4 * 24 / bound, "resources": model}
            for (who, name), loop in loops.items():
                if who == "xnnpack" and name not in XNNPACK_KERNELS[core].values():
                    continue
                kind = name if who == "ours" else next(k for k, v in XNNPACK_KERNELS[core].items() if v == name)
                cycles, _ = mca_cycles(args.mca, loop, core, work)
                macs = fmla_macs(loop)
                kernels[core][f"{who}:{kind}"] = {
                    "file": name if who == "xnnpack" else f"delegate/kernels/neon.cc {OURS[kind]}",
                    "instructions": len(loop), "macs": macs, "cycles": round(cycles, 2),
                    "macs_per_cycle": round(macs / cycles, 3)}

        rows = []
        for model_name, variant in (("resnet18", "skip1x1"), ("mobilenet_v2", "all")):
            for sparsity in (0.0, 0.1, 0.2, 0.3):
                layers = network_layers(model_name, variant, sparsity, work)
                row = {"model": model_name, "variant": variant, "sparsity": sparsity}
                macs = sum(l["macs"] for l in layers)
                row["ideal"] = macs / sum(l["macs"] * l["active"] for l in layers)
                for core in CORES:
                    k = kernels[core]
                    ours = sum(l["macs"] * l["active"] / k[f"ours:{l['kind']}"]["macs_per_cycle"] for l in layers)
                    xnn = sum(l["macs"] / k[f"xnnpack:{l['kind']}"]["macs_per_cycle"] for l in layers)
                    row[core] = xnn / ours
                rows.append(row)
    result = {"date": time.strftime("%Y-%m-%d"), "llvm_mca": mca_version, "xnnpack": xnnpack_commit(args.xnnpack), "kernels": kernels, "networks": rows,
              "loops": {f"{who}:{name}": loop for (who, name), loop in loops.items()}}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "arm_model.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "arm_model.md").write_text(markdown(result))
    print((args.out / "arm_model.md").read_text())
    return 0


def markdown(result: dict) -> str:
    lines = [
        "# ARM speed from a pipeline model (llvm-mca): a MODEL, not a measurement",
        "",
        f"Generated by `benchmarks/arm_model.py --xnnpack XNNPACK_CHECKOUT` on {result['date']} with "
        f"{result['llvm_mca']} against XNNPACK {result['xnnpack'][:12]} (`-mtriple=aarch64 -mcpu=CORE`). No ARM hardware "
        "was used: every figure below is llvm-mca's schedule of a kernel's inner loop, steady state, operands "
        "in L1. Memory, loop edges, the code around the inner loops, other ops and threads are not modelled.",
        "",
        "- **ours**: the inner loop of the aarch64 build's NEON kernels, disassembled from `neon.pic.o` "
        "(what `libactsparse_delegate.so` links): the innermost loop with the most FMLAs of the function, "
        "its closing branch left out.",
        "- **XNNPACK**: the kernel XNNPACK's `gemm-config.c` / `dwconv-config.c` pick for that core, "
        "its main loop as written (assembly) or as the aarch64 gcc compiles it (C).",
        "- MACs per cycle = 4 per 128-bit FMLA of the loop / modelled cycles per iteration; the core's "
        "bound is a loop of 24 independent FMLAs.",
        "- Cores: LLVM 19 schedules `cortex-a72` **and `cortex-a76`** with its Cortex-A57 model (the "
        "resources column says which model ran), so the A76 row repeats the A72's; its Neoverse N1 model "
        "(a server core derived from the A76) stands in for the A76's own pipeline. The A55 has a model of "
        "its own, but it scores XNNPACK's A55-tuned assembly (written for the A55's in-order dual issue of "
        "64-bit loads beside FMLAs) implausibly low (its 3x3 depthwise kernel at 3% of the bound): the A55 "
        "column compares against kernels the model does not understand, and we do not trust it.",
        "",
        "## Kernels",
        "",
        "| core (llvm-mca resources) | bound MACs/cycle | kernel | instructions | MACs | cycles | MACs/cycle | of bound |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for core, k in result["kernels"].items():
        for name, entry in k.items():
            if not isinstance(entry, dict):
                continue
            lines.append(f"| {core} ({k['resources']}) | {k['bound_macs_per_cycle']:.2f} | {name}: "
                         f"`{entry['file'].split('/')[-1]}` | {entry['instructions']} | {entry['macs']} | "
                         f"{entry['cycles']:.2f} | {entry['macs_per_cycle']:.2f} | "
                         f"{entry['macs_per_cycle'] / k['bound_macs_per_cycle']:.0%} |")
    lines += [
        "",
        "## Predicted speedup against dense XNNPACK (224x224, 1 thread)",
        "",
        "Each network's conv and FC MACs (from the converted model; masked convs counted at their active "
        "share, random frozen masks, seed 17) over the MACs per cycle above: ours sparse against XNNPACK "
        "dense. `ideal` is MACs alone. Sparsity 0.0 is the dense network through both (engine parity of "
        "the inner loops).",
        "",
        "| model | masked convs | sparsity | ideal | paper (Pi 4) | " + " | ".join(CORES) + " |",
        "|---|---|---|---|---|" + "---|" * len(CORES),
    ]
    for row in result["networks"]:
        paper = PAPER.get(row["sparsity"]) if row["model"] == "resnet18" else None
        lines.append(f"| {row['model']} | {'all but 1x1' if row['variant'] == 'skip1x1' else 'all'} | "
                     f"{row['sparsity']} | {row['ideal']:.2f}x | {f'{paper:.2f}x' if paper else '-'} | " +
                     " | ".join(f"{row[c]:.2f}x" for c in CORES) + " |")
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
