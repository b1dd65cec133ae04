import math

import pytest
import torch

from petface_edge.models import (
    ArcFaceHead,
    CheckpointError,
    count_macs,
    count_parameters,
    create_embedder,
    load_embedder,
    save_embedder,
)


def test_mobilefacenet_112_matches_paper():
    model = create_embedder("mobilefacenet", image_size=112)
    assert count_parameters(model) == pytest.approx(1_003_136, rel=0.005)
    assert count_macs(model) == pytest.approx(221e6, rel=0.02)


def test_mobilefacenet_224_parameters():
    assert count_parameters(create_embedder("mobilefacenet", image_size=224)) == pytest.approx(1.08e6, rel=0.01)


def test_mobilenetv3_matches_design_document():
    # The design document's MobileNetV3-Small + GDConv embedder: 1,701,408 parameters.
    assert count_parameters(create_embedder("mobilenetv3_small_100", image_size=224)) == 1_701_408


@pytest.mark.parametrize(
    "name,size,kwargs",
    [("mobilefacenet", 112, {}), ("mobilefacenet", 224, {}), ("mobilenetv3_small_100", 224, {}),
     ("mobilenetv3_small_100", 224, {"head": "mlp"})],
)
@pytest.mark.parametrize("batch", [1, 3])
def test_embedders_return_unit_vectors(name, size, kwargs, batch):
    torch.manual_seed(0)
    model = create_embedder(name, image_size=size, **kwargs).eval()
    with torch.no_grad():
        y = model(torch.rand(batch, 3, size, size) * 255)
    assert y.shape == (batch, 128)
    assert torch.allclose(y.norm(dim=1), torch.ones(batch), atol=1e-5)


def test_embedding_dim_is_configurable():
    model = create_embedder("mobilefacenet", image_size=112, embedding_dim=64).eval()
    with torch.no_grad():
        assert model(torch.zeros(2, 3, 112, 112)).shape == (2, 64)


def test_unknown_embedder_and_bad_size():
    with pytest.raises(ValueError, match="unknown embedder"):
        create_embedder("resnet50")
    with pytest.raises(ValueError, match="divisible by 16"):
        create_embedder("mobilefacenet", image_size=100)


def test_backbone_weights_from_local_file_only(tmp_path):
    source = create_embedder("mobilenetv3_small_100")
    weights = tmp_path / "mnv3_imagenet.pth"
    torch.save(source.backbone.state_dict(), weights)
    model = create_embedder("mobilenetv3_small_100", pretrained_weights=str(weights))
    for a, b in zip(source.backbone.state_dict().values(), model.backbone.state_dict().values()):
        assert torch.equal(a, b)
    with pytest.raises(FileNotFoundError):
        create_embedder("mobilenetv3_small_100", pretrained_weights=str(tmp_path / "missing.pth"))


def test_checkpoint_round_trip(tmp_path):
    model = create_embedder("mobilefacenet", image_size=112).eval()
    path = save_embedder(model, tmp_path / "pet_embedder.pt", epoch=3)
    loaded = load_embedder(path)
    x = torch.rand(2, 3, 112, 112) * 255
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    assert not loaded.training


def test_checkpoint_rejects_foreign_files(tmp_path):
    foreign = tmp_path / "other.pt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(CheckpointError, match="not a petface embedder checkpoint"):
        load_embedder(foreign)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable"):
        load_embedder(garbage)


def test_arcface_margin_and_large_angles():
    head = ArcFaceHead(2, 2, scale=1.0, margin=0.5)
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    labels = torch.tensor([0])
    theta = 0.3
    emb = torch.tensor([[math.cos(theta), math.sin(theta)]])
    logits = head(emb, labels)
    assert logits[0, 0].item() == pytest.approx(math.cos(theta + 0.5), abs=1e-5)
    assert logits[0, 1].item() == pytest.approx(math.cos(math.pi / 2 - theta), abs=1e-5)
    # theta + m > pi: the target logit keeps decreasing with theta instead of wrapping around.
    thetas = [2.8, 2.9, 3.0, 3.1]
    targets = [head(torch.tensor([[math.cos(t), math.sin(t)]]), labels)[0, 0].item() for t in thetas]
    assert all(a > b for a, b in zip(targets, targets[1:]))
    head.margin = 0.0  # warm-up start: plain cosine logits
    assert head(emb, labels)[0, 0].item() == pytest.approx(math.cos(theta), abs=1e-5)
