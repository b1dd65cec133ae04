"""petface-eval and petface-compare end to end: checkpoint vs ONNX, trained vs untrained, bad input."""

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from petface_edge.evaluation import cli, compare
from petface_edge.evaluation.degradations import PROBES, occlusion
from petface_edge.evaluation.openset import ROUNDS
from petface_edge.evaluation.plots import det_curve

# Small enough for the test budget, large enough for the synthetic test split (6 identities x 6 images).
FAST = ["--no-progress", "--pairs", "4000", "--triplets", "2000"]


def run_eval(*args) -> dict:
    assert cli.main(FAST + [str(a) for a in args]) == 0  # later flags override FAST
    out = args[list(args).index("--output-dir") + 1]
    return json.loads((out / "results.json").read_text())


def run_failing(main, capsys, *args) -> str:
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    return err


@pytest.fixture(scope="module")
def checkpoint_eval(trained, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval_checkpoint")
    results = run_eval("--model", trained.checkpoint, "--data-dir", trained.data, "--output-dir", out,
                       "--robustness-images", "0", "--no-plots")
    return out, results


@pytest.fixture(scope="module")
def unseen_pets(tmp_path_factory):
    """30 synthetic pets no model has seen (another seed), 6 images each.

    The pipeline's test split holds only 6 identities: Recall@10 saturates (over 90% even for
    random weights), so "trained beats untrained" is measured on this larger held-out set.
    """
    from petface_edge.synth import generate

    return generate(tmp_path_factory.mktemp("unseen") / "data", 30, 6, 112, seed=7, overwrite=True)


def _eval_on_unseen(model, data, out) -> tuple:
    return out, run_eval("--model", model, "--data-dir", data, "--split", "all", "--output-dir", out,
                         "--robustness-images", "0", "--no-plots", "--pairs", "50000")


@pytest.fixture(scope="module")
def trained_unseen(trained, unseen_pets, tmp_path_factory):
    return _eval_on_unseen(trained.checkpoint, unseen_pets, tmp_path_factory.mktemp("trained_unseen"))


@pytest.fixture(scope="module")
def untrained_unseen(unseen_pets, tmp_path_factory):
    import torch

    from petface_edge.models import create_embedder, save_embedder

    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("untrained")
    model = save_embedder(create_embedder("mobilefacenet", image_size=112), root / "pet_embedder.pt")
    return _eval_on_unseen(model, unseen_pets, root / "eval")


def test_checkpoint_and_onnx_export_agree(checkpoint_eval, exported, tmp_path):
    _, torch_results = checkpoint_eval
    out = tmp_path / "onnx"
    onnx = run_eval("--model", exported.export, "--backend", "onnx-fp32", "--splits", exported.splits,
                    "--data-dir", exported.data, "--output-dir", out, "--robustness-images", "6")
    assert onnx["model"]["artifact"] == "onnx-fp32" and onnx["model"]["runtime"] == "onnxruntime"
    assert torch_results["model"]["kind"] == "pytorch"
    assert onnx["data"]["image_list_sha256"] == torch_results["data"]["image_list_sha256"]
    # The export's fingerprint is the checkpoint's hash: the two runs measured the same weights.
    assert onnx["model"]["fingerprint"] == torch_results["model"]["fingerprint"]
    points = 100 * abs(onnx["retrieval"]["recall@1"] - torch_results["retrieval"]["recall@1"])
    assert points <= 0.1
    assert onnx["pairs"]["roc_auc"] == pytest.approx(torch_results["pairs"]["roc_auc"], abs=2e-3)
    # The full output: every plot, every probe, the overfitting check on equally shaped samples.
    for name in ("nearest_neighbors.png", "similarity_distribution.png", "roc_curve.png", "robustness.png"):
        with Image.open(out / name) as img:
            assert img.format == "PNG" and min(img.size) > 200
    assert set(onnx["robustness"]["probes"]) == set(PROBES) and onnx["robustness"]["images"] == 6
    over = onnx["overfitting"]
    assert over["identities"] >= 2 and over["images_per_identity"] >= 2


def test_trained_beats_untrained_on_every_retrieval_and_ranking_metric(trained_unseen, untrained_unseen, tmp_path):
    trained, untrained = trained_unseen[1], untrained_unseen[1]
    assert trained["pairs"]["negatives"] > 10_000  # every pair of the 180 images: FAR 1e-4 is resolved
    higher = [("retrieval", k) for k in ("recall@1", "recall@5", "recall@10", "mrr", "ndcg@10")]
    higher += [("pairs", "roc_auc"), ("pairs", "best_accuracy"), ("triplets", "mean_margin")]
    for section, key in higher:
        assert trained[section][key] > untrained[section][key], (section, key)
    assert trained["pairs"]["eer"] < untrained["pairs"]["eer"]
    assert trained["triplets"]["violation_rate"] < untrained["triplets"]["violation_rate"]
    far = trained["pairs"]["far"], untrained["pairs"]["far"]
    assert far[0]["1e-02"]["tar"] > far[1]["1e-02"]["tar"]
    # The low-FAR tail of a 4-epoch model rests on a handful of pairs: never worse, not necessarily above 0.
    assert far[0]["1e-03"]["tar"] >= far[1]["1e-03"]["tar"] and far[0]["1e-04"]["tar"] >= far[1]["1e-04"]["tar"]
    # Open set: 30 pets hold a 10-pet gallery (20 pets left as strangers), not 100 or 1000.
    opened, closed = trained["open_set"], untrained["open_set"]
    assert opened["gallery_sizes"] == [10] and opened["skipped_sizes"] == [100, 1000]
    ten, ten_untrained = opened["by_size"]["10"], closed["by_size"]["10"]
    assert ten["stranger_queries"] == ROUNDS * 20 * 6 and ten["mated_queries"] == ROUNDS * 10 * 4
    assert ten["templates"] == 20
    assert ten["rank1"] > ten_untrained["rank1"] and ten["rank1"] <= ten["rank5"]
    assert ten["fnir_at_fpir"]["1e-1"]["fnir"] <= ten_untrained["fnir_at_fpir"]["1e-1"]["fnir"]
    for point in ten["fnir_at_fpir"].values():  # a measured threshold meets its FPIR on the strangers
        assert point["achieved_fpir"] <= float(next(k for k, v in ten["fnir_at_fpir"].items() if v is point))
    assert ten["fnir_at_fpir"]["1e-3"]["resolved"]  # 12,000 stranger queries resolve 1e-3
    det = ten["det"]
    assert det["fpir"] == sorted(det["fpir"], reverse=True) and det["fnir"] == sorted(det["fnir"])
    with Image.open(det_curve(tmp_path / "det.png", opened)) as img:
        assert img.format == "PNG" and min(img.size) > 200


def test_compare_writes_side_by_side_table_with_deltas(trained_unseen, untrained_unseen, tmp_path, capsys):
    out = tmp_path / "comparison.md"
    assert compare.main(["--models", f"trained:{trained_unseen[0]}", f"untrained:{untrained_unseen[0]}",
                         "--output", str(out)]) == 0
    table = out.read_text()
    trained, untrained = trained_unseen[1], untrained_unseen[1]
    row = next(line for line in table.splitlines() if line.startswith("| Recall@1 |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    delta = 100 * (untrained["retrieval"]["recall@1"] - trained["retrieval"]["recall@1"])
    assert cells == ["Recall@1", f"**{100 * trained['retrieval']['recall@1']:.1f}%**",
                     f"{100 * untrained['retrieval']['recall@1']:.1f}%", f"{delta:+.1f} pts"]
    assert "| Metric | trained | untrained | Δ vs trained |" in table
    assert "TAR @ FAR 1e-03" in table and "## Robustness" not in table  # robustness was skipped in both
    assert "| 10 pets: FNIR @ FPIR 1e-2 |" in table and "100 pets:" not in table  # only the sizes measured
    err = run_failing(compare.main, capsys, "--models", "trained-no-colon")
    assert "expected NAME:EVAL_DIR" in err
    err = run_failing(compare.main, capsys, "--models", f"x:{tmp_path / 'nowhere'}")
    assert "no results.json" in err


def test_embeddings_are_cached_per_model_split_and_tta(checkpoint_eval, trained, tmp_path):
    out = tmp_path / "eval"
    shutil.copytree(checkpoint_eval[0], out)  # the module's results stay as they are
    first = checkpoint_eval[1]
    assert first["cache"]["misses"] >= 1
    again = run_eval("--model", trained.checkpoint, "--data-dir", trained.data, "--output-dir", out,
                     "--robustness-images", "0", "--no-plots")
    assert again["cache"] == {"hits": first["cache"]["misses"], "misses": 0}
    assert again["retrieval"] == first["retrieval"]
    tta = run_eval("--model", trained.checkpoint, "--data-dir", trained.data, "--output-dir", out,
                   "--robustness-images", "0", "--no-plots", "--tta", "--max-images", "12")
    assert tta["cache"] == {"hits": 0, "misses": 2} and tta["settings"]["tta"]  # the split and the train sample
    assert tta["data"]["images"] == 12 and tta["data"]["identities"] == 2  # whole identities


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """4 identities x 3 images at 64 px (below the 112 input), a singleton and a corrupt file; untrained model."""
    from petface_edge.models import create_embedder, save_embedder
    from petface_edge.synth import generate

    root = tmp_path_factory.mktemp("small")
    data = root / "data"
    generate(data, 5, 3, 64, seed=3, overwrite=True)
    singleton = sorted(data.iterdir())[-1]
    for extra in sorted(singleton.iterdir())[1:]:
        extra.unlink()
    (sorted(data.iterdir())[0] / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    model = save_embedder(create_embedder("mobilefacenet", image_size=112), root / "pet_embedder.pt")
    return root, data, model


def test_singletons_unreadable_and_upscaled_images_are_counted(small, capsys):
    root, data, model = small
    results = run_eval("--model", model, "--data-dir", data, "--output-dir", root / "eval", "--split", "all",
                       "--robustness-images", "3", "--no-plots")
    d = results["data"]
    assert (d["images"], d["identities"], d["single_image_identities"]) == (13, 5, 1)
    assert results["retrieval"]["queries"] == 12 and results["retrieval"]["distractors"] == 1
    assert d["upscaled_images"] == 13
    err = capsys.readouterr().err
    assert "1 of 14 images of split 'all' unreadable" in err and "broken.jpg" in err
    assert "1 identity has a single image" in err and "13 of 13 images are smaller" in err
    assert results["overfitting"] == {"skipped": "the evaluated split (all) is not a held-out split"}


def test_bad_input_gives_one_line_errors(small, tmp_path, capsys):
    root, data, model = small
    base = ["--data-dir", data, "--output-dir", tmp_path / "o"]
    err = run_failing(cli.main, capsys, "--model", model, *base, "--split", "all", "--image-size", "224")
    assert "model input is 112x112, but --image-size 224" in err
    weird = tmp_path / "model.h5"
    weird.write_bytes(b"\x89HDF")
    err = run_failing(cli.main, capsys, "--model", weird, *base, "--split", "all")
    assert "unknown model type '.h5'" in err
    err = run_failing(cli.main, capsys, "--model", tmp_path / "missing.pt", *base, "--split", "all")
    assert "missing.pt" in err
    err = run_failing(cli.main, capsys, "--model", model, "--data-dir", tmp_path / "none", "--output-dir",
                      tmp_path / "o", "--split", "all")
    assert "no such dataset folder" in err
    err = run_failing(cli.main, capsys, "--model", model, *base)  # no splits.json beside the model
    assert "pass --splits" in err

    one = tmp_path / "one"
    shutil.copytree(sorted(data.iterdir())[1], one / "pet_a")
    err = run_failing(cli.main, capsys, "--model", model, "--data-dir", one, "--output-dir", tmp_path / "o",
                      "--split", "all")
    assert "has 1 identity" in err and "at least 2" in err

    splits = tmp_path / "splits.json"
    items = [[p.relative_to(data).as_posix(), p.parent.name] for p in sorted(data.glob("pet_0000[01]/*.jpg"))]
    splits.write_text(json.dumps({"splits": {"train": items, "val": items[:3], "test": items[:3]}}))
    err = run_failing(cli.main, capsys, "--model", model, *base, "--splits", splits)
    assert "split 'test'" in err and "has 1 identity" in err
    splits.write_text("{not json")
    err = run_failing(cli.main, capsys, "--model", model, *base, "--splits", splits)
    assert "splits.json" in err
    err = run_failing(cli.main, capsys, "--model", model, *base, "--max-images", "0")
    assert "--max-images" in err


def test_probes_are_deterministic_and_of_the_stated_strength():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (112, 112, 3), dtype=np.uint8)
    occluded = occlusion(pixels, 0)
    assert (occluded == 0).all(axis=2).mean() == pytest.approx(0.25, abs=0.01)
    assert (occluded[:28] == pixels[:28]).all()  # outside the centre untouched
    for name, (probe, _) in PROBES.items():
        a, b = probe(pixels, 5), probe(pixels, 5)
        assert a.shape == pixels.shape and a.dtype == np.uint8
        np.testing.assert_array_equal(a, b, err_msg=name)
        assert not np.array_equal(a, pixels), name
    noise = PROBES["gaussian_noise"][0]
    assert not np.array_equal(noise(pixels, 1), noise(pixels, 2))
    grey = np.full((64, 64, 3), 128, np.uint8)
    assert np.std(noise(grey, 0).astype(float) - 128) == pytest.approx(0.05 * 255, rel=0.05)
    assert (PROBES["brightness"][0](grey, 0) == 192).all()


def test_splits_are_found_beside_the_checkpoint_or_through_the_export_manifest(tmp_path):
    from petface_edge.evaluation.dataset import find_splits
    from petface_edge.runtime.manifest import Manifest

    run, export = tmp_path / "run", tmp_path / "export"
    run.mkdir()
    export.mkdir()
    (run / "splits.json").write_text("{}")
    assert find_splits(run / "pet_embedder.pt") == run / "splits.json"
    assert find_splits(export) is None
    Manifest(model={"checkpoint": str(run / "pet_embedder.pt")}).save(export / "manifest.json")
    assert find_splits(export) == run / "splits.json"
    assert find_splits(export / "pet_embedder_fp32.onnx") == run / "splits.json"
