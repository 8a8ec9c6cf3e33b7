"""DDP: two CPU processes under torchrun (gloo) draw identical masks at every step."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def test_ddp_ranks_apply_identical_masks(repo, tmp_path):
    out = tmp_path / "ranks.json"
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         str(repo / "tests" / "ddp_worker.py"), str(out)],
        capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = json.loads(out.read_text())
    assert len(ranks) == 2
    a, b = ranks
    # The ranks saw different data (different losses) ...
    assert a["losses"] != b["losses"]
    # ... yet used the same masks at every step, remembered the same best draw
    # (the loss is averaged over ranks) and froze the same masks.
    assert a["digests"] == b["digests"]
    assert len(set(a["digests"][2:10])) > 1          # masks did change while ramping
    assert len(set(a["digests"][10:])) == 1          # and stayed fixed once frozen
    assert a["digests"][0] == a["digests"][1]        # dense before begin
    assert a["best_step"] == b["best_step"] >= 2
    assert a["frozen"] and b["frozen"]
    assert a["sparsity"] == b["sparsity"]
    assert all(abs(s - 0.3) < 0.05 for s in a["sparsity"].values())
