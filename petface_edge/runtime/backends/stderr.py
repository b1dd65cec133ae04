"""Keep native runtimes' chatter off the CLI's stderr while passing on everything else they write there."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from typing import Callable, Iterator


@contextlib.contextmanager
def dropping_native_lines(drop: Callable[[str], bool]) -> Iterator[None]:
    """Capture file descriptor 2 meanwhile; write back every line ``drop`` does not match.

    LiteRT and ExecuTorch log from C++ straight to descriptor 2, with no Python switch (LiteRT's
    ``INFO: Created TensorFlow Lite XNNPACK delegate``, ExecuTorch's ``[cpuinfo_utils.cpp:71] Reading
    file ...``), and those lines would break the CLI's one-line output.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [ln for ln in captured.read().decode(errors="replace").splitlines(True) if not drop(ln)]
            if kept:
                sys.stderr.write("".join(kept))
