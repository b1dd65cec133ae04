"""``manifest.json``: what ``petface-export`` built, and the contract each artifact obeys.

The export toolchain writes it; the runtime, the evaluation suite and the Android
and iOS demos read it. One entry per artifact: where it is, what it expects as
input, what it returns, whether it passed verification, and its thresholds.
Plain JSON with a schema version, so Kotlin and Swift read it without petface code.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from ..atomic import write_json_atomic
from ..errors import NotFoundError, PetfaceError

SCHEMA = "petface-manifest"
# Versioning: ``schema_version`` is the major version; a reader opens only its own major and refuses any
# other in one line. ``schema_minor`` counts additive revisions (new fields, never a changed meaning): a
# reader opens a newer minor, keeps the fields it does not know (``extra``, written back on save) and
# ignores them. Minor 1: the parity set's data source, the Recall@1 INT8 gate, the verify / identify decision
# policies in each artifact's thresholds.
SCHEMA_VERSION = 1
SCHEMA_MINOR = 1

# Artifact status values, in the words of the report table.
PASSED = "passed"
FAILED_PARITY = "failed parity"
FAILED_EXPORT = "failed export"
NOT_VERIFIABLE = "not verifiable here"
NOT_VERIFIED = "not verified"  # a file opened with no manifest entry: nothing vouches for it, no default threshold
SHIPPABLE = (PASSED,)


class ManifestError(PetfaceError, ValueError):
    """A manifest that is missing, malformed, or from a newer schema."""


@dataclass
class Quantization:
    """Affine int8/uint8 quantization: ``real = scale * (q - zero_point)``."""

    scale: float
    zero_point: int
    extra: dict = field(default_factory=dict, compare=False, repr=False)  # fields of a newer minor schema


@dataclass
class InputContract:
    """How to turn RGB pixels into this artifact's input tensor.

    Pixels are always resized with PIL's antialiased bilinear filter to ``size`` x ``size``
    (``petface_edge.imaging.resize_pixels``) and given as RGB 0..255. ``normalization``
    is ``"in_graph"``: mean/std are inside the model, clients never apply them.
    """

    name: str
    layout: str  # "NCHW" | "NHWC"
    dtype: str  # "float32" | "float16" | "int8" | "uint8"
    size: int
    batch: Optional[int] = None  # None: any batch size; an int: that batch only
    color: str = "RGB"
    range: tuple = (0, 255)
    resize: str = "pil_bilinear"
    normalization: str = "in_graph"
    quantization: Optional[Quantization] = None
    extra: dict = field(default_factory=dict, compare=False, repr=False)  # fields of a newer minor schema

    @property
    def shape(self) -> list:
        b = self.batch if self.batch is not None else -1
        return [b, 3, self.size, self.size] if self.layout == "NCHW" else [b, self.size, self.size, 3]


@dataclass
class OutputContract:
    name: str
    dtype: str  # "float32" | "float16" | "int8"
    dim: int
    l2_normalized: bool = True
    quantization: Optional[Quantization] = None
    extra: dict = field(default_factory=dict, compare=False, repr=False)  # fields of a newer minor schema


@dataclass
class Artifact:
    id: str  # e.g. "tflite-int8"
    format: str  # "onnx" | "tflite" | "coreml" | "torchscript"
    precision: str  # "fp32" | "fp16" | "int8" | "dynamic-range" | "w8"...
    path: str  # relative to the manifest's directory
    status: str
    input: Optional[InputContract] = None
    output: Optional[OutputContract] = None
    bytes: int = 0
    sha256: str = ""
    parity: dict = field(default_factory=dict)
    thresholds: dict = field(default_factory=dict)
    quantized: str = ""  # what is and is not quantized, in words
    recipe: dict = field(default_factory=dict)  # quantization levers tried and the one kept
    export_seconds: float = 0.0
    tools: dict = field(default_factory=dict)
    error: str = ""
    extra: dict = field(default_factory=dict, compare=False, repr=False)  # fields of a newer minor schema

    @property
    def shippable(self) -> bool:
        return self.status in SHIPPABLE


@dataclass
class Manifest:
    model: dict  # backbone, image_size, embedding_dim, checkpoint_sha256 (the fingerprint), parameters, macs
    artifacts: list[Artifact] = field(default_factory=list)
    producer: dict = field(default_factory=dict)
    verification: dict = field(default_factory=dict)
    created: str = ""
    schema: str = SCHEMA
    schema_version: int = SCHEMA_VERSION
    schema_minor: int = SCHEMA_MINOR
    directory: Path = field(default=Path("."), repr=False, compare=False)
    extra: dict = field(default_factory=dict, compare=False, repr=False)  # fields of a newer minor schema

    @property
    def fingerprint(self) -> str:
        """Identity of the trained weights every artifact here was built from."""
        return str(self.model.get("checkpoint_sha256", ""))

    def artifact(self, artifact_id: str) -> Artifact:
        for a in self.artifacts:
            if a.id == artifact_id:
                return a
        raise NotFoundError(f"no artifact {artifact_id!r} in manifest; have {[a.id for a in self.artifacts]}")

    def path_of(self, artifact: Artifact) -> Path:
        return self.directory / artifact.path

    def to_dict(self) -> dict:
        return to_json(self)

    def save(self, path: str | Path) -> Path:
        """Write atomically (temporary file + rename) so readers never see half a manifest."""
        path = Path(path)
        write_json_atomic(path, self.to_dict())
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Manifest":
        path = Path(path)
        if path.is_dir():
            path = path / "manifest.json"
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            raise ManifestError(f"{path}: no manifest.json (expected a petface-export output directory)") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ManifestError(f"{path}: not valid JSON ({exc})") from None
        except OSError as exc:
            raise ManifestError(f"{path}: cannot read the manifest ({exc.strerror or exc})") from None
        if not isinstance(raw, dict) or raw.get("schema") != SCHEMA:
            raise ManifestError(f"{path}: not a petface manifest (expected schema '{SCHEMA}')")
        major, minor = raw.get("schema_version"), raw.get("schema_minor", 0)
        if major != SCHEMA_VERSION:
            raise ManifestError(f"{path}: manifest schema version {major} is not supported: this petface-edge "
                                f"reads version {SCHEMA_VERSION} (any minor); use a petface-edge that reads it, "
                                "or re-export")
        try:
            known, extra = _split(cls, raw)
            known.pop("directory", None)
            known["artifacts"] = [artifact_from_dict(a) for a in known.get("artifacts", [])]
            known["schema_minor"] = int(minor)
            return cls(**known, directory=path.parent, extra=extra)
        except (TypeError, ValueError, AttributeError) as exc:
            raise ManifestError(f"{path}: malformed manifest ({type(exc).__name__}: {exc})") from None


def _split(cls: type, d: dict) -> tuple[dict, dict]:
    """``d`` split into the fields ``cls`` knows and the rest (kept in ``extra``, ignored)."""
    if not isinstance(d, dict):
        raise TypeError(f"expected a JSON object for {cls.__name__}, got {type(d).__name__}")
    names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
    return {k: v for k, v in d.items() if k in names}, {k: v for k, v in d.items() if k not in names}


def to_json(obj: Any) -> Any:
    """Dataclasses to JSON values, each ``extra`` merged back (a newer minor's fields survive a rewrite)."""
    if dataclasses.is_dataclass(obj):
        out = dict(getattr(obj, "extra", {}))
        out.update({f.name: to_json(getattr(obj, f.name)) for f in dataclasses.fields(obj)
                    if f.name not in ("extra", "directory")})
        return out
    if isinstance(obj, (list, tuple)):
        return [to_json(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_json(v) for k, v in obj.items()}
    return obj


def _quant(d: Optional[dict]) -> Optional[Quantization]:
    if not d:
        return None
    known, extra = _split(Quantization, d)
    return Quantization(**known, extra=extra)


def input_contract_from_dict(d: dict) -> InputContract:
    known, extra = _split(InputContract, d)
    known["range"] = tuple(known.get("range", (0, 255)))
    known["quantization"] = _quant(known.get("quantization"))
    return InputContract(**known, extra=extra)


def output_contract_from_dict(d: dict) -> OutputContract:
    known, extra = _split(OutputContract, d)
    known["quantization"] = _quant(known.get("quantization"))
    return OutputContract(**known, extra=extra)


def artifact_from_dict(d: dict) -> Artifact:
    """An :class:`Artifact` from its JSON form (a manifest entry, or contracts embedded in an artifact).

    Fields this version does not know are kept in ``extra`` and ignored; a missing required one is a TypeError.
    """
    known, extra = _split(Artifact, d)
    if known.get("input"):
        known["input"] = input_contract_from_dict(known["input"])
    if known.get("output"):
        known["output"] = output_contract_from_dict(known["output"])
    return Artifact(**known, extra=extra)


def artifact_digest(path: str | Path) -> tuple[int, str]:
    """(bytes, sha256) of an artifact: a file, or a directory such as a ``.mlpackage``.

    A directory's sha256 covers each file's relative path and contents in sorted order,
    so a renamed, added or changed file inside the package changes it.
    """
    path = Path(path)
    if path.is_file():
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        return path.stat().st_size, digest.hexdigest()
    digest, total = hashlib.sha256(), 0
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        size, sha = artifact_digest(file)
        digest.update(f"{file.relative_to(path).as_posix()}\0{sha}\n".encode())
        total += size
    return total, digest.hexdigest()
