"""A co-runner: another process that keeps one CPU busy while a benchmark runs,
as another app does on a phone.

Outside load on a shared host shows only in the times (TOOLCHAIN.md); a
co-runner is load we make ourselves and can repeat. Pinned to one CPU, it
shares that core with whatever thread of ours the OS puts there: at 2
threads on 2 CPUs, one of the two. Linux only (``os.sched_setaffinity``).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator

# The child pins itself, then spins; it never imports anything heavy.
_SPIN = "import os, sys\nos.sched_setaffinity(0, {int(sys.argv[1])})\nwhile True:\n    pass\n"


def usable_cpus() -> list[int]:
    """The CPUs this process may run on, in order."""
    return sorted(os.sched_getaffinity(0))


@contextlib.contextmanager
def co_runner(cpu: int | None = None) -> Iterator[int]:
    """Keep ``cpu`` busy (default: the last CPU this process may use) with a
    spinning child process for the duration of the ``with`` block; yields the
    CPU. Raises ``RuntimeError`` if this process may use fewer than 2 CPUs (the
    co-runner would take the only one) or ``cpu`` is not one of them.

    >>> with co_runner() as cpu:   # doctest: +SKIP
    ...     result = run_bench(model, num_threads=2)
    """
    cpus = usable_cpus()
    if len(cpus) < 2:
        raise RuntimeError(f"a co-runner needs 2 CPUs; this process may use {len(cpus)} ({cpus})")
    cpu = cpus[-1] if cpu is None else cpu
    if cpu not in cpus:
        raise RuntimeError(f"co-runner CPU {cpu} is not one this process may use ({cpus})")
    child = subprocess.Popen([sys.executable, "-c", _SPIN, str(cpu)], stdin=subprocess.DEVNULL)
    try:
        yield cpu
    finally:
        child.kill()
        child.wait()
