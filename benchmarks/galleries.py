"""Synthetic galleries shaped like real ones, for search benchmarks at sizes no photo set here reaches.

Pets of ``TEMPLATES_PER_PET`` photos each; every template is its pet's centre plus noise
(cosine about 0.6 between two photos of one pet, about 0 between pets), and every query
a new photo of an enrolled pet. Uniformly random vectors would be the worst case for an
approximate index and unlike any gallery.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

DIM = 128
TEMPLATES_PER_PET = 5
# Per-coordinate noise: cos(template, centre) = 1 / sqrt(1 + DIM * NOISE^2) ~ 0.77, so two photos ~ 0.6.
NOISE = 0.072


@dataclass
class Templates:
    size: int
    names: list[str]
    templates: np.ndarray  # (pets, TEMPLATES_PER_PET, DIM) unit rows
    queries: np.ndarray  # (Q, DIM) unit rows
    owners: list[str]  # the pet each query is a photo of
    exact_top1: dict[int, str] = field(default_factory=dict)  # query index -> exact search's top-1


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def synthetic_gallery(size: int, queries: int, seed: int = 0) -> Templates:
    """``size`` templates (``size // TEMPLATES_PER_PET`` pets) and ``queries`` queries; same arguments, same arrays."""
    rng = np.random.default_rng([seed, size])
    pets = size // TEMPLATES_PER_PET
    centres = _unit(rng.standard_normal((pets, DIM), dtype=np.float32))
    noise = rng.standard_normal((pets, TEMPLATES_PER_PET, DIM), dtype=np.float32)
    templates = _unit(centres[:, None, :] + NOISE * noise)
    owners = rng.integers(0, pets, queries)
    q = _unit(centres[owners] + NOISE * rng.standard_normal((queries, DIM), dtype=np.float32))
    names = [f"pet_{i:07d}" for i in range(pets)]
    return Templates(size, names, templates, q, [names[i] for i in owners])
