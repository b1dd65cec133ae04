"""GPU latency when a CUDA device is present: PyTorch eager FP32/FP16 (channels-last) and onnxruntime's CUDA provider.

Batch 1 is the design document's latency figure (2.56 ms batch-1 GPU latency); the large
batch gives throughput. Without a GPU (or without onnxruntime-gpu) each case is skipped,
and the table says why.
"""

from __future__ import annotations

import numpy as np
import pytest

from petface_edge.runtime.backends import open_backend
from petface_edge.runtime.contract import from_output_tensor, to_input_tensor

from .conftest import Bench, Model
from .exports import checkpoint_of
from .report import LatencyRow, format_parity
from .timing import measure

CUDA_BATCHES = (1, 8, 256)


def _skip(bench: Bench, model: Model, artifact: str, fmt: str, precision: str, runtime: str, why: str) -> None:
    if not any(r.artifact == artifact and r.status == f"skipped: {why}" for r in bench.results.latency):
        bench.results.latency.append(LatencyRow(model.name, artifact, fmt, precision, runtime, f"skipped: {why}",
                                                0, 0, device="cuda"))
    pytest.skip(why)


def _batch(model: Model, batch: int) -> np.ndarray:
    return model.pixels[np.arange(batch) % len(model.pixels)]


@pytest.mark.parametrize("batch", CUDA_BATCHES)
@pytest.mark.parametrize("precision", ("fp32", "fp16"))
def test_cuda_torch_eager(benchmark, bench: Bench, demo: Model, precision: str, batch: int) -> None:
    import torch

    from petface_edge.models import load_embedder

    fmt, runtime, artifact = "pytorch eager, channels-last", "torch CUDA", f"pytorch-{precision}"
    if not torch.cuda.is_available():
        _skip(bench, demo, artifact, fmt, precision, runtime, "no CUDA GPU (torch.cuda.is_available() is False)")
    checkpoint = checkpoint_of(demo.manifest)
    if checkpoint is None:
        _skip(bench, demo, artifact, fmt, precision, runtime, f"no pet_embedder.pt found for {demo.manifest.directory}")
    dtype = torch.float16 if precision == "fp16" else torch.float32
    reference = load_embedder(checkpoint)
    net = load_embedder(checkpoint).cuda().to(memory_format=torch.channels_last).to(dtype)
    pixels = torch.from_numpy(_batch(demo, batch)).permute(0, 3, 1, 2).float()
    x = pixels.cuda().to(dtype).contiguous(memory_format=torch.channels_last)

    def run() -> torch.Tensor:
        with torch.inference_mode():
            y = net(x)
        torch.cuda.synchronize()
        return y

    benchmark.group = f"{demo.name} CUDA batch={batch}"
    benchmark.extra_info.update(model=demo.name, artifact=artifact, batch=batch, gpu=torch.cuda.get_device_name(0))
    timing = measure(benchmark, run, bench.mode)
    with torch.inference_mode():
        expected = reference(pixels[:1]).numpy()
    got = run()[:1].float().cpu().numpy()
    cosine = float((got * expected).sum() / np.linalg.norm(got) / np.linalg.norm(expected))
    assert cosine > (0.999 if precision == "fp16" else 0.9999), f"CUDA {precision} cosine to CPU FP32: {cosine}"
    bench.results.latency.append(LatencyRow(demo.name, artifact, fmt, precision, runtime, f"cos {cosine:.5f} to CPU",
                                            0, batch, macs=demo.macs, timing=timing, device="cuda"))


@pytest.mark.parametrize("batch", CUDA_BATCHES)
@pytest.mark.parametrize("artifact_id", ("onnx-fp32", "onnx-fp16"))
def test_cuda_onnxruntime(benchmark, bench: Bench, demo: Model, artifact_id: str, batch: int) -> None:
    import onnxruntime as ort

    precision, runtime = artifact_id.split("-", 1)[1], "onnxruntime CUDA"
    providers = ort.get_available_providers()
    if "CUDAExecutionProvider" not in providers:
        _skip(bench, demo, artifact_id, "onnx", precision, runtime,
              f"onnxruntime-gpu not installed (providers: {', '.join(providers)})")
    artifact = next((a for a in demo.manifest.artifacts if a.id == artifact_id), None)
    if artifact is None:
        pytest.skip(f"{demo.name} {artifact_id}: not exported")
    backend = open_backend(demo.manifest.path_of(artifact), device="cuda")
    x = to_input_tensor(_batch(demo, batch), artifact.input)
    benchmark.group = f"{demo.name} CUDA batch={batch}"
    benchmark.extra_info.update(model=demo.name, artifact=artifact_id, batch=batch)
    timing = measure(benchmark, lambda: backend.run(x), bench.mode)
    assert np.isfinite(from_output_tensor(backend.run(x), artifact.output)).all()
    bench.results.latency.append(LatencyRow(demo.name, artifact_id, "onnx", precision, runtime, artifact.status, 0,
                                            batch, size_bytes=artifact.bytes, parity=format_parity(artifact.parity),
                                            macs=demo.macs, timing=timing, device="cuda"))
