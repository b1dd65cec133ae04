"""ExecuTorch backend for ``.pte`` files: the real ``executorch.runtime`` (XNNPACK delegate), as an app links it.

Needs the ``[executorch]`` extra (its Python runtime takes torch tensors, so torch comes with it);
nothing is imported before a ``.pte`` is opened. The program plans memory for its largest batch
(``petface-export`` builds a dynamic batch of 1..32); bigger inputs run in slices of that batch.
Metadata is the JSON the program's ``petface_metadata`` constant method returns.
"""

from __future__ import annotations

import json
import re
import threading
import weakref
from pathlib import Path
from typing import Optional

import numpy as np

from .base import Backend, BackendError
from .stderr import dropping_native_lines

METADATA_METHOD = "petface_metadata"
# ExecuTorch's native log lines look like "[cpuinfo_utils.cpp:71] Reading file ..."; torch's import-time
# pytree notice starts with its own logger prefix ("W1202 07:29:03.296000 ... _pytree.py:630] ...").
_NATIVE_LOG = re.compile(r"^\[[\w.]+\.cpp:\d+\] |^[IW]\d{4} .*_pytree\.py:\d+\] ")


def _quiet():
    return dropping_native_lines(lambda line: bool(_NATIVE_LOG.match(line)))


# ExecuTorch has one process-wide thread pool (XNNPACK's), and resetting it while a program is loaded
# crashes the next call of that program (measured: a segfault in Method.execute after 1 -> 2 -> 1 threads).
# So the pool is resized only while no program is loaded (closed or garbage-collected backends do not
# count); otherwise a different count is refused.
_pool_threads: list[Optional[int]] = [None]
_loaded: "weakref.WeakSet[ExecuTorchBackend]" = weakref.WeakSet()
_pool_lock = threading.Lock()


def _claim_threadpool(path: Path, threads: Optional[int], portable_lib) -> None:
    """Resize the pool for ``threads`` if no program is loaded; the caller holds ``_pool_lock`` until its
    program is in ``_loaded``, so no other thread can resize the pool in between."""
    if threads and threads != _pool_threads[0]:
        if len(_loaded):
            raise BackendError(f"{path}: ExecuTorch's one process-wide thread pool runs "
                               f"{_pool_threads[0] or 'its default number of'} threads for {len(_loaded)} loaded "
                               f"program(s); close them before asking for {threads}")
        with _quiet():
            portable_lib._unsafe_reset_threadpool(threads)
        _pool_threads[0] = threads


class ExecuTorchBackend(Backend):
    name = "executorch"

    def __init__(self, path: Path, threads: Optional[int] = None) -> None:
        super().__init__(path)
        try:
            with _quiet():
                import torch
                from executorch.extension.pybindings import portable_lib
                from executorch.runtime import Runtime
        except ImportError:
            raise BackendError(f"{path}: running .pte files needs executorch "
                               "(pip install 'petface-edge[executorch]')") from None
        self._torch = torch
        with _pool_lock:
            _claim_threadpool(path, threads, portable_lib)
            try:
                with _quiet():
                    self.program = Runtime.get().load_program(str(path))
                    self.method = self.program.load_method("forward")
            except (RuntimeError, ValueError) as exc:
                raise BackendError(f"{path}: not a loadable ExecuTorch program "
                                   f"({str(exc).strip().splitlines()[0][:200]})") from None
            _loaded.add(self)
        self._max_shape = tuple(int(d) for d in self.method.metadata.input_tensor_meta(0).sizes())

    @property
    def input_shape(self) -> tuple:
        return (None, *self._max_shape[1:])  # dynamic batch up to max_batch

    @property
    def max_batch(self) -> int:
        """The largest batch the program planned memory for."""
        return self._max_shape[0]

    @property
    def metadata(self) -> dict:
        if METADATA_METHOD not in self.program.method_names:
            return {}
        blob = self.program.load_method(METADATA_METHOD).execute(())[0]
        return json.loads(bytes(blob.numpy()).decode())

    def run(self, x: np.ndarray) -> np.ndarray:
        step = self.max_batch
        if len(x) > step:
            return np.concatenate([self.run(x[i: i + step]) for i in range(0, len(x), step)])
        try:
            out = self.method.execute((self._torch.from_numpy(np.ascontiguousarray(x)),))[0]
        except RuntimeError as exc:
            raise BackendError(f"{self.path}: ExecuTorch could not run a {list(x.shape)} input "
                               f"({str(exc).strip().splitlines()[0][:200]})") from None
        return out.numpy().copy()

    def close(self) -> None:
        self.method = self.program = None
        _loaded.discard(self)
