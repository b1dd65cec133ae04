"""Gallery files between Python and Swift: the Python side of PetFaceKit's interop test.

    python ios_demo/gallery_interop.py write GOLDEN_DIR OUT.gallery   # for the Swift test to read
    python ios_demo/gallery_interop.py check GOLDEN_DIR IN.gallery    # read what the Swift test wrote

Both build on the golden gallery of ``golden.json`` (pets, their images' embeddings, the queries
and Python's identify results) and use the runtime's own file code (``gallery_file``) and
``Gallery.search``, so the check is Python's reader and ranking applied to Swift's bytes.
Run by ``ios_demo/run_swift_tests.sh``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from petface_edge._cli import ArgumentParser, fail
from petface_edge.runtime.gallery import Gallery
from petface_edge.runtime.gallery_file import GalleryData, GalleryError, read_gallery, write_gallery


def golden_pets(golden: dict) -> dict[str, np.ndarray]:
    """The golden gallery's pets in enrollment order, each (k, dim) unit float32 templates."""
    vectors = golden["embeddings"][golden["gallery"]["artifact"]]
    pets = {}
    for pet in golden["gallery"]["enrolled"]:
        v = np.asarray([vectors[i] for i in pet["images"]], dtype=np.float32)
        pets[pet["name"]] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return pets


def write(golden: dict, out: Path) -> str:
    pets = golden_pets(golden)
    dim = next(iter(pets.values())).shape[1]
    write_gallery(out, GalleryData(golden["fingerprint"], dim, pets, artifact=golden["gallery"]["artifact"]))
    return f"wrote {out}: {len(pets)} pets"


def check(golden: dict, path: Path) -> str:
    """Python reads the Swift-written file: same pets, templates and identify results as golden.json."""
    data = read_gallery(path)
    problems = []
    if data.fingerprint != golden["fingerprint"]:
        problems.append(f"fingerprint {data.fingerprint!r}, expected {golden['fingerprint']!r}")
    expected = golden_pets(golden)
    if list(data.pets) != list(expected):
        problems.append(f"pets {list(data.pets)}, expected {list(expected)} in that order")
    for name, templates in expected.items():
        if name in data.pets and not np.allclose(data.pets[name], templates, atol=1e-6):
            problems.append(f"templates of {name!r} differ")
    gallery = Gallery.load(path)
    vectors = golden["embeddings"][golden["gallery"]["artifact"]]
    threshold = golden["gallery"]["threshold"]
    for q in golden["gallery"]["queries"]:
        want = q["matches"]
        got = gallery.search(np.asarray(vectors[q["image"]], np.float32), top_k=len(want), threshold=threshold)
        if [(m.name, m.accepted) for m in got] != [(m["name"], m["accepted"]) for m in want] or any(
                abs(m.score - w["score"]) > 1e-5 for m, w in zip(got, want)):
            problems.append(f"identify {q['image']}: {got} != {want}")
    if problems:
        raise GalleryError(f"{path}: " + "; ".join(problems))
    return f"Python read {path}: {len(gallery)} pets, {len(golden['gallery']['queries'])} queries identical"


def main(argv: list[str] | None = None) -> None:
    parser = ArgumentParser(prog="gallery_interop", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("write", "check"))
    parser.add_argument("golden", type=Path, help="golden dir (golden.json)")
    parser.add_argument("gallery", type=Path, help="gallery file to write or check")
    args = parser.parse_args(argv)
    try:
        golden = json.loads((args.golden / "golden.json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        fail(parser.prog, f"{args.golden / 'golden.json'}: cannot read the golden file ({exc})")
    try:
        print((write if args.command == "write" else check)(golden, args.gallery))
    except (GalleryError, KeyError, ValueError) as exc:
        fail(parser.prog, str(exc))


if __name__ == "__main__":
    sys.exit(main())
