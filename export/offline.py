"""Converter processes run with the network switched off, and count anything that tried to use it.

onnx2tf 1.28 fetches a sample-image file from the internet on some code paths
(see ../shared/PLATFORM.md). The export avoids those paths; this guard proves it:
every socket connect or name lookup inside a converter process raises and is recorded,
and the count goes into the manifest.
"""

from __future__ import annotations

import socket

ATTEMPTS: list[str] = []


class NetworkBlocked(OSError):
    pass


def _refuse(what: str):
    def refuse(*args, **kwargs):
        target = args[1] if what == "connect" and len(args) > 1 else (args[0] if args else "")
        ATTEMPTS.append(f"{what} {target}")
        raise NetworkBlocked(f"network access is disabled during export ({what} {target})")

    return refuse


def block_network() -> None:
    """Make every outbound connection and DNS lookup in this process fail and be recorded in ``ATTEMPTS``."""
    socket.socket.connect = _refuse("connect")
    socket.socket.connect_ex = _refuse("connect")
    socket.create_connection = _refuse("create_connection")
    socket.getaddrinfo = _refuse("getaddrinfo")
