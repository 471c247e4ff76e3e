"""Stand-in networks for Estimator tests: the real network with a known segmentation."""

from __future__ import annotations

import torch

from sim2art_core.model.network import Sim2ArtNet


class MovingIsSlotOneNet(Sim2ArtNet):
    """The real network, except that every point with flow goes to slot 1 and the rest to slot 0 (one
    slot for all moving points: a network that merged every moving part, or an oracle for one part)."""

    def point_features(self, enc, points, flow, image=None, frames=None):
        moving = (flow.norm(dim=-1, keepdim=True) > 1e-6).to(points.dtype)
        return torch.cat([moving, torch.zeros(*moving.shape[:-1], self.cfg.point_dim - 1)], dim=-1)

    def part_logits(self, f_pt):
        logits = torch.full((*f_pt.shape[:-1], self.cfg.num_queries), -30.0)
        logits[..., 0] = 30.0 * (1 - 2 * f_pt[..., 0])
        logits[..., 1] = 30.0 * (2 * f_pt[..., 0] - 1)
        return logits


class MovingCutInTwoNet(Sim2ArtNet):
    """The real network, except that every point with flow goes to slot 1 or 2 by the sign of its normalised
    coordinate ``axis`` (a network that cut the moving parts in two at the object's middle) and the rest to
    slot 0."""

    axis = 1

    def point_features(self, enc, points, flow, image=None, frames=None):
        moving = (flow.norm(dim=-1, keepdim=True) > 1e-6).to(points.dtype)
        upper = (points[..., self.axis : self.axis + 1] > 0).to(points.dtype)
        rest = torch.zeros(*moving.shape[:-1], self.cfg.point_dim - 2)
        return torch.cat([moving, upper, rest], dim=-1)

    def part_logits(self, f_pt):
        logits = torch.full((*f_pt.shape[:-1], self.cfg.num_queries), -30.0)
        moving, upper = f_pt[..., 0], f_pt[..., 1]
        logits[..., 0] = 30.0 * (1 - 2 * moving)
        logits[..., 1] = 30.0 * (2 * moving * (1 - upper) - 1)
        logits[..., 2] = 30.0 * (2 * moving * upper - 1)
        return logits
