"""``report.md``: the results table of one export, FP32 / FP16 / INT8 side by side per format."""

from __future__ import annotations

from pathlib import Path

from petface_edge.atomic import write_text_atomic
from petface_edge.runtime.manifest import Manifest

from .verify import RECALL_ALPHA


def _size(n: int) -> str:
    return f"{n / 1e6:.2f} MB ({n:,} B)" if n else "-"


def _parity(p: dict) -> str:
    if not p.get("verified"):
        check = p.get("spec_check", {})
        return f"not run: {p['reason']}; spec check {'ok' if check.get('matches_contract') else 'FAILED'}" if p else "-"
    if "cos_mean" not in p:  # failed before any statistic (NaN outputs, a raising runtime)
        return f"not measured: {'; '.join(p.get('gate_failures', [])) or p.get('reason', '')}"
    delta = 0.0 - p["acc_drop_points"] + 0.0  # + 0.0: no "-0.00"
    lo, hi = p["recall1_drop_ci95"]
    return (f"{p['cos_mean']:.6f} / {p['cos_min']:.6f} / {p['cos_p1']:.6f}; Recall@1 "
            f"{100 * p['recall1_reference']:.1f}% → {100 * p['recall1_artifact']:.1f}% (drop "
            f"{p['recall1_drop_points'] + 0.0:+.2f} pt, 95% CI {lo + 0.0:+.2f}..{hi + 0.0:+.2f}, McNemar p "
            f"{p['recall1_drop_p']:.2g}); top-1 pet agreement {100 * p['top1_agreement']:.1f}%; Δacc {delta:+.2f} pt"
            + (f" (p {p['acc_drop_p']:.2g})" if "acc_drop_p" in p else ""))


def _thresholds(t: dict) -> str:
    return f"{t['best_accuracy']:.3f} / {t['far_1e-3']:.3f}" if t else "-"


def render(manifest: Manifest) -> str:
    m, v = manifest.model, manifest.verification
    lines = [
        f"# petface export: {m['backbone']} {m['image_size']}x{m['image_size']}",
        "",
        f"- checkpoint `{m['checkpoint']}` (sha256 `{m['checkpoint_sha256'][:16]}…`, {m['parameters']:,} parameters, "
        f"{m['macs'] / 1e6:.1f} M MACs), exported {manifest.created} by {manifest.producer['name']} "
        f"{manifest.producer['version']}",
        f"- data: {v['data']['description'] if v.get('data') else 'not recorded'}",
        f"- parity: every artifact in its own runtime vs the PyTorch FP32 embedder on {v['parity_source']}",
        f"- thresholds: {v['threshold_source']}",
        f"- network: {manifest.producer['network']}",
    ]
    if v.get("calibration"):
        c = v["calibration"]
        lines.append(f"- calibration: `{c['path']}`, {c['count']} images from {c['identities']} identities "
                     f"({c['origin']['kind']}{', ' + c['origin'].get('split', '') + ' split' if c['origin'].get('split') else ''}), "
                     f"sha256 `{c['sha256'][:16]}…`")
    gates = "; ".join(f"{name}: " + ", ".join(f"{k} {'<=' if k.endswith('_drop_points') else '>='} {b}"
                                                for k, b in bounds.items()) for name, bounds in v["gates"].items())
    gates += (f" (a drop over its bound fails only when also significant, one-sided p < "
              f"{v.get('recall_alpha', RECALL_ALPHA)}: exact McNemar for Recall@1, sign-flip for accuracy)")
    lines += [f"- gates: {gates}", f"- ship: {', '.join(v['ship']) or 'nothing passed'}", "",
              "| Format | Precision | Status | Size | Parity (mean / min / p1 cosine; Recall@1 reference → artifact; "
              "top-1 pet agreement; accuracy delta) | Thresholds (best acc / FAR 1e-3) | Export time |",
              "|---|---|---|---:|---|---|---:|"]
    for a in manifest.artifacts:
        lines.append(f"| {a.format} | {a.precision} | {a.status} | {_size(a.bytes)} | {_parity(a.parity)} | "
                     f"{_thresholds(a.thresholds)} | {a.export_seconds:.1f} s |")
    lines += ["", "## What is quantized, and how", ""]
    for a in manifest.artifacts:
        if a.quantized:
            recipe = a.recipe.get("recipe")
            tried = "; ".join(f"{t['name']}: mean {t['cos_mean']:.4f}, p1 {t['cos_p1']:.4f}"
                              for t in a.recipe.get("tried", []))
            how = {"ptq": " Post-training quantization.", "qat": " Quantization-aware fine-tuned weights "
                   f"(`{a.recipe.get('weights')}`)."}.get(a.recipe.get("quantization"), "")
            lines.append(f"- **{a.id}**: {a.quantized}.{how}" + (f" Recipe kept: `{recipe}` (self-check on the "
                                                              f"calibration images: {tried})." if recipe else ""))
    failed = [a for a in manifest.artifacts if a.error]
    if failed:
        lines += ["", "## Failures", ""] + [f"- **{a.id}** ({a.status}): {a.error}" for a in failed]
    return "\n".join(lines) + "\n"


def write_report(manifest: Manifest, path: Path) -> Path:
    return write_text_atomic(path, render(manifest))
