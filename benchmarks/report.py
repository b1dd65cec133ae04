"""What a benchmark session measured, the ratios derived from it, and the markdown tables."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from .machine import Machine
from .timing import Timing

ALL = "all"  # the "all cores" thread setting, resolved to Machine.cores


@dataclass
class LatencyRow:
    model: str  # e.g. "mobilefacenet-112"
    artifact: str  # artifact id, or e.g. "pytorch-fp16" for eager runs
    format: str
    precision: str
    runtime: str
    status: str  # "ok", or why there is no figure
    threads: int
    batch: int
    size_bytes: int = 0
    parity: str = "-"
    macs: int = 0
    timing: Optional[Timing] = None
    device: str = "cpu"

    @property
    def ok(self) -> bool:
        return self.timing is not None

    @property
    def images_per_s(self) -> float:
        return self.batch / self.timing.median

    def macs_per_s(self) -> float:
        return self.macs * self.batch / self.timing.median


@dataclass
class GalleryRow:
    templates: int
    search: str  # "exact (...)" | "indexed (...)"
    timing: Optional[Timing]
    memory_bytes: int  # RSS the loaded gallery adds
    build_s: float  # enrolling pet by pet, index included
    recall_at_1: Optional[float] = None
    status: str = "ok"
    load_s: float = 0.0  # Gallery.load of the saved file
    auto: bool = False  # what search="auto" uses at this size
    float_bytes: int = 0  # the float32 templates' own size

    @property
    def indexed(self) -> bool:
        return self.search.startswith("indexed")


@dataclass
class Results:
    latency: list[LatencyRow] = field(default_factory=list)
    rss: dict[tuple[str, str], dict] = field(default_factory=dict)  # (model, artifact) -> {"peak", "before_load"}
    sdk: dict[tuple[str, str], Timing] = field(default_factory=dict)  # (artifact, case) -> timing, demo model
    gallery: list[GalleryRow] = field(default_factory=list)
    models: dict[str, str] = field(default_factory=dict)  # model -> how its weights were made
    notes: list[str] = field(default_factory=list)
    default_vs_best: str = ""  # "tflite-fp32 x2 / tflite-fp16 x2": what the default path chose, what was fastest

    def find(self, model: str, artifact: str, threads: int, batch: int) -> Optional[LatencyRow]:
        for row in self.latency:
            if (row.model, row.artifact, row.threads, row.batch) == (model, artifact, threads, batch) and row.ok:
                return row
        return None


@dataclass
class Ratio:
    name: str
    runtime: str
    threads: Optional[int]
    batch: Optional[int]
    value: float
    target: str = ""
    met: Optional[bool] = None


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3f}" if seconds < 0.01 else f"{seconds * 1e3:.2f}"


def _mb(n: float) -> str:
    return f"{n / 2**20:.1f}"


def _size(n: int) -> str:
    return f"{n / 1e6:.2f} MB" if n >= 1e6 else f"{n / 1e3:.0f} KB"


def format_parity(parity: dict) -> str:
    """The manifest's parity entry as "mean / min cosine" to the PyTorch reference, whatever its key names."""
    def pick(*words: str) -> Optional[float]:
        for key, value in parity.items():
            k = key.lower()
            if all(w in k for w in words) and isinstance(value, (int, float)):
                return float(value)
        return None

    mean, low = pick("cos", "mean"), pick("cos", "min")
    if mean is None and low is None:
        return "-"
    return " / ".join(f"{v:.5f}" if v is not None else "-" for v in (mean, low))


def ratios(results: Results, machine: Machine, demo: str, comparisons: dict[str, str]) -> list[Ratio]:
    """Every ratio the issue asks for, from figures of this run only.

    ``demo`` is the demo model's name; ``comparisons`` maps "mfn224"/"mnv3" to the comparison models' names.
    """
    out: list[Ratio] = []
    threads = sorted({1, machine.cores})
    formats = sorted({r.format for r in results.latency if r.model == demo and r.ok})
    # INT8 (and the other reduced precisions) against FP32 in the same runtime.
    for fmt in formats:
        for precision in ("int8", "dynamic-range", "fp16"):
            for t in threads:
                fp32 = results.find(demo, f"{fmt}-fp32", t, 1)
                low = results.find(demo, f"{fmt}-{precision}", t, 1)
                if fp32 and low:
                    target = "<= 1.0 in at least one runtime" if precision == "int8" else ""
                    out.append(Ratio(f"{precision.upper()} / FP32 latency", fp32.runtime, t, 1,
                                     low.timing.median / fp32.timing.median, target,
                                     low.timing.median <= fp32.timing.median if target else None))
    # ExecuTorch (XNNPACK delegate) against LiteRT (XNNPACK delegate), same precision: which edge runtime to ship.
    for precision in ("fp32", "int8"):
        for t in threads:
            et, lite = results.find(demo, f"executorch-{precision}", t, 1), results.find(demo, f"tflite-{precision}", t, 1)
            if et and lite:
                out.append(Ratio(f"ExecuTorch / LiteRT latency, {precision.upper()}", "executorch", t, 1,
                                 et.timing.median / lite.timing.median, "", None))
    # Input size and backbone, FP32, same runtime.
    for key, name, target in (("mfn224", "MobileFaceNet-112 / MobileFaceNet-224 latency", 0.30),
                              ("mnv3", "MobileFaceNet-112 / MobileNetV3-Small-224 latency", None)):
        other = comparisons.get(key)
        for fmt in formats:
            for t in threads:
                mine, theirs = results.find(demo, f"{fmt}-fp32", t, 1), results.find(other, f"{fmt}-fp32", t, 1)
                if mine and theirs:
                    value = mine.timing.median / theirs.timing.median
                    out.append(Ratio(name, mine.runtime, t, 1, value, f"<= {target:.2f}" if target else "",
                                     value <= target if target else None))
    # SDK overhead and preprocessing, batch 1 on all cores.
    for fmt in formats:
        artifact = f"{fmt}-fp32"
        raw = results.find(demo, artifact, machine.cores, 1)
        pixels, files, prep = (results.sdk.get((artifact, case)) for case in ("embed_pixels", "embed_file", "preprocess"))
        if raw and pixels:
            value = pixels.median / raw.timing.median
            out.append(Ratio("Embedder.embed / Backend.run, decoding excluded", raw.runtime, machine.cores, 1, value,
                             "<= 1.05", value <= 1.05))
        if raw and files:
            out.append(Ratio("Embedder.embed / Backend.run, decoding included", raw.runtime, machine.cores, 1,
                             files.median / raw.timing.median))
        if files and prep and raw:
            out.append(Ratio("preprocessing share of Embedder.embed(file)", raw.runtime, machine.cores, 1,
                             prep.median / files.median))
    # Distance to the machine's limit: the best artifact of any model against the same-thread SGEMM.
    for t in threads:
        rows = [r for r in results.latency if r.ok and r.device == "cpu" and r.threads == t and r.macs]
        if rows and t in machine.sgemm:
            best = max(rows, key=lambda r: r.macs_per_s())
            value = best.macs_per_s() / machine.sgemm[t]
            out.append(Ratio(f"best MAC/s / SGEMM MAC/s ({best.model} {best.artifact}, batch {best.batch})",
                             best.runtime, t, best.batch, value, ">= 0.50", value >= 0.5))
    # onnxruntime's own distance to the machine's limit (the target): FP32 demo model, 1 thread.
    ort = results.find(demo, "onnx-fp32", 1, 1)
    if ort and ort.macs and 1 in machine.sgemm:
        value = ort.macs_per_s() / machine.sgemm[1]
        out.append(Ratio("onnxruntime FP32 MAC/s / SGEMM MAC/s", ort.runtime, 1, 1, value, ">= 0.50", value >= 0.5))
    # The default path against the best pair measured in this run.
    default = results.sdk.get(("default", "embed_pixels"))
    best = results.sdk.get(("best", "embed_pixels"))
    if default and best:
        value = default.median / best.median
        out.append(Ratio("Embedder.open(export_dir) / fastest artifact and threads, Embedder.embed",
                         results.default_vs_best or "-", None, 1, value, "<= 1.10", value <= 1.1))
    out += gallery_ratios(results.gallery)
    return out


def gallery_ratios(rows: list[GalleryRow]) -> list[Ratio]:
    """Index against exact at each size (auto must never lose), and the 1M targets."""
    out = []
    by = {(g.templates, g.indexed): g for g in rows if g.timing is not None}
    for size in sorted({g.templates for g in rows}):
        exact, indexed = by.get((size, False)), by.get((size, True))
        if exact and indexed:
            auto = indexed if indexed.auto else exact
            value = auto.timing.median / exact.timing.median
            out.append(Ratio(f"search='auto' ({'indexed' if auto is indexed else 'exact'}) / exact p50, "
                             f"{size:,} templates", "numpy", None, None, value, "<= 1.0", value <= 1.0))
            out.append(Ratio(f"indexed / exact p50, {size:,} templates", "numpy", None, None,
                             indexed.timing.median / exact.timing.median))
        if indexed and size >= 1_000_000:
            p50 = indexed.timing.median * 1e3
            memory = indexed.memory_bytes / indexed.float_bytes
            out += [Ratio(f"indexed identify p50 ms, {size:,}", "numpy", None, None, p50, "<= 3", p50 <= 3),
                    Ratio(f"indexed recall@1 vs exact, {size:,}", "numpy", None, None, indexed.recall_at_1 or 0.0,
                          ">= 0.999", (indexed.recall_at_1 or 0.0) >= 0.999),
                    Ratio(f"Gallery.load s, {size:,}", "numpy", None, None, indexed.load_s, "<= 5",
                          indexed.load_s <= 5),
                    Ratio(f"loaded gallery RSS / float32 template bytes, {size:,}", "numpy", None, None, memory,
                          "<= 1.5", memory <= 1.5)]
    return out


    return out


def latency_table(results: Results, machine: Machine) -> list[str]:
    lines = [
        "| Model | Format | Precision | Runtime | Status | Size | Parity (mean / min cos) | Threads | Batch "
        "| median ms | p90 ms | images/s | MAC/s % of SGEMM | RSS MB (before load) |",
        "|---|---|---|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    seen_skips: set[tuple[str, str, str]] = set()
    for r in sorted(results.latency, key=lambda r: r.device != "cpu"):  # CPU first, otherwise in run order
        if not r.ok:
            if (r.model, r.artifact, r.status) in seen_skips:
                continue  # one row per artifact that could not run, not one per configuration
            seen_skips.add((r.model, r.artifact, r.status))
        rss = results.rss.get((r.model, r.artifact)) if r.device == "cpu" else None
        rss_cell = f"{_mb(rss['peak'])} ({_mb(rss['before_load'])})" if rss else "-"
        size = _size(r.size_bytes) if r.size_bytes else "-"
        if r.ok:
            peak = machine.sgemm.get(r.threads)
            eff = f"{100 * r.macs_per_s() / peak:.1f}" if peak and r.macs and r.device == "cpu" else "-"
            figures = (f"{r.threads or '-'} | {r.batch} | {_ms(r.timing.median)} | {_ms(r.timing.p90)} | "
                       f"{r.images_per_s:.1f} | {eff} | {rss_cell}")
        else:
            figures = f"- | - | - | - | - | - | {rss_cell}"
        lines.append(f"| {r.model} | {r.format} | {r.precision} | {r.runtime or '-'} | {r.status} | {size} | "
                     f"{r.parity} | {figures} |")
    return lines


def ratio_table(rows: list[Ratio]) -> list[str]:
    lines = ["| Ratio | Runtime | Threads | Batch | Value | Target | Met |", "|---|---|---:|---:|---:|---|---|"]
    for r in rows:
        met = "" if r.met is None else ("yes" if r.met else "no")
        lines.append(f"| {r.name} | {r.runtime} | {r.threads or '-'} | {r.batch or '-'} | {r.value:.3f} | "
                     f"{r.target} | {met} |")
    return lines


def gallery_table(rows: list[GalleryRow]) -> list[str]:
    lines = ["| Templates | Search | auto uses it | Status | p50 ms | p99 ms | Recall@1 vs exact | Build s (pet by pet) "
             "| Load s | Memory MB | Memory / float32 bytes |",
             "|---:|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for g in rows:
        recall = f"{g.recall_at_1:.4f}" if g.recall_at_1 is not None else "-"
        if g.timing is None:
            lines.append(f"| {g.templates:,} | {g.search} | - | {g.status} | - | - | - | - | - | - | - |")
            continue
        ratio = f"{g.memory_bytes / g.float_bytes:.2f}" if g.float_bytes else "-"
        lines.append(f"| {g.templates:,} | {g.search} | {'yes' if g.auto else 'no'} | {g.status} | "
                     f"{_ms(g.timing.median)} | {_ms(g.timing.p99)} | {recall} | {g.build_s:.1f} | {g.load_s:.2f} | "
                     f"{_mb(g.memory_bytes)} | {ratio} |")
    return lines


def render(results: Results, machine: Machine, command: str, mode: str, demo: str,
           comparisons: dict[str, str]) -> str:
    """The whole markdown report: header (machine, command), latency, ratios, gallery, notes."""
    measured = all(r.timing.measured for r in results.latency if r.ok)
    out = [
        "# petface-edge benchmarks",
        "",
        f"- Machine: {machine.describe()}",
        f"- Command: `{command}` (mode: {mode})",
    ]
    if not measured:
        out.append("- **Smoke run** (`--benchmark-disable`): every benchmark ran once to prove it works; "
                   "the figures below are single calls, not measurements.")
    for model, how in results.models.items():
        out.append(f"- `{model}`: {how}")
    out += [
        "- Latency: one `Backend.run` on a tensor already in the artifact's input contract (opened with "
        "`open_backend`); RSS: peak of a fresh process that loaded the artifact and ran its batches on all cores, "
        "in brackets the same process before loading it.",
        "",
        "## Latency",
        "",
        *latency_table(results, machine),
        "",
        "## Ratios (same run)",
        "",
        *ratio_table(ratios(results, machine, demo, comparisons)),
    ]
    if results.gallery:
        out += ["", "## Gallery search (128-d templates)", "", *gallery_table(results.gallery)]
    if results.notes:
        out += ["", "## Notes", "", *(f"- {n}" for n in results.notes)]
    return "\n".join(out) + "\n"
