"""Optional face finding before embedding: OpenCV's frontal cat-face cascade, square crops with a margin.

Only cats have a shipped detector: OpenCV 4.x includes ``haarcascade_frontalcatface.xml``
(5.x ships no cascades, hence the ``detect`` extra pins ``<5``). No pip package ships a
dog-face detector, so dog photos must be passed as face crops (``detect=None``). The
cascade is a weak, fast detector: a frontal, upright face of at least ~10% of the
shorter image side is found reliably, profiles and heavy rotation are not.
"""

from __future__ import annotations

import threading
from typing import Optional

import numpy as np
from PIL import Image

from ..errors import PetfaceError
# The crop geometry is the crop policy's (imaging.py, rule 2).
from ..imaging import DEFAULT_MARGIN, Box, square_crop_box

DETECTORS = ("cat",)
CASCADE_FILE = "haarcascade_frontalcatface.xml"


class DetectionError(PetfaceError, ValueError):
    """A detector that cannot be used here (unknown kind, OpenCV missing or without cascades)."""


class CatFaceDetector:
    """OpenCV's frontal cat-face Haar cascade; returns square crop boxes, largest face first."""

    def __init__(self, margin: float = DEFAULT_MARGIN, min_face_fraction: float = 0.1) -> None:
        try:
            import cv2
        except ModuleNotFoundError:
            raise DetectionError(
                "detect='cat' needs OpenCV 4.x: pip install 'petface-edge[detect]' (opencv-python-headless<5)"
            ) from None
        folder = getattr(getattr(cv2, "data", None), "haarcascades", "")
        cascade = cv2.CascadeClassifier(folder + CASCADE_FILE) if folder else None
        if cascade is None or cascade.empty():
            raise DetectionError(
                f"OpenCV {cv2.__version__} ships no {CASCADE_FILE} (OpenCV 5 dropped the Haar cascades); "
                "install opencv-python-headless<5"
            )
        self._cv2 = cv2
        self._cascade = cascade
        self._lock = threading.Lock()  # one classifier object, used by one thread at a time
        self.margin = margin
        self.min_face_fraction = min_face_fraction

    def faces(self, image: Image.Image) -> list[Box]:
        """Face boxes as the cascade found them (not yet squared), largest first."""
        cv2 = self._cv2
        gray = cv2.equalizeHist(cv2.cvtColor(np.asarray(image.convert("RGB")), cv2.COLOR_RGB2GRAY))
        smallest = max(24, int(self.min_face_fraction * min(image.size)))
        with self._lock:
            found = self._cascade.detectMultiScale(gray, scaleFactor=1.05, minNeighbors=3,
                                                   minSize=(smallest, smallest))
        boxes = [Box(int(x), int(y), int(w), int(h)) for x, y, w, h in np.asarray(found).reshape(-1, 4)]
        return sorted(boxes, key=lambda b: (-b.width * b.height, b.y, b.x))

    def crops(self, image: Image.Image) -> list[Box]:
        """Square crop boxes (face plus margin, inside the image), largest face first."""
        return [square_crop_box(b, image.width, image.height, self.margin) for b in self.faces(image)]


_detectors: dict[str, CatFaceDetector] = {}
_detectors_lock = threading.Lock()


def get_detector(kind: Optional[str]) -> CatFaceDetector:
    """The shared detector for ``kind`` (loaded once per process)."""
    if kind == "dog":
        raise DetectionError("no dog-face detector ships with any installable package; pass dog face crops "
                             "(detect=None)")
    if kind not in DETECTORS:
        raise DetectionError(f"unknown detector {kind!r}; choose one of {', '.join(DETECTORS)} or None for crops")
    with _detectors_lock:
        if kind not in _detectors:
            _detectors[kind] = CatFaceDetector()
        return _detectors[kind]
