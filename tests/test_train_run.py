"""Whole training runs on a tiny synthetic set (12 pets x 4 photos, 32 px): outputs, resume, torchrun, CLI errors."""

import json
import os
import shutil
import subprocess
import sys

import pytest
import torch
from PIL import Image

from petface_edge.data import load_splits, scan_identities, split_identities
from petface_edge.models import create_embedder, load_embedder
from petface_edge.synth import generate
from petface_edge.train import TrainConfig, train
from petface_edge.train.cli import main

SIZE = 32
FILES = ["best_model.pt", "config.json", "history.json", "last_checkpoint.pt", "pet_embedder.pt", "splits.json",
         "train.log"]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """32-px batches gain nothing from a second thread, and the cores are shared with other jobs."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("tiny") / "data", identities=12, images_per_identity=4, size=SIZE, seed=5)


def _config(data, out, **overrides) -> TrainConfig:
    settings = dict(data_dir=data, output_dir=out, image_size=SIZE, epochs=2, batch_size=8, lr=2e-3, progress=False,
                    val_pairs=400, precise_bn_images=32)
    return TrainConfig(**{**settings, **overrides})


def _load(path):
    return torch.load(path, map_location="cpu", weights_only=True)  # no pickled code in any checkpoint


def _assert_same_tensors(a, b, where=""):
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _assert_same_tensors(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same_tensors(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


@pytest.fixture(scope="module")
def first_run(tiny, tmp_path_factory):
    out = tmp_path_factory.mktemp("first") / "run"
    train(_config(tiny, out, epochs=3, val_every=2))
    return out


def test_run_writes_every_output(tiny, first_run):
    assert sorted(p.name for p in first_run.iterdir()) == FILES
    history = json.loads((first_run / "history.json").read_text())
    epochs = history["epochs"]
    assert [e["epoch"] for e in epochs] == [1, 2, 3]
    assert [("val" in e) for e in epochs] == [False, True, True]  # every val_every epochs and at the last
    for e in epochs:
        assert e["loss"] > 0 and e["images_per_s"] > 0 and e["lr"] > 0 and e["backbone_lr"] == e["lr"]
    assert epochs[-1]["lr"] == pytest.approx(1e-6)  # the cosine ends at min_lr
    assert epochs[0]["margin"] < epochs[-1]["margin"] == pytest.approx(0.4)
    val = [e["val"] for e in epochs if "val" in e]
    assert all(set(v) == {"accuracy", "threshold", "precision", "recall", "f1", "pairs"} for v in val)
    assert history["best"]["accuracy"] == max(v["accuracy"] for v in val)
    assert history["run"]["train_identities"] == 8 and history["run"]["world_size"] == 1

    splits = load_splits(first_run / "splits.json")
    assert splits == split_identities(scan_identities(tiny), "identity", 42)
    config = json.loads((first_run / "config.json").read_text())
    assert config["epochs"] == 3 and config["image_size"] == SIZE and "resume" not in config

    best = _load(first_run / "best_model.pt")
    last = _load(first_run / "last_checkpoint.pt")
    assert best["epoch"] == history["best"]["epoch"] and last["epoch"] == 3
    assert {"optimizer", "scheduler", "rng", "history"} <= last.keys()
    assert best["head"]["weight"].shape == (8, 128)
    model = load_embedder(first_run / "pet_embedder.pt")
    _assert_same_tensors(dict(model.state_dict()), {k: v for k, v in best["embedder"].items()})
    assert _load(first_run / "pet_embedder.pt")["meta"]["val"] == best["val"]
    with torch.no_grad():
        emb = model(torch.rand(2, 3, SIZE, SIZE) * 255)
    assert emb.shape == (2, 128) and torch.allclose(emb.norm(dim=1), torch.ones(2), atol=1e-5)


def test_resume_gives_the_uninterrupted_result(tiny, tmp_path):
    # MobileNetV3 (dropout 0.4) also exercises the RNG state; its backbone starts from local "ImageNet" weights.
    torch.manual_seed(1)
    weights = tmp_path / "imagenet.pth"
    torch.save(create_embedder("mobilenetv3_small_100", image_size=SIZE).backbone.state_dict(), weights)
    common = dict(backbone="mobilenetv3_small_100", epochs=2, pretrained_weights=weights)
    train(_config(tiny, tmp_path / "split", stop_after=1, **common))
    assert not (tmp_path / "split" / "pet_embedder.pt").exists()  # no validation yet
    assert _load(tmp_path / "split" / "last_checkpoint.pt")["epoch"] == 1
    train(_config(tiny, tmp_path / "split", resume=True, **common))
    train(_config(tiny, tmp_path / "whole", **common))

    a, b = _load(tmp_path / "split" / "last_checkpoint.pt"), _load(tmp_path / "whole" / "last_checkpoint.pt")
    for key in ("embedder", "head", "optimizer", "scheduler", "rng", "best"):
        _assert_same_tensors(a[key], b[key], key)
    _assert_same_tensors(_load(tmp_path / "split" / "pet_embedder.pt")["state_dict"],
                         _load(tmp_path / "whole" / "pet_embedder.pt")["state_dict"])
    assert [e["loss"] for e in a["history"]] == [e["loss"] for e in b["history"]]
    epoch = a["history"][0]
    assert epoch["backbone_lr"] == pytest.approx(0.1 * epoch["lr"])  # pretrained backbone: LR multiplier 0.1


def test_fine_tune_triplet_with_frozen_backbone(tiny, first_run, tmp_path):
    out = tmp_path / "fine"
    start = load_embedder(first_run / "pet_embedder.pt").state_dict()
    settings = dict(loss="triplet", triplet_k=2, gor_weight=0.5, init_from=first_run / "pet_embedder.pt",
                    freeze_backbone_epochs=1, epochs=2, split_mode="image")
    train(_config(tiny, out, stop_after=1, **settings))
    after_head = _load(out / "last_checkpoint.pt")["embedder"]
    backbone = [k for k in start if k.startswith("features.")]
    assert backbone and all(torch.equal(start[k], after_head[k]) for k in backbone)  # weights and BN statistics
    assert not torch.equal(start["projection.weight"], after_head["projection.weight"])
    train(_config(tiny, out, resume=True, **settings))
    finished = _load(out / "last_checkpoint.pt")
    assert not all(torch.equal(start[k], finished["embedder"][k]) for k in backbone)
    assert finished["head"] == {}  # triplet training has no classifier
    assert [e["frozen_backbone"] for e in finished["history"]] == [True, False]
    assert finished["history"][0]["margin"] is None
    assert json.loads((out / "config.json").read_text())["backbone_lr_mult"] == 0.1
    val = finished["history"][-1]["val"]  # closed set: val photos against the pets' training photos
    assert val["pairs"] == 400 and 0 <= val["accuracy"] <= 1


def test_torchrun_two_processes_write_what_one_process_writes(tiny, tmp_path):
    args = ["--data-dir", str(tiny), "--image-size", str(SIZE), "--epochs", "1", "--batch-size", "8",
            "--lr", "2e-3", "--val-pairs", "400", "--precise-bn-images", "32", "--device", "cpu", "--no-progress"]
    train(_config(tiny, tmp_path / "one", epochs=1, device="cpu"))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           "-m", "petface_edge.train", *args, "--output-dir", str(tmp_path / "two")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    one, two = tmp_path / "one", tmp_path / "two"
    assert sorted(p.name for p in two.iterdir()) == sorted(p.name for p in one.iterdir()) == FILES
    assert (one / "splits.json").read_text() == (two / "splits.json").read_text()
    config_one, config_two = (json.loads((d / "config.json").read_text()) for d in (one, two))
    assert {k: v for k, v in config_one.items() if k != "output_dir"} == \
        {k: v for k, v in config_two.items() if k != "output_dir"}
    run = json.loads((two / "history.json").read_text())["run"]
    assert (run["world_size"], run["batch_size_per_process"]) == (2, 4)
    assert proc.stdout.count("epoch 1/1 loss") == 1  # rank 0 reports, rank 1 stays silent
    load_embedder(two / "pet_embedder.pt")


def _messy_copy(tiny, root):
    """The tiny set plus what real folders hold: junk, corrupt and truncated files, odd image modes."""
    shutil.copytree(tiny, root)
    first = root / "pet_00000"
    (first / "notes.txt").write_text("vet visit")
    (first / "broken.jpg").write_bytes(b"\xff\xd8\xff not really")
    whole = (first / "000.jpg").read_bytes()
    (first / "cut.JPG").write_bytes(whole[: len(whole) // 2])
    Image.open(first / "001.jpg").convert("CMYK").save(first / "cmyk.jpeg")
    Image.open(first / "002.jpg").convert("P").save(first / "palette.PNG")
    return root


def _cli(capsys, *args):
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    captured = capsys.readouterr()
    return exc.value.code, captured.out, captured.err


def test_cli_trains_through_bad_files_and_guards_the_output_dir(tiny, tmp_path, capsys):
    data = _messy_copy(tiny, tmp_path / "data")
    out = tmp_path / "run"
    flags = ["--data-dir", data, "--output-dir", out, "--image-size", SIZE, "--epochs", 1, "--batch-size", 8,
             "--val-pairs", 200, "--precise-bn-images", 16]
    assert main([str(a) for a in flags]) == 0
    printed = capsys.readouterr().out
    assert "skipped 2 unreadable image files" in printed and "ignored 1 files that are not images" in printed
    assert "epoch 1/1 step 1/" in printed  # not a terminal: plain progress lines, no bar
    log = (out / "train.log").read_text()
    assert "broken.jpg" in log and "cut.JPG" in log
    used = [rel for items in load_splits(out / "splits.json").values() for rel, _ in items]
    assert "pet_00000/cmyk.jpeg" in used and "pet_00000/palette.PNG" in used
    assert not any(r.endswith(("broken.jpg", "cut.JPG", "notes.txt")) for r in used)

    code, _, err = _cli(capsys, *flags)
    assert code == 2 and "holds another training run" in err and len(err.strip().splitlines()) == 1
    code, _, err = _cli(capsys, *flags, "--resume", "--lr", "0.5")
    assert code == 2 and "settings differ" in err and "lr" in err
    code, _, err = _cli(capsys, *flags, "--resume")
    assert code == 2 and "already finished 1 epochs" in err
    assert main([str(a) for a in flags + ["--overwrite", "--precise-bn-images", 0]]) == 0
    assert json.loads((out / "config.json").read_text())["precise_bn_images"] == 0


@pytest.mark.parametrize("case,match", [
    ("missing", "no such data directory"),
    ("empty", "no images found"),
    ("singletons", "no identity has at least 2 images"),
    ("resume", "no last_checkpoint.pt to resume from"),
    ("big batch", "do not fill one batch"),
    ("init", "init_from: .* not a readable"),
    ("weights", "pretrained weights not found"),
    ("flag", "argument --epochs: invalid int value"),
])
def test_cli_bad_input_is_one_line(tiny, tmp_path, capsys, case, match):
    data, extra = tiny, []
    if case == "missing":
        data = tmp_path / "nowhere"
    elif case == "empty":
        data = tmp_path / "empty"
        data.mkdir()
    elif case == "singletons":
        data = tmp_path / "singles"
        for folder in sorted(tiny.iterdir()):
            (data / folder.name).mkdir(parents=True)
            shutil.copy(folder / "000.jpg", data / folder.name)
    elif case == "resume":
        extra = ["--resume"]
    elif case == "big batch":
        extra = ["--batch-size", "64"]
    elif case == "init":
        (tmp_path / "x.pt").write_bytes(b"not a checkpoint")
        extra = ["--init-from", tmp_path / "x.pt"]
    elif case == "weights":
        extra = ["--backbone", "mobilenetv3_small_100", "--pretrained-weights", tmp_path / "none.pth"]
    elif case == "flag":
        extra = ["--epochs", "many"]
    code, _, err = _cli(capsys, "--data-dir", data, "--output-dir", tmp_path / "out", "--image-size", SIZE,
                        "--epochs", 1, *extra)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("petface-train: error: ") and "Traceback" not in err
    assert __import__("re").search(match, lines[0]), lines[0]


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cli_cuda_without_gpu(tiny, tmp_path, capsys):
    code, _, err = _cli(capsys, "--data-dir", tiny, "--output-dir", tmp_path / "o", "--device", "cuda")
    assert code == 2 and "no CUDA GPU" in err
