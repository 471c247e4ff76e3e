"""Matching and losses (paper Eq. 6-11)."""

from __future__ import annotations

import numpy as np
import torch

from sim2art_core.model import LossConfig, build_model
from sim2art_core.model.losses import Targets, compute_losses, match_parts


def _targets_two_parts(T=2, N=50):
    labels = torch.zeros(1, T, N, dtype=torch.long)
    labels[:, :, 30:] = 1
    return Targets(
        labels=labels,
        part_valid=torch.tensor([[True, True]]),
        types=torch.tensor([[2, 0]]),
        axes=torch.tensor([[[0.0, 0, 1], [1.0, 0, 0]]]),
        pivots=torch.zeros(1, 2, 3),
        amounts=torch.zeros(1, 2, T),
        moving=torch.tensor([[False, True]]),
    )


def test_matching_follows_a_permutation_of_the_queries():
    tg = _targets_two_parts()
    M = 6
    logits = torch.full((1, 2, 50, M), -5.0)
    logits[..., :30, 0] = 5.0  # root on slot 0
    logits[..., 30:, 4] = 5.0  # part 1 predicted by slot 4
    ((q, g),) = match_parts(logits.softmax(-1), tg, LossConfig())
    assert dict(zip(g.tolist(), q.tolist(), strict=True)) == {0: 0, 1: 4}
    perm = torch.tensor([0, 3, 5, 1, 2, 4])  # new slot j holds old slot perm[j]; old slot 4 -> new 5
    ((q2, g2),) = match_parts(logits[..., perm].softmax(-1), tg, LossConfig())
    assert dict(zip(g2.tolist(), q2.tolist(), strict=True)) == {0: 0, 1: 5}


def test_root_is_always_slot_zero_and_empty_parts_are_unmatched():
    tg = _targets_two_parts()
    tg = Targets(**{**vars(tg), "part_valid": torch.tensor([[True, True, True]]),
                    "types": torch.tensor([[2, 0, 1]]), "axes": torch.zeros(1, 3, 3), "pivots": torch.zeros(1, 3, 3),
                    "amounts": torch.zeros(1, 3, 2), "moving": torch.tensor([[False, True, True]])})  # fmt: skip
    logits = torch.randn(1, 2, 50, 5)
    logits[..., :30, 3] = 9.0  # root points predicted by slot 3: the root still goes to slot 0
    ((q, g),) = match_parts(logits.softmax(-1), tg, LossConfig())
    assert q[g == 0].tolist() == [0]
    assert 2 not in g.tolist()  # part 2 has no point in the window


def test_losses_are_finite_and_perfect_predictions_score_low(tiny_cfg, tiny_batch):
    points, flow, targets, _ = tiny_batch
    model = build_model(tiny_cfg)
    out = model(points, flow)
    total, parts, matches = compute_losses(out, targets, LossConfig())
    assert torch.isfinite(total) and set(parts) >= {"mask", "type", "axis", "pivot", "amount", "moving"}
    # a perfect segmentation has a much lower mask loss than the random initialisation
    M = tiny_cfg.num_queries
    perfect = torch.full_like(out.part_logits, -20.0)
    for b, (q, g) in enumerate(matches):
        for qi, gi in zip(q, g, strict=True):
            perfect[b][targets.labels[b] == gi, qi] = 20.0
    out.part_logits = perfect
    _, parts_perfect, _ = compute_losses(out, targets, LossConfig())
    assert parts_perfect["mask"] < 0.05 < parts["mask"]
    assert M == out.part_logits.shape[-1]


def test_loss_decreases_on_a_tiny_overfit_run(tiny_cfg, tiny_batch):
    points, flow, targets, _ = tiny_batch
    model = build_model(tiny_cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    history = []
    for _ in range(40):
        total, parts, _ = compute_losses(model(points, flow), targets, LossConfig())
        opt.zero_grad()
        total.backward()
        opt.step()
        history.append(parts)
    first, last = np.mean([h["loss"] for h in history[:3]]), np.mean([h["loss"] for h in history[-3:]])
    assert last < 0.6 * first, (first, last)
    assert history[-1]["mask"] < history[0]["mask"]
