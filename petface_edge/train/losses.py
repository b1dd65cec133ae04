"""Online triplet mining (batch-all, batch-hard, batch-semihard) and global orthogonal regularization.

The alternative to ArcFace that NekoNet uses. Embeddings are unit vectors, distances
Euclidean (0..2); batches hold P identities x K images so every anchor has positives.
"""

from __future__ import annotations

import torch


def pairwise_distances(emb: torch.Tensor) -> torch.Tensor:
    """Euclidean distances between unit vectors; the clamp keeps the sqrt's gradient finite at 0."""
    sq = (2.0 - 2.0 * emb @ emb.t()).clamp_min(1e-12)
    return sq.sqrt()


def _masks(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    return same & ~eye, ~same  # positive pairs (a != p), negative pairs


def batch_all(dist: torch.Tensor, labels: torch.Tensor, margin: float) -> torch.Tensor:
    """Mean over every valid (a, p, n) triplet that still violates the margin."""
    pos, neg = _masks(labels)
    loss = (dist[:, :, None] - dist[:, None, :] + margin).clamp_min(0)  # [a, p, n]
    valid = pos[:, :, None] & neg[:, None, :]
    loss = loss * valid
    active = (loss > 1e-16).sum()
    return loss.sum() / active.clamp_min(1)


def batch_hard(dist: torch.Tensor, labels: torch.Tensor, margin: float) -> torch.Tensor:
    """Per anchor: its farthest positive against its nearest negative."""
    pos, neg = _masks(labels)
    hardest_pos = (dist * pos).max(dim=1).values
    hardest_neg = dist.masked_fill(~neg, float("inf")).min(dim=1).values
    has = pos.any(dim=1) & neg.any(dim=1)
    if not has.any():
        return dist.sum() * 0.0
    return (hardest_pos - hardest_neg + margin).clamp_min(0)[has].mean()


def batch_semihard(dist: torch.Tensor, labels: torch.Tensor, margin: float) -> torch.Tensor:
    """Per (a, p): the nearest negative farther than p (FaceNet's semi-hard); failing that, the farthest one."""
    pos, neg = _masks(labels)
    d_ap = dist[:, :, None]  # [a, p, 1]
    d_an = dist[:, None, :]  # [a, 1, n]
    farther = neg[:, None, :] & (d_an > d_ap)
    semihard = d_an.masked_fill(~farther, float("inf")).amin(dim=2)
    fallback = dist.masked_fill(~neg, float("-inf")).amax(dim=1)[:, None].expand_as(semihard)
    chosen = torch.where(farther.any(dim=2), semihard, fallback)
    loss = (dist - chosen + margin).clamp_min(0)
    valid = pos & neg.any(dim=1, keepdim=True)
    return loss[valid].mean() if valid.any() else dist.sum() * 0.0


MINING = {"all": batch_all, "hard": batch_hard, "semihard": batch_semihard}


def global_orthogonal_regularization(emb: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Zhang et al. 2017: push non-matching pairs toward orthogonal, spread over the sphere.

    ``M1^2 + max(0, M2 - 1/d)`` with M1, M2 the mean and mean square of the dot products of
    non-matching pairs.
    """
    _, neg = _masks(labels)
    if not neg.any():
        return emb.sum() * 0.0
    dots = (emb @ emb.t())[neg]
    m1, m2 = dots.mean(), (dots * dots).mean()
    return m1 * m1 + (m2 - 1.0 / emb.shape[1]).clamp_min(0)


def triplet_loss(emb: torch.Tensor, labels: torch.Tensor, mining: str, margin: float,
                 gor_weight: float = 0.0) -> torch.Tensor:
    loss = MINING[mining](pairwise_distances(emb.float()), labels, margin)
    if gor_weight:
        loss = loss + gor_weight * global_orthogonal_regularization(emb.float(), labels)
    return loss
