"""An isolated venv with the real ``mediapipe`` package, built once and cached (like the Swift chroot).

mediapipe needs ``opencv-contrib-python``, which clashes with the project venv's
``opencv-python-headless``, so it gets a venv of its own holding nothing of petface:
``tests/mediapipe_embed.py`` runs there and talks to the tests through files.

    python -m tests.mediapipe_env     # build it (make test does, beside the pipeline)

Location: ``$PETFACE_MEDIAPIPE_VENV``, default ``<repo>/.tools/mediapipe-venv``. A venv without
its ready marker (an interrupted build), or one built from other constraints, is rebuilt.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CONSTRAINTS = REPO / "tests" / "mediapipe-constraints.txt"
REQUIREMENT = "mediapipe==0.10.21"
READY = ".petface-mediapipe-ready"  # holds the sha256 of the constraints it was built from


def location() -> Path:
    return Path(os.environ.get("PETFACE_MEDIAPIPE_VENV") or REPO / ".tools" / "mediapipe-venv")


def _wanted() -> str:
    return hashlib.sha256(CONSTRAINTS.read_bytes()).hexdigest()


def ensure() -> Path:
    """The python of the MediaPipe venv, building the venv first when it is missing or stale."""
    root = location()
    python = root / "bin" / "python"
    marker = root / READY
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f"{root.name}.lock", "w") as lock:  # one builder at a time (make test, pytest, worktrees)
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.is_file() and marker.read_text().strip() == _wanted() and python.exists():
            return python
        print(f"[mediapipe] building {root} with {REQUIREMENT} (once; about 1 GB) ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        shutil.rmtree(root, ignore_errors=True)
        venv.create(root, with_pip=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "-c",
                        str(CONSTRAINTS), REQUIREMENT], check=True)
        marker.write_text(_wanted() + "\n")
        print(f"[mediapipe] ready in {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    return python

if __name__ == "__main__":
    print(ensure())
