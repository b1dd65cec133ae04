"""``close()`` and the ``with`` statement for objects that hold native resources (``Embedder``, ``Gallery``)."""

from __future__ import annotations

import contextlib
import threading
from typing import ContextManager, Iterator, TypeVar

from ..errors import PetfaceError

T = TypeVar("T", bound="Closeable")


class ClosedError(PetfaceError, RuntimeError):
    """An operation on an ``Embedder`` or ``Gallery`` after its ``close()``."""


class RunGate:
    """The lock of a runtime that may run calls concurrently (onnxruntime): any number of calls
    hold it at once, and ``exclusive()`` (taken by ``close()``) waits until none is in flight
    and keeps new ones out meanwhile, so a session is never released under a running call."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._running = 0
        self._exclusive = False

    def __enter__(self) -> None:
        with self._cond:
            self._cond.wait_for(lambda: not self._exclusive)
            self._running += 1

    def __exit__(self, *exc_info: object) -> None:
        with self._cond:
            self._running -= 1
            self._cond.notify_all()

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._exclusive)
            self._exclusive = True
            self._cond.wait_for(lambda: self._running == 0)
        try:
            yield
        finally:
            with self._cond:
                self._exclusive = False
                self._cond.notify_all()


class Closeable:
    """Idempotent ``close()`` under the object's ``_lock``, then :class:`ClosedError` on use.

    Subclasses set ``_lock``, implement :meth:`_release` and call :meth:`_require_open` where
    they would touch what was released; ``_reopen_hint`` says what to do instead.
    """

    _closed = False
    _lock: ContextManager
    _reopen_hint = ""

    def close(self) -> None:
        """Release native resources now (idempotent); a call holding the lock in another thread finishes first."""
        with (self._lock.exclusive() if isinstance(self._lock, RunGate) else self._lock):
            self._closed = True
            self._release()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self: T) -> T:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _release(self) -> None:
        """Drop what ``close()`` frees; runs under ``_lock`` on every ``close()``, so it must be idempotent."""
        raise NotImplementedError

    def _require_open(self) -> None:
        if self._closed:
            raise ClosedError(f"{self!r} is closed; {self._reopen_hint}")
