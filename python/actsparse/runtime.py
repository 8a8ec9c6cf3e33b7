"""``actsparse.Interpreter``: a LiteRT/TFLite interpreter with the delegate
applied, and a report of what the delegate claimed.

The claim report comes from the delegate itself: while the interpreter is
built (when the runtime calls the delegate's Prepare), the delegate's log on
file descriptor 2 is captured and its summary line parsed. Nothing is
estimated on the Python side.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from typing import Any

from actsparse.delegate import load_delegate, runtime_module
from actsparse.fd_capture import capture_fd2, capture_fd2_outcome

_CLAIMED = re.compile(r"claimed (\d+) of (\d+) nodes: (\d+) of (\d+) listed chains(?:; conv micro-kernel (\w+))?")
_REFUSED = re.compile(r"not claiming (.+?): (.*)$")
# "claiming no masked chain (the graph runs dense): REASON" or "claiming nothing: REASON".
_METADATA_REJECTED = re.compile(r"ignoring corrupt '([^']+)' metadata, claiming [^:]*: (.*)$")
_LEVELS = {"error": 0, "warning": 1, "info": 2, "debug": 3, "0": 0, "1": 1, "2": 2, "3": 3}


@dataclass
class DelegateReport:
    """What the delegate did when the interpreter was built.

    ``claimed_nodes`` of ``total_nodes`` run in the delegate (with claim=graph,
    every node it can compute; ``partitions`` is how many pieces they form,
    1 when the delegate runs the network whole); ``claimed_chains`` of
    ``listed_chains`` masked chains run sparse; ``refusals`` says why the rest
    did not; ``metadata_error`` why the model's ``actsparse.masks`` metadata
    was rejected (then no chain runs sparse), empty if it was not."""

    claimed_nodes: int = 0
    total_nodes: int = 0
    claimed_chains: int = 0
    listed_chains: int = 0
    refusals: list[str] = field(default_factory=list)   # "layer: reason" or "node N (OP): reason"
    partitions: int = 0                                 # delegate kernels made (claim=graph)
    kernel: str = ""                                    # conv micro-kernel: "avx2", "scalar", ...
    metadata_error: str = ""                            # why the model's mask metadata was rejected, if it was
    log: str = ""                                       # the delegate's log, verbatim


_PROFILE_ROW = re.compile(r"^  (\S+)\s+(\d+x\d+x\d+)\s+([\d.]+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)%$")


def parse_profile_report(text: str) -> list[dict]:
    """The rows of the table the delegate prints with its ``profile`` option
    (``delegate/tflite/chain_profile.cc`` writes it), in model order: ``name``,
    ``output`` ("HxWxC"), ``sparsity``, ``calls``, ``mean_ms``, ``best_ms``
    (wall time per call inside the model), ``share`` (of all chains' time, 0..1).
    Lines that are not table rows are ignored."""
    rows = []
    for line in text.splitlines():
        match = _PROFILE_ROW.match(line)
        if match:
            name, output, sparsity, calls, mean_ms, best_ms, share = match.groups()
            rows.append({"name": name, "output": output, "sparsity": float(sparsity), "calls": int(calls),
                         "mean_ms": float(mean_ms), "best_ms": float(best_ms), "share": float(share) / 100})
    return rows


def _parse(log: str) -> DelegateReport:
    report = DelegateReport(log=log)
    for line in log.splitlines():
        if "actsparse [info] graph:" in line:  # a Prepare starts; the last one wins
            report.refusals = []
            report.partitions = 0
            report.metadata_error = ""
        rejected = _METADATA_REJECTED.search(line)
        if rejected:
            report.metadata_error = f"corrupt '{rejected.group(1)}' metadata: {rejected.group(2)}"
        if "actsparse [info] partition:" in line:
            report.partitions += 1
        claimed = _CLAIMED.search(line)
        if claimed:
            (report.claimed_nodes, report.total_nodes, report.claimed_chains,
             report.listed_chains) = (int(v) for v in claimed.groups()[:4])
            report.kernel = claimed.group(5) or ""
        refused = _REFUSED.search(line)
        if refused and "actsparse [" in line:
            report.refusals.append(f"{refused.group(1)}: {refused.group(2)}")
    return report


def convert_again_hint(old: list[int], new: list[int]) -> str:
    """How to get a .tflite for input shape ``new`` from the PyTorch model:
    the converter command with ``--input-shape`` in NCHW (the converter's
    convention) and ``--nhwc`` when the .tflite's input is channel-last.

    The layout is read from which dimensions change: H and W do, the
    channels do not (NCHW: 2 and 3; NHWC: 1 and 2). When that cannot tell
    (only dimension 2 changes), the smaller of dimensions 1 and 3 is taken
    for the channels.
    """
    if len(old) != 4 or len(new) != 4 or min(new) <= 0:
        return "convert the model again for that input shape (converter/convert.py --input-shape N,C,H,W)"
    changed = {i for i in range(1, 4) if old[i] != new[i]}
    if changed <= {2, 3} and changed != {2}:
        nhwc = False
    elif changed <= {1, 2} and changed != {2}:
        nhwc = True
    else:
        nhwc = old[3] < old[1]
    n, c, h, w = (new[0], new[3], new[1], new[2]) if nhwc else tuple(new)
    return (f"convert the model again for it: python converter/convert.py MODEL.pt OUT.tflite --input-shape "
            f"{n},{c},{h},{w}{' --nhwc' if nhwc else ''} --resample-masks (MODEL.pt: the masked PyTorch "
            "model; --resample-masks fits each mask to the new size, an approximation of training the "
            "masks at that size)")


class Interpreter:
    """The runtime's ``Interpreter`` with the actsparse delegate applied.

    Example::

        interpreter = actsparse.Interpreter("model.tflite", num_threads=2)
        print(interpreter.delegate_report.claimed_chains, "chains run sparse")
        interpreter.allocate_tensors()      # everything else is the runtime's API

    Args:
        model_path: the .tflite file (or pass ``model_content=bytes``).
        num_threads: interpreter threads; the delegate uses as many unless
            ``delegate_options`` sets ``num_threads``.
        use_delegate: False gives the plain runtime (for comparisons).
        xnnpack: False disables the runtime's default XNNPACK delegate, so
            unclaimed nodes use the builtin reference kernels.
        runtime: ``"ai_edge_litert"`` (default when installed), ``"tflite_runtime"``
            or ``"tensorflow"`` (``tf.lite.Interpreter``).
        **delegate_options: passed to :func:`actsparse.load_delegate`
            (``num_threads``, ``log_level``, ``verbose``).

    Attributes:
        delegate_report: a :class:`DelegateReport` (None without the delegate).
    """

    def __init__(self, model_path: str | os.PathLike | None = None, *,
                 model_content: bytes | None = None, num_threads: int | None = None,
                 use_delegate: bool = True, xnnpack: bool = True, runtime: str | None = None,
                 **delegate_options: Any) -> None:
        if num_threads is not None and (isinstance(num_threads, bool) or not isinstance(num_threads, int)
                                        or (num_threads < 1 and num_threads != -1)):
            # The runtimes' own message does not name the option.
            raise ValueError(f"num_threads must be an integer >= 1 (or -1 for the runtime's default), "
                             f"got {num_threads!r}")
        runtime, module = runtime_module(runtime)
        kwargs: dict[str, Any] = {}
        if model_path is not None:
            kwargs["model_path"] = str(model_path)
        if model_content is not None:
            kwargs["model_content"] = bytes(model_content)
        if num_threads is not None:
            kwargs["num_threads"] = num_threads
        if not xnnpack:
            kwargs["experimental_op_resolver_type"] = module.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        self.delegate_report: DelegateReport | None = None
        if not use_delegate:
            self._interpreter = module.Interpreter(**kwargs)
            return
        # The report needs the delegate's info-level summary; what the caller
        # asked to see is re-emitted as it would have been printed.
        wanted = _LEVELS.get(str(delegate_options.get("log_level", "warning")).lower(), 1)
        if str(delegate_options.get("verbose", "false")).lower() in ("1", "true", "yes", "on"):
            wanted = max(wanted, 2)
        options = dict(delegate_options)
        options.pop("verbose", None)
        options["log_level"] = "debug" if wanted >= 3 else "info"
        delegate = load_delegate(runtime=runtime, **options)
        kwargs["experimental_delegates"] = [delegate]
        self._wanted = wanted
        self._interpreter, log = capture_fd2(lambda: module.Interpreter(**kwargs))
        self._delegate = delegate  # the interpreter must not outlive it
        self.delegate_report = _parse(log)
        self._show(log)

    def _show(self, log: str) -> None:
        """Re-emits the delegate's log at the level the caller asked for."""
        shown = []
        for line in log.splitlines(keepends=True):
            level = re.match(r"actsparse \[(\w+)\]", line)
            if level is None or _LEVELS.get(level.group(1), 0) <= self._wanted:
                shown.append(line)
        if shown:
            sys.stderr.write("".join(shown))
            sys.stderr.flush()

    def allocate_tensors(self) -> None:
        """The runtime's ``allocate_tensors``. After a resize the delegate
        plans its partitions again and logs at info level: that log is caught
        as at construction (shown only at the asked level) and the report
        follows the new plan."""
        if self.delegate_report is None:
            self._interpreter.allocate_tensors()
            return
        # A failure is re-raised after the log is shown.
        _, failure, log = capture_fd2_outcome(self._interpreter.allocate_tensors)
        if "actsparse [info] graph:" in log:
            self.delegate_report = _parse(log)
        self._show(log)
        if failure is not None:
            raise failure

    def resize_tensor_input(self, input_index: int, tensor_size: Any, strict: bool = False) -> None:
        """The runtime's resize, refusing sizes the masks cannot fit.

        Masks fix every masked conv's output size, so with chains claimed only
        the batch dimension may change. Refusing here matters: after a failed
        ``allocate_tensors`` the runtimes (ai-edge-litert 2.3, tflite-runtime
        2.14) can crash on the next allocation when a delegate holds nodes.
        """
        if self.delegate_report is not None and self.delegate_report.claimed_chains > 0:
            new = [int(d) for d in tensor_size]
            for detail in self._interpreter.get_input_details():
                if detail["index"] == input_index:
                    old = [int(d) for d in detail["shape"]]
                    if len(new) != len(old) or new[1:] != old[1:]:
                        raise ValueError(
                            f"cannot resize input {input_index} from {old} to {new}: the model's "
                            f"activation masks were made for {old[1:]} (all but the batch "
                            f"dimension); {convert_again_hint(old, new)}")
        self._interpreter.resize_tensor_input(input_index, tensor_size, strict=strict)

    @property
    def claimed_chains(self) -> int:
        return self.delegate_report.claimed_chains if self.delegate_report else 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._interpreter, name)
