"""Session fixtures over the shared pipeline (see tests/pipeline.py).

``PETFACE_PIPELINE_DIR`` (set by ``make test``) points at a pipeline built before
pytest starts; without it, the stages a test needs are built in a temporary folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.pipeline import Pipeline, build


@pytest.fixture(scope="session")
def pipeline_root(tmp_path_factory) -> Path:
    env = os.environ.get("PETFACE_PIPELINE_DIR")
    return Path(env) if env else tmp_path_factory.mktemp("pipeline")


@pytest.fixture(scope="session")
def synth_data(pipeline_root) -> Path:
    return build(pipeline_root, upto="data").data


@pytest.fixture(scope="session")
def trained(pipeline_root) -> Pipeline:
    """A MobileFaceNet-112 trained for a few epochs on the synthetic set (``.run``, ``.checkpoint``)."""
    return build(pipeline_root, upto="train")


@pytest.fixture(scope="session")
def exported(pipeline_root) -> Pipeline:
    """The trained model exported to every format, FP32/FP16/INT8 (``.export`` holds manifest.json)."""
    return build(pipeline_root, upto="export")


@pytest.fixture(scope="session")
def golden(pipeline_root) -> Pipeline:
    return build(pipeline_root, upto="golden")


@pytest.fixture(scope="session")
def untrained_checkpoint(tmp_path_factory) -> Path:
    """A MobileFaceNet-64 with random weights (no training run beside it): cheap exports of every failure path."""
    import torch

    from petface_edge.models import create_embedder, save_embedder

    torch.manual_seed(0)
    model = create_embedder("mobilefacenet", image_size=64)
    with torch.no_grad():  # a few train-mode batches give BatchNorm realistic running statistics
        for _ in range(3):
            model(torch.rand(8, 3, 64, 64) * 255)
    return save_embedder(model.eval(), tmp_path_factory.mktemp("untrained") / "pet_embedder.pt")
