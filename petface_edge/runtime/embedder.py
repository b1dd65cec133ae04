"""``Embedder``: images in, unit vectors out, identically for every exported artifact.

Modelled on MediaPipe Tasks: an options object, a factory from a model path, typed
results. The caller names a model; the input contract (size, layout, dtype,
quantization) comes from the export manifest or the artifact's own metadata, and
preprocessing is the one shared :func:`petface_edge.imaging.preprocess`.

    >>> with Embedder.open("export/") as embedder:      # best shipped artifact for this machine
    ...     embedder.describe()
    ...     vectors = embedder.embed(["a.jpg", "b.jpg"])  # (2, 128) float32, unit length
    ...     embedder.verify("a.jpg", "b.jpg")             # VerifyResult(score=..., same=..., ...): FAR 1e-3
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Union

import numpy as np
from PIL import Image

from ..errors import InvalidArgumentError, PetfaceError
from ..imaging import ImageLike, crop_square, load_image, resize_pixels
from .artifacts import LoadedArtifact, ModelRef, load_artifact
from .backends import DEVICES
from .closing import Closeable, RunGate
from .contract import from_output_tensor, to_input_tensor
from .decisions import VERIFY, DecisionPolicy, OperatingPoint, resolve
from .detect import Box, get_detector
from .manifest import Artifact, InputContract, OutputContract

Images = Union[ImageLike, Iterable[ImageLike]]
# Images per backend call for artifacts that accept any batch size: bounds memory, keeps batches efficient.
DEFAULT_MAX_BATCH = 32


@dataclass(frozen=True)
class EmbedderOptions:
    """How to open an embedder (frozen: the embedder keeps it, so it cannot be edited behind its back).

    ``model``: an artifact file, an export directory or its manifest.json.
    ``backend``: ``"auto"`` (best shipped artifact that runs here), a format (``"onnx"``,
    ``"tflite"``, ``"torchscript"``, ``"coreml"``) or an artifact id (``"tflite-int8"``).
    ``threads``: intra-op threads of the runtime (None: the machine's cores, or with ``"auto"`` the
    count measured fastest; pass 1 or 2 to leave cores to other work). ``device``: ``"cpu"``
    or ``"cuda"`` (ONNX with onnxruntime-gpu; any other format on ``"cuda"`` is an error).
    ``max_batch``: images per runtime call. ``policy``: target rates or raw thresholds for verify
    and identify decisions (default: the artifact's calibrated FAR 1e-3 / FPIR 1e-2; see
    :mod:`.decisions`).
    """

    model: ModelRef
    backend: str = "auto"
    threads: Optional[int] = None
    device: str = "cpu"
    max_batch: int = DEFAULT_MAX_BATCH
    policy: DecisionPolicy = DecisionPolicy()

    def __post_init__(self) -> None:
        if self.max_batch < 1:
            raise InvalidArgumentError(f"max_batch must be at least 1, got {self.max_batch}")
        if self.device not in DEVICES:
            raise InvalidArgumentError(f"device must be one of {', '.join(DEVICES)}, got {self.device!r}")


@dataclass(frozen=True)
class VerifyResult:
    """Whether two faces (or a face and an enrolled pet) are the same individual."""

    score: float  # cosine similarity
    same: bool  # score >= threshold
    threshold: float
    threshold_source: str
    far: Optional[float] = None  # the target FAR the threshold was calibrated for; None: a raw threshold


@dataclass(frozen=True)
class FaceEmbedding:
    """One detected face: its square crop box in the upright image and its embedding."""

    box: Box
    embedding: np.ndarray


class Embedder(Closeable):
    """A loaded artifact that turns pet face images into L2-normalized embeddings.

    Thread-safe: concurrent callers share one loaded model; decoding and resizing run in
    parallel, and runtimes whose sessions are not re-entrant (LiteRT) are serialized.
    ``close()`` (or leaving a ``with`` block) releases the runtime session; embedding afterwards
    raises :class:`~petface_edge.runtime.closing.ClosedError`.
    """

    _reopen_hint = "open a new Embedder to embed"

    def __init__(self, loaded: LoadedArtifact, options: EmbedderOptions) -> None:
        self._loaded = loaded
        self._options = options
        self._lock = RunGate() if loaded.backend.thread_safe else threading.Lock()
        fixed = loaded.backend.fixed_batch or loaded.artifact.input.batch
        self._fixed_batch: Optional[int] = fixed
        self._chunk = fixed or options.max_batch

    @classmethod
    def open(cls, model: ModelRef, backend: str = "auto", threads: Optional[int] = None,
             device: str = "cpu", policy: DecisionPolicy = DecisionPolicy()) -> "Embedder":
        """Open an artifact file, an export directory or a manifest (see :class:`EmbedderOptions`)."""
        return cls.create_from_options(EmbedderOptions(model, backend=backend, threads=threads, device=device,
                                                       policy=policy))

    @classmethod
    def create_from_options(cls, options: EmbedderOptions) -> "Embedder":
        loaded = load_artifact(options.model, options.backend, options.threads, options.device)
        return cls(loaded, options)

    def _release(self) -> None:
        self._loaded.backend.close()

    # -- what was loaded ---------------------------------------------------------------------

    @property
    def options(self) -> EmbedderOptions:
        return self._options

    @property
    def artifact(self) -> Artifact:
        """The manifest entry (id, format, precision, path, contract, thresholds) of the artifact in use."""
        return self._loaded.artifact

    @property
    def model_path(self) -> Path:
        return self._loaded.backend.path

    @property
    def runtime(self) -> str:
        return self._loaded.backend.name

    @property
    def threads(self) -> int:
        """The runtime's intra-op thread count in use."""
        return self._loaded.threads

    @property
    def chosen_because(self) -> str:
        """Why this artifact and thread count: the measured table's verdict, or what the caller named."""
        return self._loaded.why

    @property
    def fingerprint(self) -> str:
        """Identity of the trained weights: galleries are bound to it (may be empty for foreign files)."""
        return self._loaded.fingerprint

    @property
    def input_contract(self) -> InputContract:
        return self._loaded.artifact.input

    @property
    def output_contract(self) -> OutputContract:
        return self._loaded.artifact.output

    @property
    def image_size(self) -> int:
        return self.input_contract.size

    @property
    def dim(self) -> int:
        return self.output_contract.dim

    @property
    def fixed_batch(self) -> Optional[int]:
        """The only batch size the artifact accepts (None: any); larger batches are split, smaller padded."""
        return self._fixed_batch

    @property
    def skipped(self) -> list[tuple[str, str]]:
        """Better-ranked artifacts passed over while choosing, with the reason each was not used."""
        return list(self._loaded.skipped)

    @property
    def thresholds(self) -> dict:
        return dict(self.artifact.thresholds)

    @property
    def threshold(self) -> Optional[float]:
        """The verify threshold of this embedder's policy (default: FAR 1e-3), or None if it has no calibration."""
        try:
            return self.verify_point().threshold
        except PetfaceError:
            return None

    def verify_point(self, threshold: Optional[float] = None, far: Optional[float] = None) -> OperatingPoint:
        """The verify operating point: the call's ``threshold`` or ``far``, else the options', else FAR 1e-3."""
        levels = [(threshold, far, "call"), self._options.policy.level(VERIFY, "embedder options")]
        return resolve(VERIFY, levels, self.artifact.thresholds, self.artifact.id)

    def describe(self) -> str:
        """One paragraph saying which artifact runs, in which runtime, under which contract."""
        a, c = self.artifact, self.input_contract
        quant = " int8-quantized input" if c.quantization else ""
        lines = [
            f"{a.id} ({self.model_path.name}) on {self.runtime}: {c.layout} {c.dtype}{quant} "
            f"{c.size}x{c.size} RGB -> {self.dim}-d unit vectors; status: {a.status}",
            f"contract from {self._loaded.source}",
            f"{self.threads} thread{'s' * (self.threads > 1)}; {self.chosen_because}",
            f"fingerprint {self.fingerprint or 'unknown'}",
        ]
        try:
            lines.append(self.verify_point().describe())
        except PetfaceError as exc:
            lines.append(f"no verify threshold: {exc}")
        lines += [f"skipped {aid}: {why}" for aid, why in self._loaded.skipped]
        return "\n".join(lines)

    # -- embedding ---------------------------------------------------------------------------

    def embed(self, images: Images) -> np.ndarray:
        """Embed one image or a batch: paths, bytes, PIL images or HxWx3 uint8 RGB arrays.

        Each image is cut by the crop policy (its centred square: a non-square photo is never
        squashed) and resized (``petface_edge.imaging``). Returns (N, D) float32 unit vectors,
        N = 1 for a single image.
        """
        self._require_open()
        batch = _as_list(images)
        return self.embed_pixels(np.stack([self._pixels(load_image(img)) for img in batch])
                                 if batch else np.zeros((0, self.image_size, self.image_size, 3), np.uint8))

    def embed_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """Embed already-resized (N, S, S, 3) uint8 RGB pixels (from :func:`petface_edge.imaging.resize_pixels`)."""
        self._require_open()
        if pixels.dtype != np.uint8:
            raise InvalidArgumentError(f"pixels must be uint8 RGB 0..255, got {pixels.dtype}")
        n = len(pixels)
        out = np.empty((n, self.dim), np.float32)
        for start in range(0, n, self._chunk):
            chunk = pixels[start:start + self._chunk]
            count = len(chunk)
            if self._fixed_batch and count < self._fixed_batch:  # a fixed-batch artifact: pad, then drop
                chunk = np.concatenate([chunk, np.repeat(chunk[-1:], self._fixed_batch - count, axis=0)])
            x = to_input_tensor(chunk, self.input_contract)
            with self._lock:
                self._require_open()  # again under the lock: close() may have run meanwhile
                raw = self._loaded.backend.run(x)
            out[start:start + count] = from_output_tensor(raw, self.output_contract)[:count]
        return out

    def embed_faces(self, image: ImageLike, detect: str = "cat") -> list[FaceEmbedding]:
        """Find faces with the ``detect`` detector, embed a square crop of each; empty list: no face found."""
        self._require_open()
        detector = get_detector(detect)
        img = load_image(image)
        boxes = detector.crops(img)
        if not boxes:
            return []
        vectors = self.embed_pixels(np.stack([self._pixels(img.crop(b.as_crop())) for b in boxes]))
        return [FaceEmbedding(b, v) for b, v in zip(boxes, vectors)]

    def similarity(self, a: Union[ImageLike, np.ndarray], b: Union[ImageLike, np.ndarray]) -> float:
        """Cosine similarity of two faces (images, or embeddings from :meth:`embed`)."""
        return float(np.dot(self._vector(a), self._vector(b)))

    def verify(self, a: Union[ImageLike, np.ndarray], b: Union[ImageLike, np.ndarray],
               threshold: Optional[float] = None, far: Optional[float] = None) -> VerifyResult:
        """Same pet or not, by the verify policy: a raw ``threshold``, a target ``far``, or the options' default."""
        point = self.verify_point(threshold, far)
        score = self.similarity(a, b)
        return verify_result(score, point)

    def __repr__(self) -> str:
        state = ", closed" if self._closed else ""
        return f"Embedder({self.artifact.id!r}, path={str(self.model_path)!r}, runtime={self.runtime!r}{state})"

    def _pixels(self, img: Image.Image) -> np.ndarray:
        """The model input for an upright photo or face crop, by the crop policy (``petface_edge.imaging``)."""
        return resize_pixels(crop_square(img), self.image_size)

    def _vector(self, x: Union[ImageLike, np.ndarray]) -> np.ndarray:
        if isinstance(x, np.ndarray) and x.ndim == 1:  # an embedding: re-normalize, check its length
            if x.shape[0] != self.dim:
                raise InvalidArgumentError(f"embedding has {x.shape[0]} dimensions, this model gives {self.dim}")
            v = x.astype(np.float32)
            return v / max(float(np.linalg.norm(v)), 1e-12)
        vectors = self.embed(x)
        if len(vectors) != 1:
            raise InvalidArgumentError(f"expected one image or embedding, got a batch of {len(vectors)}")
        return vectors[0]


def verify_result(score: float, point: OperatingPoint) -> VerifyResult:
    """A verify decision by ``point``."""
    return VerifyResult(score, score >= point.threshold, point.threshold, point.describe(), point.target)


def _as_list(images: Images) -> list:
    """One image or a batch of them as a list (an (N, H, W, 3) array is a batch)."""
    if isinstance(images, np.ndarray):
        return list(images) if images.ndim == 4 else [images]
    if isinstance(images, (str, bytes, Path, Image.Image)) or hasattr(images, "__fspath__"):
        return [images]
    return list(images)
