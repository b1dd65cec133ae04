"""The on-device runtime: load an exported artifact, embed faces, search a gallery.

Light by design: numpy, pillow, onnxruntime and (where its wheel exists) LiteRT run ONNX and
TFLite artifacts, and numpy alone searches galleries of any size; LiteRT, the TorchScript lite
interpreter, CoreML and OpenCV (cat-face detection) are imported only when an artifact or option
needs them.
"""

from .artifacts import ModelError
from .backends import BackendError
from .closing import ClosedError
from .decisions import DecisionPolicy, OperatingPoint, UnsupportedTargetError
from .detect import Box, DetectionError
from .embedder import Embedder, EmbedderOptions, FaceEmbedding, VerifyResult
from .gallery import FaceMatches, Gallery, Identification, Match
from .gallery_file import GalleryError
from .manifest import Manifest, ManifestError

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
    "Manifest",
    "ManifestError",
    "Match",
    "ModelError",
    "OperatingPoint",
    "UnsupportedTargetError",
    "VerifyResult",
]
