"""``petface``: embed, compare, enroll and identify from the shell.

Human-readable output by default, ``--json`` for scripts. Exit status: 0 match (or
success), 1 no match, 2 error (one line on stderr naming the file, never a traceback).
MODEL is an export directory, its manifest.json or one artifact file. ``compare`` decides
by the verify policy (default FAR 1e-3), ``identify`` by the identify policy (default FPIR
1e-2 at the gallery's template count); each prints the operating point it used.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from .._cli import ArgumentParser, fail, positive_int
from ..errors import PetfaceError
from .embedder import Embedder
from .gallery import Gallery, Match

PROG = "petface"
MATCH, NO_MATCH = 0, 1
PREVIEW = 6  # embedding values shown in human-readable output


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except PetfaceError as exc:  # bad input, in one line; anything else is a bug and keeps its traceback
        fail(PROG, str(exc))


def _parser() -> ArgumentParser:
    parser = ArgumentParser(prog=PROG, description="Pet face recognition with an exported petface model.",
                            epilog="Exit status: 0 match / success, 1 no match, 2 error.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=ArgumentParser)

    def model_options(p: argparse.ArgumentParser, flag: bool) -> None:
        if flag:
            p.add_argument("--model", required=True, help="export directory, manifest.json or artifact file")
        p.add_argument("--backend", default="auto",
                       help="auto (best shipped artifact that runs here), a format (onnx, tflite, torchscript, "
                            "coreml) or an artifact id such as tflite-int8")
        p.add_argument("--threads", type=positive_int, default=None, help="runtime threads")
        p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("info", help="which artifact runs here and under which contract")
    p.add_argument("model")
    model_options(p, flag=False)
    p.set_defaults(run=_info)

    p = sub.add_parser("embed", help="print the embedding of each image")
    p.add_argument("model")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--detect", choices=("cat",), help="find cat faces first and embed each")
    model_options(p, flag=False)
    p.set_defaults(run=_embed)

    p = sub.add_parser("compare", help="same pet or not (exit 0 same, 1 different)")
    p.add_argument("model")
    p.add_argument("a", metavar="A")
    p.add_argument("b", metavar="B")
    rule = p.add_mutually_exclusive_group()
    rule.add_argument("--far", type=float, help="target false-accept rate (default 1e-3; calibrated: 1e-2..1e-5)")
    rule.add_argument("--threshold", type=float, help="raw cosine threshold instead of a target FAR")
    model_options(p, flag=False)
    p.set_defaults(run=_compare)

    p = sub.add_parser("enroll", help="add photos of one pet to a gallery file (created if missing)")
    p.add_argument("gallery")
    p.add_argument("name")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    model_options(p, flag=True)
    p.set_defaults(run=_enroll)

    p = sub.add_parser("identify", help="rank the gallery's pets for a photo (exit 0 match, 1 no match)")
    p.add_argument("gallery")
    p.add_argument("image")
    p.add_argument("--top-k", type=positive_int, default=5)
    rule = p.add_mutually_exclusive_group()
    rule.add_argument("--fpir", type=float, help="target rate of strangers accepted as an enrolled pet, at this "
                                                 "gallery's size (default 1e-2; calibrated: 1e-1, 1e-2, 1e-3)")
    rule.add_argument("--threshold", type=float, help="raw cosine threshold instead of a target FPIR")
    p.add_argument("--detect", choices=("cat",), help="find cat faces first and identify each")
    model_options(p, flag=True)
    p.set_defaults(run=_identify)

    p = sub.add_parser("gallery", help="inspect or edit a gallery file")
    gsub = p.add_subparsers(dest="action", required=True, parser_class=ArgumentParser)
    g = gsub.add_parser("list", help="enrolled pets and their template counts")
    g.add_argument("gallery")
    g.add_argument("--json", action="store_true", help="machine-readable output")
    g.set_defaults(run=_gallery_list)
    g = gsub.add_parser("remove", help="remove a pet")
    g.add_argument("gallery")
    g.add_argument("name")
    g.set_defaults(run=_gallery_remove)
    g = gsub.add_parser("rename", help="rename a pet")
    g.add_argument("gallery")
    g.add_argument("old")
    g.add_argument("new")
    g.set_defaults(run=_gallery_rename)
    return parser


def _open(args: argparse.Namespace) -> Embedder:
    return Embedder.open(args.model, backend=args.backend, threads=args.threads)


def _model_json(embedder: Embedder) -> dict:
    return {"artifact": embedder.artifact.id, "path": str(embedder.model_path), "runtime": embedder.runtime,
            "fingerprint": embedder.fingerprint, "dim": embedder.dim, "image_size": embedder.image_size}


def _print_json(data: dict) -> None:
    print(json.dumps(data, indent=2))


def _vector_text(v: np.ndarray) -> str:
    return "[" + " ".join(f"{x:+.4f}" for x in v[:PREVIEW]) + (" ...]" if len(v) > PREVIEW else "]")


def _info(args: argparse.Namespace) -> int:
    embedder = _open(args)
    if args.json:
        _print_json({**_model_json(embedder), "status": embedder.artifact.status,
                     "thresholds": embedder.thresholds, "skipped": dict(embedder.skipped),
                     "threads": embedder.threads, "chosen_because": embedder.chosen_because})
    else:
        print(embedder.describe())
    return 0


def _embed(args: argparse.Namespace) -> int:
    embedder = _open(args)
    if args.detect:
        results = [{"image": img, "faces": [{"box": f.box.to_dict(), "embedding": f.embedding.tolist()}
                                            for f in embedder.embed_faces(img, args.detect)]}
                   for img in args.images]
        if args.json:
            _print_json({"model": _model_json(embedder), "results": results})
        else:
            for r in results:
                print(f"{r['image']}: no {args.detect} face found" if not r["faces"] else
                      "\n".join(f"{r['image']} face at {f['box']}: {_vector_text(np.array(f['embedding']))}"
                                for f in r["faces"]))
        return 0
    vectors = embedder.embed(args.images)
    if args.json:
        _print_json({"model": _model_json(embedder),
                     "embeddings": [{"image": img, "embedding": v.tolist()} for img, v in zip(args.images, vectors)]})
    else:
        print(f"# {embedder.artifact.id} on {embedder.runtime}, {embedder.dim}-d unit vectors")
        for img, v in zip(args.images, vectors):
            print(f"{img}: {_vector_text(v)}")
    return 0


def _compare(args: argparse.Namespace) -> int:
    embedder = _open(args)
    point = embedder.verify_point(args.threshold, args.far)  # refuses an unsupported target before any work
    result = embedder.verify(args.a, args.b, args.threshold, args.far)
    if args.json:
        _print_json({"a": args.a, "b": args.b, "score": result.score, "same": result.same,
                     "threshold": result.threshold, "threshold_source": result.threshold_source,
                     "operating_point": point.to_dict(),
                     "model": _model_json(embedder)})
    else:
        verdict = "same pet" if result.same else "different pets"
        print(f"{verdict}: cosine {result.score:.4f}; {point.describe()}")
    return MATCH if result.same else NO_MATCH


def _enroll(args: argparse.Namespace) -> int:
    embedder = _open(args)
    path = Path(args.gallery)
    gallery = Gallery.load(path, embedder) if path.exists() else Gallery(embedder)
    count = gallery.enroll(args.name, args.images)
    gallery.save(path)
    if args.json:
        _print_json({"gallery": str(path), "name": args.name, "added": len(args.images), "templates": count,
                     "pets": len(gallery)})
    else:
        print(f"enrolled {args.name}: {len(args.images)} image(s), {count} template(s) in total; "
              f"{path} now holds {len(gallery)} pet(s)")
    return 0


def _identify(args: argparse.Namespace) -> int:
    embedder = _open(args)
    gallery = Gallery.load(args.gallery, embedder)
    point = gallery.identify_point(args.threshold, args.fpir)  # refuses an unsupported target before any work
    if args.detect:
        faces = [(f.box.to_dict(), f.matches)
                 for f in gallery.identify_faces(args.image, args.detect, args.top_k, args.threshold, args.fpir)]
    else:
        faces = [(None, gallery.identify(args.image, args.top_k, args.threshold, args.fpir))]
    best = [m.best for _, m in faces]
    if args.json:
        _print_json({"image": args.image, "gallery": args.gallery, "pets": len(gallery),
                     "threshold": point.threshold, "threshold_source": point.describe(),
                     "operating_point": point.to_dict(), "model": _model_json(embedder),
                     "faces": [{"box": box, "match": name, "matches": [_match_json(m) for m in matches]}
                               for (box, matches), name in zip(faces, best)]})
    else:
        print(f"{args.gallery}: {len(gallery)} pet(s); {point.describe()}")
        if not faces:
            print(f"no {args.detect} face found in {args.image}")
        for (box, matches), name in zip(faces, best):
            if box is not None:
                print(f"face at {box}:")
            for rank, m in enumerate(matches, 1):
                print(f"  {rank}. {m.name:<24} {m.score:.4f}  {'match' if m.accepted else '-'}")
            print(f"result: {name}" if name else "result: no match")
    return MATCH if any(best) else NO_MATCH


def _match_json(m: Match) -> dict:
    return {"name": m.name, "score": m.score, "accepted": m.accepted}


def _gallery_list(args: argparse.Namespace) -> int:
    gallery = Gallery.load(args.gallery)
    pets = [{"name": n, "templates": gallery.template_count(n)} for n in gallery.names()]
    if args.json:
        _print_json({"gallery": args.gallery, "fingerprint": gallery.fingerprint, "dim": gallery.dim,
                     "artifact": gallery.artifact, "pets": pets})
    else:
        print(f"{args.gallery}: {len(pets)} pet(s), model {gallery.fingerprint[:12]} ({gallery.artifact}), "
              f"{gallery.dim}-d")
        for p in pets:
            print(f"  {p['name']}  ({p['templates']} template(s))")
    return 0


def _gallery_remove(args: argparse.Namespace) -> int:
    gallery = Gallery.load(args.gallery)
    gallery.remove(args.name)
    gallery.save(args.gallery)
    print(f"removed {args.name}; {args.gallery} now holds {len(gallery)} pet(s)")
    return 0


def _gallery_rename(args: argparse.Namespace) -> int:
    gallery = Gallery.load(args.gallery)
    gallery.rename(args.old, args.new)
    gallery.save(args.gallery)
    print(f"renamed {args.old} to {args.new}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
