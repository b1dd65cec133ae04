import hashlib
import subprocess
import sys

import numpy as np
from PIL import Image

from petface_edge.synth import generate


def _digest(root):
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*.jpg"))}


def test_same_seed_gives_byte_identical_files(tmp_path):
    a = generate(tmp_path / "a", identities=4, images_per_identity=3, size=64, seed=7)
    b = generate(tmp_path / "b", identities=4, images_per_identity=3, size=64, seed=7)
    c = generate(tmp_path / "c", identities=4, images_per_identity=3, size=64, seed=8)
    assert _digest(a) == _digest(b)
    assert len(_digest(a)) == 12
    assert _digest(a) != _digest(c)


def test_identities_differ_more_than_images_of_one_identity(tmp_path):
    root = generate(tmp_path / "d", identities=6, images_per_identity=4, size=64, seed=1)
    folders = sorted(p for p in root.iterdir())
    assert [f.name for f in folders] == [f"pet_{i:05d}" for i in range(6)]
    images = [[np.asarray(Image.open(p), dtype=np.float64) for p in sorted(f.iterdir())] for f in folders]
    # Images of one identity vary (pose, light, background) ...
    for imgs in images:
        assert all(np.abs(imgs[0] - other).mean() > 3 for other in imgs[1:])
    # ... and identities differ: no two identities render the same picture.
    firsts = [imgs[0] for imgs in images]
    assert all(np.abs(firsts[i] - firsts[j]).mean() > 3 for i in range(6) for j in range(i + 1, 6))


def _synth(*args):
    return subprocess.run([sys.executable, "-m", "petface_edge.synth", *args], capture_output=True, text=True)


def test_cli_refuses_non_empty_directory_unless_overwrite(tmp_path):
    out = tmp_path / "set"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    r = _synth("--out", str(out), "--identities", "2", "--images-per-identity", "1", "--size", "32")
    assert r.returncode == 2
    assert "not empty" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert (out / "keep.txt").read_text() == "precious"
    r = _synth("--out", str(out), "--identities", "2", "--images-per-identity", "1", "--size", "32", "--overwrite")
    assert r.returncode == 0, r.stderr
    assert len(list(out.rglob("*.jpg"))) == 2


def test_cli_impossible_arguments_are_one_line_errors(tmp_path):
    for args in (["--identities", "0"], ["--size", "16"], ["--images-per-identity", "-1"]):
        r = _synth("--out", str(tmp_path / "x"), *args)
        assert r.returncode == 2, args
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert "Traceback" not in r.stderr
