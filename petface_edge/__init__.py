"""petface-edge: pet face recognition on the edge.

The top-level package is the light runtime (numpy, pillow, onnxruntime). Training
code lives in ``petface_edge.models`` / ``petface_edge.train`` and needs the
``train`` extra; nothing imported here pulls in torch or TensorFlow.
"""

from .imaging import ImageError, load_image, preprocess

__version__ = "0.1.0"

__all__ = ["ImageError", "__version__", "load_image", "preprocess"]
