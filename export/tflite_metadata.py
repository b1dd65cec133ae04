"""Metadata inside a ``.tflite`` file: the ``petface`` entry our runtime reads and the standard one MediaPipe Tasks reads.

Both are named entries of the model flatbuffer's ``metadata`` list, so one file carries both:

- ``petface``: JSON with the input/output contract and the fingerprint of the trained weights
  (``petface_edge.runtime.backends.litert`` reads it; LiteRT itself ignores it).
- ``TFLITE_METADATA``: a ``ModelMetadata`` flatbuffer of the TFLite metadata schema
  (``metadata_schema.fbs``, file identifier ``M001``). MediaPipe's ``ImageEmbedder`` refuses a
  float-input model without it: it needs the input's ``NormalizationOptions`` and reads the
  color space from its ``ImageProperties``.

The standard entry is encoded here with the ``flatbuffers`` runtime (already in the export
stack through LiteRT and TensorFlow) rather than with a metadata tool: MediaPipe's writer needs
the ``mediapipe`` wheel, which needs ``opencv-contrib-python`` (it clashes with our
``opencv-python-headless``) and whose newest release (1.2.x) ships the writer broken;
``tflite-support`` is unmaintained since 2023 and pins ``protobuf<4`` (TensorFlow 2.21 needs a
newer one). The schema has been stable since 2020 and we need nine of its tables; the tests open
every written file with the real ``mediapipe`` package (``tests/test_mediapipe.py``).
"""

from __future__ import annotations

import json
from typing import Sequence

import numpy as np

from petface_edge.runtime.manifest import InputContract, OutputContract

PETFACE_ENTRY = "petface"
STANDARD_ENTRY = "TFLITE_METADATA"
FILE_IDENTIFIER = b"M001"
# The smallest metadata parser that understands every field written here (all exist since 1.0.0).
MIN_PARSER_VERSION = "1.0.0"
# Enum values of metadata_schema.fbs.
_COLOR_SPACE_RGB = 1
_CONTENT_FEATURE, _CONTENT_IMAGE = 1, 2  # union ContentProperties
_UNIT_NORMALIZATION = 1  # union ProcessUnitOptions


def normalization(inp: InputContract) -> tuple[float, float]:
    """(mean, std) that map 0..255 pixels onto the contract's input range: ``value = (pixel - mean) / std``.

    Our contract keeps mean/std inside the graph and takes raw RGB 0..255, so this is (0, 1).
    """
    if inp.normalization != "in_graph":
        raise ValueError(f"input normalization {inp.normalization!r}: only in-graph normalization is described")
    lo, hi = (float(v) for v in inp.range)
    std = 255.0 / (hi - lo)
    return 0.0 - lo * std, std  # 0.0 - x: never "-0.0"


def with_metadata(tflite: bytes, petface: dict[str, str], inp: InputContract, out: OutputContract) -> bytes:
    """``tflite`` with the ``petface`` entry and, for a float32 input, the standard ``TFLITE_METADATA`` entry."""
    entries = {PETFACE_ENTRY: json.dumps(petface).encode()}
    if inp.dtype == "float32" and inp.quantization is None:
        entries[STANDARD_ENTRY] = image_embedder_metadata(petface, inp, out)
    return _with_entries(tflite, entries)


def image_embedder_metadata(petface: dict[str, str], inp: InputContract, out: OutputContract) -> bytes:
    """A ``ModelMetadata`` flatbuffer: an RGB image input with its normalization, a feature-vector output."""
    import flatbuffers

    mean, std = normalization(inp)
    lo, hi = (float(v) for v in inp.range)
    size = inp.size
    name = f"{petface['name']} ({petface['backbone']}, {petface['precision']})"
    about = (f"Pet face embedder: one {size}x{size} RGB face crop in, a {out.dim}-d embedding out. Two faces are the "
             "same pet when the cosine similarity of their embeddings passes the threshold in the export manifest.")
    image_about = (f"RGB face crop, {size}x{size}, values {lo:g}..{hi:g} (mean/std are inside the model). "
                   "Resize crops to this size yourself (PIL bilinear with antialiasing, as petface-edge does) "
                   "for embeddings identical to the petface runtime's.")
    embedding_about = (f"{out.dim}-d embedding, L2-normalized" if out.l2_normalized else f"{out.dim}-d embedding") + \
        "; compare two with cosine similarity."

    b = flatbuffers.Builder(1024)
    image_size = _table(b, uints={0: size, 1: size})
    image_props = _table(b, bytes_={0: _COLOR_SPACE_RGB}, offsets={1: image_size})
    image_content = _table(b, bytes_={0: _CONTENT_IMAGE}, offsets={1: image_props})
    norm = _table(b, offsets={0: _floats(b, [mean]), 1: _floats(b, [std])})
    unit = _table(b, bytes_={0: _UNIT_NORMALIZATION}, offsets={1: norm})
    image_stats = _table(b, offsets={0: _floats(b, [hi]), 1: _floats(b, [lo])})  # max, min
    image = _table(b, offsets={0: b.CreateString("image"), 1: b.CreateString(image_about), 3: image_content,
                               4: _vector(b, [unit]), 5: image_stats})
    feature_content = _table(b, bytes_={0: _CONTENT_FEATURE}, offsets={1: _table(b)})
    embedding = _table(b, offsets={0: b.CreateString("embedding"), 1: b.CreateString(embedding_about),
                                   3: feature_content})
    subgraph = _table(b, offsets={2: _vector(b, [image]), 3: _vector(b, [embedding])})
    model = _table(b, offsets={0: b.CreateString(name), 1: b.CreateString(about),
                               2: b.CreateString(f"checkpoint sha256 {petface['checkpoint_sha256']}"),
                               3: _vector(b, [subgraph]), 4: b.CreateString(petface["producer"]),
                               7: b.CreateString(MIN_PARSER_VERSION)})
    b.Finish(model, file_identifier=FILE_IDENTIFIER)
    return bytes(b.Output())


def _table(b, offsets: dict[int, int] | None = None, bytes_: dict[int, int] | None = None,
           uints: dict[int, int] | None = None) -> int:
    """One table from ``{field index: value}``: offsets of children, ubyte enums/union types, uint32 scalars."""
    offsets, bytes_, uints = offsets or {}, bytes_ or {}, uints or {}
    b.StartObject(1 + max([*offsets, *bytes_, *uints], default=-1))
    for slot, value in offsets.items():
        b.PrependUOffsetTRelativeSlot(slot, value, 0)
    for slot, value in uints.items():
        b.PrependUint32Slot(slot, value, 0)
    for slot, value in bytes_.items():
        b.PrependUint8Slot(slot, value, 0)
    return b.EndObject()


def _floats(b, values: Sequence[float]) -> int:
    b.StartVector(4, len(values), 4)
    for v in reversed(values):
        b.PrependFloat32(float(v))
    return b.EndVector()


def _vector(b, offsets: Sequence[int]) -> int:
    b.StartVector(4, len(offsets), 4)
    for off in reversed(offsets):
        b.PrependUOffsetTRelative(off)
    return b.EndVector()


def _with_entries(tflite: bytes, entries: dict[str, bytes]) -> bytes:
    """Add (or replace) named ``metadata`` entries of the model flatbuffer, each in a buffer of its own."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(tflite, 0))
    kept = [m for m in (model.metadata or []) if m.name.decode() not in entries]
    for name, data in entries.items():
        buffer = schema.BufferT()
        buffer.data = np.frombuffer(data, dtype=np.uint8)
        model.buffers.append(buffer)
        entry = schema.MetadataT()
        entry.name, entry.buffer = name, len(model.buffers) - 1
        kept.append(entry)
    model.metadata = kept
    builder = flatbuffers.Builder(len(tflite) + sum(map(len, entries.values())) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())
