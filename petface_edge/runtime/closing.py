"""``close()`` and the ``with`` statement for objects that hold native resources (``Embedder``, ``Gallery``)."""

from __future__ import annotations

from typing import ContextManager, TypeVar

from ..errors import PetfaceError

T = TypeVar("T", bound="Closeable")


class ClosedError(PetfaceError, RuntimeError):
    """An operation on an ``Embedder`` or ``Gallery`` after its ``close()``."""


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
        with self._lock:
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
