"""Training building blocks: settings, augmentation, schedules, triplet mining, validation metrics."""

import io
import itertools
import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from petface_edge.data import load_splits
from petface_edge.models import load_embedder
from petface_edge.train import ConfigError, TrainConfig
from petface_edge.train.augment import AugmentConfig, _affine, augment, train_pixels
from petface_edge.train.cli import settings
from petface_edge.train.datasets import PKBatchSampler
from petface_edge.train.losses import (
    batch_all,
    batch_hard,
    batch_semihard,
    global_orthogonal_regularization,
    pairwise_distances,
    triplet_loss,
)
from petface_edge.train.progress import Reporter
from petface_edge.train.schedule import WarmupCosine, arcface_margin
from petface_edge.train.validation import verification_metrics, verification_pairs

# ---------------------------------------------------------------- settings


def test_backbone_dependent_defaults(tmp_path):
    mfn = TrainConfig(tmp_path, tmp_path / "o").resolved()
    assert (mfn.image_size, mfn.epochs, mfn.lr, mfn.backbone_lr_mult, mfn.warmup_epochs) == (112, 60, 1e-3, 1.0, 5.0)
    mnv3 = TrainConfig(tmp_path, tmp_path / "o", backbone="mobilenetv3_small_100",
                       pretrained_weights="w.pth").resolved()
    assert (mnv3.image_size, mnv3.epochs, mnv3.lr, mnv3.backbone_lr_mult) == (224, 40, 5e-4, 0.1)
    short = TrainConfig(tmp_path, tmp_path / "o", epochs=4).resolved()
    assert short.warmup_epochs == 0.5  # scaled down for short runs


@pytest.mark.parametrize("kwargs,match", [
    ({"backbone": "resnet50"}, "unknown backbone"),
    ({"loss": "softmax"}, "unknown loss"),
    ({"epochs": 0}, "epochs must be at least 1"),
    ({"lr": -1}, "lr must be positive"),
    ({"epochs": 3, "freeze_backbone_epochs": 3}, "never train"),
    ({"pretrained_weights": "w.pth"}, "init_from"),
    ({"resume": True, "overwrite": True}, "exclude each other"),
    ({"batch_size": "many"}, "batch_size must be an integer"),
    ({"epochs": 4, "stop_after": 5}, "stop_after must be within"),
])
def test_bad_settings_name_the_setting(tmp_path, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        TrainConfig(tmp_path, tmp_path / "o", **kwargs).resolved()


def test_settings_precedence_file_then_flags(tmp_path):
    cfg_file = tmp_path / "run.yaml"
    # YAML reads 1e-3 as a string; the setting is still a number.
    cfg_file.write_text("data-dir: data\noutput_dir: out\nlr: 1e-3\nepochs: 7\nloss: triplet\nprogress: false\n")
    cfg = settings(["--config", str(cfg_file), "--epochs", "9"])
    assert (cfg.lr, cfg.epochs, cfg.loss, cfg.progress, cfg.data_dir) == (1e-3, 9, "triplet", False, Path("data"))
    (tmp_path / "bad.yaml").write_text("lr: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        settings(["--config", str(tmp_path / "bad.yaml")])
    (tmp_path / "unknown.json").write_text(json.dumps({"data_dir": "d", "output_dir": "o", "learning_rate": 1}))
    with pytest.raises(ConfigError, match="unknown setting 'learning_rate'"):
        settings(["--config", str(tmp_path / "unknown.json")])
    with pytest.raises(ConfigError, match="required"):
        settings(["--epochs", "3"])


def test_resume_starts_from_the_saved_settings(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    saved = TrainConfig("data", out, epochs=12, lr=3e-3, batch_size=16).resolved().to_json()
    (out / "config.json").write_text(json.dumps(saved))
    cfg = settings(["--output-dir", str(out), "--resume", "--epochs", "20"])
    assert (cfg.lr, cfg.batch_size, cfg.epochs, cfg.resume, cfg.data_dir) == (3e-3, 16, 20, True, Path("data"))
    assert TrainConfig.from_mapping(saved).resolved().to_json() == saved  # config.json re-runs as --config


# ---------------------------------------------------------------- augmentation


def _image(w=96, h=72, seed=0):
    return Image.fromarray(np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8))


def test_augmentation_is_a_function_of_its_seed():
    img = _image()
    a = train_pixels(img, 48, np.random.default_rng([42, 0, 5, 0]))
    b = train_pixels(img, 48, np.random.default_rng([42, 0, 5, 0]))
    c = train_pixels(img, 48, np.random.default_rng([42, 1, 5, 0]))
    assert a.shape == (48, 48, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


PROBABILITIES = [f for f in AugmentConfig.__dataclass_fields__ if f.endswith("_p")]


@pytest.mark.parametrize("only", PROBABILITIES)
def test_each_augmentation_changes_the_image_and_keeps_its_size(only):
    cfg = AugmentConfig(**{f: float(f == only) for f in PROBABILITIES})
    img = _image(90, 60)
    out = augment(img, np.random.default_rng(3), cfg)
    arr = np.asarray(out)
    assert out.size == img.size and out.mode == "RGB"
    assert not np.array_equal(arr, np.asarray(img))
    if only == "grayscale_p":
        assert np.array_equal(arr[..., 0], arr[..., 1]) and np.array_equal(arr[..., 1], arr[..., 2])
    if only == "dropout_p":
        assert (arr == 0).all(axis=2).any()


def test_all_augmentations_at_once_and_none():
    img = _image(90, 60)
    always = AugmentConfig(**{f: 1.0 for f in PROBABILITIES})
    assert augment(img, np.random.default_rng(1), always).size == img.size
    never = AugmentConfig(**{f: 0.0 for f in PROBABILITIES})
    np.testing.assert_array_equal(np.asarray(augment(img, np.random.default_rng(1), never)), np.asarray(img))


def test_affine_rotates_about_the_centre_with_mirrored_borders():
    img = _image(32, 32)
    np.testing.assert_array_equal(np.asarray(_affine(img, 0, 1.0, (0.0, 0.0))), np.asarray(img))
    turned = np.asarray(_affine(img, 90, 1.0, (0.0, 0.0))).astype(int)
    assert np.abs(turned - np.rot90(np.asarray(img), -1)).max() <= 1
    shrunk = np.asarray(_affine(img, 0, 0.8, (0.0, 0.0)))
    assert (shrunk.sum(axis=2) > 0).all()  # no black border: reflected content fills it


def test_large_photos_are_reduced_before_augmenting():
    out = train_pixels(_image(1600, 1200), 32, np.random.default_rng(0))
    assert out.shape == (32, 32, 3)


# ---------------------------------------------------------------- schedules


def test_warmup_then_cosine_to_min_lr():
    f = WarmupCosine(total_steps=100, warmup_steps=10, base_lr=1e-3, min_lr=1e-6)
    assert [f(s) for s in range(10)] == pytest.approx([(s + 1) / 10 for s in range(10)])
    values = [f(s) for s in range(10, 100)]
    assert all(a >= b for a, b in zip(values, values[1:]))
    assert f(99) == pytest.approx(1e-3)  # min_lr / base_lr
    assert f(54) == pytest.approx(0.5 * (1 + 1e-3), rel=0.02)  # half-way down the cosine


def test_margin_warms_up_over_the_first_third():
    assert arcface_margin(0, 90, 0.4, 1 / 3) == 0.0
    assert arcface_margin(15, 90, 0.4, 1 / 3) == pytest.approx(0.2)
    assert arcface_margin(30, 90, 0.4, 1 / 3) == pytest.approx(0.4)
    assert arcface_margin(80, 90, 0.4, 1 / 3) == pytest.approx(0.4)
    assert arcface_margin(0, 90, 0.4, 0.0) == 0.4


# ---------------------------------------------------------------- triplet mining


def _batch(seed=0, p=4, k=3, dim=8):
    g = torch.Generator().manual_seed(seed)
    emb = torch.nn.functional.normalize(torch.randn(p * k, dim, generator=g), dim=1)
    labels = torch.arange(p).repeat_interleave(k)
    return emb, labels


def _triplets(labels):
    n = len(labels)
    for a, p, q in itertools.product(range(n), repeat=3):
        if a != p and labels[a] == labels[p] and labels[a] != labels[q]:
            yield a, p, q


def test_batch_all_matches_brute_force():
    emb, labels = _batch()
    d = torch.cdist(emb, emb)
    losses = [max(0.0, float(d[a, p] - d[a, n] + 0.5)) for a, p, n in _triplets(labels.tolist())]
    expected = sum(losses) / sum(v > 1e-16 for v in losses)
    assert batch_all(pairwise_distances(emb), labels, 0.5).item() == pytest.approx(expected, rel=1e-4)


def test_batch_hard_matches_brute_force():
    emb, labels = _batch(1)
    d, lab = torch.cdist(emb, emb), labels.tolist()
    expected = np.mean([max(0.0, max(float(d[a, p]) for p in range(len(lab)) if p != a and lab[p] == lab[a])
                            - min(float(d[a, n]) for n in range(len(lab)) if lab[n] != lab[a]) + 0.3)
                        for a in range(len(lab))])
    assert batch_hard(pairwise_distances(emb), labels, 0.3).item() == pytest.approx(expected, rel=1e-4)


def test_batch_semihard_matches_brute_force():
    emb, labels = _batch(2)
    d, lab = torch.cdist(emb, emb), labels.tolist()
    losses = []
    for a in range(len(lab)):
        for p in range(len(lab)):
            if p == a or lab[p] != lab[a]:
                continue
            negs = [float(d[a, n]) for n in range(len(lab)) if lab[n] != lab[a]]
            farther = [v for v in negs if v > float(d[a, p])]
            chosen = min(farther) if farther else max(negs)
            losses.append(max(0.0, float(d[a, p]) - chosen + 0.3))
    assert batch_semihard(pairwise_distances(emb), labels, 0.3).item() == pytest.approx(np.mean(losses), rel=1e-4)


def test_gor_and_gradients():
    emb, labels = _batch(3)
    dots = [float(emb[i] @ emb[j]) for i in range(len(labels)) for j in range(len(labels)) if labels[i] != labels[j]]
    m1, m2 = np.mean(dots), np.mean(np.square(dots))
    expected = m1 ** 2 + max(0.0, m2 - 1 / emb.shape[1])
    assert global_orthogonal_regularization(emb, labels).item() == pytest.approx(expected, rel=1e-4)
    for mining in ("all", "hard", "semihard"):
        x = emb.clone().requires_grad_()
        triplet_loss(x, labels, mining, 0.3, gor_weight=1.0).backward()
        assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_pk_batches_split_among_processes():
    labels = [i // 3 for i in range(30)] + [10, 11, 11, 11, 11, 11]  # one identity has a single image
    one = PKBatchSampler(labels, p=3, k=4, seed=1)
    batches = list(one)
    assert len(batches) == len(one) == 4
    for batch in batches:
        ids = [labels[i] for i, _ in batch]
        assert len(batch) == 12 and all(ids.count(x) == 4 for x in set(ids)) and len(set(ids)) == 3
    slots = [s for batch in batches for _, s in batch]
    assert len(set(slots)) == len(slots)  # repeated images still get their own augmentation
    ranks = [list(PKBatchSampler(labels, 3, 4, seed=1, rank=r, world_size=2)) for r in range(2)]
    assert ranks[0] + ranks[1] != [] and sorted(map(str, ranks[0] + ranks[1])) == sorted(map(str, batches))
    one.set_epoch(1)
    assert list(one) != batches


# ---------------------------------------------------------------- validation


def test_verification_metrics_find_the_separating_threshold():
    same = np.array([True] * 50 + [False] * 50)
    sims = np.concatenate([np.linspace(0.45, 0.9, 50), np.linspace(-0.3, 0.3, 50)])
    m = verification_metrics(sims, same)
    assert m["accuracy"] == 1.0 and m["precision"] == 1.0 and m["recall"] == 1.0 and m["f1"] == 1.0
    assert 0.3 < m["threshold"] <= 0.45
    noisy = verification_metrics(np.zeros(100), same)  # no information: chance accuracy, ties to the stricter
    assert noisy["accuracy"] == 0.5 and noisy["threshold"] > 0 and noisy["recall"] == 0.0


def test_verification_pairs_identity_mode():
    query = [(Path(f"{i // 5}/{i}.jpg"), f"pet{i // 5}") for i in range(40)]  # 8 pets x 5
    pairs = verification_pairs(query, [], 5000, seed=42)
    labels = [query[[q[0] for q in query].index(p)][1] for p in pairs.paths]
    first, second = np.array(labels)[pairs.first], np.array(labels)[pairs.second]
    assert len(pairs) == 5000 and pairs.same.sum() == 2500
    assert ((first == second) == pairs.same).all()
    assert (pairs.first != pairs.second).all()
    again = verification_pairs(query, [], 5000, seed=42)
    assert (again.first == pairs.first).all() and again.paths == pairs.paths


def test_verification_pairs_image_mode_pairs_val_with_train():
    query = [(Path(f"v{i}.jpg"), f"pet{i}") for i in range(10)]  # one val image per pet
    reference = [(Path(f"t{i}_{j}.jpg"), f"pet{i}") for i in range(10) for j in range(3)]
    pairs = verification_pairs(query, reference, 200, seed=0)
    names = [p.name for p in pairs.paths]
    for a, b, same in zip(pairs.first, pairs.second, pairs.same):
        assert names[a].startswith("v")
        assert same == (names[a][1:].split(".")[0] == names[b][1:].split("_")[0].split(".")[0])
    with pytest.raises(ValueError, match="two images of one pet"):
        verification_pairs(query, [], 200, seed=0)


# ---------------------------------------------------------------- progress


class _Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("terminal", [True, False])
def test_progress_bar_on_a_terminal_plain_lines_otherwise(terminal):
    stream = _Terminal() if terminal else io.StringIO()
    reporter = Reporter(active=True, progress=True, stream=stream)
    epoch = reporter.epoch(1, 2, steps=8)
    for step in range(1, 9):
        if terminal and step == 8:
            time.sleep(0.15)  # tqdm redraws at most every 0.1 s
        epoch.update(step, 12.5, 3.25, 1e-3)
    epoch.close()
    text = stream.getvalue()
    if terminal:
        assert "epoch 1/2" in text and "img/s=12" in text and "loss=3.250" in text and "step" not in text
    else:
        assert text.splitlines() == [f"epoch 1/2 step {s}/8 loss 3.2500 lr 1.00e-03 12.5 img/s" for s in (2, 4, 6)]
    silent = io.StringIO()
    other_rank = Reporter(active=False, progress=True, stream=silent)
    other_rank.log("hello")
    assert silent.getvalue() == ""


# ---------------------------------------------------------------- the shared pipeline's run


def test_pipeline_model_is_usable(trained):
    """The shared fixture's run (60 pets x 6, 112 px, 4 epochs): the model tells pets apart."""
    history = json.loads((trained.run / "history.json").read_text())
    assert history["best"]["accuracy"] > 0.58  # chance is 0.5; this run reached 0.64 here
    model = load_embedder(trained.checkpoint)
    splits = load_splits(trained.splits)
    assert len(np.unique([label for _, label in splits["val"]])) >= 2 and model.image_size == 112
