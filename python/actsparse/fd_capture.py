"""What native code and Python write to file descriptor 2 (stderr) while a
function runs: the delegate's log (C++), torch's graph dumps. Standard
library only."""

from __future__ import annotations

import os
import sys
import tempfile
from typing import Any, Callable


def capture_fd2(build: Callable[[], Any]) -> tuple[Any, str]:
    """``(build(), text written to fd 2 meanwhile)``. If ``build`` raises, fd 2
    is restored and the exception propagates (the text is lost: callers that
    need it catch inside ``build``)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            result = build()
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
        sink.seek(0)
        return result, sink.read().decode("utf-8", "replace")


def capture_fd2_outcome(build: Callable[[], Any]) -> tuple[Any, Exception | None, str]:
    """``(build(), None, text)``, or ``(None, what build raised, text)``: for
    callers that report a failure together with what was printed before it
    (fd 2 is restored either way)."""
    def attempt() -> tuple[Any, Exception | None]:
        try:
            return build(), None
        except Exception as exc:  # returned to the caller with the text
            return None, exc

    (result, error), text = capture_fd2(attempt)
    return result, error, text
