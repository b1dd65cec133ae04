"""petface-edge: pet face recognition on the edge.

The top-level package is the light runtime (numpy, pillow, onnxruntime):

    >>> from petface_edge import Embedder, Gallery
    >>> embedder = Embedder.open("export/")      # a petface-export directory, manifest or artifact file
    >>> gallery = Gallery(embedder)
    >>> gallery.enroll("Luna", ["luna1.jpg", "luna2.jpg"])
    >>> gallery.identify("who.jpg")

Training code lives in ``petface_edge.models`` / ``petface_edge.train`` and needs the
``train`` extra; nothing imported here pulls in torch or TensorFlow.
"""

from .errors import PetfaceError
from .imaging import ImageError, load_image, preprocess
from .runtime import (
    BackendError,
    Box,
    ClosedError,
    DecisionPolicy,
    DetectionError,
    Embedder,
    EmbedderOptions,
    FaceEmbedding,
    FaceMatches,
    Gallery,
    GalleryError,
    Identification,
    ManifestError,
    Match,
    ModelError,
    OperatingPoint,
    UnsupportedTargetError,
    VerifyResult,
)

__version__ = "0.1.0"

__all__ = [
    "BackendError",
    "Box",
    "ClosedError",
    "DecisionPolicy",
    "DetectionError",
    "Embedder",
    "EmbedderOptions",
    "FaceEmbedding",
    "FaceMatches",
    "Gallery",
    "GalleryError",
    "Identification",
    "ImageError",
    "ManifestError",
    "Match",
    "ModelError",
    "OperatingPoint",
    "PetfaceError",
    "UnsupportedTargetError",
    "VerifyResult",
    "__version__",
    "load_image",
    "preprocess",
]
